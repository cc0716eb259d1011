"""Fault injection: the network and vendor misbehaviour Kobe must survive, on demand.

A :class:`FaultPlan` says what goes wrong; :class:`Faults` applies it, request by
request, with one seeded random generator so a run is reproducible: the same seed and
the same sequence of requests give the same faults.

Shares (``*_rate``) are drawn per request. Rules (:class:`FaultRule`) target requests by
method and path and can be limited to the next ``count`` matches: "the next POST to
/v2/orders answers 504 after creating the order" is
``FaultRule(action="after", method="POST", path="^/v2/orders$", status=504, count=1)``.

Actions of a rule, and what the client sees:

=========  ===================================================================
``status``  answer ``status`` at once; the request is not carried out
``after``   carry the request out, then answer ``status`` (a gateway that lost
            the backend's answer: the order exists, the client sees e.g. a 504)
``hang``    never answer; the request is not carried out (a client timeout)
``drop``    carry the request out, never answer (the order exists; the client
            sees a timeout)
``delay``   wait ``seconds``, then answer normally
=========  ===================================================================

Plan-wide settings: ``latency`` (seconds added to every answer), ``error_rate`` (share
answered ``error_status``), ``timeout_rate`` (share that hang), ``drop_rate`` (share of
order submissions carried out but never answered), ``fill_delay`` (exchange seconds an
order stays ``new`` before it can trade), ``reject_rate`` (share of accepted orders that
turn ``rejected``), ``rate_limit`` (requests per minute, then 429 with ``Retry-After``).
Every number is checked when the plan is made (rates in [0, 1], statuses 100-599,
seconds finite and bounded by :mod:`~kobe.broker.exchange.limits`): ``ValueError`` or
``TypeError``, and the plan in force stays.

**Data faults** (``data``, a list of :class:`DataFault`) spoil the *content* of the
daily-bar answers (Alpaca's ``/v2/stocks/bars``, Polygon's aggregates) while the HTTP
answer stays a 200: what a vendor with a bad day sends, which the lake must refuse
(:func:`kobe.data.lake.check_answer`). A fault applies to the answers for ``symbol``
(every symbol when ``None``) of ``api`` (``alpaca``, ``polygon``, or both when ``None``)
whose range holds ``day`` (any range when ``None``), to the next ``count`` such answers
(all when ``None``); a paged answer is one answer, its later pages carry the faults its
first page drew. Several faults apply in the order listed. The kinds:

================  ====================================================================
``empty``         the answer holds no bar (an empty ``results`` / ``bars``)
``short``         the answer stops early: it keeps only its first ``bars`` bars (default
                  1), or with ``day`` only the bars before ``day``, and its last page has
                  no ``next_url`` / ``next_page_token``, as if paging had stopped
``partial``       the still-forming bar of the session in progress at the exchange clock
                  is appended (the day's open, the high and low of the price path so
                  far, the current price as close, the volume pro rata of the session
                  elapsed), whatever range was asked; nothing while no session is open
``duplicate``     the bar of ``day`` (default: the answer's last) is sent twice in a row
``out_of_order``  the bar of ``day`` (default: the answer's last) is swapped with the
                  bar before it
``missing``       the bar of ``day`` (required) is left out: a hole inside the answer,
                  as a halt leaves
================  ====================================================================

Switched on like every fault, through ``POST /admin/faults`` (which replaces the whole
plan), e.g.
``{"data": [{"kind": "short", "symbol": "AAPL", "bars": 100}]}``, or
``ExchangeAdmin.set_faults(data=[DataFault("empty", symbol="KO", count=1)])`` (``DataFault`` from
this module; plain dicts work too).
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import re
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from kobe.broker.exchange.limits import (
    MAX_FAULT_SECONDS,
    MAX_FILL_DELAY,
    MAX_RETRY_AFTER,
    integer,
    number,
)

ACTIONS = ("status", "after", "hang", "drop", "delay")
DATA_FAULTS = ("empty", "short", "partial", "duplicate", "out_of_order", "missing")
DATA_APIS = ("alpaca", "polygon")
ORDER_SUBMIT = ("POST", re.compile(r"^/v2/orders$"))
STATUSES = (100, 599)
"""The HTTP statuses an injected answer may have."""


@dataclass
class FaultRule:
    """Do ``action`` to requests whose method is ``method`` (any when ``None``) and whose
    path matches the regex ``path``; ``count`` limits it to that many hits, ``rate`` to
    a share of the matches."""

    action: str
    method: str | None = None
    path: str | None = None
    count: int | None = None
    rate: float = 1.0
    status: int = 503
    retry_after: float | None = None
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown fault action {self.action!r}; use one of {', '.join(ACTIONS)}")
        if self.method is not None and not isinstance(self.method, str):
            raise TypeError("a fault rule's method is a string")
        if self.path is not None:
            try:
                re.compile(self.path)
            except re.error as err:
                raise ValueError(f"a fault rule's path is not a regex: {err}") from None
        # Checked here, not where they are used: a rule that broke decide() would fail
        # every later request, not the one that set it.
        self.count = _count(self.count, "count")
        self.rate = number(self.rate, "rate", 0.0, 1.0)
        self.status = integer(self.status, "status", *STATUSES)
        if self.retry_after is not None:
            self.retry_after = number(self.retry_after, "retry_after", 0.0, MAX_RETRY_AFTER)
        self.seconds = number(self.seconds, "seconds", 0.0, MAX_FAULT_SECONDS)

    def matches(self, method: str, path: str) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path is None or re.search(self.path, path) is not None


@dataclass
class DataFault:
    """Spoil the daily-bar answers for ``symbol`` of ``api`` whose range holds ``day``
    (``None``: any) with ``kind`` (one of :data:`DATA_FAULTS`, see the module doc), for the
    next ``count`` answers (``None``: all). ``bars``: what a ``short`` answer keeps."""

    kind: str
    symbol: str | None = None
    day: str | None = None
    api: str | None = None
    count: int | None = None
    bars: int = 1

    def __post_init__(self) -> None:
        if self.kind not in DATA_FAULTS:
            raise ValueError(f"unknown data fault {self.kind!r}; use one of {', '.join(DATA_FAULTS)}")
        if self.api is not None and self.api not in DATA_APIS:
            raise ValueError(f"unknown data API {self.api!r}; use {' or '.join(DATA_APIS)}")
        if self.day is not None:
            dt.date.fromisoformat(self.day)
        elif self.kind == "missing":
            raise ValueError("the data fault 'missing' needs the day whose bar is left out")
        self.bars = integer(self.bars, "bars (what a short answer keeps)", 0)
        self.count = _count(self.count, "count")
        if self.symbol is not None:
            if not isinstance(self.symbol, str):
                raise TypeError("a data fault's symbol is a string")
            self.symbol = self.symbol.upper()

    @property
    def date(self) -> dt.date | None:
        return dt.date.fromisoformat(self.day) if self.day is not None else None

    def matches(self, api: str, symbol: str, first: dt.date, last: dt.date) -> bool:
        if self.count is not None and self.count <= 0:
            return False
        if (self.api is not None and self.api != api) or (self.symbol is not None and self.symbol != symbol):
            return False
        day = self.date
        return day is None or first <= day <= last


@dataclass
class FaultPlan:
    """Everything that goes wrong, and the seed that makes it reproducible."""

    latency: float = 0.0
    error_rate: float = 0.0
    error_status: int = 500
    timeout_rate: float = 0.0
    drop_rate: float = 0.0
    fill_delay: float = 0.0
    reject_rate: float = 0.0
    rate_limit: int | None = None
    seed: int = 0
    rules: list[FaultRule] = field(default_factory=list)
    data: list[DataFault] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Plain dicts are accepted (ExchangeAdmin.set_faults(data=[{...}])), as JSON sends them.
        self.data = [d if isinstance(d, DataFault) else _data_fault(d) for d in self.data]
        if not all(isinstance(r, FaultRule) for r in self.rules):
            raise TypeError("a fault plan's rules are FaultRule values")
        self.latency = number(self.latency, "latency", 0.0, MAX_FAULT_SECONDS)
        for name in ("error_rate", "timeout_rate", "drop_rate", "reject_rate"):
            setattr(self, name, number(getattr(self, name), name, 0.0, 1.0))
        self.error_status = integer(self.error_status, "error_status", *STATUSES)
        self.fill_delay = number(self.fill_delay, "fill_delay", 0.0, MAX_FILL_DELAY)
        if self.rate_limit is not None:
            self.rate_limit = integer(self.rate_limit, "rate_limit", 0)
        self.seed = integer(self.seed, "seed", -(1 << 63), (1 << 63) - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultPlan:
        """A plan from JSON; unknown keys are an error (a typo must not pass silently)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault setting{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}")
        values = dict(data)
        rules = values.pop("rules", []) or []
        rule_keys = {f.name for f in fields(FaultRule)}
        parsed = []
        for rule in rules:
            bad = sorted(set(rule) - rule_keys)
            if bad:
                raise ValueError(f"unknown fault rule key{'s' if len(bad) > 1 else ''}: {', '.join(bad)}")
            parsed.append(FaultRule(**rule))
        spoilers = [_data_fault(d) for d in values.pop("data", []) or []]
        return cls(**values, rules=parsed, data=spoilers)


