import inspect

import numpy as np
import pytest

import sklearn_musicrec.metrics as metrics
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import get_metric_names
from sklearn_musicrec.metrics._registry import METRICS, EvaluationData, Metric, get_metric

# scorer factories, and popularity_groups (a helper that builds item_groups)
_NOT_METRICS = {
    "get_metric_names",
    "get_recommendation_scorer",
    "make_recommendation_scorer",
    "popularity_groups",
}


def test_every_public_metric_is_registered():
    public = {
        name
        for name in metrics.__all__
        if name not in _NOT_METRICS and inspect.isfunction(getattr(metrics, name))
    }
    registered = {entry.func.__name__ for entry in METRICS.values()}
    assert public == registered


def test_scorer_names_negate_the_errors():
    names = set(get_metric_names())
    assert {"neg_rmse", "neg_mae"} <= names and not {"rmse", "mae"} & names
    assert get_metric("neg_rmse", scorer=True) is METRICS["rmse"]
    assert METRICS["rmse"].sign == -1 and METRICS["ndcg"].sign == 1
    with pytest.raises(ValueError, match="Unknown metric 'neg_rmse'"):
        get_metric("neg_rmse")


def test_entries_describe_their_functions():
    assert METRICS["ndcg"].params == {"gain"}
    assert METRICS["novelty"].params == {"item_popularity", "n_users"}
    assert METRICS["diversity"].required == {"item_features"}
    assert METRICS["auc"].reads == "scores" and not METRICS["auc"].uses_k
    assert METRICS["coverage"].reads == "ids" and not METRICS["coverage"].per_user
    assert {m.name for m in METRICS.values() if m.per_user} == {
        "ndcg", "recall", "precision", "map", "mrr", "hit_rate", "auc",
        "diversity", "novelty", "popularity", "long_tail", "miscalibration",
    }  # fmt: skip


def test_adapter_equals_the_direct_call():
    b = make_interactions(n_users=40, n_items=30, random_state=0)
    rng = np.random.RandomState(0)
    ids = np.argsort(rng.rand(40, 30), axis=1)[:, :8]
    truth = b.data[:, ::-1].tocsr()
    data = EvaluationData(truth=truth, ids=ids, n_items=30, item_popularity=b.data)
    assert METRICS["ndcg"].compute(data, k=5, gain="linear") == metrics.ndcg_at_k(
        truth, ids, k=5, gain="linear"
    )
    assert METRICS["coverage"].compute(data, k=5) == metrics.catalog_coverage(ids, n_items=30, k=5)
    np.testing.assert_array_equal(
        METRICS["novelty"].compute(data, k=8, per_user=True),
        metrics.novelty(ids, b.data, k=8, per_user=True),
    )
    got = METRICS["diversity"].compute(data, k=8, item_features=b.item_tags)
    assert got == metrics.intra_list_diversity(ids, b.item_tags, k=8)
    # the exposure metrics: catalogue arguments and, for calibration, the histories
    groups = metrics.popularity_groups(b.data)
    assert METRICS["exposure_share"].compute(data, k=8, item_groups=groups) == pytest.approx(
        metrics.exposure_share(ids, groups, k=8)
    )
    providers = np.arange(30) % 7
    assert METRICS["provider_gini"].compute(data, k=8, item_providers=providers) == (
        metrics.provider_gini(ids, providers, k=8)
    )
    assert METRICS["long_tail_exposure"].compute(data, k=8) == (
        metrics.long_tail_exposure(ids, b.data, k=8)
    )
    data.history = b.data
    assert METRICS["miscalibration"].compute(data, k=8, item_categories=b.item_tags) == (
        metrics.miscalibration(ids, b.data, b.item_tags, k=8)
    )
    assert METRICS["miscalibration"].required == {"item_categories"}
    data.item_popularity = None
    with pytest.raises(ValueError, match="'popularity' metric needs item_popularity"):
        METRICS["popularity"].compute(data, k=8)


def test_check_params_names_what_is_accepted():
    with pytest.raises(TypeError, match=r"Unexpected parameters \['alpha'\] .* \['gain'\]"):
        METRICS["ndcg"].check_params({"alpha": 1})
    with pytest.raises(ValueError, match="needs item_features"):
        METRICS["diversity"].check_params({})
    METRICS["novelty"].check_params({})  # fine when the popularity is a matrix
    with pytest.raises(ValueError, match="n_users"):
        METRICS["novelty"].check_params({}, popularity_from_counts=True)
    with pytest.raises(ValueError, match="kind must be one of"):
        Metric("x", len, "other")
