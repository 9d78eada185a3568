"""Every recommender at its defaults, on raw play counts and on binarised plays.

The input the README documents is a matrix of raw play counts. This script
checks that every recommender of the package, constructed with **no
arguments**, is good on it: on lastfm-2k (the protocol of ``_common.py``:
users with >= 5 artists, per-user random 80/20 holdout of play records,
seed 0, full-catalogue ranking with training items excluded, K = 20) each
model is fitted once on the raw training counts and once on the same
training matrix binarised (every play count set to 1; the held-out part is
the same), and NDCG@20 / Recall@20 are measured on the held-out plays.

Targets (issue 10): for every recommender, NDCG@20 on raw counts >= 0.95x
its NDCG@20 on binarised input, and every personalised model's raw-count
NDCG@20 above popularity's.

Recommenders are found by ``sklearn_musicrec.utils.discovery.all_recommenders()``,
so a new one is measured by simply existing. Models that draw random
numbers are constructed with no arguments too (``random_state=None``); the
global NumPy generator is seeded with ``--seed`` before every fit, so a run
is reproducible. A model whose fit or recommend raises is reported with the
error instead of a score.

Usage::

    python benchmarks/bench_defaults.py --data-home /work/shared/data
    python benchmarks/bench_defaults.py --models EASERecommender ALSFactorizer

Results go to ``<out>/<stem>.md`` and ``<out>/<stem>.json`` (default
``benchmarks/results/bench_defaults``), written only when every requested
model was measured (a failing model counts as measured, with its error).
The exit status is 1 when a target is missed.
"""

import sys
import time
import traceback
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import (  # noqa: E402
    K,
    benchmark_parser,
    command_line,
    lastfm_holdout,
    machine_description,
    machine_line,
    ranking_quality,
    write_results,
)

NON_PERSONALISED = {"PopularityRecommender", "RandomRecommender"}
RATIO_TARGET = 0.95


def binarized(X):
    """``X`` with every stored non-zero entry set to 1 (a new matrix)."""
    B = X.copy()
    B.data = (B.data != 0).astype(B.dtype)
    B.eliminate_zeros()
    return B


def required_arguments(cls):
    """Constructor parameters without a default (meta-estimators: ``estimator=``...)."""
    import inspect

    return [
        name
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.default is inspect.Parameter.empty and p.kind != p.VAR_KEYWORD
    ]


def measure(cls, train, test, seed):
    """Fit ``cls()`` on ``train`` and score its top-K on ``test``."""
    np.random.seed(seed)  # noqa: NPY002 (what random_state=None draws from)
    est = cls()
    t0 = time.perf_counter()
    try:
        est.fit(train)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids, _ = est.recommend(train, k=K)
        rec_s = time.perf_counter() - t0
    except Exception as exc:  # reported in the table, not hidden
        return {
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:240]}",
            "traceback": traceback.format_exc(limit=3),
            "seconds": time.perf_counter() - t0,
        }
    return {**ranking_quality(ids, test), "fit_s": fit_s, "recommend_s": rec_s}


