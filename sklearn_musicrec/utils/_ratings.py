"""``predict_ratings``, implemented once for every model whose scores are ratings."""

import numbers
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.utils.metaestimators import available_if

from ._typing import ArrayLike, MatrixLike
from .validation import check_item_ids

__all__ = ["RatingPredictorMixin", "check_rating_pairs", "check_clip"]


def check_rating_pairs(items, n_users, n_items, *, item_names=None):
    """Validate the ``items`` argument of ``predict_ratings``.

    Parameters
    ----------
    items : array-like of shape (n_users,) or sparse matrix of shape (n_users, n_items)
        One item per row of ``X`` (ids, or names when ``item_names`` is
        given), or a sparse matrix whose stored entries are the pairs.
    n_users, n_items : int
        Shape of the ``X`` passed to ``predict_ratings``.
    item_names : ndarray of str, default=None
        The model's ``feature_names_in_``.

    Returns
    -------
    rows, cols : ndarray of int64 of shape (n_pairs,)
        Row of ``X`` and item of every pair.
    pattern : csr_matrix or None
        For a sparse ``items``, its canonical CSR form (sorted indices,
        duplicates merged), whose pattern the result takes; else ``None``.
    """
    if sp.issparse(items):
        if items.shape != (n_users, n_items):
            raise ValueError(
                "items, given as a sparse matrix of (user, item) pairs, must have "
                f"X's shape (n_users, n_items) = ({n_users}, {n_items}), got {items.shape}."
            )
        pattern = sp.csr_matrix(items, copy=True)
        pattern.sum_duplicates()  # canonical: sorted indices, no duplicates
        rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(pattern.indptr))
        return rows, pattern.indices.astype(np.int64), pattern
    arr = np.asarray(items)
    if arr.ndim != 1:
        raise ValueError(
            "items must be a 1-D array of item ids (one per row of X) or a sparse "
            "(n_users, n_items) matrix whose stored entries are the (user, item) "
            f"pairs to rate; got an array of shape {arr.shape} (for a dense mask, "
            "pass scipy.sparse.csr_matrix(mask))."
        )
    if arr.shape[0] != n_users:
        raise ValueError(
            "items, given as a 1-D array, must hold one item id per row of X "
            f"({n_users} rows), got {arr.shape[0]} ids."
        )
    cols = check_item_ids(arr, n_items, item_names=item_names, name="items")
    return np.arange(n_users, dtype=np.int64), cols, None


def check_clip(clip, rating_range):
    """``(low, high)`` of the ``clip`` argument of ``predict_ratings``, or ``(None, None)``.

    Parameters
    ----------
    clip : bool or tuple of (float, float)
        ``True`` for ``rating_range``, ``False`` for no clipping, or a range.
    rating_range : tuple of (float, float)
        The model's ``rating_range_``.

    Returns
    -------
    low, high : float or None
    """
    if isinstance(clip, (bool, np.bool_)):
        return tuple(rating_range) if clip else (None, None)
    try:
        low, high = clip
    except (TypeError, ValueError):
        low = high = None
    ok = all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
        for v in (low, high)
    )
    if not ok or low > high:
        raise ValueError(
            "clip must be True (clip to rating_range_, the range of the ratings "
            "seen in fit), False (no clipping) or a (low, high) pair of finite "
            f"numbers with low <= high; got {clip!r}."
        )
    return float(low), float(high)


def _check_rating_model(estimator):
    """``available_if`` check of ``predict_ratings``: rating models only."""
    if not estimator._predicts_ratings():
        raise AttributeError(
            f"This {type(estimator).__name__} is not configured as a rating model "
            f"({estimator._rating_setting_hint()}), so its scores are not ratings "
            "and it has no predict_ratings; rank with recommend or "
            "decision_function instead."
        )
    return True


