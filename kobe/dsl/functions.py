"""The one registry of built-in functions of the rule language.

Each entry says everything Kobe knows about a function: its parameters (with types and
whether they are windows), its result type, its own lookback (the warm-up bars it adds),
its Polars implementation and a one-line doc. The checker, the compiler and
``kobe functions`` all read this table; adding a function is one entry plus its tests.

Conventions (as TA-Lib): warm-up rows are null; EMA is seeded with the SMA of its first
n values; ATR and RSI are seeded with the simple mean of their first n values, then
Wilder smoothing (alpha = 1/n); highest/lowest include the current bar; stdev is the
population one (``ddof=0``) unless asked. Every function is causal: the value on bar t
depends only on bars up to t.

Implementation contract: ``impl`` receives keyword arguments named as the parameters:
``pl.Expr`` for SERIES parameters and Python numbers for WINDOW/CONST ones. It returns
an expression over ONE symbol's bars sorted by date; the compiler applies
``.over(partition)`` to it, or, for an entry with a ``reach``, runs it over the whole
sorted column and blanks each symbol's first ``reach`` bars (the same values). Series arguments are plain column references, because the
compiler materialises every nested call as its own column first. A variadic entry's
``impl`` also accepts the repeated arguments positionally: ``impl(a, b, *more)``.

Polars is imported inside the implementations, never by this module: checking a rule
(``kobe validate``) reads only the table's metadata, and importing Polars costs ~150 ms
per process. Only compiling calls ``impl``.

Nulls: a null input gives a null output on that bar (element-wise functions and rolling
windows that contain it). The recursive averages (ema, atr, rsi) skip a null bar, both
when counting the n values of their seed and afterwards, as if the bar did not exist.
Undefined values (division by zero, log of a non-positive number) are null, never NaN or
infinity, so that a comparison on them gives no signal.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from kobe.dsl.types import Type

if TYPE_CHECKING:
    import polars as pl


class ParamKind(Enum):
    SERIES = "series"  # any expression of the parameter's type
    WINDOW = "window"  # a positive integer constant (literal or strategy param)
    CONST = "const"    # a number constant (literal or strategy param)


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind = ParamKind.SERIES
    type: Type = Type.NUM
    # None: required. A string (SERIES parameters only) names the bar column it stands
    # for: returns(n, x=close).
    default: float | int | str | None = None
    # The smallest window that has a value (skew needs 3 bars): the checker refuses less
    # rather than let a rule read a column that is always empty.
    least: int = 1

    @property
    def required(self) -> bool:
        return self.default is None


Constants = Mapping[str, float | int]


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    params: tuple[Param, ...]
    result: Type
    impl: Callable[..., pl.Expr]
    lookback: Callable[[Constants], int]
    doc: str
    # "symbol": a time-series function of one symbol; "date": a cross-section of all
    # symbols on one date; None: element-wise, needs no partition.
    partition: str | None = "symbol"
    # True when the last parameter may repeat (min, max): f(a, b, c, ...).
    variadic: bool = False
    # For a time-series function whose value on bar t is a pure function of bars
    # t - reach .. t (no state carried from earlier bars, no rounding that depends on
    # where a computation started): reach. The compiler then runs it over the whole
    # column of bars sorted by symbol and date and blanks each symbol's first ``reach``
    # bars, the only ones that would read another symbol's bars; the values are exactly
    # those of ``.over("symbol")``, without a window per column. None: a partition is needed.
    reach: Callable[[Constants], int] | None = None
    # Inputs the compiler materialises first, as calls of other time-series entries of
    # the bar columns with no arguments, and passes to ``impl`` by keyword (param name,
    # entry name): atr's true range is then a column of its own, computed by that
    # entry's faster path (its reach) and shared by every atr. ``impl`` computes them
    # itself when they are not given.
    inputs: tuple[tuple[str, str], ...] = ()

    def signature(self) -> str:
        parts = []
        for p in self.params:
            text = p.name if p.kind is ParamKind.SERIES else f"{p.name}:{p.kind.value}"
            if p.default is not None:
                text += f"={p.default}"
            parts.append(text)
        if self.variadic:
            parts.append("...")
        return f"{self.name}({', '.join(parts)}) -> {self.result}"


REGISTRY: dict[str, FunctionSpec] = {}


def register(spec: FunctionSpec) -> FunctionSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"function {spec.name!r} registered twice")
    REGISTRY[spec.name] = spec
    return spec


def lookup(name: str) -> FunctionSpec | None:
    return REGISTRY.get(name)


# ---------------------------------------------------------------------------------
# Entries. Helpers shared by several entries stay above the entries that use them.

_X = Param("x")
_N = Param("n", ParamKind.WINDOW)
_A = Param("a")
_B = Param("b")


def _no_lookback(c: Constants) -> int:
    return 0


def _one_bar(c: Constants) -> int:
    return 1


def _window(c: Constants) -> int:
    return int(c["n"])


def _window_minus_one(c: Constants) -> int:
    return int(c["n"]) - 1


def _bar_index() -> pl.Expr:
    import polars as pl

    # Restarts at 0 for every symbol because the compiler wraps the result in .over().
    return pl.int_range(pl.len(), dtype=pl.Int64)


def _null_if_any_null(result: pl.Expr, *inputs: pl.Expr) -> pl.Expr:
    import polars as pl

    # max_horizontal skips nulls and Kleene logic makes False & null False: both would
    # answer from partial data where a rule must see "unknown".
    unknown = pl.any_horizontal(*(e.is_null() for e in inputs))
    return pl.when(unknown).then(None).otherwise(result)


def _sma_seeded_ewm(x: pl.Expr, n: int, alpha: float) -> pl.Expr:
    """Exponential average of x seeded, as TA-Lib, with the mean of its first n values.

    Only non-null values count: the seed sits on the bar where the n-th one arrives,
    which keeps the warm-up additive when x has a warm-up of its own.
    """
    import polars as pl

    x = x.cast(pl.Float64)
    seen = x.is_not_null().cum_sum()
    seed = x.fill_null(0.0).cum_sum() / n
    seeded = (
        pl.when(seen < n).then(None)
        .when((seen == n) & x.is_not_null()).then(seed)
        .otherwise(x)
    )
    # adjust=False is the recursive form y = (1 - alpha) * y_prev + alpha * x that
    # TA-Lib uses; ignore_nulls skips a null bar instead of decaying across it.
    return seeded.ewm_mean(alpha=alpha, adjust=False, ignore_nulls=True)


def _wilder(x: pl.Expr, n: int) -> pl.Expr:
    """Wilder's smoothing (ATR, RSI): an SMA-seeded EMA with alpha = 1/n."""
    return _sma_seeded_ewm(x, n, 1.0 / n)


