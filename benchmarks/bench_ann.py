"""Approximate vs exact top-10 over a catalogue of a million items: recall, throughput, memory.

The catalogue: an ``ALSFactorizer`` (64 factors, BM25-weighted input) fitted
on lastfm-2k gives 17,632 real item vectors; the catalogue keeps them and
adds synthetic items up to ``--n-items``, each a real item's vector plus
Gaussian noise with the covariance of the real vectors (scaled by
``--noise``), so the norms (which follow popularity) and the directions
are distributed as a fitted model's. The model keeps its fitted fold-in
(the real items' plays are the users' histories), so the queries are the
lastfm-2k users' own rows, folded in, with their histories excluded.

Exact: the model's own ``recommend`` (one matrix product per batch of
users, the compiled top-k selection). Approximate:
``ApproximateRecommender(FrozenEstimator(model), index="hnsw")`` (faiss
``IndexHNSWFlat``, inner product over ``[v_i]``), at each ``--ef-search``.
Both use ``--threads`` threads and the same users in one batch; recall@10
is the share of the exact top-10 found, throughput the users per second
of the whole ``recommend`` call (fold-in included, both sides).

With ``--compare-items N`` the two reductions of maximum inner product
search are compared on the first ``N`` items with raw faiss indexes of
the same ``M`` / ``efConstruction``: the inner-product graph, and the
Euclidean graph over ``[v_i, sqrt(max |v|^2 - |v_i|^2)]`` (Bachrach et al.
2014) queried with ``[u, 0]``.

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_ann.py
    python benchmarks/bench_ann.py --n-items 100000 --out /tmp/ann   # quick try

Needs faiss (``pip install "sklearn-musicrec[ann]"``) and lastfm-2k.
"""

import gc
import pickle
import time

import numpy as np
import scipy.sparse as sp
from _common import (
    benchmark_parser,
    command_line,
    machine_description,
    machine_line,
    peak_rss_gb,
    require_data,
    write_results,
)

K = 10


def _rss_gb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    return float("nan")


def recall_at_k(approx, exact):
    hits = [
        len(set(a[a >= 0]) & set(e[e >= 0])) / max(1, (e >= 0).sum()) for a, e in zip(approx, exact)
    ]
    return float(np.mean(hits))


def grown_model(n_items, noise, threads):
    """(model, histories): ALS fitted on lastfm-2k with its catalogue grown to ``n_items``."""
    from sklearn_musicrec.datasets import fetch_lastfm_2k
    from sklearn_musicrec.decomposition import ALSFactorizer
    from sklearn_musicrec.preprocessing import BM25Weighting

    X = require_data(lambda: fetch_lastfm_2k(download_if_missing=False), "lastfm-2k").data.tocsr()
    Xw = BM25Weighting().fit_transform(X).astype(np.float32)
    model = ALSFactorizer(n_components=64, weighting=None, random_state=0, n_jobs=threads).fit(Xw)
    V0 = model.item_factors_
    rng = np.random.default_rng(0)
    L = np.linalg.cholesky(np.cov(V0.T) + 1e-8 * np.eye(V0.shape[1]))
    parents = rng.integers(0, V0.shape[0], n_items - V0.shape[0])
    extra = V0[parents] + noise * (rng.standard_normal((parents.size, V0.shape[1])) @ L.T)
    # the grown model: its fitted fold-in over the million item vectors
    model.item_factors_ = np.ascontiguousarray(np.vstack([V0, extra]), dtype=np.float32)
    model.item_counts_ = np.concatenate([model.item_counts_, model.item_counts_[parents]])
    model.n_features_in_ = n_items
    histories = sp.csr_matrix((Xw.data, Xw.indices, Xw.indptr), shape=(X.shape[0], n_items))
    return model, histories


