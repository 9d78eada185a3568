"""The recommender contract, implemented once.

Every recommender in the package derives from :class:`BaseRecommender` (or
mixes :class:`RecommenderMixin` into its own scikit-learn base). A subclass
implements ``fit`` (starting with :meth:`RecommenderMixin._validate_fit_data`)
and one private method, ``_decision_function(X)``, that returns dense scores
for a validated CSR batch of users. The mixin supplies the public
``decision_function``, ``recommend``, ``predict`` and ``score`` on top of it,
with input validation, candidate restriction, seen-item exclusion, top-k
selection and bounded memory.

Two behaviours are defined here once, for every recommender:

- **Empty histories.** A row of ``X`` with no non-zero entry (a user with no
  interactions) has nothing to personalise from; the list a model would
  make for it (often from all-zero scores, whose "top k" is then the first
  or last item ids) is replaced by item popularity: ``recommend`` lists the
  candidates by decreasing ``item_counts_`` (the number of training users
  of each item; ties: lower id) with those counts as scores.
  ``decision_function`` keeps the model's own scores (a rating model's
  global mean is the right rating prediction for such a user).
- **The default score.** ``score(X, y)`` is the mean NDCG@10 against ``y``;
  ``score(X)`` hides a deterministic 20% of each row and scores the
  recommendations made from the rest, so model selection without
  ``scoring=`` is a correct new-user evaluation.
"""

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator

from .utils._topk import row_batches, topk_per_row
from .utils._typing import ArrayLike, IdsAndScores, MatrixLike
from .utils._weighting import apply_weighting, make_weighting
from .utils.validation import check_candidate_items, check_fitted, check_interactions, check_k

__all__ = ["RecommenderMixin", "BaseRecommender"]


# The default score: NDCG@10; with y=None, the scorer's holdout protocol with a
# fixed seed, so every call (every candidate of a search) hides the same part.
DEFAULT_SCORE_K = 10
DEFAULT_SCORE_TEST_SIZE = 0.2
DEFAULT_SCORE_SEED = 0


def default_scorer():
    """The scorer behind every recommender's ``score``: NDCG@10, holdout 0.2, seed 0."""
    from .metrics import make_recommendation_scorer

    return make_recommendation_scorer(
        "ndcg",
        k=DEFAULT_SCORE_K,
        test_size=DEFAULT_SCORE_TEST_SIZE,
        random_state=DEFAULT_SCORE_SEED,
    )


def nonzero_per_row(X):
    """Number of non-zero stored entries in each row of CSR ``X``."""
    if X.data.all():  # no stored zero (validated input, as a rule)
        return np.diff(X.indptr).astype(np.int64, copy=False)
    nonzero = np.concatenate(([0], np.cumsum(X.data != 0)))
    return nonzero[X.indptr[1:]] - nonzero[X.indptr[:-1]]


def empty_rows(X):
    """Boolean mask of the rows of CSR ``X`` without a non-zero stored entry."""
    return nonzero_per_row(X) == 0


def default_score(estimator, X, y, X_csr):
    """``default_scorer()(estimator, X, y)``, refusing ``y=None`` when nothing can be held out.

    ``X_csr`` is ``X`` validated as CSR (used to count each row's items).
    """
    if y is None and X_csr.shape[0] and not (nonzero_per_row(X_csr) >= 2).any():
        raise ValueError(
            f"{type(estimator).__name__}.score(X) without y hides 20% of each row of X "
            "and scores the recommendations made from the rest, but no row of X has the "
            "2 or more interactions this needs. Pass the held-out truth as y."
        )
    return default_scorer()(estimator, X, y)


def _nonzero_mask_rows(X):
    """Row and column indices of the non-zero stored entries of CSR ``X``."""
    nz = X.data != 0
    rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))[nz]
    return rows, X.indices[nz]


