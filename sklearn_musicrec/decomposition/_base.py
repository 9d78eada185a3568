"""Shared machinery of the matrix-factorisation recommenders."""

import numbers
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.metaestimators import available_if
from threadpoolctl import threadpool_limits

from ..base import BaseRecommender
from ..utils._parallel import resolve_n_jobs
from ..utils._topk import topk_per_row
from ..utils.validation import check_item_ids, check_k

__all__ = []


@contextmanager
def _cpu_threads(n_jobs, blas=False):
    """Run numba kernels on ``n_jobs`` threads, and BLAS on one (or ``n_jobs``).

    The kernels parallelise over rows themselves; one BLAS thread avoids
    oversubscription and keeps the BLAS products of training bitwise
    reproducible. ``blas=True`` gives BLAS the same threads (for scoring,
    where each output entry is one dot product whatever the split).
    """
    import numba

    n_threads = min(resolve_n_jobs(n_jobs), numba.config.NUMBA_NUM_THREADS)
    previous = numba.get_num_threads()
    previous_chunksize = numba.get_parallel_chunksize()
    numba.set_num_threads(n_threads)
    # hand blocks of rows to threads dynamically: rows differ widely in cost
    # (and the cores may be shared); the results do not depend on it
    numba.set_parallel_chunksize(1)
    try:
        with threadpool_limits(limits=n_threads if blas else 1, user_api="blas"):
            yield
    finally:
        numba.set_parallel_chunksize(previous_chunksize)
        numba.set_num_threads(previous)


def _resolve_device(device, whom):
    """Check that ``device`` can be used; return it."""
    if device == "cuda":
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is a test dependency
            raise ImportError(
                f"{whom}(device='cuda') needs PyTorch; install it with "
                "`pip install sklearn-musicrec[torch]`."
            ) from exc
        if not torch.cuda.is_available():
            raise ValueError(
                f"{whom}(device='cuda') was requested but PyTorch sees no CUDA "
                "device; use device='cpu'."
            )
    return device


# (user, item) pairs scored per block by predict_ratings: bounds the gathered
# factors to block * n_components floats
_PAIR_BLOCK = 1 << 18


def _check_rating_pairs(items, n_users, n_items, item_names):
    """Validate ``items`` of ``predict_ratings``.

    Returns ``(rows, cols, pattern)``: int64 row and column of every pair,
    and the canonical CSR matrix whose pattern the result takes (``None`` for
    one item per row).
    """
    if sp.issparse(items):
        if items.shape != (n_users, n_items):
            raise ValueError(
                "items, given as a sparse matrix of (user, item) pairs, must have "
                f"X's shape (n_users, n_items) = ({n_users}, {n_items}), got {items.shape}."
            )
        pattern = sp.csr_matrix(items, copy=True)
        pattern.sum_duplicates()  # canonical: sorted indices, no duplicates
        rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(pattern.indptr))
        return rows, pattern.indices.astype(np.int64), pattern
    arr = np.asarray(items)
    if arr.ndim != 1:
        raise ValueError(
            "items must be a 1-D array of item ids (one per row of X) or a sparse "
            "(n_users, n_items) matrix whose stored entries are the (user, item) "
            f"pairs to rate; got an array of shape {arr.shape} (for a dense mask, "
            "pass scipy.sparse.csr_matrix(mask))."
        )
    if arr.shape[0] != n_users:
        raise ValueError(
            "items, given as a 1-D array, must hold one item id per row of X "
            f"({n_users} rows), got {arr.shape[0]} ids."
        )
    cols = check_item_ids(arr, n_items, item_names=item_names, name="items")
    return np.arange(n_users, dtype=np.int64), cols, None


def _pair_scores(U, user_term, V, item_term, rows, cols):
    """``U[r] . V[c] + user_term[r] + item_term[c]`` for every pair, in blocks."""
    out = np.empty(rows.size, dtype=np.float32)
    for start in range(0, rows.size, _PAIR_BLOCK):
        r = rows[start : start + _PAIR_BLOCK]
        c = cols[start : start + _PAIR_BLOCK]
        block = np.einsum("ij,ij->i", U[r], V[c])
        if user_term is not None:
            block += user_term[r]
        if item_term is not None:
            block += item_term[c]
        out[start : start + r.size] = block
    return out


def _check_rating_model(estimator):
    """``available_if`` check of ``predict_ratings``: explicit-feedback models only."""
    if not estimator._predicts_ratings():
        raise AttributeError(
            f"This {type(estimator).__name__} was not configured for explicit "
            f"feedback ({estimator._rating_setting_hint()}), so its scores are "
            "not ratings and it has no predict_ratings; rank with recommend or "
            "decision_function instead."
        )
    return True


