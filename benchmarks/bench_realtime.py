"""Real-time path: one user's fresh history in, a top-10 out; p50/p99 latency vs implicit.

Data: lastfm-2k, all 1,892 users x 17,632 artists, raw play counts. Each
request is one user's row (``X[[u]]``, a 1-row CSR matrix, as a serving
process would build it after a new listen) for ``--users`` random users (with
replacement), after ``--warmup`` untimed requests; ``k=10``, seen items
excluded. Every request of ours goes through the public ``recommend`` with
its full validation of untrusted input and the model's own weighting.

- ``ALSFactorizer()`` (defaults: BM25 weighting, 64 factors): fold-in (an
  exact 64 x 64 solve) + scoring of the catalogue + top-10. Peer: implicit's
  ``AlternatingLeastSquares(factors=64).recommend(u, row, N=10,
  recalculate_user=True)`` on the BM25-weighted matrix (its row is given
  already weighted: the weighting is not in implicit's time).
- ``ItemKNNRecommender()`` (defaults). Peer: implicit's
  ``CosineRecommender(K=n_neighbors)`` on the binarised matrix,
  ``recommend(u, row, N=10)`` (an item-item model reads the row itself).

Requests of ours and implicit alternate user by user, so both see the same
machine load; the load average before and after is recorded. ``--threads``
is the thread count of both (``n_jobs`` / ``num_threads``, BLAS limited to
it); one thread is the realistic serving case (one request per core).

Usage::

    python benchmarks/bench_realtime.py --threads 1
    python benchmarks/bench_realtime.py --threads 1 2 --users 2000
    python benchmarks/bench_realtime.py --users 200 --out /tmp/rt   # a quick try
"""

import os
import time

import numpy as np
import scipy.sparse as sp
from _common import (
    benchmark_parser,
    command_line,
    machine_description,
    machine_line,
    require_data,
    write_results,
)
from threadpoolctl import threadpool_limits

K = 10