def _count(value: Any, name: str) -> int | None:
    return None if value is None else integer(value, name, 0)


def _data_fault(raw: Any) -> DataFault:
    if not isinstance(raw, dict):
        raise TypeError("a data fault is a JSON object")
    bad = sorted(set(raw) - {f.name for f in fields(DataFault)})
    if bad:
        raise ValueError(f"unknown data fault key{'s' if len(bad) > 1 else ''}: {', '.join(bad)}")
    return DataFault(**raw)


@dataclass(frozen=True)
class Decision:
    """What to do with one request: ``action`` is ``None`` (serve it) or a rule action;
    ``latency`` is added either way."""

    action: str | None = None
    status: int = 0
    retry_after: float | None = None
    seconds: float = 0.0
    latency: float = 0.0


class Faults:
    """The plan in force, its random generator and its counters; safe across threads."""

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._recent: collections.deque[float] = collections.deque()
        self.configure(plan or FaultPlan())

    def configure(self, plan: FaultPlan) -> None:
        """Replace the plan and reseed, so the same plan replays the same faults."""
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed)
            self._recent.clear()

    def _draw(self, rate: float) -> bool:
        # Draw for every rate in force, hit or not, so one request consumes the same
        # random numbers whatever the outcome: the sequence depends on the requests only.
        return rate > 0 and self._rng.random() < rate

    def decide(self, method: str, path: str) -> Decision:
        """The fault (if any) for one request to the vendor API."""
        with self._lock:
            plan = self.plan
            latency = plan.latency
            for rule in plan.rules:
                if rule.matches(method, path) and (rule.rate >= 1 or self._draw(rule.rate)):
                    if rule.count is not None:
                        rule.count -= 1
                    return Decision(rule.action, rule.status, rule.retry_after, rule.seconds, latency)
            limited = self._rate_limited(plan.rate_limit)
            if limited is not None:
                return Decision("status", 429, limited, 0.0, latency)
            if self._draw(plan.error_rate):
                return Decision("status", plan.error_status, None, 0.0, latency)
            if self._draw(plan.timeout_rate):
                return Decision("hang", 0, None, 0.0, latency)
            is_submit = method == ORDER_SUBMIT[0] and ORDER_SUBMIT[1].search(path) is not None
            if is_submit and self._draw(plan.drop_rate):
                return Decision("drop", 0, None, 0.0, latency)
            return Decision(latency=latency)

    def _rate_limited(self, per_minute: int | None) -> float | None:
        """Seconds to wait when this request exceeds ``per_minute`` (a sliding minute of
        real time, as vendors count), else ``None`` and the request is counted."""
        if per_minute is None:
            return None
        now = time.monotonic()
        while self._recent and now - self._recent[0] >= 60.0:
            self._recent.popleft()
        if len(self._recent) >= per_minute:
            return max(1.0, float(int(60.0 - (now - self._recent[0])) + 1))
        self._recent.append(now)
        return None

    def data_faults(self, api: str, symbol: str, first: dt.date, last: dt.date) -> list[DataFault]:
        """The data faults for a new answer of ``api`` about ``symbol`` over
        ``first .. last``, in the plan's order; each one drawn uses up one of its count."""
        with self._lock:
            chosen = []
            for fault in self.plan.data:
                if fault.matches(api, symbol, first, last):
                    if fault.count is not None:
                        fault.count -= 1
                    chosen.append(DataFault(fault.kind, fault.symbol, fault.day, fault.api, None, fault.bars))
            return chosen

    def order_fate(self) -> tuple[float, bool]:
        """For a new order: exchange seconds before it may trade, and whether it is to
        be rejected once that time has come."""
        with self._lock:
            return self.plan.fill_delay, self._draw(self.plan.reject_rate)