class RatingPredictorMixin:
    """``predict_ratings`` and ``rating_range_`` for models that predict ratings.

    Mixed in before :class:`~sklearn_musicrec.base.BaseRecommender`. A
    subclass implements

    - ``_predicts_ratings()``: whether its parameters make its scores
      ratings (``predict_ratings`` exists only then, see
      :func:`~sklearn.utils.metaestimators.available_if`);
    - ``_rating_setting_hint()``: the parameter setting that does, for the
      error message of the other settings;
    - ``_predict_pairs(X, rows, cols)``: the unclipped ratings of the pairs
      ``(rows[p], cols[p])`` for the validated CSR histories ``X`` (every row
      of ``X`` has at least one pair), computing those pairs only.

    ``fit`` records ``rating_range_`` (through ``_validate_fit_data``).
    """

    # provided by the subclass and by RecommenderMixin (declared for type
    # checkers only; no attribute is created)
    _predict_pairs: Callable[[sp.csr_matrix, np.ndarray, np.ndarray], np.ndarray]
    _validate_X: Callable[..., sp.csr_matrix]

    def _predicts_ratings(self):
        return False

    def _rating_setting_hint(self):
        return "it models implicit feedback only"

    def _validate_fit_data(self, X, dtype=(np.float64, np.float32)):
        """Validate ``X`` in ``fit``; rating models also record ``rating_range_``."""
        X = super()._validate_fit_data(X, dtype=dtype)
        if self._predicts_ratings():
            rated = X.data[X.data != 0]  # zeros mean "not rated"
            self.rating_range_ = (float(rated.min()), float(rated.max()))
        else:
            self.rating_range_ = None
        return X

    @available_if(_check_rating_model)
    def predict_ratings(
        self,
        X: MatrixLike,
        items: ArrayLike | sp.spmatrix | sp.sparray,
        *,
        clip: bool | tuple[float, float] = True,
    ) -> np.ndarray | sp.csr_matrix:
        """Predicted ratings of chosen (user, item) pairs.

        Only the requested pairs are computed, never the scores of the whole
        catalogue, so rating a held-out set costs time and memory in
        proportion to its size. Available for the rating models:
        ``ALSFactorizer(feedback="explicit")``,
        ``SGDFactorizer(loss="squared")`` (``global_mean_ + b_u + c_i + u_u .
        v_i`` from the folded-in user) and the neighbourhood models with
        ``aggregation="mean_centered"`` (their ``decision_function`` at those
        pairs).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Rating histories, one row per user (seen in ``fit`` or not),
            folded in as by every other method; only rows with a pair to
            rate are used.
        items : array-like of shape (n_users,) or sparse matrix of \
                shape (n_users, n_items)
            The pairs to rate: one item id (or item name, for a model fitted
            on named columns) per row of ``X``, or a sparse matrix whose
            stored entries are the pairs (its values are ignored), such as a
            held-out test matrix.
        clip : bool or tuple of (float, float), default=True
            Clip the predictions to ``rating_range_``, the lowest and
            highest rating seen in ``fit`` (``True``), to a given
            ``(low, high)`` range, or not at all (``False``).

        Returns
        -------
        ratings : ndarray of shape (n_users,) or csr_matrix of \
                shape (n_users, n_items)
            One rating per row for 1-D ``items``; for a sparse ``items``, a
            CSR matrix with exactly its stored entries (sorted, duplicates
            merged), ready for :func:`~sklearn_musicrec.metrics.rmse`.

        Examples
        --------
        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> from sklearn_musicrec.decomposition import ALSFactorizer
        >>> rng = np.random.RandomState(0)
        >>> R = sp.random(50, 20, density=0.3, random_state=0, format="csr",
        ...               data_rvs=lambda n: rng.randint(1, 6, n).astype(float))
        >>> model = ALSFactorizer(feedback="explicit", n_components=4,
        ...                       random_state=0).fit(R)
        >>> model.rating_range_
        (1.0, 5.0)
        >>> r = model.predict_ratings(R[:3], [0, 1, 2])
        >>> r.shape, bool(((1 <= r) & (r <= 5)).all())
        ((3,), True)
        >>> model.predict_ratings(R, R).nnz == R.nnz
        True
        """
        X = self._validate_X(X, method="predict_ratings")
        n_users, n_items = X.shape
        rows, cols, pattern = check_rating_pairs(
            items, n_users, n_items, item_names=getattr(self, "feature_names_in_", None)
        )
        low, high = check_clip(clip, self.rating_range_)
        values = np.empty(0)
        if rows.size:
            # fold in only the rows that have a pair to rate
            needed = np.unique(rows)
            if needed.size < n_users:
                position = np.full(n_users, -1, dtype=np.int64)
                position[needed] = np.arange(needed.size)
                values = self._predict_pairs(X[needed], position[rows], cols)
            else:
                values = self._predict_pairs(X, rows, cols)
            values = np.asarray(values)
            if low is not None:
                np.clip(values, low, high, out=values)
        if pattern is None:
            return values
        return sp.csr_matrix(
            (values, pattern.indices, pattern.indptr), shape=pattern.shape, copy=False
        )
