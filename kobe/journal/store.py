"""The trade journal: every closed trade, backtest and live, with its context.

One SQLite database, ``state/journal.sqlite``, written through sqlite-utils. Its table
``trades`` has one row per closed trade:

- the trade: ``source`` (``backtest`` or ``live``), strategy, symbol, side, signal,
  entry and exit dates, fills, quantity, P&L, ``return`` (P&L over the entry's cost),
  ``exit_reason`` and, for backtest rows, ``bars_held``;
- its context on the **signal bar**: every feature of ``rules/features.kobe`` (columns
  ``feature_<name>``) and every regime of ``rules/regimes.kobe`` (columns named as the
  regime), evaluated by :func:`kobe.research.library.evaluate` over the strategy's
  universe, the code path of ``kobe research screen`` and the meta-model;
- ``gates``: what risk.yaml's gates decided (live: the audit events of the pick on its
  trading date; backtest: whether the backtest applied them);
- against the backtest (live rows, when the backtest over the project's bars took the
  same trade): the backtest's fills and return and the slippages in basis points,
  positive when live paid more (:func:`kobe.monitor.shadow.slippage_bps`).

The table ``context`` lists the context columns (name, kind ``feature``/``regime``,
description), so a reader knows which columns to group by.

How trades get in is explicit, never a side effect of another command:
``kobe journal --record-backtest`` replaces a strategy's backtest rows by those of a new
run (the journal holds the current config's backtest), and ``kobe journal
--record-live`` adds the round trips of the order store (``state/orders.sqlite``),
closed since, keeping those recorded before (a rebuilt store loses no history).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import sqlite_utils

from kobe.config.errors import Diagnostic, KobeError

if TYPE_CHECKING:
    from kobe.backtest.engine import BacktestResult
    from kobe.oms.orders import OrderRecord
    from kobe.project import Project

JOURNAL = Path("state") / "journal.sqlite"
SOURCES = ("backtest", "live")
FEATURE_PREFIX = "feature_"
REGIMES = "regimes"
FEATURES = "features"

TRADE_COLUMNS: dict[str, type] = {
    "id": str, "source": str, "strategy": str, "symbol": str, "side": str, "signal_date": str,
    "entry_date": str, "exit_date": str, "entry_price": float, "exit_price": float, "quantity": float,
    "pnl": float, "return": float, "exit_reason": str, "bars_held": int, "gates": str,
    "backtest_entry_price": float, "backtest_exit_price": float, "backtest_return": float,
    "slippage_entry_bps": float, "slippage_exit_bps": float, "config_sha256": str, "recorded_at": str,
}
"""The trade's own columns; the context columns follow them (added as the rules define them)."""


def journal_path(root: Path) -> Path:
    return root / JOURNAL


class Journal:
    """The journal database of a project (created on first write)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(path)
            if "trades" not in self.db.table_names():
                self.db.table("trades").create(TRADE_COLUMNS, pk="id")
                self.db.table("trades").create_index(["strategy", "source"])
            if "context" not in self.db.table_names():
                self.db.table("context").create({"name": str, "kind": str, "description": str}, pk="name")
        except (OSError, sqlite3.DatabaseError) as err:
            raise KobeError(Diagnostic(f"the journal cannot be opened: {err}", file=str(path),
                                       hint="move the damaged file aside; `kobe journal --record-backtest` "
                                            "and `--record-live` write it again")) from None

    def close(self) -> None:
        self.db.close()

    def _context(self, columns: Mapping[str, tuple[str, str]]) -> None:
        # Each context column is made a REAL up front: left to insert_all's alter, a
        # column whose first value is null (a regime still warming up) would be TEXT.
        trades = self.db.table("trades")
        present = set(trades.columns_dict)
        for name in columns:
            if name not in present:
                trades.add_column(name, float)
        self.db.table("context").upsert_all(
            [{"name": n, "kind": k, "description": d} for n, (k, d) in columns.items()], pk="name")

    def replace(self, source: str, strategy: str, rows: Sequence[dict[str, Any]],
                columns: Mapping[str, tuple[str, str]]) -> None:
        """``strategy``'s rows of ``source`` become ``rows`` (one transaction)."""
        with self.db.conn:
            self.db.execute("DELETE FROM trades WHERE source = ? AND strategy = ?", [source, strategy])
            self._context(columns)
            if rows:
                # alter: a feature added to rules/features.kobe since becomes a column.
                self.db.table("trades").insert_all(rows, alter=True)

    def upsert(self, rows: Sequence[dict[str, Any]], columns: Mapping[str, tuple[str, str]]) -> None:
        with self.db.conn:
            self._context(columns)
            if rows:
                self.db.table("trades").upsert_all(rows, pk="id", alter=True)

    def context_columns(self) -> dict[str, str]:
        """The context columns of the trades, name -> kind (``feature`` or ``regime``)."""
        present = set(self.db.table("trades").columns_dict)
        return {r["name"]: r["kind"] for r in self.db.table("context").rows if r["name"] in present}

    def trades(self, strategy: str | None = None, source: str | None = None) -> pl.DataFrame:
        """The rows (of one strategy, one source), by strategy, source, entry date, symbol."""
        where = " AND ".join(w for w, v in (("strategy = ?", strategy), ("source = ?", source)) if v is not None)
        args = [v for v in (strategy, source) if v is not None]
        rows = list(self.db.table("trades").rows_where(where or None, args,
                                                      order_by="strategy, source, entry_date, symbol"))
        schema = {name: _polars_type(kind) for name, kind in self.db.table("trades").columns_dict.items()}
        frame = pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
        return frame.with_columns(pl.col("signal_date", "entry_date", "exit_date").str.to_date())

    def counts(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT strategy, source, COUNT(*) AS trades, MIN(entry_date) AS first, "
                                  "MAX(exit_date) AS last FROM trades GROUP BY strategy, source "
                                  "ORDER BY strategy, source"))


