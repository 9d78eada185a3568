"""The benchmark's peer wrappers: LensKit's scorers under the package's protocol."""

import builtins
import csv

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.benchmark import _peers, run_benchmark
from sklearn_musicrec.datasets import make_interactions

LENSKIT_PEERS = ["lenskit-itemknn", "lenskit-userknn", "lenskit-als"]


def _lenskit():
    return pytest.importorskip(
        "lenskit", reason="lenskit is not installed (pip install lenskit): its peers are skipped"
    )


@pytest.fixture(scope="module")
def X():
    return sp.csr_matrix(make_interactions(n_users=80, n_items=50, random_state=3).data)


def test_without_lenskit_the_message_says_not_installed(monkeypatch):
    real_import = builtins.__import__

    def no_lenskit(name, *args, **kwargs):
        if name == "lenskit" or name.startswith("lenskit."):
            raise ImportError("No module named 'lenskit'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_lenskit)
    for protocol in ("new-users", "holdout"):
        run, skipped = _peers.resolve_peers("lenskit", protocol)
        assert run == []
        assert [name for name, _ in skipped] == LENSKIT_PEERS
        for _, reason in skipped:
            assert reason == "lenskit is not installed (pip install lenskit); skipped"
    # a single peer name too
    assert _peers.resolve_peers("lenskit-als", "new-users")[1] == [
        ("lenskit-als", "lenskit is not installed (pip install lenskit); skipped")
    ]


def test_lenskit_peers_fold_in_under_new_users():
    _lenskit()
    run, skipped = _peers.resolve_peers("lenskit", "new-users")
    assert run == LENSKIT_PEERS and skipped == []


@pytest.mark.parametrize("name", LENSKIT_PEERS)
def test_lenskit_peer_recommends_for_new_users(X, name):
    _lenskit()
    train, new = X[:60], X[60:]
    train_copy, new_copy = train.copy(), new.copy()
    est = _peers.build_peer(name, seed=0, n_jobs=1).fit(train)
    k = 7
    ids, scores = est.recommend(new, k=k)
    for M, M0 in ((train, train_copy), (new, new_copy)):  # the caller's data untouched
        assert (M != M0).nnz == 0 and M.has_sorted_indices == M0.has_sorted_indices
    assert ids.shape == scores.shape == (new.shape[0], k)
    assert ids.dtype == np.int64
    seen = new.toarray() != 0
    listed = ids >= 0
    assert listed.sum() > 0.9 * ids.size  # a 50-item catalogue: nearly full lists
    rows = np.nonzero(listed)[0]
    assert not seen[rows, ids[listed]].any()  # seen items are excluded
    # padding: -1 with -inf, only at the end; scores best first
    assert np.array_equal(~listed, np.isneginf(scores))
    assert all(np.all(np.diff(listed[r].astype(int)) <= 0) for r in range(ids.shape[0]))
    finite = np.where(listed, scores, -np.inf)
    assert np.all(np.diff(finite, axis=1) <= 0)
    for r in range(ids.shape[0]):
        assert len(set(ids[r][listed[r]].tolist())) == listed[r].sum()
    # the lists are the best unseen items of decision_function
    dense = est.decision_function(new)
    assert dense.shape == new.shape
    np.testing.assert_allclose(scores[listed], dense[rows, ids[listed]])
    dense[seen] = -np.inf
    for r in range(ids.shape[0]):
        n = int(listed[r].sum())
        np.testing.assert_allclose(np.sort(dense[r])[::-1][:n], scores[r, :n], rtol=1e-12)
    # a new user's list depends on its history: two rows, two different lists
    assert len({tuple(row) for row in ids.tolist()}) > 1
    # an empty history gives an empty list
    assert est.recommend(sp.csr_matrix((2, X.shape[1])), k=3)[0].tolist() == [[-1] * 3] * 2
    with pytest.raises(ValueError, match="X has 49 items"):
        est.decision_function(new[:, :49])


def test_lenskit_itemknn_matches_lenskits_own_pipeline(X):
    """The wrapper's lists for training users are LensKit's top-N pipeline's."""
    _lenskit()
    import pandas as pd
    from lenskit.batch import recommend
    from lenskit.data import from_interactions_df
    from lenskit.knn import ItemKNNScorer
    from lenskit.pipeline import topn_pipeline

    est = _peers.build_peer("lenskit-itemknn", seed=0, n_jobs=1).fit(X)
    ids, _ = est.recommend(X, k=5)

    coo = X.tocoo()
    data = from_interactions_df(pd.DataFrame({"user_id": coo.row, "item_id": coo.col}))
    pipe = topn_pipeline(ItemKNNScorer(max_nbrs=20, feedback="implicit"))
    pipe.train(data)
    recs = recommend(pipe, np.arange(X.shape[0]), n=5, n_jobs=1).to_df()
    theirs = np.full_like(ids, -1)
    for u, group in recs.sort_values(["user_id", "rank"]).groupby("user_id"):
        items = group["item_id"].to_numpy()
        theirs[u, : items.size] = items
    # equal up to the order of tied scores
    for r in range(X.shape[0]):
        assert set(ids[r].tolist()) == set(theirs[r].tolist())


_THREADS_SCRIPT = """
import scipy.sparse as sp, torch
from sklearn_musicrec.benchmark import _peers
from sklearn_musicrec.datasets import make_interactions

torch.set_num_threads(7)  # more than LensKit would choose (4 at most)
torch.ones(64, 64).sum()  # torch has run: LensKit cannot set its interop threads
X = sp.csr_matrix(make_interactions(n_users=40, n_items=30, random_state=0).data)
_peers.build_peer("lenskit-als", seed=0, n_jobs=1).fit(X).recommend(X[:2])
import sys
sys.__stdout__.write(f"THREADS {torch.get_num_threads()}")
"""


def test_lenskit_keeps_the_thread_settings_and_prints_nothing():
    # a fresh process: LensKit configures its threads once per process
    _lenskit()
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([*sys.path, root])}
    out = subprocess.run(
        [sys.executable, "-c", _THREADS_SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=300,
        check=True,
    )
    # without the restore, LensKit sets torch to its own thread count
    assert out.stdout == "THREADS 7" and out.stderr == ""


def test_benchmark_runs_lenskit_under_new_users(tmp_path):
    _lenskit()
    X = sp.csr_matrix(make_interactions(n_users=200, n_items=120, random_state=3).data)
    path = tmp_path / "plays.csv"
    coo = X.tocoo()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["user", "item", "plays"])
        for u, i, v in zip(coo.row, coo.col, coo.data):
            w.writerow([f"u{u}", f"i{i}", int(v)])
    res, _ = run_benchmark(
        str(path), models="pop,random", k=5, n_splits=2, peers="lenskit", quiet=True, seed=0
    )
    rows = {m["name"]: m for m in res["models"]}
    assert list(rows) == ["pop", "random", *LENSKIT_PEERS]
    assert not res["skipped"]
    ndcg = {name: row["metrics"]["ndcg@5"]["mean"] for name, row in rows.items()}
    for name in LENSKIT_PEERS:
        assert rows[name]["library"] == "lenskit"
        assert (
            rows[name]["metrics"]["ndcg@5"]["n_users"]
            == (rows["pop"]["metrics"]["ndcg@5"]["n_users"])
        )
        # the folded-in histories are used: far better than random lists
        assert ndcg[name] > 2 * ndcg["random"]
    # (measured: pop 0.286, random 0.042, itemknn 0.351, userknn 0.325, als 0.101;
    # 64 features overfit a 120-item catalogue)
    assert min(ndcg["lenskit-itemknn"], ndcg["lenskit-userknn"]) > ndcg["pop"]
