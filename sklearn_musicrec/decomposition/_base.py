"""Shared machinery of the matrix-factorisation recommenders."""

import numpy as np
from sklearn.base import ClassNamePrefixFeaturesOutMixin, TransformerMixin

from ..base import BaseRecommender
from ..utils._cache import fitted_cache, keeps_full_copy
from ..utils._parallel import numba_threads, threads_for
from ..utils._quantize import QuantizeMixin, as_dense, matmul_t, take_rows
from ..utils._ratings import RatingPredictorMixin
from ..utils._sparse import (
    clean_csr_arrays,
    clean_csr_copy,
    nonzero_pattern,
    restrict_to_touched_items,
)
from ..utils._topk import (
    norm_ordered_items,
    row_batches,
    topk_dense_compiled,
    topk_norm_pruned,
    topk_per_row,
)
from ..utils._typing import ArrayLike, IdsAndScores, MatrixLike
from ..utils.validation import check_item_ids, check_k

__all__ = []

# Largest block of float32 scores ``recommend`` forms at once (a smaller
# ``working_memory`` bounds it further): big enough for efficient products,
# small enough to stay near the caches.
_SCORE_BLOCK_BYTES = 1 << 26


def as_float32_csr(X):
    """A float32 CSR copy of ``X`` without explicit zeros, indices sorted."""
    return clean_csr_copy(X, np.float32)


def ill_posed_error(whom, n_failed, side, regularization):
    """The error of a least-squares half-step or fold-in with singular systems."""
    return ValueError(
        f"{whom}: the least-squares systems of {n_failed} {side} are not "
        f"positive definite (regularization={regularization!r}); the problem is "
        "ill-posed. Use a positive regularization or fewer n_components."
    )


# factor entries gathered per block of pairs by predict_ratings: 2 MiB of
# float32 per gathered matrix stays in cache (a block of 2**18 pairs of 150
# factors, 150 MiB, was 5x slower on ML-100K)
_PAIR_BLOCK_ENTRIES = 1 << 19


