"""One trading cycle: recover → exits → scan → gates → orders, against a broker.

What ``kobe trade --paper --once`` runs (and the runner will schedule):

1. **The broker's clock** decides the trading date (America/New_York) and whether the
   market is open; the machine's clock plays no part.
2. **Recovery**: every order of the store whose fate is not known (a crash, a timeout)
   is looked up and driven to a known state before anything new is decided.
3. **Exits**: holdings whose stop, target, time stop or exit rule is due are closed
   (:mod:`kobe.trade.holdings`): a long sold, a short bought back, through the same
   executor and choke point as entries.
4. **Entries**: the scan of the last completed session (which must be the session
   before today: stale bars refuse the cycle), best rank first. A long pick is bought,
   a short pick sold short, after the broker says the asset is **shortable and easy to
   borrow** that day (Alpaca's flags; a hard-to-borrow name is skipped: its borrow fee
   and recall are unknown in advance). For each pick not yet
   decided today: the position limits, the latest quote, the limit (``risk.yaml``
   ``limit_price``, on the tick), the share count (``floor(budget / limit)``, the budget
   being the per-order budget or the strategy's sizing if smaller, and the Kelly cap if
   configured), then the PolicyGate (what was sent today, from the store), the
   LiquidityGate (ADV from the bars) and, when ``risk.yaml`` has them under
   ``advanced:``, the correlation limit and the VaR limit of
   the book with the new position. The budgets and the gates read a short's notional
   as they read a long's. An order that passes is recorded and sent by the executor.
5. ``state/positions.json`` is rewritten (atomically) from the store.

Nothing leaves while the kill switch is set: the cycle skips exits and entries, and
the choke point refuses any order that gets there anyway. Every decision, block, order
transition and fill is in the audit trail.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import polars as pl

from kobe.audit.log import AuditLog
from kobe.broker.alpaca import AlpacaBroker, BrokerSettings
from kobe.broker.base import (
    AssetBroker,
    Broker,
    BrokerUnavailable,
    Checkpoint,
    MarketClock,
    Quote,
)
from kobe.broker.pricing import limit_price
from kobe.config.errors import Diagnostic, KobeError
from kobe.config.model import RiskConfig
from kobe.config.pin import require_pin
from kobe.data import calendar
from kobe.data.refresh import untrusted
from kobe.decide.adv import adv_before
from kobe.decide.gates import Decision, EntryContext, entry_chain, first_block
from kobe.decide.sizing import needs_equity, shares
from kobe.oms.orders import OrderRecord, client_order_id
from kobe.oms.store import OrderStore
from kobe.oms.views import POSITIONS_FILE, write_positions
from kobe.project import Project
from kobe.risk.advanced import (
    KellyCap,
    closed_trade_returns,
    daily_returns,
    last_closes,
)
from kobe.risk.killswitch import KillSwitch
from kobe.scan import scan
from kobe.trade.executor import DEFAULT_POLICY, ExecutionPolicy, Executor
from kobe.trade.holdings import due_exit, exit_view, holdings
from kobe.trade.protect import WORKING, lift, protect, resting_stop, unsettled

ORDERS_FILE = Path("state") / "orders.sqlite"
CLOSING = dt.timedelta(minutes=30)
LOGS = Path("logs")
LEVELS = ("stop", "trailing_stop", "target")    # the exits a resting protective order holds


@dataclass(frozen=True)
class Pick:
    """A scan pick: buy (``side`` long) or sell short (``side`` short) ``symbol`` for
    ``strategy`` on the session after ``signal_date``."""

    strategy: str
    symbol: str
    signal_date: dt.date
    close: float
    stop: float | None = None
    rank_score: float | None = None
    side: str = "long"

    @property
    def action(self) -> str:
        """The entry's action (:data:`kobe.oms.orders.ACTIONS`): buy, or short."""
        return "buy" if self.side == "long" else "short"


def picks_of(frame: pl.DataFrame) -> list[Pick]:
    """The rows of a scan's picks frame, in its order (best rank first per strategy)."""
    return [Pick(r["strategy"], r["symbol"], r["date"], r["close"], r["stop"], r["rank_score"], r["side"])
            for r in frame.iter_rows(named=True)]


