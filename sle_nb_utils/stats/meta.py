"""Random-effects meta-analysis: REML between-study variance, Hartung-Knapp interval, I^2.

Pure estimators on arrays (effect sizes and their within-study variances); nothing here knows which
series are published (that is :mod:`sle_nb_utils.comparison`).  Matches R ``metafor``
(``rma(yi, vi, method = "REML", test = "knha")``) to 1e-6 in tau^2, the pooled estimate and its
interval (``tests/test_meta.py``, values written by ``tests/reference/meta_reference.R``).

- :func:`logit_proportions`: logit-transformed proportions and their variances, metafor
  ``escalc(measure = "PLO")`` (``1/x + 1/(n - x)``; 0.5 added to both cells of a study with 0 or
  n events).
- :func:`random_effects`: the pooled estimate.
- :func:`pool_proportions`: both, back-transformed to the proportion scale, refusing fewer than
  ``min_studies`` series.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from ._validate import as_conf_level

__all__ = ["logit_proportions", "random_effects", "pool_proportions", "MIN_STUDIES"]

#: Fewest series for a random-effects pooled estimate: with two, tau^2 has one degree of freedom
#: and the Hartung-Knapp interval uses t with 1 df (uninformative).
MIN_STUDIES = 3


def _arr(x, name):
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise BadInputError("is empty", column=name)
    if not np.all(np.isfinite(a)):
        raise BadInputError(f"{int((~np.isfinite(a)).sum())} missing or infinite value(s)", column=name)
    return a


def logit_proportions(events, total, add: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Logit of x/n and its large-sample variance, as metafor ``escalc(measure = "PLO")``.

    ``yi = log(x / (n - x))``, ``vi = 1/x + 1/(n - x)``; when x = 0 or x = n, ``add`` is added to
    x and to n - x of that study only (metafor's ``to = "only0"``).

    Returns
    -------
    (yi, vi) : numpy arrays
    """
    x = _arr(events, "events")
    n = _arr(total, "total")
    if x.size != n.size:
        raise BadInputError(f"events has {x.size} values, total {n.size}")
    bad = (x < 0) | (n <= 0) | (x > n) | (x != np.round(x)) | (n != np.round(n))
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} study(ies) with events not an integer in [0, total]", column="events")
    edge = (x == 0) | (x == n)
    a = np.where(edge, x + add, x)
    b = np.where(edge, n - x + add, n - x)
    return np.log(a / b), 1.0 / a + 1.0 / b


def _reml(y, v, tol=1e-12, max_iter=1000):
    """REML tau^2 by Fisher scoring (Viechtbauer, J Educ Behav Stat 2005;30:261-93), truncated at 0."""
    # start: the Hedges-type moment estimate (any start in [0, inf) converges to the same optimum)
    tau2 = max(0.0, float(np.var(y, ddof=1) - np.mean(v)))
    for it in range(1, max_iter + 1):
        w = 1.0 / (v + tau2)
        P = np.diag(w) - np.outer(w, w) / w.sum()
        Py = P @ y
        score = float(Py @ Py - np.trace(P))
        info = float(np.sum(P * P.T))
        new = max(0.0, tau2 + score / info)
        if abs(new - tau2) < tol:
            return new, it, True
        tau2 = new
    return tau2, max_iter, False


