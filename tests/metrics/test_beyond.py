import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import UndefinedMetricWarning

from sklearn_musicrec.metrics import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    long_tail_share,
    mae,
    novelty,
    personalization,
    rmse,
)


def _lists(recs, k=None):
    out = []
    for row in np.asarray(recs)[:, :k]:
        items = []
        for i in row:
            if i >= 0 and i not in items:
                items.append(int(i))
        out.append(items)
    return out


@pytest.fixture
def random_lists():
    rng = np.random.RandomState(0)
    return rng.randint(-1, 30, size=(25, 6))


def test_catalog_coverage(random_lists):
    assert catalog_coverage([[0, 1, -1], [1, 1, 2]], n_items=8) == pytest.approx(3 / 8)
    assert catalog_coverage([[0, 1, -1], [1, 1, 2]], n_items=8, k=1) == pytest.approx(2 / 8)
    expected = len({i for row in _lists(random_lists) for i in row}) / 40
    assert catalog_coverage(random_lists, n_items=40) == pytest.approx(expected)
    with pytest.raises(ValueError, match="n_items=3"):
        catalog_coverage([[5]], n_items=3)
    with pytest.raises(ValueError, match="'n_items' parameter"):
        catalog_coverage([[0]], n_items=0)


def test_gini_index(random_lists):
    # one item takes all the exposure among 4 items: (2*4 - 4 - 1) / 4
    assert gini_index([[0], [0]], n_items=4) == pytest.approx(3 / 4)
    assert gini_index([[0, 1], [2, 3]], n_items=4) == pytest.approx(0.0)
    # reference: mean absolute difference formula
    exposure = np.zeros(40)
    for row in _lists(random_lists):
        exposure[row] += 1
    mad = np.abs(exposure[:, None] - exposure[None, :]).sum()
    expected = mad / (2 * 40**2 * exposure.mean())
    assert gini_index(random_lists, n_items=40) == pytest.approx(expected)
    with pytest.warns(UndefinedMetricWarning):
        assert gini_index([[-1, -1]], n_items=3) == 0.0


def test_personalization(random_lists):
    assert personalization([[0, 1], [0, 1]]) == pytest.approx(0.0)
    assert personalization([[0, 1], [2, 3]]) == pytest.approx(1.0)
    lists = _lists(random_lists)
    sims = [
        len(set(a) & set(b)) / math.sqrt(len(a) * len(b))
        for a, b in itertools.combinations([x for x in lists if x], 2)
    ]
    assert personalization(random_lists) == pytest.approx(1 - np.mean(sims))
    with pytest.warns(UndefinedMetricWarning):
        assert personalization([[0, 1], [-1, -1]]) == 0.0


def test_intra_list_diversity_matches_pairwise_reference(random_lists):
    rng = np.random.RandomState(1)
    features = (rng.rand(30, 8) < 0.3) * rng.randint(1, 5, size=(30, 8))
    features[3] = 0  # an item without features: similarity 0 to everything
    norm = np.linalg.norm(features, axis=1)

    def cos(i, j):
        if norm[i] == 0 or norm[j] == 0:
            return 0.0
        return features[i] @ features[j] / (norm[i] * norm[j])

    expected = []
    for items in _lists(random_lists):
        if len(items) < 2:
            expected.append(np.nan)
            continue
        pairs = list(itertools.permutations(items, 2))
        expected.append(1 - np.mean([cos(i, j) for i, j in pairs]))
    dense = intra_list_diversity(random_lists, features, per_user=True)
    sparse = intra_list_diversity(random_lists, sp.csr_matrix(features), per_user=True)
    np.testing.assert_allclose(dense, expected, atol=1e-12)
    np.testing.assert_allclose(sparse, expected, atol=1e-12)
    with pytest.raises(ValueError, match="only 30 rows"):
        intra_list_diversity([[31, 0]], features)


