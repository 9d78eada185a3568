"""
Cold start: recommending new items from their tags
==================================================

A new song has no plays, so a collaborative model has nothing to rank it
by. Models that read **item features** (here, tags) can. This example moves
a quarter of the items of synthetic listening data to a test set *whole*
(:func:`~sklearn_musicrec.model_selection.cold_item_split`): the models are
fitted without a single play of them, then asked to rank only those new
items for every user, and scored against who actually played them.

The tags come with the synthetic data and do not depend on the plays, so
they do not leak the answer (see :doc:`/evaluation`).
"""

# %%
import numpy as np

from sklearn_musicrec import (
    FeatureFactorizer,
    HybridRecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RandomRecommender,
    TagRecommender,
)
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.metrics import ndcg_at_k
from sklearn_musicrec.model_selection import cold_item_split

data = make_interactions(n_users=800, n_items=300, mean_items_per_user=25, random_state=0)
X, tags = data.data, data.item_tags
print(
    f"{X.shape[0]} users x {X.shape[1]} items; {tags.shape[1]} tags:",
    ", ".join(data.tag_names[:6]),
    "...",
)

# %%
# A quarter of the played items become new items: none of their plays stays
# in ``X_train``.
X_train, X_test = cold_item_split(X, test_size=0.25, random_state=0)
cold_items = np.flatnonzero(X_test.getnnz(axis=0))
users = np.flatnonzero(X_test.getnnz(axis=1) & X_train.getnnz(axis=1))
print(f"{cold_items.size} new items; {users.size} users played some and have a training history")

# %%
# Every model gets the tags as ``item_features`` where it can use them. The
# item-kNN model and popularity cannot score an item nobody played: they
# are the floor a cold-start model must beat.
models = {
    "random": RandomRecommender(random_state=0),
    "popularity": PopularityRecommender(),
    "ItemKNN (no tags)": ItemKNNRecommender(),
    "TagRecommender": TagRecommender(item_features=tags),
    "FeatureFactorizer": FeatureFactorizer(item_features=tags, random_state=0),
    "Hybrid (ItemKNN + tags)": HybridRecommender(
        [("knn", ItemKNNRecommender()), ("tags", TagRecommender(item_features=tags))]
    ),
}
for name, model in models.items():
    model.fit(X_train)
    # rank the new items only, for the users who played some of them
    ids, _ = model.recommend(X_train[users], k=10, items=cold_items)
    print(f"{name:24s} NDCG@10 over new items: {ndcg_at_k(X_test[users], ids, k=10):.3f}")

# %%
# The tag-aware models rank the new items far above the floor. Popularity and
# the collaborative model alone have no information about them (every new
# item scores the same, and ties go to the lower item id), so they do not
# even reach random order. In a
# :class:`~sklearn_musicrec.content.HybridRecommender` the members that can
# score a cold item do, so the blend keeps the collaborative model's
# strength on known items and the tags' on new ones.
