"""Input checks and shared kernels for the metrics.

Private: the public metric functions validate their input here once and then
work on plain arrays (a CSR truth matrix, an int64 id matrix).
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning

from ..utils._sparse import row_ids as _row_ids  # noqa: F401  (used by _ranking, _rating)
from ..utils.validation import check_interactions, check_k

_WHOM = "a metric"

__all__ = []


def _check_recommended(y_recommended, k=None, *, name="y_recommended"):
    """Validate a matrix of recommended item ids.

    Returns ``(ids, k)``: ``ids`` an int64 array of shape ``(n_users, L)``
    with ``L = min(k, n_columns)`` (a list is cut to its first ``k`` ids;
    a ``k`` beyond the list length treats the missing positions as
    padding), ``-1`` marking padding; ``k`` the list length as an ``int``.
    """
    if sp.issparse(y_recommended):
        raise TypeError(
            f"{name} must be a dense 2-D array of item ids as returned by "
            "recommend (best first, -1 for padding), got a sparse matrix."
        )
    arr = np.asarray(y_recommended)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of item ids of shape (n_users, k) as "
            f"returned by recommend, got an array with {arr.ndim} dimension(s) "
            f"and shape {arr.shape}."
        )
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise TypeError(
            f"{name} must hold integer item ids (best first, -1 for padding), "
            f"got dtype {arr.dtype}."
        )
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(
                f"{name} must hold integer item ids, got non-integral or non-finite values."
            )
    ids = arr.astype(np.int64, copy=False)
    if ids.size and ids.min() < -1:
        raise ValueError(f"{name} must hold item ids >= 0, or -1 for padding; got {ids.min()}.")
    if k is None:
        if ids.shape[1] == 0:
            raise ValueError(f"{name} has no columns and k is None: pass k, the list length.")
        k = ids.shape[1]
    else:
        k = check_k(k)
    return ids[:, :k], k


def _check_truth(y_true, n_users, *, name="y_true", allow_1d=True):
    """Validate the relevant items of each user.

    Parameters
    ----------
    y_true : array-like of int of shape (n_users,), or {array-like, sparse \
            matrix} of shape (n_users, n_items)
        One held-out item id per user (a negative id means "no held-out
        item"), or a matrix whose positive entries are the relevant items
        (their values are the graded relevance).
    n_users : int or None
        Expected number of rows (``None``: not checked).

    Returns
    -------
    truth : csr_array of shape (n_users, n_items)
        Canonical (sorted indices, no duplicates, no stored zeros), float64
        positive values.
    is_1d : bool
    """
    if not sp.issparse(y_true) and np.ndim(y_true) == 1:
        arr = np.asarray(y_true)
        if not allow_1d:
            raise ValueError(
                f"{name} must be a 2-D (n_users, n_items) matrix here, got "
                f"a 1-D array of shape {arr.shape}."
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{name}, given as 1-D, must hold integer item ids (one per user, "
                f"negative for none), got dtype {arr.dtype}."
            )
        if arr.dtype.kind == "b":
            raise TypeError(
                f"{name}, given as 1-D, must hold integer item ids (one per "
                "user, negative for none), got booleans."
            )
        if arr.dtype.kind == "f" and (np.any(~np.isfinite(arr)) or np.any(arr != np.round(arr))):
            raise ValueError(
                f"{name}, given as 1-D, must hold integer item ids (one per "
                "user, negative for none), got non-integral or non-finite "
                "values."
            )
        ids = arr.astype(np.int64)
        has = ids >= 0
        indptr = np.zeros(ids.shape[0] + 1, dtype=np.int64)
        np.cumsum(has, out=indptr[1:])
        n_items = int(ids.max()) + 1 if has.any() else 0
        truth = sp.csr_array(
            (np.ones(int(has.sum())), ids[has], indptr),
            shape=(ids.shape[0], n_items),
        )
        is_1d = True
    else:
        # The interaction validator of the package: same checks, same messages.
        checked = check_interactions(None, y_true, dtype=np.float64, method=_WHOM, input_name=name)
        # share the validated arrays; copied below only if they need changes
        truth = sp.csr_array((checked.data, checked.indices, checked.indptr), shape=checked.shape)
        if not checked.has_canonical_format:
            truth = truth.copy()
            truth.sum_duplicates()
        if truth.data.size and not truth.data.all():
            truth = truth.copy()
            truth.eliminate_zeros()
        is_1d = False
    if n_users is not None and truth.shape[0] != n_users:
        raise ValueError(
            f"{name} has {truth.shape[0]} users (rows) but y_recommended has "
            f"{n_users}: they must describe the same users in the same order."
        )
    return truth, is_1d


def _check_item_range(ids, n_items, *, name="y_recommended", other="y_true"):
    if ids.size and ids.max() >= n_items:
        raise ValueError(
            f"{name} holds item id {ids.max()} but {other} describes only "
            f"{n_items} items (ids 0..{n_items - 1})."
        )


def _average(values, per_user, *, what="relevant items", metric="metric"):
    """Mean over the defined (non-NaN) users, warning about the others."""
    undefined = np.isnan(values)
    n_undefined = int(undefined.sum())
    if n_undefined:
        if n_undefined == values.shape[0]:
            msg = f"{metric} is undefined for every user (none has {what}); returning 0.0."
        else:
            msg = (
                f"{metric}: {n_undefined} of {values.shape[0]} users have no "
                f"{what} and are skipped."
            )
        warnings.warn(msg, UndefinedMetricWarning, stacklevel=4)  # metric, validate_params, caller
    if per_user:
        return values
    if n_undefined == values.shape[0]:
        return 0.0
    return float(values[~undefined].mean())
