"""Data home, cache reading and the safety rules of the download machinery.

Every archive here is built on the fly in a temporary folder; nothing touches
the network (a ``file://`` URL or a replaced opener stands in for it).
"""

import gzip
import hashlib
import io
import os
import tarfile
import zipfile

import numpy as np
import pytest

from sklearn_musicrec.datasets import (
    _base,
    _lastfm,
    _movielens,
    clear_data_home,
    fetch_lastfm_2k,
    fetch_movielens,
    get_data_home,
)
from sklearn_musicrec.datasets._base import RemoteArchive

# --------------------------------------------------------------------------
# Tiny datasets in the publishers' formats
# --------------------------------------------------------------------------

LASTFM_FILES = {
    "artists.dat": (
        "id\tname\turl\tpictureURL\n1\tMALICE MIZER\tu\tp\n2\tBeyoncé\tu\tp\n5\tMuse\tu\tp\n"
    ),
    "tags.dat": "tagID\ttagValue\n1\tmetal\n2\ttropicália\n3\tunused\n",
    "user_artists.dat": "userID\tartistID\tweight\n2\t1\t10\n2\t5\t3\n7\t2\t40\n",
    "user_taggedartists.dat": (
        "userID\tartistID\ttagID\tday\tmonth\tyear\n"
        "2\t1\t1\t1\t4\t2009\n7\t1\t1\t1\t5\t2010\n7\t2\t2\t1\t5\t2010\n2\t99\t1\t1\t1\t2008\n"
    ),
    "user_friends.dat": "userID\tfriendID\n2\t7\n7\t2\n",
}

ML1M_FILES = {
    "ratings.dat": "1::10::5::978300760\n1::20::3::978302109\n2::20::4::978301968\n",
    "movies.dat": (
        "10::Misérables, Les (1995)::Drama|Musical\n"
        "20::Toy Story (1995)::Animation|Children's\n30::Nothing::Drama\n"
    ),
    "users.dat": "1::F::1::10::48067\n2::M::56::16::70072\n",
}

ML20M_FILES = {
    "ratings.csv": (
        "userId,movieId,rating,timestamp\n"
        "1,2,3.5,1112486027\n1,29,4.0,1112484676\n3,2,0.5,1112484819\n"
    ),
    "movies.csv": (
        "movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n"
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama\n'
        "40,Unknown (2015),(no genres listed)\n"
    ),
    "tags.csv": (
        "userId,movieId,tag,timestamp\n18,29,Mark Waters,1240597180\n"
        '3,2,"dark, hero",1368150078\n3,29,Mark Waters,1368150079\n'
    ),
}


def _encode(text, name, crlf):
    if crlf:
        text = text.replace("\n", "\r\n")
    encoding = "latin-1" if name in ("tags.dat", "movies.dat") else "utf-8"
    return text.encode(encoding)


def _write_folder(folder, files, *, crlf=False, gz=False):
    os.makedirs(folder, exist_ok=True)
    for name, text in files.items():
        data = _encode(text, name, crlf)
        if gz:
            with gzip.open(os.path.join(folder, name + ".gz"), "wb") as f:
                f.write(data)
        else:
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)


def _make_zip(path, files, root="", crlf=True, extra=()):
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{root}/{name}" if root else name, _encode(text, name, crlf))
        for name, data in extra:
            zf.writestr(name, data)
    return path


def _remote(path, root="", sha256=None, size=None):
    with open(path, "rb") as f:
        content = f.read()
    return RemoteArchive(
        filename=os.path.basename(path),
        url="file://" + os.path.abspath(path),
        sha256=sha256 or hashlib.sha256(content).hexdigest(),
        size=size,
        root=root,
    )


def _no_network(*args, **kwargs):
    raise AssertionError("the network was used")


def _listing(folder):
    return sorted(
        os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs
    )


# --------------------------------------------------------------------------
# Data home
# --------------------------------------------------------------------------


