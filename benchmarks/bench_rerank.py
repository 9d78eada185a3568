"""Accuracy against diversity, coverage, the long tail and calibration on Last.fm-2k.

Item-kNN (binarised input, the package's default settings) is wrapped by each
re-ranker (pool of 100 candidates) and the strength parameter is swept; for
each point the script reports NDCG@20 and the beyond-accuracy figures of the
top-20 lists: intra-list diversity over the artists' tags, catalogue
coverage, long-tail share (items outside the head that holds 80% of the
training plays), long-tail exposure (position-discounted), Gini of item
exposure, and Steck's miscalibration over the 50 most used tags. Protocol of
``benchmarks/_common.py`` (users with >= 5 artists, per-user 80/20, seed 0).

Run ``python benchmarks/bench_rerank.py [--quick]`` with ``SKLEARN_MUSICREC_DATA``
pointing at the data home. It writes ``benchmarks/results/bench_rerank.{json,md}``
and the plot ``bench_rerank.png`` (matplotlib, the ``plots`` extra) on success.
"""

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import K, lastfm_holdout  # noqa: E402

STRENGTHS = [0.0, 0.1, 0.3, 0.5, 0.7, 0.8, 0.9, 0.95]
QUICK_STRENGTHS = [0.0, 0.1, 0.3, 0.7]


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="4 strengths per re-ranker")
    p.add_argument("--n-candidates", type=int, default=100)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    return p


def main(argv=None):
    args = _parser().parse_args(argv)
    from sklearn_musicrec import ItemKNNRecommender
    from sklearn_musicrec.datasets import fetch_lastfm_2k
    from sklearn_musicrec.metrics import (
        catalog_coverage,
        gini_index,
        intra_list_diversity,
        long_tail_exposure,
        long_tail_share,
        miscalibration,
        ndcg_at_k,
    )
    from sklearn_musicrec.rerank import CalibratedReranker, MMRReranker, XQuADReranker

    train, test = lastfm_holdout(binarize=True)
    plays, _ = lastfm_holdout(binarize=False)  # popularity by plays, as long_tail_share
    tags = sp.csr_matrix(fetch_lastfm_2k(download_if_missing=False).tags, dtype=np.float64)
    top = np.argsort(-tags.getnnz(axis=0), kind="stable")[:50]
    genres = tags[:, top]
    n_items = train.shape[1]
    strengths = QUICK_STRENGTHS if args.quick else STRENGTHS
    base = ItemKNNRecommender(n_jobs=-1)
    rerankers = {
        "MMR (diversity)": lambda s: MMRReranker(
            base, diversity=s, n_candidates=args.n_candidates, item_features=tags
        ),
        "xQuAD (tail_weight)": lambda s: XQuADReranker(
            base, tail_weight=s, n_candidates=args.n_candidates
        ),
        "Calibrated (calibration_weight)": lambda s: CalibratedReranker(
            base, calibration_weight=s, n_candidates=args.n_candidates, item_features=genres
        ),
    }
    rows = []
    for name, make in rerankers.items():
        for s in strengths:
            tic = time.perf_counter()
            model = make(s).fit(train)
            ids, _ = model.recommend(train, k=K)
            seconds = time.perf_counter() - tic
            row = {
                "reranker": name,
                "strength": s,
                "ndcg": float(ndcg_at_k(test, ids, k=K)),
                "ild": float(intra_list_diversity(ids, tags)),
                "coverage": float(catalog_coverage(ids, n_items=n_items)),
                "long_tail_share": float(long_tail_share(ids, plays)),
                "long_tail_exposure": float(long_tail_exposure(ids, plays)),
                "gini": float(gini_index(ids, n_items=n_items)),
                "miscalibration": float(miscalibration(ids, train, genres)),
                "seconds": seconds,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python benchmarks/bench_rerank.py" + (" --quick" if args.quick else "")
    meta = {
        "command": command,
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "base": "ItemKNNRecommender() on binarised plays",
        "n_candidates": args.n_candidates,
        "k": K,
    }
    (out / "bench_rerank.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    cols = ["ndcg", "ild", "coverage", "long_tail_share", "long_tail_exposure", "gini"]
    cols.append("miscalibration")
    lines = [
        "# Re-rankers on Last.fm-2k: accuracy against beyond-accuracy (top-20)",
        "",
        f"Command: `{command}`; base {meta['base']}, pool {args.n_candidates}.",
        "",
        "| re-ranker | strength | " + " | ".join(cols) + " | s |",
        "|---|---|" + "---|" * (len(cols) + 1),
    ]
    for r in rows:
        vals = " | ".join(f"{r[c]:.4f}" for c in cols)
        lines.append(f"| {r['reranker']} | {r['strength']} | {vals} | {r['seconds']:.1f} |")
    (out / "bench_rerank.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(18, 4.2))
    panels = [
        ("ild", "intra-list diversity (tags)"),
        ("coverage", "catalogue coverage"),
        ("long_tail_share", "long-tail share"),
        ("miscalibration", "miscalibration (KL, top-50 tags)"),
    ]
    for ax, (key, label) in zip(axes, panels):
        for name in rerankers:
            pts = [r for r in rows if r["reranker"] == name]
            ax.plot([p[key] for p in pts], [p["ndcg"] for p in pts], "o-", label=name)
        ax.set_xlabel(label)
        ax.set_ylabel(f"NDCG@{K}")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Last.fm-2k: item-kNN re-ranked, strength 0 to 0.9 along each line")
    fig.tight_layout()
    fig.savefig(out / "bench_rerank.png", dpi=110)
    return 0


if __name__ == "__main__":
    sys.exit(main())
