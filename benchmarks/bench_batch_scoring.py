"""Batch scoring of a large user set: one call vs streamed partitions vs a 2-worker Dask cluster.

Model: ``ALSFactorizer(n_components=64, max_iter=5, random_state=0)`` fitted on
``make_interactions(n_users=20_000, n_items=N_ITEMS, random_state=0)``, saved
once and loaded by every cell. Users to score: ``--n-users`` (default
1,000,000) synthetic histories, made block by block by a fast generator (block
``b`` of ``--block-size`` users from seed ``b``: 1 + Poisson(19) listens per user,
items drawn with probability proportional to ``1 / (rank + 10)``, play counts
1-49), so a block exists only while it is scored. Every cell folds in and
recommends ``k=10`` items (seen items excluded) for every user and writes the
lists, one ``.npy`` pair per block (``write_recommendations``).

Cells, each in a fresh process (peak memory ``VmHWM`` is the cell's own):

- ``generate``: the generator alone (its cost is part of every other cell);
- ``one-call``: all blocks stacked into one matrix, one ``recommend`` call
  (``n_jobs=None``: 1 thread), the lists written in the same blocks;
- ``blocks-1``: ``recommend_blocks`` over the generator, 1 thread;
- ``blocks-2``: the same with ``n_jobs=2``;
- ``dask-2x1``: ``recommend_dask`` on a ``distributed.LocalCluster`` of 2
  worker processes with 1 thread each; each block is generated on a worker
  (``dask.array.from_delayed``) and written there. Cluster start-up is
  timed apart, and so is a warm-up (each worker imports the package and ranks
  one small block, as a long-lived cluster already has); the larger of the two
  workers' peaks is reported too.

Every cell's lists are checked equal to ``one-call``'s. The cells run in
``--repeat`` rounds, in alternating order, and the best time of each is
reported. The machine is shared (the load average at the start is recorded):
compare the cells' ratios, not absolute times.

Usage::

    python benchmarks/bench_batch_scoring.py [--n-users 1000000] [--block-size 50000]
"""

import pickle
import shutil
import sys
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

N_ITEMS = 5_000
K = 10
CELLS = ["generate", "one-call", "blocks-1", "blocks-2", "dask-2x1"]


def make_block(index, n_users, n_items=N_ITEMS):
    """Block ``index`` of the synthetic user set: a CSR matrix of ``n_users`` rows."""
    rng = np.random.default_rng(index)
    lengths = 1 + rng.poisson(19, size=n_users)
    popularity = 1.0 / (np.arange(n_items) + 10.0)
    items = rng.choice(n_items, size=int(lengths.sum()), p=popularity / popularity.sum())
    rows = np.repeat(np.arange(n_users), lengths)
    plays = rng.integers(1, 50, size=items.size).astype(np.float32)
    X = sp.csr_matrix((plays, (rows, items)), shape=(n_users, n_items), dtype=np.float32)
    X.sum_duplicates()
    return X


def block_sizes(n_users, block_size):
    return [min(block_size, n_users - start) for start in range(0, n_users, block_size)]


def recommend_blocks_warm_up(model_path):
    """Load the model and rank one small block (run on each Dask worker before timing)."""
    with open(model_path, "rb") as f:
        model = pickle.load(f)
    model.recommend(make_block(10**6, 100), K)


