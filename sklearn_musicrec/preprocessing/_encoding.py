"""Encode raw (user, item[, value[, timestamp]]) records into a sparse matrix."""

import inspect
import warnings
from collections.abc import Hashable, Mapping
from numbers import Integral
from typing import Any, Literal, Self

import numpy as np
import scipy.sparse as sp
from numpy.typing import ArrayLike, DTypeLike
from sklearn.exceptions import NotFittedError
from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

__all__ = ["InteractionEncoder"]

# Records: a pandas DataFrame, a mapping of column name to 1-D array-like, or a
# 2-D array-like (pandas is optional, so its type is not named here).
Records = Any

_DUPLICATES = ("sum", "last")
_HANDLE_UNKNOWN = ("error", "ignore")


def _is_dataframe(X):
    return hasattr(X, "columns") and hasattr(X, "iloc")


def _lookup(categories, values):
    """Index of each of ``values`` in the sorted ``categories``; -1 where absent."""
    values = np.asarray(values)
    if categories.size == 0 or values.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    try:
        pos = np.searchsorted(categories, values)
        pos = np.minimum(pos, categories.size - 1)
        found = categories[pos] == values
        if isinstance(found, np.ndarray) and found.shape == values.shape:
            return np.where(found, pos, -1).astype(np.int64)
    except (TypeError, ValueError):
        pass
    # Incomparable kinds (e.g. str ids looked up among int ids): exact lookup.
    index = {value: i for i, value in enumerate(categories.tolist())}
    return np.fromiter(
        (index.get(v, -1) for v in values.tolist()), dtype=np.int64, count=values.size
    )


def _sorted_categories(column, name):
    """Sorted distinct ids of a raw id column, with a clear error for bad ids."""
    if column.dtype.kind == "f" and np.isnan(column).any():
        raise ValueError(f"The {name} column contains NaN; every record needs an id.")
    if column.dtype.kind == "O" and any(v is None or v != v for v in column.tolist()):
        raise ValueError(f"The {name} column contains missing values (None or NaN).")
    try:
        return np.unique(column)
    except TypeError as exc:
        kinds = sorted({type(v).__name__ for v in column.tolist()})
        raise TypeError(
            f"The {name} ids must be mutually comparable (all numbers or all "
            f"strings); got a mix of {kinds}."
        ) from exc


