"""The one decision core: what decides an order, shared by the backtest's account loop
and the live cycle, so the two cannot differ.

- :mod:`kobe.decide.gates`: the entry gates as one ordered chain, each
  ``check(context) -> Decision``;
- :mod:`kobe.decide.sizing`: the one sizing function;
- :mod:`kobe.decide.adv`: the one average-daily-dollar-volume figure;
- :mod:`kobe.decide.exits`: the one exit evaluator (stop, trailing stop, target, time
  stop, exit rule), as arrays, so the backtest runs it over every candidate at once and
  the live cycle over one holding's bars.

The backtest (:mod:`kobe.backtest`) and live trading (:mod:`kobe.trade`) only
orchestrate: adding a gate or an exit type touches one module here, its schema entry and
its tests.
"""
