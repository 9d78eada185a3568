"""Tests of the exposure and calibration metrics."""

import numpy as np
import pytest

from sklearn_musicrec.metrics import (
    exposure_share,
    gini_index,
    long_tail_exposure,
    miscalibration,
    popularity_groups,
    provider_gini,
)


def test_exposure_share_with_position_discount():
    ids = [[0, 2], [1, -1]]
    w2 = 1 / np.log2(3)
    shares = exposure_share(ids, [0, 0, 1])
    np.testing.assert_allclose(shares, np.array([1 + 1, w2]) / (2 + w2))


def test_long_tail_exposure_by_provider():
    plays = [60, 30, 5, 5]
    value = long_tail_exposure(
        [[0, 2], [3, 1]], plays, item_providers=[0, 0, 1, 2], position_discount=False
    )
    assert value == 0.5
    # every item its own provider: head = items 0, 1 (90% >= 80%)
    assert long_tail_exposure([[2, 3]], plays, position_discount=False) == 1.0


def test_provider_gini_reuses_gini_index():
    ids = np.array([[0, 1], [0, 2]])
    assert provider_gini(ids, [0, 1, 1]) == gini_index(np.array([[0, 1], [0, 1]]), n_items=2)


def test_popularity_groups_and_miscalibration_reference():
    np.testing.assert_array_equal(popularity_groups([70, 20, 5, 5]), [0, 0, 1, 1])
    genres = np.array([[1, 0], [0, 1], [1, 0]])
    kl = miscalibration([[0, 2]], np.array([[1, 1, 0]]), genres, alpha=0.01)
    expected = 0.5 * np.log(0.5 / 0.995) + 0.5 * np.log(0.5 / 0.005)
    assert kl == pytest.approx(expected)


def test_exposure_errors_name_the_argument():
    with pytest.raises(ValueError, match="item_groups"):
        exposure_share([[5]], [0, 1])
    with pytest.raises(ValueError, match="X has 2 rows"):
        miscalibration([[0]], np.ones((2, 3)), np.eye(3))
