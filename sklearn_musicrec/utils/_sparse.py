"""Small sparse-matrix helpers shared by the numerical kernels and the metrics."""

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

__all__ = [
    "clean_csr_copy",
    "CSRArrays",
    "clean_csr_arrays",
    "lookup",
    "nonzero_pattern",
    "restrict_to_touched_items",
    "row_ids",
]


def clean_csr_copy(X, dtype):
    """A CSR copy of ``X`` in ``dtype``, without explicit zeros, indices sorted.

    Always a copy, so kernels may modify the result without touching the
    caller's matrix (whose arrays a validated ``X`` may share).

    Parameters
    ----------
    X : {array-like, sparse matrix}
        Matrix to copy.
    dtype : dtype
        Dtype of the copy.

    Returns
    -------
    X_clean : scipy.sparse.csr_matrix
    """
    if sp.issparse(X) and X.format == "csr" and X.data.all():
        # one constructor instead of scipy's copy-and-convert chain (the
        # serving path folds one row in per call)
        sorted_indices = X.has_sorted_indices
        X = sp.csr_matrix(
            (X.data.astype(dtype, copy=True), X.indices.copy(), X.indptr.copy()),
            shape=X.shape,
        )
        if not sorted_indices:
            X.sort_indices()
        return X
    X = sp.csr_matrix(X, dtype=dtype, copy=True)
    X.eliminate_zeros()
    X.sort_indices()
    return X


class CSRArrays(NamedTuple):
    """The arrays of a clean CSR matrix, for kernels that only read them.

    What :func:`clean_csr_arrays` returns: no scipy matrix is built (its
    constructor's checks cost more than folding in one user), the arrays
    may be shared with the caller's matrix and must not be modified. The
    rows are canonical (sorted, no duplicates) and store no zero.
    """

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    shape: tuple

    has_canonical_format = True

    @property
    def nnz(self):
        return int(self.indptr[-1])

    @property
    def dtype(self):
        return self.data.dtype

    def tocsr(self):
        """A scipy CSR matrix over the same arrays."""
        X = sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)
        X.has_canonical_format = True
        return X


def clean_csr_arrays(X, dtype):
    """What :func:`clean_csr_copy` makes, as :class:`CSRArrays` sharing ``X``'s arrays where it can.

    For kernels that only read the matrix (a fold-in reads the rows it
    solves): the arrays of a canonical CSR matrix (sorted indices, no
    duplicates) without stored zeros are used as they are, its values
    converted to ``dtype`` only when they have another type, which saves
    every copy on the serving path of one user; anything else is copied and
    cleaned. The result must not be modified.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_musicrec.utils._sparse import clean_csr_arrays
    >>> X = sp.csr_matrix(np.array([[0.0, 2.0], [1.0, 0.0]], dtype=np.float32))
    >>> R = clean_csr_arrays(X, np.float32)
    >>> R.data is X.data, R.nnz, R.shape
    (True, 2, (2, 2))
    """
    if not (sp.issparse(X) and X.format == "csr" and X.has_canonical_format and X.data.all()):
        X = clean_csr_copy(X, dtype)
    data = X.data if X.dtype == dtype else X.data.astype(dtype)
    return CSRArrays(X.indptr, X.indices, data, X.shape)


def nonzero_pattern(X):
    """``(indptr, indices)`` of the non-zero stored entries of CSR ``X``.

    ``X``'s own arrays when it stores no zero (nothing is copied: the
    serving path calls this for every single-user list); otherwise new
    arrays without the stored zeros. Never modifies ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_musicrec.utils._sparse import nonzero_pattern
    >>> X = sp.csr_matrix((np.array([1.0, 0.0, 2.0]), np.array([0, 1, 2]),
    ...                    np.array([0, 2, 3])), shape=(2, 3))
    >>> nonzero_pattern(X)
    (array([0, 1, 2]), array([0, 2], dtype=int32))
    """
    nonzero = X.data != 0
    if nonzero.all():
        return X.indptr, X.indices
    counts = np.concatenate(([0], np.cumsum(nonzero)))
    return counts[X.indptr].astype(np.int64), X.indices[nonzero]


def restrict_to_touched_items(R, n_items):
    """``(R', items)``: ``R`` with its columns renumbered to the items it touches.

    For a fold-in of a few users, whose kernels read the factors of the
    rows' items only: gathering those (and dequantising them, for a
    quantised model) costs ``O(nnz k)`` instead of ``O(n_items k)``.
    ``(R, None)`` when the rows touch too many items for this to pay.
    """
    if 4 * R.nnz >= n_items:
        return R, None
    if R.shape[0] == 1 and R.has_canonical_format:
        # one canonical row (the serving case): its indices are the sorted
        # touched items already
        items = R.indices
        local = np.arange(items.size, dtype=R.indices.dtype)
    else:
        items, inverse = np.unique(R.indices, return_inverse=True)
        local = inverse.astype(R.indices.dtype).reshape(-1)
    R_items = sp.csr_matrix((R.data, local, R.indptr), shape=(R.shape[0], items.size))
    return R_items, items


def row_ids(indptr):
    """Row index of every stored entry of a CSR matrix with this ``indptr``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.utils._sparse import row_ids
    >>> row_ids(np.array([0, 2, 2, 3]))
    array([0, 0, 2])
    """
    return np.repeat(np.arange(indptr.shape[0] - 1, dtype=np.int64), np.diff(indptr))


def lookup(matrix, ids):
    """Positions of ``(u, ids[u, j])`` among the stored entries of ``matrix``.

    ``matrix`` is canonical CSR (sorted indices, no duplicates). Returns an
    int64 array shaped like ``ids`` holding the index into ``matrix.data``,
    or ``-1`` (not stored, or a negative padding id). Vectorised: one
    ``searchsorted`` over row-major keys.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_musicrec.utils._sparse import lookup
    >>> M = sp.csr_matrix(np.array([[0, 5, 7], [1, 0, 0]]))
    >>> lookup(M, np.array([[2, 0], [0, -1]]))
    array([[ 1, -1],
           [ 2, -1]])
    """
    n_rows = ids.shape[0]
    n_cols = max(int(matrix.shape[1]), int(ids.max()) + 1 if ids.size else 0, 1)
    keys = row_ids(matrix.indptr) * n_cols + matrix.indices.astype(np.int64)
    query = np.arange(n_rows, dtype=np.int64)[:, None] * n_cols + ids
    pos = np.searchsorted(keys, query)
    np.minimum(pos, max(keys.shape[0] - 1, 0), out=pos)
    if keys.shape[0] == 0:
        return np.full(ids.shape, -1, dtype=np.int64)
    found = (keys[pos] == query) & (ids >= 0)
    return np.where(found, pos, -1)
