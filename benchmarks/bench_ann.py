"""Approximate (faiss IVF, HNSW) vs exact top-10 over a catalogue of a million items.

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
``ApproximateRecommender(FrozenEstimator(model), index=...)`` for each
index of ``--index``: ``"ivf"`` (faiss ``IndexIVFFlat`` over the items with
a norm coordinate, ``--n-lists`` lists, at each ``--n-probe``) and
``"hnsw"`` (faiss ``IndexHNSWFlat``, inner product, ``--M`` /
``--ef-construction``, at each ``--ef-search``). Both sides use
``--threads`` threads (the exact model's ``n_jobs`` and the index's, which
sets faiss's OpenMP threads) and the same users in one call; recall@10 is
the share of the exact top-10 found, throughput the users per second of
the whole ``recommend`` call (fold-in included, both sides). Build time,
the resident memory the index added and its pickled size are reported per
index.

With ``--compare-items N`` the two reductions of maximum inner product
search are compared for each index of ``--index`` on the first ``N`` items
with raw faiss indexes of the same settings: inner product over ``[v_i]``
(spherical k-means lists for IVF), and L2 over
``[v_i, sqrt(max |v|^2 - |v_i|^2)]`` (Bachrach et al. 2014) queried with
``[u, 0]``.

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_ann.py
    python benchmarks/bench_ann.py --n-items 100000 --out /tmp/ann   # quick try
    python benchmarks/bench_ann.py --index hnsw --M 32 --ef-construction 200 \\
        --n-items 100000 --stem bench_ann_hnsw_100k                   # one index only

Needs faiss (``pip install "sklearn-musicrec[ann]"``) and lastfm-2k.
"""

import gc
import os
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


def compare_reductions(V, U, kinds, args, threads):
    """Recall and query time of the inner-product index vs the Euclidean reduction, per kind."""
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
    for kind in kinds:
        for name, (items, queries, metric) in variants.items():
            items = np.ascontiguousarray(items)
            queries = np.ascontiguousarray(queries)
            d = items.shape[1]
            tic = time.perf_counter()
            if kind == "hnsw":
                index = faiss.IndexHNSWFlat(d, args.M, metric)
                index.hnsw.efConstruction = args.ef_construction
            else:
                from sklearn_musicrec.decomposition._approximate import default_n_lists

                n_lists = args.n_lists or default_n_lists(len(items))
                quantizer = (
                    faiss.IndexFlatIP if metric == faiss.METRIC_INNER_PRODUCT else faiss.IndexFlatL2
                )(d)
                index = faiss.IndexIVFFlat(quantizer, d, n_lists, metric)
                index.cp.seed = 0
                rng = np.random.default_rng(0)
                sample = np.sort(
                    rng.choice(len(items), min(len(items), 64 * n_lists), replace=False)
                )
                index.train(items[sample])
            index.add(items)
            build = time.perf_counter() - tic
            for value in args.ef_values if kind == "hnsw" else args.probe_values:
                if kind == "hnsw":
                    index.hnsw.efSearch = value
                else:
                    index.nprobe = value
                tic = time.perf_counter()
                _, ids = index.search(queries, K)
                rows.append(
                    {
                        "index": kind,
                        "reduction": name,
                        "setting": value,
                        "recall": recall_at_k(ids, exact),
                        "query_s": time.perf_counter() - tic,
                        "build_s": build,
                    }
                )
            del index
    return rows


SETTING = {"ivf": "n_probe", "hnsw": "ef_search"}


