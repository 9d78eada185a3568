"""Loader for the HetRec 2011 Last.fm 2K dataset."""

import os
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch

from ..utils._sklearn_compat import Interval, validate_params
from ._base import RemoteArchive, _ensure_dataset, _load_descr, _read_lines, _read_numeric

__all__ = ["fetch_lastfm_2k"]

# Publisher's archive. The sha256 is not published by GroupLens itself; it is
# the value recorded by the OmniRec project's loader (repository
# ISG-Siegen/OmniRec, src/omnirec/data_loaders/hetrec_lastfm.py at commit
# 79cb11648d108a19116a2dcb5f0985d7b505462f), which pins the same archive URL.
# Other public projects pin the same digest independently. OmniRec's pinned
# digests for ml-100k.zip and ml-1m.zip agree with tensorflow_datasets', which
# supports trusting its value here. The archive's size is not recorded there.
LASTFM_2K_ARCHIVE = RemoteArchive(
    filename="hetrec2011-lastfm-2k.zip",
    url="https://files.grouplens.org/datasets/hetrec2011/hetrec2011-lastfm-2k.zip",
    sha256="6738f48195667ff03caaab4d32ca9a3133d8cc026b7c3cdaf6ce1010e913c59c",
    size=None,
    root="",
)

FOLDER = "lastfm-2k"
_REQUIRED = (
    "user_artists.dat",
    "artists.dat",
    "tags.dat",
    "user_taggedartists.dat",
    "user_friends.dat",
)
_OPTIONAL = ("readme.txt",)


def _index_of(ids, values):
    """Position of each of ``values`` in the sorted array ``ids``; -1 if absent."""
    pos = np.searchsorted(ids, values)
    pos = np.minimum(pos, len(ids) - 1) if len(ids) else np.zeros_like(pos)
    found = len(ids) > 0
    found = np.asarray(ids[pos] == values) if found else np.zeros(values.shape, bool)
    return np.where(found, pos, -1).astype(np.int64)


def _id_name_table(path, encoding):
    """Parse ``id<TAB>name[<TAB>...]`` lines into sorted int ids and names."""
    ids = []
    names = []
    for line in _read_lines(path, encoding=encoding, skip_header=1):
        fields = line.split("\t")
        ids.append(int(fields[0]))
        names.append(fields[1] if len(fields) > 1 else "")
    ids = np.asarray(ids, dtype=np.int64)
    names = np.asarray(names, dtype=object)
    order = np.argsort(ids, kind="stable")
    ids, names = ids[order], names[order]
    if np.any(np.diff(ids) == 0):
        raise ValueError(f"Duplicate ids in {path!r}.")
    return ids, names


