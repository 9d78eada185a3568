"""Settings used by the common tests, one entry per estimator class name.

``TEST_PARAMS`` holds constructor arguments that keep the common tests fast
(e.g. a few iterations); the estimator is otherwise tested at its defaults.
``EXPECTED_FAILED_CHECKS`` maps an estimator name to ``{check_name: reason}``
for scikit-learn checks that are known to fail; every entry needs a reason,
and the table should stay (nearly) empty.
"""

TEST_PARAMS = {
    "SGDFactorizer": {"loss": "bpr", "n_components": 8, "max_iter": 10, "random_state": 0},
    "ALSFactorizer": {"n_components": 8, "max_iter": 5, "tol": 0, "random_state": 0},
    "RandomRecommender": {"random_state": 0},
    "FeatureFactorizer": {"n_components": 8, "max_iter": 20, "random_state": 0},
}


def _meta_params():
    """Constructor arguments of the meta-estimators (they need member estimators)."""
    from ..baselines import PopularityRecommender
    from ..content import TagRecommender
    from ..neighbors import ItemKNNRecommender

    return {
        "HybridRecommender": {
            "estimators": [("tags", TagRecommender()), ("pop", PopularityRecommender())],
            "weights": [2.0, 1.0],
        },
        "MMRReranker": {"estimator": TagRecommender(), "n_candidates": 15},
        "XQuADReranker": {"estimator": ItemKNNRecommender(), "n_candidates": 15},
        "CalibratedReranker": {"estimator": ItemKNNRecommender(), "n_candidates": 15},
    }


EXPECTED_FAILED_CHECKS = {}


def construct_instances(cls):
    """Instances of ``cls`` for the common tests (defaults + ``TEST_PARAMS``)."""
    params = TEST_PARAMS.get(cls.__name__)
    if params is None:
        params = _meta_params().get(cls.__name__, {})
    return [cls(**params)]


def expected_failed_checks(estimator):
    """The ``expected_failed_checks`` callable for ``parametrize_with_checks``."""
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})
