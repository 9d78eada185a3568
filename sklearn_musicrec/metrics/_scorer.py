"""Scorers that let GridSearchCV, cross_validate & co. evaluate recommenders."""

import inspect
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.pipeline import Pipeline

from ..utils._hashing import row_set_hashes, splitmix64
from ..utils._sklearn_compat import Integral, Interval, Real, StrOptions, validate_params
from ..utils._topk import row_batches
from ..utils.validation import check_k
from ._beyond import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    long_tail_share,
    novelty,
    personalization,
)
from ._ranking import (
    auc_score,
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
)
from ._rating import mae, rmse
from ._validation import _lookup, _row_ids

__all__ = ["make_recommendation_scorer", "get_metric_names"]


class _Metric:
    """How a named metric is computed from a fitted recommender.

    kind: "ranking" (truth + id lists), "scores" (truth + full scores),
    "ratings" (held-out ratings + full scores), "lists" (id lists only,
    plus catalogue data). ``sign`` is -1 for errors (scorers maximise).
    """

    def __init__(self, func, kind, *, sign=1, needs=()):
        self.func = func
        self.kind = kind
        self.sign = sign
        self.needs = needs


_METRICS = {
    "ndcg": _Metric(ndcg_at_k, "ranking"),
    "recall": _Metric(recall_at_k, "ranking"),
    "precision": _Metric(precision_at_k, "ranking"),
    "map": _Metric(map_at_k, "ranking"),
    "mrr": _Metric(mrr_at_k, "ranking"),
    "hit_rate": _Metric(hit_rate_at_k, "ranking"),
    "auc": _Metric(auc_score, "scores"),
    "coverage": _Metric(catalog_coverage, "lists"),
    "gini": _Metric(gini_index, "lists"),
    "personalization": _Metric(personalization, "lists"),
    "diversity": _Metric(intra_list_diversity, "lists", needs=("item_features",)),
    "novelty": _Metric(novelty, "lists"),
    "popularity": _Metric(average_popularity, "lists"),
    "long_tail": _Metric(long_tail_share, "lists"),
    "neg_rmse": _Metric(rmse, "ratings", sign=-1),
    "neg_mae": _Metric(mae, "ratings", sign=-1),
}

# Per-user metrics (their values can be averaged with a standard error).
_PER_USER = {
    "ndcg",
    "recall",
    "precision",
    "map",
    "mrr",
    "hit_rate",
    "auc",
    "diversity",
    "novelty",
    "popularity",
    "long_tail",
}


