import logging
import warnings

import numpy as np
import pytest

from sklearn_musicrec.decomposition import SGDFactorizer
from sklearn_musicrec.metrics import auc_score, rmse
from sklearn_musicrec.model_selection import holdout_split


def test_squared_loss_rmse_on_planted_ratings(ratings):
    X_train, X_test = ratings
    model = SGDFactorizer(
        loss="squared",
        n_components=3,
        learning_rate=0.02,
        regularization=0.05,
        max_iter=40,
        random_state=0,
    ).fit(X_train)
    err = rmse(X_test, model.decision_function(X_train))
    mean_only = rmse(X_test, np.full(X_test.shape, X_train.data.mean()))
    assert err < 0.5 * mean_only
    assert err < 0.35
    # training RMSE goes down over the epochs
    assert model.loss_curve_[-1] < 0.7 * model.loss_curve_[0]
    # user factors are the exact fold-in of the training rows
    np.testing.assert_array_equal(model.transform(X_train), model.user_factors_)


def _heldout_auc(model, X_train, X_test):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return auc_score(X_test, model.decision_function(X_train), exclude=X_train)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bpr_improves_auc(plays):
    X_train, X_test = holdout_split(plays, 0.2, random_state=0)
    params = dict(loss="bpr", n_components=16, learning_rate=0.05, random_state=0)
    barely = SGDFactorizer(max_iter=1, **params).fit(X_train)
    trained = SGDFactorizer(max_iter=30, **params).fit(X_train)
    assert _heldout_auc(trained, X_train, X_test) > _heldout_auc(barely, X_train, X_test) + 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pop = np.tile(trained.item_counts_.astype(float), (plays.shape[0], 1))
        auc_pop = auc_score(X_test, pop, exclude=X_train)
    assert _heldout_auc(trained, X_train, X_test) > auc_pop + 0.03
    # the sampled training AUC rises
    assert trained.loss_curve_[-1] > trained.loss_curve_[0] + 0.1


def test_bpr_fold_in_is_row_independent_and_deterministic(plays):
    model = SGDFactorizer(loss="bpr", n_components=8, max_iter=5, random_state=0).fit(plays)
    full = model.transform(plays)
    np.testing.assert_array_equal(model.transform(plays[[7, 3]]), full[[7, 3]])
    np.testing.assert_array_equal(model.transform(plays[3]), full[[3]])
    again = SGDFactorizer(loss="bpr", n_components=8, max_iter=5, random_state=0).fit(plays)
    np.testing.assert_array_equal(again.item_factors_, model.item_factors_)
    np.testing.assert_array_equal(again.transform(plays), full)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_bpr_fold_in_ranks_like_training(plays):
    X_train, X_test = holdout_split(plays, 0.2, random_state=0)
    model = SGDFactorizer(
        loss="bpr", n_components=16, learning_rate=0.05, max_iter=30, random_state=0
    ).fit(X_train)
    trained_scores = model.user_factors_ @ model.item_factors_.T + model.item_bias_
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        auc_trained = auc_score(X_test, trained_scores, exclude=X_train)
    assert _heldout_auc(model, X_train, X_test) > auc_trained - 0.03


def test_divergence_is_a_clear_error(plays):
    with pytest.raises(ValueError, match="SGD diverged"):
        SGDFactorizer(loss="squared", learning_rate=1.0, max_iter=3, random_state=0).fit(plays)


def test_verbose_prints_and_logs_epochs(plays, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="sklearn_musicrec.decomposition._sgd"):
        SGDFactorizer(loss="bpr", n_components=4, max_iter=3, verbose=1, random_state=0).fit(plays)
    assert sum("epoch" in r.message for r in caplog.records) == 3
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and lines[0].startswith("SGDFactorizer epoch 1: sampled AUC ")
    SGDFactorizer(loss="bpr", n_components=4, max_iter=3, random_state=0).fit(plays)
    assert capsys.readouterr().out == ""


def test_n_negatives(plays):
    one = SGDFactorizer(loss="bpr", n_components=4, max_iter=2, random_state=0).fit(plays)
    three = SGDFactorizer(
        loss="bpr", n_components=4, max_iter=2, n_negatives=3, random_state=0
    ).fit(plays)
    assert not np.array_equal(one.item_factors_, three.item_factors_)


