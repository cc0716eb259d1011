"""Kobe against vectorbt and backtesting.py, side by side in one run, on one strategy.

Run from the repository root:  python benchmarks/bench_compare.py
Needs ../shared/data, and vectorbt, which is not a Kobe dependency:

    pip install vectorbt          # into the same virtual environment; numba comes with it

(backtesting.py is a test dependency: `pip install '.[test]'`.) Without vectorbt its
columns are left out.

The strategy, the same in all three: a 20-bar Donchian breakout over the 505-symbol
S&P 500 set. Enter when the close rises above the highest high of the 20 bars before;
leave when the close falls below the lowest low of the 10 bars before; both act at the
next bar's open. $1,000 per trade in whole shares, no costs, cash never binding (so the
three take the same signals; Kobe and vectorbt as one account over all symbols,
backtesting.py as its only way, one symbol at a time).

Two comparisons (issue 4):

- **whole process**: each tool in a fresh Python process doing everything a user waits
  for: imports, reading the Parquet file, the run, the results (Kobe: the `kobe
  backtest` command, files and receipt included; vectorbt: its numba functions compile
  on first use, which is part of a fresh process). Best of 3 (backtesting.py: 1).
- **in process, warm**: data already in memory, best of several runs. Kobe's engine is
  ``run_backtest`` on the bars (arrays, signals, exits, account, equity, trades) of a
  project loaded beforehand (loading it is timed apart), with
  its Python account loop (a one-off run's), then warm like vectorbt: its compiled
  account loop loaded (numba; the first run loads it, which is shown apart).
  vectorbt's "warm" time is measured after a first run compiled its functions, twice:
  the signals and ``Portfolio.from_signals`` alone (orders only, the equity and trades
  are computed lazily), and with the equity curve and the trades it then computes.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ["TQDM_DISABLE"] = "1"      # backtesting.py draws a progress bar per run otherwise
warnings.filterwarnings("ignore", message="Some trades remain open")   # finalize_trades=False, on purpose

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SP500, best_process, kobe_command, machine, need, timed  # noqa: E402
from _peak import report_at_exit  # noqa: E402

ENTRY_BARS, EXIT_BARS, DOLLARS = 20, 10, 1_000

STRATEGIES = f"""\
strategies:
  - name: donchian
    universe: sp500.csv
    params:
      entry_bars: {ENTRY_BARS}
      exit_bars: {EXIT_BARS}
    entry: close > highest(high, entry_bars)[1]
    exits:
      exit: close < lowest(low, exit_bars)[1]
    sizing:
      method: fixed_dollars
      amount_usd: {DOLLARS}
backtest:
  initial_cash: 1000000000
  max_open_positions: 1000
