import numpy as np
import pytest
import scipy.sparse as sp


def planted_ratings(n_users=200, n_items=150, rank=3, density=0.3, noise=0.1, seed=0):
    """Ratings in [1, 5] from a planted rank-``rank`` biased model.

    Returns ``(X_train, X_test)``: a random 80/20 split of the observed
    entries, as CSR matrices of the full shape.
    """
    rng = np.random.default_rng(seed)
    U = rng.normal(size=(n_users, rank))
    V = rng.normal(size=(n_items, rank))
    full = 3.0 + 0.3 * rng.normal(size=(n_users, 1)) + 0.3 * rng.normal(size=(1, n_items))
    full += 0.5 * U @ V.T + noise * rng.normal(size=(n_users, n_items))
    full = np.clip(full, 1.0, 5.0)
    mask = rng.random((n_users, n_items)) < density
    test = mask & (rng.random((n_users, n_items)) < 0.2)
    train = mask & ~test
    return sp.csr_matrix(np.where(train, full, 0.0)), sp.csr_matrix(np.where(test, full, 0.0))


@pytest.fixture(scope="module")
def ratings():
    return planted_ratings()


@pytest.fixture(scope="module")
def plays():
    from sklearn_musicrec.datasets import make_interactions

    return make_interactions(n_users=300, n_items=200, random_state=0).data
