"""Synthetic projects for the evidence tests: bars with a planted edge, or pure noise.

Each symbol is a random walk (1% a day, no drift). A signal bar carries a volume of
10 million (others 1 million); with ``edge``, the five sessions after it drift up 0.3%
a day and the two after those fall 0.8% a day, so holding exactly five sessions (the
strategy's ``hold_bars``) is the best of its neighbourhood and a real edge.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]

STRATEGY = """strategies:
  - name: edge
    enabled: true
    universe: all
    side: long
    params:
      hold_bars: {hold}
      min_volume: 5000000
    entry: volume > min_volume
    exits:
      time_stop_bars: hold_bars
    sizing:
      method: fixed_dollars
      amount_usd: 75
backtest:
  initial_cash: 1000
  slippage_bps: 5
"""


def bars(*, edge: bool, symbols: int = 6, years: float = 4.0, seed: int = 7) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = np.datetime64("2015-01-05")
    days = np.arange(start, start + np.timedelta64(int(years * 365.25), "D"))
    days = days[np.is_busday(days)]
    n = len(days)
    frames = []
    for k in range(symbols):
        drift = np.zeros(n)
        signal = np.zeros(n, dtype=bool)
        t = int(rng.integers(5, 15))
        while t < n - 8:
            signal[t] = True
            if edge:
                drift[t + 1:t + 6] += 0.003
                drift[t + 6:t + 8] -= 0.008
            t += int(rng.integers(9, 16))
        close = 50 * np.exp(np.cumsum(drift + rng.normal(0, 0.01, n)))
        previous = np.r_[close[0], close[:-1]]
        # The open sits between the previous close and the close, so the day's drift is
        # earned from open to open as from close to close.
        open_ = previous * np.exp(0.5 * np.log(close / previous))
        high = np.maximum(open_, close) * 1.005
        low = np.minimum(open_, close) * 0.995
        volume = np.where(signal, 1e7, 1e6)
        frames.append(pl.DataFrame({"symbol": f"S{k}", "date": days.astype("datetime64[D]"), "open": open_,
                                    "high": high, "low": low, "close": close, "volume": volume}))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


def project_dir(root: Path, *, hold: int = 5, symbols: int = 6) -> Path:
    """A project in ``root``: the strategy above over S0..S{symbols-1}, the shipped risk.yaml."""
    (root / "universe").mkdir(parents=True, exist_ok=True)
    (root / "universe" / "all.csv").write_text("symbol\n" + "".join(f"S{k}\n" for k in range(symbols)))
    (root / "strategies.yaml").write_text(STRATEGY.format(hold=hold))
    (root / "risk.yaml").write_text((REPO / "risk.yaml").read_text())
    return root


def today() -> dt.date:
    return dt.date.today()
