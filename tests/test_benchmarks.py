"""The benchmark scripts' shared plumbing: command line, results files, data.

The benchmarks themselves take minutes and are run by hand; these tests
check that every script answers ``--help``, that results are written whole
or not at all, and that a missing dataset writes nothing and fails.
"""

import json
import runpy
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
if not (BENCHMARKS / "_common.py").exists():  # an installed package, not a checkout
    pytest.skip("benchmarks/ is not beside the tests", allow_module_level=True)
SCRIPTS = sorted(BENCHMARKS.glob("bench_*.py"))


@pytest.fixture
def benchmarks_path(monkeypatch):
    """Put ``benchmarks/`` on ``sys.path``, as running a script there does."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))


@pytest.fixture
def common(benchmarks_path):
    import _common

    return _common


def _run_main(script, args, monkeypatch):
    """Run ``script`` as ``__main__`` with ``args`` in this process; its exit code."""
    monkeypatch.setattr(sys, "argv", [str(script), *args])
    with pytest.raises(SystemExit) as exc:
        runpy.run_path(str(script), run_name="__main__")
    return exc.value.code


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_every_script_answers_help_with_an_out_option(script, benchmarks_path, monkeypatch, capsys):
    assert _run_main(script, ["--help"], monkeypatch) == 0
    out = capsys.readouterr().out
    assert "--out" in out and out.startswith("usage:")


@pytest.mark.parametrize(
    "stem",
    ["bench_ease", "bench_knn_quality", "bench_mf_lastfm", "bench_mf_explicit", "bench_ann"],
)
def test_missing_data_exits_non_zero_and_writes_nothing(
    stem, tmp_path, benchmarks_path, monkeypatch
):
    out = tmp_path / "out"
    monkeypatch.setenv("SKLEARN_MUSICREC_DATA", str(tmp_path / "no-data"))
    code = _run_main(BENCHMARKS / f"{stem}.py", ["--out", str(out)], monkeypatch)
    # a string code: Python prints it to stderr and exits with status 1
    assert isinstance(code, str)
    assert "not available" in code and "no results written" in code
    assert not out.exists()


def test_results_are_written_whole_or_not_at_all(common, tmp_path):
    common.write_results(tmp_path, "bench_x", {"a": 1}, ["# title", "", "text"])
    assert json.loads((tmp_path / "bench_x.json").read_text()) == {"a": 1}
    assert (tmp_path / "bench_x.md").read_text() == "# title\n\ntext\n"
    # a result that cannot be written leaves the previous files as they were
    with pytest.raises(TypeError):
        common.write_results(tmp_path, "bench_x", {"a": object()}, "new")
    assert json.loads((tmp_path / "bench_x.json").read_text()) == {"a": 1}
    assert (tmp_path / "bench_x.md").read_text() == "# title\n\ntext\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bench_x.json", "bench_x.md"]


def test_failed_worker_ends_the_run(common, tmp_path):
    script = tmp_path / "worker.py"
    script.write_text("import sys\nprint('RESULT {\"x\": 2}')\nsys.exit(int(sys.argv[1]))\n")
    assert common.run_worker(script, 0) == {"x": 2}
    with pytest.raises(SystemExit, match="failed .*no results written"):
        common.run_worker(script, 3)


def test_machine_description_names_the_code_measured(common):
    machine = common.machine_description("a-package-that-is-not-installed")
    assert machine["cores_visible"] >= 1 and machine["cpu"]
    assert machine["packages"]["numpy"] and machine["packages"]["sklearn-musicrec"]
    assert machine["packages"]["a-package-that-is-not-installed"] is None
    assert Path(machine["package_dir"], "__init__.py").exists()
    line = common.machine_line(machine)
    assert machine["cpu"] in line and "numpy" in line
    assert common.peak_rss_gb() > 0


@pytest.fixture
def make_readme(benchmarks_path):
    import make_readme

    return make_readme


def test_readme_table_is_up_to_date_with_the_results(make_readme, capsys):
    # regenerate from benchmarks/results/*.json and compare, writing nothing
    code = make_readme.main(["--check"])
    assert code == 0, capsys.readouterr().err + " (run python benchmarks/make_readme.py)"


def test_readme_table_follows_the_results(make_readme, tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    for path in make_readme.RESULTS.glob("*.json"):
        (results / path.name).write_text(path.read_text())
    readme = tmp_path / "README.md"
    readme.write_text("# intro kept\n")
    assert make_readme.main(["--results", str(results), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# intro kept\n") and make_readme.END in text
    # every script is listed, every side-by-side script has rows
    for script in sorted(make_readme.HERE.glob("bench_*.py")):
        assert f"| `{script.name}` |" in text
    for stem, _ in make_readme.COMPARISONS:
        assert f"| [{stem}](results/{stem}.md) |" in text
    assert make_readme.main(["--results", str(results), "--readme", str(readme), "--check"]) == 0

    # a changed figure changes its row, and --check notices
    data = json.loads((results / "bench_ease.json").read_text())
    lenskit = next(r for r in data["rows"] if r["model"] == "lenskit")
    lenskit["ndcg@20"] = 0.1
    (results / "bench_ease.json").write_text(json.dumps(data))
    assert make_readme.main(["--results", str(results), "--readme", str(readme), "--check"]) == 1
    assert readme.read_text() == text  # --check writes nothing
    make_readme.main(["--results", str(results), "--readme", str(readme)])
    row = next(
        line
        for line in readme.read_text().splitlines()
        if line.startswith("| [bench_ease]") and "LensKit" in line
    )
    assert "| 0.276 | 0.100 | 2.76 |" in row

    # a results file without a row the table reads is a clear error
    data["rows"] = [r for r in data["rows"] if r["model"] != "lenskit"]
    (results / "bench_ease.json").write_text(json.dumps(data))
    with pytest.raises(
        SystemExit, match=r"bench_ease\.json: expected one row with \{'model': 'lenskit'\}"
    ):
        make_readme.main(["--results", str(results), "--readme", str(readme)])


def test_scale_benchmark_builds_a_clean_csr_directly(benchmarks_path, monkeypatch):
    import bench_scale
    import numpy as np
    import scipy.sparse as sp
    from bench_scale import synthetic_csr

    X = synthetic_csr(3_000, 500, 20.0, random_state=0)
    assert X.shape == (3_000, 500)
    assert X.indices.dtype == np.int32 and X.data.dtype == np.float32
    assert X.has_sorted_indices and X.has_canonical_format  # sorted, no duplicates
    assert (X.data >= 1).all() and (np.diff(X.indptr) >= 1).all()
    # a valid CSR: rebuilt through scipy's checks, identical
    Y = sp.csr_matrix((X.data, X.indices, X.indptr), shape=X.shape)
    Y.check_format(full_check=True)
    # about 20 distinct items per user, the popular (low) ids the most played
    assert 14 < X.nnz / X.shape[0] <= 20
    counts = np.bincount(X.indices, minlength=500)
    assert counts[:50].mean() > 3 * counts[-50:].mean()
    # deterministic, and the blocks of users join seamlessly: the same matrix
    # whatever the block size
    monkeypatch.setattr(bench_scale, "BLOCK_USERS", 7)
    Z = synthetic_csr(3_000, 500, 20.0, random_state=0)
    assert (X != Z).nnz == 0
