import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.model_selection import (
    cold_item_split,
    holdout_split,
    leave_k_out_split,
    temporal_split,
)


@pytest.fixture(scope="module")
def X():
    X = make_interactions(n_users=120, n_items=50, random_state=0).data.tolil()
    X[0, :] = 0
    X[0, 7] = 3  # one interaction
    X[1, :] = 0  # none
    return X.tocsr()


def _assert_partition(X, X_train, X_test):
    assert X_train.shape == X_test.shape == X.shape
    assert sp.issparse(X_train) and X_train.format == "csr" and X_test.format == "csr"
    assert X_train.multiply(X_test).nnz == 0
    assert abs(X_train + X_test - X).sum() == 0


def test_holdout_split_sizes_and_short_rows(X):
    n = X.getnnz(axis=1)
    n_short = np.count_nonzero(n == 1)  # empty rows are not counted
    assert n_short >= 1
    with pytest.warns(UserWarning, match=f"{n_short} of 120 users have fewer than 2"):
        X_train, X_test = holdout_split(X, test_size=0.2, random_state=0)
    _assert_partition(X, X_train, X_test)
    expected = np.where(n >= 2, np.clip(np.ceil(0.2 * n), 1, n - 1), 0)
    np.testing.assert_array_equal(X_test.getnnz(axis=1), expected)
    assert X_train[0].nnz == 1 and X_test[0].nnz == 0


