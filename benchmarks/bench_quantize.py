"""Compressed factor and neural models (``quantize``): memory and NDCG@20 change on lastfm-2k.

Protocol of docs/facts.md (``_common.lastfm_holdout``): users with at least
5 artists, a per-user random 80/20 holdout of the play records (seed 0),
full-catalogue ranking with the training artists excluded, K = 20. Each
model is fitted once at its defaults (``random_state=0``); then a copy is
compressed with ``quantize("float16")`` and another with ``quantize("int8")``
(symmetric per-row int8 codes with float32 scales), and all three recommend
for the test users from their training rows (fold-in against the
dequantised factors).

Memory: the pickle size of the whole fitted model; the resident bytes of
the matrices ``quantize`` compresses (factor matrices; the neural models'
item-side layers: codes plus scales); and the resident bytes of all the
model's arrays (every ndarray attribute; for the neural models every tensor
of the module, the quantised layers' arrays and the optimiser's state,
which a quantised model drops). The target of issue 15: int8 at most 1%
relative NDCG@20 loss with factors at least 3.5x smaller.

Models: ``ALSFactorizer()`` (BM25, 64 factors), ``SGDFactorizer()`` (BPR,
the defaults), ``FeatureFactorizer(item_features=tags)`` (LightFM-style
BPR with the artists' tags, 64 components); the neural models at their
defaults: ``MultVAERecommender()`` (its first encoder layer, 17,632 x 128,
and the decoder's output layer, 64 x 17,632, are compressed) and
``DeepCFRecommender()`` (its input and output item embeddings, 17,632 x 64
each; the item biases stay float32).

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_quantize.py
    python benchmarks/bench_quantize.py --models als --out /tmp/q   # a quick try

A run of some models (``--models``) keeps the other models' latest rows in
the results.
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
    keep_other_rows,
    lastfm_holdout,
    machine_description,
    machine_line,
    ranking_quality,
    read_previous,
    require_data,
    write_results,
)

MODELS = ("als", "sgd", "feature", "multvae", "deepcf")


def make_model(name, tags):
    from sklearn_musicrec.content import FeatureFactorizer
    from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
    from sklearn_musicrec.neural import DeepCFRecommender, MultVAERecommender

    if name == "als":
        return "ALSFactorizer()", ALSFactorizer(random_state=0, n_jobs=-1)
    if name == "sgd":
        return "SGDFactorizer()", SGDFactorizer(random_state=0, n_jobs=-1)
    if name == "multvae":
        return "MultVAERecommender()", MultVAERecommender(random_state=0)
    if name == "deepcf":
        return "DeepCFRecommender()", DeepCFRecommender(random_state=0)
    return (
        "FeatureFactorizer(item_features=tags, n_components=64)",
        FeatureFactorizer(item_features=tags, n_components=64, random_state=0, n_jobs=-1),
    )


def model_bytes(model):
    """Resident bytes of the model's arrays (and, for a neural model, its tensors)."""
    from sklearn_musicrec.utils._quantize import QuantizedArray

    arrays = (np.ndarray, QuantizedArray)
    total = sum(value.nbytes for value in vars(model).values() if isinstance(value, arrays))
    net = getattr(model, "net_", None)
    if net is not None:
        module = net.module_
        tensors = {id(t): t for t in [*module.parameters(), *module.buffers()]}
        for state in net.optimizer_.state.values():
            tensors.update({id(t): t for t in state.values() if hasattr(t, "nbytes")})
        for _, callback in net.callbacks_:
            for t in (getattr(callback, "best_model_weights_", None) or {}).values():
                tensors[id(t)] = t
        total += sum(t.nbytes for t in tensors.values())
        total += sum(
            m.weight_q.nbytes
            for m in module.modules()
            if isinstance(m.__dict__.get("weight_q"), arrays)
        )
    return int(total)


def measure(model, train, test, users):
    tic = time.perf_counter()
    ids, _ = model.recommend(train[users], k=K)
    seconds = time.perf_counter() - tic
    # the matrices quantize compresses (attributes, or a neural model's item-side layers)
    factor_bytes = sum(
        value.nbytes for value in model._quantizable_arrays().values() if value is not None
    )
    return {
        **ranking_quality(ids, test[users]),
        "recommend_s": seconds,
        "pickle_bytes": len(pickle.dumps(model)),
        "factor_bytes": int(factor_bytes),
        "model_bytes": model_bytes(model),
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
                    "model_ratio": base["model_bytes"] / cell["model_bytes"],
                    "top20_overlap_with_float32": float(overlap),
                }
            )
            print(rows[-1], flush=True)

    old = read_previous(args.out, "bench_quantize")
    if old is not None and set(args.models) != set(MODELS):
        # a partial run keeps the other models' latest rows, in MODELS order
        labels = [make_model(name, tags)[0] for name in MODELS]
        rows = keep_other_rows(old["rows"], rows, {r["model"] for r in rows}, labels)
    result = {"command": command_line(argv), "machine": machine, "k": K, "rows": rows}
    md = [
        "# Compressed factor and neural models: memory and NDCG@20 (lastfm-2k)",
        "",
        f"Command: `{result['command']}`",
        "",
        machine_line(machine),
        "",
        "Protocol of docs/facts.md (users with >= 5 artists, per-user random 80/20 holdout, "
        "seed 0, full ranking, training artists excluded). Each model is fitted once; copies "
        "are compressed with `quantize(dtype)`. Factor MB: the compressed matrices (factor "
        "matrices; the neural models' item-side layers), codes + per-row float32 scales; "
        "resident MB: all the model's arrays (neural: the module's tensors, the quantised "
        "layers and the optimiser state, which a quantised model drops); pickle: the whole "
        "fitted model.",
        "",
        "| model | dtype | NDCG@20 | relative change | Recall@20 | top-20 overlap with float32 "
        "| factor MB | factors smaller | resident MB | resident smaller | pickle MB "
        "| pickle smaller | recommend s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(
            f"| {r['model']} | {r['dtype']} | {r[f'ndcg@{K}']:.4f} | "
            f"{100 * r['ndcg_relative_change']:+.2f}% | {r[f'recall@{K}']:.4f} | "
            f"{r['top20_overlap_with_float32']:.3f} | {r['factor_bytes'] / 2**20:.2f} | "
            f"{r['factor_ratio']:.2f}x | {r['model_bytes'] / 2**20:.2f} | "
            f"{r['model_ratio']:.2f}x | {r['pickle_bytes'] / 2**20:.2f} | "
            f"{r['pickle_ratio']:.2f}x | {r['recommend_s']:.3f} |"
        )
    write_results(args.out, "bench_quantize", result, md)


if __name__ == "__main__":
    main()
