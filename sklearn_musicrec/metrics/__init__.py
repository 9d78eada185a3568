"""Metrics for recommendation lists and scorers for model selection.

Ranking metrics (``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``,
``map_at_k``, ``mrr_at_k``, ``hit_rate_at_k``, ``auc_score``) compare the id
matrix returned by ``recommend`` with held-out items. Beyond-accuracy metrics
(``catalog_coverage``, ``intra_list_diversity``, ``novelty``,
``average_popularity``, ``long_tail_share``, ``gini_index``,
``personalization``) describe the lists themselves; ``rmse`` and ``mae``
score explicit rating predictions. ``make_recommendation_scorer`` turns any
of them into a scorer for :class:`~sklearn.model_selection.GridSearchCV`;
``get_recommendation_scorer(["ndcg", "recall"], k=20, test_size=0.2)`` gives
a dict of scorers by name for ``scoring=`` (scikit-learn's own string names
cannot be extended by a package).
"""

from ._beyond import (
    average_popularity,
    catalog_coverage,
    gini_index,
    intra_list_diversity,
    long_tail_share,
    novelty,
    personalization,
)
from ._exposure import (
    exposure_share,
    long_tail_exposure,
    miscalibration,
    popularity_groups,
    provider_gini,
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
from ._scorer import get_metric_names, get_recommendation_scorer, make_recommendation_scorer

__all__ = [
    "exposure_share",
    "long_tail_exposure",
    "miscalibration",
    "popularity_groups",
    "provider_gini",
    "auc_score",
    "average_popularity",
    "catalog_coverage",
    "get_metric_names",
    "get_recommendation_scorer",
    "gini_index",
    "hit_rate_at_k",
    "intra_list_diversity",
    "long_tail_share",
    "mae",
    "make_recommendation_scorer",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "novelty",
    "personalization",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]
