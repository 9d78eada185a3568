"""Similarity kernels for the neighbourhood recommenders.

Everything here works on CSR matrices whose rows are the vectors to compare
(users for user-based, items for item-based neighbourhoods). Similarities are
computed block by block: a block of query rows is multiplied by the
(transposed) reference matrix, the dense block of dot products is turned into
similarities with shrinkage, and only the ``n_neighbors`` best entries of each
row are kept. Peak memory is therefore bounded by the block size, not by
``n_rows ** 2``.

Every block is computed the same way whichever thread runs it, and the block
boundaries never depend on the number of threads, so results are identical
for any ``n_jobs``.
"""

from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from sklearn.utils import gen_batches

from ..utils._parallel import map_in_threads
from ..utils._sparse import clean_csr_copy

__all__ = [
    "SIMILARITIES",
    "prepare_vectors",
    "similarity_topk",
    "plan_products",
    "select_topk",
    "topk_dense_rows",
]

SIMILARITIES = ("cosine", "asymmetric_cosine", "jaccard", "pearson")

# Entries of a dense block of similarities processed at once. Each entry costs
# about 20 bytes of temporaries (dot products, similarities, the argpartition
# indices), so a block stays well under 100 MB per thread.
_BLOCK_ENTRIES = 1 << 22
# a block of products denser than this goes through the dense path
_DENSE_FRACTION = 0.25


# Use the compiled kernels of ._knn_numba when numba is installed (tests switch
# this off to exercise the NumPy kernels, which give the same results).
_USE_NUMBA = True


def numba_kernels():
    """The compiled kernels module, or ``None`` (numba missing or switched off)."""
    if not _USE_NUMBA:
        return None
    try:
        from . import _knn_numba
    except ImportError:  # pragma: no cover - numba is installed in CI
        return None
    return _knn_numba


