"""Behavioural checks every recommender must pass (docs/design.md section 6).

scikit-learn's ``check_estimator`` tests the estimator API; these checks test
the recommender contract on top of it: shapes and padding, ``exclude_seen``,
candidate ``items``, batch == one row at a time, determinism, pickling and
cloning, a seed that changes the model, all-zero rows, ``k > n_items``,
dtypes, sparse and dense input, bad input, the caller's data left untouched,
``score`` equal to NDCG@10 of ``recommend``, a quality floor on planted data,
popularity for empty histories, the default ``score(X)``, the recommender
inside a :class:`~sklearn_musicrec.pipeline.RecommenderPipeline` after a
weighting step, and, for models with ``quantize``, the main checks again on
the compressed models. ``recommend`` is checked against ``decision_function``: its
scores are the top of the eligible ones, and seen items never appear with
``exclude_seen=True``.

Use :func:`check_recommender` on an estimator instance, or iterate
:func:`recommender_checks` to run the checks one by one (the project's
``tests/test_common.py`` does this for every recommender it discovers).
"""

import pickle
import warnings
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import partial

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import UndefinedMetricWarning
from threadpoolctl import threadpool_limits

__all__ = ["check_recommender", "recommender_checks"]


def _data(n_users=80, n_items=40, random_state=0):
    from ..datasets import make_interactions

    return make_interactions(
        n_users=n_users, n_items=n_items, mean_items_per_user=8, random_state=random_state
    ).data


# applied to every model the checks fit through _fitted (check_quantized sets
# it to ``quantize``, so the other checks run on compressed models)
_AFTER_FIT = ContextVar("after_fit", default=None)


def _fitted(estimator, X):
    model = clone(estimator).fit(X)
    after_fit = _AFTER_FIT.get()
    return model if after_fit is None else after_fit(model)


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


def check_recommend_shapes_and_padding(name: str, estimator: BaseEstimator) -> None:
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


