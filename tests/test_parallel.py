"""Partitioned batch scoring (sklearn_musicrec.parallel) and searches on a cluster.

The local iterator path is always tested; the Dask path runs when ``dask`` is
installed (``pip install "sklearn-musicrec[dask]"``), the cluster tests when
``distributed`` is, and the Ray test when ``ray`` is.
"""

import os

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, KFold, RandomizedSearchCV

from sklearn_musicrec import ALSFactorizer, EASERecommender, ItemKNNRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import get_recommendation_scorer, make_recommendation_scorer
from sklearn_musicrec.parallel import recommend_blocks, recommend_dask, write_recommendations
from sklearn_musicrec.pipeline import make_recommender_pipeline
from sklearn_musicrec.preprocessing import BM25Weighting


@pytest.fixture(scope="module")
def X():
    X = make_interactions(n_users=400, n_items=150, random_state=0).data.tocsr()
    keep = np.ones(X.shape[0])
    keep[5] = 0  # an empty history: the popularity fallback must survive partitioning
    X = sp.csr_matrix(sp.diags(keep) @ X)
    X.eliminate_zeros()
    return X


def _blocks(X, size):
    return (X[start : start + size] for start in range(0, X.shape[0], size))


MODELS = {
    "itemknn": lambda: ItemKNNRecommender(n_neighbors=20),
    "als": lambda: ALSFactorizer(n_components=8, max_iter=3, random_state=0),
    "ease": lambda: EASERecommender(),
    "pipeline": lambda: make_recommender_pipeline(
        BM25Weighting(), ItemKNNRecommender(weighting=None)
    ),
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request, X):
    return MODELS[request.param]().fit(X)


def _stack(parts):
    parts = list(parts)
    return np.vstack([ids for ids, _ in parts]), np.vstack([scores for _, scores in parts])


@pytest.mark.parametrize("size", [16, 128, 1000])
def test_blocks_equal_one_call(fitted, X, size):
    ids, scores = _stack(recommend_blocks(fitted, _blocks(X, size), k=12))
    expected_ids, expected_scores = fitted.recommend(X, k=12)
    assert_array_equal(ids, expected_ids)
    assert_array_equal(scores, expected_scores)


def test_blocks_pass_the_options_on(X):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    items = np.arange(0, 150, 3)
    for options in ({"exclude_seen": False}, {"items": items}, {"items": list(items)}):
        got = _stack(recommend_blocks(model, _blocks(X, 50), k=200, **options))
        expected = model.recommend(X, k=200, **options)
        assert_array_equal(got[0], expected[0])
        assert_array_equal(got[1], expected[1])


def test_blocks_accept_any_block_type(X):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    expected = model.recommend(X, k=5)[0]
    dense = (block.toarray() for block in _blocks(X, 64))
    coo_arrays = (sp.coo_array(block) for block in _blocks(X, 64))
    for blocks in (dense, coo_arrays):
        assert_array_equal(_stack(recommend_blocks(model, blocks, k=5))[0], expected)


def test_blocks_are_read_one_at_a_time(X):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    pulled = []

    def source():
        for index, block in enumerate(_blocks(X, 50)):
            pulled.append(index)
            yield block

    results = recommend_blocks(model, source(), k=5)
    assert pulled == []  # a generator: nothing is read before the first list is asked for
    next(results)
    assert pulled == [0]
    next(results)
    assert pulled == [0, 1]
    assert len(list(results)) == 6 and pulled == list(range(8))


def test_arguments_are_checked_before_any_block_is_read(X):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)

    def never_read():
        raise AssertionError("a block was read")
        yield  # pragma: no cover

    with pytest.raises(ValueError, match="items must be None or a 1-D array"):
        recommend_blocks(model, never_read(), items=X)
    with pytest.raises(ValueError, match="k"):
        recommend_blocks(model, never_read(), k=0)
    with pytest.raises(TypeError, match="exclude_seen must be a bool"):
        recommend_blocks(model, never_read(), exclude_seen="yes")
    with pytest.raises(TypeError, match="recommend method.*got KFold"):
        recommend_blocks(KFold(), never_read())
    with pytest.raises(NotFittedError):
        recommend_blocks(ItemKNNRecommender(), never_read())


def test_a_bad_block_raises_the_recommend_error(X):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    blocks = iter([X[:10], X[:10, :20]])
    results = recommend_blocks(model, blocks, k=5)
    next(results)
    with pytest.raises(ValueError, match="150"):
        next(results)


