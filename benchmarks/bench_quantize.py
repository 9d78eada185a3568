"""Compressed factor models (``quantize``): memory and NDCG@20 change on lastfm-2k.

Protocol of docs/facts.md (``_common.lastfm_holdout``): users with at least
5 artists, a per-user random 80/20 holdout of the play records (seed 0),
full-catalogue ranking with the training artists excluded, K = 20. Each
model is fitted once at its defaults (``random_state=0``); then a copy is
compressed with ``quantize("float16")`` and another with ``quantize("int8")``
(symmetric per-row int8 codes with float32 scales), and all three recommend
for the test users from their training rows (fold-in against the
dequantised factors).

Memory: the pickle size of the whole fitted model, and the resident bytes
of its factor matrices (``nbytes`` of the attributes ``quantize`` compresses:
codes plus scales). The target of issue 15: int8 at most 1% relative NDCG@20
loss with factors at least 3.5x smaller.

Models: ``ALSFactorizer()`` (BM25, 64 factors), ``SGDFactorizer()`` (BPR,
the defaults), ``FeatureFactorizer(item_features=tags)`` (LightFM-style
BPR with the artists' tags, 64 components).

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_quantize.py
    python benchmarks/bench_quantize.py --models als --out /tmp/q   # a quick try
"""

import copy
import pickle
import time

import numpy as np
import scipy.sparse as sp
from _common import (
    K,
    benchmark_parser,
    command_line,
    lastfm_holdout,
    machine_description,
    machine_line,
    ranking_quality,
    require_data,
    write_results,
)

MODELS = ("als", "sgd", "feature")


def make_model(name, tags):
    from sklearn_musicrec.content import FeatureFactorizer
    from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer

    if name == "als":
        return "ALSFactorizer()", ALSFactorizer(random_state=0, n_jobs=-1)
    if name == "sgd":
        return "SGDFactorizer()", SGDFactorizer(random_state=0, n_jobs=-1)
    return (
        "FeatureFactorizer(item_features=tags, n_components=64)",
        FeatureFactorizer(item_features=tags, n_components=64, random_state=0, n_jobs=-1),
    )


def measure(model, train, test, users):
    tic = time.perf_counter()
    ids, _ = model.recommend(train[users], k=K)
    seconds = time.perf_counter() - tic
    factor_bytes = sum(getattr(model, name).nbytes for name in model._quantized_attributes)
    return {
        **ranking_quality(ids, test[users]),
        "recommend_s": seconds,
        "pickle_bytes": len(pickle.dumps(model)),
        "factor_bytes": int(factor_bytes),
        "ids": ids,
    }


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    args = parser.parse_args(argv)

    from sklearn_musicrec.datasets import fetch_lastfm_2k

    train, test = lastfm_holdout()
    tags = sp.csr_matrix(
        require_data(lambda: fetch_lastfm_2k(download_if_missing=False), "lastfm-2k").tags,
        dtype=np.float64,
    )
    users = np.flatnonzero(test.getnnz(axis=1) > 0)
    machine = machine_description()
    rows = []
    for name in args.models:
        label, model = make_model(name, tags)
        tic = time.perf_counter()
        model.fit(train)
        fit_s = time.perf_counter() - tic
        base = measure(model, train, test, users)
        for dtype in (None, "float16", "int8"):
            if dtype is None:
                cell = base
            else:
                compressed = copy.deepcopy(model).quantize(dtype)
                cell = measure(compressed, train, test, users)
            overlap = np.mean(
                [np.intersect1d(a, b).size / K for a, b in zip(cell["ids"], base["ids"])]
            )
            rows.append(
                {
                    "model": label,
                    "dtype": dtype or "float32",
                    "fit_s": fit_s,
                    **{key: value for key, value in cell.items() if key != "ids"},
                    "ndcg_relative_change": cell[f"ndcg@{K}"] / base[f"ndcg@{K}"] - 1.0,
                    "factor_ratio": base["factor_bytes"] / cell["factor_bytes"],
                    "pickle_ratio": base["pickle_bytes"] / cell["pickle_bytes"],
                    "top20_overlap_with_float32": float(overlap),
                }
            )
            print(rows[-1], flush=True)

    result = {"command": command_line(argv), "machine": machine, "k": K, "rows": rows}
    md = [
        "# Compressed factor models: memory and NDCG@20 (lastfm-2k)",
        "",
        f"Command: `{result['command']}`",
        "",
        machine_line(machine),
        "",
        "Protocol of docs/facts.md (users with >= 5 artists, per-user random 80/20 holdout, "
        "seed 0, full ranking, training artists excluded). Each model is fitted once; copies "
        "are compressed with `quantize(dtype)`. Factor bytes: the compressed attributes "
        "(codes + per-row float32 scales); pickle: the whole fitted model.",
        "",
        "| model | dtype | NDCG@20 | relative change | Recall@20 | top-20 overlap with float32 "
        "| factor MB | factors smaller | pickle MB | pickle smaller | recommend s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['model']} | {r['dtype']} | {r[f'ndcg@{K}']:.4f} | "
            f"{100 * r['ndcg_relative_change']:+.2f}% | {r[f'recall@{K}']:.4f} | "
            f"{r['top20_overlap_with_float32']:.3f} | {r['factor_bytes'] / 2**20:.2f} | "
            f"{r['factor_ratio']:.2f}x | {r['pickle_bytes'] / 2**20:.2f} | "
            f"{r['pickle_ratio']:.2f}x | {r['recommend_s']:.3f} |"
        )
    write_results(args.out, "bench_quantize", result, md)


if __name__ == "__main__":
    main()
