"""Ordered thread maps for kernels that release the GIL."""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from joblib import effective_n_jobs

__all__ = ["map_in_threads", "numba_threads", "resolve_n_jobs"]


def resolve_n_jobs(n_jobs):
    """Number of threads meant by an estimator's ``n_jobs``.

    scikit-learn's convention, through joblib: ``None`` means 1 unless a
    ``joblib.parallel_config(n_jobs=...)`` context says otherwise, ``-1``
    means every core available to the process, ``-2`` all but one, etc.
    Every estimator of the package reads ``n_jobs`` through this.

    Inside a task running on a Dask worker (a ``GridSearchCV`` under
    ``joblib.parallel_config(backend="dask")``, a partition of
    :func:`~sklearn_musicrec.parallel.recommend_dask`) joblib's active
    backend is the cluster, whose ``n_jobs`` counts every core of every
    worker; threads of one task are counted against its worker instead:
    ``None`` means 1 (each of the worker's threads runs one task at a time)
    and a negative value counts from the worker's ``nthreads`` (``-1``: all
    of them).
    """
    worker_threads = _dask_worker_threads()
    if worker_threads is not None:
        if n_jobs is None:
            return 1
        n_jobs = int(n_jobs)
        return max(1, worker_threads + 1 + n_jobs if n_jobs < 0 else n_jobs)
    return max(1, int(effective_n_jobs(n_jobs)))


def _dask_worker_threads():
    """``nthreads`` of the Dask worker running the current task, else ``None``.

    Costs a dictionary look-up when ``distributed`` was never imported (it is
    not imported here).
    """
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except ValueError:  # not in a task of a worker
        return None
    return int(worker.state.nthreads)


@contextmanager
def numba_threads(n_jobs, *, blas=None):
    """Run numba's parallel loops on ``n_jobs`` threads; restore the settings after.

    The one place the package sets numba's (and, on request, BLAS's) thread
    count. Work is handed to the threads one chunk at a time (chunk size 1):
    the package's kernels split rows into fixed blocks whose costs differ
    widely, and the results never depend on which thread runs a block.

    Parameters
    ----------
    n_jobs : int or None
        An estimator's ``n_jobs`` (see :func:`resolve_n_jobs`), capped at
        ``numba.config.NUMBA_NUM_THREADS``.
    blas : {None, "single", "same"}, default=None
        ``None`` leaves BLAS alone; ``"single"`` limits it to one thread (for
        kernels that call BLAS inside their own parallel loop: no
        oversubscription, and bitwise reproducible products); ``"same"``
        gives it the numba threads (scoring, where each output entry is one
        dot product whatever the split).

    Yields
    ------
    n_threads : int
        The number of numba threads in effect.
    """
    import numba
    from threadpoolctl import threadpool_limits

    n_threads = max(1, min(resolve_n_jobs(n_jobs), numba.config.NUMBA_NUM_THREADS))
    previous = numba.get_num_threads()
    previous_chunksize = numba.get_parallel_chunksize()
    numba.set_num_threads(n_threads)
    numba.set_parallel_chunksize(1)
    try:
        if blas is None:
            yield n_threads
        else:
            limit = {"single": 1, "same": n_threads}[blas]
            with threadpool_limits(limits=limit, user_api="blas"):
                yield n_threads
    finally:
        numba.set_parallel_chunksize(previous_chunksize)
        numba.set_num_threads(previous)


# One pool per size, kept for the life of the process: starting threads costs
# a millisecond or more per call on a busy machine, and the ALS fit alone maps
# about a hundred blocked products. A fork leaves the child without the
# parent's worker threads, so the pools are dropped there.
_pools = {}
_pools_lock = threading.Lock()
_state = threading.local()


def _drop_pools():
    global _pools_lock
    _pools.clear()
    _pools_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # pragma: no branch - POSIX
    os.register_at_fork(after_in_child=_drop_pools)


def _pool(n_workers):
    with _pools_lock:
        pool = _pools.get(n_workers)
        if pool is None:
            pool = _pools[n_workers] = ThreadPoolExecutor(
                max_workers=n_workers, thread_name_prefix="sklearn_musicrec"
            )
        return pool


def _in_worker(func):
    def run(item):
        _state.in_worker = True
        return func(item)

    return run


def map_in_threads(func, items, n_threads):
    """``[func(item) for item in items]``, run on up to ``n_threads`` threads.

    Meant for numpy/scipy/BLAS/numba work that releases the GIL. Results come
    back in the order of ``items``; callers choose ``items`` (blocks of rows)
    independently of ``n_threads``, so the thread count never changes a
    result. The threads are kept between calls. A call made from inside one
    of them (a threaded kernel inside a threaded block) runs its items inline
    instead, so a worker never waits on its own pool.

    Parameters
    ----------
    func : callable
        Applied to each item.
    items : sequence
        The work items.
    n_threads : int
        Upper bound on the number of threads; 1 or fewer runs inline.

    Returns
    -------
    results : list
    """
    items = list(items)
    n_workers = min(int(n_threads), len(items))
    if n_workers <= 1 or getattr(_state, "in_worker", False):
        return [func(item) for item in items]
    return list(_pool(n_workers).map(_in_worker(func), items))
