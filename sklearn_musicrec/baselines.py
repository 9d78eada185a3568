"""Non-personalised baselines: popularity and random recommendations."""

from typing import Self

import numpy as np
from sklearn.utils import check_random_state

from .base import BaseRecommender
from .utils._hashing import row_set_hashes, splitmix64
from .utils._sklearn_compat import StrOptions, _fit_context
from .utils._typing import MatrixLike

__all__ = ["PopularityRecommender", "RandomRecommender"]


class PopularityRecommender(BaseRecommender):
    """Recommend the most popular items not yet in the user's history.

    The classic non-personalised baseline: every user gets the same ranking,
    by number of listeners or by total plays in the training matrix.

    Parameters
    ----------
    criterion : {"listeners", "plays"}, default="listeners"
        ``"listeners"`` ranks items by the number of users with a non-zero
        entry (robust to a few heavy listeners); ``"plays"`` by the column
        sums of ``X`` (total play counts or weights).

    Attributes
    ----------
    item_popularity_ : ndarray of shape (n_items,)
        Popularity of each item under ``criterion``; the score of every user.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    RandomRecommender : Uniformly random recommendations.

    Examples
    --------
    >>> from sklearn_musicrec import PopularityRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> X = make_interactions(n_users=50, n_items=30, random_state=0).data
    >>> model = PopularityRecommender().fit(X)
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    """

    _parameter_constraints = {"criterion": [StrOptions({"listeners", "plays"})]}

    def __init__(self, *, criterion="listeners"):
        self.criterion = criterion

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Count item popularity in ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        X = self._validate_fit_data(X)
        if self.criterion == "listeners":
            self.item_popularity_ = self.item_counts_.astype(np.float64)
        else:
            self.item_popularity_ = np.asarray(X.sum(axis=0), dtype=np.float64).ravel()
        return self

    def _decision_function(self, X):
        return np.tile(self.item_popularity_, (X.shape[0], 1))


class RandomRecommender(BaseRecommender):
    """Recommend items in a random order, different for every history.

    Each user's random ranking is a deterministic function of
    ``random_state`` and of the set of items in the user's row, so it does not
    depend on the other rows or their order (``recommend`` on a batch equals
    ``recommend`` row by row), and the same ``random_state`` gives the same
    recommendations.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seed of the random rankings. Pass an int for reproducible output.

    Attributes
    ----------
    seed_ : int
        The 64-bit seed drawn from ``random_state`` in ``fit``.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    PopularityRecommender : The most popular items first.

    Examples
    --------
    >>> from sklearn_musicrec import RandomRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> X = make_interactions(n_users=50, n_items=30, random_state=0).data
    >>> model = RandomRecommender(random_state=0).fit(X)
    >>> ids, _ = model.recommend(X[:1], k=5)
    >>> bool((ids == model.recommend(X[:1], k=5)[0]).all())
    True
    """

    _parameter_constraints = {"random_state": ["random_state"]}

    def __init__(self, *, random_state=None):
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Draw the seed of the random rankings.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (only their shape is used).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        self._validate_fit_data(X)
        rng = check_random_state(self.random_state)
        self.seed_ = int(rng.randint(0, 2**32, dtype=np.uint64)) << 32 | int(
            rng.randint(0, 2**32, dtype=np.uint64)
        )
        return self

    def _decision_function(self, X):
        X = X.copy()  # never touch the caller's matrix
        X.sum_duplicates()
        X.eliminate_zeros()
        rows, _ = row_set_hashes(X.indptr, X.indices, self.seed_)
        cols = splitmix64(np.arange(X.shape[1], dtype=np.uint64))
        mixed = splitmix64(rows[:, None] ^ cols[None, :])
        # the top 53 bits give a uniform float in [0, 1)
        return (mixed >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)
