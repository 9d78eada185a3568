"""EASERecommender against the closed form computed with a float64 inverse."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.neighbors import EASERecommender, _ease


def _reference_B(X, lam):
    X = X.toarray().astype(np.float64)
    P = np.linalg.inv(X.T @ X + lam * np.eye(X.shape[1]))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    return B


@pytest.fixture(scope="module")
def binary():
    X = make_interactions(n_users=200, n_items=90, random_state=0).data
    return (X > 0).astype(np.float64)


@pytest.mark.parametrize("float32_solve", [False, True])
@pytest.mark.parametrize("lam", [0.5, 20.0])
def test_coef_matches_float64_inverse(monkeypatch, binary, lam, float32_solve):
    if float32_solve:
        monkeypatch.setattr(_ease, "_FLOAT64_MAX_ITEMS", 0)
    model = EASERecommender(regularization=lam).fit(binary)
    B = _reference_B(binary, lam)
    assert model.coef_.dtype == np.float32
    assert np.all(np.diag(model.coef_) == 0)
    tol = 2e-4 if float32_solve else 1e-6
    np.testing.assert_allclose(model.coef_, B, atol=tol * np.abs(B).max())
    np.testing.assert_allclose(
        model.decision_function(binary), binary.toarray() @ B, atol=10 * tol * np.abs(B).max()
    )


def test_closed_form_is_the_constrained_ridge_solution(binary):
    """Each column solves min ||x_i - X b||^2 + lam ||b||^2 with b_i = 0."""
    lam = 5.0
    B = EASERecommender(regularization=lam).fit(binary).coef_.astype(np.float64)
    X = binary.toarray()
    for i in (0, 7, 40):
        others = np.delete(np.arange(X.shape[1]), i)
        Xo = X[:, others]
        b = np.linalg.solve(Xo.T @ Xo + lam * np.eye(others.size), Xo.T @ X[:, i])
        np.testing.assert_allclose(B[others, i], b, atol=1e-5)


def test_refuses_when_memory_is_short(monkeypatch, binary):
    monkeypatch.setattr(_ease, "_available_memory", lambda: 10_000)
    with pytest.raises(MemoryError, match=r"90 items need about .* GiB.*only 0.00 GiB"):
        EASERecommender().fit(binary)


def test_required_memory_grows_with_the_square_of_the_catalogue():
    small, large = _ease._required_memory(5000), _ease._required_memory(50_000)
    assert large > 90 * (small - 64 * 2**20)
    assert large >= 50_000**2 * 4


def test_fold_in_of_new_users(binary):
    model = EASERecommender(regularization=10.0).fit(binary[:150])
    new = binary[150:]
    np.testing.assert_allclose(
        model.decision_function(new), new.toarray() @ model.coef_, rtol=1e-5, atol=1e-6
    )
    ids, _ = model.recommend(new, k=5)
    seen = new.toarray() > 0
    assert not np.any(np.take_along_axis(seen, ids, axis=1))


def test_symmetrize_from_upper_in_blocks(monkeypatch):
    monkeypatch.setattr(_ease, "_GRAM_BLOCK", 7)
    rng = np.random.RandomState(0)
    A = rng.rand(30, 30)
    expected = np.triu(A) + np.triu(A, 1).T
    _ease._symmetrize_from_upper(A)
    np.testing.assert_array_equal(A, expected)


def test_gram_in_blocks(monkeypatch, binary):
    monkeypatch.setattr(_ease, "_GRAM_BLOCK", 16)
    G = _ease._gram(sp.csr_matrix(binary), 3.0, np.float64)
    X = binary.toarray()
    np.testing.assert_allclose(G, X.T @ X + 3.0 * np.eye(X.shape[1]))


def test_items_without_interactions_are_left_out_exactly(binary):
    X = binary.tolil()
    X[:, [3, 50]] = 0
    X = X.tocsr()
    model = EASERecommender(regularization=4.0).fit(X)
    np.testing.assert_allclose(
        model.coef_, _reference_B(X, 4.0), atol=1e-6 * np.abs(model.coef_).max()
    )
    assert np.all(model.coef_[[3, 50]] == 0) and np.all(model.coef_[:, [3, 50]] == 0)


def test_similar_items_are_the_largest_weights(binary):
    X = binary.tolil()
    X[:, 7] = 0  # an item without interactions has no learned weights
    X = X.tocsr()
    model = EASERecommender(regularization=5.0).fit(X)
    ids, scores = model.similar_items([0, 3], k=5)
    assert ids.shape == scores.shape == (2, 5) and scores.dtype == np.float32
    for row, query in enumerate([0, 3]):
        weights = model.coef_[query].astype(np.float64)
        weights[[query, 7]] = -np.inf
        expected = np.argsort(-weights, kind="stable")[:5]
        np.testing.assert_array_equal(ids[row], expected)
        np.testing.assert_array_equal(scores[row], model.coef_[query, expected])
    all_ids, all_scores = model.similar_items(0, k=X.shape[1] + 2)
    # everything but the query and the empty item, then padding
    assert sorted(all_ids[0, : X.shape[1] - 2]) == sorted(set(range(X.shape[1])) - {0, 7})
    assert all_ids[0, -4:].tolist() == [-1] * 4 and np.all(all_scores[0, -4:] == -np.inf)


def test_verbose_prints_the_steps_of_the_solve(binary, capsys):
    EASERecommender(regularization=5.0).fit(binary)
    assert capsys.readouterr().out == ""
    EASERecommender(regularization=5.0, verbose=1).fit(binary)
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[EASERecommender] solving for 90 x 90 item weights")
    assert [line.split(":")[0] for line in out[1:5]] == [
        f"[EASERecommender] step {i}/4" for i in range(1, 5)
    ]
    assert all(" done in " in line for line in out[1:5])
    assert out[5].startswith("[EASERecommender] fitted in")