"""
RISK = f"""\
per_order_budget_usd: {DOLLARS}
daily_budget_usd: 1000000000
min_adv_usd: 0
adv_window_days: 20
max_spread_pct: 0.5
max_order_pct_adv: 100
max_open_positions: 1000
kill_switch_file: state/KILL_SWITCH
"""


def project(folder: Path) -> Path:
    import polars as pl

    (folder / "strategies.yaml").write_text(STRATEGIES)
    (folder / "risk.yaml").write_text(RISK)
    symbols = pl.read_parquet(SP500, columns=["symbol"])["symbol"].unique().sort()
    (folder / "sp500.csv").write_text("symbol\n" + "\n".join(symbols) + "\n")
    return folder / "strategies.yaml"


# --------------------------------------------------------------------------- the three


def kobe_run(project, bars):  # noqa: ANN001, ANN201
    from kobe.backtest import run_backtest

    return run_backtest(project, bars, gates=False).strategies[0]


def wide(bars):  # noqa: ANN001, ANN201
    """Sessions x symbols pandas frames of open, high, low, close (vectorbt's shape)."""
    import pandas as pd

    out = {}
    for column in ("open", "high", "low", "close"):
        table = bars.pivot(on="symbol", index="date", values=column).sort("date")
        names = sorted(c for c in table.columns if c != "date")
        out[column] = pd.DataFrame(table.select(names).to_numpy().astype(float),
                                   index=pd.DatetimeIndex(table["date"].to_numpy()), columns=names)
    return out


def vectorbt_signals(frames):  # noqa: ANN001, ANN201
    import vectorbt as vbt

    high = frames["high"].rolling(ENTRY_BARS).max().shift(1)
    low = frames["low"].rolling(EXIT_BARS).min().shift(1)
    # A signal at t's close acts at t+1's open: shift the signals, trade at the open.
    entries = (frames["close"] > high).shift(1, fill_value=False)
    exits = (frames["close"] < low).shift(1, fill_value=False)
    return vbt.Portfolio.from_signals(frames["close"], entries, exits, price=frames["open"], size=DOLLARS,
                                      size_type="value", size_granularity=1, init_cash=1e9, cash_sharing=True,
                                      group_by=True, fees=0.0, freq="1D")


def vectorbt_full(frames):  # noqa: ANN001, ANN201
    portfolio = vectorbt_signals(frames)
    portfolio.value()
    portfolio.trades.records
    return portfolio


def backtesting_run(bars) -> tuple[int, float]:  # noqa: ANN001
    """Every symbol through backtesting.py: (trades, P&L)."""
    import pandas as pd
    import polars as pl
    from backtesting import Backtest, Strategy

    def highest(values, n):  # noqa: ANN001, ANN202
        return pd.Series(values).rolling(n).max().shift(1).to_numpy()

    def lowest(values, n):  # noqa: ANN001, ANN202
        return pd.Series(values).rolling(n).min().shift(1).to_numpy()

    class Donchian(Strategy):
        def init(self) -> None:
            self.high = self.I(highest, self.data.High, ENTRY_BARS)
            self.low = self.I(lowest, self.data.Low, EXIT_BARS)

        def next(self) -> None:
            close = self.data.Close[-1]
            if not self.position:
                if close > self.high[-1] and DOLLARS // close >= 1:
                    self.buy(size=int(DOLLARS // close))
            elif close < self.low[-1]:
                self.position.close()

    trades, pnl = 0, 0.0
    for (symbol,), part in bars.sort("symbol", "date").partition_by("symbol", as_dict=True).items():
        frame = pd.DataFrame({c.capitalize(): part[c].cast(pl.Float64).to_numpy()
                              for c in ("open", "high", "low", "close", "volume")},
                             index=pd.DatetimeIndex(part["date"].to_numpy()))
        stats = Backtest(frame, Donchian, cash=1_000_000, commission=0.0, finalize_trades=False).run()
        trades += int(stats["# Trades"])
        pnl += float(stats["_trades"]["PnL"].sum()) if stats["# Trades"] else 0.0
    return trades, pnl


# --------------------------------------------------------------------------- fresh processes


def child(tool: str) -> None:
    """One tool, everything from imports on, in this (fresh) process; prints its count."""
    report_at_exit()
    import polars as pl

    if tool == "vectorbt":
        portfolio = vectorbt_full(wide(pl.read_parquet(SP500)))
        print(json.dumps({"trades": int(portfolio.trades.count())}))
    elif tool == "backtesting":
        trades, _ = backtesting_run(pl.read_parquet(SP500))
        print(json.dumps({"trades": trades}))


def main() -> None:
    import polars as pl

    print(machine())
    need(SP500)
    try:
        import vectorbt
        have_vbt = True
        print(f"vectorbt {vectorbt.__version__}", end="; ")
    except ImportError:
        have_vbt = False
        print("vectorbt not installed (pip install vectorbt): its figures are left out", end="; ")
    import backtesting
    print(f"backtesting.py {backtesting.__version__}")
    bars = pl.read_parquet(SP500)
    print(f"data: {SP500.name}, {bars.height:,} bars, {bars['symbol'].n_unique()} symbols; "
          f"Donchian {ENTRY_BARS}/{EXIT_BARS}, next-open fills, ${DOLLARS:,} per trade")

    with tempfile.TemporaryDirectory() as tmp:
        path = project(Path(tmp))
        from kobe.data.bars import read_bars
        kobe_bars = read_bars(SP500).collect()
        from kobe.project import load_project
        # The engine is run_backtest (the module doc); reading and checking the project's
        # files is timed apart, as vectorbt has none.
        loaded, _ = timed(lambda: load_project(path), repeat=7)
        kobe_project = load_project(path)
        account = kobe_run(kobe_project, kobe_bars)
        counts = {"kobe": account.trades.height + account.open_trades.height}

        print("\nin process, data in memory (best of 7):")
        python_best, _ = timed(lambda: kobe_run(kobe_project, kobe_bars), repeat=7)
        print(f"  kobe run_backtest, Python account loop:     {python_best * 1000:6.0f} ms")
        # Warm as vectorbt below: the compiled account loop loaded (a process running many
        # accounts moves to it by itself, kobe.backtest.tier).
        from kobe.backtest.tier import prefer_compiled
        prefer_compiled()
        start = time.perf_counter()
        kobe_run(kobe_project, kobe_bars)
        kobe_cold = time.perf_counter() - start
        kobe_best, kobe_median = timed(lambda: kobe_run(kobe_project, kobe_bars), repeat=7)
        print(f"  kobe run_backtest, compiled account loop:   {kobe_best * 1000:6.0f} ms "
              f"(median {kobe_median * 1000:.0f}; first, loading numba and its cache: {kobe_cold:.1f} s)")
        print(f"  kobe load_project (its files read, checked): {loaded * 1000:5.0f} ms, apart")
        if have_vbt:
            frames = wide(bars)
            start = time.perf_counter()
            portfolio = vectorbt_full(frames)       # the first run compiles
            cold = time.perf_counter() - start
            counts["vectorbt"] = int(portfolio.trades.count())
            signals_best, _ = timed(lambda: vectorbt_signals(frames), repeat=7)
            full_best, _ = timed(lambda: vectorbt_full(frames), repeat=7)
            print(f"  vectorbt warm, signals + from_signals:      {signals_best * 1000:6.0f} ms "
                  f"(first, compiling: {cold:.1f} s)")
            print(f"  vectorbt warm, + equity curve and trades:   {full_best * 1000:6.0f} ms")
        start = time.perf_counter()
        counts["backtesting.py"], _ = backtesting_run(bars)
        bt_time = time.perf_counter() - start
        print(f"  backtesting.py, a loop over the symbols:    {bt_time * 1000:6.0f} ms")
        if have_vbt:
            print(f"  kobe vs vectorbt warm: {signals_best / kobe_best:.2f}x (orders only), "
                  f"{full_best / kobe_best:.2f}x (with equity and trades); "
                  f"kobe vs backtesting.py: {bt_time / kobe_best:.0f}x  (above 1: kobe is faster)")
        print("  trades (closed and open): " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))

        print("\nwhole process (fresh Python, from imports to results):")
        command = [*kobe_command(), "backtest", str(path), "--data", str(SP500), "--no-gates", "--out",
                   str(Path(tmp) / "out")]
        kobe_wall, kobe_peak, _ = best_process(command, repeat=3)
        print(f"  kobe backtest command:      {kobe_wall:6.2f} s  (peak {kobe_peak:.0f} MB)")
        if have_vbt:
            vbt_wall, vbt_peak, _ = best_process([sys.executable, __file__, "--child", "vectorbt"], repeat=3)
            print(f"  vectorbt script:            {vbt_wall:6.2f} s  (peak {vbt_peak:.0f} MB)")
        bt_wall, bt_peak, _ = best_process([sys.executable, __file__, "--child", "backtesting"], repeat=1)
        print(f"  backtesting.py script:      {bt_wall:6.2f} s  (peak {bt_peak:.0f} MB)")
        ratios = [f"backtesting.py / kobe {bt_wall / kobe_wall:.1f}x"]
        if have_vbt:
            ratios.insert(0, f"vectorbt / kobe {vbt_wall / kobe_wall:.1f}x")
        print("  " + ", ".join(ratios) + "  (above 1: kobe is faster)")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        child(sys.argv[2])
    else:
        main()