@dataclass
class Trader:
    """Everything a cycle acts through. Built by :func:`open_trader`."""

    project: Project
    broker: Broker
    store: OrderStore
    audit: AuditLog
    kill_switch: KillSwitch
    policy: ExecutionPolicy = DEFAULT_POLICY
    sleep: Callable[[float], None] = time.sleep
    checkpoint: Checkpoint | None = None
    # The runner's hooks: a shutdown takes no new work; live runs cap the entries sent.
    stop_requested: Callable[[], bool] = lambda: False
    entry_cap: int | None = None
    entries_sent: int = 0

    @property
    def risk(self) -> RiskConfig:
        return self.project.config.risk

    @property
    def root(self) -> Path:
        return self.project.root


def kill_switch_of(root: Path, risk: RiskConfig) -> KillSwitch:
    return KillSwitch.at(root, risk.kill_switch_file)


def open_trader(project: Project, env: Mapping[str, str], *, paper: bool = True, timeout: float = 10.0,
                retry_wait: float | None = None, policy: ExecutionPolicy = DEFAULT_POLICY,
                sleep: Callable[[float], None] = time.sleep, checkpoint: Checkpoint | None = None,
                pinned: bool = True) -> Trader:
    """Check the pin, then connect to the broker named by ``env`` and open the store and
    the audit trail under the project's folder. Refuses an unpinned or changed config
    (``pinned=False`` skips that check, for ``kobe reconcile``, which never sends)."""
    if pinned:
        require_pin(project.root, project.fingerprint())
    settings = BrokerSettings.from_env(env, paper=paper)
    switch = kill_switch_of(project.root, project.config.risk)
    broker = AlpacaBroker.connect(settings, switch, timeout=timeout, retry_wait=retry_wait, env=env,
                                  checkpoint=checkpoint)
    store = OrderStore(project.root / ORDERS_FILE)
    audit = AuditLog(project.root / LOGS, broker.secrets, anchors=[store.anchor_audit])  # the chain's head, kept
    return Trader(project, broker, store, audit, switch, policy, sleep, checkpoint)


@dataclass
class CycleReport:
    trading_date: dt.date
    market_open: bool
    killed: bool = False
    scan_date: dt.date | None = None
    recovered: list[OrderRecord] = field(default_factory=list)
    exits: list[OrderRecord] = field(default_factory=list)
    entries: list[OrderRecord] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)   # (strategy, symbol, why)
    spent_usd: float = 0.0
    in_doubt: list[OrderRecord] = field(default_factory=list)   # still not final: the next cycle resolves them
    stops: list[OrderRecord] = field(default_factory=list)      # protective stops placed or moved

    def to_dict(self) -> dict[str, Any]:
        def orders(items: list[OrderRecord]) -> list[dict[str, Any]]:
            return [{"client_order_id": o.client_order_id, "strategy": o.strategy, "symbol": o.symbol,
                     "side": o.side, "qty": o.qty, "limit_price": o.limit_price, "status": o.status.value,
                     "filled_qty": o.filled_qty, "filled_avg_price": o.filled_avg_price, "reason": o.reason}
                    for o in items]
        return {"trading_date": self.trading_date.isoformat(), "market_open": self.market_open,
                "kill_switch": self.killed, "scan_date": self.scan_date.isoformat() if self.scan_date else None,
                "recovered": orders(self.recovered), "exits": orders(self.exits), "entries": orders(self.entries),
                "skipped": [{"strategy": s, "symbol": y, "reason": r} for s, y, r in self.skipped],
                "spent_usd": round(self.spent_usd, 2), "in_doubt": orders(self.in_doubt),
                "stops": [{**o, "stop_price": s.stop_price} for o, s in zip(orders(self.stops), self.stops)]}


