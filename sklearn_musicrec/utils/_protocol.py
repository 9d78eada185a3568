"""The evaluation protocol, in one place.

Private to the package, with public-within-the-package names: the splitters
(``model_selection``), the scorers (``metrics``) and ``evaluate``
(``model_selection``) are its clients, so they hide, split, recommend and
sample in exactly the same way. It lives in ``utils`` so that the import
graph stays acyclic (``utils`` <- ``metrics`` <- ``model_selection``).

- seeds: :func:`resolve_seed`, :func:`sub_seed`;
- holdout masks: :func:`interaction_keys`, :func:`rank_within_rows`,
  :func:`n_test_per_row`, :func:`holdout_mask`, :func:`split_by_mask`;
- pipelines: :func:`split_estimator`, :func:`transform_history`;
- recommending unseen items: :func:`recommend_excluding_history`, :func:`dense_scores`;
- the sampled protocol: :func:`one_target_per_row`, :func:`sampled_candidates`.

The random choices are seeded hashes of ``(seed, the row's set of items,
the item)``: a row is treated the same way whatever its position in ``X``,
the other rows, or its values.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

from ._hashing import row_set_hashes, splitmix64
from ._sparse import lookup, row_ids
from ._topk import row_batches
from .validation import check_candidate_items, check_k

__all__ = [
    "dense_scores",
    "holdout_mask",
    "interaction_keys",
    "n_test_per_row",
    "one_target_per_row",
    "rank_within_rows",
    "recommend_excluding_history",
    "resolve_seed",
    "sampled_candidates",
    "split_by_mask",
    "split_estimator",
    "sub_seed",
    "transform_history",
]


# -- seeds --------------------------------------------------------------------
def resolve_seed(random_state):
    """An int seed: ``random_state`` itself if it is an int, else one draw."""
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state) & 0xFFFFFFFFFFFFFFFF
    rng = check_random_state(random_state)
    return int(rng.randint(0, 2**62, dtype=np.int64))


def sub_seed(seed, i):
    """A derived 64-bit seed, so different draws made with one seed are independent."""
    return (seed + 0x9E3779B97F4A7C15 * i) & 0xFFFFFFFFFFFFFFFF


# -- holdout masks ------------------------------------------------------------
def interaction_keys(Xc, seed):
    """A pseudo-random uint64 key per stored entry of canonical CSR ``Xc``.

    The key of ``(u, i)`` is a hash of the seed, of the set of items in row
    ``u`` and of ``i``: independent of the row's position and of the values.
    """
    row_hash, items = row_set_hashes(Xc.indptr, Xc.indices, seed)
    return splitmix64(row_hash[row_ids(Xc.indptr)] ^ items)


def rank_within_rows(Xc, keys):
    """Rank (0 = smallest key) of every stored entry within its row."""
    rows = row_ids(Xc.indptr)
    order = np.lexsort((keys, rows))
    rank = np.empty(keys.shape[0], dtype=np.int64)
    rank[order] = np.arange(keys.shape[0], dtype=np.int64) - Xc.indptr[rows[order]]
    return rank


def n_test_per_row(n_per_row, test_size, *, name="test_size"):
    """Entries to hide per row: at least 1 and at most n-1 for rows with n >= 2.

    ``test_size`` is a share in (0, 1) (``ceil(test_size * n)`` per row) or
    an int (that many per row).
    """
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, numbers.Real):
        raise TypeError(
            f"{name} must be a float in (0, 1) (the share of each user's "
            f"interactions to hold out) or an int >= 1, got {test_size!r}."
        )
    if isinstance(test_size, numbers.Integral):
        if test_size < 1:
            raise ValueError(f"{name}, given as an int, must be >= 1, got {test_size}.")
        n_test = np.full_like(n_per_row, int(test_size))
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"{name}, given as a float, must be in (0, 1), got {test_size!r}.")
        n_test = np.ceil(np.round(n_per_row * float(test_size), 9)).astype(np.int64)
        n_test = np.maximum(n_test, 1)
    n_test = np.minimum(n_test, n_per_row - 1)
    n_test[n_per_row < 2] = 0
    return n_test


def holdout_mask(Xc, test_size, seed):
    """Boolean mask over ``Xc``'s entries of the hidden (test) interactions.

    Returns ``(mask, n_per_row, n_test)``: the mask over the stored entries
    of canonical CSR ``Xc``, the interactions per row and the hidden ones.
    """
    n_per_row = np.diff(Xc.indptr).astype(np.int64)
    n_test = n_test_per_row(n_per_row, test_size)
    rank = rank_within_rows(Xc, interaction_keys(Xc, seed))
    return rank < n_test[row_ids(Xc.indptr)], n_per_row, n_test


def split_by_mask(Xc, test_mask):
    """``(kept, hidden)``: two CSR matrices of ``Xc``'s shape from a mask over its entries."""
    rows = row_ids(Xc.indptr)

    def build(mask):
        indptr = np.zeros(Xc.shape[0] + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows[mask], minlength=Xc.shape[0]), out=indptr[1:])
        return sp.csr_matrix((Xc.data[mask], Xc.indices[mask], indptr), shape=Xc.shape)

    return build(~test_mask), build(test_mask)


