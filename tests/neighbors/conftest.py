"""Run every neighbourhood test with the compiled (numba) and the NumPy kernels."""

import pytest

from sklearn_musicrec.neighbors import _similarity


@pytest.fixture(autouse=True, params=["numba", "numpy"])
def kernels(request, monkeypatch):
    if request.param == "numba":
        pytest.importorskip("numba")
    monkeypatch.setattr(_similarity, "_USE_NUMBA", request.param == "numba")
    return request.param
