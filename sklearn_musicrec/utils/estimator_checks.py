"""Behavioural checks every recommender must pass (docs/design.md section 6).

scikit-learn's ``check_estimator`` tests the estimator API; these checks test
the recommender contract on top of it: shapes and padding, ``exclude_seen``,
candidate ``items``, batch == one row at a time, determinism, pickling and
cloning, all-zero rows, ``k > n_items``, dtypes, sparse and dense input, bad
input, the caller's data left untouched, and a quality floor on planted data.

Use :func:`check_recommender` on an estimator instance, or iterate
:func:`recommender_checks` to run the checks one by one (the project's
``tests/test_common.py`` does this for every recommender it discovers).
"""

import pickle
import warnings
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone
from threadpoolctl import threadpool_limits

__all__ = ["check_recommender", "recommender_checks"]


def _data(n_users=80, n_items=40, random_state=0):
    from ..datasets import make_interactions

    return make_interactions(
        n_users=n_users, n_items=n_items, mean_items_per_user=8, random_state=random_state
    ).data


def _fitted(estimator, X):
    return clone(estimator).fit(X)


def _seen_sets(X):
    X = sp.csr_matrix(X)
    return [
        set(X.indices[X.indptr[i] : X.indptr[i + 1]][X.data[X.indptr[i] : X.indptr[i + 1]] != 0])
        for i in range(X.shape[0])
    ]


def _assert_well_formed(ids, scores, n_users, k, n_items):
    assert ids.shape == (n_users, k), f"ids shape {ids.shape} != {(n_users, k)}"
    assert scores.shape == (n_users, k), f"scores shape {scores.shape} != {(n_users, k)}"
    assert ids.dtype == np.int64, f"ids dtype {ids.dtype} is not int64"
    assert scores.dtype.kind == "f", f"scores dtype {scores.dtype} is not floating"
    assert not np.isnan(scores).any(), "recommend returned NaN scores"
    pad = ids == -1
    np.testing.assert_array_equal(pad, np.isneginf(scores), "padding -1 must pair with -inf")
    # padding only at the end of a row
    assert not (pad[:, :-1] & ~pad[:, 1:]).any(), "padding must come after all valid ids"
    assert ((ids >= -1) & (ids < n_items)).all(), "ids out of range"
    with np.errstate(invalid="ignore"):  # -inf - -inf in the padding
        steps = np.diff(np.where(pad, -np.inf, scores), axis=1)
    assert ((steps <= 0) | np.isnan(steps)).all(), "scores must be non-increasing"
    for row in ids:
        valid = row[row >= 0]
        assert valid.size == np.unique(valid).size, f"duplicate ids in a row: {row}"


def check_recommend_shapes_and_padding(name, estimator):
    """Shapes, dtypes, best-first order, padding, ``k > n_items``."""
    X = _data()
    model = _fitted(estimator, X)
    n_users, n_items = X.shape
    for k in (1, 5, n_items + 7):
        ids, scores = model.recommend(X, k=k)
        _assert_well_formed(ids, scores, n_users, k, n_items)
    seen = np.diff(sp.csr_matrix(X).indptr)
    ids, scores = model.recommend(X, k=n_items + 7)
    n_valid = (ids >= 0).sum(axis=1)
    assert (n_valid <= n_items - seen).all(), "more items recommended than unseen items"
    pred = model.predict(X)
    assert pred.shape == (n_users,) and pred.dtype == np.int64
    np.testing.assert_array_equal(pred, model.recommend(X, k=1)[0][:, 0])


def check_recommend_exclude_seen(name, estimator):
    """``exclude_seen`` removes exactly the seen items; scores match ``decision_function``."""
    X = _data()
    model = _fitted(estimator, X)
    seen = _seen_sets(X)
    D = model.decision_function(X)
    assert D.shape == X.shape
    for exclude in (True, False):
        ids, scores = model.recommend(X, k=10, exclude_seen=exclude)
        for i, row in enumerate(ids):
            valid = row[row >= 0]
            if exclude:
                assert not (set(valid.tolist()) & seen[i]), f"row {i}: seen item recommended"
            np.testing.assert_allclose(scores[i, : valid.size], D[i, valid], rtol=1e-5, atol=1e-6)
    ids_all, _ = model.recommend(X, k=10, exclude_seen=False)
    assert (
        any(set(ids_all[i].tolist()) & seen[i] for i in range(X.shape[0]))
        or not np.isfinite(D).any()
    ), "exclude_seen=False never recommends a seen item; are seen items masked inside the model?"


