"""Tests of fetch_movielens against the real files in the data home."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_musicrec.datasets import fetch_movielens, get_data_home

pytestmark = pytest.mark.realdata


def _fetch_or_skip(variant, **kwargs):
    try:
        return fetch_movielens(variant, download_if_missing=False, **kwargs)
    except OSError as exc:
        pytest.skip(
            f"MovieLens {variant} files not found under the data home "
            f"{get_data_home()!r} (set SKLEARN_MUSICREC_DATA to a folder holding "
            f"ml-{variant}/): {exc}"
        )


@pytest.fixture(scope="module")
def ml100k():
    return _fetch_or_skip("100k", folds=True)


@pytest.fixture(scope="module")
def ml_small():
    return _fetch_or_skip("latest-small")


def _same_pattern(a, b):
    return np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices)


def test_ml100k_counts(ml100k):
    b = ml100k
    assert sp.issparse(b.data) and b.data.format == "csr"
    assert b.data.shape == (943, 1682) and b.data.nnz == 100000
    assert b.data.dtype == np.float64
    np.testing.assert_array_equal(np.unique(b.data.data), [1, 2, 3, 4, 5])
    assert b.timestamps.dtype == np.int64 and _same_pattern(b.data, b.timestamps)
    assert b.timestamps.data.min() >= 874724710 and b.timestamps.data.max() <= 893286638
    # Every user rated at least 20 movies.
    assert np.diff(b.data.indptr).min() >= 20
    assert b.genres.shape == (1682, 19) and b.genre_names.size == 19
    assert b.titles.shape == (1682,)
    assert b.user_info.age.shape == (943,)
    for text in ("943", "1,682", "100,000", "Harper", "redistribute"):
        assert text in b.DESCR


def test_ml100k_alignment(ml100k):
    b = ml100k
    np.testing.assert_array_equal(b.user_ids, np.arange(1, 944))
    np.testing.assert_array_equal(b.movie_ids, np.arange(1, 1683))
    # First line of u.data: user 196 rated movie 242 (Kolya) 3 stars at 881250949.
    u, m = np.searchsorted(b.user_ids, 196), np.searchsorted(b.movie_ids, 242)
    assert b.data[u, m] == 3 and b.timestamps[u, m] == 881250949
    assert b.titles[m] == "Kolya (1996)"
    assert b.genre_names[b.genres[m].indices].tolist() == ["Comedy"]
    toy = np.searchsorted(b.movie_ids, 1)
    assert b.titles[toy] == "Toy Story (1995)"
    assert b.genre_names[b.genres[toy].indices].tolist() == ["Animation", "Children's", "Comedy"]
    # u.item is latin-1.
    assert "Misérables, Les (1995)" in set(b.titles)
    assert (b.user_info.age[0], b.user_info.gender[0], b.user_info.occupation[0]) == (
        24,
        "M",
        "technician",
    )


def test_ml100k_official_folds(ml100k):
    b = ml100k
    assert len(b.folds) == 5
    union = sp.csr_matrix(b.data.shape)
    for train, test in b.folds:
        assert train.shape == test.shape == b.data.shape
        assert (train.nnz, test.nnz) == (80000, 20000)
        assert train.multiply(test).nnz == 0
        assert ((train + test) != b.data).nnz == 0
        union = union + test
    # The five test sets partition the data.
    assert (union != b.data).nnz == 0
    for train, test in (b.ua, b.ub):
        assert (train.nnz, test.nnz) == (90570, 9430)
        np.testing.assert_array_equal(np.diff(test.indptr), 10)
        assert ((train + test) != b.data).nnz == 0


def test_ml_latest_small(ml_small):
    b = ml_small
    assert b.data.shape == (610, 9742) and b.data.nnz == 100836
    assert _same_pattern(b.data, b.timestamps)
    assert np.count_nonzero(np.diff(b.data.tocsc().indptr)) == 9724
    np.testing.assert_array_equal(np.unique(b.data.data), np.arange(1, 11) / 2)
    ta = b.tag_assignments
    assert len(ta.tag) == 3683 and np.unique(ta.user_id).size == 58
    assert b.tags.shape == (9742, b.tag_names.size) and b.tags.sum() == 3683
    # First line of tags.csv: 2,60756,funny,1445714994.
    first = (ta.user_id[0], ta.movie_id[0], ta.tag[0], ta.timestamp[0])
    assert first == (2, 60756, "funny", 1445714994)
    assert b.movie_ids[ta.movie_index[0]] == 60756 and b.tag_names[ta.tag_index[0]] == "funny"
    np.testing.assert_array_equal(b.tag_names[ta.tag_index], ta.tag.astype(str))
    # A quoted CSV title with commas and non-ASCII characters.
    m = np.searchsorted(b.movie_ids, 29)
    assert b.titles[m] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    toy = np.searchsorted(b.movie_ids, 1)
    assert b.genre_names[b.genres[toy].indices].tolist() == [
        "Adventure",
        "Animation",
        "Children",
        "Comedy",
        "Fantasy",
    ]
    assert "(no genres listed)" not in set(b.genre_names) and b.genre_names.size == 19
    u = np.searchsorted(b.user_ids, 1)
    assert b.data[u, toy] == 4.0 and b.timestamps[u, toy] == 964982703
    for text in ("610", "9,742", "100,836", "3,683"):
        assert text in b.DESCR


def test_folds_only_for_100k():
    with pytest.raises(ValueError, match="folds=True is only available"):
        fetch_movielens("latest-small", folds=True, download_if_missing=False)
