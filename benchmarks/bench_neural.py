"""Neural recommenders on lastfm-2k, side by side with EASE, ALS and Cornac.

Protocol of ``benchmarks/_common.py`` (users with >= 5 artists, per-user
random 80/20 holdout of play records, seed 0, top-20 over the full
catalogue, training items excluded); every model is fitted on the raw play
counts of the training part (the neural models binarise inside, their
default), except where a weighting is named:

- ``popularity``: :class:`PopularityRecommender`;
- ``ease``: ``EASERecommender(regularization=200)`` on binarised plays (the
  tuned setting of ``bench_ease.py`` / ``docs/facts.md``);
- ``als``: ``BM25Weighting() -> ALSFactorizer(64, regularization=10,
  confidence_scale=0.5)``, the setting ``bench_mf_lastfm.py`` chose by
  ``GridSearchCV`` with the package scorer on the training part;
- ``multvae`` / ``deepcf``: this package's neural models (settings below;
  ``--tune`` first searches a small grid with ``GridSearchCV(cv=2)`` and
  ``make_recommendation_scorer("ndcg", k=20, test_size=0.2)`` on the training
  part only, then refits the best on the whole training part);
- ``cornac-neumf`` / ``cornac-vaecf``: Cornac's NeuMF (PyTorch backend, 32
  factors, layers 128-64-32, 20 epochs, 4 negatives: the setting of
  ``docs/facts.md``) and VAECF, when Cornac installs (it refuses users
  unseen in ``fit``, which is not needed here: the test users are the
  training users);
- ``deepcf-scoring``: full-catalogue ``recommend`` of every training user
  by one ``DeepCFRecommender`` (default architecture, one epoch: the cost
  does not depend on the weights), twice side by side in one process: the
  fused compiled kernel (the default on CPU) and the torch formulation that
  materialises the MLP's pair activations (in bounded item blocks; the
  formulation before the kernel, and the CUDA path), with the largest
  difference of their scores;
- ``deepcf-cold``: cold artists (``cold_item_split``, 20% of the artists,
  seed 0): ``DeepCFRecommender`` with the artist-tag matrix as
  ``item_features``, ranking only the cold artists for the users who played
  one, against the same model without features, popularity and random over
  the same candidates.

Each model runs in its own subprocess, so that its peak resident memory
(``ru_maxrss``) is its own. Timings are wall-clock seconds on this machine;
the load average at the start is recorded (the machine is shared: compare
ratios within one run).

Usage::

    SKLEARN_MUSICREC_DATA=/path/to/data python benchmarks/bench_neural.py
    SKLEARN_MUSICREC_DATA=/path/to/data python benchmarks/bench_neural.py --quick
    SKLEARN_MUSICREC_DATA=/path/to/data python benchmarks/bench_neural.py --tune
    python benchmarks/bench_neural.py --models deepcf multvae --device cuda

Results go to ``benchmarks/results/bench_neural.{json,md}``, those of
``--tune`` to ``bench_neural_tuned.{json,md}`` (only when every requested
model ran; a run of some models keeps the others' latest rows).
"""

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
from _common import (
    K,
    benchmark_parser,
    command_line,
    keep_other_rows,
    machine_description,
    machine_line,
    read_previous,
    write_results,
)

MODELS = [
    "popularity",
    "ease",
    "als",
    "multvae",
    "deepcf",
    "deepcf-scoring",
    "deepcf-cold",
    "cornac-neumf",
    "cornac-vaecf",
]


def neural_params(name, quick, device):
    """Settings of the neural models (``--quick``: fewer epochs)."""
    if name == "multvae":
        params = {}  # its defaults are quick enough
    else:
        params = dict(max_epochs=3) if quick else {}
    return dict(params, random_state=0, device=device)


def _grid(name):
    if name == "multvae":
        # the two settings that moved the validation NDCG most (docs/facts.md)
        return {"dropout": [0.5, 0.7], "anneal_cap": [0.2, 1.0]}
    # what moved DeepCF's validation NDCG@20 on lastfm-2k (see the class
    # docstring): the weight of the shared negatives and the dropped-out share
    return {"negative_weight": [0.025, 0.1], "target_fraction": [0.5, 0.7]}


