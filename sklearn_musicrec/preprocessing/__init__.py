"""Transformers applied to interaction matrices before a recommender.

Weighting steps (``BM25Weighting``, ``TfidfWeighting``, ``LogScaling``) are
learned on training users and keep sparse input sparse, so they slot into a
:class:`~sklearn.pipeline.Pipeline` before any recommender. For 0/1
interactions use :class:`sklearn.preprocessing.Binarizer`, which already works
on sparse matrices. ``InteractionEncoder`` maps raw (user, item, value) records
to a user x item matrix and back.
"""

from ._encoding import InteractionEncoder
from ._weighting import BM25Weighting, LogScaling, TfidfWeighting

__all__ = ["BM25Weighting", "LogScaling", "TfidfWeighting", "InteractionEncoder"]