# -- pipelines ----------------------------------------------------------------
def split_estimator(estimator):
    """``(preprocessing steps or None, final recommender)`` of a recommender or Pipeline."""
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        pre = estimator[:-1] if len(estimator.steps) > 1 else None
    else:
        pre, final = None, estimator
    if not hasattr(final, "recommend"):
        raise TypeError(
            "The estimator scored by a recommendation scorer must be a "
            "recommender (with a recommend method), or a Pipeline ending in "
            f"one; got {type(final).__name__}."
        )
    return pre, final


def transform_history(pre, history):
    """History rows as the final step sees them.

    ``history`` is canonical CSR; ``pre`` the preprocessing steps or None
    (then ``history`` itself is returned).
    """
    if pre is None:
        return history
    Xt = pre.transform(history)
    if Xt.shape != history.shape:
        raise ValueError(
            "The steps before the recommender must keep the (n_users, n_items) "
            f"shape of X to be scored item by item; X has shape {history.shape} "
            f"but the transformed X has shape {Xt.shape}."
        )
    return Xt


# -- recommending unseen items --------------------------------------------------
def _pattern(X):
    """CSR matrix with a 1 at every non-zero entry of ``X`` (sorted, no zeros)."""
    X = sp.csr_matrix(X) if sp.issparse(X) else sp.csr_matrix(np.asarray(X))
    P = sp.csr_matrix((X.data != 0, X.indices, X.indptr), shape=X.shape, copy=True)
    P.sum_duplicates()
    P.eliminate_zeros()
    P.data = np.ones(P.nnz, dtype=np.int8)
    return P


def _compact(ids, scores, keep, k):
    """Left-align the kept entries of each row, cut to ``k``, pad with -1 / -inf."""
    order = np.argsort(~keep, axis=1, kind="stable")
    ids = np.take_along_axis(np.where(keep, ids, -1), order, axis=1)[:, :k]
    scores = np.take_along_axis(np.where(keep, scores, -np.inf), order, axis=1)[:, :k]
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        ids = np.hstack([ids, np.full((ids.shape[0], pad), -1, dtype=np.int64)])
        scores = np.hstack([scores, np.full((scores.shape[0], pad), -np.inf, dtype=scores.dtype)])
    return ids, scores


def recommend_excluding_history(final, Xt, history, k=10, *, exclude_seen=True, items=None):
    """``final.recommend`` on transformed rows, excluding the *raw* history.

    The one home of list making through a pipeline, shared by
    :meth:`~sklearn_musicrec.pipeline.RecommenderPipeline.recommend`, the
    recommendation scorers and ``evaluate``.

    Parameters
    ----------
    final : recommender
        The fitted final step.
    Xt : {array-like, sparse matrix} of shape (n_users, n_items)
        The rows as the final step sees them (transformed by the steps).
    history : {array-like, sparse matrix} of shape (n_users, n_items)
        The raw rows: their non-zero entries are the items excluded.
    k : int, default=10
        List length.
    exclude_seen : bool, default=True
        Exclude the raw history; ``False`` recommends from ``Xt`` unchanged.
    items : None, array-like of int, or {array-like, sparse matrix}, default=None
        Candidates, as in ``recommend``.

    Returns
    -------
    item_ids : ndarray of int64 of shape (n_users, k)
        Recommended item ids, best first, padded with ``-1``.
    scores : ndarray of shape (n_users, k)
        As ``final.recommend`` returns them, never listing an item of
        ``history``.

    Notes
    -----
    Rows whose transformed pattern equals the raw one (every weighting
    transformer keeps it) use the final step's own ``exclude_seen``,
    unchanged. For a row whose transformed pattern lies inside the raw one
    (a step dropped entries), the final step excludes what it sees and the
    list is requested longer by the number of dropped items, which are then
    removed; for a row with entries the raw one lacks, the list is
    requested longer by the whole history, which is then removed. So the
    lists are exactly the final step's best ``k`` items outside the raw
    history.
    """
    k = check_k(k)
    if not isinstance(exclude_seen, (bool, np.bool_)):
        raise TypeError(
            f"exclude_seen must be a bool, got {exclude_seen!r} of type "
            f"{type(exclude_seen).__name__}."
        )
    if Xt.shape != history.shape:
        raise ValueError(
            "The steps before the recommender must keep the (n_users, n_items) shape "
            f"of X so that the raw history can be excluded item by item; X has shape "
            f"{history.shape} but the transformed X has shape {Xt.shape}."
        )
    if not exclude_seen or Xt is history:
        # no step, or nothing to exclude beyond what the final step sees
        return final.recommend(Xt, k, exclude_seen=exclude_seen, items=items)
    raw = _pattern(history)
    seen = _pattern(Xt)
    n_raw = np.diff(raw.indptr)
    n_seen = np.diff(seen.indptr)
    n_both = np.diff(raw.multiply(seen).tocsr().indptr)
    inside = n_both == n_seen  # transformed pattern within the raw one
    extra = np.where(inside, n_raw - n_both, n_raw)
    if inside.all() and not extra.any():
        return final.recommend(Xt, k, exclude_seen=True, items=items)

    n_users, n_items = history.shape
    kind, candidates = check_candidate_items(items, n_users, n_items)
    Xt = sp.csr_matrix(Xt) if sp.issparse(Xt) else np.asarray(Xt)
    ids = np.full((n_users, k), -1, dtype=np.int64)
    scores = None
    groups = (
        (inside & (extra == 0), True),
        (inside & (extra > 0), True),
        (~inside, False),
    )
    for rows_mask, final_excludes in groups:
        rows = np.flatnonzero(rows_mask)
        if rows.size == 0:
            continue
        longer = k + int(extra[rows].max())
        sub_items = candidates[rows] if kind == "mask" else items
        sub_ids, sub_scores = final.recommend(
            Xt[rows], longer, exclude_seen=final_excludes, items=sub_items
        )
        if longer > k:
            keep = (sub_ids >= 0) & (lookup(raw[rows], sub_ids) < 0)
            sub_ids, sub_scores = _compact(sub_ids, sub_scores, keep, k)
        if scores is None:
            scores = np.full((n_users, k), -np.inf, dtype=sub_scores.dtype)
        ids[rows] = sub_ids
        scores[rows] = sub_scores
    return ids, scores


