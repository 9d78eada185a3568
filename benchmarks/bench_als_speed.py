"""ALSFactorizer vs implicit's AlternatingLeastSquares: fit and recommend-all time.

Matched settings: 64 factors, 15 iterations, conjugate gradient with 3 steps,
regularization 0.01, float32, the same number of threads for both (BLAS
limited to one thread, as implicit recommends). implicit's confidence is
``alpha * x``; ours is ``1 + confidence_scale * x``, so implicit is given the
matrix with stored entries ``1 + x`` and ``alpha=1`` to solve the same problem.

Data: ``make_interactions`` synthetic play counts at three sizes, generated
once and cached under the system temporary directory. Every (library, size)
cell runs in a fresh subprocess so that its peak resident memory is its own.

Usage::

    python benchmarks/bench_als_speed.py                  # all sizes
    python benchmarks/bench_als_speed.py --sizes 1.5M     # the target size only
    python benchmarks/bench_als_speed.py --device cuda    # ours on a GPU too
    python benchmarks/bench_als_speed.py --sizes 1.5M --repeats 5

With ``--repeats R`` every (size, library) cell runs R times, alternating
ours and implicit, and the table shows medians; the ratio column is the
median of the per-repeat ratios (each pair ran back to back), with their range.
On shared cores this is much steadier than a single run.

Results go to ``bench_als_speed.{json,md}`` in ``--out`` (default
``benchmarks/results``), only when every cell succeeded. A quick run::

    python benchmarks/bench_als_speed.py --sizes tiny --out /tmp/als
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
    implicit_confidence,
    machine_description,
    machine_line,
    peak_rss_gb,
    report_worker_result,
    run_worker,
    timed_fit,
    write_results,
)

SIZES = {
    # name: (n_users, n_items, mean_items_per_user)
    "1.5M": (50_000, 20_000, 30.0),
    "6M": (200_000, 30_000, 30.0),
    "20M": (500_000, 50_000, 42.0),
    # a smoke test of the script itself (seconds), not a measurement
    "tiny": (2_000, 1_000, 20.0),
}
FACTORS, ITERATIONS, REG, CG_STEPS, K = 64, 15, 0.01, 3, 20


def dataset(name):
    """The cached CSR matrix of synthetic play counts for size ``name``."""
    cache = Path(tempfile.gettempdir()) / "sklearn_musicrec_bench" / f"interactions_{name}.npz"
    if cache.exists():
        return sp.load_npz(cache).tocsr()
    from sklearn_musicrec.datasets import make_interactions

    n_users, n_items, mean = SIZES[name]
    X = make_interactions(
        n_users=n_users, n_items=n_items, mean_items_per_user=mean, random_state=0
    ).data.astype(np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    sp.save_npz(cache, X)
    return X


def worker(library, name, threads, recommend, device):
    from threadpoolctl import threadpool_limits

    X = dataset(name)
    out = {"library": library, "size": name, "nnz": int(X.nnz), "shape": list(X.shape)}
    settings = dict(factors=FACTORS, iterations=ITERATIONS, regularization=REG, threads=threads)
    if library == "ours":
        from sklearn_musicrec.decomposition import ALSFactorizer

        params = als_matching_implicit(**settings, cg_steps=CG_STEPS, device=device)
        # compile the numba kernels (cached on disk) outside the timing
        ALSFactorizer(**{**params, "max_iter": 1, "device": "cpu"}).fit(X[:200])
        if device == "cuda":
            ALSFactorizer(**{**params, "max_iter": 1}).fit(X[:2000])
        model = ALSFactorizer(**params)
        if device == "cuda":
            import torch

            out["gpu"] = torch.cuda.get_device_name()
            torch.cuda.synchronize()
        timed_fit(model, X, out)
        out["final_loss"] = model.loss_curve_[-1]
        if recommend:
            tic = time.perf_counter()
            ids, _ = model.recommend(X, k=K)
            out["recommend_all_s"] = time.perf_counter() - tic
    else:
        Xi = implicit_confidence(X)
        with threadpool_limits(limits=1, user_api="blas"):
            model = timed_fit(implicit_als(**settings), Xi, out, show_progress=False)
            if recommend:
                tic = time.perf_counter()
                ids, _ = model.recommend(
                    np.arange(X.shape[0]), Xi, N=K, filter_already_liked_items=True
                )
                out["recommend_all_s"] = time.perf_counter() - tic
    out["peak_rss_gb"] = peak_rss_gb()
    report_worker_result(out)


def _ratio_cell(row, key):
    ratios = row[key + "_ratios"]
    if len(ratios) == 1:
        return f"{ratios[0]:.2f}"
    return f"{np.median(ratios):.2f} [{min(ratios):.2f}, {max(ratios):.2f}]"


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument(
        "--sizes",
        default="1.5M,6M,20M",
        help=f"comma-separated sizes among {', '.join(SIZES)} (default: 1.5M,6M,20M)",
    )
    parser.add_argument("--threads", type=int, default=2, help="threads of both libraries")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="runs per cell, alternating the libraries; medians are reported",
    )
    parser.add_argument(
        "--worker",
        nargs=4,
        metavar=("LIB", "SIZE", "RECOMMEND", "DEVICE"),
        help="(internal) run one cell in this process",
    )
    args = parser.parse_args()
    if args.worker:
        lib, name, rec, device = args.worker
        worker(lib, name, args.threads, rec == "1", device)
        return

    sizes = args.sizes.split(",")
    unknown = [name for name in sizes if name not in SIZES]
    if unknown:
        parser.error(f"--sizes: unknown {unknown}; choose among {list(SIZES)}")
    machine = machine_description("implicit", "torch")
    rows = []
    for name in sizes:
        dataset(name)  # generate outside the timed subprocesses
        libs = ["ours", "implicit"]
        if args.device == "cuda":
            libs.append("ours-cuda")
        runs = {lib: [] for lib in libs}
        for _ in range(args.repeats):
            for lib in libs:
                device = "cuda" if lib == "ours-cuda" else "cpu"
                rec = "1" if name == sizes[0] else "0"
                run = run_worker(
                    __file__,
                    "--threads",
                    args.threads,
                    "--worker",
                    lib.split("-")[0],
                    name,
                    rec,
                    device,
                )
                print(lib, run, flush=True)
                runs[lib].append(run)
        for lib in libs:
            row = {key: value for key, value in runs[lib][0].items()}
            row["library"] = lib
            for key in ("fit_s", "fit_cpu_s", "recommend_all_s", "peak_rss_gb"):
                if key in row:
                    row[key] = float(np.median([r[key] for r in runs[lib]]))
            row["fit_s_runs"] = [r["fit_s"] for r in runs[lib]]
            row["fit_cpu_s_runs"] = [r["fit_cpu_s"] for r in runs[lib]]
            if lib != "implicit":
                for key in ("fit_s", "fit_cpu_s"):
                    pair = [a[key] / b[key] for a, b in zip(runs[lib], runs["implicit"])]
                    row[key + "_ratios"] = pair
            rows.append(row)

    matched = als_matching_implicit(
        factors=FACTORS,
        iterations=ITERATIONS,
        regularization=REG,
        cg_steps=CG_STEPS,
        threads=args.threads,
    )
    report = {
        "command": command_line(),
        "settings": dict(
            factors=FACTORS,
            iterations=ITERATIONS,
            regularization=REG,
            # the matrix as given and implicit's confidence 1 + x (not the
            # package's raw-count defaults: BM25 weighting, confidence 0.5),
            # as als_matching_implicit gave ALSFactorizer
            weighting=matched["weighting"],
            confidence_scale=matched["confidence_scale"],
            cg_steps=matched["cg_steps"],
            threads=args.threads,
            k=K,
            repeats=args.repeats,
        ),
        "machine": machine,
        "rows": rows,
    }
    lines = [
        "# ALSFactorizer vs implicit ALS: speed",
        "",
        f"Command: `{report['command']}`",
        "",
        machine_line(machine),
        "",
        f"Settings: {FACTORS} factors, {ITERATIONS} iterations, CG {CG_STEPS} steps, "
        f"regularization {REG}, {args.threads} threads for both, BLAS 1 thread; "
        f"{args.repeats} run(s) per cell, alternating the libraries"
        + (
            " (medians; ratio: median of the back-to-back pairs' ratios, [min, max])"
            if args.repeats > 1
            else ""
        )
        + ".",
        "",
        "| size | nnz | library | fit s (wall) | wall ratio ours / implicit | fit CPU s (all threads) "
        "| CPU ratio ours / implicit | recommend-all s | peak RSS GB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        peer = next(
            (r for r in rows if r["size"] == row["size"] and r["library"] == "implicit"), None
        )
        mine = peer and row["library"] != "implicit"
        ratio = _ratio_cell(row, "fit_s") if mine else ""
        cpu_ratio = _ratio_cell(row, "fit_cpu_s") if mine else ""
        rec = f"{row['recommend_all_s']:.2f}" if "recommend_all_s" in row else ""
        lines.append(
            f"| {row['size']} | {row['nnz']:,} | {row['library']} | {row['fit_s']:.2f} | "
            f"{ratio} | {row['fit_cpu_s']:.2f} | {cpu_ratio} | {rec} | {row['peak_rss_gb']:.2f} |"
        )
    for lib in ("ours", "implicit"):
        runs = [r for r in rows if r["library"] == lib]
        if len(runs) > 1:
            lines += [
                "",
                f"{lib}: fit seconds per million interactions, wall / CPU: "
                + ", ".join(
                    f"{r['size']}: {r['fit_s'] / (r['nnz'] / 1e6):.2f} / "
                    f"{r['fit_cpu_s'] / (r['nnz'] / 1e6):.2f}"
                    for r in runs
                ),
            ]
    for row in rows:
        if row["library"] == "ours-cuda":
            cpu_row = next(r for r in rows if r["size"] == row["size"] and r["library"] == "ours")
            lines += [
                "",
                f"GPU ({row.get('gpu', 'cuda')}), {row['size']}: fit "
                f"{row['fit_s']:.2f} s, {cpu_row['fit_s'] / row['fit_s']:.1f}x faster than "
                f"our CPU fit on {args.threads} threads.",
            ]
    lines += [
        "",
        "Wall times depend on what else ran on the shared cores at the time; the "
        "CPU time (all threads of the process) is less sensitive to that. "
        "Peak RSS is VmHWM of the worker process (data loading included).",
    ]
    write_results(args.out, "bench_als_speed", report, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
