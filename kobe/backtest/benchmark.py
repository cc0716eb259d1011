"""The buy-and-hold benchmark a backtest is measured against.

Equal weight across the universe: on the first session of the backtest the initial cash
is split evenly among the universe's symbols that have a close that day, bought at that
close (fractional shares, no costs) and held to the end. A symbol whose bars stop keeps
its last close. Symbols that start trading later are left out: the benchmark cannot buy
what did not exist on its first day.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kobe.backtest.market import Market


def buy_and_hold(market: Market, symbols: Sequence[str], initial_cash: float, first_session: int) -> np.ndarray:
    """The benchmark's value at each session's close from ``first_session`` on."""
    wanted = set(symbols)
    columns = np.array([i for i, s in enumerate(market.symbols) if s in wanted], dtype=np.int64)
    closes = market.closes[first_session:, columns]
    start = closes[0] if len(closes) else np.zeros(0)
    bought = start > 0
    if not bought.any():
        return np.full(len(closes), float(initial_cash))
    shares = np.where(bought, initial_cash / bought.sum() / np.where(bought, start, 1.0), 0.0)
    return closes @ shares
