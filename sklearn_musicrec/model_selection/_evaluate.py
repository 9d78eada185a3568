"""One-call evaluation of a recommender on a train/test split."""

import numbers
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import UndefinedMetricWarning

from ..utils._sklearn_compat import HasMethods, Integral, Interval, validate_params

__all__ = ["evaluate"]

_RATING = {"rmse", "mae"}


def _check_ks(k):
    from ..utils.validation import check_k

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
    },
    prefer_skip_nested_validation=False,
)
def evaluate(
    estimator,
    X_train,
    X_test,
    *,
    metrics=("ndcg", "recall"),
    k=10,
    per_user=False,
    item_features=None,
    item_popularity=None,
    return_estimator=False,
):
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
    from ..metrics._ranking import auc_score
    from ..metrics._rating import mae, predict_held_out_ratings, rmse
    from ..metrics._scorer import (
        _METRICS,
        _PER_USER,
        _canonical,
        _lists_metric,
        _recommend_unseen,
        _scores,
        _split_estimator,
        _transform,
    )

    names = [metrics] if isinstance(metrics, str) or callable(metrics) else list(metrics)
    if not names:
        raise ValueError("metrics must name at least one metric.")
    known = (set(_METRICS) - {"neg_rmse", "neg_mae"}) | _RATING
    for m in names:
        if isinstance(m, str) and m not in known:
            raise ValueError(
                f"Unknown metric {m!r}; expected one of {sorted(known)} or a callable."
            )
        if not isinstance(m, str) and not callable(m):
            raise TypeError(f"metrics must hold names or callables, got {m!r}.")
    if "diversity" in names and item_features is None:
        raise ValueError("The 'diversity' metric needs item_features (e.g. item tag vectors).")
    ks = _check_ks(k)

    X_train = _canonical(X_train)
    X_test = _canonical(X_test)
    if X_train.shape != X_test.shape:
        raise ValueError(
            f"X_train and X_test must have the same shape (n_users, n_items), "
            f"got {X_train.shape} and {X_test.shape}."
        )
    est = clone(estimator)
    t0 = time.perf_counter()
    est.fit(X_train)
    fit_time = time.perf_counter() - t0

    users = np.flatnonzero(np.diff(X_test.indptr))
    history = X_train[users]
    truth = X_test[users]
    pre, final = _split_estimator(est)
    results = {"fit_time": fit_time}

    list_metrics = [m for m in names if not (isinstance(m, str) and (m in _RATING or m == "auc"))]
    if list_metrics:
        t0 = time.perf_counter()
        Xt, same = _transform(pre, history)
        ids = _recommend_unseen(final, Xt, history, ks[-1], same)
        results["recommend_time"] = time.perf_counter() - t0
    if any(isinstance(m, str) and m in _RATING for m in names):
        # only the held-out (user, item) pairs are predicted: bounded memory
        t0 = time.perf_counter()
        Xt, _ = _transform(pre, history)
        predicted = predict_held_out_ratings(final, Xt, truth)
        results["score_time"] = time.perf_counter() - t0
    if "auc" in names:
        t0 = time.perf_counter()
        Xt, _ = _transform(pre, history)
        scores = _scores(final, Xt, history.shape[0], X_train.shape[1])
        results["score_time"] = results.get("score_time", 0.0) + time.perf_counter() - t0
    results["n_users"] = int(users.shape[0])
    results["evaluated_users"] = users

    popularity = X_train if item_popularity is None else item_popularity
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        for m in names:
            label = m if isinstance(m, str) else getattr(m, "__name__", "metric")
            if m in ("rmse", "mae"):
                func = rmse if m == "rmse" else mae
                results[label] = func(truth, predicted)
                continue
            if m == "auc":
                values = auc_score(truth, scores, exclude=history, per_user=True)
                results["auc"], results["auc_sem"] = _summary(values)
                if per_user:
                    results["auc_per_user"] = values
                continue
            for kk in ks:
                key = f"{label}@{kk}"
                if callable(m):
                    results[key] = float(m(truth, ids, k=kk))
                    continue
                spec = _METRICS[m]
                if spec.kind == "ranking":
                    values = spec.func(truth, ids, k=kk, per_user=True)
                else:
                    params = {}
                    if m == "diversity":
                        params["item_features"] = item_features
                    elif m in ("novelty", "popularity", "long_tail"):
                        params["item_popularity"] = popularity
                    if m not in _PER_USER:
                        results[key] = float(
                            _lists_metric(
                                m, spec.func, ids, X_train.shape[1], final, dict(params, k=kk)
                            )
                        )
                        continue
                    values = _lists_metric(
                        m,
                        spec.func,
                        ids,
                        X_train.shape[1],
                        final,
                        dict(params, k=kk),
                        per_user=True,
                    )
                results[key], results[f"{key}_sem"] = _summary(np.asarray(values, dtype=np.float64))
                if per_user:
                    results[f"{key}_per_user"] = values
    if return_estimator:
        results["estimator"] = est
    return results
