import logging
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.cluster import KMeans
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline

from sklearn_musicrec.decomposition import ALSFactorizer
from sklearn_musicrec.decomposition._base import as_float32_csr as _as_float32_csr
from sklearn_musicrec.metrics import auc_score, rmse
from sklearn_musicrec.model_selection import holdout_split


def _cuda_available():
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


needs_cuda = pytest.mark.skipif(
    not _cuda_available(), reason="needs a CUDA device visible to PyTorch (none here)"
)


def test_implicit_objective_decreases_exact_solver(plays):
    model = ALSFactorizer(n_components=6, solver="cholesky", max_iter=8, tol=0, random_state=0).fit(
        plays
    )
    loss = np.array(model.loss_curve_)
    assert model.n_iter_ == 8 and loss.shape == (8,)
    # each exact half-step minimises the objective over one block
    assert np.all(np.diff(loss) <= 1e-6 * loss[:-1])
    assert loss[-1] < 0.9 * loss[0]


def test_implicit_objective_decreases_cg(plays):
    model = ALSFactorizer(n_components=6, max_iter=8, tol=0, random_state=0).fit(plays)
    loss = np.array(model.loss_curve_)
    assert loss[-1] < loss[0]
    assert np.all(np.isfinite(model.user_factors_))


def test_objective_matches_its_definition(plays):
    model = ALSFactorizer(
        n_components=4,
        weighting=None,  # the objective of the raw counts
        confidence_scale=2.0,
        regularization=0.3,
        max_iter=3,
        tol=0,
        random_state=0,
    ).fit(plays)
    X = plays.toarray()
    P = (X > 0).astype(float)
    C = 1.0 + 2.0 * X
    U = model.user_factors_.astype(float)
    V = model.item_factors_.astype(float)
    expected = np.sum(C * (P - U @ V.T) ** 2) + 0.3 * (np.sum(U**2) + np.sum(V**2))
    np.testing.assert_allclose(model.loss_curve_[-1], expected, rtol=1e-4)


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
def test_fold_in_reproduces_training_factors(plays, solver):
    model = ALSFactorizer(n_components=8, solver=solver, max_iter=4, tol=0, random_state=0)
    model.fit(plays)
    np.testing.assert_array_equal(model.transform(plays), model.user_factors_)
    # a new user: same result alone or in a batch, whatever the row order
    rows = plays[[5, 1, 9]]
    np.testing.assert_array_equal(model.transform(rows)[0], model.transform(plays[5])[0])


def test_fold_in_solves_the_normal_equations(plays):
    model = ALSFactorizer(
        n_components=5,
        confidence_scale=3.0,
        regularization=0.2,
        max_iter=3,
        tol=0,
        random_state=0,
    ).fit(plays)
    # fold-in sees the row weighted as in fit (BM25 by default)
    x = model.weighting_.transform(plays[7]).toarray().ravel()
    V = model.item_factors_.astype(np.float64)
    c = 1.0 + 3.0 * x
    A = V.T @ (c[:, None] * V) + 0.2 * np.eye(5)
    b = V.T @ (c * (x > 0))
    np.testing.assert_allclose(
        model.transform(plays[7])[0], np.linalg.solve(A, b), rtol=1e-4, atol=1e-6
    )


def test_cg_and_cholesky_agree(plays):
    # (the CG fits' losses before the last iteration come from the loss
    # terms the CG kernel fuses into its item half-step; the exact solver's
    # from a separate pass: the curves agreeing checks the fused loss too)
    common = dict(n_components=6, max_iter=6, tol=0, random_state=0)
    cg = ALSFactorizer(solver="cg", cg_steps=6, **common).fit(plays)
    chol = ALSFactorizer(solver="cholesky", **common).fit(plays)
    np.testing.assert_allclose(cg.loss_curve_, chol.loss_curve_, rtol=1e-3)
    np.testing.assert_allclose(
        cg.decision_function(plays[:20]), chol.decision_function(plays[:20]), atol=5e-2
    )


