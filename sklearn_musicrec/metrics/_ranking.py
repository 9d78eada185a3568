"""Ranking metrics for top-k recommendation lists.

Every function takes ``y_true`` (the relevant items of each user) and
``y_recommended`` (the id matrix returned by ``recommend``, best first) and
is computed with array operations over blocks of users (about a million list
entries each): no Python loop runs over individual users.

Conventions shared by all functions
-----------------------------------
- ``y_true`` is either 1-D, one held-out item id per user (a negative id
  means the user has no held-out item), or a 2-D ``(n_users, n_items)``
  matrix (sparse or dense) whose positive entries are the relevant items.
- ``y_recommended`` entries equal to ``-1`` are padding and are ignored.
  An item listed twice in the same row counts once, at its first (best)
  position; the later copy is treated like a non-relevant item.
- ``k=None`` uses the number of columns of ``y_recommended``; a smaller ``k``
  cuts every list to its first ``k`` ids; a larger ``k`` treats the missing
  positions as padding (so precision still divides by ``k``).
- Users with no relevant item are skipped (their per-user value is NaN) with
  an :class:`~sklearn.exceptions.UndefinedMetricWarning`; if no user has a
  relevant item the mean is ``0.0`` (still with the warning), so a model
  selection search does not crash on a degenerate fold.
- ``per_user=True`` returns the per-user values (NaN for skipped users)
  instead of their mean, for standard errors and paired tests.
"""

import numpy as np
import scipy.sparse as sp
from scipy.stats import rankdata

from ..utils._sklearn_compat import Integral, Interval, StrOptions, validate_params
from ..utils._typing import ArrayLike, MatrixLike
from ._validation import (
    _average,
    _check_item_range,
    _check_recommended,
    _check_truth,
    _row_ids,
)

__all__ = [
    "auc_score",
    "hit_rate_at_k",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]

_GAINS = ("binary", "linear", "exponential")
_LIST_CONSTRAINTS = {
    "y_true": ["array-like", "sparse matrix"],
    "y_recommended": ["array-like"],
    "k": [Interval(Integral, 1, None, closed="left"), None],
    "per_user": ["boolean"],
}
_BLOCK_ENTRIES = 1 << 20


class _Hits:
    """Where the relevant items appear in the lists.

    ``rows``, ``ranks`` (0-based list positions) and ``entries`` (indices
    into ``truth.data``) of every hit, a hit being the first listing of a
    relevant item in its user's first ``k`` ids; ``truth`` the canonical CSR
    relevance matrix; ``k`` the list length.
    """

    def __init__(self, rows, ranks, entries, truth, k):
        self.rows, self.ranks, self.entries = rows, ranks, entries
        self.truth, self.k = truth, k
        self.n_users = truth.shape[0]

    def count(self):
        return np.bincount(self.rows, minlength=self.n_users)

    def sum(self, weights):
        return np.bincount(self.rows, weights=weights, minlength=self.n_users)

    def by_rank(self):
        """Hits ordered by (row, rank); and each hit's 1-based order in its row."""
        order = np.argsort(self.rows * self.k + self.ranks, kind="stable")
        rows, ranks = self.rows[order], self.ranks[order]
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else rows
        nth = np.arange(rows.shape[0]) - np.repeat(starts, np.diff(np.r_[starts, rows.shape[0]]))
        return rows, ranks, nth + 1, starts


