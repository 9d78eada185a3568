"""The real-time path: one user's fresh history in, a top-k out, as the batch path gives it.

A single-row ``recommend`` / ``decision_function`` skips scikit-learn's generic
validation for a plain CSR row, reuses item-side quantities prepared once per
fitted model (ALS: the eigensystem of ``V^T V + reg I``; ItemKNN: the CSR form
of the transposed similarity) and folds in only the items the row touches.
These tests check that the results are those of the batch path, and that the
cheap checks still refuse what the generic path refused.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec import (
    ALSFactorizer,
    EASERecommender,
    ItemKNNRecommender,
    SGDFactorizer,
    UserKNNRecommender,
)
from sklearn_musicrec.datasets import make_interactions

# a catalogue much larger than one history, so one row takes the fast paths
# (ALS rotates only the row's items) while the whole batch does not
X = make_interactions(
    n_users=240, n_items=1500, mean_items_per_user=12, random_state=0
).data.astype(np.float64)

MODELS = {
    "als": ALSFactorizer(n_components=16, max_iter=5, random_state=0),
    "als-explicit": ALSFactorizer(n_components=8, feedback="explicit", random_state=0),
    "itemknn": ItemKNNRecommender(n_neighbors=30),
    "itemknn-history": ItemKNNRecommender(n_neighbors=30, neighborhood="history"),
    "userknn": UserKNNRecommender(n_neighbors=20),
    "ease": EASERecommender(regularization=50.0),
    "sgd-bpr": SGDFactorizer(n_components=8, max_iter=5, random_state=0),
    "sgd-squared": SGDFactorizer(
        n_components=8, loss="squared", learning_rate=0.001, max_iter=5, random_state=0
    ),
}


@pytest.fixture(scope="module", params=list(MODELS), ids=list(MODELS))
def fitted(request):
    return MODELS[request.param].fit(X)


def test_single_rows_equal_the_batch(fitted):
    ids, scores = fitted.recommend(X, k=10)
    D = fitted.decision_function(X)
    # float32 rounding, relative to the scale of the scores (ratings near 20
    # for the explicit models on these play counts)
    atol = 1e-5 * float(np.abs(D).max())
    for u in range(0, X.shape[0], 23):
        ids_u, scores_u = fitted.recommend(X[[u]], k=10)
        np.testing.assert_array_equal(ids_u[0], ids[u])
        np.testing.assert_allclose(scores_u[0], scores[u], rtol=1e-5, atol=atol)
        np.testing.assert_allclose(fitted.decision_function(X[[u]])[0], D[u], rtol=1e-5, atol=atol)
        # a row given densely takes the generic validation: same answer
        ids_d, _ = fitted.recommend(X[[u]].toarray(), k=10)
        np.testing.assert_array_equal(ids_d[0], ids[u])


def test_als_fold_in_of_a_few_items_equals_the_full_rotation():
    model = ALSFactorizer(n_components=16, max_iter=5, random_state=0).fit(X)
    full = model.transform(X)  # 4 nnz >= n_items: every item factor rotated
    for u in (0, 5, 77):
        np.testing.assert_allclose(model.transform(X[[u]])[0], full[u], rtol=1e-4, atol=1e-6)


def test_als_fold_in_gives_a_row_the_same_factors_alone_or_in_a_batch():
    """The rotated item factors kept beside the model: no per-call rotation to differ."""
    model = ALSFactorizer(n_components=16, max_iter=5, random_state=0).fit(X)
    full = model.transform(X)
    for u in (0, 5, 77):
        np.testing.assert_array_equal(model.transform(X[[u]])[0], full[u])
        np.testing.assert_array_equal(model.transform(X[[u, u + 1]])[0], full[u])


def test_one_row_lists_scan_part_of_the_catalogue_and_equal_the_full_scan(monkeypatch):
    """A few rows take the norm-ordered scan; its lists are those of every item's score."""
    from sklearn_musicrec.utils import _topk

    model = ALSFactorizer(n_components=16, max_iter=5, random_state=0).fit(X)
    read = []
    merge = _topk.__dict__.get("topk_norm_pruned")

    def counting(U, index, *args):
        read.append(U.shape[0])
        return merge(U, index, *args)

    import sklearn_musicrec.decomposition._base as factor_base

    monkeypatch.setattr(factor_base, "topk_norm_pruned", counting)
    for u in (0, 5, 77):
        ids, scores = model.recommend(X[[u]], k=10)
        monkeypatch.setattr(model, "_norm_index", lambda n_rows: None, raising=False)
        ids_full, scores_full = model.recommend(X[[u]], k=10)
        monkeypatch.delattr(model, "_norm_index")
        np.testing.assert_array_equal(ids, ids_full)
        np.testing.assert_allclose(scores, scores_full, rtol=1e-6)
    assert read == [1, 1, 1]  # the scan ran for the one-row calls only
    model.recommend(X[:40], k=10)  # a batch scores every item
    assert read == [1, 1, 1]


