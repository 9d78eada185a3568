"""Batch scoring at scale: recommend for users streamed in partitions.

Every method of a recommender treats each row of ``X`` as one user's
history (``docs/design.md``), so the rows of a large user set can be split
into partitions, each folded in and ranked on its own, and the lists are
exactly those of one ``recommend`` call over all rows. This module is the
one home of that:

- :func:`recommend_blocks` maps ``recommend`` over any iterable of row
  blocks (CSR matrices read from files, a database cursor, a generator) and
  yields each block's ``(item_ids, scores)`` as soon as it is ranked, never
  holding more than one block and its lists;
- :func:`recommend_dask` does the same on a Dask cluster for a
  ``dask.array`` of row blocks (sparse or dense chunks): the fitted model
  enters the graph once, as one piece of data every task reads, and the
  result is a pair of lazy Dask arrays;
- :func:`write_recommendations` writes either result one file per
  partition (``.npy``, CSV or Parquet) while the partitions are produced.

Dask is optional (``pip install "sklearn-musicrec[dask]"``); it is imported
only by :func:`recommend_dask` and by :func:`write_recommendations` when it
is given Dask arrays.
"""

import os
from collections.abc import Iterable, Iterator
from numbers import Integral
from typing import Any
from uuid import uuid4

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted

from .utils._typing import ArrayLike, IdsAndScores, MatrixLike
from .utils.validation import check_k

__all__ = ["recommend_blocks", "recommend_dask", "write_recommendations"]

_FORMATS = ("npy", "csv", "parquet")


def _check_recommender(estimator):
    if not callable(getattr(estimator, "recommend", None)):
        raise TypeError(
            "estimator must be a fitted recommender with a recommend method (a "
            "sklearn_musicrec estimator or a RecommenderPipeline), got "
            f"{type(estimator).__name__}."
        )
    check_is_fitted(estimator)


def _check_shared_items(items):
    """``items`` of a partitioned call: ``None`` or candidate ids shared by every user."""
    if items is None:
        return None
    if sp.issparse(items) or np.ndim(items) != 1:
        raise ValueError(
            "items must be None or a 1-D array of candidate item ids shared by every "
            "user when the users come in partitions (a per-user mask would have to "
            f"be partitioned with them), got an input of shape {np.shape(items)}."
        )
    return np.asarray(items)


def _check_arguments(estimator, k, exclude_seen, items):
    _check_recommender(estimator)
    k = check_k(k)
    if not isinstance(exclude_seen, (bool, np.bool_)):
        raise TypeError(
            f"exclude_seen must be a bool, got {exclude_seen!r} of type "
            f"{type(exclude_seen).__name__}."
        )
    return k, bool(exclude_seen), _check_shared_items(items)


def recommend_blocks(
    estimator: Any,
    blocks: Iterable[MatrixLike],
    k: int = 10,
    *,
    exclude_seen: bool = True,
    items: ArrayLike | None = None,
) -> Iterator[IdsAndScores]:
    """Recommend for users that come in blocks of rows, one block at a time.

    A generator: each block is read from ``blocks`` only when the previous
    block's lists have been taken, so memory holds one block and its lists
    whatever the number of users, and ``blocks`` may be a generator that
    reads partitions from disk. Concatenating the lists of all blocks gives
    exactly ``estimator.recommend(X, k)`` for ``X`` the blocks stacked
    (rows are folded in and ranked independently).

    Parameters
    ----------
    estimator : fitted recommender
        Anything with the package's ``recommend`` (a recommender or a
        :class:`~sklearn_musicrec.pipeline.RecommenderPipeline`).
    blocks : iterable of {array-like, sparse matrix} of shape (n_block_users, n_items)
        The users' histories, a block of rows at a time (e.g. CSR matrices
        loaded with :func:`scipy.sparse.load_npz`). Each block is validated
        by ``recommend``, as one call would validate it.
    k : int, default=10
        Length of each recommendation list.
    exclude_seen : bool, default=True
        Never recommend an item of the user's own row.
    items : None or array-like of int of shape (n_candidates,), default=None
        Candidate item ids shared by every user (``None``: the whole catalogue).

    Returns
    -------
    results : generator of (item_ids, scores)
        One pair per block, made when it is asked for (the arguments are
        checked at the call, before any block is read): ``item_ids``, an
        ndarray of int64 of shape (n_block_users, k), each block's lists, best
        first, padded with ``-1``; ``scores``, an ndarray of shape
        (n_block_users, k), their scores, padded with ``-inf``.

    See Also
    --------
    recommend_dask : The same on a Dask cluster.
    write_recommendations : Write the lists, one file per block.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.parallel import recommend_blocks
    >>> X = make_interactions(n_users=300, n_items=100, random_state=0).data
    >>> model = ItemKNNRecommender().fit(X)
    >>> blocks = (X[start:start + 128] for start in range(0, X.shape[0], 128))
    >>> parts = list(recommend_blocks(model, blocks, k=5))
    >>> [ids.shape for ids, _ in parts]
    [(128, 5), (128, 5), (44, 5)]
    >>> ids, scores = model.recommend(X, k=5)
    >>> bool(np.array_equal(np.vstack([ids for ids, _ in parts]), ids))
    True
    """
    k, exclude_seen, items = _check_arguments(estimator, k, exclude_seen, items)
    return _recommend_blocks(estimator, iter(blocks), k, exclude_seen, items)


