"""Talking to brokers and market-data vendors.

``clients`` builds the vendor clients (alpaca-py, massive) with timeouts; ``exchange`` is
the local stand-in for Alpaca and Polygon that those same clients talk to offline.
"""
