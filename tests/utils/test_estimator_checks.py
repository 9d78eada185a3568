"""The behavioural harness catches broken recommenders.

Each broken recommender below differs from a correct one (its parent) by one
defect. The check named for that defect must fail on it and pass on the
parent, so each check is shown to discriminate rather than pass vacuously.
"""

import numpy as np
import pytest
from sklearn.utils import check_random_state

from sklearn_musicrec import ALSFactorizer, PopularityRecommender, RandomRecommender
from sklearn_musicrec.utils._topk import topk_per_row
from sklearn_musicrec.utils.estimator_checks import check_recommender, recommender_checks


def run_check(estimator, check_name):
    """Run the harness check named ``check_name`` on ``estimator``."""
    for check in recommender_checks(estimator):
        if check.func.__name__ == check_name:
            return check()
    raise LookupError(f"no harness check named {check_name}")


class SeedIgnoringRecommender(RandomRecommender):
    """Draws its seed from a fixed state whatever ``random_state`` says."""

    def fit(self, X, y=None):
        self._validate_fit_data(X)
        rng = check_random_state(12345)
        self.seed_ = int(rng.randint(0, 2**31))
        return self


class GlobalRandomRecommender(PopularityRecommender):
    """Has no ``random_state`` but adds noise from numpy's global generator."""

    def fit(self, X, y=None):
        super().fit(X)
        noise = np.random.random_sample(self.item_popularity_.shape)  # noqa: NPY002 (the defect)
        self.item_popularity_ = self.item_popularity_ + noise
        return self


class InputMutatingRecommender(PopularityRecommender):
    """Binarises the validated matrix in place: the caller's own arrays."""

    def _decision_function(self, X):
        X.data[:] = 1.0
        X.sort_indices()
        return super()._decision_function(X)


class SeenLeakingRecommender(PopularityRecommender):
    """A fast top-k path that forgets ``exclude_seen``."""

    def _recommend_unrestricted(self, X, k, exclude_seen):
        return topk_per_row(self._decision_function(X), k)


class SeenMaskingRecommender(PopularityRecommender):
    """Masks the seen items inside ``decision_function``."""

    def _decision_function(self, X):
        S = super()._decision_function(X)
        S[X.toarray() != 0] = -np.inf
        return S


class NothingScoredRecommender(PopularityRecommender):
    """Scores every item ``-inf``: recommends nothing, leaks nothing."""

    def _decision_function(self, X):
        return np.full(X.shape, -np.inf)


class OffByOneRecommender(PopularityRecommender):
    """A fast path whose lists start at the second-best item."""

    def _recommend_unrestricted(self, X, k, exclude_seen):
        S = self._decision_function(X)
        if exclude_seen:
            S[X.toarray() != 0] = -np.inf
        ids, scores = topk_per_row(S, k + 1)
        return ids[:, 1:], scores[:, 1:]


class BatchDependentRecommender(PopularityRecommender):
    """Adds the popularity within the batch being scored."""

    def _decision_function(self, X):
        batch = np.asarray((X != 0).sum(axis=0), dtype=np.float64).ravel()
        return super()._decision_function(X) + batch


class WrongScoreRecommender(PopularityRecommender):
    """``score`` returns hit rate, a number in [0, 1] but not NDCG@10."""

    def score(self, X, y):
        from sklearn_musicrec.metrics import hit_rate_at_k

        return float(hit_rate_at_k(y, self.recommend(X, k=10)[0]))


class ConstantQualityRecommender(RandomRecommender):
    """Ignores the data: the same random ranking for everyone."""

    def _decision_function(self, X):
        rng = np.random.RandomState(0)
        return np.tile(rng.random_sample(X.shape[1]), (X.shape[0], 1))


class ScramblingQuantizer(ALSFactorizer):
    """``quantize`` loses which factors belong to which item."""

    def quantize(self, dtype="int8"):
        super().quantize(dtype)
        self.item_factors_.codes = self.item_factors_.codes[::-1].copy()
        if self.item_factors_.scales is not None:
            self.item_factors_.scales = self.item_factors_.scales[::-1].copy()
        return self


BROKEN = [
    (
        SeedIgnoringRecommender(random_state=0),
        RandomRecommender(random_state=0),
        "check_random_state",
        "seed is ignored",
    ),
    (GlobalRandomRecommender(), PopularityRecommender(), "check_random_state", "no random_state"),
    (InputMutatingRecommender(), PopularityRecommender(), "check_input_not_modified", "modified"),
    (
        SeenLeakingRecommender(),
        PopularityRecommender(),
        "check_recommend_exclude_seen",
        "seen items",
    ),
    (
        SeenMaskingRecommender(),
        PopularityRecommender(),
        "check_recommend_exclude_seen",
        "masked inside",
    ),
    (
        NothingScoredRecommender(),
        PopularityRecommender(),
        "check_recommend_exclude_seen",
        "above -inf",
    ),
    (
        OffByOneRecommender(),
        PopularityRecommender(),
        "check_recommend_matches_decision_function",
        "top 7",
    ),
    (
        BatchDependentRecommender(),
        PopularityRecommender(),
        "check_batch_equals_single",
        "rows are in the batch",
    ),
    (WrongScoreRecommender(), PopularityRecommender(), "check_score", "not NDCG@10"),
    (
        ConstantQualityRecommender(random_state=0),
        PopularityRecommender(),
        "check_quality_floor",
        "not 3x",
    ),
    (
        ScramblingQuantizer(n_components=8, max_iter=5, random_state=0),
        ALSFactorizer(n_components=8, max_iter=5, random_state=0),
        "check_quantized",
        "overlap",
    ),
]


@pytest.mark.parametrize(
    "broken, parent, check_name, message",
    BROKEN,
    ids=[f"{type(b).__name__}-{c}" for b, _, c, _ in BROKEN],
)
def test_harness_catches_the_broken_recommender(broken, parent, check_name, message):
    run_check(parent, check_name)  # the correct model passes
    with pytest.raises(AssertionError, match=message):
        run_check(broken, check_name)


def test_check_recommender_stops_at_the_first_failure():
    with pytest.raises(AssertionError, match="seen items"):
        check_recommender(SeenLeakingRecommender())


def test_expected_failures_must_fail_and_exist():
    with pytest.raises(AssertionError, match="passed for PopularityRecommender"):
        check_recommender(
            PopularityRecommender(), expected_failed_checks={"check_score": "not really"}
        )
    with pytest.raises(ValueError, match="unknown checks"):
        check_recommender(PopularityRecommender(), expected_failed_checks={"check_nope": "?"})


def test_every_check_is_named_and_documented():
    names = [check.func.__name__ for check in recommender_checks(PopularityRecommender())]
    assert len(names) == len(set(names))
    for check in recommender_checks(PopularityRecommender()):
        assert check.func.__name__.startswith("check_") and check.func.__doc__
