"""Peer libraries' recommenders, run in the benchmark's protocol when installed.

Each peer is wrapped as a small recommender (``fit`` / ``recommend`` /
``decision_function`` over rows of ``X``), so it goes through the package's
one :func:`~sklearn_musicrec.model_selection.evaluate` like every model.

- ``implicit``: ``implicit-als`` (``AlternatingLeastSquares`` on the BM25
  weighted matrix, the settings of docs/facts.md: 64 factors,
  regularization 0.05, 15 iterations, alpha 1). New users are folded in
  with implicit's own ``recommend(..., recalculate_user=True)`` (a
  least-squares solve for the row against the item factors), so it runs
  under every protocol. ``implicit-bpr`` (defaults, binarised plays) cannot
  fold in a new user (implicit raises ``NotImplementedError`` for
  ``recalculate_user`` on BPR), so it is skipped under ``new-users``.
- ``cornac``: ``cornac-bpr`` (``cornac.models.BPR``, 64 factors, 100
  epochs) scores only the users it was trained on: skipped under
  ``new-users``.
- ``lenskit`` (2025.x): ``lenskit-itemknn`` (``ItemKNNScorer``, 20
  neighbours) and ``lenskit-userknn`` (``UserKNNScorer``, 30 neighbours),
  implicit feedback, and ``lenskit-als`` (``ImplicitMFScorer``, 64
  features, LensKit's other defaults), on binarised plays. ``fit`` builds
  LensKit's ``Dataset`` from the training rows; each row given to
  ``recommend`` is scored by one call of the scorer with the row's items as
  the query's history, so every row folds in and they run under every
  protocol. Items the scorer leaves unscored (NaN: no neighbour in the
  history) are never listed. LensKit sets its thread pools once per
  process; the BLAS and torch thread counts in place before are kept.
- Any other known name (``surprise``, ``recbole``, ...): no wrapper,
  skipped with a message.

A missing library is reported as "<library> is not installed (pip install
<library>); skipped", for each of its peers.

Peers that can only score their training users identify each row passed to
``recommend`` by its exact contents (the training histories are what the
per-user protocols recommend from); an unknown row is an error.
"""

import contextlib
import hashlib
import io
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator
from threadpoolctl import threadpool_limits

from ..preprocessing import BM25Weighting

__all__ = ["PEERS", "build_peer", "resolve_peers"]

# rows scored at once by a peer's recommend (256 x 17,632 items: 36 MB of float64)
_BLOCK = 256


