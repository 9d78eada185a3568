"""Scorers that let GridSearchCV, cross_validate & co. evaluate recommenders.

A client of the metric registry (``_registry``) and of the evaluation
protocol (``utils/_protocol.py``): this module only decides, per call, which
rows are history and which truth, and what the metric needs computed.
"""

import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from ..utils._deprecation import deprecated_rename
from ..utils._protocol import (
    dense_scores,
    holdout_mask,
    one_target_per_row,
    recommend_excluding_history,
    resolve_seed,
    sampled_candidates,
    split_by_mask,
    split_estimator,
    sub_seed,
    transform_history,
)
from ..utils._sklearn_compat import (
    Hidden,
    Integral,
    Interval,
    Real,
    StrOptions,
    validate_params,
)
from ..utils.validation import check_interactions
from ._rating import predict_held_out_ratings
from ._registry import EvaluationData, custom_metric, get_metric, scorer_names

__all__ = ["get_metric_names", "get_recommendation_scorer", "make_recommendation_scorer"]

_WHOM = "a recommendation scorer"


def get_metric_names() -> list[str]:
    """Return the metric names accepted by :func:`make_recommendation_scorer`.

    :func:`~sklearn_musicrec.model_selection.evaluate` accepts the same
    names, with the errors as ``"rmse"`` and ``"mae"`` (reported positive)
    instead of ``"neg_rmse"`` and ``"neg_mae"``.

    Returns
    -------
    names : list of str
        Sorted metric names.

    Examples
    --------
    >>> from sklearn_musicrec.metrics import get_metric_names
    >>> "ndcg" in get_metric_names()
    True
    """
    return scorer_names()


class _RecommendationScorer:
    """Callable ``scorer(estimator, X, y=None)``; see :func:`make_recommendation_scorer`."""

    def __init__(self, metric, k, test_size, seed, n_sampled_items, metric_params, repr_args):
        self.metric = metric
        self.k = k
        self.test_size = test_size
        self.seed = seed
        self.n_sampled_items = n_sampled_items
        self.metric_params = metric_params
        self._repr_args = repr_args

    def __repr__(self):
        return f"make_recommendation_scorer({self._repr_args})"

    def _entry(self):
        if callable(self.metric):
            return custom_metric(self.metric)
        return get_metric(self.metric, scorer=True)

    def __call__(self, estimator, X, y=None, **kwargs):
        if kwargs:
            raise TypeError(
                "A recommendation scorer takes (estimator, X, y=None); got "
                f"unexpected keyword arguments {sorted(kwargs)} (sample weights "
                "are not supported)."
            )
        metric = self._entry()
        pre, final = split_estimator(estimator)
        X = check_interactions(None, X, dtype="numeric", method=_WHOM, canonical=True)
        history, truth = self._history_and_truth(X, y, metric)
        if history.shape[0] == 0:
            return 0.0
        Xt = transform_history(pre, history)
        n_items = X.shape[1]
        data = EvaluationData(
            truth=truth,
            n_items=n_items,
            item_popularity=getattr(final, "item_counts_", None),
            history=history,
        )

        items = None
        if self.n_sampled_items is not None:
            if isinstance(truth, np.ndarray):
                target, relevant = truth, None
            else:
                target, relevant = one_target_per_row(truth, sub_seed(self.seed, 1)), truth
            items = sampled_candidates(
                history, target, self.n_sampled_items, sub_seed(self.seed, 2), relevant
            )
            data.truth = target

        if metric.reads == "predictions":
            # only the held-out (user, item) pairs are predicted: bounded memory
            data.predictions = predict_held_out_ratings(final, Xt, data.truth)
        elif metric.reads == "scores":
            data.scores = dense_scores(final, Xt, history.shape[0], n_items)
            if items is not None:
                data.exclude = np.ones(data.scores.shape, dtype=bool)
                data.exclude[items.nonzero()] = False
            else:
                data.exclude = history
        else:
            data.ids = recommend_excluding_history(final, Xt, history, self.k, items=items)[0]
        return float(metric.sign * metric.compute(data, k=self.k, **self.metric_params))

    def _history_and_truth(self, X, y, metric):
        """``(history, truth)`` of the rows to score in one call."""
        if y is not None:
            if sp.issparse(y) or np.ndim(y) == 2:
                truth = check_interactions(
                    None, y, dtype="numeric", method=_WHOM, input_name="y", canonical=True
                )
                if truth.shape != X.shape:
                    raise ValueError(
                        f"y, the held-out interactions, must have X's shape "
                        f"{X.shape}, got {truth.shape}."
                    )
            else:
                truth = np.asarray(y)
                if truth.ndim != 1 or truth.shape[0] != X.shape[0]:
                    raise ValueError(
                        "y must be 1-D held-out item ids (one per row of X) or a "
                        f"matrix of X's shape; got shape {truth.shape} for X of "
                        f"shape {X.shape}."
                    )
                if metric.kind == "ratings":
                    raise ValueError(
                        "Rating metrics need y as a (n_users, n_items) matrix of "
                        "held-out ratings, got 1-D ids."
                    )
            return X, truth
        if self.test_size is None:
            if metric.kind == "lists" and self.n_sampled_items is None:
                return X, None
            raise ValueError(
                "This scorer got y=None and was made with test_size=None, so there "
                "is no held-out truth to score against. Pass y (the held-out "
                "interactions), or make the scorer with test_size=0.2 to hide a "
                "share of each row of X."
            )
        mask, n_per_row, _ = holdout_mask(X, self.test_size, self.seed)
        history, truth = split_by_mask(X, mask)
        rows = np.flatnonzero(n_per_row >= 2)
        return history[rows], truth[rows]


