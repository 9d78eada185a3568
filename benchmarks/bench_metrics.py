"""Speed of the vectorised metrics against a direct per-user implementation.

Usage::

    python benchmarks/bench_metrics.py [--n-users 100000] [--k 100] [--repeat 3]

Draws random held-out items (a sparse ``(n_users, n_items)`` matrix, a fixed
number of relevant items per user) and random recommendation lists of length
``k`` with some padding and duplicates, then times

- every ranking metric of ``sklearn_musicrec.metrics`` (best of ``--repeat``);
- a direct per-user reference implementation of each ranking metric (a
  Python loop over users with sets), on all users, run once; its values are
  checked against the vectorised ones;
- the beyond-accuracy metrics.

Writes ``metrics.json`` and ``metrics.md`` in ``--out`` (default
``benchmarks/results``), only when the run succeeds. A quick run:
``python benchmarks/bench_metrics.py --n-users 2000 --n-items 500 --out /tmp/m``.
"""

import math
import time
import warnings

import numpy as np
import scipy.sparse as sp
from _common import benchmark_parser, command_line, machine_description, machine_line, write_results
from sklearn.exceptions import UndefinedMetricWarning

from sklearn_musicrec.metrics import (
    average_popularity,
    catalog_coverage,
    gini_index,
    hit_rate_at_k,
    intra_list_diversity,
    long_tail_share,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    novelty,
    personalization,
    precision_at_k,
    recall_at_k,
)

RANKING = {
    "ndcg_at_k": ndcg_at_k,
    "recall_at_k": recall_at_k,
    "precision_at_k": precision_at_k,
    "map_at_k": map_at_k,
    "mrr_at_k": mrr_at_k,
    "hit_rate_at_k": hit_rate_at_k,
}


def make_data(n_users, n_items, n_relevant, k, seed=0):
    rng = np.random.default_rng(seed)
    # n_relevant items per user, drawn with replacement (a repeated draw
    # leaves the user with fewer distinct relevant items)
    rel = rng.integers(0, n_items, size=(n_users, n_relevant))
    rows = np.repeat(np.arange(n_users), n_relevant)
    truth = sp.csr_matrix((np.ones(rel.size), (rows, rel.ravel())), shape=(n_users, n_items))
    truth.sum_duplicates()
    truth.data[:] = 1.0
    # lists: half the relevant items planted at random positions, the rest
    # random items; 2% padding, some duplicates from the random draw
    recs = rng.integers(0, n_items, size=(n_users, k))
    n_plant = n_relevant // 2
    pos = np.argsort(rng.random((n_users, k)), axis=1)[:, :n_plant]
    np.put_along_axis(recs, pos, rel[:, :n_plant], axis=1)
    recs[rng.random((n_users, k)) < 0.02] = -1
    return truth, recs


def _random_rows(n_rows, n_cols, per_row, seed):
    rng = np.random.default_rng(seed)
    cols = rng.integers(0, n_cols, size=n_rows * per_row)
    rows = np.repeat(np.arange(n_rows), per_row)
    X = sp.csr_matrix(
        (rng.integers(1, 10, size=cols.size).astype(float), (rows, cols)), shape=(n_rows, n_cols)
    )
    X.sum_duplicates()
    return X


def _user_hits(rel, row):
    """(rank, item) of the first listing of each relevant item of one user."""
    seen = set()
    hits = []
    for j, item in enumerate(row):
        if item < 0 or item in seen:
            continue
        seen.add(item)
        if item in rel:
            hits.append(j)
    return hits


def _ref_user(name, rel, row, k, discount):
    hits = _user_hits(rel, row)
    denom = min(k, len(rel))
    if name == "ndcg_at_k":
        return sum(discount[j] for j in hits) / sum(discount[:denom])
    if name == "recall_at_k":
        return len(hits) / denom
    if name == "precision_at_k":
        return len(hits) / k
    if name == "map_at_k":
        return sum((n + 1) / (j + 1) for n, j in enumerate(hits)) / denom
    if name == "mrr_at_k":
        return 1.0 / (hits[0] + 1) if hits else 0.0
    return float(bool(hits))


def reference(name, truth, recs, k):
    """Direct per-user computation of one ranking metric (mean over users)."""
    indptr, indices = truth.indptr, truth.indices
    discount = [1.0 / math.log2(j + 2) for j in range(k)]
    total = 0.0
    n = 0
    for u in range(truth.shape[0]):
        rel = set(indices[indptr[u] : indptr[u + 1]].tolist())
        if not rel:
            continue
        total += _ref_user(name, rel, recs[u, :k].tolist(), k, discount)
        n += 1
    return total / n