def test_write_streams_one_file_per_partition(X, tmp_path):
    model = ItemKNNRecommender(n_neighbors=20).fit(X)

    def source():
        for index, block in enumerate(_blocks(X, 64)):
            if index:  # the previous partition is on disk before this one is read
                assert (tmp_path / f"part-{index - 1:05d}.scores.npy").exists()
            yield block

    paths = write_recommendations(recommend_blocks(model, source(), k=10), tmp_path)
    assert [os.path.basename(path) for path in paths[:2]] == [
        "part-00000.ids.npy",
        "part-00000.scores.npy",
    ]
    assert len(paths) == 2 * 7
    ids = np.vstack([np.load(path) for path in paths[0::2]])
    scores = np.vstack([np.load(path) for path in paths[1::2]])
    expected_ids, expected_scores = model.recommend(X, k=10)
    assert_array_equal(ids, expected_ids)
    assert_array_equal(scores, expected_scores)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_write_tables(X, tmp_path, fmt):
    pd = pytest.importorskip("pandas")
    if fmt == "parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs pyarrow")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    items = np.arange(5)  # 5 candidates for k=8: every list is padded
    results = recommend_blocks(model, _blocks(X, 100), k=8, items=items)
    paths = write_recommendations(results, tmp_path, format=fmt, first_user=1000)
    assert len(paths) == 4
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    table = pd.concat([read(path) for path in paths], ignore_index=True)
    assert list(table.columns) == ["user", "rank", "item", "score"]
    ids, scores = model.recommend(X, k=8, items=items)
    users, ranks = np.nonzero(ids >= 0)
    assert_array_equal(table["user"], users + 1000)
    assert_array_equal(table["rank"], ranks + 1)
    assert_array_equal(table["item"], ids[users, ranks])
    np.testing.assert_allclose(table["score"], scores[users, ranks], rtol=1e-6)


def test_write_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="format must be one of"):
        write_recommendations([], tmp_path, format="json")
    with pytest.raises(ValueError, match="first_user must be a non-negative int"):
        write_recommendations([], tmp_path, first_user=-1)
    assert write_recommendations([], tmp_path / "new") == []
    assert (tmp_path / "new").is_dir()
    ids, scores = np.zeros((3, 2), dtype=np.int64), np.zeros((3, 2))
    with pytest.raises(TypeError, match="partition 0 is a ndarray"):
        write_recommendations([ids], tmp_path)
    with pytest.raises(ValueError, match=r"partition 1 has shapes \(3, 2\) and \(3, 1\)"):
        write_recommendations([(ids, scores), (ids, scores[:, :1])], tmp_path)
    # one recommend call's output is one partition
    paths = write_recommendations((ids, scores), tmp_path / "one")
    assert [os.path.basename(path) for path in paths] == [
        "part-00000.ids.npy",
        "part-00000.scores.npy",
    ]


# -- Dask --------------------------------------------------------------------


def _dask_array(X, size, dense=False):
    da = pytest.importorskip("dask.array", reason="the Dask path needs dask")
    source = X.toarray() if dense else X
    return da.from_array(source, chunks=(size, -1), asarray=False)


@pytest.mark.parametrize("layout", ["sparse", "dense", "split-columns"])
def test_dask_equals_one_call(X, layout):
    dask = pytest.importorskip("dask", reason="the Dask path needs dask")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    X_dask = _dask_array(X, 90, dense=layout != "sparse")
    if layout == "split-columns":
        X_dask = X_dask.rechunk((90, 40))
    ids, scores = recommend_dask(model, X_dask, k=7)
    assert ids.chunks == ((90, 90, 90, 90, 40), (7,))
    assert ids.dtype == np.int64 and scores.dtype == model.recommend(X[:1], k=7)[1].dtype
    ids, scores = dask.compute(ids, scores, scheduler="synchronous")
    expected_ids, expected_scores = model.recommend(X, k=7)
    assert_array_equal(ids, expected_ids)
    assert_array_equal(scores, expected_scores)


