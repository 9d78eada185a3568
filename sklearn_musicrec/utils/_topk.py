"""Top-k selection over rows of a dense score matrix."""

import numpy as np

from ._parallel import map_in_threads
from ._sklearn_compat import _openmp_effective_n_threads

__all__ = ["topk_per_row"]

# Below this many scores, threads cost more than they save.
_PARALLEL_MIN_SIZE = 1 << 20


def _select_top(scores, kk):
    """Unordered column indices of the ``kk`` largest entries of each row."""
    n_cols = scores.shape[1]
    n_threads = min(_openmp_effective_n_threads(), scores.shape[0])
    if n_threads < 2 or scores.size < _PARALLEL_MIN_SIZE:
        return np.argpartition(scores, n_cols - kk, axis=1)[:, n_cols - kk :]
    # argpartition releases the GIL: split the rows between threads. Each
    # row's result depends on that row alone, so the split changes nothing.
    blocks = np.array_split(np.arange(scores.shape[0]), n_threads)
    parts = map_in_threads(
        lambda rows: np.argpartition(scores[rows[0] : rows[-1] + 1], n_cols - kk, axis=1)[
            :, n_cols - kk :
        ],
        blocks,
        n_threads,
    )
    return np.vstack(parts)


def topk_per_row(scores, k):
    """Indices and values of the ``k`` largest entries of each row.

    Selection uses :func:`numpy.argpartition` (linear time), then sorts only
    the ``k`` selected entries. The result for a row depends on that row
    alone (never on the other rows of the batch); among selected entries of
    equal score the lower column index comes first. Entries equal to
    ``-inf`` are never returned: their slots are padded with id ``-1`` and
    score ``-inf``. NaN scores raise a ``ValueError``.

    Parameters
    ----------
    scores : ndarray of shape (n_rows, n_cols)
        Scores; ``-inf`` marks ineligible entries. Not modified.
    k : int
        Number of entries per row (may exceed ``n_cols``).

    Returns
    -------
    ids : ndarray of int64 of shape (n_rows, k)
    values : ndarray of shape (n_rows, k), dtype of ``scores``

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.utils._topk import topk_per_row
    >>> ids, values = topk_per_row(np.array([[0.1, 0.9, -np.inf, 0.5]]), 4)
    >>> ids
    array([[ 1,  3,  0, -1]])
    """
    scores = np.asarray(scores)
    n_rows, n_cols = scores.shape
    kk = min(k, n_cols)
    if kk == 0:
        sel = np.empty((n_rows, 0), dtype=np.int64)
    elif kk < n_cols:
        sel = _select_top(scores, kk)
        # argpartition resolves ties at the k-th position deterministically
        # for each row on its own; sorting the ids makes the stable sort below
        # order equal scores by column index.
        sel.sort(axis=1)
    else:
        sel = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    vals = np.take_along_axis(scores, sel, axis=1)
    if vals.dtype.kind == "f" and np.isnan(vals).any():
        # argpartition ranks NaN above everything, so a row holding a NaN
        # always shows one here: the check is complete at the cost of k values
        raise ValueError(
            "The scores contain NaN: the model produced invalid scores "
            f"(rows {np.flatnonzero(np.isnan(vals).any(axis=1))[:10].tolist()} of this batch)."
        )
    order = np.argsort(-vals, axis=1, kind="stable")
    sel = np.take_along_axis(sel, order, axis=1).astype(np.int64, copy=False)
    vals = np.take_along_axis(vals, order, axis=1)
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    out = np.full(
        (n_rows, k), -np.inf, dtype=scores.dtype if scores.dtype.kind == "f" else np.float64
    )
    ids[:, :kk] = sel
    out[:, :kk] = vals
    invalid = np.isneginf(out)  # -inf marks items that are not recommendable
    ids[invalid] = -1
    out[invalid] = -np.inf
    return ids, out
