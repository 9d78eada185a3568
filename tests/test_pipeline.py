"""Tests of the recommending pipeline (sklearn_musicrec/pipeline.py)."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer, FunctionTransformer

from sklearn_musicrec import (
    ALSFactorizer,
    ItemKNNRecommender,
    PopularityRecommender,
    UserKNNRecommender,
)
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import make_recommendation_scorer, ndcg_at_k
from sklearn_musicrec.model_selection import evaluate, holdout_split
from sklearn_musicrec.pipeline import (
    RecommenderPipeline,
    make_recommender_pipeline,
    recommend_excluding_history,
)
from sklearn_musicrec.preprocessing import BM25Weighting, InteractionEncoder
from tests._realdata import fetch_lastfm_2k_or_skip


@pytest.fixture(scope="module")
def X():
    return sp.csr_matrix(make_interactions(n_users=300, n_items=120, random_state=0).data)


@pytest.fixture(scope="module")
def split(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return holdout_split(X, 0.2, random_state=0)


def _threshold(X):
    return float(np.median(X.data))  # drops about half of the entries


def _raw_seen_listed(X, ids):
    """Number of rows whose list holds an item of the row's raw history."""
    X = sp.csr_matrix(X)
    return sum(
        bool(set(ids[i][ids[i] >= 0].tolist()) & set(X.indices[X.indptr[i] : X.indptr[i + 1]]))
        for i in range(X.shape[0])
    )


def test_plain_pipeline_cannot_recommend_and_ours_can(X):
    plain = Pipeline([("weight", BM25Weighting()), ("rec", ItemKNNRecommender())]).fit(X)
    assert not hasattr(plain, "recommend")
    pipe = RecommenderPipeline(plain.steps).fit(X)
    ids, scores = pipe.recommend(X[:3], k=7)
    assert ids.shape == scores.shape == (3, 7)
    # a pattern-keeping step: exactly the final step's own lists
    ref = pipe[-1].recommend(pipe[:-1].transform(X[:3]), k=7)
    np.testing.assert_array_equal(ids, ref[0])
    np.testing.assert_array_equal(scores, ref[1])


def test_dropping_step_never_lists_raw_history(X):
    step = Binarizer(threshold=_threshold(X))
    pipe = make_recommender_pipeline(step, ItemKNNRecommender()).fit(X)
    Xt = pipe[:-1].transform(X)
    assert Xt.nnz < X.nnz
    # the workaround excludes only the transformed history
    workaround = pipe[-1].recommend(Xt, k=10)[0]
    assert _raw_seen_listed(X, workaround) > 0
    ids, scores = pipe.recommend(X, k=10)
    assert _raw_seen_listed(X, ids) == 0
    np.testing.assert_array_equal(pipe.predict(X), ids[:, 0])
    # they are the final step's best items outside the raw row
    full_ids, full_scores = pipe[-1].recommend(Xt, k=X.shape[1], exclude_seen=False)
    for i in range(X.shape[0]):
        keep = ~np.isin(full_ids[i], X[i].indices) & (full_ids[i] >= 0)
        np.testing.assert_allclose(scores[i], full_scores[i][keep][:10], rtol=1e-6)


def test_step_adding_entries_is_handled(X):
    # a (contrived) step that fills every entry: the raw history is still excluded
    fill = FunctionTransformer(lambda Z: sp.csr_matrix(Z).toarray() + 1.0, accept_sparse=True)
    pipe = make_recommender_pipeline(fill, PopularityRecommender()).fit(X)
    ids, _ = pipe.recommend(X[:20], k=5)
    assert _raw_seen_listed(X[:20], ids) == 0
    assert (ids >= 0).all()


