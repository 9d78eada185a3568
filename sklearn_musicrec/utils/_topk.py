"""Top-k selection: the one home of the package's ranking rule.

Every list the package returns (``recommend``, ``similar_items``,
``similar_users``, the neighbours kept by the kNN models) is cut by the same
rule, implemented here for each data layout:

- the ``k`` largest scores of a row, best first;
- among equal scores the lower column (item or user id) comes first, also at
  the cut-off, so a row's list depends on that row alone (never on the other
  rows of a batch, on the batch size or on the number of threads);
- ``-inf`` marks an ineligible entry: it is never selected, and a row with
  fewer than ``k`` eligible entries is padded with id ``-1`` and score
  ``-inf``;
- NaN scores raise a ``ValueError`` (a model that produces them is broken).

Layouts:

- :func:`topk_per_row`: a dense block of scores (NumPy, ``argpartition``);
- :func:`topk_dense_compiled`: the same on a float32 block with the seen items
  excluded in place (the compiled kernel of :mod:`._topk_numba`, used by the
  factor models);
- :func:`select_topk`, :func:`topk_dense_rows`: which entries a per-row top-k
  keeps, as a mask over CSR-like entries or as CSR pieces of a dense block
  (the kNN similarity pruning);
- :func:`sparse_topk_lists`: the lists of the stored entries of a CSR matrix;
- :func:`topk_from_sparse_scores`: the lists of sparse scores whose unstored
  entries are 0 (kNN ``recommend``), completed with score-0 items.

:func:`row_batches` is the one place batch sizes come from: scikit-learn's
``working_memory`` bounds every batch of rows scored and cut here.
"""

import warnings

import numpy as np
from sklearn import get_config

from ._parallel import map_in_threads
from ._sklearn_compat import _openmp_effective_n_threads

__all__ = [
    "chunk_n_rows",
    "row_batches",
    "select_topk",
    "sparse_topk_lists",
    "topk_dense_compiled",
    "topk_dense_rows",
    "topk_from_sparse_scores",
    "topk_per_row",
]

# Below this many scores, threads cost more than they save.
_PARALLEL_MIN_SIZE = 1 << 20


