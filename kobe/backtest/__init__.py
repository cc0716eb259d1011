"""Backtesting: the strategies' compiled rules run over historical bars through a
simulated account, with costs, stops and a position limit (``docs/backtest.md``).

:func:`run_backtest` runs a project; :func:`run_strategy` one compiled strategy over a
:class:`Market`; :mod:`kobe.backtest.metrics` holds every statistic's formula.
"""

from kobe.backtest.engine import (
           BacktestResult,
           StrategyResult,
           resolve_settings,
           run_backtest,
           run_strategy,
)
from kobe.backtest.market import Market, load_market

__all__ = ["BacktestResult", "Market", "StrategyResult", "load_market", "resolve_settings", "run_backtest",
           "run_strategy"]
