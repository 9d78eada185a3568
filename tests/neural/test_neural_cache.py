"""A neural model does not depend on whether its process compiled the kernels or loaded them."""

import os
import subprocess
import sys

import pytest

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

    def fit():
        run = subprocess.run(
            [sys.executable, "-c", _FIT], env=env, capture_output=True, text=True, timeout=600
        )
        assert run.returncode == 0, run.stderr
        return run.stdout

    compiled = fit()
    assert any(tmp_path.rglob("*relu_dot_grad*.nbi")), "the pair-MLP kernels were not cached"
    assert fit() == compiled