def _polars_type(kind: type) -> type[pl.DataType]:
    return {str: pl.String, int: pl.Int64, float: pl.Float64}.get(kind, pl.Float64)


# -- context ----------------------------------------------------------------------------


def context_entries(project: Project) -> tuple[list[Any], dict[str, tuple[str, str]]]:
    """The feature and regime entries of the project's rules (checked by
    :func:`~kobe.research.library.check_entries`) and their journal columns:
    column name -> (kind, description)."""
    from kobe.research.library import check_entries, entries

    names = [*entries(project.definitions, FEATURES), *entries(project.definitions, REGIMES)]
    checked = check_entries(project.definitions, names) if names else []
    columns = {column_of(e.name, e.library): ("regime" if e.library == REGIMES else "feature", e.description)
               for e in checked}
    return checked, columns


def column_of(name: str, library: str) -> str:
    return name if library == REGIMES else FEATURE_PREFIX + name


def context_frame(project: Project, bars: pl.LazyFrame | pl.DataFrame, symbols: Sequence[str]) -> pl.DataFrame:
    """symbol, date and every context column over ``symbols``' bars: a cross-sectional
    feature ranks within the strategy's universe, as the backtest's meta_prob does."""
    from kobe.research.library import evaluate

    checked, _ = context_entries(project)
    scoped = bars.lazy().filter(pl.col("symbol").is_in(list(symbols)))
    frame = evaluate(scoped, checked).select("symbol", "date", *(e.name for e in checked))
    return frame.rename({e.name: column_of(e.name, e.library) for e in checked}).collect()


def with_context(trades: pl.DataFrame, context: pl.DataFrame) -> pl.DataFrame:
    """``trades`` with the context of their signal bar (null where it is unknown)."""
    return trades.join(context.rename({"date": "signal_date"}), on=["symbol", "signal_date"], how="left")


def _rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    dates = [c for c, t in frame.schema.items() if t == pl.Date]
    return frame.with_columns(pl.col(dates).cast(pl.String)).to_dicts()


def _trade_id(source: str, strategy: str, symbol: str, entry_date: object) -> str:
    return f"{source}:{strategy}:{symbol}:{entry_date}"


# -- backtest ---------------------------------------------------------------------------


def backtest_rows(project: Project, result: BacktestResult, bars: pl.LazyFrame | pl.DataFrame,
                  names: Iterable[str]) -> dict[str, pl.DataFrame]:
    """Each named strategy's closed trades of ``result`` as journal rows, with context."""
    from kobe.backtest.engine import NO_META

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    sha = project.fingerprint().sha256
    out: dict[str, pl.DataFrame] = {}
    wanted = set(names)
    for account in result.strategies:
        if account.name.endswith(NO_META) or account.name not in wanted:
            continue
        trades = account.trades
        context = context_frame(project, bars, project.universe(project.strategy(account.name).config))
        gates = "applied in the backtest" if account.gated else "not applied in the backtest"
        frame = with_context(trades, context).with_columns(
            pl.lit("backtest").alias("source"),
            pl.col("quantity").cast(pl.Float64),
            pl.lit(gates).alias("gates"),
            pl.lit(sha).alias("config_sha256"),
            pl.lit(now).alias("recorded_at"),
        ).drop("signal_price", "commission", "stop_price", "target_price")
        frame = frame.with_columns(pl.format("backtest:{}:{}:{}", "strategy", "symbol", "entry_date").alias("id"))
        out[account.name] = frame
    return out


