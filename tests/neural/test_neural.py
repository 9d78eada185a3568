"""Tests of sklearn_musicrec/neural: DeepCFRecommender and MultVAERecommender.

The common tests (tests/test_common.py) run scikit-learn's checks and the
recommender harness on both; these tests cover what is specific to them.
Settings are tiny so that each test takes a few seconds on CPU.
"""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")

from sklearn_musicrec import PopularityRecommender, RandomRecommender  # noqa: E402
from sklearn_musicrec.datasets import make_interactions  # noqa: E402
from sklearn_musicrec.metrics import ndcg_at_k  # noqa: E402
from sklearn_musicrec.model_selection import cold_item_split, holdout_split  # noqa: E402
from sklearn_musicrec.neural import (  # noqa: E402
    DeepCFRecommender,
    MultVAERecommender,
    _base,  # noqa: E402
)

SMALL = {
    # per-user examples (the default) in batches of 32 users, few negatives
    # per target (the planted catalogue has 300 items; the lastfm defaults'
    # 8,192 batch-shared negatives are for a large catalogue)
    DeepCFRecommender: dict(
        n_components=16,
        hidden_layer_sizes=(16,),
        max_epochs=10,
        lr=0.01,
        batch_size=32,
        n_negatives=4,
        negative_sharing="example",
        negative_weight=1.0,
        target_fraction=0.2,
        dropout=0.1,
    ),
    # dropout and KL cap of the paper (the lastfm-tuned defaults, 0.7 and 1.0,
    # regularise 20 tiny epochs too much for the loss and planted checks)
    MultVAERecommender: dict(
        n_components=16,
        hidden_layer_sizes=(32,),
        max_epochs=20,
        lr=0.01,
        batch_size=64,
        dropout=0.5,
        anneal_cap=0.2,
    ),
}
MODELS = list(SMALL)
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def small(cls, **params):
    return cls(**{**SMALL[cls], "random_state": 0, **params})


@pytest.fixture(scope="module")
def planted():
    bunch = make_interactions(n_users=500, n_items=300, popularity_exponent=0.5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, test = holdout_split(bunch.data, test_size=0.2, random_state=0)
    return bunch, sp.csr_matrix(train), sp.csr_matrix(test)


def _ndcg(model, train, test, k=10, items=None):
    ids, _ = model.recommend(train, k=k, items=items)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return ndcg_at_k(test, ids, k=k)


@pytest.mark.parametrize("cls", MODELS)
def test_loss_decreases(cls, planted):
    _, train, _ = planted
    model = small(cls).fit(train)
    loss = model.net_.history[:, "train_loss"]
    assert len(loss) == model.n_epochs_ == SMALL[cls]["max_epochs"]
    assert loss[-1] < 0.9 * loss[0], loss


@pytest.mark.parametrize("cls", MODELS)
def test_planted_structure_well_above_popularity(cls, planted):
    _, train, test = planted
    ndcg = _ndcg(small(cls).fit(train), train, test)
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert ndcg >= 1.25 * popular, (ndcg, popular)


@pytest.mark.parametrize("cls", MODELS)
def test_fold_in_of_a_new_user(cls, planted):
    _, train, _ = planted
    seen, new = train[:-20], train[-20:]
    model = small(cls).fit(seen)
    D_new = model.decision_function(new)
    # the user vector is computed from the row: a new user with a seen user's
    # history gets exactly that user's scores, and the scores follow the row
    np.testing.assert_array_equal(
        model.decision_function(sp.vstack([seen[:3], new[:3]]))[3:], D_new[:3]
    )
    assert not np.allclose(D_new[0], D_new[1])
    np.testing.assert_allclose(
        model.decision_function(seen[5]), model.decision_function(sp.csr_matrix(seen[5]))
    )


def test_target_is_masked_from_the_history():
    from sklearn_musicrec.neural._modules import deepcf_training_data

    X = sp.csr_matrix(np.array([[1, 0, 2, 3], [0, 4, 0, 0], [5, 6, 7, 0]], dtype=np.float32))
    dataset, collate = deepcf_training_data(X)
    assert len(dataset) == X.nnz
    inputs, _ = collate(list(range(X.nnz)))
    history = inputs["history"].to_dense().numpy()
    targets = inputs["targets"].numpy()
    rows = np.repeat(np.arange(3), np.diff(X.indptr))
    dense = X.toarray()
    for e in range(X.nnz):
        expected = dense[rows[e]] > 0
        expected[targets[e]] = False
        np.testing.assert_array_equal(history[e] > 0, expected)
        if expected.any():  # L2-normalised weights of the remaining items
            np.testing.assert_allclose(np.linalg.norm(history[e]), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(targets, X.indices)


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.7])
def test_user_examples_hide_their_targets_from_the_history(fraction):
    from sklearn_musicrec.neural._modules import deepcf_training_data

    X = sp.csr_matrix(make_interactions(n_users=30, n_items=20, random_state=0).data)
    X.data[:] = np.arange(1, X.nnz + 1)  # distinct values: the history keeps its weights
    dataset, collate = deepcf_training_data(X, "users", fraction)
    assert len(dataset) == X.shape[0]
    torch.manual_seed(0)
    inputs, _ = collate(list(range(X.shape[0])))
    history = inputs["history"].to_dense().numpy()
    targets = inputs["targets"].to_dense().numpy()
    dense = X.toarray()
    lengths = np.diff(X.indptr)
    np.testing.assert_array_equal((history > 0) | (targets > 0), dense > 0)
    assert not ((history > 0) & (targets > 0)).any()
    expected = np.clip(np.ceil(fraction * lengths), 1, np.maximum(lengths - 1, 1))
    np.testing.assert_array_equal((targets > 0).sum(axis=1), np.where(lengths > 0, expected, 0))
    assert ((history > 0).sum(axis=1) >= 1)[lengths >= 2].all()
    # the remaining items keep their weight in the whole L2-normalised row,
    # scaled by 1 / (1 - fraction) (inverted dropout)
    scaled = dense / np.linalg.norm(dense, axis=1, keepdims=True) / (1 - fraction)
    np.testing.assert_allclose(history, np.where(history > 0, scaled, 0), rtol=1e-6)
    torch.manual_seed(1)  # another draw hides other items
    again = collate(list(range(X.shape[0])))[0]["targets"].to_dense().numpy()
    assert not np.array_equal(again, targets)


