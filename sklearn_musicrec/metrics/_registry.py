"""The metric registry: every named metric and how to call it.

Each :class:`Metric` entry carries its own call adapter, :meth:`Metric.compute`,
which takes the evaluation data (:class:`EvaluationData`) and fills the
metric's catalogue arguments from it. The scorers
(:func:`~sklearn_musicrec.metrics.make_recommendation_scorer`) and
:func:`~sklearn_musicrec.model_selection.evaluate` are clients: neither
dispatches on metric names or functions itself.

Private module with public-within-the-package names.
"""

import inspect

from ._beyond import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    long_tail_share,
    novelty,
    personalization,
)
from ._exposure import exposure_share, long_tail_exposure, miscalibration, provider_gini
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

__all__ = ["EvaluationData", "Metric", "METRICS", "custom_metric", "get_metric"]

# What each kind of metric reads: the truth, and either the recommended id
# lists, the full score matrix, or predictions at the held-out entries only.
_INPUTS = {
    "ranking": ("truth", "ids"),  # f(y_true, y_recommended, *, k, ...)
    "scores": ("truth", "scores"),  # f(y_true, y_score, *, exclude, ...)
    "ratings": ("truth", "predictions"),  # f(y_true, y_pred), y_pred sparse like y_true
    "lists": ("ids",),  # f(y_recommended, [catalogue data], *, k, ...)
}
# Arguments the adapter fills in itself (never metric parameters).
_PROVIDED = {"k", "per_user", "n_items", "exclude"}
_HINTS = {
    "item_features": "an (n_items, n_features) matrix such as item tag vectors",
    "item_popularity": "the training interaction matrix or per-item counts",
    "item_groups": "one group id per item, e.g. from popularity_groups",
    "item_providers": "one provider (artist, label) id per item",
    "item_categories": "an (n_items, n_categories) matrix such as genre or tag indicators",
}


class EvaluationData:
    """What a metric may read: truth, lists or scores, and catalogue data.

    Parameters
    ----------
    truth : csr_matrix or ndarray of int64, or None
        Held-out interactions (or 1-D held-out ids).
    ids : ndarray of int64 of shape (n_users, L), or None
        Recommended ids, best first, ``-1`` padding.
    scores : ndarray of shape (n_users, n_items), or None
        ``decision_function`` of the rows.
    predictions : csr_matrix of shape (n_users, n_items), or None
        Predicted ratings at the stored entries of ``truth`` only (its
        pattern), so rating metrics never need a dense matrix.
    exclude : {ndarray, sparse matrix} of shape (n_users, n_items), or None
        Items not ranked by ``"scores"`` metrics (the history, or the
        non-candidates of the sampled protocol).
    n_items : int
        Size of the catalogue.
    item_popularity : {array-like, sparse matrix} or None
        Default popularity for the metrics that take one.
    history : sparse matrix of shape (n_users, n_items), or None
        The users' (raw) histories, for metrics that compare the lists with
        them (``miscalibration``).
    """

    def __init__(
        self,
        *,
        truth=None,
        ids=None,
        scores=None,
        predictions=None,
        exclude=None,
        n_items,
        item_popularity=None,
        history=None,
    ):
        self.truth = truth
        self.ids = ids
        self.scores = scores
        self.predictions = predictions
        self.exclude = exclude
        self.n_items = n_items
        self.item_popularity = item_popularity
        self.history = history


