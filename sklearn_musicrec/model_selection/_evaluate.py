"""One-call evaluation of a recommender on a train/test split."""

import numbers
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import UndefinedMetricWarning

from ..metrics._rating import predict_held_out_ratings
from ..metrics._registry import EvaluationData, custom_metric, get_metric
from ..utils._protocol import (
    dense_scores,
    recommend_excluding_history,
    split_estimator,
    transform_history,
)
from ..utils._sklearn_compat import HasMethods, Integral, Interval, validate_params
from ..utils._typing import MatrixLike
from ..utils.validation import check_interactions, check_k

__all__ = ["evaluate"]


def _check_ks(k):
    if isinstance(k, numbers.Integral) and not isinstance(k, bool):
        return [check_k(k)]
    try:
        ks = [check_k(v) for v in k]
    except TypeError:
        raise TypeError(f"k must be an int >= 1 or a list of them, got {k!r}.") from None
    if not ks:
        raise ValueError("k must be an int >= 1 or a non-empty list of them, got an empty list.")
    return sorted(set(ks))


def _summary(values):
    """Mean and standard error of the defined (non-NaN) per-user values."""
    defined = values[~np.isnan(values)]
    if defined.size == 0:
        return 0.0, float("nan")
    sem = float(defined.std(ddof=1) / np.sqrt(defined.size)) if defined.size > 1 else float("nan")
    return float(defined.mean()), sem