def test_dask_graph_holds_the_model_once(X):
    pytest.importorskip("dask", reason="the Dask path needs dask")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    ids, scores = recommend_dask(model, _dask_array(X, 50), k=5, items=np.arange(100))
    graph = dict(ids.__dask_graph__())
    graph.update(scores.__dask_graph__())
    keys = [key if isinstance(key, str) else key[0] for key in graph]
    assert sum(key.startswith("recommender-") for key in keys) == 1
    assert sum(key.startswith("candidates-") for key in keys) == 1
    assert sum(key.startswith("_recommend_one-") for key in keys) == 8  # one task per block


def test_dask_checks_its_arguments(X):
    pytest.importorskip("dask", reason="the Dask path needs dask")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    with pytest.raises(TypeError, match="dask.array.Array.*recommend_blocks"):
        recommend_dask(model, X)
    with pytest.raises(ValueError, match="items must be None or a 1-D array"):
        recommend_dask(model, _dask_array(X, 50), items=X)


@pytest.mark.parametrize("how", ["compute", "write"])
def test_dask_ranks_each_block_once(X, tmp_path, how):
    dask = pytest.importorskip("dask", reason="the Dask path needs dask")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    calls = []
    recommend = model.recommend
    model.recommend = lambda block, *args, **kwargs: (
        calls.append(block.shape[0]) or recommend(block, *args, **kwargs)
    )
    results = recommend_dask(model, _dask_array(X, 100), k=5)
    assert calls == [1]  # the dtype probe: one empty row
    with dask.config.set(scheduler="synchronous"):
        if how == "compute":
            dask.compute(*results)
        else:
            write_recommendations(results, tmp_path)
    assert sorted(calls) == [1, 100, 100, 100, 100]


def test_dask_write(X, tmp_path):
    pytest.importorskip("dask", reason="the Dask path needs dask")
    pd = pytest.importorskip("pandas")
    model = ItemKNNRecommender(n_neighbors=20).fit(X)
    results = recommend_dask(model, _dask_array(X, 150), k=6)
    import dask

    with dask.config.set(scheduler="synchronous"):
        paths = write_recommendations(results, tmp_path / "npy")
        tables = write_recommendations(results, tmp_path / "csv", format="csv", first_user=7)
    assert len(paths) == 6 and len(tables) == 3
    expected_ids, expected_scores = model.recommend(X, k=6)
    assert_array_equal(np.vstack([np.load(path) for path in paths[0::2]]), expected_ids)
    assert_array_equal(np.vstack([np.load(path) for path in paths[1::2]]), expected_scores)
    table = pd.concat([pd.read_csv(path) for path in tables], ignore_index=True)
    assert table["user"].iloc[0] == 7 and table["user"].iloc[-1] == 7 + X.shape[0] - 1
    assert_array_equal(table["item"], expected_ids.ravel())


# -- a search on a local cluster ---------------------------------------------


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip(
        "distributed", reason="the cluster tests need dask's distributed scheduler"
    )
    # processes, as a real cluster: 2 workers of one thread each
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def _search_results(search):
    return {
        key: value
        for key, value in search.cv_results_.items()
        if "time" not in key  # fit and score times differ, nothing else may
    }


def _assert_same_search(local, remote):
    """Every score of every split, the ranks and the best parameters are equal."""
    expected, got = _search_results(local), _search_results(remote)
    assert expected.keys() == got.keys()
    for key in expected:
        assert_array_equal(np.asarray(got[key]), np.asarray(expected[key]), err_msg=key)
    assert remote.best_params_ == local.best_params_
    assert remote.best_index_ == local.best_index_


@pytest.mark.slow
def test_grid_search_on_a_cluster_equals_the_local_search(client):
    import joblib

    X = make_interactions(n_users=300, n_items=120, random_state=0).data
    scoring = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    grid = {"n_components": [8, 16], "regularization": [0.1, 10.0]}

    def search(**kwargs):
        # the exact solver: the CG kernel's sums differ between a process that
        # compiled it and one that loaded numba's cache, as the workers do (a
        # known bug, tests/decomposition/test_als_cache.py)
        model = ALSFactorizer(max_iter=5, solver="cholesky", random_state=0)
        return GridSearchCV(model, grid, cv=KFold(3), scoring=scoring, **kwargs)

    local = search().fit(X)
    # on the cluster (the client above): one task per candidate and fold, on all
    # the workers' threads (n_jobs=-1); X is sent to every worker once, up front
    with joblib.parallel_config(backend="dask", scatter=[X]):
        remote = search(n_jobs=-1).fit(X)
    _assert_same_search(local, remote)
    # refit=True refits the best candidate here, in this process: the same model
    assert_array_equal(
        remote.best_estimator_.recommend(X)[0], local.best_estimator_.recommend(X)[0]
    )


