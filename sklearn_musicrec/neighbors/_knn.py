"""User-based and item-based k-nearest-neighbour recommenders."""

from typing import Self

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from ..base import BaseRecommender
from ..utils._cache import fitted_cache
from ..utils._parallel import map_in_threads, numba_threads, resolve_n_jobs
from ..utils._ratings import RatingPredictorMixin
from ..utils._sklearn_compat import (
    Integral,
    Interval,
    Real,
    StrOptions,
    _fit_context,
)
from ..utils._sparse import clean_csr_copy, nonzero_pattern
from ..utils._topk import row_batches, sparse_topk_lists, topk_from_sparse_scores
from ..utils._typing import ArrayLike, IdsAndScores, MatrixLike
from ..utils._weighting import weighting_constraints
from ..utils.validation import check_item_ids, check_k
from ._similarity import (
    SIMILARITIES,
    as_int64_csr_arrays,
    numba_kernels,
    plan_products,
    prepare_vectors,
    row_means,
    similarity_topk,
)

__all__ = ["UserKNNRecommender", "ItemKNNRecommender"]

_DTYPE = np.float32


def _as_float32_csr(X):
    """A float32 CSR copy of validated ``X`` without explicit zeros."""
    return clean_csr_copy(X, _DTYPE)


def _indicator(X):
    """Binary matrix with the sparsity pattern of CSR ``X``."""
    return sp.csr_matrix((np.ones(X.nnz, dtype=_DTYPE), X.indices, X.indptr), shape=X.shape)


def _centered(X, means_of_entry):
    """``X`` with ``means_of_entry`` subtracted from its stored entries.

    Entries whose centred value is exactly zero stay stored (as explicit
    zeros), so the pattern of ``X`` is kept.
    """
    Xc = X.copy()
    Xc.data = (Xc.data - means_of_entry).astype(_DTYPE)
    return Xc


# stored entries gathered per batch of pairs by _pair_products
_PAIR_BATCH_ENTRIES = 1 << 22


def _pair_products(left, right_t, rows, cols, abs_left=None, right_t_indicator=None):
    """``(left @ right_t.T)[rows, cols]`` for every pair, without the full product.

    ``left`` (n_rows, n) and ``right_t`` (n_cols, n) are CSR; each pair is the
    dot product of one row of each, gathered in batches of bounded size. With
    ``abs_left`` and ``right_t_indicator`` the second product
    ``(abs_left @ right_t_indicator.T)[rows, cols]`` is returned too (the
    denominators of the mean-centred aggregation).
    """
    num = np.zeros(rows.size, dtype=np.float64)
    den = None if abs_left is None else np.zeros(rows.size, dtype=np.float64)
    cost = np.diff(left.indptr)[rows] + np.diff(right_t.indptr)[cols] + 1
    ends = np.searchsorted(
        np.cumsum(cost), np.arange(1, 1 + cost.sum() // _PAIR_BATCH_ENTRIES) * _PAIR_BATCH_ENTRIES
    )
    bounds = np.unique(np.r_[0, ends, rows.size])
    for start, stop in zip(bounds[:-1], bounds[1:]):
        r, c = rows[start:stop], cols[start:stop]
        num[start:stop] = np.asarray(left[r].multiply(right_t[c]).sum(axis=1)).ravel()
        if den is not None:
            den[start:stop] = np.asarray(
                abs_left[r].multiply(right_t_indicator[c]).sum(axis=1)
            ).ravel()
    return num, den


def _mean_plus_ratio(means, num, den):
    """``means + num / den`` where ``den > 0``, else ``means``, as float32."""
    ratio = np.zeros_like(num)
    np.divide(num, den, out=ratio, where=den > 0)
    return (means + ratio).astype(_DTYPE)


def _topk_compiled(kernels, left, W_arrays, n_items, seen, k, n_jobs):
    """Lists of ``recommend`` from ``left @ W`` with the fused numba kernel.

    ``W_arrays`` is ``as_int64_csr_arrays`` of CSR ``W`` (of ``n_items``
    columns), prepared once per fitted model (``_compiled_weights``). Same
    rule as :func:`~sklearn_musicrec.utils._topk.topk_from_sparse_scores`
    (the scores are never formed as a matrix: each row is accumulated,
    filtered and selected by one thread).
    """
    n_rows = left.shape[0]
    if seen is None:
        s_indptr = np.zeros(n_rows + 1, dtype=np.int64)
        s_indices = np.zeros(0, dtype=np.int64)
    else:
        s_indptr, s_indices = nonzero_pattern(seen)
        s_indptr = s_indptr.astype(np.int64, copy=False)
        s_indices = s_indices.astype(np.int64, copy=False)
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), -np.inf, dtype=_DTYPE)
    with numba_threads(n_jobs, n_rows=n_rows):
        kernels.sparse_scores_topk(
            *as_int64_csr_arrays(sp.csr_matrix(left)),
            *W_arrays,
            s_indptr,
            s_indices,
            n_items,
            k,
            ids,
            scores,
        )
    return ids, scores


