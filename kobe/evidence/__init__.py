"""The evidence gate: the statistics a strategy must pass before it trades real money.

:mod:`kobe.evidence.figures` computes the figures (probabilistic and deflated Sharpe
ratios, the probability of backtest overfitting by CSCV, parameter stability);
:mod:`kobe.evidence.gate` runs what they need over a project's strategy and checks them
against risk.yaml's ``evidence:`` thresholds; :mod:`kobe.evidence.record` writes the
result bound to the config, the data and the code, and checks it before trading
(``docs/evidence.md``).
"""
