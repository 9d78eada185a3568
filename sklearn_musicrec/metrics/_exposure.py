"""Fairness of exposure among items and their providers (artists, labels).

The lists a recommender serves share out attention: an item listed at rank
``r`` receives the exposure ``1 / log2(r + 1)`` (the position discount of
DCG; Singh & Joachims, 2018) or 1 per slot without discount. These metrics
say how that exposure is divided between popularity groups, between
providers, and between the head and the long tail of providers, and how far
the lists' category mix is from the users' (Steck's miscalibration).
"""

import numpy as np
import scipy.sparse as sp

from ..utils._features import (
    binary_interactions,
    calibration_kl,
    category_distribution,
    check_item_features,
)
from ..utils._sklearn_compat import Integral, Interval, Real, validate_params
from ..utils._typing import ArrayLike, MatrixLike
from ._beyond import _head_items, _popularity, gini_index
from ._validation import _check_recommended

__all__ = [
    "exposure_share",
    "long_tail_exposure",
    "miscalibration",
    "popularity_groups",
    "provider_gini",
]

_K = [Interval(Integral, 1, None, closed="left"), None]


def _slot_exposure(ids, position_discount):
    """Exposure of each slot of ``ids`` (0 for padding)."""
    if position_discount:
        weights = 1.0 / np.log2(np.arange(2, ids.shape[1] + 2))
    else:
        weights = np.ones(ids.shape[1])
    return np.where(ids >= 0, weights[None, :], 0.0)


def _check_groups(item_groups, ids, name):
    groups = np.asarray(item_groups)
    if groups.ndim != 1 or groups.dtype.kind not in "iu":
        raise ValueError(
            f"{name} must be a 1-D array of non-negative int group ids, one per item, got "
            f"shape {groups.shape} and dtype {groups.dtype}."
        )
    if groups.size and groups.min() < 0:
        raise ValueError(f"{name} must hold non-negative group ids, got {groups.min()}.")
    if ids.size and ids.max() >= groups.shape[0]:
        raise ValueError(
            f"y_recommended holds item id {ids.max()} but {name} covers {groups.shape[0]} items."
        )
    return groups.astype(np.int64)


