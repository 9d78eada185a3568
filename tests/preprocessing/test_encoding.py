"""Tests of InteractionEncoder (raw interaction records <-> users x items CSR)."""

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

from sklearn_musicrec import PopularityRecommender
from sklearn_musicrec.preprocessing import InteractionEncoder
from sklearn_musicrec.utils import all_estimators

LOG = {
    "user": np.array(["ann", "bob", "ann", "ann", "cy"]),
    "artist": np.array(["Muse", "Muse", "Björk", "Muse", "Air"]),
    "plays": np.array([3.0, 1.0, 2.0, 4.0, 0.0]),
    "time": np.array([10, 20, 30, 5, 40]),
}


def _encoder(**kwargs):
    params = dict(user_col="user", item_col="artist", value_col="plays", timestamp_col="time")
    params.update(kwargs)
    return InteractionEncoder(**params)


def test_fit_learns_sorted_ids_and_builds_csr():
    enc = _encoder()
    X = enc.fit_transform(LOG)
    assert sp.issparse(X) and X.format == "csr" and X.dtype == np.float64
    assert enc.user_ids_.tolist() == ["ann", "bob", "cy"]
    assert enc.item_ids_.tolist() == ["Air", "Björk", "Muse"]
    assert (enc.n_users_, enc.n_items_) == (3, 3)
    np.testing.assert_array_equal(X.toarray(), [[0, 2, 7], [0, 0, 1], [0, 0, 0]])
    # The zero-valued record is kept as an explicitly stored entry.
    assert X.nnz == 4 and X[2, 0] == 0 and X.has_canonical_format


def test_duplicates_sum_keeps_latest_timestamp():
    X, T = _encoder().fit_transform(LOG, return_timestamps=True)
    np.testing.assert_array_equal(T.toarray(), [[0, 30, 10], [0, 0, 20], [40, 0, 0]])
    np.testing.assert_array_equal(X.indptr, T.indptr)
    np.testing.assert_array_equal(X.indices, T.indices)
    assert T.dtype == np.int64


def test_duplicates_last_uses_timestamps_then_row_order():
    # (ann, Muse) has plays 3 at t=10 and 4 at t=5: the latest is t=10.
    X, T = _encoder(duplicates="last").fit_transform(LOG, return_timestamps=True)
    assert X[0, 2] == 3 and T[0, 2] == 10
    # Without timestamps, the later row wins.
    enc = _encoder(duplicates="last", timestamp_col=None)
    assert enc.fit_transform(LOG)[0, 2] == 4
    # Equal timestamps: the later row wins.
    tied = dict(LOG, time=np.array([7, 20, 30, 7, 40]))
    assert _encoder(duplicates="last").fit_transform(tied)[0, 2] == 4


def test_no_value_column_counts_records():
    enc = InteractionEncoder(user_col="user", item_col="artist")
    X = enc.fit_transform(LOG)
    np.testing.assert_array_equal(X.toarray(), [[0, 1, 2], [0, 0, 1], [1, 0, 0]])


def test_positional_columns_on_arrays():
    records = np.array([[10, 7, 2.5], [11, 7, 1.0], [10, 3, 4.0]])
    enc = InteractionEncoder(value_col=2)
    X = enc.fit_transform(records)
    assert enc.user_ids_.tolist() == [10, 11] and enc.item_ids_.tolist() == [3, 7]
    np.testing.assert_array_equal(X.toarray(), [[4.0, 2.5], [0, 1.0]])
    back = enc.inverse_transform(X)
    np.testing.assert_array_equal(back, [[10, 3, 4.0], [10, 7, 2.5], [11, 7, 1.0]])
    # Lists of mixed-type rows become an object array of records.
    mixed = [("ann", 7, 1.0), ("bob", 7, 2.0)]
    enc = InteractionEncoder(value_col=2).fit(np.array(mixed, dtype=object))
    assert enc.user_ids_.tolist() == ["ann", "bob"] and enc.item_ids_.tolist() == [7]


