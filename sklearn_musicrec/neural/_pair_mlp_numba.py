"""Compiled (numba) CPU kernels of DeepCF's one-hidden-layer MLP over all pairs.

Full-catalogue scoring of a one-hidden-layer MLP branch needs, for every
user ``u`` and item ``i``, ``sum_h w[h] * relu(A[u, h] + B[i, h])`` where
``A`` and ``B`` are the user and item halves of the first layer (it is
linear in the concatenated ``[u, v]``). torch can only do this by
materialising the ``(users, items, width)`` activations (several GB for a
few thousand users); this kernel fuses the add, the ReLU and the dot with
the output weights per pair, so nothing but the ``(users, items)`` logits is
written. Training's backward pass uses ``relu_dot_grad_rows`` (once per
half). Each logit and each gradient entry is one fixed-order sum: the result
does not depend on the number of threads.

This module imports numba: import it lazily.
"""

import numpy as np
from numba import njit, prange

__all__ = ["add_relu_dot", "relu_dot_grad_rows"]

# items per block: a block of the (items, width) half stays in the L2 cache
# while every user of a row block reads it
_ITEM_BLOCK = 512
_USER_BLOCK = 16


@njit(fastmath=True, cache=True, nogil=True, parallel=True)
def add_relu_dot(A, B, w, out):
    """``out[u, i] += sum_h w[h] * max(A[u, h] + B[i, h], 0)``, in place.

    Parameters
    ----------
    A : ndarray of float32 of shape (n_users, width)
        User half of the first layer (with its bias), C-contiguous.
    B : ndarray of float32 of shape (n_items, width)
        Item half of the first layer, C-contiguous.
    w : ndarray of float32 of shape (width,)
        Output weights of the hidden layer.
    out : ndarray of float32 of shape (n_users, n_items)
        Logits to add to, C-contiguous.
    """
    n_users, width = A.shape
    n_items = B.shape[0]
    zero = np.float32(0.0)
    n_blocks = (n_users + _USER_BLOCK - 1) // _USER_BLOCK
    for block in prange(n_blocks):
        u0 = block * _USER_BLOCK
        u1 = min(u0 + _USER_BLOCK, n_users)
        for i0 in range(0, n_items, _ITEM_BLOCK):
            i1 = min(i0 + _ITEM_BLOCK, n_items)
            for u in range(u0, u1):
                a = A[u]
                row = out[u]
                for i in range(i0, i1):
                    b = B[i]
                    s = zero
                    for h in range(width):
                        s += w[h] * max(a[h] + b[h], zero)
                    row[i] += s


@njit(fastmath=True, cache=True, nogil=True, parallel=True)
def relu_dot_grad_rows(A, B, w, G, gA, gw):
    """Gradients of ``L = relu_dot(A, B, w)`` for the rows of ``A``, in place.

    With ``z = A[r, h] + B[c, h]`` and the upstream gradient ``G`` of shape
    (rows of ``A``, rows of ``B``): ``gA[r, h] = w[h] sum_c G[r, c] [z > 0]``
    and, unless ``gw`` is None, ``gw[r, h] = sum_c G[r, c] max(z, 0)`` (per
    row; the caller sums ``gw`` over the rows). ``z`` is symmetric in the
    two halves, so the item half's gradient is this kernel with the halves
    swapped and ``G`` transposed (C-contiguous), ``gw=None``: numba compiles
    that case without the ``gw`` work. Each entry is one fixed-order sum,
    whatever the number of threads.
    """
    n_rows, width = A.shape
    n_cols = B.shape[0]
    zero = np.float32(0.0)
    for r in prange(n_rows):
        a = A[r]
        g = G[r]
        acc = np.zeros(width, dtype=np.float32)
        accw = np.zeros(width, dtype=np.float32)
        for c in range(n_cols):
            gc = g[c]
            if gc == zero:  # masked negatives have no gradient
                continue
            b = B[c]
            for h in range(width):
                z = a[h] + b[h]
                pos = z > zero
                acc[h] += gc if pos else zero
                if gw is not None:
                    accw[h] += gc * z if pos else zero
        for h in range(width):
            gA[r, h] = acc[h] * w[h]
            if gw is not None:
                gw[r, h] = accw[h]
