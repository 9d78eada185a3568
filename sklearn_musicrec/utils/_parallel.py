"""Ordered thread maps for kernels that release the GIL."""

import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from joblib import effective_n_jobs

__all__ = [
    "SERIAL_MAX_ROWS",
    "faiss_threads",
    "map_in_threads",
    "numba_threads",
    "resolve_n_jobs",
    "threads_for",
]


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


_blas_lock = threading.Lock()
_blas_libraries = None  # (len(sys.modules) at the scan, the controllers)


def _blas_controllers():
    """threadpoolctl's controllers of the BLAS libraries loaded in the process.

    ``threadpoolctl.threadpool_limits`` scans every loaded shared object
    (``/proc/self/maps``) on each use, about 10 ms on a busy machine: more
    than a whole single-user recommendation. A BLAS is loaded by importing an
    extension module (numpy, scipy, and later perhaps torch or faiss, which
    bring their own), so the scan is kept until the number of imported
    modules changes: a steady serving process scans once, and a library
    imported later is found at the next call (the scan is repeated in a
    forked child too, see ``_drop_pools``).
    """
    global _blas_libraries
    n_modules = len(sys.modules)
    cached = _blas_libraries
    if cached is None or cached[0] != n_modules:
        from threadpoolctl import ThreadpoolController

        with _blas_lock:
            cached = _blas_libraries
            if cached is None or cached[0] != n_modules:
                found = ThreadpoolController().select(user_api="blas").lib_controllers
                # the import of threadpoolctl itself may have added modules
                cached = _blas_libraries = (len(sys.modules), found)
    return cached[1]


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
def _blas_threads(limit):
    """Limit the BLAS libraries to ``limit`` threads; restore their counts after."""
    changed = []
    for library in _blas_controllers():
        previous = library.get_num_threads()
        if previous != limit:
            library.set_num_threads(limit)
            changed.append((library, previous))
    try:
        yield
    finally:
        for library, previous in reversed(changed):
            library.set_num_threads(previous)


# Batches of fewer rows run on one thread whatever n_jobs says: one user's
# fold-in and list cost tens of microseconds, less than waking a second
# thread, and on a busy machine a parallel region can wait milliseconds for
# a thread the OS has not scheduled (lastfm-2k, one row, n_jobs=2 on 2 busy
# cores: 24 ms for an ItemKNN list that takes 0.35 ms on one thread;
# benchmarks/bench_realtime.py). Results never depend on the thread count.
SERIAL_MAX_ROWS = 16


def threads_for(n_jobs, n_rows):
    """``n_jobs``, or 1 for a batch of at most ``SERIAL_MAX_ROWS`` rows (see above).

    Examples
    --------
    >>> from sklearn_musicrec.utils._parallel import threads_for
    >>> threads_for(-1, 1), threads_for(4, 1000)
    (1, 4)
    """
    return 1 if n_rows is not None and n_rows <= SERIAL_MAX_ROWS else n_jobs


@contextmanager
def numba_threads(n_jobs, *, blas=None, n_rows=None):
    """Run numba's parallel loops on ``n_jobs`` threads; restore the settings after.

    The one place the package sets numba's (and, on request, BLAS's) thread
    count. Work is handed to the threads one chunk at a time (chunk size 1):
    the package's kernels split rows into fixed blocks whose costs differ
    widely, and the results never depend on which thread runs a block.
    Settings already in effect are left untouched, and the BLAS libraries
    are found once per process, so entering the context costs microseconds
    (it is on the path of every single-user ``recommend``).

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
    n_rows : int or None, default=None
        Rows of the batch about to run: at most ``SERIAL_MAX_ROWS`` runs on
        one thread (:func:`threads_for`), the serving case of one user.

    Yields
    ------
    n_threads : int
        The number of numba threads in effect.
    """
    import numba

    n_jobs = threads_for(n_jobs, n_rows)
    n_threads = max(1, min(resolve_n_jobs(n_jobs), numba.config.NUMBA_NUM_THREADS))
    blas_limit = None if blas is None else {"single": 1, "same": n_threads}[blas]
    active = getattr(_state, "numba_setting", None)
    if active is not None and active[0] == n_threads and blas_limit in (None, active[1]):
        # nested in a context of this thread that set exactly this (the fold-in
        # inside a recommend call): nothing to set, nothing to restore
        yield n_threads
        return
    previous = numba.get_num_threads()
    # one thread runs every chunk whatever their size: the chunk size only
    # matters to several (a one-user request sets and restores nothing else)
    previous_chunksize = numba.get_parallel_chunksize() if n_threads > 1 else 1
    if previous != n_threads:
        numba.set_num_threads(n_threads)
    if previous_chunksize != 1:
        numba.set_parallel_chunksize(1)
    _state.numba_setting = (n_threads, blas_limit)
    try:
        if blas_limit is None:
            yield n_threads
        else:
            with _blas_threads(blas_limit):
                yield n_threads
    finally:
        _state.numba_setting = active
        if previous_chunksize != 1:
            numba.set_parallel_chunksize(previous_chunksize)
        if previous != n_threads:
            numba.set_num_threads(previous)


@contextmanager
def faiss_threads(n_jobs, *, n_rows=None):
    """Run faiss on ``n_jobs`` threads; restore its thread count after.

    The one place the package sets faiss's threads (the optional ANN
    indexes of :class:`~sklearn_musicrec.decomposition.ApproximateRecommender`).
    faiss parallelises its index builds and batched searches with its own
    OpenMP runtime, and the OpenBLAS bundled with the faiss-cpu wheel (used
    by its k-means and exhaustive searches) is the OpenMP build, so one
    ``omp_set_num_threads`` sets both; numba's and numpy's threads are not
    touched (:func:`numba_threads` sets those). ``n_jobs`` means what it
    means everywhere (:func:`resolve_n_jobs`), and a batch of at most
    ``SERIAL_MAX_ROWS`` rows runs on one thread (:func:`threads_for`).
    Needs faiss to be importable.

    Parameters
    ----------
    n_jobs : int or None
        An estimator's ``n_jobs``.
    n_rows : int or None, default=None
        Rows of the batch about to run (``None``: a build, or unknown).

    Yields
    ------
    n_threads : int
        The number of faiss threads in effect.
    """
    import faiss

    n_threads = resolve_n_jobs(threads_for(n_jobs, n_rows))
    previous = faiss.omp_get_max_threads()
    if previous != n_threads:
        faiss.omp_set_num_threads(n_threads)
    try:
        yield n_threads
    finally:
        if previous != n_threads:
            faiss.omp_set_num_threads(previous)


# One pool per size, kept for the life of the process: starting threads costs
# a millisecond or more per call on a busy machine, and the ALS fit alone maps
# about a hundred blocked products. A fork leaves the child without the
# parent's worker threads, so the pools are dropped there.
_pools = {}
_pools_lock = threading.Lock()
_state = threading.local()


def _drop_pools():
    global _pools_lock, _blas_lock, _blas_libraries
    _pools.clear()
    _pools_lock = threading.Lock()
    _blas_lock = threading.Lock()
    _blas_libraries = None


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
