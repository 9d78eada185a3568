"""Run the benchmark: every model on every fold through ``evaluate``; collect the figures."""

import sys
import time
import warnings
from datetime import UTC, datetime

import numpy as np

from ..metrics import average_popularity
from ..model_selection import evaluate
from ..utils._machine import machine_description, peak_rss_gb, reset_peak_rss, rss_gb
from . import _models, _peers
from ._data import filter_items, load_dataset
from ._protocols import PROTOCOLS, TEST_SIZE, make_folds
from ._stats import compare_to_best, mean_sem

__all__ = ["SCHEMA_VERSION", "PER_USER_METRICS", "LIST_METRICS", "run_benchmark"]

SCHEMA_VERSION = 1
# metrics with a value per user (mean +- standard error over users; paired tests)
PER_USER_METRICS = ("ndcg", "recall", "precision", "mrr", "novelty", "long_tail", "popularity")
# metrics of all lists at once (one value per fold)
LIST_METRICS = ("coverage", "gini")
_PEER_PACKAGES = ("implicit", "cornac", "lenskit", "torch", "skorch", "matplotlib", "tqdm")


def _progress(total, quiet, stream):
    """A tqdm bar on a terminal (and not ``quiet``), else a no-op."""
    enabled = not quiet and hasattr(stream, "isatty") and stream.isatty()
    if enabled:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            enabled = False
    if not enabled:

        class _Null:
            def update(self, n=1):
                pass

            def set_description(self, text):
                pass

            def close(self):
                pass

        return _Null(), None
    bar = tqdm(total=total, file=stream, unit="fit", leave=False)
    return bar, bar.write


def _user_label(data, row):
    """The dataset's id of user ``row`` (the row index when it has none)."""
    if data.user_ids is None:
        return int(row)
    label = data.user_ids[row]
    return label.item() if hasattr(label, "item") else label


def _history_popularity(fold, users):
    """Mean training popularity of each evaluated user's history (the same metric)."""
    X_fit = fold.X_train if fold.fit_users is None else fold.X_train[fold.fit_users]
    H = fold.X_train[users]
    lengths = np.diff(H.indptr)
    width = max(int(lengths.max()) if lengths.size else 1, 1)
    ids = np.full((H.shape[0], width), -1, dtype=np.int64)
    cols = np.arange(H.nnz) - np.repeat(H.indptr[:-1], lengths)
    ids[np.repeat(np.arange(H.shape[0]), lengths), cols] = H.indices
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return np.asarray(average_popularity(ids, X_fit, per_user=True), dtype=np.float64)


