"""The shared shell of the re-rankers: a candidate pool from a wrapped recommender."""

from typing import Self

import numpy as np
from sklearn.base import clone
from sklearn.utils import gen_batches

from ..base import BaseRecommender
from ..utils._features import binary_interactions, supports_cold_items
from ..utils._parallel import numba_threads
from ..utils._sklearn_compat import HasMethods, Integral, Interval, _fit_context, get_chunk_n_rows
from ..utils._topk import topk_dense_compiled
from ..utils._typing import MatrixLike

__all__ = ["BaseReranker"]

_BATCH = 256  # users re-ranked at once (the greedy state is (batch, n_candidates, ...))


class BaseReranker(BaseRecommender):
    """Re-rank the top ``n_candidates`` of a wrapped recommender, user by user.

    ``fit`` fits a clone of ``estimator`` on ``X``. For each row,
    ``decision_function`` takes the ``n_candidates`` best items of the
    wrapped model that are not in the row's history (the pool), orders the
    pool greedily with the subclass's objective, and returns scores that
    encode that order: the pool's ``n`` items get ``2 + (n - position) / n``
    (in (2, 3]), every other item a logistic squash of its per-row z-scored
    wrapped score (in (0, 1)), so ``recommend`` lists the re-ranked pool
    first. Seen items never enter the greedy objective; one that the
    wrapped model ranks above the pool's last item is slotted into the band
    at its place in the wrapped order (so ``exclude_seen=False`` still
    shows it), and the default ``exclude_seen=True`` removes it. With
    ``items=`` the pool is chosen over the whole catalogue first, then
    restricted. ``recommend`` over the whole catalogue with ``k`` at most
    ``n_candidates`` lists the head of the re-ranked pool directly (the
    same lists, without the catalogue-wide scores); the pool's top-k runs
    on the wrapped model's ``n_jobs`` threads (one without).

    Subclasses implement ``_fit_reranker(X)`` and
    ``_order(X, pool, relevance, valid)`` returning, for each row, the
    positions of the pool in their new order.
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "decision_function", "recommend"])],
        "n_candidates": [Interval(Integral, 1, None, closed="left")],
    }

    def _can_score_cold_items(self):
        return supports_cold_items(self.estimator)

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Fit the wrapped recommender and the re-ranker's statistics on ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative).
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted recommender.
        """
        X = self._validate_fit_data(X)
        self.estimator_ = clone(self.estimator).fit(X)
        self._fit_reranker(X)
        return self

    def _fit_reranker(self, X):
        """Learn what the objective needs (popularity, features); subclasses override."""

    def _pool(self, X):
        S = np.asarray(self.estimator_.decision_function(X), dtype=np.float64)
        seen = binary_interactions(X)
        n = min(int(self.n_candidates), S.shape[1])
        pool = np.empty((S.shape[0], n), dtype=np.int64)
        pool_scores = np.empty((S.shape[0], n))
        # the package's compiled top-k (its one rule), seen items excluded, on
        # the wrapped model's threads
        with numba_threads(getattr(self.estimator_, "n_jobs", None)):
            topk_dense_compiled(
                np.array(S, order="C"),  # scratch: the kernel writes -inf over the seen items
                seen.indptr.astype(np.int64),
                seen.indices.astype(np.int64),
                True,
                n,
                pool,
                pool_scores,
            )
        valid = pool >= 0
        with np.errstate(invalid="ignore"):
            lo = np.min(np.where(valid, pool_scores, np.inf), axis=1, keepdims=True)
            hi = np.max(np.where(valid, pool_scores, -np.inf), axis=1, keepdims=True)
            span = hi - lo
            rel = np.where(span > 0, (pool_scores - lo) / np.where(span > 0, span, 1.0), 1.0)
        rel = np.where(valid, rel, 0.0)
        return S, pool, pool_scores, rel, valid

    def _ranked_pool(self, X):
        """The pool of each row in its re-ranked order (and what the scores need)."""
        S, pool, pool_scores, rel, valid = self._pool(X)
        order = np.empty_like(pool)
        for start in range(0, pool.shape[0], _BATCH):
            b = slice(start, min(pool.shape[0], start + _BATCH))
            order[b] = self._order(X[b], pool[b], rel[b], valid[b])
        ranked = np.take_along_axis(pool, order, axis=1)
        ranked_valid = np.take_along_axis(valid, order, axis=1)
        return S, pool, pool_scores, valid, ranked, ranked_valid

    def _recommend_unrestricted(self, X, k, exclude_seen):
        # the lists are the head of the re-ranked pool: no catalogue-wide
        # scores or second top-k (the generic path gives the same lists)
        n_items = X.shape[1]
        n = min(int(self.n_candidates), n_items)
        if not exclude_seen or (k > n and n < n_items):
            return None
        n_users = X.shape[0]
        ids = np.full((n_users, k), -1, dtype=np.int64)
        scores = np.full((n_users, k), -np.inf)
        m = min(k, n)
        value = 2.0 + (n - np.arange(m, dtype=np.float64)) / n
        chunk = get_chunk_n_rows(row_bytes=24 * max(n_items, 1), max_n_rows=n_users)
        for batch in gen_batches(n_users, chunk):
            *_, ranked, ranked_valid = self._ranked_pool(X[batch])
            ok = ranked_valid[:, :m]
            ids[batch, :m] = np.where(ok, ranked[:, :m], -1)
            scores[batch, :m] = np.where(ok, value, -np.inf)
        return ids, scores

    def _decision_function(self, X):
        S, pool, pool_scores, valid, ranked, ranked_valid = self._ranked_pool(X)
        n_users, n = pool.shape
        finite = np.isfinite(S)
        with np.errstate(invalid="ignore"):
            Sf = np.where(finite, S, np.nan)
            mean = np.nanmean(Sf, axis=1, keepdims=True)
            std = np.nanstd(Sf, axis=1, keepdims=True)
            z = np.where(std > 0, (Sf - mean) / np.where(std > 0, std, 1.0), 0.0)
        out = np.where(finite, 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30))), -np.inf)
        # a seen item that the wrapped model ranks within the pool keeps its place
        # relative to the pool's wrapped order (it never enters the greedy state)
        seen = binary_interactions(X)
        rows = np.repeat(np.arange(n_users), np.diff(seen.indptr))
        s_seen = S[rows, seen.indices]
        lowest = np.min(np.where(valid, pool_scores, np.inf), axis=1)
        inside = np.isfinite(s_seen) & (s_seen >= lowest[rows])
        rows, cols, s_seen = rows[inside], seen.indices[inside], s_seen[inside]
        above = ((pool_scores[rows] > s_seen[:, None]) & valid[rows]).sum(axis=1)
        out[rows, cols] = 2.0 + (n - above + 0.5) / n
        value = 2.0 + (n - np.arange(n, dtype=np.float64)) / n
        r, c = np.nonzero(ranked_valid)
        out[r, ranked[r, c]] = value[c]
        return out

    def _order(self, X, pool, relevance, valid):
        raise NotImplementedError


def greedy_order(gain, update, valid):
    """Greedy selection: at each step take the valid unselected candidate of largest gain.

    ``gain()`` returns the (batch, n) objective of adding each candidate
    given the state so far; ``update(rows, chosen)`` records the choice of
    candidate ``chosen[t]`` for row ``rows[t]``. The valid candidates of a
    pool come first (``topk_per_row`` pads at the end); padding keeps its
    place after them. Ties go to the earlier (better) pool position.
    """
    batch, n = valid.shape
    order = np.empty((batch, n), dtype=np.int64)
    taken = ~valid
    rows = np.arange(batch)
    n_valid = valid.sum(axis=1)
    for step in range(n):
        active = step < n_valid
        if not active.any():
            order[:, step:] = np.arange(step, n)[None, :]
            break
        g = np.where(taken, -np.inf, gain())
        chosen = np.where(active, np.argmax(g, axis=1), step)
        order[:, step] = chosen
        taken[rows[active], chosen[active]] = True
        update(rows[active], chosen[active])
    return order
