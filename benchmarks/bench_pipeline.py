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

Writes ``<out>/bench_pipeline.md`` and ``bench_pipeline.json`` (default
``benchmarks/results``) when the run succeeds.
"""

import sys
import time
import warnings
from pathlib import Path

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

sys.path.insert(0, str(Path(__file__).parent))

from _common import (  # noqa: E402
    benchmark_parser,
    command_line,
    machine_description,
    machine_line,
    require_data,
    write_results,
)


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
    parser = benchmark_parser(__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)

    X = sp.csr_matrix(
        require_data(lambda: fetch_lastfm_2k(download_if_missing=False), "lastfm-2k").data
    )
    X_train, X_test = holdout_split(X, 0.2, random_state=0)
    pipe = make_recommender_pipeline(
        Binarizer(threshold=200), ItemKNNRecommender(weighting=None)
    ).fit(X_train)
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
        make_recommender_pipeline(BM25Weighting(), ItemKNNRecommender(weighting=None)),
        {"itemknnrecommender__n_neighbors": [5, 20, 100]},
        cv=KFold(5, shuffle=True, random_state=0),
    ).fit(X)
    res["default_score_search_s"] = time.perf_counter() - t0
    res["default_score_search_mean_test_score"] = search.cv_results_["mean_test_score"].tolist()
    res["default_score_search_best"] = search.best_params_
    machine = machine_description()
    res["machine"] = machine
    res["command"] = command_line(argv)

    lines = ["# RecommenderPipeline on lastfm-2k (Binarizer(threshold=200) + item-kNN)", ""]
    lines += [f"Command: `{res['command']}`", "", machine_line(machine), ""]
    lines += [
        f"- {key}: {value}" for key, value in res.items() if key not in ("machine", "command")
    ]
    write_results(args.out, "bench_pipeline", res, lines)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
