"""The local data lake: one Parquet file per symbol and a manifest that says what is in it.

Layout under the lake folder (default ``state/lake``)::

    bars/AAPL.parquet      the symbol's bars, sorted by date
    manifest.json          per symbol: provider, adjustment, the coverage (the first and
                           last session whose bar was received), the date the vendor was
                           first asked from, row count, SHA256 of the file and the fetch
                           time (UTC)

**Coverage is what was received, never what was asked.** A symbol covers
``covered_from .. covered_to``: its first and last stored bar. A fetch asks for every
session that has *closed* (its real close, early closes included, as of the fetch's
``now``) after ``covered_to``, and nothing else: a session still trading is not asked
for, and a bar of it is never stored, so the fetch after the close brings it.
``asked_from`` remembers how far back the vendor has been asked: sessions between it and
``covered_from`` are the symbol's listing (it did not trade yet), not a gap to re-ask.
(Manifest version 1 recorded the range *asked* as ``covered_from/covered_to``; such an
entry is read with its coverage taken from the file's first and last dates, so a lake
written before still works and its next fetch brings what the old one skipped.)

**An answer is checked before anything is stored** (:func:`check_answer`). An empty,
short, duplicated, out-of-order or out-of-range answer, or one carrying the bar of a
session that has not closed, is refused for that symbol with a message naming it and
the fault (:data:`FAULTS`); the symbol keeps its previous, intact content and the other
symbols go on.

Every write is atomic (a temporary file, fsync, rename) and the manifest is rewritten
after each symbol, so an interrupted fetch leaves whole files and a manifest that
describes them; the next fetch resumes with what is missing.

**A file is read only while it is the file that was fetched.** The manifest records each
file's SHA256; a file missing, or whose hash differs from its entry (changed after the
fetch, or a crash between the two writes), is *damaged* (:meth:`Lake.verify`): it is
never read, never merged with new bars, and the symbol counts as not fetched.
:meth:`Lake.scan` refuses to read a damaged file (a :class:`KobeError` naming it), unless
the symbol has been *set aside* (:meth:`Lake.set_aside`: what the refresh before a scan
does, so that the other symbols trade); a set-aside symbol is left out of every read
until it is fetched again. :func:`repair` fetches every damaged or set-aside symbol again
over the range its entry records, and records the new hash. An entry without a hash (a
manifest of an older Kobe) is checked at every read as a bars file is
(:func:`kobe.data.bars.read_bars`: readable, the standard columns, usable values, one bar
per date) and must hold the rows, the symbol and the coverage its entry records; nothing
is written by a read: the next store of the symbol records the hash.

**The manifest is input like any other.** Not UTF-8, not JSON or not the expected shape,
it is a :class:`KobeError` naming it (and the line and column JSON gives). An entry that
is not one Kobe writes (:meth:`ManifestEntry.from_json`: a field missing, unknown or of
the wrong type, a date that does not exist, a hash that is not 64 hex digits, a key that
is not a ticker or not its entry's symbol) damages its symbol only (``bad_entry``): the
symbol is not read and is named like a damaged file, the other symbols are read as ever,
and the entry is kept as it was when the manifest is rewritten, until a fetch or repair
of the symbol replaces it.

:func:`fetch` asks the provider only for the sessions the manifest does not cover, with a
bounded number of workers; a second identical fetch asks for nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import re
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data import calendar
from kobe.data.bars import BAR_SCHEMA, read_bars
from kobe.data.providers import Provider
from kobe.data.quality import DATE_RANGE, unusable_values
from kobe.data.universe import TICKER
from kobe.files import write_atomic

DEFAULT_LAKE = Path("state") / "lake"
MANIFEST_VERSION = 2

FAULTS: dict[str, str] = {
    "empty": "no bar at all, though the range asked holds closed sessions (and the symbol's listing does not "
             "explain it: the range is not wholly before the symbol's first stored bar)",
    "short": "bars, but the last is older than the newest closed session asked for: a page that stopped early, "
             "or a symbol halted or delisted since",
    "duplicate": "two or more bars for one date",
    "out_of_order": "dates not in ascending order",
    "unclosed": "a bar for a session that has not closed as of now (a partial, still-forming bar)",
    "out_of_range": "a bar dated outside the range asked for",
    "not_a_session": "a bar dated on a day the NYSE held no session",
    "unusable": "a value no bar can carry: a price not finite, not positive or absurd, a volume not finite, "
                "negative or absurd (kobe.data.quality.unusable_values)",
}
"""What makes a vendor answer unfit to store; the key is the name a refusal gives."""


@dataclass(frozen=True)
class ManifestEntry:
    """What the lake holds of one symbol.

    ``covered_from``/``covered_to``: the first and last session whose bar was received
    (equal to ``first_date``/``last_date``, kept under both names for readers of
    version 1). ``asked_from``: the earliest date the vendor has been asked from; it had
    nothing of the symbol between that date and ``covered_from``.
    """

    symbol: str
    provider: str
    adjusted: bool
    covered_from: str | None
    covered_to: str | None
    first_date: str | None
    last_date: str | None
    rows: int
    sha256: str | None      # None: written by a Kobe that recorded no hash
    fetched_at: str
    asked_from: str | None = None

    @classmethod
    def from_json(cls, key: str, raw: Any, version: int) -> ManifestEntry:
        """The entry recorded under ``key`` in a manifest of ``version``, or
        :class:`BadEntry` saying what about it is not what Kobe writes."""
        if not isinstance(raw, dict):
            raise BadEntry(f"the entry is not an object ({_shown(raw)})")
        if not TICKER.fullmatch(key):
            raise BadEntry(f"the key {key!r} is not a ticker (upper-case letters and digits, e.g. AAPL or BRK.B)")
        missing = [name for name in _FIELDS if name not in raw and name not in _OPTIONAL]
        if missing:
            raise BadEntry(f"the entry lacks {', '.join(missing)}")
        unknown = sorted(str(name) for name in raw if name not in _FIELDS)
        if unknown:
            raise BadEntry(f"the entry has a field Kobe does not write: {', '.join(unknown)}")
        raw = {"sha256": None, "asked_from": None, **raw}
        if version == 1:
            # Version 1's covered_* was the range asked: the asked end could be a session
            # never received (the bug of issue 10). Coverage is what the file holds.
            raw = {**raw, "asked_from": raw.get("covered_from"),
                   "covered_from": raw.get("first_date"), "covered_to": raw.get("last_date")}
        if raw["symbol"] != key:
            raise BadEntry(f"the entry's symbol {_shown(raw['symbol'])} is not its key {key!r}")
        if not isinstance(raw["provider"], str) or not _NAME.fullmatch(raw["provider"]):
            raise BadEntry(f"provider {_shown(raw['provider'])} is not a provider's name")
        if not isinstance(raw["adjusted"], bool):
            raise BadEntry(f"adjusted {_shown(raw['adjusted'])} is not true or false")
        rows = raw["rows"]
        if not isinstance(rows, int) or isinstance(rows, bool) or not 0 <= rows <= MAX_ROWS:
            raise BadEntry(f"rows {_shown(rows)} is not a count of bars (a whole number, 0 .. {MAX_ROWS:,})")
        sha = raw["sha256"]
        if sha is not None and (not isinstance(sha, str) or not _SHA256.fullmatch(sha)):
            raise BadEntry(f"sha256 {_shown(sha)} is not a SHA256 (64 hex digits) or null")
        dates = {name: _date(name, raw[name]) for name in _DATES}
        for low, high in (("covered_from", "covered_to"), ("first_date", "last_date")):
            if (dates[low] is None) != (dates[high] is None):
                raise BadEntry(f"{low} and {high} are both dates or both null")
            first, last = dates[low], dates[high]
            if first is not None and last is not None and first > last:
                raise BadEntry(f"{low} {first} is after {high} {last}")
        fetched_at = raw["fetched_at"]
        try:
            if not isinstance(fetched_at, str) or len(fetched_at) > 40:
                raise ValueError
            dt.datetime.fromisoformat(fetched_at)
        except ValueError:
            raise BadEntry(f"fetched_at {_shown(fetched_at)} is not an ISO instant") from None
        return cls(**raw)

    def coverage(self) -> tuple[dt.date, dt.date] | None:
        if self.covered_from is None or self.covered_to is None:
            return None
        return dt.date.fromisoformat(self.covered_from), dt.date.fromisoformat(self.covered_to)


MAX_ROWS = 1_000_000
"""More daily bars than one symbol can have (four centuries of sessions are ~100,000)."""
_FIELDS = tuple(f.name for f in fields(ManifestEntry))
_OPTIONAL = ("sha256", "asked_from")      # not written by older Kobes
_DATES = ("covered_from", "covered_to", "first_date", "last_date", "asked_from")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadEntry(ValueError):
    """An entry of the manifest that is not one Kobe writes; the message says why."""


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _date(name: str, value: Any) -> dt.date | None:
    """The date an entry's field ``name`` records (``None`` stays ``None``)."""
    if value is None:
        return None
    try:
        if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
            raise ValueError
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise BadEntry(f"{name} {_shown(value)} is not a date (YYYY-MM-DD) or null") from None
    first, last = DATE_RANGE
    if not first <= day <= last:
        raise BadEntry(f"{name} {value!r} is outside {first} .. {last}")
    return day


