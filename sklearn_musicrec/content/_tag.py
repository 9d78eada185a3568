"""Content-based recommendation from item features (tags, genres)."""

from typing import Self

import numpy as np
import scipy.sparse as sp

from ..base import BaseRecommender
from ..utils._features import binary_interactions, check_item_features, tfidf_item_features
from ..utils._sklearn_compat import StrOptions, _fit_context
from ..utils._typing import MatrixLike

__all__ = ["TagRecommender"]


def history_weights(X, weighting):
    """A user's weight on each item of the history: raw, binary or ``log(1 + x)``."""
    W = sp.csr_matrix(X, dtype=np.float64, copy=True)
    W.sum_duplicates()
    if weighting == "binary":
        W.data = (W.data != 0).astype(np.float64)
    elif weighting == "log":
        W.data = np.log1p(W.data)
    W.eliminate_zeros()
    return W


class TagRecommender(BaseRecommender):
    """Content-based recommender: cosine between a TF-IDF tag profile and each item.

    Every item is a TF-IDF weighted, L2-normalised vector of its features
    ``v_i`` (e.g. the Last.fm tags of an artist). A user's profile is the
    weighted sum of the vectors of the items in the row,
    ``p_u = sum_i w(x_ui) v_i``, and an item's score is the cosine
    ``cos(p_u, v_i)``. An item needs features, not plays, to be scored, so
    items nobody played in ``fit`` (cold items: columns of ``X`` with no
    entries, described by their rows of ``item_features``) are ranked like
    any other. Every row of ``X`` is its own profile, so users unseen in
    ``fit`` are folded in for free.

    Parameters
    ----------
    item_features : {array-like, sparse matrix} of shape (n_items, n_features), default=None
        Non-negative features of every item of ``X`` (tag counts, genre
        indicators), e.g. ``fetch_lastfm_2k().tags``. Validated in ``fit``.
        ``None`` describes each item by its listeners in ``fit`` (the
        columns of ``X``), which makes this a collaborative item-profile
        model that cannot score cold items.
    sublinear_tf : bool, default=True
        Use ``1 + log(count)`` instead of raw feature counts.
    history_weighting : {"log", "binary", "raw"}, default="log"
        Weight of an item in the profile: ``log(1 + plays)`` (play counts
        are heavy-tailed), 1, or the raw value.

    Attributes
    ----------
    item_vectors_ : csr_matrix of shape (n_items, n_features)
        TF-IDF weighted, L2-normalised item vectors.
    idf_ : ndarray of shape (n_features,)
        Inverse document frequency of each feature.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    FeatureFactorizer : Learns item vectors from plays and features.
    HybridRecommender : Blends content and collaborative recommenders.

    Notes
    -----
    A row with no interactions has no profile; it gets the popularity
    ranking of ``fit`` (as every recommender of the package does).

    Examples
    --------
    >>> from sklearn_musicrec.content import TagRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> data = make_interactions(n_users=50, n_items=30, random_state=0)
    >>> model = TagRecommender(item_features=data.item_tags).fit(data.data)
    >>> ids, scores = model.recommend(data.data[:2], k=3)
    >>> ids.shape
    (2, 3)
    """

    _parameter_constraints = {
        "item_features": ["array-like", "sparse matrix", None],
        "sublinear_tf": ["boolean"],
        "history_weighting": [StrOptions({"log", "binary", "raw"})],
    }

    def __init__(self, *, item_features=None, sublinear_tf=True, history_weighting="log"):
        self.item_features = item_features
        self.sublinear_tf = sublinear_tf
        self.history_weighting = history_weighting

    def _can_score_cold_items(self):
        return self.item_features is not None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Weight the item features.

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
        if self.item_features is None:
            F = sp.csr_matrix(binary_interactions(X).T)
        else:
            F = check_item_features(self.item_features, X.shape[1], f"{type(self).__name__}.fit")
        self.item_vectors_, self.idf_ = tfidf_item_features(F, sublinear_tf=self.sublinear_tf)
        return self

    def _decision_function(self, X):
        W = history_weights(X, self.history_weighting)
        P = sp.csr_matrix(W @ self.item_vectors_)
        norms = np.sqrt(np.asarray(P.multiply(P).sum(axis=1)).ravel())
        scale = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
        S = np.asarray((sp.diags(scale) @ P @ self.item_vectors_.T).todense())
        empty = W.getnnz(axis=1) == 0
        if empty.any():
            S[empty] = self.item_counts_.astype(np.float64)
        return S
