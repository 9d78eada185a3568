"""A model does not depend on whether its process compiled the kernels or loaded them."""

import os

import pytest

from tests._processes import python_output

_FIT = """
import hashlib
from sklearn_musicrec import ALSFactorizer
from sklearn_musicrec.datasets import make_interactions
X = make_interactions(n_users=300, n_items=120, random_state=0).data
for params in [PARAMS]:
    m = ALSFactorizer(max_iter=5, n_components=16, regularization=0.1, random_state=0,
                      **params).fit(X)
    print(params, hashlib.sha1(m.item_factors_.tobytes() + m.user_factors_.tobytes()).hexdigest())
"""


CG_REASON = (
    "known bug: the CG kernel (implicit_cg_eig, fast-math with reassociation) sums in "
    "another order when its process compiled it than when the process loaded it from "
    "numba's cache; fast-math without reassociation agrees but fits 2.2x slower and "
    "drifts from the torch backend beyond its test tolerance, so it is not merged yet"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"solver": "cg"}, marks=pytest.mark.xfail(reason=CG_REASON)),
        {"solver": "cholesky"},
        {"feedback": "explicit"},
    ],
    ids=["cg", "cholesky", "explicit"],
)
def test_compiling_and_cache_loading_processes_fit_the_same_model(tmp_path, params):
    # the first process finds an empty numba cache and compiles the kernels,
    # the second loads what the first saved: with fast-math reassociation
    # allowed the two once gave different factors (a search on Dask workers
    # then disagreed with the local one)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)}

    code = _FIT.replace("PARAMS", repr(params))
    compiled = python_output(code, env=env)
    assert any(tmp_path.rglob("*.nbi")), "the first process saved no numba cache"
    assert python_output(code, env=env) == compiled
