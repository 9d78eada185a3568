"""Rating prediction: ``predict_ratings`` and the pairwise RMSE path of ``evaluate``.

Two measurements, side by side in one run:

1. MovieLens-100K official folds u1-u5: RMSE of the explicit models with
   the hyper-parameters each fold's nested selection chose in
   ``bench_mf_explicit.py`` (never chosen on a test fold), unclipped
   (``decision_function``, what ``evaluate`` reported before) against
   clipped to the training rating range (``predict_ratings``, what
   ``evaluate`` reports now). Also the time of ``evaluate(...,
   metrics=["rmse"])``'s scoring step: pairwise against the dense path
   (``decision_function`` of every user, then the held-out entries).
2. A synthetic 200,000 x 50,000 rating matrix (600k training, 100k
   held-out ratings): ``evaluate(..., metrics=["rmse", "mae"])`` time and
   peak traced memory (``tracemalloc``). The dense float64 scores of its
   ~79k evaluated users would need ~29 GiB, so the previous path cannot
   run on this machine at all (``MemoryError``).

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_ratings.py

Results go to ``<out>/bench_ratings.{json,md}`` (default ``benchmarks/results``),
written only when the run succeeds.
"""

import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from sklearn_musicrec.datasets import fetch_movielens
from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.metrics import rmse
from sklearn_musicrec.metrics._rating import predict_held_out_ratings
from sklearn_musicrec.model_selection import evaluate

sys.path.insert(0, str(Path(__file__).parent))

from _common import (  # noqa: E402
    benchmark_parser,
    command_line,
    machine_description,
    machine_line,
    require_data,
    write_results,
)

# per-fold choices of bench_mf_explicit.py's nested selection
# (n_components, regularization, regularization_exponent, bias_regularization)
ALS_CHOSEN = {
    "u1": (150, 1.3, 0.5, 0.65),
    "u2": (100, 0.88, 0.6, 0.616),
    "u3": (50, 0.84, 0.6, 0.588),
    "u4": (100, 1.235, 0.5, 0.6175),
    "u5": (150, 0.8, 0.6, 0.4),
}
SGD_CHOSEN = {
    "u1": (1.2, 0.6),
    "u2": (1.2, 0.6),
    "u3": (1.2, 0.6),
    "u4": (1.0, 0.5),
    "u5": (1.2, 0.6),
}


def als(fold):
    n, reg, exponent, bias = ALS_CHOSEN[fold]
    return ALSFactorizer(
        feedback="explicit",
        n_components=n,
        regularization=reg,
        regularization_exponent=exponent,
        bias_regularization=bias,
        max_iter=20,
        random_state=0,
        n_jobs=1,
    )


def sgd(fold):
    reg, bias = SGD_CHOSEN[fold]
    return SGDFactorizer(
        loss="squared",
        n_components=400,
        learning_rate=0.01,
        max_iter=60,
        regularization=reg,
        regularization_exponent=0.5,
        bias_regularization=bias,
        random_state=0,
        n_jobs=1,
    )


def dense_scores(model, X):
    """The path evaluate used before: decision_function of every row."""
    return model.decision_function(X)


def movielens():
    ml = require_data(
        lambda: fetch_movielens("100k", folds=True, download_if_missing=False), "ml-100k"
    )
    rows = []
    for i, (train, test) in enumerate(ml.folds):
        fold = f"u{i + 1}"
        for name, make in (("ALSFactorizer(explicit)", als), ("SGDFactorizer(squared)", sgd)):
            model = make(fold).fit(train)
            users = np.flatnonzero(np.diff(test.indptr))
            history, truth = train[users], test[users]
            t0 = time.perf_counter()
            scores = dense_scores(model, history)
            unclipped = rmse(truth, scores)
            dense_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            pred = predict_held_out_ratings(model, history, truth)
            clipped = rmse(truth, pred)
            pairwise_s = time.perf_counter() - t0
            rows.append(
                dict(
                    fold=fold,
                    model=name,
                    rmse_unclipped=unclipped,
                    rmse_clipped=clipped,
                    dense_score_s=dense_s,
                    pairwise_score_s=pairwise_s,
                )
            )
            print(rows[-1], flush=True)
    return rows


