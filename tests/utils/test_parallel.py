import multiprocessing
import sys
import threading

import pytest

from sklearn_musicrec.utils._parallel import map_in_threads


def test_results_in_order_whatever_the_threads():
    items = list(range(50))
    for n_threads in (1, 2, 4, 100):
        assert map_in_threads(lambda x: x * x, items, n_threads) == [x * x for x in items]
    assert map_in_threads(lambda x: x, [], 4) == []


def test_threads_are_reused_between_calls():
    names = set()
    for _ in range(5):
        names.update(map_in_threads(lambda _: threading.current_thread().name, range(8), 2))
    assert len(names) <= 2
    assert all(name.startswith("sklearn_musicrec") for name in names)


def test_nested_calls_run_inline_instead_of_deadlocking():
    def outer(i):
        inner = map_in_threads(lambda j: (threading.current_thread().name, j), range(4), 2)
        assert {name for name, _ in inner} == {threading.current_thread().name}
        return [j for _, j in inner]

    assert map_in_threads(outer, range(6), 2) == [[0, 1, 2, 3]] * 6


def test_exceptions_reach_the_caller():
    def boom(i):
        if i == 3:
            raise ValueError("item 3")
        return i

    with pytest.raises(ValueError, match="item 3"):
        map_in_threads(boom, range(8), 2)
    # the pool is still usable afterwards
    assert map_in_threads(lambda x: x, range(8), 2) == list(range(8))


def _in_forked_child(queue):
    queue.put(map_in_threads(lambda x: -x, range(8), 2))


@pytest.mark.skipif(sys.platform != "linux", reason="needs the fork start method")
def test_a_forked_child_gets_fresh_threads():
    map_in_threads(lambda x: x, range(8), 2)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_in_forked_child, args=(queue,))
    child.start()
    result = queue.get(timeout=60)
    child.join(timeout=60)
    assert result == [-x for x in range(8)]
    assert child.exitcode == 0


def test_resolve_n_jobs_follows_scikit_learn():
    from joblib import cpu_count, parallel_config

    from sklearn_musicrec.utils._parallel import resolve_n_jobs

    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(1) == 1
    assert resolve_n_jobs(3) == 3
    assert resolve_n_jobs(-1) == cpu_count()
    assert resolve_n_jobs(-cpu_count() - 5) == 1
    with parallel_config(n_jobs=2):
        assert resolve_n_jobs(None) == 2


def test_blas_scan_is_kept_until_a_module_is_imported(monkeypatch):
    # a BLAS brought in later by an extension module (torch, faiss) must be found
    import sys
    import types

    import threadpoolctl

    from sklearn_musicrec.utils import _parallel

    scans = []
    real = threadpoolctl.ThreadpoolController

    class Counting(real):
        def __init__(self):
            scans.append(1)
            super().__init__()

    monkeypatch.setattr(threadpoolctl, "ThreadpoolController", Counting)
    monkeypatch.setattr(_parallel, "_blas_libraries", None)
    first = _parallel._blas_controllers()
    assert _parallel._blas_controllers() is first and len(scans) == 1  # steady: one scan
    monkeypatch.setitem(sys.modules, "_a_module_with_its_own_blas", types.ModuleType("m"))
    _parallel._blas_controllers()
    assert len(scans) == 2


def test_resolve_n_jobs_in_a_dask_worker_counts_the_worker(monkeypatch):
    # inside a task, joblib's active backend (dask) counts every core of the
    # cluster; the package counts threads against the worker running the task
    import types

    from joblib import cpu_count

    from sklearn_musicrec.utils._parallel import resolve_n_jobs

    worker = types.SimpleNamespace(state=types.SimpleNamespace(nthreads=4))
    in_a_task = types.SimpleNamespace(get_worker=lambda: worker)
    monkeypatch.setitem(sys.modules, "distributed", in_a_task)
    assert [resolve_n_jobs(n) for n in (None, 1, 3, 8, -1, -2, -4, -10)] == [1, 1, 3, 8, 4, 3, 1, 1]

    def outside_a_task():
        raise ValueError("No worker found")

    monkeypatch.setitem(
        sys.modules, "distributed", types.SimpleNamespace(get_worker=outside_a_task)
    )
    assert resolve_n_jobs(None) == 1
    assert resolve_n_jobs(-1) == cpu_count()


def test_nested_numba_contexts_with_the_same_setting_set_nothing(monkeypatch):
    # the fold-in inside a one-user recommend: only the outer context sets threads
    import numba

    from sklearn_musicrec.utils._parallel import numba_threads

    calls = []
    real_set = numba.set_num_threads
    monkeypatch.setattr(numba, "set_num_threads", lambda n: (calls.append(n), real_set(n)))
    before = numba.get_num_threads()
    with numba_threads(1, blas="same", n_rows=1) as outer:
        n_outer = len(calls)
        with numba_threads(4, blas="single", n_rows=1) as inner:  # one row: 1 thread
            assert len(calls) == n_outer and numba.get_num_threads() == 1
        assert outer == inner == 1
        if numba.config.NUMBA_NUM_THREADS > 1:
            # another setting nested inside is set, and restored on exit
            with numba_threads(2):
                assert numba.get_num_threads() == 2
            assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before


def test_a_nested_context_asking_another_blas_limit_sets_it():
    from threadpoolctl import threadpool_info

    from sklearn_musicrec.utils._parallel import numba_threads

    def blas_threads():
        return {lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"}

    if not blas_threads():
        pytest.skip("no BLAS library found by threadpoolctl")
    with numba_threads(2, blas=None):
        outside = blas_threads()
        with numba_threads(2, blas="single"):
            assert blas_threads() == {1}
        assert blas_threads() == outside


def test_faiss_threads_set_and_restored():
    faiss = pytest.importorskip("faiss", reason="faiss (the [ann] extra) is not installed")
    from joblib import parallel_config

    from sklearn_musicrec.utils._parallel import SERIAL_MAX_ROWS, faiss_threads

    before = faiss.omp_get_max_threads()
    with faiss_threads(2) as n:
        assert n == 2 and faiss.omp_get_max_threads() == 2
        with faiss_threads(1):  # nested: the inner count, then the outer one again
            assert faiss.omp_get_max_threads() == 1
        assert faiss.omp_get_max_threads() == 2
    assert faiss.omp_get_max_threads() == before
    with faiss_threads(2, n_rows=SERIAL_MAX_ROWS) as n:  # a serving-sized batch: one thread
        assert n == 1 == faiss.omp_get_max_threads()
    with parallel_config(n_jobs=2), faiss_threads(None) as n:  # n_jobs's meaning everywhere
        assert n == 2
    with pytest.raises(RuntimeError), faiss_threads(2):
        raise RuntimeError("restored on errors too")
    assert faiss.omp_get_max_threads() == before