@contextmanager
def numba_threads(n_jobs):
    """Run numba's parallel loops on ``n_jobs`` threads (restored afterwards)."""
    import numba

    n = max(1, min(int(n_jobs), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def as_int64_csr_arrays(M):
    """``(indptr, indices, data)`` of CSR ``M`` as int64, int64, float64 arrays.

    One dtype signature per compiled kernel (numba compiles one version per
    combination of argument types).
    """
    return (
        M.indptr.astype(np.int64, copy=False),
        M.indices.astype(np.int64, copy=False),
        M.data.astype(np.float64, copy=False),
    )


def block_rows(n_cols, block_entries=_BLOCK_ENTRIES):
    """Rows per block so that a dense ``(rows, n_cols)`` block stays bounded."""
    return max(1, block_entries // max(1, n_cols))


def prepare_vectors(V, similarity, dtype=np.float32):
    """Vectors and per-vector statistics used by :func:`similarity_topk`.

    Parameters
    ----------
    V : sparse matrix of shape (n_vectors, n_dims)
        One vector per row. Not modified.
    similarity : {"cosine", "asymmetric_cosine", "jaccard", "pearson"}
        ``"jaccard"`` binarises the vectors (it compares supports);
        ``"pearson"`` centres every vector on the mean of its non-zero
        entries (explicitly stored zeros are dropped first).
    dtype : dtype, default=np.float32
        Floating dtype of the result.

    Returns
    -------
    P : csr_matrix of shape (n_vectors, n_dims)
        The prepared vectors (a new matrix). For ``"pearson"`` an entry whose
        centred value is exactly zero is kept as an explicit zero.
    stats : ndarray of shape (n_vectors,)
        Squared Euclidean norms of the prepared vectors (``"jaccard"``: the
        support sizes).
    """
    P = clean_csr_copy(V, dtype)
    if similarity == "jaccard":
        P.data[:] = 1
    elif similarity == "pearson":
        means, counts = row_means(P)
        P.data -= np.repeat(means, counts).astype(dtype)
    sq = np.asarray(P.multiply(P).sum(axis=1), dtype=np.float64).ravel()
    return P, sq


def row_means(V):
    """Mean of the non-zero entries of every row of CSR ``V`` (0 for empty rows)."""
    V = sp.csr_matrix(V)
    nz = V.data != 0
    row_of = np.repeat(np.arange(V.shape[0]), np.diff(V.indptr))
    counts = np.bincount(row_of[nz], minlength=V.shape[0])
    sums = np.bincount(row_of[nz], weights=V.data[nz], minlength=V.shape[0])
    means = np.zeros(V.shape[0], dtype=np.float64)
    np.divide(sums, counts, out=means, where=counts > 0)
    return means, counts


# reference dimensions (rows of BT) touched by at least this share of the
# references are multiplied densely (BLAS) in dense mode, at most _MAX_HEAD
_HEAD_FRACTION = 1.0 / 16
_MAX_HEAD = 256


def _separable(similarity, shrinkage):
    """Whether the denominator factors into a query part times a reference part."""
    return shrinkage == 0 and similarity != "jaccard"


def _norm_factors(a_stats, b_stats, similarity, alpha):
    """Query and reference factors of the denominator (cosine family)."""
    if similarity == "asymmetric_cosine":
        return a_stats**alpha, b_stats ** (1.0 - alpha)
    return np.sqrt(a_stats), np.sqrt(b_stats)


def _similarity_block(D, a_stats, b_stats, similarity, alpha, shrinkage):
    """Turn a dense block of dot products ``D`` into similarities, in place.

    Pairs with a zero dot product get ``-inf`` (never neighbours). The
    arithmetic is the same, operation for operation and in ``D.dtype``, as
    in :func:`_sparse_similarity`, so both paths give identical values.
    """
    dtype = D.dtype
    if similarity == "jaccard":
        denom = np.add.outer(a_stats.astype(dtype), b_stats.astype(dtype))
        denom -= D
    else:
        left, right = _norm_factors(a_stats, b_stats, similarity, alpha)
        denom = np.multiply.outer(left.astype(dtype), right.astype(dtype))
    denom += dtype.type(shrinkage)
    zero = D == 0
    # D != 0 implies both vectors are non-zero, hence denom > 0 there.
    np.divide(D, denom, out=D, where=~zero)
    D[zero] = -np.inf
    return D


def _sparse_similarity(P, a_stats, b_stats, similarity, alpha, shrinkage, row_offset):
    """Similarities on the stored entries of a sparse block of dot products."""
    dtype = P.dtype
    rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
    cols = P.indices
    a = a_stats[row_offset + rows]
    if similarity == "jaccard":
        denom = a.astype(dtype) + b_stats.astype(dtype)[cols]
        denom -= P.data
    else:
        left, right = _norm_factors(a, b_stats, similarity, alpha)
        denom = left.astype(dtype) * right.astype(dtype)[cols]
    denom += dtype.type(shrinkage)
    return P.data / denom, rows, cols


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


def _assemble_csr(pieces, n_rows, n_cols, dtype):
    counts = np.concatenate([p[0] for p in pieces]) if pieces else np.zeros(0, np.int64)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    if pieces:
        indices = np.concatenate([p[1] for p in pieces])
        data = np.concatenate([p[2] for p in pieces]).astype(dtype, copy=False)
    else:
        indices = np.zeros(0, dtype=np.int32)
        data = np.zeros(0, dtype=dtype)
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)
    S = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
    S.has_sorted_indices = False
    S.sort_indices()
    return S


def _row_costs(A, BT):
    """Scalar products needed by every row of ``A @ BT`` (capped at ``n_refs``)."""
    bt_lengths = np.diff(BT.indptr).astype(np.float64)
    row_of = np.repeat(np.arange(A.shape[0]), np.diff(A.indptr))
    cost = np.bincount(row_of, weights=bt_lengths[A.indices], minlength=A.shape[0])
    return np.minimum(cost, BT.shape[1])


def _product_blocks(cost, n_refs, dense):
    """Row blocks keeping ``A[block] @ BT`` bounded; they depend on the data only."""
    n = cost.size
    if dense:
        return list(gen_batches(n, block_rows(n_refs)))
    cum = np.cumsum(cost + 1.0)
    blocks, start = [], 0
    max_rows = block_rows(n_refs)
    while start < n:
        base = cum[start - 1] if start else 0.0
        stop = int(np.searchsorted(cum, base + _BLOCK_ENTRIES, side="right"))
        stop = min(max(stop, start + 1), start + max_rows, n)
        blocks.append(slice(start, stop))
        start = stop
    return blocks


def plan_products(A, BT):
    """How ``A @ BT`` products will be computed, decided from representative rows.

    Returns ``(dense, head)``: ``dense`` when the products of rows like those
    of ``A`` fill more than a quarter of the references (user-user products
    on popular items), and ``head``, the dimensions (rows of ``BT``) touched
    by so many references that a dense BLAS product beats a sparse one
    (``None`` in sparse mode). Estimators decide this once in ``fit``, from
    the training data, so that a row is always computed the same way,
    whatever batch it comes in.
    """
    n_refs = BT.shape[1]
    cost = _row_costs(A, BT)
    dense = bool(cost.size) and cost.mean() > _DENSE_FRACTION * n_refs
    if not dense:
        return False, None
    lengths = np.diff(BT.indptr)
    heavy = np.flatnonzero(lengths >= max(1.0, _HEAD_FRACTION * n_refs))
    if heavy.size > _MAX_HEAD:
        order = np.lexsort((heavy, -lengths[heavy]))
        heavy = np.sort(heavy[order[:_MAX_HEAD]])
    return True, heavy


def similarity_topk(
    A,
    a_stats,
    BT,
    b_stats,
    *,
    similarity,
    n_neighbors,
    shrinkage=0.0,
    alpha=0.5,
    min_similarity=0.0,
    self_offset=None,
    n_jobs=1,
    plan=None,
):
    """Top-``n_neighbors`` similarities between rows of ``A`` and columns of ``BT``.

    The similarity of query vector ``a`` and reference vector ``b`` (after
    :func:`prepare_vectors`) with shrinkage ``h`` is

    - cosine and pearson: ``<a, b> / (||a|| ||b|| + h)``;
    - asymmetric cosine: ``<a, b> / (||a||^(2 alpha) ||b||^(2 (1 - alpha)) + h)``;
    - jaccard: ``|a & b| / (|a| + |b| - |a & b| + h)``.

    Pairs with a zero dot product (no co-occurrence) are never neighbours.
    Neighbours with a similarity below ``min_similarity`` are dropped, then
    each row keeps its ``n_neighbors`` largest similarities, ties going to
    the lower reference index.

    Without shrinkage the cosine family is computed on pre-scaled vectors
    (the dot product is then the similarity). In sparse mode the products of
    a block are kept sparse and processed on their stored entries; in dense
    mode (see :func:`plan_products`) they fill a dense block, the heavy
    dimensions through a BLAS product, and a chunk-maximum pre-selection
    keeps the top-k selection cheap.

    Parameters
    ----------
    A : csr_matrix of shape (n_queries, n_dims)
        Prepared query vectors.
    a_stats : ndarray of shape (n_queries,)
        Their statistics from :func:`prepare_vectors`.
    BT : csr_matrix of shape (n_dims, n_refs)
        Prepared reference vectors, one per column.
    b_stats : ndarray of shape (n_refs,)
        Their statistics.
    similarity : str
        One of :data:`SIMILARITIES`.
    n_neighbors : int
        Neighbours kept per query row.
    shrinkage : float, default=0.0
        Added to every denominator: shrinks similarities resting on little
        support towards zero.
    alpha : float, default=0.5
        Exponent of the asymmetric cosine (0.5 gives the cosine).
    min_similarity : float, default=0.0
        Smallest similarity kept.
    self_offset : int or None, default=None
        When queries and references are the same vectors (item-item), the
        reference index of query row 0; the pair of a vector with itself is
        then excluded.
    n_jobs : int, default=1
        Worker threads.
    plan : tuple or None, default=None
        The output of :func:`plan_products`; ``None`` plans from ``A``.

    Returns
    -------
    S : csr_matrix of shape (n_queries, n_refs)
        At most ``n_neighbors`` stored similarities per row, column indices
        sorted.
    """
    dtype = A.dtype
    n_queries = A.shape[0]
    n_refs = BT.shape[1]
    a_stats = np.asarray(a_stats, dtype=np.float64)
    b_stats = np.asarray(b_stats, dtype=np.float64)
    kernels = numba_kernels()
    if kernels is not None:
        return _similarity_topk_compiled(
            kernels,
            A,
            a_stats,
            BT,
            b_stats,
            similarity,
            n_neighbors,
            shrinkage,
            alpha,
            min_similarity,
            self_offset,
            n_jobs,
        )
    dense, head = plan_products(A, BT) if plan is None else plan
    prescaled = _separable(similarity, shrinkage)
    if prescaled:
        left, right = _norm_factors(a_stats, b_stats, similarity, alpha)
        inv_left = np.divide(1.0, left, out=np.zeros_like(left), where=left > 0)
        inv_right = np.divide(1.0, right, out=np.zeros_like(right), where=right > 0)
        A = A.copy()
        A.data *= np.repeat(inv_left, np.diff(A.indptr)).astype(dtype)
        BT = BT.copy()
        BT.data *= inv_right[BT.indices].astype(dtype)
    head_dense = None
    if dense and head is not None and head.size:
        head_dense = np.ascontiguousarray(BT[head].toarray())
        keep_rows = np.ones(BT.shape[0], dtype=bool)
        keep_rows[head] = False
        BT = sp.diags(keep_rows.astype(dtype)) @ BT  # the tail: head rows emptied
        BT.eliminate_zeros()
    blocks = _product_blocks(_row_costs(A, BT), n_refs, dense)

    def exclude_self(S_or_vals, rows, cols, block):
        if self_offset is not None:
            S_or_vals[cols == rows + block.start + self_offset] = -np.inf

    def dense_work(block):
        Ab = A[block]
        if head_dense is not None:
            D = Ab[:, head].toarray() @ head_dense
            T = Ab @ BT
            t_rows = np.repeat(np.arange(T.shape[0]), np.diff(T.indptr))
            D[t_rows, T.indices] += T.data
        else:
            D = (Ab @ BT).toarray()
        if D.dtype != dtype:
            D = D.astype(dtype)
        if not prescaled:
            D = _similarity_block(D, a_stats[block], b_stats, similarity, alpha, shrinkage)
        if self_offset is not None:
            r = np.arange(D.shape[0])
            c = r + block.start + self_offset
            inside = c < n_refs
            D[r[inside], c[inside]] = -np.inf
        return topk_dense_rows(D, n_neighbors, lower=min_similarity, exclude_zero=prescaled)

    def sparse_work(block):
        P = A[block] @ BT
        if prescaled:
            vals = P.data.copy()
            rows = np.repeat(np.arange(P.shape[0]), np.diff(P.indptr))
            cols = P.indices
        else:
            vals, rows, cols = _sparse_similarity(
                P, a_stats, b_stats, similarity, alpha, shrinkage, block.start
            )
        exclude_self(vals, rows, cols, block)
        vals[vals < min_similarity] = -np.inf
        keep = select_topk(P.indptr, vals, n_neighbors, cols)
        counts = np.bincount(rows[keep], minlength=P.shape[0])
        return counts, cols[keep].astype(np.int32), vals[keep]

    pieces = map_in_threads(dense_work if dense else sparse_work, blocks, n_jobs)
    return _assemble_csr(pieces, n_queries, n_refs, dtype)


def _similarity_topk_compiled(
    kernels,
    A,
    a_stats,
    BT,
    b_stats,
    similarity,
    n_neighbors,
    shrinkage,
    alpha,
    min_similarity,
    self_offset,
    n_jobs,
):
    """:func:`similarity_topk` with the fused numba kernel (same rule)."""
    n_queries, n_refs = A.shape[0], BT.shape[1]
    k = max(1, min(n_neighbors, n_refs))
    out_idx = np.zeros((n_queries, k), dtype=np.int64)
    out_val = np.zeros((n_queries, k), dtype=np.float64)
    out_count = np.zeros(n_queries, dtype=np.int64)
    offset = self_offset if self_offset is not None else -(2**62)
    with numba_threads(n_jobs):
        kernels.item_similarity_topk(
            *as_int64_csr_arrays(A),
            *as_int64_csr_arrays(BT),
            a_stats,
            b_stats,
            kernels.SIMILARITY_CODES[similarity],
            float(alpha),
            float(shrinkage),
            float(min_similarity),
            k,
            offset,
            out_idx,
            out_val,
            out_count,
        )
    kept = np.arange(k)[None, :] < out_count[:, None]
    indptr = np.zeros(n_queries + 1, dtype=np.int64)
    np.cumsum(out_count, out=indptr[1:])
    return sp.csr_matrix(
        (out_val[kept].astype(A.dtype), out_idx[kept].astype(np.int32), indptr),
        shape=(n_queries, n_refs),
    )
