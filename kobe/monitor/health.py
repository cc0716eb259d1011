"""The health server: read-only HTTP endpoints for people and monitoring systems.

=====================  ==============================================================
``GET /liveness``      200 while the process serves requests (never asks for the token)
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
``GET /dashboard.json`` what the dashboard shows, formatted; the page polls it
``GET /static/...``    the dashboard's script and style, and Plotly's JS from the
                       installed ``plotly`` package (no CDN: it works offline)
=====================  ==============================================================

A Flask app served by waitress (a production WSGI server) in a daemon thread. It
listens on loopback by default and has no route that changes anything: every method but
GET and HEAD gets 405, and nothing that trades is reachable over HTTP. Bound beyond
loopback it needs a token (:func:`check_exposure`): every request but ``/liveness`` must
carry it, as ``Authorization: Bearer <token>`` or ``?token=`` (the browser's page), or
gets 401. The server only renders what ``status()`` returns; the runner decides what
that is.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlencode

from flask import Flask, Response, request
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from waitress.server import create_server  # type: ignore[import-untyped]

from kobe.config.errors import Diagnostic, KobeError

TOKEN_ENV = "KOBE_DASHBOARD_TOKEN"
LOOPBACK = "127.0.0.1"
PACKAGE = Path(__file__).parent

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
    "meta_prob_trades": "closed live trades of strategies filtering on meta_prob, scored for calibration",
    "meta_prob_brier": "Brier score of those trades' meta_prob against their outcomes (0.25: a coin flip)",
}

Status = Callable[[], dict[str, Any]]


class Dashboard(Protocol):
    """Renders the page for a status (:func:`kobe.monitor.dashboard.render`);
    ``token_query`` goes on the page's own requests when the server asks for a token."""

    def __call__(self, status: dict[str, Any], *, token_query: str = "") -> str: ...


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


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False                 # a host name other than localhost may resolve anywhere


def check_exposure(host: str, token: str | None) -> None:
    """Refuse to serve beyond loopback without a token: the dashboard shows positions and
    orders, which are nobody else's business."""
    if not is_loopback(host) and not token:
        raise KobeError(Diagnostic(
            f"the health server would listen on {host}, beyond loopback, without a token",
            hint=f"set {TOKEN_ENV} (every request but /liveness must then present it), "
                 f"or keep the default --health-host {LOOPBACK}"))


@functools.cache
def plotly_js() -> bytes:
    """Plotly's bundle from the installed package (3-4 MB: read once)."""
    from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]

    return get_plotlyjs().encode()


def _json(code: int, value: Any) -> Response:
    return Response(json.dumps(value, indent=1, default=str), status=code, mimetype="application/json")


def _presented_token() -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer "):].strip()
    return request.args.get("token", "")