@validate_params(
    {
        "item_popularity": ["array-like", "sparse matrix"],
        "head_share": [Interval(Real, 0, 1, closed="right")],
    },
    prefer_skip_nested_validation=True,
)
def popularity_groups(item_popularity: MatrixLike, *, head_share: float = 0.8) -> np.ndarray:
    """Split items into the popular head (0) and the long tail (1).

    The head is the smallest set of most popular items that together hold
    ``head_share`` of the total popularity, as in
    :func:`~sklearn_musicrec.metrics.long_tail_share`.

    Parameters
    ----------
    item_popularity : {array-like, sparse matrix} of shape (n_users, n_items) \
            or array-like of shape (n_items,)
        The training interactions (popularity is the column sums) or any
        per-item popularity.
    head_share : float, default=0.8
        Share of the total popularity held by the head, in (0, 1].

    Returns
    -------
    groups : ndarray of int64 of shape (n_items,)
        0 for head items, 1 for tail items.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import popularity_groups
    >>> popularity_groups([70, 20, 5, 5])
    array([0, 0, 1, 1])
    """
    n = np.shape(item_popularity)[-1]  # columns of a matrix, length of counts
    pop, _ = _popularity(item_popularity, n, kind="sum")
    return (~_head_items(pop, float(head_share))).astype(np.int64)


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_groups": ["array-like"],
        "n_groups": [Interval(Integral, 1, None, closed="left"), None],
        "k": _K,
        "position_discount": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def exposure_share(
    y_recommended: ArrayLike,
    item_groups: ArrayLike,
    *,
    n_groups: int | None = None,
    k: int | None = None,
    position_discount: bool = True,
) -> np.ndarray:
    """Share of the total exposure received by each group of items.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_groups : array-like of int of shape (n_items,)
        Group of every item (a provider such as the artist, or a popularity
        group from :func:`popularity_groups`).
    n_groups : int, default=None
        Number of groups; ``None`` uses ``max(item_groups) + 1``.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    position_discount : bool, default=True
        Weigh the slot at rank ``r`` (1-based) by ``1 / log2(r + 1)``;
        ``False`` counts every slot once.

    Returns
    -------
    shares : ndarray of shape (n_groups,)
        Non-negative, summing to 1 (all 0 when nothing is recommended).

    Examples
    --------
    >>> from sklearn_musicrec.metrics import exposure_share
    >>> exposure_share([[0, 2], [1, 0]], [0, 0, 1], position_discount=False)
    array([0.75, 0.25])
    """
    ids, _ = _check_recommended(y_recommended, k)
    groups = _check_groups(item_groups, ids, "item_groups")
    n = int(n_groups) if n_groups is not None else int(groups.max()) + 1 if groups.size else 1
    if groups.size and groups.max() >= n:
        raise ValueError(f"item_groups holds group {groups.max()} but n_groups={n}.")
    w = _slot_exposure(ids, position_discount)
    valid = ids >= 0
    totals = np.bincount(groups[ids[valid]], weights=w[valid], minlength=n)
    total = totals.sum()
    return totals / total if total > 0 else totals


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_popularity": ["array-like", "sparse matrix"],
        "item_providers": ["array-like", None],
        "head_share": [Interval(Real, 0, 1, closed="right")],
        "k": _K,
        "position_discount": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def long_tail_exposure(
    y_recommended: ArrayLike,
    item_popularity: MatrixLike,
    *,
    item_providers: ArrayLike | None = None,
    head_share: float = 0.8,
    k: int | None = None,
    position_discount: bool = True,
) -> float:
    """Share of the exposure that goes to long-tail providers.

    Providers (artists, labels) are ranked by the total popularity of their
    items; the head is the smallest set of top providers holding
    ``head_share`` of it, and the rest is the long tail. The result is the
    tail's share of all (position-discounted) exposure in the lists: the
    provider-level counterpart of
    :func:`~sklearn_musicrec.metrics.long_tail_share`. Without
    ``item_providers`` every item is its own provider (as for Last.fm
    artists).

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_popularity : {array-like, sparse matrix} of shape (n_users, n_items) \
            or array-like of shape (n_items,)
        The training interactions (popularity: column sums) or any per-item
        popularity.
    item_providers : array-like of int of shape (n_items,), default=None
        Provider of every item; ``None``: each item is its own provider.
    head_share : float, default=0.8
        Share of the total popularity held by the head providers.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    position_discount : bool, default=True
        Weigh the slot at rank ``r`` by ``1 / log2(r + 1)``.

    Returns
    -------
    share : float
        In [0, 1].

    Examples
    --------
    >>> from sklearn_musicrec.metrics import long_tail_exposure
    >>> plays = [60, 30, 5, 5]   # artist 0 owns items 0 and 1: 90% of the plays
    >>> long_tail_exposure([[0, 2], [3, 1]], plays, item_providers=[0, 0, 1, 2],
    ...                    position_discount=False)
    0.5
    """
    ids, _ = _check_recommended(y_recommended, k)
    n_items = np.shape(item_popularity)[-1]  # columns of a matrix, length of counts
    pop, _ = _popularity(item_popularity, n_items, kind="sum")
    if item_providers is None:
        providers = np.arange(pop.shape[0])
    else:
        providers = _check_groups(item_providers, ids, "item_providers")
        if providers.shape[0] != pop.shape[0]:
            raise ValueError(
                f"item_providers has {providers.shape[0]} items but item_popularity has "
                f"{pop.shape[0]}."
            )
    provider_pop = np.bincount(providers, weights=pop)
    tail = ~_head_items(provider_pop, float(head_share))
    shares = exposure_share(
        ids, providers, n_groups=provider_pop.shape[0], position_discount=position_discount
    )
    return float(shares[tail].sum())