class Metric:
    """One named metric: its function, what it reads, and how to call it.

    Parameters
    ----------
    name : str
        Registry name (``"ndcg"``); evaluate reports ``"<name>@<k>"``.
    func : callable
        The public metric function.
    kind : {"ranking", "scores", "ratings", "lists"}
        What it reads (see ``_INPUTS``).
    greater_is_better : bool, default=True
        ``False`` for errors; their scorer is named ``"neg_<name>"`` and
        returns the negated error, as scikit-learn's scorers do.
    catalog_arg : str or None, default=None
        For list metrics, the name of the positional catalogue argument
        (``"item_features"``, ``"item_popularity"``, ``"item_groups"``, ...)
        that the adapter passes after the lists.
    reads_history : bool, default=False
        For list metrics, whether the users' histories are passed between
        the lists and the catalogue argument (``miscalibration``).
    """

    def __init__(
        self, name, func, kind, *, greater_is_better=True, catalog_arg=None, reads_history=False
    ):
        if kind not in _INPUTS:
            raise ValueError(f"kind must be one of {sorted(_INPUTS)}, got {kind!r}.")
        self.name = name
        self.func = func
        self.kind = kind
        self.greater_is_better = greater_is_better
        self.catalog_arg = catalog_arg
        self.reads_history = reads_history
        try:
            params = inspect.signature(func).parameters
        except (TypeError, ValueError):  # a builtin or an opaque callable
            params = {}
        self._signature = params
        keyword = {
            n for n, p in params.items() if p.kind is inspect.Parameter.KEYWORD_ONLY
        } - _PROVIDED
        if catalog_arg is not None:
            keyword.add(catalog_arg)
        self.params = frozenset(keyword)
        self.per_user = "per_user" in params
        self.uses_k = kind in ("ranking", "lists")

    def __repr__(self):
        return f"Metric({self.name!r}, kind={self.kind!r})"

    @property
    def scorer_name(self):
        """The name under which the scorers know this metric."""
        return self.name if self.greater_is_better else f"neg_{self.name}"

    @property
    def sign(self):
        """``+1``, or ``-1`` for errors (scorers maximise)."""
        return 1 if self.greater_is_better else -1

    @property
    def reads(self):
        """``"ids"``, ``"scores"`` or ``"predictions"``: what the caller must compute."""
        return _INPUTS[self.kind][-1]

    @property
    def required(self):
        """Parameters that must be given (no default and no source in the data)."""
        need = set()
        if self.catalog_arg not in (None, "item_popularity"):
            need.add(self.catalog_arg)
        return frozenset(need)

    def check_params(self, params, *, popularity_from_counts=False):
        """Reject unknown or missing parameters, naming what the metric accepts.

        ``popularity_from_counts``: the caller's default popularity is a 1-D
        count vector (a model's ``item_counts_``), so metrics that also need
        the number of users must be given ``n_users`` or ``item_popularity``.
        """
        unknown = set(params) - self.params
        if unknown:
            raise TypeError(
                f"Unexpected parameters {sorted(unknown)} for metric {self.name!r}; "
                f"it accepts {sorted(self.params)}."
            )
        for need in sorted(self.required - set(params)):
            raise ValueError(f"The {self.name!r} metric needs {need}=..., {_HINTS[need]}.")
        if (
            popularity_from_counts
            and self.catalog_arg == "item_popularity"
            and "n_users" in self.params
            and "item_popularity" not in params
            and "n_users" not in params
        ):
            raise ValueError(
                f"The {self.name!r} metric needs item_popularity= (the training "
                "interaction matrix) or n_users= (to normalise the final step's "
                "item_counts_)."
            )

    def compute(self, data, *, k=None, per_user=False, **params):
        """The metric on ``data``: a float, or per-user values if ``per_user``.

        Parameters
        ----------
        data : EvaluationData
        k : int or None
            List length, for ranking and list metrics.
        per_user : bool, default=False
            Return the per-user values (only where the function has them).
        **params
            The metric's own parameters (checked by :meth:`check_params`).
        """
        extra = {"per_user": True} if per_user else {}
        if self.kind == "ranking":
            return self.func(data.truth, data.ids, k=k, **params, **extra)
        if self.kind == "scores":
            return self.func(data.truth, data.scores, exclude=data.exclude, **params, **extra)
        if self.kind == "ratings":
            return self.func(data.truth, data.predictions, **params)
        # list metrics: fill the catalogue argument from the data
        params = dict(params)
        if "n_items" in self._signature:
            params["n_items"] = data.n_items
        if self.catalog_arg is None:
            return self.func(data.ids, k=k, **params, **extra)
        value = params.pop(self.catalog_arg, None)
        if value is None and self.catalog_arg == "item_popularity":
            value = data.item_popularity
        if value is None:
            raise ValueError(
                f"The {self.name!r} metric needs {self.catalog_arg}: pass it "
                f"({_HINTS[self.catalog_arg]}), or use a recommender with an "
                "item_counts_ attribute."
            )
        if self.reads_history:
            return self.func(data.ids, data.history, value, k=k, **params, **extra)
        return self.func(data.ids, value, k=k, **params, **extra)


def custom_metric(func):
    """A registry-style entry for a user's ranking metric ``f(y_true, y_recommended, *, k)``."""
    return Metric(getattr(func, "__name__", "metric"), func, "ranking")


METRICS = {
    m.name: m
    for m in [
        Metric("ndcg", ndcg_at_k, "ranking"),
        Metric("recall", recall_at_k, "ranking"),
        Metric("precision", precision_at_k, "ranking"),
        Metric("map", map_at_k, "ranking"),
        Metric("mrr", mrr_at_k, "ranking"),
        Metric("hit_rate", hit_rate_at_k, "ranking"),
        Metric("auc", auc_score, "scores"),
        Metric("coverage", catalog_coverage, "lists"),
        Metric("gini", gini_index, "lists"),
        Metric("personalization", personalization, "lists"),
        Metric("diversity", intra_list_diversity, "lists", catalog_arg="item_features"),
        Metric("novelty", novelty, "lists", catalog_arg="item_popularity"),
        Metric("popularity", average_popularity, "lists", catalog_arg="item_popularity"),
        Metric("long_tail", long_tail_share, "lists", catalog_arg="item_popularity"),
        Metric("rmse", rmse, "ratings", greater_is_better=False),
        Metric("mae", mae, "ratings", greater_is_better=False),
        Metric("exposure_share", exposure_share, "lists", catalog_arg="item_groups"),
        Metric("long_tail_exposure", long_tail_exposure, "lists", catalog_arg="item_popularity"),
        Metric("provider_gini", provider_gini, "lists", catalog_arg="item_providers"),
        Metric(
            "miscalibration",
            miscalibration,
            "lists",
            greater_is_better=False,
            catalog_arg="item_categories",
            reads_history=True,
        ),
    ]
}
"""Registry name -> :class:`Metric`."""

_BY_SCORER_NAME = {m.scorer_name: m for m in METRICS.values()}


def get_metric(name, *, scorer=False):
    """The registry entry for ``name``.

    ``scorer=True`` looks ``name`` up among the scorer names (``"neg_rmse"``
    for the error ``"rmse"``), else among the registry names.
    """
    table = _BY_SCORER_NAME if scorer else METRICS
    try:
        return table[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"Unknown metric {name!r}; expected one of {sorted(table)} or a callable."
        ) from None


def scorer_names():
    """Sorted names accepted by the scorers."""
    return sorted(_BY_SCORER_NAME)
