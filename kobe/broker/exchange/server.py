"""The HTTP server: carries requests from the real vendor clients to an :class:`Exchange`.

Built on the standard library's ``ThreadingHTTPServer``: the stand-in's faults work at
the level of the connection (answer late, answer with a status the work did not earn,
never answer, close the socket unanswered) and must see the raw request line (to
reject a ``//`` path that ``http.server`` would otherwise quietly fold to ``/``), which
is the level this server gives; the routing table (:mod:`.routing`) is a list of regexes.

Per request, in order: reject ``//`` paths; find the route (404 otherwise); check the
keys (401); draw the faults; match working orders up to now; run the handler; answer.
Errors are written in the called API's own shape: Alpaca's ``{"code", "message"}``,
Polygon's ``{"status", "request_id", "error"}``.

``serve_exchange(config)`` runs one in a background thread for the length of a ``with``
block and yields its URL (``http://127.0.0.1:<port>``, no trailing slash), which is what
the clients take as their base URL.
"""

from __future__ import annotations

import base64
import contextlib
import http
import json
import sys
import threading
import traceback
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from kobe.broker.exchange import admin_api, market_data, trading_api
from kobe.broker.exchange.app import Exchange, ExchangeConfig
from kobe.broker.exchange.errors import (
    INTERNAL,
    NOT_FOUND,
    RATE_LIMITED,
    UNAUTHORIZED,
    VendorError,
)
from kobe.broker.exchange.faults import Decision
from kobe.broker.exchange.routing import Reply, Request, Route, api_of, find
from kobe.config.errors import KobeError

ROUTES: list[Route] = [*trading_api.ROUTES, *market_data.ROUTES, *admin_api.ROUTES]
GATEWAY_STATUSES = (502, 503, 504)
POLYGON_RATE_LIMIT = ("You've exceeded the maximum requests per minute, please wait or upgrade your "
                      "subscription to continue. https://polygon.io/pricing")


def error_body(api: str, err: VendorError) -> dict[str, Any]:
    """``err`` in the body shape of ``api``."""
    if api == "polygon":
        word = {403: "NOT_AUTHORIZED", 404: "NOT_FOUND"}.get(err.status, "ERROR")
        return {"status": word, "request_id": uuid.uuid4().hex, ("message" if err.status == 403 else "error"): err.message}
    if api == "admin" or err.code is None:
        return {"message": err.message, **err.extra}
    return {"code": err.code, "message": err.message, **err.extra}


def injected(api: str, decision: Decision) -> VendorError:
    """The vendor's answer for an injected status."""
    status = decision.status
    headers = {"Retry-After": str(int(decision.retry_after))} if decision.retry_after is not None else {}
    if status == 429:
        message = POLYGON_RATE_LIMIT if api == "polygon" else "rate limit exceeded"
        return VendorError(429, message, RATE_LIMITED, headers=headers)
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    if status in GATEWAY_STATUSES:
        # What answers these at the vendor is the load balancer, with an HTML page: a
        # client that reads APIError.code instead of .status_code breaks (gotcha 18).
        page = f"<html><head><title>{status} {phrase}</title></head><body><center><h1>{status} {phrase}</h1>" \
               "</center></body></html>\n"
        return VendorError(status, phrase.lower(), headers=headers, html=page)
    return VendorError(status, phrase.lower(), INTERNAL if status >= 500 else status * 100_000, headers=headers)


def check_keys(config: ExchangeConfig, api: str, headers: Any, query: dict[str, str]) -> VendorError | None:
    """401 unless the request carries keys, and the configured ones when there are."""
    auth = headers.get("Authorization") or ""
    if api == "polygon":
        key = auth[len("Bearer "):] if auth.startswith("Bearer ") else query.get("apiKey")
        if not key:
            return VendorError(401, "API Key was not provided")
        if config.polygon_key is not None and key != config.polygon_key:
            return VendorError(401, "Unknown API Key")
        return None
    key_id, secret = headers.get("APCA-API-KEY-ID"), headers.get("APCA-API-SECRET-KEY")
    if auth.startswith("Basic "):
        try:
            key_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError:
            key_id = secret = None
    has_keys = bool(key_id and secret) or auth.startswith("Bearer ")
    configured = config.key_id is not None or config.secret_key is not None
    if not has_keys or (configured and (key_id, secret) != (config.key_id, config.secret_key)):
        return VendorError(401, "request is not authorized", UNAUTHORIZED)
    return None


