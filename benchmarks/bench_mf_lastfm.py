"""Matrix factorisation on lastfm-2k: NDCG@20 against implicit and LensKit.

Protocol (the same as ``bench_knn_quality.py``): users with at least 5
artists, a per-user random 80/20 holdout of the play records
(``holdout_split``, seed 0), full-catalogue ranking with the training
artists excluded, NDCG@20 and Recall@20 on the held-out artists.

- Ours, tuned: ``GridSearchCV(..., cv=KFold(3), scoring=
  make_recommendation_scorer("ndcg", k=20, test_size=0.2))`` on the training
  part only (the test part is never seen by the search), over a
  weighting step (BM25 / log scaling / binarised plays) and the ALS
  confidence and regularisation; BPR over learning rate, regularisation and
  epochs.
- Matched: ``ALSFactorizer`` and implicit's ``AlternatingLeastSquares`` on the
  same BM25-weighted matrix ``W`` (implicit's ``bm25_weight``, K1=100, B=0.8),
  64 factors, regularisation 0.05, 15 iterations, CG: ours with
  ``confidence_scale=1`` on ``W``, implicit with ``alpha=1`` on ``1 + W``:
  the same objective, so the two should agree within noise.
  Both run with seeds 0-4; the table gives mean ± standard deviation (and
  median times).
- Peers at their defaults or docs/facts.md settings: implicit ALS on ``W``
  (``alpha=1``, as in docs/facts.md), implicit BPR (defaults), LensKit
  ImplicitMF (64 features).

Usage::

    SKLEARN_MUSICREC_DATA=/work/shared/data python benchmarks/bench_mf_lastfm.py

Results go to ``bench_mf_lastfm.{json,md}`` in ``--out`` (default
``benchmarks/results``), only when the run succeeds; a missing dataset exits
with status 1 and writes nothing.
"""

import sys
import time
import warnings

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
    write_results,
)
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer

from sklearn_musicrec.decomposition import ALSFactorizer, SGDFactorizer
from sklearn_musicrec.metrics import make_recommendation_scorer
from sklearn_musicrec.preprocessing import BM25Weighting, LogScaling


def fit_recommend(model, X_fit, X_rec, test):
    tic = time.perf_counter()
    model.fit(X_fit)
    fit_s = time.perf_counter() - tic
    est = model[-1] if isinstance(model, Pipeline) else model
    Xt = model[:-1].transform(X_rec) if isinstance(model, Pipeline) else X_rec
    tic = time.perf_counter()
    ids, _ = est.recommend(Xt, k=K)
    return {**ranking_quality(ids, test), "fit_s": fit_s, "recommend_s": time.perf_counter() - tic}


def tune(estimator, grid, train):
    scorer = make_recommendation_scorer("ndcg", k=K, test_size=0.2, random_state=0)
    search = GridSearchCV(
        estimator, grid, cv=KFold(3, shuffle=True, random_state=0), scoring=scorer
    )
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(train)
    return search, time.perf_counter() - tic


def implicit_peer(name, model, X, test):
    from threadpoolctl import threadpool_limits

    Xc = sp.csr_matrix(X, dtype=np.float32)
    with threadpool_limits(1, "blas"):
        tic = time.perf_counter()
        model.fit(Xc, show_progress=False)
        fit_s = time.perf_counter() - tic
        tic = time.perf_counter()
        ids, _ = model.recommend(np.arange(Xc.shape[0]), Xc, N=K, filter_already_liked_items=True)
        rec_s = time.perf_counter() - tic
    import implicit

    return {
        "model": name,
        "library": f"implicit {implicit.__version__}",
        **ranking_quality(np.asarray(ids, dtype=np.int64), test),
        "fit_s": fit_s,
        "recommend_s": rec_s,
    }


def lenskit_implicit_mf(train, test):
    import lenskit
    import pandas as pd
    from lenskit.als import ImplicitMFScorer
    from lenskit.batch import recommend
    from lenskit.data import from_interactions_df
    from lenskit.pipeline import topn_pipeline

    coo = train.tocoo()
    data = from_interactions_df(
        pd.DataFrame({"user_id": coo.row, "item_id": coo.col, "rating": coo.data})
    )
    pipe = topn_pipeline(ImplicitMFScorer(embedding_size=64))
    tic = time.perf_counter()
    pipe.train(data)
    fit_s = time.perf_counter() - tic
    tic = time.perf_counter()
    recs = recommend(pipe, np.unique(coo.row), n=K).to_df()
    rec_s = time.perf_counter() - tic
    ids = np.full((train.shape[0], K), -1, dtype=np.int64)
    for u, group in recs.sort_values(["user_id", "rank"]).groupby("user_id"):
        items = group["item_id"].to_numpy()[:K]
        ids[u, : items.size] = items
    return {
        "model": "LensKit ImplicitMF (64 features)",
        "library": f"lenskit {lenskit.__version__}",
        **ranking_quality(ids, test),
        "fit_s": fit_s,
        "recommend_s": rec_s,
    }


