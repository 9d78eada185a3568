"""Neighbourhood recommenders: speed and peak memory vs implicit and LensKit.

Data: ``make_interactions(n_users=50_000, n_items=20_000,
mean_items_per_user=30, random_state=0)`` (1,494,033 interactions),
binarised, float32; generated once and cached under the system temporary
directory (shared with ``bench_als_speed.py``).

Cells (each in a fresh subprocess, so that its peak resident memory is its
own; the resident memory right after loading the data is reported too):

- ``ours-item``: ``ItemKNNRecommender(n_neighbors=20, shrinkage=0,
  neighborhood="history", n_jobs=2)`` (the model implicit computes: every
  history item votes for its 20 neighbours) fit, then ``recommend(X, k=20)``
  for all 50k users;
- ``ours-item-target``: the same with the default ``neighborhood="target"``
  (the more accurate variant on lastfm-2k; longer candidate lists);
- ``implicit-item``: implicit's ``CosineRecommender(K=20)`` fit, then
  ``recommend`` for all users with ``filter_already_liked_items=True``
  (its C++ code uses all cores);
- ``ours-user``: ``UserKNNRecommender(n_neighbors=30, weighting=None, n_jobs=2)`` fit,
  then ``recommend(X, k=20)`` for all users;
- ``lenskit-user`` / ``lenskit-item``: LensKit's ``UserKNNScorer(max_nbrs=30)``
  / ``ItemKNNScorer(max_nbrs=20)``, implicit feedback, top-N pipeline,
  ``lenskit.batch.recommend`` on the first ``--lenskit-users`` users (LensKit
  is slow); the time for all users is extrapolated linearly and marked so.

Peers are optional: a missing one is skipped with a message.

Usage::

    python benchmarks/bench_knn_speed.py [--lenskit-users 2000] [--cells ...] [--no-numba]

Results go to ``bench_knn_speed.{json,md}`` in ``--out`` (default
``benchmarks/results``); with ``--no-numba`` (our NumPy/SciPy kernels, used
when numba is not installed) to ``bench_knn_speed_no_numba.{json,md}``. They
are written only when every cell succeeded (a peer that is not installed is
reported as skipped). Peak memory is ``VmHWM`` (``_common.peak_rss_gb``).
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import (
    benchmark_parser,
    command_line,
    machine_description,
    machine_line,
    peak_rss_gb,
    report_worker_result,
    run_worker,
    write_results,
)

N_USERS, N_ITEMS, MEAN = 50_000, 20_000, 30.0
K = 20
CELLS = [
    "ours-item",
    "ours-item-target",
    "implicit-item",
    "ours-user",
    "lenskit-user",
    "lenskit-item",
]


def dataset():
    cache = Path(tempfile.gettempdir()) / "sklearn_musicrec_bench" / "interactions_1.5M.npz"
    if cache.exists():
        X = sp.load_npz(cache).tocsr()
    else:
        from sklearn_musicrec.datasets import make_interactions

        X = make_interactions(
            n_users=N_USERS, n_items=N_ITEMS, mean_items_per_user=MEAN, random_state=0
        ).data.astype(np.float32)
        cache.parent.mkdir(parents=True, exist_ok=True)
        sp.save_npz(cache, X)
    X = sp.csr_matrix(X, dtype=np.float32)
    X.data[:] = 1.0
    return X


def timed(func):
    t0 = time.perf_counter()
    out = func()
    return out, time.perf_counter() - t0


def lenskit_cell(X, scorer, n_users):
    import lenskit
    import pandas as pd
    from lenskit.batch import recommend
    from lenskit.data import from_interactions_df
    from lenskit.pipeline import topn_pipeline

    coo = X.tocoo()
    data = from_interactions_df(pd.DataFrame({"user_id": coo.row, "item_id": coo.col}))
    pipe = topn_pipeline(scorer)
    _, fit_s = timed(lambda: pipe.train(data))
    users = np.arange(min(n_users, X.shape[0]))
    _, rec_s = timed(lambda: recommend(pipe, users, n=K))
    return {
        "library": f"lenskit {lenskit.__version__}",
        "fit_s": fit_s,
        "recommend_users": int(users.size),
        "recommend_subset_s": rec_s,
        "recommend_s": rec_s * X.shape[0] / users.size,
        "recommend_extrapolated": users.size < X.shape[0],
    }


def worker(cell, lenskit_users, no_numba=False):
    if no_numba:
        from sklearn_musicrec.neighbors import _similarity

        _similarity._USE_NUMBA = False
    X = dataset()
    out = {"cell": cell, "data_rss_gb": peak_rss_gb()}
    if cell.startswith("ours"):
        from sklearn_musicrec.neighbors import ItemKNNRecommender, UserKNNRecommender

        if cell == "ours-item":
            model = ItemKNNRecommender(
                n_neighbors=20, shrinkage=0.0, neighborhood="history", weighting=None, n_jobs=2
            )
        elif cell == "ours-item-target":
            model = ItemKNNRecommender(n_neighbors=20, shrinkage=0.0, weighting=None, n_jobs=2)
        else:
            model = UserKNNRecommender(n_neighbors=30, weighting=None, n_jobs=2)
        _, out["fit_s"] = timed(lambda: model.fit(X))
        (ids, _), out["recommend_s"] = timed(lambda: model.recommend(X, k=K))
        out["library"] = "sklearn_musicrec"
    elif cell == "implicit-item":
        try:
            import implicit
            from implicit.nearest_neighbours import CosineRecommender
        except ImportError:
            return {"cell": cell, "skipped": "implicit is not installed"}
        model = CosineRecommender(K=20)
        _, out["fit_s"] = timed(lambda: model.fit(X, show_progress=False))
        _, out["recommend_s"] = timed(
            lambda: model.recommend(np.arange(X.shape[0]), X, N=K, filter_already_liked_items=True)
        )
        out["library"] = f"implicit {implicit.__version__}"
    else:
        try:
            from lenskit.knn import ItemKNNScorer, UserKNNScorer
        except ImportError:
            return {"cell": cell, "skipped": "lenskit is not installed"}
        scorer = (
            UserKNNScorer(max_nbrs=30, feedback="implicit")
            if cell == "lenskit-user"
            else ItemKNNScorer(max_nbrs=20, feedback="implicit")
        )
        out.update(lenskit_cell(X, scorer, lenskit_users))
    out["peak_rss_gb"] = peak_rss_gb()
    return out


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--worker", choices=CELLS, help="(internal) run one cell")
    parser.add_argument(
        "--lenskit-users",
        type=int,
        default=2000,
        help="users LensKit recommends for (the rest is extrapolated; default: 2000)",
    )
    parser.add_argument(
        "--cells", nargs="*", choices=CELLS, default=CELLS, help="cells to run (default: all)"
    )
    parser.add_argument(
        "--no-numba", action="store_true", help="our NumPy/SciPy kernels instead of numba's"
    )
    args = parser.parse_args()
    if args.worker:
        report_worker_result(worker(args.worker, args.lenskit_users, args.no_numba))
        return
    dataset()  # build the cache outside the cells
    machine = machine_description("implicit", "lenskit")
    rows = []
    for cell in args.cells:
        rows.append(
            run_worker(
                __file__,
                "--worker",
                cell,
                "--lenskit-users",
                args.lenskit_users,
                *(["--no-numba"] if args.no_numba else []),
            )
        )
        print(rows[-1], flush=True)
    by = {r["cell"]: r for r in rows if "skipped" not in r}
    ratios = {}
    if "ours-item" in by and "implicit-item" in by:
        total = lambda r: r["fit_s"] + r["recommend_s"]  # noqa: E731
        ratios["item fit+recommend, ours (history) / implicit"] = total(by["ours-item"]) / total(
            by["implicit-item"]
        )
        if "ours-item-target" in by:
            ratios["item fit+recommend, ours (target, default) / implicit"] = total(
                by["ours-item-target"]
            ) / total(by["implicit-item"])
    if "ours-user" in by and "lenskit-user" in by:
        ratios["user recommend-all speed-up, LensKit / ours"] = (
            by["lenskit-user"]["recommend_s"] / by["ours-user"]["recommend_s"]
        )
        ratios["user fit+recommend-all speed-up, LensKit / ours"] = (
            by["lenskit-user"]["fit_s"] + by["lenskit-user"]["recommend_s"]
        ) / (by["ours-user"]["fit_s"] + by["ours-user"]["recommend_s"])
    command = command_line()
    stem = "bench_knn_speed_no_numba" if args.no_numba else "bench_knn_speed"
    result = {"command": command, "machine": machine, "rows": rows, "ratios": ratios}
    md = [
        "# Neighbourhood recommenders: speed and memory (50k users x 20k items, 1.49M interactions)"
        + (" - NumPy/SciPy kernels (numba switched off)" if args.no_numba else ""),
        "",
        f"Command: `{command}`",
        "",
        machine_line(machine) + " Each cell in its own subprocess; binarised synthetic data "
        "from `make_interactions(50_000, 20_000, mean_items_per_user=30, random_state=0)`."
        + (
            ""
            if args.no_numba
            else " Our timings include loading the compiled numba kernels "
            "from their on-disk cache in the fresh process (no warm-up)."
        ),
        "",
        "| cell | library | fit s | recommend-all (k=20) s | data RSS GB | peak RSS GB |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "skipped" in r:
            md.append(f"| {r['cell']} | skipped: {r['skipped'][:80]} | | | | |")
            continue
        rec = f"{r['recommend_s']:.1f}"
        if r.get("recommend_extrapolated"):
            rec += (
                f" (extrapolated from {r['recommend_users']} users in "
                f"{r['recommend_subset_s']:.1f} s)"
            )
        md.append(
            f"| {r['cell']} | {r['library']} | {r['fit_s']:.2f} | {rec} | "
            f"{r['data_rss_gb']:.2f} | {r['peak_rss_gb']:.2f} |"
        )
    md += ["", "Ratios:", ""] + [f"- {k}: **{v:.2f}**" for k, v in ratios.items()]
    write_results(args.out, stem, result, md)
    print("\n".join(md))


if __name__ == "__main__":
    main()
