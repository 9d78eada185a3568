"""Project-level checks: README commands, CI script, lazy torch import."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the package (installed, not a checkout)")
    text = readme.read_text()
    block = text.split("```sh", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.strip().splitlines()]


def test_readme_opens_with_two_commands():
    commands = _readme_commands()
    assert len(commands) == 2
    # the first command runs the benchmark with no arguments (either spelling)
    assert (
        "python -m sklearn_musicrec" in commands[0] or "sklearn-musicrec benchmark" in commands[0]
    )
    assert "pytest" in commands[1]
    assert all("torch==2.13.0" in c for c in commands)


def test_ci_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip(".ci/run is not beside the package")
    assert _readme_commands()[1] in ci.read_text().splitlines()


def test_import_does_not_import_torch():
    code = (
        "import sys, sklearn_musicrec, sklearn_musicrec.utils; "
        "sklearn_musicrec.utils.all_estimators(); "
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing sklearn_musicrec imported torch"


def test_demo_runs_and_prints_a_table(capsys):
    from sklearn_musicrec.__main__ import main

    assert (
        main(
            [
                "demo",
                "--n-users",
                "200",
                "--n-items",
                "100",
                "-k",
                "5",
                "--models",
                "PopularityRecommender",
                "RandomRecommender",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "PopularityRecommender" in out and "NDCG@5" in out


def test_readme_quickstart_runs():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md is not beside the package")
    code = readme.read_text().split("```python", 1)[1].split("```", 1)[0]
    namespace = {}
    with pytest.warns(UserWarning):  # a few synthetic users are too short to split
        exec(compile(code, "README.md", "exec"), namespace)
    search = namespace["search"]
    # raw play counts are heavy-tailed: the search must pick a weighting
    assert search.best_params_["weight"] != "passthrough"
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores > 0).all(), "the default score failed"
    # the quickstart ends with recommendations from the search result
    X = sp.csr_matrix(namespace["X"])
    ids, rec_scores = namespace["item_ids"], namespace["scores"]
    assert ids.shape == rec_scores.shape == (3, 10) and ids.dtype == np.int64
    assert ((ids >= 0) & (ids < X.shape[1])).all(), "invalid or padded item ids"
    for i, row in enumerate(ids):
        assert np.unique(row).size == 10, f"duplicate items for user {i}"
        assert not np.isin(row, X[i].indices).any(), f"user {i} gets an item already played"
    assert (np.diff(rec_scores, axis=1) <= 0).all() and np.isfinite(rec_scores).all()
    np.testing.assert_array_equal(ids, search.best_estimator_.recommend(X[:3], k=10)[0])


def test_demo_covers_every_recommender():
    from sklearn_musicrec.__main__ import _demo_models
    from sklearn_musicrec.utils.discovery import all_recommenders

    assert set(_demo_models(0)) == {name for name, _ in all_recommenders()}


def test_package_ships_its_type_hints():
    # PEP 561: type checkers read the package's hints only with this marker
    from importlib.resources import files

    assert files("sklearn_musicrec").joinpath("py.typed").is_file()
