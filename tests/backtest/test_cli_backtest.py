"""`kobe backtest` through click: the files it writes, the receipt, reproducibility, errors."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from kobe.backtest.outputs import SKIP_CAUSES
from kobe.backtest.receipt import data_sha256
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.project import load_project

GOOG = Path(__file__).resolve().parents[1] / "data" / "GOOG_2004_2013.csv"


@pytest.fixture
def kobe(project_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(project_dir)

    def run(*args: str):
        return CliRunner().invoke(main, ["backtest", *args], catch_exceptions=False)

    return run


def test_prints_the_metrics_and_writes_every_file(kobe, project_dir: Path) -> None:
    result = kobe("--out", "out")
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[1].split()
    assert header == ["metric", "donchian_breakout", "ict_turtle_soup", "combined", "buy", "&", "hold"]
    assert "Sharpe" in result.output and "max drawdown" in result.output
    out = project_dir / "out"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["trades.csv", "open_trades.csv", "equity.csv", "summary.json", "receipt.json"])
    trades = pl.read_csv(out / "trades.csv")
    assert trades.height > 100
    assert set(trades["strategy"]) == {"donchian_breakout", "ict_turtle_soup"}
    equity = pl.read_csv(out / "equity.csv")
    assert set(equity["strategy"]) == {"donchian_breakout", "ict_turtle_soup", "combined"}
    # Every trade is in the equity: the final equity is the cash plus every trade's P&L.
    summary = json.loads((out / "summary.json").read_text())
    for name, account in summary["strategies"].items():
        pnl = trades.filter(pl.col("strategy") == name)["pnl"].sum()
        held = pl.read_csv(out / "open_trades.csv", schema_overrides={"strategy": pl.String, "pnl": pl.Float64})
        open_pnl = held.filter(pl.col("strategy") == name)["pnl"].sum()
        initial = account["settings"]["initial_cash"]
        assert account["metrics"]["final_equity"] == pytest.approx(initial + pnl + open_pnl)
        assert account["metrics"]["trades"] == trades.filter(pl.col("strategy") == name).height


def test_receipt(kobe, project_dir: Path) -> None:
    result = kobe("--strategy", "donchian_breakout", "--out", "out", "--json")
    assert result.exit_code == 0, result.output
    receipt = json.loads(result.output)["receipt"]
    assert receipt == json.loads((project_dir / "out" / "receipt.json").read_text())
    assert receipt["config_sha256"] == load_project(project_dir / "strategies.yaml").fingerprint().sha256
    universe = load_project(project_dir / "strategies.yaml").universes["universe/default.csv"]
    assert receipt["data_sha256"] == data_sha256(read_bars(symbols=universe).collect())
    assert receipt["command"] == "kobe backtest strategies.yaml --strategy donchian_breakout --out out --json"
    assert receipt["data_source"] == "embedded" and receipt["kobe_version"]


def test_same_inputs_give_byte_identical_outputs(kobe, project_dir: Path) -> None:
    for folder in ("one", "two"):
        assert kobe("--out", folder).exit_code == 0
    for name in ("trades.csv", "open_trades.csv", "equity.csv"):
        assert (project_dir / "one" / name).read_bytes() == (project_dir / "two" / name).read_bytes()
    one, two = (json.loads((project_dir / f / "summary.json").read_text()) for f in ("one", "two"))
    assert one["receipt"].pop("command") != two["receipt"].pop("command")
    assert one == two


def test_data_universe_and_period_options(kobe, project_dir: Path) -> None:
    (project_dir / "goog.csv").write_text("symbol\nGOOG\n")
    result = kobe("--data", str(GOOG), "--universe", "goog.csv", "--start", "2006-01-03", "--end", "2010-12-31",
                  "--out", "out", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["period"]["start"] == "2006-01-03" and data["period"]["end"] == "2010-12-31"
    assert data["receipt"]["data_last_date"] == "2010-12-31"
    assert data["receipt"]["data_first_date"] == "2004-08-19"        # warm-up bars are read, and hashed
    equity = pl.read_csv(project_dir / "out" / "equity.csv")
    assert (equity["date"].min(), equity["date"].max()) == ("2006-01-03", "2010-12-31")
    # GOOG traded above $75 throughout, so the seed strategies' $75 orders buy no share.
    donchian = data["strategies"]["donchian_breakout"]
    assert donchian["signals"] > 0
    assert donchian["skipped"]["zero_shares"] == donchian["signals"]
    assert donchian["metrics"]["trades"] == 0


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--strategy", "nope"], "no strategy named 'nope'", id="unknown-strategy"),
    pytest.param(["--start", "2030-01-01"], "no session on or after 2030-01-01", id="start-after-the-data"),
    pytest.param(["--data", "missing.csv"], "no bars file 'missing.csv'", id="missing-data"),
    pytest.param(["--universe", "missing.csv"], "does not exist", id="missing-universe"),
])
def test_user_errors_exit_2_without_a_traceback(kobe, args, message) -> None:
    result = kobe(*args, "--out", "out")
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_data_hash_ignores_the_file_format_and_sees_every_price(tmp_path: Path) -> None:
    frame = read_bars(GOOG).collect()
    frame.write_parquet(tmp_path / "GOOG.parquet")
    assert data_sha256(read_bars(tmp_path / "GOOG.parquet").collect()) == data_sha256(frame)
    nudged = frame.with_columns(pl.when(pl.int_range(pl.len()) == 1000).then(pl.col("low") + 0.01)
                                .otherwise(pl.col("low")).alias("low"))
    assert data_sha256(nudged) != data_sha256(frame)


def test_risk_gates_on_by_default_for_dollar_sizing_and_counted(kobe, project_dir: Path) -> None:
    risk = project_dir / "risk.yaml"
    risk.write_text(risk.read_text().replace("min_adv_usd: 100000 ", "min_adv_usd: 2000000000 "))
    on = json.loads(kobe("--strategy", "donchian_breakout", "--out", "out", "--json").output)["strategies"]
    account = on["donchian_breakout"]
    assert account["gates"] is True
    # Only the largest names trade $2B a day: most entries are blocked, none passes unnoticed.
    assert account["skipped"]["blocked_liquidity"] > 100
    assert account["metrics"]["trades"] + account["metrics"]["open_trades"] + sum(account["skipped"].values()) \
        == account["signals"]
    off = json.loads(kobe("--strategy", "donchian_breakout", "--no-gates", "--out", "out", "--json").output)
    assert off["strategies"]["donchian_breakout"]["gates"] is False
    assert off["strategies"]["donchian_breakout"]["skipped"]["blocked_liquidity"] == 0
    assert off["receipt"]["command"] == \
        "kobe backtest strategies.yaml --strategy donchian_breakout --no-gates --out out --json"
    shown = kobe("--strategy", "donchian_breakout", "--out", "out").output
    assert f"risk gates blocked: donchian_breakout {account['skipped']['blocked_liquidity']:,}" in shown


def test_the_terminal_says_how_many_signals_each_cause_left_untaken(kobe) -> None:
    """The shipped strategies size $75 orders: most signals find no whole share. The
    terminal says so, with every cause and its count, as summary.json counts them."""
    data = json.loads(kobe("--out", "out", "--json").output)
    shown = kobe("--out", "out").output
    for name, account in data["strategies"].items():
        skipped = account["skipped"]
        taken = account["metrics"]["trades"] + account["metrics"]["open_trades"]
        assert taken == account["signals"] - sum(skipped.values())
        (line,) = [line for line in shown.splitlines() if line.startswith(f"{name}: ") and " signals, " in line]
        assert line.startswith(f"{name}: {account['signals']:,} signals, {taken:,} taken")
        for cause, count in skipped.items():
            assert (f"{count:,} {SKIP_CAUSES[cause]}" in line) == (count > 0), (cause, line)
    assert data["strategies"]["donchian_breakout"]["skipped"]["zero_shares"] > 1000


def test_a_universe_symbol_without_bars_is_left_out(kobe, project_dir: Path) -> None:
    (project_dir / "some.csv").write_text("symbol\nAAPL\nMSFT\nNOPE\n")
    data = json.loads(kobe("--universe", "some.csv", "--out", "out", "--json").output)
    assert data["receipt"]["data_symbols"] == 2
    trades = pl.read_csv(project_dir / "out" / "trades.csv")
    assert trades.height > 0 and set(trades["symbol"]) <= {"AAPL", "MSFT"}


def test_the_terminal_shows_each_edge_on_the_capital_at_risk(kobe, project_dir: Path) -> None:
    """Per strategy, one line: its gain on the most it ever held at once, and buy and hold
    of that same money; worked out here again from trades.csv and equity.csv."""
    shown = kobe("--out", "out").output
    data = json.loads((project_dir / "out" / "summary.json").read_text())
    trades = pl.read_csv(project_dir / "out" / "trades.csv", try_parse_dates=True)
    equity = pl.read_csv(project_dir / "out" / "equity.csv", try_parse_dates=True)
    for name, account in data["strategies"].items():
        mine = trades.filter(pl.col("strategy") == name)
        days = equity.filter(pl.col("strategy") == name)["date"].to_list()
        held = [sum(q * p for q, p, e, x in mine.select("quantity", "entry_price", "entry_date", "exit_date").rows()
                    if e <= day <= x) for day in days]
        at_risk = max(held)
        initial = account["settings"]["initial_cash"]
        gain = account["metrics"]["final_equity"] - initial
        bench = account["benchmark"]["total_return"]
        (line,) = [line for line in shown.splitlines() if line.startswith((f"{name}: +$", f"{name}: -$"))]
        assert f"on at most ${at_risk:,.2f} held at once, {gain / at_risk * 100:,.2f}% on capital at risk" in line
        assert f"({gain / initial * 100:,.2f}% on the ${initial:,.2f} account)" in line
        assert line.endswith(f"buy & hold of the same ${at_risk:,.2f}: +${bench * at_risk:,.2f}, {bench * 100:,.2f}%")
    # The buy-and-hold column is on one strategy's capital, not on the sum of them.
    header = shown.splitlines()[1]
    assert header.split()[-3:] == ["buy", "&", "hold"]
    final = next(row for row in shown.splitlines() if row.startswith("final equity")).split()
    bench_final = data["strategies"]["donchian_breakout"]["benchmark"]["final_equity"]
    assert final[-1] == f"{bench_final:,.2f}"
    assert bench_final == pytest.approx(data["strategies"]["donchian_breakout"]["settings"]["initial_cash"]
                                        * (1 + data["strategies"]["donchian_breakout"]["benchmark"]["total_return"]))


def test_each_trade_records_the_stop_set_at_its_entry(kobe, project_dir: Path) -> None:
    """donchian_breakout's stop is `entry_price - 2 * atr(14)` on the signal bar, with the
    entry price the raw fill (the next open): recomputed here with TA-Lib's ATR."""
    import numpy as np
    import talib

    from kobe.data.bars import read_bars

    assert kobe("--strategy", "donchian_breakout", "--out", "out").exit_code == 0
    trades = pl.read_csv(project_dir / "out" / "trades.csv", try_parse_dates=True)
    assert trades["target_price"].null_count() == trades.height          # the strategy sets no target
    bars = read_bars().collect()
    checked = 0
    for (symbol,), mine in trades.group_by("symbol"):
        frame = bars.filter(pl.col("symbol") == symbol).sort("date")
        atr = talib.ATR(*(frame[c].to_numpy().astype(float) for c in ("high", "low", "close")), timeperiod=14)
        at = {d: i for i, d in enumerate(frame["date"].to_list())}
        for signal, entry, stop in mine.select("signal_date", "entry_date", "stop_price").iter_rows():
            expected = frame["open"][at[entry]] - 2 * atr[at[signal]]
            assert stop == pytest.approx(expected, rel=1e-9), (symbol, signal)
            checked += 1
    assert checked == trades.height > 100 and not np.isnan(trades["stop_price"].to_numpy()).any()
