"""Validation and weighting of item feature matrices (tags, genres).

Shared by the content-based recommenders and the re-rankers: item features
are a constructor parameter (``item_features``), validated in ``fit`` against
the number of items of ``X``, never in ``__init__`` (so ``clone`` and
``GridSearchCV`` handle them like any other parameter).
"""

import numpy as np
import scipy.sparse as sp

__all__ = [
    "binary_interactions",
    "calibration_kl",
    "category_distribution",
    "check_item_features",
    "supports_cold_items",
    "tfidf_item_features",
]


def check_item_features(item_features, n_items, whom, *, name="item_features"):
    """Validated CSR float64 copy of an ``(n_items, n_features)`` feature matrix.

    Parameters
    ----------
    item_features : {array-like, sparse matrix} of shape (n_items, n_features)
        Non-negative item features (tag counts, genre indicators).
    n_items : int
        Number of items (columns) of the interaction matrix.
    whom : str
        ``"ClassName.fit"``, for error messages.
    name : str, default="item_features"
        Name of the parameter, for error messages.

    Returns
    -------
    F : csr_matrix of float64 of shape (n_items, n_features)
        A new matrix (the caller's object is never modified).
    """
    if sp.issparse(item_features):
        F = sp.csr_matrix(item_features, dtype=np.float64, copy=True)
    else:
        arr = np.asarray(item_features)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{name} passed to {whom} must be a numeric (n_items, n_features) matrix, "
                f"got an array of dtype {arr.dtype}."
            )
        F = sp.csr_matrix(arr.astype(np.float64))
    if F.ndim != 2 or F.shape[0] != n_items:
        raise ValueError(
            f"{name} passed to {whom} must have one row per item of X, i.e. shape "
            f"({n_items}, n_features), got shape {F.shape}."
        )
    if F.shape[1] == 0:
        raise ValueError(f"{name} passed to {whom} has no columns (features).")
    if F.nnz and not np.all(np.isfinite(F.data)):
        raise ValueError(f"{name} passed to {whom} contains NaN or infinity.")
    if F.nnz and F.data.min() < 0:
        raise ValueError(
            f"{name} passed to {whom} must be non-negative (tag counts or indicators), "
            f"but its minimum is {F.data.min()!r}."
        )
    F.sum_duplicates()
    F.eliminate_zeros()
    return F


def tfidf_item_features(F, *, sublinear_tf=True):
    """TF-IDF weighting of an item x feature matrix, rows L2-normalised.

    ``tf = 1 + log(count)`` (``sublinear_tf``) or the raw count, and
    ``idf = 1 + log((1 + n_items) / (1 + df))``, the smoothed IDF of
    :class:`sklearn.feature_extraction.text.TfidfTransformer`: a feature
    shared by every item carries little information. Rows without features
    stay zero.

    Parameters
    ----------
    F : csr_matrix of shape (n_items, n_features)
        Validated, non-negative features (see :func:`check_item_features`).
    sublinear_tf : bool, default=True
        Replace counts by ``1 + log(count)``.

    Returns
    -------
    V : csr_matrix of float64 of shape (n_items, n_features)
    idf : ndarray of shape (n_features,)
    """
    V = sp.csr_matrix(F, dtype=np.float64, copy=True)
    if sublinear_tf:
        V.data = 1.0 + np.log(V.data)
    df = np.bincount(V.indices, minlength=V.shape[1])
    idf = 1.0 + np.log((1.0 + V.shape[0]) / (1.0 + df))
    V.data *= idf[V.indices]
    norms = np.sqrt(np.asarray(V.multiply(V).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    V.data /= np.repeat(norms, np.diff(V.indptr))
    return V, idf


def supports_cold_items(estimator):
    """Whether ``estimator`` declares that it scores items with no plays in ``fit``.

    An estimator declares it with a method ``_can_score_cold_items()`` that
    returns a bool for its current parameters (a content model can once it
    has ``item_features``). The shared harness runs its cold-item check on
    such estimators.

    Parameters
    ----------
    estimator : estimator instance

    Returns
    -------
    bool
    """
    method = getattr(estimator, "_can_score_cold_items", None)
    return bool(method()) if callable(method) else False


def category_distribution(F):
    """Rows of ``F`` scaled to sum to 1: ``p(g | i)``, the item's share of each category.

    Parameters
    ----------
    F : sparse matrix of shape (n_items, n_categories)
        Non-negative category weights (genre indicators, tag counts).

    Returns
    -------
    P : csr_matrix of float64 of shape (n_items, n_categories)
        Rows without categories stay zero.
    """
    P = sp.csr_matrix(F, dtype=np.float64, copy=True)
    sums = np.asarray(P.sum(axis=1)).ravel()
    sums[sums == 0] = 1.0
    P.data /= np.repeat(sums, np.diff(P.indptr))
    return P


def calibration_kl(p, q, alpha=0.01):
    """Steck's (2018) miscalibration ``KL(p || (1 - alpha) q + alpha p)`` along the last axis.

    ``p`` is the category distribution of a user's history and ``q`` that of
    the recommendation list; mixing a little of ``p`` into ``q`` keeps the
    divergence finite when the list misses a category. Terms with ``p = 0``
    are 0.

    Parameters
    ----------
    p, q : ndarray of shape (..., n_categories)
        Distributions (rows summing to 1, or all zero for "no history").
    alpha : float, default=0.01

    Returns
    -------
    kl : ndarray of shape (...)
    """
    q_tilde = (1.0 - alpha) * q + alpha * p
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * np.log(p / np.where(p > 0, q_tilde, 1.0)), 0.0)
    return terms.sum(axis=-1)


def binary_interactions(X):
    """A new canonical CSR float64 matrix with 1 at every non-zero entry of ``X``.

    Never touches ``X`` (scipy's comparisons may sort a matrix's indices in
    place, so ``X != 0`` is not safe on the caller's object).
    """
    B = sp.csr_matrix(X, dtype=np.float64, copy=True)
    B.sum_duplicates()
    B.eliminate_zeros()
    B.data[:] = 1.0
    return B
