"""The datasets of the benchmark: the embedded default, the loaders, a user's file.

A user's file holds one interaction per line, ``user,item[,value[,timestamp]]``
(comma- or tab-separated: by the extension ``.csv`` / ``.tsv`` / ``.tab``,
otherwise sniffed from the first lines), with an optional header line.
Parquet files (``.parquet``) are read when pyarrow is installed. The records
go through :class:`~sklearn_musicrec.preprocessing.InteractionEncoder`
(duplicate (user, item) pairs are summed; the latest timestamp is kept). A
malformed line stops the run with an error naming the file, the line number
and what was wrong.
"""

import csv
import math
from pathlib import Path

import numpy as np

from ..preprocessing import InteractionEncoder

__all__ = ["DATASETS", "Dataset", "filter_items", "load_dataset", "read_interactions"]

# name -> (description, loader key)
DATASETS = {
    "synthetic": "make_interactions(n_users=1000, n_items=500, timestamps): offline, no download",
    "lastfm-2k": "HetRec 2011 Last.fm 2K play counts (fetch_lastfm_2k), artist tags as features",
    "movielens-100k": "MovieLens 100K ratings (fetch_movielens('100k')), genres as features",
    "movielens-latest-small": "MovieLens latest-small ratings, genres as features",
    "movielens-1m": "MovieLens 1M ratings, genres as features",
    "movielens-20m": "MovieLens 20M ratings, genres as features",
}
_ALIASES = {
    "ml-100k": "movielens-100k",
    "ml-latest-small": "movielens-latest-small",
    "ml-1m": "movielens-1m",
    "ml-20m": "movielens-20m",
    "lastfm": "lastfm-2k",
    "default": "synthetic",
}


class Dataset:
    """Interactions of one benchmark run.

    Attributes
    ----------
    name : str
    X : csr_matrix of shape (n_users, n_items)
    timestamps : csr_matrix or None
        With the pattern of ``X``.
    item_features : sparse matrix of shape (n_items, n_features) or None
    description : str
    user_ids : ndarray of shape (n_users,) or None
        The id of each row (a user's file, the loaders); None: the row index.
    """

    def __init__(
        self, name, X, *, timestamps=None, item_features=None, description="", user_ids=None
    ):
        self.user_ids = user_ids
        self.name = name
        self.X = X
        self.timestamps = timestamps
        self.item_features = item_features
        self.description = description


class DataFileError(ValueError):
    """A user's interaction file could not be read (the message names file and line)."""


def _number(text):
    try:
        value = float(text)
    except ValueError:
        return None
    return value


def _timestamp(text):
    value = _number(text)
    if value is not None:
        return value
    try:  # ISO 8601 dates and times
        return float(np.datetime64(text.strip(), "s").astype(np.int64))
    except ValueError:
        return None


def _delimiter(path, sample):
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return ","
    if suffix in (".tsv", ".tab"):
        return "\t"
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;| ").delimiter
    except csv.Error:
        return ","


def _read_parquet(path):
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataFileError(
            f"{path}: reading Parquet needs pyarrow (pip install pyarrow), or give a CSV/TSV file."
        ) from None
    table = pq.read_table(path)
    if not 2 <= table.num_columns <= 4:
        raise DataFileError(
            f"{path}: expected 2 to 4 columns (user, item[, value[, timestamp]]), "
            f"got {table.num_columns}: {table.column_names}."
        )
    return [np.asarray(table.column(i).to_pylist(), dtype=object) for i in range(table.num_columns)]


