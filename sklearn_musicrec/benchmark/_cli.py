"""The ``sklearn-musicrec`` command line: ``benchmark`` (the default) and ``demo``."""

import argparse
import shlex
import sys
from pathlib import Path

from . import _data, _models, _peers, _protocols

__all__ = ["benchmark_parser", "main"]

_EPILOG = """\
examples:
  sklearn-musicrec benchmark                      # offline, synthetic data, every model
  sklearn-musicrec benchmark --dataset lastfm-2k --tune
  sklearn-musicrec benchmark --dataset plays.csv --models als,itemknn,ease --k 10,50
  sklearn-musicrec benchmark --protocol holdout --peers implicit,cornac
  sklearn-musicrec benchmark --dataset lastfm-2k --models itemknn --peers lenskit

The report lands in --out (default ./benchmark-report): report.md, report.html
(self-contained), results.json, per_user.csv and PNG plots.
"""


def _k_list(text):
    try:
        ks = [int(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected one or more integers >= 1 separated by commas, got {text!r}"
        ) from None
    if not ks or min(ks) < 1:
        raise argparse.ArgumentTypeError(
            f"expected one or more integers >= 1 separated by commas, got {text!r}"
        )
    return ks


def _protocol(text):
    if text not in _protocols.PROTOCOLS:
        raise argparse.ArgumentTypeError(
            f"unknown protocol {text!r}; valid protocols are {', '.join(_protocols.PROTOCOLS)}"
        )
    return text


def benchmark_parser(parser=None):
    """Add the ``benchmark`` options to ``parser`` (a new parser when None)."""
    if parser is None:
        parser = argparse.ArgumentParser(prog="sklearn-musicrec benchmark")
    parser.description = (
        "Compare recommenders on your data: every model of sklearn_musicrec (and peer "
        "libraries) in one protocol, with a report (Markdown, HTML, JSON, CSV, plots)."
    )
    parser.epilog = _EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--dataset",
        default="synthetic",
        help=f"{', '.join(_data.DATASETS)}, or a path to a CSV/TSV (or Parquet) file of "
        "user,item[,value[,timestamp]] rows (default: synthetic, offline)",
    )
    parser.add_argument(
        "--models",
        default=None,
        help=f"comma list of short names (default: every model that can run here): "
        f"{', '.join(_models.MODELS)}",
    )
    parser.add_argument(
        "--k",
        type=_k_list,
        default=[10, 20],
        help="cut-off(s), e.g. 10 or 10,20 (default 10,20; the first is the primary metric's)",
    )
    parser.add_argument(
        "--protocol",
        type=_protocol,
        default="new-users",
        help=f"{', '.join(_protocols.PROTOCOLS)} (default new-users)",
    )
    parser.add_argument(
        "--n-splits", type=int, default=3, help="folds of the new-users protocol (default 3)"
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="search each model's small grid by GridSearchCV on the training "
        "users of each fold (nested; never on the test users)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--n-jobs",
        type=int,
        default=-1,
        help="threads for the models and peers that take n_jobs (default -1: all cores)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("benchmark-report"),
        help="output directory (default ./benchmark-report)",
    )
    parser.add_argument(
        "--peers",
        default=None,
        help="peer libraries to run in the same protocol when installed: "
        f"{', '.join(_peers._LIBRARIES)} or {', '.join(_peers.PEERS)}; "
        "a peer whose library is not installed, or without a wrapper (surprise, "
        "recbole, ...), is skipped with a message",
    )
    parser.add_argument(
        "--min-item-users",
        type=int,
        default=1,
        help="keep only the items with at least this many users (then the non-empty users) "
        "before splitting (default 1: keep everything)",
    )
    parser.add_argument(
        "--data-home",
        default=None,
        help="data home of the loaders (default: $SKLEARN_MUSICREC_DATA)",
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar and no progress lines; only the table"
    )
    return parser


def _build_parser():
    parser = argparse.ArgumentParser(
        prog="sklearn-musicrec",
        description="sklearn_musicrec command line. Without a command: benchmark.",
    )
    sub = parser.add_subparsers(dest="command")
    benchmark_parser(sub.add_parser("benchmark", help="compare recommenders, write a report"))
    sub.add_parser(
        "demo",
        help="the quick synthetic demo table (python -m sklearn_musicrec demo --help)",
        add_help=False,
    )
    return parser


def run_command(args, argv, stream=None):
    """Run ``benchmark`` with parsed ``args``; return the exit status."""
    from ._report import format_table, write_report
    from ._run import run_benchmark

    stream = sys.stdout if stream is None else stream
    command = shlex.join(["sklearn-musicrec", "benchmark", *argv])
    try:
        results, per_user = run_benchmark(
            args.dataset,
            models=args.models,
            k=args.k,
            protocol=args.protocol,
            n_splits=args.n_splits,
            tune=args.tune,
            seed=args.seed,
            n_jobs=args.n_jobs,
            peers=args.peers,
            quiet=args.quiet,
            stream=stream,
            command=command,
            data_home=args.data_home,
            min_item_users=args.min_item_users,
        )
    except (ValueError, OSError) as exc:
        print(f"sklearn-musicrec benchmark: error: {exc}", file=sys.stderr)
        return 2
    results, plotted = write_report(results, per_user, args.out)
    print("\n" + format_table(results), file=stream)
    print(
        f"\nreport written to {args.out}/ (report.html, report.md, results.json, per_user.csv"
        + (", PNG plots" if plotted else "; plots skipped: matplotlib is not installed")
        + f") in {results['elapsed_s']:.0f} s",
        file=stream,
    )
    return 0


def main(argv=None):
    """Entry point of ``sklearn-musicrec`` and ``python -m sklearn_musicrec``.

    Parameters
    ----------
    argv : list of str or None, default=None
        The command line after the program name (``sys.argv[1:]`` when
        None): ``benchmark [options]`` (also when only options are given, or
        nothing) or ``demo [options]``.

    Returns
    -------
    status : int
        The exit status: 0 on success, 2 for a usage or input error (the
        message is printed to stderr).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "demo":
        from ..__main__ import demo_main

        return demo_main(argv[1:])
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["benchmark", *argv]
    args = _build_parser().parse_args(argv)
    if args.command is None:
        args = _build_parser().parse_args(["benchmark"])
    return run_command(args, argv[1:])
