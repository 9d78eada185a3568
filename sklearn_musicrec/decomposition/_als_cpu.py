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

This module imports numba; it is imported lazily by the estimators.
"""

import numpy as np
from llvmlite import ir
from numba import njit, prange
from numba.core import cgutils, types
from numba.extending import intrinsic

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
        start = blk * _BLOCK
        stop = min(n_rows, start + _BLOCK)
        maxlen = 0
        for u in range(start, stop):
            maxlen = max(maxlen, indptr[u + 1] - indptr[u])
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
        start = blk * _BLOCK
        stop = min(n_rows, start + _BLOCK)
        maxlen = 0
        for u in range(start, stop):
            maxlen = max(maxlen, indptr[u + 1] - indptr[u])
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
        start = blk * _BLOCK
        stop = min(n_rows, start + _BLOCK)
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
        start = blk * _BLOCK
        stop = min(n_rows, start + _BLOCK)
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
        start = blk * _BLOCK
        stop = min(n_rows, start + _BLOCK)
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


# Columns per chunk of the top-k scan: once a row's k best are known, a chunk
# none of whose scores beats the k-th best is skipped after one vectorised
# count, which is most chunks of a long row.
_TOPK_CHUNK = 64


@njit(parallel=True, cache=True, nogil=True)
def topk_rows(S, seen_indptr, seen_indices, exclude_seen, k, ids, vals):
    """Top ``k`` columns of every row of ``S``, best first.

    Follows ``utils._topk.topk_per_row``: among equal scores the lower column
    comes first; ``-inf`` and NaN entries are never selected and the free
    slots are padded with id ``-1`` and ``-inf``. With ``exclude_seen`` the
    row's stored columns (``seen_indptr``/``seen_indices``, CSR) are
    overwritten with ``-inf`` first (``S`` is scratch).

    The row is scanned in chunks of ``_TOPK_CHUNK`` columns; when ``k``
    entries are held, a chunk is first checked for any score above the k-th
    best (a branch-free count the compiler vectorises) and skipped if there
    is none, which is exactly what the per-entry test would conclude.
    """
    n_rows, n_cols = S.shape
    neg_inf = -np.inf
    for r in prange(n_rows):
        row = S[r]
        if exclude_seen:
            for jj in range(seen_indptr[r], seen_indptr[r + 1]):
                row[seen_indices[jj]] = neg_inf
        v = vals[r]
        d = ids[r]
        cnt = 0
        for j0 in range(0, n_cols, _TOPK_CHUNK):
            j1 = min(n_cols, j0 + _TOPK_CHUNK)
            if cnt == k:
                worst = v[k - 1]
                above = 0
                for j in range(j0, j1):
                    above += row[j] > worst
                if above == 0:
                    continue
            for j in range(j0, j1):
                s = row[j]
                if not s > neg_inf:
                    continue
                if cnt == k and not s > v[k - 1]:
                    continue
                pos = cnt if cnt < k else k - 1
                while pos > 0 and v[pos - 1] < s:
                    v[pos] = v[pos - 1]
                    d[pos] = d[pos - 1]
                    pos -= 1
                v[pos] = s
                d[pos] = j
                if cnt < k:
                    cnt += 1
        for pos in range(cnt, k):
            v[pos] = neg_inf
            d[pos] = -1
