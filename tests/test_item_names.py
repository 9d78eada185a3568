"""Item ids and names: similar_items everywhere, get_item_names, one validation of item_ids."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.neighbors import EASERecommender, ItemKNNRecommender
from sklearn_musicrec.utils import all_estimators
from sklearn_musicrec.utils.validation import check_item_ids

MODELS = {
    "ALSFactorizer": lambda: ALSFactorizer(n_components=4, max_iter=3, random_state=0),
    "SGDFactorizer": lambda: SGDFactorizer(loss="bpr", n_components=4, max_iter=3, random_state=0),
    "EASERecommender": lambda: EASERecommender(regularization=10.0),
    "ItemKNNRecommender": lambda: ItemKNNRecommender(n_neighbors=5),
}


@pytest.fixture(scope="module")
def plays():
    return make_interactions(n_users=120, n_items=40, random_state=0).data


@pytest.fixture(scope="module", params=sorted(MODELS))
def fitted(request, plays):
    return MODELS[request.param]().fit(plays)


def test_every_model_with_similar_items_is_covered():
    with_similar = {name for name, cls in all_estimators() if hasattr(cls, "similar_items")}
    assert with_similar == set(MODELS)


def test_similar_items_contract(fitted, plays):
    n_items = plays.shape[1]
    ids, scores = fitted.similar_items([2, 5, 2], k=4)
    assert ids.shape == scores.shape == (3, 4) and ids.dtype == np.int64
    assert np.all(np.diff(np.where(ids >= 0, scores, -np.inf), axis=1) <= 0)
    for row, query in enumerate([2, 5, 2]):
        assert query not in ids[row]
    np.testing.assert_array_equal(ids[0], ids[2])
    one, _ = fitted.similar_items(5, k=4)
    np.testing.assert_array_equal(one[0], ids[1])
    long_ids, long_scores = fitted.similar_items([0], k=n_items + 3)
    assert long_ids.shape == (1, n_items + 3)
    pad = long_ids[0] < 0
    assert pad.sum() >= 4 and np.all(long_scores[0][pad] == -np.inf)
    assert np.all(pad[np.argmax(pad) :])  # padding only at the end
    empty_ids, _ = fitted.similar_items([], k=3)
    assert empty_ids.shape == (0, 3)


@pytest.mark.parametrize(
    "bad, error, match",
    [
        ([40], ValueError, r"item_ids must be item ids in \[0, 40\) \(columns of the training"),
        ([-1], ValueError, r"item_ids must be item ids in \[0, 40\)"),
        ([[0, 1]], ValueError, "item_ids must be an item id or a 1-D array"),
        ([0.5], TypeError, "item_ids must hold integer item ids"),
        (True, TypeError, "item_ids must hold integer item ids"),
        (["Muse"], TypeError, "item_ids must hold integer item ids"),
    ],
)
def test_similar_items_rejects_bad_ids_alike(fitted, bad, error, match):
    with pytest.raises(error, match=match):
        fitted.similar_items(bad)
    with pytest.raises(ValueError, match="k must be an integer >= 1"):
        fitted.similar_items([0], k=0)


@pytest.mark.parametrize("sparse", [False, True])
def test_names_round_trip_for_a_dataframe_fit(plays, sparse):
    pd = pytest.importorskip("pandas")
    names = [f"artist {j}" for j in range(plays.shape[1])]
    if sparse:
        frame = pd.DataFrame.sparse.from_spmatrix(plays, columns=names)
    else:
        frame = pd.DataFrame(plays.toarray(), columns=names)
    for name in sorted(MODELS):
        model = MODELS[name]().fit(frame)
        np.testing.assert_array_equal(model.feature_names_in_, names)
        np.testing.assert_array_equal(model.get_item_names(), names)
        ids, _ = model.recommend(frame.iloc[:3], k=5)
        got = model.get_item_names(ids, fill_value=None if (ids >= 0).all() else "")
        assert got.shape == ids.shape
        assert got[0, 0] == names[ids[0, 0]]
        # names are accepted wherever query items are
        by_id = model.similar_items([3, 7], k=4)
        by_name = model.similar_items(["artist 3", "artist 7"], k=4)
        np.testing.assert_array_equal(by_id[0], by_name[0])
        np.testing.assert_array_equal(model.similar_items("artist 3", k=4)[0], by_id[0][:1])
        with pytest.raises(ValueError, match=r"1 names that are not items .* \['Muse'\]"):
            model.similar_items(["artist 3", "Muse"])


def test_get_item_names_errors(plays):
    pd = pytest.importorskip("pandas")
    model = EASERecommender(regularization=10.0).fit(plays)
    with pytest.raises(ValueError, match="fitted on X without column names"):
        model.get_item_names([0])
    frame = pd.DataFrame(plays.toarray(), columns=[f"a{j}" for j in range(plays.shape[1])])
    model.fit(frame)
    assert model.get_item_names([[-1, 2]], fill_value="?").tolist() == [["?", "a2"]]
    with pytest.raises(ValueError, match="pass fill_value"):
        model.get_item_names([-1, 2])
    with pytest.raises(ValueError, match=r"\[0, 40\)"):
        model.get_item_names([40])
    with pytest.raises(TypeError, match="integer item ids"):
        model.get_item_names([0.5])
    # refitting on unnamed data forgets the names
    model.fit(plays)
    with pytest.raises(ValueError, match="without column names"):
        model.get_item_names()


def test_check_item_ids_accepts_numpy_and_python_ints():
    np.testing.assert_array_equal(check_item_ids(np.int32(3), 5), [3])
    np.testing.assert_array_equal(check_item_ids(np.array([4, 0], dtype=np.uint8), 5), [4, 0])
    assert check_item_ids(sp.csr_matrix((1, 1)).indices, 5).dtype == np.int64
