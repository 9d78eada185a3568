"""Compiled (numba) kernels for the neighbourhood recommenders.

Two fused row kernels, each row computed by one thread from its own data
only, so results do not depend on the number of threads:

- :func:`item_similarity_topk`: for every item, accumulate its dot products
  with all items (through the users they share), turn them into
  similarities with shrinkage and keep the ``k`` best in a heap;
- :func:`sparse_scores_topk`: for every row, accumulate ``left @ W`` in a
  dense scratch row, skip the row's seen items and keep the ``k`` best in a
  heap, completing short lists with score-0 items, lowest id first.

Both keep their heaps with the rule of :mod:`sklearn_musicrec.utils._topk`
(ties at the cut-off go to the lower column), like the NumPy kernels used
when numba is not installed. This module imports numba: import it lazily.
"""

import numpy as np
from numba import njit, prange

from ..utils._topk_numba import heap_drain_best_first, heap_push, new_heap

__all__ = ["item_similarity_topk", "sparse_scores_topk", "SIMILARITY_CODES"]

SIMILARITY_CODES = {"cosine": 0, "asymmetric_cosine": 1, "jaccard": 2, "pearson": 0}
# rows per parallel task: fixed, so the work split never depends on the threads
_ROWS_PER_TASK = 64


@njit(inline="always")
def _accumulator(n):
    """A zeroed dense scratch row of ``n`` sums, its flags and its touched list."""
    return np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.bool_), np.empty(n, dtype=np.int64)


@njit(inline="always")
def _gather_row(indptr, indices, data, row, b_indptr, b_indices, b_data, acc, flag, touched):
    """Sparse accumulator: ``acc += data[row] @ B`` over the row's stored entries.

    Columns reached for the first time are flagged and listed in
    ``touched``; returns how many were listed. The caller reads ``acc`` at
    those columns and resets them (and their flags) to zero.
    """
    m = 0
    for p in range(indptr[row], indptr[row + 1]):
        u = indices[p]
        w = np.float64(data[p])
        for q in range(b_indptr[u], b_indptr[u + 1]):
            j = b_indices[q]
            if not flag[j]:
                flag[j] = True
                touched[m] = j
                m += 1
            acc[j] += w * b_data[q]
    return m


@njit(parallel=True, nogil=True, cache=True)
def item_similarity_topk(
    a_indptr,
    a_indices,
    a_data,
    b_indptr,
    b_indices,
    b_data,
    a_stats,
    b_stats,
    code,
    alpha,
    shrinkage,
    min_similarity,
    k,
    self_offset,
    out_idx,
    out_val,
    out_count,
):
    """Top-``k`` similarities of the rows of A with the columns of BT (CSR both).

    ``code``: 0 cosine/pearson (on prepared vectors), 1 asymmetric cosine,
    2 jaccard. The pair ``(i, i + self_offset)`` is excluded (pass a large
    negative offset to exclude nothing). Outputs are ``(n_rows, k)`` arrays, each row's kept
    entries sorted by column, and the number kept per row.
    """
    n_rows = a_indptr.size - 1
    n_refs = b_stats.size
    n_tasks = (n_rows + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for task in prange(n_tasks):
        acc, flag, touched = _accumulator(n_refs)
        hv, hj = new_heap(k)
        for i in range(task * _ROWS_PER_TASK, min(n_rows, (task + 1) * _ROWS_PER_TASK)):
            m = _gather_row(
                a_indptr, a_indices, a_data, i, b_indptr, b_indices, b_data, acc, flag, touched
            )
            size = 0
            a = a_stats[i]
            if code == 0:
                left = np.sqrt(a)
            elif code == 1:
                left = a**alpha
            else:
                left = a
            for t in range(m):
                j = touched[t]
                d = acc[j]
                acc[j] = 0.0
                flag[j] = False
                if d == 0.0 or j == i + self_offset:
                    continue
                if code == 0:
                    denom = left * np.sqrt(b_stats[j]) + shrinkage
                elif code == 1:
                    denom = left * b_stats[j] ** (1.0 - alpha) + shrinkage
                else:
                    denom = left + b_stats[j] - d + shrinkage
                s = d / denom
                if s < min_similarity:
                    continue
                size = heap_push(hv, hj, size, k, s, j)
            order = np.argsort(hj[:size])
            for r in range(size):
                out_idx[i, r] = hj[order[r]]
                out_val[i, r] = hv[order[r]]
            out_count[i] = size


@njit(parallel=True, nogil=True, cache=True)
def sparse_scores_topk(
    l_indptr,
    l_indices,
    l_data,
    w_indptr,
    w_indices,
    w_data,
    s_indptr,
    s_indices,
    n_items,
    k,
    out_ids,
    out_scores,
):
    """Top-``k`` of every row of ``left @ W`` (CSR both), seen items skipped.

    ``s_indptr``/``s_indices`` give each row's seen items (an empty pattern
    when nothing is excluded). Stored scores are assumed positive, unstored
    ones 0: a row with fewer than ``k`` stored candidates is completed with
    the lowest free item ids at score 0. Outputs are best first.
    """
    n_rows = l_indptr.size - 1
    n_tasks = (n_rows + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for task in prange(n_tasks):
        acc, flag, touched = _accumulator(n_items)
        seen = np.zeros(n_items, dtype=np.bool_)
        hv, hj = new_heap(k)
        for r in range(task * _ROWS_PER_TASK, min(n_rows, (task + 1) * _ROWS_PER_TASK)):
            m = _gather_row(
                l_indptr, l_indices, l_data, r, w_indptr, w_indices, w_data, acc, flag, touched
            )
            for p in range(s_indptr[r], s_indptr[r + 1]):
                seen[s_indices[p]] = True
            size = 0
            for t in range(m):
                i = touched[t]
                v = acc[i]
                acc[i] = 0.0
                if v == 0.0:
                    flag[i] = False  # an exact zero is an unstored score: free
                    continue
                if seen[i]:
                    continue
                size = heap_push(hv, hj, size, k, v, i)
            n_out = size
            heap_drain_best_first(hv, hj, size, out_ids[r], out_scores[r])
            if n_out < k:
                slot = n_out
                i = 0
                while slot < k and i < n_items:
                    if not flag[i] and not seen[i]:
                        out_ids[r, slot] = i
                        out_scores[r, slot] = 0.0
                        slot += 1
                    i += 1
            for t in range(m):
                flag[touched[t]] = False
            for p in range(s_indptr[r], s_indptr[r + 1]):
                seen[s_indices[p]] = False
