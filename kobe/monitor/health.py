"""The health server: read-only HTTP endpoints for people and monitoring systems.

=====================  ==============================================================
``GET /liveness``      200 while the process serves requests
``GET /readiness``     200 when preflight passed, the kill switch is off, the
                       heartbeat is fresh and the last cycle was not refused (stale
                       bars, the broker's clock gone back); 503 with the reasons
                       otherwise
``GET /health``        everything above as JSON, always 200 (a state the trader must
                       fix, such as a damaged order store, reads as not ready with
                       its file and the way to recover)
``GET /metrics``       the trading figures: Prometheus text (the default, what a
                       scraper asks for) or JSON (``Accept: application/json`` or
                       ``/metrics.json``)
``GET /``              the dashboard (:mod:`kobe.monitor.dashboard`)
=====================  ==============================================================

It listens on loopback by default and has no route that changes anything: nothing that
trades is reachable over HTTP. The server only renders what ``status()`` returns; the
runner decides what that is.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from kobe.config.errors import KobeError

# The figures /metrics publishes, with their help text; all are gauges computed from the
# order store and the audit trail at request time.
METRICS: Mapping[str, str] = {
    "ioc_submitted": "IOC orders sent today",
    "ioc_filled": "IOC orders filled in full or in part today",
    "ioc_cancelled": "IOC orders canceled with nothing filled today",
    "liquidity_blocked": "picks the liquidity gate blocked today",
    "policy_blocked": "picks the budget gate blocked today",
    "pnl_realized_usd": "realized P&L in dollars",
    "pnl_unrealized_usd": "unrealized P&L in dollars at the last marks",
    "win_count": "closed trades with a profit",
    "loss_count": "closed trades with a loss",
    "win_rate": "win_count / (win_count + loss_count)",
    "last_trade_timestamp_seconds": "Unix time of the last fill",
    "shadow_not_sent": "last shadow check: entries the backtest expected that were not sent",
    "shadow_missed": "last shadow check: IOCs sent that filled nothing",
    "shadow_unexpected": "last shadow check: orders sent that the backtest did not expect",
    "shadow_slippage_bps": "last shadow check: mean slippage of the fills against the backtest's, in bps",
    "drift_alarms": "strategies whose live trades have drifted from the backtest (last drift check)",
}

Status = Callable[[], dict[str, Any]]


def prometheus_text(metrics: Mapping[str, float | None]) -> bytes:
    """The metrics in Prometheus exposition format, via the official client library."""
    registry = CollectorRegistry()
    for name, help_text in METRICS.items():
        value = metrics.get(name)
        gauge = Gauge(f"kobe_{name}", help_text, registry=registry)
        gauge.set(float("nan") if value is None else float(value))
    return generate_latest(registry)


def readiness(status: Mapping[str, Any]) -> tuple[bool, list[str]]:
    reasons = []
    if not status.get("preflight_ok"):
        reasons.append("preflight has not passed")
    if status.get("kill_switch"):
        reasons.append("the kill switch is set")
    if not status.get("heartbeat_fresh"):
        reasons.append("the heartbeat is stale or missing")
    if status.get("blocked"):
        reasons.append(f"no trading: {status['blocked']}")
    return not reasons, reasons


class _Handler(BaseHTTPRequestHandler):
    server_version = "kobe-health"
    status_source: Status
    dashboard: Callable[[dict[str, Any]], str] | None

    def log_message(self, format: str, *args: Any) -> None:
        return  # requests are not worth a log line each

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, code: int, value: Any) -> None:
        self._send(code, json.dumps(value, indent=1, default=str).encode(), "application/json")

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/liveness":
            self._json(200, {"alive": True})
            return
        try:
            status = self.status_source()
        except KobeError as err:  # a state the trader must fix (a damaged store): say which
            reasons = [f"{d.location()}: {d.message}" + (f"; {d.hint}" if d.hint else "") for d in err.diagnostics]
            if path == "/health":
                self._json(200, {"alive": True, "ready": False, "reasons": reasons})
            elif path == "/readiness":
                self._json(503, {"ready": False, "reasons": reasons})
            else:
                self._json(503, {"error": "; ".join(reasons)})
            return
        except Exception as err:  # noqa: BLE001  # a broken status must not take the server down
            self._json(500, {"error": f"status unavailable: {type(err).__name__}"})
            return
        if path == "/readiness":
            ready, reasons = readiness(status)
            self._json(200 if ready else 503, {"ready": ready, "reasons": reasons})
        elif path == "/health":
            ready, reasons = readiness(status)
            self._json(200, {"alive": True, "ready": ready, "reasons": reasons, **status})
        elif path in ("/metrics", "/metrics.json"):
            metrics = status.get("metrics", {})
            wants_json = path.endswith(".json") or "application/json" in self.headers.get("Accept", "")
            if wants_json:
                self._json(200, metrics)
            else:
                self._send(200, prometheus_text(metrics), CONTENT_TYPE_LATEST)
        elif path == "/" and self.dashboard is not None:
            self._send(200, self.dashboard(status).encode(), "text/html; charset=utf-8")
        else:
            self._json(404, {"error": f"no such page {path}"})

    def _read_only(self) -> None:
        self._json(405, {"error": "read-only: nothing here changes anything"})

    do_POST = do_PUT = do_DELETE = do_PATCH = _read_only


@contextmanager
def serve_health(status: Status, *, host: str = "127.0.0.1", port: int = 8000,
                 dashboard: Callable[[dict[str, Any]], str] | None = None) -> Iterator[str]:
    """Serve the endpoints in a background thread; yields the base URL (port 0: a free one)."""
    handler = type("Handler", (_Handler,), {"status_source": staticmethod(status), "dashboard": staticmethod(dashboard)
                                            if dashboard else None})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="kobe-health", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
