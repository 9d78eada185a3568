"""Compiled greedy pass of :class:`~sklearn_musicrec.rerank.CalibratedReranker`.

Steck's (2018) greedy step adds the candidate ``i`` maximising
``(1 - lam) * (sum_rel + rel_i) - lam * KL(p || (1 - alpha) q_i + alpha p)``
with ``q_i = (Q + c_i) / (s + 1)``, ``Q`` the summed category shares of the
``s`` items listed so far and ``c_i`` those of the candidate. Written as
``KL = H(p) - sum_g p_g log q~_g``, every category that ``c_i`` does not
touch contributes a term that is the same for all candidates, so each step
computes that sum once over the categories (``O(n_categories)``) and then
corrects it for each candidate over its own few categories (``O(nnz(c_i))``)
instead of re-scoring the whole ``(n_candidates, n_categories)`` block.

This module imports numba: import it lazily.
"""

import numpy as np
from numba import njit

__all__ = ["calibrated_order"]


@njit(cache=True, nogil=True)
def calibrated_order(pool, relevance, valid, p, cat_indptr, cat_indices, cat_data, lam, alpha):
    """Greedy calibrated order of each row's pool (positions into the row's pool).

    Parameters
    ----------
    pool : ndarray of int64 of shape (n_rows, n)
        Candidate item ids; the valid ones come first.
    relevance : ndarray of float64 of shape (n_rows, n)
        Relevance of each candidate (min-max scaled wrapped score).
    valid : ndarray of bool of shape (n_rows, n)
        Which entries of ``pool`` are real candidates.
    p : ndarray of float64 of shape (n_rows, n_categories)
        Category distribution of each row's history (all zero if empty).
    cat_indptr, cat_indices, cat_data : ndarray
        Canonical CSR arrays of ``p(g | i)`` over the catalogue (no explicit
        zeros, no duplicates).
    lam, alpha : float
        ``calibration_weight`` and the mixing share ``alpha``.

    Returns
    -------
    order : ndarray of int64 of shape (n_rows, n)
        The pool positions in their greedy order; padding keeps its place
        after the valid candidates. Ties go to the earlier pool position.
    """
    n_rows, n = pool.shape
    n_categories = p.shape[1]
    order = np.empty((n_rows, n), dtype=np.int64)
    Q = np.empty(n_categories)
    log_base = np.empty(n_categories)
    zero_base = np.empty(n_categories, dtype=np.bool_)
    taken = np.empty(n, dtype=np.bool_)
    for u in range(n_rows):
        n_valid = 0
        for j in range(n):
            if valid[u, j]:
                n_valid += 1
        entropy = 0.0
        for g in range(n_categories):
            Q[g] = 0.0
            if p[u, g] > 0.0:
                entropy += p[u, g] * np.log(p[u, g])
        for j in range(n):
            taken[j] = not valid[u, j]
        size = 0.0
        sum_rel = 0.0
        for step in range(n_valid):
            inv = 1.0 / (size + 1.0)
            # the part of sum_g p_g log q~_g common to every candidate
            common = 0.0
            n_zero = 0
            if lam > 0.0:
                for g in range(n_categories):
                    zero_base[g] = False
                    pg = p[u, g]
                    if pg > 0.0:
                        qt = (1.0 - alpha) * Q[g] * inv + alpha * pg
                        if qt > 0.0:
                            log_base[g] = np.log(qt)
                            common += pg * log_base[g]
                        else:
                            zero_base[g] = True
                            n_zero += 1
            best = -1
            best_gain = -np.inf
            for j in range(n):
                if taken[j]:
                    continue
                gain = (1.0 - lam) * (sum_rel + relevance[u, j])
                if lam > 0.0:
                    item = pool[u, j]
                    delta = 0.0
                    fixed = 0
                    for t in range(cat_indptr[item], cat_indptr[item + 1]):
                        g = cat_indices[t]
                        pg = p[u, g]
                        if pg > 0.0:
                            qt = (1.0 - alpha) * (Q[g] + cat_data[t]) * inv + alpha * pg
                            if zero_base[g]:
                                fixed += 1
                                delta += pg * np.log(qt)
                            else:
                                delta += pg * (np.log(qt) - log_base[g])
                    if n_zero > fixed:
                        gain = -np.inf
                    else:
                        gain -= lam * (entropy - common - delta)
                if best < 0 or gain > best_gain:
                    best = j
                    best_gain = gain
            order[u, step] = best
            taken[best] = True
            item = pool[u, best]
            for t in range(cat_indptr[item], cat_indptr[item + 1]):
                Q[cat_indices[t]] += cat_data[t]
            size += 1.0
            sum_rel += relevance[u, best]
        for step in range(n_valid, n):
            order[u, step] = step
    return order
