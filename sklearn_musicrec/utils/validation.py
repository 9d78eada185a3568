"""Input validation shared by every recommender.

Validation happens once, at the public boundary: estimators call
:meth:`~sklearn_musicrec.base.RecommenderMixin._validate_fit_data` in ``fit``
and :meth:`~sklearn_musicrec.base.RecommenderMixin._validate_X` in every other
public method; the private kernels then trust their input.
"""

import numbers
import re
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ._sklearn_compat import validate_data

__all__ = [
    "check_k",
    "check_numeric_matrix",
    "check_candidate_items",
    "check_interactions",
    "check_item_ids",
    "item_names_of",
]

_FLOAT_DTYPES = (np.float64, np.float32)
_N_FEATURES_MSG = re.compile(r"X has (\d+) features, but (\w+) is expecting (\d+) features")
_N_DIMS_MSG = re.compile(r"Found array with dim (\d+)")


def check_fitted(estimator):
    """:func:`sklearn.utils.validation.check_is_fitted`, at no cost once fitted.

    Every ``fit`` of the package records ``n_features_in_``; when it is
    there the estimator is fitted and nothing else is inspected (scikit-learn's
    check walks the instance's attributes, a noticeable share of a one-user
    ``recommend``). Otherwise scikit-learn's check runs and raises its
    ``NotFittedError``.
    """
    if "n_features_in_" not in estimator.__dict__:
        check_is_fitted(estimator)


def check_k(k, *, name="k"):
    """Check a list length such as the ``k`` of ``recommend``.

    Parameters
    ----------
    k : int
        Number of items per list; must be an integer >= 1 (``bool`` is
        rejected even though it is an ``int`` subclass).
    name : str, default="k"
        Name of the argument, used in error messages.

    Returns
    -------
    k : int
        ``k`` as a Python ``int``.

    Examples
    --------
    >>> from sklearn_musicrec.utils.validation import check_k
    >>> check_k(5)
    5
    >>> check_k(0)
    Traceback (most recent call last):
    ...
    ValueError: k must be an integer >= 1 (the length of each recommendation list), got 0.
    """
    if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
        raise TypeError(
            f"{name} must be an integer >= 1 (the length of each recommendation "
            f"list), got {k!r} of type {type(k).__name__}."
        )
    if k < 1:
        raise ValueError(
            f"{name} must be an integer >= 1 (the length of each recommendation list), got {k}."
        )
    return int(k)


def _describe_values(values):
    """A short, readable Python scalar for an error message (``-1.0``, not ``np.float64(-1.0)``)."""
    value = values.min()
    return repr(value.item() if hasattr(value, "item") else value)


def _shape_error(exc, X, whom, input_name, fitted):
    """Our message for sklearn's 'Expected 2D array' / 'Found array with dim' errors, or None."""
    msg = str(exc)
    expected = (
        f"{input_name} passed to {whom} must be a 2-D (n_users, n_items) "
        "interaction matrix, one row per user's history"
    )
    if "got scalar array" in msg:
        value = X.item() if isinstance(X, (np.ndarray, np.generic)) else X
        row = value if isinstance(value, numbers.Integral) else "u"
        advice = (
            " Rows are users' histories, not user ids: to recommend for user "
            f"{row} of a training matrix X_train, pass that user's row as a "
            f"1-row matrix, X_train[[{row}]]."
            if fitted
            else ""
        )
        return f"{expected}; got the scalar {value!r}.{advice}"
    if "got 1D array" in msg:
        shape = np.shape(X)
        return (
            f"{expected}; got a 1-D array of shape {shape}. Reshape your data: "
            "one user's history is one row, x.reshape(1, -1) (or X_train[[u]] "
            "for user u of a matrix)."
        )
    match = _N_DIMS_MSG.search(msg)
    if match is not None:
        return f"{expected}; got an array with {match.group(1)} dimensions."
    return None


def _string_value(X):
    """A string held by ``X`` (the reason it is not numeric), or None."""
    if sp.issparse(X):
        return None
    try:
        arr = np.asarray(X)
    except Exception:  # ragged input: sklearn's own message stands
        return None
    if arr.dtype.kind in "USO":
        for value in arr.flat:
            if isinstance(value, (str, bytes)):
                try:
                    float(value)
                except ValueError:
                    return value.item() if isinstance(value, np.generic) else value
    return None


