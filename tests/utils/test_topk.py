"""The one top-k rule, on every layout, and working_memory batching on every path."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.neighbors import (
    EASERecommender,
    ItemKNNRecommender,
    UserKNNRecommender,
    _similarity,
)
from sklearn_musicrec.utils import _topk
from sklearn_musicrec.utils._parallel import numba_threads
from sklearn_musicrec.utils._topk import (
    norm_ordered_items,
    row_batches,
    sparse_topk_lists,
    topk_dense_compiled,
    topk_from_sparse_scores,
    topk_norm_pruned,
    topk_per_row,
)


def _reference(S, k):
    """The rule written out: a stable sort on -score, -inf padded."""
    eligible = np.where(np.isnan(S), -np.inf, S)
    order = np.argsort(-eligible, axis=1, kind="stable")[:, :k]
    best = np.take_along_axis(eligible, order, axis=1)
    ids = np.full((S.shape[0], k), -1)
    vals = np.full((S.shape[0], k), -np.inf, dtype=S.dtype)
    kk = order.shape[1]
    ids[:, :kk] = np.where(best > -np.inf, order, -1)
    vals[:, :kk] = best
    return ids, vals


SHAPES = ((1, 3), (63, 5), (64, 64), (300, 7), (1000, 40), (1000, 1500))


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_compiled_kernel_follows_the_rule_and_counts_nans(exclude_seen):
    """The chunked compiled kernel against a full stable sort.

    Rows span several chunks; integer scores make many ties (the lower column
    wins, also at the k-th place); NaN and -inf entries are never selected,
    and every NaN outside the excluded entries is counted.
    """
    from sklearn_musicrec.utils import _topk_numba

    rng = np.random.RandomState(0)
    for n_cols, k in SHAPES:
        S = rng.randint(0, 8, size=(20, n_cols)).astype(np.float32)
        S[rng.random_sample(S.shape) < 0.05] = np.nan
        S[rng.random_sample(S.shape) < 0.05] = -np.inf
        seen = sp.random(20, n_cols, density=0.1, format="csr", random_state=0)
        eligible = S.copy()
        if exclude_seen:
            eligible[seen.toarray() != 0] = -np.inf
        ids_ref, vals_ref = _reference(eligible, k)
        ids = np.empty((20, k), dtype=np.int64)
        vals = np.empty((20, k), dtype=np.float32)
        n_nan = np.empty(20, dtype=np.int64)
        _topk_numba.topk_rows(
            S.copy(),
            seen.indptr.astype(np.int64),
            seen.indices.astype(np.int64),
            exclude_seen,
            k,
            ids,
            vals,
            n_nan,
        )
        np.testing.assert_array_equal(vals, vals_ref)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(n_nan, np.isnan(eligible).sum(axis=1))


def test_dense_layouts_agree_and_nan_raises():
    rng = np.random.RandomState(1)
    empty = np.zeros(21, dtype=np.int64)
    for n_cols, k in SHAPES:
        S = rng.randint(0, 5, size=(20, n_cols)).astype(np.float32)
        S[rng.random_sample(S.shape) < 0.1] = -np.inf
        ids_ref, vals_ref = _reference(S, k)
        ids, vals = topk_per_row(S, k)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(vals, vals_ref)
        ids = np.empty((20, k), dtype=np.int64)
        vals = np.empty((20, k), dtype=np.float32)
        topk_dense_compiled(S.copy(), empty, empty[:0], False, k, ids, vals)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(vals, vals_ref)
        S[3, n_cols // 2] = np.nan
        with pytest.raises(ValueError, match=r"NaN.*rows \[3\]"):
            topk_per_row(S, k)
        with pytest.raises(ValueError, match=r"NaN.*rows \[3\]"):
            topk_dense_compiled(S.copy(), empty, empty[:0], False, k, ids, vals)


def test_threaded_dense_selection_follows_the_rule():
    # large enough for topk_per_row to split the rows between threads; few
    # distinct values, so ties straddle the cut-off in every row
    S = np.random.RandomState(3).randint(0, 6, size=(1100, 1000)).astype(np.float32)
    assert S.size >= _topk._PARALLEL_MIN_SIZE
    for k in (1, 10, 400):
        ids_ref, vals_ref = _reference(S, k)
        ids, vals = topk_per_row(S, k)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(vals, vals_ref)


def test_sparse_layouts_follow_the_rule():
    rng = np.random.RandomState(2)
    dense = rng.randint(0, 4, size=(30, 50)).astype(np.float32)
    dense[rng.random_sample(dense.shape) < 0.6] = 0
    S = sp.csr_matrix(dense)
    seen = sp.csr_matrix(rng.random_sample(dense.shape) < 0.2)
    for k in (1, 5, 50, 60):
        # stored entries only: unstored ones are ineligible
        ids_ref, vals_ref = _reference(np.where(dense != 0, dense, -np.inf), k)
        ids, vals = sparse_topk_lists(S, k)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(vals, vals_ref)
        # sparse scores whose unstored entries are 0, seen items excluded
        ids_ref, vals_ref = _reference(np.where(seen.toarray(), -np.inf, dense), k)
        ids, vals = topk_from_sparse_scores(S, sp.csr_matrix(seen, dtype=np.float32), k)
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_array_equal(vals, vals_ref)


def test_row_batches_follow_working_memory():
    assert row_batches(10, 8) == [slice(0, 10)]
    with sklearn.config_context(working_memory=1):
        assert len(row_batches(10, 2**19)) == 5
        assert len(row_batches(10, 2**17, max_bytes=2**18)) == 5
    assert row_batches(0, 8) == []


def test_numba_threads_sets_and_restores_the_thread_counts():
    numba = pytest.importorskip("numba")
    from threadpoolctl import threadpool_info

    def blas_threads():
        return [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]

    before = (numba.get_num_threads(), numba.get_parallel_chunksize(), blas_threads())
    with numba_threads(1, blas="single") as n:
        assert n == numba.get_num_threads() == 1
        assert set(blas_threads()) <= {1}
    with numba_threads(-1, blas="same") as n:
        assert n == numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
        # several threads take the package's blocks one at a time (on one
        # thread the chunk size changes nothing and is left alone)
        assert n == 1 or numba.get_parallel_chunksize() == 1
    assert (numba.get_num_threads(), numba.get_parallel_chunksize(), blas_threads()) == before


@pytest.fixture(scope="module")
def plays():
    return make_interactions(n_users=150, n_items=120, random_state=0).data.tocsr()


def _models():
    return [
        ALSFactorizer(n_components=8, max_iter=3, random_state=0),
        ALSFactorizer(n_components=8, max_iter=3, feedback="explicit", random_state=0),
        SGDFactorizer(loss="bpr", n_components=8, max_iter=3, random_state=0),
        SGDFactorizer(n_components=8, max_iter=3, learning_rate=1e-3, random_state=0),
        ItemKNNRecommender(n_neighbors=10),
        UserKNNRecommender(n_neighbors=10),
        EASERecommender(),
    ]


def _query(name, X):
    return (np.arange(40), 5) if name == "similar_items" else (X, 5)


def _assert_same(a, b, exact):
    if exact or a.dtype.kind == "i":
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("use_numba", [True, False])
@pytest.mark.parametrize("model", _models(), ids=lambda m: repr(m)[:40])
def test_tiny_working_memory_gives_the_same_lists_in_several_batches(
    plays, model, use_numba, monkeypatch
):
    monkeypatch.setattr(_similarity, "_USE_NUMBA", use_numba)
    batch_counts = []

    def spy(n_rows, row_bytes, **kwargs):
        batches = row_batches(n_rows, row_bytes, **kwargs)
        batch_counts.append(len(batches))
        return batches

    import sklearn_musicrec.decomposition._base as factor_base
    import sklearn_musicrec.neighbors._knn as knn

    for module in (factor_base, knn, _similarity):
        monkeypatch.setattr(module, "row_batches", spy)
    model.fit(plays)
    X = plays[:60]
    full = model.recommend(X, k=7)
    items = np.arange(0, 120, 2)
    full_items = model.recommend(X, k=7, items=items)
    extra = {
        name: getattr(model, name)(*_query(name, X))
        for name in ("similar_items", "similar_users")
        if hasattr(model, name)
    }
    batch_counts.clear()
    # a few rows of each work array per batch (a few KiB)
    with sklearn.config_context(working_memory=2**-7):
        small = model.recommend(X, k=7)
        small_items = model.recommend(X, k=7, items=items)
        extra_small = {name: getattr(model, name)(*_query(name, X)) for name in extra}
    # The NumPy kernels multiply the densest dimensions of a block of user-user
    # products with BLAS, whose rounding may depend on the block's size; every
    # compiled kernel computes each row alone.
    exact = use_numba or not isinstance(model, (ItemKNNRecommender, UserKNNRecommender))
    for a, b in zip(full + full_items, small + small_items):
        _assert_same(a, b, exact)
    for name, value in extra.items():
        for a, b in zip(value, extra_small[name]):
            _assert_same(a, b, exact)
    if not isinstance(model, EASERecommender):  # (EASE: the mixin's generic path)
        assert max(batch_counts) > 1


def test_tiny_working_memory_fits_the_same_knn_similarities(plays, monkeypatch):
    for use_numba in (True, False):
        monkeypatch.setattr(_similarity, "_USE_NUMBA", use_numba)
        full = ItemKNNRecommender(n_neighbors=10, shrinkage=2.0).fit(plays).similarity_
        with sklearn.config_context(working_memory=2**-7):
            small = ItemKNNRecommender(n_neighbors=10, shrinkage=2.0).fit(plays).similarity_
        assert (full != small).nnz == 0
        np.testing.assert_array_equal(full.toarray(), small.toarray())


def test_every_top_k_path_uses_this_module():
    """No top-k selection is written outside utils/_topk*.py."""
    import pathlib

    import sklearn_musicrec

    root = pathlib.Path(sklearn_musicrec.__file__).parent
    for path in root.rglob("*.py"):
        if path.name.startswith("_topk"):
            continue
        text = path.read_text()
        for marker in ("def _push", "def _sift_down", "def topk_rows", "def select_topk"):
            assert marker not in text, f"{marker} in {path}"
    assert _topk.__all__


@pytest.mark.parametrize("exclude_seen", [False, True])
@pytest.mark.parametrize("case", ["random", "ties", "negative", "k beyond the catalogue"])
def test_norm_pruned_scan_equals_the_full_selection(case, exclude_seen, monkeypatch):
    """The norm-ordered scan returns the lists of the full product, ties included.

    Small blocks make the scan stop early on long-tailed norms; duplicated
    item rows make equal scores (the lower id wins wherever the duplicates
    fall in the norm order); all-negative scores force a full scan; a ``k``
    beyond the catalogue pads with ``-1``/``-inf``.
    """
    monkeypatch.setattr(_topk, "_NORM_BLOCK", 16)
    rng = np.random.RandomState(0)
    n_items, d = 700, 8
    # long-tailed norms, as in factor models (popular items have large ones)
    V = (rng.standard_normal((n_items, d)) * rng.pareto(2.0, (n_items, 1))).astype(np.float32)
    U = rng.standard_normal((5, d)).astype(np.float32)
    k = 10
    if case == "ties":
        V[rng.choice(n_items, 200)] = V[rng.choice(n_items, 200)]
        V[::7] = V[3]
    elif case == "negative":
        V = -np.abs(V)
        U = np.abs(U)
    elif case == "k beyond the catalogue":
        V, k = V[:30], 40
    seen = sp.random(5, V.shape[0], density=0.05, format="csr", random_state=1)
    seen.sort_indices()
    # the scores as the scan computes them: one BLAS product per block of
    # the norm-ordered items (BLAS may round the last bit of a row
    # differently in another layout, e.g. one product of all rows)
    index = norm_ordered_items(V)
    Vs, _, order = index
    S = np.empty((5, V.shape[0]), dtype=np.float32)
    for r, u in enumerate(U):
        blocks = [Vs[a : a + 16] @ u for a in range(0, V.shape[0], 16)]
        S[r, order] = np.concatenate(blocks)
    ids_ref = np.empty((5, k), dtype=np.int64)
    vals_ref = np.empty((5, k), dtype=np.float32)
    topk_dense_compiled(S, seen.indptr, seen.indices, exclude_seen, k, ids_ref, vals_ref)
    ids, vals = topk_norm_pruned(U, index, seen.indptr, seen.indices, exclude_seen, k)
    np.testing.assert_array_equal(ids, ids_ref)
    np.testing.assert_array_equal(vals, vals_ref)


def test_norm_pruned_scan_reads_a_fraction_of_long_tailed_items(monkeypatch):
    """On long-tailed norms the scan stops after a few blocks."""
    from sklearn_musicrec.utils import _topk_numba

    calls = []
    merge = _topk_numba.merge_scored_block

    def counting(*args):
        calls.append(args[0].shape[0])
        return merge(*args)

    monkeypatch.setattr(_topk_numba, "merge_scored_block", counting)
    monkeypatch.setattr(_topk, "_NORM_BLOCK", 64)
    rng = np.random.RandomState(0)
    V = (rng.standard_normal((6400, 16)) * rng.pareto(1.5, (6400, 1))).astype(np.float32)
    U = V[rng.choice(6400, 3)] + 0.1  # users near popular items
    empty = np.zeros(4, dtype=np.int64), np.zeros(0, dtype=np.int64)
    topk_norm_pruned(U, norm_ordered_items(V), *empty, True, 10)
    assert sum(calls) < 0.5 * 3 * 6400


def test_norm_ordered_items_refuses_non_finite_factors():
    V = np.ones((4, 2), dtype=np.float32)
    V[2, 1] = np.inf
    assert norm_ordered_items(V) is None
    Vs, norms, order = norm_ordered_items(np.arange(8, dtype=np.float32).reshape(4, 2))
    np.testing.assert_array_equal(order, [3, 2, 1, 0])
    assert np.all(np.diff(norms) <= 0) and Vs.flags.c_contiguous