class Cycle:
    """One pass of :func:`run_cycle`; holds what the steps share."""

    def __init__(self, trader: Trader, bars: pl.LazyFrame, closing: bool | None = None) -> None:
        self.t, self.bars = trader, bars
        clock = self._clock()
        self.now = clock.now
        self.today = calendar.trading_date(clock.now)
        self.report = CycleReport(self.today, clock.is_open, trader.kill_switch.active())
        # The session's last cycle (within CLOSING of the close) sells the time stops due at
        # this close, as the backtest does at the close of the N-th bar held.
        # The runner knows it from its schedule; alone (``kobe trade --once``), the clock says.
        self.closing = clock.is_open and (closing if closing is not None else clock.next_close - clock.now <= CLOSING)
        self.executor = Executor(trader.broker, trader.store, trader.audit, today=self.today,
                                 market_open=clock.is_open, policy=trader.policy, sleep=trader.sleep,
                                 checkpoint=trader.checkpoint)
        self._equity: float | None = None
        self._may_short: bool | None = None     # the account's permission, asked once a cycle
        # Symbols whose lake file a refresh set aside (damaged): nothing is decided on them.
        self.untrusted = untrusted(trader.project)

    def _clock(self) -> MarketClock:
        """The broker's clock, asked up to three times: without it there is no trading
        date, so no cycle (a :class:`KobeError`; nothing was decided)."""
        waits = [self.t.policy.backoff_start, self.t.policy.backoff_start * 2, 0.0]
        for wait in waits:
            try:
                return self.t.broker.clock()
            except BrokerUnavailable as err:
                problem = err
                if wait:
                    self.t.sleep(wait)
        raise KobeError(Diagnostic(f"the broker's clock is unavailable: {problem}",
                                   hint="check ALPACA_BASE_URL, the keys and the broker's status"))

    def equity(self) -> float:
        if self._equity is None:
            self._equity = self.t.broker.equity()
        return self._equity

    def skip(self, strategy: str, symbol: str, why: str, decision: Decision | None = None) -> None:
        self.report.skipped.append((strategy, symbol, why))
        self.t.audit.event("gate.blocked" if decision else "pick.skipped", strategy=strategy, symbol=symbol,
                           gate=decision.gate if decision else None, reason=why, trading_date=self.today)

    def halted(self, strategy: str, symbol: str) -> bool:
        """Whether the kill switch was set during the cycle: decide nothing more. (The
        choke point stops any order that got past this check anyway.)"""
        if self.t.stop_requested():
            self.skip(strategy, symbol, "shutting down: no new work")
            return True
        if not self.t.kill_switch.active():
            return False
        self.report.killed = True
        self.skip(strategy, symbol, "kill switch set during the cycle")
        return True

    def quote(self, strategy: str, symbol: str) -> Quote | None:
        try:
            quote = self.t.broker.quote(symbol)
        except BrokerUnavailable as err:
            self.skip(strategy, symbol, f"no quote: {err}")
            return None
        if quote is None or not (quote.bid > 0 and quote.ask > 0):
            self.skip(strategy, symbol, "no quote")
            return None
        return quote

    def exits(self) -> None:
        """Close what is due (:func:`~kobe.trade.holdings.due_exit`), lifting the resting
        stop first: sell a long at the bid, buy back a short at the ask. Every other
        holding keeps (or gets) its stop at the broker."""
        for holding in holdings(self.t.store):
            strategy = holding.strategy or "adopted"
            if self.halted(strategy, holding.symbol):
                return
            action, side = ("sell", "sell") if holding.side > 0 else ("cover", "buy")
            cid = client_order_id(strategy, holding.symbol, self.today, action)
            if self.t.store.get(cid) is not None or holding.shares < 1:
                continue
            if holding.symbol in self.untrusted:     # its resting stop stays where it is
                self.skip(strategy, holding.symbol, f"bars not trusted: {self.untrusted[holding.symbol]}")
                continue
            view = exit_view(holding, self.t.project, self.bars, self.today)
            if view is None:
                continue
            quote = self.quote(strategy, holding.symbol)
            meets = (quote.bid if side == "sell" else quote.ask) if quote else None
            due = due_exit(view, meets, self.closing)
            if due is None or quote is None:
                continue
            if view.hit is None and due.reason in LEVELS and self._rests(holding.symbol, holding.closing_side):
                # The quote is at a level the broker's resting order holds: it fills there, at
                # the level (or the open on a gap), as the backtest does; closing now would pay
                # the half-spread the resting order does not.
                continue
            if self.halted(strategy, holding.symbol):
                return                    # the switch set meanwhile: the stop stays where it rests
            wait = lift(self.executor, self.t.store, holding.symbol)
            if wait is not None:
                self.skip(strategy, holding.symbol, f"exit ({due.reason}) waits: {wait}")
                continue
            left = next((h for h in holdings(self.t.store) if h.symbol == holding.symbol), None)
            if left is None or left.side != holding.side or left.shares < 1:
                continue                  # the stop closed it before the cancel arrived
            limit = limit_price(side, quote.bid, quote.ask, self.t.risk.limit_price)
            order = OrderRecord(cid, strategy, holding.symbol, side, left.shares, float(limit), self.today,
                                reason=f"exit: {due.reason} ({due.detail})")
            closed = self.executor.execute(order)
            self.report.exits.append(closed)
            if closed.status.terminal and closed.filled_qty < left.shares and self.t.kill_switch.active():
                # Lifted, then stopped at the choke point: nothing may leave to protect it again.
                self.t.audit.event("position.unprotected", symbol=holding.symbol, strategy=strategy,
                                   reason="the kill switch stopped the exit after its stop was lifted")
                self.skip(strategy, holding.symbol, "UNPROTECTED: the kill switch stopped the exit after its stop "
                                                    "was lifted; resume or protect it by hand")

    def _rests(self, symbol: str, side: str) -> bool:
        """Whether a protective order of ``side`` is working at the broker for ``symbol``."""
        resting = resting_stop(self.t.store, symbol)
        return resting is not None and resting.side == side and resting.status in WORKING

    def protect(self, day: dt.date | None = None) -> None:
        """Every holding a strategy owns rests with its stop at the broker
        (:mod:`kobe.trade.protect`), at its level for the session ``day`` (today while
        the market is open; after a close, the next session: the day's completed bar
        may raise a trailing stop before the next open, where the backtest applies it)."""
        day = day or self.today
        for holding in holdings(self.t.store):
            # A shutdown still protects what was just bought (it only lowers risk); the kill
            # switch stops every order, protective ones included, at the choke point anyway.
            if self.t.kill_switch.active():
                self.report.killed = True
                return
            if holding.symbol in self.untrusted:
                continue
            view = exit_view(holding, self.t.project, self.bars, day, bought_today=True)
            if view is None:
                continue
            sent = protect(self.executor, self.t.store, view, day)
            if sent is not None:
                self.report.stops.append(sent)

    def entries(self, picks: list[Pick]) -> None:
        risk, store = self.t.risk, self.t.store
        chain = entry_chain(risk)
        adv = adv_before(self.bars, sorted({p.symbol for p in picks}), self.today, risk.adv_window_days)
        advanced = risk.advanced
        kelly = KellyCap.from_config(advanced.kelly) if advanced.kelly else None
        # Read once: within the cycle the book only gains today's picks, whose history is here too.
        watched = sorted({p.symbol for p in picks} | {h.symbol for h in holdings(store)})
        lookback = max((c.lookback_days for c in (advanced.correlation, advanced.var) if c), default=0)
        returns = daily_returns(self.bars, watched, self.today, lookback) if lookback else None
        closes = last_closes(self.bars, watched, self.today) if advanced.var else {}
        closed = closed_trade_returns(store.fills(), {o.client_order_id: o.strategy for o in store.orders()}) \
            if kelly else {}
        # Held at the signal's close: what is held now, and what was sold today. The backtest
        # skips such a signal (the strategy still held the symbol when it fired), so a
        # position sold by today's time stop is not bought back by the same cycle.
        exits_today = [o for o in store.orders(self.today) if not o.opens and not o.resting and o.filled_qty > 0]
        sold_today = {o.symbol for o in exits_today}
        # A stop that filled today (at the broker, between cycles) frees its slot for the
        # next open, not for today's: in the backtest a stop exits within the bar, after
        # the open's entries. So it still counts as held for today's entries.
        stop_orders = {o.client_order_id: o.symbol for o in store.orders() if o.resting}
        stopped_today = {stop_orders[str(f["client_order_id"])] for f in store.fills()
                         if str(f["client_order_id"]) in stop_orders
                         and calendar.trading_date(dt.datetime.fromisoformat(str(f["at"]))) == self.today}
        sold_today |= stopped_today
        # The reversal (docs/backtest.md): a both-sided strategy's signal closes its position of
        # the other side at this open, then opens its own; so that pick was not "held at the
        # signal's close", even when the resting stop closed the position at the open first
        # (the backtest's exit rule at the open comes before its stop). What closed a long
        # sold; a short pick sells too.
        reversals = {(o.strategy, o.symbol, o.side) for o in exits_today} | {
            (o.strategy, o.symbol, o.side) for o in store.orders() if o.resting and o.symbol in stopped_today}
        for pick in picks:
            if self.halted(pick.strategy, pick.symbol):
                return
            cid = client_order_id(pick.strategy, pick.symbol, self.today, pick.action)
            if store.get(cid) is not None:
                continue                                  # decided already today: never twice
            if pick.symbol in self.untrusted:
                self.skip(pick.strategy, pick.symbol, f"bars not trusted: {self.untrusted[pick.symbol]}")
                continue
            side = "buy" if pick.side == "long" else "sell"
            reversal = (pick.strategy, pick.symbol, side) in reversals
            if pick.symbol in sold_today and not reversal:
                self.skip(pick.strategy, pick.symbol, f"{pick.symbol} was held at the signal's close "
                                                      f"(closed on {self.today.isoformat()})")
                continue
            if self.t.entry_cap is not None and self.t.entries_sent >= self.t.entry_cap:
                self.skip(pick.strategy, pick.symbol, f"the run's cap of {self.t.entry_cap} orders is reached")
                continue
            if pick.side == "short":
                refused = self.unshortable(pick.symbol)
                if refused is not None:
                    self.skip(pick.strategy, pick.symbol, refused)
                    continue
            quote = self.quote(pick.strategy, pick.symbol)
            if quote is None:
                continue
            limit = limit_price(side, quote.bid, quote.ask, risk.limit_price)
            sizing = self.t.project.strategy(pick.strategy).config.sizing
            try:
                equity = self.equity() if needs_equity(sizing) or kelly else 0.0
            except BrokerUnavailable as err:
                self.skip(pick.strategy, pick.symbol, f"no account equity for the sizing: {err}")
                continue
            cap, capped = risk.per_order_budget_usd, ""
            kelly_usd = kelly.budget_usd(equity, closed.get(pick.strategy, [])) if kelly else None
            if kelly_usd is not None and kelly_usd < cap:
                cap, capped = kelly_usd, " (the Kelly cap)"
            # Live, the broker holds the cash: the sizing is capped by the budget, not by cash.
            qty = shares(sizing, price=float(limit), fill=float(limit), stop=pick.stop, equity=equity,
                         cash=math.inf, unit_cost=float(limit), cap_usd=cap)
            if qty < 1:
                self.skip(pick.strategy, pick.symbol, f"no whole share at {limit} within the sizing and the budget "
                                                      f"${cap:,.2f}{capped}")
                continue
            order_usd = float(qty * limit)
            book = holdings(store)
            context = EntryContext(
                pick.symbol, order_usd, store.spent(self.today), adv.get(pick.symbol), quote.bid, quote.ask,
                held=frozenset(h.symbol for h in book) | frozenset(stopped_today - ({pick.symbol} if reversal else set())),
                pending=frozenset(o.symbol for o in unsettled(store) if o.opens),
                returns=returns,
                # The book at the last close (at cost when there is none): what it could lose tomorrow.
                book_usd={h.symbol: h.qty * closes.get(h.symbol, h.avg_cost) for h in book})
            decision = first_block(chain, context)
            if not decision.allowed:
                self.skip(pick.strategy, pick.symbol, decision.reason, decision)
                continue
            order = OrderRecord(cid, pick.strategy, pick.symbol, side, qty, float(limit), self.today,
                                reason=f"entry{' (short)' if side == 'sell' else ''}: signal of "
                                       f"{pick.signal_date.isoformat()}")
            self.t.entries_sent += 1  # counted before the send: a crash mid-send still used the slot
            self.report.entries.append(self.executor.execute(order))

    def unshortable(self, symbol: str) -> str | None:
        """Why ``symbol`` may not be sold short today, or None: the broker must list it
        as active, tradable, shortable and easy to borrow (Alpaca's flags, refreshed each
        morning, so read on the day of the order)."""
        if not hasattr(self.t.broker, "asset"):
            return "the broker cannot say whether it may be sold short"
        broker = cast(AssetBroker, self.t.broker)
        try:
            if self._may_short is None:
                self._may_short = broker.shorting_enabled()
            if not self._may_short:
                return "the account may not sell short (shorting is not enabled at the broker)"
            flags = broker.asset(symbol)
        except BrokerUnavailable as err:
            return f"no word from the broker on a short: {err}"
        if flags is None:
            return f"the broker lists no asset {symbol}"
        if not (flags.status == "active" and flags.tradable):
            return f"{symbol} is not tradable at the broker"
        if not flags.shortable:
            return f"{symbol} is not shortable at the broker"
        if not flags.easy_to_borrow:
            return f"{symbol} is hard to borrow today: a short is not opened"
        return None

    def scan_picks(self) -> list[Pick]:
        before = self.bars.filter(pl.col("date") < self.today)
        result = scan(self.t.project, before)
        expected = calendar.previous_session(self.today)
        self.report.scan_date = result.date
        if result.date != expected:
            raise KobeError(Diagnostic(f"the bars end on {result.date.isoformat()}, but trading on "
                                       f"{self.today.isoformat()} needs the session of {expected.isoformat()}",
                                       hint="fetch the latest bars (`kobe data fetch`) before trading"))
        return picks_of(result.picks)


