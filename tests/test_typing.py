"""The public API's type hints are checked by mypy (the package ships ``py.typed``)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the modules whose public functions and estimator methods carry hints
TYPED = [
    "sklearn_musicrec/base.py",
    "sklearn_musicrec/pipeline.py",
    "sklearn_musicrec/baselines.py",
    "sklearn_musicrec/parallel.py",
    "sklearn_musicrec/utils/_typing.py",
    "sklearn_musicrec/utils/_ratings.py",
    "sklearn_musicrec/utils/estimator_checks.py",
    "sklearn_musicrec/neighbors/_knn.py",
    "sklearn_musicrec/neighbors/_ease.py",
    "sklearn_musicrec/decomposition/_base.py",
    "sklearn_musicrec/decomposition/_als.py",
    "sklearn_musicrec/decomposition/_sgd.py",
    "sklearn_musicrec/decomposition/_approximate.py",
    "sklearn_musicrec/content",
    "sklearn_musicrec/rerank",
    "sklearn_musicrec/neural",
    "sklearn_musicrec/preprocessing",
    "sklearn_musicrec/datasets",
    "sklearn_musicrec/metrics",
    "sklearn_musicrec/model_selection",
]


@pytest.mark.slow
def test_public_api_type_checks():
    pytest.importorskip("mypy")
    out = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--follow-imports=silent",
         "--no-incremental", *TYPED],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
