import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.metrics import ndcg_score, roc_auc_score

from sklearn_musicrec.metrics import (
    auc_score,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)

RANKING = {
    "precision": precision_at_k,
    "recall": recall_at_k,
    "ndcg": ndcg_at_k,
    "map": map_at_k,
    "mrr": mrr_at_k,
    "hit_rate": hit_rate_at_k,
}


# -- a direct, per-user reference implementation of the definitions ----------
def _reference_user(relevance, recommended, k, gain="binary"):
    """All ranking metrics of one user; ``relevance`` maps item -> value > 0."""
    n_rel = len(relevance)
    seen, hits, gains = set(), [], []
    for item in list(recommended)[:k]:
        if item < 0 or item in seen:
            hits.append(0)
            gains.append(0.0)
            continue
        seen.add(item)
        hit = item in relevance
        hits.append(int(hit))
        value = relevance.get(item, 0.0)
        gains.append(
            float(hit) if gain == "binary" else (value if gain == "linear" else 2.0**value - 1)
        )
    dcg = sum(g / math.log2(j + 2) for j, g in enumerate(gains))
    ideal_values = sorted(relevance.values(), reverse=True)[:k]
    if gain == "binary":
        ideal_values = [1.0] * len(ideal_values)
    elif gain == "exponential":
        ideal_values = [2.0**v - 1 for v in ideal_values]
    idcg = sum(g / math.log2(j + 2) for j, g in enumerate(ideal_values))
    n_hits = sum(hits)
    ap, found = 0.0, 0
    for j, h in enumerate(hits):
        if h:
            found += 1
            ap += found / (j + 1)
    first = next((j for j, h in enumerate(hits) if h), None)
    return {
        "precision": n_hits / k,
        "recall": n_hits / min(k, n_rel),
        "ndcg": dcg / idcg if idcg > 0 else 0.0,
        "map": ap / min(k, n_rel),
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
        "hit_rate": float(n_hits > 0),
    }


def _reference(y_true, y_recommended, k, gain="binary"):
    dense = np.asarray(y_true.toarray() if sp.issparse(y_true) else y_true, dtype=float)
    out = {name: [] for name in RANKING}
    for u in range(dense.shape[0]):
        rel = {int(i): float(dense[u, i]) for i in np.flatnonzero(dense[u] > 0)}
        if not rel:
            for name in out:
                out[name].append(np.nan)
            continue
        for name, value in _reference_user(rel, y_recommended[u], k, gain).items():
            out[name].append(value)
    return {name: np.array(v) for name, v in out.items()}


# -- hand-worked examples -------------------------------------------------------
def test_hand_worked_binary_matrix():
    # user 0: relevant {1, 3}; list [1, 0, 3] -> hits at ranks 1 and 3
    # user 1: relevant {2};    list [0, 1, 2] -> hit at rank 3
    y_true = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 5, 0]]))
    recs = np.array([[1, 0, 3], [0, 1, 2]])
    assert precision_at_k(y_true, recs, per_user=True) == pytest.approx([2 / 3, 1 / 3])
    assert recall_at_k(y_true, recs, per_user=True) == pytest.approx([1.0, 1.0])
    assert recall_at_k(y_true, recs, k=2, per_user=True) == pytest.approx([0.5, 0.0])
    dcg0 = 1 + 1 / math.log2(4)
    idcg0 = 1 + 1 / math.log2(3)
    assert ndcg_at_k(y_true, recs, per_user=True) == pytest.approx([dcg0 / idcg0, 0.5])
    assert map_at_k(y_true, recs, per_user=True) == pytest.approx([(1 + 2 / 3) / 2, 1 / 3])
    assert mrr_at_k(y_true, recs, per_user=True) == pytest.approx([1.0, 1 / 3])
    assert hit_rate_at_k(y_true, recs, k=2, per_user=True) == pytest.approx([1.0, 0.0])
    assert ndcg_at_k(y_true, recs) == pytest.approx((dcg0 / idcg0 + 0.5) / 2)