@pytest.fixture(params=["dense", "sorted"])
def seen_lookup(request, monkeypatch):
    """Run a test with either lookup of a batch's seen items (dense table or sorted keys)."""
    from sklearn_musicrec.neural import _modules

    if request.param == "sorted":
        monkeypatch.setattr(_modules, "_DENSE_SEEN_ELEMENTS", 0)
    return request.param


@pytest.mark.parametrize("sharing", ["example", "batch"])
def test_user_examples_negatives_skip_history_and_targets(sharing, seen_lookup):
    from sklearn_musicrec.neural._modules import DeepCFModule

    n_items = 6
    # non-uniform weights: 40 draws are sampled (uniform draws of at least
    # the whole catalogue are replaced by every item once)
    weights = np.arange(1, n_items + 1) / (n_items * (n_items + 1) / 2)
    module = DeepCFModule(n_items, 4, (4,), 0.0, 40, weights, negative_sharing=sharing)
    # row 0: history {0, 1}, targets {2, 3}; row 1: history {}, target {5}
    history = _base.csr_batch_tensor(
        torch, sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]))
    )
    targets = _base.csr_batch_tensor(
        torch, sp.csr_matrix(np.array([[0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 0, 1]])), normalize=False
    )
    torch.manual_seed(0)
    positive, negative, mask = module(history, targets)
    assert positive.shape == (3,)
    torch.manual_seed(0)
    drawn = module._sample(40 if sharing == "batch" else 120)
    if sharing == "batch":
        drawn = drawn[None, :].expand(2, -1)
        allowed = torch.stack([drawn[0] >= 4, drawn[1] != 5])
    else:
        drawn = drawn.view(3, 40)
        allowed = torch.stack([drawn[0] >= 4, drawn[1] >= 4, drawn[2] != 5])
    assert negative.shape == drawn.shape
    assert torch.equal(mask, allowed)
    assert mask.any() and not mask.all()


@pytest.mark.parametrize("weight", [1.0, 0.25])
def test_deepcf_loss_weighs_the_unmasked_negatives(weight):
    from sklearn_musicrec.neural._modules import DeepCFLoss

    def bce(s, y):
        return -np.log(1 / (1 + np.exp(-s))) if y else -np.log(1 - 1 / (1 + np.exp(-s)))

    logits = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.2]], dtype=np.float32)
    mask = np.array([[True, True, False], [True, True, True]])
    terms = [bce(logits[0, 0], 1), bce(logits[1, 0], 1)]
    negatives = [bce(logits[0, 1], 0), bce(logits[1, 1], 0), bce(logits[1, 2], 0)]
    expected = (sum(terms) + weight * sum(negatives)) / (2 + weight * 3)
    loss = DeepCFLoss(weight)((torch.as_tensor(logits), torch.as_tensor(mask)))
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # the per-user layout: the same pairs, targets and negatives apart
    split = DeepCFLoss(weight)(
        (
            torch.as_tensor(logits[:, 0]),
            torch.as_tensor(logits[:, 1:]),
            torch.as_tensor(mask[:, 1:]),
        )
    )
    np.testing.assert_allclose(float(split), expected, rtol=1e-5)


