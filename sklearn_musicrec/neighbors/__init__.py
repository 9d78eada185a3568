"""Neighbourhood recommenders: user-based and item-based kNN, and EASE.

:class:`UserKNNRecommender` recommends what similar listeners play,
:class:`ItemKNNRecommender` what is similar to what a user plays, and
:class:`EASERecommender` learns a dense item-item model in closed form.
All three fold in new users: a user is just a row of interactions.
"""

from ._ease import EASERecommender
from ._knn import ItemKNNRecommender, UserKNNRecommender

__all__ = ["EASERecommender", "ItemKNNRecommender", "UserKNNRecommender"]
