"""Content-based, feature-aware and hybrid recommenders for cold start.

:class:`TagRecommender` ranks items by the cosine between a TF-IDF tag
profile of the user's history and each item's tags; :class:`FeatureFactorizer`
learns item vectors from plays and from their features' embeddings (the
LightFM model); :class:`HybridRecommender` blends any recommenders' per-user
normalised scores. Item features are a constructor parameter covering every
item of ``X``; an item with features but no plays in ``fit`` (a column of
zeros, a cold item) is scored from its features.
"""

from ._factorizer import FeatureFactorizer
from ._hybrid import HybridRecommender
from ._tag import TagRecommender

__all__ = ["FeatureFactorizer", "HybridRecommender", "TagRecommender"]