def test_negatives_are_checked_against_the_history(seen_lookup):
    from sklearn_musicrec.neural._modules import DeepCFModule

    n_items = 6
    module = DeepCFModule(n_items, 4, (4,), 0.0, 50, np.full(n_items, 1 / n_items))
    # user 0 has seen items 0-3 and is trained on item 4; user 1 saw nothing else
    history = _base.csr_batch_tensor(
        torch, sp.csr_matrix(np.array([[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]]))
    )
    torch.manual_seed(0)
    negatives, unseen = module._negatives(history, torch.tensor([4, 2]))
    expected = torch.stack([negatives[0] == 5, negatives[1] != 2])
    assert torch.equal(unseen, expected)
    assert unseen.any() and not unseen.all()


def test_batch_shared_negatives_are_checked_against_each_history(seen_lookup):
    from sklearn_musicrec.neural._modules import DeepCFModule

    n_items = 6
    weights = np.arange(1, n_items + 1) / (n_items * (n_items + 1) / 2)  # sampled, see above
    module = DeepCFModule(n_items, 4, (4,), 0.0, 50, weights, negative_sharing="batch")
    history = _base.csr_batch_tensor(
        torch, sp.csr_matrix(np.array([[1, 1, 1, 1, 0, 0], [0, 0, 0, 0, 0, 0]]))
    )
    torch.manual_seed(0)
    negatives, unseen = module._negatives(history, torch.tensor([4, 2]))
    assert negatives.shape == (50,) and unseen.shape == (2, 50)
    expected = torch.stack([negatives == 5, negatives != 2])
    assert torch.equal(unseen, expected)
    torch.manual_seed(0)  # the same draw in the forward pass
    logits, mask = module(history, torch.tensor([4, 2]))
    assert logits.shape == (2, 51) and mask[:, 0].all()
    assert torch.equal(mask[:, 1:], unseen)


@pytest.mark.parametrize("examples", ["interactions", "users"])
def test_small_catalogue_shares_every_item_once_at_its_expected_count(examples):
    """Uniform shared negatives of at least the catalogue: every item once, weighted."""
    from sklearn_musicrec.neural._modules import DeepCFLoss, DeepCFModule

    n_items = 6
    weights = np.full(n_items, 1 / n_items)
    weights[5] = 0.0  # an item without interactions is never a negative
    weights /= weights.sum()
    module = DeepCFModule(n_items, 4, (4,), 0.0, 40, weights, negative_sharing="batch")
    history = _base.csr_batch_tensor(
        torch, sp.csr_matrix(np.array([[1, 1, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0]]))
    )
    if examples == "users":
        targets = _base.csr_batch_tensor(
            torch,
            sp.csr_matrix(np.array([[0, 0, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0]])),
            normalize=False,
        )
        positive, negative, mask = module(history, targets)
    else:
        logits, mask = module(history, torch.tensor([2, 3]))
        positive, negative, mask = logits[:, 0], logits[:, 1:], mask[:, 1:]
    assert negative.shape == (2, 5)  # items 0-4, once each
    count = 40 / 5  # the expected number of draws of each of the 5 items
    expected = torch.tensor([[0, 0, 0, 1, 1], [1, 1, 1, 0, 1]], dtype=torch.float32) * count
    torch.testing.assert_close(mask, expected)
    # the loss counts each negative as often as a draw of 40 would
    loss = DeepCFLoss(0.5)((positive, negative, mask))
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    terms = (
        bce(positive, torch.ones_like(positive), reduction="sum")
        + 0.5 * (bce(negative, torch.zeros_like(negative), reduction="none") * expected).sum()
    )
    torch.testing.assert_close(loss, terms / (2 + 0.5 * expected.sum()))


