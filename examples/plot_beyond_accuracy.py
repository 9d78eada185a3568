"""
Beyond accuracy: re-ranking for the long tail and diversity
===========================================================

An accurate model tends to recommend the same popular items to everyone.
This example measures what a list offers besides accuracy (catalogue
coverage, the share of long-tail items, novelty, intra-list diversity) and
trades a little accuracy for more of it with two re-rankers that wrap any
recommender: :class:`~sklearn_musicrec.rerank.XQuADReranker` (long tail)
and :class:`~sklearn_musicrec.rerank.MMRReranker` (diversity over the
items' tags). Each strength is one point of the trade-off curve.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from sklearn_musicrec import ALSFactorizer, MMRReranker, XQuADReranker
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import (
    catalog_coverage,
    intra_list_diversity,
    long_tail_share,
    ndcg_at_k,
    novelty,
)
from sklearn_musicrec.model_selection import holdout_split

data = make_interactions(n_users=800, n_items=400, mean_items_per_user=25, random_state=0)
X, tags = data.data, data.item_tags
X_train, X_test = holdout_split(X, test_size=0.2, random_state=0)
users = np.flatnonzero(X_test.getnnz(axis=1))
# popularity from the TRAINING plays only: the test plays must not leak in
popularity = np.asarray(X_train.getnnz(axis=0))
base = ALSFactorizer(n_components=32, random_state=0)
k = 10


def measure(model):
    ids, _ = model.fit(X_train).recommend(X_train[users], k=k)
    return {
        "ndcg": ndcg_at_k(X_test[users], ids, k=k),
        "coverage": catalog_coverage(ids, n_items=X.shape[1]),
        "long_tail": long_tail_share(ids, popularity),
        "novelty": novelty(ids, popularity, n_users=X.shape[0]),
        "diversity": intra_list_diversity(ids, tags),
    }


# %%
# The wrapped model alone, then each re-ranker at growing strengths.
curves = {"xQuAD (tail_weight)": [], "MMR (diversity)": []}
strengths = [0.0, 0.3, 0.6, 0.9]
for s in strengths:
    curves["xQuAD (tail_weight)"].append(measure(XQuADReranker(base, tail_weight=s)))
    curves["MMR (diversity)"].append(measure(MMRReranker(base, diversity=s, item_features=tags)))

print(f"{'re-ranker':20s} strength  NDCG@10  coverage  long tail  novelty  diversity")
for name, rows in curves.items():
    for s, r in zip(strengths, rows):
        print(
            f"{name:20s} {s:8.1f}  {r['ndcg']:7.3f}  {r['coverage']:8.3f}  "
            f"{r['long_tail']:9.3f}  {r['novelty']:7.2f}  {r['diversity']:9.3f}"
        )

# %%
# The trade-off: accuracy against the share of long-tail items in the lists
# and against their diversity. Strength 0 keeps the wrapped model's order.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for name, rows in curves.items():
    ndcg = [r["ndcg"] for r in rows]
    axes[0].plot([r["long_tail"] for r in rows], ndcg, "o-", label=name)
    axes[1].plot([r["diversity"] for r in rows], ndcg, "o-", label=name)
axes[0].set_xlabel("long-tail share of the lists")
axes[1].set_xlabel("intra-list diversity (tags)")
for ax in axes:
    ax.set_ylabel("NDCG@10")
axes[0].legend()
plt.show()
