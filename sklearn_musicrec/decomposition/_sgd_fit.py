"""The epoch loop of :class:`~._sgd.SGDFactorizer`, over the kernels of :mod:`._sgd_cpu`."""

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SGDSettings", "fit_sgd"]

logger = logging.getLogger("sklearn_musicrec.decomposition._sgd")


@dataclass(frozen=True)
class SGDSettings:
    """Everything :func:`fit_sgd` reads from the estimator.

    ``reg_u``, ``reg_i``, ``reg_bu``, ``reg_bi`` are the squared loss's
    float32 per-update penalties of every user and item (None for BPR, which
    uses ``reg``).
    """

    whom: str
    squared: bool
    learning_rate: float
    max_iter: int
    mean: float = 0.0
    reg: float = 0.0
    reg_u: Any = None
    reg_i: Any = None
    reg_bu: Any = None
    reg_bi: Any = None
    n_negatives: int = 1
    verbose: int = 0


def fit_sgd(R, P, Q, bu, bi, rng, settings):
    """Run ``settings.max_iter`` epochs on ``R``, updating the parameters in place.

    Parameters
    ----------
    R : csr_matrix of float32 of shape (n_users, n_items)
        Clean (no explicit zeros, sorted indices).
    P, Q : ndarray of float32
        User and item factors.
    bu, bi : ndarray of float32
        User and item biases (``bu`` unused by BPR).
    rng : numpy.random.RandomState
        Draws each epoch's sample order (squared) or seed (BPR).
    settings : SGDSettings

    Returns
    -------
    loss_curve : list of float
        Per-epoch training RMSE (squared) or sampled AUC (BPR).
    """
    from . import _sgd_cpu

    n_users, n_items = R.shape
    rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(R.indptr))
    loss_curve = []
    for epoch in range(settings.max_iter):
        tic = time.perf_counter()
        if settings.squared:
            order = rng.permutation(R.nnz)
            sse = _sgd_cpu.squared_epoch(
                rows,
                R.indices,
                R.data,
                order,
                settings.mean,
                P,
                Q,
                bu,
                bi,
                settings.learning_rate,
                settings.reg_u,
                settings.reg_i,
                settings.reg_bu,
                settings.reg_bi,
            )
            value = float(np.sqrt(sse / R.nnz))
        else:
            value = _sgd_cpu.bpr_epoch(
                R.indptr,
                R.indices,
                rows,
                n_items,
                P,
                Q,
                bi,
                settings.learning_rate,
                settings.reg,
                settings.n_negatives,
                int(rng.randint(0, 2**31 - 1)),
            )
        if not (np.isfinite(P).all() and np.isfinite(Q).all()):
            raise ValueError(
                f"{settings.whom}: SGD diverged (non-finite factors at "
                f"epoch {epoch + 1}); lower learning_rate="
                f"{settings.learning_rate!r} or scale X down."
            )
        loss_curve.append(value)
        if settings.verbose:
            message = (
                f"{settings.whom} epoch {epoch + 1}: "
                f"{'rmse' if settings.squared else 'sampled AUC'} {value:.6g} "
                f"({time.perf_counter() - tic:.2f}s)"
            )
            print(message)
            logger.info(message)
    return loss_curve