def test_exclude_seen_false_and_candidates(X):
    pipe = make_recommender_pipeline(Binarizer(threshold=_threshold(X)), ItemKNNRecommender())
    pipe.fit(X)
    Xt = pipe[:-1].transform(X)
    np.testing.assert_array_equal(
        pipe.recommend(X, k=5, exclude_seen=False)[0],
        pipe[-1].recommend(Xt, k=5, exclude_seen=False)[0],
    )
    rng = np.random.RandomState(0)
    cand = rng.choice(X.shape[1], 40, replace=False)
    ids, _ = pipe.recommend(X, k=5, items=cand)
    assert np.isin(ids[ids >= 0], cand).all() and _raw_seen_listed(X, ids) == 0
    mask = rng.rand(*X.shape) < 0.5
    ids, _ = pipe.recommend(X, k=5, items=sp.csr_matrix(mask))
    assert _raw_seen_listed(X, ids) == 0
    for i, row in enumerate(ids):
        assert mask[i, row[row >= 0]].all()
    with pytest.raises(TypeError, match="exclude_seen must be a bool"):
        pipe.recommend(X, exclude_seen="yes")


def test_score_equals_scorer_and_evaluate(X, split):
    X_train, X_test = split
    for step in (BM25Weighting(), Binarizer(threshold=_threshold(X))):
        pipe = make_recommender_pipeline(step, ItemKNNRecommender()).fit(X_train)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            s = pipe.score(X_train, X_test)
            assert s == make_recommendation_scorer("ndcg", k=10)(pipe, X_train, X_test)
            assert s == ndcg_at_k(X_test, pipe.recommend(X_train)[0], k=10)
            assert s == evaluate(pipe, X_train, X_test, metrics="ndcg")["ndcg@10"]
            holdout = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
            assert pipe.score(X) == holdout(pipe, X)
        assert 0 < s < 1


def test_grid_search_without_scoring_is_a_holdout_search(X):
    pipe = make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender())
    grid = {"itemknnrecommender__n_neighbors": [1, 50]}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = GridSearchCV(pipe, grid, cv=KFold(3)).fit(X)
    messages = [str(w.message) for w in caught]
    assert not any("Scoring failed" in m or "non-finite" in m for m in messages), messages
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores > 0).all()
    # one neighbour is far worse than fifty: not the first candidate by default
    assert search.best_params_ == {"itemknnrecommender__n_neighbors": 50}
    # each fold's score is the holdout scorer's on that fold
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    explicit = GridSearchCV(pipe, grid, cv=KFold(3), scoring=scorer).fit(X)
    np.testing.assert_array_equal(explicit.cv_results_["mean_test_score"], scores)
    best = search.best_estimator_
    assert isinstance(best, RecommenderPipeline)
    ids, _ = best.recommend(X[:3], k=10)
    assert ids.shape == (3, 10) and _raw_seen_listed(X[:3], ids) == 0 and (ids >= 0).all()


def test_cross_validate_without_scoring(X):
    pipe = make_recommender_pipeline(Binarizer(threshold=_threshold(X)), UserKNNRecommender())
    res = cross_validate(pipe, X, cv=KFold(3))
    assert np.isfinite(res["test_score"]).all() and (res["test_score"] > 0).all()


def test_similar_items_and_users_follow_the_final_step(X):
    item = make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender()).fit(X)
    assert hasattr(item, "similar_items") and not hasattr(item, "similar_users")
    np.testing.assert_array_equal(
        item.similar_items([0, 1], k=3)[0], item[-1].similar_items([0, 1], k=3)[0]
    )
    user = make_recommender_pipeline(BM25Weighting(), UserKNNRecommender()).fit(X)
    assert hasattr(user, "similar_users")
    Xt = user[:-1].transform(X[:4])
    np.testing.assert_array_equal(
        user.similar_users(X[:4], k=3)[0], user[-1].similar_users(Xt, k=3)[0]
    )
    transform_only = RecommenderPipeline([("weight", BM25Weighting())])
    assert not hasattr(transform_only, "recommend")


def test_decision_function_and_transform(X):
    pipe = make_recommender_pipeline(BM25Weighting(), ALSFactorizer(n_components=8, random_state=0))
    pipe.fit(X)
    Xt = pipe[:-1].transform(X[:5])
    np.testing.assert_allclose(pipe.decision_function(X[:5]), pipe[-1].decision_function(Xt))
    assert pipe.transform(X[:5]).shape == (5, 8)


