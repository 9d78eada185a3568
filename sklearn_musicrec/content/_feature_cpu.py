"""Numba kernels of the feature-aware factorisation (LightFM's model, Kula 2015).

An item's vector is its own embedding plus the weighted sum of its feature
embeddings, ``q_i = e_i + sum_f a_if w_f`` (and its bias likewise), so the
gradient of a ranking loss on ``q_i`` flows to the item's own embedding and
to the embeddings of its tags. Training runs sequentially on one thread with
an explicitly seeded counter-based generator (splitmix64), so one seed gives
one model whatever the number of threads. Fold-in is the BPR fold-in
of ``utils/_bpr_numba.py`` on the composed item vectors.

This module imports numba; the estimators import it lazily.
"""

import numpy as np
from numba import njit, uint64

from ..utils._bpr_numba import in_sorted_row as _in_row
from ..utils._bpr_numba import randbelow as _randbelow


@njit(inline="always")
def _item_vector(i, E, c, W, d, f_indptr, f_indices, f_data, out):
    """``out[:] = e_i + sum_f a_if w_f``; returns the bias ``c_i + sum_f a_if d_f``."""
    k = E.shape[1]
    for a in range(k):
        out[a] = E[i, a]
    b = c[i]
    for t in range(f_indptr[i], f_indptr[i + 1]):
        f = f_indices[t]
        v = f_data[t]
        b += v * d[f]
        for a in range(k):
            out[a] += v * W[f, a]
    return b


@njit(inline="always")
def _update_item(i, g, P_u, lr, reg, E, c, W, d, f_indptr, f_indices, f_data, k):
    """Ascent step ``g`` on item ``i``'s score for a user with factors ``P_u``."""
    c[i] += lr * (g - reg * c[i])
    for a in range(k):
        E[i, a] += lr * (g * P_u[a] - reg * E[i, a])
    for t in range(f_indptr[i], f_indptr[i + 1]):
        f = f_indices[t]
        v = f_data[t]
        d[f] += lr * (g * v - reg * d[f])
        for a in range(k):
            W[f, a] += lr * (g * v * P_u[a] - reg * W[f, a])


@njit(fastmath=True, cache=True, nogil=True)
def train_epoch(
    indptr,
    indices,
    rows,
    negatives,
    f_indptr,
    f_indices,
    f_data,
    P,
    E,
    c,
    W,
    d,
    lr,
    reg,
    warp,
    max_sampled,
    seed,
):
    """One epoch of BPR or WARP: ``nnz`` positive (user, item) samples.

    Negatives are drawn uniformly from ``negatives`` (the items with plays),
    skipping the user's own items. BPR takes one step on
    ``log sigmoid(x_ui - x_uj)``; WARP (Weston et al. 2011) draws up to
    ``max_sampled`` negatives until one violates the margin
    ``x_uj > x_ui - 1`` and steps on the hinge with weight
    ``log(floor((n - 1) / n_draws))``, the rank estimate of the positive.
    Returns the share of first-drawn pairs already ranked correctly.
    """
    k = P.shape[1]
    nnz = indices.shape[0]
    n_neg = negatives.shape[0]
    lr = np.float32(lr)
    reg = np.float32(reg)
    state = np.empty(1, dtype=np.uint64)
    state[0] = uint64(seed)
    qi = np.empty(k, dtype=np.float32)
    qj = np.empty(k, dtype=np.float32)
    pu = np.empty(k, dtype=np.float32)
    correct = 0
    total = 0
    for _ in range(nnz):
        t = _randbelow(state, nnz)
        u = rows[t]
        i = indices[t]
        start = indptr[u]
        stop = indptr[u + 1]
        if stop - start >= n_neg:
            continue
        bi = _item_vector(i, E, c, W, d, f_indptr, f_indices, f_data, qi)
        x_ui = bi
        for a in range(k):
            x_ui += P[u, a] * qi[a]
        n_draws = 0
        found = False
        j = 0
        x_uj = np.float32(0.0)
        limit = max_sampled if warp else 1
        while n_draws < limit:
            j = negatives[_randbelow(state, n_neg)]
            if _in_row(indices, start, stop, j):
                continue
            n_draws += 1
            bj = _item_vector(j, E, c, W, d, f_indptr, f_indices, f_data, qj)
            x_uj = bj
            for a in range(k):
                x_uj += P[u, a] * qj[a]
            if n_draws == 1:
                total += 1
                if x_ui > x_uj:
                    correct += 1
            if not warp or x_uj > x_ui - np.float32(1.0):
                found = True
                break
        if not found:
            continue
        if warp:
            g = np.float32(np.log(max(1.0, np.floor((n_neg - 1) / n_draws))))
        else:
            g = np.float32(1.0) / (np.float32(1.0) + np.exp(x_ui - x_uj))
        for a in range(k):
            pu[a] = P[u, a]
            P[u, a] += lr * (g * (qi[a] - qj[a]) - reg * P[u, a])
        _update_item(i, g, pu, lr, reg, E, c, W, d, f_indptr, f_indices, f_data, k)
        _update_item(j, -g, pu, lr, reg, E, c, W, d, f_indptr, f_indices, f_data, k)
    return correct / max(total, 1)


@njit(fastmath=True, cache=True, nogil=True)
def item_vectors(E, c, W, d, f_indptr, f_indices, f_data, Q, b):
    """Write every item's vector into ``Q`` and its bias into ``b``."""
    k = E.shape[1]
    out = np.empty(k, dtype=np.float32)
    for i in range(E.shape[0]):
        b[i] = _item_vector(i, E, c, W, d, f_indptr, f_indices, f_data, out)
        for a in range(k):
            Q[i, a] = out[a]