def _pair_scores(U, user_term, V, item_term, rows, cols):
    """``U[r] . V[c] + user_term[r] + item_term[c]`` for every pair, in blocks."""
    out = np.empty(rows.size, dtype=np.float32)
    block = max(256, _PAIR_BLOCK_ENTRIES // max(1, U.shape[1]))
    for start in range(0, rows.size, block):
        r = rows[start : start + block]
        c = cols[start : start + block]
        dots = np.einsum("ij,ij->i", U[r], take_rows(V, c))
        if user_term is not None:
            dots += user_term[r]
        if item_term is not None:
            dots += item_term[c]
        out[start : start + r.size] = dots
    return out


class _BaseFactorizer(
    QuantizeMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    RatingPredictorMixin,
    BaseRecommender,
):
    """Fold-in, scoring, ``transform`` and ``similar_items`` for factor models.

    After :meth:`quantize` the factor matrices are
    :class:`~sklearn_musicrec.utils._quantize.QuantizedArray` objects:
    every use of them goes through ``matmul_t``, ``take_rows`` and
    ``as_dense`` of ``utils/_quantize.py``.

    Subclasses set ``item_factors_`` (and, for rating models,
    ``global_mean_``, ``item_bias_``) in ``fit`` and implement
    ``_fold_in(X) -> (user_factors, user_bias or None)`` for a validated CSR
    batch, and ``_regularization()`` (the factors' L2 penalty). Rating
    models also implement ``_predicts_ratings()`` and
    ``_rating_setting_hint()`` (see ``RatingPredictorMixin`` in
    ``utils/_ratings.py``); they get ``predict_ratings``.
    """

    def _ridge_fold_in(self, X, reg, exponent, reg_bias):
        """Biased ridge fold-in of the rows of ``X`` (explicit ALS, squared SGD).

        Each row's bias and factors minimise its regularised squared error on
        its stored ratings with the item parameters fixed (the explicit ALS
        half-step). Returns ``(user_factors, user_bias + global_mean_)``.
        """
        from ._als_cpu import CPUBackend

        R = as_float32_csr(X)
        V = self.item_factors_
        U = np.zeros((R.shape[0], V.shape[1]), dtype=np.float32)
        bias = np.zeros(R.shape[0], dtype=np.float32)
        backend = CPUBackend(threads_for(self.n_jobs, R.shape[0]))
        offsets = backend.offsets(self.global_mean_, self.item_bias_)
        # the kernel reads the rows' items only: gather them (a few users)
        R, items = restrict_to_touched_items(R, V.shape[0])
        if items is None:
            V = as_dense(V)
        else:
            V, offsets = np.ascontiguousarray(take_rows(V, items)), offsets[items]
        with backend.threads():
            failed = backend.explicit_step(
                R,
                V,
                offsets,
                reg,
                U,
                bias,
                exponent,
                reg_bias,
            )
        if failed:
            raise ill_posed_error(type(self).__name__, failed, "rows of X", reg)
        return U, bias + np.float32(self.global_mean_)

    def _implicit_fold_in(self, X, reg, scale):
        """Exact implicit-feedback least-squares fold-in of the rows of ``X``.

        The eigensystem of ``V^T V + reg * I`` and the item factors rotated
        into it depend on the item factors only: they are computed once per
        fitted ``item_factors_`` and kept beside the model (``utils._cache``;
        the rotated copy only for factors of at most 64 MiB, not for
        quantised ones), so folding in one user costs the user's own
        ``n_u x k`` work, not the catalogue's, and a row gets the same
        factors alone or in any batch.
        """
        from ._als_cpu import CPUBackend

        # the kernel only reads the rows: no copy of an already clean matrix
        R = clean_csr_arrays(X, np.float32)
        V = self.item_factors_
        U = np.zeros((R.shape[0], V.shape[1]), dtype=np.float32)
        backend = CPUBackend(threads_for(self.n_jobs, R.shape[0]))
        eig = fitted_cache(
            self, ("implicit_eig", float(reg)), V, lambda: backend.fold_in_eigensystem(V, reg)
        )
        with backend.threads():
            failed = backend.implicit_exact_eig_step(R, V, U, scale, eig)
        if failed:
            raise ill_posed_error(type(self).__name__, failed, "rows of X", reg)
        return U

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
        scores = matmul_t(U, self.item_factors_)
        item_term = self._item_term()
        if item_term is not None:
            scores += item_term
        if user_bias is not None:
            scores += user_bias[:, None]
        return scores

    def _recommend_unrestricted(self, X, k, exclude_seen):
        # All rows are folded in at once and scored in batches by a matrix
        # product; each batch's top k is selected by the compiled kernel of
        # utils._topk (its rule: ties go to the lower item id), without the
        # mixin's masks.
        n_users, n_items = X.shape
        seen_indptr, seen_indices = nonzero_pattern(X)
        # (no contiguous copy of the transposed factors: BLAS reads the view
        # as it is, and a copy of the catalogue per call cost more than one
        # user's whole list; quantised factors are dequantised block by block)
        V = self.item_factors_
        item_term = self._item_term()
        with numba_threads(self.n_jobs, blas="same", n_rows=n_users):
            # (inside the context: the fold-in's own thread setting, the same
            # for a few rows, then costs nothing)
            U, user_bias = self._fold_in(X)
            index = self._norm_index(n_users) if item_term is None and user_bias is None else None
            if index is not None and np.isfinite(U).all():
                # one user (the serving case): an exact scan of the items by
                # decreasing norm, which reads a fraction of the factors
                return topk_norm_pruned(U, index, seen_indptr, seen_indices, exclude_seen, k)
            ids = np.empty((n_users, k), dtype=np.int64)
            scores = np.empty((n_users, k), dtype=np.float32)
            batches = row_batches(n_users, 4 * max(1, n_items), max_bytes=_SCORE_BLOCK_BYTES)
            buffer = np.empty((batches[0].stop if batches else 0, n_items), dtype=np.float32)
            for batch in batches:
                start, stop = batch.start, batch.stop
                S = matmul_t(U[batch], V, out=buffer[: stop - start])
                if item_term is not None:
                    S += item_term
                if user_bias is not None:
                    S += user_bias[batch, None]
                topk_dense_compiled(
                    S,
                    seen_indptr[start : stop + 1] - seen_indptr[start],
                    seen_indices[seen_indptr[start] : seen_indptr[stop]],
                    exclude_seen,
                    k,
                    ids[batch],
                    scores[batch],
                )
        return ids, scores

    def _norm_index(self, n_rows):
        """The item factors by decreasing norm, for the list of one row.

        ``None`` (score every item) for more than one row (their scores come
        from one matrix product, whose last bit BLAS may round differently
        from a one-row product: a batch split into blocks of several rows
        gives the very same scores as one call), and for factors of which
        no copy is kept (``utils._cache.keeps_full_copy``: quantised, or
        over 64 MiB; the index is a second copy of them, kept beside the
        model).
        """
        V = self.item_factors_
        if n_rows != 1 or not keeps_full_copy(V) or V.dtype != np.float32:
            return None
        return fitted_cache(self, "norm_ordered_items", V, lambda: norm_ordered_items(V))

    def _predict_pairs(self, X, rows, cols):
        U, user_bias = self._fold_in(X)
        return _pair_scores(U, user_bias, self.item_factors_, self._item_term(), rows, cols)

    # -- compression (QuantizeMixin) ----------------------------------------
    _quantized_attributes = ("item_factors_", "user_factors_")

    def transform(self, X: MatrixLike) -> np.ndarray:
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

    def similar_items(self, item_ids: ArrayLike, k: int = 10) -> IdsAndScores:
        """Return the items whose factors have the highest cosine similarity.

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
        V = as_dense(self.item_factors_)  # (a temporary copy when quantised)
        norms = np.linalg.norm(V, axis=1)
        norms[norms == 0] = 1.0
        Vn = V / norms[:, None]
        out_ids = np.empty((ids.size, k), dtype=np.int64)
        out_sims = np.empty((ids.size, k), dtype=Vn.dtype)
        # a dense row of similarities (and its top-k work) per query in flight
        for batch in row_batches(ids.size, 3 * Vn.itemsize * max(1, V.shape[0])):
            sims = Vn[ids[batch]] @ Vn.T
            sims[np.arange(sims.shape[0]), ids[batch]] = -np.inf
            out_ids[batch], out_sims[batch] = topk_per_row(sims, k)
        return out_ids, out_sims
