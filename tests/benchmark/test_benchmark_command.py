"""The `sklearn-musicrec benchmark` command on tiny data: outputs, schema, errors, tuning."""

import builtins
import csv
import json

import numpy as np
import pytest

from sklearn_musicrec.benchmark import SCHEMA_VERSION, _models, main, run_benchmark
from sklearn_musicrec.benchmark._data import read_interactions
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.utils.discovery import all_recommenders

CHEAP = "pop,itemknn,ease"


@pytest.fixture(scope="module")
def plays_csv(tmp_path_factory):
    """A tiny user,item,value,timestamp file with string ids and a header."""
    X = make_interactions(n_users=60, n_items=40, return_timestamps=True, random_state=1)
    path = tmp_path_factory.mktemp("data") / "plays.csv"
    rows = X.data.tocoo()
    T = X.timestamps.tocsr()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "plays", "timestamp"])
        for u, i, v in zip(rows.row, rows.col, rows.data):
            w.writerow([f"u{u}", f"song {i}", int(v), int(T[u, i])])
    return path


@pytest.fixture(scope="module")
def report(plays_csv, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    argv = [
        "benchmark",
        "--dataset",
        str(plays_csv),
        "--models",
        CHEAP,
        "--k",
        "5,10",
        "--n-splits",
        "2",
        "--out",
        str(out),
        "--quiet",
    ]
    assert main(argv) == 0
    return out


def test_writes_every_output(report):
    names = {p.name for p in report.iterdir()}
    assert {"report.md", "report.html", "results.json", "per_user.csv"} <= names
    assert {
        "accuracy_vs_fit_time.png",
        "accuracy_vs_beyond.png",
        "popularity_bias.png",
        "ndcg.png",
    } <= names
    html = (report / "report.html").read_text()
    # self-contained: every figure embedded, nothing fetched
    assert html.count('src="data:image/png;base64,') == 4
    assert "http://" not in html and "https://" not in html
    md = (report / "report.md").read_text()
    assert "![" in md and "popularity_bias.png" in md
    assert "sampled" in md and "Holm" in md


def test_results_json_schema(report):
    res = json.loads((report / "results.json").read_text())
    assert res["schema_version"] == SCHEMA_VERSION == 1
    assert set(res) >= {
        "schema_version",
        "created",
        "command",
        "settings",
        "dataset",
        "machine",
        "models",
        "statistics",
        "skipped",
        "notes",
        "files",
        "elapsed_s",
    }
    s = res["settings"]
    assert s["k"] == [5, 10] and s["protocol"] == "new-users" and s["n_splits"] == 2
    assert s["primary_metric"] == "ndcg@5" and s["models"] == CHEAP.split(",")
    assert res["dataset"]["n_users"] == 60 and res["dataset"]["has_timestamps"]
    assert "numpy" in res["machine"]["packages"] and res["machine"]["cores_visible"] >= 1
    assert [m["name"] for m in res["models"]] == CHEAP.split(",")
    for m in res["models"]:
        assert set(m["timing"]) == {"fit_time_s", "recommend_time_s", "peak_memory_mib"}
        for key in ("ndcg@5", "ndcg@10", "recall@10", "novelty@5", "long_tail@10"):
            fig = m["metrics"][key]
            assert 0 <= fig["mean"] and fig["sem"] > 0 and fig["n_users"] > 0
        assert 0 < m["metrics"]["coverage@10"]["mean"] <= 1
        assert len(m["folds"]) == 2
        # new users: the fitted users and the evaluated users partition the users
        for f in m["folds"]:
            assert f["n_users_fitted"] + f["n_users_evaluated"] <= 60
    stats = {b["metric"]: b for b in res["statistics"]}
    block = stats["ndcg@5"]
    assert block["best"] in CHEAP.split(",")
    assert len(block["comparisons"]) == 2
    for c in block["comparisons"]:
        assert c["ci_low"] <= c["mean_diff"] <= c["ci_high"]
        assert c["p_value"] <= c["p_holm"] <= 1
        assert set(c) >= {"model", "n_users", "t", "cohens_dz", "significant"}


def test_per_user_csv(report):
    res = json.loads((report / "results.json").read_text())
    with open(report / "per_user.csv") as f:
        rows = list(csv.DictReader(f))
    assert set(rows[0]) >= {"model", "fold", "user", "history_popularity", "ndcg@5", "recall@10"}
    n_eval = sum(f["n_users_evaluated"] for f in res["models"][0]["folds"])
    assert len(rows) == 3 * n_eval
    pop = [float(r["ndcg@5"]) for r in rows if r["model"] == "pop"]
    assert np.isclose(np.mean(pop), res["models"][0]["metrics"]["ndcg@5"]["mean"])


def test_same_seed_same_figures(tmp_path):
    from sklearn_musicrec.benchmark._report import _json_ready

    def figures(seed):
        res, rows = run_benchmark(
            str(_tiny_file(tmp_path)),
            models="pop,random,itemknn",
            k=5,
            n_splits=2,
            seed=seed,
            quiet=True,
        )
        for m in res["models"]:
            del m["timing"], m["fold_timings"]
        for key in ("created", "machine", "elapsed_s"):
            del res[key]
        return json.dumps(_json_ready(res)), rows

    (a, rows_a), (b, rows_b), (c, _) = figures(3), figures(3), figures(4)
    assert a == b and rows_a == rows_b
    assert a != c  # another seed: other folds, another random model


def _tiny_file(tmp_path):
    path = tmp_path / "tiny.tsv"
    if not path.exists():
        X = make_interactions(n_users=50, n_items=30, random_state=2).data.tocoo()
        path.write_text("".join(f"{u}\t{i}\t{v:g}\n" for u, i, v in zip(X.row, X.col, X.data)))
    return path


@pytest.mark.parametrize(
    "content, expected",
    [
        ("u1,a,3\nu1,b,2\nu2,a\n", "line 3: expected 3 fields"),
        ("u1,a,3\nu1,b,lots\n", "line 2: the value 'lots'"),
        ("u1,a,3\nu1,b,-1\n", "line 2: the value '-1'"),
        ("user,item\nu1,a\nu1,b,1,5,6\n", "line 3: expected 2 to 4 fields"),
        ("u1,a,3,2020-01-01\nu1,b,2,yesterday\n", "line 2: the timestamp 'yesterday'"),
    ],
)
def test_bad_file_names_the_line(tmp_path, capsys, content, expected):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(ValueError, match=str(path)) as info:
        read_interactions(path)
    assert expected in str(info.value)
    assert main(["--dataset", str(path), "--models", "pop", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(path) in err


def test_reads_tsv_and_iso_dates(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("ann\tMuse\t2\t2021-03-01\nbob\tMuse\t1\t2021-03-02\nann\tAir\t1\t2021-03-05\n")
    X, T, enc = read_interactions(path)
    assert X.toarray().tolist() == [[1.0, 2.0], [0.0, 1.0]]
    assert enc.user_ids_.tolist() == ["ann", "bob"] and T.nnz == X.nnz


def test_unknown_model_and_protocol(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown model 'knn'.*valid names are pop, random"):
        _models.resolve_models("pop,knn")
    assert main(["--models", "pop,knn", "--out", str(tmp_path)]) == 2
    assert "itemknn" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--protocol", "leave-one-out", "--out", str(tmp_path)])
    assert "valid protocols are new-users, holdout, temporal, cold-items" in (
        capsys.readouterr().err
    )


def test_temporal_needs_timestamps(tmp_path, capsys):
    argv = [
        "--dataset",
        str(_tiny_file(tmp_path)),
        "--protocol",
        "temporal",
        "--models",
        "pop",
        "--out",
        str(tmp_path / "out"),
    ]
    assert main(argv) == 2
    assert "needs timestamps" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["holdout", "temporal", "cold-items"])
def test_other_protocols(plays_csv, protocol):
    res, rows = run_benchmark(str(plays_csv), models="pop,tag", k=5, protocol=protocol, quiet=True)
    assert res["settings"]["n_splits"] == 1 and len(res["models"]) == 2
    assert rows and all(r["fold"] == 0 for r in rows)
    if protocol != "cold-items":  # warm users: better than nothing
        assert res["models"][0]["metrics"]["ndcg@5"]["mean"] > 0


def test_tune_searches_training_users_only(plays_csv, monkeypatch):
    seen = []
    real_fit = _models.GridSearchCV.fit

    def spy(self, X, y=None, **params):
        seen.append(X.copy())
        return real_fit(self, X, y, **params)

    monkeypatch.setattr(_models.GridSearchCV, "fit", spy)
    res, _ = run_benchmark(
        str(plays_csv), models="pop,itemknn", k=5, n_splits=2, tune=True, quiet=True
    )
    assert len(seen) == 2  # itemknn in each fold; pop has no grid
    X, _, _ = read_interactions(plays_csv)
    from sklearn_musicrec.benchmark._data import load_dataset
    from sklearn_musicrec.benchmark._protocols import make_folds

    folds, _ = make_folds(load_dataset(str(plays_csv)), "new-users", n_splits=2, seed=0)
    for fold, X_seen in zip(folds, seen):
        # exactly the fold's training users' full rows, never a test user's row
        assert (X_seen != X[fold.fit_users]).nnz == 0
        test_users = np.flatnonzero(np.diff(fold.X_test.indptr))
        assert not np.isin(test_users, fold.fit_users).any()
    itemknn = res["models"][1]
    assert [f["n_users_searched"] for f in itemknn["folds"]] == [f.fit_users.size for f in folds]
    assert all(f["best_params"]["n_neighbors"] in (50, 100, 200) for f in itemknn["folds"])


def test_plots_skipped_without_matplotlib(plays_csv, tmp_path, monkeypatch, capsys):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    out = tmp_path / "out"
    assert (
        main(
            [
                "--dataset",
                str(plays_csv),
                "--models",
                "pop",
                "--k",
                "5",
                "--n-splits",
                "2",
                "--out",
                str(out),
                "--quiet",
            ]
        )
        == 0
    )
    assert "plots skipped" in capsys.readouterr().out
    assert not list(out.glob("*.png"))
    assert "Plots were skipped" in (out / "report.md").read_text()
    res = json.loads((out / "results.json").read_text())
    assert res["files"]["plots"] == [] and "report.html" in {p.name for p in out.iterdir()}


def test_peers_skip_with_a_reason(plays_csv):
    pytest.importorskip("implicit")
    res, _ = run_benchmark(
        str(plays_csv), models="pop", k=5, n_splits=2, peers="implicit,recbole", quiet=True
    )
    names = [m["name"] for m in res["models"]]
    assert names == ["pop", "implicit-als"]  # ALS folds new users in; BPR cannot
    skipped = {s["name"]: s["reason"] for s in res["skipped"]}
    assert "no fold-in" in skipped["implicit-bpr"] and "recbole" in skipped


def test_registry_covers_every_recommender():
    assert {e.cls_name for e in _models.MODELS.values()} == {n for n, _ in all_recommenders()}


def test_min_item_users_filters_before_splitting(plays_csv):
    res, rows = run_benchmark(
        str(plays_csv), models="pop", k=5, n_splits=2, quiet=True, min_item_users=5
    )
    X, _, _ = read_interactions(plays_csv)
    kept = int((X.getnnz(axis=0) >= 5).sum())
    assert res["dataset"]["n_items"] == kept < X.shape[1]
    assert (
        res["settings"]["min_item_users"] == 5
        and "at least 5 users" in (res["dataset"]["description"])
    )
    assert {r["user"] for r in rows} <= {f"u{i}" for i in range(60)}


def test_console_scripts_point_at_the_command():
    import importlib
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("not a checkout")
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["sklearn-musicrec"] == "sklearn_musicrec.benchmark:main"
    for target in scripts.values():
        module, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(module), attr))


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["benchmark", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for option in (
        "--dataset",
        "--models",
        "--k",
        "--protocol",
        "--tune",
        "--seed",
        "--n-jobs",
        "--out",
        "--peers",
        "--quiet",
    ):
        assert option in out


def test_parquet_without_pyarrow_says_so(tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name == "pyarrow" or name.startswith("pyarrow."):
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    path = tmp_path / "plays.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(ValueError, match=r"plays.parquet: reading Parquet needs pyarrow"):
        read_interactions(path)


def test_calibration_uses_the_most_used_feature_columns():
    import scipy.sparse as sp

    F = sp.csr_matrix(np.array([[1, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]], dtype=float))
    G = _models.calibration_categories(F, n=2)
    np.testing.assert_array_equal(G.toarray(), F.toarray()[:, [2, 3]])
    assert _models.calibration_categories(F, n=10) is F
    est = _models.build_model("calibrated", seed=0, item_features=F, n_jobs=1)
    assert est.item_features.shape[1] == 4  # at most 50 columns: kept whole