def test_cg_half_steps_converge_to_the_exact_solves(plays):
    # one iteration from the same initial factors: with enough steps, CG
    # solves each row's system (exactly in k steps in exact arithmetic;
    # float32 and confidences in the thousands need a few more)
    # (raw counts, confidence 1 and a weak penalty: ill-conditioned systems,
    # where one CG step is far from the solution)
    common = dict(
        n_components=6,
        max_iter=1,
        tol=0,
        random_state=0,
        weighting=None,
        confidence_scale=1.0,
        regularization=0.01,
    )
    chol = ALSFactorizer(solver="cholesky", **common).fit(plays)
    cg = ALSFactorizer(solver="cg", cg_steps=12, **common).fit(plays)
    few = ALSFactorizer(solver="cg", cg_steps=1, **common).fit(plays)
    scale = np.abs(chol.item_factors_).max()
    np.testing.assert_allclose(cg.item_factors_, chol.item_factors_, atol=1e-3 * scale)
    U = chol.user_factors_
    np.testing.assert_allclose(cg.user_factors_, U, atol=1e-3 * np.abs(U).max())
    # (and the comparison can fail: one CG step is not an exact solve)
    assert np.abs(few.item_factors_ - chol.item_factors_).max() > 1e-2 * scale


@pytest.mark.parametrize("feedback", ["implicit", "explicit"])
def test_same_model_at_any_number_of_threads(plays, feedback):
    params = dict(n_components=8, max_iter=3, tol=0, random_state=42, feedback=feedback)
    one = ALSFactorizer(n_jobs=1, **params).fit(plays)
    two = ALSFactorizer(n_jobs=2, **params).fit(plays)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(
        one.decision_function(plays[:5]), two.decision_function(plays[:5])
    )


def test_explicit_rmse_on_planted_ratings(ratings):
    X_train, X_test = ratings
    model = ALSFactorizer(
        feedback="explicit",
        n_components=3,
        regularization=0.05,
        max_iter=15,
        tol=0,
        random_state=0,
    ).fit(X_train)
    err = rmse(X_test, model.decision_function(X_train))
    mean_only = rmse(X_test, np.full(X_test.shape, X_train.data.mean()))
    assert err < 0.5 * mean_only
    assert err < 0.35
    # exact block minimisation: the objective never increases
    assert np.all(np.diff(model.loss_curve_) <= 1e-6 * np.array(model.loss_curve_[:-1]))
    np.testing.assert_array_equal(model.transform(X_train), model.user_factors_)
    assert model.user_bias_.shape == (X_train.shape[0],)
    assert model.item_bias_.shape == (X_train.shape[1],)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_implicit_ranking_beats_popularity_auc(plays):
    X_train, X_test = holdout_split(plays, 0.2, random_state=0)
    X_train.data[:] = 1.0  # binarised: raw play counts are heavy-tailed
    model = ALSFactorizer(n_components=4, regularization=1.0, max_iter=10, random_state=0)
    model.fit(X_train)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one user has no held-out candidate
        auc = auc_score(X_test, model.decision_function(X_train), exclude=X_train)
        pop = np.tile(model.item_counts_.astype(float), (plays.shape[0], 1))
        auc_pop = auc_score(X_test, pop, exclude=X_train)
    assert auc > auc_pop + 0.02


@pytest.mark.parametrize("feedback, default", [("implicit", 10.0), ("explicit", 0.1)])
def test_default_regularization_is_the_documented_one(plays, ratings, feedback, default):
    X = plays if feedback == "implicit" else ratings[0]
    params = dict(feedback=feedback, n_components=4, max_iter=3, tol=0, random_state=0)
    unset = ALSFactorizer(**params).fit(X)
    documented = ALSFactorizer(regularization=default, **params).fit(X)
    other = ALSFactorizer(regularization=3 * default, **params).fit(X)
    np.testing.assert_array_equal(unset.item_factors_, documented.item_factors_)
    assert unset.loss_curve_ == documented.loss_curve_
    assert not np.allclose(unset.item_factors_, other.item_factors_)
    # fold-in uses the same penalty as training
    np.testing.assert_array_equal(unset.transform(X), unset.user_factors_)


def test_ill_posed_problem_raises_a_clear_error():
    # more factors than items and no regularization: singular systems
    X = sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [3.0, 1.0, 0.0]]))
    for solver in ("cg", "cholesky"):
        with pytest.raises(ValueError, match="not positive definite"):
            ALSFactorizer(
                n_components=5,
                regularization=0.0,
                solver=solver,
                max_iter=2,
                tol=0,
                random_state=0,
            ).fit(X)
    with pytest.raises(ValueError, match="not positive definite"):
        ALSFactorizer(
            feedback="explicit",
            n_components=5,
            regularization=0.0,
            max_iter=2,
            tol=0,
            random_state=0,
        ).fit(X)


