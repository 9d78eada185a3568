"""Tests of fetch_lastfm_2k against the real files in the data home."""

import numpy as np
import pytest
import scipy.sparse as sp

from tests._realdata import fetch_lastfm_2k_or_skip

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def lastfm():
    return fetch_lastfm_2k_or_skip()


def _artist(b, artist_id):
    col = np.searchsorted(b.artist_ids, artist_id)
    assert b.artist_ids[col] == artist_id
    return col


def test_counts(lastfm):
    b = lastfm
    assert b.data.shape == (1892, 17632)
    assert sp.issparse(b.data) and b.data.format == "csr"
    assert b.data.nnz == 92834
    assert int(b.data.sum()) == 69183975
    assert b.user_ids.shape == (1892,) and b.artist_ids.shape == (17632,)
    assert b.artist_names.shape == (17632,)
    assert b.tags.shape == (17632, 11946)
    assert b.tag_ids.shape == b.tag_names.shape == (11946,)
    ta = b.tag_assignments
    assert all(len(ta[key]) == 186479 for key in ta)
    assert np.unique(ta.tag_id).size == 9749
    assert b.friends.shape == (1892, 1892) and b.friends.nnz == 25434
    # Friendships are listed in both directions.
    assert (b.friends != b.friends.T).nnz == 0


def test_unmatched_tag_assignments(lastfm):
    ta = lastfm.tag_assignments
    unmatched = ta.artist_index < 0
    assert unmatched.sum() == 1538
    assert np.unique(ta.artist_id[unmatched]).size == 390
    assert not np.isin(ta.artist_id[unmatched], lastfm.artist_ids).any()
    # Every other assignment is counted once in the tag matrix.
    assert lastfm.tags.sum() == 186479 - 1538
    assert "1,538 tag assignments" in lastfm.DESCR and "390 artist" in lastfm.DESCR
    for text in ("1,892", "17,632", "92,834", "11,946", "186,479", "25,434"):
        assert text in lastfm.DESCR
    assert "non-commercial" in lastfm.DESCR and "Cantador" in lastfm.DESCR


def test_alignment_of_ids_names_and_tags(lastfm):
    b = lastfm
    assert np.all(np.diff(b.user_ids) > 0) and np.all(np.diff(b.artist_ids) > 0)
    assert b.user_ids[0] == 2 and b.user_ids[-1] == 2100
    assert b.artist_ids[-1] == 18745
    # First play record of the file: user 2 listened to Duran Duran 13,883 times.
    u = np.searchsorted(b.user_ids, 2)
    assert b.artist_names[_artist(b, 51)] == "Duran Duran"
    assert b.data[u, _artist(b, 51)] == 13883
    assert b.data[u].nnz == 50
    # artists.dat is UTF-8.
    assert b.artist_names[_artist(b, 295)] == "Beyoncé"
    # The most played artist, and Britney Spears' top tags.
    assert b.artist_names[np.argmax(np.asarray(b.data.sum(axis=0)).ravel())] == "Britney Spears"
    col = _artist(b, 289)
    assert b.artist_names[col] == "Britney Spears"
    row = b.tags[col].toarray().ravel()
    top = b.tag_names[np.argsort(-row, kind="stable")[:3]].tolist()
    assert top == ["pop", "dance", "female vocalists"]
    assert row.max() == 108
    # tags.dat is latin-1.
    assert b.tag_names[np.searchsorted(b.tag_ids, 2863)] == "tropicália"
    assert b.tag_names[np.searchsorted(b.tag_ids, 7982)] == "fußball"
    assert b.tag_names[np.searchsorted(b.tag_ids, 1)] == "metal"


def test_tag_assignments_are_aligned(lastfm):
    b = lastfm
    ta = b.tag_assignments
    # First line of user_taggedartists.dat: 2 52 13 1 4 2009 (Morcheeba, chillout).
    assert (ta.user_id[0], ta.artist_id[0], ta.tag_id[0]) == (2, 52, 13)
    assert ta.date[0] == np.datetime64("2009-04-01")
    assert b.artist_names[ta.artist_index[0]] == "Morcheeba"
    assert b.tag_names[ta.tag_index[0]] == "chillout"
    known = ta.artist_index >= 0
    np.testing.assert_array_equal(b.user_ids[ta.user_index], ta.user_id)
    np.testing.assert_array_equal(b.artist_ids[ta.artist_index[known]], ta.artist_id[known])
    np.testing.assert_array_equal(b.tag_ids[ta.tag_index], ta.tag_id)
    assert ta.date.dtype == np.dtype("datetime64[D]")
    assert ta.date.max() == np.datetime64("2011-05-09")
