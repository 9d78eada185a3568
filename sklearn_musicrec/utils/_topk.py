"""Top-k selection over rows of a dense score matrix."""

import numpy as np

__all__ = ["topk_per_row"]


def topk_per_row(scores, k):
    """Indices and values of the ``k`` largest entries of each row.

    Selection uses :func:`numpy.argpartition` (linear time), then sorts only
    the ``k`` selected entries. The result for a row depends on that row
    alone (never on the other rows of the batch); among selected entries of
    equal score the lower column index comes first. Entries equal to
    ``-inf`` are never returned: their slots are padded with id ``-1`` and
    score ``-inf``.

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
        sel = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
        # argpartition resolves ties at the k-th position deterministically
        # for each row on its own; sorting the ids makes the stable sort below
        # order equal scores by column index.
        sel.sort(axis=1)
    else:
        sel = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    vals = np.take_along_axis(scores, sel, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    sel = np.take_along_axis(sel, order, axis=1).astype(np.int64, copy=False)
    vals = np.take_along_axis(vals, order, axis=1)
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    out = np.full((n_rows, k), -np.inf, dtype=scores.dtype if scores.dtype.kind == "f" else np.float64)
    ids[:, :kk] = sel
    out[:, :kk] = vals
    invalid = ~(out > -np.inf)  # -inf and NaN are not recommendable
    ids[invalid] = -1
    out[invalid] = -np.inf
    return ids, out
