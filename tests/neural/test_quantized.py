"""``quantize`` on the neural models (sklearn_musicrec/neural/_quantized.py).

The common tests run the harness's ``check_quantized`` on both models at
their ``TEST_PARAMS``; these tests cover what is specific to the neural case:
which layers are compressed, that the float weights and the optimiser state
are really gone, scores equal to the float network with the dequantised
weights, fold-in, pickling, refit and the inference-only rule.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn_musicrec.datasets import make_interactions  # noqa: E402
from sklearn_musicrec.model_selection import holdout_split  # noqa: E402
from sklearn_musicrec.neural import (  # noqa: E402
    DeepCFRecommender,
    MultVAERecommender,
    _quantized,  # noqa: E402
)
from sklearn_musicrec.utils._quantize import QuantizedArray  # noqa: E402
from sklearn_musicrec.utils.estimator_checks import recommender_checks  # noqa: E402

SMALL = {
    DeepCFRecommender: dict(
        n_components=32, hidden_layer_sizes=(16,), max_epochs=3, lr=0.01, batch_size=256
    ),
    MultVAERecommender: dict(
        n_components=16, hidden_layer_sizes=(32,), max_epochs=10, lr=0.01, batch_size=64
    ),
}
MODELS = list(SMALL)
LAYERS = {
    DeepCFRecommender: ("item_in", "item_out"),
    MultVAERecommender: ("first", "decoder.1"),
}


def small(cls, **params):
    return cls(**{**SMALL[cls], "random_state": 0, **params})


@pytest.fixture(scope="module")
def data():
    bunch = make_interactions(n_users=400, n_items=500, mean_items_per_user=15, random_state=0)
    X = sp.csr_matrix(bunch.data)
    # the last 50 users are never seen in fit: they are folded in
    return bunch, X[:350], X[350:]


@pytest.fixture(scope="module")
def fitted(data):
    _, train, _ = data
    return {cls: small(cls).fit(train) for cls in MODELS}


def _item_side_bytes(model):
    return sum(a.nbytes for a in model._quantizable_arrays().values())


def _overlap(a, b, k):
    return np.mean([np.intersect1d(x[x >= 0], y[y >= 0]).size / k for x, y in zip(a, b)])


@pytest.mark.parametrize("dtype", ["float16", "int8"])
@pytest.mark.parametrize("cls", MODELS)
def test_quantized_model_ranks_like_the_float_one_and_shrinks(cls, dtype, data, fitted):
    _, train, new = data
    model = fitted[cls]
    ids, _ = model.recommend(train, k=20)
    new_ids, _ = model.recommend(new, k=20)
    size, item_bytes = len(pickle.dumps(model)), _item_side_bytes(model)

    q = copy.deepcopy(model)
    assert q.quantize(dtype) is q and q.quantized_dtype_ == dtype
    ratio = item_bytes / _item_side_bytes(q)
    # float16: 2x; int8: 4 bytes -> 1 per entry plus a 4-byte scale per row
    assert ratio == pytest.approx(2.0) if dtype == "float16" else ratio >= 3.5
    saved = item_bytes - _item_side_bytes(q)
    assert len(pickle.dumps(q)) < size - 0.9 * saved
    assert model.quantized_dtype_ is None, "quantize changed another copy"

    q_ids, _ = q.recommend(train, k=20)
    floor = 0.97 if dtype == "float16" else 0.9
    assert _overlap(ids, q_ids, 20) >= floor
    # new users (never seen in fit) are folded in from their rows alone
    q_new, q_scores = q.recommend(new, k=20)
    assert np.isfinite(q_scores).all()
    assert _overlap(new_ids, q_new, 20) >= floor
    for row in (0, 7):
        np.testing.assert_array_equal(q.recommend(new[[row]], k=20)[0][0], q_new[row])


@pytest.mark.parametrize("cls", MODELS)
def test_scores_equal_the_float_network_with_the_dequantized_weights(cls, data, fitted):
    """The quantised layers compute exactly what float layers holding the rounded values do."""
    _, train, new = data
    q = copy.deepcopy(fitted[cls]).quantize("int8")
    reference = copy.deepcopy(fitted[cls])
    module = reference.net_.module_
    with torch.no_grad():
        for path, weight_q in q._quantizable_arrays().items():
            module.get_submodule(path).weight.copy_(torch.from_numpy(np.asarray(weight_q)))
    for X in (train, new):
        np.testing.assert_allclose(
            q.decision_function(X), reference.decision_function(X), rtol=1e-5, atol=1e-5
        )


@pytest.mark.parametrize("cls", MODELS)
def test_the_float_item_weights_and_the_optimizer_state_are_gone(cls, data, fitted):
    _, train, _ = data
    model = small(cls, max_epochs=1).fit(train)  # (a deep copy is an unpickled model)
    n_items = train.shape[1]
    net = model.net_
    assert len(net.optimizer_.state) > 0, "Adam's moments exist after fit"
    model.quantize("int8")
    module = net.module_
    for path in LAYERS[cls]:
        layer = module.get_submodule(path)
        assert isinstance(layer, _quantized._QuantizedLayer)
        assert not list(layer.parameters())
        assert layer.weight_q.codes.dtype == np.int8
    # no parameter, buffer or saved tensor of the catalogue's size in float32 is left
    # (DeepCF's item biases, (n_items, 1), and its sampling buffers stay)
    for name, tensor in [*module.named_parameters(), *module.state_dict().items()]:
        assert not (tensor.dim() == 2 and tensor.shape[0] == n_items and tensor.shape[1] > 1), name
    assert len(net.optimizer_.state) == 0
    kept = {id(p) for group in net.optimizer_.param_groups for p in group["params"]}
    assert kept == {id(p) for p in module.parameters()}


def test_multvae_scoring_never_dequantizes_a_whole_layer(data, fitted, monkeypatch):
    """Mult-VAE reads the rows of a batch's items and the decoder block by block."""
    _, train, _ = data
    q = copy.deepcopy(fitted[MultVAERecommender]).quantize("int8")
    expected = q.decision_function(train)

    dequantize = QuantizedArray.dequantize

    def rows_only(self, rows=None):
        assert rows is not None, "a whole quantised matrix was dequantised"
        return dequantize(self, rows)

    monkeypatch.setattr(QuantizedArray, "dequantize", rows_only)
    np.testing.assert_array_equal(q.decision_function(train), expected)


