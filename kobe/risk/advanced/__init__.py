"""Risk beyond the gates: the book's Monte Carlo VaR, a capped fractional Kelly sizer,
and a correlation limit. Pure functions of numbers (numpy), tested against hand
computations; see docs/trading.md for how they stand next to the gates."""

from kobe.risk.advanced.correlation import CorrelationLimit, daily_returns, pearson
from kobe.risk.advanced.kelly import KellySizer, kelly_fraction, kelly_from_returns
from kobe.risk.advanced.var import VaR, monte_carlo_var

__all__ = ["CorrelationLimit", "KellySizer", "VaR", "daily_returns", "kelly_fraction", "kelly_from_returns",
           "monte_carlo_var", "pearson"]
