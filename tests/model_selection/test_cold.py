"""Tests of cold_user_split and warm_cold_split."""

import numpy as np
import pytest

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.model_selection import cold_user_split, warm_cold_split


@pytest.fixture(scope="module")
def X():
    return make_interactions(n_users=200, n_items=80, random_state=0).data


def test_cold_user_split_partitions_the_cold_rows(X):
    X_train, X_known, X_test, users = cold_user_split(X, 0.25, random_state=0)
    assert X_train[users].nnz == 0
    known = X_known[users].getnnz(axis=1)
    assert known.min() >= 1 and known.max() <= 3
    assert len(set(known.tolist())) > 1  # drawn between the bounds
    assert (X_test[users].getnnz(axis=1) >= 1).all()
    total = X_train + X_known + X_test
    np.testing.assert_array_equal(total.toarray(), X.toarray())
    others = np.setdiff1d(np.arange(X.shape[0]), users)
    assert X_known[others].nnz == 0 and X_test[others].nnz == 0
    again = cold_user_split(X, 0.25, random_state=0)
    np.testing.assert_array_equal(again[3], users)


def test_cold_user_split_fixed_known_and_errors(X):
    _, X_known, _, users = cold_user_split(X, 10, n_known=2, random_state=1)
    assert users.size == 10 and (X_known[users].getnnz(axis=1) == 2).all()
    with pytest.raises(ValueError, match="n_known"):
        cold_user_split(X, 0.2, n_known=(3, 1))


def test_warm_cold_split(X):
    X_train, X_test, cold = warm_cold_split(X, 0.25, 0.2, random_state=0)
    assert X_train[:, cold].nnz == 0
    assert X_test[:, cold].nnz == X[:, cold].nnz
    np.testing.assert_array_equal((X_train + X_test).toarray(), X.toarray())
    warm = np.setdiff1d(np.arange(X.shape[1]), cold)
    assert 0 < X_test[:, warm].nnz < X[:, warm].nnz
