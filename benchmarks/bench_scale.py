"""ALS at scale: fit and recommend cost per million interactions, ours and implicit's.

Synthetic play counts from 1M up to 100M stored interactions (``--sizes``),
built directly as a CSR matrix with numpy (:func:`synthetic_csr`): users'
history lengths log-normal, items drawn from a power-law popularity, int32
indices and float32 counts, generated in blocks of users so that no COO
triple or full-size temporary is ever held. Each (size, library) cell runs
in a fresh subprocess, so its peak resident memory (``VmHWM``, data
included) is its own.

Settings (those of ``bench_als_speed.py``): 64 factors, conjugate gradient
with 3 steps, regularization 0.01, float32, ``--threads`` threads for both
libraries (BLAS 1 thread, as implicit recommends), ``--iterations``
iterations (default 3: the cost per iteration is what scales; the CPU is
shared). implicit's confidence is ``alpha * x`` and ours ``1 +
confidence_scale * x``, so implicit gets the stored entries ``1 + x`` and
``alpha=1`` (the same problem). "Fit s / iteration" is the whole ``fit``
(validation, the transposed copy and the initialisation included) divided
by the number of iterations.

Recommend: top-20 with the training items excluded for a fixed sample of
``--recommend-users`` users (the first rows, a random sample since rows are
independent draws), timed per user; "recommend-all" extrapolates that to
every user of the size and says so.

Usage::

    python benchmarks/bench_scale.py                          # 1M,10M,30M,100M
    python benchmarks/bench_scale.py --sizes 1M,10M --out /tmp/scale
    python benchmarks/bench_scale.py --sizes tiny --out /tmp/scale   # smoke test

Generated matrices are cached as ``.npy`` files under the system temporary
directory (``--cache``) and reused by every cell.
"""

import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from _common import (
    als_matching_implicit,
    benchmark_parser,
    command_line,
    implicit_als,
    machine_description,
    machine_line,
    peak_rss_gb,
    report_worker_result,
    run_worker,
    timed_fit,
    write_results,
)

SIZES = {
    # name: (n_users, n_items, mean distinct items per user)
    "tiny": (2_000, 1_000, 20.0),
    "1M": (22_000, 20_000, 50.0),
    "10M": (210_000, 100_000, 50.0),
    "30M": (630_000, 200_000, 50.0),
    "100M": (2_100_000, 500_000, 50.0),
}
FACTORS, REG, CG_STEPS, K = 64, 0.01, 3, 20
POPULARITY_EXPONENT = 0.8
BLOCK_USERS = 50_000


def synthetic_csr(n_users, n_items, mean_items, *, random_state=0):
    """Synthetic play counts as a CSR matrix, built directly with numpy.

    Each user's number of listening events is log-normal around
    ``mean_items``; each event picks an item from a Zipf-like popularity
    ``rank ** -0.8`` (item 0 the most popular); repeated picks of one item
    by one user add up to its play count. Rows are generated in blocks of
    users (sorted, duplicates summed within the block), and written into
    preallocated int32 / float32 arrays, so memory stays near the final
    matrix: no COO triple and no COO -> CSR conversion.
    """
    rng = np.random.default_rng(random_state)
    weights = np.arange(1, n_items + 1, dtype=np.float64) ** -POPULARITY_EXPONENT
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    sigma = 1.0
    lengths = rng.lognormal(np.log(mean_items) - sigma**2 / 2, sigma, n_users)
    lengths = np.clip(np.rint(lengths), 1, n_items // 2).astype(np.int64)
    capacity = int(lengths.sum())  # events: an upper bound of the stored entries
    indices = np.empty(capacity, dtype=np.int32)
    data = np.empty(capacity, dtype=np.float32)
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    nnz = 0
    for start in range(0, n_users, BLOCK_USERS):
        stop = min(start + BLOCK_USERS, n_users)
        block = lengths[start:stop]
        rows = np.repeat(np.arange(stop - start, dtype=np.int64), block)
        items = np.searchsorted(cdf, rng.random(rows.size)).clip(max=n_items - 1)
        keys, counts = np.unique(rows * n_items + items, return_counts=True)
        block_rows = keys // n_items
        m = keys.size
        indices[nnz : nnz + m] = keys - block_rows * n_items
        data[nnz : nnz + m] = counts
        indptr[start + 1 : stop + 1] = nnz + np.cumsum(
            np.bincount(block_rows, minlength=stop - start)
        )
        nnz += m
    if nnz < 2**31:
        indptr = indptr.astype(np.int32)
    # views of the first nnz entries: no copy of the large arrays
    return sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(n_users, n_items))