def test_passthrough_single_step_clone_and_pickle(X):
    pipe = RecommenderPipeline([("weight", "passthrough"), ("rec", ItemKNNRecommender())]).fit(X)
    alone = ItemKNNRecommender().fit(X)
    np.testing.assert_array_equal(pipe.recommend(X, k=5)[0], alone.recommend(X, k=5)[0])
    single = RecommenderPipeline([("rec", ItemKNNRecommender())]).fit(X)
    np.testing.assert_array_equal(single.recommend(X, k=5)[0], alone.recommend(X, k=5)[0])
    assert single.score(X) == alone.score(X)
    restored = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(restored.recommend(X, k=5)[0], pipe.recommend(X, k=5)[0])
    twin = clone(pipe)
    assert isinstance(twin, RecommenderPipeline) and not hasattr(twin[-1], "n_features_in_")


def test_make_recommender_pipeline_names():
    pipe = make_recommender_pipeline(BM25Weighting(), Binarizer(), ItemKNNRecommender())
    assert [n for n, _ in pipe.steps] == ["bm25weighting", "binarizer", "itemknnrecommender"]
    assert isinstance(pipe, RecommenderPipeline)


def test_interaction_encoder_step_is_refused():
    records = np.array([["a", "x", 3], ["b", "y", 1], ["a", "y", 2]], dtype=object)
    pipe = RecommenderPipeline(
        [("encode", InteractionEncoder(value_col=2)), ("rec", PopularityRecommender())]
    )
    with pytest.raises(TypeError, match="InteractionEncoder.*cannot be a pipeline step"):
        pipe.fit(records)


def test_step_changing_rows_or_columns_is_refused(X):
    drop_col = FunctionTransformer(lambda Z: sp.csr_matrix(Z)[:, 1:], accept_sparse=True)
    pipe = make_recommender_pipeline(drop_col, ItemKNNRecommender()).fit(X)
    with pytest.raises(ValueError, match=r"keep the \(n_users, n_items\) shape"):
        pipe.recommend(X[:3])
    drop_row = FunctionTransformer(lambda Z: sp.csr_matrix(Z)[1:], accept_sparse=True)
    pipe = RecommenderPipeline([("f", drop_row), ("rec", ItemKNNRecommender())])
    pipe.steps[0] = ("f", drop_row.fit(X))
    pipe.steps[1] = ("rec", ItemKNNRecommender().fit(X))
    with pytest.raises(ValueError, match="one row per user"):
        pipe.recommend(X[:3])


def test_unsupported_arguments_are_refused(X):
    pipe = make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender()).fit(X)
    with pytest.raises(TypeError, match="sample_weight"):
        pipe.score(X, sample_weight=np.ones(X.shape[0]))
    with pytest.raises(TypeError, match="takes no parameters"):
        pipe.predict(X, foo=1)
    single = sp.csr_matrix((np.ones(3), (np.arange(3), [0, 4, 7])), shape=(3, X.shape[1]))
    with pytest.raises(ValueError, match="RecommenderPipeline.score.*2 or more interactions"):
        pipe.score(single)


def test_recommend_excluding_history_checks_shapes(X):
    final = ItemKNNRecommender().fit(X)
    with pytest.raises(ValueError, match="keep the"):
        recommend_excluding_history(final, X[:3], X[:4])


@pytest.mark.realdata
def test_lastfm_binarizer_pipeline_excludes_raw_history():
    """Issue 10's case: Binarizer(threshold=200) before item-kNN on Last.fm."""
    X = sp.csr_matrix(fetch_lastfm_2k_or_skip().data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(X, 0.2, random_state=0)
        pipe = make_recommender_pipeline(Binarizer(threshold=200), ItemKNNRecommender())
        pipe.fit(X_train)
        workaround = pipe[-1].recommend(pipe[:-1].transform(X_train), k=10)[0]
        assert _raw_seen_listed(X_train, workaround) > 100
        ids, _ = pipe.recommend(X_train, k=10)
        assert _raw_seen_listed(X_train, ids) == 0
        s = pipe.score(X_train, X_test)
        assert s == make_recommendation_scorer("ndcg", k=10)(pipe, X_train, X_test)
        assert s == evaluate(pipe, X_train, X_test, metrics="ndcg")["ndcg@10"]
