"""PyTorch kernels for alternating least squares (the ``device="cuda"`` path).

All rows of one side are solved together with dense batched operations, the
natural form on a GPU: conjugate gradient as sparse-times-dense products over
the interaction matrix, and exact solves as batched Cholesky factorisations of
per-row systems assembled from outer products. The functions are written for
any torch device (the tests run them on the CPU); the estimators use them for
CUDA only, since the numba kernels are faster on a CPU.

This module imports torch; it is imported lazily by the estimators.
"""

import warnings
from contextlib import nullcontext

import numpy as np
import torch

# Budget, in float32 elements, for the temporary arrays of one chunk (gathered
# factor rows, outer products): 64 Mi elements = 256 MiB.
_CHUNK_ELEMENTS = 1 << 26


class TorchMatrix:
    """A CSR interaction matrix resident on a torch device."""

    def __init__(self, R, device):
        self.shape = R.shape
        self.device = device
        self.indptr_host = np.asarray(R.indptr, dtype=np.int64)
        self.indptr = torch.as_tensor(self.indptr_host, device=device)
        self.indices = torch.as_tensor(np.asarray(R.indices, dtype=np.int64), device=device)
        self.data = torch.as_tensor(np.asarray(R.data, dtype=np.float32), device=device)
        counts = torch.diff(self.indptr)
        self.rows = torch.repeat_interleave(torch.arange(R.shape[0], device=device), counts)
        self.counts = counts

    def spmm(self, values, Y):
        """``csr(values) @ Y`` with this matrix's sparsity pattern."""
        with warnings.catch_warnings():
            # "sparse CSR support is in beta" / "invariant checks disabled"
            warnings.simplefilter("ignore", UserWarning)
            M = torch.sparse_csr_tensor(
                self.indptr, self.indices, values, size=self.shape, device=self.device
            )
            return M @ Y

    def sddmm(self, X, Y):
        """``(X @ Y.T)`` at the stored entries, chunked to bound memory."""
        nnz = self.indices.numel()
        out = torch.empty(nnz, dtype=X.dtype, device=self.device)
        step = max(1, _CHUNK_ELEMENTS // max(1, X.shape[1]))
        for s in range(0, nnz, step):
            e = min(nnz, s + step)
            out[s:e] = (X[self.rows[s:e]] * Y[self.indices[s:e]]).sum(1)
        return out


def gram(Y, reg):
    """``Y^T Y + reg * I`` in float64."""
    Y64 = Y.double()
    G = Y64.T @ Y64
    G.diagonal().add_(reg)
    return G


def _with_reg(Y, reg, G):
    G = gram(Y, 0.0) if G is None else G.clone()
    G.diagonal().add_(reg)
    return G


def implicit_cg(R, Y, X, reg, scale, cg_steps, G=None):
    """Warm-started CG steps for all rows at once; updates ``X`` in place.

    ``G`` is ``Y^T Y`` (float64) when the caller has it.
    """
    G = _with_reg(Y, reg, G).float()
    w = R.data * scale
    b = R.spmm(w + 1.0, Y)
    r = b - X @ G - R.spmm(w * R.sddmm(X, Y), Y)
    p = r.clone()
    rsold = (r * r).sum(1)
    active = rsold >= 1e-20
    for _ in range(cg_steps):
        ap = p @ G + R.spmm(w * R.sddmm(p, Y), Y)
        pap = (p * ap).sum(1)
        active = active & (pap > 0)
        alpha = torch.where(active, rsold / torch.where(active, pap, 1.0), 0.0)
        X += alpha[:, None] * p
        r -= alpha[:, None] * ap
        rsnew = (r * r).sum(1)
        beta = torch.where(active, rsnew / torch.where(rsold > 0, rsold, 1.0), 0.0)
        p = r + beta[:, None] * p
        active = active & (rsnew >= 1e-20)
        rsold = rsnew


def _solve_rows(
    R, Y, A0, weights, targets, X, bias=None, reg_rows=None, reg_bias=None, exponent=1.0
):
    """Exact batched solves of ``(A0 + sum_i w_i z_i z_i^T) x = sum_i t_i z_i``.

    ``z_i`` is ``Y[i]`` (implicit) or ``[1, Y[i]]`` when ``bias`` is given
    (explicit, with the first solution coordinate the row bias, and the
    diagonal ``n_u**exponent * (reg_bias, reg_rows, ...)`` instead of ``A0``). Rows are
    solved in batches and their outer products accumulated in chunks of
    entries, so memory stays bounded whatever the row lengths. Returns the
    number of rows whose system was not positive definite.
    """
    k = Y.shape[1]
    kk = k + (bias is not None)
    device = Y.device
    chunk = max(1, _CHUNK_ELEMENTS // (kk * kk))
    indptr = R.indptr_host
    failed = 0
    eye = torch.eye(kk, dtype=torch.float64, device=device)
    for start in range(0, R.shape[0], chunk):
        stop = min(R.shape[0], start + chunk)
        n = stop - start
        if A0 is not None:
            A = A0.expand(n, kk, kk).clone()
        else:
            diag = torch.full((kk,), reg_rows, dtype=torch.float64, device=device)
            diag[0] = reg_bias
            A = torch.diag_embed(R.counts[start:stop].double().pow(exponent)[:, None] * diag)
        rhs = torch.zeros((n, kk), dtype=torch.float64, device=device)
        for p0 in range(int(indptr[start]), int(indptr[stop]), chunk):
            p1 = min(int(indptr[stop]), p0 + chunk)
            Z = Y[R.indices[p0:p1]].double()
            if bias is not None:
                Z = torch.cat([torch.ones_like(Z[:, :1]), Z], dim=1)
            local = R.rows[p0:p1] - start
            wz = Z * weights[p0:p1, None]
            A.index_add_(0, local, wz[:, :, None] * Z[:, None, :])
            rhs.index_add_(0, local, Z * targets[p0:p1, None])
        if bias is not None:
            # rows without ratings: identity system, zero solution
            A[R.counts[start:stop] == 0] = eye
        L, info = torch.linalg.cholesky_ex(A)
        bad = info != 0
        failed += int(bad.sum())
        L[bad] = eye
        sol = torch.cholesky_solve(rhs[:, :, None], L)[:, :, 0]
        sol[bad] = 0.0
        if bias is not None:
            bias[start:stop] = sol[:, 0].to(bias.dtype)
            X[start:stop] = sol[:, 1:].to(X.dtype)
        else:
            X[start:stop] = sol.to(X.dtype)
    return failed


def implicit_cholesky(R, Y, X, reg, scale, G=None):
    """Exact implicit solve of every row; returns the number of failures."""
    w = (R.data * scale).double()
    return _solve_rows(R, Y, _with_reg(Y, reg, G), w, w + 1.0, X)


def implicit_loss(R, Y, X, reg, scale, GY=None, GX=None):
    """Full implicit objective (see ``_als_cpu.implicit_row_loss``)."""
    GY = gram(Y, 0.0) if GY is None else GY
    GX = gram(X, 0.0) if GX is None else GX
    s = R.sddmm(X, Y).double()
    c = 1.0 + scale * R.data.double()
    observed = (c * (1.0 - s) ** 2 - s * s).sum()
    dense = (GX * GY).sum()
    penalty = reg * (torch.trace(GX) + torch.trace(GY))
    return float(observed + dense + penalty)


def explicit_cholesky(R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
    """Biased explicit ALS half-step (see ``_als_cpu.explicit_cholesky``)."""
    ones = torch.ones_like(R.data, dtype=torch.float64)
    targets = R.data.double() - offsets[R.indices].double()
    return _solve_rows(
        R,
        Y,
        None,
        ones,
        targets,
        X,
        bias=bias,
        reg_rows=reg,
        reg_bias=reg if reg_bias is None else reg_bias,
        exponent=exponent,
    )


def explicit_sse(R, Y, offsets, X, bias):
    """Sum of squared errors on the stored ratings."""
    pred = R.sddmm(X, Y).double() + offsets[R.indices].double() + bias[R.rows].double()
    return float(((R.data.double() - pred) ** 2).sum())


class TorchBackend:
    """The :class:`~._als_fit.ALSBackend` of the torch kernels above.

    Used for CUDA; it runs on any torch device.
    """

    def __init__(self, device):
        self._device = device

    def threads(self):
        return nullcontext()

    def row_loss_buffer(self, n):
        return None  # the CG step here does not compute the loss terms

    def rotate_in_place(self, A, Q):
        A.copy_(A @ torch.as_tensor(Q, dtype=A.dtype, device=A.device))
        return A

    def matrix(self, R):
        return TorchMatrix(R, self._device)

    def array(self, a):
        return torch.as_tensor(np.asarray(a, dtype=np.float32), device=self._device).clone()

    def host(self, a):
        return a.detach().cpu().numpy().astype(np.float32)

    def zeros(self, n):
        return torch.zeros(n, dtype=torch.float32, device=self._device)

    def offsets(self, mean, bias):
        return mean + bias.double()

    def gram(self, Y):
        return gram(Y, 0.0)

    def implicit_exact_step(self, R, Y, X, reg, scale, G=None):
        return implicit_cholesky(R, Y, X, reg, scale, G)

    def implicit_cg_step(self, R, Y, X, reg, scale, cg_steps, G, row_loss=None):
        """CG steps in the original basis (``row_loss`` is not computed here)."""
        implicit_cg(R, Y, X, reg, scale, cg_steps, G)
        return True, None

    def implicit_loss(self, R, Y, X, reg, scale, GY=None, GX=None, per_row=None):
        return implicit_loss(R, Y, X, reg, scale, GY, GX)

    def explicit_step(self, R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
        reg_bias = reg if reg_bias is None else reg_bias
        return explicit_cholesky(R, Y, offsets, reg, X, bias, exponent, reg_bias)

    def explicit_sse(self, R, Y, offsets, X, bias):
        return explicit_sse(R, Y, offsets, X, bias)

    def all_finite(self, *arrays):
        return all(bool(torch.isfinite(a).all()) for a in arrays)
