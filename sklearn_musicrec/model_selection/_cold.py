"""Cold-start protocols: new listeners with a handful of plays, warm + cold mixes."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state

from ..utils._sklearn_compat import Integral, Interval, Real, validate_params
from ..utils._typing import MatrixLike

__all__ = ["cold_user_split", "warm_cold_split"]

_INT = (int, np.integer)


def _canonical(X):
    Xc = sp.csr_matrix(X, copy=True)
    Xc.sum_duplicates()
    Xc.eliminate_zeros()
    Xc.sort_indices()
    if Xc.nnz and (not np.all(np.isfinite(Xc.data)) or Xc.data.min() < 0):
        raise ValueError("X must be a finite, non-negative user x item interaction matrix.")
    return Xc


def _by_entry_mask(Xc, mask):
    out = []
    for keep in (mask, ~mask):
        M = Xc.copy()
        M.data = np.where(keep, M.data, 0)
        M.eliminate_zeros()
        out.append(M)
    return out


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "test_size": [
            Interval(Real, 0, 1, closed="neither"),
            Interval(Integral, 1, None, closed="left"),
        ],
        "n_known": [Interval(Integral, 1, None, closed="left"), tuple],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def cold_user_split(
    X: MatrixLike,
    test_size: float | int = 0.2,
    *,
    n_known: int | tuple[int, int] = (1, 3),
    random_state: "int | np.random.RandomState | None" = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Hold out whole users, revealing only 1-3 of their interactions.

    In the spirit of skrecsys's ``ColdStartSplit``: a random ``test_size``
    share of the users (or that many users, as an int) becomes "cold":
    their rows are removed from training, a few of their interactions are
    revealed as the fold-in history (``n_known``, drawn uniformly per user
    between the bounds) and the rest is the truth to recommend. Only users
    with more than ``max(n_known)`` interactions can be cold.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions.
    test_size : float or int, default=0.2
        Share of the eligible users to make cold, in (0, 1), or their number.
    n_known : int or tuple of (int, int), default=(1, 3)
        Number of revealed interactions per cold user, or its bounds
        (inclusive).
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of users and of their revealed interactions.

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        The warm users' rows; cold users' rows are empty.
    X_known : csr_matrix of shape (n_users, n_items)
        The revealed interactions of the cold users (other rows empty): the
        history to fold in.
    X_test : csr_matrix of shape (n_users, n_items)
        The other interactions of the cold users.
    cold_users : ndarray of int64
        Row ids of the cold users, sorted.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.model_selection import cold_user_split
    >>> X = make_interactions(n_users=100, n_items=50, random_state=0).data
    >>> X_train, X_known, X_test, users = cold_user_split(X, 0.2, random_state=0)
    >>> int(X_train[users].nnz), bool((X_known[users].getnnz(axis=1) <= 3).all())
    (0, True)
    """
    lo, hi = (n_known, n_known) if isinstance(n_known, _INT) else tuple(n_known)
    if not (isinstance(lo, _INT) and isinstance(hi, _INT) and 1 <= lo <= hi):
        raise ValueError(
            "n_known must be an int >= 1 or a pair (low, high) with 1 <= low <= high, "
            f"got {n_known!r}."
        )
    Xc = _canonical(X)
    lengths = np.diff(Xc.indptr)
    eligible = np.flatnonzero(lengths > hi)
    if eligible.size < 1:
        raise ValueError(
            f"cold_user_split needs users with more than {hi} interactions; X has none."
        )
    if isinstance(test_size, _INT):
        if test_size > eligible.size:
            raise ValueError(
                f"test_size={test_size} users requested but only {eligible.size} users have more "
                f"than {hi} interactions."
            )
        n_cold = int(test_size)
    else:
        n_cold = min(max(int(round(test_size * eligible.size)), 1), eligible.size)
    rng = check_random_state(random_state)
    cold = np.sort(rng.choice(eligible, size=n_cold, replace=False))
    is_cold = np.zeros(Xc.shape[0], dtype=bool)
    is_cold[cold] = True
    rows = np.repeat(np.arange(Xc.shape[0]), lengths)
    keys = rng.random_sample(Xc.nnz)
    # rank of each entry within its row under the random keys
    order = np.lexsort((keys, rows))
    rank = np.empty(Xc.nnz, dtype=np.int64)
    rank[order] = np.arange(Xc.nnz) - np.repeat(Xc.indptr[:-1], lengths)
    known_n = np.zeros(Xc.shape[0], dtype=np.int64)
    known_n[cold] = rng.randint(lo, hi + 1, size=cold.size)
    train_mask = ~is_cold[rows]
    known_mask = is_cold[rows] & (rank < known_n[rows])
    X_train, _ = _by_entry_mask(Xc, train_mask)
    X_known, _ = _by_entry_mask(Xc, known_mask)
    X_test, _ = _by_entry_mask(Xc, is_cold[rows] & ~known_mask)
    return X_train, X_known, X_test, cold


@validate_params(
    {
        "X": ["array-like", "sparse matrix"],
        "cold_items": [Interval(Real, 0, 1, closed="neither")],
        "test_size": [Interval(Real, 0, 1, closed="neither")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def warm_cold_split(
    X: MatrixLike,
    cold_items: float | int = 0.2,
    test_size: float | int = 0.2,
    *,
    random_state: "int | np.random.RandomState | None" = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """A test set that mixes cold items with held-out plays of warm items.

    A ``cold_items`` share of the items with interactions loses all of them
    to the test matrix (no model sees them in ``fit``); of every user's
    remaining (warm) interactions a random ``test_size`` share is held out
    too. Ranking the whole catalogue against ``X_test`` then measures a
    model on a catalogue where new and known artists compete, as in a
    service that adds releases every day. Restricting the candidates to
    ``cold`` (``recommend(..., items=cold)``) gives the cold-item protocol,
    and to the others the warm one.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Non-negative interactions.
    cold_items : float, default=0.2
        Share of the items with interactions to make cold.
    test_size : float, default=0.2
        Share of each user's warm interactions to hold out.
    random_state : int, RandomState instance or None, default=None
        Seed of the choice of cold items and of the held-out warm
        interactions. Pass an int for reproducible output across calls.

    Returns
    -------
    X_train : csr_matrix of shape (n_users, n_items)
        The warm items' interactions kept for training.
    X_test : csr_matrix of shape (n_users, n_items)
        Cold items' interactions and the held-out warm ones.
    cold : ndarray of int64
        Ids of the cold items, sorted.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.model_selection import warm_cold_split
    >>> X = make_interactions(n_users=100, n_items=50, random_state=0).data
    >>> X_train, X_test, cold = warm_cold_split(X, random_state=0)
    >>> int(X_train[:, cold].nnz)
    0
    """
    Xc = _canonical(X)
    rng = check_random_state(random_state)
    active = np.flatnonzero(Xc.getnnz(axis=0))
    if active.size < 2:
        raise ValueError("warm_cold_split needs at least 2 items with interactions.")
    n_cold = min(max(int(round(cold_items * active.size)), 1), active.size - 1)
    cold = np.sort(rng.choice(active, size=n_cold, replace=False))
    is_cold = np.zeros(Xc.shape[1], dtype=bool)
    is_cold[cold] = True
    held = rng.random_sample(Xc.nnz) < test_size
    test_mask = is_cold[Xc.indices] | held
    X_test, X_train = _by_entry_mask(Xc, test_mask)
    return X_train, X_test, cold
