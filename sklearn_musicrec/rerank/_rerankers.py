"""Diversity, long-tail and calibration re-rankers (meta-estimators)."""

import numpy as np
import scipy.sparse as sp

from ..metrics import popularity_groups
from ..utils._features import (
    binary_interactions,
    category_distribution,
    check_item_features,
)
from ..utils._sklearn_compat import Interval, Real
from ._base import BaseReranker, greedy_order

__all__ = ["CalibratedReranker", "MMRReranker", "PopularityPenaltyReranker", "XQuADReranker"]


def _features_or_listeners(estimator, X):
    """The validated ``item_features``, or each item's listeners (columns of ``X``)."""
    if estimator.item_features is None:
        return sp.csr_matrix(binary_interactions(X).T)
    return check_item_features(
        estimator.item_features, X.shape[1], f"{type(estimator).__name__}.fit"
    )


def _history_mean(X, item_values):
    """Mean of per-item values (or rows) over the items of each row (0 for empty rows)."""
    H = binary_interactions(X)
    lengths = np.asarray(H.sum(axis=1)).ravel()
    total = H @ item_values
    total = np.asarray(total.todense()) if sp.issparse(total) else np.asarray(total)
    scale = np.divide(1.0, lengths, out=np.zeros_like(lengths), where=lengths > 0)
    return total * (scale[:, None] if total.ndim == 2 else scale)


