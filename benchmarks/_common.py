"""What the benchmark scripts share: command line, machine, memory, results, data.

- :func:`benchmark_parser`: every script's ``argparse`` parser, with the
  ``--out`` directory (default ``benchmarks/results``).
- :func:`machine_description`: CPU model, cores, memory, load, Python and
  package versions and the git commit of the checkout of the
  ``sklearn_musicrec`` that was imported (the code measured).
- :func:`peak_rss_gb`: peak memory, measured one way everywhere: the peak
  resident set size of the calling process, ``VmHWM`` of
  ``/proc/self/status`` (the kernel's high-water mark, which starts afresh
  in every new process; ``ru_maxrss`` instead where ``/proc`` is missing).
  Scripts that compare peak memory run each cell in a fresh subprocess
  (:func:`run_worker`) so that each peak is the cell's own.
- :func:`write_results`: the ``.json`` and ``.md`` result files, written
  only at the very end of a successful run, each to a temporary file in
  the output folder then renamed over the old one, so that a failed or
  interrupted run leaves the committed results as they were.
- :func:`require_data`: load a real dataset or exit non-zero with a clear
  message (and write nothing).
- The lastfm-2k protocol of docs/facts.md (:func:`lastfm_holdout`,
  :func:`ranking_quality`): users with at least 5 artists, a per-user random
  80/20 holdout of play records (``holdout_split``, seed 0), full-catalogue
  ranking with training items excluded, K = 20.
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np

from sklearn_musicrec.utils._machine import (  # noqa: F401  (the one home; re-exported)
    machine_description,
    machine_line,
    peak_rss_gb,
)

K = 20
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"


def benchmark_parser(doc):
    """An ``ArgumentParser`` described by the script's docstring, with ``--out``.

    Parameters
    ----------
    doc : str
        The script's module docstring: its first line is the description,
        the rest is shown after the options by ``--help``.
    """
    first, _, rest = doc.strip().partition("\n")
    parser = argparse.ArgumentParser(
        description=first,
        epilog=rest.strip() or None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=RESULTS,
        help="directory for the .json and .md result files (default: benchmarks/results); "
        "they are written only when the whole run succeeds",
    )
    return parser


def command_line(argv=None):
    """The command that reproduces this run, from the repository root."""
    script = Path(sys.argv[0]).resolve()
    try:
        script = script.relative_to(ROOT)
    except ValueError:
        pass
    args = sys.argv[1:] if argv is None else list(argv)
    prefix = ""
    if os.environ.get("SKLEARN_MUSICREC_DATA"):
        prefix = f"SKLEARN_MUSICREC_DATA={shlex.quote(os.environ['SKLEARN_MUSICREC_DATA'])} "
    return prefix + shlex.join(["python", str(script), *args])


def run_worker(script, *args):
    """Run ``script *args`` in a fresh Python process; return the dict it reported.

    The worker prints its result as one line ``RESULT <json>``
    (:func:`report_worker_result`). A worker that fails, or prints no result,
    ends the whole benchmark with its error (and nothing is written).
    """
    cmd = [sys.executable, str(script), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(
            f"worker {shlex.join(cmd[1:])} failed (exit status {proc.returncode}); "
            "no results written"
        )
    return json.loads(lines[-1][len("RESULT ") :])


def report_worker_result(result):
    """Print a worker's result for :func:`run_worker`."""
    print("RESULT " + json.dumps(result), flush=True)


def read_previous(out, stem):
    """The result dict of an earlier run in ``out``, or None."""
    path = Path(out) / f"{stem}.json"
    return json.loads(path.read_text()) if path.exists() else None


