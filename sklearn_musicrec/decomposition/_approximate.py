"""Approximate top-k retrieval over a factor model's items (an IVF or HNSW index)."""

from typing import Self

import numpy as np
from sklearn.base import MetaEstimatorMixin, clone
from sklearn.frozen import FrozenEstimator
from sklearn.utils import check_random_state

from ..base import BaseRecommender, nonzero_per_row
from ..utils._parallel import faiss_threads
from ..utils._sklearn_compat import HasMethods, Integral, Interval, StrOptions, _fit_context
from ..utils._typing import MatrixLike
from ..utils._weighting import apply_weighting
from ._base import _BaseFactorizer

__all__ = ["ApproximateRecommender"]

_FAISS_MISSING = (
    "ApproximateRecommender(index={index!r}) needs faiss, which is not installed: "
    'pip install "sklearn-musicrec[ann]" (or pip install faiss-cpu).'
)
# rows queried at once: a block of the fold-in and of the candidate lists
_QUERY_BLOCK = 4096
# IVF: items of the k-means training sample per list, and the fewest per list
# that the default number of lists keeps (faiss's own minimum, below which
# it warns that the clustering is under-trained)
_TRAIN_PER_LIST = 64
_MIN_PER_LIST = 39


def _import_faiss(index):
    try:
        import faiss
    except ImportError as exc:
        raise ImportError(_FAISS_MISSING.format(index=index)) from exc
    return faiss


