"""Defaults on raw play counts: the input weighting each model applies, and its quality.

See ``benchmarks/bench_defaults.py`` for the full measurement (every
recommender at its defaults on raw and binarised lastfm-2k).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.preprocessing import Binarizer

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.neighbors import EASERecommender, ItemKNNRecommender, UserKNNRecommender
from sklearn_musicrec.preprocessing import BM25Weighting, LogScaling, TfidfWeighting
from sklearn_musicrec.utils._weighting import apply_weighting, make_weighting
from tests._realdata import fetch_lastfm_2k_or_skip


@pytest.fixture(scope="module")
def counts():
    """Heavy-tailed play counts: a planted structure times large random counts."""
    X = make_interactions(n_users=80, n_items=50, random_state=0).data.tocsr().astype(np.float64)
    rng = np.random.RandomState(0)
    X.data = np.floor(rng.pareto(1.0, X.nnz) * 50 + 1)
    return X


DEFAULT_WEIGHTING = [
    (UserKNNRecommender, {}, BM25Weighting),
    (UserKNNRecommender, {"aggregation": "mean_centered"}, None),
    (ItemKNNRecommender, {}, Binarizer),
    (ItemKNNRecommender, {"aggregation": "mean_centered"}, None),
    (EASERecommender, {"regularization": 10.0}, Binarizer),
    (ALSFactorizer, {"n_components": 4, "max_iter": 3, "random_state": 0}, BM25Weighting),
    (
        ALSFactorizer,
        {"feedback": "explicit", "n_components": 4, "max_iter": 3, "random_state": 0},
        None,
    ),
]
WEIGHTED = [(Model, params) for Model, params, kind in DEFAULT_WEIGHTING if kind is not None]


@pytest.mark.parametrize("Model, params, kind", DEFAULT_WEIGHTING)
def test_default_weighting_is_resolved_in_fit(counts, Model, params, kind):
    model = Model(**params)
    assert model.get_params()["weighting"] == ("binary" if Model is EASERecommender else "auto")
    model.fit(counts)
    if kind is None:
        assert model.weighting_ is None
    else:
        assert type(model.weighting_) is kind
        assert model.weighting_.n_features_in_ == counts.shape[1]
    if kind is Binarizer:
        assert model.weighting_.threshold == 0


@pytest.mark.parametrize("Model, params", WEIGHTED)
@pytest.mark.parametrize(
    "weighting, kind",
    [(None, type(None)), ("log", LogScaling), ("bm25", BM25Weighting), ("binary", Binarizer)],
)
def test_weighting_is_overridable(counts, Model, params, weighting, kind):
    model = Model(**params, weighting=weighting).fit(counts)
    assert type(model.weighting_) is kind


@pytest.mark.parametrize("Model, params", WEIGHTED)
def test_weighting_transformer_instance_is_cloned(counts, Model, params):
    given = BM25Weighting(k1=0.5)
    model = Model(**params, weighting=given).fit(counts)
    assert model.weighting_ is not given and model.weighting_.k1 == 0.5
    assert not hasattr(given, "idf_")  # the caller's transformer is not fitted


@pytest.mark.parametrize("Model, params", WEIGHTED)
def test_fit_and_fold_in_see_the_same_weighting(counts, Model, params):
    """The model with its weighting == the unweighted model on pre-weighted input.

    Rows passed after ``fit`` (new users included) are weighted with the
    statistics learned on the training rows, exactly as the training rows.
    """
    train, new = counts[:60], counts[60:]
    X_train, X_new = train.copy(), new.copy()
    model = Model(**params).fit(train)
    weighting = clone(model.weighting_).fit(train)
    plain = Model(**params, weighting=None).fit(weighting.transform(train))
    for rows in (new, train[:7]):
        np.testing.assert_allclose(
            model.decision_function(rows),
            plain.decision_function(weighting.transform(rows)),
            rtol=1e-5,
            atol=1e-6,
        )
        ids, scores = model.recommend(rows, k=5)
        ids_p, scores_p = plain.recommend(weighting.transform(rows), k=5)
        np.testing.assert_array_equal(ids, ids_p)
        # the raw history is excluded, exactly as without the weighting
        seen = rows.toarray() > 0
        assert not seen[np.arange(rows.shape[0])[:, None], ids].any()
    # the caller's matrices are not modified
    assert (train != X_train).nnz == 0 and (new != X_new).nnz == 0


def test_transform_and_similar_users_see_the_weighting(counts):
    als = ALSFactorizer(n_components=4, max_iter=3, random_state=0).fit(counts)
    plain = ALSFactorizer(n_components=4, max_iter=3, random_state=0, weighting=None).fit(
        BM25Weighting().fit_transform(counts)
    )
    np.testing.assert_allclose(als.transform(counts[:5]), plain.user_factors_[:5], rtol=1e-5)
    np.testing.assert_allclose(als.user_factors_, plain.user_factors_)
    knn = UserKNNRecommender(n_neighbors=5).fit(counts)
    plain_knn = UserKNNRecommender(n_neighbors=5, weighting=None).fit(
        BM25Weighting().fit_transform(counts)
    )
    np.testing.assert_array_equal(
        knn.similar_users(counts[:4], k=3)[0],
        plain_knn.similar_users(BM25Weighting().fit(counts).transform(counts[:4]), k=3)[0],
    )


def test_ease_defaults_do_not_fail_on_large_counts():
    """Counts in the hundreds of thousands break ``X^T X + 200 I`` without weighting."""
    X = make_interactions(n_users=200, n_items=60, random_state=0).data.tocsr()
    X = X.astype(np.float32)
    X.data = np.random.RandomState(0).randint(1, 300_000, X.nnz).astype(np.float32)
    default = EASERecommender().fit(X)
    binary = EASERecommender(weighting=None).fit((X > 0).astype(np.float32))
    np.testing.assert_allclose(default.coef_, binary.coef_, rtol=1e-5, atol=1e-6)


def test_sgd_default_loss_is_bpr_with_its_own_defaults():
    model = SGDFactorizer()
    assert model.loss == "bpr"
    assert (model.learning_rate, model.regularization, model.max_iter) == (None, None, None)
    assert (model._learning_rate(), model._regularization(), model._max_iter()) == (0.05, 0.01, 100)
    squared = SGDFactorizer(loss="squared")
    assert (squared._learning_rate(), squared._regularization(), squared._max_iter()) == (
        0.01,
        0.02,
        20,
    )
    given = SGDFactorizer(learning_rate=0.2, regularization=0.0, max_iter=3)
    assert (given._learning_rate(), given._regularization(), given._max_iter()) == (0.2, 0.0, 3)
    X = make_interactions(n_users=40, n_items=30, random_state=0).data
    fitted = SGDFactorizer(n_components=4, max_iter=3, random_state=0).fit(X)
    assert fitted.n_iter_ == 3 and fitted.user_bias_ is None


def test_make_weighting_names_and_errors():
    assert make_weighting(None) is None
    assert type(make_weighting("bm25")) is BM25Weighting
    assert type(make_weighting("log")) is LogScaling
    assert make_weighting("binary").get_params() == Binarizer(threshold=0.0).get_params()
    with pytest.raises(ValueError, match="weighting must be one of"):
        make_weighting("tfidf")


def test_apply_weighting_refuses_a_weighting_that_changes_the_history():
    X = sp.csr_matrix(np.array([[0.0, 3.0, 1.0], [2.0, 0.0, 0.0]]))
    drops_ones = Binarizer(threshold=1.0).fit(X)  # maps the 1 to 0
    with pytest.raises(ValueError, match="changed which entries of X are non-zero"):
        apply_weighting(drops_ones, X, "Model")
    assert apply_weighting(None, X, "Model") is X
    model = ItemKNNRecommender(weighting=Binarizer(threshold=1.0))
    with pytest.raises(ValueError, match="ItemKNNRecommender: the weighting"):
        model.fit(X)


@pytest.mark.realdata
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lastfm_defaults_on_raw_counts_beat_popularity():
    """Every personalised model, at its defaults on raw play counts, beats popularity.

    lastfm-2k restricted to artists with at least 10 listeners (so that EASE
    solves in seconds), per-user 80/20 holdout, NDCG@20.
    """
    from sklearn_musicrec import PopularityRecommender
    from sklearn_musicrec.metrics import ndcg_at_k
    from sklearn_musicrec.model_selection import holdout_split

    X = fetch_lastfm_2k_or_skip().data.tocsr()
    X = X[:, np.flatnonzero(np.diff(X.tocsc().indptr) >= 10)].tocsr()
    X = X[np.diff(X.indptr) >= 5]
    train, test = holdout_split(X, 0.2, random_state=0)

    def ndcg(model):
        ids, _ = model.fit(train).recommend(train, k=20)
        return ndcg_at_k(test, ids, k=20)

    popularity = ndcg(PopularityRecommender())
    for model in (
        ItemKNNRecommender(),
        UserKNNRecommender(),
        EASERecommender(),
        ALSFactorizer(random_state=0),
        SGDFactorizer(random_state=0),
    ):
        assert ndcg(model) > 1.5 * popularity, type(model).__name__


@pytest.mark.parametrize("weighting", [BM25Weighting(), LogScaling(), TfidfWeighting()])
def test_apply_weighting_equals_the_transformers_transform(weighting):
    # the package's weightings skip their own validation of an already
    # validated X inside a recommender: same result as transform
    rng = np.random.RandomState(0)
    X = sp.random(30, 40, density=0.2, format="csr", random_state=rng, dtype=np.float64)
    X.data = np.ceil(X.data * 50)
    fitted = clone(weighting).fit(X)
    before = X.copy()
    out = apply_weighting(fitted, X, "Model")
    expected = fitted.transform(X)
    assert type(out) is sp.csr_matrix and out.dtype == X.dtype
    np.testing.assert_array_equal(out.toarray(), expected.toarray())
    np.testing.assert_array_equal(X.toarray(), before.toarray())  # X untouched
    assert out.data is not X.data
