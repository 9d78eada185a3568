"""scikit-learn compatible recommender systems for music listening data.

Estimators learn from a user x item interaction matrix (rows are users,
columns are items) and recommend items with ``recommend(X, k)``. They compose
with :class:`~sklearn.pipeline.Pipeline`, :class:`~sklearn.model_selection.GridSearchCV`,
:func:`~sklearn.base.clone` and pickling.

Importing this package never imports torch: the neural models and the torch
backends import it when they are fitted.
"""

__version__ = "0.1.0.dev0"

from .base import BaseRecommender, RecommenderMixin
from .baselines import PopularityRecommender, RandomRecommender
from .content import FeatureFactorizer, HybridRecommender, TagRecommender
from .decomposition import ALSFactorizer, ApproximateRecommender, SGDFactorizer
from .neighbors import EASERecommender, ItemKNNRecommender, UserKNNRecommender
from .neural import DeepCFRecommender, MultVAERecommender
from .rerank import (
    CalibratedReranker,
    MMRReranker,
    PopularityPenaltyReranker,
    XQuADReranker,
)

__all__ = [
    "__version__",
    "BaseRecommender",
    "RecommenderMixin",
    "PopularityRecommender",
    "RandomRecommender",
    "ALSFactorizer",
    "SGDFactorizer",
    "ApproximateRecommender",
    "EASERecommender",
    "ItemKNNRecommender",
    "UserKNNRecommender",
    "TagRecommender",
    "FeatureFactorizer",
    "HybridRecommender",
    "MMRReranker",
    "XQuADReranker",
    "PopularityPenaltyReranker",
    "CalibratedReranker",
    "DeepCFRecommender",
    "MultVAERecommender",
]
