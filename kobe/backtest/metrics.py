"""Every backtest statistic, each a pure function of the trades and the daily equity.

This is the one home of the formulas (``docs/backtest.md`` lists them): the backtest,
the buy-and-hold benchmark and later the walk-forward, sweep and Monte Carlo reports all
call these. Conventions:

- the equity curve is the account's value at each session's close; its returns are
  taken from the initial cash, so the first session's return counts;
- annualised figures use 252 sessions a year and a risk-free rate of 0;
- CAGR uses calendar time: (last session - first session) in days / 365.25;
- fractions stay fractions (0.12 is 12%); drawdowns are negative;
- a statistic that is undefined (no losing trade for the profit factor, a flat equity
  curve for the Sharpe ratio) is ``None``, never infinity or NaN.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence

import numpy as np
import polars as pl

SESSIONS_PER_YEAR = 252
DAYS_PER_YEAR = 365.25

Number = float | int | None


def returns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Simple returns of each session, the first one from ``initial_cash``."""
    values = np.concatenate([[initial_cash], np.asarray(equity, dtype=float)])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = values[1:] / values[:-1] - 1
    return np.where(values[:-1] > 0, out, 0.0)


def total_return(equity: np.ndarray, initial_cash: float) -> float:
    """Final equity over initial cash, minus 1."""
    return float(equity[-1] / initial_cash - 1) if len(equity) else 0.0


def cagr(dates: Sequence[dt.date], equity: np.ndarray, initial_cash: float) -> float | None:
    """Compound annual growth: (final / initial) ** (1 / years) - 1, years in calendar days / 365.25."""
    if len(dates) < 2:
        return None
    years = (dates[-1] - dates[0]).days / DAYS_PER_YEAR
    growth = equity[-1] / initial_cash
    if years <= 0:
        return None
    return -1.0 if growth <= 0 else float(growth ** (1 / years) - 1)


def volatility(daily: np.ndarray) -> float | None:
    """Annualised volatility: the sample standard deviation of daily returns x sqrt(252)."""
    if len(daily) < 2:
        return None
    return float(np.std(daily, ddof=1) * math.sqrt(SESSIONS_PER_YEAR))


def sharpe_per_period(returns: np.ndarray) -> float | None:
    """Mean over sample standard deviation (ddof 1) of per-period returns; ``None`` when
    undefined (fewer than two periods, or no variation)."""
    r = np.asarray(returns, dtype=float)
    if len(r) < 2:
        return None
    spread = np.std(r, ddof=1)
    return None if spread == 0 else float(np.mean(r) / spread)


def sharpe(daily: np.ndarray) -> float | None:
    """Annualised Sharpe ratio: :func:`sharpe_per_period` of daily returns x sqrt(252)."""
    ratio = sharpe_per_period(daily)
    return None if ratio is None else ratio * math.sqrt(SESSIONS_PER_YEAR)


def sortino(daily: np.ndarray) -> float | None:
    """Annualised Sortino ratio: mean daily return over the downside deviation
    sqrt(mean(min(r, 0)^2)), over all sessions, x sqrt(252)."""
    if len(daily) < 2:
        return None
    downside = math.sqrt(float(np.mean(np.minimum(daily, 0.0) ** 2)))
    return None if downside == 0 else float(np.mean(daily) / downside * math.sqrt(SESSIONS_PER_YEAR))


def max_drawdown(dates: Sequence[dt.date], equity: np.ndarray, initial_cash: float) -> tuple[float, int]:
    """The deepest fall from a running peak, as a fraction (<= 0), and the longest time
    under water in calendar days: from a peak to the session that regains it, or to the
    last session if none does. The initial cash is the first peak, dated the first session.
    """
    if not len(equity):
        return 0.0, 0
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(np.concatenate([[initial_cash], values]))[1:]
    depth = float(np.min(values / peaks - 1)) if np.all(peaks > 0) else -1.0
    # Sessions at or above every earlier value end a spell under water.
    prior = np.concatenate([[initial_cash], peaks[:-1]])
    highs = np.flatnonzero(values >= prior)
    days = np.array(dates, dtype="datetime64[D]").astype(np.int64)
    # Index -1 stands for the initial cash, dated the first session. A spell under water
    # runs from one high to the next wherever sessions lie between them, and to the last
    # session when the curve ends below its peak.
    at = np.concatenate([[-1], highs])
    when = days[np.maximum(at, 0)]
    spells = list(np.diff(when)[np.diff(at) > 1])
    if at[-1] != len(values) - 1:
        spells.append(days[-1] - when[-1])
    longest = int(max(spells, default=0))
    return min(depth, 0.0), longest