def _wma(x: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    x = x.cast(pl.Float64)
    # Polars' weighted rolling sum rejects nulls, so weigh zeros instead and blank the
    # windows that held a null: exactly where the unweighted rolling sum is null.
    weighted = x.fill_null(0.0).rolling_sum(n, weights=[float(w) for w in range(1, n + 1)])
    incomplete = x.rolling_sum(n).is_null()
    return pl.when(incomplete).then(None).otherwise(weighted / (n * (n + 1) / 2))


def _extreme_age(x: pl.Expr, n: int, *, lowest: bool) -> pl.Expr:
    import polars as pl

    # The key rank(x) * len + bar index orders bars by x, then by recency, so its rolling
    # max is the window's extreme with ties going to the latest bar. The ranks come from
    # the whole series but only their order inside the window matters: still causal.
    index = _bar_index()
    length = pl.len().cast(pl.Int64)
    key = x.rank("dense", descending=lowest).cast(pl.Int64) * length + index
    return index - (key.rolling_max(n) % length)


def _true_range() -> pl.Expr:
    import polars as pl

    high, low, prev_close = pl.col("high"), pl.col("low"), pl.col("close").shift(1)
    widest = pl.max_horizontal(
        high - low, (high - prev_close).abs(), (low - prev_close).abs()
    )
    return _null_if_any_null(widest, high, low, prev_close)


def _rsi(x: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    change = x.diff()
    gain = _wilder(change.clip(lower_bound=0), n)
    loss = _wilder((-change).clip(lower_bound=0), n)
    # As TA-Lib: a window with neither gains nor losses reads 0 rather than undefined.
    return pl.when(gain + loss == 0).then(0.0).otherwise(100.0 * (gain / (gain + loss)))


def _ibs() -> pl.Expr:
    import polars as pl

    # A bar with high == low has no range to place the close in: the strength is
    # undefined, so null (no signal) rather than a division by zero.
    high, low, close = pl.col("high"), pl.col("low"), pl.col("close")
    return pl.when(high == low).then(None).otherwise((close - low) / (high - low))


def _roc(x: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    past = x.shift(n)
    # TA-Lib answers 0 when the old value is 0; a rate of change from 0 is undefined,
    # and null keeps a rule from firing on it.
    return pl.when(past == 0).then(None).otherwise((x / past - 1.0) * 100.0)


def _crosses(a: pl.Expr, b: pl.Expr, *, above: bool) -> pl.Expr:
    a_prev, b_prev = a.shift(1), b.shift(1)
    if above:
        crossed = (a > b) & (a_prev <= b_prev)
    else:
        crossed = (a < b) & (a_prev >= b_prev)
    return _null_if_any_null(crossed, a, b, a_prev, b_prev)


def _bars_since(cond: pl.Expr) -> pl.Expr:
    import polars as pl

    index = _bar_index()
    last_true = pl.when(cond).then(index).forward_fill()
    # A null condition is unknown on its own bar; on later bars it counts as not true.
    return pl.when(cond.is_null()).then(None).otherwise(index - last_true)


def _log(x: pl.Expr) -> pl.Expr:
    import polars as pl

    # NaN and -inf would compare as numbers in a rule; null gives no signal.
    return pl.when(x > 0).then(x.log()).otherwise(None)


def _elementwise_min(a: pl.Expr, b: pl.Expr, *more: pl.Expr) -> pl.Expr:
    import polars as pl

    return _null_if_any_null(pl.min_horizontal(a, b, *more), a, b, *more)


def _elementwise_max(a: pl.Expr, b: pl.Expr, *more: pl.Expr) -> pl.Expr:
    import polars as pl

    return _null_if_any_null(pl.max_horizontal(a, b, *more), a, b, *more)


def _zscore(x: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    std = x.rolling_std(n, ddof=0)
    # A flat window has no spread to measure against. max == min detects it exactly,
    # where a float stdev could leave a rounding residue instead of 0.
    flat = (x.rolling_max(n) == x.rolling_min(n)) | (std == 0)
    return pl.when(flat).then(None).otherwise((x - x.rolling_mean(n)) / std)


def _cross_sectional_rank(x: pl.Expr) -> pl.Expr:
    # Runs over one date (partition="date"): the average rank of ties, scaled by the
    # number of symbols that have a value, so the top one is 1 whatever the universe size.
    return x.rank("average") / x.count()


# The cross-sectional entries below run over the rows of one date (partition="date"):
# Polars' mean, std, rank and count skip nulls, which is what leaves a symbol without a
# value out of the cross-section.

def _cs_zscore(x: pl.Expr) -> pl.Expr:
    import polars as pl

    x = x.cast(pl.Float64)
    # One value, or all equal: no spread to measure against (max == min says so exactly,
    # where a float stdev could leave a residue).
    flat = x.max() == x.min()
    return pl.when(flat).then(None).otherwise((x - x.mean()) / x.std(ddof=0))


def _cs_scale(x: pl.Expr, a: float = 1) -> pl.Expr:
    import polars as pl

    total = x.cast(pl.Float64).abs().sum()
    # Every value 0 (or none): nothing to scale to a.
    return pl.when(total == 0).then(None).otherwise(x * a / total)


def _cs_quantile(x: pl.Expr, q: int) -> pl.Expr:
    import polars as pl

    # ceil(q * rank / count) in integers: an average rank is a whole or half number, so
    # twice it is exact, and a float q * rank / count could land a hair off an integer
    # and jump a bucket.
    twice_rank = (x.rank("average") * 2).cast(pl.Int64)
    twice_count = x.count().cast(pl.Int64) * 2
    return ((twice_rank * q + twice_count - 1) // twice_count).cast(pl.Float64)


def _flat(x: pl.Expr, n: int) -> pl.Expr:
    # max == min says exactly that a window holds one value, where a float variance can
    # leave a rounding residue that a moment ratio then blows up into nonsense.
    return x.rolling_max(n) == x.rolling_min(n)


def _undefined_to_null(result: pl.Expr) -> pl.Expr:
    import polars as pl

    # NaN and infinity would compare as numbers in a rule; null gives no signal.
    return pl.when(result.is_finite()).then(result).otherwise(None)


def _corr(a: pl.Expr, b: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    a, b = a.cast(pl.Float64), b.cast(pl.Float64)
    # Polars blanks a window holding a null in either series (min_samples = n), as pandas.
    r = pl.rolling_corr(a, b, window_size=n)
    return pl.when(_flat(a, n) | _flat(b, n)).then(None).otherwise(_undefined_to_null(r))


def _cov(a: pl.Expr, b: pl.Expr, n: int, ddof: float = 0) -> pl.Expr:
    import polars as pl

    a, b = a.cast(pl.Float64), b.cast(pl.Float64)
    cov = pl.rolling_cov(a, b, window_size=n, ddof=int(ddof))
    # A flat series covaries with nothing: exactly 0, where the rolling sums of products
    # leave a residue (~1e-7 for close x volume) of either sign.
    return pl.when(_flat(a, n) | _flat(b, n)).then(0.0).otherwise(cov)


def _moment(x: pl.Expr, n: int, *, kurtosis: bool) -> pl.Expr:
    import polars as pl

    x = x.cast(pl.Float64)
    # bias=False: the bias-corrected sample estimators G1 and G2 of pandas' rolling
    # skew/kurt (and scipy's skew/kurtosis with bias=False); fisher: excess kurtosis.
    raw = x.rolling_kurtosis(n, fisher=True, bias=False) if kurtosis else x.rolling_skew(n, bias=False)
    return pl.when(_flat(x, n)).then(None).otherwise(_undefined_to_null(raw))


def _ts_rank(x: pl.Expr, n: int) -> pl.Expr:
    import polars as pl

    # Average rank of ties, so the value is pandas' rolling(n).rank(pct=True).
    return x.cast(pl.Float64).rolling_rank(n, "average") / n


def _returns(n: int, x: pl.Expr) -> pl.Expr:
    import polars as pl

    past = x.cast(pl.Float64).shift(n)
    # A return from 0 is undefined: null, never infinity.
    return pl.when(past == 0).then(None).otherwise(x / past - 1.0)


def _log_returns(n: int, x: pl.Expr) -> pl.Expr:
    import polars as pl

    past = x.cast(pl.Float64).shift(n)
    ratio = pl.when(past != 0).then(x / past).otherwise(None)
    return _log(ratio)


def _if(cond: pl.Expr, a: pl.Expr, b: pl.Expr) -> pl.Expr:
    import polars as pl

    # when() treats a null condition as false and would answer b: unknown must stay unknown.
    return pl.when(cond.is_null()).then(None).when(cond).then(a).otherwise(b)


def _sqrt(x: pl.Expr) -> pl.Expr:
    import polars as pl

    return pl.when(x >= 0).then(x.cast(pl.Float64).sqrt()).otherwise(None)


def power(x: pl.Expr, p: pl.Expr | float) -> pl.Expr:
    """x ** p, null where undefined: pow() and the ** operator."""
    import polars as pl

    # A negative base to a fractional power is NaN, 0 to a negative power infinity.
    return _undefined_to_null(x.cast(pl.Float64).pow(p))


register(FunctionSpec(
    name="sma",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.rolling_mean(n),
    lookback=_window_minus_one,
    doc="Simple moving average of x over the last n bars, the current one included.",
))

register(FunctionSpec(
    name="ema",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: _sma_seeded_ewm(x, n, 2.0 / (n + 1)),
    lookback=_window_minus_one,
    doc="Exponential moving average of x over n bars (weight 2/(n+1), seeded with an SMA).",
))

register(FunctionSpec(
    name="wma",
    params=(_X, _N),
    result=Type.NUM,
    impl=_wma,
    lookback=_window_minus_one,
    doc="Weighted moving average of x over the last n bars, weights n (today) down to 1.",
))

register(FunctionSpec(
    name="highest",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.rolling_max(n),
    lookback=_window_minus_one,
    doc="Highest x of the last n bars, the current one included.",
    reach=_window_minus_one,
))

register(FunctionSpec(
    name="lowest",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.rolling_min(n),
    lookback=_window_minus_one,
    doc="Lowest x of the last n bars, the current one included.",
    reach=_window_minus_one,
))

register(FunctionSpec(
    name="highest_age",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: _extreme_age(x, n, lowest=False),
    lookback=_window_minus_one,
    doc="Bars since the highest x of the last n bars (0: today; ties: the latest one).",
))

register(FunctionSpec(
    name="lowest_age",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: _extreme_age(x, n, lowest=True),
    lookback=_window_minus_one,
    doc="Bars since the lowest x of the last n bars (0: today; ties: the latest one).",
))

register(FunctionSpec(
    name="stdev",
    params=(_X, _N, Param("ddof", ParamKind.CONST, default=0)),
    result=Type.NUM,
    impl=lambda x, n, ddof=0: x.rolling_std(n, ddof=int(ddof)),
    lookback=_window_minus_one,
    doc="Standard deviation of x over the last n bars (population; ddof=1 for a sample).",
))

register(FunctionSpec(
    name="true_range",
    params=(),
    result=Type.NUM,
    impl=_true_range,
    lookback=_one_bar,
    doc="True range: the bar's high-low range stretched to include the previous close.",
    reach=_one_bar,
))

register(FunctionSpec(
    name="atr",
    params=(_N,),
    result=Type.NUM,
    impl=lambda n, true_range=None: _wilder(true_range if true_range is not None else _true_range(), n),
    lookback=_window,
    doc="Average true range over n bars (Wilder's smoothing), a measure of volatility.",
    inputs=(("true_range", "true_range"),),
))

register(FunctionSpec(
    name="rsi",
    params=(_X, _N),
    result=Type.NUM,
    impl=_rsi,
    lookback=_window,
    doc="Relative strength index of x over n bars (Wilder), from 0 to 100.",
))

register(FunctionSpec(
    name="ibs",
    params=(),
    result=Type.NUM,
    impl=_ibs,
    lookback=_no_lookback,
    doc="Internal bar strength: where the close sits in the bar's range, 0 low to 1 high.",
    partition=None,
))

register(FunctionSpec(
    name="roc",
    params=(_X, _N),
    result=Type.NUM,
    impl=_roc,
    lookback=_window,
    doc="Rate of change of x over n bars, in percent.",
    reach=_window,
))

register(FunctionSpec(
    name="crosses_above",
    params=(_A, _B),
    result=Type.BOOL,
    impl=lambda a, b: _crosses(a, b, above=True),
    lookback=_one_bar,
    doc="True on the bar where a rises above b (a was at or below b on the bar before).",
    reach=_one_bar,
))

register(FunctionSpec(
    name="crosses_below",
    params=(_A, _B),
    result=Type.BOOL,
    impl=lambda a, b: _crosses(a, b, above=False),
    lookback=_one_bar,
    doc="True on the bar where a falls below b (a was at or above b on the bar before).",
    reach=_one_bar,
))

register(FunctionSpec(
    name="bars_since",
    params=(Param("cond", type=Type.BOOL),),
    result=Type.NUM,
    impl=_bars_since,
    lookback=_no_lookback,
    doc="Bars since cond was last true (0: true today); empty until it has been true once.",
))

register(FunctionSpec(
    name="abs",
    params=(_X,),
    result=Type.NUM,
    impl=lambda x: x.abs(),
    lookback=_no_lookback,
    doc="Absolute value of x.",
    partition=None,
))

register(FunctionSpec(
    name="log",
    params=(_X,),
    result=Type.NUM,
    impl=_log,
    lookback=_no_lookback,
    doc="Natural logarithm of x; empty where x is zero or negative.",
    partition=None,
))

register(FunctionSpec(
    name="min",
    params=(_A, _B),
    result=Type.NUM,
    impl=_elementwise_min,
    lookback=_no_lookback,
    doc="Smallest of its arguments on each bar.",
    partition=None,
    variadic=True,
))

register(FunctionSpec(
    name="max",
    params=(_A, _B),
    result=Type.NUM,
    impl=_elementwise_max,
    lookback=_no_lookback,
    doc="Largest of its arguments on each bar.",
    partition=None,
    variadic=True,
))

register(FunctionSpec(
    name="zscore",
    params=(_X, _N),
    result=Type.NUM,
    impl=_zscore,
    lookback=_window_minus_one,
    doc="How many standard deviations x is above its n-bar average (empty if x was flat).",
))

register(FunctionSpec(
    name="rank",
    params=(_X,),
    result=Type.NUM,
    impl=_cross_sectional_rank,
    lookback=_no_lookback,
    doc="Percentile rank of x among all symbols on the same date, in (0, 1]: cs_rank.",
    partition="date",
))

register(FunctionSpec(
    name="sum",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.rolling_sum(n),
    lookback=_window_minus_one,
    doc="Sum of x over the last n bars, the current one included.",
))


# -- Research functions (issue 14): the vocabulary of alpha formulas ---------------

register(FunctionSpec(
    name="corr",
    params=(_A, _B, Param("n", ParamKind.WINDOW, least=2)),
    result=Type.NUM,
    impl=_corr,
    lookback=_window_minus_one,
    doc="Pearson correlation of a and b over the last n bars (empty if either was flat).",
))

register(FunctionSpec(
    name="cov",
    params=(_A, _B, _N, Param("ddof", ParamKind.CONST, default=0)),
    result=Type.NUM,
    impl=_cov,
    lookback=_window_minus_one,
    doc="Covariance of a and b over the last n bars (population; ddof=1 for a sample).",
))

register(FunctionSpec(
    name="skew",
    params=(_X, Param("n", ParamKind.WINDOW, least=3)),
    result=Type.NUM,
    impl=lambda x, n: _moment(x, n, kurtosis=False),
    lookback=_window_minus_one,
    doc="Skewness of x over the last n bars (bias-corrected, as pandas; empty if x was flat).",
))

register(FunctionSpec(
    name="kurt",
    params=(_X, Param("n", ParamKind.WINDOW, least=4)),
    result=Type.NUM,
    impl=lambda x, n: _moment(x, n, kurtosis=True),
    lookback=_window_minus_one,
    doc="Excess kurtosis of x over the last n bars (bias-corrected, as pandas; empty if flat).",
))

register(FunctionSpec(
    name="ts_rank",
    params=(_X, _N),
    result=Type.NUM,
    impl=_ts_rank,
    lookback=_window_minus_one,
    doc="Percentile rank of today's x among its last n values, in (0, 1] (ties: average).",
    reach=_window_minus_one,
))

_CLOSE = Param("x", default="close")

register(FunctionSpec(
    name="returns",
    params=(_N, _CLOSE),
    result=Type.NUM,
    impl=_returns,
    lookback=_window,
    doc="Simple return over n bars: x / x[n] - 1, x the close unless given.",
    reach=_window,
))

register(FunctionSpec(
    name="log_returns",
    params=(_N, _CLOSE),
    result=Type.NUM,
    impl=_log_returns,
    lookback=_window,
    doc="Log return over n bars: log(x / x[n]), x the close unless given.",
    reach=_window,
))

register(FunctionSpec(
    name="decay_linear",
    params=(_X, _N),
    result=Type.NUM,
    impl=_wma,
    lookback=_window_minus_one,
    doc="Linearly decaying average of x over n bars, weights n (today) down to 1: wma.",
))

register(FunctionSpec(
    name="delta",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x - x.shift(n),
    lookback=_window,
    doc="Change of x over n bars: x - x[n].",
    reach=_window,
))

register(FunctionSpec(
    name="delay",
    params=(_X, _N),
    result=Type.NUM,
    impl=lambda x, n: x.shift(n),
    lookback=_window,
    doc="x n bars ago: x[n].",
    reach=_window,
))

register(FunctionSpec(
    name="if",
    params=(Param("cond", type=Type.BOOL), _A, _B),
    result=Type.NUM,
    impl=_if,
    lookback=_no_lookback,
    doc="a where cond is true, b where it is false; empty where cond is.",
    partition=None,
))

register(FunctionSpec(
    name="sign",
    params=(_X,),
    result=Type.NUM,
    impl=lambda x: x.sign(),
    lookback=_no_lookback,
    doc="Sign of x: -1, 0 or 1.",
    partition=None,
))

register(FunctionSpec(
    name="sqrt",
    params=(_X,),
    result=Type.NUM,
    impl=_sqrt,
    lookback=_no_lookback,
    doc="Square root of x; empty where x is negative.",
    partition=None,
))

register(FunctionSpec(
    name="pow",
    params=(_X, Param("p")),
    result=Type.NUM,
    impl=power,
    lookback=_no_lookback,
    doc="x to the power p; empty where undefined (a negative x to a fractional p, 0 to a negative p).",
    partition=None,
))

# -- Cross-sectional (partition "date"): across the symbols of the frame on one date --

register(FunctionSpec(
    name="cs_rank",
    params=(_X,),
    result=Type.NUM,
    impl=_cross_sectional_rank,
    lookback=_no_lookback,
    doc="Percentile rank of x among the symbols on the same date, in (0, 1] (ties: average).",
    partition="date",
))

register(FunctionSpec(
    name="cs_zscore",
    params=(_X,),
    result=Type.NUM,
    impl=_cs_zscore,
    lookback=_no_lookback,
    doc="How many standard deviations (population) x is above the mean of the symbols on its date.",
    partition="date",
))

register(FunctionSpec(
    name="cs_demean",
    params=(_X,),
    result=Type.NUM,
    impl=lambda x: x - x.mean(),
    lookback=_no_lookback,
    doc="x less the mean of x over the symbols on the same date.",
    partition="date",
))

register(FunctionSpec(
    name="cs_quantile",
    params=(_X, Param("q", ParamKind.WINDOW)),
    result=Type.NUM,
    impl=_cs_quantile,
    lookback=_no_lookback,
    doc="Bucket 1 (lowest) to q of x among the symbols on the same date: ceil(q * cs_rank(x)).",
    partition="date",
))

register(FunctionSpec(
    name="cs_scale",
    params=(_X, Param("a", ParamKind.CONST, default=1)),
    result=Type.NUM,
    impl=_cs_scale,
    lookback=_no_lookback,
    doc="x scaled so that its absolute values sum to a over the symbols on the same date.",
    partition="date",
))