def test_refit_invalidates_the_prepared_item_quantities():
    model = ALSFactorizer(n_components=8, max_iter=3, random_state=0).fit(X)
    model.recommend(X[[0]], k=5)  # prepares the eigensystem of the first fit
    X2 = make_interactions(n_users=240, n_items=1500, random_state=1).data
    model.fit(X2)
    fresh = ALSFactorizer(n_components=8, max_iter=3, random_state=0).fit(X2)
    np.testing.assert_array_equal(
        model.recommend(X2[[3]], k=5)[0], fresh.recommend(X2[[3]], k=5)[0]
    )
    knn = ItemKNNRecommender(n_neighbors=10).fit(X)
    knn.recommend(X[[0]], k=5)
    knn.fit(X2)
    fresh_knn = ItemKNNRecommender(n_neighbors=10).fit(X2)
    np.testing.assert_array_equal(
        knn.recommend(X2[[3]], k=5)[0], fresh_knn.recommend(X2[[3]], k=5)[0]
    )


def test_serving_leaves_the_estimator_dict_and_the_pickle_unchanged():
    import pickle

    model = ItemKNNRecommender(n_neighbors=10).fit(X)
    before = dict(vars(model))
    size = len(pickle.dumps(model))
    model.recommend(X[[0]], k=5)
    assert vars(model).keys() == before.keys()
    assert len(pickle.dumps(model)) == size


def _row(u=0):
    return sp.csr_matrix(X[[u]])


def _malformed(indices=None, indptr=None, data=None):
    row = _row()
    M = sp.csr_matrix(
        (row.data.copy(), row.indices.copy(), row.indptr.copy()), shape=row.shape, copy=False
    )
    if indices is not None:
        M.indices = indices
    if indptr is not None:
        M.indptr = indptr
    if data is not None:
        M.data = data
    return M


@pytest.mark.parametrize("name", ["als", "itemknn"])
def test_the_fast_path_still_refuses_bad_rows(name):
    model = MODELS[name].fit(X)
    row = _row()
    bad_index = row.indices.copy()
    bad_index[-1] = X.shape[1] + 3
    cases = {
        "column index out of range": (_malformed(indices=bad_index), "column indices outside"),
        "negative column index": (
            _malformed(indices=np.r_[-1, row.indices[1:]].astype(row.indices.dtype)),
            "column indices outside",
        ),
        "indptr beyond the entries": (
            _malformed(indptr=np.array([0, row.nnz + 5], dtype=row.indptr.dtype)),
            "indptr does not describe",
        ),
        "NaN": (_malformed(data=np.r_[np.nan, row.data[1:]]), "contains NaN"),
        "inf": (_malformed(data=np.r_[np.inf, row.data[1:]]), "contains infinity"),
        "negative": (_malformed(data=np.r_[-1.0, row.data[1:]]), "Negative values"),
        "wrong number of items": (sp.csr_matrix((1, X.shape[1] - 1)), "must have 1500 columns"),
    }
    for bad, message in cases.values():
        with pytest.raises(ValueError, match=message):
            model.recommend(bad, k=5)
        with pytest.raises(ValueError, match=message):
            model.decision_function(bad)
    two = sp.csr_matrix(X[:2])
    decreasing = sp.csr_matrix(
        (two.data, two.indices, np.array([0, two.nnz, two.indptr[1]])), shape=two.shape
    )
    with pytest.raises(ValueError, match="indptr decreases"):
        model.recommend(decreasing, k=5)


@pytest.mark.parametrize("name", ["als", "itemknn", "userknn"])
def test_unsorted_and_duplicate_indices_are_canonicalised_not_trusted(name):
    model = MODELS[name].fit(X)
    row = _row(7)
    expected = model.recommend(row, k=10)
    # the same history with its entries reversed and one play split in two
    order = np.arange(row.nnz)[::-1]
    data = np.r_[row.data[order], 0.0]
    indices = np.r_[row.indices[order], row.indices[order][0]]
    data[0] -= 0.5
    data[-1] = 0.5
    messy = sp.csr_matrix((data, indices, np.array([0, data.size])), shape=row.shape)
    kept = (messy.data.copy(), messy.indices.copy(), messy.indptr.copy())
    got = model.recommend(messy, k=10)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-6)
    for before, after in zip(kept, (messy.data, messy.indices, messy.indptr)):
        np.testing.assert_array_equal(before, after)  # the caller's row is untouched


def test_blas_threads_are_restored():
    from threadpoolctl import threadpool_info

    from sklearn_musicrec.utils._parallel import numba_threads

    before = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    with numba_threads(1, blas="single"):
        inside = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
        assert all(n == 1 for n in inside)
    after = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    assert after == before