def record_backtest(project: Project, bars: pl.LazyFrame | pl.DataFrame, *, strategy: str | None = None,
                    start: dt.date | None = None, end: dt.date | None = None,
                    journal: Journal | None = None) -> dict[str, int]:
    """Backtest the enabled strategies (or ``strategy``) as ``kobe backtest`` does and
    make their closed trades the journal's backtest rows. Returns rows per strategy."""
    from kobe.backtest import run_backtest

    if end is not None:
        bars = bars.lazy().filter(pl.col("date") <= end)
    result = run_backtest(project, bars, strategy=strategy, start=start, end=end)
    names = [s.name for s in ([project.strategy(strategy)] if strategy else project.enabled())]
    _, columns = context_entries(project)
    frames = backtest_rows(project, result, bars, names)
    own = journal or Journal(journal_path(project.root))
    try:
        for name, frame in frames.items():
            own.replace("backtest", name, _rows(frame), columns)
    finally:
        if journal is None:
            own.close()
    return {name: frame.height for name, frame in frames.items()}


# -- live -------------------------------------------------------------------------------


@dataclass
class RoundTrip:
    """A live position from its first entry fill to the fill that closed it."""

    strategy: str
    symbol: str
    side: str                         # long | short
    entry_date: dt.date
    signal_date: dt.date | None
    entry_orders: list[OrderRecord] = field(default_factory=list)
    exit_orders: list[OrderRecord] = field(default_factory=list)

    @staticmethod
    def _avg(orders: Sequence[OrderRecord]) -> tuple[float, float]:
        qty = sum(o.filled_qty for o in orders)
        cost = sum(o.filled_qty * (o.filled_avg_price or 0.0) for o in orders)
        return qty, cost / qty if qty else 0.0

    @property
    def quantity(self) -> float:
        return self._avg(self.entry_orders)[0]

    @property
    def entry_price(self) -> float:
        return self._avg(self.entry_orders)[1]

    @property
    def exit_price(self) -> float:
        return self._avg(self.exit_orders)[1]

    @property
    def closed(self) -> bool:
        return self._avg(self.exit_orders)[0] >= self.quantity > 0

    @property
    def exit_date(self) -> dt.date:
        return self.exit_orders[-1].trading_date

    @property
    def exit_reason(self) -> str:
        last = self.exit_orders[-1]
        if last.order_type == "stop" or last.resting:
            return "stop"               # the resting protective stop filled
        found = re.match(r"exit: (\w+)", last.reason)
        return found.group(1) if found else "other"


_SIGNAL = re.compile(r"signal of (\d{4}-\d{2}-\d{2})")


def round_trips(orders: Iterable[OrderRecord]) -> list[RoundTrip]:
    """The closed round trips of the orders (in the order they were made): an entry fill
    opens a trade of its (strategy, symbol), further entries add to it, and closing
    fills end it once they reach its quantity. Unfilled orders change nothing."""
    from kobe.data import calendar

    open_trips: dict[tuple[str, str], RoundTrip] = {}
    done: list[RoundTrip] = []
    for order in orders:
        if order.filled_qty <= 0 or order.filled_avg_price is None:
            continue
        key = (order.strategy, order.symbol)
        trip = open_trips.get(key)
        if order.opens:
            if trip is None:
                found = _SIGNAL.search(order.reason)
                signal = (dt.date.fromisoformat(found.group(1)) if found
                          else calendar.previous_session(order.trading_date))
                trip = open_trips[key] = RoundTrip(order.strategy, order.symbol,
                                                   "long" if order.side == "buy" else "short",
                                                   order.trading_date, signal)
            trip.entry_orders.append(order)
        elif trip is not None:
            trip.exit_orders.append(order)
            if trip.closed:
                done.append(open_trips.pop(key))
    return done


def gate_record(events: Iterable[Mapping[str, Any]], trip: RoundTrip) -> str:
    """What the gates said about ``trip``'s pick on its entry date, as JSON: the blocks
    and skips the audit trail recorded for it first, then ``passed`` (it was sent)."""
    day = trip.entry_date.isoformat()
    said = [{"kind": e.get("kind"), "gate": e.get("gate"), "reason": e.get("reason")} for e in events
            if e.get("kind") in ("gate.blocked", "pick.skipped") and e.get("strategy") == trip.strategy
            and e.get("symbol") == trip.symbol and str(e.get("trading_date")) == day]
    return json.dumps([*said, {"kind": "passed"}])