def worker(cell, n_users, block_size, model_path, out):
    import warnings

    warnings.simplefilter("ignore", UserWarning)
    from sklearn_musicrec.parallel import (
        recommend_blocks,
        recommend_dask,
        write_recommendations,
    )

    with open(model_path, "rb") as f:
        model = pickle.load(f)
    sizes = block_sizes(n_users, block_size)
    blocks = (make_block(index, size) for index, size in enumerate(sizes))
    result = {"cell": cell}
    t0 = time.perf_counter()
    if cell == "generate":
        result["nnz"] = int(sum(block.nnz for block in blocks))
    elif cell == "one-call":
        X = sp.vstack(list(blocks), format="csr")
        result["generate_s"] = time.perf_counter() - t0
        t1 = time.perf_counter()
        ids, scores = model.recommend(X, K)
        result["recommend_s"] = time.perf_counter() - t1
        starts = np.cumsum([0, *sizes])
        parts = ((ids[a:b], scores[a:b]) for a, b in zip(starts[:-1], starts[1:]))
        write_recommendations(parts, out)
    elif cell in ("blocks-1", "blocks-2"):
        model.set_params(n_jobs=1 if cell == "blocks-1" else 2)
        write_recommendations(recommend_blocks(model, blocks, K), out)
    elif cell == "dask-2x1":
        import dask
        import dask.array as da
        from distributed import Client, LocalCluster

        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        )
        client = Client(cluster)
        result["cluster_start_s"] = time.perf_counter() - t0
        # a long-lived cluster has imported the package and loaded numba's kernels
        t0 = time.perf_counter()
        # in each worker's task thread (numba's thread settings are per thread)
        client.gather(
            [
                client.submit(recommend_blocks_warm_up, model_path, workers=[address], pure=False)
                for address in client.scheduler_info()["workers"]
            ]
        )
        result["warm_up_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        make = dask.delayed(make_block, pure=True)
        meta = sp.csr_matrix((0, N_ITEMS), dtype=np.float32)
        X = da.concatenate(
            [
                da.from_delayed(make(i, n), shape=(n, N_ITEMS), dtype=np.float32, meta=meta)
                for i, n in enumerate(sizes)
            ]
        )
        write_recommendations(recommend_dask(model, X, K), out)
        result["seconds"] = time.perf_counter() - t0
        result["worker_peak_rss_gb"] = max(client.run(peak_rss_gb).values())
        client.close()
        cluster.close()
    result.setdefault("seconds", time.perf_counter() - t0)
    result["peak_rss_gb"] = peak_rss_gb()
    report_worker_result(result)


def _gb(value):
    return "" if value is None else f"{value:.2f} (each)"


def load_ids(folder):
    return np.vstack([np.load(path) for path in sorted(Path(folder).glob("part-*.ids.npy"))])


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-users", type=int, default=1_000_000)
    parser.add_argument("--block-size", type=int, default=50_000)
    parser.add_argument("--cells", nargs="+", default=CELLS, choices=CELLS)
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds of all cells (best of; default 2)"
    )
    args = parser.parse_args(argv)

    from sklearn_musicrec import ALSFactorizer
    from sklearn_musicrec.datasets import make_interactions

    work = Path(tempfile.mkdtemp(prefix="bench_batch_scoring_"))
    try:
        train = make_interactions(n_users=20_000, n_items=N_ITEMS, random_state=0).data
        model = ALSFactorizer(n_components=64, max_iter=5, random_state=0).fit(
            train.astype(np.float32)
        )
        model_path = work / "model.pkl"
        model_path.write_bytes(pickle.dumps(model))
        machine = machine_description("dask", "distributed")
        rows = {}
        for repeat in range(args.repeat):
            # rounds in alternating order: a shared machine's load drifts over minutes
            for cell in args.cells if repeat % 2 == 0 else args.cells[::-1]:
                out = work / cell
                row = run_worker(
                    __file__, "--worker", cell, args.n_users, args.block_size, model_path, out
                )
                print(row, flush=True)
                times = rows.get(cell, {}).get("all_seconds", []) + [row["seconds"]]
                if cell not in rows or row["seconds"] < rows[cell]["seconds"]:
                    rows[cell] = row
                rows[cell]["all_seconds"] = times
        rows = {cell: rows[cell] for cell in args.cells}
        reference = load_ids(work / "one-call") if "one-call" in rows else None
        for cell, row in rows.items():
            if cell != "generate" and reference is not None:
                row["equal_to_one_call"] = bool(np.array_equal(load_ids(work / cell), reference))
                if not row["equal_to_one_call"]:
                    raise SystemExit(f"cell {cell}: lists differ from one-call; nothing written")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    gen = rows.get("generate", {}).get("seconds")
    res = {
        "n_users": args.n_users,
        "block_size": args.block_size,
        "n_items": N_ITEMS,
        "k": K,
        "cells": rows,
        "machine": machine,
        "command": command_line(argv),
    }
    lines = [
        f"# Batch scoring: {args.n_users:,} users x {N_ITEMS:,} items, ALS 64 f, k={K}",
        "",
        f"Command: `{res['command']}`",
        "",
        machine_line(machine),
        "",
        f"Best of {args.repeat} rounds (cells in alternating order; every time is in the .json).",
        "",
        "| cell | seconds (generate + score + write) | users / s | vs blocks-1 "
        "| peak RSS GB (client) | workers' peak RSS GB | equal to one call |",
        "|---|---|---|---|---|---|---|",
    ]
    base = rows.get("blocks-1", {}).get("seconds")
    for cell, row in rows.items():
        seconds = row["seconds"]
        ratio = "" if base is None else f"{base / seconds:.2f}x"
        lines.append(
            f"| {cell} | {seconds:.1f} | {args.n_users / seconds:,.0f} | {ratio} "
            f"| {row['peak_rss_gb']:.2f} | {_gb(row.get('worker_peak_rss_gb'))} "
            f"| {row.get('equal_to_one_call', '')} |"
        )
    lines.append("")
    if gen is not None:
        lines.append(f"The generator alone takes {gen:.1f} s (included in every cell).")
    if "dask-2x1" in rows:
        lines.append(
            f"Cluster start-up {rows['dask-2x1']['cluster_start_s']:.1f} s and the workers' "
            f"warm-up (import, load the kernels, one small block) "
            f"{rows['dask-2x1']['warm_up_s']:.1f} s, not included."
        )
    if "one-call" in rows:
        lines.append(
            f"one-call: {rows['one-call']['recommend_s']:.1f} s in the recommend call itself."
        )
    write_results(args.out, "bench_batch_scoring", res, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        cell, n_users, block_size, model_path, out = sys.argv[2:7]
        worker(cell, int(n_users), int(block_size), model_path, out)
    else:
        sys.exit(main())
