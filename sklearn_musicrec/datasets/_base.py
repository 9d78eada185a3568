"""Data home, cached-file reading and safe archive download.

The cache layout is one folder per dataset under the data home
(``lastfm-2k/``, ``ml-100k/``, ``ml-latest-small/``, ``ml-1m/``, ``ml-20m/``).
Each file is stored either plain or gzip-compressed as ``<name>.gz``, with LF
or CRLF line endings; the readers here accept all four forms. A loader only
writes into the data home when a file it needs is missing, so a read-only data
home that already holds the files (a shared copy) is never modified.
"""

import gzip
import hashlib
import logging
import os
import shutil
import stat
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections import namedtuple
from importlib import resources
from pathlib import PurePosixPath

import numpy as np

from ..utils._sklearn_compat import validate_params

__all__ = ["get_data_home", "clear_data_home"]

logger = logging.getLogger("sklearn_musicrec.datasets")

#: Name of the environment variable that sets the default data home.
DATA_HOME_ENV = "SKLEARN_MUSICREC_DATA"

_DEFAULT_DATA_HOME = os.path.join("~", "sklearn_musicrec_data")

# Description of one publisher archive: where to get it and how to verify it.
# ``sha256`` is the published checksum of the archive (never of a re-encoded
# copy); ``size`` is the published size in bytes or None when not published;
# ``root`` is the folder the archive stores its files under ("" for none).
RemoteArchive = namedtuple("RemoteArchive", ["filename", "url", "sha256", "size", "root"])

