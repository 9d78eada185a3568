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

from .utils._protocol import recommend_excluding_history
from .utils._typing import ArrayLike, IdsAndScores, MatrixLike

__all__ = ["RecommenderPipeline", "make_recommender_pipeline", "recommend_excluding_history"]


def _final_has(attr):
    def check(self):
        # raises AttributeError (so hasattr is False) when the final step lacks it
        getattr(self._final_estimator, attr)
        return True

    return check


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
    transform_input : list of str, default=None
        As for :class:`~sklearn.pipeline.Pipeline`: names of the metadata
        parameters the steps transform (metadata routing only).
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
    def recommend(
        self,
        X: MatrixLike,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: ArrayLike | sp.spmatrix | sp.sparray | None = None,
    ) -> IdsAndScores:
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
            The top-1 item of each user outside the raw history (``-1`` if none).
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
        ``test_size=0.2, random_state=0``; rows with fewer than 2
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
            Equal to ``make_recommendation_scorer("ndcg", k=10, test_size=0.2,
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
    def similar_items(self, item_ids: ArrayLike, k: int = 10) -> IdsAndScores:
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
            The final recommender's most similar items and their similarities.
        """
        return self._final_estimator.similar_items(item_ids, k=k)

    @available_if(_final_has("similar_users"))
    def similar_users(self, X: MatrixLike, k: int = 10) -> IdsAndScores:
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
            The most similar training users, through the steps, and their
            similarities.
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
        The unfitted pipeline of ``steps``.

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