def calmar(growth: float | None, drawdown: float) -> float | None:
    """CAGR over the depth of the maximum drawdown."""
    if growth is None or drawdown == 0:
        return None
    return float(growth / abs(drawdown))


def win_rate(pnl: np.ndarray) -> float | None:
    """Share of closed trades with a profit (P&L > 0)."""
    return float(np.mean(pnl > 0)) if len(pnl) else None


def profit_factor(pnl: np.ndarray) -> float | None:
    """Gross profit over gross loss (both in dollars); ``None`` without a losing trade."""
    losses = -pnl[pnl < 0].sum()
    return float(pnl[pnl > 0].sum() / losses) if losses > 0 else None


def expectancy(pnl: np.ndarray) -> float | None:
    """Mean P&L per closed trade, in dollars."""
    return float(np.mean(pnl)) if len(pnl) else None


def average_win(pnl: np.ndarray) -> float | None:
    """Mean P&L of the winning trades, in dollars."""
    wins = pnl[pnl > 0]
    return float(np.mean(wins)) if len(wins) else None


def average_loss(pnl: np.ndarray) -> float | None:
    """Mean P&L of the losing trades, in dollars (negative)."""
    losses = pnl[pnl < 0]
    return float(np.mean(losses)) if len(losses) else None


def sqn(pnl: np.ndarray) -> float | None:
    """Van Tharp's System Quality Number on dollar P&L: sqrt(n) x mean / sample std."""
    if len(pnl) < 2:
        return None
    spread = np.std(pnl, ddof=1)
    return None if spread == 0 else float(math.sqrt(len(pnl)) * np.mean(pnl) / spread)


def exposure(sessions: Sequence[dt.date], entries: Sequence[dt.date], exits: Sequence[dt.date]) -> float:
    """Share of sessions on which a position was held at some point: each trade covers
    its entry session through its exit session, both included."""
    if not len(sessions):
        return 0.0
    days = np.array(sessions, dtype="datetime64[D]")
    cover = np.zeros(len(days) + 1, dtype=np.int64)
    first = np.searchsorted(days, np.array(entries, dtype="datetime64[D]"), side="left")
    last = np.searchsorted(days, np.array(exits, dtype="datetime64[D]"), side="right")
    np.add.at(cover, first, 1)
    np.add.at(cover, last, -1)
    return float(np.mean(np.cumsum(cover)[:-1] > 0))


def capital_at_risk(sessions: Sequence[dt.date], entries: Sequence[dt.date], exits: Sequence[dt.date],
                    cost: np.ndarray) -> float:
    """The most money the account ever had in positions at once: per session, the entry
    cost (shares x entry fill, either side) of every trade held on it, each covering its
    entry session through its exit session as for :func:`exposure`; the peak over the
    sessions. A trade sold at an open and one bought at the same open both count on that
    session, so the figure errs high: a return on it errs low."""
    if not len(sessions) or not len(cost):
        return 0.0
    days = np.array(sessions, dtype="datetime64[D]")
    held = np.zeros(len(days) + 1, dtype=float)
    first = np.searchsorted(days, np.array(entries, dtype="datetime64[D]"), side="left")
    last = np.searchsorted(days, np.array(exits, dtype="datetime64[D]"), side="right")
    np.add.at(held, first, np.abs(cost))
    np.add.at(held, last, -np.abs(cost))
    return float(max(np.max(np.cumsum(held)[:-1]), 0.0))


def return_on_capital_at_risk(final_equity: float, initial_cash: float, at_risk: float) -> float | None:
    """The account's gain (closed and open trades, after costs) over :func:`capital_at_risk`:
    what the money that was put to work earned, the cash that never left the account aside."""
    return None if at_risk <= 0 else (final_equity - initial_cash) / at_risk


def curve_metrics(equity: pl.DataFrame, initial_cash: float) -> dict[str, Number]:
    """The statistics of an equity curve (``date``, ``equity``) alone; a benchmark has no trades."""
    days = equity["date"].to_numpy()          # datetime64[D]: no Python date objects per session
    values = equity["equity"].to_numpy()
    daily = returns(values, initial_cash)
    ends = [d.item() for d in days[[0, -1]]] if len(days) else []
    growth = cagr(ends, values, initial_cash)
    depth, days_under = max_drawdown(days, values, initial_cash)
    return {
        "final_equity": float(values[-1]) if len(values) else initial_cash,
        "total_return": total_return(values, initial_cash),
        "cagr": growth,
        "volatility": volatility(daily),
        "sharpe": sharpe(daily),
        "sortino": sortino(daily),
        "calmar": calmar(growth, depth),
        "max_drawdown": depth,
        "max_drawdown_days": days_under,
    }


