"""Alerts through the real HTTP path to a local stand-in of the Telegram Bot API."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from kobe.monitor.alerts import Alerts, TelegramNotifier

TOKEN = "123456:SECRET-TOKEN"


@pytest.fixture
def telegram():
    received: list[tuple[str, dict]] = []
    behaviour = {"status": 200}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            return

        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            received.append((self.path, body))
            payload = json.dumps({"ok": behaviour["status"] == 200}).encode()
            self.send_response(behaviour["status"])
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", received, behaviour
    server.shutdown()
    server.server_close()


def test_alert_reaches_telegram(telegram) -> None:
    url, received, _ = telegram
    notifier = TelegramNotifier.from_env({"TELEGRAM_TOKEN": TOKEN, "TELEGRAM_CHAT_ID": "42", "TELEGRAM_API_URL": url})
    Alerts([notifier]).send("warning", "drift: win rate below the backtest's range")
    assert received == [(f"/bot{TOKEN}/sendMessage",
                         {"chat_id": "42", "text": "[kobe warning] drift: win rate below the backtest's range"})]


def test_a_failing_channel_never_raises_and_is_recorded_without_the_token(telegram) -> None:
    url, _, behaviour = telegram
    behaviour["status"] = 500
    events = []
    alerts = Alerts([TelegramNotifier(TOKEN, "42", base_url=url),
                     TelegramNotifier(TOKEN, "42", base_url="http://127.0.0.1:9", timeout=1)],
                     record=lambda kind, **f: events.append((kind, f)))
    alert = alerts.send("error", "broker unreachable")
    assert alert.message == "broker unreachable" and list(alerts.recent) == [alert]
    failures = [f for kind, f in events if kind == "alert.failed"]
    assert len(failures) == 2 and "HTTP 500" in failures[0]["error"]
    assert all(TOKEN not in json.dumps(f) for _, f in events)


def test_no_telegram_without_both_variables() -> None:
    assert TelegramNotifier.from_env({"TELEGRAM_TOKEN": TOKEN}) is None
