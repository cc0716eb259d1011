"""The ADV the backtest's liquidity gate reads is found a chunk of whole symbols at a
time on a large market (issue 12, memory): the same values as over the whole market."""

from __future__ import annotations

import numpy as np

from kobe.backtest.candidates import symbol_chunks
from kobe.backtest.engine import _adv_by_row
from kobe.backtest.market import load_market
from kobe.backtest.parity import adv_by_row
from kobe.data.bars import read_bars


def test_chunked_adv_is_the_whole_markets() -> None:
    market = load_market(read_bars())
    assert len(symbol_chunks(market, 5000)) > 3
    whole = adv_by_row(market, 20)
    chunked = _adv_by_row(market, 20, chunk_rows=5000)
    assert np.isfinite(whole).sum() > market.rows // 2
    np.testing.assert_array_equal(chunked, whole)     # NaN where the window is not full, in both
