"""`kobe trade --paper --once` end to end against the exchange: scan → gates → IOC
orders → filled positions with an intact audit chain; `kobe orders`, `kobe positions`;
refusals (no --paper, no pin, a changed config, stale bars); no key in any output."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner
from trade_desk import KEY_ID, SECRET, assert_books_agree

from kobe.broker.alpaca import AlpacaBroker
from kobe.broker.exchange import FaultRule
from kobe.cli import main
from kobe.data.bars import read_bars
from kobe.oms.store import OrderStore
from kobe.risk.killswitch import KillSwitch


def run(desk, *args: str, env: dict | None = None):
    result = CliRunner().invoke(main, [*args, "--config", str(desk.root / "strategies.yaml")],
                                env=desk.env if env is None else env)
    return result


def every_text(root: Path) -> str:
    """Every byte Kobe wrote under the project, as text."""
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def test_a_paper_cycle_goes_from_scan_to_filled_positions_with_an_intact_chain(desk) -> None:
    traded = run(desk, "trade", "--paper", "--once", "--json")
    assert traded.exit_code == 0, traded.output
    report = json.loads(traded.output)
    assert (report["trading_date"], report["scan_date"]) == ("2017-06-05", "2017-06-02")
    assert [o["status"] for o in report["entries"]] == ["filled"] * len(report["entries"]) and report["entries"]
    assert report["spent_usd"] <= 1000
    orders = json.loads(run(desk, "orders", "--json").output)
    # The entries, and the protective stop that each filled entry left resting at the broker.
    assert {o["client_order_id"] for o in orders} == \
        {o["client_order_id"] for o in report["entries"] + report["stops"]}
    assert sorted(o["symbol"] for o in report["stops"]) == sorted(o["symbol"] for o in report["entries"])
    positions = json.loads(run(desk, "positions", "--json").output)
    assert {p["symbol"]: p["qty"] for p in positions["positions"]} == \
        {s: q for s, (q, _) in desk.exchange_positions().items()}
    assert json.loads((desk.root / "state" / "positions.json").read_text())["positions"] == positions["positions"]
    verified = CliRunner().invoke(main, ["audit", "verify", "--logs", str(desk.root / "logs")])
    assert verified.exit_code == 0 and verified.output.startswith("ok:")
    assert_books_agree(desk, OrderStore(desk.root / "state" / "orders.sqlite"))
    human = run(desk, "orders")
    assert "kb-20170605-b-" in human.output and "filled" in human.output


def test_no_key_appears_in_any_output_log_or_file(desk) -> None:
    outputs = [run(desk, "trade", "--paper", "--once", "--json"), run(desk, "trade", "--paper", "--once"),
               run(desk, "orders", "--json"), run(desk, "positions"), run(desk, "reconcile", "--json"),
               run(desk, "trade", "--paper", "--once", env={**desk.env, "ALPACA_API_SECRET_KEY": SECRET + "X"})]
    assert outputs[-1].exit_code == 2 and "clock is unavailable" in outputs[-1].output   # wrong keys: a clean error
    text = "".join(r.output for r in outputs) + every_text(desk.root)
    assert KEY_ID not in text and SECRET not in text


def test_broker_errors_are_redacted() -> None:
    broker = AlpacaBroker(None, None, KillSwitch(Path("/nonexistent/KILL")), secrets=[SECRET])
    assert SECRET not in broker._text(ValueError(f"bad header APCA-API-SECRET-KEY: {SECRET}"))


def test_trading_refuses_without_paper_without_once(desk) -> None:
    assert run(desk, "trade", "--once").exit_code == 2
    assert run(desk, "trade", "--paper").exit_code == 2
    assert desk.admin.requests() == []


def test_trading_refuses_an_unpinned_or_changed_config(desk) -> None:
    risk = desk.root / "risk.yaml"
    risk.write_text(risk.read_text().replace("max_open_positions: 10", "max_open_positions: 11"))
    changed = run(desk, "trade", "--paper", "--once")
    assert changed.exit_code == 2 and "risk.yaml changed since the pin" in changed.output
    (desk.root / "state" / "config.lock").unlink()
    unpinned = run(desk, "trade", "--paper", "--once")
    assert unpinned.exit_code == 2 and "not pinned" in unpinned.output
    assert desk.admin.requests() == []


@pytest.mark.parametrize("side", [pytest.param("short", id="short"), pytest.param("both", id="both")])
def test_an_account_that_may_not_short_sends_no_short(desk, side: str) -> None:
    """A short pick needs the account's permission (``shorting_enabled``, off at this
    exchange): each is skipped with that reason, nothing is sent for it, and a both-sided
    strategy's long picks still trade."""
    from kobe.config.pin import write_pin
    from kobe.project import load_project

    path = desk.root / "strategies.yaml"
    text = path.read_text()
    extra = "\n    short_entry: close < sma(close, 5)" if side == "both" else ""
    path.write_text(text.replace("    side: long\n", f"    side: {side}{extra}\n", 1))
    project = load_project(path)
    write_pin(project.root, project.fingerprint())
    result = run(desk, "trade", "--paper", "--once", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    refused = [s for s in report["skipped"] if "may not sell short" in s["reason"]]
    assert refused, report["skipped"]
    assert all(o["side"] == "buy" for o in report["entries"])
    assert all(o.side.value == "buy" for o in desk.exchange_orders())
    assert (side == "both") == bool(report["entries"]), report["entries"]


def test_trading_refuses_stale_bars(desk, tmp_path: Path) -> None:
    stale = tmp_path / "stale.parquet"
    read_bars().filter(pl.col("date") <= pl.date(2017, 5, 31)).collect().write_parquet(stale)
    result = run(desk, "trade", "--paper", "--once", "--data", str(stale))
    assert result.exit_code == 2 and "the bars end on 2017-05-31" in result.output
    assert desk.posts() == []


def test_a_closed_market_sends_nothing(desk) -> None:
    desk.admin.to_next_close()
    result = run(desk, "trade", "--paper", "--once")
    assert result.exit_code == 0 and "market closed" in result.output and desk.posts() == []


def test_trading_needs_the_keys(desk) -> None:
    result = run(desk, "trade", "--paper", "--once", env={"ALPACA_BASE_URL": desk.url, "ALPACA_API_KEY_ID": "",
                                                          "ALPACA_API_SECRET_KEY": ""})
    assert result.exit_code == 2 and "ALPACA_API_KEY_ID and ALPACA_API_SECRET_KEY not set" in result.output


def test_paper_refuses_the_live_host(desk) -> None:
    result = run(desk, "trade", "--paper", "--once", env={**desk.env, "ALPACA_BASE_URL": "https://api.alpaca.markets"})
    assert result.exit_code == 2 and "live host" in result.output


def test_an_order_left_in_doubt_makes_the_command_exit_1_until_resolved(desk) -> None:
    desk.admin.set_faults(rules=[FaultRule("drop", method="POST", path="^/v2/orders$", count=1),
                                 FaultRule("status", method="GET", path="^/v2/orders", status=503)])
    doubtful = run(desk, "trade", "--paper", "--once", "--timeout", "0.3", "--poll-timeout", "0.3")
    assert doubtful.exit_code == 1 and "still in doubt" in doubtful.output
    desk.admin.clear_faults()
    settled = run(desk, "trade", "--paper", "--once", "--json")
    assert settled.exit_code == 0 and json.loads(settled.output)["in_doubt"] == []
    assert_books_agree(desk, OrderStore(desk.root / "state" / "orders.sqlite"))