def _estimator(name, args):
    from sklearn_musicrec.neural import DeepCFRecommender, MultVAERecommender

    cls = MultVAERecommender if name == "multvae" else DeepCFRecommender
    est = cls(**neural_params(name, args.quick, args.device))
    if not args.tune:
        return est, None
    from sklearn.model_selection import GridSearchCV, KFold

    from sklearn_musicrec.metrics import make_recommendation_scorer

    search = GridSearchCV(
        est,
        _grid(name),
        cv=KFold(2, shuffle=True, random_state=0),
        scoring=make_recommendation_scorer("ndcg", k=K, test_size=0.2, random_state=0),
        refit=True,
    )
    return search, search


def _timed_fit_recommend(est, train, **fit_params):
    t0 = time.perf_counter()
    est.fit(train, **fit_params)
    fit_s = time.perf_counter() - t0
    if hasattr(est, "best_estimator_"):
        est = est.best_estimator_
    t0 = time.perf_counter()
    ids, _ = est.recommend(train, k=K)
    return est, ids, fit_s, time.perf_counter() - t0


def _cold(args):
    """DeepCF with and without artist tags on cold artists (NDCG@20)."""
    import warnings

    from sklearn_musicrec import PopularityRecommender, RandomRecommender
    from sklearn_musicrec.datasets import fetch_lastfm_2k
    from sklearn_musicrec.metrics import ndcg_at_k
    from sklearn_musicrec.model_selection import cold_item_split
    from sklearn_musicrec.neural import DeepCFRecommender

    bunch = fetch_lastfm_2k(download_if_missing=False)
    X = bunch.data.tocsr()
    X = X[np.diff(X.indptr) >= 5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        train, test = cold_item_split(X, 0.2, random_state=0)
    cold = np.flatnonzero(test.getnnz(axis=0))
    users = np.flatnonzero((test.getnnz(axis=1) > 0) & (train.getnnz(axis=1) > 0))
    out = {"n_cold_items": int(cold.size), "n_users": int(users.size)}
    params = neural_params("deepcf", args.quick, args.device)
    for label, est, fit_params in [
        ("with_tags", DeepCFRecommender(item_features=bunch.tags, **params), {}),
        ("without_tags", DeepCFRecommender(**params), {}),
        ("popularity", PopularityRecommender(), {}),
        ("random", RandomRecommender(random_state=0), {}),
    ]:
        t0 = time.perf_counter()
        est.fit(train, **fit_params)
        fit_s = time.perf_counter() - t0
        ids, _ = est.recommend(train[users], k=K, items=cold)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            out[f"ndcg@{K}_{label}"] = float(ndcg_at_k(test[users], ids, k=K))
        out[f"fit_s_{label}"] = fit_s
    return out


def _scoring(args):
    """recommend-all seconds of DeepCF: fused CPU kernel vs torch pair activations."""
    from _common import lastfm_holdout

    from sklearn_musicrec.neural import DeepCFRecommender

    train, _ = lastfm_holdout()
    params = dict(neural_params("deepcf", args.quick, args.device), max_epochs=1)
    model = DeepCFRecommender(**params).fit(train)
    module = model.net_.module_
    out = {"n_users": int(train.shape[0]), "n_items": int(train.shape[1])}
    model.recommend(train[:8], k=K)  # compile (or load) the kernel first
    scores = {}
    for label, fused in (("fused", True), ("torch", False)):
        module.fused_cpu_kernel = fused
        t0 = time.perf_counter()
        model.recommend(train, k=K)
        out[f"recommend_s_{label}"] = time.perf_counter() - t0
        scores[label] = model.decision_function(train[:200])
    module.fused_cpu_kernel = True
    out["max_abs_diff"] = float(np.abs(scores["fused"] - scores["torch"]).max())
    out["load"] = open("/proc/loadavg").read().split()[0]
    return out


def _cornac(name, train, test, args):
    import cornac  # noqa: F401  (raises ImportError when absent)
    from cornac.data import Dataset

    rows, cols = train.nonzero()
    triples = list(zip(rows.tolist(), cols.tolist(), [1.0] * rows.size))
    data = Dataset.from_uir(triples, seed=0)
    if name == "cornac-neumf":
        from cornac.models import NeuMF

        model = NeuMF(
            num_factors=32,
            layers=[128, 64, 32],
            num_epochs=20,
            num_neg=4,
            backend="pytorch",
            seed=0,
            verbose=False,
        )
    else:
        from cornac.models import VAECF

        # the settings of this package's MultVAERecommender defaults before
        # issue 12's tuning (one tanh hidden layer of 256, beta capped at 0.2)
        model = VAECF(
            k=64,
            autoencoder_structure=[256],
            act_fn="tanh",
            likelihood="mult",
            n_epochs=15,
            batch_size=64,
            learning_rate=0.002,
            beta=0.2,
            seed=0,
            use_gpu=False,
            verbose=False,
        )
    t0 = time.perf_counter()
    model.fit(data)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # cornac's internal indices: map our user / item ids through its maps
    uid = np.array([data.uid_map.get(u, -1) for u in range(train.shape[0])])
    iid = np.array([data.iid_map.get(i, -1) for i in range(train.shape[1])])
    known = iid >= 0
    scores = np.full(train.shape, -np.inf, dtype=np.float64)
    for u in range(train.shape[0]):
        if uid[u] >= 0:
            s = np.asarray(model.score(int(uid[u])), dtype=np.float64)
            scores[u, known] = s[iid[known]]
    from sklearn_musicrec.utils._topk import topk_per_row

    r = np.repeat(np.arange(train.shape[0]), np.diff(train.indptr))
    scores[r, train.indices] = -np.inf
    ids = topk_per_row(scores, K)[0]
    return ids, fit_s, time.perf_counter() - t0


def worker(name, args):
    from _common import lastfm_holdout, ranking_quality

    out = {"model": name}
    if name == "deepcf-cold":
        out.update(_cold(args))
        return out
    if name == "deepcf-scoring":
        out.update(_scoring(args))
        return out
    train, test = lastfm_holdout()
    if name.startswith("cornac"):
        ids, fit_s, rec_s = _cornac(name, train, test, args)
        out.update(fit_s=fit_s, recommend_s=rec_s, **ranking_quality(ids, test))
        import cornac

        out["library"] = f"cornac {cornac.__version__}"
        return out
    out["library"] = "sklearn_musicrec"
    if name == "popularity":
        from sklearn_musicrec import PopularityRecommender

        est, search = PopularityRecommender(), None
    elif name == "ease":
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import Binarizer

        from sklearn_musicrec.neighbors import EASERecommender

        est, search = make_pipeline(Binarizer(), EASERecommender(regularization=200.0)), None
    elif name == "als":
        from sklearn.pipeline import make_pipeline

        from sklearn_musicrec.decomposition import ALSFactorizer
        from sklearn_musicrec.preprocessing import BM25Weighting

        als = ALSFactorizer(
            n_components=64, regularization=10.0, confidence_scale=0.5, random_state=0
        )
        est, search = make_pipeline(BM25Weighting(), als), None
    else:
        est, search = _estimator(name, args)
    if hasattr(est, "steps"):  # a weighting step, then the recommender
        t0 = time.perf_counter()
        Xt = est[:-1].fit_transform(train)
        est[-1].fit(Xt)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids, _ = est[-1].recommend(est[:-1].transform(train), k=K)
        rec_s = time.perf_counter() - t0
        final = est[-1]
    else:
        final, ids, fit_s, rec_s = _timed_fit_recommend(est, train)
    out.update(fit_s=fit_s, recommend_s=rec_s, **ranking_quality(ids, test))
    if hasattr(final, "n_epochs_"):
        out["n_epochs"] = int(final.n_epochs_)
        out["epoch_s"] = float(np.mean(final.net_.history[:, "dur"]))
        out["params"] = {
            key: value
            for key, value in final.get_params().items()
            if key not in ("callbacks", "verbose")
        }
        out["params"]["hidden_layer_sizes"] = list(final.hidden_layer_sizes)
    if search is not None:
        out["best_params"] = {k: str(v) for k, v in search.best_params_.items()}
        out["cv_ndcg"] = float(search.best_score_)
    return out


def _run_worker(name, args):
    cmd = [sys.executable, __file__, "--worker", name, "--device", args.device]
    cmd += ["--quick"] * args.quick + ["--tune"] * args.tune
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return None, proc.stderr.strip().splitlines()[-1] if proc.stderr else "failed"
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def _markdown(rows, skipped, meta):
    lines = [
        "# Neural recommenders on lastfm-2k (NDCG@20, full ranking)",
        "",
        f"Command: `{meta['command']}`",
        "",
        _machine_text(meta) + f" torch {meta['torch']}, device {meta['device']}. "
        "Timings are inflated by the load: compare ratios.",
        "",
        "| model | library | NDCG@20 | Recall@20 | fit s | s/epoch | epochs | "
        "recommend-all s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["model"] in ("deepcf-cold", "deepcf-scoring"):
            continue
        epoch = f"{r['epoch_s']:.2f} | {r['n_epochs']}" if "epoch_s" in r else "– | –"
        lines.append(
            f"| {r['model']} | {r.get('library', '')} | {r[f'ndcg@{K}']:.4f} | "
            f"{r[f'recall@{K}']:.4f} | {r['fit_s']:.1f} | {epoch} | "
            f"{r['recommend_s']:.2f} | {r['peak_rss_mb']:.0f} |"
        )
    for r in rows:
        if "best_params" in r:
            lines.append(
                f"\n{r['model']}: GridSearchCV chose {r['best_params']} "
                f"(CV NDCG@20 {r['cv_ndcg']:.4f})."
            )
        if "params" in r:
            lines.append(f"\n{r['model']} settings: {r['params']}")
    scoring = [r for r in rows if r["model"] == "deepcf-scoring"]
    if scoring:
        c = scoring[0]
        lines += [
            "",
            f"DeepCF full-catalogue recommend of all {c['n_users']} users x {c['n_items']} "
            f"items, side by side in one process (load average {c['load']}):",
            "",
            "| MLP pairs computed by | recommend-all s |",
            "|---|---|",
            f"| fused compiled kernel (default on CPU) | {c['recommend_s_fused']:.2f} |",
            f"| torch, materialised pair activations | {c['recommend_s_torch']:.2f} |",
            "",
            f"Largest score difference: {c['max_abs_diff']:.1e}.",
        ]
    cold = [r for r in rows if r["model"] == "deepcf-cold"]
    if cold:
        c = cold[0]
        lines += [
            "",
            f"Cold artists (cold_item_split 20%, seed 0): {c['n_cold_items']} artists never "
            f"seen in training, ranked for the {c['n_users']} users who played one "
            f"(candidates: the cold artists only), NDCG@{K}:",
            "",
            "| model | NDCG@20 | fit s |",
            "|---|---|---|",
        ]
        for label in ("with_tags", "without_tags", "popularity", "random"):
            lines.append(f"| {label} | {c[f'ndcg@{K}_{label}']:.4f} | {c[f'fit_s_{label}']:.1f} |")
    for name, why in skipped:
        lines.append(f"\nNot run: {name}: {why}")
    return "\n".join(lines) + "\n"


def _machine_text(meta):
    """The machine sentence (results written before the shared helper had a plain string)."""
    machine = meta["machine"]
    if isinstance(machine, dict):
        return machine_line(machine)
    return (
        f"Machine: {machine}, {meta.get('cpus')} cores, shared with other engineers' jobs "
        f"(load average at start {meta.get('load', float('nan')):.2f})."
    )


def main(argv=None):
    parser = benchmark_parser(__doc__)
    parser.add_argument("--models", nargs="*", default=MODELS, choices=MODELS)
    parser.add_argument("--quick", action="store_true", help="fewer epochs for the neural models")
    parser.add_argument("--tune", action="store_true", help="GridSearchCV the neural models first")
    parser.add_argument("--device", default="cpu", help="device of the neural models")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        out = worker(args.worker, args)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return 0
    import torch

    machine = machine_description("torch", "skorch", "cornac")
    meta = {
        "command": command_line(argv),
        "machine": machine,
        "torch": torch.__version__,
        "device": args.device,
    }
    rows, skipped = [], []
    for name in args.models:
        print(f"running {name} ...", flush=True)
        out, why = _run_worker(name, args)
        if out is None:
            if name.startswith("cornac"):
                skipped.append((name, why))
                print(f"  skipped: {why}", flush=True)
                continue
            print(f"{name} failed: {why}", file=sys.stderr)
            return 1
        rows.append(out)
        print("  " + json.dumps(out), flush=True)
    # tuned runs keep their own results beside the defaults' (bench_neural)
    stem = "bench_neural_tuned" if args.tune else "bench_neural"
    old = read_previous(args.out, stem)
    if old is not None and set(args.models) != set(MODELS):
        # a partial run keeps the other models' latest results
        ran = {r["model"] for r in rows} | {name for name, _ in skipped}
        rows = keep_other_rows(old["rows"], rows, ran, MODELS)
        skipped = [s for s in old["skipped"] if s[0] not in ran] + skipped
    text = _markdown(rows, skipped, meta)
    write_results(args.out, stem, {"meta": meta, "rows": rows, "skipped": skipped}, text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
