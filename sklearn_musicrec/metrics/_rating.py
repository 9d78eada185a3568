"""Explicit-feedback (rating prediction) metrics."""

import numpy as np
import scipy.sparse as sp

from ..utils._sklearn_compat import validate_params
from ..utils._typing import MatrixLike
from ..utils.validation import check_numeric_matrix
from ._validation import _row_ids

_RATING_CONSTRAINTS = {
    "y_true": ["array-like", "sparse matrix"],
    "y_pred": ["array-like", "sparse matrix"],
}

__all__ = ["mae", "rmse", "predict_held_out_ratings"]

# rows of dense decision_function scores per batch when a model has no
# predict_ratings: bounds the transient scores to about 32 MiB of float64
_SCORE_BATCH_ENTRIES = 1 << 22


def _rating_errors(y_true, y_pred):
    """Prediction errors at the stored ratings of ``y_true``."""
    arr = check_numeric_matrix(y_true, "y_true", "(n_users, n_items) held-out ratings")
    if sp.issparse(arr):
        truth = sp.csr_array(arr, dtype=np.float64, copy=True)
        truth.sum_duplicates()
    else:
        truth = sp.csr_array(arr.astype(np.float64))  # non-zero entries are ratings
    if truth.data.size and not np.all(np.isfinite(truth.data)):
        raise ValueError("y_true contains NaN or infinity.")
    if truth.nnz == 0:
        raise ValueError("y_true holds no ratings: there is nothing to compare.")
    if sp.issparse(y_pred):
        # predictions at exactly the stored entries, e.g. predict_ratings(X, y_true):
        # the errors are computed without ever forming (n_users, n_items)
        pred = sp.csr_array(y_pred, copy=True)
        pred.sum_duplicates()
        if (
            pred.shape != truth.shape
            or not np.array_equal(pred.indptr, truth.indptr)
            or not np.array_equal(pred.indices, truth.indices)
        ):
            raise ValueError(
                "y_pred, given as a sparse matrix, must store a prediction at exactly "
                f"the stored entries of y_true ({truth.nnz} entries, shape "
                f"{truth.shape}), e.g. model.predict_ratings(X, y_true); got "
                f"{pred.nnz} entries of shape {pred.shape} with another pattern."
            )
        predicted = pred.data.astype(np.float64)
    else:
        pred = np.asarray(y_pred)
        if pred.shape != truth.shape or pred.dtype.kind not in "iuf":
            raise ValueError(
                f"y_pred must be a numeric array of y_true's shape {truth.shape}, "
                f"or a sparse matrix of predictions at its stored entries; got "
                f"shape {pred.shape} and dtype {pred.dtype}."
            )
        predicted = pred[_row_ids(truth.indptr), truth.indices].astype(np.float64)
    if not np.all(np.isfinite(predicted)):
        raise ValueError("y_pred is NaN or infinite at some held-out ratings.")
    return predicted - truth.data


@validate_params(_RATING_CONSTRAINTS, prefer_skip_nested_validation=True)
def rmse(y_true: MatrixLike, y_pred: MatrixLike) -> float:
    """Root mean squared error over all held-out ratings.

    The mean runs over ratings, not users (the convention of the Netflix
    prize and of Surprise), so heavy raters weigh more.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_users, n_items)
        Held-out ratings: the stored entries of a sparse matrix, or the
        non-zero entries of a dense one.
    y_pred : {array-like, sparse matrix} of shape (n_users, n_items)
        Predicted ratings: a sparse matrix with a prediction at exactly the
        stored entries of ``y_true`` (what ``model.predict_ratings(X,
        y_true)`` returns; nothing of size ``n_users x n_items`` is formed),
        or a dense array, e.g. ``decision_function`` of an explicit model.

    Returns
    -------
    rmse : float
        The root mean squared error (non-negative; lower is better).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import rmse
    >>> y_true = np.array([[4, 0], [0, 2]])
    >>> rmse(y_true, np.array([[3.0, 9.0], [9.0, 3.0]]))
    1.0

    Sparse truth and sparse predictions at its entries (the scalable path):

    >>> import scipy.sparse as sp
    >>> y_sparse = sp.csr_matrix(y_true)
    >>> y_pred = y_sparse.copy()
    >>> y_pred.data = np.array([3.0, 3.0])
    >>> rmse(y_sparse, y_pred)
    1.0
    """
    err = _rating_errors(y_true, y_pred)
    return float(np.sqrt(np.mean(err**2)))


@validate_params(_RATING_CONSTRAINTS, prefer_skip_nested_validation=True)
def mae(y_true: MatrixLike, y_pred: MatrixLike) -> float:
    """Mean absolute error over all held-out ratings.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_users, n_items)
        Held-out ratings: the stored entries of a sparse matrix, or the
        non-zero entries of a dense one.
    y_pred : {array-like, sparse matrix} of shape (n_users, n_items)
        Predicted ratings: a sparse matrix with a prediction at exactly the
        stored entries of ``y_true`` (see :func:`rmse`), or a dense array.

    Returns
    -------
    mae : float
        The mean absolute error (non-negative; lower is better).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import mae
    >>> mae(np.array([[4, 0], [0, 2]]), np.array([[3.0, 0.0], [0.0, 4.0]]))
    1.5
    """
    return float(np.mean(np.abs(_rating_errors(y_true, y_pred))))


def predict_held_out_ratings(estimator, X, y_true):
    """Predictions of ``estimator`` at the stored entries of ``y_true``.

    The path of ``evaluate`` and of the ``"neg_rmse"``/``"neg_mae"``
    scorers: a model with ``predict_ratings`` computes only those pairs
    (clipped to its ``rating_range_``); any other model is scored by
    ``decision_function`` in row batches of bounded size, keeping only the
    entries of ``y_true``. Memory never grows with ``n_users x n_items``.

    Parameters
    ----------
    estimator : fitted recommender
        The final step (a Pipeline's steps before it have already
        transformed ``X``).
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Histories folded in for every row.
    y_true : sparse matrix of shape (n_users, n_items)
        Held-out ratings (canonical CSR); its pattern is rated.

    Returns
    -------
    y_pred : csr_matrix of shape (n_users, n_items)
        A prediction at every stored entry of ``y_true``, its pattern.
    """
    truth = sp.csr_matrix(y_true, copy=True)
    truth.sum_duplicates()
    if hasattr(estimator, "predict_ratings"):
        return estimator.predict_ratings(X, truth)
    n_users, n_items = truth.shape
    X = sp.csr_matrix(X) if sp.issparse(X) else np.asarray(X)
    values = np.empty(truth.nnz, dtype=np.float64)
    batch = max(1, _SCORE_BATCH_ENTRIES // max(n_items, 1))
    for start in range(0, n_users, batch):
        stop = min(n_users, start + batch)
        lo, hi = truth.indptr[start], truth.indptr[stop]
        if lo == hi:
            continue
        scores = np.asarray(estimator.decision_function(X[start:stop]))
        rows = _row_ids(truth.indptr[start : stop + 1] - lo)
        values[lo:hi] = scores[rows, truth.indices[lo:hi]]
    return sp.csr_matrix((values, truth.indices, truth.indptr), shape=truth.shape)
