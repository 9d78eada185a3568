"""Train/test splitters for user x item interaction matrices.

Every splitter returns ``(X_train, X_test)``: two CSR matrices of the
input's shape whose stored entries partition the interactions (the non-zero
entries) of ``X``, values kept. Rows stay the same users, so
``estimator.fit(X_train)`` then ``recommend(X_train)`` scored against
``X_test`` is a per-user ("weak generalisation") evaluation.

The random splitters draw a random key for each interaction from a hash of
``(random_state, the row's set of items, the item)``: the split of a row
depends on its contents and the seed, never on its position in ``X`` or on
the other rows, so the same user is split the same way in every fold and
every row order.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ..utils._deprecation import DEPRECATED, deprecated_rename
from ..utils._protocol import (
    holdout_mask,
    interaction_keys,
    n_test_per_row,
    rank_within_rows,
    resolve_seed,
    split_by_mask,
)
from ..utils._sklearn_compat import Hidden, Integral, Interval, Real, StrOptions, validate_params
from ..utils._sparse import row_ids
from ..utils._typing import MatrixLike
from ..utils.validation import check_interactions, check_numeric_matrix

__all__ = [
    "cold_item_split",
    "holdout_split",
    "leave_k_out_split",
    "temporal_split",
]

_X = ["array-like", "sparse matrix"]
_TEST_SIZE = [
    Interval(Real, 0, 1, closed="neither"),
    Interval(Integral, 1, None, closed="left"),
]


def _as_interactions(X, function):
    """Canonical CSR copy of ``X`` (sorted indices, no duplicates, no zeros), validated."""
    return check_interactions(None, X, dtype="numeric", method=function, canonical=True)


def _warn_short(n_per_row, n_test, required, what):
    short = int(np.count_nonzero((n_per_row > 0) & (n_test == 0)))
    if short:
        warnings.warn(
            f"{short} of {n_per_row.shape[0]} users have fewer than {required} "
            f"interactions, too few to {what}: they are kept whole in X_train "
            "and have empty rows in X_test.",
            UserWarning,
            stacklevel=4,  # splitter, validate_params wrapper, caller
        )


@validate_params(
    {"X": _X, "test_size": _TEST_SIZE, "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def holdout_split(
    X: MatrixLike,
    test_size: float | int = 0.2,
    *,
    random_state: "int | np.random.RandomState | None" = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out a random share of each user's interactions.

    For every user (row) with at least 2 interactions,
    ``ceil(test_size * n_u)`` interactions, at least 1 and at most
    ``n_u - 1``, move to ``X_test``, so every such user keeps a history and
    has something to predict. Users with fewer than 2 interactions are kept
    whole in ``X_train`` with an empty ``X_test`` row, and a ``UserWarning``
    says how many there are.

    Which interactions are hidden is random but determined by
    ``random_state`` and the row's set of items only: not by the row's
    position in ``X`` nor by the values, so a user is split identically in
    any fold, row order or weighting of ``X``.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions; non-zero entries are the interactions.
    test_size : float or int, default=0.2
        Share of each user's interactions to hold out, in (0, 1); or, as an
        int, the number to hold out per user (see :func:`leave_k_out_split`).
    random_state : int, RandomState instance or None, default=None
        Seed of the split. ``None`` draws a fresh seed.

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        The interactions kept for training.
    X_test : csr_matrix of shape (n_users, n_items)
        Together they hold exactly the interactions of ``X``, with their values.

    See Also
    --------
    leave_k_out_split : A fixed number of held-out interactions per user.
    temporal_split : Hold out each user's latest interactions.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.model_selection import holdout_split
    >>> X = make_interactions(n_users=50, n_items=40, random_state=0).data
    >>> X_train, X_test = holdout_split(X, test_size=0.2, random_state=0)
    >>> X_train.shape == X_test.shape == X.shape
    True
    >>> X_train.nnz + X_test.nnz == X.nnz
    True
    """
    Xc = _as_interactions(X, "holdout_split")
    mask, n_per_row, n_test = holdout_mask(Xc, test_size, resolve_seed(random_state))
    _warn_short(n_per_row, n_test, 2, "hold any out")
    return split_by_mask(Xc, mask)