def _candidate_kinds(n_users, n_items, random_state):
    """``(items, mask)`` for each kind of ``recommend``'s ``items`` argument.

    ``items`` is passed to ``recommend`` (None, shared ids, a per-user mask)
    and ``mask`` is the boolean ``(n_users, n_items)`` matrix of candidates.
    """
    rng = np.random.RandomState(random_state)
    ids = np.sort(rng.choice(n_items, size=n_items // 2, replace=False))
    shared = np.zeros((n_users, n_items), dtype=bool)
    shared[:, ids] = True
    per_user = rng.rand(n_users, n_items) < 0.5
    return [(None, np.ones((n_users, n_items), dtype=bool)), (ids, shared), (per_user, per_user)]


def _eligible_sets(D, seen, candidates):
    """Per row, the items ``recommend`` must list when ``k`` covers them all.

    Items with a finite or ``+inf`` score among ``candidates`` (a boolean
    mask), minus ``seen`` when given (a list of sets).
    """
    out = []
    for i in range(D.shape[0]):
        ok = (D[i] > -np.inf) & candidates[i]
        items = set(np.flatnonzero(ok).tolist())
        out.append(items - seen[i] if seen is not None else items)
    return out


def check_recommend_exclude_seen(name: str, estimator: BaseEstimator) -> None:
    """``exclude_seen`` removes exactly the seen items, with every kind of ``items``.

    With ``k`` covering the catalogue, ``recommend`` lists exactly the items
    that ``decision_function`` scores above ``-inf`` (among the candidates),
    minus the row's seen items when ``exclude_seen=True``: a seen item never
    leaks in, and no unseen item is masked out. ``exclude_seen=False`` lists
    the seen items too, so they are not masked inside the model.
    """
    X = _data()
    model = _fitted(estimator, X)
    n_users, n_items = X.shape
    seen = _seen_sets(X)
    D = model.decision_function(X)
    assert D.shape == X.shape, f"decision_function shape {D.shape} != {X.shape}"
    assert np.isfinite(D).any(), "decision_function scores no item above -inf"
    for items, mask in _candidate_kinds(n_users, n_items, random_state=0):
        for exclude in (True, False):
            ids, scores = model.recommend(X, k=n_items, exclude_seen=exclude, items=items)
            expected = _eligible_sets(D, seen if exclude else None, mask)
            for i, row in enumerate(ids):
                got = set(row[row >= 0].tolist())
                if exclude:
                    leaked = got & seen[i]
                    assert not leaked, (
                        f"row {i}: seen items {sorted(leaked)} recommended with exclude_seen=True"
                        + ("" if items is None else " and candidate items")
                    )
                assert got == expected[i], (
                    f"row {i} (exclude_seen={exclude}, items="
                    f"{'None' if items is None else type(items).__name__}): recommended "
                    f"{sorted(got - expected[i])} not eligible, missed eligible "
                    f"{sorted(expected[i] - got)}"
                )
    # the seen items the model scores above -inf come back with exclude_seen=False
    ids_all, _ = model.recommend(X, k=n_items, exclude_seen=False)
    scored_seen = sum(len({j for j in seen[i] if D[i, j] > -np.inf}) for i in range(n_users))
    listed_seen = sum(len(set(ids_all[i].tolist()) & seen[i]) for i in range(n_users))
    assert listed_seen == scored_seen > 0, (
        f"exclude_seen=False listed {listed_seen} seen items of the {scored_seen} "
        "decision_function scores; are seen items masked inside the model?"
    )
    # predict obeys the same rule
    pred = model.predict(X)
    for i, item in enumerate(pred.tolist()):
        assert item not in seen[i], f"row {i}: predict returned seen item {item}"


def check_recommend_matches_decision_function(name: str, estimator: BaseEstimator) -> None:
    """``recommend`` returns the top of ``decision_function``, with its scores.

    For every row and kind of ``items``, the returned scores are the ``k``
    largest eligible ``decision_function`` values in order, and each returned
    id has the score it is listed with.
    """
    X = _data()
    model = _fitted(estimator, X)
    n_users, n_items = X.shape
    D = model.decision_function(X)
    seen = sp.csr_matrix(X).toarray() != 0
    k = 7
    for items, mask in _candidate_kinds(n_users, n_items, random_state=2):
        for exclude in (True, False):
            ids, scores = model.recommend(X, k=k, exclude_seen=exclude, items=items)
            eligible = np.where(mask & ~(seen & exclude), D, -np.inf)
            best = -np.sort(-eligible, axis=1)[:, :k]
            what = f"exclude_seen={exclude}, items={'None' if items is None else 'given'}"
            np.testing.assert_allclose(
                scores,
                best,
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"{name}: recommend scores are not the top {k} of "
                f"decision_function ({what})",
            )
            valid = ids >= 0
            listed = np.take_along_axis(D, np.where(valid, ids, 0), axis=1)
            np.testing.assert_allclose(
                np.where(valid, listed, -np.inf),
                scores,
                rtol=1e-5,
                atol=1e-6,
                err_msg=f"{name}: recommended ids do not have the scores listed ({what})",
            )


def check_recommend_items(name: str, estimator: BaseEstimator) -> None:
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


def check_batch_equals_single(name: str, estimator: BaseEstimator) -> None:
    """Results for a row do not depend on the other rows, their number or order."""
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    D = model.decision_function(X)
    rng = np.random.RandomState(1)
    perm = rng.permutation(X.shape[0])
    subset = np.sort(rng.choice(X.shape[0], size=X.shape[0] // 4, replace=False))
    for rows, what in ((perm, "the order of the rows"), (subset, "which rows are in the batch")):
        np.testing.assert_allclose(
            model.decision_function(X[rows]),
            D[rows],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"decision_function depends on {what}",
        )
    ids, scores = model.recommend(X, k=6)
    ids_sub, scores_sub = model.recommend(X[subset], k=6)
    np.testing.assert_allclose(
        scores_sub,
        scores[subset],
        rtol=1e-5,
        atol=1e-6,
        err_msg="recommend depends on which other rows are in the batch",
    )
    for i in range(0, X.shape[0], 7):
        np.testing.assert_allclose(
            model.decision_function(X[i : i + 1])[0],
            D[i],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"decision_function of row {i} alone differs from the batch",
        )
        ids_i, scores_i = model.recommend(X[i : i + 1], k=6)
        np.testing.assert_allclose(
            scores_i[0],
            scores[i],
            rtol=1e-5,
            atol=1e-6,
            err_msg=f"recommend of row {i} alone differs from the batch",
        )
        # ids may differ only between (near-)tied items
        valid = ids_i[0] >= 0
        np.testing.assert_allclose(D[i, ids_i[0][valid]], scores[i][valid], rtol=1e-5, atol=1e-6)


def check_determinism(name: str, estimator: BaseEstimator) -> None:
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


def check_random_state(name: str, estimator: BaseEstimator) -> None:
    """A different ``random_state`` gives a different model; no seed, no randomness.

    A seeded estimator must use its seed: two fits that differ only in
    ``random_state`` must not give the same ``decision_function``. An
    estimator without ``random_state`` must not draw random numbers at all:
    two fits give the same model.
    """
    X = _data()
    if "random_state" in estimator.get_params():
        est = clone(estimator)
        D0 = clone(est).set_params(random_state=0).fit(X).decision_function(X)
        D1 = clone(est).set_params(random_state=1).fit(X).decision_function(X)
        assert not np.allclose(D0, D1, rtol=1e-5, atol=1e-6), (
            f"{name}: random_state=0 and random_state=1 give the same model; the seed is ignored"
        )
    else:
        D0 = _fitted(estimator, X).decision_function(X)
        D1 = _fitted(estimator, X).decision_function(X)
        np.testing.assert_array_equal(
            D0,
            D1,
            f"{name} has no random_state, yet two fits on the same data differ",
        )


def check_pickle_and_clone(name: str, estimator: BaseEstimator) -> None:
    """Pickle round trip predicts the same; clone gives an unfitted twin."""
    X = _data()
    model = _fitted(estimator, X)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.decision_function(X), model.decision_function(X))
    np.testing.assert_array_equal(restored.recommend(X, k=5)[0], model.recommend(X, k=5)[0])
    twin = clone(model)
    assert twin.get_params() == model.get_params() or repr(twin) == repr(model)
    assert not hasattr(twin, "n_features_in_"), "clone must return an unfitted estimator"


def check_all_zero_rows(name: str, estimator: BaseEstimator) -> None:
    """Users with an empty history get valid (finite or padded) recommendations."""
    X = _data()
    model = _fitted(estimator, X)
    Z = sp.csr_matrix((3, X.shape[1]))
    D = model.decision_function(Z)
    assert D.shape == Z.shape and not np.isnan(D).any(), "NaN scores for empty histories"
    ids, scores = model.recommend(Z, k=5)
    _assert_well_formed(ids, scores, 3, 5, X.shape[1])


def check_dtypes_and_formats(name: str, estimator: BaseEstimator) -> None:
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


def check_input_not_modified(name: str, estimator: BaseEstimator) -> None:
    """fit, decision_function and recommend leave the caller's X untouched.

    The CSR inputs hold explicit zeros, once with sorted indices (validation
    then passes the caller's own arrays on to the model) and once with
    unsorted indices: the cases where in-place clean-ups
    (``eliminate_zeros``, ``sort_indices``) on arrays shared with the caller
    would corrupt it.
    """
    sorted_X = sp.csr_matrix(_data())
    sorted_X.data[::5] = 0.0  # explicit zeros
    unsorted_X = sorted_X.copy()
    for i in range(unsorted_X.shape[0]):  # unsorted indices
        lo, hi = unsorted_X.indptr[i], unsorted_X.indptr[i + 1]
        unsorted_X.indices[lo:hi] = unsorted_X.indices[lo:hi][::-1].copy()
        unsorted_X.data[lo:hi] = unsorted_X.data[lo:hi][::-1].copy()
    unsorted_X.has_sorted_indices = False
    for X in (sorted_X, unsorted_X):
        before = X.copy()
        model = clone(estimator).fit(X)
        model.decision_function(X)
        model.recommend(X, k=5)
        model.recommend(X, k=5, exclude_seen=False)
        model.recommend(X, k=5, items=np.arange(5))
        if hasattr(model, "transform"):
            model.transform(X)
        for attr in ("data", "indices", "indptr"):
            np.testing.assert_array_equal(
                getattr(X, attr), getattr(before, attr), f"X.{attr} modified"
            )
    dense = sorted_X.toarray()
    dense_before = dense.copy()
    clone(estimator).fit(dense).recommend(dense, k=3)
    np.testing.assert_array_equal(dense, dense_before, "dense X modified")


def check_bad_input(name: str, estimator: BaseEstimator) -> None:
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


def _ndcg10_one_item(y_ids, ids):
    """Mean NDCG@10 of one held-out item per user, written out (skips ``y < 0``)."""
    values = []
    for target, row in zip(y_ids.tolist(), ids[:, :10]):
        if target < 0:
            continue
        hit = np.flatnonzero(row == target)
        values.append(1.0 / np.log2(hit[0] + 2.0) if hit.size else 0.0)
    return float(np.mean(values))


def check_score(name: str, estimator: BaseEstimator) -> None:
    """``score`` is the NDCG@10 of ``recommend(X, 10)`` against 1-D or 2-D ``y``.

    Its value equals NDCG@10 computed here by hand from ``recommend``; a
    held-out item that the model lists first scores 1, one it does not list
    in its top 10 scores 0.
    """
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    ids, _ = model.recommend(X, k=10)
    unseen = X.toarray() == 0
    assert (ids >= 0).all(), "the planted data leaves every user 10 unseen items"
    rng = np.random.RandomState(0)
    y_ids = np.array([rng.choice(np.flatnonzero(row)) for row in unseen])
    y_ids[::9] = -1  # users with no held-out item are skipped
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)  # the skipped users
        s1 = model.score(X, y_ids)
    assert isinstance(s1, float), f"score returned {type(s1).__name__}, not float"
    np.testing.assert_allclose(
        s1,
        _ndcg10_one_item(y_ids, ids),
        rtol=1e-10,
        err_msg=f"{name}.score(X, y) is not NDCG@10 of recommend(X, 10)",
    )
    users = np.flatnonzero(y_ids >= 0)
    Y = sp.csr_matrix((np.ones(users.size), (users, y_ids[users])), shape=X.shape)
    s2 = model.score(X[users], Y[users])
    np.testing.assert_allclose(
        s2,
        _ndcg10_one_item(y_ids[users], ids[users]),
        rtol=1e-10,
        err_msg=f"{name}.score(X, Y) with a 2-D held-out Y is not NDCG@10 of recommend(X, 10)",
    )
    top = model.score(X, ids[:, 0])
    assert top == 1.0, f"{name}: score is {top}, not 1, when y is each user's first item"
    unlisted = unseen.copy()
    np.put_along_axis(unlisted, ids, False, axis=1)
    missed = np.array([np.flatnonzero(row)[0] for row in unlisted])
    bottom = model.score(X, missed)
    assert bottom == 0.0, f"{name}: score is {bottom}, not 0, when y is never listed"


def _popular_first(counts, candidates=None):
    """Item ids by decreasing ``counts`` (ties: lower id first), among ``candidates``."""
    ids = np.arange(counts.size) if candidates is None else np.asarray(candidates)
    return ids[np.lexsort((ids, -counts[ids]))]


def check_empty_rows_get_popularity(name, estimator):
    """Rows without interactions get the most popular candidates, scored by ``item_counts_``.

    ``recommend`` only: ``decision_function`` keeps the model's own scores.

    Checked in a batch mixed with ordinary rows (which keep their own
    answers), for the whole catalogue, candidate ids and a per-user mask,
    for ``k > n_items``, and for a row holding only an explicit zero.
    """
    X = sp.csr_matrix(_data())
    model = _fitted(estimator, X)
    n_items = X.shape[1]
    counts = np.asarray(model.item_counts_, dtype=np.float64)
    assert counts.shape == (n_items,), f"item_counts_ has shape {counts.shape}"
    explicit_zero = sp.csr_matrix((np.array([0.0]), np.array([3]), np.array([0, 1])), (1, n_items))
    Z = sp.vstack([X[0], sp.csr_matrix((1, n_items)), X[1], explicit_zero]).tocsr()
    empty = np.array([False, True, False, True])
    D = model.decision_function(Z)  # the model's own scores, also for empty rows
    assert not np.isnan(D).any(), "NaN scores for empty histories"
    np.testing.assert_allclose(D[~empty], model.decision_function(X[:2]), rtol=1e-5, atol=1e-6)

    order = _popular_first(counts)
    for k in (5, n_items + 3):
        ids, scores = model.recommend(Z, k=k)
        _assert_well_formed(ids, scores, 4, k, n_items)
        expected = np.full(k, -1, dtype=np.int64)
        expected[: min(k, n_items)] = order[:k]
        for i in np.flatnonzero(empty):
            np.testing.assert_array_equal(ids[i], expected, f"empty row {i}, k={k}: not popularity")
            valid = ids[i] >= 0
            np.testing.assert_allclose(scores[i][valid], counts[ids[i][valid]], rtol=1e-6)
        ref_ids, ref_scores = model.recommend(X[:2], k=k)
        np.testing.assert_allclose(scores[~empty], ref_scores, rtol=1e-5, atol=1e-6)

    rng = np.random.RandomState(0)
    cand = np.sort(rng.choice(n_items, size=n_items // 3, replace=False))
    ids, _ = model.recommend(Z, k=4, items=cand)
    for i in np.flatnonzero(empty):
        np.testing.assert_array_equal(ids[i], _popular_first(counts, cand)[:4], "among ids")
    mask = rng.rand(4, n_items) < 0.3
    ids, _ = model.recommend(Z, k=4, items=mask)
    for i in np.flatnonzero(empty):
        among = _popular_first(counts, np.flatnonzero(mask[i]))[:4]
        expected = np.concatenate([among, np.full(4 - among.size, -1, dtype=np.int64)])
        np.testing.assert_array_equal(ids[i], expected, "popularity among the mask")
    pred = model.predict(Z)
    assert (pred[empty] == order[0]).all(), "predict of an empty row is not the most popular item"


def check_score_without_y(name, estimator):
    """``score(X)`` is the scorer's holdout protocol (NDCG@10, holdout 0.2, seed 0)."""
    from ..datasets import make_interactions
    from ..metrics import make_recommendation_scorer

    X = sp.csr_matrix(make_interactions(n_users=150, n_items=60, random_state=1).data)
    model = _fitted(estimator, X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        s = model.score(X)
        expected = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)(model, X)
    assert isinstance(s, float) and not np.isnan(s), f"score(X) returned {s!r}"
    assert s == expected, f"score(X) = {s} but the holdout scorer gives {expected}"
    assert 0.0 <= s <= 1.0
    assert model.score(X) == s, "score(X) is not deterministic"


def _weighting_steps(X):
    """A pattern-keeping weighting and a step that drops the lighter half of the plays."""
    from sklearn.preprocessing import Binarizer

    from ..preprocessing import BM25Weighting

    return [BM25Weighting(), Binarizer(threshold=float(np.median(sp.csr_matrix(X).data)))]


def check_pipeline_with_weighting(name, estimator):
    """In a RecommenderPipeline after a weighting step: raw history excluded, scores agree.

    ``recommend`` lists the final step's best items outside the *raw* row,
    also when the step drops entries (``Binarizer``); ``predict`` is its
    top item; ``decision_function`` is the final step's on the transformed
    rows; ``score`` equals the package scorer and ``evaluate`` with ``y``,
    and the holdout scorer without.
    """
    from ..metrics import make_recommendation_scorer, ndcg_at_k
    from ..model_selection import evaluate, holdout_split
    from ..pipeline import RecommenderPipeline

    X = sp.csr_matrix(_data())
    rec = clone(estimator)
    if "random_state" in rec.get_params():
        rec.set_params(random_state=0)  # evaluate refits a clone
    seen = _seen_sets(X)
    n_users, n_items = X.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        X_train, X_test = holdout_split(X, 0.2, random_state=0)
    for step in _weighting_steps(X):
        pipe = RecommenderPipeline([("weight", step), ("rec", rec)]).fit(X)
        final = pipe[-1]
        Xt = pipe[:-1].transform(X)
        ids, scores = pipe.recommend(X, k=10)
        _assert_well_formed(ids, scores, n_users, 10, n_items)
        for i, row in enumerate(ids):
            assert not (set(row[row >= 0].tolist()) & seen[i]), f"row {i}: raw history listed"
        # reference: the final step's full ranking, raw history removed
        full_ids, full_scores = final.recommend(Xt, k=n_items, exclude_seen=False)
        for i in range(n_users):
            keep = (full_ids[i] >= 0) & ~np.isin(full_ids[i], list(seen[i]))
            ref = full_scores[i][keep][:10]
            np.testing.assert_allclose(scores[i][: ref.size], ref, rtol=1e-5, atol=1e-6)
            assert (ids[i][ref.size :] == -1).all()
        np.testing.assert_array_equal(pipe.predict(X), ids[:, 0])
        np.testing.assert_allclose(
            pipe.decision_function(X), final.decision_function(Xt), rtol=1e-6, atol=1e-7
        )

        pipe.fit(X_train)
        with warnings.catch_warnings():
            # users with nothing held out are skipped by the metric: expected here
            warnings.simplefilter("ignore", UserWarning)
            s = pipe.score(X_train, X_test)
            scorer_s = make_recommendation_scorer("ndcg", k=10)(pipe, X_train, X_test)
            direct = ndcg_at_k(X_test, pipe.recommend(X_train, k=10)[0], k=10)
            evaluated = evaluate(pipe, X_train, X_test, metrics="ndcg", k=10)["ndcg@10"]
            s0 = pipe.score(X)
            s0_expected = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)(
                pipe, X
            )
        assert s == scorer_s, f"RecommenderPipeline.score {s} != the scorer's {scorer_s}"
        assert s == direct, f"RecommenderPipeline.score {s} != NDCG@10 of its lists {direct}"
        np.testing.assert_allclose(evaluated, s, rtol=1e-12, err_msg="evaluate disagrees")
        assert s0 == s0_expected, "RecommenderPipeline.score(X) is not the holdout scorer"
    dropped = (Xt != 0).sum() < X.nnz
    assert dropped, "the Binarizer step should drop entries for this check to bite"


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


def check_quality_floor(name: str, estimator: BaseEstimator) -> None:
    """On planted data, NDCG@10 is at least 3x that of RandomRecommender.

    ``RandomRecommender`` itself fails this check, as it should: the project's
    common tests list it as an expected failure (and fail if it passes).
    """
    from ..baselines import RandomRecommender

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


# the checks rerun on quantised models (those that fit through _fitted)
_QUANTIZED_RERUN = (
    "check_recommend_shapes_and_padding",
    "check_recommend_exclude_seen",
    "check_recommend_matches_decision_function",
    "check_recommend_items",
    "check_batch_equals_single",
    "check_pickle_and_clone",
    "check_all_zero_rows",
    "check_dtypes_and_formats",
    "check_score",
    "check_empty_rows_get_popularity",
)


def check_quantized(name, estimator):
    """Models with ``quantize(dtype)`` still pass the harness once compressed.

    Runs on estimators that have a ``quantize`` method (factor and neural
    models; see ``utils/_quantize.py``). For ``"float16"`` and ``"int8"``:
    ``quantize`` returns the model and sets ``quantized_dtype_``; the checks
    of shapes, ``exclude_seen``, candidate ``items``, ``recommend`` against
    ``decision_function``, batch == single rows, pickling, empty rows,
    dtypes and ``score`` pass on the quantised model; its pickle is smaller;
    its top-10 lists overlap the float model's (at least 0.9 on average
    for float16, 0.8 for int8: scores are close, not equal, so near-ties
    may swap); rows are still folded in (``transform`` for transformers);
    a refit discards the compression. An unknown dtype is a ``ValueError``
    naming the argument, and an unfitted model raises ``NotFittedError``.
    """
    if not hasattr(estimator, "quantize"):
        return
    from sklearn.exceptions import NotFittedError

    try:
        clone(estimator).quantize("int8")
    except NotFittedError:
        pass
    else:
        raise AssertionError(f"{name}.quantize on an unfitted model must raise NotFittedError")
    X = _data()
    reference = _fitted(estimator, X)
    ref_ids = reference.recommend(X, k=10)[0]
    ref_size = len(pickle.dumps(reference))
    assert reference.quantized_dtype_ is None, f"{name}: quantized_dtype_ before quantize"
    for bad in ("int4", "float64", 8, None):
        try:
            reference.quantize(bad)
        except ValueError as exc:
            assert "dtype" in str(exc) and repr(bad) in str(exc), (
                f"{name}.quantize({bad!r}): the error must name dtype and the value: {exc}"
            )
        else:
            raise AssertionError(f"{name}.quantize accepted dtype={bad!r}")
    assert reference.quantized_dtype_ is None, f"{name}: a refused quantize changed the model"
    by_name = {check.__name__: check for check in _CHECKS}
    for dtype, floor in (("float16", 0.9), ("int8", 0.8)):
        model = clone(estimator).fit(X)
        assert model.quantize(dtype) is model, f"{name}.quantize must return self"
        assert model.quantized_dtype_ == dtype, f"{name}: quantized_dtype_ is not {dtype!r}"
        size = len(pickle.dumps(model))
        assert size < ref_size, f"{name}: the {dtype} pickle ({size} B) is not smaller"
        ids = model.recommend(X, k=10)[0]
        overlap = np.mean(
            [np.intersect1d(a[a >= 0], b[b >= 0]).size / 10 for a, b in zip(ids, ref_ids)]
        )
        assert overlap >= floor, (
            f"{name}: {dtype} top-10 lists overlap the float model's by {overlap:.3f} < {floor}"
        )
        if hasattr(model, "transform"):
            assert np.all(np.isfinite(model.transform(X[:5]))), f"{name}: {dtype} fold-in failed"
        model.fit(X)
        assert model.quantized_dtype_ is None, f"{name}: a refit must discard the compression"
        token = _AFTER_FIT.set(lambda fitted, dtype=dtype: fitted.quantize(dtype))
        try:
            for check in _QUANTIZED_RERUN:
                by_name[check](f"{name} ({dtype})", estimator)
        finally:
            _AFTER_FIT.reset(token)


_CHECKS = (
    check_recommend_shapes_and_padding,
    check_recommend_exclude_seen,
    check_recommend_matches_decision_function,
    check_recommend_items,
    check_batch_equals_single,
    check_determinism,
    check_random_state,
    check_pickle_and_clone,
    check_all_zero_rows,
    check_dtypes_and_formats,
    check_input_not_modified,
    check_bad_input,
    check_score,
    check_quality_floor,
    check_empty_rows_get_popularity,
    check_score_without_y,
    check_pipeline_with_weighting,
    check_cold_items,
    check_quantized,
)


def recommender_checks(estimator: BaseEstimator) -> Iterator[partial[None]]:
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


def check_recommender(
    estimator: BaseEstimator, *, expected_failed_checks: Mapping[str, str] | None = None
) -> None:
    """Run every behavioural check on ``estimator``; raise on the first failure.

    Parameters
    ----------
    estimator : estimator instance
        An unfitted recommender.
    expected_failed_checks : dict of {str: str}, default=None
        Checks known to fail for this estimator, by name, each with the
        reason (as in :func:`sklearn.utils.estimator_checks.check_estimator`).
        Each of them must fail with an ``AssertionError``: one that passes
        raises, so the table cannot go stale.

    Raises
    ------
    AssertionError
        The first check that fails (or an expected failure that passes).

    Examples
    --------
    >>> from sklearn_musicrec import PopularityRecommender, RandomRecommender
    >>> from sklearn_musicrec.utils.estimator_checks import check_recommender
    >>> check_recommender(PopularityRecommender())
    >>> check_recommender(
    ...     RandomRecommender(random_state=0),
    ...     expected_failed_checks={"check_quality_floor": "random is the floor's reference"},
    ... )
    """
    expected = dict(expected_failed_checks or {})
    known = {check.__name__ for check in _CHECKS}
    unknown = sorted(set(expected) - known)
    if unknown:
        raise ValueError(
            f"expected_failed_checks names unknown checks {unknown}; the checks are "
            f"{sorted(known)}."
        )
    for check in recommender_checks(estimator):
        check_name = check.func.__name__
        if check_name not in expected:
            check()
            continue
        try:
            check()
        except AssertionError:
            continue
        raise AssertionError(
            f"{check_name} passed for {type(estimator).__name__} but is listed in "
            f"expected_failed_checks ({expected[check_name]!r}); remove the entry."
        )
