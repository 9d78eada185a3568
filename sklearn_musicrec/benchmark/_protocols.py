"""The evaluation protocols of the benchmark, as folds for ``evaluate``.

Each protocol yields ``Fold`` objects: ``X_train`` and ``X_test`` of the
dataset's shape and, for ``new-users``, the rows the model is fitted on
(``fit_users``), the argument of
:func:`~sklearn_musicrec.model_selection.evaluate`. Every split is one of the
package's splitters.

- ``new-users`` (default): ``KFold`` over users (shuffled, seeded). The
  model is fitted on the training users' full rows only; each test user's
  row is split by :func:`holdout_split` (20% held out) into the history the
  model folds in and the truth. Every user is a test user exactly once.
- ``holdout``: :func:`holdout_split` of every user's row (20%), one split;
  the model is fitted on all users' training parts.
- ``temporal``: :func:`temporal_split` (each user's latest 20%); needs
  timestamps.
- ``cold-items``: :func:`cold_item_split` (20% of the items, with all their
  plays, held out); only models that can score items without plays
  (content models with item features) can recommend them.
"""

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import KFold

from ..model_selection import cold_item_split, holdout_split, temporal_split

__all__ = ["PROTOCOLS", "Fold", "make_folds"]

PROTOCOLS = {
    "new-users": "KFold over users; the test users' rows split 80/20 into fold-in history and "
    "truth; models fitted on the training users only",
    "holdout": "per-user random 80/20 holdout of every user's interactions (one split)",
    "temporal": "each user's latest 20% of interactions held out (one split; needs timestamps)",
    "cold-items": "20% of the items held out with all their interactions (one split)",
}
TEST_SIZE = 0.2


class Fold:
    """One train/test split: ``index``, ``X_train``, ``X_test``, ``fit_users`` (or None)."""

    def __init__(self, index, X_train, X_test, fit_users=None):
        self.index = index
        self.X_train = X_train
        self.X_test = X_test
        self.fit_users = fit_users


def make_folds(dataset, protocol, *, n_splits=3, seed=0):
    """The folds of ``protocol`` on ``dataset`` (a list of :class:`Fold`), and notes."""
    if protocol not in PROTOCOLS:
        raise ValueError(
            f"--protocol: unknown protocol {protocol!r}; valid protocols are "
            f"{', '.join(PROTOCOLS)}."
        )
    X = dataset.X
    notes = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        if protocol == "new-users":
            if X.shape[0] < n_splits:
                raise ValueError(
                    f"--n-splits {n_splits} needs at least as many users; the dataset has "
                    f"{X.shape[0]}."
                )
            # the split of a row depends only on its contents and the seed: one split
            # serves every fold
            H_train, H_test = holdout_split(X, TEST_SIZE, random_state=seed)
            folds = []
            kf = KFold(n_splits, shuffle=True, random_state=seed)
            for i, (train, test) in enumerate(kf.split(np.arange(X.shape[0]))):
                is_test = np.zeros(X.shape[0])
                is_test[test] = 1.0
                D_test, D_train = sp.diags(is_test), sp.diags(1.0 - is_test)
                # training users keep their whole row; test users their fold-in part
                X_train = (D_train @ X + D_test @ H_train).tocsr()
                X_test = (D_test @ H_test).tocsr()
                for M in (X_train, X_test):
                    M.eliminate_zeros()
                    M.sort_indices()
                folds.append(Fold(i, X_train, X_test, fit_users=np.sort(train)))
        elif protocol == "holdout":
            folds = [Fold(0, *holdout_split(X, TEST_SIZE, random_state=seed))]
        elif protocol == "temporal":
            if dataset.timestamps is None:
                raise ValueError(
                    f"--protocol temporal needs timestamps, and the dataset {dataset.name!r} has "
                    "none (a user's file needs a fourth column, user,item,value,timestamp); use "
                    "--protocol new-users or holdout."
                )
            folds = [Fold(0, *temporal_split(X, dataset.timestamps, test_size=TEST_SIZE))]
        else:
            folds = [Fold(0, *cold_item_split(X, TEST_SIZE, random_state=seed))]
    for w in caught:
        if issubclass(w.category, UserWarning):
            notes.append(str(w.message))
    return folds, sorted(set(notes))
