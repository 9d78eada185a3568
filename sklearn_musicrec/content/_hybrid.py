"""Weighted blending of recommenders, with per-user score normalisation."""

from typing import Self

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from ..base import BaseRecommender
from ..utils._features import binary_interactions, supports_cold_items
from ..utils._sklearn_compat import Interval, Real, StrOptions, _fit_context
from ..utils._typing import MatrixLike

__all__ = ["HybridRecommender"]


def normalize_scores(S, mask, method):
    """Per-row normalisation of ``S`` over the entries where ``mask`` is True.

    ``"zscore"``: ``(s - mean) / std`` (0 where the row is constant);
    ``"minmax"``: ``(s - min) / (max - min)`` in [0, 1]; ``"rank"``: the
    share of the row's scorable items with a lower score, in [0, 1).
    Entries outside ``mask`` are returned as 0.
    """
    S = np.where(mask, S, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if method == "zscore":
            mean = np.nanmean(S, axis=1, keepdims=True)
            std = np.nanstd(S, axis=1, keepdims=True)
            Z = np.where(std > 0, (S - mean) / np.where(std > 0, std, 1.0), 0.0)
        elif method == "minmax":
            lo = np.nanmin(S, axis=1, keepdims=True)
            span = np.nanmax(S, axis=1, keepdims=True) - lo
            Z = np.where(span > 0, (S - lo) / np.where(span > 0, span, 1.0), 0.0)
        else:  # rank
            filled = np.where(mask, S, -np.inf)
            order = np.argsort(filled, axis=1, kind="stable")
            ranks = np.empty_like(order)
            np.put_along_axis(ranks, order, np.arange(S.shape[1])[None, :], axis=1)
            n_masked = (~mask).sum(axis=1, keepdims=True)
            n_valid = np.maximum(mask.sum(axis=1, keepdims=True), 1)
            Z = (ranks - n_masked) / n_valid
    return np.where(mask, np.nan_to_num(Z), 0.0)


class HybridRecommender(BaseRecommender):
    """Weighted blend of recommenders' per-user normalised scores.

    In the style of :class:`~sklearn.ensemble.VotingClassifier`: every
    member is fitted on the same ``X``; for each row, each member's scores
    are normalised over the items it can score, then averaged with the
    ``weights``. Members and their parameters are tunable in
    :class:`~sklearn.model_selection.GridSearchCV` as ``weights`` and
    ``<name>__<param>``.

    Cold start:

    - **cold items** (no plays in ``fit``) are scored only by the members
      that declare they can score them (content models given
      ``item_features``); the other members contribute nothing for those
      items: the blend at an item is the weighted mean over the members
      that can score it (not a ``-inf`` or zero vote);
    - **short histories**: with ``short_history_weights``, a row with
      ``n`` interactions uses ``(n * weights + s * short_history_weights) /
      (n + s)``, ``s = history_shrinkage``, so a listener with one or two
      plays leans on content and popularity members and a long history on
      the collaborative ones.

    Parameters
    ----------
    estimators : list of (str, estimator) tuples
        The member recommenders, by unique name.
    weights : array-like of shape (n_estimators,), default=None
        Non-negative weight of each member; ``None`` weighs them equally.
    short_history_weights : array-like of shape (n_estimators,), default=None
        Member weights for a row with no history, blended into ``weights``
        as the history grows (see above); ``None`` uses ``weights`` for
        every row.
    history_shrinkage : float, default=5.0
        Number of interactions at which a row's weights are halfway between
        ``short_history_weights`` and ``weights``.
    normalization : {"zscore", "minmax", "rank"}, default="zscore"
        Per-user normalisation of each member's scores.

    Attributes
    ----------
    estimators_ : list of estimators
        The fitted members, in the order of ``estimators``.
    named_estimators_ : :class:`~sklearn.utils.Bunch`
        The fitted members by name.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of users with a non-zero entry for each item in ``fit``.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    TagRecommender : A content member that scores cold items.
    FeatureFactorizer : A factorisation that scores cold items from features.

    Examples
    --------
    >>> from sklearn_musicrec import ItemKNNRecommender, PopularityRecommender
    >>> from sklearn_musicrec.content import HybridRecommender, TagRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> data = make_interactions(n_users=60, n_items=40, random_state=0)
    >>> hybrid = HybridRecommender(
    ...     [("tags", TagRecommender(item_features=data.item_tags)),
    ...      ("knn", ItemKNNRecommender()), ("pop", PopularityRecommender())],
    ...     weights=[1, 2, 0.5], short_history_weights=[1, 0, 1])
    >>> ids, _ = hybrid.fit(data.data).recommend(data.data[:2], k=3)
    >>> ids.shape
    (2, 3)
    """

    _parameter_constraints = {
        "estimators": [list],
        "weights": ["array-like", None],
        "short_history_weights": ["array-like", None],
        "history_shrinkage": [Interval(Real, 0, None, closed="left")],
        "normalization": [StrOptions({"zscore", "minmax", "rank"})],
    }

    def __init__(
        self,
        estimators,
        *,
        weights=None,
        short_history_weights=None,
        history_shrinkage=5.0,
        normalization="zscore",
    ):
        self.estimators = estimators
        self.weights = weights
        self.short_history_weights = short_history_weights
        self.history_shrinkage = history_shrinkage
        self.normalization = normalization

    # -- nested parameters, as sklearn's _BaseComposition ----------------
    def get_params(self, deep=True):
        """Get the blend's parameters and, with ``deep``, every member's as ``name__param``.

        Parameters
        ----------
        deep : bool, default=True
            Include the members and their parameters.

        Returns
        -------
        params : dict
            Parameter names mapped to their values.
        """
        out = super().get_params(deep=False)
        if not deep:
            return out
        estimators = getattr(self, "estimators", None)
        if not isinstance(estimators, list):
            return out
        for item in estimators:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)):
                return out
        for name, est in estimators:
            out[name] = est
            if hasattr(est, "get_params"):
                for key, value in est.get_params(deep=True).items():
                    out[f"{name}__{key}"] = value
        return out

    def set_params(self, **params):
        """Set the blend's parameters, replace members by name, or set ``name__param``.

        Parameters
        ----------
        **params : dict
            Parameters of the blend, ``estimators``, a member by its name, or
            ``name__param`` for a member's parameter.

        Returns
        -------
        self : object
            This estimator.
        """
        if "estimators" in params:
            self.estimators = params.pop("estimators")
        try:
            names = [name for name, _ in self.estimators]
        except (TypeError, ValueError):
            names = []
        for key in list(params):
            if key in names:
                value = params.pop(key)
                self.estimators = [
                    (name, value if name == key else est) for name, est in self.estimators
                ]
        return super().set_params(**params)

    def _members(self):
        estimators = self.estimators
        if not estimators or not all(
            isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) for e in estimators
        ):
            raise ValueError(
                "estimators of HybridRecommender must be a non-empty list of "
                f"(name, estimator) tuples, got {estimators!r}."
            )
        names = [name for name, _ in estimators]
        if len(set(names)) != len(names):
            raise ValueError(f"estimators of HybridRecommender need unique names, got {names}.")
        for name, est in estimators:
            if "__" in name:
                raise ValueError(f"Estimator names must not contain '__', got {name!r}.")
            if not hasattr(est, "recommend") or not hasattr(est, "decision_function"):
                raise TypeError(
                    f"estimator {name!r} of HybridRecommender must be a recommender with "
                    f"decision_function and recommend, got {type(est).__name__}."
                )
        return names

    def _weights(self, value, name, n):
        if value is None:
            return np.ones(n)
        w = np.asarray(value, dtype=np.float64)
        if w.shape != (n,) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise ValueError(
                f"{name} of HybridRecommender must be {n} non-negative finite numbers "
                f"(one per estimator), not all 0, got {value!r}."
            )
        return w

    def _can_score_cold_items(self):
        return any(supports_cold_items(est) for _, est in self.estimators)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Fit every member on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        names = self._members()
        n = len(names)
        self._weights(self.weights, "weights", n)
        self._weights(self.short_history_weights, "short_history_weights", n)
        X = self._validate_fit_data(X)
        self.estimators_ = [clone(est).fit(X) for _, est in self.estimators]
        self.named_estimators_ = Bunch(**dict(zip(names, self.estimators_)))
        return self

    def _decision_function(self, X):
        n = len(self.estimators_)
        weights = self._weights(self.weights, "weights", n)
        if self.short_history_weights is not None:
            short = self._weights(self.short_history_weights, "short_history_weights", n)
            length = binary_interactions(X).getnnz(axis=1).astype(np.float64)
            s = float(self.history_shrinkage)
            share = np.divide(length, length + s, out=np.ones_like(length), where=length + s > 0)
            row_weights = share[:, None] * weights + (1 - share[:, None]) * short
        else:
            row_weights = np.broadcast_to(weights, (X.shape[0], n))
        warm = self.item_counts_ > 0
        num = np.zeros(X.shape, dtype=np.float64)
        den = np.zeros(X.shape, dtype=np.float64)
        for m, est in enumerate(self.estimators_):
            S = np.asarray(est.decision_function(X), dtype=np.float64)
            mask = np.isfinite(S)
            if not supports_cold_items(est):
                mask &= warm
            Z = normalize_scores(S, mask, self.normalization)
            w = row_weights[:, m : m + 1]
            num += w * Z
            den += w * mask
        with np.errstate(invalid="ignore", divide="ignore"):
            blend = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
        # items no member can score come last, below every scored item
        if np.isnan(blend).any():
            floor = np.nanmin(np.where(np.isnan(blend), np.inf, blend), axis=1, keepdims=True)
            floor = np.where(np.isfinite(floor), floor, 0.0) - 1.0
            blend = np.where(np.isnan(blend), floor, blend)
        return blend
