"""
The classic toy case: 5 listeners, 10 songs, a 2-factor model
=============================================================

Five listeners rated ten songs from 1 to 5; 0 means "not rated". A
2-factor matrix factorisation trained by stochastic gradient descent
(:class:`~sklearn_musicrec.decomposition.SGDFactorizer` with the squared
loss, the "FunkSVD" of the Netflix Prize) learns two numbers per listener
and per song whose dot product, plus biases, predicts the ratings. Then a
new listener who rated three songs is folded in, without refitting, and
gets predicted ratings for the seven songs they have not rated.

Every number below is computed by the package when this page is built.
"""

# %%
# The ratings
# -----------
# Songs 0-4 are rock, songs 5-9 are jazz. Listeners 0-2 like rock, 3-4 like
# jazz; each has rated seven of the ten songs.
import numpy as np

from sklearn_musicrec.decomposition import SGDFactorizer

songs = [f"song {i}" for i in range(10)]
R = np.array(
    [
        [5, 4, 5, 0, 4, 1, 0, 2, 1, 0],
        [4, 0, 5, 5, 4, 0, 1, 1, 0, 2],
        [5, 5, 0, 4, 5, 2, 1, 0, 1, 0],
        [1, 0, 2, 1, 0, 5, 4, 5, 0, 4],
        [0, 1, 1, 0, 2, 4, 5, 0, 5, 5],
    ],
    dtype=float,
)
print(R.shape, "ratings per listener:", np.count_nonzero(R, axis=1))

# %%
# A 2-factor model trained by SGD
# -------------------------------
# ``loss="squared"`` fits the stored ratings only (zeros are "not rated"),
# by SGD with an L2 penalty, for ``max_iter`` epochs in a random order fixed
# by ``random_state``.
model = SGDFactorizer(
    loss="squared",
    n_components=2,
    learning_rate=0.05,
    regularization=0.02,
    max_iter=500,
    init_std=0.1,
    random_state=0,
).fit(R)
print(f"global mean {model.global_mean_:.3f}; training RMSE per epoch:")
print(np.round(np.asarray(model.loss_curve_)[[0, 9, 99, -1]], 3), "(epochs 1, 10, 100, 500)")

# %%
# The listeners' two factors separate the rock fans from the jazz fans, and
# the songs' factors separate the rock songs from the jazz songs:
np.set_printoptions(precision=2, suppress=True)
print("listener factors:\n", model.user_factors_)
print("song factors:\n", model.item_factors_)

# %%
# Predicted ratings of the training listeners (clipped to the rating range
# seen in ``fit``, 1-5): the stored ratings are reproduced closely and the
# blanks are filled in by taste.
ratings = model.decision_function(R)
print(np.round(np.clip(ratings, *model.rating_range_), 1))

# %%
# A new listener
# --------------
# They rated two rock songs highly and a jazz song low. Their row is folded
# in: its bias and two factors are the exact ridge solution with the songs'
# factors held fixed; nothing is refitted.
new = np.array([[5, 0, 0, 4, 0, 0, 0, 1, 0, 0]], dtype=float)
print("new listener's factors:", model.transform(new).ravel())
unrated = np.flatnonzero(new[0] == 0)
predicted = model.predict_ratings(np.repeat(new, unrated.size, axis=0), unrated)
for song, rating in sorted(zip(unrated, predicted), key=lambda p: -p[1]):
    print(f"{songs[song]}: {rating:.2f}")

# %%
# ``recommend`` ranks the same unrated songs, best first:
ids, scores = model.recommend(new, k=3)
print([songs[i] for i in ids[0]], np.round(scores[0], 2))
