"""Bring the bars up to the last closed session before a scan, and say if they are fresh.

A daily strategy decides on the bar of the last session that has closed: at 09:00 on a
Thursday that is Wednesday's bar, from 16:00 (13:00 on an early close) Thursday's.
:func:`refresh` is what the runner calls before every scan, with ``now`` the *broker's*
clock (a replay or the stand-in exchange runs on its own time, not the machine's):

- ``data.provider`` ``polygon`` or ``alpaca``: ask the vendor for the sessions closed
  since each symbol's last stored bar, through :func:`kobe.data.lake.fetch` (so every
  answer is checked and a bad one refused for its symbol, never stored); a symbol of the
  universe new to the lake gets its history from ``start``.
- ``embedded`` or ``files``: the bars are read directly; nothing is fetched
  (``action == "none"``).

Either way the report judges freshness: the bar of the last closed session as of
``now`` must be present for every symbol of the universe (the enabled strategies'
universes); :attr:`RefreshReport.stale` lists those without it. A symbol that fails
(vendor error, refused answer) is named in ``failed`` and stays stale; the others are
refreshed all the same. Problems of set-up (no keys, an unknown provider) raise
:class:`KobeError`; a vendor's bad day never does.

A symbol whose lake file is damaged (missing, or not the file that was fetched: its hash
differs from the manifest's, :meth:`kobe.data.lake.Lake.verify`) is *set aside*: not
read, not fetched, not traded (:func:`untrusted` tells the trade cycle) and named in
``damaged`` (and ``failed``), until ``kobe data repair`` fetches it again. It is not
counted as stale: the other symbols are judged, and trade, without it. A file altered
behind the lake's back is for a person to look at, so the refresh does not repair it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from kobe.data import calendar
from kobe.data.lake import Lake, aware_now, fetch

if TYPE_CHECKING:
    from kobe.project import Project

LAKE_PROVIDERS = ("polygon", "alpaca")
DEFAULT_HISTORY = dt.timedelta(days=5 * 365)
"""How far back a symbol new to an empty lake is fetched when ``start`` is not given."""


@dataclass
class RefreshReport:
    """What a refresh did and whether the bars are fit to trade on.

    ``session``: the last session closed at ``now``, whose bar a scan at ``now`` needs.
    ``action``: ``"none"`` (embedded/files, read directly), ``"up_to_date"`` (nothing was
    missing) or ``"fetched"``. ``requested``: (symbol, first, last) of every vendor
    request. ``failed``: symbol -> why (refused answers name the fault); ``refused``:
    symbol -> fault name. ``stale``: universe symbols without the bar of ``session``.
    ``damaged``: symbol -> why its lake file is set aside (not read, not traded).
    """

    provider: str
    now: dt.datetime
    session: dt.date
    action: str
    symbols: list[str]
    requested: list[tuple[str, dt.date, dt.date]] = field(default_factory=list)
    fetched_rows: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    stale: list[str] = field(default_factory=list)
    damaged: dict[str, str] = field(default_factory=dict)

    @property
    def fresh(self) -> bool:
        """Whether every symbol of the universe has the bar of :attr:`session`."""
        return not self.stale

    @property
    def message(self) -> str:
        what = {"none": f"{self.provider} is read directly: nothing to fetch",
                "up_to_date": "nothing missing: nothing fetched",
                "fetched": f"{len(self.requested)} requests, {self.fetched_rows} bars stored"}[self.action]
        verdict = (f"fresh through {self.session}" if self.fresh else
                   f"{len(self.stale)} of {len(self.symbols)} symbols lack the bar of {self.session}: "
                   + ", ".join(self.stale))
        failed = sorted(set(self.failed) - set(self.damaged))
        failures = f"; failed: {', '.join(failed)}" if failed else ""
        aside = (f"; set aside, not traded (damaged lake files; `kobe data repair`): {', '.join(sorted(self.damaged))}"
                 if self.damaged else "")
        return f"{what}; {verdict}{failures}{aside}"

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "now": self.now.isoformat(), "session": self.session.isoformat(),
                "action": self.action, "fresh": self.fresh, "stale": self.stale, "symbols": len(self.symbols),
                "requested": [[s, a.isoformat(), b.isoformat()] for s, a, b in self.requested],
                "fetched_rows": self.fetched_rows, "failed": dict(sorted(self.failed.items())),
                "refused": dict(sorted(self.refused.items())), "damaged": dict(sorted(self.damaged.items())),
                "message": self.message}


def universe_symbols(project: Project) -> list[str]:
    """The symbols a scan trades: the universes of the enabled strategies (of all when
    none is enabled)."""
    strategies = project.enabled() or list(project.strategies)
    return sorted({s for strategy in strategies for s in project.universe(strategy.config)})


def refresh(project: Project, now: dt.datetime, *, env: Mapping[str, str] | None = None,
            symbols: Sequence[str] | None = None, start: dt.date | None = None, workers: int = 4) -> RefreshReport:
    """Bring the project's bars up to the last session closed at ``now`` (aware; the
    broker's clock) and judge their freshness; see the module doc.

    ``env``: where the vendor keys are read (default: the environment and the ``.env``
    beside the config). ``symbols``: the universe to judge (default:
    :func:`universe_symbols`). ``start``: the first date of a symbol new to the lake
    (default: the earliest date the lake was asked from, else five years back).
    """
    now = aware_now(now)
    data = project.config.data
    session = calendar.last_closed_session(now)
    chosen = sorted(set(symbols)) if symbols is not None else universe_symbols(project)
    report = RefreshReport(data.provider, now, session, "none", chosen)
    if data.provider not in LAKE_PROVIDERS:
        have = (project.bars().filter(pl.col("symbol").is_in(chosen) & (pl.col("date") == session))
                .select("symbol").unique().collect()["symbol"].to_list())
        report.stale = sorted(set(chosen) - set(have))
        return report

    from kobe.data.providers import make_provider
    from kobe.secrets import read_env

    provider = make_provider(data.provider, base_url=data.base_url,
                             env=read_env(project.root / ".env") if env is None else env)
    lake = Lake(project.root / data.lake)
    damages = lake.verify(chosen)
    lake.set_aside([d for d in damages if d.kind != "set_aside"], now)
    report.damaged = {d.symbol: d.detail for d in damages}
    trusted = [s for s in chosen if s not in report.damaged]
    if start is None:
        asked = [e.asked_from or e.covered_from for e in lake.manifest().values()]
        start = min((dt.date.fromisoformat(a) for a in asked if a), default=session - DEFAULT_HISTORY)
    # Forward only: a refresh before a scan fills the newest end, never re-extends history.
    fetched = fetch(lake, provider, trusted, start, session, now=now, workers=workers, backfill=False)
    report.action = "fetched" if fetched.requested else "up_to_date"
    report.requested, report.fetched_rows = fetched.requested, fetched.fetched_rows
    report.failed, report.refused = {**report.damaged, **fetched.failed}, fetched.refused
    entries = lake.manifest()
    report.stale = [s for s in trusted
                    if s not in entries or (entries[s].covered_to or "") < session.isoformat()]
    return report


def untrusted(project: Project) -> dict[str, str]:
    """The symbols of the project's lake set aside (a refresh found their file damaged):
    symbol -> why. Nothing is decided on them until ``kobe data repair``. Empty when the
    bars are not read from a lake."""
    data = project.config.data
    if data.provider not in LAKE_PROVIDERS:
        return {}
    return {s: a["why"] for s, a in Lake(project.root / data.lake).set_aside_symbols().items()}