@validate_params(
    {
        "X": _X,
        "n_test": [Interval(Integral, 1, None, closed="left")],
        "k": [Interval(Integral, 1, None, closed="left"), Hidden(StrOptions({"deprecated"}))],
        "random_state": ["random_state"],
        "return_ids": ["boolean"],
    },
    prefer_skip_nested_validation=True,
)
def leave_k_out_split(
    X: MatrixLike,
    n_test: int = 1,
    *,
    random_state: "int | np.random.RandomState | None" = None,
    return_ids: bool = False,
    k: "int | str" = DEPRECATED,
) -> tuple[sp.csr_matrix, sp.csr_matrix] | tuple[sp.csr_matrix, np.ndarray]:
    """Hold out ``n_test`` random interactions of each user.

    Every user with more than ``n_test`` interactions has exactly ``n_test``
    of them, chosen at random, moved to ``X_test`` (so at least one stays in
    the history). Users with ``n_test`` or fewer interactions are kept whole
    in ``X_train`` with an empty test row (a ``UserWarning`` says how many).
    As in :func:`holdout_split` the choice depends only on ``random_state``
    and the row's set of items.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions; non-zero entries are the interactions.
    n_test : int, default=1
        Interactions to hold out per user.
    random_state : int, RandomState instance or None, default=None
        Seed of the split. ``None`` draws a fresh seed.
    return_ids : bool, default=False
        Only with ``n_test=1``: return the held-out item of each user as a
        1-D array of ids (``-1`` for users with nothing held out) instead of
        a matrix; this is the 1-D ``y`` accepted by the metrics and
        ``score``.
    k : int
        Deprecated alias of ``n_test`` (renamed in 0.1, removed in 0.3:
        ``k`` is the length of a recommendation list everywhere else).

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        The interactions kept for training.
    X_test : csr_matrix of shape (n_users, n_items), or ndarray of int64 \
            of shape (n_users,) if ``return_ids``
        The held-out interactions, or with ``return_ids`` the held-out item id of each user.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.model_selection import leave_k_out_split
    >>> X = np.array([[1, 2, 0, 4], [0, 3, 1, 0]])
    >>> X_train, held_out = leave_k_out_split(X, n_test=1, random_state=0, return_ids=True)
    >>> held_out.shape
    (2,)
    >>> bool(np.all(X[np.arange(2), held_out] > 0))
    True
    >>> X_train.nnz
    3
    """
    # (k is the recommendation-list length everywhere else in the package)
    n_test = deprecated_rename("k", k, "n_test", n_test, 1, whom="leave_k_out_split", stacklevel=3)
    if return_ids and n_test != 1:
        raise ValueError(
            "return_ids=True returns one held-out item per user, so it needs "
            f"n_test=1; got n_test={n_test}."
        )
    Xc = _as_interactions(X, "leave_k_out_split")
    n_per_row = np.diff(Xc.indptr).astype(np.int64)
    n_hidden = np.where(n_per_row > n_test, int(n_test), 0)
    rank = rank_within_rows(Xc, interaction_keys(Xc, resolve_seed(random_state)))
    mask = rank < n_hidden[row_ids(Xc.indptr)]
    _warn_short(n_per_row, n_hidden, n_test + 1, f"hold out {n_test} and keep a history")
    X_train, X_test = split_by_mask(Xc, mask)
    if return_ids:
        ids = np.full(Xc.shape[0], -1, dtype=np.int64)
        ids[row_ids(X_test.indptr)] = X_test.indices
        return X_train, ids
    return X_train, X_test


