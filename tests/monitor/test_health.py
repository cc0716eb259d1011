"""The health server over real HTTP: fields, readiness, Prometheus text, read-only."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kobe.monitor.dashboard import render
from kobe.monitor.health import METRICS, serve_health

METRIC_VALUES = {"ioc_submitted": 4, "ioc_filled": 3, "ioc_cancelled": 1, "liquidity_blocked": 2,
                 "policy_blocked": 1, "pnl_realized_usd": 12.5, "pnl_unrealized_usd": -3.25, "win_count": 3,
                 "loss_count": 1, "win_rate": 0.75, "last_trade_timestamp_seconds": 1.7e9}


def status(**changes):
    base = {"mode": "paper", "preflight_ok": True, "kill_switch": {}, "heartbeat_fresh": True,
            "heartbeat": {"time": "2026-11-25T15:00:00+00:00"}, "metrics": METRIC_VALUES, "equity": 100012.5,
            "positions": [{"symbol": "AAPL", "qty": 1, "avg_cost": 150.0, "realized_pnl": 0.0}],
            "orders": [{"client_order_id": "kb-1", "symbol": "AAPL", "side": "buy", "qty": 1, "status": "filled"}],
            "alerts": [], "config_sha256": "abc"}
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


def test_dashboard_escapes_values() -> None:
    page = render(status(positions=[{"symbol": "<script>x</script>", "qty": 1}]))
    assert "<script>x</script>" not in page and "&lt;script&gt;" in page
