"""Explicit ratings: RMSE on MovieLens-100K's official folds u1-u5.

ALSFactorizer(feedback="explicit") and SGDFactorizer(loss="squared") against
scikit-surprise's SVD (its defaults, side by side when installed).
Hyper-parameters of ours are chosen once, before touching any test fold, on a
per-user random 10% of u1.base's ratings (seed 0) from a small grid (including
``regularization_exponent`` 1.0 = weighted lambda and 0.5); the chosen
settings are then fitted on each uX.base and scored on uX.test. Predictions
are not clipped to the rating scale (Surprise clips its own to [1, 5]).

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_mf_explicit.py

Results go to ``benchmarks/results/bench_mf_explicit.{json,md}``.
"""

import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import ParameterGrid

from sklearn_musicrec.datasets import fetch_movielens
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.metrics import rmse
from sklearn_musicrec.model_selection import holdout_split

RESULTS = Path(__file__).parent / "results"

# Each grid is a list of sub-grids (as sklearn's ParameterGrid): the penalty
# scale that suits regularization_exponent=1 (weighted lambda) and 0.5 differ
# by an order of magnitude.
GRIDS = {
    "ALSFactorizer(explicit)": (
        lambda **p: ALSFactorizer(feedback="explicit", max_iter=20, random_state=0, **p),
        [
            {"n_components": [20, 50, 100], "regularization": [0.08, 0.12, 0.16],
             "regularization_exponent": [1.0]},
            {"n_components": [50, 100], "regularization": [0.8, 1.0, 1.2, 1.4],
             "regularization_exponent": [0.5]},
        ],
    ),
    "SGDFactorizer(squared)": (
        lambda **p: SGDFactorizer(loss="squared", random_state=0, **p),
        [
            {"n_components": [200, 400], "learning_rate": [0.01],
             "regularization": [0.1, 0.12], "max_iter": [60, 100],
             "regularization_exponent": [1.0]},
            {"n_components": [200, 400], "learning_rate": [0.01],
             "regularization": [1.0, 1.2, 1.4], "max_iter": [60],
             "regularization_exponent": [0.5]},
        ],
    ),
}


def surprise_svd_rmse(X_train, X_test):
    """RMSE of scikit-surprise's SVD (defaults, random_state=0), or None."""
    try:
        import pandas as pd
        from surprise import SVD, Dataset, Reader
    except ImportError:
        return None
    tr = X_train.tocoo()
    data = Dataset.load_from_df(
        pd.DataFrame({"u": tr.row, "i": tr.col, "r": tr.data}), Reader(rating_scale=(1, 5))
    )
    algo = SVD(random_state=0)
    algo.fit(data.build_full_trainset())
    te = X_test.tocoo()
    pred = np.array([algo.predict(u, i).est for u, i in zip(te.row, te.col)])
    return float(np.sqrt(np.mean((pred - te.data) ** 2)))


def main():
    bunch = fetch_movielens("100k", folds=True)
    folds = bunch.folds
    report = {
        "command": "python " + " ".join(sys.argv),
        "machine": {
            "cpu": next(
                (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                 if line.startswith("model name")), "unknown"),
            "cores_visible": len(os.sched_getaffinity(0)),
            "python": platform.python_version(),
            "note": "2 cores shared with other engineers' jobs",
        },
        "selection": {},
        "folds": [],
    }

    # 1. choose hyper-parameters on u1.base only (inner 10% holdout)
    inner_train, inner_val = holdout_split(folds[0][0], 0.1, random_state=0)
    chosen = {}
    for name, (make, grid) in GRIDS.items():
        best = None
        for params in ParameterGrid(grid):
            model = make(**params).fit(inner_train)
            err = rmse(inner_val, model.decision_function(inner_train))
            if best is None or err < best[0]:
                best = (err, params)
        chosen[name] = best[1]
        report["selection"][name] = {"params": best[1], "inner_val_rmse": best[0]}
        print(name, "chosen", best, flush=True)

    # 2. official folds
    for f, (X_train, X_test) in enumerate(folds, start=1):
        row = {"fold": f"u{f}"}
        for name, (make, _) in GRIDS.items():
            tic = time.perf_counter()
            model = make(**chosen[name]).fit(X_train)
            row[name] = rmse(X_test, model.decision_function(X_train))
            row[name + " fit_s"] = time.perf_counter() - tic
        tic = time.perf_counter()
        row["surprise SVD"] = surprise_svd_rmse(X_train, X_test)
        row["surprise SVD fit_s"] = time.perf_counter() - tic
        print(row, flush=True)
        report["folds"].append(row)

    names = list(GRIDS) + ["surprise SVD"]
    means = {
        n: (float(np.mean([r[n] for r in report["folds"]]))
            if all(r[n] is not None for r in report["folds"]) else None)
        for n in names
    }
    report["mean_rmse"] = means
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench_mf_explicit.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# Explicit ratings: MovieLens-100K u1-u5 RMSE",
        "",
        f"Command: `SKLEARN_MUSICREC_DATA=/work/shared/data {report['command']}`",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores_visible']} cores "
        "(shared with other engineers' jobs).",
        "",
        "Chosen on a 10% inner holdout of u1.base (never on a test fold): "
        + "; ".join(f"{n}: {v['params']}" for n, v in report["selection"].items()),
        "",
        "| fold | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for r in report["folds"]:
        lines.append(
            f"| {r['fold']} | "
            + " | ".join("n/a" if r[n] is None else f"{r[n]:.4f}" for n in names) + " |"
        )
    lines.append(
        "| **mean** | "
        + " | ".join("n/a" if means[n] is None else f"**{means[n]:.4f}**" for n in names) + " |"
    )
    (RESULTS / "bench_mf_explicit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
