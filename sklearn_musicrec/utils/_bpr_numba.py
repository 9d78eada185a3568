"""Numba kernels shared by the BPR-trained models: a seeded generator, BPR fold-in.

The generator is splitmix64 advanced by a counter held in a one-element
array, seeded explicitly (never from global state), so a given seed gives the
same draws on any machine and at any number of threads. ``bpr_fold_in`` fits
new rows' factors with the item parameters fixed, each row with a generator
seeded from the model seed and the row's items, so a row's factors never
depend on the other rows or on the thread count. Used by
``SGDFactorizer(loss="bpr")`` and ``FeatureFactorizer``.

This module imports numba; the estimators import it lazily.
"""

import numpy as np
from numba import njit, prange, uint64

__all__ = ["GOLDEN", "bpr_fold_in", "draw_negative", "in_sorted_row", "mix", "randbelow"]

GOLDEN = uint64(0x9E3779B97F4A7C15)
M1 = uint64(0xBF58476D1CE4E5B9)
M2 = uint64(0x94D049BB133111EB)


@njit(inline="always")
def mix(z):
    z = (z ^ (z >> uint64(30))) * M1
    z = (z ^ (z >> uint64(27))) * M2
    return z ^ (z >> uint64(31))


@njit(inline="always")
def next_random(state):
    """Advance ``state[0]`` and return a 64-bit random integer."""
    state[0] += GOLDEN
    return mix(state[0])


@njit(inline="always")
def randbelow(state, n):
    return np.int64(next_random(state) % uint64(n))


@njit(inline="always")
def in_sorted_row(indices, start, stop, j):
    """Binary search for ``j`` in the sorted ``indices[start:stop]``."""
    lo, hi = start, stop
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v < j:
            lo = mid + 1
        elif v > j:
            hi = mid
        else:
            return True
    return False


@njit(inline="always")
def draw_negative(state, indices, start, stop, n_items):
    """A uniformly drawn item not in the sorted row ``indices[start:stop]``."""
    j = randbelow(state, n_items)
    while in_sorted_row(indices, start, stop, j):
        j = randbelow(state, n_items)
    return j


@njit(fastmath=True, cache=True, nogil=True, parallel=True)
def bpr_fold_in(indptr, indices, n_items, Q, bi, lr, reg, n_epochs, n_negatives, seed, X):
    """Fit each row's user factors by BPR with the item parameters fixed.

    Row ``u`` gets ``n_epochs * n_u`` positive samples from its own items;
    its generator is seeded from ``seed`` and a hash of the row's item ids.
    ``X`` must be zero on entry; rows without items stay zero.
    """
    n_rows, k = X.shape
    lr = np.float32(lr)
    reg = np.float32(reg)
    for u in prange(n_rows):
        start = indptr[u]
        stop = indptr[u + 1]
        n_u = stop - start
        if n_u == 0 or n_u >= n_items:
            continue
        h = uint64(seed)
        for jj in range(start, stop):
            h = mix(h ^ (uint64(indices[jj]) + GOLDEN))
        state = np.empty(1, dtype=np.uint64)
        state[0] = h
        x = X[u]
        for _ in range(n_epochs * n_u):
            i = indices[start + randbelow(state, n_u)]
            for _neg in range(n_negatives):
                j = draw_negative(state, indices, start, stop, n_items)
                s = bi[i] - bi[j]
                for a in range(k):
                    s += x[a] * (Q[i, a] - Q[j, a])
                z = np.float32(1.0) / (np.float32(1.0) + np.exp(s))
                for a in range(k):
                    x[a] += lr * (z * (Q[i, a] - Q[j, a]) - reg * x[a])