@validate_params(
    {
        "estimator": [HasMethods(["fit"])],
        "X_train": ["array-like", "sparse matrix"],
        "X_test": ["array-like", "sparse matrix"],
        "metrics": [str, callable, list, tuple],
        "k": [Interval(Integral, 1, None, closed="left"), list, tuple],
        "per_user": ["boolean"],
        "item_features": ["array-like", "sparse matrix", None],
        "item_popularity": ["array-like", "sparse matrix", None],
        "return_estimator": ["boolean"],
        "fit_users": ["array-like", None],
    },
    prefer_skip_nested_validation=False,
)
def evaluate(
    estimator: BaseEstimator,
    X_train: MatrixLike,
    X_test: MatrixLike,
    *,
    metrics: str | Callable | Sequence[str | Callable] = ("ndcg", "recall"),
    k: int | Sequence[int] = 10,
    per_user: bool = False,
    item_features: MatrixLike | None = None,
    item_popularity: MatrixLike | None = None,
    return_estimator: bool = False,
    fit_users: "np.ndarray | Sequence[int] | None" = None,
) -> dict[str, Any]:
    """Fit a recommender on ``X_train`` and score its lists against ``X_test``.

    A clone of ``estimator`` is fitted on ``X_train``; then every user with
    at least one interaction in ``X_test`` gets ``max(k)`` recommendations
    from their ``X_train`` row (training items excluded), and every metric
    is computed per user and summarised by its mean and standard error.
    ``X_train`` and ``X_test`` typically come from a splitter such as
    :func:`holdout_split`. Pipelines are supported as in
    :func:`~sklearn_musicrec.metrics.make_recommendation_scorer`.

    Parameters
    ----------
    estimator : recommender or Pipeline ending in one
        Not modified: a clone is fitted.
    X_train : {array-like, sparse matrix} of shape (n_users, n_items)
        Training interactions, also the history the lists are made from.
    X_test : {array-like, sparse matrix} of shape (n_users, n_items)
        Held-out interactions (relevant items; held-out ratings for
        ``"rmse"``/``"mae"``).
    metrics : str or list of str, default=("ndcg", "recall")
        Names from :func:`~sklearn_musicrec.metrics.get_metric_names`
        (``"rmse"`` and ``"mae"`` are reported as positive errors, computed
        at the held-out pairs only, with ``predict_ratings`` (clipped to the
        training rating range) where the model has it; memory does not grow
        with ``n_users x n_items``), or
        callables ``f(y_true, y_recommended, *, k)`` (reported under their
        ``__name__``). ``"coverage"``, ``"gini"`` and ``"personalization"``
        describe all lists at once and have no standard error.
    k : int or list of int, default=10
        List length(s); list metrics are reported for each, as
        ``"<name>@<k>"``.
    per_user : bool, default=False
        Also return the per-user values (``"<name>@<k>_per_user"``, NaN for
        users where the metric is undefined), in the order of
        ``evaluated_users``.
    item_features : {array-like, sparse matrix} of shape (n_items, n_features), default=None
        Needed by ``"diversity"``.
    item_popularity : {array-like, sparse matrix}, default=None
        Popularity for ``"novelty"``, ``"popularity"`` and ``"long_tail"``;
        ``None`` uses ``X_train``.
    return_estimator : bool, default=False
        Also return the fitted clone under ``"estimator"``.
    fit_users : array-like of int, default=None
        Rows of ``X_train`` the clone is fitted on (default: all rows). With
        ``KFold`` over users, pass the training users: the other rows of
        ``X_train`` (the test users' fold-in histories) are then never seen
        in ``fit``, a new-user evaluation. The default popularity of
        ``"novelty"``, ``"popularity"`` and ``"long_tail"`` is then
        ``X_train[fit_users]``.

    Returns
    -------
    results : dict
        Flat and tidy (one row of a DataFrame): ``"fit_time"`` and
        ``"recommend_time"`` (wall-clock seconds; the latter includes a
        Pipeline's transformation of the histories; ``"score_time"`` when a
        metric needs ``decision_function``), ``"n_users"`` (users evaluated),
        ``"evaluated_users"`` (their row indices), and for every metric its
        mean under ``"<name>@<k>"`` (``"<name>"`` for ``"auc"``, ``"rmse"``,
        ``"mae"``) and its standard error under ``"<name>@<k>_sem"``.

    Examples
    --------
    >>> from sklearn_musicrec.baselines import PopularityRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.model_selection import evaluate, holdout_split
    >>> X = make_interactions(n_users=100, n_items=50, random_state=0).data
    >>> X_train, X_test = holdout_split(X, 0.2, random_state=0)
    >>> res = evaluate(PopularityRecommender(), X_train, X_test,
    ...                metrics=["ndcg", "coverage"], k=[5, 10])
    >>> sorted(key for key in res if key.startswith("ndcg"))
    ['ndcg@10', 'ndcg@10_sem', 'ndcg@5', 'ndcg@5_sem']
    >>> bool(0 < res["coverage@5"] <= res["coverage@10"] <= 1)
    True
    """
    names = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
    if not names:
        raise ValueError("metrics must name at least one metric.")
    entries = []
    for m in names:
        if isinstance(m, str):
            entries.append((m, get_metric(m)))
        elif callable(m):
            entries.append((getattr(m, "__name__", "metric"), custom_metric(m)))
        else:
            raise TypeError(f"metrics must hold names or callables, got {m!r}.")
    ks = _check_ks(k)

    X_train = check_interactions(
        None, X_train, dtype="numeric", method="evaluate", input_name="X_train", canonical=True
    )
    X_test = check_interactions(
        None, X_test, dtype="numeric", method="evaluate", input_name="X_test", canonical=True
    )
    if X_train.shape != X_test.shape:
        raise ValueError(
            f"X_train and X_test must have the same shape (n_users, n_items), "
            f"got {X_train.shape} and {X_test.shape}."
        )
    X_fit = X_train
    if fit_users is not None:
        fit_users = np.asarray(fit_users)
        if fit_users.ndim != 1 or not (
            np.issubdtype(fit_users.dtype, np.integer) or fit_users.size == 0
        ):
            raise ValueError(
                f"fit_users must be a 1-D array of row indices, got an array of shape "
                f"{fit_users.shape} and dtype {fit_users.dtype}."
            )
        if fit_users.size and (fit_users.min() < 0 or fit_users.max() >= X_train.shape[0]):
            raise ValueError(
                f"fit_users must index the {X_train.shape[0]} rows of X_train, got values "
                f"from {fit_users.min()} to {fit_users.max()}."
            )
        X_fit = X_train[fit_users]
    popularity = X_fit if item_popularity is None else item_popularity
    supplied = {"item_features": item_features, "item_popularity": popularity}
    params = {}
    for label, entry in entries:
        params[label] = {p: v for p, v in supplied.items() if p in entry.params and v is not None}
        entry.check_params(params[label])

    est = clone(estimator)
    t0 = time.perf_counter()
    est.fit(X_fit)
    fit_time = time.perf_counter() - t0

    users = np.flatnonzero(np.diff(X_test.indptr))
    history = X_train[users]
    data = EvaluationData(
        truth=X_test[users], exclude=history, history=history, n_items=X_train.shape[1]
    )
    pre, final = split_estimator(est)
    results: dict[str, Any] = {"fit_time": fit_time}

    Xt = None  # the transformed history, computed once for both reads
    if any(entry.reads == "ids" for _, entry in entries):
        t0 = time.perf_counter()
        Xt = transform_history(pre, history)
        data.ids = recommend_excluding_history(final, Xt, history, ks[-1])[0]
        results["recommend_time"] = time.perf_counter() - t0
    if any(entry.reads == "predictions" for _, entry in entries):
        # only the held-out (user, item) pairs are predicted: bounded memory
        t0 = time.perf_counter()
        if Xt is None:
            Xt = transform_history(pre, history)
        data.predictions = predict_held_out_ratings(final, Xt, data.truth)
        results["score_time"] = time.perf_counter() - t0
    if any(entry.reads == "scores" for _, entry in entries):
        t0 = time.perf_counter()
        if Xt is None:
            Xt = transform_history(pre, history)
        data.scores = dense_scores(final, Xt, history.shape[0], X_train.shape[1])
        results["score_time"] = results.get("score_time", 0.0) + time.perf_counter() - t0
    results["n_users"] = int(users.shape[0])
    results["evaluated_users"] = users

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for label, entry in entries:
            for key, kk in (
                [(f"{label}@{kk}", kk) for kk in ks] if entry.uses_k else [(label, None)]
            ):
                if not entry.per_user:
                    results[key] = float(entry.compute(data, k=kk, **params[label]))
                    continue
                values = np.asarray(
                    entry.compute(data, k=kk, per_user=True, **params[label]), dtype=np.float64
                )
                results[key], results[f"{key}_sem"] = _summary(values)
                if per_user:
                    results[f"{key}_per_user"] = values
    if return_estimator:
        results["estimator"] = est
    return results
