import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.utils._sparse import (
    clean_csr_arrays,
    clean_csr_copy,
    restrict_to_touched_items,
)


def _matrix(dtype=np.float64):
    return sp.csr_matrix(np.array([[0.0, 2.0, 0.0, 1.0], [3.0, 0.0, 0.0, 0.0]], dtype=dtype))


def test_clean_csr_arrays_shares_what_it_can_and_equals_the_copy():
    X = _matrix(np.float32)
    R = clean_csr_arrays(X, np.float32)
    assert R.data is X.data and R.indices is X.indices and R.indptr is X.indptr
    assert R.shape == X.shape and R.nnz == X.nnz and R.has_canonical_format
    X64 = _matrix(np.float64)
    view = clean_csr_arrays(X64, np.float32)
    assert view.dtype == np.float32 and np.shares_memory(view.indices, X64.indices)
    np.testing.assert_array_equal(view.tocsr().toarray(), clean_csr_copy(X64, np.float32).toarray())


@pytest.mark.parametrize("kind", ["explicit zero", "unsorted", "coo"])
def test_clean_csr_arrays_copies_and_cleans_anything_else(kind):
    data, indices, indptr = [1.0, 2.0, 3.0], [3, 1, 0], [0, 2, 3]
    if kind == "explicit zero":
        data = [0.0, 2.0, 3.0]
        indices = [0, 1, 0]
    X = sp.csr_matrix((np.array(data), np.array(indices), np.array(indptr)), shape=(2, 4))
    if kind == "coo":
        X = X.tocoo()
    before = X.copy()
    out = clean_csr_arrays(X, np.float32)
    assert out.dtype == np.float32 and out.tocsr().has_sorted_indices
    assert out.data.all() and not np.shares_memory(out.indices, X.tocsr().indices)
    np.testing.assert_allclose(out.tocsr().toarray(), before.toarray())
    np.testing.assert_array_equal(X.toarray(), before.toarray())  # caller's matrix untouched


def test_restrict_to_touched_items_one_row_and_many_agree():
    rng = np.random.RandomState(0)
    X = sp.random(5, 200, density=0.03, format="csr", random_state=rng, dtype=np.float32)
    for rows in ([2], [0, 3, 4]):
        R = X[rows]
        R_items, items = restrict_to_touched_items(R, X.shape[1])
        assert items is not None
        np.testing.assert_array_equal(items, np.unique(R.indices))
        np.testing.assert_array_equal(R_items.toarray(), R.toarray()[:, items])
