"""The keys the stand-in exchange of the broker tests requires (never real ones)."""

KEY_ID, SECRET, POLYGON_KEY = "PKTESTKEY", "SKTESTSECRET", "polygon-test-key"
