"""Cold start on Last.fm-2k: cold artists, a warm + cold catalogue, cold users.

Three protocols, all models side by side in one run (NDCG@20):

1. cold artists: a share of the tagged artists (artists with tags and
   listeners) loses every play in training; for each user with plays of
   them, the cold artists are ranked among themselves (``items=cold``);
2. warm + cold mix (``warm_cold_split``): the same cold artists plus 20% of
   every user's other plays held out, ranked over the whole catalogue;
3. cold users (``cold_user_split``): 20% of the users keep only 1-3 plays,
   the rest of their plays is the truth, ranked over the whole catalogue.

The reference of protocol 1 is a plain TF-IDF tag-profile cosine
(scikit-learn's ``TfidfTransformer`` on raw tag counts, binary history).
LightFM is not run: ``pip install lightfm`` fails to build here (Python 3.11,
the 1.17 sdist's C extension).

Run ``python benchmarks/bench_cold_start.py [--quick]`` with
``SKLEARN_MUSICREC_DATA`` pointing at the data home; it writes
``benchmarks/results/bench_cold_start.{json,md}``.
"""

import argparse
import json
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# blends of (tags, ff, knn, pop) tried on the validation split
BLEND_GRID = [
    {"weights": w, "normalization": norm}
    for norm in ("zscore", "rank")
    for w in (
        [0.3, 2.0, 0.5, 0.3],
        [0.3, 2.0, 0.5, 0.0],
        [0.3, 2.0, 1.0, 0.0],
        [0.5, 1.0, 1.0, 0.3],
    )
]


