"""The model registry of the benchmark: short names, settings and tuning grids.

Every recommender of the package has one entry (a test checks it against
:func:`~sklearn_musicrec.utils.discovery.all_recommenders`): its short name
for ``--models``, how to build it for a dataset (seed, item features,
threads) and the small grid ``--tune`` searches. The settings are the
package defaults except where a model needs a member (hybrid, re-rankers) or
item features (content models: without them they fall back on each item's
listeners).
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.model_selection import GridSearchCV, KFold

from ..metrics import make_recommendation_scorer

__all__ = ["MODELS", "ModelEntry", "TunedRecommender", "available_models", "resolve_models"]


class ModelEntry:
    """One model of the benchmark.

    Parameters
    ----------
    name : str
        Short name for ``--models``.
    cls_name : str
        Class name in ``sklearn_musicrec``.
    build : callable
        ``build(seed, item_features, n_jobs) -> estimator``.
    grid : dict
        ``param_grid`` for ``--tune`` (GridSearchCV names).
    neural : bool
        Needs torch and skorch.
    max_tune_items : int or None
        Largest catalogue on which ``--tune`` searches the grid (a model
        whose fit grows fast with the catalogue is then run at its
        defaults, and the report says so).
    """

    def __init__(self, name, cls_name, build, grid, *, neural=False, max_tune_items=None):
        self.name = name
        self.cls_name = cls_name
        self.build = build
        self.grid = grid
        self.neural = neural
        self.max_tune_items = max_tune_items


def _pkg():
    import sklearn_musicrec

    return sklearn_musicrec


def _pop(seed, feats, n_jobs):
    return _pkg().PopularityRecommender()


def _random(seed, feats, n_jobs):
    return _pkg().RandomRecommender(random_state=seed)


def _userknn(seed, feats, n_jobs):
    return _pkg().UserKNNRecommender(n_jobs=n_jobs)


def _itemknn(seed, feats, n_jobs):
    return _pkg().ItemKNNRecommender(n_jobs=n_jobs)


def _ease(seed, feats, n_jobs):
    return _pkg().EASERecommender()


def _als(seed, feats, n_jobs):
    return _pkg().ALSFactorizer(random_state=seed, n_jobs=n_jobs)


def _sgd(seed, feats, n_jobs):
    return _pkg().SGDFactorizer(loss="bpr", random_state=seed, n_jobs=n_jobs)


def _tag(seed, feats, n_jobs):
    return _pkg().TagRecommender(item_features=feats)


def _feature(seed, feats, n_jobs):
    return _pkg().FeatureFactorizer(item_features=feats, random_state=seed, n_jobs=n_jobs)


def _hybrid(seed, feats, n_jobs):
    p = _pkg()
    return p.HybridRecommender(
        [
            ("tags", p.TagRecommender(item_features=feats)),
            ("knn", p.ItemKNNRecommender(n_jobs=n_jobs)),
            ("pop", p.PopularityRecommender()),
        ],
        weights=[0.5, 1.0, 0.2],
        short_history_weights=[1.0, 0.0, 1.0],
    )


def _mmr(seed, feats, n_jobs):
    p = _pkg()
    return p.MMRReranker(p.ItemKNNRecommender(n_jobs=n_jobs), diversity=0.3, item_features=feats)


def _xquad(seed, feats, n_jobs):
    p = _pkg()
    return p.XQuADReranker(p.ItemKNNRecommender(n_jobs=n_jobs), tail_weight=0.3)


def _penalty(seed, feats, n_jobs):
    p = _pkg()
    # the setting that met issue 13's trade-off on lastfm-2k (benchmarks/bench_rerank.py)
    return p.PopularityPenaltyReranker(
        p.ItemKNNRecommender(n_jobs=n_jobs), popularity_weight=0.44, n_candidates=300
    )


def _approximate(seed, feats, n_jobs):
    p = _pkg()
    try:
        import faiss  # noqa: F401  (the optional ANN indexes, extra [ann])
    except ImportError:
        index = "exact"
    else:
        index = "ivf"  # the recommended index (benchmarks/bench_ann.py)
    # ALS's top-k from an approximate index: meant for huge catalogues, shown here
    return p.ApproximateRecommender(
        p.ALSFactorizer(random_state=seed, n_jobs=n_jobs),
        index=index,
        n_jobs=n_jobs,
        random_state=seed,
    )


# Calibration (Steck, 2018) matches each list's distribution over a few categories
# (genres) to the user's; over lastfm-2k's 11,946 free tags it is meaningless and slow
# (CalibratedReranker.recommend for 140 users: over 400 s with every tag, 3.6 s with the
# 50 most used, measured on this machine under load), so it gets the most used columns.
MAX_CALIBRATION_CATEGORIES = 50


def calibration_categories(feats, n=MAX_CALIBRATION_CATEGORIES):
    """The ``n`` feature columns that the most items have (all when there are fewer)."""
    if feats is None or feats.shape[1] <= n:
        return feats
    F = sp.csc_matrix(feats)
    counts = np.diff(F.indptr)
    keep = np.sort(np.argsort(-counts, kind="stable")[:n])
    return F[:, keep].tocsr()


def _calibrated(seed, feats, n_jobs):
    p = _pkg()
    return p.CalibratedReranker(
        p.ItemKNNRecommender(n_jobs=n_jobs),
        calibration_weight=0.5,
        item_features=calibration_categories(feats),
    )


def _deepcf(seed, feats, n_jobs):
    # tag embeddings give cold items a vector (the cold-items protocol)
    return _pkg().DeepCFRecommender(item_features=feats, random_state=seed)


def _multvae(seed, feats, n_jobs):
    return _pkg().MultVAERecommender(random_state=seed)


MODELS = {
    e.name: e
    for e in [
        ModelEntry("pop", "PopularityRecommender", _pop, {}),
        ModelEntry("random", "RandomRecommender", _random, {}),
        ModelEntry("userknn", "UserKNNRecommender", _userknn, {"n_neighbors": [20, 50, 100]}),
        ModelEntry("itemknn", "ItemKNNRecommender", _itemknn, {"n_neighbors": [50, 100, 200]}),
        # EASE inverts an n_items x n_items Gram matrix: cubic in the catalogue (one fit
        # on lastfm-2k's 17,632 artists takes minutes), so no search on large catalogues
        ModelEntry(
            "ease",
            "EASERecommender",
            _ease,
            {"regularization": [50.0, 200.0, 800.0]},
            max_tune_items=5000,
        ),
        ModelEntry("als", "ALSFactorizer", _als, {"regularization": [1.0, 10.0, 100.0]}),
        ModelEntry(
            "approximate",
            "ApproximateRecommender",
            _approximate,
            {"estimator__regularization": [1.0, 10.0, 100.0]},
        ),
        ModelEntry("sgd", "SGDFactorizer", _sgd, {"n_components": [32, 64]}),
        ModelEntry("tag", "TagRecommender", _tag, {"sublinear_tf": [True, False]}),
        ModelEntry("feature", "FeatureFactorizer", _feature, {"n_components": [16, 32]}),
        ModelEntry("hybrid", "HybridRecommender", _hybrid, {}),
        ModelEntry("mmr", "MMRReranker", _mmr, {"diversity": [0.1, 0.3]}),
        ModelEntry("xquad", "XQuADReranker", _xquad, {"tail_weight": [0.1, 0.3]}),
        ModelEntry(
            "penalty",
            "PopularityPenaltyReranker",
            _penalty,
            {"popularity_weight": [0.2, 0.44]},
        ),
        ModelEntry(
            "calibrated", "CalibratedReranker", _calibrated, {"calibration_weight": [0.2, 0.5]}
        ),
        ModelEntry("deepcf", "DeepCFRecommender", _deepcf, {}, neural=True),
        ModelEntry("multvae", "MultVAERecommender", _multvae, {}, neural=True),
    ]
}
"""Short name -> :class:`ModelEntry`, in the report's order."""


