"""Similarity kernels against direct dense reference computations."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_musicrec.neighbors import _similarity as sim_mod
from sklearn_musicrec.neighbors._similarity import (
    SIMILARITIES,
    prepare_vectors,
    select_topk,
    similarity_topk,
    topk_dense_rows,
)


def _reference_similarity(A, B, similarity, shrinkage, alpha):
    """All pairwise similarities of the rows of A and B, written out directly."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    S = np.full((A.shape[0], B.shape[0]), -np.inf)
    for i, a in enumerate(A):
        for j, b in enumerate(B):
            if similarity == "jaccard":
                a_set, b_set = a != 0, b != 0
                inter = np.sum(a_set & b_set)
                value, denom = inter, np.sum(a_set | b_set) + shrinkage
            else:
                if similarity == "pearson":
                    a = np.where(a != 0, a - a[a != 0].mean(), 0.0) if a.any() else a
                    b = np.where(b != 0, b - b[b != 0].mean(), 0.0) if b.any() else b
                value = a @ b
                if similarity == "asymmetric_cosine":
                    denom = (a @ a) ** alpha * (b @ b) ** (1 - alpha) + shrinkage
                else:
                    denom = np.linalg.norm(a) * np.linalg.norm(b) + shrinkage
            if value != 0:
                S[i, j] = value / denom
    return S


def _reference_topk(S, k, min_similarity=-np.inf):
    """Keep the k largest finite entries per row, ties to the lower column."""
    out = np.zeros_like(S)
    for i, row in enumerate(S):
        ok = np.flatnonzero((row > -np.inf) & (row >= min_similarity))
        order = ok[np.lexsort((ok, -row[ok]))][:k]
        out[i, order] = row[order]
    return out


def _ratings(n_rows=40, n_cols=30, density=0.25, seed=0):
    X = sp.random(n_rows, n_cols, density=density, random_state=seed, format="csr")
    X.data = np.ceil(X.data * 5)  # ratings 1..5, with ties
    return X


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("shrinkage", [0.0, 3.0])
def test_similarity_matches_reference(similarity, shrinkage):
    A = _ratings(25, 30, seed=1)
    B = _ratings(40, 30, seed=2)
    PA, sa = prepare_vectors(A, similarity, np.float64)
    PB, sb = prepare_vectors(B, similarity, np.float64)
    S = similarity_topk(
        PA,
        sa,
        PB.T.tocsr(),
        sb,
        similarity=similarity,
        n_neighbors=1000,
        shrinkage=shrinkage,
        alpha=0.3,
        min_similarity=-np.inf,
    ).toarray()
    R = _reference_similarity(A.toarray(), B.toarray(), similarity, shrinkage, 0.3)
    finite = np.isfinite(R)
    np.testing.assert_allclose(S[finite], R[finite], rtol=1e-10, atol=1e-12)
    # no co-occurrence: never a neighbour (pearson: a dot product that cancels
    # to zero in exact arithmetic may leave rounding noise)
    np.testing.assert_allclose(S[~finite], 0.0, atol=1e-12 if similarity == "pearson" else 0)


def test_asymmetric_cosine_at_one_half_is_cosine():
    X = _ratings()
    P, s = prepare_vectors(X, "cosine", np.float64)
    kw = dict(n_neighbors=10, shrinkage=2.0)
    cos = similarity_topk(P, s, P.T.tocsr(), s, similarity="cosine", **kw)
    asym = similarity_topk(P, s, P.T.tocsr(), s, similarity="asymmetric_cosine", alpha=0.5, **kw)
    np.testing.assert_allclose(cos.toarray(), asym.toarray(), rtol=1e-12)


def test_shrinkage_shrinks_towards_zero():
    X = _ratings()
    P, s = prepare_vectors(X, "cosine", np.float64)
    plain = similarity_topk(P, s, P.T.tocsr(), s, similarity="cosine", n_neighbors=100)
    shrunk = similarity_topk(
        P, s, P.T.tocsr(), s, similarity="cosine", n_neighbors=100, shrinkage=5.0
    )
    assert plain.nnz == shrunk.nnz
    assert np.all(shrunk.toarray() <= plain.toarray() + 1e-15)
    assert np.all(shrunk.data < plain.data)


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("k", [1, 3, 7])
def test_pruning_matches_reference(similarity, k):
    X = (
        sp.csr_matrix((_ratings(30, 20, density=0.4).toarray() > 2).astype(float))
        if similarity == "jaccard"
        else _ratings(30, 20, density=0.4)
    )
    V = X.T.tocsr()  # item vectors: many tied similarities on binary data
    P, s = prepare_vectors(V, similarity, np.float64)
    S = similarity_topk(
        P,
        s,
        P.T.tocsr(),
        s,
        similarity=similarity,
        n_neighbors=k,
        shrinkage=1.0,
        min_similarity=0.05,
        self_offset=0,
    ).toarray()
    R = _reference_similarity(V.toarray(), V.toarray(), similarity, 1.0, 0.5)
    np.fill_diagonal(R, -np.inf)
    expected = _reference_topk(R, k, min_similarity=0.05)
    np.testing.assert_allclose(S, expected, rtol=1e-10, atol=1e-12)
    assert np.all(np.diff(S.astype(bool).sum(axis=1)) <= k)
    assert np.all(np.diag(S) == 0)


