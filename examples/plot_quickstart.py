"""
Quickstart: tune a recommender with GridSearchCV
================================================

Recommenders of this package are scikit-learn estimators over a
**users × items** matrix. This example fits one on synthetic play counts,
recommends, and then tunes a pipeline with
:class:`~sklearn.model_selection.GridSearchCV` over folds of *users*: each
fold's users are held out whole, and ``score`` hides 20% of each held-out
user's plays, which the model must recommend back from the other 80% (a
new-user evaluation, see :doc:`/contract`).
"""

# %%
# Synthetic listening data
# ------------------------
# :func:`~sklearn_musicrec.datasets.make_interactions` plants genres and
# moods in the users' tastes and gives items a power-law popularity; the
# entries are play counts.
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.preprocessing import Binarizer

from sklearn_musicrec import ItemKNNRecommender
from sklearn_musicrec.datasets import make_interactions
from sklearn_musicrec.model_selection import holdout_split
from sklearn_musicrec.pipeline import RecommenderPipeline
from sklearn_musicrec.preprocessing import BM25Weighting

X = make_interactions(n_users=600, n_items=300, random_state=0).data
print(f"{X.shape[0]} users x {X.shape[1]} items, {X.nnz} (user, item) play counts")

# %%
# Fit, recommend, score
# ---------------------
# ``holdout_split`` hides 20% of each user's items in ``X_test``.
X_train, X_test = holdout_split(X, test_size=0.2, random_state=0)
model = ItemKNNRecommender(n_neighbors=50).fit(X_train)
item_ids, scores = model.recommend(X_train[:3], k=5)
print("top-5 items of the first three users:\n", item_ids)
print(f"NDCG@10 on the held-out items: {model.score(X_train, X_test):.3f}")

# %%
# A new-user search
# -----------------
# :class:`~sklearn_musicrec.pipeline.RecommenderPipeline` recommends through
# its steps and never lists an item of the caller's raw history, even one a
# step (``Binarizer``) dropped. The model's own weighting is switched off
# (``weighting=None``) because the pipeline's first step weights the input.
pipe = RecommenderPipeline(
    [("weight", BM25Weighting()), ("rec", ItemKNNRecommender(weighting=None))]
)
grid = {
    "weight": [BM25Weighting(), Binarizer(), "passthrough"],
    "rec__n_neighbors": [20, 100],
}
search = GridSearchCV(pipe, grid, cv=KFold(3, shuffle=True, random_state=0)).fit(X)
print("best:", search.best_params_, f"NDCG@10 {search.best_score_:.3f}")

# %%
# The candidates, ranked by their mean NDCG@10 over the three folds of users:
results = search.cv_results_
for rank, params, mean, std in sorted(
    zip(
        results["rank_test_score"],
        results["params"],
        results["mean_test_score"],
        results["std_test_score"],
    ),
    key=lambda r: r[0],
):
    weight = type(params["weight"]).__name__ if params["weight"] != "passthrough" else "raw counts"
    print(
        f"{rank}. {weight:13s} n_neighbors={params['rec__n_neighbors']:3d}: {mean:.3f} ± {std:.3f}"
    )

# %%
# The refitted best pipeline recommends for any user, seen or not:
item_ids, scores = search.best_estimator_.recommend(X[:3], k=5)
print(item_ids)
