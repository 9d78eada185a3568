"""Hypothesis property tests of ``recommend``, over every recommender.

Each recommender is fitted once on planted data; Hypothesis then draws query
histories, list lengths, ``exclude_seen`` and candidate sets, and checks the
properties every recommendation list must have.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone

from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.utils._test_params import construct_instances
from sklearn_musicrec.utils.discovery import all_recommenders

N_ITEMS = 30
X_TRAIN = make_interactions(n_users=90, n_items=N_ITEMS, mean_items_per_user=6, random_state=0).data
RECOMMENDERS = [est for _, cls in all_recommenders() for est in construct_instances(cls)]
_FITTED = {}


def _fitted(estimator):
    key = type(estimator).__name__
    if key not in _FITTED:
        _FITTED[key] = clone(estimator).fit(X_TRAIN)
    return _FITTED[key]


@st.composite
def queries(draw):
    n_rows = draw(st.integers(1, 4))
    density = draw(st.sampled_from([0.0, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.RandomState(seed)
    X = sp.random(n_rows, N_ITEMS, density=density, random_state=rng, format="csr")
    X.data = np.ceil(X.data * 10)
    k = draw(st.integers(1, N_ITEMS + 5))
    exclude_seen = draw(st.booleans())
    kind = draw(st.sampled_from(["all", "ids", "mask"]))
    if kind == "all":
        items = None
    elif kind == "ids":
        items = draw(st.lists(st.integers(0, N_ITEMS - 1), max_size=N_ITEMS))
    else:
        items = rng.rand(n_rows, N_ITEMS) < draw(st.sampled_from([0.0, 0.3, 1.0]))
    return X, k, exclude_seen, items


@pytest.mark.parametrize("estimator", RECOMMENDERS, ids=lambda e: type(e).__name__)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(query=queries())
def test_recommend_properties(estimator, query):
    X, k, exclude_seen, items = query
    model = _fitted(estimator)
    ids, scores = model.recommend(X, k=k, exclude_seen=exclude_seen, items=items)
    assert ids.shape == scores.shape == (X.shape[0], k)
    for i in range(X.shape[0]):
        valid = ids[i][ids[i] >= 0]
        n_valid = valid.size
        # padding only at the end, -1 paired with -inf
        assert (ids[i][n_valid:] == -1).all()
        assert np.isneginf(scores[i][n_valid:]).all()
        assert np.isfinite(scores[i][:n_valid]).all()
        # unique ids, non-increasing scores
        assert np.unique(valid).size == n_valid
        assert (np.diff(scores[i][:n_valid]) <= 0).all()
        seen = set(X.indices[X.indptr[i] : X.indptr[i + 1]].tolist())
        if exclude_seen:
            assert not seen & set(valid.tolist())
        if items is not None and not isinstance(items, np.ndarray):
            assert set(valid.tolist()) <= set(items)
        elif isinstance(items, np.ndarray):
            assert items[i, valid].all()
        # never more than the eligible items
        eligible = np.ones(N_ITEMS, dtype=bool)
        if exclude_seen:
            eligible[list(seen)] = False
        if isinstance(items, np.ndarray):
            eligible &= items[i]
        elif items is not None:
            keep = np.zeros(N_ITEMS, dtype=bool)
            keep[list(items)] = True
            eligible &= keep
        assert n_valid <= min(k, int(eligible.sum()))
