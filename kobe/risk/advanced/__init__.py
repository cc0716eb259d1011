"""Risk beyond the gates: the book's Monte Carlo VaR, a capped fractional Kelly sizer,
and a correlation limit. Pure functions of numbers (numpy), tested against hand
computations, and the gates built on them (``risk.yaml`` ``advanced:``) that the
trading cycle applies to entries; see docs/trading.md for how they stand next to the gates."""

from kobe.risk.advanced.correlation import CorrelationLimit, daily_returns, pearson
from kobe.risk.advanced.kelly import (
    KellyCap,
    KellySizer,
    closed_trade_returns,
    kelly_fraction,
    kelly_from_returns,
)
from kobe.risk.advanced.var import VaR, VaRLimit, last_closes, monte_carlo_var

__all__ = ["CorrelationLimit", "KellyCap", "KellySizer", "VaR", "VaRLimit", "closed_trade_returns", "daily_returns",
           "kelly_fraction", "kelly_from_returns", "last_closes", "monte_carlo_var", "pearson"]
