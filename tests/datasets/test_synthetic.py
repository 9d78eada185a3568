"""Tests of make_interactions: shapes, determinism, planted structure."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import make_interactions


def test_shapes_and_types():
    b = make_interactions(n_users=200, n_items=120, n_genres=5, n_moods=3, random_state=0)
    assert sp.issparse(b.data) and b.data.format == "csr" and b.data.shape == (200, 120)
    assert b.item_tags.shape == (120, 8)
    assert list(b.tag_names[:5]) == list(b.genre_names) and list(b.tag_names[5:]) == list(
        b.mood_names
    )
    assert b.user_tastes.shape == (200, 5) and b.user_moods.shape == (200, 3)
    np.testing.assert_allclose(b.user_tastes.sum(axis=1), 1.0)
    np.testing.assert_allclose(b.item_popularity.sum(), 1.0)
    assert b.timestamps is None
    assert "200 users x 120 items" in b.DESCR


def test_play_counts_are_positive_integers_and_heavy_tailed():
    X = make_interactions(n_users=500, n_items=300, random_state=0).data
    assert (X.data >= 1).all() and np.array_equal(X.data, np.round(X.data))
    assert np.percentile(X.data, 99) > 10 * np.median(X.data)


def test_every_user_has_interactions_and_mean_is_close_to_target():
    X = make_interactions(n_users=2000, n_items=1000, mean_items_per_user=25, random_state=1).data
    per_user = np.diff(X.indptr)
    assert per_user.min() >= 1
    assert 20 <= per_user.mean() <= 30


def test_deterministic_under_random_state():
    a = make_interactions(n_users=100, n_items=50, return_timestamps=True, random_state=7)
    b = make_interactions(n_users=100, n_items=50, return_timestamps=True, random_state=7)
    c = make_interactions(n_users=100, n_items=50, random_state=8)
    assert (a.data != b.data).nnz == 0 and (a.timestamps != b.timestamps).nnz == 0
    assert (a.data != c.data).nnz > 0


def test_power_law_popularity():
    X = make_interactions(n_users=3000, n_items=1000, random_state=0).data
    listeners = np.sort(np.diff(X.tocsc().indptr))[::-1]
    # the head 10% of items holds a large share of the interactions
    assert listeners[:100].sum() > 0.4 * listeners.sum()


def test_users_listen_to_their_planted_genres():
    b = make_interactions(n_users=400, n_items=300, noise=0.0, random_state=0)
    X = b.data.tocoo()
    taste_of_listened = b.user_tastes[X.row, b.item_genres[X.col]]
    # users' listens concentrate on the genres they like most
    assert np.median(taste_of_listened) > 2.0 / b.user_tastes.shape[1]


def test_tags_reflect_planted_genres_and_moods():
    b = make_interactions(n_users=50, n_items=200, n_genres=6, n_moods=3, random_state=0)
    tags = b.item_tags.toarray()
    np.testing.assert_array_equal(tags[:, :6].argmax(axis=1), b.item_genres)
    assert (tags[np.arange(200), 6 + b.item_moods] >= 1).all()


def test_timestamps_share_the_sparsity_pattern():
    b = make_interactions(n_users=80, n_items=60, return_timestamps=True, random_state=0)
    np.testing.assert_array_equal(b.timestamps.indptr, b.data.indptr)
    np.testing.assert_array_equal(b.timestamps.indices, b.data.indices)
    assert b.timestamps.dtype == np.int64 and (b.timestamps.data > 1_577_000_000).all()


def test_names_beyond_the_built_in_lists():
    b = make_interactions(n_users=20, n_items=40, n_genres=20, n_moods=12, random_state=0)
    assert b.genre_names[-1] == "genre_19" and b.mood_names[-1] == "mood_11"


@pytest.mark.parametrize(
    "kwargs, match",
    [({"n_users": 0}, "n_users"), ({"noise": 1.5}, "noise"), ({"n_items": 1}, "n_items")],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_interactions(**kwargs)