def _has_torch():
    try:
        import skorch  # noqa: F401  (the neural models need torch and skorch)
    except ImportError:
        return False
    return True


def available_models():
    """Short names of the models that can run here (neural ones need torch and skorch)."""
    torch = _has_torch()
    return [name for name, e in MODELS.items() if torch or not e.neural]


def resolve_models(spec):
    """Short names from a ``--models`` value (comma list, or None for all that can run).

    Class names are accepted too (``ALSFactorizer`` for ``als``).
    """
    if spec is None or spec in ("", "all"):
        return available_models()
    by_class = {e.cls_name.lower(): e.name for e in MODELS.values()}
    names = []
    for raw in str(spec).split(","):
        name = raw.strip().lower()
        if not name:
            continue
        name = by_class.get(name, name)
        if name not in MODELS:
            raise ValueError(
                f"--models: unknown model {raw.strip()!r}; valid names are "
                f"{', '.join(MODELS)} (or their class names)."
            )
        if MODELS[name].neural and not _has_torch():
            raise ValueError(
                f"--models: {name!r} ({MODELS[name].cls_name}) needs torch and skorch: "
                "pip install torch==2.13.0 skorch"
            )
        if name not in names:
            names.append(name)
    if not names:
        raise ValueError("--models: give at least one model name.")
    return names