def test_tol_stops_early_and_warns_otherwise(plays):
    model = ALSFactorizer(n_components=6, max_iter=50, tol=0.05, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        model.fit(plays)
    assert model.n_iter_ < 50
    # stopped after a CG half-step, yet the user factors are the exact ones
    np.testing.assert_array_equal(model.transform(plays), model.user_factors_)
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        ALSFactorizer(n_components=6, max_iter=2, tol=1e-12, random_state=0).fit(plays)


def test_verbose_prints_and_logs_progress(plays, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="sklearn_musicrec.decomposition._als"):
        model = ALSFactorizer(n_components=4, max_iter=2, tol=0, verbose=1, random_state=0)
        model.fit(plays)
    assert sum("iteration" in r.message for r in caplog.records) == 2
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ALSFactorizer iteration 1",
        "ALSFactorizer iteration 2",
    ]
    assert f"loss {model.loss_curve_[-1]:.6g}" in lines[-1]
    ALSFactorizer(n_components=4, max_iter=2, tol=0, random_state=0).fit(plays)
    assert capsys.readouterr().out == ""


def test_does_not_modify_input(plays):
    X = plays.copy()
    X.data[:5] = 0.0  # explicit zeros must be ignored, not modelled, and kept
    before = X.copy()
    ALSFactorizer(n_components=4, max_iter=2, tol=0, random_state=0).fit(X)
    assert (X != before).nnz == 0 and X.nnz == before.nnz


def test_explicit_zeros_are_ignored(plays):
    X = plays.copy()
    X.data[:5] = 0.0
    Y = X.copy()
    Y.eliminate_zeros()
    a = ALSFactorizer(n_components=4, max_iter=2, tol=0, random_state=0).fit(X)
    b = ALSFactorizer(n_components=4, max_iter=2, tol=0, random_state=0).fit(Y)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)


def test_transform_in_a_pipeline(plays):
    pipe = make_pipeline(
        ALSFactorizer(n_components=4, max_iter=2, tol=0, random_state=0),
        KMeans(n_clusters=3, n_init=1, random_state=0),
    )
    labels = pipe.fit_predict(plays)
    assert labels.shape == (plays.shape[0],)
    names = pipe[0].get_feature_names_out()
    assert list(names) == [f"alsfactorizer{i}" for i in range(4)]


def test_similar_items(plays):
    model = ALSFactorizer(n_components=6, max_iter=3, tol=0, random_state=0).fit(plays)
    ids, scores = model.similar_items([0, 3], k=5)
    assert ids.shape == scores.shape == (2, 5)
    assert 0 not in ids[0] and 3 not in ids[1]
    assert np.all(np.diff(scores, axis=1) <= 0) and np.all(scores <= 1.0 + 1e-6)
    V = model.item_factors_ / np.linalg.norm(model.item_factors_, axis=1, keepdims=True)
    np.testing.assert_allclose(scores[0, 0], V[0] @ V[ids[0, 0]], rtol=1e-5)
    ids_all, _ = model.similar_items(0, k=plays.shape[1] + 3)
    assert ids_all[0, -4:].tolist() == [-1] * 4
    with pytest.raises(ValueError, match=r"item_ids must be item ids in \[0, "):
        model.similar_items([plays.shape[1]])
    with pytest.raises(TypeError, match="item_ids must hold integer item ids"):
        model.similar_items([0.5])