def _parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs (a few minutes)")
    p.add_argument(
        "--cold-share", type=float, default=0.2, help="share of tagged artists made cold"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("-k", type=int, default=20)
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    return p


def tfidf_reference_scores(X_hist, tags):
    """Plain TF-IDF tag-profile cosine: the issue's reference."""
    from sklearn.feature_extraction.text import TfidfTransformer

    V = TfidfTransformer().fit_transform(tags)  # raw tf, smooth idf, l2 rows
    H = sp.csr_matrix(X_hist, dtype=np.float64, copy=True)
    H.data[:] = 1.0
    P = H @ V
    n = np.sqrt(np.asarray(P.multiply(P).sum(axis=1)).ravel())
    n[n == 0] = 1
    return np.asarray((sp.diags(1 / n) @ P @ V.T).todense())


def _rank(scores, items, seen, k):
    S = scores[:, items].copy()
    ids = np.argsort(-S, axis=1, kind="stable")[:, :k]
    return items[ids]


def main(argv=None):
    args = _parser().parse_args(argv)
    from sklearn_musicrec import (
        FeatureFactorizer,
        HybridRecommender,
        ItemKNNRecommender,
        PopularityRecommender,
        RandomRecommender,
        TagRecommender,
    )
    from sklearn_musicrec.datasets import fetch_lastfm_2k
    from sklearn_musicrec.metrics import ndcg_at_k
    from sklearn_musicrec.model_selection import cold_user_split, warm_cold_split

    warnings.simplefilter("ignore")
    k = args.k
    data = fetch_lastfm_2k()
    X = sp.csr_matrix(data.data, dtype=np.float64)
    tags = sp.csr_matrix(data.tags, dtype=np.float64)
    epochs = 10 if args.quick else 30
    rng = np.random.RandomState(args.seed)
    tagged = np.flatnonzero((tags.getnnz(axis=1) > 0) & (X.getnnz(axis=0) > 0))
    cold = np.sort(rng.choice(tagged, size=int(args.cold_share * tagged.size), replace=False))
    is_cold = np.zeros(X.shape[1], bool)
    is_cold[cold] = True

    def models():
        ff = dict(item_features=tags, n_components=64, max_iter=epochs, random_state=args.seed)
        return {
            "random": RandomRecommender(random_state=args.seed),
            "popularity": PopularityRecommender(),
            "TagRecommender": TagRecommender(item_features=tags),
            "FeatureFactorizer (BPR)": FeatureFactorizer(**ff, n_jobs=-1),
            "ItemKNNRecommender (binary)": ItemKNNRecommender(n_jobs=-1),
            "HybridRecommender": HybridRecommender(
                [
                    ("tags", TagRecommender(item_features=tags)),
                    ("ff", FeatureFactorizer(**ff, n_jobs=-1)),
                    ("knn", ItemKNNRecommender(n_jobs=-1)),
                    ("pop", PopularityRecommender()),
                ],
                weights=[0.3, 2.0, 0.5, 0.3],
            ),
        }

    def select_weights(hybrid, X_fit, X_in, Y):
        """Pick the blend on a validation split of the training data (no refit per point)."""
        hybrid = hybrid.fit(X_fit)
        best, best_ndcg = None, -1.0
        for w in BLEND_GRID:
            hybrid.set_params(**w)
            ndcg = ndcg_at_k(Y, hybrid.recommend(X_in, k=k)[0], k=k)
            print("  validation", w, round(ndcg, 4), flush=True)
            if ndcg > best_ndcg:
                best, best_ndcg = w, ndcg
        return best

    results = {"cold_artists": {}, "warm_cold_mix": {}, "cold_users": {}}
    chosen = {}
    # 1. cold artists ranked among themselves
    B = X.copy()
    B.data[:] = 1.0
    X_train = sp.csr_matrix(B.multiply(~is_cold[None, :]))
    X_train.eliminate_zeros()
    X_test = sp.csr_matrix(B.multiply(is_cold[None, :]))
    X_test.eliminate_zeros()
    users = np.flatnonzero((X_test.getnnz(axis=1) > 0) & (X_train.getnnz(axis=1) > 0))
    t = time.perf_counter()
    ref = tfidf_reference_scores(X_train[users], tags)
    ids = _rank(ref, cold, None, k)
    results["cold_artists"]["TF-IDF tag-profile cosine (reference)"] = {
        "ndcg": ndcg_at_k(X_test[users], ids, k=k),
        "seconds": time.perf_counter() - t,
    }
    fitted = {}
    for name, est in models().items():
        if name.startswith("ItemKNN"):
            continue  # scores no cold item
        t = time.perf_counter()
        est.fit(X_train)
        ids, _ = est.recommend(X_train[users], k=k, items=cold)
        fitted[name] = est
        results["cold_artists"][name] = {
            "ndcg": ndcg_at_k(X_test[users], ids, k=k),
            "seconds": time.perf_counter() - t,
        }
        print("cold artists", name, results["cold_artists"][name], flush=True)

    # 2. warm + cold mix over the full catalogue
    Xw_train, Xw_test, wcold = warm_cold_split(B, 0.2, 0.2, random_state=args.seed)
    users = np.flatnonzero((Xw_test.getnnz(axis=1) > 0) & (Xw_train.getnnz(axis=1) > 0))
    # the hybrid's weights are chosen on the same protocol inside the training part
    Vt, Vv, _ = warm_cold_split(Xw_train, 0.2, 0.2, random_state=args.seed + 1)
    vu = np.flatnonzero((Vv.getnnz(axis=1) > 0) & (Vt.getnnz(axis=1) > 0))
    mix_weights = select_weights(models()["HybridRecommender"], Vt, Vt[vu], Vv[vu])
    chosen["warm_cold_mix"] = mix_weights
    for name, est in models().items():
        if name == "HybridRecommender":
            est.set_params(**mix_weights)
        t = time.perf_counter()
        est.fit(Xw_train)
        ids, _ = est.recommend(Xw_train[users], k=k)
        results["warm_cold_mix"][name] = {
            "ndcg": ndcg_at_k(Xw_test[users], ids, k=k),
            "cold_share_of_lists": float(np.isin(ids, wcold).mean()),
            "seconds": time.perf_counter() - t,
        }
        print("mix", name, results["warm_cold_mix"][name], flush=True)

    # 3. cold users with 1-3 known plays
    Xu_train, Xu_known, Xu_test, cu = cold_user_split(B, 0.2, random_state=args.seed)
    Vt, Vk, Vv, vu = cold_user_split(Xu_train, 0.2, random_state=args.seed + 1)
    user_weights = select_weights(models()["HybridRecommender"], Vt, Vk[vu], Vv[vu])
    chosen["cold_users"] = user_weights
    for name, est in models().items():
        if name == "HybridRecommender":
            est.set_params(**user_weights)
        t = time.perf_counter()
        est.fit(Xu_train)
        ids, _ = est.recommend(Xu_known[cu], k=k)
        results["cold_users"][name] = {
            "ndcg": ndcg_at_k(Xu_test[cu], ids, k=k),
            "seconds": time.perf_counter() - t,
        }
        print("cold users", name, results["cold_users"][name], flush=True)

    meta = {
        "command": "python benchmarks/bench_cold_start.py" + (" --quick" if args.quick else ""),
        "python": sys.version.split()[0],
        "machine": platform.platform(),
        "n_cold_artists": int(cold.size),
        "n_tagged_artists": int(tagged.size),
        "epochs": epochs,
        "lightfm": "not run: pip install lightfm fails to build on this Python",
        "k": k,
        "hybrid_members": ["tags", "ff", "knn", "pop"],
        "hybrid_weights_cold_artists": [0.3, 2.0, 0.5, 0.3],
        "hybrid_weights_chosen_on_validation": chosen,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_cold_start.json").write_text(json.dumps({"meta": meta, **results}, indent=2))
    lines = [f"# Cold start on Last.fm-2k (NDCG@{k})", "", f"Command: `{meta['command']}`", ""]
    lines.append(f"{cold.size} of {tagged.size} tagged artists cold; {epochs} epochs.")
    lines.append(
        "Hybrid members (tags, ff, knn, pop); weights and normalisation chosen on a validation split of the "
        f"training part for the mix and cold-user protocols: {chosen}."
    )
    for section, rows in results.items():
        lines += ["", f"## {section}", "", "| model | NDCG@20 | s |", "|---|---|---|"]
        for name, r in rows.items():
            lines.append(f"| {name} | {r['ndcg']:.4f} | {r['seconds']:.1f} |")
    (out / "bench_cold_start.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
