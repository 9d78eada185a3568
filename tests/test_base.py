"""Tests of the shared recommender contract: validation, top-k, candidates,
empty histories and the default score."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec import BaseRecommender, PopularityRecommender, RandomRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import ndcg_at_k
from sklearn_musicrec.utils._topk import topk_per_row
from sklearn_musicrec.utils.validation import check_candidate_items, check_k


@pytest.fixture(scope="module")
def X():
    return make_interactions(n_users=60, n_items=25, mean_items_per_user=5, random_state=0).data


@pytest.fixture(scope="module")
def model(X):
    return PopularityRecommender().fit(X)


def test_transposed_matrix_error_names_users_items_and_n_items(X, model):
    with pytest.raises(ValueError) as exc:
        model.recommend(X.T)
    msg = str(exc.value)
    assert "Rows of X are users and columns are items" in msg
    assert "fitted on 25 items" in msg
    assert "has 60" in msg
    assert "transpose" in msg


@pytest.mark.parametrize(
    "k, error, fragment",
    [
        (0, ValueError, "got 0"),
        (-3, ValueError, "got -3"),
        (2.0, TypeError, "float"),
        ("5", TypeError, "str"),
        (True, TypeError, "bool"),
        (None, TypeError, "NoneType"),
    ],
)
def test_bad_k(X, model, k, error, fragment):
    with pytest.raises(error, match="k must be an integer >= 1") as exc:
        model.recommend(X, k=k)
    assert fragment in str(exc.value)


def test_numpy_integer_k_accepted(X, model):
    ids, _ = model.recommend(X, k=np.int32(3))
    assert ids.shape == (X.shape[0], 3)


@pytest.mark.parametrize(
    "bad, error, fragment",
    [
        (np.array([[np.inf, 1.0]]), ValueError, "infinity"),
        (np.array([[np.nan, 1.0]]), ValueError, "NaN"),
        (np.array([[-1.0, 1.0]]), ValueError, "Negative values in data passed to X"),
        (np.zeros((0, 2)), ValueError, "0 sample"),
        (np.zeros((2, 0)), ValueError, "0 feature"),
        (np.array([1.0, 2.0]), ValueError, r"must be a 2-D \(n_users, n_items\)"),
        (np.array([["a", "b"]], dtype=object), ValueError, "could not convert the string"),
        (sp.csr_matrix((3, 4)), ValueError, "no non-zero entries"),
    ],
)
def test_bad_fit_input(bad, error, fragment):
    with pytest.raises(error, match=fragment):
        PopularityRecommender().fit(bad)


def test_negative_message_says_what_was_expected():
    with pytest.raises(ValueError) as exc:
        PopularityRecommender().fit(sp.csr_matrix(np.array([[1.0, -2.0]])))
    msg = str(exc.value)
    assert "PopularityRecommender.fit" in msg and "non-negative" in msg and "-2.0" in msg


def test_exclude_seen_must_be_bool(X, model):
    with pytest.raises(TypeError, match="exclude_seen must be a bool"):
        model.recommend(X, exclude_seen="yes")


def test_item_counts_counts_users_not_plays():
    X = sp.csr_matrix(np.array([[5.0, 0, 1], [3.0, 0, 0], [0, 0, 7.0]]))
    X_explicit_zero = sp.csr_matrix((np.array([0.0]), (np.array([0]), np.array([1]))), shape=(3, 3))
    model = PopularityRecommender().fit(X + X_explicit_zero)
    np.testing.assert_array_equal(model.item_counts_, [2, 0, 2])
    np.testing.assert_array_equal(
        PopularityRecommender(criterion="plays").fit(X).item_popularity_, [8, 0, 8]
    )


def test_explicit_zeros_are_not_seen():
    X = sp.csr_matrix((np.array([0.0, 1.0]), (np.array([0, 0]), np.array([0, 1]))), shape=(1, 3))
    model = PopularityRecommender().fit(sp.csr_matrix(np.array([[3.0, 2.0, 1.0]])))
    ids, _ = model.recommend(X, k=3)
    np.testing.assert_array_equal(ids, [[0, 2, -1]])


def test_popularity_ranking_and_padding():
    X = sp.csr_matrix(np.array([[1.0, 1, 0, 0], [1.0, 0, 1, 0], [1.0, 1, 0, 0]]))
    model = PopularityRecommender().fit(X)
    ids, scores = model.recommend(sp.csr_matrix(np.array([[0.0, 0, 0, 1]])), k=6)
    np.testing.assert_array_equal(ids, [[0, 1, 2, -1, -1, -1]])
    np.testing.assert_array_equal(scores, [[3, 2, 1, -np.inf, -np.inf, -np.inf]])
    np.testing.assert_array_equal(model.predict(X), [2, 1, 2])


def test_fully_seen_row_predicts_minus_one():
    X = sp.csr_matrix(np.ones((2, 3)))
    model = PopularityRecommender().fit(X)
    np.testing.assert_array_equal(model.predict(X), [-1, -1])


def test_candidate_ids_are_deduplicated_and_can_be_empty(X, model):
    ids, _ = model.recommend(X[:2], k=4, items=[3, 3, 3])
    assert ((ids == 3) | (ids == -1)).all()
    assert (ids[:, 1:] == -1).all()
    ids, scores = model.recommend(X[:2], k=2, items=np.array([], dtype=int))
    assert (ids == -1).all() and np.isneginf(scores).all()


def test_boolean_candidate_vector(X, model):
    mask = np.zeros(X.shape[1], dtype=bool)
    mask[[1, 4]] = True
    ids, _ = model.recommend(X, k=3, items=mask)
    assert np.isin(ids[ids >= 0], [1, 4]).all()


@pytest.mark.parametrize(
    "items, error, fragment",
    [
        ([0, 25], ValueError, r"\[0, 25\)"),
        ([1.5], TypeError, "integer item ids"),
        (np.ones((2, 2), dtype=bool), ValueError, "shape"),
        (np.ones(7, dtype=bool), ValueError, "length n_items=25"),
        (np.ones((2, 2, 2)), ValueError, "dimensions"),
    ],
)
def test_bad_candidates(items, error, fragment):
    with pytest.raises(error, match=fragment):
        check_candidate_items(items, 3, 25)


def test_recommend_batches_do_not_change_results(X, model):
    """A tiny working memory forces one user per batch."""
    from sklearn import config_context

    expected = model.recommend(X, k=5)
    with config_context(working_memory=0), pytest.warns(UserWarning, match="working_memory"):
        got = model.recommend(X, k=5)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_topk_matches_full_sort():
    rng = np.random.RandomState(0)
    S = rng.rand(20, 50)
    S[S < 0.2] = -np.inf
    ids, vals = topk_per_row(S, 10)
    for i in range(20):
        finite = np.flatnonzero(np.isfinite(S[i]))
        expect = finite[np.argsort(-S[i, finite], kind="stable")][:10]
        np.testing.assert_array_equal(ids[i, : expect.size], expect)
        assert (ids[i, expect.size :] == -1).all()


def test_topk_tie_order_by_column_index():
    ids, _ = topk_per_row(np.array([[1.0, 2.0, 2.0, 2.0, 0.0]]), 5)
    np.testing.assert_array_equal(ids, [[1, 2, 3, 0, 4]])


def test_check_k_returns_python_int():
    assert type(check_k(np.int64(4))) is int


def test_random_recommender_depends_on_row_content_only(X):
    model = RandomRecommender(random_state=3).fit(X)
    a = model.decision_function(X[[5, 2]])
    b = model.decision_function(X[[2, 5]])
    np.testing.assert_array_equal(a, b[::-1])
    # different seeds, different rankings; two different users differ too
    other = RandomRecommender(random_state=4).fit(X)
    assert not np.array_equal(other.decision_function(X[:1]), a[:1])
    assert not np.array_equal(a[0], a[1])


def test_random_recommender_is_uniform():
    X = sp.random(1000, 20, density=0.3, format="csr", random_state=0)
    model = RandomRecommender(random_state=0).fit(X)
    top = model.recommend(X, k=1, exclude_seen=False)[0][:, 0]
    counts = np.bincount(top, minlength=20)  # 50 expected per item
    assert counts.min() > 25 and counts.max() < 80


def test_random_recommender_same_item_set_same_ranking():
    X = sp.csr_matrix(np.array([[1.0, 0, 2, 0, 0], [5.0, 0, 1, 0, 0], [1.0, 1, 0, 0, 0]]))
    D = RandomRecommender(random_state=0).fit(X).decision_function(X)
    np.testing.assert_array_equal(D[0], D[1])
    assert not np.array_equal(D[0], D[2])


def test_topk_threaded_equals_single_threaded(monkeypatch):
    import sklearn_musicrec.utils._topk as topk

    S = np.random.RandomState(0).rand(300, 4000).astype(np.float32)
    S[:, ::7] = 0.5  # many ties
    threaded = topk_per_row(S, 15)
    monkeypatch.setattr(topk, "_PARALLEL_MIN_SIZE", 10**12)
    single = topk_per_row(S, 15)
    np.testing.assert_array_equal(threaded[0], single[0])
    np.testing.assert_array_equal(threaded[1], single[1])


def test_topk_nan_scores_raise():
    S = np.array([[0.1, np.nan, 0.3, 0.2], [0.1, 0.2, 0.3, 0.4]])
    with pytest.raises(ValueError, match="NaN"):
        topk_per_row(S, 2)


# -- empty histories: popularity, once, in the mixin -------------------------


class _ZeroScores(BaseRecommender):
    """A model that scores nothing: all zeros, optionally through the fast hook."""

    def __init__(self, *, fast=False):
        self.fast = fast

    def fit(self, X, y=None):
        self._validate_fit_data(X)
        return self

    def _decision_function(self, X):
        return np.zeros(X.shape, dtype=np.float32)

    def _recommend_unrestricted(self, X, k, exclude_seen):
        if not self.fast:
            return None
        # what a naive compiled top-k over all-zero scores returns
        ids = np.tile(np.arange(k, dtype=np.int64) % X.shape[1], (X.shape[0], 1))
        return ids, np.zeros((X.shape[0], k), dtype=np.float32)


@pytest.mark.parametrize("fast", [False, True])
def test_empty_rows_get_popularity_on_both_paths(fast):
    X = sp.csr_matrix(np.array([[1.0, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1.0]]))
    model = _ZeroScores(fast=fast).fit(X)
    np.testing.assert_array_equal(model.item_counts_, [1, 2, 0, 4])
    Z = sp.csr_matrix((2, 4))
    ids, scores = model.recommend(Z, k=3)
    np.testing.assert_array_equal(ids, [[3, 1, 0], [3, 1, 0]])
    np.testing.assert_array_equal(scores, [[4, 2, 1], [4, 2, 1]])
    # decision_function keeps the model's own (raw) scores
    np.testing.assert_array_equal(model.decision_function(Z), np.zeros((2, 4)))
    np.testing.assert_array_equal(model.predict(Z), [3, 3])
    # ordinary rows keep the model's own answer
    ids, scores = model.recommend(X[:1], k=2)
    assert (scores == 0).all()


def test_empty_rows_popularity_among_candidates_and_padding():
    X = sp.csr_matrix(np.array([[1.0, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 1], [0, 1, 0, 1.0]]))
    model = _ZeroScores().fit(X)
    Z = sp.csr_matrix((1, 4))
    np.testing.assert_array_equal(model.recommend(Z, k=2, items=[0, 2])[0], [[0, 2]])
    np.testing.assert_array_equal(model.recommend(Z, k=2, items=[[1, 0, 1, 0]])[0], [[0, 2]])
    ids, scores = model.recommend(Z, k=6)
    np.testing.assert_array_equal(ids, [[3, 1, 0, 2, -1, -1]])
    assert np.isneginf(scores[0, 4:]).all()


def test_popularity_fallback_for_the_baselines(X):
    Z = sp.csr_matrix((1, X.shape[1]))
    for model in (PopularityRecommender(criterion="plays"), RandomRecommender(random_state=0)):
        model.fit(X)
        ids, scores = model.recommend(Z, k=5)
        order = np.lexsort((np.arange(X.shape[1]), -model.item_counts_))
        np.testing.assert_array_equal(ids[0], order[:5])
        np.testing.assert_array_equal(scores[0], model.item_counts_[order[:5]])


# -- the default score -------------------------------------------------------


def test_score_without_y_is_the_holdout_scorer(X):
    from sklearn_musicrec.metrics import make_recommendation_scorer

    model = PopularityRecommender().fit(X)
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        assert model.score(X) == scorer(model, X) == model.score(X, None)
        # with y: NDCG@10 of recommend(X, 10) against y
        y = np.arange(X.shape[0]) % X.shape[1]
        assert model.score(X, y) == ndcg_at_k(y, model.recommend(X, k=10)[0], k=10)


def test_score_validates_its_input(X):
    model = PopularityRecommender().fit(X)
    with pytest.raises(ValueError, match="score must have 25 columns"):
        model.score(X[:, :5])
    # nothing can be held out: an error, not a silent 0
    single = sp.csr_matrix((np.ones(3), (np.arange(3), [0, 4, 7])), shape=(3, 25))
    with pytest.raises(ValueError, match="2 or more interactions"):
        model.score(single)
    assert 0 <= model.score(single, [1, 1, 1]) <= 1


def test_grid_search_and_cross_validate_without_scoring():
    from sklearn.model_selection import GridSearchCV, KFold, cross_validate

    from sklearn_musicrec import ItemKNNRecommender

    X = make_interactions(n_users=300, n_items=100, random_state=0).data
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        search = GridSearchCV(
            ItemKNNRecommender(), {"n_neighbors": [1, 50]}, cv=KFold(3), error_score="raise"
        ).fit(X)
        res = cross_validate(RandomRecommender(random_state=0), X, cv=KFold(3))
    assert not any("Scoring failed" in str(w.message) for w in caught)
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and scores[1] > scores[0]
    assert search.best_params_ == {"n_neighbors": 50}
    assert np.isfinite(res["test_score"]).all() and (res["test_score"] >= 0).all()
