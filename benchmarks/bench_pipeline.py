"""RecommenderPipeline on lastfm-2k: the raw history excluded, one score, its cost.

Usage::

    SKLEARN_MUSICREC_DATA=/path/to/data python benchmarks/bench_pipeline.py [--repeat 3]

Issue 10's case: ``Binarizer(threshold=200)`` (keep only heavy plays) before
``ItemKNNRecommender`` on all lastfm-2k users, a per-user 80/20 holdout
(seed 0). Side by side in one run:

- the workaround of a plain ``Pipeline`` (``pipe[-1].recommend(pipe[:-1].transform(X))``),
  which excludes only the transformed history, against
  ``RecommenderPipeline.recommend``: users whose top 10 holds an item of their
  raw history, and the time of each (best of ``--repeat``; a ratio);
- plain ``Pipeline.score`` against ``RecommenderPipeline.score``, the package
  scorer and ``evaluate`` on the same split;
- the lists an empty history gets from kNN and ALS, against the most popular
  items;
- ``GridSearchCV`` over a BM25 + item-kNN pipeline with no ``scoring=``.

Writes ``benchmarks/results/bench_pipeline.md`` and ``bench_pipeline.json``.
"""

import argparse
import json
import os
import platform
import sys
import time
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import Binarizer

from sklearn_musicrec import ALSFactorizer, ItemKNNRecommender, UserKNNRecommender
from sklearn_musicrec.datasets import fetch_lastfm_2k
from sklearn_musicrec.metrics import make_recommendation_scorer
from sklearn_musicrec.model_selection import evaluate, holdout_split
from sklearn_musicrec.pipeline import make_recommender_pipeline
from sklearn_musicrec.preprocessing import BM25Weighting

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _raw_seen_listed(X, ids):
    return int(
        sum(bool(np.isin(ids[i][ids[i] >= 0], X[i].indices).any()) for i in range(X.shape[0]))
    )


def _best_time(func, repeat):
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)

    X = sp.csr_matrix(fetch_lastfm_2k(download_if_missing=False).data)
    X_train, X_test = holdout_split(X, 0.2, random_state=0)
    pipe = make_recommender_pipeline(Binarizer(threshold=200), ItemKNNRecommender()).fit(X_train)
    plain = Pipeline(pipe.steps)

    t_work, work = _best_time(
        lambda: plain[-1].recommend(plain[:-1].transform(X_train), k=10)[0], args.repeat
    )
    t_pipe, ids = _best_time(lambda: pipe.recommend(X_train, k=10)[0], args.repeat)
    res = {
        "n_users": int(X.shape[0]),
        "leaks_plain_workaround": _raw_seen_listed(X_train, work),
        "leaks_recommender_pipeline": _raw_seen_listed(X_train, ids),
        "recommend_s_plain_workaround": t_work,
        "recommend_s_recommender_pipeline": t_pipe,
        "recommend_time_ratio": t_pipe / t_work,
        "score_plain_pipeline": float(plain.score(X_train, X_test)),
        "score_recommender_pipeline": float(pipe.score(X_train, X_test)),
        "score_scorer": float(make_recommendation_scorer("ndcg", k=10)(pipe, X_train, X_test)),
        "score_evaluate": float(evaluate(pipe, X_train, X_test, metrics="ndcg")["ndcg@10"]),
    }
    empty = sp.csr_matrix((1, X.shape[1]))
    for model in (ItemKNNRecommender(), UserKNNRecommender(), ALSFactorizer(random_state=0)):
        lists = model.fit(X_train).recommend(empty, k=5)[0][0]
        res[f"empty_row_{type(model).__name__}"] = lists.tolist()
    res["most_popular"] = np.lexsort((np.arange(X.shape[1]), -model.item_counts_))[:5].tolist()

    t0 = time.perf_counter()
    search = GridSearchCV(
        make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender()),
        {"itemknnrecommender__n_neighbors": [5, 20, 100]},
        cv=KFold(5, shuffle=True, random_state=0),
    ).fit(X)
    res["default_score_search_s"] = time.perf_counter() - t0
    res["default_score_search_mean_test_score"] = search.cv_results_["mean_test_score"].tolist()
    res["default_score_search_best"] = search.best_params_
    res["machine"] = f"{platform.machine()} {platform.processor()} {os.cpu_count()} CPUs"
    res["python"] = sys.version.split()[0]
    res["command"] = "python benchmarks/bench_pipeline.py " + " ".join(argv or sys.argv[1:])

    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, "bench_pipeline.json"), "w") as f:
        json.dump(res, f, indent=2)
    lines = ["# RecommenderPipeline on lastfm-2k (Binarizer(threshold=200) + item-kNN)", ""]
    lines += [f"- {key}: {value}" for key, value in res.items()]
    with open(os.path.join(RESULTS, "bench_pipeline.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