def _hits(y_true, y_recommended, k):
    """Validate the inputs and locate the relevant items in the lists.

    Each row of the lists is sorted once, with every id packed together
    with its list position and its row offset in one int64 (so a plain
    ``np.sort`` orders the lists globally by (user, id, position), a
    repeated id keeping its best position first); the relevant items,
    already sorted by (user, item), are then located with one
    ``searchsorted``. This runs per block of about a million list entries
    (to stay in cache). Cost: a sort of ``n_users * k`` integers in rows of
    ``k``, plus ``O(nnz(y_true) log(block))``.
    """
    ids, k = _check_recommended(y_recommended, k)
    truth, is_1d = _check_truth(y_true, ids.shape[0])
    if not is_1d:
        _check_item_range(ids, truth.shape[1])
    n_users, n_cols = ids.shape
    empty = np.empty(0, dtype=np.int64)
    if n_cols == 0 or truth.nnz == 0:
        return _Hits(empty, empty, empty, truth, k)
    # one unused id value past the largest, so that padding (-1) packed
    # into row u never reads as an item of row u - 1
    width = max(int(truth.shape[1]), int(ids.max()) + 1) + 1
    row_span = width * n_cols
    truth_rows = _row_ids(truth.indptr)
    indices = truth.indices.astype(np.int64)
    position = np.arange(n_cols, dtype=np.int64)
    out_rows, out_ranks, out_entries = [], [], []
    # Blocks of ~1M list entries keep the work arrays in cache; the loop
    # runs over blocks of users, a handful of iterations.
    block = max(1, _BLOCK_ENTRIES // n_cols)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        lo, hi = truth.indptr[start], truth.indptr[stop]
        if lo == hi:
            continue
        packed = ids[start:stop] * n_cols
        packed += position
        packed += np.arange(0, (stop - start) * row_span, row_span, dtype=np.int64)[:, None]
        packed.sort(axis=1)
        packed = packed.ravel()
        query = (truth_rows[lo:hi] - start) * row_span + indices[lo:hi] * n_cols
        j = np.searchsorted(packed, query)
        np.minimum(j, packed.shape[0] - 1, out=j)
        offset = packed[j] - query
        found = np.flatnonzero((offset >= 0) & (offset < n_cols))
        out_rows.append(truth_rows[lo:hi][found])
        out_ranks.append(offset[found])
        out_entries.append(found + lo)
    if not out_rows:
        return _Hits(empty, empty, empty, truth, k)
    return _Hits(
        np.concatenate(out_rows), np.concatenate(out_ranks), np.concatenate(out_entries), truth, k
    )


def _n_relevant(truth):
    return np.diff(truth.indptr).astype(np.int64)


def _nan_where_empty(values, n_relevant):
    values = values.astype(np.float64, copy=False)
    values[n_relevant == 0] = np.nan
    return values


@validate_params(_LIST_CONSTRAINTS, prefer_skip_nested_validation=True)
def precision_at_k(
    y_true: MatrixLike, y_recommended: ArrayLike, *, k: int | None = None, per_user: bool = False
) -> float | np.ndarray:
    """Precision at k: the share of the ``k`` list positions holding a relevant item.

    ``precision@k(u) = |relevant(u) ∩ top_k(u)| / k``. The denominator is
    ``k`` even when a list is shorter (padded): an empty slot is a miss.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding (the first
        output of ``recommend``).
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items)
        instead of their mean.

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    See Also
    --------
    recall_at_k : Hits over ``min(k, |relevant|)``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import precision_at_k
    >>> precision_at_k([2, 0], [[2, 1], [1, 3]])
    0.25
    """
    hits = _hits(y_true, y_recommended, k)
    values = _nan_where_empty(hits.count() / hits.k, _n_relevant(hits.truth))
    return _average(values, per_user, metric="precision_at_k")


@validate_params(_LIST_CONSTRAINTS, prefer_skip_nested_validation=True)
def recall_at_k(
    y_true: MatrixLike, y_recommended: ArrayLike, *, k: int | None = None, per_user: bool = False
) -> float | np.ndarray:
    """Recall at k, normalised by ``min(k, |relevant|)`` (Liang et al., 2018).

    ``recall@k(u) = |relevant(u) ∩ top_k(u)| / min(k, |relevant(u)|)``, so a
    perfect list scores 1 even when a user has more than ``k`` relevant
    items. This is the definition of Liang et al. (2018), "Variational
    autoencoders for collaborative filtering", WWW, used by most recent
    top-k recommendation work; with one held-out item per user it equals
    :func:`hit_rate_at_k`.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import recall_at_k
    >>> y_true = np.array([[1, 1, 0, 1], [0, 0, 1, 0]])
    >>> recall_at_k(y_true, [[0, 2], [2, -1]], per_user=True)
    array([0.5, 1. ])
    """
    hits = _hits(y_true, y_recommended, k)
    n_rel = _n_relevant(hits.truth)
    values = hits.count() / np.maximum(np.minimum(n_rel, hits.k), 1)
    return _average(_nan_where_empty(values, n_rel), per_user, metric="recall_at_k")


@validate_params(_LIST_CONSTRAINTS, prefer_skip_nested_validation=True)
def hit_rate_at_k(
    y_true: MatrixLike, y_recommended: ArrayLike, *, k: int | None = None, per_user: bool = False
) -> float | np.ndarray:
    """Hit rate at k: 1 if any relevant item is in the top ``k``, else 0.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import hit_rate_at_k
    >>> hit_rate_at_k([3, 0, 1], [[3, 1], [1, 2], [0, 1]])
    0.666...
    """
    hits = _hits(y_true, y_recommended, k)
    values = _nan_where_empty(hits.count() > 0, _n_relevant(hits.truth))
    return _average(values, per_user, metric="hit_rate_at_k")


@validate_params(_LIST_CONSTRAINTS, prefer_skip_nested_validation=True)
def mrr_at_k(
    y_true: MatrixLike, y_recommended: ArrayLike, *, k: int | None = None, per_user: bool = False
) -> float | np.ndarray:
    """Mean reciprocal rank at k: ``1 / rank`` of the first relevant item.

    A user whose top ``k`` holds no relevant item scores 0.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import mrr_at_k
    >>> mrr_at_k([1, 5], [[0, 1, 2], [5, 0, 1]], per_user=True)
    array([0.5, 1. ])
    """
    hits = _hits(y_true, y_recommended, k)
    rows, ranks, _, starts = hits.by_rank()
    values = np.zeros(hits.n_users)
    values[rows[starts]] = 1.0 / (ranks[starts] + 1.0)
    values = _nan_where_empty(values, _n_relevant(hits.truth))
    return _average(values, per_user, metric="mrr_at_k")


@validate_params(_LIST_CONSTRAINTS, prefer_skip_nested_validation=True)
def map_at_k(
    y_true: MatrixLike, y_recommended: ArrayLike, *, k: int | None = None, per_user: bool = False
) -> float | np.ndarray:
    """Mean average precision at k.

    ``AP@k(u) = sum_j P@j(u) * rel_j(u) / min(k, |relevant(u)|)`` over the
    positions ``j <= k``, the normalisation of Liang et al. (2018) and of
    the common ``apk`` reference implementation, so a perfect list scores 1.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import map_at_k
    >>> y_true = np.array([[1, 0, 1, 0]])
    >>> map_at_k(y_true, [[0, 1, 2]])  # (1/1 + 2/3) / 2
    0.833...
    """
    hits = _hits(y_true, y_recommended, k)
    n_rel = _n_relevant(hits.truth)
    rows, ranks, nth, _ = hits.by_rank()
    precision_at_hit = nth / (ranks + 1.0)
    ap = np.bincount(rows, weights=precision_at_hit, minlength=hits.n_users)
    values = ap / np.maximum(np.minimum(n_rel, hits.k), 1)
    return _average(_nan_where_empty(values, n_rel), per_user, metric="map_at_k")


def _ideal_dcg_graded(gain_values, truth, k, discount):
    """IDCG from each user's ``min(k, |relevant|)`` largest gains (vectorised)."""
    rows = _row_ids(truth.indptr)
    order = np.lexsort((-gain_values, rows))
    rank = np.arange(order.shape[0], dtype=np.int64) - truth.indptr[rows[order]]
    keep = rank < k
    return np.bincount(
        rows[order][keep],
        weights=gain_values[order][keep] * discount[rank[keep]],
        minlength=truth.shape[0],
    )


@validate_params(
    {**_LIST_CONSTRAINTS, "gain": [StrOptions(set(_GAINS))]},
    prefer_skip_nested_validation=True,
)
def ndcg_at_k(
    y_true: MatrixLike,
    y_recommended: ArrayLike,
    *,
    k: int | None = None,
    gain: str = "binary",
    per_user: bool = False,
) -> float | np.ndarray:
    """Normalised discounted cumulative gain at k.

    ``DCG@k(u) = sum_{j=1..k} g(u, i_j) / log2(j + 1)`` and
    ``NDCG@k(u) = DCG@k(u) / IDCG@k(u)``, where the ideal DCG places the
    user's ``min(k, |relevant(u)|)`` most relevant items first (Järvelin &
    Kekäläinen, 2002). The gain ``g`` is 1 for a relevant item by default
    (binary relevance, the usual choice for implicit feedback); ``gain=
    "linear"`` uses the values of a 2-D ``y_true`` (as
    :func:`sklearn.metrics.ndcg_score` does) and ``gain="exponential"``
    uses ``2**value - 1`` (Burges et al., 2005).

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items (their values are the
        graded relevance used by non-binary gains).
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        List length; ``None`` uses ``n_recommended``.
    gain : {"binary", "linear", "exponential"}, default="binary"
        How relevance values become gains (see above). With 1-D ``y_true``
        every held-out item has relevance 1, so all three agree.
    per_user : bool, default=False
        Return the per-user values (NaN for users without relevant items).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import ndcg_at_k
    >>> ndcg_at_k([0, 1], [[0, 2], [2, 1]], per_user=True)
    array([1.        , 0.63092975])
    """
    if gain not in _GAINS:
        raise ValueError(f"gain must be one of {_GAINS}, got {gain!r}.")
    hits = _hits(y_true, y_recommended, k)
    truth, k = hits.truth, hits.k
    n_rel = _n_relevant(truth)
    discount = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    if gain == "binary":
        dcg = hits.sum(discount[hits.ranks])
        ideal = np.concatenate(([0.0], np.cumsum(discount)))[np.minimum(n_rel, k)]
    else:
        values = truth.data if gain == "linear" else np.exp2(truth.data) - 1.0
        dcg = hits.sum(values[hits.entries] * discount[hits.ranks])
        ideal = _ideal_dcg_graded(values, truth, k, discount)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(n_rel > 0, dcg / np.where(ideal > 0, ideal, 1.0), np.nan)
    return _average(values, per_user, metric="ndcg_at_k")


@validate_params(
    {
        "y_true": ["array-like", "sparse matrix"],
        "y_score": ["array-like"],
        "exclude": ["array-like", "sparse matrix", None],
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def auc_score(
    y_true: MatrixLike,
    y_score: ArrayLike,
    *,
    exclude: MatrixLike | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Per-user area under the ROC curve of the scores, averaged over users.

    For each user, the probability that a relevant item is scored above a
    non-relevant one among the candidate items (ties count one half), i.e.
    the Mann-Whitney statistic computed from average ranks (Rendle et al.,
    2009, "BPR", use this per-user AUC). Unlike the top-k metrics it looks at
    the whole ranking. Candidates are all items except those in
    ``exclude`` (usually the user's history: pass the ``X`` given to
    ``decision_function``); an excluded item is neither positive nor
    negative.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        Held-out item id per user (negative: none), or a matrix whose
        positive entries are the relevant items.
    y_score : array-like of shape (n_users, n_items)
        Scores, e.g. from ``decision_function``; higher is better.
    exclude : {array-like, sparse matrix} of shape (n_users, n_items), default=None
        Non-zero entries are removed from each user's candidates.
    per_user : bool, default=False
        Return the per-user values (NaN for users without a relevant or
        without a non-relevant candidate).

    Returns
    -------
    score : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import auc_score
    >>> scores = np.array([[0.9, 0.1, 0.5, 0.3]])
    >>> auc_score([2], scores)  # item 2 beats items 1 and 3, loses to 0
    0.666...
    >>> auc_score([2], scores, exclude=np.array([[1, 0, 0, 0]]))
    1.0
    """
    if sp.issparse(y_score):
        raise TypeError(
            "y_score must be a dense (n_users, n_items) score array, got a sparse matrix."
        )
    scores = np.asarray(y_score)
    if scores.ndim != 2 or scores.dtype.kind not in "iuf" or scores.dtype.kind == "b":
        raise ValueError(
            "y_score must be a 2-D numeric (n_users, n_items) score array, got "
            f"shape {scores.shape} and dtype {scores.dtype}."
        )
    scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise ValueError("y_score contains NaN.")
    n_users, n_items = scores.shape
    truth, is_1d = _check_truth(y_true, n_users)
    if truth.shape[1] > n_items:
        raise ValueError(
            f"y_true refers to item {truth.shape[1] - 1} but y_score has only "
            f"{n_items} columns (items)."
        )
    truth = sp.csr_array((truth.data, truth.indices, truth.indptr), shape=(n_users, n_items))
    if exclude is not None:
        excl = sp.csr_array(exclude) if sp.issparse(exclude) else sp.csr_array(np.asarray(exclude))
        if excl.shape != (n_users, n_items):
            raise ValueError(
                f"exclude must have the shape of y_score {scores.shape}, got {excl.shape}."
            )
        excl = excl.astype(bool)
        excl.eliminate_zeros()
        r, c = excl.nonzero()
        scores[r, c] = np.nan
        truth = truth - truth.multiply(excl)
        truth.eliminate_zeros()
        n_excluded = np.diff(excl.indptr)
    else:
        n_excluded = np.zeros(n_users, dtype=np.int64)
    ranks = rankdata(scores, axis=1, nan_policy="omit")
    n_pos = np.diff(truth.indptr).astype(np.float64)
    n_neg = n_items - n_excluded - n_pos
    rows = _row_ids(truth.indptr)
    rank_sum = np.bincount(rows, weights=ranks[rows, truth.indices], minlength=n_users)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    values[(n_pos == 0) | (n_neg == 0)] = np.nan
    return _average(
        values, per_user, what="relevant and non-relevant candidates", metric="auc_score"
    )