def default_n_lists(n_items):
    """The IVF index's number of lists for ``n_items`` items when ``n_lists=None``.

    ``4 * sqrt(n_items)`` rounded (the low end of faiss's guideline of 4 to
    16 times the square root), but at most ``n_items // 39``, so that every
    list gets the 39 training items faiss asks for; at least 1.

    Examples
    --------
    >>> from sklearn_musicrec.decomposition._approximate import default_n_lists
    >>> default_n_lists(1_000_000), default_n_lists(20_000), default_n_lists(40)
    (4000, 512, 1)
    """
    return max(1, min(round(4 * np.sqrt(n_items)), n_items // _MIN_PER_LIST))


def _rank_candidates(cand, scores, k):
    """Sort each row's candidates best first (ties: lower id) and keep ``k``.

    ``cand`` holds item ids (``-1`` for none) and ``scores`` their exact
    scores (``-inf`` for none or excluded); returns ``(ids, scores)`` of
    width ``k``, padded with ``-1`` / ``-inf``.
    """
    n, width = cand.shape
    scores = np.where(cand >= 0, scores, -np.inf)
    # ids of invalid entries sort last among equal (-inf) scores
    key_ids = np.where(np.isfinite(scores), cand, np.iinfo(np.int64).max)
    order = np.lexsort((key_ids, -scores), axis=-1)[:, :k]
    ids = np.take_along_axis(cand, order, axis=1)
    top = np.take_along_axis(scores, order, axis=1)
    ids[~np.isfinite(top)] = -1
    if width < k:
        ids = np.hstack([ids, np.full((n, k - width), -1, dtype=np.int64)])
        top = np.hstack([top, np.full((n, k - width), -np.inf, dtype=top.dtype)])
    return ids, top


def _with_norm_coordinate(items):
    """``[x_i, sqrt(R^2 - |x_i|^2)]`` with ``R`` the largest norm (Bachrach et al., 2014).

    All rows then have norm ``R``, and maximum inner product search with
    ``[u, 0]`` becomes nearest-neighbour search in L2.
    """
    sq = np.einsum("ij,ij->i", items, items, dtype=np.float64)
    extra = np.sqrt(np.maximum(sq.max(initial=0.0) - sq, 0.0)).astype(np.float32)
    return np.ascontiguousarray(np.hstack([items, extra[:, None]]))


class ApproximateRecommender(MetaEstimatorMixin, BaseRecommender):
    """A factor model whose top-k lists come from an approximate nearest-neighbour index.

    ``fit`` fits a clone of ``estimator`` (a factor model of
    :mod:`sklearn_musicrec.decomposition`: :class:`ALSFactorizer` or
    :class:`SGDFactorizer`, any feedback or loss) and, with ``index="ivf"``
    or ``"hnsw"``, builds a faiss index over its items for
    maximum-inner-product search. ``recommend`` folds the rows in exactly as
    the wrapped model does (its ``transform``), asks the index for each row's best
    ``k + len(history)`` items (so that ``k`` remain once the history is
    excluded), and ranks those candidates by their exact scores. The
    candidate set is approximate; the scores and the order within it are
    the wrapped model's own.

    With ``index="exact"`` nothing is built and every method returns exactly
    what the fitted wrapped model returns (``estimator_``), so the index can
    be switched on and off as a hyper-parameter.

    The wrapped model's score is ``u . v_i + c_i + b_u`` (user factors ``u``,
    item factors ``v_i``, an item bias ``c_i`` for SGD and explicit ALS, a
    user bias ``b_u`` for the rating models). The indexes search
    ``x_i = [v_i, c_i]`` with ``[u, 1]``, so they search the model's own
    ranking (``b_u`` shifts a row's scores and never its order), with
    ``metric="inner_product"`` in faiss's inner-product space (IVF: lists
    by spherical k-means, i.e. by direction), or with ``metric="euclidean"``
    reduced to Euclidean search by a norm coordinate (Bachrach et al.,
    2014): the index holds ``[x_i, sqrt(R^2 - |x_i|^2)]`` (``R`` the
    largest ``|x_i|``), queried with ``[u, 1, 0]``. Which recalls more
    depends on how the norms spread: on the million-item catalogue grown
    from lastfm-2k factors, inner product (IVF at 256 of 4,000 lists:
    recall@10 0.98 against 0.91; the HNSW graph at any setting); where the
    best items of most users are a few long vectors, the norm coordinate,
    because lists by direction scatter those vectors (IVF on lastfm-2k's own
    17,632 fitted items at 32 of 452 lists: 0.99 against 0.87; on the
    factors of a synthetic play matrix at 64 of 512 lists: 0.99 against
    0.67). Measure it on a sample of your users: ``recommend`` against
    ``estimator_.recommend``.

    ``decision_function`` (a dense score per item) and ``recommend`` with
    ``items=`` (candidates given by the caller) are the wrapped model's exact
    ones: only the whole-catalogue top-k uses the index.

    Which index: on a catalogue of a million items (64 factors, the 1,892
    lastfm-2k users folded in, 2 threads both ways) ``index="ivf"`` at its
    defaults (4,000 lists, 256 probed) recalled 0.981 of the exact top-10
    at 8.3 times the exact throughput and built in 88 s, while an HNSW graph
    with M=16, efConstruction=64 recalled 0.868 at 4.9x, and one with M=32,
    efConstruction=200 took 22 minutes to build and recalled 0.967 at 6.5x
    (``benchmarks/bench_ann.py``, ``docs/scaling_out.md``).
    ``index="ivf"`` is the recommended index; ``n_probe`` trades recall for
    speed without a rebuild (128: 0.950 at 13.4x).

    Parameters
    ----------
    estimator : estimator, default=None
        The factor model to wrap: an :class:`ALSFactorizer` or
        :class:`SGDFactorizer` (``None``: ``ALSFactorizer()``), fitted by
        ``fit`` on a clone; or one already fitted, wrapped in
        :class:`sklearn.frozen.FrozenEstimator`, which ``fit`` only indexes.
    index : {"exact", "ivf", "hnsw"}, default="exact"
        ``"exact"``: the wrapped model's exact top-k (no index).
        ``"ivf"``: faiss's inverted file ``IndexIVFFlat``: the items are
        split into ``n_lists`` lists by k-means (in the space of
        ``metric``), and a query scans the items of the ``n_probe`` lists
        whose centroids are best for it.
        ``"hnsw"``: faiss's ``IndexHNSWFlat``, a graph over the items.
        Both need the optional dependency faiss
        (``pip install "sklearn-musicrec[ann]"``).
    metric : {"inner_product", "euclidean"}, default="inner_product"
        The space the index searches (see above): faiss's inner product
        over ``[v_i, c_i]``, or L2 with the norm coordinate. Both give the
        wrapped model's exact scores to the candidates they find.
    n_lists : int, default=None
        Lists of the IVF index (faiss's ``nlist``); ``None``: ``4 *
        sqrt(n_items)``, at most ``n_items // 39`` (1,000,000 items: 4,000
        lists). At most the number of items. The k-means is trained on a
        sample of ``64 * n_lists`` items (all of them if fewer) drawn with
        ``random_state``.
    n_probe : int, default=256
        Lists each IVF query scans (faiss's ``nprobe``, capped at
        ``n_lists``): the recall / speed trade-off, effective at once (no
        rebuild) when set after ``fit``.
    M : int, default=32
        Graph neighbours per item of the HNSW index (faiss's ``M``): more
        recall per query and a bigger, slower-to-build index.
    ef_construction : int, default=100
        Breadth of the search that links each item while the graph is built
        (faiss's ``efConstruction``): higher builds slower and recalls more.
    ef_search : int, default=128
        Breadth of each query's search (faiss's ``efSearch``; at least the
        number of candidates asked for): the recall / speed trade-off,
        effective at once (no rebuild) when set after ``fit``.
    n_jobs : int, default=None
        Threads of the index build and search (``None``: 1, unless a
        ``joblib.parallel_config`` says otherwise; ``-1``: all cores), set in
        faiss for the call and restored after. The wrapped model's fold-in
        and its exact top-k use its own ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the IVF index's training: the sample of items its k-means
        learns from and the k-means initialisation, so that a given seed
        builds the same index. Unused by ``"exact"`` and ``"hnsw"`` (faiss's
        HNSW build is deterministic on one thread). The wrapped model has its
        own ``random_state``.

    Attributes
    ----------
    estimator_ : estimator
        The fitted clone of ``estimator`` (the frozen model itself, unwrapped,
        for a ``FrozenEstimator``).
    index_ : faiss.Index or None
        The IVF or HNSW index over the item vectors (``None`` for
        ``index="exact"``).
        Pickling serialises it with faiss, so a pickled model needs no
        rebuild.
    item_counts_ : ndarray of int64 of shape (n_items,)
        Training users of each item (the answer for rows without history).
    n_features_in_ : int
        Number of items.

    See Also
    --------
    ALSFactorizer : Alternating least squares, the usual model to wrap.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.decomposition import ALSFactorizer, ApproximateRecommender
    >>> X = make_interactions(n_users=200, n_items=100, random_state=0).data
    >>> als = ALSFactorizer(n_components=8, max_iter=5, random_state=0)
    >>> exact = ApproximateRecommender(als).fit(X)
    >>> ids, scores = exact.recommend(X[:3], k=5)
    >>> ids.shape
    (3, 5)
    >>> bool((ids == exact.estimator_.recommend(X[:3], k=5)[0]).all())
    True

    The inverted-file index (needs the optional faiss), with 2 lists for
    these 100 items (at most ``100 // 39``):

    >>> ivf = ApproximateRecommender(als, index="ivf", n_probe=2, random_state=0).fit(X)
    >>> ivf.index_.nlist
    2
    >>> bool((ivf.recommend(X[:3], k=5)[0] == ids).all())  # every list scanned: exact
    True
    """

    _parameter_constraints = {
        "estimator": [HasMethods(["fit", "transform", "recommend"]), None],
        "index": [StrOptions({"exact", "ivf", "hnsw"})],
        "metric": [StrOptions({"inner_product", "euclidean"})],
        "n_lists": [Interval(Integral, 1, None, closed="left"), None],
        "n_probe": [Interval(Integral, 1, None, closed="left")],
        "M": [Interval(Integral, 2, None, closed="left")],
        "ef_construction": [Interval(Integral, 1, None, closed="left")],
        "ef_search": [Interval(Integral, 1, None, closed="left")],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        index="exact",
        metric="inner_product",
        n_lists=None,
        n_probe=256,
        M=32,
        ef_construction=100,
        ef_search=128,
        n_jobs=None,
        random_state=None,
    ):
        self.estimator = estimator
        self.index = index
        self.metric = metric
        self.n_lists = n_lists
        self.n_probe = n_probe
        self.M = M
        self.ef_construction = ef_construction
        self.ef_search = ef_search
        self.n_jobs = n_jobs
        self.random_state = random_state

    def _can_score_cold_items(self):
        check = getattr(self.estimator, "_can_score_cold_items", None)
        return bool(check()) if check is not None else False

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X: MatrixLike, y: None = None) -> Self:
        """Fit the wrapped factor model on ``X``, then index its items.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_users, n_items)
            Training interactions (non-negative), as the wrapped model takes
            them.
        y : None
            Ignored.

        Returns
        -------
        self : ApproximateRecommender
            The fitted recommender.
        """
        faiss = None if self.index == "exact" else _import_faiss(self.index)
        X = self._validate_fit_data(X)
        if self.index == "ivf" and self.n_lists is not None and self.n_lists > X.shape[1]:
            raise ValueError(
                f"n_lists of ApproximateRecommender must be at most the number of items "
                f"({X.shape[1]}): each list needs an item to start from; got n_lists="
                f"{self.n_lists}."
            )
        if self.estimator is None:
            from ._als import ALSFactorizer

            estimator = ALSFactorizer()
        else:
            estimator = clone(self.estimator)  # a FrozenEstimator clones to itself
        frozen = isinstance(estimator, FrozenEstimator)
        model = estimator.estimator if frozen else estimator
        if not isinstance(model, _BaseFactorizer):
            raise TypeError(
                "estimator of ApproximateRecommender must be a factor model whose "
                "score is an inner product of user and item factors (ALSFactorizer, "
                f"SGDFactorizer), or one wrapped in FrozenEstimator; got {type(model).__name__}."
            )
        estimator.fit(X, None)  # FrozenEstimator.fit leaves the fitted model as it is
        if frozen and model.n_features_in_ != X.shape[1]:
            raise ValueError(
                f"X has {X.shape[1]} items (columns), but the frozen estimator of "
                f"ApproximateRecommender was fitted with {model.n_features_in_}."
            )
        self.estimator_ = model
        if frozen and getattr(model, "item_counts_", None) is not None:
            # rows without history get the popularity the model was fitted on
            self.item_counts_ = model.item_counts_
        self.index_ = None
        if faiss is not None:
            build = self._build_ivf if self.index == "ivf" else self._build_hnsw
            items = self._item_vectors()
            if self.metric == "euclidean":
                # |[u, 0] - [x, sqrt(R^2 - |x|^2)]|^2 = |u|^2 + R^2 - 2 u.x: the
                # nearest items in L2 are the best by inner product
                items, metric = _with_norm_coordinate(items), faiss.METRIC_L2
            else:
                metric = faiss.METRIC_INNER_PRODUCT
            with faiss_threads(self.n_jobs):
                self.index_ = build(faiss, items, metric)
        return self

    # -- the indexes: built in fit, searched by one path ---------------------
    def _build_hnsw(self, faiss, items, metric):
        index = faiss.IndexHNSWFlat(items.shape[1], int(self.M), metric)
        index.hnsw.efConstruction = int(self.ef_construction)
        index.add(items)
        return index

    def _build_ivf(self, faiss, items, metric):
        n_items, dim = items.shape
        n_lists = default_n_lists(n_items) if self.n_lists is None else int(self.n_lists)
        rng = check_random_state(self.random_state)
        n_train = min(n_items, _TRAIN_PER_LIST * n_lists)
        if n_train < n_items:
            # sorted, so that the sample is read in memory order
            items_train = items[np.sort(rng.choice(n_items, n_train, replace=False))]
        else:
            items_train = items
        inner_product = metric == faiss.METRIC_INNER_PRODUCT
        quantizer = (faiss.IndexFlatIP if inner_product else faiss.IndexFlatL2)(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, n_lists, metric)
        # inner product: unit centroids, lists by direction (faiss's own default)
        index.cp.spherical = inner_product
        index.cp.seed = int(rng.randint(np.iinfo(np.int32).max))
        # the sample above is the whole training set: faiss neither subsamples
        # it nor prints its under-training warning to stderr (an explicit
        # n_lists may leave fewer than 39 items per list; the default does not)
        index.cp.min_points_per_centroid = 1
        index.cp.max_points_per_centroid = n_train
        index.train(items_train)
        index.add(items)
        return index

    def _search_parameters(self, faiss, width):
        """faiss's per-query parameters for ``width`` candidates, from the current settings."""
        if isinstance(self.index_, faiss.IndexIVF):
            params = faiss.SearchParametersIVF()
            params.nprobe = min(int(self.n_probe), int(self.index_.nlist))
        else:
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(int(self.ef_search), width)
        return params

    # -- the item and query vectors -----------------------------------------
    def _item_vectors(self):
        """``[v_i, c_i]`` (or ``v_i`` without item bias), float32 C-contiguous."""
        V = np.asarray(self.estimator_.item_factors_, dtype=np.float32)
        term = self.estimator_._item_term()
        if term is not None:
            V = np.hstack([V, np.asarray(term, dtype=np.float32)[:, None]])
        return np.ascontiguousarray(V)

    def _weighted(self, X):
        """``X`` (validated) weighted as the wrapped model weights its input."""
        return apply_weighting(
            getattr(self.estimator_, "weighting_", None), X, type(self.estimator_).__name__
        )

    # -- the contract --------------------------------------------------------
    def _decision_function(self, X):
        return self.estimator_._decision_function(self._weighted(X))

    def _recommend_unrestricted(self, X, k, exclude_seen):
        Xw = self._weighted(X)
        if self.index_ is None:
            return self.estimator_._recommend_unrestricted(Xw, k, exclude_seen)
        faiss = _import_faiss(self.index)
        n_users, n_items = X.shape
        ids = np.empty((n_users, k), dtype=np.int64)
        scores = np.empty((n_users, k), dtype=np.float32)
        n_factors = self.estimator_.item_factors_.shape[1]
        has_item_term = self.estimator_._item_term() is not None
        n_seen = nonzero_per_row(X) if exclude_seen else np.zeros(n_users, dtype=np.int64)
        # a row's list is full when it has min(k, eligible items) entries
        full = np.minimum(k, n_items - n_seen)
        # rows grouped by the candidates they need, k + history rounded up to a
        # power of two, so that one long history does not widen every query
        width = 2 ** np.ceil(np.log2(k + n_seen)).astype(np.int64)
        # rows that need half the catalogue or more are ranked exactly: the
        # index search would then cost more than scoring every item, and it
        # need not reach that many items
        exact_rows = [np.flatnonzero(width >= n_items // 2)]
        with faiss_threads(self.n_jobs, n_rows=n_users):
            for start in range(0, n_users, _QUERY_BLOCK):
                block = np.arange(start, min(n_users, start + _QUERY_BLOCK))
                block = block[width[block] < n_items // 2]
                if block.size == 0:
                    continue
                U, user_bias = self.estimator_._fold_in(Xw[block])
                Q = np.asarray(U, dtype=np.float32)
                if has_item_term:
                    Q = np.hstack([Q, np.ones((Q.shape[0], 1), dtype=np.float32)])
                if self.index_.d > Q.shape[1]:  # metric="euclidean": the norm coordinate
                    Q = np.hstack([Q, np.zeros((Q.shape[0], 1), dtype=np.float32)])
                Q = np.ascontiguousarray(Q)
                for w in np.unique(width[block]):
                    group = np.flatnonzero(width[block] == w)
                    # candidate factors gathered per chunk: about 2**22 floats
                    step = max(1, (1 << 22) // (int(w) * n_factors))
                    for first in range(0, group.size, step):
                        local = group[first : first + step]
                        rows = block[local]
                        top_ids, top_scores = self._search(
                            faiss, Q[local], int(w), U[local], X, rows, k, exclude_seen
                        )
                        if user_bias is not None:
                            top_scores += user_bias[local, None].astype(np.float32)
                        ids[rows], scores[rows] = top_ids, top_scores
                        # the index reached too few unseen items: rank exactly
                        exact_rows.append(rows[(top_ids >= 0).sum(axis=1) < full[rows]])
        exact_rows = np.concatenate(exact_rows)
        if exact_rows.size:
            exact = self.estimator_._recommend_unrestricted(Xw[exact_rows], k, exclude_seen)
            ids[exact_rows], scores[exact_rows] = exact
        return ids, scores

    def _search(self, faiss, Q, width, U, X, rows, k, exclude_seen):
        """Top ``k`` of the index's ``width`` candidates for queries ``Q`` (rows ``rows`` of X).

        Returns ``(ids, scores)`` with the exact scores without the user bias.
        """
        params = self._search_parameters(faiss, width)
        _, cand = self.index_.search(Q, width, params=params)
        cand = cand.astype(np.int64)
        safe = np.maximum(cand, 0)
        exact = np.einsum("rj,rcj->rc", U, self.estimator_.item_factors_[safe])
        item_term = self.estimator_._item_term()
        if item_term is not None:
            exact += item_term[safe]
        exact = exact.astype(np.float32)
        if exclude_seen:
            sub = X[rows]
            nonzero = sub.data != 0
            owner = np.repeat(np.arange(rows.size), np.diff(sub.indptr))[nonzero]
            n_items = X.shape[1]
            # candidates in the row's own history are excluded
            in_history = np.isin(
                np.arange(rows.size)[:, None] * n_items + safe,
                owner * n_items + sub.indices[nonzero],
            )
            exact[in_history] = -np.inf
        return _rank_candidates(cand, exact, k)

    # -- pickling: faiss indexes are serialised to bytes ----------------------
    def __getstate__(self):
        # a copy: the base class may hand back the instance's own __dict__
        state = dict(super().__getstate__())
        if state.get("index_") is not None:
            faiss = _import_faiss(state.get("index"))
            state["index_"] = faiss.serialize_index(state["index_"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("index_"), np.ndarray):
            state = dict(state)
            state["index_"] = _import_faiss(state.get("index")).deserialize_index(state["index_"])
        super().__setstate__(state)
