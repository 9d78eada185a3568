"""The alternating-least-squares fit loop, over a declared backend interface.

:func:`fit_als` runs the iterations of :class:`~._als.ALSFactorizer` on any
:class:`ALSBackend`: the numba kernels on host arrays
(:class:`._als_cpu.CPUBackend`) or the batched torch kernels
(:class:`._als_torch.TorchBackend`, for CUDA). The loop's state (the factors,
the biases, the Gram matrix of the item factors and the basis the factors are
in) is one small object, :class:`ALSState`; each step is a function of it.
"""

import logging
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._base import ill_posed_error

__all__ = ["ALSBackend", "ALSSettings", "ALSState", "backend_for", "fit_als"]

logger = logging.getLogger("sklearn_musicrec.decomposition._als")


class ALSBackend(Protocol):
    """What the fit loop needs from a backend.

    Arrays are the backend's own (NumPy arrays, torch tensors); ``R`` and
    ``RT`` the interaction matrix and its transpose as returned by
    :meth:`matrix`. Every ``*_step`` solves the rows of ``X`` in place with
    ``Y`` fixed and returns the number of rows whose system was singular
    (CG: ``(ok, P)``, see :meth:`implicit_cg_step`).
    """

    def threads(self):
        """Context manager in which the other methods run (thread settings)."""

    def matrix(self, R):
        """The float32 CSR matrix ``R`` in the backend's form."""

    def array(self, a):
        """A float32 copy (or view) of host array ``a`` the backend may update in place."""

    def host(self, a):
        """A float32 NumPy array of backend array ``a``."""

    def zeros(self, n):
        """A float32 vector of ``n`` zeros."""

    def all_finite(self, *arrays):
        """Whether every entry of every array is finite."""

    def row_loss_buffer(self, n):
        """A float64 vector the CG step may fill with per-row loss terms, or None."""

    def gram(self, Y):
        """``Y^T Y`` in float64."""

    def rotate_in_place(self, A, Q):
        """``A[:] = A @ Q``."""

    def implicit_exact_step(self, R, Y, X, reg, scale, G=None):
        """Exact implicit solve of every row of ``X``; the singular rows' count."""

    def implicit_cg_step(self, R, Y, X, reg, scale, cg_steps, G, row_loss=None):
        """Warm-started CG steps; ``(False, None)`` if CG cannot start.

        Returns ``(True, P)`` where ``P`` is the rotation both ``X`` and
        ``Y`` went through (into the eigenbasis of the system), or ``None``
        if they stay in their basis.
        """

    def implicit_loss(self, R, Y, X, reg, scale, GY=None, GX=None, per_row=None):
        """The implicit objective (``per_row``: its observed terms, if known)."""

    def offsets(self, mean, bias):
        """Per-column float64 offsets ``mean + bias``."""

    def explicit_step(self, R, Y, offsets, reg, X, bias, exponent=1.0, reg_bias=None):
        """Biased explicit ridge solve of every row; the singular rows' count."""

    def explicit_sse(self, R, Y, offsets, X, bias):
        """Sum of squared errors on the stored ratings."""


def backend_for(device, n_jobs):
    """The backend that runs ``device`` (``"cpu"``, or a torch device such as ``"cuda"``)."""
    if device == "cpu":
        from ._als_cpu import CPUBackend

        return CPUBackend(n_jobs)
    from ._als_torch import TorchBackend

    return TorchBackend(device)


@dataclass(frozen=True)
class ALSSettings:
    """The problem and the solver: everything :func:`fit_als` reads from the estimator."""

    whom: str
    implicit: bool
    reg: float
    scale: float = 1.0
    exact: bool = False
    cg_steps: int = 3
    max_iter: int = 15
    tol: float = 0.0
    exponent: float = 1.0
    reg_bias: float = 0.0
    verbose: int = 0


@dataclass
class ALSState:
    """What the iterations carry: the factors, biases and cached products.

    On the CPU the CG steps leave both sides in the eigenbasis of the last
    half-step's system (see ``CPUBackend.implicit_cg_step``); ``basis`` is
    the rotation accumulated since the original basis (None: none).
    """

    R: Any
    RT: Any
    U: Any
    V: Any
    mean: float = 0.0
    ubias: Any = None
    ibias: Any = None
    w_u: Any = None
    w_i: Any = None
    G_V: Any = None
    basis: Any = None
    loss_curve: list = field(default_factory=list)