def test_dataframe_input_and_inverse():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "user": LOG["user"],
            "artist": LOG["artist"],
            "plays": LOG["plays"],
            "time": pd.to_datetime(LOG["time"], unit="s"),
        }
    )
    enc = _encoder()
    X, T = enc.fit_transform(df, return_timestamps=True)
    np.testing.assert_array_equal(X.toarray(), _encoder().fit_transform(LOG).toarray())
    # datetime64 timestamps become Unix seconds.
    assert T[0, 1] == 30 and T.dtype == np.int64
    back = enc.inverse_transform(X)
    assert isinstance(back, pd.DataFrame) and list(back.columns) == ["user", "artist", "plays"]
    assert back.iloc[0].tolist() == ["ann", "Björk", 2.0]
    # The records (without timestamps) encode back to the same matrix.
    untimed = clone(enc).set_params(timestamp_col=None).fit(df)
    np.testing.assert_array_equal(untimed.transform(back).toarray(), X.toarray())
    # Integer positions also select DataFrame columns.
    pos = InteractionEncoder(user_col=0, item_col=1, value_col=2).fit_transform(df)
    np.testing.assert_array_equal(pos.toarray(), X.toarray())


def test_rows_follow_fitted_users():
    enc = _encoder().fit(LOG)
    test = {k: v[[1]] for k, v in LOG.items()}  # only bob's record
    Xt = enc.transform(test)
    assert Xt.shape == (3, 3)
    np.testing.assert_array_equal(Xt.toarray(), [[0, 0, 0], [0, 0, 1], [0, 0, 0]])


