"""Bootstrap intervals, paired differences and rank correlations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from eval import stats


def test_mean_ci_brackets_the_mean_and_shrinks_with_more_data():
    rng = np.random.default_rng(0)
    small, large = rng.normal(3, 1, 20), rng.normal(3, 1, 400)
    a, b = stats.mean_ci(small), stats.mean_ci(large)
    assert a.low < a.value < a.high and b.low < b.value < b.high
    assert (b.high - b.low) < (a.high - a.low)
    assert b.low < 3.0 < b.high


def test_ratio_ci_is_the_corpus_rate():
    e = stats.ratio_ci([1, 0, 3], [10, 10, 20])
    assert e.value == 4 / 40 and e.low <= e.value <= e.high


def test_paired_difference_finds_a_consistent_shift_and_not_noise():
    rng = np.random.default_rng(1)
    a = rng.normal(2, 1, 50)
    shifted, p = stats.paired_difference(a, a + 0.3 + rng.normal(0, 0.05, 50))
    assert shifted.low > 0 and p < 0.01
    null, p_null = stats.paired_difference(a, a + rng.normal(0, 0.05, 50))
    assert null.low < 0 < null.high and p_null > 0.05


def test_rank_correlation_matches_scipy_and_refuses_what_has_no_correlation():
    rng = np.random.default_rng(3)
    x = rng.normal(size=30)
    y = x + rng.normal(size=30)
    y[:5] = y[0]  # ties take average ranks, as in scipy
    estimate = stats.rank_correlation(x, y)
    assert estimate.value == pytest.approx(spearmanr(x, y)[0]) and estimate.n == 30
    assert -1 <= estimate.low < estimate.value < estimate.high <= 1
    assert np.isnan(stats.rank_correlation([1, 2], [2, 1]).value)  # too few pairs
    few = stats.rank_correlation([1, 2, 3, 4], [1, 2, 3, 5])  # every resample of a monotone set is monotone:
    assert few.value == 1.0 and np.isnan(few.low) and np.isnan(few.high)  # no falsely certain [1, 1] interval
    assert np.isnan(stats.rank_correlation([1, 2, 3], [5, 5, 5]).value)  # one side constant
