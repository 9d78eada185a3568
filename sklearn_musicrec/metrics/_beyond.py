"""Beyond-accuracy metrics: coverage, diversity, novelty, popularity bias, fairness.

They describe the recommendation lists themselves (and, for some, the
training popularity of the recommended items), not their agreement with
held-out data. As for the ranking metrics, ``-1`` entries of
``y_recommended`` are padding and an item listed twice in a row counts once.
All are computed with sparse/array operations over all users at once.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning

from ..utils._sklearn_compat import Integral, Interval, Real, validate_params
from ..utils._typing import ArrayLike, MatrixLike
from ..utils.validation import check_numeric_matrix
from ._validation import _average, _check_recommended

__all__ = [
    "average_popularity",
    "catalog_coverage",
    "gini_index",
    "intra_list_diversity",
    "long_tail_share",
    "novelty",
    "personalization",
]


_K = [Interval(Integral, 1, None, closed="left"), None]
_ILD_BLOCK = 1 << 18  # list entries per block of users in intra_list_diversity
_POPULARITY = ["array-like", "sparse matrix"]


def _check_n_items(n_items, ids):
    if (
        isinstance(n_items, (bool, np.bool_))
        or not isinstance(n_items, (int, np.integer))
        or n_items < 1
    ):
        raise ValueError(f"n_items must be an int >= 1 (the catalogue size), got {n_items!r}.")
    if ids.size and ids.max() >= n_items:
        raise ValueError(
            f"y_recommended holds item id {ids.max()} but the catalogue has "
            f"n_items={n_items} items (ids 0..{n_items - 1})."
        )
    return int(n_items)


def _indicator(ids, n_items):
    """Binary CSR (n_users, n_items): 1 where the item is in the user's list.

    Built directly in canonical form from the row-sorted ids (padding and
    repeats dropped), without a COO round trip.
    """
    s = np.sort(ids, axis=1)
    keep = s >= 0
    keep[:, 1:] &= s[:, 1:] != s[:, :-1]
    indptr = np.zeros(ids.shape[0] + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    indices = s[keep]
    R = sp.csr_array((np.ones(indices.shape[0]), indices, indptr), shape=(ids.shape[0], n_items))
    R.has_canonical_format = True
    return R


def _popularity(item_popularity, n_items, *, kind, name="item_popularity"):
    """Per-item popularity and the number of users it is counted over.

    ``kind="users"``: a 2-D matrix gives the number of users with a non-zero
    entry per item (and its number of rows); ``kind="sum"``: column sums
    (e.g. plays). A 1-D array is used as given (number of users: None).
    """
    if sp.issparse(item_popularity) or np.ndim(item_popularity) == 2:
        M = sp.csc_array(item_popularity)
        if M.shape[1] < n_items:
            raise ValueError(
                f"{name}, given as a (n_users, n_items) matrix, has "
                f"{M.shape[1]} columns but the lists hold item id {n_items - 1}."
            )
        if M.data.size and (not np.all(np.isfinite(M.data)) or M.data.min() < 0):
            raise ValueError(f"{name} must be finite and non-negative.")
        if kind == "users":
            M = M.copy()
            M.eliminate_zeros()
            return np.diff(M.indptr).astype(np.float64), M.shape[0]
        return np.asarray(M.sum(axis=0), dtype=np.float64).ravel(), M.shape[0]
    pop = np.asarray(item_popularity)
    if pop.ndim != 1 or pop.dtype.kind not in "iuf" or pop.dtype.kind == "b":
        raise ValueError(
            f"{name} must be a 1-D numeric array of per-item popularity or a "
            f"(n_users, n_items) interaction matrix, got shape {pop.shape} and "
            f"dtype {pop.dtype}."
        )
    pop = pop.astype(np.float64)
    if pop.shape[0] < n_items:
        raise ValueError(
            f"{name} has {pop.shape[0]} items but the lists hold item id {n_items - 1}."
        )
    if not np.all(np.isfinite(pop)) or (pop.size and pop.min() < 0):
        raise ValueError(f"{name} must be finite and non-negative.")
    return pop, None


def _list_lengths(R):
    return np.diff(R.indptr).astype(np.float64)


def _mean_over_lists(R, item_values, per_user, metric):
    """Per-user mean of ``item_values`` over the distinct listed items."""
    lengths = _list_lengths(R)
    totals = R @ item_values[: R.shape[1]]
    with np.errstate(invalid="ignore", divide="ignore"):
        values = np.where(lengths > 0, totals / np.maximum(lengths, 1), np.nan)
    return _average(values, per_user, what="recommended items", metric=metric)


@validate_params(
    {
        "y_recommended": ["array-like"],
        "n_items": [Interval(Integral, 1, None, closed="left")],
        "k": _K,
    },
    prefer_skip_nested_validation=True,
)
def catalog_coverage(y_recommended: ArrayLike, *, n_items: int, k: int | None = None) -> float:
    """Share of the catalogue recommended to at least one user.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    n_items : int
        Catalogue size (the number of columns of ``X``).
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.

    Returns
    -------
    coverage : float
        In [0, 1].

    Examples
    --------
    >>> from sklearn_musicrec.metrics import catalog_coverage
    >>> catalog_coverage([[0, 1], [1, 2]], n_items=6)
    0.5
    """
    ids, k = _check_recommended(y_recommended, k)
    n_items = _check_n_items(n_items, ids)
    listed = np.bincount(ids[ids >= 0], minlength=n_items)
    return float(np.count_nonzero(listed) / n_items)


@validate_params(
    {
        "y_recommended": ["array-like"],
        "n_items": [Interval(Integral, 1, None, closed="left")],
        "k": _K,
    },
    prefer_skip_nested_validation=True,
)
def gini_index(y_recommended: ArrayLike, *, n_items: int, k: int | None = None) -> float:
    """Gini index of item exposure: 0 when every item is recommended equally often.

    The exposure of an item is the number of lists that hold it; the Gini
    index of the exposures of all ``n_items`` items (unrecommended items
    count with exposure 0) is ``sum_i (2i - n - 1) x_(i) / (n sum_i x_i)``
    with ``x_(1) <= ... <= x_(n)`` (Fleder & Hosanagar, 2009; Gunawardana
    & Shani's handbook chapter). Values near 1 mean that a few items take
    all the exposure (a popularity-biased recommender).

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    n_items : int
        Catalogue size.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.

    Returns
    -------
    gini : float
        In [0, 1 - 1/n_items]; 0.0 with an ``UndefinedMetricWarning`` when
        nothing is recommended.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import gini_index
    >>> gini_index([[0, 1], [1, 0]], n_items=2)
    0.0
    >>> gini_index([[0], [0]], n_items=2)
    0.5
    """
    ids, k = _check_recommended(y_recommended, k)
    n_items = _check_n_items(n_items, ids)
    exposure = np.sort(_indicator(ids, n_items).sum(axis=0))
    total = exposure.sum()
    if total == 0:
        warnings.warn(
            "gini_index is undefined when no item is recommended; returning 0.0.",
            UndefinedMetricWarning,
            stacklevel=3,  # past the validate_params wrapper
        )
        return 0.0
    i = np.arange(1, n_items + 1, dtype=np.float64)
    return float(((2 * i - n_items - 1) * exposure).sum() / (n_items * total))


@validate_params(
    {"y_recommended": ["array-like"], "k": _K},
    prefer_skip_nested_validation=True,
)
def personalization(y_recommended: ArrayLike, *, k: int | None = None) -> float:
    """One minus the mean cosine similarity between the lists of two users.

    Each list is a binary item vector; for lists of equal length ``k`` the
    cosine similarity of two lists is their overlap divided by ``k``. The
    mean over all pairs of distinct users with a non-empty list is computed
    exactly in ``O(n_users * k)`` from the item exposure counts (no pairwise
    loop). 1 means no two users share an item; 0 means everyone gets the
    same list.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.

    Returns
    -------
    personalization : float
        0.0 with an ``UndefinedMetricWarning`` when fewer than two users
        have a non-empty list.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import personalization
    >>> personalization([[0, 1], [0, 2], [3, 4]])  # overlaps 1/2, 0, 0
    0.833...
    """
    ids, k = _check_recommended(y_recommended, k)
    n_items = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 1
    R = _indicator(ids, n_items)
    lengths = _list_lengths(R)
    m = int(np.count_nonzero(lengths))
    if m < 2:
        warnings.warn(
            "personalization is undefined with fewer than two non-empty lists; returning 0.0.",
            UndefinedMetricWarning,
            stacklevel=3,  # past the validate_params wrapper
        )
        return 0.0
    weights = 1.0 / np.sqrt(np.maximum(lengths, 1))
    R.data *= np.repeat(weights, np.diff(R.indptr))
    col = np.asarray(R.sum(axis=0)).ravel()
    similarity_sum = col @ col - m  # sum over ordered pairs u != v of cos(u, v)
    return float(1.0 - similarity_sum / (m * (m - 1)))


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_features": ["array-like", "sparse matrix"],
        "k": _K,
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def intra_list_diversity(
    y_recommended: ArrayLike,
    item_features: MatrixLike,
    *,
    k: int | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Mean pairwise cosine distance between the items of each list.

    ``ILD(u) = 1 - mean_{i != j in list(u)} cos(f_i, f_j)`` with ``f`` the
    item feature vectors (e.g. tag counts), averaged over users (Ziegler et
    al., 2005; Vargas & Castells, 2011). An item without features has
    similarity 0 to every item. Computed from the sum of each list's
    normalised feature vectors (``sum_{i != j} cos = |sum_i f_i|^2 - n``),
    so it costs one sparse product rather than ``k^2`` pairs per user.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_features : {array-like, sparse matrix} of shape (n_items, n_features)
        Feature vector of every item, e.g. ``make_interactions(...).item_tags``.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    per_user : bool, default=False
        Return the per-user values (NaN for lists with fewer than 2 items).

    Returns
    -------
    diversity : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import intra_list_diversity
    >>> tags = np.array([[1, 0], [1, 0], [0, 1]])
    >>> intra_list_diversity([[0, 1], [0, 2]], tags, per_user=True)
    array([0., 1.])
    """
    ids, k = _check_recommended(y_recommended, k)
    F = check_numeric_matrix(item_features, "item_features", "(n_items, n_features)")
    F = sp.csr_array(F, dtype=np.float64) if sp.issparse(F) else F.astype(np.float64)
    if ids.size and ids.max() >= F.shape[0]:
        raise ValueError(
            f"y_recommended holds item id {ids.max()} but item_features has "
            f"only {F.shape[0]} rows (items)."
        )
    if sp.issparse(F):
        norms = np.sqrt(np.asarray(F.multiply(F).sum(axis=1)).ravel())
        F = sp.diags_array(np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)) @ F
    else:
        norms = np.linalg.norm(F, axis=1)
        F = F * np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)[:, None]
    R = _indicator(ids, F.shape[0])
    n = _list_lengths(R)
    # |sum of the list's unit vectors|^2, in blocks of users so that the
    # (n_users, n_features) sums never exist all at once
    sq = np.empty(R.shape[0])
    block = max(1, _ILD_BLOCK // max(ids.shape[1], 1))
    for start in range(0, R.shape[0], block):
        S = R[start : start + block] @ F
        if sp.issparse(S):
            sq[start : start + block] = np.asarray(S.multiply(S).sum(axis=1)).ravel()
        else:
            sq[start : start + block] = np.einsum("ij,ij->i", S, S)
    self_sim = R @ (norms > 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        values = 1.0 - (sq - self_sim) / (n * (n - 1))
    values = np.where(n >= 2, values, np.nan)
    return _average(
        values, per_user, what="lists of at least 2 items", metric="intra_list_diversity"
    )


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_popularity": _POPULARITY,
        "n_users": [Interval(Integral, 1, None, closed="left"), None],
        "k": _K,
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def novelty(
    y_recommended: ArrayLike,
    item_popularity: MatrixLike,
    *,
    n_users: int | None = None,
    k: int | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Mean self-information of the recommended items under training popularity.

    ``novelty(u) = mean_{i in list(u)} -log2(p_i)`` with ``p_i = c_i / N``,
    ``c_i`` the number of training users who interacted with item ``i`` and
    ``N`` the number of training users (Zhou et al., 2010, PNAS; Vargas &
    Castells, 2011). Items with ``c_i = 0`` are given ``c_i = 1`` (they
    are as novel as an item seen once). Higher means less popular items.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_popularity : {array-like, sparse matrix} of shape (n_train_users, n_items), \
            or array-like of shape (n_items,)
        The training interaction matrix (``c`` and ``N`` are read from it),
        or the per-item user counts ``c`` (e.g. a fitted model's
        ``item_counts_``), in which case ``n_users`` is required.
    n_users : int, default=None
        ``N`` when ``item_popularity`` is 1-D.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    per_user : bool, default=False
        Return the per-user values (NaN for empty lists).

    Returns
    -------
    novelty : float or ndarray of shape (n_users,)
        In bits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import novelty
    >>> counts = np.array([8, 4, 1, 0])
    >>> novelty([[0, 1], [2, 3]], counts, n_users=8, per_user=True)
    array([0.5, 3. ])
    """
    ids, k = _check_recommended(y_recommended, k)
    n_needed = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 1
    counts, n_rows = _popularity(item_popularity, n_needed, kind="users")
    if n_rows is None:
        if n_users is None:
            raise ValueError(
                "novelty needs the number of training users: pass n_users when "
                "item_popularity is a 1-D array of per-item counts, or pass the "
                "training interaction matrix as item_popularity."
            )
        n_rows = n_users
    if (
        isinstance(n_rows, (bool, np.bool_))
        or not isinstance(n_rows, (int, np.integer))
        or n_rows < 1
    ):
        raise ValueError(f"n_users must be an int >= 1, got {n_rows!r}.")
    if counts.size and counts.max() > n_rows:
        raise ValueError(
            f"item_popularity counts up to {counts.max():g} users per item but "
            f"n_users is {n_rows}: counts must be numbers of users."
        )
    info = -np.log2(np.maximum(counts, 1.0) / n_rows)
    R = _indicator(ids, counts.shape[0])
    return _mean_over_lists(R, info, per_user, "novelty")


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_popularity": _POPULARITY,
        "k": _K,
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def average_popularity(
    y_recommended: ArrayLike,
    item_popularity: MatrixLike,
    *,
    k: int | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Average recommendation popularity (ARP, Abdollahpouri et al., 2019).

    The mean, over users, of the mean training popularity of the items in
    their list; lower values mean less popularity bias.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_popularity : {array-like, sparse matrix} of shape (n_train_users, n_items), \
            or array-like of shape (n_items,)
        The training interaction matrix (popularity is then the number of
        users per item), or any per-item popularity (e.g. ``item_counts_``).
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    per_user : bool, default=False
        Return the per-user values (NaN for empty lists).

    Returns
    -------
    popularity : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import average_popularity
    >>> average_popularity([[0, 1], [2, -1]], [10, 4, 1])
    4.0
    """
    ids, k = _check_recommended(y_recommended, k)
    n_needed = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 1
    pop, _ = _popularity(item_popularity, n_needed, kind="users")
    return _mean_over_lists(_indicator(ids, pop.shape[0]), pop, per_user, "average_popularity")


def _head_items(pop, head_share):
    """Boolean mask of the most popular items that hold ``head_share`` of the total."""
    order = np.lexsort((np.arange(pop.shape[0]), -pop))  # by popularity, then id
    csum = np.cumsum(pop[order])
    total = csum[-1] if csum.size else 0.0
    head = np.zeros(pop.shape[0], dtype=bool)
    if total > 0:
        n_head = int(np.searchsorted(csum, head_share * total * (1 - 1e-12), side="left")) + 1
        head[order[:n_head]] = True
    return head


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_popularity": _POPULARITY,
        "head_share": [Interval(Real, 0, 1, closed="right")],
        "k": _K,
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def long_tail_share(
    y_recommended: ArrayLike,
    item_popularity: MatrixLike,
    *,
    head_share: float = 0.8,
    k: int | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Share of recommended items outside the popular head of the catalogue.

    The head is the smallest set of most popular items that together hold
    ``head_share`` (80%) of all training plays; every other item is in the
    long tail (Celma, 2010, "Music Recommendation and Discovery";
    Abdollahpouri et al., 2019). Each user's value is the share of their
    listed items that are in the tail.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_popularity : {array-like, sparse matrix} of shape (n_train_users, n_items), \
            or array-like of shape (n_items,)
        The training interaction matrix (popularity is then each item's
        column sum, i.e. its plays for play-count data), or any per-item
        popularity.
    head_share : float, default=0.8
        Share of the total popularity held by the head, in (0, 1].
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    per_user : bool, default=False
        Return the per-user values (NaN for empty lists).

    Returns
    -------
    share : float or ndarray of shape (n_users,)
        The mean over the users for which it is defined, or each user's value with
        ``per_user=True``.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import long_tail_share
    >>> plays = [70, 20, 5, 5]  # the head is items 0 and 1 (90% >= 80%)
    >>> long_tail_share([[0, 2], [3, 2]], plays, per_user=True)
    array([0.5, 1. ])
    """
    if not isinstance(head_share, (int, float, np.floating)) or not 0 < head_share <= 1:
        raise ValueError(f"head_share must be a float in (0, 1], got {head_share!r}.")
    ids, k = _check_recommended(y_recommended, k)
    n_needed = int(ids.max()) + 1 if ids.size and ids.max() >= 0 else 1
    pop, _ = _popularity(item_popularity, n_needed, kind="sum")
    tail = (~_head_items(pop, float(head_share))).astype(np.float64)
    return _mean_over_lists(_indicator(ids, pop.shape[0]), tail, per_user, "long_tail_share")
