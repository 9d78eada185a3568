"""Splitters for user x item interaction matrices, and evaluation helpers."""

from ._cold import cold_user_split, warm_cold_split
from ._evaluate import evaluate
from ._split import cold_item_split, holdout_split, leave_k_out_split, temporal_split

__all__ = [
    "cold_item_split",
    "cold_user_split",
    "evaluate",
    "holdout_split",
    "leave_k_out_split",
    "temporal_split",
    "warm_cold_split",
]
