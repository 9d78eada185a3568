"""The recommender contract, implemented once.

Every recommender in the package derives from :class:`BaseRecommender` (or
mixes :class:`RecommenderMixin` into its own scikit-learn base). A subclass
implements ``fit`` (starting with :meth:`RecommenderMixin._validate_fit_data`)
and one private method, ``_decision_function(X)``, that returns dense scores
for a validated CSR batch of users. The mixin supplies the public
``decision_function``, ``recommend``, ``predict`` and ``score`` on top of it,
with input validation, candidate restriction, seen-item exclusion, top-k
selection and bounded memory.
"""

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted

from .utils._sklearn_compat import get_chunk_n_rows
from .utils._topk import topk_per_row
from .utils.validation import check_candidate_items, check_interactions, check_k

__all__ = ["RecommenderMixin", "BaseRecommender"]


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
    generic path.
    """

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

    def _validate_X(self, X, method="recommend"):
        """Validate ``X`` after ``fit``: fitted model, same number of items."""
        check_is_fitted(self)
        return check_interactions(self, X, reset=False, method=method)

    # -- public API ---------------------------------------------------------
    def decision_function(self, X):
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
        """
        X = self._validate_X(X, method="decision_function")
        return self._decision_function(X)

    def recommend(self, X, k=10, *, exclude_seen=True, items=None):
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
        if kind == "all":
            fast = self._recommend_unrestricted(X, k, bool(exclude_seen))
            if fast is not None:
                return fast
        if kind == "ids":
            position = np.full(n_items, -1, dtype=np.int64)
            position[candidates] = np.arange(candidates.size)

        ids = np.full((n_users, k), -1, dtype=np.int64)
        scores = None
        # three dense rows of n_items per user in flight: scores, masks, top-k
        chunk = get_chunk_n_rows(row_bytes=24 * max(n_items, 1), max_n_rows=n_users)
        for batch in gen_batches(n_users, chunk):
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
        return ids, scores

    def _recommend_unrestricted(self, X, k, exclude_seen):
        """Optional fast path of ``recommend`` over the whole catalogue.

        Returns ``None`` here: the generic batched path is used.
        """
        return None

    def predict(self, X):
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

    def score(self, X, y):
        """Mean NDCG@10 of ``recommend(X, 10)`` against held-out items ``y``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories used for fold-in (and excluded from the
            lists).
        y : array-like of shape (n_users,) or {array-like, sparse matrix} of \
                shape (n_users, n_items)
            Held-out truth: one item id per user (a negative id means the
            user has no held-out item and is skipped), or a matrix whose
            positive entries are the relevant items.

        Returns
        -------
        score : float
            Mean NDCG@10 over users with at least one relevant item.
        """
        from .metrics import ndcg_at_k

        ids, _ = self.recommend(X, k=10)
        return float(ndcg_at_k(y, ids, k=10))

    def get_item_names(self, item_ids=None, *, fill_value=None):
        """Names of items, for a model fitted on named columns.

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