REPAIR_HINT = "`kobe data repair` fetches the symbol's bars again and records the new hash"
MANIFEST_HINT = ("restore manifest.json from a backup, or remove it and `kobe data fetch` again (the lake is then "
                 "rebuilt from the provider)")
NO_HASH = "(and no hash recorded to trust it by: written by an older Kobe)"
UNFETCHABLE_HINT = "no ticker can be fetched under this key: remove the entry from manifest.json"


@dataclass(frozen=True)
class Damage:
    """Why the lake's file of ``symbol`` is not read: ``kind`` is ``missing``, ``altered``
    (its hash, or without a hash its row count, symbol or coverage, is not its entry's),
    ``unreadable`` (not Parquet, or without a hash not a bars file's content),
    ``bad_entry`` (its manifest entry is not one Kobe writes: ``path`` is the manifest,
    ``line`` the entry's) or ``set_aside`` (by a refresh, until it is fetched again)."""

    symbol: str
    path: Path
    kind: str
    detail: str
    line: int | None = None
    hint: str = REPAIR_HINT

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(f"{self.symbol}: {self.detail}", file=str(self.path), line=self.line, hint=self.hint)


@dataclass
class _Manifest:
    """The manifest as read: the entries, the entries that are not one Kobe writes (key ->
    the value as read, why, its line), and the set-aside symbols (symbol -> why, at)."""

    entries: dict[str, ManifestEntry] = field(default_factory=dict)
    bad: dict[str, tuple[Any, str, int | None]] = field(default_factory=dict)
    aside: dict[str, dict[str, str]] = field(default_factory=dict)