def _recommend_blocks(estimator, blocks, k, exclude_seen, items):
    # the arguments are checked by the caller, before the first block is read
    for block in blocks:
        yield estimator.recommend(block, k, exclude_seen=exclude_seen, items=items)


def _recommend_one(estimator, block, k, exclude_seen, items):
    """One partition of :func:`recommend_dask` (runs on a worker)."""
    return estimator.recommend(block, k, exclude_seen=exclude_seen, items=items)


def recommend_dask(
    estimator: Any,
    X: Any,
    k: int = 10,
    *,
    exclude_seen: bool = True,
    items: ArrayLike | None = None,
) -> tuple[Any, Any]:
    """Recommend for the rows of a Dask array, one task per block of rows.

    Builds a lazy graph: each row block of ``X`` is folded in and ranked on
    a worker by ``estimator.recommend``. The fitted model is one node of the
    graph, so it is sent to each worker once (and held there while the
    graph runs), never once per task. Compute ``item_ids`` and ``scores``
    together (``dask.compute(item_ids, scores)``, ``dask.array.store``, or
    :func:`write_recommendations`): computed separately, every block would
    be ranked twice.

    Parameters
    ----------
    estimator : fitted recommender
        Anything with the package's ``recommend``; it must pickle (the
        package's estimators do).
    X : dask.array.Array of shape (n_users, n_items)
        The users' histories, chunked along the rows; the chunks may be
        scipy sparse matrices (e.g. ``dask.array.from_delayed`` over
        :func:`scipy.sparse.load_npz`) or numpy arrays. A split of the item
        axis is undone (each block needs whole rows).
    k : int, default=10
        Length of each recommendation list.
    exclude_seen : bool, default=True
        Never recommend an item of the user's own row.
    items : None or array-like of int of shape (n_candidates,), default=None
        Candidate item ids shared by every user (``None``: the whole catalogue).

    Returns
    -------
    item_ids : dask.array.Array of int64 of shape (n_users, k)
        Chunked as the rows of ``X``; best first, padded with ``-1``.
    scores : dask.array.Array of shape (n_users, k)
        Their scores, padded with ``-inf``; the dtype is the model's.

    See Also
    --------
    recommend_blocks : The same over any iterable of blocks, in this process.

    Notes
    -----
    Inside a worker's task the estimator's ``n_jobs=None`` means one thread
    (the package's thread rule, ``docs/scaling_out.md``), so a cluster whose
    workers have one thread each runs one kernel thread per worker.

    Examples
    --------
    >>> import dask
    >>> import dask.array as da
    >>> import numpy as np
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.parallel import recommend_dask
    >>> X = make_interactions(n_users=300, n_items=100, random_state=0).data
    >>> model = ItemKNNRecommender().fit(X)
    >>> X_dask = da.from_array(X, chunks=(128, -1), asarray=False)
    >>> ids, scores = recommend_dask(model, X_dask, k=5)
    >>> ids.chunks
    ((128, 128, 44), (5,))
    >>> ids, scores = dask.compute(ids, scores, scheduler="synchronous")
    >>> bool(np.array_equal(ids, model.recommend(X, k=5)[0]))
    True
    """
    import dask
    import dask.array as da

    k, exclude_seen, items = _check_arguments(estimator, k, exclude_seen, items)
    if not isinstance(X, da.Array):
        raise TypeError(
            "X must be a dask.array.Array of shape (n_users, n_items); for an iterable "
            f"of row blocks use recommend_blocks. Got {type(X).__name__}."
        )
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_users, n_items), got {X.ndim} dimension(s).")
    if len(X.chunks[1]) > 1:
        X = X.rechunk({1: -1})
    # the scores' dtype without ranking a block: one empty row, here
    probe = sp.csr_matrix((1, X.shape[1]), dtype=X.dtype)
    scores_dtype = estimator.recommend(probe, k, exclude_seen=exclude_seen, items=items)[1].dtype
    token = uuid4().hex
    model = dask.delayed(estimator, name=f"recommender-{token}", traverse=False)
    if items is not None:  # one node too, not a copy in every task
        items = dask.delayed(items, name=f"candidates-{token}", traverse=False)
    rank = dask.delayed(_recommend_one, pure=True, nout=2)
    ids_parts, scores_parts = [], []
    for block, n_rows in zip(X.to_delayed()[:, 0], X.chunks[0]):
        ids, scores = rank(model, block, k, exclude_seen, items)
        ids_parts.append(da.from_delayed(ids, shape=(n_rows, k), dtype=np.int64))
        scores_parts.append(da.from_delayed(scores, shape=(n_rows, k), dtype=scores_dtype))
    return da.concatenate(ids_parts, axis=0), da.concatenate(scores_parts, axis=0)


