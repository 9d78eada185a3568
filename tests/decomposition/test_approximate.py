"""ApproximateRecommender: the exact path, the IVF and HNSW paths' recall and contract."""

import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.frozen import FrozenEstimator

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, ApproximateRecommender, SGDFactorizer
from sklearn_musicrec.neighbors import ItemKNNRecommender
from sklearn_musicrec.utils._test_params import EXPECTED_FAILED_HARNESS_CHECKS
from sklearn_musicrec.utils.estimator_checks import check_recommender
from tests._realdata import fetch_lastfm_2k_or_skip

# random_state seeds only the IVF index; decision_function stays exact
SEED_ONLY_IN_THE_INDEX = EXPECTED_FAILED_HARNESS_CHECKS["ApproximateRecommender"]


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


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_missing_faiss_names_the_extra(plays, monkeypatch, index):
    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss now raises ImportError
    with pytest.raises(ImportError, match=rf"index='{index}'.*sklearn-musicrec\[ann\]"):
        ApproximateRecommender(_als(), index=index).fit(plays)
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


def test_hnsw_with_the_norm_coordinate(plays, faiss):
    model = ApproximateRecommender(_als(), index="hnsw", metric="euclidean", M=16).fit(plays)
    assert model.index_.metric_type == faiss.METRIC_L2 and model.index_.d == 17
    ids, scores = model.recommend(plays, k=10)
    # the graph recalls less in the Euclidean reduction (0.947 here) than in
    # inner product (test_hnsw_recall_against_exact: >= 0.95), as bench_ann measures
    assert _recall(ids, model.estimator_.recommend(plays, k=10)[0]) >= 0.9
    full = model.estimator_.decision_function(plays)
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, axis=1), rtol=1e-4, atol=1e-4)


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
        ),
        expected_failed_checks=SEED_ONLY_IN_THE_INDEX,
    )


# ---- the IVF path (skipped without faiss) -----------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"index": "ivfpq"}, "'index' parameter"),
        ({"n_lists": 0}, "'n_lists' parameter"),
        ({"n_lists": 2.5}, "'n_lists' parameter"),
        ({"n_probe": 0}, "'n_probe' parameter"),
        ({"metric": "cosine"}, "'metric' parameter"),
        ({"random_state": "seed"}, "'random_state' parameter"),
    ],
)
def test_ivf_parameters_are_validated(plays, params, message):
    with pytest.raises(ValueError, match=message):
        ApproximateRecommender(_als(), **{"index": "ivf", **params}).fit(plays)


def test_ivf_n_lists_at_most_the_items(plays, faiss):
    with pytest.raises(
        ValueError, match=r"n_lists .* at most the number of items \(3000\).*got n_lists=3001"
    ):
        ApproximateRecommender(_als(), index="ivf", n_lists=3001).fit(plays)


def test_default_n_lists_rule():
    from sklearn_musicrec.decomposition._approximate import default_n_lists

    assert default_n_lists(1_000_000) == 4000  # 4 sqrt(n)
    assert default_n_lists(3000) == 3000 // 39  # every list gets 39 training items
    assert default_n_lists(10) == 1


@pytest.mark.parametrize("metric, n_probe", [("euclidean", 32), ("inner_product", 48)])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_ivf_recall_against_exact(plays, faiss, name, metric, n_probe):
    # 3000 items in 76 lists, n_probe of them scanned per query
    model = ApproximateRecommender(
        MODELS[name](), index="ivf", metric=metric, n_probe=n_probe, random_state=0
    )
    model.fit(plays)
    assert model.index_.nlist == 76 and model.index_.ntotal == plays.shape[1]
    ids, scores = model.recommend(plays, k=10)
    exact_ids, _ = model.estimator_.recommend(plays, k=10)
    assert _recall(ids, exact_ids) >= 0.95
    # the listed items' scores are the wrapped model's exact ones, best first, unseen
    full = model.estimator_.decision_function(plays)
    np.testing.assert_allclose(scores, np.take_along_axis(full, ids, axis=1), rtol=1e-4, atol=1e-4)
    assert (np.diff(scores, axis=1) <= 0).all()
    assert not np.take_along_axis(plays.toarray(), ids, axis=1).any()


@pytest.fixture(scope="module")
def catalogue():
    # a catalogue 5x the users, the norms of fitted factors spread as in real data
    X = make_interactions(n_users=2000, n_items=10_000, mean_items_per_user=40, random_state=1)
    return X.data.tocsr()


def test_ivf_recall_with_an_ann_sized_catalogue(catalogue, faiss):
    model = ApproximateRecommender(
        _als(), index="ivf", metric="euclidean", n_probe=16, random_state=0
    ).fit(catalogue)
    assert model.index_.nlist == 256  # the default rule: 4 sqrt(10,000), at most 10,000 // 39
    exact = model.estimator_.recommend(catalogue, k=10)[0]
    # 16 of 256 lists, about 6% of the items scanned per query
    assert _recall(model.recommend(catalogue, k=10)[0], exact) >= 0.95
    # and fewer lists recall less: the index is approximate, n_probe is effective after fit
    assert _recall(model.set_params(n_probe=4).recommend(catalogue, k=10)[0], exact) < 0.95
    # the best items here are a few long vectors, which lists by direction scatter
    by_direction = ApproximateRecommender(
        FrozenEstimator(model.estimator_), index="ivf", n_probe=16, random_state=0
    ).fit(catalogue)
    assert _recall(by_direction.recommend(catalogue, k=10)[0], exact) < 0.8


