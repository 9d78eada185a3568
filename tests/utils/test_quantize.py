"""Post-fit compression of factor matrices (``utils/_quantize.py``) and ``quantize``."""

import pickle

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_musicrec import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.content import FeatureFactorizer
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.utils._quantize import (
    QuantizedArray,
    as_dense,
    matmul_t,
    quantize_rows,
    take_rows,
)

RNG = np.random.default_rng(0)
A = (RNG.normal(size=(300, 64)) * RNG.uniform(0.01, 5, size=(300, 1))).astype(np.float32)


@pytest.mark.parametrize("dtype, bound", [("float16", 1e-3), ("int8", 0.5 / 127)])
def test_quantize_rows_error_is_bounded_per_row(dtype, bound):
    q = quantize_rows(A, dtype)
    assert isinstance(q, QuantizedArray) and q.shape == A.shape and q.kind == dtype
    err = np.abs(np.asarray(q) - A).max(axis=1)
    peak = np.abs(A).max(axis=1)
    assert np.all(err <= bound * peak + 1e-7)
    assert q.nbytes < A.nbytes / (1.9 if dtype == "float16" else 3.5)


def test_int8_is_symmetric_with_a_zero_row():
    B = A.copy()
    B[3] = 0.0
    q = quantize_rows(B, "int8")
    assert q.codes.dtype == np.int8 and q.codes.min() >= -127 and q.codes.max() <= 127
    assert np.all(np.abs(q.codes).max(axis=1)[np.arange(300) != 3] == 127)
    assert q.scales[3] == 0 and not q.codes[3].any()
    np.testing.assert_array_equal(quantize_rows(-B, "int8").codes, -q.codes)


@pytest.mark.parametrize("dtype", ["float16", "int8"])
def test_helpers_agree_with_the_dequantized_matrix(dtype):
    q = quantize_rows(A, dtype)
    dense = as_dense(q)
    U = RNG.normal(size=(5, 64)).astype(np.float32)
    np.testing.assert_allclose(matmul_t(U, q), U @ dense.T, rtol=1e-5, atol=1e-4)
    out = np.empty((5, 300), dtype=np.float32)
    assert matmul_t(U, q, out=out) is out
    rows = np.array([7, 0, 299])
    np.testing.assert_array_equal(take_rows(q, rows), dense[rows])
    np.testing.assert_array_equal(matmul_t(U, A), U @ A.T)  # plain arrays pass through
    assert as_dense(A) is A
    restored = pickle.loads(pickle.dumps(q))
    np.testing.assert_array_equal(np.asarray(restored), dense)


def test_quantize_rows_refuses_unknown_dtypes():
    with pytest.raises(ValueError, match="dtype must be one of"):
        quantize_rows(A, "int4")


X = make_interactions(n_users=300, n_items=400, mean_items_per_user=15, random_state=0).data

MODELS = [
    ALSFactorizer(n_components=16, max_iter=5, random_state=0),
    ALSFactorizer(n_components=16, feedback="explicit", random_state=0),
    SGDFactorizer(n_components=16, max_iter=10, random_state=0),
    FeatureFactorizer(n_components=16, max_iter=10, random_state=0),
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: repr(m)[:40])
def test_int8_models_keep_their_rankings_and_shrink(model):
    model = model.fit(X)
    ids, _ = model.recommend(X, k=10)
    size = len(pickle.dumps(model))
    factor_bytes = sum(getattr(model, name).nbytes for name in model._quantized_attributes)
    assert model.quantize("int8") is model and model.quantized_dtype_ == "int8"
    q_bytes = sum(getattr(model, name).nbytes for name in model._quantized_attributes)
    assert q_bytes * 3.0 <= factor_bytes  # (4 + 16) bytes per row of 16 float32
    assert len(pickle.dumps(model)) < size - 0.6 * factor_bytes
    q_ids, _ = model.recommend(X, k=10)
    overlap = np.mean([np.intersect1d(a, b).size / 10 for a, b in zip(ids, q_ids)])
    assert overlap >= 0.9
    # new users are folded in against the dequantized factors; one row = the batch
    np.testing.assert_array_equal(model.recommend(X[[4]], k=10)[0][0], q_ids[4])


def test_quantize_errors_and_refit():
    with pytest.raises(NotFittedError):
        ALSFactorizer().quantize("int8")
    model = ALSFactorizer(n_components=4, max_iter=2, random_state=0).fit(X)
    with pytest.raises(ValueError, match=r"dtype passed to ALSFactorizer.quantize .* got 'int4'"):
        model.quantize("int4")
    assert model.quantized_dtype_ is None
    model.quantize("float16")
    assert model.item_factors_.codes.dtype == np.float16
    model.quantize("int8")  # from the dequantized float16 values
    assert model.quantized_dtype_ == "int8"
    model.fit(X)
    assert model.quantized_dtype_ is None and isinstance(model.item_factors_, np.ndarray)
    assert not hasattr(ALSFactorizer(), "quantized_dtype_")