class RecommenderMixin:
    """Mixin providing ``recommend``, ``predict``, ``score`` for recommenders.

    Rows of ``X`` are users and columns are items. Each row is treated as one
    user's history, whether or not the user was seen in ``fit`` (fold-in),
    so every method is invariant to the order and the subset of rows.

    Subclasses implement ``fit`` and ``_decision_function(X)``; ``X`` there
    is a validated CSR batch and the result a new dense array of shape
    ``(X.shape[0], n_items)`` that callers may modify in place.

    A subclass with a faster way to the top ``k`` over the whole catalogue
    (one that never builds the dense score matrix, or a compiled kernel) may
    also implement ``_recommend_unrestricted(X, k, exclude_seen)``, called by
    ``recommend`` with validated arguments when ``items`` is None; it returns
    ``(item_ids, scores)`` as ``recommend`` does, or ``None`` to use the
    generic path. Rows without interactions are answered by popularity
    (see :meth:`_empty_history_scores`) around both paths, so a subclass
    needs no special case for them.
    """

    # implemented by every subclass: dense scores of a validated CSR batch
    # (declared for type checkers only; no attribute is created)
    _decision_function: Callable[[sp.csr_matrix], np.ndarray]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.target_tags.required = False
        return tags

    # -- validation -------------------------------------------------------
    def _validate_fit_data(self, X, dtype=(np.float64, np.float32)):
        """Validate ``X`` in ``fit``; record ``n_features_in_`` and ``item_counts_``.

        Returns a CSR matrix; it may be the caller's own object, so kernels
        must not modify it in place.
        """
        X = check_interactions(self, X, reset=True, dtype=dtype, method="fit")
        nonzero = X.data != 0
        if not nonzero.any():
            raise ValueError(
                f"X passed to {type(self).__name__}.fit has no non-zero entries: "
                "there are no interactions to learn from."
            )
        self.item_counts_ = np.bincount(X.indices[nonzero], minlength=X.shape[1]).astype(np.int64)
        return X

    def _fit_weighting(self, X, weighting):
        """Fit the input weighting on validated ``X``; return the weighted ``X``.

        ``weighting`` is the model's resolved choice (a name of
        :mod:`sklearn_musicrec.utils._weighting`, a transformer, or None).
        The fitted transformer (or None) is stored as ``weighting_`` and
        applied by :meth:`_validate_X` to every later input, so rows folded
        in after ``fit`` are weighted exactly as the training rows were.
        """
        transformer = make_weighting(weighting)
        self.weighting_ = None if transformer is None else transformer.fit(X)
        return apply_weighting(self.weighting_, X, type(self).__name__)

    def _validate_X(self, X, method="recommend"):
        """Validate ``X`` after ``fit`` (fitted model, same number of items),
        then apply the input weighting learned in ``fit`` (``weighting_``), if any."""
        check_fitted(self)
        X = check_interactions(self, X, reset=False, method=method)
        return apply_weighting(getattr(self, "weighting_", None), X, type(self).__name__)

    # -- public API ---------------------------------------------------------
    def decision_function(self, X: MatrixLike) -> np.ndarray:
        """Score every item for every row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user (users unseen in ``fit``
            are folded in).

        Returns
        -------
        scores : ndarray of shape (n_users, n_items)
            Higher is better. Items already in a row's history are not masked.
            These are the model's own scores also for a row with no
            interactions (e.g. a rating model's global mean), although
            ``recommend`` lists popular items for such a row.
        """
        X = self._validate_X(X, method="decision_function")
        return self._decision_function(X)

    # -- empty histories ----------------------------------------------------
    def _empty_history_scores(self):
        """Popularity that ranks a row without interactions: ``item_counts_`` as floats.

        ``None`` when the model recorded no ``item_counts_`` in ``fit`` (a
        subclass that does not call :meth:`_validate_fit_data`); its own
        scores are then kept.
        """
        counts = getattr(self, "item_counts_", None)
        return None if counts is None else np.asarray(counts, dtype=np.float64)

    def _fill_empty_lists(self, ids, scores, empty, k, kind="all", candidates=None):
        """Overwrite, in place, the lists of the rows flagged by ``empty``.

        Each gets the candidates by decreasing popularity, ties broken by the
        lower item id (exactly, not only up to the top-k selection's ties),
        with the popularity as scores; ``kind``/``candidates`` are those of
        :func:`~sklearn_musicrec.utils.validation.check_candidate_items`.
        """
        if not empty.any():
            return
        popularity = self._empty_history_scores()
        if popularity is None:
            return
        n_items = popularity.shape[0]
        order = np.lexsort((np.arange(n_items), -popularity))
        rows = np.flatnonzero(empty)
        if kind == "mask":
            # candidates of each empty row, in popularity order, left-aligned
            for batch in row_batches(rows.size, 10 * max(n_items, 1)):
                sub = rows[batch]
                allowed = candidates[sub].toarray()[:, order]
                first = np.argsort(~allowed, axis=1, kind="stable")[:, :k]
                ok = np.take_along_axis(allowed, first, axis=1)
                lists = np.where(ok, order[first], -1)
                width = lists.shape[1]
                ids[sub, :width] = lists
                ids[sub, width:] = -1
                scores[sub, :width] = np.where(ok, popularity[np.maximum(lists, 0)], -np.inf)
                scores[sub, width:] = -np.inf
            return
        if kind == "ids":
            order = order[np.isin(order, candidates)]
        top = order[:k]
        ids[rows] = -1
        scores[rows] = -np.inf
        ids[rows, : top.size] = top
        scores[rows, : top.size] = popularity[top]

    def recommend(
        self,
        X: MatrixLike,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: ArrayLike | sp.spmatrix | sp.sparray | None = None,
    ) -> IdsAndScores:
        """Recommend the ``k`` best items for every row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user.
        k : int, default=10
            Length of each recommendation list.
        exclude_seen : bool, default=True
            Never recommend an item with a non-zero entry in the user's row.
        items : None, array-like of int, or {array-like, sparse matrix} of \
                shape (n_users, n_items), default=None
            Candidate items: ``None`` for the whole catalogue, a 1-D array of
            item ids shared by every user, or a per-user mask whose non-zero
            entries are the candidates (e.g. for sampled-negative protocols).

        Returns
        -------
        item_ids : ndarray of int64 of shape (n_users, k)
            Recommended item ids, best first. Rows with fewer than ``k``
            eligible items are padded with ``-1``.
        scores : ndarray of shape (n_users, k)
            Their scores, non-increasing along each row; padding is ``-inf``.

        Notes
        -----
        Users are scored in batches whose size follows scikit-learn's
        ``working_memory`` setting, so memory stays bounded for large
        catalogues. Items whose score is ``-inf`` are never recommended.

        A row with no interactions (no non-zero entry) gets the most popular
        candidates, best first, with their ``item_counts_`` (the number of
        training users of each item) as scores instead of the model's own
        (which :meth:`decision_function` still returns); ties go to the
        lower item id.
        """
        X = self._validate_X(X)
        k = check_k(k)
        if not isinstance(exclude_seen, (bool, np.bool_)):
            raise TypeError(
                f"exclude_seen must be a bool, got {exclude_seen!r} of type "
                f"{type(exclude_seen).__name__}."
            )
        n_users, n_items = X.shape
        kind, candidates = check_candidate_items(items, n_users, n_items)
        empty = empty_rows(X)
        if kind == "all":
            fast = self._recommend_unrestricted(X, k, bool(exclude_seen))
            if fast is not None:
                fast_ids, fast_scores = fast
                self._fill_empty_lists(fast_ids, fast_scores, empty, k)
                return fast_ids, fast_scores
        if kind == "ids":
            position = np.full(n_items, -1, dtype=np.int64)
            position[candidates] = np.arange(candidates.size)

        ids = np.full((n_users, k), -1, dtype=np.int64)
        scores = None
        # three dense rows of n_items per user in flight: scores, masks, top-k
        for batch in row_batches(n_users, 24 * max(n_items, 1)):
            Xb = X[batch]
            S = self._decision_function(Xb)
            if kind == "ids":
                S = S[:, candidates]
            elif kind == "mask":
                S[~candidates[batch].toarray()] = -np.inf
            if exclude_seen:
                rows, cols = _nonzero_mask_rows(Xb)
                if kind == "ids":
                    cols = position[cols]
                    keep = cols >= 0
                    rows, cols = rows[keep], cols[keep]
                S[rows, cols] = -np.inf
            batch_ids, batch_scores = topk_per_row(S, k)
            if kind == "ids":
                valid = batch_ids >= 0
                batch_ids[valid] = candidates[batch_ids[valid]]
            if scores is None:
                scores = np.full((n_users, k), -np.inf, dtype=batch_scores.dtype)
            ids[batch] = batch_ids
            scores[batch] = batch_scores
        # (validation rejects X without rows, so at least one batch ran)
        assert scores is not None
        self._fill_empty_lists(ids, scores, empty, k, kind, candidates)
        return ids, scores

    def _recommend_unrestricted(self, X, k, exclude_seen):
        """Optional fast path of ``recommend`` over the whole catalogue.

        Returns ``None`` here: the generic batched path is used.
        """
        return None

    def predict(self, X: MatrixLike) -> np.ndarray:
        """Top-1 unseen item for every row of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user.

        Returns
        -------
        item_ids : ndarray of int64 of shape (n_users,)
            The best item not in each row's history, ``-1`` if there is none.
        """
        return self.recommend(X, k=1)[0][:, 0]

    def score(self, X: MatrixLike, y: MatrixLike | None = None) -> float:
        """Mean NDCG@10 of the recommendations for ``X``, against ``y`` or a holdout.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user.
        y : None, array-like of shape (n_users,) or {array-like, sparse matrix} of \
                shape (n_users, n_items), default=None
            Held-out truth: one item id per user (a negative id means the
            user has no held-out item and is skipped), or a matrix whose
            positive entries are the relevant items.

            ``None`` (what :class:`~sklearn.model_selection.GridSearchCV` and
            ``cross_validate`` pass when no ``scoring`` is given) scores
            ``X`` against itself by the holdout protocol of
            :func:`~sklearn_musicrec.metrics.make_recommendation_scorer`
            with ``test_size=0.2, random_state=0``: a deterministic
            ``ceil(0.2 * n)`` of each row's ``n`` items (chosen from the
            row's content, not its position) is hidden, the rest is the
            history, and rows with fewer than 2 interactions are left out
            (a ``ValueError`` if that leaves none).

        Returns
        -------
        score : float
            Mean NDCG@10 over users with at least one relevant item; with
            ``y``, the lists are ``recommend(X, 10)`` (``X`` excluded).
            It equals ``make_recommendation_scorer("ndcg", k=10,
            test_size=0.2, random_state=0)(self, X, y)``.

        Examples
        --------
        >>> from sklearn.model_selection import GridSearchCV, KFold
        >>> from sklearn_musicrec import ItemKNNRecommender
        >>> from sklearn_musicrec.datasets import make_interactions
        >>> X = make_interactions(n_users=200, n_items=80, random_state=0).data
        >>> search = GridSearchCV(ItemKNNRecommender(), {"n_neighbors": [5, 50]},
        ...                       cv=KFold(3)).fit(X)  # no scoring=: score(X)
        >>> bool(0 < search.best_score_ <= 1)
        True
        """
        X_csr = self._validate_X(X, method="score")
        return default_score(self, X, y, X_csr)

    def get_item_names(
        self, item_ids: ArrayLike | None = None, *, fill_value: object = None
    ) -> np.ndarray:
        """Return the names of items, for a model fitted on named columns.

        When ``fit`` gets a pandas DataFrame (dense or sparse) whose columns
        are item names (strings), scikit-learn records them in
        ``feature_names_in_``; every method still returns integer column
        positions, and this maps them back. Methods that take query items
        (``similar_items``) accept the names too.

        Parameters
        ----------
        item_ids : array-like of int, any shape, default=None
            Item ids, e.g. the ``item_ids`` of :meth:`recommend`; ``None``
            for the names of all items, in column order.
        fill_value : object, default=None
            The name given to negative ids (the ``-1`` padding of short
            lists); ``None`` raises on them.

        Returns
        -------
        names : ndarray of the shape of ``item_ids``
            ``feature_names_in_[item_ids]`` (object dtype).

        Raises
        ------
        ValueError
            If the model was fitted without column names.

        Examples
        --------
        >>> import pandas as pd
        >>> from sklearn_musicrec.baselines import PopularityRecommender
        >>> X = pd.DataFrame({"Muse": [3, 0, 1], "Björk": [1, 2, 0], "Air": [0, 0, 5]})
        >>> model = PopularityRecommender().fit(X)
        >>> ids, _ = model.recommend(X.iloc[[0]], k=2)
        >>> model.get_item_names(ids, fill_value="").tolist()
        [['Air', '']]
        """
        from .utils.validation import item_names_of

        return item_names_of(self, item_ids, fill_value=fill_value)


class BaseRecommender(RecommenderMixin, BaseEstimator):
    """Base class for recommenders: :class:`RecommenderMixin` + ``BaseEstimator``.

    Subclasses implement ``fit(X, y=None)`` and ``_decision_function(X)``.
    """