def large():
    n_users, n_items = 200_000, 50_000
    rng = np.random.default_rng(0)

    def ratings(n):
        keys = np.unique(rng.integers(0, n_users * n_items, size=n))
        values = rng.integers(1, 6, size=keys.size).astype(np.float64)
        return sp.csr_matrix((values, (keys // n_items, keys % n_items)), shape=(n_users, n_items))

    X_train, X_test = ratings(600_000), ratings(100_000)
    X_test = X_test - X_test.multiply(X_train != 0)
    model = ALSFactorizer(feedback="explicit", n_components=16, max_iter=5, random_state=0)
    tracemalloc.start()
    t0 = time.perf_counter()
    res = evaluate(model, X_train, X_test, metrics=["rmse", "mae"])
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = dict(
        shape=[n_users, n_items],
        n_train=int(X_train.nnz),
        n_test=int(X_test.nnz),
        n_users_evaluated=res["n_users"],
        fit_s=res["fit_time"],
        score_s=res["score_time"],
        evaluate_s=wall,
        peak_traced_mib=peak / 2**20,
        dense_scores_would_need_gib=res["n_users"] * n_items * 8 / 2**30,
        rmse=res["rmse"],
        mae=res["mae"],
    )
    print(out, flush=True)
    return out


def main(argv=None):
    args = benchmark_parser(__doc__).parse_args(argv)
    machine = machine_description()
    command = command_line(argv)
    t0 = time.perf_counter()
    rows = movielens()
    big = large()
    wall = time.perf_counter() - t0
    lines = [
        "# Rating prediction: predict_ratings and the pairwise RMSE path",
        "",
        f"Command: `{command}`",
        "",
        f"{machine_line(machine)} Wall time of the script: {wall / 60:.1f} min.",
        "",
        "## MovieLens-100K u1-u5 (hyper-parameters of bench_mf_explicit's per-fold selection)",
        "",
        "RMSE unclipped is `rmse(test, decision_function(train))` (what `evaluate` reported "
        "before); clipped is `rmse(test, predict_ratings(train, test))`, clipped to the "
        "training rating range [1, 5] (what `evaluate` reports now). Scoring times are "
        "for all test users of the fold (dense: every user x item score; pairwise: the "
        "held-out pairs only); fold-in of the users is in both and dominates both on this "
        "small catalogue (1,682 items), so the two times agree within the noise of the "
        "shared machine: the pairwise path is about memory, not speed, here.",
        "",
        "| fold | model | RMSE unclipped | RMSE clipped | dense scoring s | pairwise s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['fold']} | {r['model']} | {r['rmse_unclipped']:.4f} | "
            f"{r['rmse_clipped']:.4f} | {r['dense_score_s']:.3f} | {r['pairwise_score_s']:.3f} |"
        )
    for name in sorted({r["model"] for r in rows}):
        sel = [r for r in rows if r["model"] == name]
        lines.append(
            f"| **mean** | {name} | **{np.mean([r['rmse_unclipped'] for r in sel]):.4f}** | "
            f"**{np.mean([r['rmse_clipped'] for r in sel]):.4f}** | "
            f"{np.mean([r['dense_score_s'] for r in sel]):.3f} | "
            f"{np.mean([r['pairwise_score_s'] for r in sel]):.3f} |"
        )
    lines += [
        "",
        "## 200,000 x 50,000 synthetic ratings, evaluate(metrics=['rmse', 'mae'])",
        "",
        f"ALSFactorizer(feedback='explicit', n_components=16, max_iter=5); "
        f"{big['n_train']:,} training and {big['n_test']:,} held-out ratings, "
        f"{big['n_users_evaluated']:,} users evaluated. Peak traced memory (tracemalloc) "
        f"of the whole evaluate call: **{big['peak_traced_mib']:.0f} MiB**; the dense "
        f"score matrix of the previous path would need "
        f"{big['dense_scores_would_need_gib']:.0f} GiB. fit {big['fit_s']:.1f} s, scoring "
        f"{big['score_s']:.2f} s, evaluate {big['evaluate_s']:.1f} s; RMSE "
        f"{big['rmse']:.3f}, MAE {big['mae']:.3f} (random ratings: no signal).",
        "",
    ]
    result = dict(command=command, machine=machine, movielens=rows, large=big)
    write_results(args.out, "bench_ratings", result, lines)


if __name__ == "__main__":
    main()
