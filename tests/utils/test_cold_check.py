"""The harness's cold-item check passes content models and catches broken ones."""

import numpy as np
import pytest

from sklearn_musicrec import ItemKNNRecommender
from sklearn_musicrec.content import HybridRecommender, TagRecommender
from sklearn_musicrec.utils._features import supports_cold_items
from sklearn_musicrec.utils.estimator_checks import check_cold_items


class _ColdBlind(TagRecommender):
    """Claims to score cold items but gives them all the same score."""

    def _decision_function(self, X):
        S = super()._decision_function(X)
        S[:, self.item_counts_ == 0] = 0.0
        return S


def test_cold_check_passes_content_models():
    check_cold_items("TagRecommender", TagRecommender())
    hybrid = HybridRecommender([("tags", TagRecommender()), ("knn", ItemKNNRecommender())])
    check_cold_items("HybridRecommender", hybrid)


def test_cold_check_catches_a_model_that_cannot_rank_cold_items():
    with pytest.raises(AssertionError, match="same score"):
        check_cold_items("_ColdBlind", _ColdBlind())


def test_declaration_follows_the_parameters():
    assert not supports_cold_items(TagRecommender())
    assert supports_cold_items(TagRecommender(item_features=np.eye(3)))
    assert not supports_cold_items(ItemKNNRecommender())
    hybrid = HybridRecommender([("tags", TagRecommender(item_features=np.eye(3)))])
    assert supports_cold_items(hybrid)