def measure_index(kind, metric, model, Q, exact_ids, exact_s, args):
    """Build one index over the model's items; recall and speed at each search setting."""
    from sklearn.frozen import FrozenEstimator

    from sklearn_musicrec.decomposition import ApproximateRecommender

    n_users = Q.shape[0]
    gc.collect()
    rss_before = _rss_gb()
    tic = time.perf_counter()
    ann = ApproximateRecommender(
        FrozenEstimator(model),
        index=kind,
        metric=metric,
        n_lists=args.n_lists,
        M=args.M,
        ef_construction=args.ef_construction,
        n_jobs=args.threads,
        random_state=0,
    ).fit(Q)
    build_s = time.perf_counter() - tic
    index_rss_gb = _rss_gb() - rss_before
    index_bytes = len(pickle.dumps(ann)) - len(pickle.dumps(model))
    if kind == "ivf":
        params = f"{metric}, n_lists = {ann.index_.nlist:,}"
    else:
        params = f"{metric}, M = {args.M}, efConstruction = {args.ef_construction}"
    build = {
        "index": kind,
        "metric": metric,
        "params": params,
        "build_s": build_s,
        "index_rss_gb": index_rss_gb,
        "index_pickle_mb": index_bytes / 2**20,
        "load_after_build": os.getloadavg()[0],
    }
    print(build, flush=True)
    rows = []
    for value in args.probe_values if kind == "ivf" else args.ef_values:
        ann.set_params(**{SETTING[kind]: value})
        ann.recommend(Q[:20], k=K)
        tic = time.perf_counter()
        ids, scores = ann.recommend(Q, k=K)
        seconds = time.perf_counter() - tic
        rows.append(
            {
                "index": kind,
                "metric": metric,
                "params": params,
                "setting": SETTING[kind],
                "value": value,
                "recall": recall_at_k(ids, exact_ids),
                "recommend_s": seconds,
                "users_per_s": n_users / seconds,
                "speedup": exact_s / seconds,
            }
        )
        print(rows[-1], flush=True)
    return build, rows


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-items", type=int, default=1_000_000, help="catalogue size")
    parser.add_argument("--noise", type=float, default=0.5, help="synthetic items' noise scale")
    parser.add_argument("--threads", type=int, default=2, help="threads of both paths")
    parser.add_argument(
        "--index", default="ivf,hnsw", help="comma-separated indexes to measure: ivf, hnsw"
    )
    parser.add_argument(
        "--metric",
        default="inner_product",
        help="comma-separated metrics of the indexes: inner_product, euclidean",
    )
    parser.add_argument(
        "--n-lists", type=int, default=None, help="IVF lists (default: the estimator's rule)"
    )
    parser.add_argument("--n-probe", default="32,64,128,256", help="IVF, comma-separated")
    parser.add_argument("--M", type=int, default=16, help="HNSW graph neighbours per item")
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--ef-search", default="128,512", help="HNSW, comma-separated")
    parser.add_argument(
        "--compare-items",
        type=int,
        default=0,
        help="items of the MIPS-reduction comparison per index (0: skip it)",
    )
    parser.add_argument("--stem", default="bench_ann", help="name of the result files")
    args = parser.parse_args()
    kinds = [v.strip() for v in args.index.split(",") if v.strip()]
    unknown = sorted(set(kinds) - set(SETTING))
    if unknown:
        parser.error(f"--index takes ivf and hnsw; got {unknown}")
    metrics = [v.strip() for v in args.metric.split(",") if v.strip()]
    bad = sorted(set(metrics) - {"inner_product", "euclidean"})
    if bad:
        parser.error(f"--metric takes inner_product and euclidean; got {bad}")
    args.ef_values = [int(v) for v in args.ef_search.split(",")]
    args.probe_values = [int(v) for v in args.n_probe.split(",")]

    machine = machine_description("faiss-cpu")
    model, Q = grown_model(args.n_items, args.noise, args.threads)
    n_users = Q.shape[0]
    model.recommend(Q[:20], k=K)  # warm-up (compiled kernels)
    tic = time.perf_counter()
    exact_ids, exact_scores = model.recommend(Q, k=K)
    exact_s = time.perf_counter() - tic
    print({"exact_s": exact_s}, flush=True)

    builds, rows = [], []
    for kind in kinds:
        for metric in metrics:
            build, kind_rows = measure_index(kind, metric, model, Q, exact_ids, exact_s, args)
            builds.append(build)
            rows += kind_rows
            gc.collect()

    reductions = []
    if args.compare_items:
        n = min(args.compare_items, args.n_items)
        U = np.ascontiguousarray(model.transform(Q), dtype=np.float32)
        reductions = compare_reductions(model.item_factors_[:n], U, kinds, args, args.threads)
    load_end = os.getloadavg()

    report = {
        "command": command_line(),
        "settings": {
            "n_items": args.n_items,
            "n_users": n_users,
            "n_components": 64,
            "noise": args.noise,
            "threads": args.threads,
            "indexes": kinds,
            "metrics": metrics,
            "n_lists": args.n_lists,
            "M": args.M,
            "ef_construction": args.ef_construction,
            "k": K,
        },
        "machine": machine,
        "load_average_end": list(load_end),
        "exact_recommend_s": exact_s,
        "exact_users_per_s": n_users / exact_s,
        "item_factors_mb": model.item_factors_.nbytes / 2**20,
        "peak_rss_gb": peak_rss_gb(),
        "builds": builds,
        "rows": rows,
        "reductions": reductions,
    }
    lines = [
        "# Approximate top-10 (faiss IVF / HNSW) vs exact, large catalogue",
        "",
        f"Command: `{report['command']}`",
        "",
        machine_line(machine)
        + f" Load average at the end: {load_end[0]:.2f}, {load_end[1]:.2f}, {load_end[2]:.2f}.",
        "",
        f"Catalogue: {args.n_items:,} items (17,632 lastfm-2k item vectors of a fitted "
        f"64-factor ALS plus resampled ones with noise {args.noise}); queries: the "
        f"{n_users:,} lastfm-2k users, folded in, histories excluded, top-{K}, one "
        f"`recommend` call each way, {args.threads} threads both.",
        "",
        f"Exact `recommend`: {exact_s:.2f} s ({n_users / exact_s:,.0f} users/s). "
        f"Item factors alone: {model.item_factors_.nbytes / 2**20:.0f} MB; peak RSS of the "
        f"run {report['peak_rss_gb']:.2f} GB.",
        "",
        "| index | parameters | build s | index memory (resident GB) | pickled MB "
        "| load average after the build |",
        "|---|---|---|---|---|---|",
    ]
    for b in builds:
        lines.append(
            f"| {b['index']} | {b['params']} | {b['build_s']:.1f} | {b['index_rss_gb']:.2f} "
            f"| {b['index_pickle_mb']:.0f} | {b['load_after_build']:.1f} |"
        )
    lines += [
        "",
        "| index | parameters | search setting | recall@10 vs exact | recommend s | users / s "
        "| speed-up vs exact |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['index']} | {r['params']} | {r['setting']} = {r['value']} | {r['recall']:.4f} "
            f"| {r['recommend_s']:.3f} | {r['users_per_s']:,.0f} | {r['speedup']:.1f}x |"
        )
    if reductions:
        lines += [
            "",
            f"MIPS reductions on the first {min(args.compare_items, args.n_items):,} items "
            "(raw faiss, same settings, top-10 without exclusion or re-scoring):",
            "",
            "| index | reduction | search setting | recall@10 | query s | build s |",
            "|---|---|---|---|---|---|",
        ]
        for r in reductions:
            lines.append(
                f"| {r['index']} | {r['reduction']} | {SETTING[r['index']]} = {r['setting']} "
                f"| {r['recall']:.4f} | {r['query_s']:.3f} | {r['build_s']:.1f} |"
            )
    lines += [
        "",
        "Times are wall-clock on shared cores; the speed-up is a ratio of runs "
        "taken in one process, the exact one first.",
    ]
    write_results(args.out, args.stem, report, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