class _BaseFactorizer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseRecommender):
    """Fold-in, scoring, ``transform`` and ``similar_items`` for factor models.

    Subclasses set ``item_factors_`` (and, for rating models,
    ``global_mean_``, ``item_bias_``) in ``fit`` and implement
    ``_fold_in(X) -> (user_factors, user_bias or None)`` for a validated CSR
    batch, and ``_regularization()`` (the factors' L2 penalty). Rating
    models also implement ``_predicts_ratings()`` (whether the parameters
    ask for explicit feedback) and ``_rating_setting_hint()`` (the parameter
    setting that does, for error messages); they get ``predict_ratings``.
    """

    def _predicts_ratings(self):
        return False

    def _rating_setting_hint(self):
        return "it models implicit feedback only"

    def _validate_fit_data(self, X, dtype=(np.float64, np.float32)):
        """Validate ``X`` in ``fit``; rating models also record ``rating_range_``."""
        X = super()._validate_fit_data(X, dtype=dtype)
        if self._predicts_ratings():
            rated = X.data[X.data != 0]  # zeros mean "not rated"
            self.rating_range_ = (float(rated.min()), float(rated.max()))
        else:
            self.rating_range_ = None
        return X

    def _bias_regularization(self):
        """The biases' L2 penalty: ``bias_regularization``, or the factors' if None."""
        if self.bias_regularization is not None:
            return float(self.bias_regularization)
        return self._regularization()

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    @property
    def _n_features_out(self):
        return self.item_factors_.shape[1]

    def _item_term(self):
        """Per-item additive score term (``None`` when the model has none)."""
        return None

    def _decision_function(self, X):
        U, user_bias = self._fold_in(X)
        scores = U @ self.item_factors_.T
        item_term = self._item_term()
        if item_term is not None:
            scores += item_term
        if user_bias is not None:
            scores += user_bias[:, None]
        return scores

    def _recommend_unrestricted(self, X, k, exclude_seen):
        # All rows are folded in at once and scored in batches by a matrix
        # product; each batch's top k is selected by a compiled parallel
        # kernel (ties go to the lower item id), without the mixin's masks.
        from . import _als_cpu

        U, user_bias = self._fold_in(X)
        # copy=True: eliminate_zeros compacts indices in place, and X may
        # share its arrays with the caller's matrix
        seen = sp.csr_matrix((X.data != 0, X.indices, X.indptr), shape=X.shape, copy=True)
        seen.eliminate_zeros()
        n_users, n_items = X.shape
        V_T = np.ascontiguousarray(self.item_factors_.T)
        item_term = self._item_term()
        ids = np.empty((n_users, k), dtype=np.int64)
        scores = np.empty((n_users, k), dtype=np.float32)
        # 64 MiB of float32 scores per batch
        batch = max(1, min(n_users, (1 << 24) // max(1, n_items)))
        buffer = np.empty((batch, n_items), dtype=np.float32)
        with _cpu_threads(getattr(self, "n_jobs", None), blas=True):
            for start in range(0, n_users, batch):
                stop = min(n_users, start + batch)
                S = np.matmul(U[start:stop], V_T, out=buffer[: stop - start])
                if item_term is not None:
                    S += item_term
                if user_bias is not None:
                    S += user_bias[start:stop, None]
                _als_cpu.topk_rows(
                    S,
                    seen.indptr[start : stop + 1] - seen.indptr[start],
                    seen.indices[seen.indptr[start] : seen.indptr[stop]],
                    bool(exclude_seen),
                    k,
                    ids[start:stop],
                    scores[start:stop],
                )
        return ids, scores

    def transform(self, X):
        """Fold each row of ``X`` in and return its user factors.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Interaction histories, one row per user (seen in ``fit`` or not).

        Returns
        -------
        user_factors : ndarray of float32 of shape (n_users, n_components)
            The factors the model gives each row, with the item factors
            fixed.
        """
        X = self._validate_X(X, method="transform")
        return self._fold_in(X)[0]

    def similar_items(self, item_ids, k=10):
        """Items whose factors have the highest cosine similarity.

        Parameters
        ----------
        item_ids : int, str or array-like of shape (n_queries,)
            Query items: column indices of the training matrix, or item
            names when the model was fitted on a DataFrame with named
            columns (see :meth:`get_item_names`).
        k : int, default=10
            Number of neighbours per query; the query item itself is
            excluded.

        Returns
        -------
        ids : ndarray of int64 of shape (n_queries, k)
            Most similar items, best first, padded with ``-1``.
        scores : ndarray of shape (n_queries, k)
            Their cosine similarities, padded with ``-inf``.
        """
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)
        k = check_k(k)
        ids = check_item_ids(
            item_ids,
            self.item_factors_.shape[0],
            item_names=getattr(self, "feature_names_in_", None),
        )
        V = self.item_factors_
        norms = np.linalg.norm(V, axis=1)
        norms[norms == 0] = 1.0
        Vn = V / norms[:, None]
        sims = Vn[ids] @ Vn.T
        sims[np.arange(ids.size), ids] = -np.inf
        return topk_per_row(sims, k)

    @available_if(_check_rating_model)
    def predict_ratings(self, X, items, *, clip=True):
        """Predicted ratings of chosen (user, item) pairs.

        Only the requested pairs are computed, from the folded-in user
        factors and biases (``global_mean_ + b_u + c_i + u_u . v_i``), never
        the scores of the whole catalogue, so rating a held-out set costs
        time and memory proportional to its size. Available for explicit
        feedback models only (``ALSFactorizer(feedback="explicit")``,
        ``SGDFactorizer(loss="squared")``).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Rating histories, one row per user (seen in ``fit`` or not),
            folded in as in :meth:`transform`.
        items : array-like of int of shape (n_users,) or sparse matrix of \
                shape (n_users, n_items)
            The pairs to rate: one item id (or item name, for a model fitted
            on named columns) per row of ``X``, or a sparse matrix whose
            stored entries are the pairs (its values are ignored), such as a
            held-out test matrix.
        clip : bool or tuple of (float, float), default=True
            Clip the predictions to ``rating_range_``, the lowest and
            highest rating seen in ``fit`` (``True``), to a given
            ``(low, high)`` range, or not at all (``False``).

        Returns
        -------
        ratings : ndarray of float32 of shape (n_users,) or csr_matrix of \
                shape (n_users, n_items)
            One rating per row for 1-D ``items``; for a sparse ``items``, a
            CSR matrix with exactly its stored entries (sorted, duplicates
            merged), ready for :func:`~sklearn_musicrec.metrics.rmse`.

        Examples
        --------
        >>> import numpy as np
        >>> import scipy.sparse as sp
        >>> from sklearn_musicrec.decomposition import ALSFactorizer
        >>> rng = np.random.RandomState(0)
        >>> R = sp.random(50, 20, density=0.3, random_state=0, format="csr",
        ...               data_rvs=lambda n: rng.randint(1, 6, n).astype(float))
        >>> model = ALSFactorizer(feedback="explicit", n_components=4,
        ...                       random_state=0).fit(R)
        >>> model.rating_range_
        (1.0, 5.0)
        >>> r = model.predict_ratings(R[:3], [0, 1, 2])
        >>> r.shape, bool(((1 <= r) & (r <= 5)).all())
        ((3,), True)
        >>> model.predict_ratings(R, R).nnz == R.nnz
        True
        """
        X = self._validate_X(X, method="predict_ratings")
        n_users, n_items = X.shape
        rows, cols, pattern = _check_rating_pairs(
            items, n_users, n_items, getattr(self, "feature_names_in_", None)
        )
        low, high = self._clip_range(clip)
        # fold in only the rows that have a pair to rate
        needed = np.unique(rows)
        if needed.size < n_users:
            position = np.full(n_users, -1, dtype=np.int64)
            position[needed] = np.arange(needed.size)
            U, user_bias = self._fold_in(X[needed])
            rows = position[rows]
        else:
            U, user_bias = self._fold_in(X)
        values = _pair_scores(U, user_bias, self.item_factors_, self._item_term(), rows, cols)
        if low is not None:
            np.clip(values, low, high, out=values)
        if pattern is None:
            return values
        return sp.csr_matrix(
            (values, pattern.indices, pattern.indptr), shape=pattern.shape, copy=False
        )

    def _clip_range(self, clip):
        """``(low, high)`` of the ``clip`` argument, or ``(None, None)``."""
        if isinstance(clip, (bool, np.bool_)):
            return self.rating_range_ if clip else (None, None)
        try:
            low, high = clip
        except (TypeError, ValueError):
            low = high = None
        ok = all(
            isinstance(v, numbers.Real) and not isinstance(v, bool) and np.isfinite(v)
            for v in (low, high)
        )
        if not ok or low > high:
            raise ValueError(
                "clip must be True (clip to rating_range_, the range of the ratings "
                "seen in fit), False (no clipping) or a (low, high) pair of finite "
                f"numbers with low <= high; got {clip!r}."
            )
        return float(low), float(high)