class _BaseKNN(RatingPredictorMixin, BaseRecommender):
    """Parameters and helpers shared by the two neighbourhood recommenders."""

    _parameter_constraints = {
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "similarity": [StrOptions(set(SIMILARITIES))],
        "shrinkage": [Interval(Real, 0, None, closed="left")],
        "asymmetric_alpha": [Interval(Real, 0, 1, closed="both")],
        "min_similarity": [Interval(Real, None, None, closed="neither")],
        "aggregation": [StrOptions({"weighted_sum", "mean_centered"})],
        "weighting": weighting_constraints("auto"),
        "n_jobs": [Integral, None],
    }

    # what weighting="auto" means for implicit feedback (aggregation="weighted_sum")
    _auto_weighting: str | None = None

    def _resolved_weighting(self):
        """The weighting ``fit`` applies: ``"auto"`` depends on ``aggregation``."""
        if isinstance(self.weighting, str) and self.weighting == "auto":
            return self._auto_weighting if self.aggregation == "weighted_sum" else None
        return self.weighting

    def _predicts_ratings(self):
        return self.aggregation == "mean_centered"

    def _rating_setting_hint(self):
        return 'aggregation="mean_centered" makes it a rating model'

    def _scores_are_sparse(self):
        """Whether every stored score is positive and unstored scores are 0.

        True for the weighted sum with non-negative similarities: then the
        top-k can be taken over the stored entries of a sparse score matrix.
        """
        return self.aggregation == "weighted_sum" and self.min_similarity >= 0

    def _recommend_unrestricted(self, X, k, exclude_seen):
        # sparse scores: the top k never needs the dense score matrix
        if not self._scores_are_sparse():
            return None
        n_users, n_items = X.shape
        kernels = numba_kernels()
        n_jobs = resolve_n_jobs(self.n_jobs)
        if kernels is not None:
            # per row in flight: the lists, the row's score factors and history
            row_bytes = 12 * k + 24 * (X.nnz // max(n_users, 1) + self.n_neighbors)
            batches = row_batches(n_users, row_bytes)
            n_threads = 1  # the kernel runs on the numba threads itself

            W_arrays = self._compiled_weights()

            def work(batch):
                Xb = X if n_users == batch.stop - batch.start else X[batch]
                left = self._score_left(Xb)
                return _topk_compiled(
                    kernels, left, W_arrays, n_items, Xb if exclude_seen else None, k, n_jobs
                )

        else:
            # a boolean row of n_items per user in flight, plus the sparse scores
            batches = row_batches(n_users, 4 * max(n_items, 1))
            n_threads = n_jobs if isinstance(self, ItemKNNRecommender) else 1

            def work(batch):
                Xb = X[batch]
                return topk_from_sparse_scores(
                    self._sparse_scores(Xb), Xb if exclude_seen else None, k, dtype=_DTYPE
                )

        results = map_in_threads(work, batches, n_threads)
        ids = np.concatenate([r[0] for r in results]) if results else np.zeros((0, k), np.int64)
        scores = (
            np.concatenate([r[1] for r in results]) if results else np.zeros((0, k), dtype=_DTYPE)
        )
        return ids, scores

    def _similarity_kwargs(self):
        return dict(
            similarity=self.similarity,
            shrinkage=float(self.shrinkage),
            alpha=float(self.asymmetric_alpha),
            min_similarity=float(self.min_similarity),
            n_jobs=resolve_n_jobs(self.n_jobs),
        )


class UserKNNRecommender(_BaseKNN):
    """User-based collaborative filtering ("what similar listeners play").

    For every row of ``X`` (a user's history, seen in ``fit`` or not), the
    ``n_neighbors`` most similar users of the training matrix are found and
    their histories are aggregated into item scores. A new user is just a new
    row: there is nothing to refit (fold-in).

    Parameters
    ----------
    n_neighbors : int, default=50
        Number of training users that vote for each query row.
    similarity : {"cosine", "asymmetric_cosine", "jaccard", "pearson"}, \
            default="cosine"
        How users are compared, on their rows of ``X`` (``u`` the query,
        ``v`` a training user, ``h`` the shrinkage):

        - ``"cosine"``: ``<u, v> / (||u|| ||v|| + h)``;
        - ``"asymmetric_cosine"``: ``<u, v> / (||u||^(2 a) ||v||^(2 (1 - a)) + h)``
          with ``a = asymmetric_alpha`` (Aiolli, 2013);
        - ``"jaccard"``: ``|u & v| / (|u| + |v| - |u & v| + h)`` on the sets of
          items with a non-zero entry;
        - ``"pearson"``: the cosine of the rows centred on the mean of their
          non-zero entries (for ratings; binary rows centre to zero).

        Users who share no item are never neighbours.
    shrinkage : float, default=0.0
        Added to the denominator of every similarity, shrinking similarities
        supported by few items towards zero.
    asymmetric_alpha : float, default=0.5
        Exponent ``a`` of the asymmetric cosine, in ``[0, 1]``; 0.5 is the
        cosine. Ignored by the other similarities.
    min_similarity : float, default=0.0
        Neighbours less similar than this are ignored (set it below zero to
        keep negatively correlated users with ``"pearson"``).
    aggregation : {"weighted_sum", "mean_centered"}, default="weighted_sum"
        ``"weighted_sum"`` (implicit feedback): the score of item ``i`` is
        ``sum_v s(u, v) x_vi`` over the neighbours ``v``. ``"mean_centered"``
        (explicit ratings): ``decision_function`` predicts ratings,
        ``mean(u) + sum_v s(u, v) (r_vi - mean(v)) / sum_v |s(u, v)|`` over the
        neighbours who rated ``i`` (the user's mean where none did), means
        taken over non-zero entries; :meth:`predict_ratings` computes it at
        chosen (user, item) pairs only, clipped to ``rating_range_``.
    weighting : {"auto", "bm25", "binary", "log"}, transformer or None, \
            default="auto"
        How ``X`` is weighted before similarities and scores are computed,
        in ``fit`` and, with the statistics learned there, for every row
        passed later (see ``weighting_``). ``"auto"`` is ``"bm25"``
        (:class:`~sklearn_musicrec.preprocessing.BM25Weighting` with
        ``k1=1.2, b=0.75``) with ``aggregation="weighted_sum"`` and ``None``
        (the values as given, e.g. ratings) with ``"mean_centered"``;
        ``"binary"`` maps every play count to 1
        (:class:`sklearn.preprocessing.Binarizer`), ``"log"`` to
        ``1 + log(1 + x)`` (:class:`~sklearn_musicrec.preprocessing.LogScaling`);
        a transformer is cloned and used as given; ``None`` uses ``X`` as
        given. Why BM25: on lastfm-2k (per-user 80/20, NDCG@20,
        ``benchmarks/bench_defaults.py``) the defaults reach 0.260 on raw
        play counts with BM25, 0.244 with ``"binary"`` and 0.187 on the raw
        counts themselves (popularity: 0.099).
    n_jobs : int, default=None
        Threads used to compute similarities (``None`` means 1, ``-1`` all
        cores). Results do not depend on it.

    Attributes
    ----------
    weighting_ : transformer or None
        The fitted input weighting (``weighting`` resolved), applied to
        every ``X`` passed after ``fit``; ``None`` when the input is used as
        given.
    interactions_ : scipy.sparse.csr_matrix of shape (n_users_fit, n_items)
        The training rows (float32), the neighbours' histories.
    user_means_ : ndarray of shape (n_users_fit,)
        Mean of the non-zero entries of each training row.
    global_mean_ : float
        Mean of all non-zero training entries (the prediction for an empty
        row under ``"mean_centered"``).
    rating_range_ : tuple of (float, float) or None
        Lowest and highest rating seen in ``fit`` with
        ``aggregation="mean_centered"`` (None otherwise).
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of training users with a non-zero entry for each item.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    ItemKNNRecommender : Item-based neighbourhoods.
    sklearn_musicrec.preprocessing.BM25Weighting : A good weighting of raw
        play counts before the neighbourhood model.

    Notes
    -----
    With numba installed, similarities and recommendations are computed by
    compiled row kernels (a scratch row per thread, a heap of the best
    ``n_neighbors`` or ``k`` entries), so memory stays bounded by
    ``n_threads * n_users_fit`` rather than ``n_users ** 2``; without numba,
    by NumPy/SciPy kernels in bounded blocks of rows (float32 sparse
    products, per-row top-k pruning), with the same results. Among
    neighbours tied at the cut-off the lower user index wins; results are
    the same for every ``n_jobs``.

    A training user's own row is its most similar training user; with
    ``exclude_seen=True`` that neighbour only votes for items already in the
    history, so it changes no recommendation but takes one of the
    ``n_neighbors`` places.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.neighbors import UserKNNRecommender
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = UserKNNRecommender(n_neighbors=10).fit(X)
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    >>> users, sims = model.similar_users(X[:1], k=2)
    >>> int(users[0, 0])  # a training user is its own nearest neighbour
    0
    """

    _auto_weighting = "bm25"

    def __init__(
        self,
        *,
        n_neighbors=50,
        similarity="cosine",
        shrinkage=0.0,
        asymmetric_alpha=0.5,
        min_similarity=0.0,
        aggregation="weighted_sum",
        weighting="auto",
        n_jobs=None,
    ):
        self.n_neighbors = n_neighbors
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.asymmetric_alpha = asymmetric_alpha
        self.min_similarity = min_similarity
        self.aggregation = aggregation
        self.weighting = weighting
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Store the training users and their similarity statistics.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative play counts, weights or
            ratings).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        X = self._fit_weighting(self._validate_fit_data(X), self._resolved_weighting())
        R = _as_float32_csr(X)
        self.interactions_ = R
        self.user_means_, _ = row_means(R)
        self.global_mean_ = float(R.data.mean())
        P, stats = prepare_vectors(R, self.similarity)
        self._reference_t = P.T.tocsr()
        self._reference_stats = stats
        # dense or sparse products, decided once from the training rows so that
        # a row is computed the same way in any batch
        self._plan = plan_products(P, self._reference_t)
        return self

    def _neighbours(self, X, n_neighbors):
        """Sparse (n_rows, n_users_fit) matrix of the rows' top neighbours."""
        Q, q_stats = prepare_vectors(X, self.similarity)
        return similarity_topk(
            Q,
            q_stats,
            self._reference_t,
            self._reference_stats,
            n_neighbors=n_neighbors,
            plan=self._plan,
            **self._similarity_kwargs(),
        )

    def _score_left(self, X):
        """``L`` with ``scores = L @ interactions_`` (see ``_compiled_weights``)."""
        return self._neighbours(X, self.n_neighbors)

    def _compiled_weights(self):
        """``interactions_`` as the compiled kernel's arrays, prepared once per fit."""
        R = self.interactions_
        return fitted_cache(self, "compiled_weights", R, lambda: as_int64_csr_arrays(R))

    def _sparse_scores(self, X):
        return self._neighbours(X, self.n_neighbors) @ self.interactions_

    def _decision_function(self, X):
        S = self._neighbours(X, self.n_neighbors)
        R = self.interactions_
        if self.aggregation == "weighted_sum":
            return (S @ R).toarray()
        means, counts = row_means(X)
        means[counts == 0] = self.global_mean_
        Rc = _centered(R, np.repeat(self.user_means_, np.diff(R.indptr)))
        num = (S @ Rc).toarray()
        S_abs = abs(S)
        den = (S_abs @ _indicator(R)).toarray()
        out = np.broadcast_to(means.astype(_DTYPE)[:, None], num.shape).copy()
        np.divide(num, den, out=num, where=den > 0)
        out += np.where(den > 0, num, 0)
        return out

    def _predict_pairs(self, X, rows, cols):
        # decision_function of the mean-centred aggregation at the pairs only
        S = self._neighbours(X, self.n_neighbors)
        R = self.interactions_
        means, counts = row_means(X)
        means[counts == 0] = self.global_mean_
        Rc = _centered(R, np.repeat(self.user_means_, np.diff(R.indptr)))
        num, den = _pair_products(S, Rc.T.tocsr(), rows, cols, abs(S), _indicator(R).T.tocsr())
        return _mean_plus_ratio(means[rows], num, den)

    def similar_users(self, X: MatrixLike, k: int = 10) -> IdsAndScores:
        """The ``k`` training users most similar to each row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user.
        k : int, default=10
            Number of users per row.

        Returns
        -------
        user_ids : ndarray of int64 of shape (n_users, k)
            Row indices of the training matrix, most similar first, padded
            with ``-1`` when fewer than ``k`` users share an item with the
            row (or pass ``min_similarity``).
        similarities : ndarray of shape (n_users, k)
            Their similarities, padded with ``-inf``.
        """
        X = self._validate_X(X, method="similar_users")
        k = check_k(k)
        return sparse_topk_lists(self._neighbours(X, k), k)


