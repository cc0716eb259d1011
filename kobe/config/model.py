"""Typed, validated configuration: what ``strategies.yaml`` and ``risk.yaml`` mean.

The loader (:mod:`kobe.config.load`) builds these from YAML after the JSON Schemas and
the cross-field checks passed, so code above the config layer can trust every field.
Expressions stay text here (:class:`ExprSource`) together with where they were written,
so the rule language can point its errors at the exact column in the YAML file.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from kobe.config.errors import Diagnostic


@dataclass(frozen=True)
class ExprSource:
    """The text of one rule expression and where it stands in its file.

    ``lines`` holds, for each line of ``text``, the 1-based file line and column of its
    first character and the whole file line (for the caret display). A plain or quoted
    one-line YAML scalar has one entry; a block scalar (``|`` or ``>``) one per line.
    """

    text: str
    file: str
    lines: tuple[tuple[int, int, str], ...]

    @classmethod
    def inline(cls, text: str, file: str = "<expr>", line: int = 1, col: int = 1) -> ExprSource:
        """An expression not read from YAML (tests, the REPL, ``kobe explain``)."""
        first, *rest = text.split("\n")
        entries = [(line, col, " " * (col - 1) + first)]
        entries += [(line + i + 1, 1, t) for i, t in enumerate(rest)]
        return cls(text, file, tuple(entries))

    def locate(self, offset: int) -> tuple[int, int, str]:
        """File line, file column and file line text of character ``offset`` of ``text``."""
        offset = max(0, min(offset, len(self.text)))
        before = self.text[:offset]
        index = before.count("\n")
        col_in_line = offset - (before.rfind("\n") + 1)
        index = min(index, len(self.lines) - 1)
        file_line, file_col, source = self.lines[index]
        return file_line, file_col + col_in_line, source

    def diagnostic(self, offset: int, message: str, *, width: int = 1, hint: str | None = None) -> Diagnostic:
        line, col, source = self.locate(offset)
        return Diagnostic(message, file=self.file, line=line, col=col, hint=hint, source_line=source, width=width)


@dataclass(frozen=True)
class Location:
    """Where a YAML node starts (1-based)."""

    file: str
    line: int
    col: int
    source_line: str = ""

    def diagnostic(self, message: str, *, hint: str | None = None, width: int = 1) -> Diagnostic:
        return Diagnostic(message, file=self.file, line=self.line, col=self.col, hint=hint,
                          source_line=self.source_line or None, width=width)


@dataclass(frozen=True)
class Exits:
    """How a position ends. ``stop``, ``target`` and ``trailing_stop`` are number
    expressions evaluated on the signal bar (they may use ``entry_price``); ``exit`` is a
    boolean expression evaluated on every bar held; ``time_stop_bars`` counts the entry
    bar as the first. ``time_stop_param`` is the param ``time_stop_bars`` was written as,
    if any, so a sweep that varies that param varies the time stop too."""

    stop: ExprSource | None = None
    time_stop_bars: int | None = None
    target: ExprSource | None = None
    trailing_stop: ExprSource | None = None
    exit: ExprSource | None = None
    time_stop_param: str | None = None


@dataclass(frozen=True)
class Sizing:
    """How many shares: ``fixed_dollars`` (``amount_usd``), ``percent_equity`` and
    ``risk_per_trade`` (``percent``), or ``all_cash``. Always whole shares."""

    method: str = "fixed_dollars"
    amount_usd: float | None = None
    percent: float | None = None


@dataclass(frozen=True)
class Margin:
    """A Reg-T margin account for the backtest (``docs/backtest.md``, "Margin"), in percent
    of the positions' market value: ``initial_pct`` of a new position's value must be
    equity (Reg-T's 50%: a long may use twice the equity, a short needs its proceeds plus
    half its value); at each close the equity must cover ``maintenance_long_pct`` of the
    longs' value plus ``maintenance_short_pct`` of the shorts' (FINRA 4210's 25%, and the
    brokers' common 30% on shorts), else positions are closed at the next open."""

    initial_pct: float = 50.0
    maintenance_long_pct: float = 25.0
    maintenance_short_pct: float = 30.0


@dataclass(frozen=True)
class BacktestSettings:
    """How ``kobe backtest`` simulates one strategy's account (``docs/backtest.md``).

    Each strategy trades its own account of ``initial_cash``. Every fill (entry and
    exit) pays half of ``spread_bps`` (a buy at the ask, a sell at the bid), is
    ``slippage_bps`` worse again, and pays ``commission_per_share`` per share plus
    ``commission_bps`` of its value, at least ``commission_min_usd`` per order
    (:mod:`kobe.backtest.costs`). ``max_open_positions`` caps the positions held at once;
    ``None`` means risk.yaml's ``max_open_positions``, the limit live trading enforces.
    ``close_at_end`` sells what is still held after the last session's close at that
    close, with its costs (exit reason ``end``); off, it is reported open, marked there.
    """

    initial_cash: float = 100_000.0
    commission_per_share: float = 0.0
    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    max_open_positions: int | None = None
    spread_bps: float = 0.0
    commission_min_usd: float = 0.0
    close_at_end: bool = False
    # Stock-loan fee of a short, per year of its entry value, accrued per calendar day
    # held (actual/360, the US brokers' day count): ``kobe.backtest.portfolio``.
    borrow_bps_per_year: float = 0.0
    # None: a cash account, every position fully paid for (a short's whole value set
    # aside), as before margin existed; a Margin: buying power and forced covers by it.
    margin: Margin | None = None


@dataclass(frozen=True)
class StrategyConfig:
    """One strategy of ``strategies.yaml``.

    ``params`` holds the value of every param that ``kobe validate``, ``scan``,
    ``backtest`` and live trading use: a fixed param's number, and for a swept param its
    ``default``, else its first value. ``sweep`` holds, for each swept param (a list or a
    range in the YAML), every value in the order written; ``kobe sweep`` and ``kobe
    walkforward`` run the grid of their combinations (:meth:`grid`).

    ``side``: ``long``, ``short``, or ``both``. A ``both`` strategy goes long on ``entry``
    and short on ``short_entry`` (the filters hold for both); ``exits`` end its longs and
    ``short_exits`` its shorts, and each side's signal ends a position of the other side
    (the reversal, ``docs/backtest.md``). ``short_entry`` and ``short_exits`` exist only
    with ``both``.
    """

    name: str
    enabled: bool
    universe: str
    params: dict[str, float]
    entry: ExprSource
    filters: tuple[ExprSource, ...]
    exits: Exits
    rank: ExprSource | None
    sizing: Sizing
    side: str = "long"
    fill: str = "next_open"
    location: Location | None = None
    param_locations: dict[str, Location] = field(default_factory=dict)
    # The file's top-level `backtest:` merged with the strategy's own, key by key.
    backtest: BacktestSettings = BacktestSettings()
    sweep: dict[str, tuple[float, ...]] = field(default_factory=dict)
    short_entry: ExprSource | None = None
    short_exits: Exits | None = None

    def exits_of(self, side: int) -> Exits:
        """The exits of the positions of ``side`` (+1 long, -1 short): ``short_exits``
        for the shorts of a ``both`` strategy (none written: no exit but the reversal)."""
        if side < 0 and self.side == "both":
            return self.short_exits if self.short_exits is not None else Exits()
        return self.exits

    @property
    def sides(self) -> tuple[int, ...]:
        """The sides the strategy trades: (1,), (-1,) or (1, -1)."""
        return {"long": (1,), "short": (-1,)}.get(self.side, (1, -1))

    def grid(self) -> list[dict[str, float]]:
        """Every combination of the swept params' values, the first param written varying
        slowest; one empty point when nothing is swept."""
        names = list(self.sweep)
        return [dict(zip(names, values)) for values in itertools.product(*(self.sweep[n] for n in names))]

    def with_params(self, values: Mapping[str, float]) -> StrategyConfig:
        """This strategy with some params set to ``values`` (one point of the grid), the
        time stop following its param; the result sweeps nothing."""
        def timed(exits: Exits) -> Exits:
            if exits.time_stop_param is not None and exits.time_stop_param in values:
                return replace(exits, time_stop_bars=int(values[exits.time_stop_param]))
            return exits

        short_exits = timed(self.short_exits) if self.short_exits is not None else None
        return replace(self, params={**self.params, **values}, exits=timed(self.exits), short_exits=short_exits,
                       sweep={})


@dataclass(frozen=True)
class LimitPriceRule:
    """Limit price of an order: the ``reference`` quote side times ``multiplier``
    (best ask × 1.001 for buys), rounded to the tick."""

    reference: str = "best_ask"
    multiplier: float = 1.001


@dataclass(frozen=True)
class VaRSettings:
    """The VaR limit (``advanced.var``): the Monte Carlo value at risk of the book plus a
    new position, at ``confidence`` over ``horizon_days``, from the daily returns of the
    last ``lookback_days`` sessions, may not exceed ``max_usd``. ``method`` is ``normal``
    (a multivariate normal fitted to those returns) or ``historical`` (whole past days
    drawn with replacement, fat tails kept)."""

    max_usd: float
    confidence: float = 0.95
    horizon_days: int = 1
    lookback_days: int = 250
    method: str = "normal"


@dataclass(frozen=True)
class KellySettings:
    """The Kelly cap (``advanced.kelly``): an entry's budget is at most ``fraction`` of
    full Kelly, and at most ``cap_pct`` percent, of equity; the win rate and payoff come
    from the strategy's own closed trades, once it has ``min_trades`` of them."""

    fraction: float = 0.5
    cap_pct: float = 10.0
    min_trades: int = 20


@dataclass(frozen=True)
class CorrelationSettings:
    """The correlation limit (``advanced.correlation``): no entry whose daily returns over
    the last ``lookback_days`` sessions correlate above ``max`` with a held symbol's."""

    max: float = 0.8
    lookback_days: int = 60


@dataclass(frozen=True)
class AdvancedRisk:
    """``risk.yaml``'s optional ``advanced:`` section; each piece is off (None) unless written."""

    var: VaRSettings | None = None
    kelly: KellySettings | None = None
    correlation: CorrelationSettings | None = None


@dataclass(frozen=True)
class MonitoringBounds:
    """``risk.yaml``'s optional ``monitoring:`` section: when the runner's checks alert.

    Shadow check: more unexpected orders than ``shadow_max_unexpected``, a share of IOCs
    that filled nothing above ``shadow_max_missed_share``, or a mean slippage against the
    backtest's fills above ``shadow_max_slippage_bps``. Drift: the tests' ``drift_alpha``,
    the CUSUM's slack ``drift_cusum_k`` and threshold ``drift_cusum_h`` (standard
    deviations), and the live trades needed before any verdict (``drift_min_trades``).
    """

    shadow_max_unexpected: int = 0
    shadow_max_missed_share: float = 0.2
    shadow_max_slippage_bps: float = 50.0
    drift_alpha: float = 0.01
    drift_cusum_k: float = 0.5
    drift_cusum_h: float = 5.0
    drift_min_trades: int = 10


@dataclass(frozen=True)
class EvidenceSettings:
    """``risk.yaml``'s optional ``evidence:`` section: the thresholds a strategy's
    evidence record must pass before it trades (``kobe promote``, docs/evidence.md), and
    how the figures are computed. ``require_evidence`` makes paper trading need a
    passing record too (live trading always does)."""

    require_evidence: bool = False
    min_trades: int = 50
    min_oos_sharpe: float = 0.5
    max_drawdown_p5_pct: float = 25.0
    min_deflated_sharpe: float = 0.95
    max_pbo: float = 0.5
    min_param_stability: float = 0.5
    neighbour_step_pct: float = 10.0
    cscv_splits: int = 16
    walkforward_train_months: int = 24
    walkforward_test_months: int = 6
    monte_carlo_runs: int = 1000
    max_age_days: int = 90


@dataclass(frozen=True)
class RiskConfig:
    per_order_budget_usd: float
    daily_budget_usd: float
    min_adv_usd: float
    adv_window_days: int
    max_spread_pct: float
    max_order_pct_adv: float
    max_open_positions: int
    kill_switch_file: str
    limit_price: LimitPriceRule
    location: Location | None = None
    advanced: AdvancedRisk = AdvancedRisk()
    monitoring: MonitoringBounds = MonitoringBounds()
    evidence: EvidenceSettings = EvidenceSettings()


@dataclass(frozen=True)
class QualitySettings:
    """The data-quality gate's policy (``data.quality`` in strategies.yaml): per rule an
    action (``warn``, ``exclude``, ``stop``) over the defaults, and the thresholds."""

    actions: dict[str, str] = field(default_factory=dict)
    jump_pct: float = 25.0
    lookback_sessions: int = 260
    stop_share: float = 0.5


@dataclass(frozen=True)
class DataConfig:
    """Where the bars come from (``data:`` in strategies.yaml; docs/data.md).

    ``embedded`` (the package's sample) and ``files`` (``path``: a file or folder) are
    read directly; ``polygon`` and ``alpaca`` fill the lake (``kobe data fetch``), which
    everything else then reads. ``base_url`` points a vendor client elsewhere (a running
    ``kobe exchange``).
    """

    provider: str = "embedded"
    path: str | None = None
    base_url: str | None = None
    lake: str = "state/lake"
    quality: QualitySettings = field(default_factory=QualitySettings)


@dataclass(frozen=True)
class ComputeConfig:
    """Where the long backtest commands run (``compute:`` in strategies.yaml;
    docs/scale.md): ``executor`` ``local`` (this process) or ``ray``; ``address`` the Ray
    cluster to join (None: a local Ray runtime on this machine's cores)."""

    executor: str = "local"
    address: str | None = None


@dataclass(frozen=True)
class Config:
    """Both files, loaded and checked. ``root`` is the folder of ``strategies.yaml``;
    relative paths in the config (universes, rules, state) resolve against it."""

    root: Path
    strategies_file: Path
    risk_file: Path
    strategies: tuple[StrategyConfig, ...]
    risk: RiskConfig
    data: DataConfig = field(default_factory=DataConfig)
    compute: ComputeConfig = field(default_factory=ComputeConfig)

    def strategy(self, name: str) -> StrategyConfig:
        for s in self.strategies:
            if s.name == name:
                return s
        raise KeyError(name)