@pytest.mark.parametrize("chunk_elements", [None, 15_000])
def test_torch_kernels_match_numba_kernels_on_cpu(plays, ratings, chunk_elements, monkeypatch):
    """The CUDA code path, run by PyTorch on the CPU, solves the same problem.

    A tiny chunk budget makes the torch kernels split rows and entries into
    many chunks, as they do on large data.
    """
    pytest.importorskip("torch")
    from sklearn_musicrec.decomposition import _als_torch

    if chunk_elements is not None:
        monkeypatch.setattr(_als_torch, "_CHUNK_ELEMENTS", chunk_elements)
    for feedback, X in (("implicit", plays), ("explicit", ratings[0])):
        for solver in ("cg", "cholesky"):
            # (explicit feedback always solves exactly: vary the penalty weights)
            exponent = 0.5 if solver == "cholesky" else 1.0
            model = ALSFactorizer(
                feedback=feedback,
                weighting=None,  # _fit_loop below is given the raw matrix
                solver=solver,
                n_components=6,
                max_iter=4,
                tol=0,
                regularization_exponent=exponent,
                random_state=0,
                bias_regularization=0.02 if solver == "cholesky" else None,
            ).fit(X)
            rng = np.random.RandomState(0)
            R = _as_float32_csr(X)
            k = 6
            if feedback == "implicit":
                U0 = rng.random_sample((R.shape[0], k)) * 0.01
                V0 = rng.random_sample((R.shape[1], k)) * 0.01
            else:
                U0 = rng.normal(scale=0.1, size=(R.shape[0], k))
                V0 = rng.normal(scale=0.1, size=(R.shape[1], k))
            other = clone(model)
            from sklearn_musicrec.decomposition._als_torch import TorchBackend

            other._fit_loop(TorchBackend("cpu"), R, U0, V0)
            np.testing.assert_allclose(other.loss_curve_, model.loss_curve_, rtol=1e-3)
            np.testing.assert_allclose(
                other.user_factors_ @ other.item_factors_.T,
                model.user_factors_ @ model.item_factors_.T,
                atol=2e-3 * np.abs(model.user_factors_ @ model.item_factors_.T).max(),
            )


def test_cuda_device_without_gpu_is_a_clear_error(plays):
    if _cuda_available():
        pytest.skip("a CUDA device is available")
    with pytest.raises(ValueError, match="no CUDA device"):
        ALSFactorizer(device="cuda", max_iter=1).fit(plays)


@needs_cuda
@pytest.mark.parametrize("feedback", ["implicit", "explicit"])
def test_cuda_fit_matches_cpu_and_unpickles_to_host_arrays(plays, feedback):
    params = dict(feedback=feedback, n_components=8, max_iter=5, tol=0, random_state=0)
    gpu = ALSFactorizer(device="cuda", **params).fit(plays)
    cpu = ALSFactorizer(device="cpu", **params).fit(plays)
    for name in ("user_factors_", "item_factors_"):
        assert type(getattr(gpu, name)) is np.ndarray
    np.testing.assert_allclose(gpu.loss_curve_, cpu.loss_curve_, rtol=1e-2)
    restored = pickle.loads(pickle.dumps(gpu))
    np.testing.assert_array_equal(
        restored.decision_function(plays[:4]), gpu.decision_function(plays[:4])
    )
    # fold-in runs on the CPU and reproduces the GPU-trained user factors
    np.testing.assert_allclose(restored.transform(plays), gpu.user_factors_, atol=1e-3)