def _check_values(X, whom, input_name):
    """Finite and non-negative stored values, with messages that say what was expected."""
    values = X.data if sp.issparse(X) else X
    if values.size and not np.all(np.isfinite(values)):
        nan = bool(np.isnan(values).any())
        advice = (
            "NaN does not mean 'missing' here: a user-item pair with no "
            "interaction is 0 (or not stored in a sparse matrix). Replace it "
            f"first, e.g. with numpy.nan_to_num({input_name}), or drop those entries."
            if nan
            else "Clip or rescale the infinite values first."
        )
        raise ValueError(
            f"Input {input_name} contains {'NaN' if nan else 'infinity'}: {input_name} "
            f"passed to {whom} must be a user x item interaction matrix with a "
            f"finite weight (play count, rating) in every stored entry. {advice}"
        )
    if values.size and values.min() < 0:
        raise ValueError(
            f"Negative values in data passed to {input_name} of {whom}: "
            f"{input_name} must be a non-negative user x item interaction matrix "
            "(play counts, weights or ratings), but its minimum is "
            f"{_describe_values(values)}."
        )


def _check_csr_structure(X, whom, input_name):
    """Reject a CSR matrix whose arrays do not describe a matrix of its shape.

    scipy checks only the arrays' lengths and dtypes when a CSR matrix is
    built from ``(data, indices, indptr)``; an ``indptr`` that decreases or
    column indices outside ``[0, n_items)`` would make the compiled kernels
    read out of bounds. O(n_rows + nnz): microseconds for one row.
    """
    indptr, indices = X.indptr, X.indices
    n_rows, n_cols = X.shape
    problem = None
    if indptr.shape[0] != n_rows + 1 or indptr[0] != 0 or indptr[-1] > indices.shape[0]:
        problem = "its indptr does not describe its rows"
    elif n_rows > 1 and (indptr[1:] < indptr[:-1]).any():
        problem = "its indptr decreases"
    elif indices.shape[0] and (indices.min() < 0 or indices.max() >= n_cols):
        problem = f"it has column indices outside [0, {n_cols})"
    if problem is not None:
        raise ValueError(
            f"{input_name} passed to {whom} is a malformed CSR matrix: {problem}. "
            "Build it with scipy.sparse.csr_matrix((data, (rows, cols)), shape=...) "
            "or check it with its check_format(full_check=True)."
        )


def _as_canonical(X):
    """``X``, or a canonical copy (sorted indices, duplicates summed) when it is not canonical.

    A non-canonical CSR matrix is valid scipy (its duplicates add up), but
    the kernels read each row's stored entries as its history; the
    caller's matrix is never modified.
    """
    if X.has_canonical_format:
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def _fast_checked(estimator, X, reset, dtype):
    """``X`` itself when it is a CSR matrix that needs no conversion; else None.

    The fast path of :func:`check_interactions` for the serving case (one
    user's row, after ``fit``): it skips scikit-learn's generic
    ``validate_data`` machinery (hundreds of microseconds) when ``X`` is
    already a 2-D CSR matrix of an accepted dtype with the fitted number of
    columns and the estimator has no feature names to compare. Everything
    else, and every error message, goes through the generic path; the
    value and structure checks run on both.
    """
    if reset or estimator is None or not isinstance(X, (sp.csr_matrix, sp.csr_array)):
        return None
    if X.ndim != 2 or X.shape[0] < 1 or X.shape[1] < 1:
        return None
    if isinstance(dtype, str):
        if dtype != "numeric" or X.dtype.kind not in "fiu":
            return None
    elif X.dtype not in (dtype if isinstance(dtype, (tuple, list)) else (dtype,)):
        return None
    if X.shape[1] != getattr(estimator, "n_features_in_", None):
        return None
    if hasattr(estimator, "feature_names_in_"):
        return None  # scikit-learn's warning about missing feature names
    return X