@pytest.mark.slow
def test_randomized_multimetric_search_on_a_cluster_equals_the_local_search(client):
    import joblib

    X = make_interactions(n_users=300, n_items=120, random_state=1).data
    scoring = get_recommendation_scorer(["ndcg", "recall"], k=10, test_size=0.2, random_state=0)
    space = {"n_neighbors": list(range(5, 100, 5)), "shrinkage": [0.0, 10.0, 100.0]}

    def search(**kwargs):
        return RandomizedSearchCV(
            ItemKNNRecommender(),
            space,
            n_iter=6,
            cv=KFold(3, shuffle=True, random_state=0),
            scoring=scoring,
            refit="ndcg",
            random_state=0,
            **kwargs,
        )

    local = search().fit(X)
    with joblib.parallel_config(backend="dask"):  # no scatter=: joblib scatters X itself
        remote = search(n_jobs=-1).fit(X)
    _assert_same_search(local, remote)


def _thread_budget():
    """What a task of a search sees: the estimators' thread count, numba's, BLAS's."""
    import numba
    from threadpoolctl import threadpool_info

    from sklearn_musicrec.utils._parallel import numba_threads, resolve_n_jobs

    with numba_threads(None, blas="same") as n_threads:
        blas = sorted(
            {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
        )
        return resolve_n_jobs(None), resolve_n_jobs(-1), n_threads, numba.get_num_threads(), blas


@pytest.mark.slow
def test_tasks_on_one_thread_workers_use_one_thread(client):
    import joblib

    with joblib.parallel_config(backend="dask"):
        # joblib's effective_n_jobs(None) in there counts the cluster's 2 cores
        assert joblib.Parallel(n_jobs=-1)(
            joblib.delayed(joblib.effective_n_jobs)(None) for _ in range(2)
        ) == [2, 2]
        budgets = joblib.Parallel(n_jobs=-1)(joblib.delayed(_thread_budget)() for _ in range(4))
    # the package's rule counts them against the worker: n_jobs=None and -1 are 1 there
    assert budgets == [(1, 1, 1, 1, [1])] * 4
    assert client.submit(_thread_budget, pure=False).result() == (1, 1, 1, 1, [1])


@pytest.mark.slow
def test_dask_scoring_on_a_cluster_equals_one_call(client, X, tmp_path):
    import dask

    model = ALSFactorizer(n_components=8, max_iter=3, random_state=0).fit(X)
    X_dask = _dask_array(X, 100)
    ids, scores = dask.compute(*recommend_dask(model, X_dask, k=10))
    expected_ids, expected_scores = model.recommend(X, k=10)
    assert_array_equal(ids, expected_ids)
    assert_array_equal(scores, expected_scores)
    paths = write_recommendations(recommend_dask(model, X_dask, k=10), tmp_path)
    assert_array_equal(np.vstack([np.load(path) for path in paths[0::2]]), expected_ids)


# -- Ray's joblib backend ----------------------------------------------------


@pytest.mark.slow
def test_grid_search_on_ray_equals_the_local_search():
    ray = pytest.importorskip("ray", reason="the Ray test needs ray")
    import joblib
    from ray.util.joblib import register_ray

    X = make_interactions(n_users=200, n_items=100, random_state=0).data
    grid = {"n_neighbors": [5, 20, 80]}
    local = GridSearchCV(ItemKNNRecommender(), grid, cv=KFold(3)).fit(X)
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        register_ray()
        with joblib.parallel_config(backend="ray"):
            remote = GridSearchCV(ItemKNNRecommender(), grid, cv=KFold(3), n_jobs=2).fit(X)
    finally:
        if started_here:
            ray.shutdown()
    _assert_same_search(local, remote)


def test_the_docs_show_the_tested_cluster_example():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    docs = (root / "docs" / "scaling_out.md").read_text()
    source = Path(__file__).read_text()
    lines = source.splitlines()
    shown = {
        "client",
        "_search_results",
        "_assert_same_search",
        "test_grid_search_on_a_cluster_equals_the_local_search",
    }
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in shown:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            code = "\n".join(lines[first - 1 : node.end_lineno])
            assert code in docs, f"docs/scaling_out.md does not show {node.name} as tested"
            shown.remove(node.name)
    assert not shown
