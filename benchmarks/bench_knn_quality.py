"""Neighbourhood recommenders on lastfm-2k: quality side by side with peers.

Protocol (the one of ``docs/facts.md``): play counts of lastfm-2k, users with at
least 5 artists, a per-user random 80/20 holdout (``holdout_split``, seed 0),
top-20 lists over the full catalogue with the training items excluded,
NDCG@20 and Recall@20 (Liang et al.) against the held-out artists.

Ours are tuned with the package's own scorer,
``make_recommendation_scorer("ndcg", k=20, test_size=0.2)``, in a
``GridSearchCV`` with 3 folds of users over the TRAINING part only (the
held-out 20% is never seen during tuning); the best pipeline is refitted on
the whole training part and scored once on the held-out part. Our defaults
(untuned) are reported too.

Peers (optional; skipped with a message when not installed), at their
defaults or the settings of ``docs/facts.md``: implicit's ``CosineRecommender``
on raw and on binarised plays and ``BM25Recommender`` (K1=100, B=0.8),
K=20; LensKit's ``ItemKNNScorer`` (20 neighbours) and ``UserKNNScorer``
(30 neighbours), implicit feedback, in LensKit's top-N pipeline (which
excludes training items). skrecsys is not installable on this machine, so
its figures are quoted from ``docs/facts.md`` only.

Usage::

    SKLEARN_MUSICREC_DATA=/path/to/data python benchmarks/bench_knn_quality.py

Results go to ``bench_knn_quality.{json,md}`` in ``--out`` (default
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

from sklearn_musicrec.metrics import make_recommendation_scorer
from sklearn_musicrec.neighbors import ItemKNNRecommender, UserKNNRecommender
from sklearn_musicrec.preprocessing import BM25Weighting


def ours(pipe, train, test):
    t0 = time.perf_counter()
    pipe.fit(train)
    fit_s = time.perf_counter() - t0
    Xt = pipe[:-1].transform(train) if len(pipe) > 1 else train
    t0 = time.perf_counter()
    ids, _ = pipe[-1].recommend(Xt, k=K)
    rec_s = time.perf_counter() - t0
    return {**ranking_quality(ids, test), "fit_s": fit_s, "recommend_s": rec_s}


def tune(pipe, grid, train):
    scorer = make_recommendation_scorer("ndcg", k=K, test_size=0.2, random_state=0)
    search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0), scoring=scorer)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        search.fit(train)
    return search, time.perf_counter() - t0


def describe(params):
    return {
        k: (repr(v) if not isinstance(v, (int, float, str, type(None))) else v)
        for k, v in params.items()
    }


def implicit_models(train, test, rows):
    try:
        import implicit
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
    except ImportError:
        print("implicit is not installed: skipping its item-kNN peers", file=sys.stderr)
        return
    from threadpoolctl import threadpool_limits

    binary = train.copy()
    binary.data[:] = 1.0
    for name, model, X in [
        ("implicit CosineRecommender (K=20), raw plays", CosineRecommender(K=20), train),
        ("implicit CosineRecommender (K=20), binarised", CosineRecommender(K=20), binary),
        ("implicit BM25Recommender (K=20, K1=100, B=0.8), raw plays", BM25Recommender(K=20), train),
    ]:
        with threadpool_limits(1, "blas"):
            Xc = sp.csr_matrix(X, dtype=np.float32)
            t0 = time.perf_counter()
            model.fit(Xc, show_progress=False)
            fit_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            ids, _ = model.recommend(
                np.arange(Xc.shape[0]), Xc, N=K, filter_already_liked_items=True
            )
            rec_s = time.perf_counter() - t0
        rows.append(
            {
                "model": name,
                "library": f"implicit {implicit.__version__}",
                **ranking_quality(np.asarray(ids, dtype=np.int64), test),
                "fit_s": fit_s,
                "recommend_s": rec_s,
            }
        )
        print(rows[-1], flush=True)


def lenskit_models(train, test, rows):
    try:
        import lenskit
        import pandas as pd
        from lenskit.batch import recommend
        from lenskit.data import from_interactions_df
        from lenskit.knn import ItemKNNScorer, UserKNNScorer
        from lenskit.pipeline import topn_pipeline
    except ImportError:
        print("lenskit is not installed: skipping its kNN peers", file=sys.stderr)
        return
    coo = train.tocoo()
    df = pd.DataFrame({"user_id": coo.row, "item_id": coo.col, "rating": coo.data})
    data = from_interactions_df(df)
    users = np.unique(coo.row)
    for name, scorer in [
        (
            "LensKit ItemKNN (20 neighbours, implicit)",
            ItemKNNScorer(max_nbrs=20, feedback="implicit"),
        ),
        (
            "LensKit UserKNN (30 neighbours, implicit)",
            UserKNNScorer(max_nbrs=30, feedback="implicit"),
        ),
    ]:
        pipe = topn_pipeline(scorer)
        t0 = time.perf_counter()
        pipe.train(data)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        recs = recommend(pipe, users, n=K).to_df()
        rec_s = time.perf_counter() - t0
        ids = np.full((train.shape[0], K), -1, dtype=np.int64)
        recs = recs.sort_values(["user_id", "rank"])
        for u, group in recs.groupby("user_id"):
            items = group["item_id"].to_numpy()[:K]
            ids[u, : items.size] = items
        rows.append(
            {
                "model": name,
                "library": f"lenskit {lenskit.__version__}",
                **ranking_quality(ids, test),
                "fit_s": fit_s,
                "recommend_s": rec_s,
            }
        )
        print(rows[-1], flush=True)


def main():
    args = benchmark_parser(__doc__).parse_args()
    train, test = lastfm_holdout()
    machine = machine_description("implicit", "lenskit")
    rows, searches = [], []

    # --- ours at their defaults --------------------------------------------
    for name, pipe in [
        ("ItemKNNRecommender() defaults, raw plays", Pipeline([("rec", ItemKNNRecommender())])),
        # (weighting=None: the pipeline's step is the only weighting)
        (
            "ItemKNNRecommender(weighting=None), Binarizer",
            Pipeline([("w", Binarizer()), ("rec", ItemKNNRecommender(weighting=None))]),
        ),
        (
            'ItemKNNRecommender(neighborhood="history", weighting=None), Binarizer',
            Pipeline(
                [
                    ("w", Binarizer()),
                    ("rec", ItemKNNRecommender(neighborhood="history", weighting=None)),
                ]
            ),
        ),
        (
            "UserKNNRecommender(weighting=None), Binarizer",
            Pipeline([("w", Binarizer()), ("rec", UserKNNRecommender(weighting=None))]),
        ),
        (
            "UserKNNRecommender(weighting=None), BM25Weighting()",
            Pipeline([("w", BM25Weighting()), ("rec", UserKNNRecommender(weighting=None))]),
        ),
    ]:
        rows.append({"model": name, "library": "sklearn_musicrec", **ours(pipe, train, test)})
        print(rows[-1], flush=True)

    # --- ours tuned on the training part only ------------------------------
    weights = [Binarizer(), BM25Weighting(k1=1.2, b=0.75), BM25Weighting(k1=100.0, b=0.8)]
    item_grid = {
        "w": weights,
        "rec__n_neighbors": [50, 100, 200],
        "rec__shrinkage": [0.0, 10.0, 50.0],
        "rec__neighborhood": ["target", "history"],
    }
    user_grid = {
        "w": weights,
        "rec__n_neighbors": [30, 50, 100, 200],
        "rec__shrinkage": [0.0, 10.0],
    }
    for name, est, grid in [
        ("ItemKNNRecommender, tuned", ItemKNNRecommender(weighting=None), item_grid),
        ("UserKNNRecommender, tuned", UserKNNRecommender(weighting=None), user_grid),
    ]:
        pipe = Pipeline([("w", Binarizer()), ("rec", est)])
        search, search_s = tune(pipe, grid, train)
        best = search.best_estimator_
        row = {
            "model": name,
            "library": "sklearn_musicrec",
            **ours(best, train, test),
            "best_params": describe(search.best_params_),
            "cv_ndcg@20": float(search.best_score_),
            "search_s": search_s,
            "n_candidates": len(search.cv_results_["params"]),
        }
        rows.append(row)
        searches.append(row)
        print(row, flush=True)

    implicit_models(train, test, rows)
    lenskit_models(train, test, rows)

    result = {
        "command": command_line(),
        "machine": machine,
        "data": {
            "n_users": train.shape[0],
            "n_items": train.shape[1],
            "train_nnz": int(train.nnz),
            "test_nnz": int(test.nnz),
        },
        "rows": rows,
    }
    lines = [
        "# Neighbourhood recommenders on lastfm-2k: quality",
        "",
        f"Command: `{result['command']}`",
        "",
        machine_line(machine),
        "",
        f"Data: {train.shape[0]} users (>= 5 artists) x {train.shape[1]} artists, "
        f"per-user random 80/20 holdout (seed 0): {train.nnz} training and {test.nnz} "
        "held-out plays; top-20 over the full catalogue, training items excluded.",
        "",
        'Ours tuned with `GridSearchCV(..., cv=KFold(3), scoring=make_recommendation_scorer("ndcg", k=20, test_size=0.2))` '
        "on the training part only.",
        "",
        "| model | library | NDCG@20 | Recall@20 | fit s | recommend-all s |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['library']} | {r['ndcg@20']:.4f} | {r['recall@20']:.4f} "
            f"| {r['fit_s']:.2f} | {r['recommend_s']:.2f} |"
        )
    lines += ["", "Best settings found by the grid searches (training part only):", ""]
    for r in searches:
        lines.append(
            f"- {r['model']}: {r['best_params']} (CV NDCG@20 {r['cv_ndcg@20']:.4f}, "
            f"{r['n_candidates']} candidates x 3 folds in {r['search_s']:.0f} s)"
        )
    lines += [
        "",
        "skrecsys could not be installed here; its figures on one such split "
        "(docs/facts.md): ItemKNN NDCG@20 0.225, RP3Beta 0.192, EASE (lambda 200) 0.269.",
    ]
    write_results(args.out, "bench_knn_quality", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