def test_hand_worked_graded_ndcg():
    y_true = np.array([[3, 0, 1, 2]])
    recs = np.array([[2, 0, 3]])
    dcg = 1 / 1 + 3 / math.log2(3) + 2 / math.log2(4)
    idcg = 3 / 1 + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(y_true, recs, gain="linear") == pytest.approx(dcg / idcg)
    dcg_e = 1 / 1 + 7 / math.log2(3) + 3 / math.log2(4)
    idcg_e = 7 + 3 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(y_true, recs, gain="exponential") == pytest.approx(dcg_e / idcg_e)
    # binary ignores the grades
    assert ndcg_at_k(y_true, recs) == pytest.approx(1.0)


def test_one_dimensional_ids_and_negative_means_none():
    recs = np.array([[4, 2], [1, 0], [3, 3]])
    with pytest.warns(UndefinedMetricWarning):
        per_user = ndcg_at_k(np.array([2, 5, -1]), recs, per_user=True)
    np.testing.assert_allclose(per_user[:2], [1 / math.log2(3), 0.0])
    assert np.isnan(per_user[2])
    with pytest.warns(UndefinedMetricWarning, match="1 of 3 users"):
        assert ndcg_at_k(np.array([2, 5, -1]), recs) == pytest.approx((1 / math.log2(3) + 0) / 2)
    # 1-D ids give the same as the equivalent one-hot matrix
    one_hot = np.zeros((2, 6))
    one_hot[[0, 1], [2, 5]] = 1
    for name, func in RANKING.items():
        assert func([2, 5], recs[:2]) == pytest.approx(func(one_hot, recs[:2])), name


def test_recall_denominator_is_min_k_relevant():
    # 5 relevant items, k=2, both hits: Liang et al. recall is 1, not 2/5
    y_true = np.array([[1, 1, 1, 1, 1, 0]])
    assert recall_at_k(y_true, [[0, 1]]) == pytest.approx(1.0)
    assert recall_at_k(y_true, [[0, 5]]) == pytest.approx(0.5)
    # 1 relevant, k=10: denominator 1
    assert recall_at_k([3], [[0, 3, 1]], k=10) == pytest.approx(1.0)


def test_padding_and_k_beyond_list_length():
    y_true = np.array([[1, 1, 0, 0]])
    recs = np.array([[0, -1, -1]])
    assert precision_at_k(y_true, recs) == pytest.approx(1 / 3)
    # k larger than the list: missing positions are padding
    assert precision_at_k(y_true, recs, k=10) == pytest.approx(1 / 10)
    assert recall_at_k(y_true, recs, k=10) == pytest.approx(0.5)
    assert ndcg_at_k(y_true, recs, k=10) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    # k smaller than the list cuts it
    assert hit_rate_at_k([2], [[0, 1, 2]], k=2) == 0.0
    assert hit_rate_at_k([2], [[0, 1, 2]]) == 1.0


