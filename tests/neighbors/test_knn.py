"""UserKNNRecommender and ItemKNNRecommender against direct computations."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.neighbors import ItemKNNRecommender, UserKNNRecommender
from tests._realdata import fetch_lastfm_2k_or_skip
from tests.neighbors.test_similarity import (
    _reference_similarity,
    _reference_topk,
)


@pytest.fixture(scope="module")
def plays():
    return make_interactions(n_users=120, n_items=60, random_state=0).data


def _ratings(n_users=80, n_items=50, seed=0):
    """Ratings 1..5 from user and item biases plus a rank-2 taste term."""
    rng = np.random.RandomState(seed)
    U, V = rng.randn(n_users, 2), rng.randn(n_items, 2)
    full = 3 + 0.6 * rng.randn(n_users, 1) + 0.6 * rng.randn(1, n_items) + U @ V.T * 0.8
    full = np.clip(np.rint(full), 1, 5)
    mask = rng.rand(n_users, n_items) < 0.35
    return full, mask


@pytest.mark.parametrize("similarity", ["cosine", "asymmetric_cosine", "jaccard", "pearson"])
def test_item_similarity_matches_reference(plays, similarity):
    model = ItemKNNRecommender(
        n_neighbors=5, similarity=similarity, shrinkage=2.0, asymmetric_alpha=0.8, weighting=None
    ).fit(plays)
    V = plays.toarray().T
    R = _reference_similarity(V, V, similarity, 2.0, 0.8)
    np.fill_diagonal(R, -np.inf)
    expected = _reference_topk(R, 5, min_similarity=0.0)
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=2e-5, atol=1e-6)
    assert model.similarity_.dtype == np.float32
    assert np.all(model.similarity_.diagonal() == 0)


def test_item_scores_are_weighted_sums_over_neighbours_of_the_target(plays):
    model = ItemKNNRecommender(n_neighbors=7, weighting=None).fit(plays)
    S = model.similarity_.toarray().astype(np.float64)
    expected = plays.toarray() @ S.T  # score(u, i) = sum_j x_uj s(i, j)
    np.testing.assert_allclose(model.decision_function(plays), expected, rtol=1e-4)


@pytest.mark.parametrize("similarity", ["cosine", "jaccard", "asymmetric_cosine"])
def test_user_scores_match_reference(plays, similarity):
    train, queries = plays[:90], plays[90:]
    model = UserKNNRecommender(
        n_neighbors=6, similarity=similarity, shrinkage=1.0, weighting=None
    ).fit(train)
    R = _reference_similarity(queries.toarray(), train.toarray(), similarity, 1.0, 0.5)
    S = _reference_topk(R, 6, min_similarity=0.0)
    expected = S @ train.toarray()
    np.testing.assert_allclose(model.decision_function(queries), expected, rtol=1e-4, atol=1e-6)


def test_fold_in_equals_training_rows(plays):
    """A training user's row gives the same recommendations as in training."""
    for model in (UserKNNRecommender(n_neighbors=10), ItemKNNRecommender(n_neighbors=10)):
        model.fit(plays)
        ids_all, scores_all = model.recommend(plays, k=8)
        for u in (0, 17, 63):
            ids_u, scores_u = model.recommend(plays[u], k=8)
            np.testing.assert_array_equal(ids_u[0], ids_all[u])
            np.testing.assert_allclose(scores_u[0], scores_all[u], rtol=1e-6)


def test_new_user_equals_refit_free_fold_in(plays):
    """Folding in a row equals appending it: its neighbours are training users."""
    model = UserKNNRecommender(n_neighbors=5, weighting=None).fit(plays[:100])
    users, sims = model.similar_users(plays[100:], k=5)
    R = _reference_similarity(plays[100:].toarray(), plays[:100].toarray(), "cosine", 0.0, 0.5)
    for row, (u, s) in enumerate(zip(users, sims)):
        order = np.lexsort((np.arange(100), -R[row]))[:5]
        np.testing.assert_array_equal(u, order)
        np.testing.assert_allclose(s, R[row, order], rtol=1e-5)


def test_similar_users_contains_self_first_and_pads(plays):
    model = UserKNNRecommender().fit(plays)
    users, sims = model.similar_users(plays[:5], k=3)
    np.testing.assert_array_equal(users[:, 0], np.arange(5))
    np.testing.assert_allclose(sims[:, 0], 1.0, rtol=1e-5)
    lonely = sp.csr_matrix((1, plays.shape[1]))
    users, sims = model.similar_users(lonely, k=4)
    assert np.all(users == -1) and np.all(sims == -np.inf)