def _write_part(ids, scores, directory, index, first_user, fmt):
    """Write one partition's lists; return the paths written."""
    stem = os.path.join(directory, f"part-{index:05d}")
    if fmt == "npy":
        paths = [f"{stem}.ids.npy", f"{stem}.scores.npy"]
        np.save(paths[0], ids)
        np.save(paths[1], scores)
        return paths
    import pandas as pd

    n_users, k = ids.shape
    keep = ids.ravel() >= 0  # long format: the -1 padding is not a row
    frame = pd.DataFrame(
        {
            "user": np.repeat(np.arange(first_user, first_user + n_users, dtype=np.int64), k),
            "rank": np.tile(np.arange(1, k + 1, dtype=np.int64), n_users),
            "item": ids.ravel(),
            "score": scores.ravel(),
        }
    )[keep]
    if fmt == "csv":
        path = f"{stem}.csv"
        frame.to_csv(path, index=False)
    else:
        path = f"{stem}.parquet"
        frame.to_parquet(path, index=False)
    return [path]


def _check_format(fmt):
    if fmt not in _FORMATS:
        raise ValueError(f"format must be one of {_FORMATS}, got {fmt!r}.")
    if fmt == "npy":
        return
    try:
        import pandas  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"format={fmt!r} needs pandas (pip install pandas); format='npy' does not."
        ) from exc
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            try:
                import fastparquet  # noqa: F401
            except ImportError as exc:
                raise ImportError(
                    "format='parquet' needs pyarrow or fastparquet (pip install pyarrow)."
                ) from exc


def _is_one_pair(results):
    return (
        isinstance(results, tuple)
        and len(results) == 2
        and all(isinstance(part, np.ndarray) and part.ndim == 2 for part in results)
    )


def _check_part(part, index):
    try:
        ids, scores = part
    except (TypeError, ValueError):
        raise TypeError(
            "results must yield (item_ids, scores) pairs, as recommend_blocks does; "
            f"partition {index} is a {type(part).__name__}."
        ) from None
    ids, scores = np.asarray(ids), np.asarray(scores)
    if ids.ndim != 2 or ids.shape != scores.shape:
        raise ValueError(
            "each partition's item_ids and scores must be 2-D arrays of the same shape "
            f"(n_users, k); partition {index} has shapes {ids.shape} and {scores.shape}."
        )
    return ids, scores


def _is_dask_pair(results):
    if not (isinstance(results, tuple) and len(results) == 2):
        return False
    import sys

    da = sys.modules.get("dask.array")
    return da is not None and all(isinstance(part, da.Array) for part in results)