def create_app(status: Status, *, dashboard: Dashboard | None = None, token: str | None = None) -> Flask:
    """The app: the endpoints of the module doc over ``status()``; ``dashboard`` renders
    the page (``None``: no page); with ``token``, every request but ``/liveness`` must
    present it."""
    from kobe.monitor import dashboard as pages

    # The page is rendered by kobe.monitor.dashboard's own Jinja2 environment (it renders
    # outside a request too); Flask serves the static files.
    app = Flask("kobe.monitor", static_folder=str(PACKAGE / "static"), static_url_path="/static")

    @app.before_request
    def guard() -> Response | None:
        open_path = request.path == "/liveness"        # container health checks carry no token
        if token and not open_path and not hmac.compare_digest(_presented_token().encode(), token.encode()):
            response = _json(401, {"error": "a token is needed: Authorization: Bearer <token> or ?token="})
            response.headers["WWW-Authenticate"] = 'Bearer realm="kobe"'
            return response
        if request.method not in ("GET", "HEAD"):
            return _json(405, {"error": "read-only: nothing here changes anything"})
        return None

    @app.after_request
    def no_store(response: Response) -> Response:
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(404)
    def not_found(_: Exception) -> Response:
        return _json(404, {"error": f"no such page {request.path}"})

    @app.get("/liveness")
    def liveness() -> Response:
        return _json(200, {"alive": True})

    def answer(path: str, respond: Callable[[dict[str, Any]], Response]) -> Response:
        try:
            snapshot = status()
        except KobeError as err:  # a state the trader must fix (a damaged store): say which
            reasons = [f"{d.location()}: {d.message}" + (f"; {d.hint}" if d.hint else "") for d in err.diagnostics]
            if path == "/health":
                return _json(200, {"alive": True, "ready": False, "reasons": reasons})
            if path == "/readiness":
                return _json(503, {"ready": False, "reasons": reasons})
            return _json(503, {"error": "; ".join(reasons)})
        except Exception as err:  # noqa: BLE001  # a broken status must not take the server down
            return _json(500, {"error": f"status unavailable: {type(err).__name__}"})
        return respond(snapshot)

    @app.get("/readiness")
    def ready() -> Response:
        def respond(snapshot: dict[str, Any]) -> Response:
            ok, reasons = readiness(snapshot)
            return _json(200 if ok else 503, {"ready": ok, "reasons": reasons})
        return answer("/readiness", respond)

    @app.get("/health")
    def health() -> Response:
        def respond(snapshot: dict[str, Any]) -> Response:
            ok, reasons = readiness(snapshot)
            return _json(200, {"alive": True, "ready": ok, "reasons": reasons, **snapshot})
        return answer("/health", respond)

    @app.get("/metrics")
    @app.get("/metrics.json")
    def metrics() -> Response:
        def respond(snapshot: dict[str, Any]) -> Response:
            figures = snapshot.get("metrics", {})
            if request.path.endswith(".json") or "application/json" in request.headers.get("Accept", ""):
                return _json(200, figures)
            return Response(prometheus_text(figures), status=200, content_type=CONTENT_TYPE_LATEST)
        return answer(request.path, respond)

    @app.get("/static/plotly.min.js")
    def plotly() -> Response:
        return Response(plotly_js(), mimetype="text/javascript")

    if dashboard is not None:
        page = dashboard

        @app.get("/")
        def index() -> Response:
            query = f"?{urlencode({'token': token})}" if token else ""
            return answer("/", lambda snapshot: Response(page(snapshot, token_query=query), mimetype="text/html"))

        @app.get("/dashboard.json")
        def dashboard_json() -> Response:
            return answer("/dashboard.json", lambda snapshot: _json(200, pages.view(snapshot)))

    return app


@contextmanager
def serve_health(status: Status, *, host: str = LOOPBACK, port: int = 8000, dashboard: Dashboard | None = None,
                 token: str | None = None) -> Iterator[str]:
    """Serve the endpoints with waitress in a background thread; yields the base URL
    (port 0: a free one). Beyond loopback ``token`` is required (:func:`check_exposure`)."""
    check_exposure(host, token)
    app = create_app(status, dashboard=dashboard, token=token)
    # A few threads: a browser, a scraper and a probe at once; the status reads are short.
    server = create_server(app, host=host, port=port, threads=4, ident="kobe-health",
                           asyncore_loop_timeout=0.25, clear_untrusted_proxy_headers=True)
    thread = threading.Thread(target=server.run, name="kobe-health", daemon=True)
    thread.start()
    try:
        shown = f"[{host}]" if ":" in host else host
        yield f"http://{shown}:{server.effective_port}"
    finally:
        # Closed from the loop's own thread (the trigger runs it there): the loop ends
        # when its map is empty, and no socket is closed under a running select.
        def close_all() -> None:
            for channel in list(server._map.values()):  # waitress has no public stop
                channel.close()

        server.trigger.pull_trigger(close_all)
        thread.join(timeout=5)
        server.task_dispatcher.shutdown(timeout=5)
