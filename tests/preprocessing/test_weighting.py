"""BM25Weighting, TfidfWeighting and LogScaling against direct formulas."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.preprocessing import Binarizer

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.preprocessing import BM25Weighting, LogScaling, TfidfWeighting


@pytest.fixture(scope="module")
def plays():
    return make_interactions(n_users=80, n_items=50, random_state=0).data


def _bm25_reference(train, X, k1, b):
    T, D = train.toarray(), X.toarray()
    n_users = T.shape[0]
    df = (T > 0).sum(axis=0)
    idf = np.log(1 + (n_users - df + 0.5) / (df + 0.5))
    avg = T.sum(axis=1).mean()
    length = D.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = D * (k1 + 1) / (D + k1 * (1 - b + b * length / avg))
    return np.where(D > 0, w * idf, 0.0)


@pytest.mark.parametrize("k1, b", [(1.2, 0.75), (100.0, 0.8), (0.0, 0.5), (3.0, 0.0)])
def test_bm25_matches_formula(plays, k1, b):
    train, new = plays[:60], plays[60:]
    model = BM25Weighting(k1=k1, b=b).fit(train)
    out = model.transform(new)
    assert sp.issparse(out) and out.format == "csr"
    np.testing.assert_allclose(out.toarray(), _bm25_reference(train, new, k1, b), rtol=1e-12)


@pytest.mark.parametrize("tf", ["log", "raw", "binary"])
@pytest.mark.parametrize("norm", [None, "l1", "l2"])
def test_tfidf_matches_formula(plays, tf, norm):
    train, new = plays[:60], plays[60:]
    out = TfidfWeighting(tf=tf, norm=norm).fit(train).transform(new).toarray()
    T, D = train.toarray(), new.toarray()
    idf = np.log((1 + T.shape[0]) / (1 + (T > 0).sum(axis=0))) + 1
    tf_values = {"log": np.log1p(D), "raw": D, "binary": (D > 0) * 1.0}[tf]
    expected = tf_values * idf
    if norm is not None:
        totals = np.abs(expected).sum(axis=1) if norm == "l1" else np.linalg.norm(expected, axis=1)
        expected = expected / np.where(totals == 0, 1, totals)[:, None]
    np.testing.assert_allclose(out, expected, rtol=1e-12)


def test_tfidf_raw_l2_equals_sklearn_tfidf_transformer(plays):
    ours = TfidfWeighting(tf="raw", norm="l2").fit_transform(plays)
    theirs = TfidfTransformer(norm="l2", smooth_idf=True).fit_transform(plays)
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-12)


@pytest.mark.parametrize("a, eps", [(1.0, 1.0), (40.0, 0.01), (0.0, 2.0)])
def test_log_scaling_matches_formula(plays, a, eps):
    out = LogScaling(confidence_scale=a, epsilon=eps).fit_transform(plays).toarray()
    D = plays.toarray()
    np.testing.assert_allclose(out, np.where(D > 0, 1 + a * np.log1p(D / eps), 0.0), rtol=1e-12)


@pytest.mark.parametrize("Weighting", [BM25Weighting, TfidfWeighting, LogScaling])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pattern_dtype_format_and_input_kept(plays, Weighting, dtype):
    X = plays.astype(dtype)
    X_before = X.copy()
    out = Weighting().fit_transform(X)
    assert out.dtype == dtype and sp.issparse(out)
    np.testing.assert_array_equal(out.indptr, X.indptr)
    np.testing.assert_array_equal(out.indices, X.indices)
    assert np.all(out.data > 0)
    assert (X != X_before).nnz == 0  # input untouched
    dense = Weighting().fit_transform(X.toarray())
    assert isinstance(dense, np.ndarray)
    np.testing.assert_allclose(dense, out.toarray(), rtol=1e-6)


def test_bm25_learns_on_training_users_only(plays):
    model = BM25Weighting().fit(plays[:40])
    # transforming one row does not depend on the other rows transformed with it
    together = model.transform(plays[40:]).toarray()
    alone = np.vstack([model.transform(plays[i : i + 1]).toarray() for i in range(40, 80)])
    np.testing.assert_array_equal(together, alone)  # bit for bit (one compiled pass per row)
    refit = BM25Weighting().fit(plays).transform(plays[40:]).toarray()
    assert not np.allclose(refit, together)


def test_bm25_saturates_and_favours_rare_items():
    X = sp.csr_matrix(np.array([[1.0, 1000.0, 0.0], [1.0, 0.0, 0.0], [1.0, 0.0, 2.0]]))
    out = BM25Weighting(k1=1.2, b=0.0).fit_transform(X).toarray()
    assert out[0, 1] < (1.2 + 1) * BM25Weighting().fit(X).idf_[1] + 1e-12  # saturation bound
    idf = BM25Weighting().fit(X).idf_
    assert idf[0] < idf[1]  # the item everyone plays weighs least


def test_negative_input_is_rejected(plays):
    X = plays.copy()
    X.data[0] = -1.0
    for Weighting in (BM25Weighting, TfidfWeighting, LogScaling):
        with pytest.raises(ValueError, match="Negative values"):
            Weighting().fit(X)


def test_sklearn_binarizer_keeps_sparse_input_sparse(plays):
    """Documented in preprocessing: Binarizer needs no re-implementation."""
    out = Binarizer().fit_transform(plays)
    assert sp.issparse(out) and out.nnz == plays.nnz
    assert set(np.unique(out.data)) == {1.0}
