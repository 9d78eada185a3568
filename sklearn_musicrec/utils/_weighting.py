"""The input weighting a recommender applies to raw play counts.

Raw play counts are heavy-tailed (a few artists played thousands of times),
and most models are much better on binarised or weighted input. Models whose
default says so take a ``weighting`` parameter, resolved in ``fit`` into a
fitted transformer ``weighting_``; :class:`~sklearn_musicrec.base.RecommenderMixin`
applies that same transformer to every row passed after ``fit``
(``decision_function``, ``recommend``, ``transform``, ...), so users folded in
see exactly the weighting the training users saw. This module is the one
home of the mapping from names to transformers:

- ``"bm25"``: :class:`~sklearn_musicrec.preprocessing.BM25Weighting` with its
  defaults (``k1=1.2, b=0.75``);
- ``"binary"``: :class:`sklearn.preprocessing.Binarizer` with
  ``threshold=0`` (every play count becomes 1);
- ``"log"``: :class:`~sklearn_musicrec.preprocessing.LogScaling` with its
  defaults (``1 + log(1 + x)``);
- a transformer instance: cloned and fitted as given;
- ``None``: the input is used as given.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone

from ._sklearn_compat import HasMethods, StrOptions

__all__ = ["WEIGHTINGS", "weighting_constraints", "make_weighting", "apply_weighting"]

WEIGHTINGS = ("bm25", "binary", "log")


def weighting_constraints(*extra):
    """``_parameter_constraints`` entry of a ``weighting`` parameter.

    ``extra`` adds model-specific names (such as ``"auto"``).
    """
    return [StrOptions({*WEIGHTINGS, *extra}), HasMethods(["fit", "transform"]), None]


def make_weighting(weighting):
    """An unfitted transformer for ``weighting`` (a name, a transformer or None).

    Parameters
    ----------
    weighting : {"bm25", "binary", "log"}, transformer or None
        See the module docstring.

    Returns
    -------
    transformer : transformer or None
        A new, unfitted transformer (``None`` for ``None``).

    Examples
    --------
    >>> from sklearn_musicrec.utils._weighting import make_weighting
    >>> make_weighting("bm25")
    BM25Weighting()
    >>> make_weighting("binary")
    Binarizer()
    >>> make_weighting(None) is None
    True
    """
    if weighting is None:
        return None
    if isinstance(weighting, str):
        from sklearn.preprocessing import Binarizer

        from ..preprocessing import BM25Weighting, LogScaling

        factories = {
            "bm25": BM25Weighting,
            "binary": lambda: Binarizer(threshold=0.0),
            "log": LogScaling,
        }
        if weighting not in factories:
            raise ValueError(
                f"weighting must be one of {sorted(factories)}, a transformer or None, "
                f"got {weighting!r}."
            )
        return factories[weighting]()
    return clone(weighting)


def _is_plain_binarizer(transformer):
    from sklearn.preprocessing import Binarizer

    return type(transformer) is Binarizer


def _is_package_weighting(transformer):
    """Whether ``transformer`` is exactly one of the package's weightings (not a subclass)."""
    from ..preprocessing import BM25Weighting, LogScaling, TfidfWeighting

    return type(transformer) in (BM25Weighting, LogScaling, TfidfWeighting)


def apply_weighting(transformer, X, whom):
    """``transformer.transform(X)`` as CSR with ``X``'s dtype and non-zero pattern.

    Parameters
    ----------
    transformer : fitted transformer or None
        ``None`` returns ``X`` itself.
    X : csr_matrix of shape (n_users, n_items)
        Validated interactions; not modified.
    whom : str
        The estimator's name, for error messages.

    Returns
    -------
    X_weighted : csr_matrix of shape (n_users, n_items)

    Raises
    ------
    ValueError
        If the transformer changes which entries are non-zero: the rows'
        histories (the items excluded from recommendations) must stay the
        same.
    """
    if transformer is None:
        return X
    if _is_plain_binarizer(transformer) and sp.issparse(X) and transformer.threshold >= 0:
        # what Binarizer.transform computes, without re-validating the
        # validated X (its validation cost more than a one-user list)
        binary = X.data > transformer.threshold
        if binary.all():  # shares X's index arrays, never modified
            Xw = sp.csr_matrix((binary.astype(X.dtype), X.indices, X.indptr), shape=X.shape)
            Xw.has_canonical_format = X.has_canonical_format
        else:
            Xw = sp.csr_matrix(
                (binary.astype(X.dtype), X.indices.copy(), X.indptr.copy()), shape=X.shape
            )
            Xw.eliminate_zeros()
    elif _is_package_weighting(transformer) and sp.issparse(X) and X.format == "csr":
        # its transform without re-validating the validated X
        Xw = transformer._transform_validated(X)
    else:
        Xw = transformer.transform(X)
    if not (type(Xw) is sp.csr_matrix and Xw.dtype == X.dtype):
        Xw = sp.csr_matrix(Xw, dtype=X.dtype)
    if np.count_nonzero(Xw.data) != np.count_nonzero(X.data):
        raise ValueError(
            f"{whom}: the weighting {transformer!r} changed which entries of X are "
            f"non-zero ({np.count_nonzero(X.data)} non-zero entries in, "
            f"{np.count_nonzero(Xw.data)} out); a weighting must keep zeros at zero "
            "and non-zero entries non-zero."
        )
    return Xw
