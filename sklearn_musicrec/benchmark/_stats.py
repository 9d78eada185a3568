"""Paired comparisons over users: t-tests, Holm's correction, effect sizes.

Every model of a run is evaluated on the same users of the same folds, so
its per-user values pair with the best model's: the test is
:func:`scipy.stats.ttest_rel` on the pairs where both values are defined,
the p-values of the comparisons with the best model are adjusted for
multiplicity by Holm's step-down method, and the effect size is the mean
paired difference with its 95% confidence interval and Cohen's ``d_z``
(mean difference over the standard deviation of the differences).
"""

import numpy as np
from scipy import stats

__all__ = ["holm", "paired_comparison", "compare_to_best", "mean_sem"]


def mean_sem(values):
    """Mean and standard error of the defined (non-NaN) values (NaN sem for < 2)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    sem = float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan")
    return float(v.mean()), sem


def holm(p_values):
    """Holm-Bonferroni adjusted p-values (same order as given; NaN kept).

    Examples
    --------
    >>> from sklearn_musicrec.benchmark._stats import holm
    >>> [round(p, 3) for p in holm([0.01, 0.04, 0.03])]
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m == 0:
        return out.tolist()
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out.tolist()


def paired_comparison(a, b):
    """Compare paired per-user values ``a`` (a model) with ``b`` (the reference).

    Returns a dict: ``n_users`` (defined pairs), ``mean_diff`` (a - b), its
    95% ``ci_low``/``ci_high``, ``t``, two-sided ``p_value`` and
    ``cohens_dz``; NaN where fewer than 2 pairs or no variance.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    both = ~(np.isnan(a) | np.isnan(b))
    d = a[both] - b[both]
    n = int(d.size)
    res = {"n_users": n, "mean_diff": float(d.mean()) if n else float("nan")}
    nan = float("nan")
    if n < 2 or not np.any(d != d[0]):
        res.update(
            ci_low=res["mean_diff"], ci_high=res["mean_diff"], t=nan, p_value=nan, cohens_dz=nan
        )
        if n >= 2 and not d.any():  # identical lists: no difference at all
            res["p_value"] = 1.0
            res["cohens_dz"] = 0.0
        return res
    sd = float(d.std(ddof=1))
    sem = sd / np.sqrt(n)
    half = float(stats.t.ppf(0.975, n - 1) * sem)
    t, p = stats.ttest_rel(a[both], b[both])
    res.update(
        ci_low=res["mean_diff"] - half,
        ci_high=res["mean_diff"] + half,
        t=float(t),
        p_value=float(p),
        cohens_dz=res["mean_diff"] / sd,
    )
    return res


def compare_to_best(per_user, *, alpha=0.05):
    """Paired tests of every model against the best one (highest mean).

    Parameters
    ----------
    per_user : dict of str -> ndarray
        Per-user values of one metric, aligned across models (NaN undefined).
    alpha : float, default=0.05

    Returns
    -------
    best : str
    comparisons : list of dict
        One per other model (best first in ``per_user`` order otherwise),
        with :func:`paired_comparison`'s keys, ``p_holm`` and
        ``significant`` (``p_holm < alpha``).
    """
    means = {name: mean_sem(v)[0] for name, v in per_user.items()}
    best = max(means, key=lambda n: -np.inf if np.isnan(means[n]) else means[n])
    rows = []
    for name, values in per_user.items():
        if name == best:
            continue
        row = {"model": name, **paired_comparison(values, per_user[best])}
        rows.append(row)
    for row, adj in zip(rows, holm([r["p_value"] for r in rows])):
        row["p_holm"] = adj
        row["significant"] = bool(adj < alpha) if not np.isnan(adj) else False
    return best, rows