class TunedRecommender(BaseEstimator):
    """A recommender whose parameters are searched on the rows it is fitted on.

    ``fit(X)`` runs :class:`~sklearn.model_selection.GridSearchCV` over the
    rows of ``X`` (``KFold`` over users, the package's holdout scorer), then
    recommends with the best estimator refitted on all of ``X``. Given only
    the training users of a fold (``evaluate(..., fit_users=...)``), the
    search never sees a test user: a nested evaluation.

    Parameters
    ----------
    estimator : recommender
    param_grid : dict
    metric : str, default="ndcg"
    k : int, default=10
    cv : int, default=3
    random_state : int, default=0
    """

    def __init__(self, estimator, param_grid, *, metric="ndcg", k=10, cv=3, random_state=0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.metric = metric
        self.k = k
        self.cv = cv
        self.random_state = random_state

    def fit(self, X, y=None):
        scorer = make_recommendation_scorer(
            self.metric, k=self.k, test_size=0.2, random_state=self.random_state
        )
        search = GridSearchCV(
            clone(self.estimator),
            self.param_grid,
            cv=KFold(self.cv, shuffle=True, random_state=self.random_state),
            scoring=scorer,
            error_score="raise",
        )
        search.fit(X)
        self.search_ = search
        self.best_params_ = search.best_params_
        self.best_estimator_ = search.best_estimator_
        self.n_users_searched_ = int(X.shape[0])
        self.item_counts_ = getattr(self.best_estimator_, "item_counts_", None)
        return self

    def recommend(self, X, k=10, *, exclude_seen=True, items=None):
        return self.best_estimator_.recommend(X, k, exclude_seen=exclude_seen, items=items)

    def decision_function(self, X):
        return self.best_estimator_.decision_function(X)


def tunes(name, n_items):
    """Whether ``--tune`` searches a grid for ``name`` on a catalogue of ``n_items``."""
    entry = MODELS[name]
    return bool(entry.grid) and (entry.max_tune_items is None or n_items <= entry.max_tune_items)


def build_model(name, *, seed, item_features, n_jobs, tune=False, k=10, n_items=0):
    """The estimator of ``name`` for this dataset (wrapped for tuning when asked)."""
    entry = MODELS[name]
    est = entry.build(seed, item_features, n_jobs)
    if tune and tunes(name, n_items):
        est = TunedRecommender(est, entry.grid, k=k, random_state=seed)
    return est


def grid_description(name):
    """The tuning grid of ``name`` as text (``"-"`` when it has none)."""
    grid = MODELS[name].grid
    if not grid:
        return "-"
    return "; ".join(f"{p}: {', '.join(map(str, np.atleast_1d(v)))}" for p, v in grid.items())
