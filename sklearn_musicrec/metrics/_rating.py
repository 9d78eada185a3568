"""Explicit-feedback (rating prediction) metrics."""

import numpy as np
import scipy.sparse as sp

from ..utils._sklearn_compat import validate_params
from ._validation import _row_ids

_RATING_CONSTRAINTS = {
    "y_true": ["array-like", "sparse matrix"],
    "y_pred": ["array-like"],
}

__all__ = ["mae", "rmse"]


def _rating_errors(y_true, y_pred):
    """Prediction errors at the stored ratings of ``y_true``."""
    if sp.issparse(y_true):
        truth = sp.csr_array(y_true, dtype=np.float64, copy=True)
        truth.sum_duplicates()
    else:
        arr = np.asarray(y_true)
        if arr.ndim != 2 or arr.dtype.kind not in "biuf":
            raise ValueError(
                "y_true must be a 2-D (n_users, n_items) matrix of held-out "
                f"ratings, got shape {arr.shape} and dtype {arr.dtype}."
            )
        truth = sp.csr_array(arr.astype(np.float64))  # non-zero entries are ratings
    if truth.data.size and not np.all(np.isfinite(truth.data)):
        raise ValueError("y_true contains NaN or infinity.")
    if sp.issparse(y_pred):
        raise TypeError(
            "y_pred must be a dense (n_users, n_items) array of predicted "
            "ratings (e.g. from decision_function), got a sparse matrix."
        )
    pred = np.asarray(y_pred)
    if pred.shape != truth.shape or pred.dtype.kind not in "iuf":
        raise ValueError(
            f"y_pred must be a numeric array of y_true's shape {truth.shape}, "
            f"got shape {pred.shape} and dtype {pred.dtype}."
        )
    if truth.nnz == 0:
        raise ValueError("y_true holds no ratings: there is nothing to compare.")
    predicted = pred[_row_ids(truth.indptr), truth.indices].astype(np.float64)
    if not np.all(np.isfinite(predicted)):
        raise ValueError("y_pred is NaN or infinite at some held-out ratings.")
    return predicted - truth.data


@validate_params(_RATING_CONSTRAINTS, prefer_skip_nested_validation=True)
def rmse(y_true, y_pred):
    """Root mean squared error over all held-out ratings.

    The mean runs over ratings, not users (the convention of the Netflix
    prize and of Surprise), so heavy raters weigh more.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_users, n_items)
        Held-out ratings: the stored entries of a sparse matrix, or the
        non-zero entries of a dense one.
    y_pred : array-like of shape (n_users, n_items)
        Predicted ratings, e.g. ``decision_function`` of an explicit model.

    Returns
    -------
    rmse : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import rmse
    >>> y_true = np.array([[4, 0], [0, 2]])
    >>> rmse(y_true, np.array([[3.0, 9.0], [9.0, 3.0]]))
    1.0
    """
    err = _rating_errors(y_true, y_pred)
    return float(np.sqrt(np.mean(err**2)))


@validate_params(_RATING_CONSTRAINTS, prefer_skip_nested_validation=True)
def mae(y_true, y_pred):
    """Mean absolute error over all held-out ratings.

    Parameters
    ----------
    y_true : {array-like, sparse matrix} of shape (n_users, n_items)
        Held-out ratings: the stored entries of a sparse matrix, or the
        non-zero entries of a dense one.
    y_pred : array-like of shape (n_users, n_items)
        Predicted ratings.

    Returns
    -------
    mae : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.metrics import mae
    >>> mae(np.array([[4, 0], [0, 2]]), np.array([[3.0, 0.0], [0.0, 4.0]]))
    1.5
    """
    return float(np.mean(np.abs(_rating_errors(y_true, y_pred))))