def test_similar_items(plays):
    model = ItemKNNRecommender(n_neighbors=4).fit(plays)
    ids, sims = model.similar_items([3, 0], k=6)
    assert ids.shape == sims.shape == (2, 6)
    S = model.similarity_.toarray()
    for row, item in enumerate([3, 0]):
        valid = ids[row] >= 0
        assert valid.sum() == np.count_nonzero(S[item]) <= 4
        np.testing.assert_array_equal(sims[row][valid], S[item, ids[row][valid]])
        assert np.all(np.diff(sims[row][valid]) <= 0)
        assert item not in ids[row]
        assert np.all(sims[row][~valid] == -np.inf)
    ids_scalar, _ = model.similar_items(3, k=6)
    np.testing.assert_array_equal(ids_scalar[0], ids[0])


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([60], ValueError, r"item_ids must be item ids in \[0, 60\)"),
        ([-1], ValueError, r"item_ids must be item ids in"),
        ([[0, 1]], ValueError, "1-D array"),
        ([0.5], TypeError, "integer item ids"),
    ],
)
def test_similar_items_rejects_bad_ids(plays, bad, error, match):
    model = ItemKNNRecommender().fit(plays)
    with pytest.raises(error, match=match):
        model.similar_items(bad)


def test_min_similarity_prunes(plays):
    loose = ItemKNNRecommender(n_neighbors=30, shrinkage=0.0).fit(plays)
    strict = ItemKNNRecommender(n_neighbors=30, shrinkage=0.0, min_similarity=0.3).fit(plays)
    assert strict.similarity_.nnz < loose.similarity_.nnz
    assert strict.similarity_.data.min() >= 0.3
    kept = loose.similarity_.multiply(loose.similarity_ >= 0.3)
    np.testing.assert_array_equal(strict.similarity_.toarray(), kept.toarray())


@pytest.mark.parametrize("Model", [ItemKNNRecommender, UserKNNRecommender])
def test_results_do_not_depend_on_n_jobs(Model):
    X = make_interactions(n_users=400, n_items=150, random_state=1).data
    one = Model(n_neighbors=8, n_jobs=1).fit(X)
    two = Model(n_neighbors=8, n_jobs=2).fit(X)
    np.testing.assert_array_equal(one.decision_function(X), two.decision_function(X))
    np.testing.assert_array_equal(one.recommend(X, k=10)[0], two.recommend(X, k=10)[0])


def test_user_mean_centered_matches_reference():
    full, mask = _ratings()
    X = sp.csr_matrix(np.where(mask, full, 0.0))
    train, queries = X[:60], X[60:]
    model = UserKNNRecommender(
        n_neighbors=10, similarity="pearson", aggregation="mean_centered", min_similarity=-1.0
    ).fit(train)
    T, Q = train.toarray(), queries.toarray()
    mu_t = np.array([r[r > 0].mean() for r in T])
    mu_q = np.array([r[r > 0].mean() for r in Q])
    R = _reference_similarity(Q, T, "pearson", 0.0, 0.5)
    S = _reference_topk(R, 10, min_similarity=-1.0)
    rated = T > 0
    num = S @ np.where(rated, T - mu_t[:, None], 0.0)
    den = np.abs(S) @ rated
    expected = mu_q[:, None] + np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    np.testing.assert_allclose(model.decision_function(queries), expected, rtol=1e-4, atol=1e-4)


