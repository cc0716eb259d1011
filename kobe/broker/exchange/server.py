"""The HTTP server: carries requests from the real vendor clients to an :class:`Exchange`.

Built on the standard library's ``ThreadingHTTPServer``: the stand-in's faults work at
the level of the connection (answer late, answer with a status the work did not earn,
never answer, close the socket unanswered) and must see the raw request line (to
reject a ``//`` path that ``http.server`` would otherwise quietly fold to ``/``), which
is the level this server gives; the routing table (:mod:`.routing`) is a list of regexes.

Per request, in order: read the body within the limits of :mod:`.limits` (400, 408,
413, 501 otherwise, before anything else); reject ``//`` paths; find the route (404
otherwise); check the keys (401); draw the faults; refuse a body that is not JSON (400);
match working orders up to now; run the handler; answer. Errors are written in the called
API's own shape: Alpaca's ``{"code", "message"}``, Polygon's ``{"status", "request_id",
"error"}``, http.server's own refusals (a garbled request line, too many headers)
included. An exception that escapes a handler, or the server's code around it, is a 500
in that shape; the connection is answered and the exchange serves on.

``serve_exchange(config)`` runs one in a background thread for the length of a ``with``
block and yields its URL (``http://127.0.0.1:<port>``, no trailing slash), which is what
the clients take as their base URL.
"""

from __future__ import annotations

import base64
import contextlib
import http
import io
import json
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from kobe.broker.exchange import admin_api, market_data, option_chains, trading_api
from kobe.broker.exchange.app import Exchange, ExchangeConfig
from kobe.broker.exchange.errors import (
    BAD_REQUEST,
    INTERNAL,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    RATE_LIMITED,
    TIMED_OUT,
    TOO_LARGE,
    UNAUTHORIZED,
    VendorError,
    alpaca_code,
)
from kobe.broker.exchange.faults import Decision
from kobe.broker.exchange.limits import parse_json, shown
from kobe.broker.exchange.routing import Reply, Request, Route, api_of, find
from kobe.config.errors import KobeError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

ROUTES: list[Route] = [*trading_api.ROUTES, *option_chains.ROUTES, *market_data.ROUTES, *admin_api.ROUTES]
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


class _Deadline(io.RawIOBase):
    """The client's side of a connection, read against one deadline for the whole
    request: a per-read socket timeout starts afresh with every byte, so a client that
    drips a byte at a time would hold its thread for ever."""

    def __init__(self, sock: socket.socket, seconds: float) -> None:
        super().__init__()
        self._sock, self._seconds = sock, seconds
        self._end = time.monotonic() + seconds

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        left = self._end - time.monotonic()
        if left > 0:
            self._sock.settimeout(left)
            with contextlib.suppress(TimeoutError):
                return self._sock.recv_into(buffer)
        raise TimeoutError(f"the request did not arrive within {self._seconds:g} s")


