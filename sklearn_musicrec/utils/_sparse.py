"""Small sparse-matrix helpers shared by the numerical kernels."""

import scipy.sparse as sp

__all__ = ["clean_csr_copy"]


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
    X = sp.csr_matrix(X, dtype=dtype, copy=True)
    X.eliminate_zeros()
    X.sort_indices()
    return X
