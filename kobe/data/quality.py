"""The data-quality gate: bad bars are caught before they can trade.

:func:`check_bars` runs every rule over a bars frame at once (Polars, all symbols
together) and returns a :class:`QualityReport`: one :class:`Finding` per problem, naming
the symbol, the date and the rule, and the action the policy assigns to it.

Rules:

``duplicate_date``       two bars of one symbol on one date
``null_value``           a null open, high, low, close or volume
``non_positive_price``   an open, high, low or close at or below zero
``ohlc_inconsistent``    high below open or close, low above them, or high below low
``zero_volume``          no shares traded (a glitch on a session when the market was open)
``suspicious_jump``      an overnight move (open against the previous close) or a close
                         move beyond the threshold: the mark of an unadjusted split or
                         spin-off, or a bad print
``missing_session``      a session of the calendar, between a symbol's first and last bar,
                         with no bar
``stale_last_bar``       a symbol's last bar is older than the latest session on or before
                         the as-of date
``feed_broken``          more than ``stop_share`` of the symbols (of three or more) are
                         excluded: the feed, not a symbol, is broken

Actions: ``warn`` (report only), ``exclude`` (the symbol may not trade) and ``stop``
(nothing trades). A finding older than ``lookback_sessions`` before the as-of date only
warns: an old fault no longer feeds today's indicators, and excluding a symbol forever
for a bad print years ago would be wrong. The defaults are a careful trader's: anything
that can put a wrong price into today's signal excludes the symbol; the gate stops only
when most of the universe is affected (``stop_share``), a sign that the feed, not a
symbol, is broken.

Some values make a bar unusable rather than suspect: a price that is not a finite number,
not positive or outside :data:`PRICE_RANGE`, a volume that is not finite, negative or
beyond :data:`MAX_VOLUME`, a date outside :data:`DATE_RANGE`. :func:`unusable_values`
finds them; reading a bars file (:func:`kobe.data.bars.read_bars`) and storing a vendor's
answer in the lake (:func:`kobe.data.lake.check_answer`) refuse them, so a frame read
through either never holds one. ``non_positive_price`` stays a rule of the gate (the same
expression, :func:`not_positive`) for frames that come from elsewhere.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import polars as pl

from kobe.config.model import QualitySettings

FrameT = TypeVar("FrameT", pl.DataFrame, pl.LazyFrame)

PRICES = ("open", "high", "low", "close")
PRICE_RANGE = (0.0001, 1e9)
"""The prices a US equity can trade at: quotes stop at $0.0001 below $1, and the dearest
share (BRK.A) is under $1M. Outside it, a value is a broken file or print, not a price."""
MAX_VOLUME = 1e15
"""Far above any session's volume (split-adjusted histories included)."""
DATE_RANGE = (dt.date(1800, 1, 1), dt.date(2199, 12, 31))
"""The dates a daily bar can carry; beyond them a date is a broken cell, not a session."""

ACKNOWLEDGEABLE = ("suspicious_jump", "zero_volume", "missing_session")
"""The rules whose finding can be a true market event (a gap on news, a session with no
trade, a halt), the only ones an acknowledgement (:mod:`kobe.data.acks`) may turn into a
warning; the others mark a bar that is wrong or old, which no note makes right."""

RULES = ("duplicate_date", "null_value", "non_positive_price", "ohlc_inconsistent", "zero_volume",
         "suspicious_jump", "missing_session", "stale_last_bar", "feed_broken")
ACTIONS = ("warn", "exclude", "stop")

DEFAULT_ACTIONS: Mapping[str, str] = {
    "duplicate_date": "exclude",
    "null_value": "exclude",
    "non_positive_price": "exclude",
    "ohlc_inconsistent": "exclude",
    "zero_volume": "warn",
    "suspicious_jump": "exclude",
    "missing_session": "warn",
    "stale_last_bar": "exclude",
    "feed_broken": "stop",
}