class InteractionEncoder:
    """Encode raw interaction records as a users x items sparse matrix, and back.

    Users' listening logs come as records ``(user, item[, value[, timestamp]])``
    with their own ids (strings, large integers...). ``fit`` learns the sorted
    distinct user and item ids; ``transform`` builds the CSR matrix that every
    recommender of this package takes (row ``i`` is user ``user_ids_[i]``,
    column ``j`` is item ``item_ids_[j]``); ``inverse_transform`` and
    :meth:`inverse_transform_items` map matrices and recommended item indices
    back to the raw ids.

    It is not an estimator of the user x item contract: its input is a table
    of records, not a 2-D numeric matrix, so it does not inherit
    :class:`~sklearn.base.BaseEstimator` and is not run through scikit-learn's
    estimator checks. It provides ``get_params``/``set_params`` and
    ``fit_transform``, so it can be cloned.

    It is not a pipeline step: a pipeline's samples are the rows it is given,
    here records, while a recommender's samples are users. Cross-validation
    would split records (one user's records in both folds), and
    ``recommend``/``score`` would answer for the encoder's users rather than
    for the rows passed in. Encode first and pass the matrix to the
    recommender or to a :class:`~sklearn_musicrec.pipeline.RecommenderPipeline`
    (which refuses an ``InteractionEncoder`` step with this explanation).

    Parameters
    ----------
    user_col, item_col : int or str, default=0 and 1
        The columns holding the user and item ids: a name (pandas DataFrame
        column or mapping key) or a position (2-D array column, or DataFrame
        column position when no column has that name).

    value_col : int, str or None, default=None
        The column holding the interaction strength (play count, rating).
        None means each record counts 1, so with ``duplicates="sum"`` the
        matrix holds the number of records per (user, item), e.g. plays from a
        scrobble log.

    timestamp_col : int, str or None, default=None
        The column holding the time of each record (numbers, or
        ``datetime64`` converted to Unix seconds). Used by
        ``duplicates="last"`` to find the latest record, and returned by
        ``transform(..., return_timestamps=True)``.

    duplicates : {"sum", "last"}, default="sum"
        How records of the same (user, item) pair combine. ``"sum"`` adds
        their values (the timestamp is the latest one); ``"last"`` keeps the
        latest record: the one with the largest timestamp when
        ``timestamp_col`` is set (ties: the later row), else the later row.

    handle_unknown : {"error", "ignore"}, default="error"
        What ``transform`` does with a record whose user or item was not seen
        in ``fit``: raise a ``ValueError`` naming some of them, or drop the
        record. ``transform_users``/``transform_items`` return -1 for unknown
        ids under ``"ignore"``.

    dtype : numpy dtype, default=np.float64
        The dtype of the matrix values.

    Attributes
    ----------
    user_ids_ : ndarray of shape (n_users,)
        The sorted distinct user ids seen in ``fit``; row ``i`` is ``user_ids_[i]``.

    item_ids_ : ndarray of shape (n_items,)
        The sorted distinct item ids seen in ``fit``; column ``j`` is ``item_ids_[j]``.

    n_users_, n_items_ : int
        The matrix shape.

    See Also
    --------
    sklearn.preprocessing.OrdinalEncoder : Encode one categorical column.

    Notes
    -----
    Records whose value is 0 are kept as explicitly stored zeros, so that the
    matrix of values and the matrix of timestamps share one sparsity pattern.
    Rows of the output always follow ``user_ids_``: users present in ``fit``
    but absent from the records passed to ``transform`` get empty rows, which
    keeps train and test matrices aligned. To recommend for users unseen in
    ``fit`` (fold-in), encode their records with :meth:`transform_new_users`,
    which builds one row per user of the records against the fitted items.

    Examples
    --------
    >>> from sklearn_musicrec.preprocessing import InteractionEncoder
    >>> log = {"user": ["ann", "bob", "ann", "ann"],
    ...        "artist": ["Muse", "Muse", "Björk", "Muse"]}
    >>> enc = InteractionEncoder(user_col="user", item_col="artist")
    >>> X = enc.fit_transform(log)
    >>> X.toarray()
    array([[1., 2.],
           [0., 1.]])
    >>> enc.user_ids_.tolist(), enc.item_ids_.tolist()
    (['ann', 'bob'], ['Björk', 'Muse'])
    >>> enc.inverse_transform_items([[1, 0]]).tolist()
    [['Muse', 'Björk']]

    A new listener, encoded against the fitted artists for fold-in:

    >>> X_new, users = enc.transform_new_users(
    ...     {"user": ["cid", "cid"], "artist": ["Björk", "Air"]}, handle_unknown="ignore")
    >>> users.tolist(), X_new.toarray()
    (['cid'], array([[1., 0.]]))
    """

    def __init__(
        self,
        *,
        user_col: Hashable = 0,
        item_col: Hashable = 1,
        value_col: Hashable | None = None,
        timestamp_col: Hashable | None = None,
        duplicates: Literal["sum", "last"] = "sum",
        handle_unknown: Literal["error", "ignore"] = "error",
        dtype: DTypeLike = np.float64,
    ) -> None:
        self.user_col = user_col
        self.item_col = item_col
        self.value_col = value_col
        self.timestamp_col = timestamp_col
        self.duplicates = duplicates
        self.handle_unknown = handle_unknown
        self.dtype = dtype

    # ------------------------------------------------------------------
    # scikit-learn protocol (parameters, tags, repr) without BaseEstimator
    # ------------------------------------------------------------------

    @classmethod
    def _get_param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Get the parameters of this encoder.

        Parameters
        ----------
        deep : bool, default=True
            Ignored; the encoder has no sub-estimators.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Self:
        """Set the parameters of this encoder.

        Parameters
        ----------
        **params : dict
            Encoder parameters.

        Returns
        -------
        self : InteractionEncoder
            The encoder.
        """
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for InteractionEncoder; valid "
                    f"parameters are {valid}."
                )
            setattr(self, name, value)
        return self

    def __sklearn_tags__(self):
        return Tags(
            estimator_type=None,
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(preserves_dtype=[]),
            input_tags=InputTags(two_d_array=True, string=True, categorical=True, dict=True),
            requires_fit=True,
        )

    def __repr__(self):
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = []
        for name in self._get_param_names():
            value = getattr(self, name)
            default = defaults[name]
            same = value is default or (type(value) is type(default) and value == default)
            if not same:
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # ------------------------------------------------------------------
    # Input handling
    # ------------------------------------------------------------------

    def _check_params(self):
        if self.duplicates not in _DUPLICATES:
            raise ValueError(
                f"The 'duplicates' parameter must be one of {list(_DUPLICATES)}; "
                f"got {self.duplicates!r}."
            )
        if self.handle_unknown not in _HANDLE_UNKNOWN:
            raise ValueError(
                f"The 'handle_unknown' parameter must be one of {list(_HANDLE_UNKNOWN)}; "
                f"got {self.handle_unknown!r}."
            )
        columns = {
            "user_col": self.user_col,
            "item_col": self.item_col,
            "value_col": self.value_col,
            "timestamp_col": self.timestamp_col,
        }
        for name, col in columns.items():
            optional = name in ("value_col", "timestamp_col")
            if (col is None and optional) or isinstance(col, str):
                continue
            if isinstance(col, Integral) and not isinstance(col, bool):
                continue
            expected = "an int, a str or None" if optional else "an int or a str"
            raise TypeError(f"The {name!r} parameter must be {expected}; got {col!r}.")
        used = [c for c in columns.values() if c is not None]
        if len(set(map(repr, used))) != len(used):
            raise ValueError(f"The column parameters must name distinct columns; got {columns}.")
        try:
            np.dtype(self.dtype)
        except TypeError as exc:
            raise TypeError(
                f"The 'dtype' parameter must be a numpy dtype; got {self.dtype!r}."
            ) from exc

    def _column(self, X, col, name):
        """Extract column ``col`` of the records ``X`` as a 1-D ndarray."""
        if _is_dataframe(X):
            if col in X.columns:
                values = X[col]
            elif isinstance(col, Integral) and 0 <= col < X.shape[1]:
                values = X.iloc[:, col]
            else:
                raise ValueError(
                    f"{name}={col!r} is not a column of the DataFrame (columns: {list(X.columns)})."
                )
            return np.asarray(values.to_numpy())
        if isinstance(X, Mapping):
            if col not in X:
                raise ValueError(f"{name}={col!r} is not a key of X (keys: {list(X)}).")
            values = np.asarray(X[col])
            if values.ndim != 1:
                raise ValueError(f"X[{col!r}] must be 1-D; got shape {values.shape}.")
            return values
        if not isinstance(col, Integral):
            raise TypeError(
                f"{name}={col!r} names a column, but X is not a pandas DataFrame or a "
                f"mapping of columns (got {type(X).__name__}); use column positions."
            )
        if not 0 <= col < X.shape[1]:
            raise ValueError(f"{name}={col} is out of range for X with {X.shape[1]} columns.")
        return X[:, col]

    def _as_records(self, X):
        """Normalise ``X`` and return (users, items, values, timestamps)."""
        if sp.issparse(X):
            raise TypeError(
                "X must hold interaction records (a DataFrame, a mapping of columns "
                "or a 2-D array of shape (n_records, n_columns)), not a sparse matrix; "
                "a users x items matrix needs no encoding."
            )
        if not (_is_dataframe(X) or isinstance(X, Mapping)):
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(
                    f"X must be a 2-D array of records of shape (n_records, n_columns); "
                    f"got an array of shape {X.shape}."
                )
        users = self._column(X, self.user_col, "user_col")
        items = self._column(X, self.item_col, "item_col")
        n = users.shape[0]
        if items.shape[0] != n:
            raise ValueError(
                f"The user and item columns differ in length ({n} vs {items.shape[0]})."
            )
        if self.value_col is None:
            values = np.ones(n, dtype=self.dtype)
        else:
            raw = self._column(X, self.value_col, "value_col")
            try:
                values = raw.astype(self.dtype)
            except (TypeError, ValueError) as exc:
                raise ValueError(
                    f"The value column must be numeric; got {raw.dtype} values."
                ) from exc
            if values.shape[0] != n:
                raise ValueError("The value column differs in length from the id columns.")
            if np.issubdtype(values.dtype, np.floating) and not np.isfinite(values).all():
                raise ValueError("The value column contains NaN or infinite values.")
        timestamps = None
        if self.timestamp_col is not None:
            raw = self._column(X, self.timestamp_col, "timestamp_col")
            if raw.dtype.kind == "M":
                if np.isnat(raw).any():
                    raise ValueError("The timestamp column contains NaT values.")
                timestamps = raw.astype("datetime64[s]").astype(np.int64)
            else:
                try:
                    timestamps = raw.astype(np.float64)
                except (TypeError, ValueError) as exc:
                    raise ValueError(
                        f"The timestamp column must be numeric or datetime64; got {raw.dtype}."
                    ) from exc
                if not np.isfinite(timestamps).all():
                    raise ValueError("The timestamp column contains NaN or infinite values.")
                if (
                    np.array_equal(timestamps, np.round(timestamps))
                    and np.abs(timestamps).max(initial=0) < 2**53
                ):
                    timestamps = timestamps.astype(np.int64)
            if timestamps.shape[0] != n:
                raise ValueError("The timestamp column differs in length from the id columns.")
        return users, items, values, timestamps

    def _check_fitted(self):
        if not hasattr(self, "item_ids_"):
            raise NotFittedError(
                "This InteractionEncoder instance is not fitted yet. Call 'fit' with "
                "the interaction records first."
            )

    # ------------------------------------------------------------------
    # Fit / transform
    # ------------------------------------------------------------------

    def fit(self, X: Records, y: None = None) -> Self:
        """Learn the distinct user and item ids of the records ``X``.

        Parameters
        ----------
        X : pandas DataFrame, mapping of 1-D arrays, or array-like of shape (n_records, n_columns)
            The interaction records; the columns are chosen by ``user_col``,
            ``item_col``, ``value_col`` and ``timestamp_col``.

        y : None
            Ignored.

        Returns
        -------
        self : InteractionEncoder
            The fitted encoder.
        """
        self._check_params()
        users, items, _, _ = self._as_records(X)
        if users.shape[0] == 0:
            raise ValueError("X holds 0 records; at least one is required to fit.")
        self.user_ids_ = _sorted_categories(users, "user")
        self.item_ids_ = _sorted_categories(items, "item")
        self.n_users_ = int(self.user_ids_.size)
        self.n_items_ = int(self.item_ids_.size)
        if _is_dataframe(X):
            self._fitted_on_ = "frame"
        else:
            self._fitted_on_ = "mapping" if isinstance(X, Mapping) else "array"
        return self

    def transform(
        self, X: Records, *, return_timestamps: bool = False
    ) -> sp.csr_matrix | tuple[sp.csr_matrix, sp.csr_matrix]:
        """Build the users x items matrix of the records ``X``.

        Parameters
        ----------
        X : pandas DataFrame, mapping of 1-D arrays, or array-like of shape (n_records, n_columns)
            The interaction records, in the layout used in ``fit``.

        return_timestamps : bool, default=False
            Also return the matrix of timestamps (needs ``timestamp_col``).

        Returns
        -------
        X_out : scipy.sparse.csr_matrix of shape (``n_users_``, ``n_items_``)
            The combined values (see ``duplicates``).

        timestamps : scipy.sparse.csr_matrix of shape (``n_users_``, ``n_items_``)
            Only with ``return_timestamps=True``: the timestamp of each stored
            entry (the latest of the combined records), with the sparsity
            pattern of ``X_out``.
        """
        self._check_fitted()
        self._check_params()
        if return_timestamps and self.timestamp_col is None:
            raise ValueError("return_timestamps=True needs the timestamp_col parameter to be set.")
        users, items, values, timestamps = self._as_records(X)
        rows = _lookup(self.user_ids_, users)
        cols = _lookup(self.item_ids_, items)
        unknown = (rows < 0) | (cols < 0)
        if unknown.any():
            if self.handle_unknown == "error":
                parts = []
                for what, mask, raw in (("users", rows < 0, users), ("items", cols < 0, items)):
                    if mask.any():
                        ids = list(dict.fromkeys(raw[mask].tolist()))
                        parts.append(f"{len(ids)} unknown {what} (e.g. {ids[:5]})")
                raise ValueError(
                    "X holds ids not seen in fit: " + "; ".join(parts) + ". Set "
                    "handle_unknown='ignore' to drop those records."
                )
            keep = ~unknown
            rows, cols, values = rows[keep], cols[keep], values[keep]
            if timestamps is not None:
                timestamps = timestamps[keep]
        matrix, times = self._combine(rows, cols, values, timestamps)
        return (matrix, times) if return_timestamps else matrix

    def transform_new_users(self, X, *, handle_unknown=None):
        """Encode the records of new users against the fitted items.

        Unlike :meth:`transform`, whose rows are always the users seen in
        ``fit``, this builds one row per distinct user of ``X`` (seen in
        ``fit`` or not), over the fitted item columns: the histories to pass
        to ``recommend`` (or ``transform``, ``predict_ratings``...) of a model
        fitted on :meth:`transform`'s output, which folds them in. Records
        combine as in :meth:`transform` (see ``duplicates``).

        Parameters
        ----------
        X : pandas DataFrame, mapping of 1-D arrays, or array-like of shape (n_records, n_columns)
            The new users' interaction records, in the layout used in ``fit``.

        handle_unknown : {"error", "ignore", "warn"} or None, default=None
            What to do with records of items not seen in ``fit`` (they have
            no column): ``"error"`` raises a ``ValueError`` with their number
            and some of the ids; ``"ignore"`` drops them; ``"warn"`` drops
            them with a ``UserWarning`` giving their number. ``None`` uses
            the encoder's ``handle_unknown`` parameter. A user all of whose
            records are dropped keeps an empty row (recommenders answer such
            rows with popular items).

        Returns
        -------
        X_new : scipy.sparse.csr_matrix of shape (n_new_users, ``n_items_``)
            One row per user of ``X``, in the order of ``user_ids``.

        user_ids : ndarray of shape (n_new_users,)
            The sorted distinct raw user ids of ``X``; row ``i`` of ``X_new``
            is ``user_ids[i]`` (pass it to :meth:`inverse_transform` as
            ``user_ids`` to map ``X_new`` back to records).
        """
        self._check_fitted()
        self._check_params()
        mode = self.handle_unknown if handle_unknown is None else handle_unknown
        if mode not in ("error", "ignore", "warn"):
            raise ValueError(
                "handle_unknown must be 'error', 'ignore', 'warn' or None (the "
                f"encoder's handle_unknown parameter); got {handle_unknown!r}."
            )
        users, items, values, timestamps = self._as_records(X)
        user_ids = _sorted_categories(users, "user") if users.size else np.asarray(users)[:0].copy()
        rows = _lookup(user_ids, users)
        cols = _lookup(self.item_ids_, items)
        unknown = cols < 0
        if unknown.any():
            ids = list(dict.fromkeys(items[unknown].tolist()))
            message = (
                f"{int(unknown.sum())} records of {len(ids)} items not seen in fit (e.g. {ids[:5]})"
            )
            if mode == "error":
                raise ValueError(
                    f"X holds {message}. Pass handle_unknown='ignore' or 'warn' to drop "
                    "those records."
                )
            if mode == "warn":
                warnings.warn(f"Dropped {message}.", UserWarning, stacklevel=2)
            keep = ~unknown
            rows, cols, values = rows[keep], cols[keep], values[keep]
            if timestamps is not None:
                timestamps = timestamps[keep]
        matrix, _ = self._combine(rows, cols, values, timestamps, n_users=user_ids.size)
        return matrix, user_ids

    def fit_transform(
        self, X: Records, y: None = None, *, return_timestamps: bool = False
    ) -> sp.csr_matrix | tuple[sp.csr_matrix, sp.csr_matrix]:
        """Fit to the records ``X``, then build their matrix.

        Parameters
        ----------
        X : pandas DataFrame, mapping of 1-D arrays, or array-like of shape (n_records, n_columns)
            The interaction records.

        y : None
            Ignored.

        return_timestamps : bool, default=False
            Also return the matrix of timestamps (needs ``timestamp_col``).

        Returns
        -------
        X_out : scipy.sparse.csr_matrix of shape (``n_users_``, ``n_items_``)
            See :meth:`transform`.

        timestamps : scipy.sparse.csr_matrix of shape (``n_users_``, ``n_items_``)
            Only with ``return_timestamps=True``.
        """
        return self.fit(X).transform(X, return_timestamps=return_timestamps)

    def _combine(self, rows, cols, values, timestamps, n_users=None):
        n_users = self.n_users_ if n_users is None else n_users
        n_items = self.n_items_
        if n_users * n_items >= 2**63:  # pragma: no cover - astronomically large
            raise ValueError("Too many users x items to index with int64 keys.")
        keys = rows.astype(np.int64) * n_items + cols
        positions = np.arange(keys.size)
        if self.duplicates == "sum":
            uniq, inverse = np.unique(keys, return_inverse=True)
            out_values = np.zeros(uniq.size, dtype=np.result_type(values.dtype, np.float64))
            np.add.at(out_values, inverse, values)
            out_values = out_values.astype(self.dtype, copy=False)
            out_times = None
            if timestamps is not None:
                out_times = np.full(uniq.size, np.iinfo(np.int64).min, dtype=np.int64)
                if timestamps.dtype.kind == "f":
                    out_times = np.full(uniq.size, -np.inf)
                np.maximum.at(out_times, inverse, timestamps)
        else:
            if timestamps is not None:
                order = np.lexsort((positions, timestamps, keys))
            else:
                order = np.lexsort((positions, keys))
            sorted_keys = keys[order]
            last = np.ones(sorted_keys.size, dtype=bool)
            last[:-1] = sorted_keys[1:] != sorted_keys[:-1]
            chosen = order[last]
            uniq = sorted_keys[last]
            out_values = values[chosen].astype(self.dtype, copy=False)
            out_times = None if timestamps is None else timestamps[chosen]
        out_rows = uniq // n_items
        out_cols = (uniq % n_items).astype(np.int64)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(out_rows, minlength=n_users), out=indptr[1:])
        matrix = sp.csr_matrix((out_values, out_cols, indptr), shape=(n_users, n_items))
        times = None
        if out_times is not None:
            times = sp.csr_matrix(
                (out_times, out_cols.copy(), indptr.copy()), shape=(n_users, n_items)
            )
        return matrix, times

    # ------------------------------------------------------------------
    # Back to raw ids
    # ------------------------------------------------------------------

    def inverse_transform(
        self, X: ArrayLike | sp.spmatrix | sp.sparray, *, user_ids: ArrayLike | None = None
    ) -> Records:
        """Turn a users x items matrix back into raw records.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (``n_users_``, ``n_items_``)
            A matrix in the encoded space (e.g. the output of
            :meth:`transform`). Every stored entry of a sparse matrix (every
            non-zero entry of a dense one) becomes a record.

        user_ids : array-like of shape (n_rows,), default=None
            The raw user id of each row of ``X``, for a matrix whose rows are
            not ``user_ids_`` (e.g. the ``user_ids`` returned by
            :meth:`transform_new_users`); then ``X`` has shape
            ``(n_rows, n_items_)``.

        Returns
        -------
        records : pandas DataFrame, dict of ndarrays, or ndarray of shape (n_records, 3)
            ``(user, item, value)`` records in row-major order, in the layout
            ``fit`` received: a DataFrame (columns named by ``user_col``,
            ``item_col`` and ``value_col``, or ``"value"``) if it got a
            DataFrame, a dict with those keys if it got a mapping, else a 2-D
            array (object dtype when the ids are not all numbers).
        """
        self._check_fitted()
        matrix = sp.csr_matrix(X)  # (a copy-free view of CSR input; converts the others)
        row_ids = self.user_ids_ if user_ids is None else np.asarray(user_ids)
        if row_ids.ndim != 1:
            raise ValueError(f"user_ids must be 1-D; got an array of shape {row_ids.shape}.")
        if matrix.shape != (row_ids.size, self.n_items_):
            rows_are = "n_users_" if user_ids is None else "len(user_ids)"
            raise ValueError(
                f"X has shape {matrix.shape}; this encoder expects matrices of shape "
                f"({rows_are}, n_items_) = ({row_ids.size}, {self.n_items_})."
            )
        matrix = matrix.copy()
        matrix.sort_indices()
        rows = np.repeat(np.arange(row_ids.size), np.diff(matrix.indptr))
        users = row_ids[rows]
        items = self.item_ids_[matrix.indices]
        values = np.asarray(matrix.data)
        value_name = self.value_col if self.value_col is not None else "value"
        if self._fitted_on_ in ("frame", "mapping"):
            columns = {self.user_col: users, self.item_col: items, value_name: values}
            if self._fitted_on_ == "frame":
                import pandas as pd

                return pd.DataFrame(columns)
            return columns
        kinds = {users.dtype.kind, items.dtype.kind, values.dtype.kind}
        if kinds <= set("biuf"):
            return np.column_stack([users, items, values])
        out = np.empty((values.size, 3), dtype=object)
        out[:, 0], out[:, 1], out[:, 2] = users, items, values
        return out

    def _encode_ids(self, categories, ids, what):
        self._check_fitted()
        ids = np.asarray(ids)
        index = _lookup(categories, ids.ravel()).reshape(ids.shape)
        if self.handle_unknown == "error" and (index < 0).any():
            bad = list(dict.fromkeys(ids[index < 0].tolist()))
            raise ValueError(f"{len(bad)} unknown {what} ids (e.g. {bad[:5]}).")
        return index

    def _decode_ids(self, categories, indices, fill_value, what):
        self._check_fitted()
        indices = np.asarray(indices)
        if indices.dtype.kind not in "iu":
            raise TypeError(f"{what} indices must be integers; got dtype {indices.dtype}.")
        if (indices >= categories.size).any():
            raise ValueError(f"{what} indices must be < {categories.size}; got {indices.max()}.")
        missing = indices < 0
        if missing.any() and fill_value is None:
            raise ValueError(
                f"{what} indices contain negative values (the padding of "
                "recommend); pass fill_value to map them to a placeholder id."
            )
        out = categories[np.where(missing, 0, indices)]
        if missing.any():
            out = np.where(missing, np.asarray(fill_value, dtype=object), out.astype(object))
            if np.asarray(fill_value).dtype.kind == categories.dtype.kind:
                out = out.astype(categories.dtype)
        return out

    def transform_users(self, user_ids: ArrayLike) -> np.ndarray:
        """Row index of each raw user id (-1 if unknown and ``handle_unknown="ignore"``).

        Parameters
        ----------
        user_ids : array-like
            Raw user ids, any shape.

        Returns
        -------
        indices : ndarray of int64, same shape as ``user_ids``
            Row positions of the users in the encoded matrix.
        """
        return self._encode_ids(self.user_ids_, user_ids, "user")

    def transform_items(self, item_ids: ArrayLike) -> np.ndarray:
        """Column index of each raw item id (-1 if unknown and ``handle_unknown="ignore"``).

        Parameters
        ----------
        item_ids : array-like
            Raw item ids, any shape (e.g. a candidate list for ``recommend``'s
            ``items`` argument).

        Returns
        -------
        indices : ndarray of int64, same shape as ``item_ids``
            Column positions of the items in the encoded matrix.
        """
        return self._encode_ids(self.item_ids_, item_ids, "item")

    def inverse_transform_users(self, indices: ArrayLike, *, fill_value: Any = None) -> np.ndarray:
        """Raw user id of each row index.

        Parameters
        ----------
        indices : array-like of int
            Row indices, any shape.

        fill_value : object, default=None
            The id returned for negative indices; None raises on them.

        Returns
        -------
        user_ids : ndarray, same shape as ``indices``
            The original user ids of the rows ``indices``.
        """
        return self._decode_ids(self.user_ids_, indices, fill_value, "user")

    def inverse_transform_items(self, indices: ArrayLike, *, fill_value: Any = None) -> np.ndarray:
        """Raw item id of each column index, e.g. of the ids ``recommend`` returns.

        Parameters
        ----------
        indices : array-like of int
            Column indices, any shape.

        fill_value : object, default=None
            The id returned for negative indices (``recommend`` pads short
            lists with -1); None raises on them.

        Returns
        -------
        item_ids : ndarray, same shape as ``indices``
            The original item ids of the columns ``indices``.
        """
        return self._decode_ids(self.item_ids_, indices, fill_value, "item")