def test_holdout_split_is_deterministic_and_position_free(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        a_train, a_test = holdout_split(X, 0.3, random_state=5)
        b_train, b_test = holdout_split(X, 0.3, random_state=5)
        perm = np.random.RandomState(0).permutation(X.shape[0])
        p_train, p_test = holdout_split(X[perm], 0.3, random_state=5)
        v_train, v_test = holdout_split(X.toarray() * 7, 0.3, random_state=5)
        c_train, c_test = holdout_split(X, 0.3, random_state=6)
    assert (a_test != b_test).nnz == 0
    assert (p_test != a_test[perm]).nnz == 0
    assert (v_test.astype(bool) != a_test.astype(bool)).nnz == 0  # values play no part
    assert (c_test != a_test).nnz > 0


def test_holdout_split_is_uniform_within_a_row():
    row = sp.csr_matrix(np.ones((1, 10)))
    counts = np.zeros(10)
    for seed in range(400):
        counts += holdout_split(row, 0.2, random_state=seed)[1].toarray()[0]
    assert counts.sum() == 800
    np.testing.assert_allclose(counts / 400, 0.2, atol=0.07)


def test_holdout_split_random_state_none_and_validation(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(X, 0.5, random_state=np.random.RandomState(0))
        _assert_partition(X, X_train, X_test)
        holdout_split(X.toarray(), 0.5)
        # an int test_size holds out that many per user (at most n - 1)
        _, X_test = holdout_split(X, 2, random_state=0)
    n = X.getnnz(axis=1)
    np.testing.assert_array_equal(X_test.getnnz(axis=1), np.where(n >= 2, np.minimum(2, n - 1), 0))
    for bad in (0.0, 1.0, -0.1, 0):
        with pytest.raises(ValueError, match="test_size"):
            holdout_split(X, bad)
    with pytest.raises(TypeError, match="test_size"):
        holdout_split(X, "0.2")
    with pytest.raises(ValueError, match="non-negative"):
        holdout_split(-X, 0.2)
    with pytest.raises(ValueError, match="2-D"):
        holdout_split(np.ones(3), 0.2)


def test_split_does_not_modify_input(X):
    before = X.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        holdout_split(X, 0.2, random_state=0)
        leave_k_out_split(X, 2, random_state=0)
        cold_item_split(X, 0.2, random_state=0)
    assert (X != before).nnz == 0


def test_leave_k_out_split(X):
    with pytest.warns(UserWarning, match="fewer than 3 interactions"):
        X_train, X_test = leave_k_out_split(X, n_test=2, random_state=0)
    _assert_partition(X, X_train, X_test)
    n = X.getnnz(axis=1)
    np.testing.assert_array_equal(X_test.getnnz(axis=1), np.where(n > 2, 2, 0))
    with pytest.warns(UserWarning):
        X_train, ids = leave_k_out_split(X, n_test=1, random_state=0, return_ids=True)
    assert ids.dtype == np.int64 and ids.shape == (X.shape[0],)
    assert ids[0] == -1 and ids[1] == -1
    has = ids >= 0
    assert np.all(X[np.flatnonzero(has), ids[has]].A1 > 0)
    assert np.all(X_train[np.flatnonzero(has), ids[has]].A1 == 0)
    assert X_train.nnz == X.nnz - has.sum()
    with pytest.raises(ValueError, match="needs n_test=1"):
        leave_k_out_split(X, n_test=2, return_ids=True)
    with pytest.raises(ValueError, match="'n_test' parameter"):
        leave_k_out_split(X, n_test=0)


def test_leave_k_out_split_k_is_deprecated(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = leave_k_out_split(X, n_test=2, random_state=0)
        with pytest.warns(FutureWarning, match="renamed to 'n_test'"):
            got = leave_k_out_split(X, k=2, random_state=0)
    for a, b in zip(expected, got):
        assert (a != b).nnz == 0
    with pytest.raises(TypeError, match="not both"):
        leave_k_out_split(X, n_test=2, k=2)
    with pytest.raises(ValueError, match="'k' parameter"):
        leave_k_out_split(X, k=0)


def test_temporal_split_holds_out_latest():
    X = np.array([[1, 2, 3, 4, 0], [5, 0, 0, 1, 0], [0, 0, 9, 0, 0]])
    T = np.array([[40, 10, 30, 20, 0], [7, 0, 0, 3, 0], [0, 0, 1, 0, 0]])
    with pytest.warns(UserWarning, match="1 of 3 users"):
        X_train, X_test = temporal_split(X, sp.csr_matrix(T), test_size=0.5)
    _assert_partition(sp.csr_matrix(X), X_train, X_test)
    np.testing.assert_array_equal(
        X_test.toarray(), [[1, 0, 3, 0, 0], [5, 0, 0, 0, 0], [0, 0, 0, 0, 0]]
    )
    # latest one per user with dense timestamps, ties broken by item id
    T_tie = np.array([[5, 5, 5, 5, 0], [1, 0, 0, 1, 0], [0, 0, 1, 0, 0]])
    with pytest.warns(UserWarning):
        _, X_test = temporal_split(X, T_tie, test_size=1)
    np.testing.assert_array_equal(X_test.toarray()[:2], [[0, 0, 0, 4, 0], [0, 0, 0, 1, 0]])


def test_temporal_split_validation():
    X = sp.csr_matrix(np.array([[1, 2, 0]]))
    with pytest.raises(ValueError, match="1 interactions of X have no stored timestamp"):
        temporal_split(X, sp.csr_matrix(np.array([[5, 0, 3]])))
    with pytest.raises(ValueError, match="shape"):
        temporal_split(X, np.ones((2, 3)))
    with pytest.raises(ValueError, match="timestamps must be a numeric"):
        temporal_split(X, np.array([["a", "b", "c"]]))


def test_temporal_split_with_generated_timestamps():
    b = make_interactions(n_users=60, n_items=40, return_timestamps=True, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = temporal_split(b.data, b.timestamps, test_size=0.2)
    _assert_partition(b.data, X_train, X_test)
    T = sp.csr_matrix(b.timestamps)
    for u in range(60):
        train_t = T[u].multiply(X_train[u].astype(bool)).data
        test_t = T[u].multiply(X_test[u].astype(bool)).data
        if train_t.size and test_t.size:
            assert train_t.max() <= test_t.min()


def test_cold_item_split(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = cold_item_split(X, test_size=0.2, random_state=0)
    _assert_partition(X, X_train, X_test)
    train_items = np.flatnonzero(X_train.getnnz(axis=0))
    test_items = np.flatnonzero(X_test.getnnz(axis=0))
    assert np.intersect1d(train_items, test_items).size == 0
    n_active = np.count_nonzero(X.getnnz(axis=0))
    assert test_items.size == int(np.ceil(0.2 * n_active))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        _, again = cold_item_split(X, test_size=0.2, random_state=0)
        _, three = cold_item_split(X, test_size=3, random_state=0)
    assert (again != X_test).nnz == 0
    assert np.count_nonzero(three.getnnz(axis=0)) == 3
    # a user whose only item is moved to the test set gets an empty train row
    Y = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 1]]))
    with pytest.warns(UserWarning, match="only with test items"):
        for seed in range(20):
            Y_train, Y_test = cold_item_split(Y, test_size=1, random_state=seed)
            if Y_test[0, 0]:
                break
    with pytest.raises(ValueError, match="test_size"):
        cold_item_split(X, test_size=n_active)
    with pytest.raises(ValueError, match="at least 2 items"):
        cold_item_split(sp.csr_matrix(np.array([[1, 0]])), test_size=0.5)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_users=st.integers(1, 15),
    n_items=st.integers(1, 12),
    density=st.floats(0.0, 1.0),
    test_size=st.one_of(st.floats(0.01, 0.99), st.integers(1, 5)),
)
def test_holdout_split_properties(seed, n_users, n_items, density, test_size):
    rng = np.random.RandomState(seed)
    X = sp.csr_matrix(
        (rng.rand(n_users, n_items) < density) * rng.randint(1, 9, (n_users, n_items))
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(X, test_size, random_state=seed)
    _assert_partition(X, X_train, X_test)
    n = X.getnnz(axis=1)
    n_test = X_test.getnnz(axis=1)
    # rows of >= 2 keep at least one and hide at least one; shorter rows hide none
    assert np.all(n_test[n < 2] == 0)
    assert np.all((n_test[n >= 2] >= 1) & (n_test[n >= 2] <= n[n >= 2] - 1))
    if isinstance(test_size, float):
        target = np.ceil(np.round(test_size * n, 9))
        ok = n >= 2
        np.testing.assert_array_equal(n_test[ok], np.clip(target[ok], 1, n[ok] - 1))