def test_blocks_threads_and_paths_do_not_change_the_result(monkeypatch):
    X = sp.random(300, 60, density=0.3, random_state=0, format="csr")
    X.data = np.ceil(X.data * 3)
    P, s = prepare_vectors(X, "cosine", np.float32)
    BT = P.T.tocsr()
    kw = dict(similarity="cosine", n_neighbors=5, shrinkage=1.0)
    reference = similarity_topk(P, s, BT, s, n_jobs=1, **kw)
    # dense products (user-user) take the dense path; small blocks + threads
    monkeypatch.setattr(sim_mod, "_BLOCK_ENTRIES", 2000)
    for n_jobs in (1, 2, 3):
        other = similarity_topk(P, s, BT, s, n_jobs=n_jobs, **kw)
        assert (other != reference).nnz == 0
        np.testing.assert_array_equal(other.indices, reference.indices)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 6),
    st.lists(
        st.lists(st.sampled_from([-np.inf, 0.0, 0.5, 1.0, 2.0]), min_size=1, max_size=40),
        min_size=1,
        max_size=6,
    ),
)
def test_sparse_and_dense_selection_agree_with_reference(k, rows):
    width = max(len(r) for r in rows)
    S = np.full((len(rows), width), -np.inf)
    for i, r in enumerate(rows):
        S[i, : len(r)] = r
    expected = _reference_topk(S, k)
    expected_mask = np.zeros_like(S, dtype=bool)
    for i in range(S.shape[0]):
        ok = np.flatnonzero(S[i] > -np.inf)
        expected_mask[i, ok[np.lexsort((ok, -S[i, ok]))][:k]] = True
    # dense path
    counts, cols, vals = topk_dense_rows(S.copy(), k)
    got = np.zeros_like(S, dtype=bool)
    got[np.repeat(np.arange(S.shape[0]), counts), cols] = True
    np.testing.assert_array_equal(got, expected_mask)
    # sparse path, entries of each row in reverse column order
    rows_i, cols_i = np.nonzero(np.ones_like(S, dtype=bool))
    order = np.lexsort((-cols_i, rows_i))
    rows_i, cols_i = rows_i[order], cols_i[order]
    indptr = np.arange(0, S.size + 1, S.shape[1])
    keep = select_topk(indptr, S[rows_i, cols_i], k, cols_i)
    got = np.zeros_like(S, dtype=bool)
    got[rows_i[keep], cols_i[keep]] = True
    np.testing.assert_array_equal(got, expected_mask)
    np.testing.assert_array_equal(np.where(got, S, 0), np.where(expected_mask, expected, 0))


def test_dense_path_with_many_columns_matches_reference():
    rng = np.random.RandomState(0)
    S = np.round(rng.rand(7, 500), 2)  # many ties, chunk pre-selection active
    S[0, :] = -np.inf
    S[1, 10:] = -np.inf
    counts, cols, vals = topk_dense_rows(S.copy(), 5)
    expected = _reference_topk(S, 5)
    got = np.zeros_like(S)
    got[np.repeat(np.arange(7), counts), cols] = vals
    np.testing.assert_array_equal(got, expected)
    assert counts[0] == 0 and counts[1] == 5


@pytest.mark.parametrize("similarity", SIMILARITIES)
@pytest.mark.parametrize("dense_fraction", [0.0, 2.0])  # always dense / always sparse
def test_dense_and_sparse_paths_match_reference(monkeypatch, similarity, dense_fraction):
    monkeypatch.setattr(sim_mod, "_DENSE_FRACTION", dense_fraction)
    X = _ratings(50, 40, density=0.3, seed=3)
    if similarity == "jaccard":
        X.data[:] = 1.0
    V = X.T.tocsr()
    P, s = prepare_vectors(V, similarity, np.float64)
    S = similarity_topk(
        P,
        s,
        P.T.tocsr(),
        s,
        similarity=similarity,
        n_neighbors=4,
        shrinkage=0.5,
        alpha=0.7,
        self_offset=0,
    ).toarray()
    R = _reference_similarity(V.toarray(), V.toarray(), similarity, 0.5, 0.7)
    np.fill_diagonal(R, -np.inf)
    np.testing.assert_allclose(S, _reference_topk(R, 4, min_similarity=0.0), rtol=1e-10, atol=1e-12)
