"""Which implementation this process runs the per-account work with: Python and numpy,
or compiled with numba (:mod:`kobe.backtest.loop`). The books are the same either way.

The compiled code is several times faster per account but costs a fixed ~0.6 s per
process (importing numba, loading its compiled code from the cache), where the Python
account loop takes 10-100 ms per account. So a one-off backtest stays in Python, and a
process moves to the compiled tier once its accounts have spent :data:`COMPILE_AFTER`
seconds in the Python loop, or from the start when a caller says many accounts follow
(:func:`prefer_compiled`: a sweep). Nothing here imports numba.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Tier:
    python_seconds: float = 0.0    # spent in the Python account loop by this process
    compiled: bool = False


TIER = Tier()
COMPILE_AFTER = 0.5


def prefer_compiled() -> None:
    """Run this process's accounts compiled from now on."""
    TIER.compiled = True


def compiled_tier() -> bool:
    """Whether this process runs the compiled tier (the module doc); once it does, it stays."""
    if not TIER.compiled and TIER.python_seconds >= COMPILE_AFTER:
        TIER.compiled = True
    return TIER.compiled


def spent_in_python(seconds: float) -> None:
    """Count ``seconds`` of the Python account loop towards :data:`COMPILE_AFTER`."""
    TIER.python_seconds += seconds