def _init_state(backend, R, U0, V0, settings):
    RT = R.T.tocsr()
    RT.sort_indices()
    # (on the CPU U and V are U0 and V0 themselves, updated in place)
    state = ALSState(backend.matrix(R), backend.matrix(RT), backend.array(U0), backend.array(V0))
    if settings.implicit:
        state.G_V = backend.gram(state.V)
    else:
        state.mean = float(R.data.mean())
        state.ubias, state.ibias = backend.zeros(R.shape[0]), backend.zeros(R.shape[1])
        state.w_u = np.diff(R.indptr).astype(np.float64) ** settings.exponent
        state.w_i = np.diff(RT.indptr).astype(np.float64) ** settings.exponent
    return state


def _non_finite_error(settings, it):
    return ValueError(
        f"{settings.whom}: the factors became non-finite at iteration {it} "
        f"(regularization={settings.reg!r}, confidence_scale={settings.scale!r}); the "
        "problem is ill-posed or badly scaled. Increase "
        "regularization or scale X down."
    )


def _check(backend, settings, failed, side, arrays, it):
    if failed:
        raise ill_posed_error(settings.whom, failed, side, settings.reg)
    if not backend.all_finite(*arrays):
        raise _non_finite_error(settings, it)


def _to_original_basis(backend, state):
    if state.basis is not None:
        back = np.ascontiguousarray(state.basis.T, dtype=np.float32)
        backend.rotate_in_place(state.U, back)
        backend.rotate_in_place(state.V, back)
        state.G_V = backend.gram(state.V)
        state.basis = None


def _implicit_half_step(backend, settings, state, R, X, Y, G, side, it, row_loss=None):
    """Solve the ``side`` rows ``X`` in place; returns ``(P, filled)``.

    ``P`` is the rotation both sides went through (None if none) and
    ``filled`` whether ``row_loss`` was written.
    """
    if not settings.exact:
        ok, P = backend.implicit_cg_step(
            R, Y, X, settings.reg, settings.scale, settings.cg_steps, G, row_loss
        )
        if ok:
            if P is not None:
                state.basis = P if state.basis is None else state.basis @ P
            _check(backend, settings, 0, side, (X,), it)
            return P, row_loss is not None
    # the exact solve, in whatever basis the factors are in, also reports the
    # singular rows where CG could not start
    failed = backend.implicit_exact_step(R, Y, X, settings.reg, settings.scale, G)
    _check(backend, settings, failed, side, (X,), it)
    return None, False


def _explicit_half_step(backend, settings, state, R, Y, other_bias, X, bias, side, it):
    failed = backend.explicit_step(
        R,
        Y,
        backend.offsets(state.mean, other_bias),
        settings.reg,
        X,
        bias,
        settings.exponent,
        settings.reg_bias,
    )
    _check(backend, settings, failed, side, (X, bias), it)


def _explicit_users_step(backend, settings, state, it):
    _explicit_half_step(
        backend, settings, state, state.R, state.V, state.ibias, state.U, state.ubias, "users", it
    )


def _explicit_items_step(backend, settings, state, it):
    _explicit_half_step(
        backend, settings, state, state.RT, state.U, state.ubias, state.V, state.ibias, "items", it
    )


def _explicit_loss(backend, settings, state):
    sse = backend.explicit_sse(
        state.R, state.V, backend.offsets(state.mean, state.ibias), state.U, state.ubias
    )
    Uh = backend.host(state.U).astype(np.float64)
    Vh = backend.host(state.V).astype(np.float64)
    ub = backend.host(state.ubias).astype(np.float64)
    ib = backend.host(state.ibias).astype(np.float64)
    w_u, w_i = state.w_u, state.w_i
    penalty = settings.reg * (
        np.sum(w_u * np.sum(Uh * Uh, axis=1)) + np.sum(w_i * np.sum(Vh * Vh, axis=1))
    ) + settings.reg_bias * (np.sum(w_u * ub * ub) + np.sum(w_i * ib * ib))
    return sse + float(penalty)


