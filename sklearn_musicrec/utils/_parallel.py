"""Ordered thread maps for kernels that release the GIL."""

from concurrent.futures import ThreadPoolExecutor

__all__ = ["map_in_threads"]


def map_in_threads(func, items, n_threads):
    """``[func(item) for item in items]``, run on up to ``n_threads`` threads.

    Meant for numpy/scipy/BLAS/numba work that releases the GIL. Results come
    back in the order of ``items``; callers choose ``items`` (blocks of rows)
    independently of ``n_threads``, so the thread count never changes a
    result. A fresh pool per call keeps nested use (a threaded kernel inside a
    threaded block) free of deadlocks.

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
    if n_workers <= 1:
        return [func(item) for item in items]
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        return list(pool.map(func, items))