class _Handler(BaseHTTPRequestHandler):
    # One request per connection: a hung or dropped answer then ends with the socket.
    protocol_version = "HTTP/1.0"
    server_version = "kobe-exchange"
    server: _HTTPServer
    _replied = False

    def log_message(self, format: str, *args: Any) -> None:
        # The request log is served at /admin/requests; stderr stays quiet.
        return

    def setup(self) -> None:
        # The socket timeout bounds each write of the answer (a client that never reads
        # it); the deadline bounds reading the whole request.
        super().setup()
        seconds = self.server.exchange.config.request_timeout
        self.connection.settimeout(seconds)
        self.rfile.close()
        self.rfile = io.BufferedReader(_Deadline(self.connection, seconds))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # http.server's own refusals (a malformed request line, headers too long or too
        # many, an unknown method) in the API's JSON shape rather than its HTML page: a
        # client reading APIError.code must not choke on them.
        try:
            phrase = http.HTTPStatus(code).phrase.lower()
        except ValueError:
            phrase = "error"
        api = api_of(getattr(self, "path", "").partition("?")[0]) or "alpaca"
        self.close_connection = True
        # Refused before its version was read (an unknown one, a garbled request line),
        # a request still counts as HTTP/0.9, whose answers have no status line.
        self.request_version = self.protocol_version
        self._answer({}, api, VendorError(code, message or phrase, alpaca_code(code)))

    def _serve(self) -> None:
        try:
            self._serve_request()
        except OSError:
            # Reading the request failed (reset, closed mid-body): the client is gone and
            # nothing here is a bug; writes catch their own.
            self.close_connection = True
        except Exception as err:  # noqa: BLE001 (a bug: answer 500 with its text, keep the traceback, keep serving)
            traceback.print_exc(file=sys.stderr)
            if not self._replied:
                api = api_of(self.path.partition("?")[0]) or "alpaca"
                self._answer({}, api, VendorError(500, f"internal error: {type(err).__name__}: {err}", INTERNAL))

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = _serve

    def _serve_request(self) -> None:
        ex = self.server.exchange
        entry: dict[str, Any] = {"method": self.command, "path": self.path.partition("?")[0],
                                 "query": self.path.partition("?")[2], "status": None, "fault": None}
        try:
            split = urlsplit(self.path)
        except ValueError:   # "[" where urlsplit looks for a host
            return self._answer(entry, api_of(entry["path"]) or "alpaca",
                                VendorError(400, "invalid request target", BAD_REQUEST))
        path = split.path
        entry["path"] = path
        try:
            payload = self._body()
        except VendorError as err:
            if api_of(path) != "admin":
                ex.log.append(entry)
            return self._answer(entry, api_of(path) or "alpaca", err)
        finally:
            self.connection.settimeout(ex.config.request_timeout)   # the deadline was for reading
        body: Any = None
        if payload:
            try:
                body = parse_json(payload)
            except VendorError as err:
                body = err   # answered once the route, keys and faults have had their say
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        parts = self.requestline.split(" ")
        if self.command == "POST" and path == "/v2/orders":
            # What kind of order it was: the tests tell entries and exits from protective stops.
            entry["order_type"] = body.get("type", body.get("order_type")) if isinstance(body, dict) else None
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
        reply = self._run(ex, route, path, query, body, found)
        if decision.action == "drop":
            return self._pause(ex.config.hang_seconds)
        if decision.action == "after":
            return self._answer(entry, api, injected(api, decision))
        self._answer(entry, api, reply)

    def _body(self) -> bytes:
        """The request's body, read in full, or the error that refuses it (unread when
        its framing is wrong or it is too large)."""
        if self.headers.get("Transfer-Encoding") is not None:
            # Chunked bodies are not read here; ignoring one would act on an empty body.
            raise VendorError(501, "Transfer-Encoding is not supported: send the body with a Content-Length",
                              NOT_IMPLEMENTED)
        declared = [value.strip() for value in self.headers.get_all("Content-Length") or []]
        if not declared:
            return b""
        text = declared[0]
        if len(set(declared)) > 1 or not (text.isascii() and text.isdigit()):
            raise VendorError(400, f"invalid Content-Length {shown(', '.join(declared))}: a number of bytes",
                              BAD_REQUEST)
        limit = self.server.exchange.config.max_body
        digits = text.lstrip("0") or "0"
        # Compared by length first: int() refuses a string of more than 4300 digits.
        if len(digits) > len(str(limit)) or int(digits) > limit:
            size = digits if len(digits) <= 20 else digits[:17] + "..."
            raise VendorError(413, f"request body of {size} bytes is larger than the limit of {limit} bytes",
                              TOO_LARGE)
        length = int(digits)
        try:
            payload = self.rfile.read(length) if length else b""
        except TimeoutError as err:
            raise VendorError(408, str(err), TIMED_OUT) from None
        if len(payload) < length:
            raise VendorError(400, f"request body ended after {len(payload)} of {length} bytes", BAD_REQUEST)
        return payload

    def _run(self, ex: Exchange, route: Route, path: str, query: dict[str, str], body: Any,
             params: dict[str, str]) -> Reply | VendorError:
        if isinstance(body, VendorError):
            return body
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
        self._replied = True
        try:
            self.send_response(reply.status)
            if kind is not None:
                self.send_header("Content-Type", f"{kind}; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
        except OSError:
            # The client gave up (its timeout), reset the connection or never read the
            # answer (the write timed out): nothing left to tell it.
            self.close_connection = True


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange
        self.stopping = threading.Event()
        super().__init__((exchange.config.host, exchange.config.port), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that resets or abandons its connection mid-request is not a bug of
        # the exchange; anything else still prints its traceback.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


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
