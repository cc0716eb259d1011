"""The meta-model (``kobe ml``): the probability that a strategy's signal wins, learnt
from the strategy's own backtest trades and used as the ``meta_prob`` column its
filters may read (``docs/research.md``, "The meta-model").

- :mod:`~kobe.research.ml.features`: the feature definitions, compiled as strategies are;
- :mod:`~kobe.research.ml.folds`: walk-forward folds, purged and embargoed;
- :mod:`~kobe.research.ml.model`: the calibrated ensemble and the fold figures;
- :mod:`~kobe.research.ml.train`: labels, folds and figures of one strategy;
- :mod:`~kobe.research.ml.store`: the model file, its receipt and their checks;
- :mod:`~kobe.research.ml.meta`: ``meta_prob`` on bars, for the backtest and the scan.
"""