@validate_params(
    {
        "data_home": [str, os.PathLike, None],
        "download_if_missing": ["boolean"],
        "n_retries": [Interval(Integral, 0, None, closed="left")],
        "delay": [Interval(Real, 0.0, None, closed="left")],
        "verbose": ["verbose"],
    },
    prefer_skip_nested_validation=True,
)
def fetch_lastfm_2k(
    *,
    data_home: str | os.PathLike[str] | None = None,
    download_if_missing: bool = True,
    n_retries: int = 3,
    delay: float = 1.0,
    verbose: int = 0,
) -> Bunch:
    """Load the HetRec 2011 Last.fm 2K dataset (plays, artist tags, friends).

    1,892 users, 17,632 artists, 92,834 user-artist play counts, 11,946 tags
    with 186,479 tag assignments, and 25,434 friend pairs. Files are read from
    ``<data_home>/lastfm-2k/`` (plain or ``.gz``, LF or CRLF). When they are
    missing, the publisher's archive is downloaded and verified against its
    sha256 before being extracted.

    Read more in the dataset description (``DESCR``).

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home; None means :func:`get_data_home`'s default (the
        environment variable ``SKLEARN_MUSICREC_DATA`` or
        ``~/sklearn_musicrec_data``).

    download_if_missing : bool, default=True
        If False, raise an ``OSError`` saying which files to place where
        instead of downloading missing files.

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

        data : scipy.sparse.csr_matrix of shape (1892, 17632), dtype float64
            Play counts, users x artists.
        user_ids : ndarray of shape (1892,), dtype int64
            The publisher's user id of each row (sorted).
        artist_ids : ndarray of shape (17632,), dtype int64
            The publisher's artist id of each column (sorted).
        artist_names : ndarray of shape (17632,), dtype object
            Artist name of each column.
        tags : scipy.sparse.csr_matrix of shape (17632, 11946), dtype float64
            ``tags[a, t]``: how many users applied tag ``t`` to artist ``a``.
        tag_ids : ndarray of shape (11946,), dtype int64
            The publisher's tag id of each column of ``tags``.
        tag_names : ndarray of shape (11946,), dtype object
            Tag text of each column of ``tags``.
        tag_assignments : :class:`~sklearn.utils.Bunch` of 1-D arrays
            The 186,479 assignments in file order: ``user_id``, ``artist_id``,
            ``tag_id``, ``user_index``, ``artist_index`` (-1 for the artists
            outside ``artist_ids``), ``tag_index`` and ``date``
            (``datetime64[D]``). ``pandas.DataFrame(tag_assignments)`` turns
            it into a table.
        friends : scipy.sparse.csr_matrix of shape (1892, 1892), dtype float64
            ``friends[u, v] = 1`` when user ``u`` lists user ``v`` as a friend.
        DESCR : str
            Description of the dataset: counts, licence, citation.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import fetch_lastfm_2k
    >>> lastfm = fetch_lastfm_2k()  # doctest: +SKIP
    >>> lastfm.data.shape  # doctest: +SKIP
    (1892, 17632)
    """
    paths = _ensure_dataset(
        FOLDER,
        _REQUIRED,
        LASTFM_2K_ARCHIVE,
        data_home=data_home,
        download_if_missing=download_if_missing,
        n_retries=n_retries,
        delay=delay,
        verbose=verbose,
        optional=_OPTIONAL,
    )

    artist_ids, artist_names = _id_name_table(paths["artists.dat"], "utf-8")
    tag_ids, tag_names = _id_name_table(paths["tags.dat"], "latin-1")

    plays = _read_numeric(paths["user_artists.dat"], 3, sep="\t", skip_header=1)
    play_users = plays[:, 0].astype(np.int64)
    play_artists = plays[:, 1].astype(np.int64)
    user_ids = np.unique(play_users)
    rows = _index_of(user_ids, play_users)
    cols = _index_of(artist_ids, play_artists)
    if np.any(cols < 0):
        unknown = np.unique(play_artists[cols < 0])
        raise ValueError(
            f"user_artists.dat refers to {unknown.size} artist ids missing from "
            f"artists.dat (e.g. {unknown[:5].tolist()}): the files do not match."
        )
    data = sp.csr_matrix(
        (plays[:, 2], (rows, cols)), shape=(user_ids.size, artist_ids.size), dtype=np.float64
    )
    data.sum_duplicates()

    assignments = _read_numeric(paths["user_taggedartists.dat"], 6, sep="\t", skip_header=1).astype(
        np.int64
    )
    ta_user, ta_artist, ta_tag = assignments[:, 0], assignments[:, 1], assignments[:, 2]
    ta_user_index = _index_of(user_ids, ta_user)
    ta_artist_index = _index_of(artist_ids, ta_artist)
    ta_tag_index = _index_of(tag_ids, ta_tag)
    if np.any(ta_tag_index < 0):
        unknown = np.unique(ta_tag[ta_tag_index < 0])
        raise ValueError(
            f"user_taggedartists.dat refers to tag ids missing from tags.dat "
            f"(e.g. {unknown[:5].tolist()})."
        )
    months = (assignments[:, 5] - 1970) * 12 + (assignments[:, 4] - 1)
    dates = months.astype("datetime64[M]").astype("datetime64[D]") + (assignments[:, 3] - 1).astype(
        "timedelta64[D]"
    )

    known = ta_artist_index >= 0
    # Count distinct users per (artist, tag): drop repeated (user, artist, tag)
    # triplets before summing, should the file ever contain any.
    # One int64 key per triplet (user rank, artist index, tag index).
    _, user_rank = np.unique(ta_user[known], return_inverse=True)
    n_a, n_t = artist_ids.size, tag_ids.size
    keys = np.unique((user_rank * n_a + ta_artist_index[known]) * n_t + ta_tag_index[known])
    pair = keys % (n_a * n_t)
    tags = sp.csr_matrix(
        (np.ones(keys.size), (pair // n_t, pair % n_t)),
        shape=(artist_ids.size, tag_ids.size),
        dtype=np.float64,
    )
    tags.sum_duplicates()

    friend_pairs = _read_numeric(paths["user_friends.dat"], 2, sep="\t", skip_header=1).astype(
        np.int64
    )
    f_rows = _index_of(user_ids, friend_pairs[:, 0])
    f_cols = _index_of(user_ids, friend_pairs[:, 1])
    if np.any(f_rows < 0) or np.any(f_cols < 0):
        raise ValueError("user_friends.dat refers to users without plays.")
    friends = sp.csr_matrix(
        (np.ones(f_rows.size), (f_rows, f_cols)), shape=(user_ids.size, user_ids.size)
    )
    friends.sum_duplicates()
    friends.data[:] = 1.0

    unmatched = ~known
    descr = _load_descr("lastfm_2k.rst").format(
        n_users=user_ids.size,
        n_artists=artist_ids.size,
        n_plays=data.nnz,
        total_plays=int(data.sum()),
        n_tags=tag_ids.size,
        n_assignments=assignments.shape[0],
        n_friends=friends.nnz,
        n_unmatched_assignments=int(unmatched.sum()),
        n_unmatched_artists=np.unique(ta_artist[unmatched]).size,
    )

    tag_assignments = Bunch(
        user_id=ta_user,
        artist_id=ta_artist,
        tag_id=ta_tag,
        user_index=ta_user_index,
        artist_index=ta_artist_index,
        tag_index=ta_tag_index,
        date=dates,
    )
    return Bunch(
        data=data,
        user_ids=user_ids,
        artist_ids=artist_ids,
        artist_names=artist_names,
        tags=tags,
        tag_ids=tag_ids,
        tag_names=tag_names,
        tag_assignments=tag_assignments,
        friends=friends,
        DESCR=descr,
    )
