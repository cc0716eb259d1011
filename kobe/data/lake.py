"""The local data lake: one Parquet file per symbol and a manifest that says what is in it.

Layout under the lake folder (default ``state/lake``)::

    bars/AAPL.parquet      the symbol's bars, sorted by date
    manifest.json          per symbol: provider, adjustment, the date range asked for
                           (``covered_from``/``covered_to``), the range present, row count,
                           SHA256 of the file and the fetch time (UTC)

Every write is atomic (a temporary file, fsync, rename) and the manifest is rewritten
after each symbol, so an interrupted fetch leaves whole files and a manifest that
describes them; the next fetch resumes with what is missing. A file whose hash does not
match its entry (a crash between the two writes) is trusted for its bars and re-fetched
for its range.

:func:`fetch` asks the provider only for the ranges the manifest does not cover, with a
bounded number of workers; a second identical fetch asks for nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl

from kobe.config.errors import Diagnostic, KobeError
from kobe.data.bars import BAR_SCHEMA
from kobe.data.providers import Provider
from kobe.files import write_atomic

DEFAULT_LAKE = Path("state") / "lake"


@dataclass(frozen=True)
class ManifestEntry:
    symbol: str
    provider: str
    adjusted: bool
    covered_from: str          # ISO dates: the range the provider was asked for
    covered_to: str
    first_date: str | None     # the range present in the file
    last_date: str | None
    rows: int
    sha256: str
    fetched_at: str


@dataclass
class FetchReport:
    requested: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)
    fetched_rows: int = 0
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not self.requested


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

    def manifest(self) -> dict[str, ManifestEntry]:
        if not self.manifest_path.exists():
            return {}
        try:
            raw = json.loads(self.manifest_path.read_text(encoding="utf-8"))
            return {s: ManifestEntry(**e) for s, e in raw["symbols"].items()}
        except (ValueError, KeyError, TypeError) as err:
            raise KobeError(Diagnostic(f"the lake's manifest is unreadable ({err})", file=str(self.manifest_path),
                                       hint="remove it to rebuild the lake from the provider")) from None

    def symbols(self) -> list[str]:
        return sorted(self.manifest())

    def scan(self, symbols: Sequence[str] | None = None, start: dt.date | None = None,
             end: dt.date | None = None) -> pl.LazyFrame:
        """The lake's bars as one lazy frame; symbol and date filters are pushed down."""
        chosen = self.symbols() if symbols is None else [s for s in symbols if s in self.manifest()]
        paths = [self.path(s) for s in chosen if self.path(s).exists()]
        if not paths:
            return pl.LazyFrame(schema=BAR_SCHEMA)
        frame = pl.scan_parquet(paths)
        if start is not None:
            frame = frame.filter(pl.col("date") >= start)
        if end is not None:
            frame = frame.filter(pl.col("date") <= end)
        return frame.sort("symbol", "date")

    def missing(self, symbol: str, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
        """The parts of ``[start, end]`` the provider has not been asked for yet."""
        entry = self.manifest().get(symbol)
        if entry is None or not self._intact(entry):
            return [(start, end)]
        have_from, have_to = dt.date.fromisoformat(entry.covered_from), dt.date.fromisoformat(entry.covered_to)
        gaps = []
        if start < have_from:
            gaps.append((start, min(end, have_from - dt.timedelta(days=1))))
        if end > have_to:
            gaps.append((max(start, have_to + dt.timedelta(days=1)), end))
        return gaps

    def _intact(self, entry: ManifestEntry) -> bool:
        path = self.path(entry.symbol)
        return path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == entry.sha256

    def store(self, symbol: str, new: pl.DataFrame, provider: str, adjusted: bool, asked: tuple[dt.date, dt.date],
              now: dt.datetime | None = None) -> ManifestEntry:
        """Merge ``new`` bars into the symbol's file (new rows win on equal dates), then
        record the entry. Both writes are atomic; the file goes first."""
        path = self.path(symbol)
        with self._lock:
            old_entry = self.manifest().get(symbol)
            # The old coverage still counts only if the old entry described the file on disk.
            intact = old_entry is not None and self._intact(old_entry)
            frames = [new.select(list(BAR_SCHEMA)).cast(BAR_SCHEMA)]
            if path.exists():
                frames.insert(0, pl.read_parquet(path))
            merged = pl.concat(frames).unique(["date"], keep="last").sort("date")
            buffer = io.BytesIO()
            merged.write_parquet(buffer, compression="zstd", statistics=True)
            payload = buffer.getvalue()
            write_atomic(path, payload)
            covered = asked
            if intact and old_entry is not None:
                covered = (min(asked[0], dt.date.fromisoformat(old_entry.covered_from)),
                           max(asked[1], dt.date.fromisoformat(old_entry.covered_to)))
            entry = ManifestEntry(
                symbol=symbol, provider=provider, adjusted=adjusted,
                covered_from=covered[0].isoformat(), covered_to=covered[1].isoformat(),
                first_date=merged["date"].min().isoformat() if merged.height else None,
                last_date=merged["date"].max().isoformat() if merged.height else None,
                rows=merged.height, sha256=hashlib.sha256(payload).hexdigest(),
                fetched_at=(now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"))
            entries = self.manifest()
            entries[symbol] = entry
            write_atomic(self.manifest_path, json.dumps(
                {"version": 1, "symbols": {s: asdict(e) for s, e in sorted(entries.items())}}, indent=1) + "\n")
            return entry


def fetch(lake: Lake, provider: Provider, symbols: Sequence[str], start: dt.date, end: dt.date, *,
          workers: int = 4, on_done: Callable[[str], None] | None = None) -> FetchReport:
    """Bring the lake up to ``[start, end]`` for ``symbols``, asking only for what is
    missing, with at most ``workers`` requests in flight. A failing symbol is reported
    and the others go on; a re-run resumes."""
    report = FetchReport()
    # A fetch killed mid-write leaves a temporary file (never read as bars): sweep them.
    # The lake has one writer at a time.
    for leftover in (lake.root / "bars").glob(".*.tmp") if (lake.root / "bars").exists() else []:
        leftover.unlink(missing_ok=True)
    jobs = [(s, a, b) for s in symbols for a, b in lake.missing(s, start, end)]
    report.requested = jobs

    def one(symbol: str, a: dt.date, b: dt.date) -> int:
        bars = provider.daily_bars(symbol, a, b)
        lake.store(symbol, bars, provider.name, provider.adjusted, (a, b))
        return bars.height

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(one, *job): job for job in jobs}
        for future in as_completed(futures):
            symbol = futures[future][0]
            try:
                report.fetched_rows += future.result()
            except KobeError as err:
                report.failed[symbol] = err.diagnostics[0].message
            if on_done is not None:
                on_done(symbol)
    return report