def check_csr_fast(estimator, X, *, dtype=_FLOAT_DTYPES, method="transform", input_name="X"):
    """Validate ``X`` after ``fit`` without scikit-learn's machinery, when it is plain CSR.

    The fast path of :func:`check_interactions`, shared with the weighting
    transformers' ``transform``: when ``X`` is a 2-D CSR matrix of an
    accepted dtype with the fitted number of columns (and the estimator
    recorded no feature names), its structure, values, sorted indices and
    duplicates are checked directly, in O(n_rows + nnz), and it is returned
    (a canonical copy if it had duplicates or unsorted indices). Otherwise
    ``None``: the caller takes the generic path, which also gives every
    error message about shape, dtype and the number of columns.

    Parameters
    ----------
    estimator : fitted estimator
        Its ``n_features_in_`` is the expected number of columns.
    X : object
        Candidate input.
    dtype : dtype, tuple of dtypes or "numeric", default=(np.float64, np.float32)
        Accepted dtypes (no conversion is made on this path).
    method, input_name : str
        For error messages.

    Returns
    -------
    X : CSR matrix or None
    """
    X_fast = _fast_checked(estimator, X, False, dtype)
    if X_fast is None:
        return None
    whom = f"{type(estimator).__name__}.{method}"
    _check_csr_structure(X_fast, whom, input_name)
    _check_values(X_fast, whom, input_name)
    return _as_canonical(X_fast)


def check_interactions(
    estimator,
    X,
    *,
    reset=True,
    dtype=_FLOAT_DTYPES,
    method="fit",
    input_name="X",
    canonical=False,
):
    """Validate a user x item interaction matrix: the one validator of the package.

    Every estimator, splitter, scorer and ``evaluate`` validates interaction
    input here, so the same bad input raises the same exception with the
    same message everywhere: NaN/inf, negative values, empty input, a scalar
    or 1-D or n-D array (with advice: a row of the matrix, not a user id),
    object/string dtype, and a wrong number of columns (items). With an
    estimator it wraps :func:`sklearn.utils.validation.validate_data` (which
    records or checks ``n_features_in_``); without one,
    :func:`sklearn.utils.check_array`.

    Parameters
    ----------
    estimator : estimator instance or None
        The estimator whose ``n_features_in_`` is set (``reset=True``) or
        checked (``reset=False``); ``None`` for a function (then ``method``
        is its name).
    X : {array-like, sparse matrix} of shape (n_users, n_items)
        Interaction matrix. Never modified: a converted copy is returned
        where conversion is needed.
    reset : bool, default=True
        Whether this is ``fit`` (record the number of items) or a later call.
        Ignored without an estimator.
    dtype : "numeric", dtype or tuple of dtypes, default=(np.float64, np.float32)
        Accepted dtypes; other input is converted to the first
        (``"numeric"`` keeps any numeric dtype).
    method : str, default="fit"
        Name of the calling method (or function), for error messages.
    input_name : str, default="X"
        Name of the argument, for error messages.
    canonical : bool, default=False
        Return a canonical copy (sorted indices, duplicates summed, no stored
        zeros) that the caller may modify; otherwise the result may share the
        caller's arrays.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_users, n_items)
        Validated CSR matrix with sorted indices and no duplicate entries
        (the input itself when it was already such a matrix of an accepted
        dtype and ``canonical=False``; a copy with its duplicates summed when
        it was not).

    Notes
    -----
    A CSR matrix of an accepted dtype passed after ``fit`` (the serving
    case: one user's fresh history) skips scikit-learn's generic
    conversion machinery; its shape, dtype, structure (``indptr``, column
    indices in range), finite and non-negative values, sorted indices and
    duplicates are still checked, in O(n_rows + nnz).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.utils.validation import check_interactions
    >>> check_interactions(None, np.array([[0, 2], [1, 0]]), dtype="numeric",
    ...                    method="my_function").nnz
    2
    >>> check_interactions(None, np.array([[0, -2]]), method="my_function")
    Traceback (most recent call last):
    ...
    ValueError: Negative values in data passed to X of my_function: ... minimum is -2.0.
    """
    if estimator is not None:
        whom = f"{type(estimator).__name__}.{method}"
    else:
        whom = method
    X_checked = _fast_checked(estimator, X, reset, dtype)
    if X_checked is None:
        X_checked = _generic_checked(estimator, X, reset, dtype, whom, method, input_name)
    if not sp.issparse(X_checked):
        X_checked = sp.csr_matrix(X_checked)
    elif canonical:
        X_checked = sp.csr_matrix(X_checked, copy=True)
    if sp.issparse(X):
        _check_csr_structure(X_checked, whom, input_name)
    _check_values(X_checked, whom, input_name)
    if canonical:
        X_checked.sum_duplicates()
        X_checked.eliminate_zeros()
        return X_checked
    return _as_canonical(X_checked)