def settle_resting(trader: Trader, report: CycleReport) -> list[OrderRecord]:
    """Learn what the broker did with the resting protective orders since the cycle read
    them: a stop can fill while a cycle runs, and a reconcile right after would report the
    store's older view as a difference (a false alarm the next cycle would clear). Only
    reads: nothing is sent or re-sent."""
    executor = Executor(trader.broker, trader.store, trader.audit, today=report.trading_date,
                        market_open=report.market_open, policy=trader.policy, sleep=trader.sleep,
                        checkpoint=trader.checkpoint)
    return [executor.resolve(order, resend=False) for order in trader.store.active() if order.resting]


def run_cycle(trader: Trader, bars: pl.LazyFrame, picks: list[Pick] | None = None, *,
              halt: str | None = None, closing: bool | None = None) -> CycleReport:
    """One cycle (module doc). ``picks`` replaces the scan (tests, replays). With
    ``halt`` (why nothing may be decided: stale bars, a clock gone back), only the
    recovery runs: orders already sent are settled and resting stops read, nothing new
    leaves. ``closing``: whether this is the session's last cycle (the one that sells the
    time stops due at the close); by default, when the close is less than 30 minutes away."""
    cycle = Cycle(trader, bars, closing)
    report, audit = cycle.report, trader.audit
    audit.event("cycle.started", trading_date=cycle.today, market_open=report.market_open,
                kill_switch=report.killed)
    report.recovered = cycle.executor.recover()
    if report.killed:
        audit.event("cycle.halted", reason=f"kill switch set: {trader.kill_switch.info().get('reason', '')}")
    elif halt is not None:
        audit.event("cycle.halted", reason=halt)
    elif not report.market_open:
        audit.event("cycle.halted", reason="market closed")
        # Closed, a cycle only moves the resting stops, for the session whose bars are complete.
        # Any closed cycle (before the open too) also rests a missing protective order.
        cycle.protect(calendar.next_session(calendar.last_closed_session(cycle.now)))
    else:
        cycle.exits()
        cycle.protect()
        if cycle.closing:
            # The backtest fills entries at the open; a slot freed during the session (a stop,
            # a time stop at this close) serves the next open. So the last cycle sends none.
            audit.event("cycle.no_entries", reason="the session's last cycle sends no entries")
        else:
            cycle.entries(picks if picks is not None else cycle.scan_picks())
        cycle.protect()
    report.spent_usd = trader.store.spent(cycle.today)
    report.in_doubt = unsettled(trader.store)
    write_positions(trader.store, trader.root / POSITIONS_FILE)
    audit.event("cycle.finished", trading_date=cycle.today, entries=len(report.entries), exits=len(report.exits),
                skipped=len(report.skipped), recovered=len(report.recovered), spent_usd=round(report.spent_usd, 2),
                in_doubt=[o.client_order_id for o in report.in_doubt])
    return report