def test_handle_unknown():
    new = {"user": ["ann", "zed"], "artist": ["Muse", "Muse"], "plays": [1, 2], "time": [1, 2]}
    enc = _encoder().fit(LOG)
    with pytest.raises(ValueError, match=r"1 unknown users \(e.g. \['zed'\]\)"):
        enc.transform(new)
    with pytest.raises(ValueError, match="unknown item ids"):
        enc.transform_items(["Muse", "Nobody"])
    enc.set_params(handle_unknown="ignore")
    np.testing.assert_array_equal(enc.transform(new).toarray(), [[0, 0, 1], [0, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(enc.transform_items([["Muse", "Nobody"]]), [[2, -1]])
    np.testing.assert_array_equal(enc.transform_users(["cy", "ann"]), [2, 0])


def test_inverse_transform_items_of_recommendations():
    enc = _encoder().fit(LOG)
    ids = np.array([[2, 0, -1]])
    with pytest.raises(ValueError, match="fill_value"):
        enc.inverse_transform_items(ids)
    out = enc.inverse_transform_items(ids, fill_value="")
    assert out.tolist() == [["Muse", "Air", ""]]
    assert enc.inverse_transform_users([1]).tolist() == ["bob"]
    with pytest.raises(ValueError, match="< 3"):
        enc.inverse_transform_items([3])
    with pytest.raises(TypeError, match="integers"):
        enc.inverse_transform_items([0.5])


def test_inverse_transform_checks_shape_and_mapping_layout():
    enc = _encoder().fit(LOG)
    with pytest.raises(ValueError, match=r"= \(3, 3\)"):
        enc.inverse_transform(sp.csr_matrix((2, 3)))
    back = enc.inverse_transform(np.array([[0, 1, 0], [0, 0, 0], [5, 0, 0]]))
    assert back["user"].tolist() == ["ann", "cy"] and back["artist"].tolist() == ["Björk", "Air"]
    assert back["plays"].tolist() == [1, 5]


@pytest.mark.parametrize(
    "params, X, error, match",
    [
        ({"duplicates": "max"}, LOG, ValueError, "'duplicates' parameter"),
        ({"handle_unknown": "warn"}, LOG, ValueError, "'handle_unknown' parameter"),
        ({"user_col": 1.5}, LOG, TypeError, "'user_col' parameter"),
        ({"item_col": 0}, LOG, ValueError, "distinct columns"),
        ({"user_col": "nope"}, LOG, ValueError, "user_col='nope' is not a key"),
        ({}, sp.csr_matrix(np.eye(2)), TypeError, "not a sparse matrix"),
        ({}, np.arange(3), ValueError, "2-D array of records"),
        ({"user_col": "user"}, np.zeros((2, 2)), TypeError, "use column positions"),
        ({"item_col": 5}, np.zeros((2, 2)), ValueError, "out of range"),
        ({}, np.zeros((0, 2)), ValueError, "0 records"),
        ({}, np.array([[np.nan, 1.0]]), ValueError, "NaN"),
        ({}, np.array([["a", 1], [2, 1]], dtype=object), TypeError, "mutually comparable"),
        ({"value_col": 2}, np.array([[1, 1, np.inf]]), ValueError, "infinite"),
    ],
)
def test_bad_input_raises_clear_errors(params, X, error, match):
    with pytest.raises(error, match=match):
        InteractionEncoder(**{"user_col": 0, "item_col": 1, **params}).fit_transform(X)


def test_not_fitted_and_timestamps_requirement():
    with pytest.raises(NotFittedError):
        InteractionEncoder().transform(np.zeros((1, 2)))
    enc = InteractionEncoder().fit(np.array([[1, 2]]))
    with pytest.raises(ValueError, match="timestamp_col"):
        enc.transform(np.array([[1, 2]]), return_timestamps=True)


def test_params_clone_pickle_repr():
    enc = _encoder(duplicates="last")
    assert enc.get_params()["duplicates"] == "last"
    assert repr(enc) == (
        "InteractionEncoder(duplicates='last', item_col='artist', "
        "timestamp_col='time', user_col='user', value_col='plays')"
    )
    assert repr(InteractionEncoder()) == "InteractionEncoder()"
    cloned = clone(enc)
    assert cloned.get_params() == enc.get_params() and not hasattr(cloned, "item_ids_")
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        enc.set_params(bogus=1)
    enc.fit(LOG)
    restored = pickle.loads(pickle.dumps(enc))
    np.testing.assert_array_equal(restored.transform(LOG).toarray(), enc.transform(LOG).toarray())


def test_not_enrolled_as_estimator():
    # Its input is a table of records, not a 2-D numeric matrix: it is kept out
    # of the estimator checks on purpose.
    assert "InteractionEncoder" not in [name for name, _ in all_estimators()]


def test_first_step_of_a_pipeline():
    pipe = Pipeline(
        [
            ("encode", InteractionEncoder(user_col="user", item_col="artist", value_col="plays")),
            ("recommend", PopularityRecommender()),
        ]
    )
    pipe.fit(LOG)
    X = pipe[:-1].transform(LOG)
    ids, _ = pipe[-1].recommend(X, k=1)
    items = pipe[0].inverse_transform_items(ids, fill_value=None if (ids >= 0).all() else "")
    assert items.shape == (3, 1)
    # bob has only heard Muse; the most popular unseen artist is recommended.
    assert items[1, 0] in {"Air", "Björk"}
    clone(pipe).fit(LOG)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3", "u4"]),
            st.integers(0, 6),
            st.integers(0, 9),
            st.integers(0, 3),
        ),
        min_size=1,
        max_size=30,
    ),
    st.sampled_from(["sum", "last"]),
)
def test_property_matches_a_dictionary_reference(records, duplicates):
    users = np.array([r[0] for r in records])
    items = np.array([r[1] for r in records])
    values = np.array([r[2] for r in records], dtype=float)
    times = np.array([r[3] for r in records])
    log = {"u": users, "i": items, "v": values, "t": times}
    enc = InteractionEncoder(
        user_col="u", item_col="i", value_col="v", timestamp_col="t", duplicates=duplicates
    )
    X, T = enc.fit_transform(log, return_timestamps=True)
    expected = {}
    for pos, (u, i, v, t) in enumerate(records):
        key = (u, i)
        if duplicates == "sum":
            old_v, old_t = expected.get(key, (0.0, t))
            expected[key] = (old_v + v, max(old_t, t))
        elif key not in expected or (t, pos) >= expected[key][2]:
            expected[key] = (v, t, (t, pos))
    assert X.nnz == len(expected)
    for (u, i), entry in expected.items():
        r, c = enc.transform_users([u])[0], enc.transform_items([i])[0]
        assert X[r, c] == entry[0] and T[r, c] == entry[1]
    back = enc.inverse_transform(X)
    untimed = clone(enc).set_params(timestamp_col=None).fit(log)
    np.testing.assert_array_equal(untimed.transform(back).toarray(), X.toarray())