def dataset(name, cache):
    """The CSR matrix of size ``name``, generated once and cached as .npy files."""
    folder = Path(cache) / f"scale_{name}"
    parts = ("data", "indices", "indptr")
    if all((folder / f"{p}.npy").exists() for p in parts):
        arrays = [np.load(folder / f"{p}.npy") for p in parts]
        n_users, n_items, _ = SIZES[name]
        return sp.csr_matrix(tuple(arrays), shape=(n_users, n_items))
    X = synthetic_csr(*SIZES[name])
    folder.mkdir(parents=True, exist_ok=True)
    for p in parts:
        np.save(folder / f"{p}.npy", getattr(X, p))
    return X


def worker(library, name, threads, iterations, n_recommend, cache):
    from threadpoolctl import threadpool_limits

    tic = time.perf_counter()
    X = dataset(name, cache)
    out = {
        "library": library,
        "size": name,
        "nnz": int(X.nnz),
        "shape": list(X.shape),
        "load_s": time.perf_counter() - tic,
    }
    sample = np.arange(min(n_recommend, X.shape[0]))
    settings = dict(factors=FACTORS, iterations=iterations, regularization=REG, threads=threads)
    if library == "ours":
        from sklearn_musicrec.decomposition import ALSFactorizer

        params = als_matching_implicit(**settings, cg_steps=CG_STEPS)
        # compile the numba kernels (cached on disk) outside the timing
        ALSFactorizer(**{**params, "max_iter": 1}).fit(X[:200])
        model = timed_fit(ALSFactorizer(**params), X, out)
        out["fit_peak_rss_gb"] = peak_rss_gb()
        rows = X[sample]
        model.recommend(rows[:10], k=K)  # warm-up
        tic = time.perf_counter()
        model.recommend(rows, k=K)
        out["recommend_s"] = time.perf_counter() - tic
    else:
        X.data += 1.0  # implicit_confidence in place (this process's copy: no second matrix)
        with threadpool_limits(limits=1, user_api="blas"):
            model = timed_fit(implicit_als(**settings), X, out, show_progress=False)
            out["fit_peak_rss_gb"] = peak_rss_gb()
            rows = X[sample]
            model.recommend(sample[:10], rows[:10], N=K, filter_already_liked_items=True)
            tic = time.perf_counter()
            model.recommend(sample, rows, N=K, filter_already_liked_items=True)
            out["recommend_s"] = time.perf_counter() - tic
    out["recommend_users"] = int(sample.size)
    out["peak_rss_gb"] = peak_rss_gb()
    report_worker_result(out)


def _per_million(row, key, iterations=1):
    return row[key] / iterations / (row["nnz"] / 1e6)