def _row_key(X, i):
    start, end = X.indptr[i], X.indptr[i + 1]
    h = hashlib.blake2b(digest_size=16)
    h.update(np.ascontiguousarray(X.indices[start:end], dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(X.data[start:end], dtype=np.float64).tobytes())
    return h.digest()


class _PeerBase(BaseEstimator):
    fold_in = False

    def __init__(self, random_state=0, n_jobs=None):
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _threads(self):
        return 0 if self.n_jobs in (None, -1) else int(self.n_jobs)

    def _remember_rows(self, X):
        X = sp.csr_matrix(X)
        X.sort_indices()
        self._rows = {_row_key(X, i): i for i in range(X.shape[0])}

    def _training_users(self, X):
        X = sp.csr_matrix(X)
        X.sort_indices()
        users = np.empty(X.shape[0], dtype=np.int64)
        for i in range(X.shape[0]):
            u = self._rows.get(_row_key(X, i))
            if u is None:
                raise ValueError(
                    f"{type(self).__name__} scores only the users it was trained on; "
                    f"row {i} is not a training history (a new user)."
                )
            users[i] = u
        return users

    def recommend(self, X, k=10, *, exclude_seen=True, items=None):
        if items is not None:
            raise ValueError("peers do not restrict candidates (items=None only)")
        X = sp.csr_matrix(X)
        # dense scores of _BLOCK rows at a time: bounded memory on a large catalogue
        parts = [
            self._recommend_block(X[start : start + _BLOCK], k, exclude_seen)
            for start in range(0, max(X.shape[0], 1), _BLOCK)
        ]
        return np.vstack([p[0] for p in parts]), np.vstack([p[1] for p in parts])

    def _recommend_block(self, X, k, exclude_seen):
        scores = np.asarray(self.decision_function(X), dtype=np.float64)
        if exclude_seen:
            rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
            scores[rows, X.indices] = -np.inf
        k_eff = min(k, scores.shape[1])
        part = np.argpartition(-scores, k_eff - 1, axis=1)[:, :k_eff]
        part_scores = np.take_along_axis(scores, part, axis=1)
        order = np.lexsort((part, -part_scores), axis=1)
        ids = np.take_along_axis(part, order, axis=1).astype(np.int64)
        top = np.take_along_axis(part_scores, order, axis=1)
        ids[~np.isfinite(top)] = -1
        if k_eff < k:
            pad = k - k_eff
            ids = np.hstack([ids, np.full((ids.shape[0], pad), -1, dtype=np.int64)])
            top = np.hstack([top, np.full((top.shape[0], pad), -np.inf)])
        return ids, top


class ImplicitALS(_PeerBase):
    """implicit's ALS on BM25-weighted input; new users folded in by implicit."""

    fold_in = True

    def fit(self, X, y=None):
        from implicit.cpu.als import AlternatingLeastSquares

        X = sp.csr_matrix(X, dtype=np.float64)
        self.weighting_ = BM25Weighting(k1=100, b=0.8).fit(X)
        W = sp.csr_matrix(self.weighting_.transform(X), dtype=np.float32)
        self.model_ = AlternatingLeastSquares(
            factors=64,
            regularization=0.05,
            iterations=15,
            alpha=1.0,
            random_state=self.random_state,
            num_threads=self._threads(),
        )
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # implicit's BLAS-threads advice
            self.model_.fit(W, show_progress=False)
        self.item_counts_ = np.asarray((X != 0).sum(axis=0)).ravel()
        return self

    def decision_function(self, X):
        W = sp.csr_matrix(self.weighting_.transform(sp.csr_matrix(X)), dtype=np.float32)
        users = self.model_.recalculate_user(np.arange(W.shape[0]), W)
        return np.asarray(users @ self.model_.item_factors.T, dtype=np.float64)


class ImplicitBPR(_PeerBase):
    """implicit's BPR (defaults) on binarised plays; training users only."""

    def fit(self, X, y=None):
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        X = sp.csr_matrix(X, dtype=np.float64)
        self._remember_rows(X)
        B = sp.csr_matrix((X != 0).astype(np.float32))
        self.model_ = BayesianPersonalizedRanking(
            random_state=self.random_state, num_threads=self._threads()
        )
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            self.model_.fit(B, show_progress=False)
        self.item_counts_ = np.asarray((X != 0).sum(axis=0)).ravel()
        return self

    def decision_function(self, X):
        users = self._training_users(X)
        return np.asarray(
            self.model_.user_factors[users] @ self.model_.item_factors.T, dtype=np.float64
        )


class CornacBPR(_PeerBase):
    """cornac's BPR on binarised plays; training users only."""

    def fit(self, X, y=None):
        import cornac

        X = sp.csr_matrix(X, dtype=np.float64)
        X.sort_indices()
        self._remember_rows(X)
        rows = np.repeat(np.arange(X.shape[0]), np.diff(X.indptr))
        triplets = [(str(u), str(i), 1.0) for u, i in zip(rows.tolist(), X.indices.tolist())]
        self.train_set_ = cornac.data.Dataset.from_uir(triplets, seed=self.random_state)
        self.model_ = cornac.models.BPR(
            k=64,
            max_iter=100,
            learning_rate=0.01,
            lambda_reg=0.01,
            seed=self.random_state,
            verbose=False,
        )
        self.model_.fit(self.train_set_)
        self.n_items_ = X.shape[1]
        self.item_counts_ = np.asarray((X != 0).sum(axis=0)).ravel()
        return self

    def decision_function(self, X):
        users = self._training_users(X)
        uid, iid = self.train_set_.uid_map, self.train_set_.iid_map
        cols = np.full(self.n_items_, -1, dtype=np.int64)
        for raw, inner in iid.items():
            cols[int(raw)] = inner
        known = cols >= 0
        out = np.full((users.size, self.n_items_), -np.inf)
        for r, u in enumerate(users):
            inner_u = uid.get(str(int(u)))
            if inner_u is None:  # a user with no training interaction
                out[r] = 0.0
                continue
            s = np.asarray(self.model_.score(inner_u), dtype=np.float64)
            out[r, known] = s[cols[known]]
        return out


def _init_lenskit(n_jobs):
    """Configure LensKit's threads once, keeping the process's BLAS and torch settings.

    LensKit configures its parallelism on first use, process-wide: it limits
    BLAS and torch threads. The benchmark's other models must not inherit
    that, so the limits in place before are restored.
    """
    import torch
    from lenskit.parallel import config, initialize

    if getattr(config, "_config", None) is not None:  # configured already (by us or the caller)
        return
    torch_threads = torch.get_num_threads()
    threads = None if n_jobs in (None, -1) else max(int(n_jobs), 1)
    # The limiter restores the BLAS and OpenMP limits on exit. Where torch has run,
    # LensKit cannot set its interop threads and says so (a RuntimeWarning and a
    # log line on stderr); harmless, and not the benchmark's output.
    with (
        threadpool_limits(limits=None),
        warnings.catch_warnings(),
        contextlib.redirect_stderr(io.StringIO()),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore", RuntimeWarning)
        initialize(threads=threads)
    torch.set_num_threads(torch_threads)


class _LensKitBase(_PeerBase):
    """A LensKit scorer trained on binarised plays; each row scored from its history.

    ``fit`` builds LensKit's ``Dataset`` from the rows of ``X`` (every column
    an item of its vocabulary, so the ids are the column indices);
    ``decision_function`` calls the scorer once per row with a query whose
    history is the row's non-zero items and whose candidates are all items,
    so any row folds in, a new user's as well as a training user's. Items
    LensKit cannot score for a row (no neighbour in its history) get
    ``-inf``: they are never listed, and a list shorter than ``k`` is padded
    with ``-1``.
    """

    fold_in = True

    def _make_scorer(self):  # pragma: no cover  (every subclass overrides it)
        raise NotImplementedError

    def fit(self, X, y=None):
        import pandas as pd
        from lenskit.data import ItemList, from_interactions_df
        from lenskit.training import TrainingOptions

        X = sp.csr_matrix(X)
        coo = X.tocoo()
        played = coo.data != 0
        frame = pd.DataFrame(
            {
                "user_id": coo.row[played].astype(np.int64),
                "item_id": coo.col[played].astype(np.int64),
            }
        )
        data = from_interactions_df(
            frame,
            users=np.arange(X.shape[0], dtype=np.int64),
            items=np.arange(X.shape[1], dtype=np.int64),
        )
        _init_lenskit(self.n_jobs)
        self.model_ = self._make_scorer()
        self.model_.train(data, TrainingOptions(rng=self.random_state))
        vocab = self.model_.items
        # column -> LensKit's item number (all columns are in the vocabulary)
        self.item_numbers_ = np.asarray(
            vocab.numbers(np.arange(X.shape[1], dtype=np.int64), missing="negative"),
            dtype=np.int32,
        )
        self.candidates_ = ItemList(item_nums=self.item_numbers_, vocabulary=vocab)
        self.n_items_ = X.shape[1]
        self.item_counts_ = np.asarray((X != 0).sum(axis=0)).ravel()
        return self

    def decision_function(self, X):
        from lenskit.data import ItemList, RecQuery

        X = sp.csr_matrix(X)
        if X.shape[1] != self.n_items_:
            raise ValueError(
                f"X has {X.shape[1]} items (columns), but {type(self).__name__} was fitted "
                f"on {self.n_items_}."
            )
        vocab = self.model_.items
        out = np.empty(X.shape, dtype=np.float64)
        for r in range(X.shape[0]):
            start, end = X.indptr[r], X.indptr[r + 1]
            cols = X.indices[start:end][X.data[start:end] != 0]
            history = ItemList(item_nums=self.item_numbers_[cols], vocabulary=vocab)
            scored = self.model_(RecQuery(history_items=history), self.candidates_)
            scores = np.asarray(scored.scores("numpy"), dtype=np.float64)
            out[r] = np.where(np.isnan(scores), -np.inf, scores)
        return out


class LensKitItemKNN(_LensKitBase):
    """LensKit's ``ItemKNNScorer`` (20 neighbours, implicit feedback)."""

    def _make_scorer(self):
        from lenskit.knn import ItemKNNScorer

        return ItemKNNScorer(max_nbrs=20, feedback="implicit")


class LensKitUserKNN(_LensKitBase):
    """LensKit's ``UserKNNScorer`` (30 neighbours, implicit feedback)."""

    def _make_scorer(self):
        from lenskit.knn import UserKNNScorer

        return UserKNNScorer(max_nbrs=30, feedback="implicit")


class LensKitImplicitMF(_LensKitBase):
    """LensKit's ``ImplicitMFScorer`` (ALS, 64 features, its other defaults)."""

    def _make_scorer(self):
        from lenskit.als import ImplicitMFScorer

        return ImplicitMFScorer(embedding_size=64)


# name -> (library to import, class, short description)
PEERS = {
    "implicit-als": ("implicit", ImplicitALS, "implicit ALS (BM25, 64 f, reg 0.05, 15 it)"),
    "implicit-bpr": ("implicit", ImplicitBPR, "implicit BPR (defaults, binarised)"),
    "cornac-bpr": ("cornac", CornacBPR, "cornac BPR (64 f, 100 epochs, binarised)"),
    "lenskit-itemknn": ("lenskit", LensKitItemKNN, "LensKit ItemKNN (20 nbrs, implicit)"),
    "lenskit-userknn": ("lenskit", LensKitUserKNN, "LensKit UserKNN (30 nbrs, implicit)"),
    "lenskit-als": (
        "lenskit",
        LensKitImplicitMF,
        "LensKit ImplicitMF (64 f, weight 40, reg 0.1, 10 epochs, binarised)",
    ),
}
_LIBRARIES = {
    "implicit": ["implicit-als", "implicit-bpr"],
    "cornac": ["cornac-bpr"],
    "lenskit": ["lenskit-itemknn", "lenskit-userknn", "lenskit-als"],
}
_KNOWN_ELSEWHERE = ("surprise", "scikit-surprise", "skrecsys", "recbole", "elliot")


def _importable(library):
    try:
        __import__(library)
    except Exception:  # noqa: BLE001  (a broken install is as good as absent)
        return False
    return True


def resolve_peers(spec, protocol):
    """``(runnable peer names, skipped [(name, reason)])`` for ``--peers``.

    ``spec`` is a comma list of library names (``implicit``, ``cornac``,
    ``lenskit``, ...) or peer names (``implicit-als``).
    """
    if not spec:
        return [], []
    run, skipped = [], []
    for raw in str(spec).split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name in _LIBRARIES:
            candidates = _LIBRARIES[name]
        elif name in PEERS:
            candidates = [name]
        elif name in _KNOWN_ELSEWHERE:
            library = "surprise" if name == "scikit-surprise" else name
            why = "not installed" if not _importable(library) else "no wrapper in this version"
            skipped.append((name, f"{why}; skipped"))
            continue
        else:
            raise ValueError(
                f"--peers: unknown peer {raw.strip()!r}; valid names are "
                f"{', '.join([*_LIBRARIES, *PEERS, *_KNOWN_ELSEWHERE])}."
            )
        for peer in candidates:
            library, cls, _ = PEERS[peer]
            if not _importable(library):
                skipped.append(
                    (peer, f"{library} is not installed (pip install {library}); skipped")
                )
            elif protocol == "new-users" and not cls.fold_in:
                skipped.append(
                    (
                        peer,
                        "cannot recommend for users unseen in fit (no fold-in); "
                        "skipped under the new-users protocol (try --protocol holdout)",
                    )
                )
            elif peer not in run:
                run.append(peer)
    return run, skipped


def build_peer(name, *, seed, n_jobs):
    """A fresh wrapper of peer ``name``."""
    return PEERS[name][1](random_state=seed, n_jobs=n_jobs)