def _final_user_step(backend, settings, state, it):
    """Exact user half-step (fold-in's solve); returns the loss after it."""
    if settings.implicit:
        _to_original_basis(backend, state)
        failed = backend.implicit_exact_step(
            state.R, state.V, state.U, settings.reg, settings.scale, state.G_V
        )
        _check(backend, settings, failed, "users", (state.U,), it)
        return backend.implicit_loss(
            state.R, state.V, state.U, settings.reg, settings.scale, state.G_V, None
        )
    _explicit_users_step(backend, settings, state, it)
    return _explicit_loss(backend, settings, state)


def _iteration(backend, settings, state, it):
    """One iteration (users, then items); returns the loss after it.

    The last iteration ends with the exact user half-step.
    """
    if settings.implicit:
        _implicit_half_step(
            backend, settings, state, state.R, state.U, state.V, state.G_V, "users", it
        )
        G_U = backend.gram(state.U)
        # the CPU CG kernel also returns the loss terms of the rows it solves
        # (here the items), saving a pass over the data
        item_loss = backend.row_loss_buffer(state.V.shape[0])
        P, filled = _implicit_half_step(
            backend, settings, state, state.RT, state.V, state.U, G_U, "items", it, item_loss
        )
        if P is not None:
            G_U = P.T @ G_U @ P
        state.G_V = backend.gram(state.V)
    else:
        _explicit_users_step(backend, settings, state, it)
        _explicit_items_step(backend, settings, state, it)
    if it == settings.max_iter:
        return _final_user_step(backend, settings, state, it)
    if settings.implicit:
        return backend.implicit_loss(
            state.R,
            state.V,
            state.U,
            settings.reg,
            settings.scale,
            state.G_V,
            G_U,
            item_loss if filled else None,
        )
    return _explicit_loss(backend, settings, state)


def _report(settings, it, loss, seconds):
    if settings.verbose:
        message = f"{settings.whom} iteration {it}: loss {loss:.6g} ({seconds:.2f}s)"
        print(message)
        logger.info(message)


def fit_als(backend, R, U0, V0, settings):
    """Fit the factors of ``R`` from ``U0``, ``V0`` on ``backend``.

    Each iteration solves the users, then the items (implicit's order:
    starting from the random item factors converges markedly faster than the
    other way round). A final exact user half-step then makes the user
    factors what fold-in computes from the item factors; the last loss
    includes it.

    Parameters
    ----------
    backend : ALSBackend
    R : csr_matrix of float32 of shape (n_users, n_items)
        Clean (no explicit zeros, sorted indices).
    U0, V0 : ndarray of float32
        Initial factors (the CPU backend updates them in place).
    settings : ALSSettings

    Returns
    -------
    state : ALSState
        Host arrays: ``U``, ``V`` (and ``ubias``, ``ibias``, ``mean`` for
        explicit feedback), ``loss_curve``; ``n_iter`` is
        ``len(state.loss_curve)``.
    """
    with backend.threads():
        state = _init_state(backend, R, U0, V0, settings)
        converged = False
        for it in range(1, settings.max_iter + 1):
            tic = time.perf_counter()
            loss = _iteration(backend, settings, state, it)
            if not np.isfinite(loss):
                raise _non_finite_error(settings, it)
            state.loss_curve.append(loss)
            _report(settings, it, loss, time.perf_counter() - tic)
            if it > 1 and settings.tol > 0 and it < settings.max_iter:
                previous = state.loss_curve[-2]
                if previous - loss <= settings.tol * abs(previous):
                    converged = True
                    state.loss_curve[-1] = _final_user_step(backend, settings, state, it)
                    break
        state.U, state.V = backend.host(state.U), backend.host(state.V)
        if not settings.implicit:
            state.ubias, state.ibias = backend.host(state.ubias), backend.host(state.ibias)
    if settings.tol > 0 and not converged:
        warnings.warn(
            f"{settings.whom} did not converge: the relative decrease of the loss "
            f"was still above tol={settings.tol} after max_iter={settings.max_iter} "
            "iterations. Increase max_iter or tol.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return state
