"""Feature-aware matrix factorisation for cold-start items (LightFM's model)."""

import logging
import time
from typing import Self

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state

from ..base import BaseRecommender
from ..utils._features import check_item_features, tfidf_item_features
from ..utils._parallel import numba_threads
from ..utils._quantize import QuantizeMixin, as_dense, matmul_t
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions, _fit_context
from ..utils._typing import MatrixLike

__all__ = ["FeatureFactorizer"]

logger = logging.getLogger(__name__)
_MASK64 = (1 << 64) - 1


def _binary_csr(X):
    R = sp.csr_matrix(X, dtype=np.float32, copy=True)
    R.eliminate_zeros()
    R.sum_duplicates()
    R.sort_indices()
    R.data[:] = 1.0
    return R


class FeatureFactorizer(
    QuantizeMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseRecommender
):
    """Matrix factorisation whose item vectors include their features' embeddings.

    The model of LightFM (Kula, 2015): item ``i``'s vector is its own
    embedding plus the weighted sum of the embeddings of its features,
    ``q_i = e_i + sum_f a_if w_f`` with ``a_i`` the item's TF-IDF weighted,
    L2-normalised feature row (the item's bias likewise), and a user's score for
    an item is ``p_u . q_i + b_i``. Trained with a ranking loss, BPR
    (Rendle et al., 2009) or WARP (Weston et al., 2011), on the binarised
    interactions. Tags shared between items carry what is learned from the
    played ones over to the others, so an item nobody played in ``fit`` (a
    cold item: a column of ``X`` with no entries, described by its row of
    ``item_features``) gets a learned vector from its tags alone, while a
    played item keeps its own embedding on top.

    Every row of ``X`` is folded in: its user factors are fitted by BPR with
    the item vectors fixed (``max_iter`` passes over the row's items), so a
    user unseen in ``fit`` is treated like a training user; ``transform``
    returns those factors (the model is also a transformer, as the other
    factor models).

    Parameters
    ----------
    item_features : {array-like, sparse matrix} of shape (n_items, n_features), default=None
        Non-negative features of every item of ``X`` (tag counts, genre
        indicators), e.g. ``fetch_lastfm_2k().tags``; validated in ``fit``.
        ``None`` gives plain BPR/WARP matrix factorisation (no cold items).
    n_components : int, default=32
        Dimension of the embeddings.
    loss : {"bpr", "warp"}, default="bpr"
        Ranking loss. WARP samples negatives until one outranks the positive
        and weighs the step by the positive's estimated rank (up to
        ``log(n_items)``): with plain SGD it needs a smaller
        ``learning_rate`` (0.01 on Last.fm-2k, where 0.05 diverges).
    learning_rate : float, default=0.05
        SGD step size.
    regularization : float, default=1e-4
        L2 penalty applied to the parameters touched by each update.
    max_iter : int, default=30
        Training epochs (each draws ``nnz`` positive samples); also the
        passes over a row's items in fold-in.
    max_sampled : int, default=50
        Most negatives drawn for one WARP step.
    random_state : int, RandomState instance or None, default=None
        Seed of the initialisation and the sampling. One seed gives one
        model at any ``n_jobs``.
    n_jobs : int, default=None
        Threads for fold-in (training is sequential, hence reproducible).
        ``None`` means 1, ``-1`` all cores.
    verbose : int, default=0
        Log the training AUC estimate of each epoch at INFO level.

    Attributes
    ----------
    item_factors_ : ndarray of float32 of shape (n_items, n_components)
        Item vectors ``q_i`` (own embedding plus features), for every item.
    item_bias_ : ndarray of float32 of shape (n_items,)
        Item biases ``b_i``.
    item_embeddings_ : ndarray of float32 of shape (n_items, n_components)
        Own embeddings ``e_i``; zero for items with no plays in ``fit``.
    feature_embeddings_ : ndarray of float32 of shape (n_features, n_components)
        Feature embeddings ``w_f`` (``n_features = 0`` without features).
    seed_ : int
        Seed drawn from ``random_state`` (fold-in uses it too).
    n_iter_ : int
        Epochs run.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    TagRecommender : Content-based cosine ranking of tag profiles.
    HybridRecommender : Blends the scores of several recommenders.

    Notes
    -----
    Negatives are drawn from items with plays only, so cold items are never
    pushed down during training: their vector is their features' embedding.
    A row with no interactions gets the popularity ranking of ``fit``.

    Examples
    --------
    >>> from sklearn_musicrec.content import FeatureFactorizer
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> data = make_interactions(n_users=60, n_items=40, random_state=0)
    >>> model = FeatureFactorizer(item_features=data.item_tags, n_components=8,
    ...                           max_iter=5, random_state=0).fit(data.data)
    >>> model.item_factors_.shape
    (40, 8)
    >>> model.transform(data.data[:3]).shape
    (3, 8)
    """

    _parameter_constraints = {
        "item_features": ["array-like", "sparse matrix", None],
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "loss": [StrOptions({"bpr", "warp"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "regularization": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "max_sampled": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        *,
        item_features=None,
        n_components=32,
        loss="bpr",
        learning_rate=0.05,
        regularization=1e-4,
        max_iter=30,
        max_sampled=50,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.item_features = item_features
        self.n_components = n_components
        self.loss = loss
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.max_iter = max_iter
        self.max_sampled = max_sampled
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _can_score_cold_items(self):
        return self.item_features is not None

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Learn user, item and feature embeddings from ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative; binarised for training).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        from . import _feature_cpu

        X = self._validate_fit_data(X)
        n_users, n_items = X.shape
        if self.item_features is None:
            A = sp.csr_matrix((n_items, 0), dtype=np.float32)
        else:
            A = check_item_features(self.item_features, n_items, f"{type(self).__name__}.fit")
            A = sp.csr_matrix(tfidf_item_features(A)[0], dtype=np.float32)
            A.sort_indices()
        rng = check_random_state(self.random_state)
        self.seed_ = int(rng.randint(0, 2**31 - 1))
        k = int(self.n_components)
        scale = np.float32(0.1)
        P = (rng.standard_normal((n_users, k)) * scale).astype(np.float32)
        E = (rng.standard_normal((n_items, k)) * scale).astype(np.float32)
        W = (rng.standard_normal((A.shape[1], k)) * scale).astype(np.float32)
        c = np.zeros(n_items, dtype=np.float32)
        d = np.zeros(A.shape[1], dtype=np.float32)
        R = _binary_csr(X)
        rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(R.indptr))
        negatives = np.flatnonzero(self.item_counts_ > 0).astype(np.int64)
        f_indptr = A.indptr.astype(np.int64)
        f_indices = A.indices.astype(np.int64)
        f_data = A.data.astype(np.float32)
        for epoch in range(int(self.max_iter)):
            tic = time.perf_counter()
            auc = _feature_cpu.train_epoch(
                R.indptr.astype(np.int64),
                R.indices.astype(np.int64),
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
                float(self.learning_rate),
                float(self.regularization),
                self.loss == "warp",
                int(self.max_sampled),
                np.uint64((self.seed_ * 0x9E3779B97F4A7C15 + epoch) & _MASK64),
            )
            if self.verbose:
                logger.info(
                    "%s epoch %d: training AUC %.4f (%.2fs)",
                    type(self).__name__,
                    epoch + 1,
                    auc,
                    time.perf_counter() - tic,
                )
        cold = self.item_counts_ == 0
        E[cold] = 0.0
        c[cold] = 0.0
        Q = np.empty((n_items, k), dtype=np.float32)
        b = np.empty(n_items, dtype=np.float32)
        _feature_cpu.item_vectors(E, c, W, d, f_indptr, f_indices, f_data, Q, b)
        self.item_embeddings_ = E
        self.feature_embeddings_ = W
        self.item_factors_ = Q
        self.item_bias_ = b
        self.n_iter_ = int(self.max_iter)
        return self

    # compressed by quantize(); only item_factors_ is read when scoring
    _quantized_attributes = ("item_factors_", "item_embeddings_", "feature_embeddings_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.item_factors_.shape[1]

    def transform(self, X: MatrixLike) -> np.ndarray:
        """Fold each row of ``X`` in and return its user factors.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user (seen in ``fit`` or not).

        Returns
        -------
        user_factors : ndarray of float32 of shape (n_users, n_components)
            The factors ``p_u`` the fold-in gives each row (BPR on the row's
            items with the item vectors and biases fixed), so that
            ``transform(X) @ item_factors_.T + item_bias_`` is
            ``decision_function(X)`` for every non-empty row. An empty row
            gets zeros.
        """
        X = self._validate_X(X, method="transform")
        return self._fold_in(X)[0]

    def _fold_in(self, X):
        from ..utils._bpr_numba import bpr_fold_in

        R = _binary_csr(X)
        U = np.zeros((R.shape[0], self.item_factors_.shape[1]), dtype=np.float32)
        with numba_threads(self.n_jobs):
            # BPR on the composed item vectors (own + feature embeddings), one
            # uniform negative per positive
            bpr_fold_in(
                R.indptr.astype(np.int64),
                R.indices.astype(np.int64),
                self.item_factors_.shape[0],
                as_dense(self.item_factors_),  # (a temporary copy when quantised)
                self.item_bias_,
                float(self.learning_rate),
                float(self.regularization),
                int(self.max_iter),
                1,
                self.seed_,
                U,
            )
        return U, R.getnnz(axis=1) == 0

    def _decision_function(self, X):
        U, empty = self._fold_in(X)
        S = (matmul_t(U, self.item_factors_) + self.item_bias_).astype(np.float64)
        if empty.any():
            S[empty] = self.item_counts_.astype(np.float64)
        return S
