"""Re-rankers: meta-estimators that re-order a wrapped recommender's candidates.

Each wraps any recommender (``estimator=``), takes its ``n_candidates``
best unseen items per user and re-orders them greedily to trade accuracy
for a beyond-accuracy goal, with one strength parameter to tune in
:class:`~sklearn.model_selection.GridSearchCV`: intra-list diversity
(:class:`MMRReranker`), the long tail (:class:`XQuADReranker`,
:class:`PopularityPenaltyReranker`) or the calibration of genre proportions
(:class:`CalibratedReranker`).
"""

from ._rerankers import (
    CalibratedReranker,
    MMRReranker,
    PopularityPenaltyReranker,
    XQuADReranker,
)

__all__ = ["CalibratedReranker", "MMRReranker", "PopularityPenaltyReranker", "XQuADReranker"]
