"""Compiled (numba) halves of :mod:`._topk`: bounded heaps and a dense row kernel.

The rule is :mod:`._topk`'s: larger scores first, the lower column among
equal ones (also at the cut-off), ``-inf`` never selected and padded with id
``-1``. The heap primitives are ``inline="always"`` building blocks for the
fused kernels of other modules (the kNN kernels keep the best neighbours or
items of a row in one); :func:`topk_rows` is a complete kernel for dense
float32 blocks of scores.

This module imports numba: import it lazily.
"""

import numpy as np
from numba import njit, prange

__all__ = [
    "drain_heap",
    "heap_drain_best_first",
    "heap_push",
    "merge_scored_block",
    "new_heap",
    "topk_rows",
]


@njit(inline="always")
def new_heap(k):
    """Empty value and id arrays of a heap of at most ``k`` entries."""
    return np.empty(k, dtype=np.float64), np.empty(k, dtype=np.int64)


@njit(inline="always")
def _worse(v1, j1, v2, j2):
    """Whether entry (v1, j1) ranks below (v2, j2): lower value, then higher id."""
    return v1 < v2 or (v1 == v2 and j1 > j2)


@njit(inline="always")
def _swap(hv, hj, a, b):
    hv[a], hv[b] = hv[b], hv[a]
    hj[a], hj[b] = hj[b], hj[a]


@njit(inline="always")
def _sift_down(hv, hj, size, pos):
    # min-heap on rank: the root is the worst kept entry
    while True:
        left = 2 * pos + 1
        if left >= size:
            return
        child = left
        right = left + 1
        if right < size and _worse(hv[right], hj[right], hv[left], hj[left]):
            child = right
        if _worse(hv[child], hj[child], hv[pos], hj[pos]):
            _swap(hv, hj, pos, child)
            pos = child
        else:
            return


@njit(inline="always")
def heap_push(hv, hj, size, k, v, j):
    """Offer (v, j) to a heap of at most k entries (``hv`` values, ``hj`` ids); return its size."""
    if size < k:
        pos = size
        hv[pos] = v
        hj[pos] = j
        size += 1
        while pos > 0:
            parent = (pos - 1) // 2
            if _worse(hv[pos], hj[pos], hv[parent], hj[parent]):
                _swap(hv, hj, pos, parent)
                pos = parent
            else:
                break
        return size
    if _worse(hv[0], hj[0], v, j):
        hv[0] = v
        hj[0] = j
        _sift_down(hv, hj, size, 0)
    return size


@njit(inline="always")
def heap_drain_best_first(hv, hj, size, out_ids, out_values):
    """Empty the heap into ``out_ids[:size]``/``out_values[:size]``, best first."""
    for pos in range(size - 1, -1, -1):
        out_ids[pos] = hj[0]
        out_values[pos] = hv[0]
        size -= 1
        if size > 0:
            hv[0] = hv[size]
            hj[0] = hj[size]
            _sift_down(hv, hj, size, 0)


# Columns per chunk of the dense scan: once a row's k best are known, a chunk
# none of whose scores beats the k-th best is skipped after one vectorised
# count, which is most chunks of a long row.
_CHUNK = 64


@njit(parallel=True, cache=True, nogil=True)
def topk_rows(S, seen_indptr, seen_indices, exclude_seen, k, ids, vals, n_nan):
    """Top ``k`` columns of every row of ``S``, best first (the rule of :mod:`._topk`).

    With ``exclude_seen`` the row's stored columns (``seen_indptr``/
    ``seen_indices``, CSR) are overwritten with ``-inf`` first (``S`` is
    scratch). ``n_nan[r]`` receives the number of NaN scores of row ``r``
    (the caller raises); they are never selected.

    The row is scanned in chunks of ``_CHUNK`` columns; when ``k`` entries
    are held, a chunk is first checked for any score above the k-th best or
    NaN (one branch-free pass the compiler vectorises) and skipped if there
    is none, which is exactly what the per-entry test would conclude; NaNs
    are counted by the per-entry test.
    """
    n_rows, n_cols = S.shape
    neg_inf = -np.inf
    for r in prange(n_rows):
        row = S[r]
        if exclude_seen:
            for jj in range(seen_indptr[r], seen_indptr[r + 1]):
                row[seen_indices[jj]] = neg_inf
        v = vals[r]
        d = ids[r]
        cnt = 0
        nan = 0
        for j0 in range(0, n_cols, _CHUNK):
            j1 = min(n_cols, j0 + _CHUNK)
            if cnt == k:
                worst = v[k - 1]
                hit = 0
                for j in range(j0, j1):
                    # above the k-th best, or NaN: one branch-free pass
                    hit += (row[j] > worst) | (row[j] != row[j])
                if hit == 0:
                    continue
            for j in range(j0, j1):
                s = row[j]
                if s != s:
                    nan += 1
                    continue
                if not s > neg_inf:
                    continue
                if cnt == k and not s > v[k - 1]:
                    continue
                pos = cnt if cnt < k else k - 1
                while pos > 0 and v[pos - 1] < s:
                    v[pos] = v[pos - 1]
                    d[pos] = d[pos - 1]
                    pos -= 1
                v[pos] = s
                d[pos] = j
                if cnt < k:
                    cnt += 1
        for pos in range(cnt, k):
            v[pos] = neg_inf
            d[pos] = -1
        n_nan[r] = nan


@njit(cache=True, nogil=True)
def merge_scored_block(scores, items, seen, exclude_seen, k, hv, hj, size):
    """Offer a block of scored items to a row's heap of at most ``k``; return its size.

    ``scores[t]`` is the score of item ``items[t]`` (any order: ties are
    broken by id, so the heap holds what a scan in id order would keep);
    ``seen`` holds the row's stored items, sorted, skipped with
    ``exclude_seen``. ``-inf`` and NaN are never kept (the caller makes sure
    no NaN can occur). Only an item that would enter the heap is looked up
    in ``seen``.
    """
    neg_inf = -np.inf
    n_seen = seen.shape[0]
    for t in range(scores.shape[0]):
        v = np.float64(scores[t])
        if not v > neg_inf:
            continue
        j = items[t]
        if size == k and not _worse(hv[0], hj[0], v, j):
            continue
        if exclude_seen and n_seen:
            pos = np.searchsorted(seen, j)
            if pos < n_seen and seen[pos] == j:
                continue
        size = heap_push(hv, hj, size, k, v, j)
    return size


@njit(cache=True, nogil=True)
def drain_heap(hv, hj, size, out_ids, out_values):
    """A row's heap of ``size`` entries into its list, best first, padded with ``-1``/``-inf``."""
    heap_drain_best_first(hv, hj, size, out_ids, out_values)
    for pos in range(size, out_ids.shape[0]):
        out_ids[pos] = -1
        out_values[pos] = -np.inf