def best_of(func, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = func()
        times.append(time.perf_counter() - t0)
    return min(times), value


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--n-users", type=int, default=100_000)
    parser.add_argument("--n-items", type=int, default=20_000)
    parser.add_argument("--n-relevant", type=int, default=20)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    machine = machine_description()
    warnings.simplefilter("ignore", UndefinedMetricWarning)

    truth, recs = make_data(args.n_users, args.n_items, args.n_relevant, args.k)
    rows = []
    vectorised = {}
    for name, func in RANKING.items():
        t, value = best_of(lambda f=func: f(truth, recs, k=args.k), args.repeat)
        vectorised[name] = value
        rows.append({"metric": name, "input": "2-D sparse y_true", "seconds": t, "value": value})
    held_out = truth.indices[truth.indptr[:-1]].astype(np.int64)
    t, value = best_of(lambda: ndcg_at_k(held_out, recs, k=args.k), args.repeat)
    rows.append({"metric": "ndcg_at_k", "input": "1-D y_true", "seconds": t, "value": value})

    for r in rows:
        if r["input"] != "2-D sparse y_true":
            continue
        t0 = time.perf_counter()
        ref = reference(r["metric"], truth, recs, args.k)
        r["reference_seconds"] = time.perf_counter() - t0
        r["ratio"] = r["reference_seconds"] / r["seconds"]
        if not math.isclose(ref, r["value"], rel_tol=1e-9):
            raise AssertionError(f"{r['metric']}: vectorised {r['value']} != reference {ref}")
    vec_all = sum(r["seconds"] for r in rows if "ratio" in r)
    ref_time = sum(r["reference_seconds"] for r in rows if "ratio" in r)

    # training matrix (50 draws per user) and item tags (10 draws per item)
    train = _random_rows(args.n_users, args.n_items, 50, seed=2)
    tags = _random_rows(args.n_items, 500, 10, seed=3)
    beyond = {
        "catalog_coverage": lambda: catalog_coverage(recs, n_items=args.n_items),
        "gini_index": lambda: gini_index(recs, n_items=args.n_items),
        "personalization": lambda: personalization(recs),
        "novelty": lambda: novelty(recs, train),
        "average_popularity": lambda: average_popularity(recs, train),
        "long_tail_share": lambda: long_tail_share(recs, train),
        "intra_list_diversity (500 tags)": lambda: intra_list_diversity(recs, tags),
    }
    beyond_rows = []
    for name, func in beyond.items():
        t, value = best_of(func, args.repeat)
        beyond_rows.append({"metric": name, "seconds": t, "value": value})

    result = {
        "command": command_line(argv),
        "machine": machine,
        "n_users": args.n_users,
        "n_items": args.n_items,
        "n_relevant": args.n_relevant,
        "k": args.k,
        "ranking": rows,
        "reference_seconds_all_six": ref_time,  # six separate per-user passes
        "vectorised_seconds_all_six": vec_all,
        "speedup_all_six": ref_time / vec_all,
        "beyond_accuracy": beyond_rows,
    }
    lines = [
        "# Metric speed",
        "",
        f"Command: `{result['command']}` (from the repository root).",
        "",
        f"Data: {args.n_users:,} users, {args.n_items:,} items, {args.n_relevant} relevant "
        f"items per user (2-D sparse `y_true`), lists of k={args.k} (2% padding, "
        "random duplicates). Times are the best of "
        f"{args.repeat} runs; the reference runs once.",
        "",
        machine_line(machine) + " Single-threaded numpy code.",
        "",
        "## Ranking metrics",
        "",
        "| metric | y_true | vectorised s | per-user reference s | ratio | value |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r['metric']} | {r['input']} | {r['seconds']:.3f} | "
        + (f"{r['reference_seconds']:.2f} | {r['ratio']:.1f}x" if "ratio" in r else "– | –")
        + f" | {r['value']:.5f} |"
        for r in rows
    ]
    lines += [
        "",
        f"All six ranking metrics: vectorised **{vec_all:.2f} s**, direct per-user "
        f"reference (a Python loop over users with sets, one metric per pass) "
        f"**{ref_time:.2f} s**, ratio **{ref_time / vec_all:.1f}x**. The values agree "
        "to 1e-9 (checked by the script).",
        "",
        "## Beyond-accuracy metrics",
        "",
        "| metric | seconds | value |",
        "|---|---|---|",
    ]
    lines += [f"| {r['metric']} | {r['seconds']:.3f} | {r['value']:.5f} |" for r in beyond_rows]
    write_results(args.out, "metrics", result, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