def chunk_n_rows(row_bytes, max_n_rows):
    """Rows per batch under ``working_memory``: scikit-learn's ``get_chunk_n_rows``.

    The same rule and warning, without its run-time parameter validation
    (``inspect.signature`` on every call: a sizeable part of a one-user
    ``recommend``).

    Parameters
    ----------
    row_bytes : int
        Bytes of temporary memory one row needs (positive).
    max_n_rows : int
        Upper bound on the result (positive).

    Returns
    -------
    n_rows : int
        At least 1 (with scikit-learn's warning when one row alone exceeds
        ``working_memory``).

    Examples
    --------
    >>> import sklearn
    >>> from sklearn_musicrec.utils._topk import chunk_n_rows
    >>> with sklearn.config_context(working_memory=1):
    ...     chunk_n_rows(2**10, 5000)
    1024
    """
    working_memory = get_config()["working_memory"]
    chunk = min(int(working_memory * (2**20) // row_bytes), int(max_n_rows))
    if chunk < 1:
        warnings.warn(
            "Could not adhere to working_memory config. "
            f"Currently {working_memory:.0f}MiB, {np.ceil(row_bytes / 2**20):.0f}MiB required.",
            stacklevel=3,
        )
        chunk = 1
    return chunk


def row_batches(n_rows, row_bytes, *, max_bytes=None):
    """Slices of rows whose work arrays fit scikit-learn's ``working_memory``.

    Parameters
    ----------
    n_rows : int
        Number of rows to process.
    row_bytes : int
        Bytes of temporary memory one row of a batch needs.
    max_bytes : int or None, default=None
        A smaller bound a caller prefers (a block that stays in cache);
        ``working_memory`` (``sklearn.get_config()["working_memory"]``, in
        MiB) bounds the batch in any case.

    Returns
    -------
    batches : list of slice
        At least one row each; a row that alone exceeds ``working_memory``
        makes batches of one row (with scikit-learn's warning).

    Examples
    --------
    >>> import sklearn
    >>> from sklearn_musicrec.utils._topk import row_batches
    >>> with sklearn.config_context(working_memory=1):
    ...     len(row_batches(10, 2**19))
    5
    """
    if n_rows <= 0:
        return []
    row_bytes = max(1, int(row_bytes))
    chunk = chunk_n_rows(row_bytes, max(1, n_rows))
    if max_bytes is not None:
        chunk = max(1, min(chunk, int(max_bytes) // row_bytes))
    # (sklearn's gen_batches validates its parameters at run time: slow here)
    return [slice(start, min(n_rows, start + chunk)) for start in range(0, n_rows, chunk)]


def _nan_error(bad_rows):
    return ValueError(
        "The scores contain NaN: the model produced invalid scores "
        f"(rows {np.asarray(bad_rows)[:10].tolist()} of this batch)."
    )


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


def _lowest_ties_at_cutoff(scores, sel):
    """Make the selection ``sel`` (sorted ids) take the lowest columns among ties at its cut-off.

    ``argpartition`` keeps an arbitrary subset of the entries tied with the
    k-th largest; the rule wants the lowest columns. Only rows whose tie
    straddles the cut-off are redone (rows with NaN are left to the caller's
    check, rows cut at ``-inf`` are padding there anyway).
    """
    kk = sel.shape[1]
    vals = np.take_along_axis(scores, sel, axis=1)
    kth = vals.min(axis=1)
    with np.errstate(invalid="ignore"):
        n_tied = np.count_nonzero(scores == kth[:, None], axis=1)
        n_tied_in = np.count_nonzero(vals == kth[:, None], axis=1)
        rows = np.flatnonzero((n_tied > n_tied_in) & (kth > -np.inf))
    if rows.size:
        sub, t = scores[rows], kth[rows][:, None]
        keep = sub > t
        tied = sub == t
        room = kk - np.count_nonzero(keep, axis=1)
        keep |= tied & (np.cumsum(tied, axis=1) <= room[:, None])
        sel[rows] = np.nonzero(keep)[1].reshape(rows.size, kk)


def topk_per_row(scores, k):
    """Indices and values of the ``k`` largest entries of each row.

    Selection uses :func:`numpy.argpartition` (linear time), then sorts only
    the ``k`` selected entries. The module's rule applies: the result for a
    row depends on that row alone; among selected entries of equal score the
    lower column index comes first. Entries equal to ``-inf`` are never
    returned: their slots are padded with id ``-1`` and score ``-inf``. NaN
    scores raise a ``ValueError``.

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
        # sorted ids make the stable sort below order equal scores by column
        sel.sort(axis=1)
        _lowest_ties_at_cutoff(scores, sel)
    else:
        sel = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    vals = np.take_along_axis(scores, sel, axis=1)
    if vals.dtype.kind == "f" and np.isnan(vals).any():
        # argpartition ranks NaN above everything, so a row holding a NaN
        # always shows one here: the check is complete at the cost of k values
        raise _nan_error(np.flatnonzero(np.isnan(vals).any(axis=1)))
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


def topk_dense_compiled(S, seen_indptr, seen_indices, exclude_seen, k, ids, values):
    """:func:`topk_per_row` of a float32 block by the compiled kernel, into ``ids``/``values``.

    ``S`` is scratch: with ``exclude_seen`` the stored columns of each row's
    history (``seen_indptr``/``seen_indices``, CSR, ``indptr`` starting at
    0) are set to ``-inf`` first. The kernel runs on numba's threads (see
    :func:`~sklearn_musicrec.utils._parallel.numba_threads`); one thread
    selects each row, so the thread count changes nothing.

    Parameters
    ----------
    S : ndarray of float32 of shape (n_rows, n_cols)
    seen_indptr, seen_indices : ndarray of int
    exclude_seen : bool
    k : int
    ids : ndarray of int64 of shape (n_rows, k)
        Written in place.
    values : ndarray of float32 of shape (n_rows, k)
        Written in place.
    """
    from . import _topk_numba

    n_nan = np.zeros(S.shape[0], dtype=np.int64)
    _topk_numba.topk_rows(S, seen_indptr, seen_indices, bool(exclude_seen), k, ids, values, n_nan)
    if n_nan.any():
        raise _nan_error(np.flatnonzero(n_nan))


# Items scored per BLAS call of the norm-ordered scan (256 KiB of float32
# factors at 64 components; a multiple of the BLAS kernels' row groups).
_NORM_BLOCK = 1024


def norm_ordered_items(V):
    """``(V_sorted, norms, order)``: the rows of ``V`` by decreasing Euclidean norm.

    The index of :func:`topk_norm_pruned`: ``V_sorted = V[order]``
    (C-contiguous float32), ``norms`` their norms in float64,
    non-increasing. ``None`` when ``V`` holds a non-finite value.
    """
    V = np.ascontiguousarray(V, dtype=np.float32)
    if not np.isfinite(V).all():
        return None
    norms = np.sqrt(np.einsum("ij,ij->i", V.astype(np.float64), V.astype(np.float64)))
    order = np.argsort(-norms, kind="stable").astype(np.int64)
    return np.ascontiguousarray(V[order]), norms[order], order


def topk_norm_pruned(U, index, seen_indptr, seen_indices, exclude_seen, k):
    """Exact top ``k`` of ``U @ V.T`` per row, scanning items by decreasing norm.

    The items are scored block by block (one BLAS product each) in the order
    of :func:`norm_ordered_items`; once a row holds ``k`` items, the scan
    stops at the first block whose largest possible score,
    ``|u| |v_first|`` (Cauchy-Schwarz, with float32 rounding's slack), is below the
    k-th best score so far: no later item could enter the list. Scores are
    the BLAS products' own, and ties go to the lower item id, so the lists
    are :func:`topk_dense_compiled`'s on the full ``U @ V.T`` while a
    typical lastfm-2k user needs about an eighth of the catalogue read (the
    cost of a one-user list is reading the factors).

    Parameters
    ----------
    U : ndarray of float32 of shape (n_rows, n_components)
        Finite user factors.
    index : tuple
        :func:`norm_ordered_items` of the item factors.
    seen_indptr, seen_indices : ndarray of int
        The rows' stored items (CSR, sorted within each row).
    exclude_seen : bool
    k : int

    Returns
    -------
    ids : ndarray of int64 of shape (n_rows, k)
    scores : ndarray of float32 of shape (n_rows, k)
        As :func:`topk_dense_compiled` writes them (padding ``-1``/``-inf``).
    """
    from ._topk_numba import drain_heap, merge_scored_block

    V_sorted, norms, order = index
    n_rows = U.shape[0]
    n_items, n_components = V_sorted.shape
    # a float32 dot product of d terms is within gamma_d = d 2**-24 / (1 - d
    # 2**-24) of the exact one relative to sum |u_a v_a| <= |u| |v|: the
    # computed score is at most (1 + gamma_d) |u| |v|
    unit = n_components * 2.0**-24
    slack = 1.0 + 2.0 * unit if unit < 0.25 else np.inf
    ids = np.empty((n_rows, k), dtype=np.int64)
    scores = np.empty((n_rows, k), dtype=np.float32)
    buffer = np.empty(min(_NORM_BLOCK, n_items), dtype=np.float32)
    hv, hj = np.empty(k, dtype=np.float64), np.empty(k, dtype=np.int64)
    exclude_seen = bool(exclude_seen)
    for r in range(n_rows):
        u = U[r]
        bound = slack * float(np.sqrt(np.dot(u.astype(np.float64), u.astype(np.float64))))
        seen = seen_indices[seen_indptr[r] : seen_indptr[r + 1]]
        size = 0
        for start in range(0, n_items, _NORM_BLOCK):
            if size == k and bound * norms[start] < hv[0]:
                break
            stop = min(n_items, start + _NORM_BLOCK)
            block = np.matmul(V_sorted[start:stop], u, out=buffer[: stop - start])
            size = merge_scored_block(block, order[start:stop], seen, exclude_seen, k, hv, hj, size)
        drain_heap(hv, hj, size, ids[r], scores[r])
    return ids, scores


def _kth_largest(indptr, values, k):
    """The ``k``-th largest value of every row of a CSR-like structure.

    Rows with fewer than ``k`` entries get ``-inf``. Each long row is padded
    to the next power of two of its own length, so the work is linear in the
    number of entries and the result depends on the row alone.
    """
    lengths = np.diff(indptr)
    out = np.full(lengths.size, -np.inf, dtype=values.dtype)
    long_rows = np.flatnonzero(lengths >= k)
    if long_rows.size == 0:
        return out
    width = 1 << np.ceil(np.log2(lengths[long_rows])).astype(np.int64)
    for w in np.unique(width):
        rows = long_rows[width == w]
        offsets = np.arange(w)
        pos = indptr[rows][:, None] + offsets
        valid = offsets[None, :] < lengths[rows][:, None]
        padded = np.where(valid, values[np.where(valid, pos, 0)], -np.inf)
        out[rows] = np.partition(padded, w - k, axis=1)[:, w - k]
    return out


def _chunk_bound(indptr, values, k):
    """A lower bound of every row's ``k``-th largest value (``-inf`` if none).

    Rows longer than ``8 k`` are cut into ``4 k`` chunks of consecutive
    entries; the ``k``-th largest chunk maximum is a lower bound of the
    row's ``k``-th largest value (the maxima are distinct entries). One
    vectorised pass (``maximum.reduceat``) over the entries.
    """
    n_rows = indptr.size - 1
    lengths = np.diff(indptr)
    bound = np.full(n_rows, -np.inf, dtype=values.dtype)
    m = 4 * k
    long_rows = np.flatnonzero(lengths > 2 * m)
    if long_rows.size == 0:
        return bound
    j = np.arange(m + 1)
    starts = indptr[long_rows][:, None] + (lengths[long_rows][:, None] * j) // m
    padded = np.concatenate([values, np.full(1, -np.inf, dtype=values.dtype)])
    maxima = np.maximum.reduceat(padded, starts.ravel()).reshape(-1, m + 1)[:, :m]
    bound[long_rows] = np.partition(maxima, m - k, axis=1)[:, m - k]
    return bound


def select_topk(indptr, values, k, columns, row_of=None):
    """Boolean mask of the entries kept by a per-row top-``k`` selection.

    Entries are laid out row after row (``indptr``), in any order within a
    row; ``columns`` gives their column ids. Keeps, in every row, the ``k``
    largest finite values; among entries tied with the ``k``-th largest, the
    ones with the lowest column win. The rule involves nothing but the row
    itself, so the selection does not depend on the order of the entries
    within a row, nor on how rows are blocked or threaded. ``row_of`` (the
    row of every entry) may be passed when the caller has it.
    """
    n_rows = indptr.size - 1
    lengths = np.diff(indptr)
    finite = values > -np.inf
    if not np.any(lengths > k):
        return finite
    if row_of is None:
        row_of = np.repeat(np.arange(n_rows), lengths)
    # cheap pre-selection: entries below a lower bound of the k-th largest
    # value of their row can never be kept
    cand = np.flatnonzero(finite & (values >= _chunk_bound(indptr, values, k)[row_of]))
    c_rows = row_of[cand]
    c_vals = values[cand]
    c_indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(c_rows, minlength=n_rows), out=c_indptr[1:])
    kth = _kth_largest(c_indptr, c_vals, k)
    t = kth[c_rows]
    c_keep = c_vals > t
    tied = np.flatnonzero(c_vals == t)
    if tied.size:
        room = k - np.bincount(c_rows[c_keep], minlength=n_rows)
        tied_rows = c_rows[tied]
        order = np.lexsort((columns[cand[tied]], tied_rows))
        tied, tied_rows = tied[order], tied_rows[order]
        first = np.searchsorted(tied_rows, tied_rows, side="left")
        rank_in_row = np.arange(tied.size) - first  # 0-based among the row's ties
        c_keep[tied[rank_in_row < room[tied_rows]]] = True
    keep = np.zeros(values.size, dtype=bool)
    keep[cand[c_keep]] = True
    return keep


def topk_dense_rows(S, k, lower=-np.inf, exclude_zero=False):
    """Per-row top-``k`` of a dense block, as CSR pieces (rule of :func:`select_topk`).

    Only entries ``>= lower`` (and ``!= 0`` with ``exclude_zero``) and
    ``> -inf`` are eligible. A lower bound of every row's ``k``-th largest
    value is found from the maxima of column chunks (the ``k``-th largest
    chunk maximum); only the entries above it are candidates for the exact
    selection, so most of the block is touched by two cheap vectorised
    passes only.

    Returns
    -------
    counts : ndarray of int64 of shape (n_rows,)
    indices : ndarray of int32, column ids, increasing within each row
    values : ndarray, the kept values
    """
    n_rows, n_cols = S.shape
    dtype = S.dtype
    floor = max(float(lower), float(np.finfo(dtype).min))
    zero_check = False
    if exclude_zero:
        if floor >= 0:
            floor = max(floor, float(np.nextafter(dtype.type(0), dtype.type(1))))
        else:
            zero_check = True
    n_chunks = 4 * k
    if n_cols >= 2 * n_chunks:
        size = n_cols // n_chunks
        maxima = S[:, : n_chunks * size].reshape(n_rows, n_chunks, size).max(axis=2)
        # every chunk maximum is a distinct entry, so the k-th largest of them
        # is <= the k-th largest entry of the row
        bound = np.partition(maxima, n_chunks - k, axis=1)[:, n_chunks - k]
        threshold = np.maximum(bound, dtype.type(floor))
    else:
        threshold = np.full(n_rows, floor, dtype=dtype)
    cand = S >= threshold[:, None]
    if zero_check:
        cand &= S != 0
    rows, cols = np.nonzero(cand)
    vals = S[rows, cols]
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    keep = select_topk(indptr, vals, k, cols)
    kept_counts = np.bincount(rows[keep], minlength=n_rows)
    return kept_counts, cols[keep].astype(np.int32), vals[keep]


def sparse_topk_lists(S, k):
    """The ``k`` largest stored entries of every row of CSR ``S``, best first.

    Ties go to the lower column. Rows with fewer than ``k`` stored entries
    are padded with id ``-1`` and score ``-inf``.

    Parameters
    ----------
    S : csr_matrix of shape (n_rows, n_cols)
    k : int

    Returns
    -------
    ids : ndarray of int64 of shape (n_rows, k)
    values : ndarray of shape (n_rows, k), dtype of ``S``
    """
    n_rows = S.shape[0]
    lengths = np.diff(S.indptr)
    rows = np.repeat(np.arange(n_rows), lengths)
    order = np.lexsort((S.indices, -S.data.astype(np.float64), rows))
    start = np.concatenate([[0], np.cumsum(lengths)])[:-1]
    rank = np.arange(S.nnz) - start[rows[order]]
    take = rank < k
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), -np.inf, dtype=S.dtype)
    r, c = rows[order][take], rank[take]
    ids[r, c] = S.indices[order][take]
    scores[r, c] = S.data[order][take]
    return ids, scores


def topk_from_sparse_scores(P, seen, k, dtype=np.float32):
    """The lists of sparse scores whose unstored entries are 0.

    Gives what :func:`topk_per_row` gives on ``P.toarray()`` with the items
    of ``seen`` set to ``-inf``: the ``k`` best items of every row, the
    items of ``seen`` (a CSR history, or ``None``) excluded, best first,
    ties to the lower item id; a row with fewer than ``k`` stored candidates
    is completed with score-0 items, lowest id first. Work and memory follow
    the stored entries plus one boolean per item and row.

    Parameters
    ----------
    P : csr_matrix of shape (n_rows, n_items)
        Scores; every stored entry is assumed positive.
    seen : csr_matrix of shape (n_rows, n_items) or None
        Histories to exclude.
    k : int
    dtype : dtype, default=np.float32
        dtype of the returned scores.

    Returns
    -------
    ids : ndarray of int64 of shape (n_rows, k)
    scores : ndarray of shape (n_rows, k)
    """
    n_rows, n_items = P.shape
    counts = np.diff(P.indptr)
    rows = np.repeat(np.arange(n_rows), counts)
    cols = P.indices
    vals = P.data.astype(dtype, copy=True)
    taken = np.zeros((n_rows, n_items), dtype=bool)
    if seen is not None:
        seen_rows = np.repeat(np.arange(n_rows), np.diff(seen.indptr))
        nz = seen.data != 0
        taken[seen_rows[nz], seen.indices[nz]] = True
        vals[taken[rows, cols]] = -np.inf
    keep = select_topk(P.indptr, vals, k, cols, row_of=rows)
    r, c, v = rows[keep], cols[keep], vals[keep]
    order = np.lexsort((c, -v, r))
    r, c, v = r[order], c[order], v[order]
    n_kept = np.bincount(r, minlength=n_rows)
    start = np.concatenate([[0], np.cumsum(n_kept)])[:-1]
    rank = np.arange(r.size) - start[r]
    ids = np.full((n_rows, k), -1, dtype=np.int64)
    scores = np.full((n_rows, k), -np.inf, dtype=dtype)
    ids[r, rank] = c
    scores[r, rank] = v
    short = np.flatnonzero(n_kept < k)
    if short.size:
        # the remaining items all score 0: take the free ones, lowest id first
        taken[rows, cols] = True
        free = ~taken[short]
        need = (k - n_kept[short])[:, None]
        fill = free & (np.cumsum(free, axis=1) <= need)
        fr, fc = np.nonzero(fill)
        first = np.searchsorted(fr, fr, side="left")
        slot = n_kept[short][fr] + (np.arange(fr.size) - first)
        ids[short[fr], slot] = fc
        scores[short[fr], slot] = 0.0
    return ids, scores
