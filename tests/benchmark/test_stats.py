"""Paired statistics of the benchmark report."""

import numpy as np
import pytest
from scipy import stats

from sklearn_musicrec.benchmark._stats import compare_to_best, holm, mean_sem, paired_comparison


def test_holm_step_down():
    # sorted p: 0.01 * 3, max(0.03 * 2, .), max(0.04 * 1, .); capped at 1; NaN kept
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    np.testing.assert_allclose(holm([0.5, 0.6, np.nan]), [1.0, 1.0, np.nan])
    assert holm([]) == []


def test_paired_comparison_matches_scipy():
    rng = np.random.default_rng(0)
    b = rng.random(200)
    a = b + 0.05 + 0.1 * rng.standard_normal(200)
    a[3] = np.nan  # undefined for one user: that pair is dropped
    res = paired_comparison(a, b)
    ok = ~np.isnan(a)
    t, p = stats.ttest_rel(a[ok], b[ok])
    assert res["n_users"] == 199
    assert res["t"] == pytest.approx(t) and res["p_value"] == pytest.approx(p)
    d = a[ok] - b[ok]
    assert res["mean_diff"] == pytest.approx(d.mean())
    assert res["cohens_dz"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert res["cohens_dz"] == pytest.approx(t / np.sqrt(199))
    half = stats.t.ppf(0.975, 198) * d.std(ddof=1) / np.sqrt(199)
    assert res["ci_low"] == pytest.approx(d.mean() - half)
    assert res["ci_high"] == pytest.approx(d.mean() + half)


def test_identical_models_are_not_different():
    v = np.linspace(0, 1, 50)
    res = paired_comparison(v, v.copy())
    assert res["mean_diff"] == 0 and res["p_value"] == 1.0 and res["cohens_dz"] == 0.0


def test_compare_to_best_picks_the_highest_mean_and_corrects():
    rng = np.random.default_rng(1)
    base = rng.random(300)
    per_user = {
        "weak": base - 0.2 + 0.05 * rng.standard_normal(300),
        "best": base,
        "close": base - 0.001 + 0.2 * rng.standard_normal(300),
    }
    best, rows = compare_to_best(per_user)
    assert best == "best" and [r["model"] for r in rows] == ["weak", "close"]
    weak, close = rows
    assert weak["significant"] and not close["significant"]
    assert weak["p_holm"] == pytest.approx(min(1.0, 2 * weak["p_value"]))
    assert mean_sem([1.0, np.nan, 3.0]) == pytest.approx((2.0, 1.0))