def compare_reductions(V, U, M, ef_construction, ef_values, threads):
    """Recall and query time of the inner-product graph vs the Euclidean reduction."""
    import faiss

    faiss.omp_set_num_threads(threads)
    exact = np.argsort(-(U @ V.T), axis=1, kind="stable")[:, :K]
    sq = (V * V).sum(axis=1)
    variants = {
        "inner product": (V, U, faiss.METRIC_INNER_PRODUCT),
        "L2 + norm coordinate": (
            np.hstack([V, np.sqrt(sq.max() - sq)[:, None]]).astype(np.float32),
            np.hstack([U, np.zeros((U.shape[0], 1), np.float32)]),
            faiss.METRIC_L2,
        ),
    }
    rows = []
    for name, (items, queries, metric) in variants.items():
        index = faiss.IndexHNSWFlat(items.shape[1], M, metric)
        index.hnsw.efConstruction = ef_construction
        tic = time.perf_counter()
        index.add(np.ascontiguousarray(items))
        build = time.perf_counter() - tic
        for ef in ef_values:
            index.hnsw.efSearch = ef
            tic = time.perf_counter()
            _, ids = index.search(np.ascontiguousarray(queries), K)
            rows.append(
                {
                    "reduction": name,
                    "ef_search": ef,
                    "recall": recall_at_k(ids, exact),
                    "query_s": time.perf_counter() - tic,
                    "build_s": build,
                }
            )
        del index
    return rows


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-items", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--noise", type=float, default=0.5, help="synthetic items' noise scale")
    parser.add_argument("--threads", type=int, default=2, help="threads of both paths")
    parser.add_argument("--M", type=int, default=16, help="HNSW graph neighbours per item")
    parser.add_argument("--ef-construction", type=int, default=100)
    parser.add_argument("--ef-search", default="64,128,256,512", help="comma-separated")
    parser.add_argument(
        "--compare-items",
        type=int,
        default=100_000,
        help="items of the MIPS-reduction comparison (0: skip it)",
    )
    args = parser.parse_args()
    ef_values = [int(v) for v in args.ef_search.split(",")]

    from sklearn.frozen import FrozenEstimator

    from sklearn_musicrec.decomposition import ApproximateRecommender

    machine = machine_description("faiss-cpu")
    model, Q = grown_model(args.n_items, args.noise, args.threads)
    n_users = Q.shape[0]
    model.recommend(Q[:20], k=K)  # warm-up (compiled kernels)
    tic = time.perf_counter()
    exact_ids, exact_scores = model.recommend(Q, k=K)
    exact_s = time.perf_counter() - tic

    gc.collect()
    rss_before = _rss_gb()
    tic = time.perf_counter()
    ann = ApproximateRecommender(
        FrozenEstimator(model),
        index="hnsw",
        M=args.M,
        ef_construction=args.ef_construction,
        n_jobs=args.threads,
    ).fit(Q)
    build_s = time.perf_counter() - tic
    index_rss_gb = _rss_gb() - rss_before
    index_bytes = len(pickle.dumps(ann)) - len(pickle.dumps(model))
    rows = []
    for ef in ef_values:
        ann.set_params(ef_search=ef)
        ann.recommend(Q[:20], k=K)
        tic = time.perf_counter()
        ids, scores = ann.recommend(Q, k=K)
        seconds = time.perf_counter() - tic
        rows.append(
            {
                "ef_search": ef,
                "recall": recall_at_k(ids, exact_ids),
                "recommend_s": seconds,
                "users_per_s": n_users / seconds,
                "speedup": exact_s / seconds,
            }
        )
        print(rows[-1], flush=True)

    reductions = []
    if args.compare_items:
        n = min(args.compare_items, args.n_items)
        U = model.transform(Q)
        reductions = compare_reductions(
            model.item_factors_[:n], U, args.M, args.ef_construction, ef_values, args.threads
        )

    report = {
        "command": command_line(),
        "settings": {
            "n_items": args.n_items,
            "n_users": n_users,
            "n_components": 64,
            "noise": args.noise,
            "threads": args.threads,
            "M": args.M,
            "ef_construction": args.ef_construction,
            "k": K,
        },
        "machine": machine,
        "exact_recommend_s": exact_s,
        "exact_users_per_s": n_users / exact_s,
        "build_s": build_s,
        "index_rss_gb": index_rss_gb,
        "index_pickle_mb": index_bytes / 2**20,
        "item_factors_mb": model.item_factors_.nbytes / 2**20,
        "peak_rss_gb": peak_rss_gb(),
        "rows": rows,
        "reductions": reductions,
    }
    lines = [
        "# Approximate top-10 (faiss HNSW) vs exact, large catalogue",
        "",
        f"Command: `{report['command']}`",
        "",
        machine_line(machine),
        "",
        f"Catalogue: {args.n_items:,} items (17,632 lastfm-2k item vectors of a fitted "
        f"64-factor ALS plus resampled ones with noise {args.noise}); queries: the "
        f"{n_users:,} lastfm-2k users, folded in, histories excluded, top-{K}, one "
        f"`recommend` call each way, {args.threads} threads both. HNSW M = {args.M}, "
        f"efConstruction = {args.ef_construction}.",
        "",
        f"Exact `recommend`: {exact_s:.2f} s ({n_users / exact_s:,.0f} users/s). "
        f"Index build: {build_s:.1f} s; index memory: {index_rss_gb:.2f} GB resident, "
        f"{index_bytes / 2**20:.0f} MB pickled (item factors alone: "
        f"{model.item_factors_.nbytes / 2**20:.0f} MB); peak RSS of the run "
        f"{report['peak_rss_gb']:.2f} GB.",
        "",
        "| ef_search | recall@10 vs exact | recommend s | users / s | speed-up vs exact |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['ef_search']} | {r['recall']:.4f} | {r['recommend_s']:.3f} "
            f"| {r['users_per_s']:,.0f} | {r['speedup']:.1f}x |"
        )
    if reductions:
        lines += [
            "",
            f"MIPS reductions on the first {min(args.compare_items, args.n_items):,} items "
            "(raw faiss, same M / efConstruction, top-10 without exclusion):",
            "",
            "| reduction | ef_search | recall@10 | query s | build s |",
            "|---|---|---|---|---|",
        ]
        for r in reductions:
            lines.append(
                f"| {r['reduction']} | {r['ef_search']} | {r['recall']:.4f} "
                f"| {r['query_s']:.3f} | {r['build_s']:.1f} |"
            )
    lines += [
        "",
        "Times are wall-clock on shared cores; the speed-up is a ratio of two runs "
        "taken back to back in one process.",
    ]
    write_results(args.out, "bench_ann", report, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