def test_item_mean_centered_matches_reference():
    full, mask = _ratings()
    X = sp.csr_matrix(np.where(mask, full, 0.0))
    model = ItemKNNRecommender(
        n_neighbors=8, similarity="pearson", aggregation="mean_centered", shrinkage=1.0
    ).fit(X)
    D = X.toarray()
    mu_i = np.array([c[c > 0].mean() for c in D.T])
    S = model.similarity_.toarray().astype(np.float64)  # itself checked above
    rated = D > 0
    num = np.where(rated, D - mu_i, 0.0) @ S.T
    den = rated @ np.abs(S).T
    expected = mu_i + np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    np.testing.assert_allclose(model.decision_function(X), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("Model", [UserKNNRecommender, ItemKNNRecommender])
def test_explicit_rating_prediction_beats_means(Model):
    full, mask = _ratings(n_users=200, n_items=80, seed=1)
    rng = np.random.RandomState(0)
    test = mask & (rng.rand(*mask.shape) < 0.2)
    train = mask & ~test
    X = sp.csr_matrix(np.where(train, full, 0.0))
    model = Model(
        n_neighbors=30, similarity="pearson", aggregation="mean_centered", min_similarity=-1.0
    ).fit(X)
    pred = model.decision_function(X)[test]
    truth = full[test]
    if Model is UserKNNRecommender:
        baseline = np.array([r[r > 0].mean() for r in X.toarray()])[np.nonzero(test)[0]]
    else:
        baseline = model.item_means_[np.nonzero(test)[1]]
    rmse = np.sqrt(np.mean((pred - truth) ** 2))
    rmse_baseline = np.sqrt(np.mean((baseline - truth) ** 2))
    assert rmse < 0.95 * rmse_baseline


def test_mean_centered_empty_row_predicts_global_mean():
    full, mask = _ratings()
    X = sp.csr_matrix(np.where(mask, full, 0.0))
    model = UserKNNRecommender(aggregation="mean_centered").fit(X)
    empty = sp.csr_matrix((1, X.shape[1]))
    np.testing.assert_allclose(model.decision_function(empty), model.global_mean_, rtol=1e-6)


def test_weighting_pipeline_and_binarizer(plays):
    pipe = make_pipeline(Binarizer(), ItemKNNRecommender(n_neighbors=10)).fit(plays)
    Xt = pipe[:-1].transform(plays)
    assert sp.issparse(Xt)
    binary = (plays > 0).astype(float)
    direct = ItemKNNRecommender(n_neighbors=10).fit(binary)
    np.testing.assert_array_equal(pipe[-1].recommend(Xt, k=5)[0], direct.recommend(binary, k=5)[0])


def test_fit_does_not_modify_input_and_clone_refits_identically(plays):
    X = plays.copy()
    for model in (
        UserKNNRecommender(similarity="pearson"),
        ItemKNNRecommender(similarity="pearson"),
    ):
        model.fit(X)
        assert (X != plays).nnz == 0
        twin = clone(model).fit(X)
        np.testing.assert_array_equal(model.decision_function(X), twin.decision_function(X))


@pytest.mark.realdata
def test_lastfm_quality_floor():
    """Binarised item-kNN and user-kNN on lastfm-2k beat popularity by far."""
    from sklearn_musicrec.metrics import ndcg_at_k
    from sklearn_musicrec.model_selection import holdout_split

    X = fetch_lastfm_2k_or_skip().data
    X = (X[np.diff(X.indptr) >= 5] > 0).astype(np.float64)
    train, test = holdout_split(X, 0.2, random_state=0)
    for model, floor in (
        (ItemKNNRecommender(n_neighbors=100, shrinkage=10.0), 0.24),
        (UserKNNRecommender(n_neighbors=50), 0.22),
    ):
        ids, _ = model.fit(train).recommend(train, k=20)
        assert ndcg_at_k(test, ids, k=20) > floor, type(model).__name__


@pytest.mark.parametrize("Model", [ItemKNNRecommender, UserKNNRecommender])
@pytest.mark.parametrize("exclude_seen", [True, False])
@pytest.mark.parametrize("k", [3, 25, 70])  # 70 > n_items: padding
def test_sparse_top_k_path_equals_dense_path(plays, Model, exclude_seen, k):
    from sklearn_musicrec.base import RecommenderMixin

    X = plays.copy()
    X.data = X.data * (1 + np.random.RandomState(0).rand(X.nnz))  # no ties
    model = Model(n_neighbors=5).fit(X)
    ids, scores = model.recommend(X, k=k, exclude_seen=exclude_seen)
    ids_d, scores_d = RecommenderMixin.recommend(model, X, k=k, exclude_seen=exclude_seen)
    np.testing.assert_allclose(scores, scores_d, rtol=1e-6)
    positive = scores_d > 0
    np.testing.assert_array_equal(ids[positive], ids_d[positive])
    D = model.decision_function(X)
    seen = X.toarray() > 0
    for row in range(X.shape[0]):
        valid = ids[row] >= 0
        assert len(set(ids[row][valid])) == valid.sum()
        np.testing.assert_allclose(D[row, ids[row][valid]], scores[row][valid], rtol=1e-6)
        if exclude_seen:
            assert not seen[row, ids[row][valid]].any()
            assert valid.sum() == min(k, (~seen[row]).sum())
        # the zero-score completion takes the lowest free ids
        zero = valid & (scores[row] == 0)
        if zero.any():
            free = np.flatnonzero((D[row] == 0) & ~(seen[row] if exclude_seen else False))
            np.testing.assert_array_equal(ids[row][zero], free[: zero.sum()])


def test_dense_products_with_blas_head_match_reference(monkeypatch):
    """User-user products go dense; heavy items go through BLAS, the rest sparse."""
    from sklearn_musicrec.neighbors import _similarity as sim_mod

    X = make_interactions(n_users=300, n_items=120, random_state=2).data
    P, s = sim_mod.prepare_vectors(X, "cosine", np.float64)
    BT = P.T.tocsr()
    dense, head = sim_mod.plan_products(P, BT)
    assert dense and 0 < head.size < X.shape[1]
    for shrinkage in (0.0, 2.0):
        S = sim_mod.similarity_topk(
            P, s, BT, s, similarity="cosine", n_neighbors=7, shrinkage=shrinkage
        ).toarray()
        R = _reference_similarity(X.toarray(), X.toarray(), "cosine", shrinkage, 0.5)
        np.testing.assert_allclose(S, _reference_topk(R, 7), rtol=1e-9, atol=1e-12)


def test_history_neighbourhood_scores(plays):
    """``neighborhood="history"``: each history item votes for its own neighbours."""
    model = ItemKNNRecommender(n_neighbors=7, neighborhood="history", weighting=None).fit(plays)
    S = model.similarity_.toarray().astype(np.float64)
    np.testing.assert_allclose(model.decision_function(plays), plays.toarray() @ S, rtol=1e-4)
    target = ItemKNNRecommender(n_neighbors=7, weighting=None).fit(plays)
    np.testing.assert_array_equal(target.similarity_.toarray(), model.similarity_.toarray())
    ids, scores = model.recommend(plays, k=5)
    from sklearn_musicrec.base import RecommenderMixin

    np.testing.assert_allclose(scores, RecommenderMixin.recommend(model, plays, k=5)[1], rtol=1e-6)