def benchmark_metrics(equity: pl.DataFrame, initial_cash: float) -> dict[str, Number]:
    """A buy-and-hold curve's statistics: :func:`curve_metrics`, with all its cash at risk
    from the first session, so its return on capital at risk is its total return."""
    curve = curve_metrics(equity, initial_cash)
    return {**curve, "capital_at_risk": float(initial_cash), "return_on_capital_at_risk": curve["total_return"]}


def compute_metrics(trades: pl.DataFrame, equity: pl.DataFrame, initial_cash: float,
                    open_trades: pl.DataFrame | None = None) -> dict[str, Number]:
    """All statistics of one account: :func:`curve_metrics` plus the trade statistics.

    ``trades`` are the closed trades (columns ``pnl``, ``return``, ``bars_held``,
    ``entry_date``, ``exit_date``, and ``quantity`` and ``entry_price`` for the capital
    at risk); ``equity`` the daily curve (``date``, ``equity``); ``open_trades``
    those still held at the end, which count for exposure and the capital at risk only
    (their P&L is in the equity, not in the trade statistics).
    """
    pnl = trades["pnl"].to_numpy() if trades.height else np.zeros(0)
    held = [t.select("entry_date", "exit_date", (pl.col("quantity") * pl.col("entry_price") if "entry_price" in t.columns
                                                 else pl.lit(0.0)).cast(pl.Float64).alias("cost"))
            for t in (trades, open_trades) if t is not None]
    spans = pl.concat(held) if held else pl.DataFrame({"entry_date": [], "exit_date": [], "cost": []})
    bars = trades["bars_held"].to_numpy() if trades.height else np.zeros(0)
    curve = curve_metrics(equity, initial_cash)
    days = equity["date"].to_numpy()
    at_risk = capital_at_risk(days, spans["entry_date"].to_numpy(), spans["exit_date"].to_numpy(),
                              spans["cost"].to_numpy())
    final = curve["final_equity"]
    return {
        **curve,
        "capital_at_risk": at_risk,
        "return_on_capital_at_risk": return_on_capital_at_risk(float(final or 0.0), initial_cash, at_risk),
        "trades": len(pnl),
        "win_rate": win_rate(pnl),
        "profit_factor": profit_factor(pnl),
        "expectancy": expectancy(pnl),
        "average_win": average_win(pnl),
        "average_loss": average_loss(pnl),
        "average_trade_return": (float(np.mean(trades["return"].to_numpy()))
                                 if trades.height and "return" in trades.columns else None),
        "average_bars_held": float(np.mean(bars)) if len(bars) else None,
        "exposure": exposure(days, spans["entry_date"].to_numpy(), spans["exit_date"].to_numpy()),
        "sqn": sqn(pnl),
        "open_trades": open_trades.height if open_trades is not None else 0,
    }


def drawdowns(equity: np.ndarray, initial_cash: float) -> np.ndarray:
    """Each session's fall from the running peak (the initial cash the first peak), as a
    fraction (<= 0): the curve under water that :func:`max_drawdown` takes the minimum of."""
    values = np.asarray(equity, dtype=float)
    peaks = np.maximum.accumulate(np.concatenate([[initial_cash], values]))[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(peaks > 0, values / peaks - 1, -1.0) if len(values) else values


def monthly_returns(equity: pl.DataFrame, initial_cash: float) -> pl.DataFrame:
    """``year, month, return``: each calendar month's last equity over the previous
    month's last (the first month's over the initial cash), minus 1."""
    last = (equity.select("date", "equity")
            .group_by(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("month"),
                      maintain_order=True)
            .agg(pl.col("equity").last())
            .sort("year", "month"))
    before = last["equity"].shift(1).fill_null(float(initial_cash))
    return last.select("year", "month", (last["equity"] / before - 1).alias("return"))


def rolling_sharpe(daily: np.ndarray, window: int = 63) -> np.ndarray:
    """The annualised Sharpe ratio (as :func:`sharpe`) of each trailing ``window`` of
    daily returns, one value per session: NaN before the first full window and where a
    window's returns are flat (an array has no ``None``; a chart leaves a gap there)."""
    values = np.asarray(daily, dtype=float)
    out = np.full(len(values), np.nan)
    if window < 2 or len(values) < window:
        return out
    windows = np.lib.stride_tricks.sliding_window_view(values, window)
    spread = windows.std(axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[window - 1:] = np.where(spread > 0, windows.mean(axis=1) / spread * math.sqrt(SESSIONS_PER_YEAR), np.nan)
    return out