def test_novelty():
    train = sp.csr_matrix(np.array([[1, 1, 0, 0], [1, 0, 0, 0], [5, 0, 2, 0], [1, 0, 0, 0]]))
    # item 0: 4/4 users -> 0 bits; item 1: 1/4 -> 2 bits; item 3: unseen -> log2(4)
    got = novelty([[0, 1], [3, -1]], train, per_user=True)
    np.testing.assert_allclose(got, [1.0, 2.0])
    counts = np.array([4, 1, 1, 0])
    np.testing.assert_allclose(novelty([[0, 1], [3, -1]], counts, n_users=4, per_user=True), got)
    with pytest.raises(ValueError, match="pass n_users"):
        novelty([[0]], counts)
    with pytest.raises(ValueError, match="must be numbers of users"):
        novelty([[0]], counts, n_users=2)


def test_average_popularity_and_long_tail():
    plays = np.array([[50, 1, 0, 0], [30, 9, 5, 5]])
    # listeners per item: [2, 2, 1, 1]
    assert average_popularity([[0, 2], [3, -1]], plays) == pytest.approx((1.5 + 1) / 2)
    assert average_popularity([[0, 2]], np.array([7.0, 0, 3, 0])) == pytest.approx(5.0)
    # plays per item: [80, 10, 5, 5] (total 100) -> the head is item 0 alone
    got = long_tail_share([[0, 1], [2, 3], [0, 0]], plays, per_user=True)
    np.testing.assert_allclose(got, [0.5, 1.0, 0.0])
    # head_share=0.9 needs items 0 and 1
    got = long_tail_share([[0, 1], [2, 3]], plays, head_share=0.9, per_user=True)
    np.testing.assert_allclose(got, [0.0, 1.0])
    with pytest.raises(ValueError, match="head_share"):
        long_tail_share([[0]], plays, head_share=0)
    with pytest.raises(ValueError, match="non-negative"):
        average_popularity([[0]], np.array([-1.0]))
    with pytest.warns(UndefinedMetricWarning):
        assert average_popularity([[-1]], plays) == 0.0


def test_rating_metrics():
    rng = np.random.RandomState(0)
    truth = sp.random(20, 15, density=0.2, random_state=rng, format="csr")
    truth.data = np.round(truth.data * 4 + 1)
    pred = rng.rand(20, 15) * 5
    r, c = truth.nonzero()
    err = pred[r, c] - truth[r, c].A1
    assert rmse(truth, pred) == pytest.approx(np.sqrt(np.mean(err**2)))
    assert mae(truth, pred) == pytest.approx(np.mean(np.abs(err)))
    assert rmse(truth.toarray(), pred) == pytest.approx(rmse(truth, pred))
    with pytest.raises(ValueError, match="shape"):
        rmse(truth, pred[:3])
    with pytest.raises(ValueError, match="no ratings"):
        mae(sp.csr_matrix((2, 2)), np.zeros((2, 2)))
    # sparse predictions at exactly the held-out entries: the scalable path
    at_truth = sp.csr_matrix((pred[r, c], (r, c)), shape=truth.shape)
    assert rmse(truth, at_truth) == pytest.approx(rmse(truth, pred))
    assert mae(truth, at_truth) == pytest.approx(mae(truth, pred))
    assert mae(truth, truth) == 0.0
    with pytest.raises(ValueError, match="exactly the stored entries"):
        rmse(truth, at_truth[:, ::-1])
    with pytest.raises(TypeError, match="'y_pred' parameter"):
        mae(truth, "x")


def test_intra_list_diversity_blocks_agree(random_lists, monkeypatch):
    from sklearn_musicrec.metrics import _beyond

    features = sp.random(30, 12, density=0.3, random_state=0, format="csr")
    whole = intra_list_diversity(random_lists, features, per_user=True)
    monkeypatch.setattr(_beyond, "_ILD_BLOCK", 5)  # blocks of one user
    np.testing.assert_allclose(intra_list_diversity(random_lists, features, per_user=True), whole)
    np.testing.assert_allclose(
        intra_list_diversity(random_lists, features.toarray(), per_user=True), whole
    )
