"""One interaction validator and one item-id validator: the same bad input gets
the same exception and message from every estimator, splitter, scorer, metric
and evaluate."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import auc_score, make_recommendation_scorer, ndcg_at_k, recall_at_k
from sklearn_musicrec.model_selection import evaluate, holdout_split, leave_k_out_split
from sklearn_musicrec.utils._test_params import construct_instances
from sklearn_musicrec.utils.discovery import all_recommenders
from sklearn_musicrec.utils.validation import check_interactions, check_item_ids

RECOMMENDERS = [est for _, cls in all_recommenders() for est in construct_instances(cls)]
IDS = [type(est).__name__ for est in RECOMMENDERS]
WITH_SIMILAR_ITEMS = [est for est in RECOMMENDERS if hasattr(est, "similar_items")]

N_USERS, N_ITEMS = 30, 20
X = make_interactions(n_users=N_USERS, n_items=N_ITEMS, random_state=0).data.astype(np.float64)


def _with(value):
    Z = X.toarray()
    Z[0, 1] = value
    return Z


def _sparse_with(value):
    Z = X.copy()
    Z.data[0] = value
    return Z


# bad input -> (exception type, regex its message must match)
BAD = {
    "negative": (_with(-1.0), ValueError, r"Negative values .* its minimum is -1\.0\.$"),
    "negative-sparse": (_sparse_with(-2.0), ValueError, r"its minimum is -2\.0\.$"),
    "nan": (_with(np.nan), ValueError, "contains NaN: .* NaN does not mean 'missing'"),
    "nan-sparse": (_sparse_with(np.nan), ValueError, "contains NaN"),
    "inf": (_with(np.inf), ValueError, "contains infinity"),
    "1-d": (X[0].toarray().ravel(), ValueError, r"must be a 2-D .* got a 1-D array"),
    "3-d": (np.ones((2, 3, N_ITEMS)), ValueError, "got an array with 3 dimensions"),
    "strings": (
        np.array([["1"] * (N_ITEMS - 1) + ["rock"]] * 2, dtype=object),
        ValueError,
        "could not convert the string 'rock' to a number",
    ),
    # the two non-matrices people pass by mistake: a dataset Bunch and a long-format log
    "bunch": (
        make_interactions(n_users=4, n_items=N_ITEMS, random_state=0),
        TypeError,
        r"got a Bunch with keys 'data'.* pass its interaction matrix, bunch\.data\.$",
    ),
    "long-table": (
        pd.DataFrame({"user_id": [0, 1], "artist": [3, 4], "plays": [5, 1]}),
        ValueError,
        r"columns \['user_id', 'artist', 'plays'\]: this looks like a long-format log.*"
        r"InteractionEncoder\(user_col='user_id', item_col='artist'\)",
    ),
}


def _error(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            func(*args, **kwargs)
        except Exception as exc:  # the exception is the result under test
            return type(exc), str(exc)
    raise AssertionError(f"{func} accepted bad input")


def _normalised(message, *names):
    for name in names:
        message = message.replace(name, "<caller>")
    return message


@pytest.fixture(scope="module")
def fitted():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {type(est).__name__: clone(est).fit(X) for est in RECOMMENDERS}


@pytest.mark.parametrize("case", sorted(BAD))
@pytest.mark.parametrize("estimator", RECOMMENDERS, ids=IDS)
def test_bad_interactions_same_error_from_every_recommender(estimator, case, fitted):
    bad, error, pattern = BAD[case]
    name = type(estimator).__name__
    reference = _error(check_interactions, None, bad, method="<caller>")
    assert reference[0] is error and re.search(pattern, reference[1]), reference
    got = _error(clone(estimator).fit, bad)
    assert (got[0], _normalised(got[1], f"{name}.fit")) == reference
    for method in ("recommend", "decision_function"):
        got = _error(getattr(fitted[name], method), bad)
        assert (got[0], _normalised(got[1], f"{name}.{method}")) == reference


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_interactions_same_error_from_splitters_scorers_evaluate(case, fitted):
    bad, error, _ = BAD[case]
    reference = _error(check_interactions, None, bad, method="<caller>")
    model = fitted["PopularityRecommender"]
    scorer = make_recommendation_scorer("ndcg", test_size=0.2, random_state=0)
    callers = [
        ("holdout_split", lambda: holdout_split(bad, 0.2, random_state=0)),
        ("leave_k_out_split", lambda: leave_k_out_split(bad, random_state=0)),
        ("a recommendation scorer", lambda: scorer(model, bad)),
    ]
    for whom, call in callers:
        got = _error(call)
        assert (got[0], _normalised(got[1], whom)) == reference, whom
    ndim = getattr(bad, "ndim", None)  # None: a dataset Bunch
    if ndim not in (1, None):  # a 1-D y_true is item ids, not a matrix
        reference = _error(check_interactions, None, bad, method="<caller>", input_name="y_true")
        ids = np.zeros((bad.shape[0], 3), dtype=np.int64)
        calls = [lambda: ndcg_at_k(bad, ids), lambda: recall_at_k(bad, ids)]
        if ndim == 2:
            calls.append(lambda: auc_score(bad, np.ones(bad.shape)))
        for call in calls:
            got = _error(call)
            assert (got[0], _normalised(got[1], "a metric")) == reference
    if ndim in (2, None):
        for name, args in [("X_train", (bad, X.toarray())), ("X_test", (X.toarray(), bad))]:
            reference = _error(check_interactions, None, bad, method="<caller>", input_name=name)
            got = _error(evaluate, model, *args)
            assert (got[0], _normalised(got[1], "evaluate")) == reference


@pytest.mark.parametrize("estimator", RECOMMENDERS, ids=IDS)
def test_user_id_instead_of_a_row_says_what_to_pass(estimator, fitted):
    name = type(estimator).__name__
    for user in (0, np.int64(3)):
        error, message = _error(fitted[name].recommend, user)
        assert error is ValueError
        assert message == (
            f"X passed to {name}.recommend must be a 2-D (n_users, n_items) interaction "
            "matrix, one row per user's history; got the scalar "
            f"{int(user)}. Rows are users' histories, not user ids: to recommend for "
            f"user {int(user)} of a training matrix X_train, pass that user's row as a "
            f"1-row matrix, X_train[[{int(user)}]]."
        )
    # and the advice works
    ids, _ = fitted[name].recommend(X[[0]])
    assert ids.shape == (1, 10)


@pytest.mark.parametrize("estimator", RECOMMENDERS, ids=IDS)
def test_empty_and_wrong_width_same_error_from_every_recommender(estimator, fitted):
    name = type(estimator).__name__
    reference = "PopularityRecommender"
    for bad in (np.zeros((0, N_ITEMS)), np.zeros((3, 0))):
        want = _error(clone(RECOMMENDERS[IDS.index(reference)]).fit, bad)
        got = _error(clone(estimator).fit, bad)
        assert (got[0], got[1].replace(name, reference)) == want
    want = _error(fitted[reference].recommend, X[:, :-1])
    got = _error(fitted[name].recommend, X[:, :-1])
    assert (got[0], got[1].replace(name, reference)) == want
    assert "transpose it" in got[1]


@pytest.mark.parametrize(
    "bad, error, pattern",
    [
        ([[0, 1]], ValueError, r"item_ids must be an item id or a 1-D array .* shape \(1, 2\)"),
        (
            [N_ITEMS],
            ValueError,
            rf"item_ids must be item ids in \[0, {N_ITEMS}\) .* from {N_ITEMS} to",
        ),
        ([-1, 2], ValueError, rf"item_ids must be item ids in \[0, {N_ITEMS}\) .* from -1 to 2"),
        ([0.5], TypeError, "item_ids must hold integer item ids .* got dtype float64"),
        (True, TypeError, "got dtype bool"),
        (["a"], TypeError, "integer item ids"),
    ],
)
@pytest.mark.parametrize("estimator", WITH_SIMILAR_ITEMS, ids=lambda e: type(e).__name__)
def test_bad_item_ids_same_error_from_every_model(estimator, bad, error, pattern, fitted):
    reference = _error(check_item_ids, bad, N_ITEMS)
    assert reference[0] is error and re.search(pattern, reference[1]), reference
    assert _error(fitted[type(estimator).__name__].similar_items, bad) == reference


@pytest.mark.parametrize("estimator", RECOMMENDERS, ids=IDS)
def test_candidate_item_ids_use_the_item_id_validator(estimator, fitted):
    model = fitted[type(estimator).__name__]
    for bad in ([N_ITEMS], [0.5]):
        error, message = _error(model.recommend, X[:2], items=bad)
        assert (error, message) == _error(check_item_ids, bad, N_ITEMS, name="items")


def test_valid_input_is_not_copied_unless_canonical():
    Xc = sp.csr_matrix(X)
    assert check_interactions(None, Xc, method="f") is Xc
    out = check_interactions(None, Xc, method="f", canonical=True)
    assert out is not Xc and not np.shares_memory(out.data, Xc.data)
    dup = sp.csr_matrix((np.array([1.0, 2.0, 0.0]), np.array([1, 1, 0]), np.array([0, 3])))
    out = check_interactions(None, dup, method="f", canonical=True)
    assert out.nnz == 1 and out[0, 1] == 3.0 and dup.nnz == 3  # caller's matrix untouched
    ints = check_interactions(None, np.array([[0, 2]]), dtype="numeric", method="f")
    assert ints.dtype.kind == "i"


def test_check_item_ids_accepts_scalars_and_arrays():
    np.testing.assert_array_equal(check_item_ids(np.int32(4), 5), [4])
    out = check_item_ids(np.array([0, 4], dtype=np.uint8), 5)
    assert out.dtype == np.int64 and out.tolist() == [0, 4]
    assert check_item_ids([], 5).shape == (0,)