NEW = {
    "user": np.array(["zoe", "dan", "zoe", "zoe", "eve"]),
    "artist": np.array(["Air", "Muse", "Air", "Adele", "Adele"]),
    "plays": np.array([1.0, 2.0, 3.0, 9.0, 4.0]),
    "time": np.array([1, 2, 3, 4, 5]),
}


def test_transform_new_users_encodes_against_fitted_items():
    enc = _encoder(handle_unknown="ignore").fit(LOG)
    fitted = (enc.user_ids_.copy(), enc.item_ids_.copy())
    X_new, users = enc.transform_new_users(NEW)
    # one row per distinct new user, sorted; eve's only item is unknown: empty row
    assert users.tolist() == ["dan", "eve", "zoe"]
    assert X_new.shape == (3, enc.n_items_) and X_new.format == "csr"
    np.testing.assert_array_equal(X_new.toarray(), [[0, 0, 2], [0, 0, 0], [4, 0, 0]])
    # the fitted vocabulary is untouched
    np.testing.assert_array_equal(enc.user_ids_, fitted[0])
    np.testing.assert_array_equal(enc.item_ids_, fitted[1])
    # round trip back to raw records
    back = enc.inverse_transform(X_new, user_ids=users)
    assert back["user"].tolist() == ["dan", "zoe"]
    assert back["artist"].tolist() == ["Muse", "Air"]
    assert back["plays"].tolist() == [2.0, 4.0]
    with pytest.raises(ValueError, match=r"\(len\(user_ids\), n_items_\) = \(2, 3\)"):
        enc.inverse_transform(X_new, user_ids=users[:2])


def test_transform_new_users_unknown_items():
    enc = _encoder().fit(LOG)  # handle_unknown="error"
    with pytest.raises(
        ValueError, match=r"2 records of 1 items not seen in fit \(e.g. \['Adele'\]\)"
    ):
        enc.transform_new_users(NEW)
    with pytest.warns(UserWarning, match="Dropped 2 records of 1 items"):
        X_warn, _ = enc.transform_new_users(NEW, handle_unknown="warn")
    X_ignore, _ = enc.transform_new_users(NEW, handle_unknown="ignore")
    assert (X_warn != X_ignore).nnz == 0
    with pytest.raises(ValueError, match="handle_unknown must be"):
        enc.transform_new_users(NEW, handle_unknown="drop")
    with pytest.raises(NotFittedError):
        _encoder().transform_new_users(NEW)


def test_transform_new_users_folds_into_a_recommender():
    enc = _encoder(handle_unknown="ignore")
    model = PopularityRecommender().fit(enc.fit_transform(LOG))
    X_new, users = enc.transform_new_users(NEW)
    ids, _ = model.recommend(X_new, k=2)
    names = enc.inverse_transform_items(ids, fill_value="")
    assert names.shape == (3, 2)
    # a user's own artists are never recommended back
    for user, row in zip(users, names):
        own = set(NEW["artist"][NEW["user"] == user])
        assert not own & set(row)
    empty = {
        "user": np.array([], dtype=str),
        "artist": np.array([], dtype=str),
        "plays": np.array([]),
        "time": np.array([], dtype=int),
    }
    X_empty, no_users = enc.transform_new_users(empty)
    assert X_empty.shape == (0, enc.n_items_) and no_users.size == 0
