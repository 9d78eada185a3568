"""Synthetic listening-data generators and real dataset loaders."""

from ._base import clear_data_home, get_data_home
from ._lastfm import fetch_lastfm_2k
from ._movielens import fetch_movielens
from ._synthetic import make_interactions

__all__ = [
    "clear_data_home",
    "fetch_lastfm_2k",
    "fetch_movielens",
    "get_data_home",
    "make_interactions",
]
