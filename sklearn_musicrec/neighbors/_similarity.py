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

import numpy as np
import scipy.sparse as sp
from sklearn import get_config
from sklearn.utils import gen_batches

from ..utils._parallel import map_in_threads, numba_threads
from ..utils._sparse import clean_csr_copy
from ..utils._topk import row_batches, select_topk, topk_dense_rows

__all__ = [
    "SIMILARITIES",
    "prepare_vectors",
    "similarity_topk",
    "plan_products",
]

SIMILARITIES = ("cosine", "asymmetric_cosine", "jaccard", "pearson")

# Entries of a dense block of similarities processed at once. Each entry costs
# about _BYTES_PER_ENTRY bytes of temporaries (dot products, similarities, the
# argpartition indices), so a block stays well under 100 MB per thread; a
# smaller scikit-learn ``working_memory`` (shared by the threads) bounds it too.
_BLOCK_ENTRIES = 1 << 22
_BYTES_PER_ENTRY = 20
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


def _block_entries(n_jobs):
    """Entries per block: ``_BLOCK_ENTRIES``, or less under a small ``working_memory``.

    Every one of the ``n_jobs`` threads holds a block, so they share the
    working memory. Blocks never change a result (each row is computed alone).
    """
    budget = get_config()["working_memory"] * 2**20 / _BYTES_PER_ENTRY / max(1, n_jobs)
    return max(1, min(_BLOCK_ENTRIES, int(budget)))


def block_rows(n_cols, block_entries):
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


def _product_blocks(cost, n_refs, dense, block_entries):
    """Row blocks keeping ``A[block] @ BT`` below ``block_entries`` entries."""
    n = cost.size
    if dense:
        return list(gen_batches(n, block_rows(n_refs, block_entries)))
    cum = np.cumsum(cost + 1.0)
    blocks, start = [], 0
    max_rows = block_rows(n_refs, block_entries)
    while start < n:
        base = cum[start - 1] if start else 0.0
        stop = int(np.searchsorted(cum, base + block_entries, side="right"))
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
        code = kernels.SIMILARITY_CODES[similarity]
        options = (code, float(alpha), float(shrinkage), float(min_similarity))
        return _similarity_topk_compiled(
            kernels, A, a_stats, BT, b_stats, options, n_neighbors, self_offset, n_jobs
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
    blocks = _product_blocks(_row_costs(A, BT), n_refs, dense, _block_entries(n_jobs))

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
    kernels, A, a_stats, BT, b_stats, options, n_neighbors, self_offset, n_jobs
):
    """:func:`similarity_topk` with the fused numba kernel (same rule).

    ``options`` is ``(similarity code, alpha, shrinkage, min_similarity)``.

    Query rows go through the kernel in batches sized by ``working_memory``
    (the dense ``(batch, k)`` outputs); each row is computed alone, so the
    batches change nothing.
    """
    n_queries, n_refs = A.shape[0], BT.shape[1]
    k = max(1, min(n_neighbors, n_refs))
    offset = self_offset if self_offset is not None else -(2**62)
    b_arrays = as_int64_csr_arrays(BT)
    pieces = []
    with numba_threads(n_jobs, n_rows=n_queries):
        for batch in row_batches(n_queries, row_bytes=32 * k):
            n = batch.stop - batch.start
            out_idx = np.zeros((n, k), dtype=np.int64)
            out_val = np.zeros((n, k), dtype=np.float64)
            out_count = np.zeros(n, dtype=np.int64)
            kernels.item_similarity_topk(
                *as_int64_csr_arrays(A[batch]),
                *b_arrays,
                a_stats[batch],
                b_stats,
                *options,
                k,
                offset + batch.start,
                out_idx,
                out_val,
                out_count,
            )
            kept = np.arange(k)[None, :] < out_count[:, None]
            pieces.append((out_count, out_idx[kept].astype(np.int32), out_val[kept]))
    return _assemble_csr(pieces, n_queries, n_refs, A.dtype)
