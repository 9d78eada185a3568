"""CalibratedReranker's greedy pass on Last.fm-2k: the numpy re-scoring against the incremental kernel.

The greedy calibration step (Steck 2018) adds, at each of the pool's
positions, the candidate that maximises relevance minus the KL divergence of
the user's genre mix from the list's. The first implementation (issue 12)
re-scored the whole ``(users, n_candidates, n_categories)`` block with numpy
at every step; the current one (issue 13, ``rerank/_calibration_numba.py``)
keeps the running genre mix of the list, computes the part of the divergence
common to all candidates once per step and corrects it over each candidate's
own categories. Both run here side by side on the same fitted item-kNN
(every user of the lastfm-2k protocol of ``benchmarks/_common.py``, pool of
100, the 50 most used tags as categories), and the script checks that they
produce the same lists. The time is that of ``recommend(train, k=20)``; the
wrapped model's own ``recommend`` is timed beside them (the part of the cost
that is not the greedy pass).

Run ``python benchmarks/bench_rerank_speed.py`` with ``SKLEARN_MUSICREC_DATA``
pointing at the data home; it writes ``benchmarks/results/bench_rerank_speed.{json,md}``.
"""

import copy
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    K,
    benchmark_parser,
    command_line,
    lastfm_holdout,
    machine_description,
    machine_line,
    require_data,
    write_results,
)

from sklearn_musicrec.rerank import CalibratedReranker  # noqa: E402
from sklearn_musicrec.rerank._base import greedy_order  # noqa: E402
from sklearn_musicrec.rerank._rerankers import _history_mean  # noqa: E402
from sklearn_musicrec.utils._features import calibration_kl  # noqa: E402

_GATHER = 1 << 22  # floats of (users, candidates, categories) gathered at once


class NumpyCalibratedReranker(CalibratedReranker):
    """The issue-12 greedy pass: every candidate's KL recomputed at every step (numpy)."""

    def _order(self, X, pool, relevance, valid):
        n_categories = self.item_categories_.shape[1]
        step = max(1, _GATHER // max(1, pool.shape[1] * n_categories))
        if pool.shape[0] > step:
            return np.vstack(
                [
                    self._order(
                        X[s : s + step],
                        pool[s : s + step],
                        relevance[s : s + step],
                        valid[s : s + step],
                    )
                    for s in range(0, pool.shape[0], step)
                ]
            )
        batch, n = pool.shape
        p = _history_mean(X, self.item_categories_)
        Cp = self.item_categories_[np.maximum(pool, 0).ravel()].toarray().reshape(batch, n, -1)
        lam = float(self.calibration_weight)
        alpha = float(self.alpha)
        sum_q = np.zeros((batch, n_categories))
        sum_rel = np.zeros(batch)
        size = np.zeros(batch)

        def gain():
            q = (sum_q[:, None, :] + Cp) / (size + 1.0)[:, None, None]
            kl = calibration_kl(p[:, None, :], q, alpha)
            return (1.0 - lam) * (sum_rel[:, None] + relevance) - lam * kl

        def update(rows, chosen):
            sum_q[rows] += Cp[rows, chosen]
            sum_rel[rows] += relevance[rows, chosen]
            size[rows] += 1

        return greedy_order(gain, update, valid)


def _timed(f):
    tic = time.perf_counter()
    out = f()
    return out, time.perf_counter() - tic


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-candidates", type=int, default=100)
    parser.add_argument("--calibration-weight", type=float, default=0.7)
    args = parser.parse_args(argv)
    from sklearn_musicrec import ItemKNNRecommender
    from sklearn_musicrec.datasets import fetch_lastfm_2k

    machine = machine_description()
    train, _ = lastfm_holdout(binarize=True)
    tags = require_data(lambda: fetch_lastfm_2k(download_if_missing=False), "lastfm-2k").tags
    tags = sp.csr_matrix(tags, dtype=np.float64)
    genres = tags[:, np.argsort(-tags.getnnz(axis=0), kind="stable")[:50]]
    fast = CalibratedReranker(
        ItemKNNRecommender(n_jobs=-1),
        calibration_weight=args.calibration_weight,
        n_candidates=args.n_candidates,
        item_features=genres,
    ).fit(train)
    # the same fitted state under the old greedy pass (no second fit)
    slow = copy.copy(fast)
    slow.__class__ = NumpyCalibratedReranker
    fast.recommend(train[:2], k=K)  # compile the kernel outside the timing
    _, t_base = _timed(lambda: fast.estimator_.recommend(train, k=K))
    (ids_slow, _), t_slow = _timed(lambda: slow.recommend(train, k=K))
    (ids_fast, _), t_fast = _timed(lambda: fast.recommend(train, k=K))
    same = bool(np.array_equal(ids_slow, ids_fast))
    n_diff = int((ids_slow != ids_fast).any(axis=1).sum())
    result = {
        "command": command_line(argv),
        "machine": machine,
        "n_users": int(train.shape[0]),
        "n_items": int(train.shape[1]),
        "n_candidates": args.n_candidates,
        "n_categories": int(genres.shape[1]),
        "calibration_weight": args.calibration_weight,
        "seconds_wrapped_recommend": t_base,
        "seconds_numpy": t_slow,
        "seconds_incremental": t_fast,
        "speedup": t_slow / t_fast,
        "identical_lists": same,
        "users_with_different_lists": n_diff,
    }
    print(result, flush=True)
    md = [
        "# CalibratedReranker on Last.fm-2k: numpy re-scoring vs the incremental kernel",
        "",
        f"Command: `{result['command']}`. {train.shape[0]} users x {train.shape[1]} items, pool "
        f"{args.n_candidates}, {genres.shape[1]} categories (most used tags), calibration_weight "
        f"{args.calibration_weight}, `recommend(train, k={K})` after one shared fit.",
        "",
        machine_line(machine),
        "",
        "| greedy pass | seconds |",
        "|---|---|",
        f"| wrapped ItemKNNRecommender alone (no re-ranking) | {t_base:.2f} |",
        f"| numpy, every candidate re-scored each step (issue 12) | {t_slow:.2f} |",
        f"| incremental numba kernel (issue 13) | {t_fast:.2f} |",
        "",
        f"Speed-up {t_slow / t_fast:.1f}x; identical top-{K} lists: {same} "
        f"({n_diff} users differ).",
    ]
    write_results(args.out, "bench_rerank_speed", result, md)
    print("\n".join(md))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