def main():
    args = benchmark_parser(__doc__).parse_args()
    train, test = lastfm_holdout()
    machine = machine_description("implicit", "lenskit")
    rows, tuned = [], []

    # -- ours, tuned on the training part -------------------------------------
    als = Pipeline(
        [
            ("weight", BM25Weighting()),
            ("als", ALSFactorizer(n_components=64, weighting=None, random_state=0)),
        ]
    )
    als_grid = {
        "weight": [BM25Weighting(), LogScaling(), Binarizer()],
        "als__confidence_scale": [0.5, 1.0, 3.0, 10.0],
        "als__regularization": [0.1, 10.0, 30.0],
    }
    bpr = SGDFactorizer(loss="bpr", n_components=64, random_state=0)
    bpr_grid = {
        "learning_rate": [0.01, 0.05],
        "regularization": [1e-4, 1e-2],
        "max_iter": [50, 100],
    }
    for name, est, grid in (
        ("ALSFactorizer (tuned)", als, als_grid),
        ("SGDFactorizer(loss='bpr') (tuned)", bpr, bpr_grid),
    ):
        search, search_s = tune(est, grid, train)
        res = fit_recommend(search.best_estimator_, train, train, test)
        params = {
            k: (repr(v) if not isinstance(v, (int, float, str)) else v)
            for k, v in search.best_params_.items()
        }
        rows.append({"model": name, "library": "sklearn_musicrec", **res})
        tuned.append(
            {
                "model": name,
                "best_params": params,
                "cv_ndcg@20": float(search.best_score_),
                "search_s": search_s,
                "n_candidates": len(search.cv_results_["params"]),
            }
        )
        print(rows[-1], tuned[-1], flush=True)

    # -- matched settings: the same objective in both libraries ---------------
    try:
        from implicit.als import AlternatingLeastSquares
        from implicit.bpr import BayesianPersonalizedRanking
        from implicit.nearest_neighbours import bm25_weight
    except ImportError:
        print("implicit is not installed: skipping its peers", file=sys.stderr)
    else:
        W = bm25_weight(train, K1=100, B=0.8).tocsr().astype(np.float32)
        W1 = W.copy()
        W1.data = 1.0 + W1.data
        # five seeds each: the spread over seeds is the noise level
        seeds = range(5)
        ours_runs = [
            fit_recommend(
                ALSFactorizer(
                    n_components=64,
                    weighting=None,  # W is weighted already, as implicit's input
                    regularization=0.05,
                    max_iter=15,
                    confidence_scale=1.0,
                    random_state=seed,
                ),
                W,
                W,
                test,
            )
            for seed in seeds
        ]
        theirs_runs = [
            implicit_peer(
                "",
                AlternatingLeastSquares(
                    factors=64, regularization=0.05, iterations=15, random_state=seed, num_threads=2
                ),
                W1,
                test,
            )
            for seed in seeds
        ]
        for name, library, runs in (
            (
                "ALSFactorizer, matched (BM25 W, C = 1 + W, 64 f, reg 0.05, 15 it)",
                "sklearn_musicrec",
                ours_runs,
            ),
            (
                "implicit ALS, matched (alpha=1 on 1 + W, 64 f, reg 0.05, 15 it)",
                theirs_runs[0]["library"],
                theirs_runs,
            ),
        ):
            ndcgs = [r["ndcg@20"] for r in runs]
            rows.append(
                {
                    **runs[0],
                    "model": name,
                    "library": library,
                    "ndcg@20": float(np.mean(ndcgs)),
                    "recall@20": float(np.mean([r["recall@20"] for r in runs])),
                    "ndcg@20_seeds": ndcgs,
                    "ndcg@20_std": float(np.std(ndcgs)),
                    "fit_s": float(np.median([r["fit_s"] for r in runs])),
                    "recommend_s": float(np.median([r["recommend_s"] for r in runs])),
                }
            )
            print(rows[-1], flush=True)
        rows.append(
            implicit_peer(
                "implicit ALS as in docs/facts.md (alpha=1 on W, 64 f, reg 0.05, 15 it)",
                AlternatingLeastSquares(
                    factors=64, regularization=0.05, iterations=15, random_state=0, num_threads=2
                ),
                W,
                test,
            )
        )
        print(rows[-1], flush=True)
        binary = train.copy()
        binary.data[:] = 1.0
        rows.append(
            implicit_peer(
                "implicit BPR (defaults, binarised plays)",
                BayesianPersonalizedRanking(random_state=0, num_threads=2),
                binary,
                test,
            )
        )
        print(rows[-1], flush=True)
    try:
        rows.append(lenskit_implicit_mf(train, test))
        print(rows[-1], flush=True)
    except ImportError:
        print("lenskit is not installed: skipping ImplicitMF", file=sys.stderr)

    report = {
        "command": command_line(),
        "data": {
            "train_nnz": int(train.nnz),
            "test_nnz": int(test.nnz),
            "shape": list(train.shape),
        },
        "machine": machine,
        "rows": rows,
        "tuning": tuned,
    }
    lines = [
        "# Matrix factorisation on lastfm-2k (NDCG@20, full ranking)",
        "",
        f"Command: `{report['command']}`",
        "",
        machine_line(machine) + " Timings are indicative only (ours run with the default "
        "n_jobs=None, one thread; implicit with num_threads=2).",
        "",
        f"Data: users with >= 5 artists, per-user random 80/20 holdout (seed 0): "
        f"{train.nnz} training and {test.nnz} test play records, {train.shape[1]} artists.",
        "",
        "| model | library | NDCG@20 | Recall@20 | fit s | recommend-all s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        ndcg = f"{r['ndcg@20']:.4f}"
        if "ndcg@20_std" in r:
            ndcg += f" ± {r['ndcg@20_std']:.4f} (5 seeds)"
        lines.append(
            f"| {r['model']} | {r['library']} | {ndcg} | {r['recall@20']:.4f} "
            f"| {r['fit_s']:.2f} | {r['recommend_s']:.2f} |"
        )
    lines += [
        "",
        "Tuning (3-fold `GridSearchCV` on the training part with "
        '`make_recommendation_scorer("ndcg", k=20, test_size=0.2)`):',
        "",
    ]
    for t in tuned:
        lines.append(
            f"- {t['model']}: {t['best_params']} (CV NDCG@20 {t['cv_ndcg@20']:.4f}, "
            f"{t['n_candidates']} candidates, {t['search_s']:.0f} s)"
        )
    write_results(args.out, "bench_mf_lastfm", report, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