@dataclass(frozen=True)
class QualityPolicy:
    """What each rule does, and the thresholds of the rules that have one."""

    actions: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ACTIONS))
    jump_pct: float = 25.0            # |open / previous close - 1| or |close / previous close - 1|, percent
    lookback_sessions: int = 260      # findings older than this (before as-of) only warn
    stop_share: float = 0.5           # stop when more than this share of symbols is excluded
    # (symbol, date, rule) -> the reason a person gave (kobe.data.acks): such a finding
    # only warns, whatever its rule's action.
    acknowledged: Mapping[tuple[str, dt.date, str], str] = field(default_factory=dict)

    def action(self, rule: str) -> str:
        return self.actions.get(rule, DEFAULT_ACTIONS[rule])

    @classmethod
    def from_settings(cls, settings: QualitySettings,
                      acknowledged: Mapping[tuple[str, dt.date, str], str] | None = None) -> QualityPolicy:
        """The policy of the config's ``data.quality`` (its actions over the defaults),
        with the findings a person acknowledged."""
        return cls({**DEFAULT_ACTIONS, **settings.actions}, settings.jump_pct, settings.lookback_sessions,
                   settings.stop_share, dict(acknowledged or {}))


@dataclass(frozen=True)
class Finding:
    rule: str
    symbol: str
    date: dt.date | None
    detail: str
    action: str
    acknowledged: str | None = None   # the reason a person gave, when one did (it then only warns)

    def describe(self) -> str:
        day = self.date.isoformat() if self.date else "-"
        note = f"  [acknowledged: {self.acknowledged}]" if self.acknowledged is not None else ""
        return f"{self.action:<7} {self.rule:<18} {self.symbol:<6} {day}  {self.detail}{note}"


@dataclass(frozen=True)
class QualityReport:
    findings: tuple[Finding, ...]
    symbols: int
    as_of: dt.date | None

    @property
    def excluded(self) -> frozenset[str]:
        """Symbols that may not trade."""
        return frozenset(f.symbol for f in self.findings if f.action in ("exclude", "stop") and f.symbol != "*")

    @property
    def stop(self) -> bool:
        """True when nothing may trade."""
        return any(f.action == "stop" for f in self.findings)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.rule] = out.get(f.rule, 0) + 1
        return out

    def verdict(self) -> str:
        if self.stop:
            return "STOP: nothing may trade"
        if self.excluded:
            return f"{len(self.excluded)} of {self.symbols} symbols excluded from trading"
        return "ok" if not self.findings else "ok, with warnings"


def not_positive(column: str) -> pl.Expr:
    """A price at or below zero: the ``non_positive_price`` rule, and one reason a value is unusable."""
    return pl.col(column) <= 0


def unusable_values(bars: FrameT) -> FrameT:
    """Every value of ``bars`` (the standard columns, and ``_row``, the row's place in its
    source) that makes its bar unusable: one row per value, ``_row``, ``column`` and
    ``fault`` (what is wrong, to follow the value in a message), by ``_row``.

    A missing value (null) is not one: the gate's ``null_value`` rule reports it."""
    lo, hi = PRICE_RANGE
    first, last = DATE_RANGE
    faults: dict[str, pl.Expr] = {}
    for name in PRICES:
        value = pl.col(name)
        faults[name] = (pl.when(~value.is_finite()).then(pl.lit("is not a finite number"))
                        .when(not_positive(name)).then(pl.lit("is not a positive price"))
                        .when((value < lo) | (value > hi))
                        .then(pl.lit(f"is outside {lo:g} .. {hi:,.0f}: not a share price")))
    volume = pl.col("volume")
    faults["volume"] = (pl.when(~volume.is_finite()).then(pl.lit("is not a finite number"))
                        .when(volume < 0).then(pl.lit("is negative"))
                        .when(volume > MAX_VOLUME).then(pl.lit(f"is above {MAX_VOLUME:.0e}: not a volume")))
    faults["date"] = (pl.when((pl.col("date") < first) | (pl.col("date") > last))
                      .then(pl.lit(f"is outside {first} .. {last}: not a session")))
    found = bars.select("_row", *[fault.alias(name) for name, fault in faults.items()])
    return (found.filter(pl.any_horizontal(pl.exclude("_row").is_not_null()))
            .unpivot(index="_row", variable_name="column", value_name="fault")
            .drop_nulls("fault").sort("_row", maintain_order=True))


def bars_as_of(bars: pl.LazyFrame, day: dt.date) -> pl.LazyFrame:
    """The bars a check as of ``day`` sees: those on or before it. A day the NYSE calendar
    does not cover is an error (the sessions due by then are unknown, so a stale feed
    could not be told), as is a day before every bar."""
    from kobe.config.errors import Diagnostic, KobeError
    from kobe.data import calendar

    calendar.sessions(day, day)             # raises, with the calendar's range as the hint
    seen = bars.filter(pl.col("date") <= day)
    if seen.select(pl.len()).collect().item() == 0:
        raise KobeError(Diagnostic(f"no bars on or before {day.isoformat()}",
                                   hint="check as of a date within the data"))
    return seen