class _Handler(BaseHTTPRequestHandler):
    # One request per connection: a hung or dropped answer then ends with the socket.
    protocol_version = "HTTP/1.0"
    server_version = "kobe-exchange"
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        # The request log is served at /admin/requests; stderr stays quiet.
        return

    def _serve(self) -> None:
        ex = self.server.exchange
        length = int(self.headers.get("Content-Length") or 0)
        payload = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = self.requestline.split(" ")
        entry: dict[str, Any] = {"method": self.command, "path": path, "query": split.query, "status": None,
                                 "fault": None}
        if self.command == "POST" and path == "/v2/orders":
            # What kind of order it was: the tests tell entries and exits from protective stops.
            try:
                body = json.loads(payload or b"{}")
                entry["order_type"] = body.get("type", body.get("order_type")) if isinstance(body, dict) else None
            except ValueError:
                entry["order_type"] = None
        if api_of(path) != "admin":
            ex.log.append(entry)
        if len(parts) > 1 and parts[1].startswith("//"):
            # http.server folds a leading "//" into "/": a client whose base URL ends in
            # "/" would pass here and fail at the vendor. Refuse it as the vendor would.
            api = api_of(path) or "alpaca"
            return self._answer(entry, api, VendorError(404, "path starts with '//': the base URL must not end "
                                                        "with '/'", NOT_FOUND))
        route, found = find(ROUTES, self.command, path)
        if route is None:
            api = found if isinstance(found, str) else "alpaca"
            return self._answer(entry, api, VendorError(404, "endpoint not found", NOT_FOUND))
        api = route.api
        decision = Decision()
        if api != "admin":
            denied = check_keys(ex.config, api, self.headers, query)
            if denied is not None:
                return self._answer(entry, api, denied)
            decision = ex.faults.decide(self.command, path)
            entry["fault"] = decision.action
        self._pause(decision.latency + (decision.seconds if decision.action == "delay" else 0.0))
        if self.server.stopping.is_set():
            return  # stopped while this request waited: leave the closed state alone
        if decision.action == "status":
            return self._answer(entry, api, injected(api, decision))
        if decision.action == "hang":
            return self._pause(ex.config.hang_seconds)
        assert isinstance(found, dict)  # a route was found: these are its path parameters
        reply = self._run(ex, route, api, path, query, payload, found)
        if decision.action == "drop":
            return self._pause(ex.config.hang_seconds)
        if decision.action == "after":
            return self._answer(entry, api, injected(api, decision))
        self._answer(entry, api, reply)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def _run(self, ex: Exchange, route: Route, api: str, path: str, query: dict[str, str], payload: bytes,
             params: dict[str, str]) -> Reply | VendorError:
        try:
            body = json.loads(payload) if payload else None
        except ValueError:
            return VendorError(400, "request body is not valid JSON", 40010001)
        address = cast(tuple[str, int], self.server.server_address)
        host = self.headers.get("Host") or f"{address[0]}:{address[1]}"
        # The message's headers are a case-insensitive mapping of str to str.
        headers = cast(Mapping[str, str], self.headers)
        request = Request(self.command, path, query, body, headers, params, f"http://{host}")
        try:
            with ex.venue.lock:
                if self.server.stopping.is_set():
                    return VendorError(503, "the exchange is stopping", INTERNAL)
                ex.venue.catch_up()
                return route.handler(ex, request)
        except VendorError as err:
            return err
        except KobeError as err:
            return VendorError(422, err.diagnostics[0].message, 42210000)
        except Exception as err:  # noqa: BLE001 (a bug: answer 500 with its text, keep the traceback)
            traceback.print_exc(file=sys.stderr)
            return VendorError(500, f"internal error: {type(err).__name__}: {err}", INTERNAL)

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self.server.stopping.wait(seconds)

    def _answer(self, entry: dict[str, Any], api: str, reply: Reply | VendorError) -> None:
        if isinstance(reply, VendorError):
            reply = Reply(reply.status, error_body(api, reply), reply.headers, reply.html)
        entry["status"] = reply.status
        kind: str | None
        if reply.html is not None:
            data, kind = reply.html.encode(), "text/html"
        else:
            data, kind = (b"", None) if reply.body is None else (json.dumps(reply.body).encode(), "application/json")
        try:
            self.send_response(reply.status)
            if kind is not None:
                self.send_header("Content-Type", f"{kind}; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing left to tell it


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.stopping = threading.Event()
        super().__init__((exchange.config.host, exchange.config.port), _Handler)


class ExchangeServer:
    """An exchange listening on ``config.host:config.port`` (0: a free port)."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.exchange = Exchange.open(config)
        try:
            self._http = _HTTPServer(self.exchange)
        except OSError as err:
            self.exchange.close()
            raise KobeError.single(f"cannot listen on {config.host}:{config.port}: {err.strerror}",
                                   hint="choose another --port, or 0 for a free one") from None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = cast(tuple[str, int], self._http.server_address[:2])
        return f"http://{host}:{port}"

    def serve_forever(self) -> None:
        """Answer requests until :meth:`stop` (from another thread) or Ctrl-C."""
        self._http.serve_forever(poll_interval=0.1)

    def start(self) -> ExchangeServer:
        self._thread = threading.Thread(target=self.serve_forever, name="kobe-exchange", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Release hung requests, stop answering, persist the clock, close the state."""
        self._http.stopping.set()
        if self._thread is not None:
            self._http.shutdown()
            self._thread.join()
        self._http.server_close()
        self.exchange.venue.catch_up(persist_clock=True)
        self.exchange.close()


@contextlib.contextmanager
def serve_exchange(config: ExchangeConfig | None = None) -> Iterator[str]:
    """Run an exchange in this process for the ``with`` block; yields its base URL.

    >>> with serve_exchange(ExchangeConfig(start=dt.date(2017, 6, 5))) as url:  # doctest: +SKIP
    ...     TradingClient("key", "secret", url_override=url).get_clock()
    """
    server = ExchangeServer(config or ExchangeConfig()).start()
    try:
        yield server.url
    finally:
        server.stop()