def render(rows, args, machine, generation):
    """The result dict and the markdown lines of a run's cells."""
    it = args.iterations
    matched = als_matching_implicit(
        factors=FACTORS, iterations=it, regularization=REG, cg_steps=CG_STEPS, threads=args.threads
    )
    report = {
        "command": command_line(),
        "settings": dict(
            factors=FACTORS,
            iterations=it,
            regularization=REG,
            # what als_matching_implicit gave ALSFactorizer
            weighting=matched["weighting"],
            confidence_scale=matched["confidence_scale"],
            cg_steps=matched["cg_steps"],
            threads=args.threads,
            k=K,
            recommend_users=args.recommend_users,
            popularity_exponent=POPULARITY_EXPONENT,
        ),
        "generation_or_load_s": generation,
        "machine": machine,
        "rows": rows,
    }
    lines = [
        "# ALS at scale: cost per million interactions",
        "",
        f"Command: `{report['command']}`",
        "",
        machine_line(machine),
        "",
        f"Settings: {FACTORS} factors, {it} iterations, CG {CG_STEPS} steps, regularization "
        f"{REG}, {args.threads} threads for both, BLAS 1 thread. Synthetic play counts "
        f"(log-normal history lengths, popularity rank^-{POPULARITY_EXPONENT}), int32 "
        "indices, float32 counts. Fit s / iteration is the whole fit divided by the "
        f"iterations. Recommend: top-{K}, training items excluded, timed on the first "
        f"{args.recommend_users:,} users (or all, if fewer); recommend-all is that per-user "
        "cost times the number of users (extrapolated where the sample is smaller). "
        "Peak RSS: VmHWM of the cell's own process, the data included.",
        "",
        "| size | users | items | nnz | library | fit s | fit s / iteration / M nnz "
        "| fit CPU s / iteration / M nnz | recommend ms / user | recommend-all s "
        "| peak RSS GB | ours / implicit fit |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peer = next(
            (r for r in rows if r["size"] == row["size"] and r["library"] == "implicit"), None
        )
        ratio = f"{row['fit_s'] / peer['fit_s']:.2f}" if peer and row["library"] == "ours" else ""
        per_user = row["recommend_s"] / row["recommend_users"]
        n_users, n_items = row["shape"]
        extrapolated = "" if row["recommend_users"] == n_users else " (extrapolated)"
        lines.append(
            f"| {row['size']} | {n_users:,} | {n_items:,} | {row['nnz']:,} | {row['library']} "
            f"| {row['fit_s']:.1f} | {_per_million(row, 'fit_s', it):.3f} "
            f"| {_per_million(row, 'fit_cpu_s', it):.3f} | {per_user * 1e3:.3f} "
            f"| {per_user * n_users:.1f}{extrapolated} | {row['peak_rss_gb']:.2f} | {ratio} |"
        )
    lines += [
        "",
        "Wall times depend on what else ran on the shared cores at the time; CPU time "
        "(all threads of the process) is less sensitive to that.",
    ]
    return report, lines


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--sizes",
        default="1M,10M,30M,100M",
        help=f"comma-separated sizes among {', '.join(SIZES)} (default: 1M,10M,30M,100M)",
    )
    parser.add_argument(
        "--implicit-sizes",
        default=None,
        help="sizes at which implicit runs too (default: every size of --sizes)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of both libraries")
    parser.add_argument("--iterations", type=int, default=3, help="ALS iterations per fit")
    parser.add_argument(
        "--recommend-users", type=int, default=20_000, help="users of the timed recommend sample"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "sklearn_musicrec_bench",
        help="folder of the generated matrices",
    )
    parser.add_argument(
        "--worker", nargs=2, metavar=("LIB", "SIZE"), help="(internal) run one cell here"
    )
    args = parser.parse_args()
    if args.worker:
        lib, name = args.worker
        worker(lib, name, args.threads, args.iterations, args.recommend_users, args.cache)
        return

    sizes = args.sizes.split(",")
    implicit_sizes = sizes if args.implicit_sizes is None else args.implicit_sizes.split(",")
    unknown = [name for name in {*sizes, *implicit_sizes} if name not in SIZES]
    if unknown:
        parser.error(f"unknown sizes {unknown}; choose among {list(SIZES)}")
    machine = machine_description("implicit")
    rows, generation = [], {}
    for name in sizes:
        tic = time.perf_counter()
        X = dataset(name, args.cache)  # generated (or loaded) outside the timed cells
        generation[name] = time.perf_counter() - tic
        del X
        for lib in ("ours", "implicit"):
            if lib == "implicit" and name not in implicit_sizes:
                continue
            run = run_worker(
                __file__,
                "--threads",
                args.threads,
                "--iterations",
                args.iterations,
                "--recommend-users",
                args.recommend_users,
                "--cache",
                args.cache,
                "--worker",
                lib,
                name,
            )
            print(lib, name, run, flush=True)
            rows.append(run)

    report, lines = render(rows, args, machine, generation)
    write_results(args.out, "bench_scale", report, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
