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
    "DeepCFRecommender": {
        "n_components": 8,
        "hidden_layer_sizes": (8,),
        "max_epochs": 3,
        "batch_size": 256,
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

EXPECTED_FAILED_CHECKS = {}


def construct_instances(cls):
    """Instances of ``cls`` for the common tests (defaults + ``TEST_PARAMS``)."""
    return [cls(**TEST_PARAMS.get(cls.__name__, {}))]


def expected_failed_checks(estimator):
    """The ``expected_failed_checks`` callable for ``parametrize_with_checks``."""
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})
