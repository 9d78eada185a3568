"""Tests of TagRecommender, FeatureFactorizer and HybridRecommender."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold

from sklearn_musicrec import ItemKNNRecommender, PopularityRecommender
from sklearn_musicrec.content import FeatureFactorizer, HybridRecommender, TagRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import make_recommendation_scorer
from tests._realdata import fetch_lastfm_2k_or_skip


@pytest.fixture(scope="module")
def data():
    return make_interactions(n_users=200, n_items=60, random_state=0)


def test_tag_profile_matches_hand_computed_tfidf_cosine():
    # 3 items x 2 tags; item 2 has no plays (cold)
    F = np.array([[2.0, 0.0], [1.0, 2.0], [0.0, 3.0]])
    X = sp.csr_matrix(np.array([[1.0, 0.0, 0.0], [0.0, 4.0, 0.0]]))
    model = TagRecommender(item_features=F, sublinear_tf=False, history_weighting="raw").fit(X)
    idf = 1 + np.log((1 + 3) / (1 + np.array([2, 2])))  # both tags on 2 items
    V = F * idf
    V /= np.linalg.norm(V, axis=1, keepdims=True)
    P = np.array([[1.0, 0.0, 0.0], [0.0, 4.0, 0.0]]) @ V
    expected = (P / np.linalg.norm(P, axis=1, keepdims=True)) @ V.T
    np.testing.assert_allclose(model.decision_function(X), expected)
    # the cold item 2 (tag 1 only) is the best unseen item of user 1
    assert model.predict(X)[1] == 2


def test_tag_recommender_scores_cold_items_and_handles_empty_rows(data):
    X = data.data.tolil()
    X[:, :10] = 0
    X = X.tocsr()
    model = TagRecommender(item_features=data.item_tags).fit(X)
    S = model.decision_function(X[:5])
    assert np.ptp(S[:, :10], axis=1).min() > 0
    empty = model.decision_function(sp.csr_matrix((1, X.shape[1])))
    np.testing.assert_array_equal(empty[0], model.item_counts_)


def test_item_features_errors_name_the_argument(data):
    with pytest.raises(ValueError, match="item_features .* shape"):
        TagRecommender(item_features=data.item_tags[:5]).fit(data.data)
    with pytest.raises(ValueError, match="non-negative"):
        TagRecommender(item_features=-data.item_tags.toarray()).fit(data.data)


def test_feature_factorizer_reproducible_and_seed_sensitive(data):
    est = FeatureFactorizer(item_features=data.item_tags, n_components=8, max_iter=5)
    a = clone(est).set_params(random_state=1, n_jobs=1).fit(data.data)
    b = clone(est).set_params(random_state=1, n_jobs=2).fit(data.data)
    c = clone(est).set_params(random_state=2).fit(data.data)
    np.testing.assert_array_equal(a.decision_function(data.data), b.decision_function(data.data))
    assert not np.allclose(a.item_factors_, c.item_factors_)


def test_feature_factorizer_cold_item_vector_is_its_features(data):
    X = data.data.tolil()
    X[:, 0] = 0
    model = FeatureFactorizer(
        item_features=data.item_tags, n_components=8, max_iter=5, random_state=0
    ).fit(X.tocsr())
    np.testing.assert_array_equal(model.item_embeddings_[0], 0)
    assert np.abs(model.item_factors_[0]).sum() > 0


def test_feature_factorizer_transform_is_the_fold_in(data):
    X = data.data
    model = FeatureFactorizer(
        item_features=data.item_tags, n_components=8, max_iter=5, random_state=0
    ).fit(X)
    rows = sp.vstack([X[:4], sp.csr_matrix((1, X.shape[1]))]).tocsr()
    U = model.transform(rows)
    assert U.shape == (5, 8) and U.dtype == np.float32
    np.testing.assert_array_equal(U[4], 0)  # an empty row has no factors
    # the scores are the fold-in factors against the item vectors
    np.testing.assert_allclose(
        model.decision_function(rows[:4]),
        U[:4] @ model.item_factors_.T + model.item_bias_,
        rtol=1e-5,
        atol=1e-6,
    )
    # row-subset invariant (every row is folded in alone), new rows too
    np.testing.assert_array_equal(model.transform(rows[2:3]), U[2:3])
    np.testing.assert_array_equal(model.transform(X[::-1])[::-1], model.transform(X))
    assert np.abs(U[:4]).sum() > 0
    names = model.get_feature_names_out()
    assert names.tolist() == [f"featurefactorizer{i}" for i in range(8)]
    fresh = clone(model).fit_transform(X)
    np.testing.assert_array_equal(fresh, model.transform(X))


def test_feature_factorizer_warp_runs(data):
    model = FeatureFactorizer(
        item_features=data.item_tags, loss="warp", n_components=8, max_iter=3, random_state=0
    ).fit(data.data)
    assert np.isfinite(model.decision_function(data.data[:3])).all()


def _hybrid(data):
    return HybridRecommender(
        [
            ("tags", TagRecommender(item_features=data.item_tags)),
            ("knn", ItemKNNRecommender()),
            ("pop", PopularityRecommender()),
        ]
    )


def test_hybrid_is_the_weighted_mean_of_zscores(data):
    X = data.data
    hybrid = _hybrid(data).set_params(weights=[1.0, 2.0, 0.0]).fit(X)
    tags, knn = hybrid.estimators_[0], hybrid.estimators_[1]

    warm = hybrid.item_counts_ > 0

    def z(S, cols):
        part = S[:, cols]
        out = np.zeros_like(S)
        out[:, cols] = (part - part.mean(axis=1, keepdims=True)) / part.std(axis=1, keepdims=True)
        return out

    everything = np.ones_like(warm)
    num = z(tags.decision_function(X[:4]), everything) + 2 * z(knn.decision_function(X[:4]), warm)
    expected = num / (1 + 2 * warm)  # knn votes only on items with plays in fit
    np.testing.assert_allclose(hybrid.decision_function(X[:4]), expected, rtol=1e-5, atol=1e-6)


def test_hybrid_cold_items_scored_only_by_content_members(data):
    X = data.data.tolil()
    X[:, :5] = 0
    X = X.tocsr()
    hybrid = _hybrid(data).set_params(weights=[1.0, 1.0, 1.0]).fit(X)
    tags = hybrid.estimators_[0]
    S_tags = tags.decision_function(X[:3])
    mean, std = S_tags.mean(axis=1, keepdims=True), S_tags.std(axis=1, keepdims=True)
    np.testing.assert_allclose(
        hybrid.decision_function(X[:3])[:, :5], ((S_tags - mean) / std)[:, :5]
    )


def test_hybrid_short_histories_lean_on_short_history_weights(data):
    hybrid = _hybrid(data).set_params(
        weights=[0.0, 1.0, 0.0], short_history_weights=[0.0, 0.0, 1.0], history_shrinkage=1e9
    )
    hybrid.fit(data.data)
    pop = hybrid.estimators_[2].item_popularity_
    order = np.argsort(-hybrid.decision_function(data.data[:1])[0], kind="stable")
    np.testing.assert_array_equal(order[:5], np.argsort(-pop, kind="stable")[:5])


def test_hybrid_weights_and_nested_params_tunable_in_grid_search(data):
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    search = GridSearchCV(
        _hybrid(data),
        {"weights": [[1, 0, 0], [0, 1, 0], [1, 1, 0.2]], "tags__sublinear_tf": [True, False]},
        cv=KFold(2, shuffle=True, random_state=0),
        scoring=scorer,
    ).fit(data.data)
    assert len(search.cv_results_["params"]) == 6
    assert search.best_estimator_.get_params()["tags__sublinear_tf"] in (True, False)


def test_hybrid_errors(data):
    with pytest.raises(ValueError, match="weights"):
        _hybrid(data).set_params(weights=[1, 2]).fit(data.data)
    with pytest.raises(ValueError, match="unique names"):
        HybridRecommender([("a", TagRecommender()), ("a", TagRecommender())]).fit(data.data)


@pytest.mark.realdata
def test_tag_recommender_cold_artists_floor_on_lastfm():
    from sklearn_musicrec.metrics import ndcg_at_k

    d = fetch_lastfm_2k_or_skip()
    X = sp.csr_matrix(d.data, dtype=np.float64)
    tags = sp.csr_matrix(d.tags)
    rng = np.random.RandomState(0)
    tagged = np.flatnonzero((tags.getnnz(axis=1) > 0) & (X.getnnz(axis=0) > 0))
    cold = np.sort(rng.choice(tagged, size=tagged.size // 5, replace=False))
    is_cold = np.zeros(X.shape[1], bool)
    is_cold[cold] = True
    X_train = sp.csr_matrix(X.multiply(~is_cold[None, :]))
    X_test = sp.csr_matrix(X.multiply(is_cold[None, :]))
    users = np.flatnonzero((X_test.getnnz(axis=1) > 0) & (X_train.getnnz(axis=1) > 0))
    model = TagRecommender(item_features=tags).fit(X_train)
    ids, _ = model.recommend(X_train[users], k=20, items=cold)
    # random over the same candidates is about 0.01 (benchmarks/bench_cold_start.py)
    assert ndcg_at_k(X_test[users], ids, k=20) > 0.25
