"""Loaders for the MovieLens datasets (100K, latest-small, 1M, 20M)."""

import csv
import os
from numbers import Integral, Real
from typing import Literal

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Interval, StrOptions, validate_params
from ._base import RemoteArchive, _ensure_dataset, _load_descr, _read_lines, _read_numeric

__all__ = ["fetch_movielens"]

# Publisher's archives and their published sha256 and sizes, from
# tensorflow_datasets' checksum list (repository tensorflow/datasets, file
# tensorflow_datasets/url_checksums/movielens.txt at commit
# 1c076ac3c19c8ea83e1d1a75e0623c9a699e0d7c: url, size, sha256). The ml-100k
# and ml-1m digests agree with those pinned by the OmniRec project
# (ISG-Siegen/OmniRec, src/omnirec/data_loaders/movielens_100k.py and
# movielens_small.py at commit 79cb11648d108a19116a2dcb5f0985d7b505462f).
# ml-latest-small.zip is a "development" snapshot that GroupLens may replace;
# this digest is the one of the September 2018 snapshot (978,202 bytes).
MOVIELENS_ARCHIVES = {
    "100k": RemoteArchive(
        filename="ml-100k.zip",
        url="https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        sha256="50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
        size=4924029,
        root="ml-100k",
    ),
    "latest-small": RemoteArchive(
        filename="ml-latest-small.zip",
        url="https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        sha256="696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
        size=978202,
        root="ml-latest-small",
    ),
    "1m": RemoteArchive(
        filename="ml-1m.zip",
        url="https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        sha256="a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20",
        size=5917549,
        root="ml-1m",
    ),
    "20m": RemoteArchive(
        filename="ml-20m.zip",
        url="https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        sha256="96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
        size=198702078,
        root="ml-20m",
    ),
}

_FOLD_NAMES = ("u1", "u2", "u3", "u4", "u5")
_SPLIT_NAMES = ("ua", "ub")

# Per variant: cache folder, required files, optional files.
_FILES = {
    "100k": ("ml-100k", ("u.data", "u.item", "u.genre"), ("u.user", "README")),
    "latest-small": (
        "ml-latest-small",
        ("ratings.csv", "movies.csv", "tags.csv"),
        ("links.csv", "README.txt"),
    ),
    "1m": ("ml-1m", ("ratings.dat", "movies.dat"), ("users.dat", "README")),
    "20m": ("ml-20m", ("ratings.csv", "movies.csv", "tags.csv"), ("links.csv", "README.txt")),
}
_FOLD_FILES = tuple(
    f"{name}.{part}" for name in _FOLD_NAMES + _SPLIT_NAMES for part in ("base", "test")
)

_NO_GENRE = "(no genres listed)"


def _positions(sorted_ids, values):
    """Index of each of ``values`` in ``sorted_ids``; -1 where absent."""
    if sorted_ids.size == 0:
        return np.full(values.shape, -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(sorted_ids, values), sorted_ids.size - 1)
    return np.where(sorted_ids[pos] == values, pos, -1).astype(np.int64)


def _sorted_unique(ids, what, path):
    ids = np.asarray(ids, dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    if np.any(np.diff(ids[order]) == 0):
        raise ValueError(f"Duplicate {what} ids in {path!r}.")
    return order


def _rating_matrices(records, user_ids, movie_ids, path):
    """Ratings and timestamps CSR matrices with one shared sparsity pattern."""
    users = records[:, 0].astype(np.int64)
    movies = records[:, 1].astype(np.int64)
    rows = _positions(user_ids, users)
    cols = _positions(movie_ids, movies)
    if np.any(cols < 0):
        unknown = np.unique(movies[cols < 0])
        raise ValueError(
            f"{path!r} rates {unknown.size} movie ids missing from the movie list "
            f"(e.g. {unknown[:5].tolist()})."
        )
    if np.any(rows < 0):
        raise ValueError(f"{path!r} holds users outside the rating users.")
    n_users, n_movies = user_ids.size, movie_ids.size
    keys = rows * n_movies + cols
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    if np.any(np.diff(keys) == 0):
        dup = keys[1:][np.diff(keys) == 0][0]
        raise ValueError(
            f"{path!r} holds more than one rating of movie {movie_ids[dup % n_movies]} "
            f"by user {user_ids[dup // n_movies]}."
        )
    rows, cols = rows[order], cols[order]
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    ratings = sp.csr_matrix(
        (records[order, 2].astype(np.float64), cols, indptr), shape=(n_users, n_movies)
    )
    timestamps = sp.csr_matrix(
        (records[order, 3].astype(np.int64), cols.copy(), indptr.copy()),
        shape=(n_users, n_movies),
    )
    return ratings, timestamps


def _genre_matrix(genre_lists, genre_names=None):
    """Movies x genres 0/1 CSR from a list of genre-name lists."""
    if genre_names is None:
        genre_names = sorted({g for genres in genre_lists for g in genres})
    index = {name: i for i, name in enumerate(genre_names)}
    rows, cols = [], []
    for r, genres in enumerate(genre_lists):
        for g in genres:
            rows.append(r)
            cols.append(index[g])
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64))),
        shape=(len(genre_lists), len(genre_names)),
    )
    matrix.sum_duplicates()
    matrix.data[:] = 1.0
    return matrix, np.asarray(genre_names, dtype=object)


