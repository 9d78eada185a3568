"""Splitters for user x item interaction matrices, and evaluation helpers."""

from ._evaluate import evaluate
from ._split import cold_item_split, holdout_split, leave_k_out_split, temporal_split

__all__ = [
    "cold_item_split",
    "evaluate",
    "holdout_split",
    "leave_k_out_split",
    "temporal_split",
]