@validate_params(
    {"X": _X, "timestamps": _X, "test_size": _TEST_SIZE},
    prefer_skip_nested_validation=True,
)
def temporal_split(
    X: MatrixLike, timestamps: MatrixLike, *, test_size: float | int = 0.2
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Hold out each user's latest interactions.

    For every user with at least 2 interactions, the ``ceil(test_size *
    n_u)`` most recent ones (at least 1, at most ``n_u - 1``; or
    ``test_size`` of them when it is an int) move to ``X_test``. Equal
    timestamps are ordered by item id (a higher id counts as later), so the
    split is deterministic. Users with fewer than 2 interactions are kept
    whole in ``X_train`` (a ``UserWarning`` says how many).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions; non-zero entries are the interactions.
    timestamps : {array-like, sparse matrix} of shape (n_users, n_items)
        Time of each interaction, with ``X``'s sparsity pattern (every
        interaction of ``X`` must have a stored timestamp; other entries are
        ignored). Any numeric scale (e.g. Unix seconds).
    test_size : float or int, default=0.2
        Share of each user's interactions to hold out, in (0, 1), or the
        number to hold out per user.

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        Each user's earlier interactions.
    X_test : csr_matrix of shape (n_users, n_items)
        Each user's latest interactions.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.model_selection import temporal_split
    >>> X = np.array([[3, 1, 2, 0]])
    >>> t = np.array([[10, 30, 20, 0]])
    >>> X_train, X_test = temporal_split(X, t, test_size=1)
    >>> X_test.toarray()
    array([[0, 1, 0, 0]])
    """
    Xc = _as_interactions(X, "temporal_split")
    arr = check_numeric_matrix(
        timestamps, "timestamps", "(n_users, n_items) with X's sparsity pattern", kinds="iuf"
    )
    if sp.issparse(arr):
        T = sp.csr_matrix(arr, copy=True)
    else:
        if arr.shape != Xc.shape:
            raise ValueError(f"timestamps must have X's shape {Xc.shape}, got {arr.shape}.")
        # Dense timestamps hold a time for every entry, zeros included.
        times = arr[row_ids(Xc.indptr), Xc.indices]
        T = sp.csr_matrix((times, Xc.indices.copy(), Xc.indptr.copy()), shape=Xc.shape)
    if T.shape != Xc.shape:
        raise ValueError(f"timestamps must have X's shape {Xc.shape}, got {T.shape}.")
    T.sum_duplicates()
    if T.data.size and not np.all(np.isfinite(T.data)):
        raise ValueError("timestamps contains NaN or infinity.")
    # Timestamp of every interaction of X, found by row-major key lookup.
    n_cols = max(Xc.shape[1], 1)
    t_keys = row_ids(T.indptr) * n_cols + T.indices.astype(np.int64)
    x_keys = row_ids(Xc.indptr) * n_cols + Xc.indices.astype(np.int64)
    pos = np.searchsorted(t_keys, x_keys)
    pos_c = np.minimum(pos, max(t_keys.shape[0] - 1, 0))
    if x_keys.size and (t_keys.size == 0 or np.any(t_keys[pos_c] != x_keys)):
        missing = (
            x_keys.size if t_keys.size == 0 else int(np.count_nonzero(t_keys[pos_c] != x_keys))
        )
        raise ValueError(
            f"timestamps must store a time for every interaction of X; "
            f"{missing} interactions of X have no stored timestamp."
        )
    times = T.data[pos_c].astype(np.float64)
    n_per_row = np.diff(Xc.indptr).astype(np.int64)
    n_test = n_test_per_row(n_per_row, test_size)
    rows = row_ids(Xc.indptr)
    # Latest first: sort by (row, -time, -item).
    order = np.lexsort((-Xc.indices.astype(np.int64), -times, rows))
    rank = np.empty(rows.shape[0], dtype=np.int64)
    rank[order] = np.arange(rows.shape[0], dtype=np.int64) - Xc.indptr[rows[order]]
    mask = rank < n_test[rows]
    _warn_short(n_per_row, n_test, 2, "hold any out")
    return split_by_mask(Xc, mask)


@validate_params(
    {"X": _X, "test_size": _TEST_SIZE, "random_state": ["random_state"]},
    prefer_skip_nested_validation=True,
)
def cold_item_split(
    X: MatrixLike,
    test_size: float | int = 0.2,
    *,
    random_state: "int | np.random.RandomState | None" = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Move whole items to the test matrix, for new-item ("cold start") evaluation.

    A random ``test_size`` share of the items that have at least one
    interaction (or ``test_size`` items, as an int) is chosen; all their
    interactions go to ``X_test`` and none stays in ``X_train``, so a model
    fitted on ``X_train`` has never seen them (content or hybrid models can
    still rank them from item features). At least one item stays in
    training. Users whose every interaction is with a test item have an
    empty ``X_train`` row (a ``UserWarning`` says how many).

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions; non-zero entries are the interactions.
    test_size : float or int, default=0.2
        Share of the interacted items to move to the test matrix, in (0, 1),
        or their number.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of items.

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        The interactions with the items kept in training.
    X_test : csr_matrix of shape (n_users, n_items)
        The test items are the columns of ``X_test`` with stored entries.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.model_selection import cold_item_split
    >>> X = make_interactions(n_users=50, n_items=40, random_state=0).data
    >>> X_train, X_test = cold_item_split(X, test_size=0.25, random_state=0)
    >>> train_items = np.flatnonzero(X_train.getnnz(axis=0))
    >>> test_items = np.flatnonzero(X_test.getnnz(axis=0))
    >>> len(np.intersect1d(train_items, test_items))
    0
    """
    Xc = _as_interactions(X, "cold_item_split")
    active = np.flatnonzero(Xc.getnnz(axis=0))
    n_active = active.shape[0]
    if isinstance(test_size, (bool, np.bool_)) or not isinstance(test_size, numbers.Real):
        raise TypeError(f"test_size must be a float in (0, 1) or an int >= 1, got {test_size!r}.")
    if isinstance(test_size, numbers.Integral):
        if not 1 <= test_size < n_active:
            raise ValueError(
                f"test_size, given as an int, must be in [1, {n_active - 1}] "
                f"(X has {n_active} items with interactions), got {test_size}."
            )
        n_test = int(test_size)
    else:
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size, given as a float, must be in (0, 1), got {test_size!r}.")
        n_test = int(np.ceil(np.round(test_size * n_active, 9)))
        n_test = min(max(n_test, 1), n_active - 1)
    if n_active < 2 or n_test < 1:
        raise ValueError(
            f"cold_item_split needs at least 2 items with interactions, X has {n_active}."
        )
    rng = check_random_state(random_state)
    test_items = rng.choice(active, size=n_test, replace=False)
    is_test_item = np.zeros(Xc.shape[1], dtype=bool)
    is_test_item[test_items] = True
    X_train, X_test = split_by_mask(Xc, is_test_item[Xc.indices])
    empty = int(np.count_nonzero((np.diff(Xc.indptr) > 0) & (np.diff(X_train.indptr) == 0)))
    if empty:
        warnings.warn(
            f"{empty} of {Xc.shape[0]} users interacted only with test items: "
            "their X_train rows are empty.",
            UserWarning,
            stacklevel=3,  # past the validate_params wrapper
        )
    return X_train, X_test