def _csv_rows(path, encoding="utf-8"):
    lines = _read_lines(path, encoding=encoding, skip_header=1)
    return list(csv.reader(lines))


def _movies_csv(path):
    """(sorted movie ids, titles, genre lists) from a MovieLens movies.csv."""
    rows = _csv_rows(path)
    ids = np.asarray([int(r[0]) for r in rows], dtype=np.int64)
    order = _sorted_unique(ids, "movie", path)
    titles = np.asarray([rows[i][1] for i in order], dtype=object)
    genres = [[g for g in rows[i][2].split("|") if g and g != _NO_GENRE] for i in order]
    return ids[order], titles, genres


def _movies_dat(path):
    """(sorted movie ids, titles, genre lists) from ML-1M's ``::``-separated movies.dat."""
    ids, titles, genres = [], [], []
    for line in _read_lines(path, encoding="latin-1"):
        movie_id, title, genre_field = line.split("::")
        ids.append(int(movie_id))
        titles.append(title)
        genres.append([g for g in genre_field.split("|") if g and g != _NO_GENRE])
    ids = np.asarray(ids, dtype=np.int64)
    order = _sorted_unique(ids, "movie", path)
    return ids[order], np.asarray(titles, dtype=object)[order], [genres[i] for i in order]


def _tags_csv(path, user_ids, movie_ids):
    """Tag matrix (movies x distinct tag strings) and the tag applications."""
    rows = _csv_rows(path)
    t_user = np.asarray([int(r[0]) for r in rows], dtype=np.int64)
    t_movie = np.asarray([int(r[1]) for r in rows], dtype=np.int64)
    t_text = np.asarray([r[2] for r in rows], dtype=object)
    t_time = np.asarray([int(r[3]) for r in rows], dtype=np.int64)
    tag_names, tag_index = np.unique(t_text.astype(str), return_inverse=True)
    movie_index = _positions(movie_ids, t_movie)
    known = movie_index >= 0
    tags = sp.csr_matrix(
        (np.ones(int(known.sum())), (movie_index[known], tag_index[known])),
        shape=(movie_ids.size, tag_names.size),
    )
    tags.sum_duplicates()
    assignments = Bunch(
        user_id=t_user,
        movie_id=t_movie,
        tag=t_text,
        timestamp=t_time,
        user_index=_positions(user_ids, t_user),
        movie_index=movie_index,
        tag_index=tag_index.astype(np.int64),
    )
    return tags, tag_names.astype(object), assignments


