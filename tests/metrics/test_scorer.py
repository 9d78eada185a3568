import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score, cross_validate
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import Binarizer, FunctionTransformer

from sklearn_musicrec.baselines import PopularityRecommender, RandomRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import (
    auc_score,
    catalog_coverage,
    get_metric_names,
    get_recommendation_scorer,
    make_recommendation_scorer,
    ndcg_at_k,
    recall_at_k,
    rmse,
)
from sklearn_musicrec.model_selection import holdout_split


@pytest.fixture(scope="module")
def bunch():
    return make_interactions(n_users=150, n_items=60, random_state=0)


@pytest.fixture(scope="module")
def X(bunch):
    return bunch.data


class _ListSpy:
    """A callable ranking metric that records what it was given."""

    def __init__(self):
        self.calls = []
        self.__name__ = "spy"

    def __call__(self, y_true, y_recommended, *, k):
        self.calls.append((y_true, np.array(y_recommended), k))
        return float(np.mean(y_recommended >= 0))


class _CandidateSpy(PopularityRecommender):
    """Popularity that records the ``items`` mask passed to ``recommend``."""

    seen_items = []

    def recommend(self, X, k=10, *, exclude_seen=True, items=None):
        type(self).seen_items.append(None if items is None else sp.csr_matrix(items))
        return super().recommend(X, k, exclude_seen=exclude_seen, items=items)