def run_benchmark(
    dataset="synthetic",
    *,
    models=None,
    k=(10, 20),
    protocol="new-users",
    n_splits=3,
    tune=False,
    seed=0,
    n_jobs=None,
    peers=None,
    quiet=False,
    stream=None,
    command=None,
    data_home=None,
    min_item_users=1,
):
    """Run the benchmark and return its figures (no file is written).

    Every model is fitted and scored on every fold by
    :func:`~sklearn_musicrec.model_selection.evaluate`; the options are
    those of ``sklearn-musicrec benchmark`` (``docs/benchmark_command.md``).

    Parameters
    ----------
    dataset : str, default="synthetic"
        A dataset name (``"synthetic"``, ``"lastfm-2k"``, ``"movielens-100k"``,
        ...) or the path of a ``user,item[,value[,timestamp]]`` file.
    models : str or None, default=None
        Comma list of short names; None: every model that can run here.
    k : int or sequence of int, default=(10, 20)
        Cut-offs; the first is the primary one.
    protocol : {"new-users", "holdout", "temporal", "cold-items"}, default="new-users"
        How the data is split (``docs/benchmark_command.md``): folds of users
        with a share of each test user's row held out, a per-user random or
        temporal holdout, or items removed from training.
    n_splits : int, default=3
        Folds of the new-users protocol.
    tune : bool, default=False
        Grid-search each model on each fold's training users (nested).
    seed : int, default=0
        Seed of the folds, the held-out shares and every model's ``random_state``:
        the same seed gives the same figures (timings aside).
    n_jobs : int or None, default=None
        Threads of the models and peers that take them.
    peers : str or None, default=None
        Comma list of peer libraries or peer names.
    quiet : bool, default=False
        No progress output.
    stream : file-like, default=None
        Where progress goes (default stdout).
    command : str or None, default=None
        The command line, recorded in the results.
    data_home : str or None, default=None
        Data home of the loaders.
    min_item_users : int, default=1
        Keep only the items with at least this many users.

    Returns
    -------
    results : dict
        What ``results.json`` holds (``schema_version`` 1).
    per_user_rows : list of dict
        The rows of ``per_user.csv``: one per model x fold x user.
    """
    stream = sys.stdout if stream is None else stream
    say = (lambda text: None) if quiet else (lambda text: print(text, file=stream, flush=True))
    ks = sorted({int(v) for v in ([k] if np.isscalar(k) else k)})
    if not ks or ks[0] < 1:
        raise ValueError(f"--k: cut-offs must be integers >= 1, got {k!r}.")
    primary_k = int(np.atleast_1d(k)[0])
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"--protocol: unknown protocol {protocol!r}; valid protocols are "
            f"{', '.join(PROTOCOLS)}."
        )
    names = _models.resolve_models(models)
    peer_names, skipped = _peers.resolve_peers(peers, protocol)
    for name, reason in skipped:
        say(f"peer {name}: {reason}")
    started = datetime.now(UTC)
    clock = time.perf_counter()
    machine = machine_description(*_PEER_PACKAGES)
    data = filter_items(load_dataset(dataset, seed=seed, data_home=data_home), min_item_users)
    X = data.X
    say(
        f"{data.name}: {X.shape[0]} users x {X.shape[1]} items, {X.nnz} interactions; "
        f"protocol {protocol}"
        + (f" ({n_splits} folds)" if protocol == "new-users" else "")
        + f"; {len(names) + len(peer_names)} models; k = {', '.join(map(str, ks))}"
        + ("; tuned on the training users" if tune else "")
    )
    folds, notes = make_folds(data, protocol, n_splits=n_splits, seed=seed)
    if tune:
        for name in names:
            entry = _models.MODELS[name]
            if entry.grid and not _models.tunes(name, X.shape[1]):
                notes.append(
                    f"--tune: {name} was run at its defaults, not searched: its fit grows "
                    f"fast with the catalogue and {X.shape[1]} items > {entry.max_tune_items}."
                )
    metrics = [*PER_USER_METRICS, *LIST_METRICS]
    primary = f"ndcg@{primary_k}"

    entries = [("package", n) for n in names] + [("peer", n) for n in peer_names]
    bar, write = _progress(len(entries) * len(folds), quiet, stream)
    if write is not None:
        say = (lambda text: None) if quiet else write

    history_pop = {}
    per_model = {}
    for kind, name in entries:
        record = {"per_user": {}, "lists": {m: [] for m in LIST_METRICS}, "folds": []}
        for fold in folds:
            bar.set_description(f"{name} fold {fold.index + 1}/{len(folds)}")
            if kind == "package":
                est = _models.build_model(
                    name,
                    seed=seed,
                    item_features=data.item_features,
                    n_jobs=n_jobs,
                    tune=tune,
                    k=primary_k,
                    n_items=X.shape[1],
                )
            else:
                est = _peers.build_peer(name, seed=seed, n_jobs=n_jobs)
            measured = reset_peak_rss()
            before = rss_gb()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                res = evaluate(
                    est,
                    fold.X_train,
                    fold.X_test,
                    metrics=metrics,
                    k=ks,
                    per_user=True,
                    fit_users=fold.fit_users,
                    return_estimator=True,
                )
            peak = peak_rss_gb() - before if measured and before is not None else None
            bar.update()
            users = res["evaluated_users"]
            if fold.index not in history_pop:
                history_pop[fold.index] = (users, _history_popularity(fold, users))
            fitted = res["estimator"]
            fold_info = {
                "fold": fold.index,
                "n_users_evaluated": int(res["n_users"]),
                "n_users_fitted": int(
                    fold.X_train.shape[0] if fold.fit_users is None else fold.fit_users.size
                ),
                "fit_time_s": res["fit_time"],
                "recommend_time_s": res["recommend_time"],
                "peak_memory_mib": None if peak is None else max(peak, 0.0) * 1024,
            }
            if isinstance(fitted, _models.TunedRecommender):
                fold_info["best_params"] = {
                    p: (v.item() if hasattr(v, "item") else v)
                    for p, v in fitted.best_params_.items()
                }
                fold_info["n_users_searched"] = fitted.n_users_searched_
            record["folds"].append(fold_info)
            for m in PER_USER_METRICS:
                for kk in ks:
                    key = f"{m}@{kk}"
                    record["per_user"].setdefault(key, []).append(res[f"{key}_per_user"])
            for m in LIST_METRICS:
                record["lists"][m].append({f"{m}@{kk}": res[f"{m}@{kk}"] for kk in ks})
        label = name
        per_model[label] = (kind, record)
        summary = np.mean(np.concatenate(record["per_user"][primary]))
        fit_s = np.mean([f["fit_time_s"] for f in record["folds"]])
        say(f"  {label:<14} {primary} {summary:.4f}   fit {fit_s:.2f} s/fold")
    bar.close()

    # -- summaries ---------------------------------------------------------------------
    model_rows = []
    all_user_values = {}
    for label, (kind, record) in per_model.items():
        figures = {}
        for key, parts in record["per_user"].items():
            values = np.concatenate(parts)
            all_user_values.setdefault(key, {})[label] = values
            mean, sem = mean_sem(values)
            figures[key] = {"mean": mean, "sem": sem, "n_users": int(np.sum(~np.isnan(values)))}
        for m in LIST_METRICS:
            for kk in ks:
                key = f"{m}@{kk}"
                vals = [f[key] for f in record["lists"][m]]
                figures[key] = {
                    "mean": float(np.mean(vals)),
                    "sem": None,
                    "per_fold": [float(v) for v in vals],
                }
        folds_info = record["folds"]
        mems = [f["peak_memory_mib"] for f in folds_info if f["peak_memory_mib"] is not None]
        row = {
            "name": label,
            "library": "sklearn_musicrec" if kind == "package" else _peers.PEERS[label][0],
            "estimator": _models.MODELS[label].cls_name
            if kind == "package"
            else _peers.PEERS[label][2],
            "tuning_grid": _models.MODELS[label].grid
            if (kind == "package" and tune and _models.tunes(label, X.shape[1]))
            else {},
            "metrics": figures,
            "timing": {
                "fit_time_s": float(np.mean([f["fit_time_s"] for f in folds_info])),
                "recommend_time_s": float(np.mean([f["recommend_time_s"] for f in folds_info])),
                "peak_memory_mib": float(max(mems)) if mems else None,
            },
            "folds": [
                {key: v for key, v in f.items() if key not in _TIMING_KEYS} for f in folds_info
            ],
            "fold_timings": [{key: f[key] for key in ("fold", *_TIMING_KEYS)} for f in folds_info],
        }
        model_rows.append(row)

    statistics = []
    for key in [f"{m}@{kk}" for m in ("ndcg", "recall") for kk in ks]:
        if len(all_user_values.get(key, {})) < 2:
            continue
        best, comparisons = compare_to_best(all_user_values[key])
        statistics.append({"metric": key, "best": best, "comparisons": comparisons})

    per_user_rows = []
    for label, (_, record) in per_model.items():
        for fi, fold in enumerate(folds):
            users, hist = history_pop[fold.index]
            cols = {key: parts[fi] for key, parts in record["per_user"].items()}
            for j, u in enumerate(users):
                row = {
                    "model": label,
                    "fold": fold.index,
                    "user": _user_label(data, u),
                    "history_popularity": float(hist[j]),
                }
                row.update({key: float(v[j]) for key, v in cols.items()})
                per_user_rows.append(row)

    results = {
        "schema_version": SCHEMA_VERSION,
        "created": started.isoformat(timespec="seconds"),
        "command": command,
        "settings": {
            "dataset": dataset,
            "protocol": protocol,
            "protocol_description": PROTOCOLS[protocol],
            "n_splits": len(folds),
            "test_size": TEST_SIZE,
            "k": ks,
            "primary_metric": primary,
            "models": names,
            "peers": peer_names,
            "tune": bool(tune),
            "tuning": "GridSearchCV, KFold(3) over the fold's training users, the package's "
            f"holdout scorer (NDCG@{primary_k}, 20% of each row hidden)"
            if tune
            else None,
            "seed": seed,
            "n_jobs": n_jobs,
            "min_item_users": int(min_item_users),
            "ranking": "full catalogue, the user's training items excluded (no sampled candidates)",
            "peak_memory": "the growth of the resident set size over the RSS before fit: the "
            "kernel's high-water mark VmHWM reset via /proc/self/clear_refs (Linux; null "
            "elsewhere); covers fit, recommend and the metrics",
        },
        "dataset": {
            "name": data.name,
            "description": data.description,
            "n_users": int(X.shape[0]),
            "n_items": int(X.shape[1]),
            "n_interactions": int(X.nnz),
            "density": float(X.nnz / max(X.shape[0] * X.shape[1], 1)),
            "has_timestamps": data.timestamps is not None,
            "has_item_features": data.item_features is not None,
        },
        "machine": machine,
        "models": model_rows,
        "statistics": statistics,
        "skipped": [{"name": n, "reason": r} for n, r in skipped],
        "notes": notes,
        "elapsed_s": time.perf_counter() - clock,
    }
    return results, per_user_rows


_TIMING_KEYS = ("fit_time_s", "recommend_time_s", "peak_memory_mib")