def dense_scores(final, Xt, n_rows, n_items):
    """Dense float64 ``decision_function`` of all rows, computed in row batches."""
    out = np.empty((n_rows, n_items), dtype=np.float64)
    Xt = sp.csr_matrix(Xt) if sp.issparse(Xt) else np.asarray(Xt)
    # 4 Mi scores per batch at most, fewer under a small working_memory
    for rows in row_batches(n_rows, 8 * max(n_items, 1), max_bytes=8 << 22):
        out[rows] = final.decision_function(Xt[rows])
    return out


# -- the sampled protocol -------------------------------------------------------
def one_target_per_row(truth, seed):
    """One relevant item per row of canonical CSR ``truth``, by a seeded content hash.

    Returns int64 ids, ``-1`` for rows without a relevant item.
    """
    target = np.full(truth.shape[0], -1, dtype=np.int64)
    if truth.nnz == 0:
        return target
    keys = interaction_keys(truth, seed)
    rows = row_ids(truth.indptr)
    order = np.lexsort((keys, rows))
    starts = truth.indptr[:-1][np.diff(truth.indptr) > 0]
    first = order[starts]
    target[rows[first]] = truth.indices[first]
    return target


def sampled_candidates(history, target, n_sampled, seed, relevant=None):
    """CSR candidate mask: the target plus ``n_sampled`` random unseen items per row.

    The sampled items are drawn uniformly, without replacement, among the
    items that are neither in the row's history nor relevant (the target
    and, when ``relevant`` is given, every other held-out item); the draw is
    a seeded hash of the row's content, so it does not depend on the row
    position.
    """
    n_rows, n_items = history.shape
    u64 = np.uint64
    item_mix = splitmix64(np.arange(n_items, dtype=u64) + u64(1))
    history_hash, _ = row_set_hashes(history.indptr, history.indices, seed)
    row_hash = splitmix64(history_hash ^ splitmix64(target.astype(u64) + u64(7)))
    n_draw = min(n_sampled, n_items)
    chunks_rows, chunks_cols = [], []
    # 2 Mi keys (uint64, and a mask) per batch at most, fewer under a small
    # working_memory; every row's draw depends on that row alone
    for rows in row_batches(n_rows, 8 * max(n_items, 1), max_bytes=8 << 21):
        keys = splitmix64(row_hash[rows][:, None] ^ item_mix[None, :])
        sub = history[rows]
        blocked = np.zeros(keys.shape, dtype=bool)
        blocked[row_ids(sub.indptr), sub.indices] = True
        if relevant is not None:
            sub = relevant[rows]
            blocked[row_ids(sub.indptr), sub.indices] = True
        t = target[rows]
        has_t = t >= 0
        blocked[np.flatnonzero(has_t), t[has_t]] = True
        keys[blocked] = np.iinfo(np.uint64).max
        if n_draw < n_items:
            sel = np.argpartition(keys, n_draw - 1, axis=1)[:, :n_draw]
        else:
            sel = np.broadcast_to(np.arange(n_items), keys.shape)
        ok = ~np.take_along_axis(blocked, sel, axis=1)
        rr = np.broadcast_to(np.arange(rows.start, rows.stop)[:, None], sel.shape)
        chunks_rows += [rr[ok], np.arange(rows.start, rows.stop)[has_t]]
        chunks_cols += [sel[ok], t[has_t]]
    rr = np.concatenate(chunks_rows) if chunks_rows else np.empty(0, dtype=np.int64)
    cc = np.concatenate(chunks_cols) if chunks_cols else np.empty(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(rr.shape[0], dtype=bool), (rr, cc)), shape=(n_rows, n_items))