def test_deepcf_keeps_the_fused_kernel_and_the_features(data, monkeypatch):
    from sklearn_musicrec.neural import _pair_mlp_numba

    bunch, train, new = data
    model = small(DeepCFRecommender, item_features=bunch.item_tags).fit(train)
    expected = model.recommend(new, k=20)[0]
    model.quantize("int8")
    assert model.net_.module_.feature_bag.weight_q.shape[0] == bunch.item_tags.shape[1]
    calls = []
    kernel = _pair_mlp_numba.add_relu_dot
    monkeypatch.setattr(_pair_mlp_numba, "add_relu_dot", lambda *a: calls.append(1) or kernel(*a))
    got = model.recommend(new, k=20)[0]
    assert calls, "the fused CPU kernel is not used after quantize"
    assert _overlap(expected, got, 20) >= 0.9


@pytest.mark.parametrize("cls", MODELS)
def test_pickle_round_trip_keeps_the_quantized_layers(cls, data, fitted):
    _, train, new = data
    q = copy.deepcopy(fitted[cls]).quantize("int8")
    restored = pickle.loads(pickle.dumps(q))
    assert restored.quantized_dtype_ == "int8"
    np.testing.assert_array_equal(restored.decision_function(new), q.decision_function(new))
    module = restored.net_.module_
    assert all(isinstance(module.get_submodule(p), _quantized._QuantizedLayer) for p in LAYERS[cls])
    # the randomly initialised float layers built while loading are not kept
    kept = {id(p) for group in restored.net_.optimizer_.param_groups for p in group["params"]}
    assert kept == {id(p) for p in module.parameters()}
    state = q.__getstate__()
    weights = torch.load(__import__("io").BytesIO(state["_module_state"]), weights_only=True)
    assert not any(key.startswith(LAYERS[cls]) and key.endswith("weight") for key in weights)
    assert set(state["_quantized_layers_state"]) == set(LAYERS[cls])


