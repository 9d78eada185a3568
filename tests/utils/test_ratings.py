"""predict_ratings of every rating model (utils/_ratings.py), and the sparse RMSE/MAE path."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.metrics import mae, make_recommendation_scorer, rmse
from sklearn_musicrec.model_selection import evaluate
from sklearn_musicrec.neighbors import ItemKNNRecommender, UserKNNRecommender

RATING_MODELS = {
    "als": lambda: ALSFactorizer(
        feedback="explicit", n_components=3, regularization=0.05, max_iter=10, random_state=0
    ),
    "sgd": lambda: SGDFactorizer(loss="squared", n_components=3, max_iter=20, random_state=0),
    "itemknn": lambda: ItemKNNRecommender(aggregation="mean_centered", n_neighbors=20),
    "userknn": lambda: UserKNNRecommender(
        aggregation="mean_centered", similarity="pearson", min_similarity=-1.0, n_neighbors=20
    ),
}


@pytest.fixture(scope="module")
def ratings():
    from tests.decomposition.conftest import planted_ratings

    return planted_ratings()


@pytest.fixture(scope="module")
def plays():
    return make_interactions(n_users=300, n_items=200, random_state=0).data


@pytest.fixture(scope="module", params=sorted(RATING_MODELS))
def fitted(request, ratings):
    X_train, _ = ratings
    return RATING_MODELS[request.param]().fit(X_train)


def test_rating_range_is_recorded_in_fit(fitted, ratings):
    X_train, _ = ratings
    assert fitted.rating_range_ == (float(X_train.data.min()), float(X_train.data.max()))


def test_one_item_per_row_matches_the_full_scores(fitted, ratings):
    X_train, _ = ratings
    rng = np.random.default_rng(0)
    items = rng.integers(0, X_train.shape[1], size=X_train.shape[0])
    full = fitted.decision_function(X_train)[np.arange(X_train.shape[0]), items]
    raw = fitted.predict_ratings(X_train, items, clip=False)
    assert raw.shape == (X_train.shape[0],) and raw.dtype.kind == "f"
    np.testing.assert_allclose(raw, full, rtol=1e-5, atol=1e-5)
    low, high = fitted.rating_range_
    np.testing.assert_allclose(fitted.predict_ratings(X_train, items), np.clip(raw, low, high))
    np.testing.assert_allclose(
        fitted.predict_ratings(X_train, items, clip=(2.5, 3.5)), np.clip(raw, 2.5, 3.5)
    )


def test_sparse_pairs_keep_the_pattern(fitted, ratings):
    X_train, X_test = ratings
    # unsorted indices and a duplicate: the result is the canonical pattern
    coo = X_test.tocoo()
    order = np.random.default_rng(1).permutation(coo.nnz)
    rows = np.r_[coo.row[order], coo.row[0]]
    cols = np.r_[coo.col[order], coo.col[0]]
    messy = sp.coo_matrix((np.ones(rows.size), (rows, cols)), shape=X_test.shape)
    for items in (X_test, messy, sp.csr_array(X_test)):
        pred = fitted.predict_ratings(X_train, items)
        assert sp.issparse(pred) and pred.format == "csr"
        np.testing.assert_array_equal(pred.indptr, X_test.indptr)
        np.testing.assert_array_equal(pred.indices, X_test.indices)
    low, high = fitted.rating_range_
    r, c = X_test.nonzero()
    expected = np.clip(fitted.decision_function(X_train)[r, c], low, high)
    np.testing.assert_allclose(pred.toarray()[r, c], expected, rtol=1e-5, atol=1e-5)
    # clipping can only help when the truth lies in the training range
    assert rmse(X_test, pred) <= rmse(X_test, fitted.decision_function(X_train)) + 1e-7


def test_only_requested_rows_are_folded_in(fitted, ratings):
    X_train, X_test = ratings
    some = X_test.copy().tolil()
    some[::2] = 0  # half the rows have no pairs
    some = some.tocsr()
    some.eliminate_zeros()
    np.testing.assert_allclose(
        fitted.predict_ratings(X_train, some).data,
        fitted.predict_ratings(X_train, X_test)[1::2].data,
        rtol=1e-6,
    )


def test_never_scores_the_catalogue(fitted, ratings, monkeypatch):
    X_train, X_test = ratings

    def fail(*args, **kwargs):
        raise AssertionError("the whole catalogue was scored")

    expected = fitted.predict_ratings(X_train, X_test)
    monkeypatch.setattr(type(fitted), "_decision_function", fail)
    monkeypatch.setattr(type(fitted), "decision_function", fail)
    np.testing.assert_array_equal(fitted.predict_ratings(X_train, X_test).data, expected.data)


def test_does_not_modify_its_arguments(fitted, ratings):
    X_train, X_test = ratings
    a, b = X_train.copy(), X_test.copy()
    fitted.predict_ratings(a, b)
    for before, after in ((X_train, a), (X_test, b)):
        assert (before != after).nnz == 0


def test_implicit_models_have_no_predict_ratings(plays):
    implicit = (
        ALSFactorizer(n_components=2, max_iter=2),
        SGDFactorizer(loss="bpr", max_iter=2),
        ItemKNNRecommender(),
        UserKNNRecommender(),
    )
    for model in implicit:
        assert not hasattr(model, "predict_ratings")
        model.fit(plays)
        assert model.rating_range_ is None
        with pytest.raises(AttributeError, match="predict_ratings"):
            model.predict_ratings(plays, np.zeros(plays.shape[0], dtype=int))
    for make in RATING_MODELS.values():
        assert hasattr(make(), "predict_ratings")


@pytest.mark.parametrize(
    "items, error, match",
    [
        (np.zeros(3, dtype=int), ValueError, "one item id per row of X"),
        (np.full(200, 150), ValueError, r"items must be item ids in \[0, 150\)"),
        (np.zeros(200), TypeError, "items must hold integer item ids"),
        (np.zeros((200, 150)), ValueError, "scipy.sparse.csr_matrix"),
        (sp.csr_matrix((200, 149)), ValueError, "X's shape"),
    ],
)
def test_bad_items(fitted, ratings, items, error, match):
    X_train, _ = ratings
    with pytest.raises(error, match=match):
        fitted.predict_ratings(X_train, items)


@pytest.mark.parametrize("clip", [(4, 2), (1, np.inf), "yes", 3, (1, 2, 3)])
def test_bad_clip(fitted, ratings, clip):
    X_train, _ = ratings
    with pytest.raises(ValueError, match="clip must be True"):
        fitted.predict_ratings(X_train, np.zeros(X_train.shape[0], dtype=int), clip=clip)


def test_items_by_name_when_fitted_on_a_dataframe(ratings):
    pd = pytest.importorskip("pandas")
    X_train, _ = ratings
    names = [f"artist {j}" for j in range(X_train.shape[1])]
    frame = pd.DataFrame.sparse.from_spmatrix(X_train, columns=names)
    model = RATING_MODELS["als"]().fit(frame)
    by_id = model.predict_ratings(frame.iloc[:3], [5, 0, 7])
    by_name = model.predict_ratings(frame.iloc[:3], ["artist 5", "artist 0", "artist 7"])
    np.testing.assert_array_equal(by_id, by_name)
    with pytest.raises(ValueError, match="not items the model was fitted on"):
        model.predict_ratings(frame.iloc[:1], ["nobody"])


def test_evaluate_and_scorers_use_the_pairwise_path(ratings):
    X_train, X_test = ratings
    model = RATING_MODELS["als"]()
    res = evaluate(model, X_train, X_test, metrics=["rmse", "mae"], return_estimator=True)
    users = res["evaluated_users"]
    pred = res["estimator"].predict_ratings(X_train[users], X_test[users])
    assert res["rmse"] == pytest.approx(rmse(X_test[users], pred))
    assert res["mae"] == pytest.approx(mae(X_test[users], pred))
    fitted = model.fit(X_train)
    got = make_recommendation_scorer("neg_rmse")(fitted, X_train, X_test)
    assert got == pytest.approx(-rmse(X_test, fitted.predict_ratings(X_train, X_test)))


def test_evaluate_rmse_in_bounded_memory():
    # 200,000 users x 50,000 items: the dense float64 scores of the ~79k
    # evaluated users would take ~29 GiB (the previous path fails with a
    # MemoryError); the pairwise path needs memory proportional to the ratings
    n_users, n_items, n_train, n_test = 200_000, 50_000, 600_000, 100_000
    rng = np.random.default_rng(0)

    def ratings(n):
        keys = np.unique(rng.integers(0, n_users * n_items, size=n))
        values = rng.integers(1, 6, size=keys.size).astype(np.float64)
        return sp.csr_matrix((values, (keys // n_items, keys % n_items)), shape=(n_users, n_items))

    X_train, X_test = ratings(n_train), ratings(n_test)
    X_test = X_test - X_test.multiply(X_train != 0)  # disjoint from training
    model = ALSFactorizer(feedback="explicit", n_components=4, max_iter=2, random_state=0)
    tracemalloc.start()
    try:
        res = evaluate(model, X_train, X_test, metrics=["rmse", "mae"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert res["n_users"] == np.count_nonzero(X_test.getnnz(axis=1))
    assert 0 < res["mae"] <= res["rmse"] <= 4.0  # clipped to [1, 5]
    assert peak < 256 * 2**20, f"peak traced memory {peak / 2**20:.0f} MiB"


@pytest.mark.realdata
def test_movielens_100k_rmse_floor():
    """Pairwise RMSE of evaluate on ML-100K u1 (surprise SVD: 0.951 on u1, KNNBasic ~0.98)."""
    from sklearn_musicrec.datasets import fetch_movielens, get_data_home

    try:
        train, test = fetch_movielens("100k", folds=True, download_if_missing=False).folds[0]
    except OSError as exc:
        pytest.skip(f"MovieLens 100k not found under the data home {get_data_home()!r}: {exc}")
    mean_only = rmse(test, np.full(test.shape, train.data.mean()))  # 1.154
    models = (
        (
            ALSFactorizer(
                feedback="explicit",
                n_components=20,
                regularization=1.3,
                regularization_exponent=0.5,
                bias_regularization=0.65,
                max_iter=10,
                random_state=0,
            ),
            0.93,  # measured 0.921
        ),
        (
            ItemKNNRecommender(
                aggregation="mean_centered", similarity="pearson", n_neighbors=40, shrinkage=100
            ),
            0.98,  # measured 0.969
        ),
    )
    for model, floor in models:
        res = evaluate(model, train, test, metrics=["rmse", "mae"])
        assert res["rmse"] < floor < mean_only, type(model).__name__
        assert res["mae"] < res["rmse"]
