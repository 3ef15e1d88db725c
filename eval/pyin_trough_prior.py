"""pYIN's prior over a frame's troughs read from a table of scipy's own values, bit for bit as scipy computes it.

librosa's pYIN calls `scipy.stats.boltzmann.pmf(k, lambda_, N)` once a frame (about 0.15 ms of argument handling
each: 40 % of a pitch track once the Viterbi is sparse) on small integer arrays: each trough's rank k and the count N
of troughs below each threshold. scipy computes every element alone from its own (k, lambda_, N) (`exp`, products
and quotients, each written to a fresh array, so numpy computes every exp with the same kernel), so one call of
scipy's pmf over every (k, N) a frame can hold gives a table with the same bits. A call whose arguments are not integer
arrays and one scalar `lambda_` goes to scipy.
"""

from __future__ import annotations

import numpy as np
import scipy.stats

MAX_COUNT = 4096  # tables reach this k and N (pYIN's: at most one trough every other lag, about 150 at 16 kHz)


class BoltzmannTable:
    """`scipy.stats.boltzmann` for pYIN: `pmf` of integer arrays read from tables of scipy's own values."""

    def __init__(self) -> None:
        self._tables: dict[tuple[type, int | float], np.ndarray] = {}  # by lambda_ (its type too: int or float arithmetic)

    def pmf(self, k, lambda_, N, **kwds) -> np.ndarray:
        """scipy.stats.boltzmann.pmf(k, lambda_, N, **kwds), the same bits."""
        k, N = np.asarray(k), np.asarray(N)
        tabled = not kwds and type(lambda_) in (int, float) and k.dtype.kind == N.dtype.kind == "i" and k.size and N.size
        top = max(int(k.max()), int(N.max())) if tabled and k.min() >= -1 and N.min() >= 0 else MAX_COUNT + 1
        if top > MAX_COUNT:
            return scipy.stats.boltzmann.pmf(k, lambda_, N, **kwds)
        return self._table(lambda_, top)[k + 1, N]

    def _table(self, lambda_: int | float, n: int) -> np.ndarray:
        """scipy's pmf at k + 1 (rows, k from -1) and N (columns, from 0) for `lambda_`, both at least to n."""
        key = (type(lambda_), lambda_)
        table = self._tables.get(key)
        if table is None or table.shape[1] <= n:
            size = min(max(2 * n, 256), MAX_COUNT)
            table = scipy.stats.boltzmann.pmf(np.arange(-1, size + 1)[:, None], lambda_, np.arange(size + 1)[None, :])
            self._tables[key] = table
        return table


class _Replacing:
    """`target` with some attributes replaced, the others its own."""

    def __init__(self, target, **replaced) -> None:
        self._target, self._replaced = target, replaced

    def __getattr__(self, name: str):
        return self._replaced[name] if name in self._replaced else getattr(self._target, name)


def install() -> None:
    """Have librosa's pitch module (and so pYIN) see `BoltzmannTable` as scipy.stats.boltzmann; all else of
    scipy as it is, for librosa alone."""
    import librosa.core.pitch

    if not isinstance(librosa.core.pitch.scipy, _Replacing):
        librosa.core.pitch.scipy = _Replacing(scipy, stats=_Replacing(scipy.stats, boltzmann=BoltzmannTable()))
