"""Live trading: the cycle (recover, exits, scan, gates, orders), the holdings and their
exits, and reconciliation with the broker. It orchestrates :mod:`kobe.decide` (the one
decision core the backtest uses too) against a :class:`~kobe.broker.base.Broker`."""