class ItemKNNRecommender(_BaseKNN):
    """Item-based collaborative filtering.

    Item-item similarities are computed from the columns of the training
    matrix and pruned to the ``n_neighbors`` most similar items of each item.
    A user's score for item ``i`` aggregates the user's entries on the
    neighbours of ``i``: any row, seen in ``fit`` or not, is recommended for
    without refitting (fold-in).

    Parameters
    ----------
    n_neighbors : int, default=100
        Number of neighbours kept per item in ``similarity_``.
    similarity : {"cosine", "asymmetric_cosine", "jaccard", "pearson"}, \
            default="cosine"
        How items are compared, on their columns of ``X`` (``i``, ``j`` two
        items, ``h`` the shrinkage):

        - ``"cosine"``: ``<i, j> / (||i|| ||j|| + h)``;
        - ``"asymmetric_cosine"``: ``<i, j> / (||i||^(2 a) ||j||^(2 (1 - a)) + h)``
          with ``a = asymmetric_alpha``, ``i`` being the item whose neighbours
          are listed (Aiolli, 2013);
        - ``"jaccard"``: ``|i & j| / (|i| + |j| - |i & j| + h)`` on the sets of
          users with a non-zero entry;
        - ``"pearson"``: the cosine of the columns centred on the mean of
          their non-zero entries.

        Items that share no user are never neighbours.
    shrinkage : float, default=10.0
        Added to the denominator of every similarity, shrinking similarities
        supported by few users towards zero (on binary input it acts like a
        few pseudo-users; scale it with the magnitude of the weights).
    asymmetric_alpha : float, default=0.5
        Exponent ``a`` of the asymmetric cosine, in ``[0, 1]``; 0.5 is the
        cosine. Ignored by the other similarities.
    min_similarity : float, default=0.0
        Neighbours less similar than this are pruned.
    aggregation : {"weighted_sum", "mean_centered"}, default="weighted_sum"
        ``"weighted_sum"`` (implicit feedback): the score of item ``i`` is
        ``sum_j s(i, j) x_uj`` over the neighbours ``j`` of ``i``.
        ``"mean_centered"`` (explicit ratings): ``decision_function`` predicts
        ratings, ``mean(i) + sum_j s(i, j) (r_uj - mean(j)) / sum_j |s(i, j)|``
        over the neighbours of ``i`` the user rated (the item's mean where
        there is none), item means taken over non-zero training entries.
        (With ``neighborhood="history"``, ``s(j, i)`` over the items ``j``
        that list ``i``.) :meth:`predict_ratings` computes it at chosen
        (user, item) pairs only, clipped to ``rating_range_``.
    neighborhood : {"target", "history"}, default="target"
        Which pruned neighbourhood the scores use. ``"target"``: the score
        of item ``i`` sums over the neighbours of ``i`` in the user's history
        (Sarwar et al., 2001). ``"history"``: every item ``j`` of the history
        votes for its own neighbours, ``score(i) = sum_j s(j, i) x_uj`` over
        the ``j`` that list ``i`` (Deshpande and Karypis, 2004; implicit's
        item-kNN); its candidate lists are shorter, so recommending is
        faster, at some cost in accuracy on the data measured here.
    weighting : {"auto", "bm25", "binary", "log"}, transformer or None, \
            default="auto"
        How ``X`` is weighted before similarities and scores are computed,
        in ``fit`` and, with the statistics learned there, for every row
        passed later (see ``weighting_``). ``"auto"`` is ``"binary"`` (every
        play count becomes 1, :class:`sklearn.preprocessing.Binarizer`) with
        ``aggregation="weighted_sum"`` and ``None`` (the values as given,
        e.g. ratings) with ``"mean_centered"``; ``"bm25"`` applies
        :class:`~sklearn_musicrec.preprocessing.BM25Weighting` (``k1=1.2,
        b=0.75``), ``"log"`` maps ``x`` to ``1 + log(1 + x)``
        (:class:`~sklearn_musicrec.preprocessing.LogScaling`); a transformer
        is cloned and used as given; ``None`` uses ``X`` as given. Why
        binary (as LensKit's item-kNN does for implicit feedback): on
        lastfm-2k (per-user 80/20, NDCG@20, ``benchmarks/bench_defaults.py``)
        the defaults reach 0.265 on binarised play counts, 0.234 with
        ``"log"``, 0.202 with ``"bm25"`` and 0.057 on the raw counts
        themselves (popularity: 0.099).
    n_jobs : int, default=None
        Threads used to compute the similarities and to recommend (``None``
        means 1, ``-1`` all cores). Results do not depend on it.

    Attributes
    ----------
    weighting_ : transformer or None
        The fitted input weighting (``weighting`` resolved), applied to
        every ``X`` passed after ``fit``; ``None`` when the input is used as
        given.
    similarity_ : scipy.sparse.csr_matrix of shape (n_items, n_items)
        Row ``i`` holds the (at most ``n_neighbors``) most similar items of
        item ``i`` and their similarities (float32). The diagonal is empty.
    item_means_ : ndarray of shape (n_items,)
        Mean of the non-zero training entries of each item (the global mean
        for items without any).
    global_mean_ : float
        Mean of all non-zero training entries.
    rating_range_ : tuple of (float, float) or None
        Lowest and highest rating seen in ``fit`` with
        ``aggregation="mean_centered"`` (None otherwise).
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of training users with a non-zero entry for each item.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    UserKNNRecommender : User-based neighbourhoods.
    EASERecommender : A dense, learned item-item model.

    Notes
    -----
    With numba installed, the item-item products are accumulated item by
    item by a compiled kernel (a scratch row per thread, a heap of the best
    ``n_neighbors``), and ``recommend`` accumulates, filters and selects each
    user's scores the same way without forming a score matrix; without
    numba, NumPy/SciPy kernels work in bounded blocks (float32 sparse
    products, per-row top-k pruning), with the same results. Memory stays
    bounded by the blocks, never ``n_items ** 2``. Among neighbours tied at
    the cut-off the lower item index wins; results are the same for every
    ``n_jobs``.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.neighbors import ItemKNNRecommender
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = ItemKNNRecommender(n_neighbors=10).fit(X)
    >>> model.similarity_.shape
    (40, 40)
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    >>> items, sims = model.similar_items([0, 5], k=4)
    >>> items.shape
    (2, 4)
    """

    _auto_weighting = "binary"

    def __init__(
        self,
        *,
        n_neighbors=100,
        similarity="cosine",
        shrinkage=10.0,
        asymmetric_alpha=0.5,
        min_similarity=0.0,
        aggregation="weighted_sum",
        neighborhood="target",
        weighting="auto",
        n_jobs=None,
    ):
        self.n_neighbors = n_neighbors
        self.similarity = similarity
        self.shrinkage = shrinkage
        self.asymmetric_alpha = asymmetric_alpha
        self.min_similarity = min_similarity
        self.aggregation = aggregation
        self.neighborhood = neighborhood
        self.weighting = weighting
        self.n_jobs = n_jobs

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Compute the pruned item-item similarity matrix.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative play counts, weights or
            ratings).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        X = self._fit_weighting(self._validate_fit_data(X), self._resolved_weighting())
        R = _as_float32_csr(X)
        self.global_mean_ = float(R.data.mean())
        means, counts = row_means(R.T.tocsr())
        means[counts == 0] = self.global_mean_
        self.item_means_ = means
        P, stats = prepare_vectors(R.T.tocsr(), self.similarity)
        self.similarity_ = similarity_topk(
            P,
            stats,
            P.T.tocsr(),
            stats,
            n_neighbors=self.n_neighbors,
            self_offset=0,
            **self._similarity_kwargs(),
        )
        return self

    _parameter_constraints = {
        **_BaseKNN._parameter_constraints,
        "neighborhood": [StrOptions({"target", "history"})],
    }

    def _weights(self):
        """``W`` with ``scores = X @ W``: ``W[j, i]`` is what item ``j`` gives item ``i``."""
        if self.neighborhood == "target":
            return self.similarity_.T  # column i lists i's neighbours
        return self.similarity_  # row j lists j's neighbours

    def _score_left(self, X):
        """``L`` with ``scores = L @ _weights()`` (see ``_compiled_weights``)."""
        return _as_float32_csr(X)

    def _compiled_weights(self):
        """``_weights()`` as the compiled kernel's CSR arrays, prepared once per fit.

        With ``neighborhood="target"`` the weights are the transposed
        similarity matrix; converting it to CSR on every call cost more than
        a whole single-user list.
        """
        return fitted_cache(
            self,
            ("compiled_weights", self.neighborhood),
            self.similarity_,
            lambda: as_int64_csr_arrays(sp.csr_matrix(self._weights())),
        )

    def _sparse_scores(self, X):
        return _as_float32_csr(X) @ self._weights()

    def _decision_function(self, X):
        X = _as_float32_csr(X)
        W = self._weights()
        if self.aggregation == "weighted_sum":
            return (X @ W).toarray()
        Xc = _centered(X, self.item_means_[X.indices])
        num = (Xc @ W).toarray()
        den = (_indicator(X) @ abs(W)).toarray()
        out = np.broadcast_to(self.item_means_.astype(_DTYPE), num.shape).copy()
        np.divide(num, den, out=num, where=den > 0)
        out += np.where(den > 0, num, 0)
        return out

    def _predict_pairs(self, X, rows, cols):
        # decision_function of the mean-centred aggregation at the pairs only
        X = _as_float32_csr(X)
        W_t = sp.csr_matrix(self._weights().T)  # row i: what each item gives item i
        Xc = _centered(X, self.item_means_[X.indices])
        num, den = _pair_products(Xc, W_t, rows, cols, _indicator(X), abs(W_t))
        return _mean_plus_ratio(self.item_means_[cols], num, den)

    def similar_items(self, item_ids: ArrayLike, k: int = 10) -> IdsAndScores:
        """The ``k`` items most similar to each of ``item_ids``.

        Parameters
        ----------
        item_ids : int, str or array-like of shape (n_queries,)
            Query items: column indices of the training matrix, or item
            names when the model was fitted on a DataFrame with named
            columns (see :meth:`get_item_names`).
        k : int, default=10
            Number of items per query; at most ``n_neighbors`` are stored,
            the rest is padding.

        Returns
        -------
        ids : ndarray of int64 of shape (n_queries, k)
            Most similar items first, padded with ``-1``.
        similarities : ndarray of shape (n_queries, k)
            Their similarities, padded with ``-inf``.
        """
        check_is_fitted(self)
        k = check_k(k)
        ids = check_item_ids(
            item_ids, self.n_features_in_, item_names=getattr(self, "feature_names_in_", None)
        )
        return sparse_topk_lists(self.similarity_[ids.astype(np.int64)], k)