class AnswerRefused(KobeError):
    """A vendor answer that was not stored; ``fault`` is one of :data:`FAULTS`."""

    def __init__(self, symbol: str, fault: str, detail: str) -> None:
        super().__init__(Diagnostic(f"{symbol}: {fault}: {detail}",
                                    hint="nothing of this answer was stored; the next fetch asks again"))
        self.symbol, self.fault = symbol, fault


@dataclass
class FetchReport:
    """What a fetch asked for and what came of it.

    ``requested``: (symbol, first, last) of every request sent. ``failed``: symbol ->
    message, for every symbol whose answer was refused or whose request failed.
    ``refused``: symbol -> fault name (:data:`FAULTS`), for the refused answers only.
    ``due``: the newest closed session of the range as of ``now`` (``None`` when no
    session of the range has closed).
    """

    requested: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)
    fetched_rows: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    now: dt.datetime | None = None
    due: dt.date | None = None

    @property
    def nothing_to_do(self) -> bool:
        return not self.requested

    def to_dict(self) -> dict[str, Any]:
        return {"now": self.now.isoformat() if self.now else None, "due": self.due.isoformat() if self.due else None,
                "requested": [[s, a.isoformat(), b.isoformat()] for s, a, b in self.requested],
                "fetched_rows": self.fetched_rows, "failed": dict(sorted(self.failed.items())),
                "refused": dict(sorted(self.refused.items()))}