# Column names of a long-format interaction log (one row per listen or per
# user-item pair), the usual shape of raw data before it is encoded.
_USER_COLUMN = re.compile(r"^(user|listener|customer)s?([ _]?(id|name))?$", re.IGNORECASE)
_ITEM_COLUMN = re.compile(
    r"^(item|artist|track|song|movie|album)s?([ _]?(id|name))?$", re.IGNORECASE
)


def _reject_non_matrix(X, whom, input_name):
    """Refuse the two non-matrices people pass by mistake, saying what to pass.

    A dataset ``Bunch`` (any mapping) and a long-format table of interactions
    (a DataFrame with a user column and an item column): the latter would
    otherwise be read as a users x 3 matrix without complaint.
    """
    if isinstance(X, Mapping):
        keys = ", ".join(repr(key) for key in list(X)[:6])
        hint = ""
        if "data" in X:
            hint = " This looks like a dataset Bunch: pass its interaction matrix, bunch.data."
        raise TypeError(
            f"{input_name} passed to {whom} must be a users x items interaction matrix "
            f"(scipy sparse matrix or 2-D array-like), but got a {type(X).__name__} "
            f"with keys {keys}.{hint}"
        )
    columns = getattr(X, "columns", None)
    if columns is None or getattr(X, "ndim", 0) != 2:
        return
    names = [str(name) for name in columns]
    users = [name for name in names if _USER_COLUMN.match(name)]
    items = [name for name in names if _ITEM_COLUMN.match(name)]
    if users and items:
        raise ValueError(
            f"{input_name} passed to {whom} must be a users x items interaction matrix, "
            f"but got a table with columns {names}: this looks like a long-format log "
            "(one row per user-item interaction), which would be read as a matrix with "
            f"{len(names)} items. Encode it first: X = InteractionEncoder("
            f"user_col={users[0]!r}, item_col={items[0]!r}).fit_transform(table) "
            "(sklearn_musicrec.preprocessing.InteractionEncoder)."
        )


def _generic_checked(estimator, X, reset, dtype, whom, method, input_name):
    """scikit-learn's validation of ``X`` (``validate_data`` or ``check_array``), our messages."""
    _reject_non_matrix(X, whom, input_name)
    try:
        if estimator is not None:
            X_checked = validate_data(
                estimator,
                X,
                reset=reset,
                accept_sparse="csr",
                dtype=dtype,
                ensure_all_finite=False,
            )
        else:
            X_checked = check_array(
                X,
                accept_sparse="csr",
                dtype=dtype,
                ensure_all_finite=False,
                input_name=input_name,
            )
    except ValueError as exc:
        example = _string_value(X)
        if example is not None:
            raise ValueError(
                f"{input_name} passed to {whom} must be a numeric interaction matrix "
                "(play counts, weights or ratings): could not convert the string "
                f"{example!r} to a number. Encode user and item ids as row and "
                "column indices first, e.g. with "
                "sklearn_musicrec.preprocessing.InteractionEncoder."
            ) from None
        message = _shape_error(exc, X, whom, input_name, fitted=estimator is not None and not reset)
        if message is not None:
            raise ValueError(message) from None
        match = _N_FEATURES_MSG.search(str(exc))
        if match is None:
            raise
        got, _, expected = match.groups()
        raise ValueError(
            f"{exc} Rows of X are users and columns are items: this "
            f"{type(estimator).__name__} was fitted on {expected} items, so X "
            f"passed to {method} must have {expected} columns, but it has {got}. "
            "(An item x user matrix passed by mistake is the usual cause: "
            "transpose it.)"
        ) from None
    return X_checked