def write_recommendations(
    results: Iterable[IdsAndScores] | tuple[Any, Any],
    directory: str | os.PathLike,
    *,
    format: str = "npy",
    first_user: int = 0,
) -> list[str]:
    """Write recommendation lists to ``directory``, one file per partition.

    Parameters
    ----------
    results : iterable of (item_ids, scores), or one such pair
        What :func:`recommend_blocks` yields (each partition is written as
        soon as it is produced, so the lists are never all in memory), one
        ``recommend`` call's ``(item_ids, scores)`` (one partition), or
        the ``(item_ids, scores)`` of :func:`recommend_dask` (each row block
        is ranked and written by a worker; the directory must then be
        reachable from the workers, as on a local cluster or a shared file
        system).
    directory : str or path-like
        Created if absent. Partition ``i`` is written to
        ``part-{i:05d}.<ext>``; existing files of those names are replaced.
    format : {"npy", "csv", "parquet"}, default="npy"
        ``"npy"``: the partition's ``item_ids`` and ``scores`` as two arrays
        (``part-00000.ids.npy``, ``part-00000.scores.npy``), rows in user
        order, padding kept. ``"csv"`` and ``"parquet"`` (these need pandas;
        Parquet also pyarrow): a long table with the columns ``user`` (the
        row's position among all users), ``rank`` (1 = best), ``item`` and
        ``score``, the ``-1`` padding left out.
    first_user : int, default=0
        Position of the first row, for the ``user`` column.

    Returns
    -------
    paths : list of str
        The files written, in partition order.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_musicrec import ItemKNNRecommender
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> from sklearn_musicrec.parallel import recommend_blocks, write_recommendations
    >>> X = make_interactions(n_users=300, n_items=100, random_state=0).data
    >>> model = ItemKNNRecommender().fit(X)
    >>> blocks = (X[start:start + 128] for start in range(0, X.shape[0], 128))
    >>> with tempfile.TemporaryDirectory() as out:
    ...     paths = write_recommendations(recommend_blocks(model, blocks, k=5), out)
    ...     ids = np.vstack([np.load(path) for path in paths if path.endswith(".ids.npy")])
    >>> [path.rsplit("/", 1)[-1] for path in paths[:2]]
    ['part-00000.ids.npy', 'part-00000.scores.npy']
    >>> bool(np.array_equal(ids, model.recommend(X, k=5)[0]))
    True
    """
    _check_format(format)
    if not isinstance(first_user, Integral) or first_user < 0:
        raise ValueError(f"first_user must be a non-negative int, got {first_user!r}.")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if _is_dask_pair(results):
        return _write_dask(results, directory, int(first_user), format)
    if _is_one_pair(results):  # one recommend call's output: one partition
        results = [results]
    paths = []
    start = int(first_user)
    for index, part in enumerate(results):
        ids, scores = _check_part(part, index)
        paths += _write_part(ids, scores, directory, index, start, format)
        start += ids.shape[0]
    return paths


def _write_dask(results, directory, first_user, fmt):
    import dask

    ids, scores = results
    if ids.chunks[0] != scores.chunks[0]:
        raise ValueError(
            "results must be the (item_ids, scores) of recommend_dask, whose rows are "
            f"chunked alike; got row chunks {ids.chunks[0]} and {scores.chunks[0]}."
        )
    ids = ids.rechunk({1: -1})
    scores = scores.rechunk({1: -1})
    starts = first_user + np.concatenate([[0], np.cumsum(ids.chunks[0])[:-1]]).astype(np.int64)
    write = dask.delayed(_write_part, pure=True)
    # optimize_graph=False: optimised one array at a time, each graph would fuse
    # the ranking task into its own getitem, and every block would be ranked twice
    ids_blocks = ids.to_delayed(optimize_graph=False)[:, 0]
    scores_blocks = scores.to_delayed(optimize_graph=False)[:, 0]
    tasks = [
        write(ids_block, scores_block, directory, index, int(start), fmt)
        for index, (ids_block, scores_block, start) in enumerate(
            zip(ids_blocks, scores_blocks, starts)
        )
    ]
    return [path for part in dask.compute(*tasks) for path in part]
