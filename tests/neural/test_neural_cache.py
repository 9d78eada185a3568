"""A neural model does not depend on its process: whether it compiled the kernels or loaded
them, or where its memory happens to lie."""

import os

import pytest

from tests._processes import python_output
from tests._realdata import fetch_lastfm_2k_or_skip

pytest.importorskip("torch")
pytest.importorskip("skorch")

_FIT = """
import hashlib
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.neural import DeepCFRecommender
X = make_interactions(n_users=200, n_items=300, random_state=0).data
# one hidden layer, batch-shared negatives, no hidden dropout: trained through
# the compiled pair-MLP forward and backward kernels (fast-math, parallel)
m = DeepCFRecommender(n_components=8, hidden_layer_sizes=(8,), n_negatives=128,
                      max_epochs=3, random_state=0).fit(X)
print(hashlib.sha1(m.decision_function(X[:20]).tobytes()).hexdigest())
"""


@pytest.mark.slow
def test_compiling_and_cache_loading_processes_train_the_same_deepcf(tmp_path):
    # the first process finds an empty numba cache and compiles the kernels,
    # the second loads what the first saved (ALS's CG kernel once differed so)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    compiled = python_output(_FIT, env=env)
    assert any(tmp_path.rglob("*relu_dot_grad*.nbi")), "the pair-MLP kernels were not cached"
    assert python_output(_FIT, env=env) == compiled


_FIT_LASTFM = """
import hashlib
import sys
import numpy as np
import torch
# live allocations of a few odd sizes: the fit's tensors lie at other addresses
held = [torch.empty(n, dtype=torch.uint8) for n in map(int, sys.argv[1:])]
from sklearn_musicrec.datasets import fetch_lastfm_2k
from sklearn_musicrec.neural import DeepCFRecommender
from sklearn_musicrec.model_selection import holdout_split
X = fetch_lastfm_2k(download_if_missing=False).data.tocsr()
X = X[np.diff(X.indptr) >= 5]
train, _ = holdout_split(X, 0.2, random_state=0)  # the benchmarks' training part
m = DeepCFRecommender(max_epochs=5, random_state=0).fit(train)
h = hashlib.sha1()
for value in m.net_.module_.state_dict().values():
    h.update(value.numpy().tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
@pytest.mark.realdata
def test_deepcf_on_lastfm_does_not_depend_on_memory_layout():
    # at the defaults on lastfm-2k, a batch's ~1,800 targets share 64 user
    # rows; with the gathers u[target_rows] (advanced indexing) the backward
    # summed each row's targets in an order that depended on where the
    # tensors lay: two fits of the same random_state, one after a few extra
    # allocations, had different weights after five epochs (index_select's
    # backward sums in index order)
    fetch_lastfm_2k_or_skip()

    # which layouts differed was a lottery: two of these caught it, each in
    # some runs of the former code
    reference = python_output(_FIT_LASTFM)
    assert python_output(_FIT_LASTFM, 40, 2000) == reference
    assert python_output(_FIT_LASTFM, 100000, 36, 12) == reference