def test_data_home_env_and_argument(tmp_path, monkeypatch):
    env_home = tmp_path / "from_env"
    monkeypatch.setenv("SKLEARN_MUSICREC_DATA", str(env_home))
    assert get_data_home() == str(env_home) and env_home.is_dir()
    explicit = tmp_path / "explicit"
    assert get_data_home(explicit) == str(explicit) and explicit.is_dir()
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("SKLEARN_MUSICREC_DATA")
    assert get_data_home() == str(tmp_path / "home" / "sklearn_musicrec_data")
    assert get_data_home("~/x") == str(tmp_path / "home" / "x")
    (env_home / "lastfm-2k").mkdir()
    clear_data_home(env_home)
    assert not env_home.exists()


def test_data_home_rejects_bad_type():
    with pytest.raises(ValueError, match="data_home"):
        get_data_home(3)


# --------------------------------------------------------------------------
# Cached files: plain or gzip, LF or CRLF
# --------------------------------------------------------------------------


@pytest.mark.parametrize("crlf", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_lastfm_reads_plain_gzip_lf_crlf(tmp_path, monkeypatch, crlf, gz):
    _write_folder(tmp_path / "lastfm-2k", LASTFM_FILES, crlf=crlf, gz=gz)
    before = _listing(tmp_path)
    monkeypatch.setattr(_base, "_urlopen", _no_network)
    b = fetch_lastfm_2k(data_home=tmp_path)
    assert _listing(tmp_path) == before  # nothing written into a filled data home
    np.testing.assert_array_equal(b.user_ids, [2, 7])
    np.testing.assert_array_equal(b.artist_ids, [1, 2, 5])
    assert b.artist_names.tolist() == ["MALICE MIZER", "Beyoncé", "Muse"]
    assert b.tag_names.tolist() == ["metal", "tropicália", "unused"]
    np.testing.assert_array_equal(b.data.toarray(), [[10, 0, 3], [0, 40, 0]])
    np.testing.assert_array_equal(b.tags.toarray(), [[2, 0, 0], [0, 1, 0], [0, 0, 0]])
    ta = b.tag_assignments
    np.testing.assert_array_equal(ta.artist_index, [0, 0, 1, -1])
    assert ta.date[-1] == np.datetime64("2008-01-01")
    np.testing.assert_array_equal(b.friends.toarray(), [[0, 1], [1, 0]])
    assert "1 tag assignments refer to 1 artist" in b.DESCR.replace("\n", " ")


def test_read_numeric_rejects_malformed_lines(tmp_path):
    path = tmp_path / "bad.dat"
    path.write_bytes(b"h\n1\t2\t3\n4\t5\n")
    with pytest.raises(ValueError, match="Malformed file"):
        _base._read_numeric(str(path), 3, sep="\t", skip_header=1)


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------


def test_download_extracts_verifies_and_then_uses_cache(tmp_path, monkeypatch):
    archive = _make_zip(tmp_path / "ml-1m.zip", ML1M_FILES, root="ml-1m")
    monkeypatch.setitem(_movielens.MOVIELENS_ARCHIVES, "1m", _remote(archive, "ml-1m"))
    home = tmp_path / "home"
    b = fetch_movielens("1m", data_home=home)
    assert _listing(home) == [
        os.path.join("ml-1m", name) for name in ("movies.dat", "ratings.dat", "users.dat")
    ]
    np.testing.assert_array_equal(b.user_ids, [1, 2])
    np.testing.assert_array_equal(b.movie_ids, [10, 20, 30])
    np.testing.assert_array_equal(b.data.toarray(), [[5, 3, 0], [0, 4, 0]])
    np.testing.assert_array_equal(b.timestamps.toarray()[0], [978300760, 978302109, 0])
    assert b.titles[0] == "Misérables, Les (1995)"
    assert b.genre_names.tolist() == ["Animation", "Children's", "Drama", "Musical"]
    # Second call: served from the cache, the network is not touched.
    monkeypatch.setattr(_base, "_urlopen", _no_network)
    again = fetch_movielens("1m", data_home=home)
    assert (again.data != b.data).nnz == 0


def test_download_csv_variant_with_tags(tmp_path, monkeypatch):
    archive = _make_zip(tmp_path / "ml-20m.zip", ML20M_FILES, root="ml-20m", crlf=False)
    monkeypatch.setitem(_movielens.MOVIELENS_ARCHIVES, "20m", _remote(archive, "ml-20m"))
    b = fetch_movielens("20m", data_home=tmp_path / "home")
    np.testing.assert_array_equal(b.movie_ids, [2, 29, 40])
    assert b.titles[1] == "City of Lost Children, The (Cité des enfants perdus, La) (1995)"
    assert b.genres[2].nnz == 0 and "(no genres listed)" not in set(b.genre_names)
    assert b.tag_names.tolist() == ["Mark Waters", "dark, hero"]
    np.testing.assert_array_equal(b.tags.toarray(), [[0, 1], [2, 0], [0, 0]])
    np.testing.assert_array_equal(b.tag_assignments.user_index, [-1, 1, 1])
    np.testing.assert_array_equal(b.data.toarray(), [[3.5, 4.0, 0], [0.5, 0, 0]])


def test_lastfm_download_from_root_level_archive(tmp_path, monkeypatch):
    archive = _make_zip(tmp_path / "hetrec2011-lastfm-2k.zip", LASTFM_FILES)
    monkeypatch.setattr(_lastfm, "LASTFM_2K_ARCHIVE", _remote(archive))
    b = fetch_lastfm_2k(data_home=tmp_path / "home")
    assert b.data.shape == (2, 3) and b.data.nnz == 3


def test_checksum_mismatch_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    archive = _make_zip(tmp_path / "ml-1m.zip", ML1M_FILES, root="ml-1m")
    monkeypatch.setitem(
        _movielens.MOVIELENS_ARCHIVES, "1m", _remote(archive, "ml-1m", sha256="0" * 64)
    )
    home = tmp_path / "home"
    with pytest.raises(OSError, match="sha256"):
        fetch_movielens("1m", data_home=home)
    assert _listing(home) == []


def test_path_traversal_archive_is_refused(tmp_path, monkeypatch):
    for i, evil in enumerate(["ml-1m/../../evil.txt", "/tmp/evil_abs.txt", "..\\evil.txt"]):
        archive = _make_zip(
            tmp_path / f"evil{i}.zip", ML1M_FILES, root="ml-1m", extra=[(evil, b"pwned")]
        )
        monkeypatch.setitem(_movielens.MOVIELENS_ARCHIVES, "1m", _remote(archive, "ml-1m"))
        home = tmp_path / f"home{i}"
        with pytest.raises(ValueError, match="Refusing to extract"):
            fetch_movielens("1m", data_home=home)
        assert _listing(home) == []  # nothing extracted, archive deleted
    assert not (tmp_path / "evil.txt").exists()


def test_zip_symlink_member_is_refused(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("ml-1m/ratings.dat")
        info.create_system = 3
        info.external_attr = (0o120777) << 16  # a symbolic link
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(ValueError, match="link or special file"):
        _base._extract_files(str(path), str(tmp_path), ["ratings.dat"], "ml-1m")
    assert not (tmp_path / "ratings.dat").exists()


def test_tar_links_are_refused(tmp_path):
    path = tmp_path / "links.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo("ml-1m/ratings.dat")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tf.addfile(info)
    with pytest.raises(ValueError, match="link or special file"):
        _base._extract_files(str(path), str(tmp_path), ["ratings.dat"], "ml-1m")
    assert not (tmp_path / "ratings.dat").exists()


def test_safe_tar_archive_is_extracted(tmp_path):
    path = tmp_path / "ok.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        data = b"1::10::5::978300760\n"
        info = tarfile.TarInfo("ml-1m/ratings.dat")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    out.mkdir()
    _base._extract_files(str(path), str(out), ["ratings.dat"], "ml-1m")
    assert (out / "ratings.dat").read_bytes() == data


class _FlakyResponse:
    """Serves ``payload``; raises ``error`` after ``fail_after`` bytes if given."""

    def __init__(self, payload, fail_after=None, error=None):
        self._stream = io.BytesIO(payload)
        self._fail_after = fail_after
        self._error = error
        self._sent = 0
        self.headers = {"Content-Length": str(len(payload))}

    def read(self, n):
        if self._fail_after is not None and self._sent >= self._fail_after:
            raise self._error
        chunk = self._stream.read(min(n, 100))
        self._sent += len(chunk)
        return chunk

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("error", [ConnectionResetError("reset"), KeyboardInterrupt()])
def test_interrupted_download_leaves_no_partial_file(tmp_path, monkeypatch, error):
    archive = _make_zip(tmp_path / "ml-1m.zip", ML1M_FILES, root="ml-1m")
    payload = archive.read_bytes()
    monkeypatch.setitem(_movielens.MOVIELENS_ARCHIVES, "1m", _remote(archive, "ml-1m"))
    calls = []

    def opener(url, timeout):
        calls.append(url)
        return _FlakyResponse(payload, fail_after=len(payload) // 2, error=error)

    monkeypatch.setattr(_base, "_urlopen", opener)
    home = tmp_path / "home"
    expected = OSError if isinstance(error, OSError) else KeyboardInterrupt
    with pytest.raises(expected):
        fetch_movielens("1m", data_home=home, n_retries=2, delay=0)
    assert _listing(home) == [] and not (home / "ml-1m").exists()
    # A network error is retried n_retries times; an interrupt is not.
    assert len(calls) == (3 if isinstance(error, OSError) else 1)


def test_download_is_retried_then_succeeds(tmp_path, monkeypatch, caplog):
    archive = _make_zip(tmp_path / "ml-1m.zip", ML1M_FILES, root="ml-1m")
    payload = archive.read_bytes()
    monkeypatch.setitem(_movielens.MOVIELENS_ARCHIVES, "1m", _remote(archive, "ml-1m"))
    calls = []

    def opener(url, timeout):
        calls.append(url)
        if len(calls) < 3:
            return _FlakyResponse(payload, fail_after=10, error=TimeoutError("slow"))
        return _FlakyResponse(payload)

    monkeypatch.setattr(_base, "_urlopen", opener)
    with caplog.at_level("INFO", logger="sklearn_musicrec.datasets"):
        b = fetch_movielens("1m", data_home=tmp_path / "home", n_retries=2, delay=0, verbose=1)
    assert len(calls) == 3 and b.data.nnz == 3
    assert any("100%" in r.getMessage() for r in caplog.records)  # progress when verbose


def test_offline_error_says_what_to_place_where(tmp_path, monkeypatch):
    def offline(url, timeout):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(_base, "_urlopen", offline)
    home = tmp_path / "home"
    with pytest.raises(OSError) as info:
        fetch_movielens("100k", data_home=home, n_retries=0)
    message = str(info.value)
    assert "u.data" in message and os.path.join(str(home), "ml-100k") in message
    assert "SKLEARN_MUSICREC_DATA" in message and "ml-100k.zip" in message
    assert _listing(home) == []
    with pytest.raises(OSError, match="download_if_missing is False"):
        fetch_lastfm_2k(data_home=home, download_if_missing=False)


def test_unknown_checksum_refuses_unverified_download(tmp_path):
    archive = _make_zip(tmp_path / "x.zip", ML1M_FILES, root="ml-1m")
    remote = _remote(archive, "ml-1m")._replace(sha256=None)
    with pytest.raises(OSError, match="refusing to download it unverified"):
        _base._fetch_remote(remote, str(tmp_path))
    path = _base._fetch_remote(remote, str(tmp_path), sha256=_remote(archive).sha256)
    assert os.path.isfile(path)


def test_published_checksums_are_recorded():
    for archive in list(_movielens.MOVIELENS_ARCHIVES.values()) + [_lastfm.LASTFM_2K_ARCHIVE]:
        assert len(archive.sha256) == 64 and archive.url.startswith("https://files.grouplens.org/")
