"""Bootstrap statistics for reports: 95% confidence intervals of means, ratios and rank correlations, paired
differences."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

SEED = 0  # recorded in every run manifest
RESAMPLES = 2000
MIN_PAIRS_FOR_CI = 10  # a rank correlation's bootstrap interval from fewer pairs collapses (e.g. to [1, 1])


@dataclass
class Estimate:
    """A point estimate with its bootstrap 95% interval and the number of values behind it."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def _indices(n: int, resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def mean_ci(values, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """Mean with a percentile-bootstrap 95% CI (NaN bounds for fewer than 2 values)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    if len(x) == 1:
        return Estimate(float(x[0]), float("nan"), float("nan"), 1)
    means = x[_indices(len(x), resamples, seed)].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Estimate(float(x.mean()), float(low), float(high), len(x))


def nested_mean_ci(groups, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """Mean of every value of every group (such as each listener's ratings) with a two-stage bootstrap 95% CI:
    groups resampled, then values within each resampled group, so one group's values are not taken as independent
    of each other. One group: `mean_ci` of its values."""
    arrays = [np.asarray(group, dtype=np.float64) for group in groups if len(group)]
    if len(arrays) <= 1:
        return mean_ci(arrays[0] if arrays else [], resamples, seed)
    rng = np.random.default_rng(seed)
    slots = len(arrays)
    # Every (resample, slot) gets its own draw within each group; the slot's group is then picked.
    sums = np.stack([a[rng.integers(0, len(a), size=(resamples, slots, len(a)))].sum(axis=2) for a in arrays])
    picked = rng.integers(0, slots, size=(resamples, slots))
    totals = sums[picked, np.arange(resamples)[:, None], np.arange(slots)[None, :]].sum(axis=1)
    counts = np.array([len(a) for a in arrays])[picked].sum(axis=1)
    low, high = np.percentile(totals / counts, [2.5, 97.5])
    values = np.concatenate(arrays)
    return Estimate(float(values.mean()), float(low), float(high), len(values))


def ratio_ci(numerators, denominators, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """sum(numerators) / sum(denominators) (e.g. corpus CER) with a bootstrap 95% CI over utterances."""
    num = np.asarray(numerators, dtype=np.float64)
    den = np.asarray(denominators, dtype=np.float64)
    if len(num) == 0 or den.sum() <= 0:
        return Estimate(float("nan"), float("nan"), float("nan"), len(num))
    value = float(num.sum() / den.sum())
    if len(num) == 1:
        return Estimate(value, float("nan"), float("nan"), 1)
    idx = _indices(len(num), resamples, seed)
    ratios = num[idx].sum(axis=1) / np.maximum(den[idx].sum(axis=1), 1e-12)
    low, high = np.percentile(ratios, [2.5, 97.5])
    return Estimate(value, float(low), float(high), len(num))


def paired_difference(a, b, resamples: int = RESAMPLES, seed: int = SEED) -> tuple[Estimate, float]:
    """Mean of (b - a) over paired values with a bootstrap 95% CI, and a two-sided bootstrap p-value for 0."""
    diff = np.asarray(b, dtype=np.float64) - np.asarray(a, dtype=np.float64)
    estimate = mean_ci(diff, resamples, seed)
    if len(diff) < 2:
        return estimate, float("nan")
    means = diff[_indices(len(diff), resamples, seed)].mean(axis=1)
    # share of resampled means on the other side of zero, doubled (percentile-bootstrap test)
    p = 2.0 * min(np.mean(means <= 0.0), np.mean(means >= 0.0))
    return estimate, float(min(1.0, p))


def _row_correlations(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row of x with the same row of y (NaN where a row is constant)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    norm = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (x * y).sum(axis=-1) / norm, np.nan)


def rank_correlation(x, y, resamples: int = RESAMPLES, seed: int = SEED) -> Estimate:
    """Spearman's rho with a percentile-bootstrap 95% CI over pairs: NaN for fewer than 3 pairs or a constant side,
    and no interval below MIN_PAIRS_FOR_CI pairs, where resampling a few pairs gives a falsely narrow one."""
    from scipy.stats import rankdata

    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    value = float(_row_correlations(rankdata(x), rankdata(y))) if len(x) >= 3 else float("nan")
    if not np.isfinite(value):
        return Estimate(float("nan"), float("nan"), float("nan"), len(x))
    if len(x) < MIN_PAIRS_FOR_CI:
        return Estimate(value, float("nan"), float("nan"), len(x))
    idx = _indices(len(x), resamples, seed)
    rhos = _row_correlations(rankdata(x[idx], axis=1), rankdata(y[idx], axis=1))
    # a resample that drew one value many times can be constant: it has no correlation to count
    low, high = np.percentile(rhos[np.isfinite(rhos)], [2.5, 97.5])
    return Estimate(value, float(low), float(high), len(x))