def test_importing_the_package_imports_neither_torch_nor_numba():
    code = (
        "import sys, sklearn_musicrec, sklearn_musicrec.decomposition;"
        "print('torch' in sys.modules, 'numba' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


@pytest.mark.parametrize("bias_factor", [None, 0.5, 0.0])
@pytest.mark.parametrize("exponent", [1.0, 0.5])
def test_explicit_objective_with_regularization_exponent(ratings, exponent, bias_factor):
    X_train, _ = ratings
    reg = 0.05 if exponent == 1.0 else 0.3
    reg_bias = reg if bias_factor is None else bias_factor * reg
    model = ALSFactorizer(
        feedback="explicit",
        n_components=3,
        regularization=reg,
        regularization_exponent=exponent,
        max_iter=6,
        tol=0,
        random_state=0,
        bias_regularization=None if bias_factor is None else reg_bias,
    ).fit(X_train)
    # exact alternating solves: the objective never goes up
    assert np.all(np.diff(model.loss_curve_) <= 1e-6 * model.loss_curve_[0])
    # the last entry is the documented objective, with n ** exponent weights
    X = X_train.toarray()
    mask = X != 0
    U = model.user_factors_.astype(float)
    V = model.item_factors_.astype(float)
    b = model.user_bias_.astype(float)
    c = model.item_bias_.astype(float)
    pred = model.global_mean_ + b[:, None] + c[None, :] + U @ V.T
    w_u = mask.sum(axis=1) ** exponent
    w_i = mask.sum(axis=0) ** exponent
    expected = (
        np.sum((X - pred)[mask] ** 2)
        + reg * (np.sum(w_u * np.sum(U**2, axis=1)) + np.sum(w_i * np.sum(V**2, axis=1)))
        + reg_bias * (np.sum(w_u * b**2) + np.sum(w_i * c**2))
    )
    np.testing.assert_allclose(model.loss_curve_[-1], expected, rtol=1e-4)
    # fold-in solves the same weighted ridge problem as training
    np.testing.assert_array_equal(model.transform(X_train), model.user_factors_)
    x = X[4]
    rated = x != 0
    Z = np.hstack([np.ones((rated.sum(), 1)), V[rated]])
    A = Z.T @ Z + rated.sum() ** exponent * np.diag([reg_bias, reg, reg, reg])
    sol = np.linalg.solve(A, Z.T @ (x[rated] - model.global_mean_ - c[rated]))
    np.testing.assert_allclose(model.user_factors_[4], sol[1:], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("feedback", ["implicit", "explicit"])
def test_same_model_at_any_number_of_threads_on_many_rows(feedback):
    # the eigenbasis rotations and Gram matrices are split into fixed blocks
    # of rows (2048 and 8192) run on the numba threads; several blocks here
    from sklearn_musicrec.datasets import make_interactions

    X = make_interactions(n_users=20_000, n_items=100, mean_items_per_user=5, random_state=0).data
    params = dict(n_components=8, max_iter=2, tol=0, random_state=0, feedback=feedback)
    one = ALSFactorizer(n_jobs=1, **params).fit(X)
    two = ALSFactorizer(n_jobs=2, **params).fit(X)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    assert one.loss_curve_ == two.loss_curve_


@pytest.mark.parametrize("exclude_seen", [False, True])
def test_recommend_selects_the_best_and_breaks_ties_by_item_id(plays, exclude_seen):
    """The factor models' compiled top-k path against a full stable sort.

    Item factors with one non-zero component taking four values make every
    user's scores exactly tied in four groups (also at the k-th place): the
    lower item id must win, as in a stable sort. 200 items span several of
    the kernel's chunks of columns.
    """
    model = ALSFactorizer(n_components=4, max_iter=2, random_state=0).fit(plays)
    V = np.zeros_like(model.item_factors_)
    V[:, 0] = np.random.RandomState(0).randint(1, 5, size=V.shape[0])
    model.item_factors_ = V
    X = plays[:40]
    D = model.decision_function(X)
    eligible = np.where((X.toarray() != 0) & exclude_seen, -np.inf, D)
    n_items = X.shape[1]
    for k in (1, 5, 64, n_items, n_items + 30):
        ids, scores = model.recommend(X, k=k, exclude_seen=exclude_seen)
        order = np.argsort(-eligible, axis=1, kind="stable")[:, :k]
        best = np.take_along_axis(eligible, order, axis=1)
        ids_ref = np.full((X.shape[0], k), -1)
        vals_ref = np.full((X.shape[0], k), -np.inf)
        ids_ref[:, : order.shape[1]] = np.where(best > -np.inf, order, -1)
        vals_ref[:, : order.shape[1]] = best
        np.testing.assert_array_equal(ids, ids_ref)
        np.testing.assert_allclose(scores, vals_ref, rtol=1e-6)


def test_both_backends_implement_the_declared_interface():
    import inspect

    from sklearn_musicrec.decomposition._als_cpu import CPUBackend
    from sklearn_musicrec.decomposition._als_fit import ALSBackend

    torch_backend = pytest.importorskip("sklearn_musicrec.decomposition._als_torch")
    members = {
        name
        for name, value in vars(ALSBackend).items()
        if inspect.isfunction(value) and not name.startswith("_")
    }
    assert {"threads", "implicit_cg_step", "explicit_step", "row_loss_buffer"} <= members
    for backend in (CPUBackend, torch_backend.TorchBackend):
        for name in members:
            ours = inspect.signature(getattr(backend, name))
            declared = inspect.signature(getattr(ALSBackend, name))
            assert list(ours.parameters) == list(declared.parameters), (backend, name)


def test_device_is_resolved_by_the_shared_helper(plays):
    # "auto" falls back to the CPU without a GPU (same model as device="cpu");
    # a malformed device string is a clear error naming the accepted values
    params = dict(n_components=4, max_iter=2, random_state=0)
    if not _cuda_available():
        auto = ALSFactorizer(device="auto", **params).fit(plays)
        cpu = ALSFactorizer(device="cpu", **params).fit(plays)
        np.testing.assert_array_equal(auto.item_factors_, cpu.item_factors_)
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda', 'cuda:N' or 'auto'"):
        ALSFactorizer(device="gpu", **params).fit(plays)