def test_similar_items_and_transform_shapes(ratings):
    X_train, _ = ratings
    model = SGDFactorizer(n_components=5, max_iter=3, random_state=0).fit(X_train)
    assert model.transform(X_train[:4]).shape == (4, 5)
    ids, scores = model.similar_items([1, 2], k=4)
    assert ids.shape == (2, 4) and 1 not in ids[0] and 2 not in ids[1]


def test_regularization_exponent(ratings):
    X_train, X_test = ratings
    common = dict(loss="squared", n_components=3, learning_rate=0.02, max_iter=30, random_state=0)
    constant = SGDFactorizer(regularization=0.05, **common).fit(X_train)
    same = SGDFactorizer(regularization=0.05, regularization_exponent=1.0, **common).fit(X_train)
    np.testing.assert_array_equal(constant.item_factors_, same.item_factors_)
    # exponent 0.5: per-update penalty reg / sqrt(n), same weighting in fold-in
    model = SGDFactorizer(regularization=0.4, regularization_exponent=0.5, **common).fit(X_train)
    assert not np.array_equal(model.item_factors_, constant.item_factors_)
    np.testing.assert_array_equal(model.transform(X_train), model.user_factors_)
    assert rmse(X_test, model.decision_function(X_train)) < 0.35
    n = np.array([1, 4, 100])
    np.testing.assert_allclose(model._per_update_penalty(n, 0.4), 0.4 / np.sqrt(n), rtol=1e-6)


def test_bias_regularization(ratings):
    X_train, X_test = ratings
    common = dict(loss="squared", n_components=3, learning_rate=0.02, max_iter=30, random_state=0)
    default = SGDFactorizer(regularization=0.05, **common).fit(X_train)
    same = SGDFactorizer(regularization=0.05, bias_regularization=0.05, **common).fit(X_train)
    np.testing.assert_array_equal(default.item_factors_, same.item_factors_)
    np.testing.assert_array_equal(default.item_bias_, same.item_bias_)
    # a heavy bias penalty shrinks the biases, a zero one lets them grow
    heavy = SGDFactorizer(regularization=0.05, bias_regularization=5.0, **common).fit(X_train)
    free = SGDFactorizer(regularization=0.05, bias_regularization=0.0, **common).fit(X_train)
    spread = [np.abs(m.item_bias_).mean() for m in (heavy, default, free)]
    assert spread[0] < spread[1] < spread[2]
    user_spread = [np.abs(m.user_bias_).mean() for m in (heavy, default, free)]
    assert user_spread[0] < user_spread[1] < user_spread[2]
    # fold-in uses the same bias penalty, so it still reproduces user_bias_
    U, bias = heavy._fold_in(X_train)
    np.testing.assert_allclose(bias - heavy.global_mean_, heavy.user_bias_, atol=1e-6)
    assert rmse(X_test, free.decision_function(X_train)) < 0.5


@pytest.mark.parametrize("loss", ["squared", "bpr"])
def test_init_std_sets_the_scale_of_the_initial_factors(ratings, plays, loss):
    X = ratings[0] if loss == "squared" else plays
    common = dict(loss=loss, n_components=16, max_iter=1, random_state=0)
    # a learning rate too small to move the factors: they stay at their draw
    for init_std in (0.01, 0.3):
        model = SGDFactorizer(init_std=init_std, learning_rate=1e-7, **common).fit(X)
        assert np.std(model.item_factors_) == pytest.approx(init_std, rel=0.05)
    # and init_std changes the trained model, not only its start
    small = SGDFactorizer(init_std=0.01, **common).fit(X)
    large = SGDFactorizer(init_std=0.3, **common).fit(X)
    assert not np.allclose(small.item_factors_, large.item_factors_, atol=1e-3)


@pytest.mark.parametrize("loss", ["squared", "bpr"])
def test_zero_init_std_leaves_only_the_biases(ratings, plays, loss):
    # at zero factors every factor gradient is zero: the factors never move
    # and the model is the biases alone (why the default init_std is positive)
    X = ratings[0] if loss == "squared" else plays
    model = SGDFactorizer(loss=loss, init_std=0.0, n_components=4, max_iter=3, random_state=0)
    model.fit(X)
    assert not model.item_factors_.any()
    assert model.item_bias_.any()
    D = model.decision_function(X[:5])
    expected = np.broadcast_to(model.item_bias_ - model.item_bias_[0], D.shape)
    np.testing.assert_allclose(D - D[:, :1], expected, atol=1e-5)
