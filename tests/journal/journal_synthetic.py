"""Synthetic projects for the journal tests: bars with (or without) a planted trend effect."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[2]


def trend_bars(symbols: int = 16, sessions: int = 700, effect: float = 0.004, seed: int = 7) -> pl.DataFrame:
    """Daily bars whose next return depends on the trend regime of ``rules/regimes.kobe``:
    a drift of ``+effect`` while the close is above its 200-session average, ``-effect``
    below (0 during the first 200 sessions). ``effect=0`` is pure noise. Opens are the
    previous close (no gap), so an entry at the next open buys the signal's close."""
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2015-01-05"), np.datetime64("2015-01-05") + np.timedelta64(sessions * 2, "D"))
    days = days[np.is_busday(days)][:sessions]
    frames = []
    for k in range(symbols):
        close = np.empty(sessions)
        close[0] = 50.0
        for t in range(1, sessions):
            drift = 0.0
            if t >= 200:
                # The regime on bar t-1, as the rule computes it on the signal bar.
                drift = effect if close[t - 1] > close[t - 200:t].mean() else -effect
            close[t] = close[t - 1] * np.exp(drift + rng.normal(0.0, 0.015))
        open_ = np.concatenate([[close[0]], close[:-1]])
        frames.append(pl.DataFrame({
            "symbol": f"S{k:02d}", "date": days.astype("datetime64[D]"), "open": open_,
            "high": np.maximum(open_, close) * 1.004, "low": np.minimum(open_, close) * 0.996, "close": close,
            "volume": np.full(sessions, 1e6)}))
    return pl.concat(frames).with_columns(pl.col("date").cast(pl.Date))


def synthetic_project(root: Path, bars: pl.DataFrame) -> Path:
    """A project over ``bars`` (a files data source) with one long strategy entering on
    any up close and holding three sessions; the repository's rules and risk.yaml."""
    shutil.copy(REPO / "risk.yaml", root / "risk.yaml")
    shutil.copytree(REPO / "rules", root / "rules")
    (root / "universe").mkdir()
    symbols = sorted(bars["symbol"].unique().to_list())
    (root / "universe" / "all.csv").write_text("symbol\n" + "\n".join(symbols) + "\n")
    bars.write_parquet(root / "bars.parquet")
    (root / "strategies.yaml").write_text(
        "strategies:\n"
        "  - name: up_close\n    universe: all\n    side: long\n"
        "    params:\n      hold_bars: 3\n"
        "    entry: close > close[1]\n"
        "    exits:\n      time_stop_bars: hold_bars\n"
        "    sizing:\n      method: percent_equity\n      percent: 5\n"
        "backtest:\n  initial_cash: 100000\n  slippage_bps: 0\n  max_open_positions: 16\n"
        "data:\n  provider: files\n  path: bars.parquet\n")
    return root / "strategies.yaml"