@pytest.mark.parametrize("features", [False, True])
def test_deepcf_item_side_gathered_for_many_ids_is_computed_per_id(planted, features):
    """Many training ids: ``B v`` of all items gathered equals ``B v`` per id."""
    bunch, train, _ = planted
    tags = bunch.item_tags if features else None
    model = small(DeepCFRecommender, item_features=tags, max_epochs=1).fit(train)
    module = model.net_.module_
    n_items = train.shape[1]
    ids = torch.as_tensor(np.random.RandomState(0).randint(n_items, size=(7, 3 * n_items // 7)))
    assert ids.numel() > n_items  # the gathered path
    with torch.no_grad():
        v, b, m = module._item_side(ids)
        v_all, b_all = module.item_vectors()
        np.testing.assert_allclose(v.numpy(), v_all[ids].numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(b.numpy(), b_all[ids].numpy(), rtol=1e-6, atol=1e-7)
        per_id = module.mlp_item(v_all[ids])
        np.testing.assert_allclose(m.numpy(), per_id.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "cls, params",
    [
        (DeepCFRecommender, {}),
        # batch-shared negatives: the compiled pair-MLP kernels train the MLP
        (
            DeepCFRecommender,
            dict(negative_sharing="batch", n_negatives=32, negative_weight=0.2, dropout=0.0),
        ),
        (MultVAERecommender, {}),
    ],
)
def test_same_model_at_one_or_two_threads(cls, params, monkeypatch):
    from threadpoolctl import threadpool_limits

    # small: two threads on a busy two-core machine are slow
    train = make_interactions(n_users=100, n_items=50, random_state=0).data
    monkeypatch.setattr(_base, "_PARALLEL_MIN_WEIGHTS", 0)  # use the threads
    used = []
    monkeypatch.setattr(
        _base,
        "torch_num_threads",
        lambda n, _orig=_base.torch_num_threads: used.append(n) or _orig(n),
    )
    previous = torch.get_num_threads()
    with threadpool_limits(limits=1):
        D1 = small(cls, random_state=3, max_epochs=3, **params).fit(train).decision_function(train)
    with threadpool_limits(limits=2):
        D2 = small(cls, random_state=3, max_epochs=3, **params).fit(train).decision_function(train)
    assert torch.get_num_threads() == previous, "fit must restore torch's threads"
    assert 1 in used and 2 in used
    np.testing.assert_allclose(D1, D2, rtol=1e-5, atol=1e-6)
    D3 = small(cls, random_state=4, max_epochs=3, **params).fit(train).decision_function(train)
    assert not np.allclose(D1, D3, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("cls", MODELS)
def test_pickle_round_trip_is_host_only(cls, planted):
    _, train, _ = planted
    model = small(cls).fit(train)
    state = model.__getstate__()
    assert "net_" not in state and isinstance(state["_module_state"], bytes)
    assert "net_" in model.__dict__, "pickling must not touch the live model"
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.decision_function(train), model.decision_function(train))
    assert restored.net_.device == "cpu"


@pytest.mark.parametrize("cls", MODELS)
def test_model_fitted_on_cuda_unpickles_on_a_cpu_only_machine(cls, planted, monkeypatch):
    """Simulates skorch's CUDA -> CPU path: fitted on "cuda", loaded without CUDA."""
    _, train, _ = planted
    model = small(cls).fit(train)
    expected = model.decision_function(train[:20])
    model.device_ = "cuda"  # as if fitted on a GPU
    payload = pickle.dumps(model)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    loads = []
    real_load = torch.load
    monkeypatch.setattr(
        torch, "load", lambda *a, **kw: loads.append(kw.get("map_location")) or real_load(*a, **kw)
    )
    with pytest.warns(_base.DeviceWarning, match="no CUDA"):
        restored = pickle.loads(payload)
    assert loads == ["cpu"]
    assert restored.net_.device == "cpu"
    np.testing.assert_array_equal(restored.decision_function(train[:20]), expected)
    # all learned state is a host copy inside the pickle
    weights = real_load(
        __import__("io").BytesIO(model.__getstate__()["_module_state"]), weights_only=True
    )
    assert all(t.device.type == "cpu" for t in weights.values())


def test_cold_items_are_ranked_from_their_features():
    bunch = make_interactions(n_users=600, n_items=200, random_state=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, test = cold_item_split(bunch.data, test_size=0.2, random_state=0)
    cold = np.flatnonzero(test.getnnz(axis=0))
    users = np.flatnonzero(test.getnnz(axis=1) > 0)
    train, test = train[users], test[users]
    # SMALL's per-user batches of 32 and few negatives: enough steps on 600 users x 200 items
    params = dict(SMALL[DeepCFRecommender], max_epochs=8)
    model = DeepCFRecommender(item_features=bunch.item_tags, **params, random_state=0).fit(train)
    assert model._can_score_cold_items()  # the harness's check_cold_items covers it
    with_features = _ndcg(model, train, test, items=cold)
    blind = DeepCFRecommender(**params, random_state=0).fit(train)
    random = _ndcg(RandomRecommender(random_state=0).fit(train), train, test, items=cold)
    assert with_features >= 1.5 * random, (with_features, random)
    # without features the model knows nothing of a cold item: every cold item
    # gets the same score (its lists among them are then the tie rule's, the
    # lowest ids, which on this synthetic data are the popular ones), while
    # the features separate them
    blind_scores = blind.decision_function(train[:50])[:, cold]
    assert np.ptp(blind_scores, axis=1).max() < 1e-6
    assert np.ptp(model.decision_function(train[:50])[:, cold], axis=1).min() > 1e-3
    # items without interactions keep no id embedding: they are scored from features
    idle = model.net_.module_.item_out.weight[torch.as_tensor(cold)]
    assert torch.count_nonzero(idle) == 0


def test_item_features_are_validated(planted):
    _, train, _ = planted
    with pytest.raises(ValueError, match="one row per item"):
        small(DeepCFRecommender, item_features=sp.eye(10, 4)).fit(train)
    with pytest.raises(ValueError, match="non-negative"):
        small(DeepCFRecommender, item_features=-sp.eye(train.shape[1], 4)).fit(train)


def test_item_features_passed_to_fit_is_deprecated(planted):
    bunch, train, _ = planted
    tags = bunch.item_tags
    expected = small(DeepCFRecommender, item_features=tags, max_epochs=1).fit(train)
    model = small(DeepCFRecommender, max_epochs=1)
    with pytest.warns(FutureWarning, match=r"DeepCFRecommender\(item_features=\.\.\.\)"):
        model.fit(train, item_features=tags)
    assert model.item_features is None  # fit does not set parameters
    np.testing.assert_allclose(
        model.decision_function(train[:5]), expected.decision_function(train[:5]), rtol=1e-5
    )
    with pytest.raises(TypeError, match="both to the constructor and to fit"):
        small(DeepCFRecommender, item_features=tags).fit(train, item_features=tags)


def test_item_features_survive_clone_and_grid_search(planted):
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV

    from sklearn_musicrec.metrics import make_recommendation_scorer

    bunch, train, _ = planted
    model = small(DeepCFRecommender, item_features=bunch.item_tags, max_epochs=1)
    assert clone(model).item_features is not None
    search = GridSearchCV(
        model,
        {"n_components": [4, 8]},
        cv=2,
        scoring=make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0),
    ).fit(train)
    assert search.best_estimator_.net_.module_.n_features == bunch.item_tags.shape[1]


@pytest.mark.parametrize("cls", MODELS)
def test_early_stopping_scores_validation_users(cls, planted, capsys):
    _, train, _ = planted
    model = small(cls, early_stopping=True, n_iter_no_change=2, max_epochs=30, verbose=1)
    model.fit(train)
    ndcg = model.net_.history[:, "valid_ndcg"]
    assert len(ndcg) == model.n_epochs_ <= 30
    assert all(0.0 <= v <= 1.0 for v in ndcg)
    out = capsys.readouterr().out
    assert "valid_ndcg" in out and "train_loss" in out  # skorch's epoch table
    if model.n_epochs_ < 30:  # stopped: the best epoch is n_iter_no_change back
        assert int(np.argmax(ndcg)) == model.n_epochs_ - 1 - 2


@pytest.mark.parametrize("cls", MODELS)
def test_quiet_by_default_and_binarises_play_counts(cls, planted, capsys):
    bunch, train, _ = planted
    model = small(cls, max_epochs=1).fit(train)
    assert capsys.readouterr().out == ""
    # binarize=0.0: play counts and their 0/1 pattern give the same model
    binary = small(cls, max_epochs=1).fit((train > 0).astype(np.float64))
    np.testing.assert_allclose(
        model.decision_function(train[:5]), binary.decision_function(train[:5]), rtol=1e-5
    )
    raw = small(cls, max_epochs=1, binarize=None).fit(train)
    assert not np.allclose(raw.decision_function(train[:5]), model.decision_function(train[:5]))


@pytest.mark.parametrize("cls", MODELS)
def test_parameter_errors_name_the_argument(cls, planted):
    _, train, _ = planted
    with pytest.raises(ValueError, match="hidden_layer_sizes"):
        small(cls, hidden_layer_sizes=(4, 0)).fit(train)
    with pytest.raises(ValueError, match="device"):
        small(cls, device="tpu").fit(train)
    with pytest.raises(ValueError, match="validation_fraction"):
        small(cls, early_stopping=True, validation_fraction=0.999).fit(train[:10])


@pytest.mark.parametrize(
    "param, value",
    [
        ("negative_sharing", "user"),
        ("examples", "rows"),
        ("target_fraction", 1.0),
        ("target_fraction", 0.0),
        ("negative_weight", 0.0),
        ("mlp_lr", 0.0),
    ],
)
def test_deepcf_training_parameters_are_validated(planted, param, value):
    _, train, _ = planted
    with pytest.raises(ValueError, match=param):
        small(DeepCFRecommender, **{param: value}).fit(train)


def test_dot_product_variant_without_mlp(planted):
    _, train, test = planted
    model = small(DeepCFRecommender, hidden_layer_sizes=()).fit(train)
    assert model.net_.module_.mlp_user is None
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert _ndcg(model, train, test) > popular


def test_multvae_default_linear_architecture(planted):
    # the default has no hidden layer: encoder and decoder are one linear map
    # each (the setting chosen on lastfm-2k), trained with torch's fused Adam
    _, train, test = planted
    model = MultVAERecommender(max_epochs=20, lr=0.01, random_state=0).fit(train)
    module = model.net_.module_
    assert len(module.encoder) == 0 and len(module.decoder) == 1
    assert module.first.weight.shape == (train.shape[1], 2 * model.n_components)
    assert model.net_.optimizer_.defaults["fused"] is True
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert _ndcg(model, train, test) >= 1.25 * popular


def test_batch_shared_negatives_learn(planted):
    _, train, test = planted
    model = small(
        DeepCFRecommender,
        examples="interactions",
        batch_size=256,
        negative_sharing="batch",
        n_negatives=16,
        max_epochs=10,
        # 10 epochs of 2 batches: the MLP needs the full learning rate here
        # (the default, a tenth of it, is lastfm's for 50 epochs of 30)
        mlp_lr=None,
    ).fit(train)
    losses = model.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert _ndcg(model, train, test) > 1.2 * popular


@pytest.mark.parametrize(
    "params",
    [
        dict(negative_sharing="example", batch_size=32, max_epochs=10),
        dict(negative_sharing="batch", n_negatives=128, batch_size=16, lr=0.02, max_epochs=20),
    ],
)
def test_user_examples_learn(planted, params):
    _, train, test = planted
    model = small(DeepCFRecommender, examples="users", **params).fit(train)
    losses = model.net_.history[:, "train_loss"]
    assert losses[-1] < losses[0]
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert _ndcg(model, train, test) > 1.2 * popular


def test_popularity_negatives(planted):
    _, train, test = planted
    model = small(DeepCFRecommender, negative_sampling="popularity").fit(train)
    weights = model.net_.module_.negative_weights.numpy()
    counts = np.bincount(train.indices, minlength=train.shape[1])
    np.testing.assert_allclose(weights, counts**0.75 / (counts**0.75).sum(), rtol=1e-5)


def test_lastfm_recipe_learns_planted_structure(planted):
    """The defaults' recipe at a small scale: 70% of each row dropped out as
    targets, batch-shared negatives with a small weight, no extra dropout."""
    _, train, test = planted
    params = {**SMALL[DeepCFRecommender]}
    for name in ("negative_sharing", "negative_weight", "target_fraction", "dropout"):
        del params[name]  # the estimator's defaults
    model = DeepCFRecommender(
        **{**params, "n_negatives": 128, "max_epochs": 30, "random_state": 0}
    ).fit(train)
    losses = model.net_.history[:, "train_loss"]
    assert losses[-1] < 0.9 * losses[0]
    popular = _ndcg(PopularityRecommender().fit(train), train, test)
    assert _ndcg(model, train, test) > 1.25 * popular


def test_fused_pair_mlp_kernels_match_torch_autograd():
    from sklearn_musicrec.neural._modules import _PairReluDot

    rng = np.random.RandomState(0)
    A, B, w = (
        torch.as_tensor(rng.randn(*shape).astype(np.float32), dtype=torch.float32)
        for shape in ((7, 5), (13, 5), (5,))
    )
    G = torch.as_tensor(rng.randn(7, 13).astype(np.float32))
    G[0, 3] = G[4, :] = 0.0  # masked negatives: zero gradient
    leaves = [t.clone().requires_grad_() for t in (A, B, w)]
    out = _PairReluDot.apply(*leaves)
    (out * G).sum().backward()
    refs = [t.clone().requires_grad_() for t in (A, B, w)]
    expected = torch.relu(refs[0][:, None, :] + refs[1][None]) @ refs[2]
    (expected * G).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), expected.detach().numpy(), rtol=1e-5)
    for got, ref in zip(leaves, refs):
        np.testing.assert_allclose(got.grad.numpy(), ref.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_training_with_the_fused_kernel_equals_torch_pairs(planted, monkeypatch):
    """Batch-shared negatives train the one-hidden-layer MLP with the compiled
    kernels; the torch pair activations give the same model."""
    from sklearn_musicrec.neural import _modules

    _, train, _ = planted
    params = dict(
        negative_sharing="batch", n_negatives=64, negative_weight=0.2, dropout=0.0, max_epochs=2
    )
    calls = []
    original = _modules._PairReluDot.apply
    monkeypatch.setattr(_modules._PairReluDot, "apply", lambda *a: calls.append(1) or original(*a))
    fused = small(DeepCFRecommender, **params).fit(train)
    assert calls, "the fused training kernel was not used"
    original_init = _modules.DeepCFModule.__init__

    def torch_pairs(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.fused_cpu_kernel = False

    monkeypatch.setattr(_modules.DeepCFModule, "__init__", torch_pairs)
    n_calls = len(calls)
    plain = small(DeepCFRecommender, **params).fit(train)
    assert len(calls) == n_calls
    np.testing.assert_allclose(
        fused.net_.history[:, "train_loss"], plain.net_.history[:, "train_loss"], rtol=1e-4
    )
    np.testing.assert_allclose(
        fused.decision_function(train[:20]),
        plain.decision_function(train[:20]),
        rtol=1e-3,
        atol=1e-4,
    )


def test_mlp_branch_has_its_own_learning_rate(planted):
    _, train, _ = planted
    model = small(DeepCFRecommender, lr=0.01, mlp_lr=0.001, max_epochs=1).fit(train)
    groups = model.net_.optimizer_.param_groups
    module = model.net_.module_
    mlp = {id(p) for name, p in module.named_parameters() if name.startswith("mlp_")}
    assert len(mlp) == 4  # first layer: user half and its bias, item half; output weights
    by_lr = {g["lr"]: {id(p) for p in g["params"]} for g in groups}
    assert by_lr[0.001] == mlp
    assert by_lr[0.01] == {id(p) for p in module.parameters()} - mlp
    # None: one learning rate for every parameter; no MLP: nothing to group
    for params in (dict(mlp_lr=None), dict(hidden_layer_sizes=())):
        model = small(DeepCFRecommender, lr=0.01, max_epochs=1, **params).fit(train)
        assert [g["lr"] for g in model.net_.optimizer_.param_groups] == [0.01]
    # "auto": a tenth of lr without item features, lr with them
    model = small(DeepCFRecommender, lr=0.01, mlp_lr="auto", max_epochs=1).fit(train)
    assert model.mlp_lr_ == pytest.approx(0.001)
    assert sorted(g["lr"] for g in model.net_.optimizer_.param_groups) == [0.001, 0.01]
    restored = pickle.loads(pickle.dumps(model))  # the net is rebuilt with its groups
    assert sorted(g["lr"] for g in restored.net_.optimizer_.param_groups) == [0.001, 0.01]
    bunch = planted[0]
    model = small(
        DeepCFRecommender, lr=0.01, mlp_lr="auto", item_features=bunch.item_tags, max_epochs=1
    ).fit(train)
    assert model.mlp_lr_ == 0.01


def test_mlp_branch_starts_at_zero():
    from sklearn_musicrec.neural._modules import DeepCFModule

    module = DeepCFModule(10, 4, (8,), 0.0, 5, np.full(10, 0.1))
    assert not module.mlp_out.weight.any()  # the first logits are the dot product's


def test_items_without_interactions_rank_last_without_features(planted):
    _, train, _ = planted
    keep = np.ones(train.shape[1])
    keep[:5] = 0  # items 0-4: no interactions in fit
    train = sp.csr_matrix(train @ sp.diags(keep))
    train.eliminate_zeros()
    model = small(DeepCFRecommender).fit(train)
    D = model.decision_function(train[:50])
    assert (D[:, :5].max(axis=1) < D[:, 5:].min(axis=1)).all()
    ids, _ = model.recommend(train[:50], k=20)
    assert not np.isin(ids, np.arange(5)).any()


# -- scoring -----------------------------------------------------------------
@pytest.mark.parametrize("layers", [(16,), (16, 8)])
@pytest.mark.parametrize("features", [False, True])
def test_deepcf_scores_equal_the_pairwise_mlp(planted, layers, features):
    """Full-catalogue scoring (fused CPU kernel / item blocks) is the NeuMF formula."""
    from torch.nn import functional as F

    bunch, train, _ = planted
    tags = bunch.item_tags if features else None
    model = small(DeepCFRecommender, hidden_layer_sizes=layers, item_features=tags).fit(train)
    module = model.net_.module_
    with torch.no_grad():
        history = _base.csr_batch_tensor(torch, model._scale(train[:40]))
        u = module.user_vectors(history)
        v, b = module.item_vectors()
        expected = (u[:, None, :] * v[None, :, :]).sum(-1) + b
        h = F.relu(
            torch.cat(
                [u[:, None, :].expand(-1, v.shape[0], -1), v[None].expand(u.shape[0], -1, -1)],
                dim=-1,
            )
            @ torch.cat([module.mlp_user.weight, module.mlp_item.weight], dim=1).T
            + module.mlp_user.bias
        )
        expected += module._mlp(h)
    got = model.decision_function(train[:40])
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_deepcf_torch_pair_blocks_match_the_fused_kernel(planted, monkeypatch):
    from sklearn_musicrec.neural import _modules

    _, train, _ = planted
    model = small(DeepCFRecommender).fit(train)
    fused = model.decision_function(train[:30])
    # the torch path (CUDA, deeper MLPs) over tiny blocks of items
    monkeypatch.setattr(_modules, "_PAIR_BLOCK_ELEMENTS", 16 * 30 * 7)
    monkeypatch.setattr(model.net_.module_, "fused_cpu_kernel", False)
    blocked = model.decision_function(train[:30])
    np.testing.assert_allclose(fused, blocked, rtol=1e-5, atol=1e-6)


def test_deepcf_item_side_is_computed_once_per_scoring_call(planted, monkeypatch):
    from sklearn import config_context

    bunch, train, _ = planted
    model = small(DeepCFRecommender, item_features=bunch.item_tags).fit(train)
    expected = model.decision_function(train)
    module = model.net_.module_
    calls = []
    original = module.scoring_items
    monkeypatch.setattr(module, "scoring_items", lambda: calls.append(1) or original())
    with config_context(working_memory=0.1):  # ~30 rows per batch: many batches
        got = model.decision_function(train)
    assert len(calls) == 1
    np.testing.assert_array_equal(got, expected)


# -- devices -----------------------------------------------------------------
@pytest.mark.parametrize("cls", MODELS)
def test_mixed_precision_on_cpu(cls, planted):
    _, train, _ = planted
    auto = small(cls, max_epochs=1).fit(train)
    assert auto.mixed_precision_ is False  # "auto": float32 on CPU
    off = small(cls, max_epochs=1, mixed_precision=False).fit(train)
    np.testing.assert_array_equal(
        auto.decision_function(train[:5]), off.decision_function(train[:5])
    )
    with pytest.raises(ValueError, match=r"mixed_precision=True.*CUDA.*'auto'"):
        small(cls, mixed_precision=True).fit(train)
    with pytest.raises(ValueError, match="mixed_precision"):
        small(cls, mixed_precision="bf16").fit(train)


@needs_cuda
@pytest.mark.parametrize("cls", MODELS)
def test_mixed_precision_on_cuda(cls, planted):
    _, train, test = planted
    mixed = small(cls, device="cuda", mixed_precision=True).fit(train)
    assert mixed.mixed_precision_ is True
    scores = mixed.decision_function(train[:20])
    assert scores.dtype == np.float32 and np.isfinite(scores).all()
    full = small(cls, device="cuda", mixed_precision=False).fit(train)
    assert abs(_ndcg(mixed, train, test) - _ndcg(full, train, test)) < 0.05


def test_resolve_device(monkeypatch):
    from sklearn_musicrec.utils._devices import resolve_device

    assert resolve_device("cpu", "M") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto", "M") == "cpu"
    for device in ("cuda", "cuda:0"):
        with pytest.raises(ValueError, match=r"M\(device='cuda.*no CUDA.*device='cpu'"):
            resolve_device(device, "M")
    with pytest.raises(ValueError, match="'cpu', 'cuda', 'cuda:N' or 'auto'.*'gpu'"):
        resolve_device("gpu", "M")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert resolve_device("auto", "M") == "cuda"
    assert resolve_device("cuda:0", "M") == "cuda:0"
    with pytest.raises(ValueError, match="1 CUDA device"):
        resolve_device("cuda:1", "M")


def test_cuda_request_without_cuda_is_a_clear_error(planted, monkeypatch):
    _, train, _ = planted
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device='cpu'"):
        small(MultVAERecommender, device="cuda").fit(train)


def test_torch_num_threads_restores():
    from sklearn_musicrec.utils._devices import torch_num_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError):
        with torch_num_threads(1):
            assert torch.get_num_threads() == 1
            raise RuntimeError
    assert torch.get_num_threads() == before


@needs_cuda
@pytest.mark.parametrize("cls", MODELS)
def test_cuda_fit_matches_cpu_quality_and_pickles_to_host(cls, planted):
    _, train, test = planted
    gpu = small(cls, device="cuda").fit(train)
    assert gpu.device_ == "cuda" and gpu.net_.device == "cuda"
    cpu = small(cls).fit(train)
    assert abs(_ndcg(gpu, train, test) - _ndcg(cpu, train, test)) < 0.05
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_allclose(
        restored.decision_function(train[:20]), gpu.decision_function(train[:20]), rtol=1e-4
    )
