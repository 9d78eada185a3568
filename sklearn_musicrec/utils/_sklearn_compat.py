"""The one place that imports scikit-learn's private API.

Every other module imports these names from here, so a change in a future
scikit-learn release is mended in one file.
"""

from numbers import Integral, Real

from sklearn.base import _fit_context
from sklearn.utils._chunking import get_chunk_n_rows
from sklearn.utils._openmp_helpers import _openmp_effective_n_threads
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    StrOptions,
    validate_params,
)
from sklearn.utils.validation import validate_data

__all__ = [
    "HasMethods",
    "Hidden",
    "Integral",
    "Interval",
    "Real",
    "StrOptions",
    "_fit_context",
    "_openmp_effective_n_threads",
    "get_chunk_n_rows",
    "validate_data",
    "validate_params",
]