def _load_100k(paths, folds):
    records = _read_numeric(paths["u.data"], 4, sep="\t")
    items = [line.split("|") for line in _read_lines(paths["u.item"], encoding="latin-1")]
    genre_names = [
        line.split("|")[0] for line in _read_lines(paths["u.genre"], encoding="latin-1") if line
    ]
    ids = np.asarray([int(f[0]) for f in items], dtype=np.int64)
    order = _sorted_unique(ids, "movie", paths["u.item"])
    movie_ids = ids[order]
    titles = np.asarray([items[i][1] for i in order], dtype=object)
    flags = np.asarray([[int(v) for v in items[i][5:]] for i in order], dtype=np.float64)
    if flags.shape[1] != len(genre_names):
        raise ValueError(
            f"u.item has {flags.shape[1]} genre flags but u.genre lists {len(genre_names)} genres."
        )
    genres = sp.csr_matrix(flags)
    genres.eliminate_zeros()
    user_ids = np.unique(records[:, 0].astype(np.int64))
    ratings, timestamps = _rating_matrices(records, user_ids, movie_ids, paths["u.data"])
    bunch = Bunch(
        data=ratings,
        timestamps=timestamps,
        user_ids=user_ids,
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        genre_names=np.asarray(genre_names, dtype=object),
    )
    if paths.get("u.user") is not None:
        table = [line.split("|") for line in _read_lines(paths["u.user"], encoding="latin-1")]
        by_id = {int(f[0]): f for f in table}
        if set(by_id) == set(user_ids.tolist()):
            bunch.user_info = Bunch(
                age=np.asarray([int(by_id[u][1]) for u in user_ids], dtype=np.int64),
                gender=np.asarray([by_id[u][2] for u in user_ids], dtype=object),
                occupation=np.asarray([by_id[u][3] for u in user_ids], dtype=object),
                zip_code=np.asarray([by_id[u][4] for u in user_ids], dtype=object),
            )
    if folds:

        def split(name):
            pair = []
            for part in ("base", "test"):
                path = paths[f"{name}.{part}"]
                matrix, _ = _rating_matrices(
                    _read_numeric(path, 4, sep="\t"), user_ids, movie_ids, path
                )
                pair.append(matrix)
            return tuple(pair)

        bunch.folds = [split(name) for name in _FOLD_NAMES]
        bunch.ua = split("ua")
        bunch.ub = split("ub")
    return bunch


def _load_csv_variant(paths):
    records = _read_numeric(paths["ratings.csv"], 4, sep=",", skip_header=1)
    movie_ids, titles, genre_lists = _movies_csv(paths["movies.csv"])
    genres, genre_names = _genre_matrix(genre_lists)
    user_ids = np.unique(records[:, 0].astype(np.int64))
    ratings, timestamps = _rating_matrices(records, user_ids, movie_ids, paths["ratings.csv"])
    tags, tag_names, assignments = _tags_csv(paths["tags.csv"], user_ids, movie_ids)
    return Bunch(
        data=ratings,
        timestamps=timestamps,
        user_ids=user_ids,
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        genre_names=genre_names,
        tags=tags,
        tag_names=tag_names,
        tag_assignments=assignments,
    )


def _load_1m(paths):
    records = _read_numeric(paths["ratings.dat"], 4, sep="::")
    movie_ids, titles, genre_lists = _movies_dat(paths["movies.dat"])
    genres, genre_names = _genre_matrix(genre_lists)
    user_ids = np.unique(records[:, 0].astype(np.int64))
    ratings, timestamps = _rating_matrices(records, user_ids, movie_ids, paths["ratings.dat"])
    return Bunch(
        data=ratings,
        timestamps=timestamps,
        user_ids=user_ids,
        movie_ids=movie_ids,
        titles=titles,
        genres=genres,
        genre_names=genre_names,
    )


