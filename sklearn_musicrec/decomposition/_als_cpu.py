"""Numba kernels for alternating least squares on the CPU.

Every kernel solves the rows of one side (users or items) independently, with
the other side's factors fixed. Rows are spread over threads in fixed blocks and
each row is solved by one thread with the same sequence of floating-point
operations, so the results do not depend on the number of threads. Reductions
over rows (Gram matrices, losses) are summed in a fixed order for the same
reason.

The implicit-feedback system of one row ``u`` (Hu, Koren & Volinsky 2008) is::

    (G + reg * I + sum_i w_ui y_i y_i^T) x_u = sum_i c_ui y_i

where ``G = Y^T Y`` over all items, the sums run over the row's non-zero
entries, ``c_ui = 1 + scale * r_ui`` is the confidence and ``w_ui = c_ui - 1``.
It is solved either by a few warm-started conjugate-gradient steps (the
product with the system matrix never forms it: ``G p`` plus one pass over the
row's items) or exactly by a Cholesky factorisation.

:class:`CPUBackend` runs the kernels for the fit loop of :mod:`._als_fit`
(and the fold-in of both factor models). This module imports numba; it is
imported lazily by the estimators.
"""

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

from ..utils._cache import keeps_full_copy
from ..utils._parallel import map_in_threads, numba_threads
from ..utils._quantize import as_dense, take_rows
from ..utils._sparse import restrict_to_touched_items

# Rows are processed in blocks of this many rows; the blocks are independent,
# so the block size only affects load balance, never the results.
_BLOCK = 64

# Under fastmath, a loop that both stores to an array and accumulates a sum
# is vectorised behind a run-time aliasing check on the pointers; when the
# check fails (it depends on where the heap placed the buffers) the scalar
# fallback sums in another order. Such loops are therefore split: stores in
# one loop, the reduction in another, so every sum takes one code path and
# results never depend on memory layout or the number of threads.

# How many factor rows ahead of its use a row gather is prefetched.
_PREFETCH = 8