def live_rows(project: Project, trips: Sequence[RoundTrip], events: Sequence[Mapping[str, Any]],
              bars: pl.LazyFrame | pl.DataFrame | None) -> list[dict[str, Any]]:
    """Journal rows of live round trips: context from ``bars`` and the backtest's fills
    of the same trades (same strategy, symbol and entry date) when the backtest over
    ``bars`` took them."""
    from kobe.monitor.shadow import slippage_bps

    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    sha = project.fingerprint().sha256
    backtest: dict[tuple[str, str, dt.date], dict[str, Any]] = {}
    contexts: dict[str, pl.DataFrame] = {}
    known = {s.name for s in project.strategies}
    if bars is not None and trips:
        from kobe.backtest import run_backtest

        names = sorted({t.strategy for t in trips} & known)
        first = min(t.signal_date or t.entry_date for t in trips)
        for name in names:
            try:
                result = run_backtest(project, bars, strategy=name, start=first)
            except KobeError:
                # Bars that end before the trades: their backtest fills stay unknown (null).
                continue
            for account in result.strategies:
                for done in account.trades.iter_rows(named=True):
                    backtest[(account.name, done["symbol"], done["entry_date"])] = done
            contexts[name] = context_frame(project, bars, project.universe(project.strategy(name).config))
    rows = []
    for trip in trips:
        sign = 1.0 if trip.side == "long" else -1.0
        entry, exit_ = trip.entry_price, trip.exit_price
        pnl = sign * trip.quantity * (exit_ - entry)
        row: dict[str, Any] = {
            "id": _trade_id("live", trip.strategy, trip.symbol, trip.entry_date.isoformat()),
            "source": "live", "strategy": trip.strategy, "symbol": trip.symbol, "side": trip.side,
            "signal_date": trip.signal_date.isoformat() if trip.signal_date else None,
            "entry_date": trip.entry_date.isoformat(), "exit_date": trip.exit_date.isoformat(),
            "entry_price": entry, "exit_price": exit_, "quantity": trip.quantity, "pnl": pnl,
            "return": pnl / (trip.quantity * entry) if entry else None, "exit_reason": trip.exit_reason,
            "bars_held": None, "gates": gate_record(events, trip), "config_sha256": sha, "recorded_at": now,
        }
        twin = backtest.get((trip.strategy, trip.symbol, trip.entry_date))
        if twin is not None:
            buy, sell = ("buy", "sell") if trip.side == "long" else ("sell", "buy")
            row.update(backtest_entry_price=twin["entry_price"], backtest_exit_price=twin["exit_price"],
                       backtest_return=twin["return"],
                       slippage_entry_bps=slippage_bps(entry, twin["entry_price"], buy),
                       slippage_exit_bps=slippage_bps(exit_, twin["exit_price"], sell))
        context = contexts.get(trip.strategy)
        if context is not None and trip.signal_date is not None:
            found = context.filter((pl.col("symbol") == trip.symbol) & (pl.col("date") == trip.signal_date))
            if found.height:
                values = found.row(0, named=True)
                row.update({k: v for k, v in values.items() if k not in ("symbol", "date")})
        rows.append(row)
    return rows


def record_live(project: Project, bars: pl.LazyFrame | pl.DataFrame | None,
                journal: Journal | None = None) -> int:
    """Add the closed round trips of the project's order store to the journal (rows of
    the same trade recorded before are updated). Returns how many were found."""
    from kobe.audit.log import EVENTS, read_events
    from kobe.oms.store import OrderStore

    store = OrderStore.existing(project.root / "state" / "orders.sqlite")
    if store is None:
        return 0
    try:
        trips = round_trips(store.orders())
    finally:
        store.close()
    events = read_events(project.root / "logs" / EVENTS)
    _, columns = context_entries(project)
    rows = live_rows(project, trips, events, bars)
    own = journal or Journal(journal_path(project.root))
    try:
        own.upsert(rows, columns)
    finally:
        if journal is None:
            own.close()
    return len(rows)


def open_existing(root: Path) -> Journal:
    """The project's journal for a reader; a located error when nothing was recorded yet."""
    path = journal_path(root)
    if not path.exists():
        raise KobeError(Diagnostic("the journal is empty: no trade was recorded yet", file=str(JOURNAL),
                                   hint="run `kobe journal --record-backtest` (and `--record-live` "
                                        "once live trades have closed)"))
    return Journal(path)