def read_interactions(path):
    """Read a user's interaction file into ``(X, timestamps, encoder)``.

    Parameters
    ----------
    path : str or path-like
        CSV/TSV (or Parquet) of ``user,item[,value[,timestamp]]`` rows.

    Returns
    -------
    X : csr_matrix of shape (n_users, n_items)
    timestamps : csr_matrix or None
    encoder : InteractionEncoder
        Fitted: ``user_ids_`` and ``item_ids_`` name the rows and columns.

    Raises
    ------
    DataFileError
        Naming the file, the line number and what was wrong.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"--dataset: {path} is not a file, nor one of {', '.join(DATASETS)}.")
    if path.suffix.lower() in (".parquet", ".pq"):
        columns = _read_parquet(path)
        n_cols = len(columns)
        users, items = columns[0].astype(str), columns[1].astype(str)
        values = columns[2].astype(np.float64) if n_cols > 2 else None
        times = columns[3].astype(np.float64) if n_cols > 3 else None
    else:
        users, items, values, times, n_cols = _read_text(path)
    records = {"user": users, "item": items}
    if values is not None:
        if not np.all(np.isfinite(values)) or (values < 0).any():
            raise DataFileError(f"{path}: values must be finite and non-negative.")
        records["value"] = values
    if times is not None:
        records["timestamp"] = times
    enc = InteractionEncoder(
        user_col="user",
        item_col="item",
        value_col="value" if values is not None else None,
        timestamp_col="timestamp" if times is not None else None,
    )
    enc.fit(records)
    if times is not None:
        X, T = enc.transform(records, return_timestamps=True)
    else:
        X, T = enc.transform(records), None
    X.eliminate_zeros()
    if T is not None and T.nnz != X.nnz:  # zero values dropped: keep the patterns equal
        T = T.multiply(X != 0).tocsr()
        T.sort_indices()
    return X.tocsr(), T, enc


def _read_text(path):
    with open(path, newline="", encoding="utf-8", errors="strict") as f:
        try:
            sample = f.read(64 * 1024)
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}: not UTF-8 text ({exc}).") from None
        f.seek(0)
        delimiter = _delimiter(path, sample)
        users, items, values, times = [], [], [], []
        n_cols = None
        reader = csv.reader(f, delimiter=delimiter)
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row) or row[0].startswith("#"):
                    continue
                row = [c.strip() for c in row]
                if not 2 <= len(row) <= 4:
                    raise DataFileError(
                        f"{path}, line {line}: expected 2 to 4 fields "
                        f"(user{delimiter}item[{delimiter}value[{delimiter}timestamp]]), "
                        f"got {len(row)}: {delimiter.join(row)!r}."
                    )
                if n_cols is None:
                    n_cols = len(row)
                    is_header = (len(row) > 2 and _number(row[2]) is None) or row[0].lower() in (
                        "user",
                        "user_id",
                        "userid",
                        "uid",
                    )
                    if is_header:
                        continue
                elif len(row) != n_cols:
                    raise DataFileError(
                        f"{path}, line {line}: expected {n_cols} fields like the first line, "
                        f"got {len(row)}: {delimiter.join(row)!r}."
                    )
                if not row[0] or not row[1]:
                    raise DataFileError(f"{path}, line {line}: empty user or item id.")
                users.append(row[0])
                items.append(row[1])
                if n_cols > 2:
                    v = _number(row[2])
                    if v is None or not math.isfinite(v) or v < 0:
                        raise DataFileError(
                            f"{path}, line {line}: the value {row[2]!r} is not a finite "
                            "non-negative number."
                        )
                    values.append(v)
                if n_cols > 3:
                    t = _timestamp(row[3])
                    if t is None or not math.isfinite(t):
                        raise DataFileError(
                            f"{path}, line {line}: the timestamp {row[3]!r} is neither a "
                            "number nor an ISO 8601 date."
                        )
                    times.append(t)
        except UnicodeDecodeError as exc:
            raise DataFileError(f"{path}, line {reader.line_num + 1}: not UTF-8 ({exc}).") from None
        except csv.Error as exc:
            raise DataFileError(f"{path}, line {reader.line_num}: {exc}.") from None
    if not users:
        raise DataFileError(f"{path}: no interaction rows (user{delimiter}item...) found.")
    return (
        np.asarray(users, dtype=object),
        np.asarray(items, dtype=object),
        np.asarray(values, dtype=np.float64) if n_cols > 2 else None,
        np.asarray(times, dtype=np.float64) if n_cols > 3 else None,
        n_cols,
    )


def load_dataset(spec, *, seed=0, data_home=None):
    """The :class:`Dataset` named by ``--dataset`` (a name or a file path)."""
    name = _ALIASES.get(spec, spec)
    if name == "synthetic":
        from ..datasets import make_interactions

        b = make_interactions(n_users=1000, n_items=500, return_timestamps=True, random_state=seed)
        return Dataset(
            name,
            b.data.tocsr(),
            timestamps=b.timestamps,
            item_features=b.item_tags,
            description=DATASETS[name] + f", random_state={seed}",
        )
    if name == "lastfm-2k":
        from ..datasets import fetch_lastfm_2k

        b = fetch_lastfm_2k(data_home=data_home)
        return Dataset(
            name,
            b.data.tocsr(),
            item_features=b.tags,
            description=DATASETS[name],
            user_ids=b.user_ids,
        )
    if name.startswith("movielens-"):
        from ..datasets import fetch_movielens

        b = fetch_movielens(name[len("movielens-") :], data_home=data_home)
        return Dataset(
            name,
            b.data.tocsr(),
            timestamps=b.timestamps,
            item_features=b.genres,
            description=DATASETS[name],
            user_ids=b.user_ids,
        )
    path = Path(spec)
    if not path.exists() and path.suffix == "":
        raise DataFileError(
            f"--dataset: unknown dataset {spec!r} and no such file; expected one of "
            f"{', '.join(DATASETS)} or a path to a user,item[,value[,timestamp]] file."
        )
    X, T, enc = read_interactions(path)
    return Dataset(
        str(path),
        X,
        timestamps=T,
        description=f"{path}: {enc.n_users_} users x {enc.n_items_} items read through "
        "InteractionEncoder",
        user_ids=enc.user_ids_,
    )


def filter_items(data, min_item_users):
    """Keep the items with at least ``min_item_users`` users, then the non-empty users.

    Returns a new :class:`Dataset` (``data`` itself when nothing is removed).
    """
    if min_item_users <= 1:
        return data
    X = data.X
    n_users_per_item = np.diff(X.tocsc().indptr)
    items = np.flatnonzero(n_users_per_item >= min_item_users)
    if items.size == 0:
        raise ValueError(
            f"--min-item-users {min_item_users}: no item has that many users (the most "
            f"listened item has {int(n_users_per_item.max(initial=0))})."
        )
    X = X[:, items].tocsr()
    users = np.flatnonzero(np.diff(X.indptr))
    X = X[users]
    T = None if data.timestamps is None else data.timestamps.tocsr()[:, items].tocsr()[users]
    F = None if data.item_features is None else data.item_features[items]
    ids = None if data.user_ids is None else np.asarray(data.user_ids)[users]
    return Dataset(
        data.name,
        X,
        timestamps=T,
        item_features=F,
        description=f"{data.description}; items with at least {min_item_users} users kept "
        f"({items.size} of {data.X.shape[1]} items, {users.size} of {data.X.shape[0]} users)",
        user_ids=ids,
    )