@intrinsic
def _prefetch_row(typingctx, arr, i):
    """Hint the CPU to load row ``i`` of the C-contiguous 2-D ``arr`` into cache.

    A gather of factor rows by item (or user) index defeats the hardware
    prefetcher; issuing the loads a few rows ahead overlaps their latency.
    Prefetches have no effect on results. Only the cache lines of the row's
    first 256 bytes (64 float32 factors) are requested.
    """

    def codegen(context, builder, sig, args):
        aryty, idxty = sig.args
        ary = context.make_array(aryty)(context, builder, args[0])
        idx = context.cast(builder, args[1], idxty, types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer2(
            context,
            builder,
            ary.data,
            cgutils.unpack_tuple(builder, ary.shape),
            cgutils.unpack_tuple(builder, ary.strides),
            aryty.layout,
            [idx, zero],
            wraparound=False,
        )
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0")
        base = builder.bitcast(ptr, i8p)
        for off in range(0, 256, 64):
            line = builder.gep(base, [ir.Constant(ir.IntType(64), off)])
            # read, high temporal locality, data cache
            builder.call(fn, [line, i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(arr, i), codegen


@njit(inline="always")
def _block_bounds(blk, n_rows):
    """The rows ``start:stop`` of block ``blk``."""
    start = blk * _BLOCK
    return start, min(n_rows, start + _BLOCK)


@njit(inline="always")
def _longest_row(indptr, start, stop):
    """The largest number of stored entries of rows ``start:stop``."""
    maxlen = 0
    for u in range(start, stop):
        maxlen = max(maxlen, indptr[u + 1] - indptr[u])
    return maxlen


@njit(fastmath=True, inline="always")
def _sparse_pass(buf, n, v, w, out, dots, initial, track):
    """One pass over a row's gathered factor rows ``buf[:n]`` (the CG workhorse).

    For every ``t``: ``d_t = buf[t] . v`` (kept in ``dots[t]`` when ``track``)
    and ``out += c_t buf[t]`` with ``c_t = w_t d_t``, or ``c_t = (w_t + 1) -
    w_t d_t`` for the ``initial`` residual. Four rows are taken at a time:
    four independent dot products share each load of ``v`` and one update of
    ``out`` serves four rows, which keeps the vector units busier than one
    row at a time. The grouping is fixed, so results never depend on threads.
    """
    k = v.shape[0]
    one = np.float32(1.0)
    t = 0
    while t + 3 < n:
        d0 = np.float32(0.0)
        d1 = np.float32(0.0)
        d2 = np.float32(0.0)
        d3 = np.float32(0.0)
        for a in range(k):
            va = v[a]
            d0 += buf[t, a] * va
            d1 += buf[t + 1, a] * va
            d2 += buf[t + 2, a] * va
            d3 += buf[t + 3, a] * va
        if track:
            dots[t] = d0
            dots[t + 1] = d1
            dots[t + 2] = d2
            dots[t + 3] = d3
        w0, w1, w2, w3 = w[t], w[t + 1], w[t + 2], w[t + 3]
        if initial:
            c0 = (w0 + one) - w0 * d0
            c1 = (w1 + one) - w1 * d1
            c2 = (w2 + one) - w2 * d2
            c3 = (w3 + one) - w3 * d3
        else:
            c0, c1, c2, c3 = w0 * d0, w1 * d1, w2 * d2, w3 * d3
        for a in range(k):
            out[a] += (c0 * buf[t, a] + c1 * buf[t + 1, a]) + (
                c2 * buf[t + 2, a] + c3 * buf[t + 3, a]
            )
        t += 4
    while t < n:
        d = np.float32(0.0)
        for a in range(k):
            d += buf[t, a] * v[a]
        if track:
            dots[t] = d
        wt = w[t]
        c = ((wt + one) - wt * d) if initial else wt * d
        for a in range(k):
            out[a] += c * buf[t, a]
        t += 1


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def implicit_cg_eig(indptr, indices, data, scale, Y, lam, X, cg_steps, row_loss):
    """Update ``X`` in place by ``cg_steps`` warm-started CG steps per row.

    The system is expressed in the eigenbasis of ``Y^T Y + reg * I = Q
    diag(lam) Q^T``: the caller passes ``Y Q`` and ``X Q`` (and rotates the
    result back). The dense part of every row's system is then the diagonal
    ``lam``, so a CG step costs ``O(n_u k)`` instead of the ``O(n_u k + k^2)``
    of the plain form (implicit's), while the iterates are the same up to
    rounding (CG is invariant under an orthogonal change of basis).

    Each row's factor rows are gathered into a contiguous buffer on the first
    pass, so the CG passes stream through it instead of the whole ``Y``. The
    gather is a loop of its own with software prefetches a few rows ahead
    (and into the next row), since random rows of a ``Y`` larger than the
    cache are latency-bound; the arithmetic does not depend on it.

    When ``row_loss`` has one entry per row, the row's observed part of the
    loss at the updated factors, ``sum_i c_ui (1 - s_ui)^2 - s_ui^2``, is
    written to it from that buffer (dot products do not depend on the basis),
    which saves the separate pass of ``implicit_row_loss``. The scores
    ``s_ui = y_i . x_u`` it needs are not recomputed: they are carried along
    the CG steps (``x`` moves by ``alpha p`` and every ``y_i . p`` is already
    computed for the step), an ``O(n_u)`` update per step instead of an
    ``O(n_u k)`` pass.
    """
    n_rows, k = X.shape
    track = row_loss.shape[0] == n_rows
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        r = np.empty(k, dtype=np.float32)
        p = np.empty(k, dtype=np.float32)
        ap = np.empty(k, dtype=np.float32)
        start, stop = _block_bounds(blk, n_rows)
        maxlen = _longest_row(indptr, start, stop)
        buf = np.empty((maxlen, k), dtype=np.float32)
        wbuf = np.empty(maxlen, dtype=np.float32)
        sbuf = np.empty(maxlen if track else 0, dtype=np.float32)
        dbuf = np.empty(maxlen if track else 0, dtype=np.float32)
        for u in range(start, stop):
            x = X[u]
            s0 = indptr[u]
            n = indptr[u + 1] - s0
            for a in range(k):
                r[a] = -lam[a] * x[a]
            # gather first (independent loads, prefetched ahead, the next
            # row's first ones too), then compute from the buffer
            if u == start:
                for t in range(min(n, _PREFETCH)):
                    _prefetch_row(Y, indices[s0 + t])
            for t in range(n):
                if t + _PREFETCH < n:
                    _prefetch_row(Y, indices[s0 + t + _PREFETCH])
                y = Y[indices[s0 + t]]
                for a in range(k):
                    buf[t, a] = y[a]
            if u + 1 < stop:
                s1 = indptr[u + 1]
                for t in range(min(indptr[u + 2] - s1, _PREFETCH)):
                    _prefetch_row(Y, indices[s1 + t])
            for t in range(n):
                wbuf[t] = scale * data[s0 + t]
            # r = b - A x: the sparse part is sum_t ((w_t + 1) - w_t s_t) y_t
            _sparse_pass(buf, n, x, wbuf, r, sbuf, True, track)
            rsold = np.float32(0.0)
            for a in range(k):
                p[a] = r[a]
            for a in range(k):
                rsold += r[a] * r[a]
            for _ in range(cg_steps if rsold >= 1e-20 else 0):
                for a in range(k):
                    ap[a] = lam[a] * p[a]
                _sparse_pass(buf, n, p, wbuf, ap, dbuf, False, track)
                pap = np.float32(0.0)
                for a in range(k):
                    pap += p[a] * ap[a]
                if not pap > 0.0:
                    break
                alpha = rsold / pap
                rsnew = np.float32(0.0)
                for a in range(k):
                    x[a] += alpha * p[a]
                    r[a] -= alpha * ap[a]
                for a in range(k):
                    rsnew += r[a] * r[a]
                if track:
                    for t in range(n):
                        sbuf[t] += alpha * dbuf[t]
                if rsnew < 1e-20:
                    break
                beta = rsnew / rsold
                for a in range(k):
                    p[a] = r[a] + beta * p[a]
                rsold = rsnew
            if track:
                acc = 0.0
                for t in range(n):
                    sv = np.float64(sbuf[t])
                    c = 1.0 + np.float64(wbuf[t])
                    acc += c * (1.0 - sv) * (1.0 - sv) - sv * sv
                row_loss[u] = acc


@njit(fastmath=True, inline="always")
def _cholesky_solve(A, b):
    """Solve ``A x = b`` in place (``b`` becomes ``x``); False if not SPD.

    Only the lower triangle of ``A`` is read; it is overwritten by the factor.
    """
    k = A.shape[0]
    for j in range(k):
        s = A[j, j]
        for m in range(j):
            s -= A[j, m] * A[j, m]
        if not s > 0.0:
            return False
        d = np.sqrt(s)
        A[j, j] = d
        for i in range(j + 1, k):
            s = A[i, j]
            for m in range(j):
                s -= A[i, m] * A[j, m]
            A[i, j] = s / d
    for i in range(k):
        s = b[i]
        for m in range(i):
            s -= A[i, m] * b[m]
        b[i] = s / A[i, i]
    for i in range(k - 1, -1, -1):
        s = b[i]
        for m in range(i + 1, k):
            s -= A[m, i] * b[m]
        b[i] = s / A[i, i]
    return True


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def implicit_exact_eig(indptr, indices, data, scale, Y, lam, Q, X, failed):
    """Solve every row's implicit system exactly, in the eigenbasis.

    As for ``implicit_cg_eig``, ``Y`` is ``Y Q`` and ``lam`` the eigenvalues
    of ``Y^T Y + reg * I`` (float64); the solutions are rotated back by
    ``Q`` here, row by row (so a row's result never depends on the batch),
    and written to ``X``. With ``Z`` the row's gathered factor rows scaled by
    ``sqrt(w)``, the system is ``(diag(lam) + Z^T Z) x = b``. Long rows
    form ``Z^T Z`` (one BLAS product) and factorise the ``k x k`` matrix;
    short rows use the Woodbury identity, which factorises the ``n_u x n_u``
    matrix ``I + Zs Zs^T`` with ``Zs = Z diag(lam^(-1/2))`` instead; each row
    takes the cheaper route (by operation count). Everything is accumulated
    and factorised in float64; the BLAS products run on the calling thread
    (the fit limits BLAS to one thread), so results do not depend on the
    number of threads. ``failed[u]`` is set to 1 where a system is not
    positive definite (the row is then 0).
    """
    n_rows, k = X.shape
    sq = np.empty(k, dtype=np.float64)
    for a in range(k):
        sq[a] = 1.0 / np.sqrt(lam[a]) if lam[a] > 0.0 else 0.0
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        start, stop = _block_bounds(blk, n_rows)
        maxlen = _longest_row(indptr, start, stop)
        Z = np.empty((maxlen, k), dtype=np.float64)
        A = np.empty((k, k), dtype=np.float64)
        mk = min(maxlen, k)
        Mflat = np.empty(mk * mk, dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        v = np.empty(mk, dtype=np.float64)
        for u in range(start, stop):
            s0 = indptr[u]
            n = indptr[u + 1] - s0
            for a in range(k):
                b[a] = 0.0
            m = 0
            for t in range(n):
                wt = scale * np.float64(data[s0 + t])
                y = Y[indices[s0 + t]]
                for a in range(k):
                    b[a] += (wt + 1.0) * y[a]
                if wt > 0.0:
                    sw = np.sqrt(wt)
                    for a in range(k):
                        Z[m, a] = sw * y[a]
                    m += 1
            woodbury = lam[0] > 0.0 and m < k and m * m * (3 * k + m) < k * k * (3 * m + k)
            if woodbury:
                for a in range(k):
                    b[a] = b[a] * sq[a]
                for i in range(m):
                    acc = 0.0
                    for a in range(k):
                        Z[i, a] = Z[i, a] * sq[a]
                    for a in range(k):
                        acc += Z[i, a] * b[a]
                    v[i] = acc
                Zm = Z[:m]
                M = Mflat[: m * m].reshape((m, m))
                if m > 0:  # (BLAS rejects empty operands)
                    np.dot(Zm, Zm.T, M)
                for i in range(m):
                    M[i, i] += 1.0
                ok = _cholesky_solve(M, v[:m])
                if ok:
                    for i in range(m):
                        vi = v[i]
                        for a in range(k):
                            b[a] -= Z[i, a] * vi
                    for a in range(k):
                        b[a] = b[a] * sq[a]
            else:
                Zm = Z[:m]
                if m > 0:
                    np.dot(Zm.T, Zm, A)
                else:
                    A[:, :] = 0.0
                for a in range(k):
                    A[a, a] += lam[a]
                ok = _cholesky_solve(A, b)
            if ok:
                failed[u] = 0
                for a in range(k):
                    acc = 0.0
                    for c in range(k):
                        acc += Q[a, c] * b[c]
                    X[u, a] = acc
            else:
                failed[u] = 1
                for a in range(k):
                    X[u, a] = 0.0


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def implicit_row_loss(indptr, indices, data, scale, Y, X, out):
    """Per-row observed part of the implicit loss.

    ``out[u] = sum_i c_ui (1 - s_ui)^2 - s_ui^2`` with ``s_ui = x_u . y_i``;
    adding ``trace(X^T X Y^T Y)`` and the penalty gives the full objective
    ``sum_ui c_ui (p_ui - s_ui)^2 + reg (|X|^2 + |Y|^2)``.
    """
    n_rows, k = X.shape
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        start, stop = _block_bounds(blk, n_rows)
        for u in range(start, stop):
            x = X[u]
            acc = 0.0
            for jj in range(indptr[u], indptr[u + 1]):
                y = Y[indices[jj]]
                d = np.float32(0.0)
                for a in range(k):
                    d += y[a] * x[a]
                s = np.float64(d)
                c = 1.0 + scale * np.float64(data[jj])
                acc += c * (1.0 - s) * (1.0 - s) - s * s
            out[u] = acc


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def explicit_cholesky(indptr, indices, data, Y, offsets, reg, reg_bias, exponent, X, bias, failed):
    """Biased explicit ALS half-step, solved exactly per row.

    Row ``u`` minimises ``sum_i (r_ui - offsets[i] - bias_u - x_u . y_i)^2
    + w_u * (reg * |x_u|^2 + reg_bias * bias_u^2)`` over ``(bias_u, x_u)``
    with ``w_u = n_u ** exponent`` (``exponent=1`` is the weighted-lambda
    regularisation of Zhou et al. 2008). Rows without ratings get zero
    factors and bias.
    """
    n_rows, k = X.shape
    kk = k + 1
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        A = np.empty((kk, kk), dtype=np.float64)
        b = np.empty(kk, dtype=np.float64)
        z = np.empty(kk, dtype=np.float64)
        start, stop = _block_bounds(blk, n_rows)
        for u in range(start, stop):
            n_u = indptr[u + 1] - indptr[u]
            if n_u == 0:
                failed[u] = 0
                bias[u] = 0.0
                for a in range(k):
                    X[u, a] = 0.0
                continue
            for a in range(kk):
                b[a] = 0.0
                for c in range(a + 1):
                    A[a, c] = 0.0
            w_u = np.float64(n_u) ** exponent
            A[0, 0] = reg_bias * w_u
            for a in range(1, kk):
                A[a, a] = reg * w_u
            for jj in range(indptr[u], indptr[u + 1]):
                i = indices[jj]
                z[0] = 1.0
                for a in range(k):
                    z[a + 1] = Y[i, a]
                t = np.float64(data[jj]) - offsets[i]
                for a in range(kk):
                    za = z[a]
                    b[a] += t * za
                    for c in range(a + 1):
                        A[a, c] += za * z[c]
            ok = _cholesky_solve(A, b)
            if ok:
                failed[u] = 0
                bias[u] = b[0]
                for a in range(k):
                    X[u, a] = b[a + 1]
            else:
                failed[u] = 1
                bias[u] = 0.0
                for a in range(k):
                    X[u, a] = 0.0


@njit(parallel=True, fastmath=True, cache=True, nogil=True)
def explicit_row_loss(indptr, indices, data, Y, offsets, X, bias, out):
    """Per-row sum of squared errors of the biased explicit model."""
    n_rows, k = X.shape
    n_blocks = (n_rows + _BLOCK - 1) // _BLOCK
    for blk in prange(n_blocks):
        start, stop = _block_bounds(blk, n_rows)
        for u in range(start, stop):
            acc = 0.0
            for jj in range(indptr[u], indptr[u + 1]):
                i = indices[jj]
                d = np.float32(0.0)
                for a in range(k):
                    d += Y[i, a] * X[u, a]
                e = np.float64(data[jj]) - offsets[i] - bias[u] - d
                acc += e * e
            out[u] = acc


class CPUBackend:
    """The :class:`~._als_fit.ALSBackend` of the numba kernels above, on host arrays.

    Run its methods inside :meth:`threads`: the kernels and the blocked BLAS
    products use the numba threads, BLAS itself one thread.
    """

    def __init__(self, n_jobs=None):
        self.n_jobs = n_jobs
        self._buffers = {}

    def threads(self):
        return numba_threads(self.n_jobs, blas="single")

    def all_finite(self, *arrays):
        return all(np.isfinite(a).all() for a in arrays)

    def row_loss_buffer(self, n):
        # the CG kernel writes the observed loss terms of the rows it solves
        return np.zeros(n, dtype=np.float64)

    def matrix(self, R):
        return R

    def array(self, a):
        return np.ascontiguousarray(a, dtype=np.float32)

    def host(self, a):
        return a

    def zeros(self, n):
        return np.zeros(n, dtype=np.float32)

    def _buffer(self, name, shape):
        """A reusable float32 work array (fresh memory is slow to fault in)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape, dtype=np.float32)
        return buf

    @staticmethod
    def _map_blocks(func, n_rows, block):
        """``[func(start, stop) ...]`` over fixed blocks of rows, on the numba threads.

        The blocks do not depend on the number of threads, and each is one
        BLAS call on one BLAS thread (numpy releases the GIL), so the results
        are the same at any thread count.
        """
        bounds = [(s, min(n_rows, s + block)) for s in range(0, n_rows, block)]
        return map_in_threads(lambda ab: func(*ab), bounds, numba.get_num_threads())

    def gram(self, Y):
        """``Y^T Y`` in float64: float32 products over blocks of rows, summed in float64."""
        k = Y.shape[1]
        G = np.zeros((k, k), dtype=np.float64)
        for part in self._map_blocks(lambda a, b: Y[a:b].T @ Y[a:b], Y.shape[0], 2048):
            G += part
        return G

    def _rotate(self, A, Q, out):
        """``out = A @ Q`` by fixed blocks of rows, in parallel."""
        self._map_blocks(lambda a, b: np.matmul(A[a:b], Q, out=out[a:b]), A.shape[0], 8192)
        return out

    def _eigensystem(self, Y, reg, G):
        """Eigenvalues and float64 eigenvectors of ``G + reg * I`` (``G = Y^T Y``)."""
        G = self.gram(Y) if G is None else G.copy()
        G[np.diag_indices_from(G)] += reg
        return np.linalg.eigh(G)

    def implicit_exact_step(self, R, Y, X, reg, scale, G=None):
        """Solve every row of ``X`` exactly given ``Y``; returns the singular rows' count.

        ``G`` is ``Y^T Y`` (computed when None). ``X`` and ``Y`` may be in any
        basis as long as it is the same; ``Y`` is not modified.
        """
        return self.implicit_exact_eig_step(R, Y, X, scale, self._eigensystem(Y, reg, G))

    def implicit_exact_eig_step(self, R, Y, X, scale, eig):
        """:meth:`implicit_exact_step` given ``eig = (lam, Q)`` of ``Y^T Y + reg I``.

        ``eig`` may also be :meth:`fold_in_eigensystem`'s ``(lam, Q, YQ)``:
        with the rotated factors ``YQ`` kept beside the model, the kernel
        reads them directly and nothing is rotated per call (``R`` then only
        needs its ``indptr``, ``indices`` and ``data``: any clean CSR
        structure). Otherwise, when the rows touch few items (a few users),
        only those items' factors are rotated into the eigenbasis
        (``O(n_touched k^2)`` instead of ``O(n_items k^2)``); the kernel
        reads nothing else. ``Y`` may be quantised (then only the rows read
        are dequantised, or a temporary float copy is made).
        """
        lam, Q64 = eig[0], eig[1]
        Yr = eig[2] if len(eig) > 2 else None
        if Yr is None:
            Q = Q64.astype(np.float32)
            R_items, items = restrict_to_touched_items(R, Y.shape[0])
            if items is not None:
                R = R_items
                Yr = np.ascontiguousarray(take_rows(Y, items)) @ Q
            else:
                Y = as_dense(Y)
                Yr = self._rotate(Y, Q, self._buffer(("Yr", Y.shape[0]), Y.shape))
        failed = np.zeros(X.shape[0], dtype=np.uint8)
        implicit_exact_eig(R.indptr, R.indices, R.data, np.float64(scale), Yr, lam, Q64, X, failed)
        return int(np.count_nonzero(failed))

    def fold_in_eigensystem(self, Y, reg):
        """``(lam, Q, YQ)`` of ``Y^T Y + reg * I`` for :meth:`implicit_exact_eig_step`.

        ``YQ`` is every item's factors rotated into the eigenbasis (float32),
        kept when ``utils._cache.keeps_full_copy(Y)`` (a plain array of at
        most 64 MiB: the fold-in of one user then rotates nothing); ``None`` for larger
        or quantised factors, which are rotated per call, only the rows a
        fold-in reads (a quantised model stays compressed). ``Y`` may be
        quantised (a temporary float copy is made).
        """
        with self.threads():
            lam, Q = self._eigensystem(as_dense(Y), reg, None)
            YQ = None
            if keeps_full_copy(Y):
                Y32 = np.ascontiguousarray(Y, dtype=np.float32)
                YQ = self._rotate(Y32, Q.astype(np.float32), np.empty(Y.shape, np.float32))
        return lam, Q, YQ

    def rotate_in_place(self, A, Q):
        """``A[:] = A @ Q`` by fixed blocks of rows, in parallel (no full-size copy)."""

        def block(a, b):
            A[a:b] = A[a:b] @ Q

        self._map_blocks(block, A.shape[0], 8192)
        return A

    def implicit_cg_step(self, R, Y, X, reg, scale, cg_steps, G, row_loss=None):
        """``cg_steps`` warm-started CG steps per row of ``X``, in the system's eigenbasis.

        ``G`` is ``Y^T Y`` in the basis the factors are in now. Both ``X`` and
        ``Y`` are rotated, in place and block by block, into the eigenbasis
        ``P`` of ``G + reg * I`` and stay there: the next half-step rotates
        them on from it, so each half-step costs two rotations instead of
        three (``Y``, ``X`` and ``X`` back) and no second copy of either.
        ``U V^T``, the CG iterates (CG is invariant under an orthogonal change
        of basis) and the losses do not depend on the basis; the fit rotates
        the factors back at the end. ``row_loss`` receives each row's observed
        loss. Returns ``(True, P)``, or ``(False, None)`` without touching
        anything if ``G + reg * I`` is not positive definite (CG needs it).
        """
        lam, P64 = self._eigensystem(Y, reg, G)
        if not lam[0] > 0:
            return False, None
        P = P64.astype(np.float32)
        self.rotate_in_place(X, P)
        self.rotate_in_place(Y, P)
        implicit_cg_eig(
            R.indptr,
            R.indices,
            R.data,
            np.float32(scale),
            Y,
            lam.astype(np.float32),
            X,
            cg_steps,
            np.zeros(0, dtype=np.float64) if row_loss is None else row_loss,
        )
        return True, P.astype(np.float64)

    def implicit_loss(self, R, Y, X, reg, scale, GY=None, GX=None, per_row=None):
        """The implicit objective; ``per_row``: observed parts already computed."""
        GY = self.gram(Y) if GY is None else GY
        GX = self.gram(X) if GX is None else GX
        if per_row is None:
            per_row = np.zeros(X.shape[0], dtype=np.float64)
            implicit_row_loss(R.indptr, R.indices, R.data, np.float64(scale), Y, X, per_row)
        dense = np.sum(GX * GY)
        penalty = reg * (np.trace(GX) + np.trace(GY))
        return float(per_row.sum() + dense + penalty)

    def offsets(self, mean, bias):
        return mean + bias.astype(np.float64)

    def explicit_step(self, R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
        failed = np.zeros(X.shape[0], dtype=np.uint8)
        reg_bias = reg if reg_bias is None else reg_bias
        explicit_cholesky(
            R.indptr,
            R.indices,
            R.data,
            Y,
            offsets,
            float(reg),
            float(reg_bias),
            float(exponent),
            X,
            bias,
            failed,
        )
        return int(failed.sum())

    def explicit_sse(self, R, Y, offsets, X, bias):
        per_row = np.zeros(X.shape[0], dtype=np.float64)
        explicit_row_loss(
            R.indptr,
            R.indices,
            R.data,
            Y,
            offsets,
            X,
            bias,
            per_row,
        )
        return float(per_row.sum())
