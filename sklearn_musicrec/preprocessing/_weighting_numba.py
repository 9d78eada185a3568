"""Compiled (numba) kernel of :class:`~._weighting.BM25Weighting`.

One pass over the stored entries instead of numpy's six temporaries: the
serving path weights one user's row per request. The arithmetic is the
float64 formula of the class docstring, operation for operation, so the
result does not depend on the batch a row comes in.

This module imports numba: import it lazily.
"""

import numpy as np
from numba import njit

__all__ = ["bm25_values"]


@njit(cache=True, nogil=True)
def bm25_values(indptr, indices, data, idf, k1, b, avg_length, out):
    """BM25 weight of every stored entry of a CSR matrix, into float64 ``out``.

    ``length(u)`` is the row's sum, accumulated in float64 in storage order;
    a stored zero stays zero.
    """
    for r in range(indptr.shape[0] - 1):
        start, stop = indptr[r], indptr[r + 1]
        length = 0.0
        for t in range(start, stop):
            length += np.float64(data[t])
        norm = k1 * (1.0 - b + b * length / avg_length)
        for t in range(start, stop):
            x = np.float64(data[t])
            if x != 0.0:
                out[t] = x * (k1 + 1.0) / (x + norm) * idf[indices[t]]
            else:
                out[t] = 0.0
