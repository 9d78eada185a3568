"""The real datasets for the ``realdata`` tests: loaded from the data home, or the test skips."""

import pytest


def fetch_lastfm_2k_or_skip():
    """``fetch_lastfm_2k()`` from the data home, without downloading; else skip saying why."""
    from sklearn_musicrec.datasets import fetch_lastfm_2k, get_data_home

    try:
        return fetch_lastfm_2k(download_if_missing=False)
    except OSError as exc:
        pytest.skip(
            f"HetRec 2011 Last.fm 2K files not found under the data home {get_data_home()!r} "
            f"(set SKLEARN_MUSICREC_DATA to a folder holding lastfm-2k/): {exc}"
        )
