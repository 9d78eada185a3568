"""EASE: the closed-form item-item model of Steck (WWW 2019)."""

import os
import time
from typing import Self

import numpy as np
import scipy.sparse as sp
from scipy.linalg import lapack
from sklearn.utils import gen_batches

from ..base import BaseRecommender
from ..utils._sklearn_compat import Interval, Real, _fit_context
from ..utils._topk import topk_per_row
from ..utils._typing import ArrayLike, IdsAndScores, MatrixLike
from ..utils._weighting import weighting_constraints
from ..utils.validation import check_item_ids, check_k

__all__ = ["EASERecommender"]

_DTYPE = np.float32
# rows of the Gram matrix computed (and symmetrised) per block
_GRAM_BLOCK = 1024
# up to this many items the solve runs in float64: it costs well under a second
# and makes the result independent of the BLAS thread count to float32
# precision; larger catalogues are solved in float32 (half the memory and time)
_FLOAT64_MAX_ITEMS = 4096


def _solve_dtype(n_items):
    return np.float64 if n_items <= _FLOAT64_MAX_ITEMS else np.float32


def _available_memory():
    """Bytes of memory available to a new allocation, or ``None`` if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _required_memory(n_items, n_active=None):
    """Bytes EASE needs: the dense solve on the ``n_active`` items with any
    interaction, plus the float32 ``n_items x n_items`` result when some items
    have none, plus slack."""
    n_active = n_items if n_active is None else n_active
    dense = n_active * n_active * np.dtype(_solve_dtype(n_active)).itemsize
    if n_active < n_items:
        dense += n_items * n_items * np.dtype(_DTYPE).itemsize
    return int(dense * 1.1) + 64 * 2**20


def _gram(R, regularization, dtype):
    """Dense ``R.T @ R + regularization * I`` in ``dtype``, built block by block."""
    n_items = R.shape[1]
    R = sp.csr_matrix(R, dtype=dtype)
    RT = R.T.tocsr()
    G = np.empty((n_items, n_items), dtype=dtype)
    for block in gen_batches(n_items, _GRAM_BLOCK):
        (RT[block] @ R).toarray(out=G[block])  # a row block of G is C-contiguous
    G[np.diag_indices(n_items)] += dtype(regularization)
    return G


def _symmetrize_from_upper(A):
    """Copy the upper triangle of square C-ordered ``A`` onto its lower one, in place."""
    n = A.shape[0]
    for block in gen_batches(n, _GRAM_BLOCK):
        # rows of the block, columns left of the block: A[block, :start] = A[:start, block].T
        A[block, : block.start] = A[: block.start, block].T
        rows = A[block, block]
        A[block, block] = np.triu(rows) + np.triu(rows, 1).T


class _Progress:
    """sklearn-style ``verbose`` progress of the EASE solve, printed to stdout."""

    def __init__(self, verbose, n_items, dtype):
        self.verbose = verbose
        self.start = self.tic = time.perf_counter()
        if verbose:
            print(
                f"[EASERecommender] solving for {n_items} x {n_items} item weights "
                f"in {np.dtype(dtype).name} (4 steps)",
                flush=True,
            )

    def step(self, number, what):
        if self.verbose:
            print(f"[EASERecommender] step {number}/4: {what} ...", end="", flush=True)
        self.tic = time.perf_counter()

    def done(self):
        if self.verbose:
            print(f" done in {time.perf_counter() - self.tic:.1f}s", flush=True)

    def finish(self):
        if self.verbose:
            print(
                f"[EASERecommender] fitted in {time.perf_counter() - self.start:.1f}s",
                flush=True,
            )


def ease_weights(R, regularization, verbose=0):
    """The EASE item-item weights ``B`` for interactions ``R``.

    ``P = (R^T R + regularization I)^-1`` is obtained from a Cholesky
    factorisation of the symmetric positive-definite Gram matrix (LAPACK
    ``potrf`` then ``potri``, in place; float32 above 4,096 items), then
    ``B = I - P diag(1 / diag(P))``, i.e. ``B_ij = -P_ij / P_jj`` with a zero
    diagonal. Only one dense ``n_items x n_items`` matrix is ever held.

    Parameters
    ----------
    R : csr_matrix of shape (n_users, n_items)
        Training interactions.
    regularization : float
        L2 strength ``lambda`` (> 0).
    verbose : int, default=0
        If positive, print each step of the solve and its time to stdout.

    Returns
    -------
    B : ndarray of shape (n_items, n_items), float32
    """
    dtype = _solve_dtype(R.shape[1])
    potrf, potri = (
        (lapack.dpotrf, lapack.dpotri) if dtype == np.float64 else (lapack.spotrf, lapack.spotri)
    )
    progress = _Progress(verbose, R.shape[1], dtype)
    progress.step(1, "Gram matrix X^T X + regularization I")
    G = _gram(R, regularization, dtype)
    progress.done()
    # G is symmetric, so its Fortran-ordered view G.T is the same matrix; the
    # "lower" triangle of that view is the upper triangle of G in C order.
    F = G.T
    progress.step(2, "Cholesky factorisation (LAPACK potrf, 1/3 of the solve's flops)")
    c, info = potrf(F, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise np.linalg.LinAlgError(
            "The regularised Gram matrix R^T R + regularization * I is not "
            f"numerically positive definite in float32 (LAPACK potrf info={info}); "
            f"increase regularization (got {regularization})."
        )
    progress.done()
    progress.step(3, "inverse from the factor (LAPACK potri, 2/3 of the solve's flops)")
    P, info = potri(c, lower=1, overwrite_c=1)
    if info != 0:
        raise np.linalg.LinAlgError(
            f"Inverting the Cholesky factor failed (LAPACK potri info={info}); "
            f"increase regularization (got {regularization})."
        )
    progress.done()
    progress.step(4, "weights B = I - P diag(1 / diag(P))")
    B = P.T  # C-ordered view holding P in its upper triangle
    if not np.shares_memory(B, G):  # LAPACK wrapper had to copy
        B = np.ascontiguousarray(B)
    _symmetrize_from_upper(B)
    diag = B.diagonal().copy()
    B /= -diag[None, :]
    B[np.diag_indices_from(B)] = 0.0
    B = B.astype(_DTYPE, copy=False)
    progress.done()
    progress.finish()
    return B


class EASERecommender(BaseRecommender):
    """Embarrassingly Shallow Autoencoder (EASE) item-item recommender.

    Learns a dense item-item weight matrix ``B`` with a zero diagonal by
    ridge regression of every item on all the others (Steck, WWW 2019):
    ``min_B ||X - X B||^2 + regularization ||B||^2`` s.t. ``diag(B) = 0``,
    which has the closed form ``B = I - P diag(1 / diag(P))`` with
    ``P = (X^T X + regularization I)^-1``. Items without any interaction
    in ``fit`` get zero weights and are left out of the solve. Scores are ``X @ B``, so any row
    (a user seen in ``fit`` or not) is recommended for without refitting.

    Parameters
    ----------
    regularization : float, default=200.0
        L2 strength ``lambda`` (> 0). Larger values suit denser data; tune it
        with a grid search (a few hundred is typical for binary data). Its
        scale is that of the weighted ``X^T X``: with ``weighting=None`` on
        raw play counts (entries in the thousands) it must be far larger.
    weighting : {"binary", "bm25", "log"}, transformer or None, \
            default="binary"
        How ``X`` is weighted before the solve, in ``fit`` and, with the
        statistics learned there, for every row passed later (see
        ``weighting_``). ``"binary"`` maps every play count to 1
        (:class:`sklearn.preprocessing.Binarizer`, as in Steck's paper);
        ``"bm25"`` applies :class:`~sklearn_musicrec.preprocessing.BM25Weighting`
        (``k1=1.2, b=0.75``), ``"log"`` maps ``x`` to ``1 + log(1 + x)``
        (:class:`~sklearn_musicrec.preprocessing.LogScaling`); a transformer
        is cloned and used as given; ``None`` uses ``X`` as given. Why
        binary: on raw lastfm-2k play counts (up to hundreds of thousands per
        entry) ``X^T X + 200 I`` is not numerically positive definite, so
        ``fit`` fails, and raising ``regularization`` until it succeeds gives
        popularity-level lists; binarised, the default reaches NDCG@20 0.276
        (per-user 80/20, ``benchmarks/bench_defaults.py``; popularity: 0.099).
    verbose : int, default=0
        If positive, ``fit`` prints each step of the solve (Gram matrix,
        Cholesky factorisation, inverse, weights) and its time to stdout, as
        scikit-learn estimators do; large catalogues take minutes.

    Attributes
    ----------
    weighting_ : transformer or None
        The fitted input weighting, applied to every ``X`` passed after
        ``fit``; ``None`` when the input is used as given.
    coef_ : ndarray of shape (n_items, n_items), float32
        The weights ``B``; ``coef_[j, i]`` is how much playing item ``j``
        raises the score of item ``i``. The diagonal is zero.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Number of training users with a non-zero entry for each item.
    n_features_in_ : int
        Number of items seen in ``fit``.

    See Also
    --------
    ItemKNNRecommender : Sparse, pruned item-item similarities.

    Notes
    -----
    ``P`` is obtained by a Cholesky factorisation of the symmetric
    positive-definite matrix ``X^T X + regularization I`` and the inverse of
    the factor (LAPACK ``potrf``/``potri``), in place, which takes about half
    the floating-point work of a general (LU) inverse and a single
    ``n_items ** 2`` buffer. Catalogues of more than 4,096 items are solved
    in float32 (half the memory and time of float64); smaller ones in float64,
    which costs well under a second. ``fit`` refuses with a ``MemoryError``
    stating the memory it would need when that buffer does not fit in the
    available memory. The LAPACK routines use the BLAS threads (see
    ``threadpoolctl``); in float32, different thread counts may change the
    last bits of ``coef_`` (rankings agree up to near-ties).

    References
    ----------
    H. Steck, "Embarrassingly Shallow Autoencoders for Sparse Data",
    WWW 2019.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.neighbors import EASERecommender
    >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
    >>> model = EASERecommender(regularization=10.0).fit(X)
    >>> model.coef_.shape
    (40, 40)
    >>> ids, scores = model.recommend(X[:2], k=3)
    >>> ids.shape
    (2, 3)
    """

    _parameter_constraints = {
        "regularization": [Interval(Real, 0, None, closed="neither")],
        "weighting": weighting_constraints(),
        "verbose": ["verbose"],
    }

    def __init__(self, *, regularization=200.0, weighting="binary", verbose=0):
        self.regularization = regularization
        self.weighting = weighting
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Solve for the item-item weights.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative play counts; weighted as
            ``weighting`` says).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.

        Raises
        ------
        MemoryError
            When the dense ``n_items x n_items`` matrix does not fit
            in the available memory.
        """
        X = self._fit_weighting(self._validate_fit_data(X), self.weighting)
        n_items = X.shape[1]
        # an item without interactions has B row and column exactly 0: solve
        # on the others only
        active = np.flatnonzero(self.item_counts_ > 0)
        need = _required_memory(n_items, active.size)
        available = _available_memory()
        if available is not None and need > available:
            raise MemoryError(
                f"EASERecommender needs a dense n_items x n_items matrix: "
                f"{n_items} items need about {need / 2**30:.2f} GiB, but only "
                f"{available / 2**30:.2f} GiB of memory is available. Reduce the "
                "catalogue (e.g. drop items with few users) or use "
                "ItemKNNRecommender, whose memory grows with n_items * n_neighbors."
            )
        if active.size == n_items:
            self.coef_ = ease_weights(X, float(self.regularization), self.verbose)
        else:
            B = ease_weights(sp.csr_matrix(X)[:, active], float(self.regularization), self.verbose)
            self.coef_ = np.zeros((n_items, n_items), dtype=_DTYPE)
            self.coef_[np.ix_(active, active)] = B
        return self

    def _decision_function(self, X):
        X = sp.csr_matrix(X, dtype=_DTYPE)
        return np.asarray(X @ self.coef_)

    def similar_items(self, item_ids: ArrayLike, k: int = 10) -> IdsAndScores:
        """The items each query item raises most in the model's scores.

        Similarity of item ``i`` to query ``j`` is the learned weight
        ``coef_[j, i]``: how much having ``j`` in a history raises the score
        of ``i`` (``coef_`` is not symmetric). Items with no interaction in
        ``fit`` have no learned weights and are never returned.

        Parameters
        ----------
        item_ids : int, str or array-like of shape (n_queries,)
            Query items: column indices of the training matrix, or item
            names when the model was fitted on a DataFrame with named
            columns (see :meth:`get_item_names`).
        k : int, default=10
            Number of items per query; the query item itself is excluded.

        Returns
        -------
        ids : ndarray of int64 of shape (n_queries, k)
            Items with the largest weights first, padded with ``-1``.
        scores : ndarray of float32 of shape (n_queries, k)
            Their weights ``coef_[query, id]``, padded with ``-inf``.

        Examples
        --------
        >>> from sklearn_musicrec.datasets import make_interactions
        >>> from sklearn_musicrec.neighbors import EASERecommender
        >>> X = make_interactions(n_users=60, n_items=40, random_state=0).data
        >>> model = EASERecommender(regularization=10.0).fit(X)
        >>> ids, scores = model.similar_items([0, 5], k=3)
        >>> ids.shape, bool((ids[0] != 0).all())
        ((2, 3), True)
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        k = check_k(k)
        ids = check_item_ids(
            item_ids, self.coef_.shape[0], item_names=getattr(self, "feature_names_in_", None)
        )
        weights = self.coef_[ids].copy()
        weights[:, self.item_counts_ == 0] = -np.inf
        weights[np.arange(ids.size), ids] = -np.inf
        return topk_per_row(weights, k)