def keep_other_rows(old_rows, rows, ran, order):
    """``rows`` with an earlier run's rows of the models not in ``ran``, sorted by ``order``.

    For a run of some of a benchmark's models: the results keep the other
    models' latest rows. Rows are keyed by their ``"model"``; ``order`` lists
    the keys (rows of keys not in it go last, in their order).
    """
    rank = {key: i for i, key in enumerate(order)}
    merged = [r for r in old_rows if r["model"] not in ran] + rows
    merged.sort(key=lambda r: rank.get(r["model"], len(rank)))
    return merged


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_results(out, stem, result, markdown):
    """Write ``<out>/<stem>.json`` and ``<out>/<stem>.md`` at the end of a run.

    Both files are written to temporary files in ``out`` first and renamed
    over the old ones only once both are complete, so an error while
    formatting them, or a crash, leaves the previous results intact.

    Parameters
    ----------
    out : path-like
        Output directory (created if missing).
    stem : str
        File name without extension.
    result : dict
        JSON-serialisable results.
    markdown : str or list of str
        The report; a list is joined with newlines.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if not isinstance(markdown, str):
        markdown = "\n".join(markdown)
    contents = {
        ".json": json.dumps(result, indent=2) + "\n",
        ".md": markdown.rstrip("\n") + "\n",
    }
    staged = []
    try:
        for suffix, text in contents.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}", suffix=suffix + ".tmp", dir=out)
            staged.append((tmp, out / f"{stem}{suffix}"))
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private
        for tmp, final in staged:
            os.replace(tmp, final)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    print(f"results written to {out / stem}.json and .md", file=sys.stderr)


def require_data(load, what):
    """``load()`` a real dataset, or exit non-zero saying what is missing.

    ``load`` must not download (pass ``download_if_missing=False``); an
    ``OSError`` from it ends the script with status 1 before anything is
    measured or written.
    """
    try:
        return load()
    except OSError as exc:
        raise SystemExit(
            f"{what} is not available ({exc}). Set SKLEARN_MUSICREC_DATA to the data "
            "home (e.g. /work/shared/data); no results written."
        ) from exc


def lastfm_holdout(*, binarize=False, data_home=None):
    """``(train, test)`` CSR play-count matrices of the lastfm-2k protocol.

    ``data_home`` is passed to ``fetch_lastfm_2k`` (``None``: the
    ``SKLEARN_MUSICREC_DATA`` environment variable or the default home).
    """
    from sklearn_musicrec.datasets import fetch_lastfm_2k
    from sklearn_musicrec.model_selection import holdout_split

    X = require_data(
        lambda: fetch_lastfm_2k(data_home=data_home, download_if_missing=False), "lastfm-2k"
    ).data.tocsr()
    X = X[np.diff(X.indptr) >= 5]
    if binarize:
        X = (X > 0).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no user is too short here
        train, test = holdout_split(X, 0.2, random_state=0)
    return train.tocsr(), test.tocsr()


def ranking_quality(ids, test, k=K):
    """NDCG@k and Recall@k of recommended ``ids`` against held-out ``test``."""
    from sklearn_musicrec.metrics import ndcg_at_k, recall_at_k

    return {
        f"ndcg@{k}": float(ndcg_at_k(test, ids, k=k)),
        f"recall@{k}": float(recall_at_k(test, ids, k=k)),
    }


def als_matching_implicit(*, factors, iterations, regularization, cg_steps, threads, **extra):
    """``ALSFactorizer`` settings that fit what :func:`implicit_als` fits.

    implicit's confidence is ``alpha * x`` (``alpha = 1``) and ours
    ``1 + confidence_scale * x``: implicit is given the stored entries
    ``1 + x`` (:func:`implicit_confidence`) and ours the matrix as given,
    without the package's raw-count defaults (BM25 weighting, confidence
    0.5); both run conjugate-gradient steps for a fixed number of
    iterations (``tol=0``). ``extra`` adds settings (e.g. ``device``).
    """
    return dict(
        n_components=factors,
        max_iter=iterations,
        regularization=regularization,
        weighting=None,
        confidence_scale=1.0,
        cg_steps=cg_steps,
        solver="cg",
        tol=0.0,
        n_jobs=threads,
        random_state=0,
        **extra,
    )


def implicit_als(*, factors, iterations, regularization, threads):
    """implicit's CPU ``AlternatingLeastSquares`` (CG solver, its 3 CG steps)."""
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares(
        factors=factors,
        iterations=iterations,
        regularization=regularization,
        num_threads=threads,
        random_state=0,
        use_cg=True,
    )


def implicit_confidence(X):
    """A copy of ``X`` with stored entries ``1 + x``: implicit's input for ours' confidence."""
    Xi = X.copy()
    Xi.data += 1.0
    return Xi


def timed_fit(model, X, out, **fit_params):
    """Fit ``model``; record wall and process CPU seconds in ``out`` (``fit_s``, ``fit_cpu_s``)."""
    import time

    tic, cpu = time.perf_counter(), time.process_time()
    model.fit(X, **fit_params)
    out["fit_s"] = time.perf_counter() - tic
    out["fit_cpu_s"] = time.process_time() - cpu
    return model
