"""Talking to brokers and market-data vendors.

``clients`` builds the vendor clients (alpaca-py, massive) with timeouts; ``exchange`` is
the local stand-in for Alpaca and Polygon that those same clients talk to offline.
``alpaca`` is the broker as Kobe trades it (and the one choke point every order leaves
through), ``executor`` an order's life to a known end, ``pricing`` limits and shares.
"""