def _nyse_sessions(first: dt.date, last: dt.date) -> list[dt.date] | None:
    from kobe.config.errors import KobeError
    from kobe.data import calendar

    try:
        return calendar.sessions(first, last)
    except KobeError:  # outside the calendar's range: the data's own dates stand in
        return None


def _row_findings(bars: pl.LazyFrame, jump: float) -> pl.DataFrame:
    """Every per-bar rule at once: (rule, symbol, date, detail), on bars sorted by symbol and date."""
    # The details are formatted only for the bars a rule flags: formatting them for every
    # bar was most of the gate's time on a large universe.
    prev_close = pl.col("_prev_close")
    gap = pl.col("open") / prev_close - 1
    move = pl.col("close") / prev_close - 1
    prices = PRICES
    checks = {
        "null_value": pl.any_horizontal([pl.col(c).is_null() for c in (*prices, "volume")]),
        "non_positive_price": pl.any_horizontal([not_positive(c) for c in prices]),
        "ohlc_inconsistent": (pl.col("high") < pl.max_horizontal("open", "close"))
        | (pl.col("low") > pl.min_horizontal("open", "close")) | (pl.col("high") < pl.col("low")),
        "zero_volume": pl.col("volume") == 0,
        "suspicious_jump": (gap.abs() > jump) | (move.abs() > jump),
    }
    details = {
        "null_value": pl.lit("a price or the volume is missing"),
        "non_positive_price": pl.format("prices o={} h={} l={} c={}", *prices),
        "ohlc_inconsistent": pl.format("o={} h={} l={} c={}", *prices),
        "zero_volume": pl.lit("volume 0"),
        "suspicious_jump": pl.format("previous close {} -> open {}, close {}", prev_close.round(4),
                                     pl.col("open"), pl.col("close")),
    }
    # Rows in (symbol, date) order: the previous row is the previous bar when it is of the same symbol.
    same_symbol = pl.col("symbol").shift(1) == pl.col("symbol")
    flagged = (bars.with_columns(pl.when(same_symbol).then(pl.col("close").shift(1)).alias("_prev_close"))
               .with_columns([checks[r].fill_null(False).alias(r) for r in checks])
               .filter(pl.any_horizontal(list(checks)))
               .collect())
    parts: list[pl.LazyFrame] = []
    for r in checks:
        hit = flagged.filter(pl.col(r))
        if hit.height:  # pl.format over no rows panics in Polars 2.1
            parts.append(hit.lazy().select(pl.lit(r).alias("rule"), "symbol", "date",
                                           details[r].cast(pl.String).alias("detail")))
    duplicates = (bars.group_by("symbol", "date").agg(pl.len().alias("n")).filter(pl.col("n") > 1)
                  .select(pl.lit("duplicate_date").alias("rule"), "symbol", "date",
                          pl.format("{} bars on one date", "n").alias("detail")))
    return pl.concat([*parts, duplicates]).collect()