def check_candidate_items(items, n_users, n_items):
    """Validate the ``items`` argument of ``recommend``.

    Parameters
    ----------
    items : None, array-like of int of shape (n_candidates,), or \
            {array-like, sparse matrix} of shape (n_users, n_items)
        ``None`` (every item is a candidate), candidate item ids shared by all
        users (a boolean vector of length ``n_items`` is also accepted), or a
        per-user mask whose non-zero entries are the candidates.
    n_users, n_items : int
        Shape of the ``X`` passed to ``recommend``.

    Returns
    -------
    kind : {"all", "ids", "mask"}
        Which form ``items`` had.
    value : None, ndarray of int64 (sorted, unique) or CSR matrix of bool
        The candidates in that form.
    """
    if items is None:
        return "all", None
    if sp.issparse(items):
        if items.shape != (n_users, n_items):
            raise ValueError(
                "items, given as a per-user candidate mask, must have shape "
                f"(n_users, n_items) = ({n_users}, {n_items}) like X, got "
                f"{items.shape}."
            )
        mask = sp.csr_matrix(items, copy=True)
        if not np.all(np.isfinite(mask.data)):
            raise ValueError("items, given as a candidate mask, contains NaN or inf.")
        mask.data = mask.data != 0
        mask.eliminate_zeros()
        return "mask", mask
    arr = np.asarray(items)
    if arr.ndim == 2:
        if arr.shape != (n_users, n_items):
            raise ValueError(
                "items, given as a per-user candidate mask, must have shape "
                f"(n_users, n_items) = ({n_users}, {n_items}) like X, got "
                f"{arr.shape}."
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                "items, given as a per-user candidate mask, must be boolean or "
                f"numeric, got dtype {arr.dtype}."
            )
        if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise ValueError("items, given as a candidate mask, contains NaN or inf.")
        return "mask", sp.csr_matrix(arr != 0)
    if arr.ndim != 1:
        raise ValueError(
            "items must be None, a 1-D array of candidate item ids, or a 2-D "
            f"(n_users, n_items) candidate mask; got an array with {arr.ndim} "
            "dimensions."
        )
    if arr.dtype.kind == "b":
        if arr.shape[0] != n_items:
            raise ValueError(
                f"items, given as a boolean vector, must have length n_items="
                f"{n_items}, got {arr.shape[0]}."
            )
        return "ids", np.flatnonzero(arr).astype(np.int64)
    return "ids", np.unique(check_item_ids(arr, n_items, name="items"))


def check_item_ids(item_ids, n_items, *, item_names=None, name="item_ids"):
    """Validate query items, such as the ``item_ids`` of ``similar_items``.

    The one item-id validator: ``similar_items`` of every model, the
    ``items`` argument of ``recommend`` and ``predict_ratings`` use it, so a
    bad id gets the same exception and message everywhere.

    Parameters
    ----------
    item_ids : int, str or array-like of shape (n_queries,)
        Item ids (column indices of the training matrix), or item names
        (strings) when ``item_names`` is given.
    n_items : int
        Number of items the model was fitted on.
    item_names : ndarray of str of shape (n_items,), default=None
        The model's ``feature_names_in_`` (the columns of the DataFrame it was
        fitted on), so that names can be used in place of ids.
    name : str, default="item_ids"
        Name of the argument, used in error messages.

    Returns
    -------
    ids : ndarray of int64 of shape (n_queries,)
        The item ids, names resolved to their columns.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.utils.validation import check_item_ids
    >>> check_item_ids(2, 5)
    array([2])
    >>> check_item_ids(["Muse"], 2, item_names=np.array(["Björk", "Muse"], dtype=object))
    array([1])
    >>> check_item_ids([7], 5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: item_ids must be item ids in [0, 5) (columns of the training matrix), got ...
    """
    ids = np.atleast_1d(np.asarray(item_ids))
    if ids.ndim != 1:
        raise ValueError(
            f"{name} must be an item id or a 1-D array of item ids, got an array "
            f"of shape {ids.shape}."
        )
    if ids.size and ids.dtype.kind in "OUS" and item_names is not None:
        index = {str(v): i for i, v in enumerate(item_names.tolist())}
        positions = [index.get(v, -1) if isinstance(v, str) else -1 for v in ids.tolist()]
        positions = np.asarray(positions, dtype=np.int64)
        if (positions < 0).any():
            bad = list(dict.fromkeys(ids[positions < 0].tolist()))
            raise ValueError(
                f"{name} holds {len(bad)} names that are not items the model was "
                f"fitted on (its feature_names_in_), e.g. {bad[:5]}."
            )
        return positions
    if ids.size and (ids.dtype.kind not in "iu" or isinstance(item_ids, (bool, np.bool_))):
        names = (
            " or item names (the model was fitted on named columns)"
            if item_names is not None
            else ""
        )
        raise TypeError(
            f"{name} must hold integer item ids (columns of the training matrix)"
            f"{names}, got dtype {ids.dtype}."
        )
    ids = ids.astype(np.int64, copy=False)
    if ids.size and (ids.min() < 0 or ids.max() >= n_items):
        raise ValueError(
            f"{name} must be item ids in [0, {n_items}) (columns of the training "
            f"matrix), got ids from {ids.min()} to {ids.max()}."
        )
    return ids


