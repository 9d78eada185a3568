"""``python -m sklearn_musicrec``: the benchmark command, and the quick demo.

``python -m sklearn_musicrec`` (or ``sklearn-musicrec``) with no arguments,
or ``... benchmark [options]``, runs the benchmark
(:mod:`sklearn_musicrec.benchmark`, ``docs/benchmark_command.md``) and
writes its report to ``./benchmark-report``.

``python -m sklearn_musicrec demo`` (or ``sklearn-musicrec-demo``) prints
the quick table of every recommender on synthetic data. The data
come from :func:`~sklearn_musicrec.datasets.make_interactions`; each user's
interactions are split 80/20 at random, every recommender in the package is
fitted on the binarised training part (play counts are heavy-tailed: 0/1
input is the safe default for every model), and the held-out part is ranked
over the full catalogue (seen items excluded).
"""

import argparse
import sys
import time
import warnings


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m sklearn_musicrec demo",
        description=(
            "Fit every recommender of sklearn_musicrec on synthetic listening "
            "data (make_interactions) and print a ranking-quality table."
        ),
    )
    parser.add_argument("--n-users", type=int, default=2000, help="number of users (default 2000)")
    parser.add_argument("--n-items", type=int, default=1000, help="number of items (default 1000)")
    parser.add_argument("-k", type=int, default=20, help="recommendation list length (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="class names to run (default: every recommender in the package)",
    )
    return parser


def _demo_models(seed, item_features=None):
    """The models of the demo: every recommender of the package, one setting each.

    ``item_features`` (the synthetic tags, ``make_interactions(...).item_tags``)
    feed the content models and the re-rankers; without them those models fall
    back on each item's listeners. The neural models are included when torch
    and skorch are installed. ALS's L2 strength depends on the data's scale,
    so the demo tunes it the way a user would: ``GridSearchCV`` with the
    package's holdout scorer, on the training part only (the test part is
    never seen).
    """
    from sklearn.model_selection import GridSearchCV, KFold

    from sklearn_musicrec.benchmark._models import MODELS, available_models
    from sklearn_musicrec.metrics import make_recommendation_scorer

    models = {}
    for name in available_models():
        entry = MODELS[name]
        est = entry.build(seed, item_features, -1)
        if name == "als":
            est = GridSearchCV(
                est.set_params(n_components=32, confidence_scale=10.0),
                {"regularization": [1.0, 10.0, 100.0]},
                cv=KFold(3, shuffle=True, random_state=seed),
                scoring=make_recommendation_scorer("ndcg", k=20, test_size=0.2, random_state=seed),
            )
        models[entry.cls_name] = est
    return models


def _instances(names, seed, item_features=None):
    models = _demo_models(seed, item_features)
    if names:
        unknown = sorted(set(names) - set(models))
        if unknown:
            raise SystemExit(f"unknown model(s) {unknown}; available: {sorted(models)}")
        models = {n: models[n] for n in names}
    return models.items()


def run(n_users=2000, n_items=1000, k=20, seed=0, models=None, stream=None):
    """Run the demo and write the table to ``stream`` (default stdout); return the rows."""
    stream = sys.stdout if stream is None else stream
    from sklearn.preprocessing import Binarizer

    from sklearn_musicrec.datasets import make_interactions
    from sklearn_musicrec.metrics import catalog_coverage, ndcg_at_k, recall_at_k
    from sklearn_musicrec.model_selection import holdout_split

    bunch = make_interactions(n_users=n_users, n_items=n_items, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # single-interaction users
        X_train, X_test = holdout_split(bunch.data, test_size=0.2, random_state=seed)
    X_train = Binarizer().fit_transform(X_train)
    stream.write(
        f"make_interactions: {n_users} users x {n_items} items, {bunch.data.nnz} "
        f"interactions; per-user random 80/20 split (seed {seed}); models fitted on "
        f"the binarised training part; top-{k} over the full catalogue, seen items "
        "excluded.\n\n"
    )
    header = (
        f"{'model':<26}{'fit s':>8}{'rec s':>8}{f'NDCG@{k}':>10}{f'Recall@{k}':>11}{f'Cov@{k}':>9}"
    )
    stream.write(header + "\n" + "-" * len(header) + "\n")
    rows, notes = [], []
    for name, est in _instances(models, seed, bunch.item_tags):
        t0 = time.perf_counter()
        est.fit(X_train)
        if hasattr(est, "best_estimator_"):
            notes.append(
                f"{name}: {est.best_params_} chosen by GridSearchCV (3-fold, holdout "
                "NDCG@20 scorer) on the training part; fit s includes the search."
            )
            est = est.best_estimator_
        t1 = time.perf_counter()
        ids, _ = est.recommend(X_train, k=k)
        t2 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # users with nothing held out
            ndcg = ndcg_at_k(X_test, ids, k=k)
            recall = recall_at_k(X_test, ids, k=k)
        coverage = catalog_coverage(ids, n_items=n_items)
        row = dict(
            model=name,
            fit_s=t1 - t0,
            recommend_s=t2 - t1,
            ndcg=ndcg,
            recall=recall,
            coverage=coverage,
        )
        rows.append(row)
        stream.write(
            f"{name:<26}{row['fit_s']:>8.2f}{row['recommend_s']:>8.2f}"
            f"{ndcg:>10.4f}{recall:>11.4f}{coverage:>9.3f}\n"
        )
        stream.flush()
    for note in notes:
        stream.write(f"\n{note}\n")
    return rows


def demo_main(argv=None):
    """Entry point of ``sklearn-musicrec-demo`` and ``python -m sklearn_musicrec demo``."""
    args = _build_parser().parse_args(argv)
    run(args.n_users, args.n_items, args.k, args.seed, args.models)
    return 0


def main(argv=None):
    """Entry point of ``python -m sklearn_musicrec``: the benchmark (``demo``: the demo)."""
    from sklearn_musicrec.benchmark import main as benchmark_main

    return benchmark_main(argv)


if __name__ == "__main__":
    sys.exit(main())