def test_scorer_with_y_matches_direct_computation(X):
    X_train, X_test = holdout_split(X, 0.3, random_state=1)
    est = PopularityRecommender().fit(X_train)
    ids = est.recommend(X_train, k=15)[0]
    scorer = make_recommendation_scorer("ndcg", k=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert scorer(est, X_train, X_test) == pytest.approx(ndcg_at_k(X_test, ids, k=15))
        held_out = np.where(X_test.getnnz(axis=1) > 0, X_test.argmax(axis=1).A1, -1)
        assert scorer(est, X_train, held_out) == pytest.approx(ndcg_at_k(held_out, ids, k=15))


def test_test_size_equals_holdout_split_on_rows_with_two_interactions(X):
    X = X.tolil()
    X[0, :] = 0
    X[0, 3] = 1  # a row with one interaction: left out of the score
    X = X.tocsr()
    est = PopularityRecommender().fit(X)
    scorer = make_recommendation_scorer("recall", k=5, test_size=0.25, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning about the short row
        got = scorer(est, X)
    with pytest.warns(UserWarning, match="1 of 150 users"):
        X_train, X_test = holdout_split(X, 0.25, random_state=3)
    rows = np.flatnonzero(X.getnnz(axis=1) >= 2)
    ids = est.recommend(X_train[rows], k=5)[0]
    assert got == pytest.approx(recall_at_k(X_test[rows], ids, k=5))


def test_holdout_is_deterministic_and_row_position_free(X):
    est = PopularityRecommender().fit(X)
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    first = scorer(est, X)
    assert scorer(est, X) == first
    perm = np.random.RandomState(0).permutation(X.shape[0])
    assert scorer(est, X[perm]) == pytest.approx(first)
    # a subset of rows is split exactly as inside the full matrix
    spy = _ListSpy()
    spy_scorer = make_recommendation_scorer(spy, k=10, test_size=0.2, random_state=0)
    spy_scorer(est, X)
    spy_scorer(est, X[perm[:40]])
    full, part = spy.calls
    np.testing.assert_array_equal(full[0][perm[:40]].toarray(), part[0].toarray())
    # values do not matter, only the set of items in the row
    assert scorer(est, X * 3.0) == pytest.approx(first)
    # another seed hides other interactions
    other = make_recommendation_scorer(spy, k=10, test_size=0.2, random_state=1)
    other(est, X)
    assert (spy.calls[-1][0] != full[0]).nnz > 0


def test_random_state_none_is_fixed_once_per_scorer(X):
    est = PopularityRecommender().fit(X)
    scorer = make_recommendation_scorer("ndcg", test_size=0.2)
    assert scorer(est, X) == scorer(est, X)
    assert "random_state=" in repr(scorer)
    restored = pickle.loads(pickle.dumps(scorer))
    assert restored(est, X) == scorer(est, X)


def test_pipeline_transforms_history_and_excludes_it(X):
    # Binarizer + popularity by plays == popularity by listeners on raw X
    pipe = make_pipeline(Binarizer(), PopularityRecommender(criterion="plays")).fit(X)
    plain = PopularityRecommender(criterion="listeners").fit(X)
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    assert scorer(pipe, X) == pytest.approx(scorer(plain, X))


@pytest.mark.parametrize(
    "func",
    [
        lambda Z: np.asarray(Z.toarray() if sp.issparse(Z) else Z) + 1.0,  # densifies
        lambda Z: sp.csr_matrix(Z).multiply(sp.csr_matrix(Z) > 2).tocsr(),  # drops entries
    ],
    ids=["adds-entries", "drops-entries"],
)
def test_pipeline_whose_transform_changes_the_pattern(X, func):
    X_train, X_test = holdout_split(X, 0.2, random_state=0)
    pipe = make_pipeline(FunctionTransformer(func, accept_sparse=True), PopularityRecommender())
    pipe.fit(X_train)
    spy = _ListSpy()
    make_recommendation_scorer(spy, k=20)(pipe, X_train, X_test)
    ids = spy.calls[0][1]
    rows = np.repeat(np.arange(ids.shape[0]), ids.shape[1])
    listed = ids.ravel()
    assert np.all(listed >= 0)  # the lists are full: 60 items, <= 40 seen
    assert np.all(X_train[rows, listed].A1 == 0)


def test_sampled_protocol_candidates(X):
    _CandidateSpy.seen_items.clear()
    est = _CandidateSpy().fit(X)
    scorer = make_recommendation_scorer(
        "hit_rate", k=10, test_size=0.2, random_state=0, n_sampled_items=40
    )
    spy = _ListSpy()
    score = scorer(est, X)
    assert 0 < score <= 1
    mask = _CandidateSpy.seen_items[-1]
    make_recommendation_scorer(spy, k=10, test_size=0.2, random_state=0, n_sampled_items=40)(est, X)
    assert (_CandidateSpy.seen_items[-1] != mask).nnz == 0  # deterministic
    y_target = spy.calls[0][0]
    assert y_target.ndim == 1 and np.all(y_target >= 0)
    rows = np.flatnonzero(X.getnnz(axis=1) >= 2)
    X_train, X_test = holdout_split(X, 0.2, random_state=0)
    X_train, X_test = X_train[rows], X_test[rows]
    assert np.all(X_test[np.arange(rows.size), y_target].A1 > 0)  # target is held out
    assert np.all(mask[np.arange(rows.size), y_target].A1)  # and a candidate
    assert mask.multiply(X_train).nnz == 0  # no history item is a candidate
    # the held-out items other than the target are not negatives either
    assert (mask.multiply(X_test).getnnz(axis=1) == 1).all()
    n_free = X.shape[1] - X_train.getnnz(axis=1) - X_test.getnnz(axis=1)
    np.testing.assert_array_equal(mask.getnnz(axis=1), 1 + np.minimum(40, n_free))
    assert (n_free < 40).any()  # rows with too few unseen items use them all
    # AUC on the sampled candidates
    sampled_auc = make_recommendation_scorer(
        "auc", test_size=0.2, random_state=0, n_sampled_items=40
    )
    assert 0.5 < sampled_auc(est, X) <= 1


def test_sampled_with_1d_y(X):
    X_train, held = _leave_one_out(X)
    est = PopularityRecommender().fit(X_train)
    scorer = make_recommendation_scorer("ndcg", k=5, n_sampled_items=99)
    assert 0 < scorer(est, X_train, held) <= 1


def _leave_one_out(X):
    from sklearn_musicrec.model_selection import leave_k_out_split

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return leave_k_out_split(X, 1, random_state=0, return_ids=True)


def test_auc_and_rating_scorers_match_the_metrics(X):
    X_train, X_test = holdout_split(X, 0.2, random_state=0)
    est = PopularityRecommender(criterion="plays").fit(X_train)
    scores = est.decision_function(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = auc_score(X_test, scores, exclude=X_train)
        assert make_recommendation_scorer("auc")(est, X_train, X_test) == pytest.approx(expected)
        got = make_recommendation_scorer("neg_rmse")(est, X_train, X_test)
    assert got == pytest.approx(-rmse(X_test, scores))
    with pytest.raises(ValueError, match="matrix of held-out ratings"):
        make_recommendation_scorer("neg_mae")(est, X_train, np.zeros(X.shape[0], dtype=int))


def test_beyond_accuracy_scorers(bunch, X):
    est = PopularityRecommender().fit(X)
    coverage = make_recommendation_scorer("coverage", k=5)
    # without y and holdout, beyond-accuracy metrics use X as the history
    ids = est.recommend(X, 5)[0]
    assert coverage(est, X) == pytest.approx(catalog_coverage(ids, n_items=X.shape[1]))
    for name, params in [
        ("diversity", {"item_features": bunch.item_tags}),
        ("novelty", {"item_popularity": X}),
        ("novelty", {"n_users": X.shape[0]}),
        ("popularity", {}),
        ("long_tail", {"item_popularity": X}),
        ("gini", {}),
        ("personalization", {}),
    ]:
        value = make_recommendation_scorer(name, k=10, test_size=0.2, random_state=0, **params)(
            est, X
        )
        assert np.isfinite(value), name


def test_multimetric_grid_search_with_refit(bunch, X):
    scoring = {
        "ndcg@20": make_recommendation_scorer("ndcg", k=20, test_size=0.2, random_state=0),
        "coverage@20": make_recommendation_scorer("coverage", k=20, test_size=0.2, random_state=0),
        "diversity@20": make_recommendation_scorer(
            "diversity", k=20, test_size=0.2, random_state=0, item_features=bunch.item_tags
        ),
    }
    search = GridSearchCV(
        Pipeline([("rec", PopularityRecommender())]),
        {"rec": [PopularityRecommender(), RandomRecommender(random_state=0)]},
        cv=KFold(3),
        scoring=scoring,
        refit="ndcg@20",
    ).fit(X)
    results = search.cv_results_
    assert isinstance(search.best_params_["rec"], PopularityRecommender)
    # random lists cover more of the catalogue than popularity
    assert results["mean_test_coverage@20"][1] > results["mean_test_coverage@20"][0]
    assert np.all(np.isfinite(results["mean_test_diversity@20"]))


def test_cross_val_score_with_holdout_scorer(X):
    scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    scores = cross_val_score(PopularityRecommender(), X, cv=KFold(3), scoring=scorer)
    assert scores.shape == (3,) and np.all((scores > 0) & (scores <= 1))


def test_scorer_argument_validation(X):
    est = PopularityRecommender().fit(X)
    assert {"ndcg", "recall", "auc", "coverage", "neg_rmse"} <= set(get_metric_names())
    with pytest.raises(ValueError, match="'metric' parameter"):
        make_recommendation_scorer("accuracy")
    with pytest.raises(TypeError, match="'metric' parameter"):
        make_recommendation_scorer(3)
    with pytest.raises(ValueError, match="'test_size' parameter"):
        make_recommendation_scorer("ndcg", test_size=1.5)
    with pytest.raises(ValueError, match="'k' parameter"):
        make_recommendation_scorer("ndcg", k=0)
    with pytest.raises(ValueError, match="'n_sampled_items' parameter"):
        make_recommendation_scorer("ndcg", n_sampled_items=0)
    with pytest.raises(ValueError, match="ranking metrics"):
        make_recommendation_scorer("coverage", n_sampled_items=99)
    with pytest.raises(TypeError, match=r"Unexpected parameters \['alpha'\]"):
        make_recommendation_scorer("ndcg", alpha=1)
    with pytest.raises(ValueError, match="needs item_features"):
        make_recommendation_scorer("diversity")
    with pytest.raises(ValueError, match="novelty"):
        make_recommendation_scorer("novelty")
    scorer = make_recommendation_scorer("ndcg")
    with pytest.raises(ValueError, match="no held-out truth"):
        scorer(est, X)
    with pytest.raises(ValueError, match="must have X's shape"):
        scorer(est, X, X[:3])
    with pytest.raises(TypeError, match="recommend method"):
        scorer(Binarizer().fit(X), X, X)
    with pytest.raises(TypeError, match="sample weights"):
        scorer(est, X, X, sample_weight=np.ones(X.shape[0]))


def test_recommender_score_uses_ndcg_at_10(X):
    # RecommenderMixin.score(X, y) is ndcg_at_k(y, recommend(X, 10), k=10),
    # e.g. in sklearn's check_fit_score_takes_y: a 30 x 3 X, y = arange(30) % 3
    X_small = np.ones((30, 3))
    y = np.arange(30) % 3
    est = PopularityRecommender().fit(X_small)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert est.score(X_small, y) == 0.0  # every item is seen: empty lists
    X_train, held = _leave_one_out(X)
    est = PopularityRecommender().fit(X_train)
    ids = est.recommend(X_train, 10)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        assert est.score(X_train, held) == pytest.approx(ndcg_at_k(held, ids, k=10))


def test_renamed_parameters_are_deprecated(X):
    est = PopularityRecommender().fit(X)
    new = make_recommendation_scorer("ndcg", test_size=0.2, random_state=0, n_sampled_items=30)
    with pytest.warns(FutureWarning, match="'holdout' was renamed to 'test_size'"):
        old = make_recommendation_scorer("ndcg", holdout=0.2, random_state=0, n_sampled_items=30)
    assert old(est, X) == new(est, X)
    with pytest.warns(FutureWarning, match="'n_negatives' was renamed to 'n_sampled_items'"):
        old = make_recommendation_scorer("ndcg", test_size=0.2, random_state=0, n_negatives=30)
    assert old(est, X) == new(est, X)
    assert repr(old) == repr(new)
    with pytest.raises(TypeError, match="not both"):
        make_recommendation_scorer("ndcg", test_size=0.2, holdout=0.2)
    with pytest.raises(ValueError, match="'holdout' parameter"):
        make_recommendation_scorer("ndcg", holdout=1.5)


def test_int_test_size_hides_that_many_per_row_as_holdout_split(X):
    est = PopularityRecommender().fit(X)
    spy = _ListSpy()
    make_recommendation_scorer(spy, k=5, test_size=2, random_state=4)(est, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, X_test = holdout_split(X, 2, random_state=4)
    rows = np.flatnonzero(X.getnnz(axis=1) >= 2)
    assert (spy.calls[0][0] != X_test[rows]).nnz == 0


def test_get_recommendation_scorer_by_name(bunch, X):
    est = PopularityRecommender().fit(X)
    one = get_recommendation_scorer("ndcg", k=20, test_size=0.2, random_state=0)
    assert one(est, X) == make_recommendation_scorer("ndcg", k=20, test_size=0.2, random_state=0)(
        est, X
    )
    scoring = get_recommendation_scorer(
        ["ndcg", "recall", "diversity"], k=20, test_size=0.2, item_features=bunch.item_tags
    )
    assert list(scoring) == ["ndcg", "recall", "diversity"]
    # one seed for all: every scorer hides the same interactions
    seeds = {scorer.seed for scorer in scoring.values()}
    assert len(seeds) == 1
    assert "item_features" in scoring["diversity"].metric_params
    assert scoring["ndcg"].metric_params == {}
    cv = cross_validate(PopularityRecommender(), X, cv=KFold(3), scoring=scoring)
    for name in scoring:
        assert cv[f"test_{name}"].shape == (3,) and np.all(np.isfinite(cv[f"test_{name}"]))
    with pytest.raises(ValueError, match="Unknown metric 'accuracy'"):
        get_recommendation_scorer(["ndcg", "accuracy"])
    with pytest.raises(TypeError, match="none of the metrics"):
        get_recommendation_scorer(["ndcg"], alpha=1)
    with pytest.raises(ValueError, match="once"):
        get_recommendation_scorer(["ndcg", "ndcg"])
    with pytest.raises(TypeError, match="make_recommendation_scorer"):
        get_recommendation_scorer([ndcg_at_k])


def test_scikit_learn_scorer_names_cannot_be_extended(X):
    # Why get_recommendation_scorer exists: scikit-learn 1.9 resolves string
    # names in its private table only (sklearn.metrics._scorer._SCORERS).
    with pytest.raises(ValueError, match="'ndcg' is not a valid scoring value"):
        cross_validate(PopularityRecommender(), X, cv=KFold(2), scoring=["ndcg", "recall"])


def test_tiny_working_memory_gives_the_same_sampled_and_dense_scores(X):
    """The scorer's batches of rows follow working_memory and change nothing."""
    import sklearn

    _CandidateSpy.seen_items.clear()
    est = _CandidateSpy(criterion="plays").fit(X)
    scorers = [
        make_recommendation_scorer(
            "hit_rate", k=10, test_size=0.2, random_state=0, n_sampled_items=40
        ),
        make_recommendation_scorer("auc", test_size=0.2, random_state=0),
    ]
    full = [scorer(est, X) for scorer in scorers]
    mask = _CandidateSpy.seen_items[0]
    with sklearn.config_context(working_memory=2**-10):  # one KiB: a few rows a batch
        small = [scorer(est, X) for scorer in scorers]
    assert small == full
    assert len(_CandidateSpy.seen_items) == 2
    assert (_CandidateSpy.seen_items[1] != mask).nnz == 0
