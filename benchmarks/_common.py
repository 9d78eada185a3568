"""What the lastfm-2k benchmarks share: the split and the quality metrics.

Every quality benchmark on lastfm-2k uses the protocol of docs/facts.md: users
with at least 5 artists, a per-user random 80/20 holdout of play records
(``holdout_split``, seed 0), full-catalogue ranking with training items
excluded, K = 20.
"""

import warnings

import numpy as np

from sklearn_musicrec.datasets import fetch_lastfm_2k
from sklearn_musicrec.metrics import ndcg_at_k, recall_at_k
from sklearn_musicrec.model_selection import holdout_split

K = 20


def lastfm_holdout(*, binarize=False, data_home=None):
    """``(train, test)`` CSR play-count matrices of the lastfm-2k protocol.

    ``data_home`` is passed to ``fetch_lastfm_2k`` (``None``: the
    ``SKLEARN_MUSICREC_DATA`` environment variable or the default home).
    """
    X = fetch_lastfm_2k(data_home=data_home, download_if_missing=False).data.tocsr()
    X = X[np.diff(X.indptr) >= 5]
    if binarize:
        X = (X > 0).astype(np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # no user is too short here
        train, test = holdout_split(X, 0.2, random_state=0)
    return train.tocsr(), test.tocsr()


def ranking_quality(ids, test, k=K):
    """NDCG@k and Recall@k of recommended ``ids`` against held-out ``test``."""
    return {
        f"ndcg@{k}": float(ndcg_at_k(test, ids, k=k)),
        f"recall@{k}": float(recall_at_k(test, ids, k=k)),
    }
