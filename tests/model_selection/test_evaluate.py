import warnings

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Binarizer
from sklearn.utils.validation import check_is_fitted

from sklearn_musicrec.baselines import PopularityRecommender, RandomRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import (
    auc_score,
    catalog_coverage,
    intra_list_diversity,
    mae,
    ndcg_at_k,
    novelty,
    recall_at_k,
    rmse,
)
from sklearn_musicrec.model_selection import evaluate, holdout_split


@pytest.fixture(scope="module")
def data():
    b = make_interactions(n_users=150, n_items=60, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(b.data, 0.2, random_state=0)
    return b, X_train, X_test


def test_evaluate_matches_the_metrics(data):
    b, X_train, X_test = data
    est = PopularityRecommender()
    res = evaluate(
        est,
        X_train,
        X_test,
        metrics=["ndcg", "recall", "coverage", "novelty", "diversity", "auc", "rmse", "mae"],
        k=[5, 10],
        per_user=True,
        item_features=b.item_tags,
        return_estimator=True,
    )
    with pytest.raises(NotFittedError):
        check_is_fitted(est)  # the estimator passed in is not fitted: a clone is
    fitted = res["estimator"]
    users = np.flatnonzero(X_test.getnnz(axis=1))
    np.testing.assert_array_equal(res["evaluated_users"], users)
    assert res["n_users"] == users.size
    ids = fitted.recommend(X_train[users], 10)[0]
    truth = X_test[users]
    for kk in (5, 10):
        assert res[f"ndcg@{kk}"] == pytest.approx(ndcg_at_k(truth, ids, k=kk))
        assert res[f"recall@{kk}"] == pytest.approx(recall_at_k(truth, ids, k=kk))
        assert res[f"coverage@{kk}"] == pytest.approx(catalog_coverage(ids, n_items=60, k=kk))
        assert res[f"novelty@{kk}"] == pytest.approx(novelty(ids, X_train, k=kk))
        assert res[f"diversity@{kk}"] == pytest.approx(intra_list_diversity(ids, b.item_tags, k=kk))
        values = res[f"ndcg@{kk}_per_user"]
        assert values.shape == (users.size,)
        assert res[f"ndcg@{kk}_sem"] == pytest.approx(values.std(ddof=1) / np.sqrt(users.size))
        assert f"coverage@{kk}_sem" not in res
    scores = fitted.decision_function(X_train[users])
    assert res["auc"] == pytest.approx(auc_score(truth, scores, exclude=X_train[users]))
    assert res["rmse"] == pytest.approx(rmse(truth, scores))
    assert res["mae"] == pytest.approx(mae(truth, scores))
    for key in ("fit_time", "recommend_time", "score_time"):
        assert res[key] >= 0


def test_evaluate_pipeline_and_callable_metric(data):
    _, X_train, X_test = data

    def hits_at_k(y_true, y_recommended, *, k):
        return float(np.mean(y_true[np.arange(y_true.shape[0])[:, None], y_recommended[:, :k]] > 0))

    pipe = make_pipeline(Binarizer(), PopularityRecommender(criterion="plays"))
    res = evaluate(pipe, X_train, X_test, metrics=["ndcg", hits_at_k], k=10)
    plain = evaluate(PopularityRecommender(), X_train, X_test, metrics="ndcg", k=10)
    assert res["ndcg@10"] == pytest.approx(plain["ndcg@10"])
    assert 0 < res["hits_at_k@10"] <= 1


def test_evaluate_orders_models(data):
    _, X_train, X_test = data
    pop = evaluate(PopularityRecommender(), X_train, X_test, metrics=["ndcg", "coverage"], k=20)
    rnd = evaluate(
        RandomRecommender(random_state=0), X_train, X_test, metrics=["ndcg", "coverage"], k=20
    )
    assert pop["ndcg@20"] > rnd["ndcg@20"] + 2 * (pop["ndcg@20_sem"] + rnd["ndcg@20_sem"])
    assert rnd["coverage@20"] > pop["coverage@20"]


def test_evaluate_validation(data):
    _, X_train, X_test = data
    est = PopularityRecommender()
    with pytest.raises(ValueError, match="Unknown metric"):
        evaluate(est, X_train, X_test, metrics=["accuracy"])
    with pytest.raises(ValueError, match="same shape"):
        evaluate(est, X_train, X_test[:5], metrics=["ndcg"])
    with pytest.raises(ValueError, match="item_features"):
        evaluate(est, X_train, X_test, metrics=["diversity"])
    with pytest.raises(ValueError, match="k must be"):
        evaluate(est, X_train, X_test, k=[])
    with pytest.raises(ValueError, match="at least one"):
        evaluate(est, X_train, X_test, metrics=[])