def aware_now(now: dt.datetime | None) -> dt.datetime:
    """``now`` as an aware UTC instant (the wall clock when ``None``)."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise KobeError(Diagnostic(f"now {now.isoformat()} has no timezone",
                                   hint="give an aware instant (UTC, or with an offset)"))
    return now.astimezone(dt.UTC)


def due_session(end: dt.date, now: dt.datetime) -> dt.date:
    """The newest session on or before ``end`` that has closed at ``now``."""
    closed = calendar.last_closed_session(now)
    if end >= closed:
        return closed
    return end if calendar.is_session(end) else calendar.previous_session(end)


def _ny(instant: dt.datetime) -> str:
    return instant.astimezone(calendar.NEW_YORK).strftime("%Y-%m-%d %H:%M New York")


def check_answer(symbol: str, bars: pl.DataFrame, first: dt.date, last: dt.date, now: dt.datetime, *,
                 listing_explains_empty: bool = False) -> None:
    """Raise :class:`AnswerRefused` unless ``bars`` (in the vendor's order) is a whole
    answer for the closed sessions ``first .. last`` as of ``now``.

    Sessions missing *between* two received bars are kept as the symbol's real gaps
    (halts; the quality gate's ``missing_session`` rule reports them); sessions missing
    at the *end* make the answer ``short``, because a page that stops early looks exactly
    like that. Sessions missing at the start of a first fetch are the listing.
    """
    dates: list[dt.date] = bars["date"].to_list()
    if not dates:
        if calendar.sessions(first, last) and not listing_explains_empty:
            raise AnswerRefused(symbol, "empty", f"no bar for {first} .. {last}, which holds "
                                f"{len(calendar.sessions(first, last))} closed session(s)")
        return
    bad = unusable_values(bars.select(list(BAR_SCHEMA)).with_row_index("_row"))
    if bad.height:
        row, column, fault = bad.row(0)
        raise AnswerRefused(symbol, "unusable", f"the bar of {dates[row]}: {column} {bars[column][row]} {fault}")
    seen: set[dt.date] = set()
    for day in dates:
        if day in seen:
            raise AnswerRefused(symbol, "duplicate", f"{dates.count(day)} bars dated {day}")
        seen.add(day)
    for before, after in itertools.pairwise(dates):
        if after < before:
            raise AnswerRefused(symbol, "out_of_order", f"the bar of {after} comes after the bar of {before}")
    closed = calendar.last_closed_session(now)
    for day in dates:
        if day > closed:
            detail = f"a bar for {day}"
            if calendar.is_session(day):
                detail += f", whose session closes at {_ny(calendar.session_open_close(day)[1])}"
            raise AnswerRefused(symbol, "unclosed", f"{detail}, after now ({_ny(now)}): never stored")
        if not first <= day <= last:
            raise AnswerRefused(symbol, "out_of_range", f"a bar for {day}, outside {first} .. {last}")
        if day >= calendar.FIRST_DAY and not calendar.is_session(day):
            raise AnswerRefused(symbol, "not_a_session", f"a bar for {day}, when the NYSE was closed")
    newest = last if calendar.is_session(last) else calendar.previous_session(last)
    if dates[-1] < newest:
        missing = len(calendar.sessions(dates[-1] + dt.timedelta(days=1), newest))
        raise AnswerRefused(symbol, "short", f"the bars end at {dates[-1]}, {missing} closed session(s) short of "
                            f"{newest}, the newest asked for (a page that stopped early, or a halt or delisting)")


class Lake:
    """A folder of per-symbol Parquet files and their manifest."""

    def __init__(self, root: Path = DEFAULT_LAKE) -> None:
        self.root = root
        self._lock = threading.Lock()

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def path(self, symbol: str) -> Path:
        """The file of ``symbol``, a ticker (anything else could name a file elsewhere)."""
        if not TICKER.fullmatch(symbol):
            raise KobeError(Diagnostic(f"{symbol!r} is not a ticker: the lake holds no file for it",
                                       hint="upper-case letters and digits, e.g. AAPL or BRK.B"))
        return self.root / "bars" / f"{symbol}.parquet"

    def _read(self) -> _Manifest:
        """The manifest, each entry checked (:meth:`ManifestEntry.from_json`); a manifest
        that cannot be read at all is a :class:`KobeError` naming it."""
        path = self.manifest_path
        if not path.exists():
            return _Manifest()

        def unreadable(message: str, line: int | None = None, col: int | None = None,
                       text: str | None = None) -> KobeError:
            return KobeError(Diagnostic(f"the lake's manifest{message}", file=str(path), line=line, col=col,
                                        source_line=text, hint=MANIFEST_HINT))

        try:
            data = path.read_bytes()
        except OSError as err:
            raise unreadable(f" cannot be read ({err.strerror or type(err).__name__})") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as err:
            start = data.rfind(b"\n", 0, err.start) + 1
            col = len(data[start:err.start].decode("utf-8", errors="replace")) + 1
            raise unreadable(f" is not UTF-8 text (byte 0x{data[err.start]:02x})",
                             data.count(b"\n", 0, err.start) + 1, col) from None
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            lines = text.split("\n")
            shown = lines[err.lineno - 1] if err.lineno <= len(lines) and len(lines[err.lineno - 1]) <= 200 else None
            raise unreadable(f" is not JSON ({err.msg.lower()})", err.lineno, err.colno, shown) from None
        except RecursionError:
            raise unreadable(" is not JSON (nested too deeply)") from None
        if not isinstance(raw, dict) or "symbols" not in raw:
            raise unreadable(" is not an object with 'version' and 'symbols'")
        version = raw.get("version", 1)
        if isinstance(version, bool) or version not in (1, MANIFEST_VERSION):
            raise unreadable(f"'s version {_shown(version)} is not 1 or {MANIFEST_VERSION} (a newer Kobe's?)")
        if not isinstance(raw["symbols"], dict):
            raise unreadable("'s 'symbols' is not an object")
        if not isinstance(raw.get("set_aside", {}), dict):
            raise unreadable("'s 'set_aside' is not an object")
        manifest = _Manifest()
        for key, value in raw["symbols"].items():
            try:
                manifest.entries[key] = ManifestEntry.from_json(key, value, version)
            except BadEntry as err:
                # Where Kobe writes the key (indent 1): a hand-formatted manifest gets no line.
                at = re.search(rf"^  {re.escape(json.dumps(key))}: ", text, re.MULTILINE)
                manifest.bad[key] = (value, str(err), text.count("\n", 0, at.start()) + 1 if at else None)
        for key, why in raw.get("set_aside", {}).items():
            # A record that is not Kobe's still sets the symbol aside: the safe reading.
            good = isinstance(why, dict) and isinstance(why.get("why"), str) and isinstance(why.get("at"), str)
            manifest.aside[key] = ({"why": why["why"], "at": why["at"]} if good else
                                   {"why": "set aside (the manifest's record of why is not one Kobe writes)",
                                    "at": "an unknown time"})
        return manifest

    def _write(self, manifest: _Manifest) -> None:
        symbols = {**{key: value for key, (value, _, _) in manifest.bad.items()},
                   **{s: asdict(e) for s, e in manifest.entries.items()}}
        document: dict[str, Any] = {"version": MANIFEST_VERSION, "symbols": dict(sorted(symbols.items()))}
        if manifest.aside:   # left out when empty: a Kobe that predates it reads the manifest as before
            document["set_aside"] = dict(sorted(manifest.aside.items()))
        write_atomic(self.manifest_path, json.dumps(document, indent=1) + "\n")

    def manifest(self) -> dict[str, ManifestEntry]:
        """The entries Kobe can read (an entry that is not one Kobe writes is left out:
        :meth:`verify` names it)."""
        return self._read().entries

    def set_aside_symbols(self) -> dict[str, dict[str, str]]:
        """The symbols set aside (:meth:`set_aside`): symbol -> ``why`` and ``at`` (UTC)."""
        return self._read().aside

    def symbols(self) -> list[str]:
        return sorted(self.manifest())

    def damage(self, entry: ManifestEntry) -> Damage | None:
        """Why ``entry``'s file is not the file that was fetched, or None."""
        path, symbol = self.path(entry.symbol), entry.symbol
        held = f"{entry.rows} bars" + (f", {entry.covered_from} .. {entry.covered_to}" if entry.covered_from else "")
        if not path.is_file():
            return Damage(symbol, path, "missing", f"the file is missing (the manifest records {held})")
        if entry.sha256 is not None:
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except OSError as err:
                return Damage(symbol, path, "unreadable", f"the file cannot be read ({err.strerror or err})")
            if digest == entry.sha256:
                return None
            return Damage(symbol, path, "altered", f"the file changed after it was fetched: its SHA256 is "
                                                   f"{digest[:16]}..., the manifest records {entry.sha256[:16]}...")
        # No hash recorded (an older Kobe): the file is checked as any bars file is, and
        # must hold what its entry records. Checked at every read, never written by one.
        try:
            bars = read_bars(path).collect()
        except KobeError as err:
            first, more = err.diagnostics[0].message, len(err.diagnostics) - 1
            return Damage(symbol, path, "unreadable", f"the file is not usable bars: {first}"
                          + (f" (and {more} more problem(s))" if more else "") + f" {NO_HASH}")
        if bars.height != entry.rows:
            return Damage(symbol, path, "altered", f"the file holds {bars.height} bars, the manifest records {held} "
                                                   f"{NO_HASH}")
        others = sorted(set(bars["symbol"].to_list()) - {symbol})
        if others:
            return Damage(symbol, path, "altered", f"the file holds bars of {', '.join(others)}, not only {symbol} "
                                                   f"{NO_HASH}")
        days: list[dt.date] = bars["date"].to_list()
        if days and (days[0].isoformat(), days[-1].isoformat()) != (entry.covered_from, entry.covered_to):
            return Damage(symbol, path, "altered", f"the file's bars run {days[0]} .. {days[-1]}, the manifest "
                                                   f"records {held} {NO_HASH}")
        return None

    def _bad_entry(self, key: str, why: str, line: int | None) -> Damage:
        return Damage(key, self.manifest_path, "bad_entry", f"the manifest's entry is not one Kobe writes: {why}",
                      line, REPAIR_HINT if TICKER.fullmatch(key) else UNFETCHABLE_HINT)

    def _damages(self, manifest: _Manifest, symbols: Sequence[str]) -> list[Damage]:
        found = []
        for symbol in symbols:
            if symbol in manifest.aside:
                found.append(Damage(symbol, self.manifest_path if symbol in manifest.bad else self.path(symbol),
                                    "set_aside", f"set aside at {manifest.aside[symbol]['at']} (not read, not "
                                    f"traded): {manifest.aside[symbol]['why']}"))
            elif symbol in manifest.bad:
                found.append(self._bad_entry(symbol, *manifest.bad[symbol][1:]))
            elif (damage := self.damage(manifest.entries[symbol])) is not None:
                found.append(damage)
        return found

    def verify(self, symbols: Sequence[str] | None = None) -> list[Damage]:
        """Every symbol (of ``symbols``, default all) whose file is not read: damaged, its
        entry bad, or set aside."""
        manifest = self._read()
        known = set(manifest.entries) | set(manifest.bad)
        return self._damages(manifest, sorted(known) if symbols is None else sorted(set(symbols) & known))

    def set_aside(self, damages: Sequence[Damage], now: dt.datetime | None = None) -> None:
        """Record that the symbols of ``damages`` are not to be read until fetched again."""
        if not damages:
            return
        with self._lock:
            manifest = self._read()
            at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
            for damage in damages:
                manifest.aside.setdefault(damage.symbol, {"why": damage.detail, "at": at})
            self._write(manifest)

    def scan(self, symbols: Sequence[str] | None = None, start: dt.date | None = None,
             end: dt.date | None = None, *, damaged: str = "raise") -> pl.LazyFrame:
        """The lake's bars as one lazy frame; symbol and date filters are pushed down.

        Set-aside symbols are left out. A damaged file or a bad entry raises
        :class:`KobeError` naming it (``damaged="raise"``), or is left out (``"skip"``: for
        a caller that reports the damage itself); it is never read."""
        manifest = self._read()
        known = set(manifest.entries) | set(manifest.bad)
        chosen = sorted(known) if symbols is None else [s for s in symbols if s in known]
        chosen = [s for s in chosen if s not in manifest.aside]
        damages = self._damages(manifest, chosen)
        if damages and damaged == "raise":
            raise KobeError([d.diagnostic() for d in damages])
        bad = {d.symbol for d in damages}
        paths = [self.path(s) for s in chosen if s not in bad]
        if not paths:
            return pl.LazyFrame(schema=BAR_SCHEMA)
        frame = pl.scan_parquet(paths)
        if start is not None:
            frame = frame.filter(pl.col("date") >= start)
        if end is not None:
            frame = frame.filter(pl.col("date") <= end)
        return frame.sort("symbol", "date")

    def missing(self, symbol: str, start: dt.date, end: dt.date, now: dt.datetime | None = None, *,
                backfill: bool = True) -> list[tuple[dt.date, dt.date]]:
        """The ranges of closed sessions in ``[start, end]`` (as of ``now``) that the
        lake lacks: before the symbol's coverage (unless ``backfill`` is off, or the
        vendor was already asked from there) and after it, up to the newest closed one.
        A damaged or set-aside symbol lacks all of them."""
        due = due_session(end, aware_now(now))
        if due < start or not calendar.sessions(start, due):
            return []
        entry = self.manifest().get(symbol)
        coverage = entry.coverage() if entry is not None and self._intact(entry) else None
        if entry is None or coverage is None:
            return [(start, due)]
        have_from, have_to = coverage
        gaps = []
        floor = min(have_from, dt.date.fromisoformat(entry.asked_from)) if entry.asked_from else have_from
        front_end = min(due, floor - dt.timedelta(days=1))
        if backfill and start < floor and calendar.sessions(start, front_end):
            gaps.append((start, front_end))
        if have_to < due:
            gaps.append((max(start, have_to + dt.timedelta(days=1)), due))
        return gaps

    def _intact(self, entry: ManifestEntry) -> bool:
        return entry.symbol not in self._read().aside and self.damage(entry) is None

    def store(self, symbol: str, new: pl.DataFrame, provider: str, adjusted: bool, asked: tuple[dt.date, dt.date],
              now: dt.datetime | None = None) -> ManifestEntry:
        """Merge ``new`` bars (already checked: :func:`check_answer`) into the symbol's
        file (new rows win on equal dates), then record the entry. Both writes are atomic;
        the file goes first. ``now`` stamps ``fetched_at`` (default: the wall clock).
        A damaged or set-aside file is not merged: ``new`` replaces it."""
        path = self.path(symbol)
        with self._lock:
            old_entry = self.manifest().get(symbol)
            # The old file and coverage count only if the old entry described the file on disk.
            intact = old_entry is not None and self._intact(old_entry)
            if new.height == 0 and intact and old_entry is not None:
                # Nothing new (the listing explains an empty answer): only asked_from moves.
                payload = path.read_bytes()
                merged = pl.read_parquet(path)
            else:
                frames = [new.select(list(BAR_SCHEMA)).cast(pl.Schema(BAR_SCHEMA))]
                if intact:
                    frames.insert(0, pl.read_parquet(path))
                merged = pl.concat(frames).unique(["date"], keep="last").sort("date")
                buffer = io.BytesIO()
                merged.write_parquet(buffer, compression="zstd", statistics=True)
                payload = buffer.getvalue()
                write_atomic(path, payload)
            dates: list[dt.date] = merged["date"].to_list()
            first = dates[0].isoformat() if dates else None
            last = dates[-1].isoformat() if dates else None
            froms = [asked[0].isoformat(), *([first] if first else [])]
            if intact and old_entry is not None and old_entry.asked_from:
                froms.append(old_entry.asked_from)
            entry = ManifestEntry(
                symbol=symbol, provider=provider, adjusted=adjusted, covered_from=first, covered_to=last,
                first_date=first, last_date=last, rows=merged.height, sha256=hashlib.sha256(payload).hexdigest(),
                fetched_at=(now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds"), asked_from=min(froms))
            manifest = self._read()
            manifest.entries[symbol] = entry
            manifest.bad.pop(symbol, None)      # replaced by what was fetched
            manifest.aside.pop(symbol, None)    # fetched again: read again
            self._write(manifest)
            return entry


def fetch(lake: Lake, provider: Provider, symbols: Sequence[str], start: dt.date, end: dt.date, *,
          now: dt.datetime | None = None, workers: int = 4, on_done: Callable[[str], None] | None = None,
          backfill: bool = True) -> FetchReport:
    """Bring the lake up to the sessions of ``[start, end]`` that have closed at ``now``
    (aware; default: the wall clock), for ``symbols``, asking only for what is missing,
    with at most ``workers`` requests in flight.

    Every answer is checked (:func:`check_answer`) before it is stored: a refused answer
    or a failing request is reported for its symbol and the others go on; a re-run
    resumes. With ``backfill`` off, a symbol already in the lake is only brought forward
    (what a refresh before a scan wants), never extended back to ``start``. A damaged or
    set-aside symbol is fetched again over ``[start, end]``.
    """
    now = aware_now(now)
    report = FetchReport(now=now, due=due_session(end, now) if end >= start else None)
    # A fetch killed mid-write leaves a temporary file (never read as bars): sweep them.
    # The lake has one writer at a time.
    for leftover in (lake.root / "bars").glob(".*.tmp") if (lake.root / "bars").exists() else []:
        leftover.unlink(missing_ok=True)
    jobs = [(s, a, b) for s in symbols for a, b in lake.missing(s, start, end, now, backfill=backfill)]
    _run(lake, provider, jobs, now, report, workers, on_done)
    return report


def repair(lake: Lake, provider: Provider, symbols: Sequence[str] | None = None, *,
           now: dt.datetime | None = None, workers: int = 4,
           on_done: Callable[[str], None] | None = None) -> FetchReport:
    """Fetch again every damaged or set-aside symbol (of ``symbols``, default all), over
    the range its entry records (``asked_from`` .. ``covered_to``; for an entry that is
    not one Kobe writes, :func:`lake_range`), so that its file is what was fetched; the
    new file's hash is recorded and the symbol read again. Checked like any answer: a
    refused one leaves the symbol as it was (and in the report). A key that is not a
    ticker is never fetched: it is reported (:func:`unfetchable`)."""
    now = aware_now(now)
    entries = lake.manifest()
    jobs, failed = [], {}
    for damage in lake.verify(symbols):
        entry = entries.get(damage.symbol)
        if entry is None:     # its entry is not one Kobe writes: the lake's range stands in for its own
            if (why := unfetchable(damage.symbol)) is not None:
                failed[damage.symbol] = why
                continue
            span = lake_range(entries)
            if span is None:
                failed[damage.symbol] = (f"{damage.symbol}: its entry is not readable and no other entry gives a "
                                         f"range: `kobe data fetch` it with --start")
                continue
            jobs.append((damage.symbol, *span))
            continue
        first = entry.asked_from or entry.covered_from
        last = entry.covered_to or first
        if first is None or last is None:
            continue
        jobs.append((damage.symbol, dt.date.fromisoformat(first), dt.date.fromisoformat(last)))
    report = FetchReport(now=now, due=max((b for _, _, b in jobs), default=None))
    _run(lake, provider, jobs, now, report, workers, on_done)
    report.failed.update(failed)
    return report


def unfetchable(symbol: str) -> str | None:
    """Why ``symbol`` (a key of the manifest) can never be fetched, or None."""
    if TICKER.fullmatch(symbol):
        return None
    return f"{symbol}: the manifest's key {symbol!r} is not a ticker: remove the entry from manifest.json"


def lake_range(entries: dict[str, ManifestEntry]) -> tuple[dt.date, dt.date] | None:
    """The range the lake's entries were fetched over: the earliest date asked from to
    the latest session covered (None when no entry records one)."""
    froms = [d for e in entries.values() if (d := e.asked_from or e.covered_from)]
    tos = [e.covered_to for e in entries.values() if e.covered_to]
    if not froms or not tos:
        return None
    return dt.date.fromisoformat(min(froms)), dt.date.fromisoformat(max(tos))


def _run(lake: Lake, provider: Provider, jobs: list[tuple[str, dt.date, dt.date]], now: dt.datetime,
         report: FetchReport, workers: int, on_done: Callable[[str], None] | None) -> None:
    """Ask for ``jobs`` (symbol, first, last), check and store each answer, into ``report``."""
    manifest = lake.manifest()
    report.requested = jobs

    def one(symbol: str, a: dt.date, b: dt.date) -> int:
        entry = manifest.get(symbol)
        coverage = entry.coverage() if entry is not None else None
        bars = provider.daily_bars(symbol, a, b)
        # Asked wholly before the first stored bar, "nothing" means "not listed yet".
        check_answer(symbol, bars, a, b, now, listing_explains_empty=coverage is not None and b < coverage[0])
        lake.store(symbol, bars, provider.name, provider.adjusted, (a, b))
        return bars.height

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, *job): job for job in jobs}
        for future in as_completed(futures):
            symbol = futures[future][0]
            try:
                report.fetched_rows += future.result()
            except AnswerRefused as err:
                report.failed[symbol] = err.diagnostics[0].message
                report.refused[symbol] = err.fault
            except KobeError as err:
                first = err.diagnostics[0]
                report.failed[symbol] = f"{first.location()}: {first.message}" if first.file else first.message
            if on_done is not None:
                on_done(symbol)
