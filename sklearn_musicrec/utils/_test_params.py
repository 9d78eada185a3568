"""Settings used by the common tests, one entry per estimator class name.

``TEST_PARAMS`` holds constructor arguments that keep the common tests fast
(e.g. a few iterations); the estimator is otherwise tested at its defaults.
``EXPECTED_FAILED_CHECKS`` maps an estimator name to ``{check_name: reason}``
for scikit-learn checks that are known to fail; every entry needs a reason,
and the table should stay (nearly) empty. ``EXPECTED_FAILED_HARNESS_CHECKS``
does the same for the project's behavioural harness.
"""

TEST_PARAMS = {
    "SGDFactorizer": {"loss": "bpr", "n_components": 8, "max_iter": 10, "random_state": 0},
    "ALSFactorizer": {"n_components": 8, "max_iter": 5, "tol": 0, "random_state": 0},
    "RandomRecommender": {"random_state": 0},
    "FeatureFactorizer": {"n_components": 8, "max_iter": 20, "random_state": 0},
    # 16 components, per-user batches of 16 and few negatives (the test
    # catalogues are small): enough steps for the tag embeddings to rank cold
    # items (check_cold_items)
    "DeepCFRecommender": {
        "n_components": 16,
        "hidden_layer_sizes": (16,),
        "max_epochs": 3,
        "batch_size": 16,
        "n_negatives": 4,
        "negative_sharing": "example",
        "negative_weight": 1.0,
        "target_fraction": 0.2,
        # 3 epochs: the MLP at the full learning rate (the default, a tenth,
        # is lastfm's for 50 epochs)
        "mlp_lr": None,
        "dropout": 0.1,
        "lr": 0.01,
        "random_state": 0,
    },
    "MultVAERecommender": {
        "n_components": 8,
        "hidden_layer_sizes": (16,),
        "max_epochs": 5,
        "batch_size": 64,
        "lr": 0.01,
        "random_state": 0,
    },
}


def _meta_params():
    """Constructor arguments of the meta-estimators (they need member estimators)."""
    from ..baselines import PopularityRecommender
    from ..content import TagRecommender
    from ..decomposition import ALSFactorizer
    from ..neighbors import ItemKNNRecommender

    return {
        "HybridRecommender": {
            "estimators": [("tags", TagRecommender()), ("pop", PopularityRecommender())],
            "weights": [2.0, 1.0],
        },
        "MMRReranker": {"estimator": TagRecommender(), "n_candidates": 15},
        "XQuADReranker": {"estimator": ItemKNNRecommender(), "n_candidates": 15},
        "PopularityPenaltyReranker": {"estimator": ItemKNNRecommender(), "n_candidates": 15},
        "CalibratedReranker": {"estimator": ItemKNNRecommender(), "n_candidates": 15},
        "ApproximateRecommender": {"estimator": ALSFactorizer(**TEST_PARAMS["ALSFactorizer"])},
    }


EXPECTED_FAILED_CHECKS = {}

# Checks of the behavioural harness (sklearn_musicrec.utils.estimator_checks)
# that must FAIL for an estimator, each with the reason; tests/test_common.py
# marks them strict xfail, so an entry whose check starts passing fails.
EXPECTED_FAILED_HARNESS_CHECKS = {
    "RandomRecommender": {
        "check_quality_floor": "random rankings are the floor's reference: "
        "they cannot be 3x better than themselves",
    },
    "ApproximateRecommender": {
        "check_random_state": "random_state seeds only the IVF index's training "
        "(tests/decomposition/test_approximate.py checks that it does); "
        "decision_function is the wrapped model's exact score by design, and the "
        "wrapped model has its own random_state",
    },
}


def construct_instances(cls):
    """Instances of ``cls`` for the common tests (defaults + ``TEST_PARAMS``)."""
    params = TEST_PARAMS.get(cls.__name__)
    if params is None:
        params = _meta_params().get(cls.__name__, {})
    return [cls(**params)]


def expected_failed_harness_checks(estimator):
    """``{check_name: reason}`` of the harness checks expected to fail for ``estimator``."""
    return EXPECTED_FAILED_HARNESS_CHECKS.get(type(estimator).__name__, {})


def expected_failed_checks(estimator):
    """The ``expected_failed_checks`` callable for ``parametrize_with_checks``."""
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})
