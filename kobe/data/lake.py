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
manifest of an older Kobe) is trusted while its file holds the rows the entry counts;
the next store of the symbol records the hash.

:func:`fetch` asks the provider only for the sessions the manifest does not cover, with a
bounded number of workers; a second identical fetch asks for nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import itertools
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data import calendar
from kobe.data.bars import BAR_SCHEMA
from kobe.data.providers import Provider
from kobe.data.quality import unusable_values
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
    def from_json(cls, raw: dict[str, Any], version: int) -> ManifestEntry:
        raw = {"sha256": None, **raw}
        if version == 1:
            # Version 1's covered_* was the range asked: the asked end could be a session
            # never received (the bug of issue 10). Coverage is what the file holds.
            raw = {**raw, "asked_from": raw.get("covered_from"),
                   "covered_from": raw.get("first_date"), "covered_to": raw.get("last_date")}
        return cls(**raw)

    def coverage(self) -> tuple[dt.date, dt.date] | None:
        if self.covered_from is None or self.covered_to is None:
            return None
        return dt.date.fromisoformat(self.covered_from), dt.date.fromisoformat(self.covered_to)


REPAIR_HINT = "`kobe data repair` fetches the symbol's bars again and records the new hash"


@dataclass(frozen=True)
class Damage:
    """Why the lake's file of ``symbol`` is not read: ``kind`` is ``missing``, ``altered``
    (its hash, or without a hash its row count, is not its entry's), ``unreadable`` or
    ``set_aside`` (by a refresh, until it is fetched again)."""

    symbol: str
    path: Path
    kind: str
    detail: str

    def diagnostic(self) -> Diagnostic:
        return Diagnostic(f"{self.symbol}: {self.detail}", file=str(self.path), hint=REPAIR_HINT)


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
        return self.root / "bars" / f"{symbol}.parquet"

    def _read(self) -> tuple[dict[str, ManifestEntry], dict[str, dict[str, str]]]:
        """The entries and the set-aside symbols (symbol -> ``why``, ``at``)."""
        if not self.manifest_path.exists():
            return {}, {}
        try:
            raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            version = int(raw.get("version", 1))
            if version not in (1, MANIFEST_VERSION):
                raise ValueError(f"version {version} is newer than this Kobe reads")
            entries = {s: ManifestEntry.from_json(e, version) for s, e in raw["symbols"].items()}
            aside = {str(s): {"why": str(a["why"]), "at": str(a["at"])} for s, a in raw.get("set_aside", {}).items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise KobeError(Diagnostic(f"the lake's manifest is unreadable ({err})", file=str(self.manifest_path),
                                       hint="remove it to rebuild the lake from the provider")) from None
        return entries, aside

    def _write(self, entries: dict[str, ManifestEntry], aside: dict[str, dict[str, str]]) -> None:
        document: dict[str, Any] = {"version": MANIFEST_VERSION,
                                    "symbols": {s: asdict(e) for s, e in sorted(entries.items())}}
        if aside:   # left out when empty: a Kobe that predates it reads the manifest as before
            document["set_aside"] = dict(sorted(aside.items()))
        write_atomic(self.manifest_path, json.dumps(document, indent=1) + "\n")

    def manifest(self) -> dict[str, ManifestEntry]:
        return self._read()[0]

    def set_aside_symbols(self) -> dict[str, dict[str, str]]:
        """The symbols set aside (:meth:`set_aside`): symbol -> ``why`` and ``at`` (UTC)."""
        return self._read()[1]

    def symbols(self) -> list[str]:
        return sorted(self.manifest())

    def damage(self, entry: ManifestEntry) -> Damage | None:
        """Why ``entry``'s file is not the file that was fetched, or None."""
        path, symbol = self.path(entry.symbol), entry.symbol
        held = f"{entry.rows} bars" + (f", {entry.covered_from} .. {entry.covered_to}" if entry.covered_from else "")
        if not path.is_file():
            return Damage(symbol, path, "missing", f"the file is missing (the manifest records {held})")
        if entry.sha256 is not None:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            if digest == entry.sha256:
                return None
            return Damage(symbol, path, "altered", f"the file changed after it was fetched: its SHA256 is "
                                                   f"{digest[:16]}..., the manifest records {entry.sha256[:16]}...")
        try:   # no hash recorded (an older Kobe): the rows it counted are all that can be checked
            rows = pl.scan_parquet(path).select(pl.len()).collect().item()
        except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError) as err:
            return Damage(symbol, path, "unreadable", f"the file is not readable Parquet ({str(err)[:120]})")
        if rows != entry.rows:
            return Damage(symbol, path, "altered", f"the file holds {rows} bars, the manifest records {held} "
                                                   f"(and no hash: written by an older Kobe)")
        return None

    def verify(self, symbols: Sequence[str] | None = None) -> list[Damage]:
        """Every symbol (of ``symbols``, default all) whose file is not read: damaged, or set aside."""
        entries, aside = self._read()
        found = []
        for symbol in sorted(entries) if symbols is None else sorted(set(symbols) & set(entries)):
            if symbol in aside:
                found.append(Damage(symbol, self.path(symbol), "set_aside",
                                    f"set aside at {aside[symbol]['at']} (not read, not traded): "
                                    f"{aside[symbol]['why']}"))
            elif (damage := self.damage(entries[symbol])) is not None:
                found.append(damage)
        return found

    def set_aside(self, damages: Sequence[Damage], now: dt.datetime | None = None) -> None:
        """Record that the symbols of ``damages`` are not to be read until fetched again."""
        if not damages:
            return
        with self._lock:
            entries, aside = self._read()
            at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).isoformat(timespec="seconds")
            for damage in damages:
                aside.setdefault(damage.symbol, {"why": damage.detail, "at": at})
            self._write(entries, aside)

    def scan(self, symbols: Sequence[str] | None = None, start: dt.date | None = None,
             end: dt.date | None = None, *, damaged: str = "raise") -> pl.LazyFrame:
        """The lake's bars as one lazy frame; symbol and date filters are pushed down.

        Set-aside symbols are left out. A damaged file raises :class:`KobeError` naming
        it (``damaged="raise"``), or is left out (``"skip"``: for a caller that reports
        the damage itself); it is never read."""
        entries, aside = self._read()
        chosen = sorted(entries) if symbols is None else [s for s in symbols if s in entries]
        chosen = [s for s in chosen if s not in aside]
        damages = [d for s in chosen if (d := self.damage(entries[s])) is not None]
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
        return entry.symbol not in self._read()[1] and self.damage(entry) is None

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
            entries, aside = self._read()
            entries[symbol] = entry
            aside.pop(symbol, None)       # fetched again: read again
            self._write(entries, aside)
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
    the range its entry records (``asked_from`` .. ``covered_to``), so that its file is
    what was fetched; the new file's hash is recorded and the symbol read again. Checked
    like any answer: a refused one leaves the symbol as it was (and in the report)."""
    now = aware_now(now)
    entries = lake.manifest()
    jobs = []
    for damage in lake.verify(symbols):
        entry = entries[damage.symbol]
        first = entry.asked_from or entry.covered_from
        last = entry.covered_to or first
        if first is None or last is None:
            continue
        jobs.append((damage.symbol, dt.date.fromisoformat(first), dt.date.fromisoformat(last)))
    report = FetchReport(now=now, due=max((b for _, _, b in jobs), default=None))
    _run(lake, provider, jobs, now, report, workers, on_done)
    return report


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