def _check_metric(metric):
    """The registry entry (or a custom entry) for ``metric``."""
    if callable(metric):
        return custom_metric(metric)
    if isinstance(metric, str):
        return get_metric(metric, scorer=True)
    raise TypeError(f"metric must be a str or a callable, got {type(metric).__name__}.")


def _build_scorer(metric, k, test_size, random_state, seed, n_sampled_items, metric_params):
    """Check the arguments (already type-checked) and make one scorer."""
    entry = _check_metric(metric)
    if n_sampled_items is not None and entry.kind not in ("ranking", "scores"):
        raise ValueError(
            "The sampled protocol (n_sampled_items) applies to ranking metrics and "
            f"'auc' only, not to {metric!r}."
        )
    if isinstance(metric, str):
        entry.check_params(metric_params, popularity_from_counts=True)
    test_size = None if test_size is None else _as_share(test_size)
    parts = [
        repr(metric if isinstance(metric, str) else getattr(metric, "__name__", metric)),
        f"k={int(k)}",
    ]
    if test_size is not None:
        parts.append(f"test_size={test_size}")
    parts.append(
        f"random_state={random_state if isinstance(random_state, numbers.Integral) else seed}"
    )
    if n_sampled_items is not None:
        parts.append(f"n_sampled_items={int(n_sampled_items)}")
    parts += [f"{key}=..." for key in sorted(metric_params)]
    return _RecommendationScorer(
        metric,
        int(k),
        test_size,
        seed,
        None if n_sampled_items is None else int(n_sampled_items),
        dict(metric_params),
        ", ".join(parts),
    )


def _as_share(test_size):
    """A float share stays a float, an int count an int (as in the splitters)."""
    if isinstance(test_size, numbers.Integral):
        return int(test_size)
    return float(test_size)


_TEST_SIZE = [
    Interval(Real, 0, 1, closed="neither"),
    Interval(Integral, 1, None, closed="left"),
    None,
]
_N_SAMPLED = [Interval(Integral, 1, None, closed="left"), None]


