"""A :class:`~sklearn.pipeline.Pipeline` that recommends.

A plain scikit-learn ``Pipeline`` cannot recommend: it only forwards the
methods it knows (``predict``, ``decision_function``, ``score``...), and it
forwards them on the *transformed* rows. For a recommender that is wrong
twice over:

- ``recommend`` is not forwarded at all, so ``search.best_estimator_`` of a
  search over a pipeline has no ``recommend``;
- the final step's ``exclude_seen`` can only exclude what it sees, the
  transformed history. A step that drops entries (``Binarizer(threshold=200)``
  keeps only heavy plays) then lets the user's own, lighter-played items be
  recommended back, and ``predict``/``score`` are computed on those lists.

:class:`RecommenderPipeline` transforms the rows through the steps, lets the
final recommender score them, and excludes the caller's **raw** history (the
non-zero entries of the ``X`` passed in). :func:`make_recommender_pipeline`
builds one with names generated as :func:`~sklearn.pipeline.make_pipeline`
does.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_array

from .utils.validation import check_candidate_items, check_k

__all__ = ["RecommenderPipeline", "make_recommender_pipeline", "recommend_excluding_history"]


def _final_has(attr):
    def check(self):
        # raises AttributeError (so hasattr is False) when the final step lacks it
        getattr(self._final_estimator, attr)
        return True

    return check


def _pattern(X):
    """CSR matrix with a 1 at every non-zero entry of ``X`` (sorted, no zeros)."""
    X = sp.csr_matrix(X) if sp.issparse(X) else sp.csr_matrix(np.asarray(X))
    P = sp.csr_matrix((X.data != 0, X.indices, X.indptr), shape=X.shape, copy=True)
    P.sum_duplicates()
    P.eliminate_zeros()
    P.data = np.ones(P.nnz, dtype=np.int8)
    return P


def _in_rows(pattern, rows, ids):
    """Whether ``ids[i, j]`` is a non-zero column of row ``rows[i]`` of ``pattern``."""
    if pattern.nnz == 0:
        return np.zeros(ids.shape, dtype=bool)
    n_items = pattern.shape[1]
    # CSR rows in order with sorted indices: the keys are sorted
    keys = np.repeat(np.arange(pattern.shape[0], dtype=np.int64), np.diff(pattern.indptr))
    keys = keys * n_items + pattern.indices
    query = rows.astype(np.int64)[:, None] * n_items + np.maximum(ids, 0)
    pos = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return (ids >= 0) & (keys[pos] == query)


def _compact(ids, scores, keep, k):
    """Left-align the kept entries of each row, cut to ``k``, pad with -1 / -inf."""
    order = np.argsort(~keep, axis=1, kind="stable")
    ids = np.take_along_axis(np.where(keep, ids, -1), order, axis=1)[:, :k]
    scores = np.take_along_axis(np.where(keep, scores, -np.inf), order, axis=1)[:, :k]
    if ids.shape[1] < k:
        pad = k - ids.shape[1]
        ids = np.hstack([ids, np.full((ids.shape[0], pad), -1, dtype=np.int64)])
        scores = np.hstack([scores, np.full((scores.shape[0], pad), -np.inf, dtype=scores.dtype)])
    return ids, scores


def recommend_excluding_history(final, Xt, history, k=10, *, exclude_seen=True, items=None):
    """``final.recommend`` on transformed rows, excluding the *raw* history.

    The one home of the pipeline's list making, shared by
    :meth:`RecommenderPipeline.recommend`, the recommendation scorers and
    ``evaluate``.

    Parameters
    ----------
    final : recommender
        The fitted final step.
    Xt : {array-like, sparse matrix} of shape (n_users, n_items)
        The rows as the final step sees them (transformed by the steps).
    history : {array-like, sparse matrix} of shape (n_users, n_items)
        The raw rows: their non-zero entries are the items excluded.
    k : int, default=10
        List length.
    exclude_seen : bool, default=True
        Exclude the raw history; ``False`` recommends from ``Xt`` unchanged.
    items : None, array-like of int, or {array-like, sparse matrix}, default=None
        Candidates, as in ``recommend``.

    Returns
    -------
    item_ids : ndarray of int64 of shape (n_users, k)
    scores : ndarray of shape (n_users, k)
        As ``final.recommend`` returns them, never listing an item of
        ``history``.

    Notes
    -----
    Rows whose transformed pattern equals the raw one (every weighting
    transformer keeps it) use the final step's own ``exclude_seen``,
    unchanged. For a row whose transformed pattern lies inside the raw one
    (a step dropped entries), the final step excludes what it sees and the
    list is requested longer by the number of dropped items, which are then
    removed; for a row with entries the raw one lacks, the list is
    requested longer by the whole history, which is then removed. So the
    lists are exactly the final step's best ``k`` items outside the raw
    history.
    """
    k = check_k(k)
    if not isinstance(exclude_seen, (bool, np.bool_)):
        raise TypeError(
            f"exclude_seen must be a bool, got {exclude_seen!r} of type "
            f"{type(exclude_seen).__name__}."
        )
    if Xt.shape != history.shape:
        raise ValueError(
            "The steps before the recommender must keep the (n_users, n_items) shape "
            f"of X so that the raw history can be excluded item by item; X has shape "
            f"{history.shape} but the transformed X has shape {Xt.shape}."
        )
    if not exclude_seen or Xt is history:
        # no step, or nothing to exclude beyond what the final step sees
        return final.recommend(Xt, k, exclude_seen=exclude_seen, items=items)
    raw = _pattern(history)
    seen = _pattern(Xt)
    n_raw = np.diff(raw.indptr)
    n_seen = np.diff(seen.indptr)
    n_both = np.diff(raw.multiply(seen).tocsr().indptr)
    inside = n_both == n_seen  # transformed pattern within the raw one
    extra = np.where(inside, n_raw - n_both, n_raw)
    if inside.all() and not extra.any():
        return final.recommend(Xt, k, exclude_seen=True, items=items)

    n_users, n_items = history.shape
    kind, candidates = check_candidate_items(items, n_users, n_items)
    Xt = sp.csr_matrix(Xt) if sp.issparse(Xt) else np.asarray(Xt)
    ids = np.full((n_users, k), -1, dtype=np.int64)
    scores = None
    groups = (
        (inside & (extra == 0), True),
        (inside & (extra > 0), True),
        (~inside, False),
    )
    for rows_mask, final_excludes in groups:
        rows = np.flatnonzero(rows_mask)
        if rows.size == 0:
            continue
        longer = k + int(extra[rows].max())
        sub_items = candidates[rows] if kind == "mask" else items
        sub_ids, sub_scores = final.recommend(
            Xt[rows], longer, exclude_seen=final_excludes, items=sub_items
        )
        if longer > k:
            keep = (sub_ids >= 0) & ~_in_rows(raw, rows, sub_ids)
            sub_ids, sub_scores = _compact(sub_ids, sub_scores, keep, k)
        if scores is None:
            scores = np.full((n_users, k), -np.inf, dtype=sub_scores.dtype)
        ids[rows] = sub_ids
        scores[rows] = sub_scores
    return ids, scores


class RecommenderPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` ending in a recommender, that recommends.

    The steps before the last transform the interaction rows (weighting such
    as :class:`~sklearn_musicrec.preprocessing.BM25Weighting`, or
    scikit-learn's ``Binarizer``, ``Normalizer``, ``"passthrough"``); the
    last step is a recommender. Besides what a ``Pipeline`` does, it
    provides ``recommend``, ``predict`` and ``score`` with the recommender
    contract, and ``similar_items``/``similar_users`` when the last step
    has them: the rows of ``X`` are transformed, the last step scores them,
    and the items of the caller's **raw** ``X`` (its non-zero entries) are
    excluded, whatever the steps keep or drop. A plain ``Pipeline`` has no
    ``recommend``, and its ``predict``/``score`` would exclude only the
    transformed history (see the module documentation).

    Every step before the last must keep the ``(n_users, n_items)`` shape,
    one row per user and one column per item: rows are the samples that
    ``KFold`` splits and the users the lists are for. So
    :class:`~sklearn_musicrec.preprocessing.InteractionEncoder`, whose input
    is a table of records rather than one row per user, cannot be a step:
    encode the records first and pass the matrix.

    Parameters
    ----------
    steps : list of (str, estimator) tuples
        As for :class:`~sklearn.pipeline.Pipeline`; the last step is a
        recommender.
    memory : str or object with the joblib.Memory interface, default=None
        As for :class:`~sklearn.pipeline.Pipeline`.
    verbose : bool, default=False
        As for :class:`~sklearn.pipeline.Pipeline`.

    Attributes
    ----------
    named_steps : :class:`~sklearn.utils.Bunch`
        The steps by name.
    n_features_in_ : int
        Number of items seen in ``fit`` (by the first step).

    See Also
    --------
    make_recommender_pipeline : Build one with generated step names.

    Examples
    --------
    >>> from sklearn.preprocessing import Binarizer
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.pipeline import RecommenderPipeline
    >>> X = make_interactions(n_users=100, n_items=50, random_state=0).data
    >>> pipe = RecommenderPipeline(
    ...     [("binarize", Binarizer(threshold=5)), ("rec", ItemKNNRecommender())]
    ... ).fit(X)
    >>> ids, scores = pipe.recommend(X[:2], k=5)
    >>> ids.shape
    (2, 5)
    >>> X[0, ids[0]].nnz  # no item of the raw rows, even those the step dropped
    0
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        final = self._final_estimator
        if final is not None and final != "passthrough" and hasattr(final, "recommend"):
            # interaction matrices: non-negative, sparse, no target
            tags.input_tags.positive_only = True
            tags.target_tags.required = False
        return tags

    def fit(self, X, y=None, **params):
        """Fit the steps, then the recommender on the transformed rows.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions.
        y : None
            Ignored.
        **params : dict
            Fit parameters routed to the steps, as for
            :class:`~sklearn.pipeline.Pipeline`.

        Returns
        -------
        self : RecommenderPipeline
            The fitted pipeline.
        """
        from .preprocessing import InteractionEncoder

        for name, step in self.steps[:-1]:
            if isinstance(step, InteractionEncoder):
                raise TypeError(
                    f"Step {name!r} of RecommenderPipeline is an InteractionEncoder, which "
                    "cannot be a pipeline step: it turns a table of records into a users x "
                    "items matrix, so the rows it receives are not the users the lists are "
                    "for (and cross-validation would split records, not users). Encode the "
                    "records first and pass the matrix: X = InteractionEncoder().fit_transform("
                    "records)."
                )
        return super().fit(X, y, **params)

    def _history_and_transformed(self, X, method):
        """``(raw CSR history, transformed rows)`` for ``X``."""
        Xt = X
        for _, step in self.steps[:-1]:
            if step is not None and not (isinstance(step, str) and step == "passthrough"):
                Xt = step.transform(Xt)
        history = check_array(X, accept_sparse="csr", dtype="numeric", ensure_all_finite=False)
        if history.ndim != 2 or np.shape(Xt)[0] != history.shape[0]:
            raise ValueError(
                f"RecommenderPipeline.{method} takes X of shape (n_users, n_items), one row "
                f"per user; its steps turned {history.shape[0]} rows into "
                f"{np.shape(Xt)[0]}. Every step before the recommender must keep one row "
                "per user."
            )
        return history, Xt

    @available_if(_final_has("recommend"))
    def recommend(self, X, k=10, *, exclude_seen=True, items=None):
        """Recommend through the steps, excluding the raw history.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Raw interaction histories, one row per user.
        k : int, default=10
            Length of each list.
        exclude_seen : bool, default=True
            Never recommend an item with a non-zero entry in the user's row
            of ``X`` (the raw row, not the transformed one).
        items : None, array-like of int, or {array-like, sparse matrix} of \
                shape (n_users, n_items), default=None
            Candidate items, as for the final step's ``recommend``.

        Returns
        -------
        item_ids : ndarray of int64 of shape (n_users, k)
            Best first, padded with ``-1``.
        scores : ndarray of shape (n_users, k)
            The final step's scores, padded with ``-inf``.
        """
        history, Xt = self._history_and_transformed(X, "recommend")
        return recommend_excluding_history(
            self._final_estimator, Xt, history, k, exclude_seen=exclude_seen, items=items
        )

    @available_if(_final_has("recommend"))
    def predict(self, X, **params):
        """The best item outside each raw row of ``X`` (``-1`` if none).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Raw interaction histories.
        **params : dict
            Not supported; present for the ``Pipeline`` signature.

        Returns
        -------
        item_ids : ndarray of int64 of shape (n_users,)
        """
        if params:
            raise TypeError(
                f"RecommenderPipeline.predict takes no parameters, got {sorted(params)}."
            )
        return self.recommend(X, k=1)[0][:, 0]

    @available_if(_final_has("recommend"))
    def score(self, X, y=None, sample_weight=None, **params):
        """Mean NDCG@10, exactly as the final recommender's ``score`` defines it.

        The lists are those of :meth:`recommend` (raw history excluded).
        With ``y``: against the held-out truth ``y`` (1-D item ids or a
        matrix of ``X``'s shape). Without: a deterministic 20% of each row
        of ``X`` is hidden (the holdout protocol of
        :func:`~sklearn_musicrec.metrics.make_recommendation_scorer`,
        ``holdout=0.2, random_state=0``; rows with fewer than 2
        interactions left out, a ``ValueError`` if none is left), the rest
        goes through the steps and the
        hidden part is the truth. So ``GridSearchCV(pipe, grid, cv=KFold(5))``
        with no ``scoring=`` is a correct new-user search.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Raw interaction histories.
        y : None, array-like of shape (n_users,) or {array-like, sparse matrix} \
                of shape (n_users, n_items), default=None
            Held-out truth, or None for the holdout protocol.
        sample_weight : None
            Not supported (must be None).
        **params : dict
            Not supported.

        Returns
        -------
        score : float
            Equal to ``make_recommendation_scorer("ndcg", k=10, holdout=0.2,
            random_state=0)(self, X, y)``.
        """
        if sample_weight is not None or params:
            raise TypeError(
                "RecommenderPipeline.score does not support sample_weight or other "
                f"parameters, got sample_weight={sample_weight!r} and {sorted(params)}."
            )
        from .base import default_score

        history = check_array(X, accept_sparse="csr", dtype="numeric", ensure_all_finite=False)
        return default_score(self, X, y, sp.csr_matrix(history))

    @available_if(_final_has("similar_items"))
    def similar_items(self, item_ids, k=10):
        """The final step's ``similar_items`` (items are the columns, unchanged).

        Parameters
        ----------
        item_ids : int or array-like of int
            Query items.
        k : int, default=10
            Neighbours per query.

        Returns
        -------
        ids, scores : ndarray of shape (n_queries, k)
        """
        return self._final_estimator.similar_items(item_ids, k=k)

    @available_if(_final_has("similar_users"))
    def similar_users(self, X, k=10):
        """The final step's ``similar_users`` on the transformed rows of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Raw interaction histories.
        k : int, default=10
            Neighbours per row.

        Returns
        -------
        train_user_ids, scores : ndarray of shape (n_users, k)
        """
        _, Xt = self._history_and_transformed(X, "similar_users")
        return self._final_estimator.similar_users(Xt, k=k)


def make_recommender_pipeline(*steps, memory=None, verbose=False):
    """Build a :class:`RecommenderPipeline`, naming the steps automatically.

    The names are those :func:`~sklearn.pipeline.make_pipeline` gives:
    the lowercased class names (``"bm25weighting"``,
    ``"itemknnrecommender"``), numbered when repeated.

    Parameters
    ----------
    *steps : list of estimators
        The transformers, then the recommender.
    memory : str or object with the joblib.Memory interface, default=None
        As for :class:`~sklearn.pipeline.Pipeline`.
    verbose : bool, default=False
        As for :class:`~sklearn.pipeline.Pipeline`.

    Returns
    -------
    pipeline : RecommenderPipeline

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.pipeline import make_recommender_pipeline
    >>> from sklearn_musicrec.preprocessing import BM25Weighting
    >>> pipe = make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender())
    >>> [name for name, _ in pipe.steps]
    ['bm25weighting', 'itemknnrecommender']
    """
    named = make_pipeline(*steps).steps
    return RecommenderPipeline(named, memory=memory, verbose=verbose)