def _centroids(model):
    return model.index_.quantizer.reconstruct_n(0, model.index_.nlist)


@pytest.mark.parametrize("metric", ["inner_product", "euclidean"])
def test_ivf_is_reproducible_with_random_state(catalogue, faiss, metric):
    def fitted(seed, n_jobs=1):
        return ApproximateRecommender(
            FrozenEstimator(als),
            index="ivf",
            metric=metric,
            n_probe=8,
            random_state=seed,
            n_jobs=n_jobs,
        ).fit(catalogue)

    als = _als().fit(catalogue)
    a, b, other, threaded = fitted(0), fitted(0), fitted(1), fitted(0, n_jobs=2)
    np.testing.assert_array_equal(_centroids(a), _centroids(b))
    np.testing.assert_array_equal(_centroids(a), _centroids(threaded))  # whatever the threads
    assert not np.allclose(_centroids(a), _centroids(other))
    rows = catalogue[:300]
    ids, scores = a.recommend(rows, k=10)
    for twin in (b, threaded):
        np.testing.assert_array_equal(twin.recommend(rows, k=10)[0], ids)
    assert (other.recommend(rows, k=10)[0] != ids).any()


def test_ivf_pickle_keeps_the_index(plays, faiss):
    model = ApproximateRecommender(_als(), index="ivf", n_probe=8, random_state=0).fit(plays)
    before = model.recommend(plays[:40], k=10)
    restored = pickle.loads(pickle.dumps(model))
    assert isinstance(model.index_, faiss.IndexIVFFlat)  # pickling left the original alone
    assert isinstance(restored.index_, faiss.IndexIVFFlat)
    assert restored.index_.ntotal == plays.shape[1]
    np.testing.assert_array_equal(_centroids(restored), _centroids(model))
    after = restored.recommend(plays[:40], k=10)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_ivf_prints_nothing(plays, faiss, capfd):
    # an explicit n_lists with fewer than 39 items a list: faiss would warn on stderr
    ApproximateRecommender(_als(), index="ivf", n_lists=1000, random_state=0).fit(plays)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_faiss_threads_follow_n_jobs_and_are_restored(plays, faiss, monkeypatch):
    seen = []
    real_train = faiss.IndexIVFFlat.train

    def spy(index, x):
        seen.append(faiss.omp_get_max_threads())
        return real_train(index, x)

    monkeypatch.setattr(faiss.IndexIVFFlat, "train", spy)
    before = faiss.omp_get_max_threads()
    for n_jobs, expected in ((1, 1), (2, 2), (None, 1)):
        ApproximateRecommender(_als(), index="ivf", n_jobs=n_jobs, random_state=0).fit(plays)
        assert seen[-1] == expected
        assert faiss.omp_get_max_threads() == before


def test_ivf_passes_the_harness(faiss):
    # the harness's 40-item catalogues fit in one list (40 // 39), so the
    # index returns every item and its lists are the exact ones the harness
    # compares against; padding, seen items, empty rows, pickling and the
    # input checks go through the index path
    check_recommender(
        ApproximateRecommender(
            ALSFactorizer(n_components=8, max_iter=5, random_state=0), index="ivf"
        ),
        expected_failed_checks=SEED_ONLY_IN_THE_INDEX,
    )


@pytest.mark.parametrize("metric", ["inner_product", "euclidean"])
def test_ivf_with_few_lists_probed_on_small_catalogues(faiss, metric):
    # a row whose probed list holds fewer unseen items than it needs is ranked
    # exactly: every row still gets k unseen items
    X = make_interactions(n_users=200, n_items=400, random_state=0).data.tocsr()
    model = ApproximateRecommender(
        _als(), index="ivf", metric=metric, n_lists=40, n_probe=1, random_state=0
    ).fit(X)
    ids, scores = model.recommend(X, k=50)
    assert (ids >= 0).all() and np.isfinite(scores).all()
    assert not np.take_along_axis(X.toarray(), ids, axis=1).any()
    exact_ids, exact_scores = model.estimator_.recommend(X, k=50)
    # 10 items a list on average, 64 or more needed: most rows fall back to exact
    assert (ids == exact_ids).all(axis=1).mean() > 0.5


@pytest.mark.realdata
def test_ivf_on_lastfm_factors(faiss):
    """Real fitted factors: the best items are a few long vectors (metric's docs)."""

    X = sp.csr_matrix(fetch_lastfm_2k_or_skip().data)
    als = ALSFactorizer(n_components=32, max_iter=5, random_state=0).fit(X)
    exact = als.recommend(X, k=10)[0]
    recall = {}
    for metric in ("inner_product", "euclidean"):
        model = ApproximateRecommender(
            FrozenEstimator(als), index="ivf", metric=metric, n_probe=32, random_state=0
        ).fit(X)
        assert model.index_.nlist == 452  # 17,632 // 39
        recall[metric] = _recall(model.recommend(X, k=10)[0], exact)
    # 32 of 452 lists (7% of the items): measured 0.992 and 0.868
    assert recall["euclidean"] >= 0.95
    assert recall["inner_product"] < recall["euclidean"]
