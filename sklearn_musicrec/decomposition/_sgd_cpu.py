"""Numba kernels for stochastic-gradient matrix factorisation.

Training epochs run sequentially (one thread), so a given seed gives the same
model on any machine with any number of threads. Random numbers come from a
small counter-based generator (splitmix64) seeded explicitly, never from
global state. Fold-in of BPR rows runs rows in parallel, each with a
generator seeded from the model seed and the row's content, so a row's
factors do not depend on the other rows of the batch or on the thread count.

This module imports numba; it is imported lazily by the estimators.
"""

import numpy as np
from numba import njit, uint64

from ..utils._bpr_numba import bpr_fold_in  # noqa: F401 (the BPR fold-in kernel)
from ..utils._bpr_numba import draw_negative as _draw_negative
from ..utils._bpr_numba import randbelow as _randbelow


@njit(fastmath=True, cache=True, nogil=True)
def squared_epoch(rows, cols, ratings, order, mean, P, Q, bu, bi, lr, reg_u, reg_i, reg_bu, reg_bi):
    """One epoch of biased-MF SGD (Funk/Koren) in the given sample order.

    ``reg_u[u]`` and ``reg_i[i]`` (float32) are the L2 penalties applied to
    user ``u``'s and item ``i``'s factors at each of their updates,
    ``reg_bu[u]`` and ``reg_bi[i]`` those of their biases.
    Returns the sum of squared errors seen during the epoch.
    """
    k = P.shape[1]
    lr = np.float32(lr)
    sse = 0.0
    for t in order:
        u = rows[t]
        i = cols[t]
        d = np.float32(0.0)
        for a in range(k):
            d += P[u, a] * Q[i, a]
        e = np.float32(ratings[t] - mean) - bu[u] - bi[i] - d
        sse += np.float64(e) * e
        ru = reg_u[u]
        ri = reg_i[i]
        bu[u] += lr * (e - reg_bu[u] * bu[u])
        bi[i] += lr * (e - reg_bi[i] * bi[i])
        for a in range(k):
            pu = P[u, a]
            qi = Q[i, a]
            P[u, a] = pu + lr * (e * qi - ru * pu)
            Q[i, a] = qi + lr * (e * pu - ri * qi)
    return sse


@njit(fastmath=True, cache=True, nogil=True)
def bpr_epoch(indptr, indices, rows, n_items, P, Q, bi, lr, reg, n_negatives, seed):
    """One epoch of BPR (Rendle et al. 2009): ``nnz`` positive samples.

    Each sample draws a stored (user, item) pair uniformly, then
    ``n_negatives`` items the user has not interacted with, uniformly, and
    takes one gradient-ascent step on ``log sigmoid(x_ui - x_uj)`` for each.
    Returns the fraction of sampled pairs already ranked correctly (before
    their update), a cheap training-AUC estimate.
    """
    k = P.shape[1]
    nnz = indices.shape[0]
    lr = np.float32(lr)
    reg = np.float32(reg)
    state = np.empty(1, dtype=np.uint64)
    state[0] = uint64(seed)
    correct = 0
    total = 0
    for _ in range(nnz):
        t = _randbelow(state, nnz)
        u = rows[t]
        i = indices[t]
        start = indptr[u]
        stop = indptr[u + 1]
        if stop - start >= n_items:
            continue
        for _neg in range(n_negatives):
            j = _draw_negative(state, indices, start, stop, n_items)
            x = bi[i] - bi[j]
            for a in range(k):
                x += P[u, a] * (Q[i, a] - Q[j, a])
            total += 1
            if x > 0:
                correct += 1
            z = np.float32(1.0) / (np.float32(1.0) + np.exp(x))
            bi[i] += lr * (z - reg * bi[i])
            bi[j] += lr * (-z - reg * bi[j])
            for a in range(k):
                pu = P[u, a]
                qi = Q[i, a]
                qj = Q[j, a]
                P[u, a] = pu + lr * (z * (qi - qj) - reg * pu)
                Q[i, a] = qi + lr * (z * pu - reg * qi)
                Q[j, a] = qj + lr * (-z * pu - reg * qj)
    return correct / max(total, 1)
