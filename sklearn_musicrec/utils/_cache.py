"""Quantities derived from a fitted model's arrays, computed once and kept aside.

The serving path (one user's ``recommend`` after a new listen) must not
recompute item-side quantities on every call: the Gram matrix of the item
factors and its eigensystem for the ALS fold-in, the CSR form of a kNN
model's transposed similarity matrix. They are derived from fitted
attributes, so they are kept *beside* the estimator rather than on it: in a
:class:`weakref.WeakKeyDictionary` keyed by the estimator, each entry
remembering the array it was derived from. Then

- the estimator's ``__dict__`` is unchanged by ``predict``-like methods
  (scikit-learn's ``check_dict_unchanged``), pickles and clones carry no
  cache, and a cache dies with its estimator;
- a refit (or :meth:`quantize`) that replaces the source array invalidates
  the entry, because the entry is only used while its source *is* the
  estimator's current array (an identity test, never a value comparison).

An array modified in place keeps its identity: code that edits fitted
arrays in place must call :func:`clear_fitted_cache`.
"""

import threading
import weakref

import numpy as np

__all__ = ["fitted_cache", "clear_fitted_cache", "keeps_full_copy"]

# Largest fitted array of which a full-size derived copy (a rotation, a
# reordering) is kept beside the model: 64 MiB, e.g. a million items x 16
# float32 components. Larger or quantised arrays are read as they are.
FULL_COPY_MAX_BYTES = 1 << 26


def keeps_full_copy(array):
    """Whether a full-size derived copy of fitted ``array`` may be kept beside the model.

    True for a plain ndarray of at most ``FULL_COPY_MAX_BYTES``; false for
    larger arrays and for quantised ones (a compressed model stays
    compressed).
    """
    return type(array) is np.ndarray and array.nbytes <= FULL_COPY_MAX_BYTES


_caches = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def fitted_cache(estimator, key, source, build):
    """``build()``, computed once per ``source`` object and kept beside ``estimator``.

    Parameters
    ----------
    estimator : object
        The fitted estimator the quantity belongs to (weakly referenced).
    key : hashable
        Name of the quantity (with any parameter it depends on).
    source : object
        The fitted attribute it is derived from; the cached value is reused
        only while ``source`` is the very same object.
    build : callable
        Computes the value from scratch.

    Returns
    -------
    value : object

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_musicrec.utils._cache import fitted_cache
    >>> est = Ridge()
    >>> est.coef_ = np.arange(3.0)
    >>> fitted_cache(est, "norm", est.coef_, lambda: float(np.linalg.norm(est.coef_)))
    2.23606797749979
    >>> est.coef_ = np.ones(3)  # a new array: recomputed
    >>> fitted_cache(est, "norm", est.coef_, lambda: float(np.linalg.norm(est.coef_)))
    1.7320508075688772
    """
    entries = _caches.get(estimator)
    if entries is not None:
        hit = entries.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
    value = build()
    with _lock:
        entries = _caches.get(estimator)
        if entries is None:
            entries = _caches[estimator] = {}
        entries[key] = (source, value)
    return value


def clear_fitted_cache(estimator):
    """Forget every quantity cached for ``estimator``."""
    with _lock:
        _caches.pop(estimator, None)
