"""Alerts: tell the trader when something needs a look, without ever stopping trading.

A :class:`Notifier` sends one message. :class:`TelegramNotifier` posts to the Telegram
Bot API (``TELEGRAM_TOKEN``, ``TELEGRAM_CHAT_ID``); its base URL can point at a local
server, which is how the tests reach it. :class:`Alerts` fans a message out to every
notifier, keeps the recent ones for the dashboard, and swallows every failure of a
notifier after recording it: a broken alert channel is itself worth a log line, never
a reason to stop.

The same alert often repeats (a stale feed says so every cycle): :meth:`Alerts.folded`
gives each level and message once, with how many times it came and when first and last,
so the dashboard shows one line instead of a screenful. Every repeat is still sent and
recorded: folding is for reading, not for muting.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

import requests

from kobe.secrets import redact


class Notifier(Protocol):
    name: str

    def send(self, level: str, message: str) -> None:
        """Deliver one alert or raise."""
        ...


@dataclass
class TelegramNotifier:
    token: str
    chat_id: str
    base_url: str = "https://api.telegram.org"
    timeout: float = 5.0
    name: str = "telegram"

    def send(self, level: str, message: str) -> None:
        response = requests.post(f"{self.base_url}/bot{self.token}/sendMessage",
                                 json={"chat_id": self.chat_id, "text": f"[kobe {level}] {message}"},
                                 timeout=self.timeout)
        if response.status_code != 200:
            raise RuntimeError(f"telegram answered HTTP {response.status_code}")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramNotifier | None:
        token, chat = env.get("TELEGRAM_TOKEN"), env.get("TELEGRAM_CHAT_ID")
        if not token or not chat:
            return None
        return cls(token, chat, base_url=env.get("TELEGRAM_API_URL", "https://api.telegram.org"))


@dataclass(frozen=True)
class Alert:
    time: str
    level: str
    message: str


@dataclass(frozen=True)
class Folded:
    """One level and message, and its repeats: ``count`` times from ``first`` to ``last``."""

    level: str
    message: str
    count: int
    first: str
    last: str


def fold(alerts: Iterable[Alert]) -> list[Folded]:
    """``alerts`` (any order) folded by level and message, the most recent last time first."""
    folds: dict[tuple[str, str], Folded] = {}
    for a in sorted(alerts, key=lambda a: a.time):
        key = (a.level, a.message)
        seen = folds.get(key)
        folds[key] = Folded(a.level, a.message, 1, a.time, a.time) if seen is None else \
            replace(seen, count=seen.count + 1, last=a.time)
    return sorted(folds.values(), key=lambda f: f.last, reverse=True)


class Alerts:
    """Every notifier, the recent alerts, and failures recorded instead of raised."""

    def __init__(self, notifiers: Iterable[Notifier] = (), *, record: Callable[..., Any] | None = None,
                 secrets: Iterable[str] = (), keep: int = 50) -> None:
        self.notifiers = list(notifiers)
        self.record = record          # e.g. AuditLog.event
        self.secrets = list(secrets)
        self.recent: deque[Alert] = deque(maxlen=keep)
        # Apart from ``recent``: a message repeating every cycle must not push the others
        # out. The ``keep`` distinct ones last seen are kept.
        self._folds: OrderedDict[tuple[str, str], Folded] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()      # the health server reads from its own threads

    def send(self, level: str, message: str, now: dt.datetime | None = None) -> Alert:
        alert = Alert((now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"), level,
                      redact(message, self.secrets))
        self.recent.appendleft(alert)
        key = (level, alert.message)
        with self._lock:
            seen = self._folds.pop(key, None)
            self._folds[key] = Folded(level, alert.message, 1, alert.time, alert.time) if seen is None else \
                replace(seen, count=seen.count + 1, last=alert.time)
            while len(self._folds) > self._keep:
                self._folds.popitem(last=False)
        if self.record:
            self.record("alert", level=level, message=alert.message)
        for notifier in self.notifiers:
            secrets = self.secrets + [getattr(notifier, "token", "")]
            try:
                notifier.send(level, alert.message)
            except Exception as err:  # noqa: BLE001 - no alert failure may stop trading
                if self.record:
                    self.record("alert.failed", notifier=notifier.name,
                                error=redact(f"{type(err).__name__}: {err}", secrets))
        return alert

    def folded(self) -> list[Folded]:
        """Each level and message once, with its count and first and last times, the one
        seen last first (as :func:`fold` orders them)."""
        with self._lock:
            return sorted(self._folds.values(), key=lambda f: f.last, reverse=True)
