"""The health server over real HTTP: fields, readiness, Prometheus text, read-only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kobe.monitor.dashboard import render
from kobe.monitor.health import METRICS, serve_health

METRIC_VALUES = {"ioc_submitted": 4, "ioc_filled": 3, "ioc_cancelled": 1, "liquidity_blocked": 2,
                 "policy_blocked": 1, "pnl_realized_usd": 12.5, "pnl_unrealized_usd": -3.25, "win_count": 3,
                 "loss_count": 1, "win_rate": 0.75, "last_trade_timestamp_seconds": 1.7e9, "shadow_not_sent": 1,
                 "shadow_missed": 1, "shadow_unexpected": 0, "shadow_slippage_bps": -2.5, "drift_alarms": 0,
                 "meta_prob_trades": 12, "meta_prob_brier": 0.21}
SHADOW = {"session": "2026-11-24", "counts": {"expected": 2, "sent": 1, "filled": 0, "missed": 1, "not_sent": 1,
                                              "unexpected": 0, "slippage_bps": None},
          "breaches": ["1 of 1 IOCs sent filled nothing (100% > 20%)"],
          "rows": [{"strategy": "donchian_breakout", "symbol": "MSFT", "expected": True, "outcome": "not_sent",
                    "reason": "MSFT is already held or has an open order"},
                   {"strategy": "donchian_breakout", "symbol": "KO", "expected": True, "outcome": "missed",
                    "qty": 1, "limit_price": 45.84, "reason": "canceled with nothing filled"}]}
DRIFT = {"session": "2026-11-24", "strategies": {
    "donchian_breakout": {"live_trades": 12, "backtest_trades": 545, "verdict": "alarm",
                          "checks": [{"name": "cusum", "alarm": True, "detail": "lower CUSUM peak 7.10 against 5.0"}]},
    "ict_turtle_soup": {"live_trades": 2, "backtest_trades": 9, "verdict": "too few trades", "checks": []}}}


def status(**changes):
    base = {"mode": "paper", "preflight_ok": True, "kill_switch": {}, "heartbeat_fresh": True,
            "heartbeat": {"time": "2026-11-25T15:00:00+00:00"}, "metrics": METRIC_VALUES, "equity": 100012.5,
            "positions": [{"symbol": "AAPL", "qty": 1, "avg_cost": 150.0, "realized_pnl": 0.0}],
            "orders": [{"client_order_id": "kb-1", "symbol": "AAPL", "side": "buy", "qty": 1, "status": "filled"}],
            "alerts": [], "config_sha256": "abc", "shadow": SHADOW, "drift": DRIFT}
    base.update(changes)
    return base


def get(url: str, accept: str | None = None) -> tuple[int, str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


def test_endpoints() -> None:
    with serve_health(lambda: status(), port=0, dashboard=render) as url:
        assert url.startswith("http://127.0.0.1:")
        assert get(url + "/liveness")[0] == 200
        code, _, body = get(url + "/readiness")
        assert code == 200 and json.loads(body) == {"ready": True, "reasons": []}
        health = json.loads(get(url + "/health")[2])
        assert health["ready"] and health["mode"] == "paper"
        code, kind, body = get(url + "/metrics", accept="application/json")
        assert kind == "application/json" and json.loads(body) == METRIC_VALUES
        assert json.loads(get(url + "/metrics.json")[2]) == METRIC_VALUES
        code, kind, text = get(url + "/metrics")
        assert kind.startswith("text/plain")
        parsed = {f.name: f.samples[0].value for f in text_string_to_metric_families(text)}
        assert parsed == {f"kobe_{k}": float(v) for k, v in METRIC_VALUES.items()}
        assert set(METRIC_VALUES) == set(METRICS)
        assert "AAPL" in get(url + "/")[2]


@pytest.mark.parametrize(("changes", "reason"), [
    ({"preflight_ok": False}, "preflight has not passed"),
    ({"kill_switch": {"reason": "manual"}}, "the kill switch is set"),
    ({"heartbeat_fresh": False}, "the heartbeat is stale or missing"),
])
def test_not_ready(changes, reason: str) -> None:
    with serve_health(lambda: status(**changes), port=0) as url:
        code, _, body = get(url + "/readiness")
        assert code == 503 and json.loads(body)["reasons"] == [reason]
        assert get(url + "/liveness")[0] == 200


def test_nothing_can_be_changed_over_http() -> None:
    with serve_health(lambda: status(), port=0) as url:
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            request = urllib.request.Request(url + "/health", method=method, data=b"{}")
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=5)
            assert info.value.code == 405


def test_a_failing_status_does_not_kill_the_server() -> None:
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("database locked")
        return status()

    with serve_health(flaky, port=0) as url:
        assert get(url + "/health")[0] == 500
        assert get(url + "/health")[0] == 200


@pytest.mark.parametrize(("path", "code"), [
    pytest.param("/health", 200, id="health"),
    pytest.param("/readiness", 503, id="readiness"),
    pytest.param("/metrics", 503, id="metrics"),
])
def test_a_damaged_store_reads_as_not_ready_with_its_file(path: str, code: int, tmp_path: Path) -> None:
    from kobe.oms.store import StoreCorrupt

    def damaged():
        raise StoreCorrupt(tmp_path / "orders.sqlite", "not a database")

    with serve_health(damaged, port=0) as url:
        got, _, body = get(url + path)
        assert got == code
        assert "orders.sqlite" in body and "not a database" in body and "reconcile --rebuild" in body, body
        assert get(url + "/liveness")[0] == 200


def test_dashboard_escapes_values() -> None:
    page = render(status(positions=[{"symbol": "<script>x</script>", "qty": 1}]))
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page


def test_dashboard_shows_the_shadow_check_and_drift() -> None:
    page = render(status())
    shadow = page[page.index('id="shadow"'):page.index('id="drift"')]
    assert "session 2026-11-24: 2 expected, 1 sent, 0 filled, 1 missed, 1 not sent, 0 unexpected" in shadow
    assert '<p class="bad">1 of 1 IOCs sent filled nothing (100% &gt; 20%)</p>' in shadow
    assert "MSFT is already held" in shadow and "45.84" in shadow
    drift = page[page.index('id="drift"'):]
    assert ">alarm</td>" in drift and "lower CUSUM peak 7.10 against 5.0" in drift and "too few trades" in drift
    empty = render(status(shadow=None, drift=None))
    assert "no shadow check yet" in empty and "no drift check yet" in empty