@validate_params(
    {
        "variant": [StrOptions(set(MOVIELENS_ARCHIVES))],
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "folds": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="left")],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_movielens(
    variant: Literal["100k", "latest-small", "1m", "20m"] = "100k",
    *,
    data_home: str | os.PathLike[str] | None = None,
    download_if_missing: bool = True,
    folds: bool = False,
    n_retries: int = 3,
    delay: float = 1.0,
    verbose: int = 0,
) -> Bunch:
    """Load a MovieLens ratings dataset (GroupLens) as sparse matrices.

    .. list-table::
       :header-rows: 1

       * - variant
         - users
         - movies
         - ratings
         - tags
       * - ``"100k"``
         - 943
         - 1,682
         - 100,000
         - no (official folds)
       * - ``"latest-small"``
         - 610
         - 9,742
         - 100,836
         - 3,683 applications
       * - ``"1m"``
         - 6,040
         - 3,883
         - 1,000,209
         - no
       * - ``"20m"``
         - 138,493
         - 27,278
         - 20,000,263
         - 465,564 applications

    Files are read from ``<data_home>/ml-<variant>/`` (plain or ``.gz``, LF or
    CRLF). When they are missing, the publisher's archive is downloaded,
    verified against its published sha256 and the needed files extracted.

    Parameters
    ----------
    variant : {"100k", "latest-small", "1m", "20m"}, default="100k"
        Which MovieLens release to load.

    data_home : str or path-like, default=None
        The data home; None means :func:`get_data_home`'s default.

    download_if_missing : bool, default=True
        If False, raise an ``OSError`` saying which files to place where
        instead of downloading missing files.

    folds : bool, default=False
        Only for ``"100k"``: also load the official splits ``u1``-``u5``
        (five disjoint 80/20 folds) and ``ua``/``ub`` (ten ratings per user
        held out) as matrices aligned with ``data``.

    n_retries : int, default=3
        Number of retries when a download fails on a network error.

    delay : float, default=1.0
        Seconds to wait between retries.

    verbose : int, default=0
        If positive, log the download progress (logger
        ``"sklearn_musicrec.datasets"``, level INFO).

    Returns
    -------
    dataset : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : scipy.sparse.csr_matrix of shape (n_users, n_movies), dtype float64
            Ratings, users x movies. Columns cover every movie of the movie
            list, including the few without ratings.
        timestamps : scipy.sparse.csr_matrix of shape (n_users, n_movies), dtype int64
            Unix time of each rating, with the sparsity pattern of ``data``
            (same ``indptr`` and ``indices``).
        user_ids, movie_ids : ndarray of int64
            The publisher's ids of the rows and columns (sorted).
        titles : ndarray of object
            Title of each movie (column).
        genres : scipy.sparse.csr_matrix of shape (n_movies, n_genres)
            1 where the movie has the genre. ``"(no genres listed)"`` is an
            empty row, not a genre.
        genre_names : ndarray of object
            Name of each genre column.
        tags, tag_names, tag_assignments : only ``"latest-small"`` and ``"20m"``
            ``tags[m, t]`` counts the applications of the free-text tag
            ``tag_names[t]`` (exact text, case kept) to movie ``m``;
            ``tag_assignments`` is a Bunch of aligned arrays ``user_id``,
            ``movie_id``, ``tag``, ``timestamp``, ``user_index`` (-1 for
            taggers without ratings), ``movie_index``, ``tag_index``.
        user_info : only ``"100k"``
            Bunch of ``age``, ``gender``, ``occupation``, ``zip_code`` aligned
            with ``user_ids``.
        folds : only with ``folds=True``
            List of five ``(train, test)`` pairs of CSR rating matrices of
            the shape of ``data`` (files ``u1.base``/``u1.test`` ...).
        ua, ub : only with ``folds=True``
            The ``(train, test)`` pairs of ``ua.*`` and ``ub.*``.
        DESCR : str
            Description: counts, licence, citation.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import fetch_movielens
    >>> ml = fetch_movielens("100k", folds=True)  # doctest: +SKIP
    >>> ml.data.shape, len(ml.folds)  # doctest: +SKIP
    ((943, 1682), 5)
    """
    if folds and variant != "100k":
        raise ValueError(
            f"folds=True is only available for variant='100k' (the only release "
            f"with official splits); got variant={variant!r}."
        )
    folder, required, optional = _FILES[variant]
    if folds:
        required = required + _FOLD_FILES
    paths = _ensure_dataset(
        folder,
        required,
        MOVIELENS_ARCHIVES[variant],
        data_home=data_home,
        download_if_missing=download_if_missing,
        n_retries=n_retries,
        delay=delay,
        verbose=verbose,
        optional=optional,
    )
    if variant == "100k":
        bunch = _load_100k(paths, folds)
    elif variant == "1m":
        bunch = _load_1m(paths)
    else:
        bunch = _load_csv_variant(paths)

    counts = dict(
        n_users=bunch.user_ids.size,
        n_movies=bunch.movie_ids.size,
        n_rated_movies=int(np.count_nonzero(np.diff(bunch.data.tocsc().indptr))),
        n_ratings=bunch.data.nnz,
        n_genres=bunch.genre_names.size,
        n_tag_applications=len(bunch.tag_assignments.tag) if "tag_assignments" in bunch else 0,
        n_tags=bunch.tag_names.size if "tag_names" in bunch else 0,
        rating_values=", ".join(f"{v:g}" for v in np.unique(bunch.data.data)),
    )
    bunch.DESCR = _load_descr(f"movielens_{variant.replace('-', '_')}.rst").format(**counts)
    return bunch
