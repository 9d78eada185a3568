"""Vectorised integer hashing for deterministic, position-free randomness.

Used wherever a pseudo-random value must depend on *what* a row contains,
not on where the row sits in a matrix (holdout scorers, splitters, the random
baseline), so that results are invariant to row order and batching.
"""

import numpy as np

__all__ = ["splitmix64", "row_set_hashes"]

_U64 = np.uint64
_GOLDEN = _U64(0x9E3779B97F4A7C15)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)


def splitmix64(x):
    """SplitMix64 finaliser, element-wise on a uint64 array (wrapping).

    Parameters
    ----------
    x : ndarray of uint64
        Values to hash.

    Returns
    -------
    h : ndarray of uint64
        Well-mixed hashes, same shape as ``x``.
    """
    x = x + _GOLDEN
    x = (x ^ (x >> _U64(30))) * _MIX1
    x = (x ^ (x >> _U64(27))) * _MIX2
    return x ^ (x >> _U64(31))


def row_set_hashes(indptr, indices, seed):
    """A uint64 hash of the *set* of column indices of every CSR row.

    The hash is an order-free (wrapping) sum of hashed indices, mixed with
    ``seed``: it depends neither on the row's position nor on the order of its
    indices. Rows must hold no duplicate indices.

    Parameters
    ----------
    indptr, indices : ndarray
        CSR structure.
    seed : int
        Unsigned 64-bit seed.

    Returns
    -------
    hashes : ndarray of uint64 of shape (n_rows,)
    items : ndarray of uint64 of shape (nnz,)
        The hashed indices, reusable by the caller.
    """
    items = splitmix64(np.asarray(indices).astype(_U64) + _U64(1))
    csum = np.concatenate(([_U64(0)], np.cumsum(items, dtype=_U64)))
    row_sum = csum[indptr[1:]] - csum[indptr[:-1]]  # wraps: order-free sum
    return splitmix64(row_sum ^ _U64(seed)), items