_CHUNK_SIZE = 1 << 16


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def get_data_home(data_home: str | os.PathLike[str] | None = None) -> str:
    """Return the path of the sklearn_musicrec data home, creating it if missing.

    The data home caches the datasets fetched by ``fetch_*`` loaders, one folder
    per dataset. By default it is ``~/sklearn_musicrec_data``; the environment
    variable ``SKLEARN_MUSICREC_DATA`` overrides it, and the ``data_home``
    argument overrides both. A leading ``~`` is expanded to the user's home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home. None means the environment variable
        ``SKLEARN_MUSICREC_DATA`` if set, else ``~/sklearn_musicrec_data``.

    Returns
    -------
    data_home : str
        The path to the data home (it exists on return).

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_musicrec.datasets import get_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     get_data_home(tmp) == tmp
    True
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or _DEFAULT_DATA_HOME
    data_home = os.path.expanduser(os.fspath(data_home))
    os.makedirs(data_home, exist_ok=True)
    return data_home


@validate_params(
    {"data_home": [str, os.PathLike, None]},
    prefer_skip_nested_validation=True,
)
def clear_data_home(data_home: str | os.PathLike[str] | None = None) -> None:
    """Delete all the content of the data home.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The data home to clear; None means the one :func:`get_data_home`
        returns.

    Examples
    --------
    >>> import os, tempfile
    >>> from sklearn_musicrec.datasets import clear_data_home
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     home = os.path.join(tmp, "home")
    ...     os.makedirs(os.path.join(home, "lastfm-2k"))
    ...     clear_data_home(home)
    ...     os.path.exists(home)
    False
    """
    data_home = get_data_home(data_home)
    shutil.rmtree(data_home)


# --------------------------------------------------------------------------
# Reading cached files (plain or gzip, LF or CRLF)
# --------------------------------------------------------------------------


def _find_file(folder, name):
    """Path of ``name`` or ``name.gz`` in ``folder``, or None if neither exists."""
    for candidate in (name, name + ".gz"):
        path = os.path.join(folder, candidate)
        if os.path.isfile(path):
            return path
    return None


def _read_bytes(path):
    """Content of a cached file, transparently gunzipped."""
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _read_lines(path, encoding="utf-8", skip_header=0):
    """Lines of a text file (LF or CRLF), without terminators or trailing blank lines."""
    text = _read_bytes(path).decode(encoding)
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines[skip_header:]


def _read_numeric(path, n_columns, *, sep, skip_header=0, dtype=np.float64):
    """Parse a file of ``n_columns`` numeric columns into a 2-D array.

    Fast path for large rating files: separators are turned into spaces and
    numpy's C parser reads the buffer, in chunks of whole lines so that memory
    stays bounded. The number of values of each chunk is checked against its
    number of lines, so a malformed line raises instead of shifting columns.
    """
    raw = _read_bytes(path)
    start = 0
    for _ in range(skip_header):
        newline = raw.find(b"\n", start)
        start = len(raw) if newline < 0 else newline + 1
    end = len(raw.rstrip())
    sep_bytes = sep.encode("ascii")
    blocks = []
    chunk = 1 << 25
    while start < end:
        stop = raw.find(b"\n", min(start + chunk, end))
        stop = end if stop < 0 or stop > end else stop
        block = raw[start:stop]
        if sep_bytes != b" ":
            block = block.replace(sep_bytes, b" ")
        n_rows = block.count(b"\n") + 1
        values = np.fromstring(block.decode("ascii"), dtype=dtype, sep=" ")
        if values.size != n_rows * n_columns:
            raise ValueError(
                f"Malformed file {path!r}: expected {n_columns} numeric columns on "
                f"each line, found {values.size} values on {n_rows} lines."
            )
        blocks.append(values.reshape(n_rows, n_columns))
        start = stop + 1
    if not blocks:
        return np.empty((0, n_columns), dtype=dtype)
    return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)


def _load_descr(name):
    """Text of the description file ``descr/<name>`` shipped with the package."""
    return resources.files(__package__).joinpath("descr", name).read_text(encoding="utf-8")


# --------------------------------------------------------------------------
# Download, verification and safe extraction
# --------------------------------------------------------------------------


def _urlopen(url, timeout):
    """Open ``url``; a module-level seam so tests can replace the network."""
    request = urllib.request.Request(url, headers={"User-Agent": "sklearn_musicrec"})
    return urllib.request.urlopen(request, timeout=timeout)  # noqa: S310


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK_SIZE), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ChecksumError(OSError):
    """A downloaded file does not match its published sha256 checksum."""


def _download_once(url, target, expected_size, timeout, verbose):
    """Stream ``url`` into the open binary file ``target``; log progress if verbose."""
    with _urlopen(url, timeout) as response:
        total = expected_size
        header = getattr(response, "headers", None)
        if total is None and header is not None and header.get("Content-Length"):
            total = int(header["Content-Length"])
        done = 0
        next_report = 0.1
        while True:
            chunk = response.read(_CHUNK_SIZE)
            if not chunk:
                break
            target.write(chunk)
            done += len(chunk)
            if verbose and total:
                fraction = done / total
                if fraction >= next_report:
                    logger.info("Downloading %s: %3.0f%% of %d bytes", url, 100 * fraction, total)
                    next_report = np.floor(fraction * 10) / 10 + 0.1
    if expected_size is not None and done != expected_size:
        raise OSError(f"Incomplete download of {url}: got {done} bytes, expected {expected_size}.")


def _fetch_remote(archive, folder, *, sha256=None, n_retries=3, delay=1.0, timeout=60, verbose=0):
    """Download ``archive`` into ``folder``, verify it and return its path.

    The file is written to a temporary file in ``folder`` and renamed to its
    final name only once its sha256 matches, so an interrupted or corrupted
    download never leaves a file under the archive's name. Network errors are
    retried ``n_retries`` times, ``delay`` seconds apart; a checksum mismatch
    is not retried.
    """
    expected = (sha256 or archive.sha256 or "").lower() or None
    if expected is None:
        raise OSError(
            f"No published sha256 is known for {archive.filename}; refusing to "
            "download it unverified. Pass the archive's sha256 explicitly "
            "(sha256=...) or place the extracted files in the data home."
        )
    final_path = os.path.join(folder, archive.filename)
    attempt = 0
    while True:
        fd, tmp_path = tempfile.mkstemp(
            prefix="." + archive.filename + ".", suffix=".part", dir=folder
        )
        try:
            with os.fdopen(fd, "wb") as tmp:
                if verbose:
                    logger.info("Downloading %s to %s", archive.url, final_path)
                # A caller-given sha256 may describe another release: skip the size.
                size = archive.size if sha256 is None else None
                _download_once(archive.url, tmp, size, timeout, verbose)
            actual = _sha256(tmp_path)
            if actual != expected:
                raise ChecksumError(
                    f"The file downloaded from {archive.url} has sha256 {actual}, "
                    f"expected {expected}. It was deleted; the download may be "
                    "corrupted or the publisher changed the archive."
                )
            os.replace(tmp_path, final_path)
            return final_path
        except ChecksumError:
            _remove_quietly(tmp_path)
            raise
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            _remove_quietly(tmp_path)
            attempt += 1
            if attempt > n_retries:
                raise
            logger.warning(
                "Download of %s failed (%s); retrying in %.1f s (%d left)",
                archive.url,
                exc,
                delay,
                n_retries - attempt + 1,
            )
            time.sleep(delay)
        except BaseException:
            # KeyboardInterrupt and the like: never leave a partial file.
            _remove_quietly(tmp_path)
            raise


def _remove_quietly(path):
    try:
        os.remove(path)
    except FileNotFoundError:
        pass


def _check_member_name(name):
    """Reject absolute paths, drive letters and ``..`` components."""
    if not name or "\x00" in name:
        raise ValueError(f"Refusing to extract an archive member with an invalid name: {name!r}")
    normalised = name.replace("\\", "/")
    path = PurePosixPath(normalised)
    has_drive = len(normalised) > 1 and normalised[1] == ":"
    if normalised.startswith("/") or path.is_absolute() or has_drive:
        raise ValueError(f"Refusing to extract archive member with an absolute path: {name!r}")
    if ".." in path.parts:
        raise ValueError(
            f"Refusing to extract archive member that escapes the target folder: {name!r}"
        )
    return path


def _archive_members(archive_path):
    """Open a zip or tar archive and list its members, refusing unsafe ones.

    Returns ``(handle, members)`` where ``members`` holds one
    ``(relative PurePosixPath, is_dir, open_callable)`` per member; the caller
    closes ``handle``. Raises ValueError on the first unsafe member (absolute
    path, ``..`` component, symbolic or hard link, device or other special
    file), before anything is written.
    """
    if zipfile.is_zipfile(archive_path):
        handle = zipfile.ZipFile(archive_path)
        infos = [(info, info.filename) for info in handle.infolist()]

        def unsafe_type(info):
            # Unix file type bits, when the archiver recorded them.
            file_type = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
            return bool(file_type) and file_type not in (stat.S_IFREG, stat.S_IFDIR)

        def is_dir(info):
            return info.is_dir()

        def opener(info):
            return lambda: handle.open(info)

    elif tarfile.is_tarfile(archive_path):
        handle = tarfile.open(archive_path)
        infos = [(info, info.name) for info in handle.getmembers()]

        def unsafe_type(info):
            return not (info.isfile() or info.isdir())

        def is_dir(info):
            return info.isdir()

        def opener(info):
            return lambda: handle.extractfile(info)

    else:
        raise ValueError(f"{archive_path!r} is neither a zip nor a tar archive.")
    try:
        members = []
        for info, name in infos:
            path = _check_member_name(name)
            if unsafe_type(info):
                raise ValueError(
                    f"Refusing to extract archive member {name!r}: it is a link or special file."
                )
            members.append((path, is_dir(info), opener(info)))
    except BaseException:
        handle.close()
        raise
    return handle, members


def _extract_files(archive_path, folder, wanted, root=""):
    """Extract the members ``root/<name>`` for ``name`` in ``wanted`` into ``folder``.

    Every member name of the archive is checked first (absolute paths, ``..``
    components, links and special files make the whole archive refused).
    Each wanted file is written to a temporary file in ``folder`` and renamed,
    so a failure leaves no partial file. Members not in ``wanted`` are not
    written. Returns the list of written paths.
    """
    handle, members = _archive_members(archive_path)
    root_path = PurePosixPath(root) if root else None
    by_name = {}
    for path, is_dir, opener in members:
        if is_dir:
            continue
        if root_path is not None:
            if path.parent != root_path:
                continue
        elif len(path.parts) != 1:
            continue
        by_name[path.name] = opener
    missing = [name for name in wanted if name not in by_name]
    try:
        if missing:
            raise OSError(
                f"The archive {os.path.basename(archive_path)!r} lacks the expected "
                f"files {missing} under {root or 'its top level'!r}."
            )
        written = []
        folder_real = os.path.realpath(folder)
        for name in wanted:
            final_path = os.path.join(folder_real, name)
            if os.path.dirname(os.path.realpath(final_path)) != folder_real:  # pragma: no cover
                raise ValueError(f"Refusing to write {name!r} outside {folder!r}.")
            fd, tmp_path = tempfile.mkstemp(
                prefix="." + name + ".", suffix=".part", dir=folder_real
            )
            try:
                with os.fdopen(fd, "wb") as out, by_name[name]() as src:
                    shutil.copyfileobj(src, out, _CHUNK_SIZE)
                os.replace(tmp_path, final_path)
            except BaseException:
                _remove_quietly(tmp_path)
                raise
            written.append(final_path)
        return written
    finally:
        handle.close()


def _missing_files_message(folder, names, archive, data_home_hint):
    listed = ", ".join(names)
    return (
        f"Files {listed} not found in {folder!r} (each may be stored plain or as "
        f"'<name>.gz'). Either allow the download (download_if_missing=True, "
        f"network access to {archive.url}), or download {archive.filename} "
        f"yourself, extract those files into {folder!r}, or point the data home "
        f"at a folder that holds them (data_home=... or the environment variable "
        f"{DATA_HOME_ENV}; {data_home_hint})."
    )


def _ensure_dataset(
    folder_name,
    required,
    archive,
    *,
    data_home=None,
    download_if_missing=True,
    sha256=None,
    n_retries=3,
    delay=1.0,
    verbose=0,
    optional=(),
):
    """Return ``{name: path}`` of the dataset's files, downloading them if needed.

    ``required`` files must exist (plain or ``.gz``) under
    ``<data_home>/<folder_name>``; if any is missing and ``download_if_missing``
    is True, the publisher's archive is downloaded, verified against its
    sha256, and the missing files extracted there (the archive is deleted
    afterwards). ``optional`` files are extracted when the archive is
    downloaded and returned when present, but never trigger a download.
    """
    data_home = get_data_home(data_home)
    folder = os.path.join(data_home, folder_name)
    paths = {name: _find_file(folder, name) for name in list(required) + list(optional)}
    missing = [name for name in required if paths[name] is None]
    if not missing:
        return paths
    hint = f"currently {data_home!r}"
    if not download_if_missing:
        raise OSError(
            "Data not found and download_if_missing is False. "
            + _missing_files_message(folder, missing, archive, hint)
        )
    created = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    try:
        try:
            archive_path = _fetch_remote(
                archive, folder, sha256=sha256, n_retries=n_retries, delay=delay, verbose=verbose
            )
        except ChecksumError:
            raise
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise OSError(
                f"Could not download {archive.url} ({exc}). "
                + _missing_files_message(folder, missing, archive, hint)
            ) from exc
        try:
            available = _available_members(archive_path, archive.root)
            to_extract = list(missing) + [
                name for name in optional if paths[name] is None and name in available
            ]
            _extract_files(archive_path, folder, to_extract, archive.root)
        finally:
            _remove_quietly(archive_path)
    except BaseException:
        if created:
            try:
                os.rmdir(folder)  # only succeeds when nothing was left in it
            except OSError:
                pass
        raise
    return {name: _find_file(folder, name) for name in list(required) + list(optional)}


def _available_members(archive_path, root):
    handle, members = _archive_members(archive_path)
    try:
        root_path = PurePosixPath(root) if root else None
        names = set()
        for path, is_dir, _ in members:
            if is_dir:
                continue
            if (root_path is None and len(path.parts) == 1) or (
                root_path is not None and path.parent == root_path
            ):
                names.add(path.name)
        return names
    finally:
        handle.close()