def check_recommend_items(name, estimator):
    """Candidates given as ids, as a boolean mask, as a sparse mask; bad ids refused."""
    X = _data()
    model = _fitted(estimator, X)
    n_users, n_items = X.shape
    rng = np.random.RandomState(0)
    cand = rng.choice(n_items, size=n_items // 3, replace=False)
    ids, scores = model.recommend(X, k=8, items=cand)
    _assert_well_formed(ids, scores, n_users, 8, n_items)
    assert np.isin(ids[ids >= 0], cand).all(), "an item outside items was recommended"
    mask = rng.rand(n_users, n_items) < 0.3
    for m in (mask, sp.csr_matrix(mask)):
        ids, scores = model.recommend(X, k=8, items=m)
        _assert_well_formed(ids, scores, n_users, 8, n_items)
        for i, row in enumerate(ids):
            assert mask[i, row[row >= 0]].all(), f"row {i}: item outside its mask"
    for bad in ([n_items], [-1]):
        try:
            model.recommend(X, k=3, items=bad)
        except ValueError as exc:
            assert "items" in str(exc)
        else:
            raise AssertionError(f"recommend accepted out-of-range items={bad}")


def check_batch_equals_single(name, estimator):
    """Results for a row do not depend on the other rows or their order."""
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    D = model.decision_function(X)
    perm = np.random.RandomState(1).permutation(X.shape[0])
    np.testing.assert_allclose(model.decision_function(X[perm]), D[perm], rtol=1e-5, atol=1e-6)
    ids, scores = model.recommend(X, k=6)
    for i in range(0, X.shape[0], 7):
        ids_i, scores_i = model.recommend(X[i : i + 1], k=6)
        np.testing.assert_allclose(scores_i[0], scores[i], rtol=1e-5, atol=1e-6)
        # ids may differ only between (near-)tied items
        valid = ids_i[0] >= 0
        np.testing.assert_allclose(D[i, ids_i[0][valid]], scores[i][valid], rtol=1e-5, atol=1e-6)


def check_determinism(name, estimator):
    """Same ``random_state`` gives the same model, at 1 or 2 threads."""
    X = _data()
    params = estimator.get_params()
    est = clone(estimator)
    if "random_state" in params:
        est.set_params(random_state=42)
    with threadpool_limits(limits=1):
        if "n_jobs" in params:
            est.set_params(n_jobs=1)
        D1 = clone(est).fit(X).decision_function(X)
    with threadpool_limits(limits=2):
        if "n_jobs" in params:
            est.set_params(n_jobs=2)
        D2 = clone(est).fit(X).decision_function(X)
    np.testing.assert_allclose(D1, D2, rtol=1e-5, atol=1e-6)


def check_pickle_and_clone(name, estimator):
    """Pickle round trip predicts the same; clone gives an unfitted twin."""
    X = _data()
    model = _fitted(estimator, X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(restored.recommend(X, k=5)[0], model.recommend(X, k=5)[0])
    twin = clone(model)
    assert twin.get_params() == model.get_params() or repr(twin) == repr(model)
    assert not hasattr(twin, "n_features_in_"), "clone must return an unfitted estimator"


def check_all_zero_rows(name, estimator):
    """Users with an empty history get valid (finite or padded) recommendations."""
    X = _data()
    model = _fitted(estimator, X)
    Z = sp.csr_matrix((3, X.shape[1]))
    D = model.decision_function(Z)
    assert D.shape == Z.shape and not np.isnan(D).any(), "NaN scores for empty histories"
    ids, scores = model.recommend(Z, k=5)
    _assert_well_formed(ids, scores, 3, 5, X.shape[1])


def check_dtypes_and_formats(name, estimator):
    """float32/float64/int, dense/CSR/CSC/COO/csr_array input give consistent results."""
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    D = model.decision_function(X)
    for Xt in (
        X.astype(np.float32),
        X.astype(np.int64),
        X.toarray(),
        X.tocsc(),
        X.tocoo(),
        sp.csr_array(X),
    ):
        np.testing.assert_allclose(model.decision_function(Xt), D, rtol=1e-3, atol=1e-4)
        ids, scores = model.recommend(Xt, k=4)
        _assert_well_formed(ids, scores, X.shape[0], 4, X.shape[1])
    D_dense_fit = _fitted(estimator, X.toarray()).decision_function(X)
    np.testing.assert_allclose(D_dense_fit, D, rtol=1e-4, atol=1e-5)
    model32 = _fitted(estimator, X.astype(np.float32))
    ids, scores = model32.recommend(X.astype(np.float32), k=4)
    _assert_well_formed(ids, scores, X.shape[0], 4, X.shape[1])


def check_input_not_modified(name, estimator):
    """fit, decision_function and recommend leave the caller's X untouched.

    The CSR input holds explicit zeros and unsorted indices, the cases where
    in-place clean-ups (``eliminate_zeros``, ``sort_indices``) on arrays
    shared with the caller would corrupt it.
    """
    X = sp.csr_matrix(_data())
    X.data[::5] = 0.0  # explicit zeros
    for i in range(X.shape[0]):  # unsorted indices
        lo, hi = X.indptr[i], X.indptr[i + 1]
        X.indices[lo:hi] = X.indices[lo:hi][::-1].copy()
        X.data[lo:hi] = X.data[lo:hi][::-1].copy()
    X.has_sorted_indices = False
    before = X.copy()
    dense = X.toarray()
    dense_before = dense.copy()
    model = clone(estimator).fit(X)
    model.decision_function(X)
    model.recommend(X, k=5)
    model.recommend(X, k=5, exclude_seen=False)
    model.recommend(X, k=5, items=np.arange(5))
    if hasattr(model, "transform"):
        model.transform(X)
    clone(estimator).fit(dense).recommend(dense, k=3)
    for attr in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(X, attr), getattr(before, attr), f"X.{attr} modified")
    np.testing.assert_array_equal(dense, dense_before, "dense X modified")


def check_bad_input(name, estimator):
    """Wrong shapes, bad ``k``, NaN and negative values get clear errors."""
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    n_items = X.shape[1]

    def expect(exc_type, words, func, *args, **kwargs):
        try:
            func(*args, **kwargs)
        except exc_type as exc:
            msg = str(exc)
            for word in words:
                assert word in msg, f"error message {msg!r} lacks {word!r}"
        else:
            raise AssertionError(
                f"{func.__name__}{args} {kwargs} did not raise {exc_type.__name__}"
            )

    expect(ValueError, ["users", "items", str(n_items)], model.recommend, X[:, :-1])
    expect(ValueError, ["users", "items", str(n_items)], model.recommend, X.T)
    expect(ValueError, ["k"], model.recommend, X, k=0)
    expect(TypeError, ["k"], model.recommend, X, k=2.5)
    bad = X.toarray()
    bad[0, 0] = np.nan
    expect(ValueError, ["NaN"], model.recommend, bad)
    expect(ValueError, ["NaN"], clone(estimator).fit, bad)
    bad[0, 0] = -1.0
    expect(ValueError, ["Negative"], clone(estimator).fit, bad)
    expect(ValueError, ["Negative"], model.recommend, bad)
    expect(ValueError, [], model.recommend, np.arange(n_items, dtype=float))
    expect(ValueError, ["non-zero"], clone(estimator).fit, sp.csr_matrix(X.shape))


def check_score(name, estimator):
    """``score`` takes held-out ids (1-D) or a held-out matrix (2-D)."""
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    rng = np.random.RandomState(0)
    y_ids = rng.randint(X.shape[1], size=X.shape[0])
    s1 = model.score(X, y_ids)
    Y = sp.csr_matrix((np.ones(X.shape[0]), (np.arange(X.shape[0]), y_ids)), shape=X.shape)
    s2 = model.score(X, Y)
    assert 0.0 <= s1 <= 1.0 and 0.0 <= s2 <= 1.0
    assert isinstance(s1, float)


def _quality(estimator, random_state=0):
    from ..datasets import make_interactions
    from ..metrics import ndcg_at_k
    from ..model_selection import holdout_split

    X = make_interactions(n_users=500, n_items=300, random_state=random_state).data
    with warnings.catch_warnings():
        # users with a single interaction have nothing held out: expected here
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(X, test_size=0.2, random_state=random_state)
        model = clone(estimator).fit(X_train)
        ids, _ = model.recommend(X_train, k=10)
        return ndcg_at_k(X_test, ids, k=10)


def check_quality_floor(name, estimator):
    """On planted data, NDCG@10 is at least 3x that of RandomRecommender."""
    from ..baselines import RandomRecommender

    if isinstance(estimator, RandomRecommender):
        return
    random_ndcg = _quality(RandomRecommender(random_state=0))
    ndcg = _quality(estimator)
    assert ndcg >= 3 * random_ndcg, (
        f"{name}: NDCG@10 {ndcg:.4f} on planted data is not 3x "
        f"RandomRecommender's {random_ndcg:.4f}"
    )


def check_cold_items(name, estimator):
    """Models that declare they score unseen items rank cold items from their features.

    Runs on estimators whose ``_can_score_cold_items()`` is true once every
    ``item_features`` parameter (nested ones included) is set to the planted
    tags of :func:`~sklearn_musicrec.datasets.make_interactions`. A fifth of
    the items lose all their plays in training (``cold_item_split``); their
    scores must be finite and not constant, and ranked among themselves
    for their true listeners they must beat ``RandomRecommender`` by 1.5x
    (NDCG@10).
    """
    from ..baselines import RandomRecommender
    from ..datasets import make_interactions
    from ..metrics import ndcg_at_k
    from ..model_selection import cold_item_split
    from ._features import supports_cold_items

    keys = [
        key
        for key in estimator.get_params(deep=True)
        if key == "item_features" or key.endswith("__item_features")
    ]
    if not keys:
        return
    data = make_interactions(n_users=400, n_items=150, random_state=0)
    est = clone(estimator).set_params(**{key: data.item_tags for key in keys})
    if not supports_cold_items(est):
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # users with only cold items
        X_train, X_test = cold_item_split(data.data, test_size=0.2, random_state=0)
    cold = np.flatnonzero(X_test.getnnz(axis=0))
    users = np.flatnonzero((X_test.getnnz(axis=1) > 0) & (X_train.getnnz(axis=1) > 0))
    model = est.fit(X_train)
    S = model.decision_function(X_train[users])[:, cold]
    assert np.all(np.isfinite(S)), f"{name}: cold items got non-finite scores"
    assert np.ptp(S, axis=1).mean() > 0, f"{name}: cold items all get the same score"
    ids, _ = model.recommend(X_train[users], k=10, items=cold)
    assert np.isin(ids[ids >= 0], cold).all(), f"{name}: recommended a non-candidate item"
    ndcg = ndcg_at_k(X_test[users], ids, k=10)
    rand = RandomRecommender(random_state=0).fit(X_train)
    random_ndcg = ndcg_at_k(
        X_test[users], rand.recommend(X_train[users], k=10, items=cold)[0], k=10
    )
    assert ndcg >= 1.5 * random_ndcg, (
        f"{name}: cold-item NDCG@10 {ndcg:.4f} is not 1.5x RandomRecommender's {random_ndcg:.4f}"
    )


_CHECKS = (
    check_recommend_shapes_and_padding,
    check_recommend_exclude_seen,
    check_recommend_items,
    check_batch_equals_single,
    check_determinism,
    check_pickle_and_clone,
    check_all_zero_rows,
    check_dtypes_and_formats,
    check_input_not_modified,
    check_bad_input,
    check_score,
    check_quality_floor,
    check_cold_items,
)


def recommender_checks(estimator):
    """Yield the behavioural checks for ``estimator`` as callables.

    Parameters
    ----------
    estimator : estimator instance
        An unfitted recommender.

    Yields
    ------
    check : callable
        ``check()`` runs one check; ``check.func.__name__`` names it.
    """
    name = type(estimator).__name__
    for check in _CHECKS:
        yield partial(check, name, estimator)


def check_recommender(estimator):
    """Run every behavioural check on ``estimator``; raise on the first failure.

    Parameters
    ----------
    estimator : estimator instance
        An unfitted recommender.

    Examples
    --------
    >>> from sklearn_musicrec import PopularityRecommender
    >>> from sklearn_musicrec.utils.estimator_checks import check_recommender
    >>> check_recommender(PopularityRecommender())
    """
    for check in recommender_checks(estimator):
        check()
