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


def listeners(rng, count=12, items=8, listener_sd=10.0, item_sd=5.0, true_mean=50.0):
    """Ratings of `count` listeners, each with an offset of their own (their use of the scale), `items` each."""
    return [true_mean + rng.normal(0, listener_sd) + rng.normal(0, item_sd, items) for _ in range(count)]


def test_nested_mean_ci_covers_the_true_mean_where_an_item_bootstrap_does_not():
    """Listener offsets make one listener's ratings dependent: the item bootstrap's interval then misses the true
    mean far more often than 5%, the two-stage one about as often as it should."""
    rng = np.random.default_rng(1)
    nested = items = 0
    trials = 100
    for seed in range(trials):
        groups = listeners(rng)
        a = stats.nested_mean_ci(groups, resamples=400, seed=seed)
        b = stats.mean_ci(np.concatenate(groups), resamples=400, seed=seed)
        assert a.value == pytest.approx(b.value) and a.n == b.n == 96
        nested += a.low <= 50.0 <= a.high
        items += b.low <= 50.0 <= b.high
    assert nested / trials >= 0.88 and items / trials <= 0.7


def test_nested_mean_ci_of_one_group_is_the_mean_ci_of_its_values():
    values = [40.0, 55.0, 61.0, 47.0, 52.0]
    assert stats.nested_mean_ci([values]) == stats.mean_ci(values)
    assert stats.nested_mean_ci([values, []]) == stats.mean_ci(values)
    assert stats.nested_mean_ci([]).n == 0
