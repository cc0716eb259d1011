"""The evidence figures against their papers' worked examples and hand computations."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest
from scipy import stats  # type: ignore[import-untyped]

from kobe.backtest.metrics import sharpe_per_period
from kobe.evidence.figures import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    param_stability,
    pbo,
    probabilistic_sharpe,
)


def test_deflated_sharpe_of_bailey_and_lopez_de_prado_2014() -> None:
    """The paper's numerical example: the best of N = 100 trials has an annualised SR of
    2.5, the trials' annualised SRs vary with V = 1/2, over T = 1250 daily returns (five
    years) of skewness -3 and kurtosis 10. The paper finds E[max SR] = 0.1132 (daily)
    and DSR = 0.9004: significant at 90%, not at 95%."""
    daily_sr, daily_variance = 2.5 / math.sqrt(250), 0.5 / 250
    assert expected_max_sharpe(100, daily_variance) == pytest.approx(0.1132, abs=5e-5)
    assert deflated_sharpe(daily_sr, 100, daily_variance, 1250, -3, 10) == pytest.approx(0.9004, abs=5e-4)


def test_psr_is_the_normal_cdf_of_the_standardised_sharpe() -> None:
    """PSR(SR*) of normal returns (skew 0, kurtosis 3) is Φ((SR − SR*) √(T−1) / √(1 + SR²/2))."""
    sr, benchmark, t = 0.1, 0.02, 500
    expected = stats.norm.cdf((sr - benchmark) * math.sqrt(t - 1) / math.sqrt(1 + sr ** 2 / 2))
    assert probabilistic_sharpe(sr, benchmark, t, 0.0, 3.0) == pytest.approx(expected, rel=1e-12)
    # Negative skew and fat tails widen the estimate's error: less confidence in the same SR.
    assert probabilistic_sharpe(sr, benchmark, t, -3.0, 10.0) < expected


def test_one_trial_is_not_deflated() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert deflated_sharpe(0.05, 1, 0.01, 800, 0.0, 3.0) == probabilistic_sharpe(0.05, 0.0, 800, 0.0, 3.0)


def test_expected_max_sharpe_is_close_to_the_simulated_maximum() -> None:
    """The formula approximates E[max] of N independent N(0, V) Sharpe ratios (the paper's
    Proposition 1): within 3% of a simulation for N = 10 and 100."""
    rng = np.random.default_rng(3)
    for trials in (10, 100):
        simulated = rng.standard_normal((20_000, trials)).max(axis=1).mean() * 0.5
        assert expected_max_sharpe(trials, 0.25) == pytest.approx(simulated, rel=0.03)


def test_moments_are_scipys() -> None:
    r = np.random.default_rng(1).standard_t(5, 4000)
    assert moments(r) == (pytest.approx(stats.skew(r)), pytest.approx(stats.kurtosis(r) + 3))
    assert moments(np.zeros(10)) == (0.0, 3.0)
    assert sharpe_per_period(np.zeros(10)) is None
    assert sharpe_per_period(np.array([0.01, 0.03])) == pytest.approx(0.02 / np.std([0.01, 0.03], ddof=1))


# Two strategies over four periods, two splits (blocks of two rows), so C(2, 1) = 2
# combinations. A's Sharpe: block 1 (1, 2) -> 1.5 / 0.707 = 2.12, block 2 (-1, 0) -> -0.71;
# B's: block 1 (0, 1) -> 0.71, block 2 (1, 2) -> 2.12.
FLIPS = np.array([[1.0, 0.0], [2.0, 1.0], [-1.0, 1.0], [0.0, 2.0]])
# A' = A + 2 in block 2 (1, 2): A' wins both blocks.
LEADS = np.array([[1.0, 0.0], [2.0, 1.0], [2.0, 1.0], [3.0, 2.0]])


def test_pbo_by_hand_when_the_in_sample_winner_always_loses() -> None:
    """In sample block 1 picks A, which is the worse of two in block 2: rank 1, ω = 1/3,
    λ = ln(1/2); the other way round, the same. Both λ ≤ 0: PBO = 1."""
    result = pbo(FLIPS, splits=2)
    assert result.combinations == 2
    assert result.logits == pytest.approx([math.log(0.5), math.log(0.5)])
    assert result.pbo == 1.0


def test_pbo_by_hand_when_the_in_sample_winner_always_wins() -> None:
    """A' is best in both blocks: rank 2 of 2 out of sample, ω = 2/3, λ = ln 2: PBO = 0."""
    result = pbo(LEADS, splits=2)
    assert result.logits == pytest.approx([math.log(2), math.log(2)])
    assert result.pbo == 0.0


def reference_pbo(matrix: np.ndarray, splits: int) -> float:
    """CSCV as the paper writes it, row by row: the check of the block-sum shortcut."""
    rows = matrix.shape[0] // splits
    blocks = [matrix[k * rows:(k + 1) * rows] for k in range(splits)]
    below = 0
    total = 0
    for chosen in combinations(range(splits), splits // 2):
        inside = np.vstack([blocks[k] for k in chosen])
        outside = np.vstack([blocks[k] for k in range(splits) if k not in chosen])
        best = int(np.argmax(inside.mean(axis=0) / inside.std(axis=0, ddof=1)))
        ranks = stats.rankdata(outside.mean(axis=0) / outside.std(axis=0, ddof=1))
        omega = ranks[best] / (matrix.shape[1] + 1)
        below += math.log(omega / (1 - omega)) <= 0
        total += 1
    return below / total


@pytest.mark.parametrize(("splits", "strategies", "seed"), [(4, 3, 1), (6, 5, 2), (8, 7, 3), (10, 4, 4)])
def test_pbo_is_the_row_by_row_computation(splits: int, strategies: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.001, 0.01, (103, strategies)) + rng.normal(0, 0.002, strategies)
    assert pbo(matrix, splits).pbo == pytest.approx(reference_pbo(matrix, splits))


def test_pbo_of_noise_is_about_a_half() -> None:
    """Strategies of pure noise: the in-sample best is a coin toss out of sample."""
    rng = np.random.default_rng(11)
    values = [pbo(rng.standard_normal((480, 20)), 16).pbo for _ in range(20)]
    assert np.mean(values) == pytest.approx(0.5, abs=0.05)


def test_pbo_of_a_dominant_strategy_is_about_zero() -> None:
    rng = np.random.default_rng(12)
    matrix = rng.standard_normal((480, 20))
    matrix[:, 7] += 0.5          # a true edge of half a standard deviation a period
    assert pbo(matrix, 16).pbo < 0.01


def test_pbo_refuses_what_it_cannot_split() -> None:
    with pytest.raises(ValueError, match="even"):
        pbo(np.zeros((100, 3)), 5)
    with pytest.raises(ValueError, match="two strategies"):
        pbo(np.zeros((100, 1)), 4)
    with pytest.raises(ValueError, match="too few"):
        pbo(np.zeros((20, 3)), 16)


@pytest.mark.parametrize(("point", "neighbours", "expected"), [
    (1.0, [1.0, 0.8, 0.5, 1.2], 0.9),          # ratios 1, 0.8, 0.5, 1.2: median 0.9
    (2.0, [1.0, None, 3.0], 0.5),              # no trade counts as 0: 0.5, 0, 1.5
    (0.0, [1.0], None),                        # nothing to keep
    (-1.0, [1.0], None),
    (1.0, [], None),
])
def test_param_stability(point: float, neighbours: list[float | None], expected: float | None) -> None:
    assert param_stability(point, neighbours) == (pytest.approx(expected) if expected is not None else None)
