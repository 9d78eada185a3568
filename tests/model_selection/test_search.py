"""End to end: GridSearchCV over pipelines, scored by a holdout recommendation scorer."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer

from sklearn_musicrec.baselines import PopularityRecommender, RandomRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import make_recommendation_scorer
from sklearn_musicrec.neighbors import ItemKNNRecommender
from sklearn_musicrec.preprocessing import BM25Weighting
from tests._realdata import fetch_lastfm_2k_or_skip


@pytest.fixture(scope="module")
def X():
    return make_interactions(n_users=400, n_items=200, random_state=0).data


@pytest.fixture(scope="module")
def scorer():
    return make_recommendation_scorer("ndcg", k=20, test_size=0.2, random_state=0)


def test_grid_search_picks_popularity_over_random(X, scorer):
    pipe = Pipeline([("weight", Binarizer()), ("rec", PopularityRecommender())])
    grid = {
        "weight": [Binarizer(), "passthrough"],
        "rec": [
            PopularityRecommender(criterion="listeners"),
            PopularityRecommender(criterion="plays"),
            RandomRecommender(random_state=0),
        ],
    }
    search = GridSearchCV(pipe, grid, cv=KFold(3), scoring=scorer).fit(X)
    assert isinstance(search.best_params_["rec"], PopularityRecommender)
    scores = search.cv_results_["mean_test_score"]
    is_random = np.array(
        [isinstance(p["rec"], RandomRecommender) for p in search.cv_results_["params"]]
    )
    assert scores[~is_random].min() > 2 * scores[is_random].max()
    # every candidate saw the same hidden items: popularity by listeners
    # ignores the values, so it scores identically with and without Binarizer
    listeners = [
        s
        for p, s in zip(search.cv_results_["params"], scores)
        if isinstance(p["rec"], PopularityRecommender) and p["rec"].criterion == "listeners"
    ]
    assert len(listeners) == 2
    np.testing.assert_allclose(listeners[0], listeners[1])
    # the refitted pipeline recommends
    ids, _ = search.best_estimator_[-1].recommend(search.best_estimator_[:-1].transform(X[:3]), 5)
    assert ids.shape == (3, 5)


def test_grid_search_weighting_and_item_knn(X, scorer):
    # weighting=None: the pipeline's step is the only input weighting
    pipe = Pipeline([("weight", BM25Weighting()), ("rec", ItemKNNRecommender(weighting=None))])
    grid = {
        "weight": [BM25Weighting(), Binarizer(), "passthrough"],
        "rec__n_neighbors": [1, 50],
    }
    search = GridSearchCV(pipe, grid, cv=KFold(3), scoring=scorer).fit(X)
    # a sensible configuration: weighted (raw play counts are heavy-tailed)
    # and more than one neighbour
    assert search.best_params_["weight"] != "passthrough"
    assert search.best_params_["rec__n_neighbors"] == 50
    popularity = GridSearchCV(
        PopularityRecommender(), {"criterion": ["listeners"]}, cv=KFold(3), scoring=scorer
    ).fit(X)
    assert search.best_score_ > popularity.best_score_


@pytest.mark.slow
@pytest.mark.realdata
def test_grid_search_on_lastfm_2k(scorer):
    X = fetch_lastfm_2k_or_skip().data
    # weighting=None: the pipeline's step is the only input weighting
    pipe = Pipeline([("weight", BM25Weighting()), ("rec", ItemKNNRecommender(weighting=None))])
    grid = [
        {
            "weight": [BM25Weighting(), "passthrough"],
            "rec": [ItemKNNRecommender(n_neighbors=100, weighting=None)],
        },
        {"weight": ["passthrough"], "rec": [PopularityRecommender()]},
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search = GridSearchCV(
            pipe, grid, cv=KFold(3, shuffle=True, random_state=0), scoring=scorer
        ).fit(X)
    best = search.best_params_
    assert isinstance(best["rec"], ItemKNNRecommender)
    assert isinstance(best["weight"], BM25Weighting)
    # docs/facts.md: BM25 item-kNN NDCG@20 ~0.21, popularity ~0.10
    assert search.best_score_ > 0.15
