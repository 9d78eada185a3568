"""ApproximateRecommender: the exact path, the HNSW path's recall and contract."""

import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, ApproximateRecommender, SGDFactorizer
from sklearn_musicrec.neighbors import ItemKNNRecommender
from sklearn_musicrec.utils.estimator_checks import check_recommender


def _als(**kw):
    return ALSFactorizer(**{"n_components": 16, "max_iter": 5, "random_state": 0, **kw})


MODELS = {
    "als": lambda: _als(),
    "als-explicit": lambda: _als(feedback="explicit", n_components=8),
    "sgd-bpr": lambda: SGDFactorizer(n_components=8, max_iter=5, random_state=0),
    "sgd-squared": lambda: SGDFactorizer(
        loss="squared", n_components=8, max_iter=5, learning_rate=0.01, random_state=0
    ),
}


@pytest.fixture(scope="module")
def plays():
    # log play counts: small values that the squared-loss SGD fits without diverging
    X = make_interactions(n_users=300, n_items=3000, random_state=0).data.tocsr()
    X.data = np.log1p(X.data)
    return X


def _recall(approx_ids, exact_ids):
    hits = [
        len(set(a[a >= 0]) & set(e[e >= 0])) / max(1, (e >= 0).sum())
        for a, e in zip(approx_ids, exact_ids)
    ]
    return float(np.mean(hits))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_exact_index_is_the_wrapped_model(plays, name):
    model = ApproximateRecommender(MODELS[name]()).fit(plays)
    alone = MODELS[name]().fit(plays)
    rows = plays[:50]
    for exclude_seen in (True, False):
        ids, scores = model.recommend(rows, k=10, exclude_seen=exclude_seen)
        ids0, scores0 = alone.recommend(rows, k=10, exclude_seen=exclude_seen)
        np.testing.assert_array_equal(ids, ids0)
        np.testing.assert_array_equal(scores, scores0)
    np.testing.assert_array_equal(model.decision_function(rows), alone.decision_function(rows))
    assert model.index_ is None


class _TransformingKNN(ItemKNNRecommender):
    """Has fit, transform and recommend, but its score is no inner product."""

    def transform(self, X):
        return X


def test_estimator_must_be_a_factor_model(plays):
    with pytest.raises(TypeError, match="'estimator' parameter.*ItemKNNRecommender"):
        ApproximateRecommender(ItemKNNRecommender()).fit(plays)
    with pytest.raises(TypeError, match="must be a factor model.*got _TransformingKNN"):
        ApproximateRecommender(_TransformingKNN()).fit(plays)


def test_missing_faiss_names_the_extra(plays, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(ImportError, match=r"sklearn-musicrec\[ann\]"):
        ApproximateRecommender(_als(), index="hnsw").fit(plays)
    # the exact path needs no faiss
    ApproximateRecommender(_als()).fit(plays)


def test_frozen_estimator_is_indexed_not_refitted(plays):
    from sklearn.frozen import FrozenEstimator

    fitted = _als().fit(plays)
    factors = fitted.item_factors_.copy()
    model = ApproximateRecommender(FrozenEstimator(fitted)).fit(plays[:20])
    assert model.estimator_ is fitted
    np.testing.assert_array_equal(fitted.item_factors_, factors)
    np.testing.assert_array_equal(model.recommend(plays, k=5)[0], fitted.recommend(plays, k=5)[0])
    with pytest.raises(ValueError, match="X has 10 items.*fitted with 3000"):
        ApproximateRecommender(FrozenEstimator(fitted)).fit(plays[:, :10])


# ---- the HNSW path (skipped without faiss) ----------------------------------------


@pytest.fixture(scope="module")
def faiss():
    return pytest.importorskip("faiss", reason="faiss (the [ann] extra) is not installed")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_hnsw_recall_against_exact(plays, faiss, name):
    model = ApproximateRecommender(MODELS[name](), index="hnsw", M=16, ef_search=64).fit(plays)
    ids, scores = model.recommend(plays, k=10)
    exact_ids, exact_scores = model.estimator_.recommend(plays, k=10)
    assert _recall(ids, exact_ids) >= 0.95
    # the scores are the wrapped model's exact scores of the listed items
    same = ids == exact_ids
    np.testing.assert_allclose(scores[same], exact_scores[same], rtol=1e-4, atol=1e-4)
    full = model.estimator_.decision_function(plays)
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, axis=1), rtol=1e-4, atol=1e-4)
    assert (np.diff(scores, axis=1) <= 0).all()


def test_hnsw_recall_with_an_ann_sized_catalogue(faiss):
    # item factors of a fitted model, many more items than users
    X = make_interactions(n_users=400, n_items=20_000, random_state=1).data
    model = ApproximateRecommender(_als(n_components=32), index="hnsw").fit(X)
    ids, _ = model.recommend(X, k=10)
    assert _recall(ids, model.estimator_.recommend(X, k=10)[0]) >= 0.95


def test_hnsw_excludes_long_histories(plays, faiss):
    # rows whose history is much longer than k still get k unseen items
    rng = np.random.default_rng(0)
    dense = (rng.random((20, plays.shape[1])) < 0.3).astype(np.float32)
    X = sp.csr_matrix(dense)
    model = ApproximateRecommender(_als(), index="hnsw", M=16).fit(plays)
    ids, scores = model.recommend(X, k=10)
    assert (ids >= 0).all() and np.isfinite(scores).all()
    for row, listed in zip(dense, ids):
        assert not row[listed].any()
    exact_ids, _ = model.estimator_.recommend(X, k=10)
    assert _recall(ids, exact_ids) >= 0.9


def test_hnsw_ef_search_is_effective_after_fit(plays, faiss):
    model = ApproximateRecommender(_als(), index="hnsw", M=4, ef_construction=8).fit(plays)
    exact = model.estimator_.recommend(plays, k=10)[0]
    low = _recall(model.set_params(ef_search=1).recommend(plays, k=10)[0], exact)
    high = _recall(model.set_params(ef_search=512).recommend(plays, k=10)[0], exact)
    assert high > low


def test_hnsw_pickle_keeps_the_index(plays, faiss):
    model = ApproximateRecommender(_als(), index="hnsw", M=16).fit(plays)
    before = model.recommend(plays[:40], k=10)
    restored = pickle.loads(pickle.dumps(model))
    assert isinstance(model.index_, faiss.Index)  # pickling left the original alone
    assert restored.index_.ntotal == plays.shape[1]
    after = restored.recommend(plays[:40], k=10)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_hnsw_passes_the_harness(faiss):
    # the harness's catalogues are small (40 items): with the default M each
    # item links to every other one, so the index finds the exact lists the
    # harness compares against (rows needing half the catalogue or more are
    # ranked exactly by design); the rest (padding, seen items, empty rows,
    # pickling, input checks) goes through the index path
    check_recommender(
        ApproximateRecommender(
            ALSFactorizer(n_components=8, max_iter=5, random_state=0), index="hnsw"
        )
    )