def item_names_of(estimator, item_ids=None, *, fill_value=None):
    """Return the item names (``feature_names_in_``) of ids returned by ``estimator``.

    The shared implementation of ``get_item_names``; see
    :meth:`sklearn_musicrec.base.RecommenderMixin.get_item_names`.

    Parameters
    ----------
    estimator : fitted recommender
        A model fitted on a DataFrame with string column names.
    item_ids : array-like of int, default=None
        Item ids (any shape; ``-1`` is padding). ``None`` means every item.
    fill_value : object, default=None
        The name given to padding ids (``-1``); ``None`` makes padding an
        error.

    Returns
    -------
    names : ndarray of object
        The names, of the shape of ``item_ids``.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    names = getattr(estimator, "feature_names_in_", None)
    if names is None:
        raise ValueError(
            f"This {type(estimator).__name__} was fitted on X without column "
            "names, so its items have no names: fit it on a pandas DataFrame "
            "whose columns are the item names (strings), or map the ids back "
            "with InteractionEncoder.inverse_transform_items."
        )
    if item_ids is None:
        return names.copy()
    ids = np.asarray(item_ids)
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError(f"item_ids must be integer item ids, got dtype {ids.dtype}.")
    ids = ids.astype(np.int64, copy=False)
    if ids.size and ids.max() >= names.size:
        raise ValueError(
            f"item_ids must be item ids in [0, {names.size}) (columns of the "
            f"training matrix), or -1 for padding; got ids up to {ids.max()}."
        )
    missing = ids < 0
    if missing.any() and fill_value is None:
        raise ValueError(
            "item_ids contain negative values (the padding of recommend and "
            "similar_items); pass fill_value to map them to a placeholder name."
        )
    out = names[np.where(missing, 0, ids)]
    if missing.any():
        out = out.astype(object)
        out[missing] = fill_value
    return out


def check_numeric_matrix(value, name, description, *, kinds="biuf"):
    """``value`` itself if sparse, else ``np.asarray(value)`` checked to be a numeric 2-D matrix.

    The one check of the auxiliary matrices metrics and splitters take
    (item features, held-out ratings, timestamps); the caller converts the
    result to the layout it computes with.

    Parameters
    ----------
    value : {array-like, sparse matrix}
        The matrix passed by the user.
    name : str
        The argument's name, for the message.
    description : str
        What the matrix holds, e.g. ``"(n_items, n_features)"``.
    kinds : str, default="biuf"
        Accepted dtype kinds of a dense matrix.

    Returns
    -------
    matrix : sparse matrix or ndarray of ndim 2
        ``value`` itself if sparse, else the checked dense array.

    Examples
    --------
    >>> from sklearn_musicrec.utils.validation import check_numeric_matrix
    >>> check_numeric_matrix([[1, 0]], "F", "(n, m)").shape
    (1, 2)
    >>> check_numeric_matrix(["a"], "F", "(n, m)")
    Traceback (most recent call last):
    ...
    ValueError: F must be a numeric 2-D (n, m) matrix, got shape (1,) and dtype <U1.
    """
    if sp.issparse(value):
        return value
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.dtype.kind not in kinds:
        raise ValueError(
            f"{name} must be a numeric 2-D {description} matrix, got shape {arr.shape} "
            f"and dtype {arr.dtype}."
        )
    return arr