def check_bars(bars: pl.LazyFrame | pl.DataFrame, policy: QualityPolicy | None = None, *,
               sessions: Sequence[dt.date] | None = None, as_of: dt.date | None = None,
               recent: bool = False, presorted: bool = False) -> QualityReport:
    """Run every rule over ``bars`` (symbol, date, OHLCV) as of ``as_of``.

    ``sessions`` are the exchange's trading sessions covering the data; by default the
    NYSE calendar's (:mod:`kobe.data.calendar`), or, for dates it does not cover, the
    union of the frame's dates. ``as_of`` defaults to the latest date in the frame.

    ``recent``: report only the findings that can act, those dated within
    ``lookback_sessions`` of ``as_of`` (and every ``stale_last_bar`` and ``feed_broken``);
    older ones only warn, and are left out, so only the recent bars are checked (the
    daily scan's gate). The verdict, the excluded symbols and every finding reported are
    those of the full check. ``presorted``: the caller guarantees the rows are in
    (symbol, date) order (the scan checked it), which saves checking again.
    """
    policy = policy or QualityPolicy()
    unsorted = bars.lazy()
    spans = unsorted.group_by("symbol").agg(pl.col("date").min().alias("first"),
                                            pl.col("date").max().alias("last")).collect()
    if spans.height == 0:
        return QualityReport((), 0, as_of)
    if sessions is None:
        sessions = _nyse_sessions(min(spans["first"]), max(max(spans["last"]), as_of or dt.date.min))
    calendar = sorted(set(sessions) if sessions is not None else set(unsorted.select("date").collect()["date"]))
    as_of = as_of or max(spans["last"])
    latest = max((d for d in calendar if d <= as_of), default=as_of)
    index = {d: i for i, d in enumerate(calendar)}
    cutoff_index = max(0, index.get(latest, len(calendar) - 1) - policy.lookback_sessions)
    cutoff = calendar[cutoff_index] if calendar else as_of

    if recent:
        from kobe.data.bars import in_order

        # The bars from the cutoff on, and before each symbol's first of them its previous
        # bar: the previous close the jump rule compares it with. In (symbol, date) order
        # that bar is the row just above.
        frame = bars.collect() if isinstance(bars, pl.LazyFrame) else bars
        if not (presorted or in_order(frame)):
            frame = frame.sort("symbol", "date")
        on, of = pl.col("date"), pl.col("symbol")
        needed = (on >= cutoff) | ((on.shift(-1) >= cutoff) & (of.shift(-1) == of)).fill_null(False)
        rows = _row_findings(frame.filter(needed).lazy(), policy.jump_pct / 100).filter(on >= cutoff)
        checked, first_session = frame.lazy().filter(on >= cutoff), cutoff_index
    else:
        rows = _row_findings(unsorted.sort("symbol", "date"), policy.jump_pct / 100)
        checked, first_session = unsorted, 0

    found: list[tuple[str, str, dt.date | None, str]] = list(rows.iter_rows())
    # Only a symbol with fewer distinct session dates than sessions in its span can miss
    # one: the others' dates are never brought into Python (most of the gate's time on a
    # large universe).
    held = (checked.join(pl.LazyFrame({"date": pl.Series(calendar[first_session:], dtype=pl.Date)}), on="date",
                         how="semi")
            .group_by("symbol").agg(pl.col("date").n_unique().alias("held")).collect())
    held_by_symbol = dict(held.iter_rows())
    short = [symbol for symbol, first, last in spans.iter_rows()
             if (lo := index.get(first)) is not None and (hi := index.get(last)) is not None
             and held_by_symbol.get(symbol, 0) < hi - max(lo, first_session) + 1]
    dates_of: dict[str, set[dt.date]] = {}
    if short:
        listed = (checked.filter(pl.col("symbol").is_in(short)).group_by("symbol")
                  .agg(pl.col("date").unique().alias("dates")).collect())
        dates_of = {symbol: set(dates) for symbol, dates in listed.iter_rows()}
    for symbol, first, last in spans.iter_rows():
        lo, hi = index.get(first), index.get(last)
        if symbol in short and lo is not None and hi is not None:
            have = dates_of.get(symbol, set())
            for day in calendar[max(lo, first_session):hi + 1]:
                if day not in have:
                    found.append(("missing_session", symbol, day, "no bar on a trading session"))
        if last < latest:
            found.append(("stale_last_bar", symbol, last,
                          f"last bar {last.isoformat()}, latest session {latest.isoformat()}"))

    findings = []
    for rule, symbol, day, detail in found:
        action = policy.action(rule)
        if day is not None and day < cutoff and rule != "stale_last_bar":
            action = "warn"
        # Only a rule whose finding can be a true event may be waived, whatever a file says.
        note = policy.acknowledged.get((symbol, day, rule)) if day is not None and rule in ACKNOWLEDGEABLE else None
        if note is not None:
            action = "warn"
        findings.append(Finding(rule, symbol, day, detail, action, note))

    excluded = {f.symbol for f in findings if f.action == "exclude"}
    # With fewer than three symbols "most of the universe" means nothing more than exclusion.
    if spans.height >= 3 and len(excluded) / spans.height > policy.stop_share:
        findings.append(Finding("feed_broken", "*", latest,
                                f"{len(excluded)} of {spans.height} symbols excluded", policy.action("feed_broken")))
    findings.sort(key=lambda f: (f.symbol, f.date or dt.date.min, f.rule))
    return QualityReport(tuple(findings), spans.height, as_of)