@validate_params(
    {
        "y_recommended": ["array-like"],
        "item_providers": ["array-like"],
        "n_providers": [Interval(Integral, 1, None, closed="left"), None],
        "k": _K,
    },
    prefer_skip_nested_validation=True,
)
def provider_gini(
    y_recommended: ArrayLike,
    item_providers: ArrayLike,
    *,
    n_providers: int | None = None,
    k: int | None = None,
) -> float:
    """Gini index of the exposure of providers (artists), not of items.

    Each listed item counts once for its provider;
    :func:`~sklearn_musicrec.metrics.gini_index` of the provider ids.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    item_providers : array-like of int of shape (n_items,)
        Provider of every item.
    n_providers : int, default=None
        Number of providers; ``None`` uses ``max(item_providers) + 1``.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.

    Returns
    -------
    gini : float
        0 when every provider gets the same exposure; towards 1 when a few get it all.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import provider_gini
    >>> provider_gini([[0, 1], [2, 3]], [0, 0, 1, 1])
    0.0
    """
    ids, _ = _check_recommended(y_recommended, k)
    providers = _check_groups(item_providers, ids, "item_providers")
    n = int(n_providers) if n_providers is not None else int(providers.max()) + 1
    mapped = np.where(ids >= 0, providers[np.maximum(ids, 0)], -1)
    # one count per (list, provider): a provider listed twice in a list counts once
    return gini_index(mapped, n_items=n)


@validate_params(
    {
        "y_recommended": ["array-like"],
        "X": ["array-like", "sparse matrix"],
        "item_categories": ["array-like", "sparse matrix"],
        "alpha": [Interval(Real, 0, 1, closed="both")],
        "k": _K,
        "per_user": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def miscalibration(
    y_recommended: ArrayLike,
    X: MatrixLike,
    item_categories: MatrixLike,
    *,
    alpha: float = 0.01,
    k: int | None = None,
    per_user: bool = False,
) -> float | np.ndarray:
    """Compute Steck's (RecSys 2018) miscalibration, ``KL(p_u || q~_u)`` of each list.

    ``p_u(g)`` is the category mix of user ``u``'s history (the mean of
    ``p(g | i)`` over the items of the row of ``X``, each item's categories
    scaled to sum to 1), ``q_u(g)`` that of the recommended list, and
    ``q~ = (1 - alpha) q + alpha p``. 0 means the list has the user's genre
    proportions exactly.

    Parameters
    ----------
    y_recommended : array-like of int of shape (n_users, n_recommended)
        Recommended item ids, best first, ``-1`` for padding.
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        The users' histories (non-zero entries are the items).
    item_categories : {array-like, sparse matrix} of shape (n_items, n_categories)
        Genre indicators or tag counts of every item.
    alpha : float, default=0.01
        Share of ``p`` mixed into ``q``.
    k : int, default=None
        Use the first ``k`` ids of each list; ``None`` uses all.
    per_user : bool, default=False
        Return the per-user values (NaN for users with an empty history or
        list).

    Returns
    -------
    kl : float or ndarray of shape (n_users,)
        The mean over users with a history and a list.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import miscalibration
    >>> genres = np.array([[1, 0], [0, 1], [1, 0]])
    >>> history = np.array([[1, 1, 0]])            # half genre 0, half genre 1
    >>> float(miscalibration([[0, 1]], history, genres, alpha=0.0))
    0.0
    >>> round(float(miscalibration([[0, 2]], history, genres, alpha=0.01)), 4)
    1.9585
    """
    ids, _ = _check_recommended(y_recommended, k)
    H = binary_interactions(X)
    if H.shape[0] != ids.shape[0]:
        raise ValueError(
            f"X has {H.shape[0]} rows but y_recommended has {ids.shape[0]} lists: X must "
            "hold the history of each user of y_recommended."
        )
    C = category_distribution(
        check_item_features(item_categories, H.shape[1], "miscalibration", name="item_categories")
    )
    if ids.size and ids.max() >= H.shape[1]:
        raise ValueError(f"y_recommended holds item id {ids.max()} but X has {H.shape[1]} items.")
    lengths = np.asarray(H.sum(axis=1)).ravel()
    p = np.asarray((H @ C).todense()) / np.maximum(lengths, 1)[:, None]
    valid = ids >= 0
    R = sp.csr_matrix(
        (np.ones(valid.sum()), (np.nonzero(valid)[0], ids[valid])), shape=(ids.shape[0], H.shape[1])
    )
    n_listed = valid.sum(axis=1)
    q = np.asarray((R @ C).todense()) / np.maximum(n_listed, 1)[:, None]
    kl = calibration_kl(p, q, float(alpha))
    defined = (lengths > 0) & (n_listed > 0)
    values = np.where(defined, kl, np.nan)
    if per_user:
        return values
    return float(np.nanmean(values)) if defined.any() else float("nan")