def test_duplicates_count_once():
    y_true = np.array([[0, 1, 1, 0]])
    recs = np.array([[1, 1, 3, 2]])
    assert precision_at_k(y_true, recs) == pytest.approx(2 / 4)
    assert recall_at_k(y_true, recs, k=2) == pytest.approx(0.5)
    expected = (1 + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(y_true, recs) == pytest.approx(expected)
    assert map_at_k(y_true, recs) == pytest.approx((1 + 2 / 4) / 2)
    assert ndcg_at_k([1], [[1, 1, 1]]) == pytest.approx(1.0)


def test_empty_users_are_skipped_with_warning():
    y_true = sp.csr_matrix(np.array([[0, 1, 0], [0, 0, 0]]))
    recs = np.array([[1, 0], [2, 0]])
    for name, func in RANKING.items():
        with pytest.warns(UndefinedMetricWarning, match="1 of 2 users"):
            assert func(y_true, recs) == pytest.approx(func(y_true[:1], recs[:1])), name


def test_no_relevant_user_returns_zero_with_warning():
    recs = np.array([[0, 1], [1, 0]])
    for func in RANKING.values():
        with pytest.warns(UndefinedMetricWarning, match="every user"):
            assert func(np.array([-1, -1]), recs) == 0.0
        with pytest.warns(UndefinedMetricWarning):
            assert np.isnan(func(sp.csr_matrix((2, 3)), recs, per_user=True)).all()


def test_all_padding_lists_score_zero_without_warning():
    # what RecommenderMixin.score sees in sklearn's check_fit_score_takes_y:
    # a 30 x 3 X whose every item is seen, y = np.arange(30) % 3
    y = np.arange(30) % 3
    recs = np.full((30, 10), -1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert ndcg_at_k(y, recs, k=10) == 0.0
    recs[:, 0] = y
    assert ndcg_at_k(y, recs, k=10) == 1.0


def test_matches_sklearn_ndcg_score():
    rng = np.random.RandomState(0)
    n_users, n_items, k = 40, 25, 7
    y_true = rng.randint(0, 4, size=(n_users, n_items)) * (rng.rand(n_users, n_items) < 0.3)
    y_true[y_true.sum(axis=1) == 0, 0] = 1
    scores = rng.rand(n_users, n_items)
    ranking = np.argsort(-scores, axis=1)
    ours = ndcg_at_k(y_true, ranking, k=k, gain="linear")
    assert ours == pytest.approx(ndcg_score(y_true, scores, k=k))
    binary = (y_true > 0).astype(int)
    assert ndcg_at_k(binary, ranking, k=k) == pytest.approx(ndcg_score(binary, scores, k=k))
    assert ndcg_at_k(sp.csr_matrix(y_true), ranking, k=k, gain="linear") == pytest.approx(ours)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_users=st.integers(1, 12),
    n_items=st.integers(1, 15),
    n_cols=st.integers(1, 12),
    k=st.one_of(st.none(), st.integers(1, 20)),
    gain=st.sampled_from(["binary", "linear", "exponential"]),
)
def test_matches_reference_on_random_lists(seed, n_users, n_items, n_cols, k, gain):
    rng = np.random.RandomState(seed)
    y_true = (rng.rand(n_users, n_items) < 0.3) * rng.randint(1, 4, size=(n_users, n_items))
    # ids with padding (-1) and duplicates
    recs = rng.randint(-1, n_items, size=(n_users, n_cols))
    kk = n_cols if k is None else k
    expected = _reference(y_true, recs, kk, gain)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for name, func in RANKING.items():
            params = {"gain": gain} if name == "ndcg" else {}
            got = func(sp.csr_matrix(y_true), recs, k=k, per_user=True, **params)
            np.testing.assert_allclose(got, expected[name], rtol=1e-12, err_msg=name)
            mean = func(y_true, recs, k=k, **params)
            defined = expected[name][~np.isnan(expected[name])]
            assert mean == pytest.approx(defined.mean() if defined.size else 0.0), name


def test_input_validation():
    with pytest.raises(ValueError, match="y_recommended must be a 2-D"):
        ndcg_at_k([1, 2], [1, 2])
    with pytest.raises(ValueError, match=">= 0, or -1"):
        ndcg_at_k([1], [[-2, 1]])
    with pytest.raises(TypeError, match="integer item ids"):
        ndcg_at_k([1], np.array([["a", "b"]]))
    with pytest.raises(ValueError, match="non-integral"):
        ndcg_at_k([1], [[0.5, 1]])
    with pytest.raises(ValueError, match="3 users .* but y_recommended has 2"):
        ndcg_at_k([1, 2, 0], [[0], [1]])
    with pytest.raises(ValueError, match="item id 7 but y_true describes only 3 items"):
        ndcg_at_k(np.eye(3)[:1], [[7]])
    with pytest.raises(ValueError, match="non-negative"):
        ndcg_at_k(np.array([[-1.0, 1.0]]), [[0]])
    with pytest.raises(ValueError, match="'gain' parameter"):
        ndcg_at_k([0], [[0]], gain="log")
    with pytest.raises(ValueError, match="'k' parameter"):
        recall_at_k([0], [[0]], k=0)
    with pytest.raises(TypeError, match="'per_user' parameter"):
        recall_at_k([0], [[0]], per_user="yes")
    with pytest.raises(TypeError, match="booleans"):
        recall_at_k(np.array([True]), [[0]])
    with pytest.raises(ValueError, match="non-integral"):
        recall_at_k(np.array([0.5]), [[0]])
    # integral floats are fine (e.g. a float label vector)
    assert recall_at_k(np.array([1.0]), [[1]]) == 1.0


def test_inputs_are_not_modified():
    y_true = sp.csr_matrix(np.array([[0, 2, 0, 1]]))
    y_true_before = y_true.copy()
    recs = np.array([[1, 1, -1]])
    recs_before = recs.copy()
    for func in RANKING.values():
        func(y_true, recs)
    assert (y_true != y_true_before).nnz == 0
    np.testing.assert_array_equal(recs, recs_before)


# -- AUC ---------------------------------------------------------------------
def test_auc_hand_worked_and_ties():
    scores = np.array([[0.9, 0.1, 0.5, 0.3], [1.0, 1.0, 0.0, 0.0]])
    # user 0: item 2 ranks above 1 and 3, below 0 -> 2/3
    # user 1: item 1 ties with 0, beats 2 and 3 -> (0.5 + 1 + 1) / 3
    got = auc_score([2, 1], scores, per_user=True)
    np.testing.assert_allclose(got, [2 / 3, 2.5 / 3])


def test_auc_matches_sklearn_per_user_and_exclude():
    rng = np.random.RandomState(0)
    y_true = (rng.rand(20, 30) < 0.2).astype(int)
    y_true[:, 0] = 1
    y_true[:, 1] = 0
    history = (rng.rand(20, 30) < 0.2) & (y_true == 0)
    history[:, 1] = False
    scores = rng.randn(20, 30).round(1)  # with ties
    got = auc_score(y_true, scores, exclude=sp.csr_matrix(history), per_user=True)
    for u in range(20):
        keep = ~history[u]
        assert got[u] == pytest.approx(roc_auc_score(y_true[u, keep], scores[u, keep]))


def test_auc_excluded_positive_and_undefined_users():
    scores = np.array([[0.1, 0.2, 0.3]])
    with pytest.warns(UndefinedMetricWarning, match="every user"):
        assert auc_score([2], scores, exclude=np.array([[0, 0, 1]])) == 0.0
    with pytest.warns(UndefinedMetricWarning):
        # every candidate relevant: no negative
        assert auc_score(np.ones((1, 3)), scores) == 0.0
    with pytest.raises(ValueError, match="NaN"):
        auc_score([0], np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="only 2 columns"):
        auc_score([4], np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="exclude must have the shape"):
        auc_score([0], np.array([[0.0, 1.0]]), exclude=np.ones((2, 2)))


def test_blocked_kernel_matches_reference(monkeypatch):
    # the hit search runs over blocks of users; make the blocks tiny
    from sklearn_musicrec.metrics import _ranking

    monkeypatch.setattr(_ranking, "_BLOCK_ENTRIES", 7)
    rng = np.random.RandomState(3)
    y_true = (rng.rand(50, 20) < 0.2) * rng.randint(1, 4, size=(50, 20))
    y_true[5:9] = 0  # a run of users without relevant items spans a block
    recs = rng.randint(-1, 20, size=(50, 6))
    expected = _reference(y_true, recs, 6, "linear")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for name, func in RANKING.items():
            params = {"gain": "linear"} if name == "ndcg" else {}
            got = func(sp.csr_matrix(y_true), recs, per_user=True, **params)
            np.testing.assert_allclose(got, expected[name], rtol=1e-12, err_msg=name)