class MMRReranker(BaseReranker):
    """Maximal marginal relevance re-ranking for intra-list diversity.

    Carbonell & Goldstein (1998): the list is built greedily, each step
    taking the candidate ``i`` that maximises
    ``(1 - diversity) * rel(i) - diversity * max_{j in list} cos(f_i, f_j)``
    with ``rel`` the wrapped model's score min-max scaled to [0, 1] over the
    pool and ``f`` the item features. ``diversity=0`` keeps the wrapped
    model's order.

    Parameters
    ----------
    estimator : recommender
        The wrapped recommender (cloned and fitted in ``fit``).
    diversity : float, default=0.3
        Weight of the redundancy penalty, in [0, 1].
    n_candidates : int, default=100
        Size of the pool taken from the wrapped model and re-ranked.
    item_features : {array-like, sparse matrix} of shape (n_items, n_features), default=None
        Features for the similarity (e.g. tags); ``None`` uses each item's
        listeners in ``fit`` (collaborative similarity).

    Attributes
    ----------
    estimator_ : recommender
        The fitted wrapped recommender.
    item_vectors_ : csr_matrix of shape (n_items, n_features)
        L2-normalised features.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    XQuADReranker : Long-tail re-ranking.
    CalibratedReranker : Genre-calibrated re-ranking.

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.rerank import MMRReranker
    >>> data = make_interactions(n_users=60, n_items=40, random_state=0)
    >>> model = MMRReranker(ItemKNNRecommender(), diversity=0.5,
    ...                     item_features=data.item_tags).fit(data.data)
    >>> ids, _ = model.recommend(data.data[:2], k=5)
    >>> ids.shape
    (2, 5)
    """

    _parameter_constraints = {
        **BaseReranker._parameter_constraints,
        "diversity": [Interval(Real, 0, 1, closed="both")],
        "item_features": ["array-like", "sparse matrix", None],
    }

    def __init__(self, estimator, *, diversity=0.3, n_candidates=100, item_features=None):
        self.estimator = estimator
        self.diversity = diversity
        self.n_candidates = n_candidates
        self.item_features = item_features

    def _fit_reranker(self, X):
        V = _features_or_listeners(self, X)
        norms = np.sqrt(np.asarray(V.multiply(V).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self.item_vectors_ = sp.csr_matrix(sp.diags(1.0 / norms) @ V)

    def _order(self, X, pool, relevance, valid):
        batch, n = pool.shape
        sim = np.empty((batch, n, n))
        for u in range(batch):
            Vp = self.item_vectors_[np.maximum(pool[u], 0)]
            sim[u] = (Vp @ Vp.T).toarray()
        sim[~valid] = 0.0
        lam = float(self.diversity)
        max_sim = np.zeros((batch, n))

        def gain():
            return (1.0 - lam) * relevance - lam * max_sim

        def update(rows, chosen):
            max_sim[rows] = np.maximum(max_sim[rows], sim[rows, :, chosen])

        return greedy_order(gain, update, valid)


class XQuADReranker(BaseReranker):
    """Long-tail re-ranking with xQuAD over popularity groups.

    Abdollahpouri, Burke & Mobasher (2019), "Managing popularity bias in
    recommender systems with personalized re-ranking": the items are split
    into the popular head and the long tail (:func:`popularity_groups` of
    the training plays), and the list is built greedily, each step taking
    the candidate ``i`` that maximises ``(1 - tail_weight) * rel(i) +
    tail_weight * sum_g P(g | u) 1[i in g] (1 - n_g / n)``, with ``P(g | u)``
    the share of the user's history in group ``g`` and ``n_g / n`` the share
    of the list so far in ``g`` (the "smooth" variant; 1 for an empty list).
    A user who listens to the long tail gets tail items where the list lacks
    them. ``rel`` is the wrapped model's score min-max scaled over the pool.

    Parameters
    ----------
    estimator : recommender
        The wrapped recommender (cloned and fitted in ``fit``).
    tail_weight : float, default=0.3
        Weight of the group-coverage term, in [0, 1]; 0 keeps the wrapped
        model's order.
    n_candidates : int, default=100
        Size of the pool taken from the wrapped model and re-ranked.
    head_share : float, default=0.8
        Share of the training plays held by the head.

    Attributes
    ----------
    estimator_ : recommender
        The fitted wrapped recommender.
    item_groups_ : ndarray of int64 of shape (n_items,)
        0 for head items, 1 for tail items.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    MMRReranker : Diversity re-ranking.
    CalibratedReranker : Genre-calibrated re-ranking.

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.rerank import XQuADReranker
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = XQuADReranker(ItemKNNRecommender(), tail_weight=0.5).fit(X)
    >>> ids, _ = model.recommend(X[:2], k=5)
    >>> ids.shape
    (2, 5)
    """

    _parameter_constraints = {
        **BaseReranker._parameter_constraints,
        "tail_weight": [Interval(Real, 0, 1, closed="both")],
        "head_share": [Interval(Real, 0, 1, closed="right")],
    }

    def __init__(self, estimator, *, tail_weight=0.3, n_candidates=100, head_share=0.8):
        self.estimator = estimator
        self.tail_weight = tail_weight
        self.n_candidates = n_candidates
        self.head_share = head_share

    def _fit_reranker(self, X):
        self.item_groups_ = popularity_groups(X, head_share=float(self.head_share))

    def _order(self, X, pool, relevance, valid):
        batch, n = pool.shape
        p_tail = _history_mean(X, self.item_groups_.astype(np.float64))
        lengths = binary_interactions(X).getnnz(axis=1)
        p_head = np.where(lengths > 0, 1.0 - p_tail, 0.0)
        is_tail = self.item_groups_[np.maximum(pool, 0)].astype(np.float64)
        lam = float(self.tail_weight)
        n_tail = np.zeros(batch)
        size = np.zeros(batch)

        def gain():
            with np.errstate(invalid="ignore", divide="ignore"):
                tail_share = np.where(size > 0, n_tail / np.maximum(size, 1), 0.0)
            cover_tail = np.where(size > 0, 1.0 - tail_share, 1.0)[:, None]
            cover_head = np.where(size > 0, tail_share, 1.0)[:, None]
            coverage = p_tail[:, None] * cover_tail * is_tail + p_head[:, None] * cover_head * (
                1.0 - is_tail
            )
            return (1.0 - lam) * relevance + lam * coverage

        def update(rows, chosen):
            n_tail[rows] += is_tail[rows, chosen]
            size[rows] += 1

        return greedy_order(gain, update, valid)


class PopularityPenaltyReranker(BaseReranker):
    """Long-tail re-ranking with a popularity penalty on the wrapped model's scores.

    Each candidate ``i`` of the pool is scored ``(1 - popularity_weight) *
    rel(i) - popularity_weight * pop(i)`` and the pool is sorted by that
    score: ``rel`` is the wrapped model's score min-max scaled to [0, 1] over
    the user's pool (the per-user normalisation every re-ranker here uses)
    and ``pop(i) = log(1 + n_i) / log(1 + max_j n_j)`` the item's
    log-popularity, ``n_i`` its number of users in ``fit``, scaled to
    [0, 1]. It is the plainest post-processing popularity debiaser, a
    penalty on log-popularity (inverse-propensity re-weighting divides by
    the popularity instead): unlike :class:`XQuADReranker` (Abdollahpouri
    et al., 2019), whose tail term is capped by the share of the tail in the
    user's own history, it pushes every user's list toward the tail, the
    more so the larger the pool (``n_candidates``).

    Parameters
    ----------
    estimator : recommender
        The wrapped recommender (cloned and fitted in ``fit``).
    popularity_weight : float, default=0.4
        Weight of the popularity penalty, in [0, 1]; 0 keeps the wrapped
        model's order, 1 ranks the pool from the least popular item up.
    n_candidates : int, default=100
        Size of the pool taken from the wrapped model and re-ranked.

    Attributes
    ----------
    estimator_ : recommender
        The fitted wrapped recommender.
    item_popularity_ : ndarray of float64 of shape (n_items,)
        ``pop(i)``, the scaled log-popularity penalised.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    XQuADReranker : Long-tail re-ranking that follows each user's tail share.
    sklearn_musicrec.metrics.long_tail_share : The share this re-ranker raises.

    Notes
    -----
    On Last.fm-2k (item-kNN, pool 300, ``popularity_weight=0.44``) it keeps
    NDCG@20 within 5% of the wrapped model while the long-tail share and the
    catalogue coverage of the top-20 lists more than double
    (``benchmarks/bench_rerank.py``).

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.rerank import PopularityPenaltyReranker
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = PopularityPenaltyReranker(ItemKNNRecommender(),
    ...                                   popularity_weight=0.5).fit(X)
    >>> ids, _ = model.recommend(X[:2], k=5)
    >>> ids.shape
    (2, 5)
    """

    _parameter_constraints = {
        **BaseReranker._parameter_constraints,
        "popularity_weight": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, estimator, *, popularity_weight=0.4, n_candidates=100):
        self.estimator = estimator
        self.popularity_weight = popularity_weight
        self.n_candidates = n_candidates

    def _fit_reranker(self, X):
        log_counts = np.log1p(self.item_counts_.astype(np.float64))
        top = log_counts.max(initial=0.0)
        self.item_popularity_ = log_counts / top if top > 0 else log_counts

    def _order(self, X, pool, relevance, valid):
        lam = float(self.popularity_weight)
        gain = (1.0 - lam) * relevance - lam * self.item_popularity_[np.maximum(pool, 0)]
        # padding (at the end of the pool) stays there; ties keep the pool order
        return np.argsort(np.where(valid, -gain, np.inf), axis=1, kind="stable")


class CalibratedReranker(BaseReranker):
    """Calibrated recommendations: genre proportions of the list match the history.

    Steck (RecSys 2018): with ``p(g | u)`` the category mix of the user's
    history and ``q(g | L)`` that of the list ``L`` (each item's categories
    scaled to sum to 1), the list is built greedily to maximise
    ``(1 - calibration_weight) * sum_{i in L} rel(i) -
    calibration_weight * KL(p || (1 - alpha) q + alpha p)``. ``rel`` is
    the wrapped model's score min-max scaled over the pool.

    Parameters
    ----------
    estimator : recommender
        The wrapped recommender (cloned and fitted in ``fit``).
    calibration_weight : float, default=0.5
        Weight of the miscalibration penalty, in [0, 1]; 0 keeps the
        wrapped model's order.
    n_candidates : int, default=100
        Size of the pool taken from the wrapped model and re-ranked.
    item_features : {array-like, sparse matrix} of shape (n_items, n_categories), default=None
        Categories of every item (genres, a few coarse tags); ``None``
        calibrates the popularity mix instead (head and long tail of the
        training plays, as Abdollahpouri et al.'s calibrated popularity).
        The cost grows with the number of categories: prefer tens.
    alpha : float, default=0.01
        Share of ``p`` mixed into ``q`` so the divergence stays finite.

    Attributes
    ----------
    estimator_ : recommender
        The fitted wrapped recommender.
    item_categories_ : csr_matrix of shape (n_items, n_categories)
        ``p(g | i)``, each row summing to 1 (or 0).
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    sklearn_musicrec.metrics.miscalibration : The metric this re-ranker lowers.

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.rerank import CalibratedReranker
    >>> data = make_interactions(n_users=60, n_items=40, random_state=0)
    >>> model = CalibratedReranker(ItemKNNRecommender(),
    ...                            item_features=data.item_tags).fit(data.data)
    >>> ids, _ = model.recommend(data.data[:2], k=5)
    >>> ids.shape
    (2, 5)
    """

    _parameter_constraints = {
        **BaseReranker._parameter_constraints,
        "calibration_weight": [Interval(Real, 0, 1, closed="both")],
        "item_features": ["array-like", "sparse matrix", None],
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(
        self, estimator, *, calibration_weight=0.5, n_candidates=100, item_features=None, alpha=0.01
    ):
        self.estimator = estimator
        self.calibration_weight = calibration_weight
        self.n_candidates = n_candidates
        self.item_features = item_features
        self.alpha = alpha

    def _fit_reranker(self, X):
        if self.item_features is None:
            groups = popularity_groups(X)
            F = sp.csr_matrix(
                (np.ones(groups.shape[0]), (np.arange(groups.shape[0]), groups)),
                shape=(groups.shape[0], 2),
            )
        else:
            F = check_item_features(self.item_features, X.shape[1], f"{type(self).__name__}.fit")
        C = category_distribution(F)
        C.eliminate_zeros()
        C.sum_duplicates()
        self.item_categories_ = C

    def _order(self, X, pool, relevance, valid):
        from ._calibration_numba import calibrated_order

        C = self.item_categories_
        return calibrated_order(
            np.ascontiguousarray(pool, dtype=np.int64),
            np.ascontiguousarray(relevance, dtype=np.float64),
            np.ascontiguousarray(valid, dtype=np.bool_),
            np.ascontiguousarray(_history_mean(X, C), dtype=np.float64),
            C.indptr.astype(np.int64),
            C.indices.astype(np.int64),
            C.data.astype(np.float64),
            float(self.calibration_weight),
            float(self.alpha),
        )