def _stats(seconds):
    ms = np.asarray(seconds) * 1e3
    return {
        "p50_ms": float(np.percentile(ms, 50)),
        "p90_ms": float(np.percentile(ms, 90)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
    }


def _time_pair(ours, peer, rows, peer_rows, users, warmup):
    """Alternate ``ours(row)`` and ``peer(u, row)``; per-request seconds of each."""
    t_ours, t_peer = [], []
    for j, u in enumerate(users):
        row, prow = rows[j], peer_rows[j]
        tic = time.perf_counter()
        ours(row)
        mid = time.perf_counter()
        peer(u, prow)
        end = time.perf_counter()
        if j >= warmup:
            t_ours.append(mid - tic)
            t_peer.append(end - mid)
    return t_ours, t_peer


def _time_alone(ours, rows, warmup):
    """Per-request seconds of ``ours(row)`` with no peer request between them."""
    seconds = []
    for j, row in enumerate(rows):
        tic = time.perf_counter()
        ours(row)
        if j >= warmup:
            seconds.append(time.perf_counter() - tic)
    return seconds


def run(X, threads, n_users, warmup, seed):
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.nearest_neighbours import CosineRecommender

    from sklearn_musicrec import ALSFactorizer, ItemKNNRecommender

    rng = np.random.default_rng(seed)
    users = rng.integers(0, X.shape[0], size=n_users + warmup)
    rows = [X[[u]] for u in users]
    results = []

    # -- ALS ---------------------------------------------------------------
    als = ALSFactorizer(n_jobs=threads, random_state=0).fit(X)
    Xw = sp.csr_matrix(als.weighting_.transform(X), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        peer = AlternatingLeastSquares(
            factors=als.n_components,
            regularization=als._regularization(),
            alpha=float(als.confidence_scale),
            iterations=als.max_iter,
            num_threads=threads,
            random_state=0,
        )
        peer.fit(Xw, show_progress=False)
    peer_rows = [Xw[[u]] for u in users]
    batch_ids = als.recommend(X[users[:50]], k=K)[0]
    single_ids = np.vstack([als.recommend(r, k=K)[0] for r in rows[:50]])
    assert np.array_equal(batch_ids, single_ids), "single-row lists differ from the batch"

    def ours_als(row):
        return als.recommend(row, k=K)

    def peer_als(u, row):
        return peer.recommend(u, row, N=K, recalculate_user=True, filter_already_liked_items=True)

    with threadpool_limits(limits=threads, user_api="blas"):
        t_ours, t_peer = _time_pair(ours_als, peer_als, rows, peer_rows, users, warmup)
        t_alone = _time_alone(ours_als, rows, warmup)
    results.append(
        {
            "model": "ALS (64 factors, fold-in)",
            "threads": threads,
            "ours": _stats(t_ours),
            "ours_alone": _stats(t_alone),
            "implicit": _stats(t_peer),
            "peer": "implicit AlternatingLeastSquares, recalculate_user=True",
        }
    )

    # -- ItemKNN -----------------------------------------------------------
    knn = ItemKNNRecommender(n_jobs=threads).fit(X)
    Xb = (X > 0).astype(np.float32).tocsr()
    peer_knn = CosineRecommender(K=knn.n_neighbors, num_threads=threads)
    peer_knn.fit(Xb, show_progress=False)
    peer_rows = [Xb[[u]] for u in users]

    def ours_knn(row):
        return knn.recommend(row, k=K)

    def peer_knn_rec(u, row):
        return peer_knn.recommend(u, row, N=K, filter_already_liked_items=True)

    with threadpool_limits(limits=threads, user_api="blas"):
        t_ours, t_peer = _time_pair(ours_knn, peer_knn_rec, rows, peer_rows, users, warmup)
        t_alone = _time_alone(ours_knn, rows, warmup)
    results.append(
        {
            "model": f"ItemKNN ({knn.n_neighbors} neighbours)",
            "threads": threads,
            "ours": _stats(t_ours),
            "ours_alone": _stats(t_alone),
            "implicit": _stats(t_peer),
            "peer": f"implicit CosineRecommender(K={knn.n_neighbors})",
        }
    )
    return results


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--users", type=int, default=2000, help="timed requests per model")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests first")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from sklearn_musicrec.datasets import fetch_lastfm_2k

    X = (
        require_data(lambda: fetch_lastfm_2k(download_if_missing=False), "lastfm-2k")
        .data.tocsr()
        .astype(np.float64)
    )
    machine = machine_description("implicit")
    rows = []
    for threads in args.threads:
        load_before = [round(x, 2) for x in os.getloadavg()]
        cells = run(X, threads, args.users, args.warmup, args.seed)
        load_after = [round(x, 2) for x in os.getloadavg()]
        for cell in cells:
            cell["load_average_before"] = load_before
            cell["load_average_after"] = load_after
        rows.extend(cells)

    result = {
        "command": command_line(argv),
        "machine": machine,
        "k": K,
        "users": args.users,
        "warmup": args.warmup,
        "rows": rows,
    }
    md = [
        "# Real-time path: one user's row in, a top-10 out (lastfm-2k)",
        "",
        f"Command: `{result['command']}`",
        "",
        machine_line(machine),
        "",
        f"{args.users} timed requests per cell (random users, after {args.warmup} untimed), "
        "k=10, seen items excluded; ours through the public `recommend` with its validation "
        "and weighting, implicit given the row already weighted. Requests alternate "
        "between the two libraries, so both see the same load (and each the threads the "
        "other left spinning: implicit's OpenMP and BLAS pools at 2 threads). 'Ours alone' "
        "times the same requests again right after, with no peer request between them.",
        "",
        "| model | threads | ours p50 ms | ours p99 ms | implicit p50 ms | implicit p99 ms "
        "| p50 ratio ours / implicit | ours alone p50 / p99 ms | load avg before / after |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        o, i = r["ours"], r["implicit"]
        alone = r.get("ours_alone")
        alone = f"{alone['p50_ms']:.3f} / {alone['p99_ms']:.3f}" if alone else "–"
        md.append(
            f"| {r['model']} | {r['threads']} | {o['p50_ms']:.3f} | {o['p99_ms']:.3f} | "
            f"{i['p50_ms']:.3f} | {i['p99_ms']:.3f} | {o['p50_ms'] / i['p50_ms']:.2f} | "
            f"{alone} | "
            f"{r['load_average_before'][0]:.2f} / {r['load_average_after'][0]:.2f} |"
        )
    md += ["", "Peers: " + "; ".join(sorted({r["peer"] for r in rows})) + "."]
    write_results(args.out, "bench_realtime", result, md)


if __name__ == "__main__":
    main()