@validate_params(
    {
        "metric": [StrOptions(set(scorer_names())), callable],
        "k": [Interval(Integral, 1, None, closed="left")],
        "test_size": _TEST_SIZE,
        "random_state": ["random_state"],
        "n_sampled_items": _N_SAMPLED,
        "holdout": [
            Interval(Real, 0, 1, closed="neither"),
            None,
            Hidden(StrOptions({"deprecated"})),
        ],
        "n_negatives": [
            Interval(Integral, 1, None, closed="left"),
            None,
            Hidden(StrOptions({"deprecated"})),
        ],
    },
    prefer_skip_nested_validation=True,
)
def make_recommendation_scorer(
    metric: str | Callable,
    *,
    k: int = 10,
    test_size: float | int | None = None,
    random_state: "int | np.random.RandomState | None" = None,
    n_sampled_items: int | None = None,
    holdout: "float | None | str" = "deprecated",
    n_negatives: "int | None | str" = "deprecated",
    **metric_params: Any,
) -> "_RecommendationScorer":
    """Make a scorer ``scorer(estimator, X, y=None)`` for model selection.

    The scorer recommends ``k`` items for every row of ``X`` (the history)
    and scores the lists against held-out interactions. It plugs into
    :class:`~sklearn.model_selection.GridSearchCV`, ``cross_validate`` and
    friends, which call it on each validation fold. To get several scorers
    by name at once (a dict for ``scoring=``), use
    :func:`get_recommendation_scorer`.

    - With ``y``: ``X`` is the history and ``y`` the held-out truth (1-D
      item ids, one per row, negative for none; or a matrix of ``X``'s
      shape). ``test_size`` is then not used.
    - With ``y=None`` and ``test_size=0.2``: a share of every row of ``X``
      is hidden exactly as
      :func:`~sklearn_musicrec.model_selection.holdout_split` hides it
      (``ceil(0.2 * n)``, at least one), the recommender folds in the rest
      and is scored on the hidden part. Rows with fewer than 2 interactions
      are left out of the score. So ``GridSearchCV(est, grid, cv=KFold(5),
      scoring=scorer).fit(X)`` is a complete new-user ("strong
      generalisation") search. The hidden part depends only on
      ``random_state`` and each row's set of items, never on its position,
      so every candidate sees the same split of every fold.
    - If ``estimator`` is a :class:`~sklearn.pipeline.Pipeline`, the history
      goes through ``estimator[:-1].transform`` and the last step
      recommends. Items of the raw history are never recommended, whether
      or not the transformation keeps the sparsity pattern.

    Parameters
    ----------
    metric : str or callable
        A name from :func:`get_metric_names`:

        - ranking: ``"ndcg"``, ``"recall"``, ``"precision"``, ``"map"``,
          ``"mrr"``, ``"hit_rate"`` (the ``*_at_k`` functions) and
          ``"auc"`` (:func:`auc_score` on ``decision_function``, history
          excluded);
        - beyond accuracy, computed on the lists of the scored rows:
          ``"coverage"``, ``"gini"``, ``"personalization"``,
          ``"diversity"`` (needs ``item_features=``), ``"novelty"``,
          ``"popularity"``, ``"long_tail"`` (these three use
          ``item_popularity=`` when given, else the final step's
          ``item_counts_``; ``"novelty"`` from counts also needs
          ``n_users=``). Their scores are descriptive: refit on an accuracy
          metric when searching with several;
        - ratings: ``"neg_rmse"``, ``"neg_mae"`` (negated, so greater is
          better, on ``decision_function``).

        A callable ``metric(y_true, y_recommended, *, k, **metric_params)``
        is used as a ranking metric.
    k : int, default=10
        List length.
    test_size : float in (0, 1), int >= 1 or None, default=None
        Share of each row to hide when the scorer is called with ``y=None``
        (or, as an int, the number of interactions to hide per row), as the
        ``test_size`` of
        :func:`~sklearn_musicrec.model_selection.holdout_split`.
    random_state : int, RandomState instance or None, default=None
        Seed of the hidden part (and of sampled items). It is resolved
        to an int once, here, so every call of this scorer uses the same
        seed; ``None`` draws one at random.
    n_sampled_items : int or None, default=None
        ``None`` (the default) ranks the whole catalogue. An int selects
        the *sampled* protocol of older papers: one held-out item per user
        is ranked among ``n_sampled_items`` (e.g. 99) uniformly sampled
        items the user has not interacted with, through
        ``recommend(items=mask)``. It is provided for comparison only:
        sampled metrics are biased and can reverse the ordering of models
        (Krichene & Rendle, KDD 2020). Ranking metrics and ``"auc"`` only.
    holdout : float in (0, 1) or None
        Deprecated alias of ``test_size`` (renamed in 0.1, removed in 0.3).
    n_negatives : int or None
        Deprecated alias of ``n_sampled_items`` (renamed in 0.1, removed in
        0.3; ``n_negatives`` names the training negatives of
        :class:`~sklearn_musicrec.decomposition.SGDFactorizer`).
    **metric_params
        Extra keyword arguments of the metric function (e.g.
        ``gain="linear"`` for ``"ndcg"``, ``item_features=`` for
        ``"diversity"``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, greater is better for
        accuracy metrics.

    See Also
    --------
    get_recommendation_scorer : Scorers by name, one or a dict of several.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV, KFold
    >>> from sklearn_musicrec.baselines import PopularityRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.metrics import make_recommendation_scorer
    >>> X = make_interactions(n_users=120, n_items=60, random_state=0).data
    >>> scorer = make_recommendation_scorer("ndcg", k=10, test_size=0.2, random_state=0)
    >>> search = GridSearchCV(
    ...     PopularityRecommender(), {"criterion": ["listeners", "plays"]},
    ...     cv=KFold(3), scoring=scorer,
    ... ).fit(X)
    >>> bool(0 < search.best_score_ <= 1)
    True
    """
    test_size = deprecated_rename(
        "holdout", holdout, "test_size", test_size, None, whom="make_recommendation_scorer"
    )
    n_sampled_items = deprecated_rename(
        "n_negatives",
        n_negatives,
        "n_sampled_items",
        n_sampled_items,
        None,
        whom="make_recommendation_scorer",
    )
    seed = resolve_seed(random_state)
    return _build_scorer(metric, k, test_size, random_state, seed, n_sampled_items, metric_params)