def fmt(x, spec=".4f"):
    return "–" if x is None else format(x, spec)


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--data-home",
        default=None,
        help="data home holding lastfm-2k/ (default: $SKLEARN_MUSICREC_DATA)",
    )
    parser.add_argument(
        "--models", nargs="+", default=None, help="class names to measure (default: all)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the global NumPy generator before each fit"
    )
    parser.add_argument(
        "--stem",
        default="bench_defaults",
        help="file name of the results, without extension (default: bench_defaults)",
    )
    args = parser.parse_args(argv)

    from sklearn_musicrec.utils.discovery import all_recommenders

    recommenders = dict(all_recommenders())
    names = sorted(recommenders) if args.models is None else args.models
    unknown = sorted(set(names) - set(recommenders))
    if unknown:
        parser.error(f"unknown recommenders {unknown}; known: {sorted(recommenders)}")

    train, test = lastfm_holdout(data_home=args.data_home)
    train_bin = binarized(train)
    rows, meta_estimators = [], {}
    for name in names:
        required = required_arguments(recommenders[name])
        if required:
            # a re-ranker or a blend of other models has no no-argument form:
            # its defaults are those of the models it is given
            meta_estimators[name] = required
            print(f"{name:24s} not measured: needs {', '.join(required)}", flush=True)
            continue
        row = {"model": name}
        for label, X in (("raw", train), ("binarized", train_bin)):
            res = measure(recommenders[name], X, test, args.seed)
            row[label] = res
            shown = res.get("error") or f"NDCG@{K} {res[f'ndcg@{K}']:.4f}"
            print(f"{name:24s} {label:10s} {shown}", flush=True)
        rows.append(row)

    key = f"ndcg@{K}"
    pop = next((r for r in rows if r["model"] == "PopularityRecommender"), None)
    pop_ndcg = pop["raw"].get(key) if pop else None
    for r in rows:
        raw, binar = r["raw"].get(key), r["binarized"].get(key)
        r["ratio_raw_binarized"] = raw / binar if raw is not None and binar else None
        r["ratio_raw_popularity"] = raw / pop_ndcg if raw is not None and pop_ndcg else None
        r["meets_ratio"] = raw is not None and (
            r["ratio_raw_binarized"] is not None and r["ratio_raw_binarized"] >= RATIO_TARGET
        )
        r["beats_popularity"] = (
            None
            if r["model"] in NON_PERSONALISED or pop_ndcg is None
            else (raw is not None and raw > pop_ndcg)
        )

    machine = machine_description()
    meta = {
        "command": command_line(argv),
        "machine": machine,
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "protocol": (
            "lastfm-2k, users with >= 5 artists, per-user random 80/20 holdout (seed 0), "
            f"full ranking, training items excluded, K = {K}"
        ),
        "n_train_users": int(train.shape[0]),
        "n_items": int(train.shape[1]),
        "train_nnz": int(train.nnz),
        "seed": args.seed,
    }

    lines = [
        "# Defaults on raw play counts vs binarised plays (lastfm-2k)",
        "",
        f"Command: `{meta['command']}`",
        "",
        f"{meta['protocol']}. Every recommender constructed with no arguments "
        f"(global NumPy seed {args.seed} before each fit), {meta['date_utc']} UTC. "
        + machine_line(machine),
        "",
        f"Targets: raw/binarised NDCG@{K} >= {RATIO_TARGET}; every personalised model's raw "
        "NDCG above popularity's.",
        "",
        f"| model | NDCG@{K} raw | NDCG@{K} binarised | raw / binarised | raw / popularity "
        f"| Recall@{K} raw | fit s raw | ratio >= {RATIO_TARGET} | beats popularity |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        raw, binar = r["raw"], r["binarized"]
        beats = r["beats_popularity"]
        lines.append(
            f"| {r['model']} | {raw.get('error') or fmt(raw.get(key))} "
            f"| {binar.get('error') or fmt(binar.get(key))} "
            f"| {fmt(r['ratio_raw_binarized'], '.3f')} "
            f"| {fmt(r['ratio_raw_popularity'], '.2f')} "
            f"| {fmt(raw.get(f'recall@{K}'))} | {fmt(raw.get('fit_s'), '.1f')} "
            f"| {'yes' if r['meets_ratio'] else 'NO'} "
            f"| {'–' if beats is None else ('yes' if beats else 'NO')} |"
        )
    ok = all(r["meets_ratio"] for r in rows) and all(
        r["beats_popularity"] in (None, True) for r in rows
    )
    if meta_estimators:
        lines += [
            "",
            "Not measured (meta-estimators, which cannot be constructed without the "
            "models they wrap or blend; their defaults are those models'): "
            + ", ".join(f"{n} (needs {', '.join(r)})" for n, r in sorted(meta_estimators.items()))
            + ".",
        ]
    lines += ["", f"All targets met: **{'yes' if ok else 'no'}**."]
    text = "\n".join(lines) + "\n"
    print()
    print(text)

    result = {"meta": meta, "results": rows, "meta_estimators": meta_estimators}
    write_results(args.out, args.stem, {**result, "all_targets_met": ok}, text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
