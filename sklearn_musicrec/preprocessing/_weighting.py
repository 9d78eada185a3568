"""Interaction-weighting transformers: BM25, TF-IDF and log scaling.

Raw play counts are heavy-tailed: a handful of artists played thousands of
times dominate dot products, so neighbourhood and factor models work better
on re-weighted interactions. These transformers re-weight a user x item
matrix entry by entry, keep its sparsity pattern (zeros stay zero), and learn
any item statistics on the training users in ``fit``, so they can sit in a
:class:`~sklearn.pipeline.Pipeline` before any recommender and apply
unchanged to new users.

To binarise play counts use scikit-learn's own
:class:`sklearn.preprocessing.Binarizer`: it accepts sparse input and keeps
it sparse (``Binarizer(threshold=0)`` maps every play count to 1), so it
needs no re-implementation here.
"""

from typing import Self

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin

from ..utils._sklearn_compat import Interval, Real, StrOptions, _fit_context, validate_data
from ..utils._sparse import row_ids
from ..utils._typing import MatrixLike
from ..utils.validation import check_csr_fast, check_fitted

__all__ = ["BM25Weighting", "TfidfWeighting", "LogScaling"]

# what the transformers accept: dense array-likes and scipy sparse matrices/arrays


class _BaseWeighting(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Validation and output format shared by the weighting transformers.

    Subclasses implement ``_fit(X)`` (learn statistics from validated CSC or
    CSR ``X``) and ``_weight(X)``, which returns a new CSR matrix with the
    same pattern as validated CSR ``X``.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _validate(self, X, reset):
        if not reset:
            # a plain CSR batch (a recommender's fold-in rows): cheap checks
            X_fast = check_csr_fast(self, X, method="transform")
            if X_fast is not None:
                return X_fast
        return validate_data(
            self,
            X,
            reset=reset,
            accept_sparse="csr",
            dtype=(np.float64, np.float32),
            ensure_non_negative=True,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Learn the weighting from training interactions.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Non-negative training interactions (play counts).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        X = self._validate(X, reset=True)
        self._fit(sp.csr_matrix(X))
        return self

    def transform(self, X: MatrixLike) -> np.ndarray | sp.csr_matrix:
        """Re-weight the interactions of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Non-negative interactions, one row per user (seen in ``fit`` or
            not). Not modified.

        Returns
        -------
        X_weighted : {ndarray, sparse matrix} of shape (n_users, n_items)
            Same format as ``X`` (CSR for sparse input), same dtype, zeros
            kept at zero.
        """
        check_fitted(self)
        Xv = self._validate(X, reset=False)
        if not sp.issparse(Xv):
            return self._weight(sp.csr_matrix(Xv)).toarray()
        return self._transform_validated(Xv)

    def _transform_validated(self, Xv):
        """:meth:`transform` of a CSR matrix its caller has validated already.

        The package's recommenders validate every input once
        (:func:`~sklearn_musicrec.utils.validation.check_interactions`, the
        same checks as ``transform``'s) and then apply their fitted
        weighting through this (``utils._weighting.apply_weighting``), so
        that a one-user request is not validated twice.
        """
        # a new matrix object over Xv's index arrays: ``_weight`` replaces its
        # ``data`` with a new array and never writes into the shared ones
        out = sp.csr_matrix((Xv.data, Xv.indices, Xv.indptr), shape=Xv.shape, copy=False)
        out.has_canonical_format = Xv.has_canonical_format
        return self._weight(out)


def _row_sums(X):
    """Sum of each row of CSR ``X``, accumulated in float64."""
    return np.bincount(row_ids(X.indptr), weights=X.data, minlength=X.shape[0]).astype(np.float64)


def _document_frequency(X):
    """Number of rows with a non-zero entry, per column."""
    return np.bincount(X.indices[X.data != 0], minlength=X.shape[1])


class BM25Weighting(_BaseWeighting):
    """Okapi BM25 weighting of user x item interactions.

    Each user is a document and each item a term: play count ``x`` of item
    ``i`` by user ``u`` becomes

    ``idf(i) * x * (k1 + 1) / (x + k1 * (1 - b + b * length(u) / avg_length))``

    where ``length(u)`` is the sum of the user's row, ``avg_length`` the
    mean row sum of the training users and
    ``idf(i) = log(1 + (n_users - n_i + 0.5) / (n_i + 0.5))`` with ``n_i`` the
    number of training users of item ``i``. Repeated plays saturate
    (``k1`` sets how fast), heavy listeners are normalised (``b``) and
    popular items weigh less (``idf``).

    Parameters
    ----------
    k1 : float, default=1.2
        Saturation of play counts (>= 0): 0 binarises, large values keep
        counts nearly linear.
    b : float, default=0.75
        Strength of the normalisation by the user's total plays, in [0, 1].

    Attributes
    ----------
    idf_ : ndarray of shape (n_items,)
        Inverse document frequency of each item (training users).
    avg_length_ : float
        Mean row sum of the training users.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    TfidfWeighting : TF-IDF weighting.
    LogScaling : Log-scaled confidence weights.
    sklearn.preprocessing.Binarizer : Binarise play counts (sparse in, sparse out).

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.neighbors import ItemKNNRecommender
    >>> from sklearn_musicrec.preprocessing import BM25Weighting
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> Xw = BM25Weighting().fit_transform(X)
    >>> Xw.nnz == X.nnz
    True
    >>> # weighting=None: the pipeline's step replaces the model's own weighting
    >>> model = make_pipeline(BM25Weighting(), ItemKNNRecommender(weighting=None)).fit(X)
    """

    _parameter_constraints = {
        "k1": [Interval(Real, 0, None, closed="left")],
        "b": [Interval(Real, 0, 1, closed="both")],
    }

    def __init__(self, *, k1=1.2, b=0.75):
        self.k1 = k1
        self.b = b

    def _fit(self, X):
        n_users = X.shape[0]
        df = _document_frequency(X)
        self.idf_ = np.log1p((n_users - df + 0.5) / (df + 0.5))
        mean_length = float(_row_sums(X).mean())
        self.avg_length_ = mean_length if mean_length > 0 else 1.0

    def _weight(self, X):
        from ._weighting_numba import bm25_values

        w = np.empty(X.data.shape[0], dtype=np.float64)
        bm25_values(
            X.indptr,
            X.indices,
            X.data,
            np.asarray(self.idf_, dtype=np.float64),
            float(self.k1),
            float(self.b),
            float(self.avg_length_),
            w,
        )
        X.data = w.astype(X.dtype, copy=False)
        return X


class TfidfWeighting(_BaseWeighting):
    """TF-IDF weighting of user x item interactions.

    Each user is a document and each item a term. The weight of play count
    ``x`` is ``tf(x) * idf(i)`` with ``idf(i) = log((1 + n_users) / (1 + n_i)) + 1``
    (``n_i`` the number of training users of item ``i``), optionally followed
    by a normalisation of every row.

    Unlike :class:`sklearn.feature_extraction.text.TfidfTransformer`, the
    term frequency is damped with ``log(1 + x)`` by default (play counts
    range over several orders of magnitude and may be fractional) and rows
    are not normalised by default.

    Parameters
    ----------
    tf : {"log", "raw", "binary"}, default="log"
        Term frequency: ``log(1 + x)``, ``x`` itself, or 1 for any non-zero
        entry.
    norm : {"l1", "l2"} or None, default=None
        Normalise each row to unit L1 or L2 norm after weighting.

    Attributes
    ----------
    idf_ : ndarray of shape (n_items,)
        Inverse document frequency of each item (training users).
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    BM25Weighting : BM25 weighting (saturating term frequency).
    sklearn.preprocessing.Binarizer : Binarise play counts (sparse in, sparse out).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.preprocessing import TfidfWeighting
    >>> X = np.array([[3.0, 0.0], [1.0, 7.0]])
    >>> TfidfWeighting(tf="binary").fit_transform(X)
    array([[1.        , 0.        ],
           [1.        , 1.40546511]])
    """

    _parameter_constraints = {
        "tf": [StrOptions({"log", "raw", "binary"})],
        "norm": [StrOptions({"l1", "l2"}), None],
    }

    def __init__(self, *, tf="log", norm=None):
        self.tf = tf
        self.norm = norm

    def _fit(self, X):
        df = _document_frequency(X)
        self.idf_ = np.log((1.0 + X.shape[0]) / (1.0 + df)) + 1.0

    def _weight(self, X):
        x = X.data.astype(np.float64)
        if self.tf == "log":
            x = np.log1p(x)
        elif self.tf == "binary":
            x = (x != 0).astype(np.float64)
        x *= self.idf_[X.indices]
        if self.norm is not None:
            row_of = row_ids(X.indptr)
            mag = np.abs(x) if self.norm == "l1" else x * x
            totals = np.bincount(row_of, weights=mag, minlength=X.shape[0])
            if self.norm == "l2":
                totals = np.sqrt(totals)
            totals[totals == 0] = 1.0
            x /= totals[row_of]
        X.data = x.astype(X.dtype)
        return X


class LogScaling(_BaseWeighting):
    """Log-scaled confidence weights: ``1 + confidence_scale * log(1 + x / epsilon)``.

    The confidence weighting of Hu, Koren and Volinsky (ICDM 2008) applied
    to the non-zero entries of a play-count matrix; zeros stay zero. It
    compresses heavy-tailed counts while keeping every interaction at a
    weight of at least 1. Nothing is learned: ``fit`` only records the
    number of items.

    Parameters
    ----------
    confidence_scale : float, default=1.0
        Scale ``a`` of the log term (>= 0); 0 binarises.
    epsilon : float, default=1.0
        Count scale ``epsilon`` (> 0) inside the log.

    Attributes
    ----------
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    BM25Weighting : BM25 weighting.
    sklearn.preprocessing.Binarizer : Binarise play counts (sparse in, sparse out).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec.preprocessing import LogScaling
    >>> LogScaling(confidence_scale=2.0).fit_transform(np.array([[0.0, 1.0, 99.0]]))
    array([[ 0.        ,  2.38629436, 10.21034037]])
    """

    _parameter_constraints = {
        "confidence_scale": [Interval(Real, 0, None, closed="left")],
        "epsilon": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, confidence_scale=1.0, epsilon=1.0):
        self.confidence_scale = confidence_scale
        self.epsilon = epsilon

    def _fit(self, X):
        # stateless: validate_data has recorded n_features_in_
        return None

    def _weight(self, X):
        x = X.data.astype(np.float64)
        w = 1.0 + self.confidence_scale * np.log1p(x / self.epsilon)
        X.data = np.where(x != 0, w, 0.0).astype(X.dtype)
        return X
