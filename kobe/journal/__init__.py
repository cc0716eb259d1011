"""The trade journal (:mod:`.store`), its statistics (:mod:`.reflect`) and the variants
proposed from it (:mod:`.hypothesize`): docs/journal.md."""