def get_metric_names():
    """Names accepted by :func:`make_recommendation_scorer` and ``evaluate``.

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
    return sorted(_METRICS)


def _metric_params_allowed(func):
    params = inspect.signature(func).parameters
    return {
        name
        for name, p in params.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name not in ("k", "per_user")
    }


def _split_estimator(estimator):
    """``(preprocessing steps or None, final recommender)``."""
    if isinstance(estimator, Pipeline):
        final = estimator.steps[-1][1]
        pre = estimator[:-1] if len(estimator.steps) > 1 else None
    else:
        pre, final = None, estimator
    if not hasattr(final, "recommend"):
        raise TypeError(
            "The estimator scored by a recommendation scorer must be a "
            "recommender (with a recommend method), or a Pipeline ending in "
            f"one; got {type(final).__name__}."
        )
    return pre, final


def _canonical(X):
    Xc = sp.csr_matrix(X, copy=True) if sp.issparse(X) else sp.csr_matrix(np.asarray(X))
    Xc.sum_duplicates()
    Xc.eliminate_zeros()
    return Xc


def _transform(pre, history):
    """History rows as the final step sees them, and whether the pattern is kept."""
    if pre is None:
        return history, True
    Xt = pre.transform(history)
    if Xt.shape != history.shape:
        raise ValueError(
            "The steps before the recommender must keep the (n_users, n_items) "
            f"shape of X to be scored item by item; X has shape {history.shape} "
            f"but the transformed X has shape {Xt.shape}."
        )
    pattern = _canonical(Xt)
    pattern.data[:] = 1
    same = (
        pattern.nnz == history.nnz
        and np.array_equal(pattern.indptr, history.indptr)
        and np.array_equal(pattern.indices, history.indices)
    )
    return Xt, same


def _compact(ids, keep, k):
    """Left-align the kept ids of each row and cut to ``k`` columns, pad -1."""
    order = np.argsort(~keep, axis=1, kind="stable")
    out = np.take_along_axis(np.where(keep, ids, -1), order, axis=1)[:, :k]
    if out.shape[1] < k:
        out = np.hstack([out, np.full((out.shape[0], k - out.shape[1]), -1, dtype=np.int64)])
    return out


def _recommend_unseen(final, Xt, history, k, same_pattern, items=None):
    """``recommend`` on the transformed rows, never listing a raw history item.

    When the transformed rows keep the raw sparsity pattern (every weighting
    transformer does) the final step's own ``exclude_seen`` is exact. When
    they do not, the lists are requested longer, then the raw history items
    are removed and the lists cut back to ``k``.
    """
    if items is not None:
        # The candidate mask already leaves the history out.
        return final.recommend(Xt, k, exclude_seen=False, items=items)[0]
    if same_pattern:
        return final.recommend(Xt, k, exclude_seen=True)[0]
    longest = int(np.diff(history.indptr).max()) if history.shape[0] else 0
    ids = final.recommend(Xt, k + longest, exclude_seen=False)[0]
    keep = (ids >= 0) & (_lookup(sp.csr_array(history), ids) < 0)
    return _compact(ids, keep, k)


def _scores(final, Xt, n_rows, n_items):
    """Dense float64 ``decision_function`` of all rows, computed in row batches."""
    out = np.empty((n_rows, n_items), dtype=np.float64)
    Xt = sp.csr_matrix(Xt) if sp.issparse(Xt) else np.asarray(Xt)
    # 4 Mi scores per batch at most, fewer under a small working_memory
    for rows in row_batches(n_rows, 8 * max(n_items, 1), max_bytes=8 << 22):
        out[rows] = final.decision_function(Xt[rows])
    return out


def _sub_seed(seed, i):
    """A derived 64-bit seed, so different draws of one scorer are independent."""
    return (seed + 0x9E3779B97F4A7C15 * i) & 0xFFFFFFFFFFFFFFFF


def _one_target_per_row(truth, seed):
    """One relevant item per row, chosen by a seeded content hash (-1 if none)."""
    from ..model_selection._split import _interaction_keys

    target = np.full(truth.shape[0], -1, dtype=np.int64)
    if truth.nnz == 0:
        return target
    keys = _interaction_keys(truth, seed)
    rows = _row_ids(truth.indptr)
    order = np.lexsort((keys, rows))
    starts = truth.indptr[:-1][np.diff(truth.indptr) > 0]
    first = order[starts]
    target[rows[first]] = truth.indices[first]
    return target


def _sampled_candidates(history, target, n_negatives, seed, relevant=None):
    """CSR candidate mask: the target plus ``n_negatives`` random unseen items per row.

    Negatives are drawn uniformly, without replacement, among the items that
    are neither in the row's history nor relevant (the target and, when
    ``relevant`` is given, every other held-out item); the draw is a seeded
    hash of the row's content, so it does not depend on the row position.
    """
    n_rows, n_items = history.shape
    u64 = np.uint64
    item_mix = splitmix64(np.arange(n_items, dtype=u64) + u64(1))
    history_hash, _ = row_set_hashes(history.indptr, history.indices, seed)
    row_hash = splitmix64(history_hash ^ splitmix64(target.astype(u64) + u64(7)))
    n_draw = min(n_negatives, n_items)
    chunks_rows, chunks_cols = [], []
    # 2 Mi keys (uint64, and a mask) per batch at most, fewer under a small
    # working_memory; every row's draw depends on that row alone
    for rows in row_batches(n_rows, 8 * max(n_items, 1), max_bytes=8 << 21):
        keys = splitmix64(row_hash[rows][:, None] ^ item_mix[None, :])
        sub = history[rows]
        r, c = _row_ids(sub.indptr), sub.indices
        blocked = np.zeros(keys.shape, dtype=bool)
        blocked[r, c] = True
        if relevant is not None:
            sub = relevant[rows]
            blocked[_row_ids(sub.indptr), sub.indices] = True
        t = target[rows]
        has_t = t >= 0
        blocked[np.flatnonzero(has_t), t[has_t]] = True
        keys[blocked] = np.iinfo(np.uint64).max
        if n_draw < n_items:
            sel = np.argpartition(keys, n_draw - 1, axis=1)[:, :n_draw]
        else:
            sel = np.broadcast_to(np.arange(n_items), keys.shape)
        ok = ~np.take_along_axis(blocked, sel, axis=1)
        rr = np.broadcast_to(np.arange(rows.start, rows.stop)[:, None], sel.shape)
        chunks_rows += [rr[ok], np.arange(rows.start, rows.stop)[has_t]]
        chunks_cols += [sel[ok], t[has_t]]
    rr = np.concatenate(chunks_rows) if chunks_rows else np.empty(0, dtype=np.int64)
    cc = np.concatenate(chunks_cols) if chunks_cols else np.empty(0, dtype=np.int64)
    return sp.csr_matrix((np.ones(rr.shape[0], dtype=bool), (rr, cc)), shape=(n_rows, n_items))


def _lists_metric(name, func, ids, n_items, final, params, *, per_user=False):
    """A list-only (beyond-accuracy) metric, filling catalogue data from the model."""
    params = dict(params)
    if name == "coverage" or func is catalog_coverage:
        return func(ids, n_items=n_items, **params)
    if func is gini_index:
        return func(ids, n_items=n_items, **params)
    if func is personalization:
        return func(ids, **params)
    extra = {"per_user": per_user} if per_user else {}
    if func is intra_list_diversity:
        features = params.pop("item_features")
        return func(ids, features, **params, **extra)
    popularity = params.pop("item_popularity", None)
    if popularity is None:
        popularity = getattr(final, "item_counts_", None)
        if popularity is None:
            raise ValueError(
                f"The {name!r} metric needs item_popularity: pass it (a training "
                "interaction matrix or per-item counts), or use a recommender "
                "with an item_counts_ attribute."
            )
    return func(ids, popularity, **params, **extra)


class _RecommendationScorer:
    """Callable ``scorer(estimator, X, y=None)``; see :func:`make_recommendation_scorer`."""

    def __init__(self, metric, k, holdout, seed, n_negatives, metric_params, repr_args):
        self.metric = metric
        self.k = k
        self.holdout = holdout
        self.seed = seed
        self.n_negatives = n_negatives
        self.metric_params = metric_params
        self._repr_args = repr_args

    def __repr__(self):
        return f"make_recommendation_scorer({self._repr_args})"

    def _spec(self):
        if callable(self.metric):
            return "custom", _Metric(self.metric, "ranking")
        return self.metric, _METRICS[self.metric]

    def __call__(self, estimator, X, y=None, **kwargs):
        if kwargs:
            raise TypeError(
                "A recommendation scorer takes (estimator, X, y=None); got "
                f"unexpected keyword arguments {sorted(kwargs)} (sample weights "
                "are not supported)."
            )
        name, spec = self._spec()
        pre, final = _split_estimator(estimator)
        X = _canonical(X)
        history, truth, rows = self._history_and_truth(X, y, spec)
        if rows is not None:
            history = history[rows]
            truth = truth[rows] if truth is not None else None
        if history.shape[0] == 0:
            return 0.0
        Xt, same = _transform(pre, history)
        n_items = X.shape[1]

        if spec.kind == "ratings":
            scores = _scores(final, Xt, history.shape[0], n_items)
            return float(spec.sign * spec.func(truth, scores, **self.metric_params))

        items = None
        if self.n_negatives is not None:
            target = (
                truth
                if isinstance(truth, np.ndarray)
                else _one_target_per_row(truth, _sub_seed(self.seed, 1))
            )
            relevant = None if isinstance(truth, np.ndarray) else truth
            items = _sampled_candidates(
                history, target, self.n_negatives, _sub_seed(self.seed, 2), relevant
            )
            truth = target

        if spec.kind == "scores":
            scores = _scores(final, Xt, history.shape[0], n_items)
            if items is not None:
                exclude = np.ones(scores.shape, dtype=bool)
                exclude[items.nonzero()] = False
            else:
                exclude = history
            return float(spec.func(truth, scores, exclude=exclude, **self.metric_params))

        ids = _recommend_unseen(final, Xt, history, self.k, same, items=items)
        if spec.kind == "ranking":
            return float(spec.func(truth, ids, k=self.k, **self.metric_params))
        return float(_lists_metric(name, spec.func, ids, n_items, final, self.metric_params))

    def _history_and_truth(self, X, y, spec):
        """``(history, truth, rows to score or None)`` for one call."""
        if y is not None:
            if sp.issparse(y) or np.ndim(y) == 2:
                truth = _canonical(y)
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
                if spec.kind == "ratings":
                    raise ValueError(
                        "Rating metrics need y as a (n_users, n_items) matrix of "
                        "held-out ratings, got 1-D ids."
                    )
            return X, truth, None
        if self.holdout is None:
            if spec.kind == "lists" and self.n_negatives is None:
                return X, None, None
            raise ValueError(
                "This scorer got y=None and was made with holdout=None, so there "
                "is no held-out truth to score against. Pass y (the held-out "
                "interactions), or make the scorer with holdout=0.2 to hide a "
                "share of each row of X."
            )
        from ..model_selection._split import _holdout_mask, _split_by_mask

        mask, n_per_row, _ = _holdout_mask(X, self.holdout, self.seed)
        history, truth = _split_by_mask(X, mask)
        rows = np.flatnonzero(n_per_row >= 2)
        return history, truth, rows


@validate_params(
    {
        "metric": [StrOptions(set(_METRICS)), callable],
        "k": [Interval(Integral, 1, None, closed="left")],
        "holdout": [Interval(Real, 0, 1, closed="neither"), None],
        "random_state": ["random_state"],
        "n_negatives": [Interval(Integral, 1, None, closed="left"), None],
    },
    prefer_skip_nested_validation=True,
)
def make_recommendation_scorer(
    metric, *, k=10, holdout=None, random_state=None, n_negatives=None, **metric_params
):
    """Make a scorer ``scorer(estimator, X, y=None)`` for model selection.

    The scorer recommends ``k`` items for every row of ``X`` (the history)
    and scores the lists against held-out interactions. It plugs into
    :class:`~sklearn.model_selection.GridSearchCV`, ``cross_validate`` and
    friends, which call it on each validation fold.

    - With ``y``: ``X`` is the history and ``y`` the held-out truth (1-D
      item ids, one per row, negative for none; or a matrix of ``X``'s
      shape). ``holdout`` is then not used.
    - With ``y=None`` and ``holdout=0.2``: a share of every row of ``X`` is
      hidden (``ceil(0.2 * n)``, at least one; see
      :func:`~sklearn_musicrec.model_selection.holdout_split`), the
      recommender folds in the rest and is scored on the hidden part. Rows
      with fewer than 2 interactions are left out of the score. So
      ``GridSearchCV(est, grid, cv=KFold(5), scoring=scorer).fit(X)`` is a
      complete new-user ("strong generalisation") search. The hidden part
      depends only on ``random_state`` and each row's set of items, never on
      its position, so every candidate sees the same split of every fold.
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
    holdout : float in (0, 1) or None, default=None
        Share of each row to hide when the scorer is called with ``y=None``.
    random_state : int, RandomState instance or None, default=None
        Seed of the hidden part (and of sampled negatives). It is resolved
        to an int once, here, so every call of this scorer uses the same
        seed; ``None`` draws one at random.
    n_negatives : int or None, default=None
        ``None`` (the default) ranks the whole catalogue. An int selects
        the *sampled* protocol of older papers: one held-out item per user
        is ranked among ``n_negatives`` (e.g. 99) uniformly sampled items
        the user has not interacted with, through ``recommend(items=mask)``.
        It is provided for comparison only: sampled metrics are biased and
        can reverse the ordering of models (Krichene & Rendle, KDD 2020).
        Ranking metrics and ``"auc"`` only.
    **metric_params
        Extra keyword arguments of the metric function (e.g.
        ``gain="linear"`` for ``"ndcg"``, ``item_features=`` for
        ``"diversity"``).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y=None) -> float``, greater is better for
        accuracy metrics.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV, KFold
    >>> from sklearn_musicrec.baselines import PopularityRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.metrics import make_recommendation_scorer
    >>> X = make_interactions(n_users=120, n_items=60, random_state=0).data
    >>> scorer = make_recommendation_scorer("ndcg", k=10, holdout=0.2, random_state=0)
    >>> search = GridSearchCV(
    ...     PopularityRecommender(), {"criterion": ["listeners", "plays"]},
    ...     cv=KFold(3), scoring=scorer,
    ... ).fit(X)
    >>> bool(0 < search.best_score_ <= 1)
    True
    """
    if callable(metric):
        func = metric
        kind = "ranking"
    elif isinstance(metric, str):
        if metric not in _METRICS:
            raise ValueError(
                f"metric must be one of {get_metric_names()} or a callable, got {metric!r}."
            )
        func, kind = _METRICS[metric].func, _METRICS[metric].kind
    else:
        raise TypeError(f"metric must be a str or a callable, got {type(metric).__name__}.")
    k = check_k(k)
    if holdout is not None:
        if (
            isinstance(holdout, (bool, np.bool_))
            or not isinstance(holdout, numbers.Real)
            or not 0.0 < holdout < 1.0
        ):
            raise ValueError(
                f"holdout must be None or a float in (0, 1) (the share of each "
                f"row to hide), got {holdout!r}."
            )
        holdout = float(holdout)
    if n_negatives is not None:
        if (
            isinstance(n_negatives, (bool, np.bool_))
            or not isinstance(n_negatives, numbers.Integral)
            or n_negatives < 1
        ):
            raise ValueError(f"n_negatives must be None or an int >= 1, got {n_negatives!r}.")
        if kind not in ("ranking", "scores"):
            raise ValueError(
                f"The sampled protocol (n_negatives) applies to ranking metrics and "
                f"'auc' only, not to {metric!r}."
            )
        n_negatives = int(n_negatives)
    if isinstance(metric, str):
        allowed = _metric_params_allowed(func)
        if kind == "lists":
            allowed -= {"n_items"}
            if func in (novelty, average_popularity, long_tail_share):
                allowed |= {"item_popularity"}
            if func is intra_list_diversity:
                allowed |= {"item_features"}
        unknown = set(metric_params) - allowed
        if unknown:
            raise TypeError(
                f"Unexpected parameters {sorted(unknown)} for metric {metric!r}; "
                f"it accepts {sorted(allowed)}."
            )
        for need in _METRICS[metric].needs:
            if need not in metric_params:
                raise ValueError(f"The {metric!r} metric needs {need}=..., e.g. item tag vectors.")
        if (
            func is novelty
            and "item_popularity" not in metric_params
            and "n_users" not in metric_params
        ):
            raise ValueError(
                "The 'novelty' metric needs item_popularity= (the training "
                "interaction matrix) or n_users= (to normalise the final step's "
                "item_counts_)."
            )
    from ..model_selection._split import _resolve_seed

    seed = _resolve_seed(random_state)
    parts = [
        repr(metric if isinstance(metric, str) else getattr(metric, "__name__", metric)),
        f"k={k}",
    ]
    if holdout is not None:
        parts.append(f"holdout={holdout}")
    parts.append(
        f"random_state={random_state if isinstance(random_state, numbers.Integral) else seed}"
    )
    if n_negatives is not None:
        parts.append(f"n_negatives={n_negatives}")
    parts += [f"{key}=..." for key in sorted(metric_params)]
    return _RecommendationScorer(
        metric, k, holdout, seed, n_negatives, dict(metric_params), ", ".join(parts)
    )
