"""A synthetic project for the meta-model (tests/ml): a strategy that buys every bar and sells at
the next close, over bars where a planted feature (the signal bar's volume) decides
the next session's move, or where nothing does."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]

STRATEGIES = """\
strategies:
  - name: planted
    enabled: true
    universe: default
    side: long
    entry: close > 0
    filters:{filters}
    exits:
      time_stop_bars: 1
    sizing:
      method: fixed_dollars
      amount_usd: 50
backtest:
  initial_cash: 100000
  slippage_bps: 0
data:
  provider: files
  path: bars.parquet
"""

FEATURES = """\
# The signal bar's volume, in millions: planted to decide the next session's move.
planted_volume = volume / 1000000
# The signal bar's own move, unrelated to the next one.
own_move = close / open - 1
"""


def synthetic_bars(edge: bool, symbols: int = 5, days: int = 400, seed: int = 3) -> pl.DataFrame:
    """Bars where each session's open is the previous close, and its close moves up 1 %
    after a high-volume session and down 1 % after a low one (``edge``), or at random."""
    rng = np.random.default_rng(seed)
    sessions = np.arange(np.datetime64("2015-01-05"), np.datetime64("2015-01-05") + np.timedelta64(days * 2, "D"))
    sessions = sessions[np.is_busday(sessions)][:days]
    frames = []
    for s in range(symbols):
        high_volume = rng.random(days) < 0.5
        volume = np.where(high_volume, 3e6, 1e6) * rng.uniform(0.9, 1.1, days)
        drift = np.where(np.r_[False, high_volume[:-1]], 0.01, -0.01) if edge else rng.normal(0, 0.01, days)
        move = np.exp(drift + rng.normal(0, 0.004, days))
        close = 50 * np.cumprod(move)
        open_ = np.r_[50.0, close[:-1]]
        frames.append(pl.DataFrame({
            "symbol": f"S{s:02d}", "date": sessions.astype("datetime64[D]"), "open": open_,
            "high": np.maximum(open_, close) * 1.002, "low": np.minimum(open_, close) * 0.998, "close": close,
            "volume": volume,
        }))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


def make_project(root: Path, *, edge: bool, meta_filter: bool = False, **bars: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    filters = "\n      - meta_prob > 0.5" if meta_filter else " []"
    (root / "strategies.yaml").write_text(STRATEGIES.format(filters=filters))
    shutil.copy(REPO / "risk.yaml", root / "risk.yaml")
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "features.kobe").write_text(FEATURES)
    frame = synthetic_bars(edge, **bars)
    (root / "universe").mkdir(exist_ok=True)
    (root / "universe" / "default.csv").write_text("symbol\n" + "\n".join(sorted(set(frame["symbol"]))) + "\n")
    frame.write_parquet(root / "bars.parquet")
    return root