def random_effects(yi, vi, conf_level: float = 0.95, test: str = "knha") -> dict:
    """Random-effects pooled estimate with REML tau^2.

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes (e.g. logit proportions) and within-study variances (> 0).
    conf_level : float
    test : {"knha", "z"}
        ``"knha"``: Hartung-Knapp(-Sidik-Jonkman) variance ``sum w (y - mu)^2 / ((k - 1) sum w)`` with
        a t(k - 1) interval (Hartung & Knapp, Stat Med 2001;20:3875-89; IntHout et al., BMC Med Res
        Methodol 2014;14:25), metafor ``test = "knha"`` (no truncation of the scaling factor).
        ``"z"``: the Wald interval ``1 / sum w``.

    Returns
    -------
    dict
        ``k``, ``estimate``, ``se``, ``lower``, ``upper``, ``pi_lower``, ``pi_upper`` (95%
        prediction interval, metafor ``predict``: t(k-1) with ``sqrt(tau2 + se^2)`` under knha),
        ``tau2``, ``tau``, ``i2`` (percent, Higgins & Thompson 2002 with metafor's typical
        within-study variance), ``h2``, ``q`` (Cochran's Q), ``q_p``, ``df``, ``converged``,
        ``n_iter``, ``test``.
    """
    y = _arr(yi, "yi")
    v = _arr(vi, "vi")
    if y.size != v.size:
        raise BadInputError(f"yi has {y.size} values, vi {v.size}")
    if (v <= 0).any():
        raise BadInputError(f"{int((v <= 0).sum())} variance(s) <= 0", column="vi")
    k = y.size
    if k < 2:
        raise BadInputError(f"{k} study: a random-effects model needs at least 2")
    if test not in ("knha", "z"):
        raise BadInputError(f"test must be 'knha' or 'z', not {test!r}")
    z = as_conf_level(conf_level)
    tau2, n_iter, converged = _reml(y, v)
    w = 1.0 / (v + tau2)
    mu = float(np.sum(w * y) / w.sum())
    if test == "knha":
        se = float(np.sqrt(np.sum(w * (y - mu) ** 2) / ((k - 1) * w.sum())))
        crit = float(stats.t.ppf(1 - (1 - conf_level) / 2, k - 1))
    else:
        se = float(np.sqrt(1.0 / w.sum()))
        crit = z
    wf = 1.0 / v
    mu_f = np.sum(wf * y) / wf.sum()
    q = float(np.sum(wf * (y - mu_f) ** 2))
    s2 = (k - 1) * wf.sum() / (wf.sum() ** 2 - np.sum(wf**2))
    pi_half = crit * np.sqrt(tau2 + se**2)
    return {
        "k": k, "estimate": mu, "se": se, "lower": mu - crit * se, "upper": mu + crit * se,
        "pi_lower": mu - pi_half, "pi_upper": mu + pi_half,
        "tau2": tau2, "tau": float(np.sqrt(tau2)), "i2": 100 * tau2 / (tau2 + s2), "h2": (tau2 + s2) / s2,
        "q": q, "q_p": float(stats.chi2.sf(q, k - 1)), "df": k - 1, "converged": converged,
        "n_iter": n_iter, "test": test,
    }


def pool_proportions(events, total, conf_level: float = 0.95, min_studies: int = MIN_STUDIES,
                     test: str = "knha") -> pd.DataFrame:
    """Random-effects pooled proportion on the logit scale (REML, Hartung-Knapp), back-transformed.

    Returns
    -------
    pandas.DataFrame
        One row: ``k``, ``estimate``, ``lower``, ``upper``, ``pi_lower``, ``pi_upper`` (proportions,
        ``expit`` of the logit-scale values), ``logit_estimate``, ``logit_se``, ``tau2`` (logit
        scale), ``i2`` (percent), ``q``, ``q_p``, ``converged``.

    Raises
    ------
    BadInputError
        Fewer than ``min_studies`` series (the caller should show the forest without a pooled
        estimate, and say why).
    """
    yi, vi = logit_proportions(events, total)
    if yi.size < min_studies:
        raise BadInputError(f"{yi.size} series: pooling needs at least {min_studies}")
    r = random_effects(yi, vi, conf_level=conf_level, test=test)

    def expit(x):
        return 1.0 / (1.0 + np.exp(-x))

    return pd.DataFrame([{
        "k": r["k"], "estimate": expit(r["estimate"]), "lower": expit(r["lower"]), "upper": expit(r["upper"]),
        "pi_lower": expit(r["pi_lower"]), "pi_upper": expit(r["pi_upper"]),
        "logit_estimate": r["estimate"], "logit_se": r["se"], "tau2": r["tau2"], "i2": r["i2"], "q": r["q"],
        "q_p": r["q_p"], "converged": r["converged"]}])