@pytest.mark.parametrize("cls", MODELS)
def test_requantize_refit_and_training_after_quantize(cls, data, fitted):
    _, train, _ = data
    model = copy.deepcopy(fitted[cls])
    model.quantize("float16")
    model.quantize("int8")  # from the dequantised float16 values
    assert model.quantized_dtype_ == "int8"
    # a training step (what net_.partial_fit runs) refuses the quantised layers
    _, collate = model._training_data(model._scale(train))
    batch, _ = collate(list(range(8)))
    module = model.net_.module_
    module.train()
    with pytest.raises(RuntimeError, match="inference-only.*fit the estimator again"):
        module(**batch)
    module.eval()
    model.fit(train)
    assert model.quantized_dtype_ is None
    module = model.net_.module_
    assert not any(
        isinstance(module.get_submodule(p), _quantized._QuantizedLayer) for p in LAYERS[cls]
    )
    np.testing.assert_allclose(
        model.decision_function(train), fitted[cls].decision_function(train), rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("cls", MODELS)
def test_errors(cls, data):
    _, train, _ = data
    with pytest.raises(NotFittedError):
        small(cls).quantize("int8")
    assert not hasattr(small(cls), "quantized_dtype_")
    model = small(cls, max_epochs=1).fit(train)
    with pytest.raises(ValueError, match=rf"dtype passed to {cls.__name__}.quantize .* got 'int4'"):
        model.quantize("int4")
    assert model.quantized_dtype_ is None


def test_early_stopping_copy_of_the_best_weights_is_dropped(data):
    _, train, _ = data
    model = small(MultVAERecommender, early_stopping=True, max_epochs=3).fit(train)
    stopper = dict(model.net_.callbacks_)["early_stopping"]
    assert stopper.best_model_weights_ is not None
    model.quantize("int8")
    assert stopper.best_model_weights_ is None


@pytest.mark.parametrize("cls", MODELS)
def test_the_shared_harness_checks_the_quantized_models(cls):
    # tests/test_common.py runs check_quantized (float16 and int8: the main
    # checks rerun on the compressed model, top-10 overlap, smaller pickle)
    # on every recommender with a quantize method, these two included
    assert "check_quantized" in {check.func.__name__ for check in recommender_checks(small(cls))}


def test_holdout_quality_is_kept(data):
    """On planted data, int8 Mult-VAE loses at most 2% of the float model's NDCG@10."""
    from sklearn_musicrec.metrics import ndcg_at_k

    _, X, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, test = holdout_split(X, test_size=0.2, random_state=0)
        model = small(MultVAERecommender).fit(train)
        base = ndcg_at_k(test, model.recommend(train, k=10)[0], k=10)
        q = model.quantize("int8")
        got = ndcg_at_k(test, q.recommend(train, k=10)[0], k=10)
    assert got >= 0.98 * base


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("cls", MODELS)
def test_quantized_cuda_model_scores_and_pickles_to_host(cls, data):
    _, train, new = data
    model = small(cls, device="cuda").fit(train)
    ids, _ = model.recommend(new, k=20)
    model.quantize("int8")
    q_ids, _ = model.recommend(new, k=20)
    assert _overlap(ids, q_ids, 20) >= 0.9
    restored = pickle.loads(pickle.dumps(model))
    assert restored.quantized_dtype_ == "int8"
    np.testing.assert_allclose(
        restored.decision_function(new), model.decision_function(new), rtol=1e-5, atol=1e-5
    )