@validate_params(
    {
        "scoring": [str, list, tuple],
        "k": [Interval(Integral, 1, None, closed="left")],
        "test_size": _TEST_SIZE,
        "random_state": ["random_state"],
        "n_sampled_items": _N_SAMPLED,
    },
    prefer_skip_nested_validation=True,
)
def get_recommendation_scorer(
    scoring: str | Sequence[str],
    *,
    k: int = 10,
    test_size: float | int | None = None,
    random_state: "int | np.random.RandomState | None" = None,
    n_sampled_items: int | None = None,
    **metric_params: Any,
) -> "_RecommendationScorer | dict[str, _RecommendationScorer]":
    """Recommendation scorers by name: one, or a dict of several for ``scoring=``.

    scikit-learn resolves a string ``scoring`` (``cross_validate(...,
    scoring=["ndcg", "recall"])``) in its own private table of scorers,
    which a package cannot extend without monkey-patching it, so such a call
    raises "'ndcg' is not a valid scoring value". Pass the scorers this
    function returns instead: ``scoring=get_recommendation_scorer(["ndcg",
    "recall"], k=20, test_size=0.2)`` is a dict that scikit-learn accepts
    as multi-metric scoring, with the same keys.

    Parameters
    ----------
    scoring : str or list of str
        Metric name(s) from :func:`get_metric_names`.
    k : int, default=10
        List length of every scorer.
    test_size : float in (0, 1), int >= 1 or None, default=None
        As in :func:`make_recommendation_scorer`.
    random_state : int, RandomState instance or None, default=None
        Resolved to one int seed shared by all the scorers, so they all hide
        the same interactions of every row.
    n_sampled_items : int or None, default=None
        As in :func:`make_recommendation_scorer` (ranking metrics and
        ``"auc"`` only).
    **metric_params
        Extra keyword arguments, each passed to the metrics that accept it
        (e.g. ``item_features=`` goes to ``"diversity"`` only).

    Returns
    -------
    scorer : callable or dict of str to callable
        The scorer of ``scoring`` given as a str; ``{name: scorer}`` for a
        list.

    See Also
    --------
    make_recommendation_scorer : One scorer, including a custom metric.

    Examples
    --------
    >>> from sklearn.model_selection import KFold, cross_validate
    >>> from sklearn_musicrec.baselines import PopularityRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.metrics import get_recommendation_scorer
    >>> X = make_interactions(n_users=120, n_items=60, random_state=0).data
    >>> scoring = get_recommendation_scorer(["ndcg", "recall"], k=20, test_size=0.2,
    ...                                     random_state=0)
    >>> sorted(scoring)
    ['ndcg', 'recall']
    >>> cv = cross_validate(PopularityRecommender(), X, cv=KFold(3), scoring=scoring)
    >>> cv["test_ndcg"].shape
    (3,)
    """
    names = [scoring] if isinstance(scoring, str) else list(scoring)
    if not names:
        raise ValueError("scoring must name at least one metric, got an empty list.")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(
                f"scoring must hold metric names (str), got {name!r}; use "
                "make_recommendation_scorer for a callable metric."
            )
    if len(set(names)) != len(names):
        raise ValueError(f"scoring names each metric once, got {names}.")
    entries = {name: get_metric(name, scorer=True) for name in names}
    unused = set(metric_params) - set().union(*(e.params for e in entries.values()))
    if unused:
        raise TypeError(
            f"Unexpected parameters {sorted(unused)}: none of the metrics {names} accepts them."
        )
    seed = resolve_seed(random_state)
    fixed = random_state if isinstance(random_state, numbers.Integral) else seed
    scorers = {
        name: _build_scorer(
            name,
            k,
            test_size,
            fixed,
            seed,
            n_sampled_items,
            {p: v for p, v in metric_params.items() if p in entry.params},
        )
        for name, entry in entries.items()
    }
    return scorers[names[0]] if isinstance(scoring, str) else scorers
