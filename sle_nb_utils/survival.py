"""Survival analysis: Kaplan-Meier, competing risks, log-rank, Cox, Fine-Gray, RMST.

Every function takes plain arrays (or DataFrame columns) and returns a tidy ``pandas.DataFrame``
with sorted rows; nothing here prints or plots (figures live in :mod:`sle_nb_utils.survplot`).

Conventions
-----------
- ``time`` is follow-up in **months** from day 0 (transplant, or enrolment for intention-to-treat
  analyses); it must be finite and >= 0.
- ``event`` is 1 for the event and 0 for right censoring (Kaplan-Meier, log-rank, Cox).
- ``status`` codes competing risks: 0 = censored, and one integer code per cause; ``cause`` names
  the cause of interest (default 1); every other non-zero code is a competing event.
- Late entry (left truncation, delayed entry) is **not** supported: every subject is at risk from
  time 0.  Callers must start the clock at a common origin.
- At a tied time, events are counted before censorings (a subject censored at t is at risk at t),
  as in R ``survival`` and ``cmprsk``.

Every estimator is checked against R (``survival`` 3.5-3 and ``cmprsk`` 2.2-11) in
``tests/test_survival.py``; the R scripts and the values they wrote are kept in
``tests/reference/``.

The core estimators use numpy only (no lifelines import), because the calibration of the bundled
synthetic data calls them thousands of times on 28-87 patients.  The Kaplan-Meier estimate equals
lifelines' ``KaplanMeierFitter`` (checked in the tests); lifelines is used for the Cox model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "kaplan_meier",
    "km_milestones",
    "km_surv_se_at",
    "aalen_johansen",
    "cif_milestones",
    "cif_var_at",
    "logrank_test",
    "median_survival",
    "median_followup",
    "gray_test",
    "fine_gray",
    "cox_fit",
    "cox_summary",
    "cox_zph",
    "rmst",
    "risk_table",
    "survival_data",
    "rounds_to",
    "endpoint_frame",
    "format_pm",
    "milestone_table",
    "at_risk_table",
    "logrank_summary",
    "median_table",
    "rmst_table",
    "competing_risks_table",
    "gray_summary",
    "cox_model",
    "CoxResult",
    "fine_gray_model",
    "published_comparison",
    "trm_counts",
    "FineGrayFit",
    "COX_FIT_OPTIONS",
]

DEFAULT_MILESTONES = (12, 24, 36, 48, 60)

# ---------------------------------------------------------------------------------------------
# input handling
# ---------------------------------------------------------------------------------------------


def _as_time(time) -> np.ndarray:
    t = np.asarray(time, dtype=float).ravel()
    if t.size == 0:
        raise ValueError("time is empty")
    if not np.all(np.isfinite(t)):
        raise ValueError("time has missing or infinite values")
    if np.any(t < 0):
        raise ValueError("time has negative values")
    return t


def _as_event(event, n: int) -> np.ndarray:
    e = np.asarray(event).ravel()
    if e.size != n:
        raise ValueError(f"event has length {e.size}, time has length {n}")
    e = e.astype(float)
    if not np.all(np.isin(e, (0.0, 1.0))):
        raise ValueError("event must be coded 0 (censored) / 1 (event)")
    return e.astype(np.int64)


def _as_status(status, n: int) -> np.ndarray:
    s = np.asarray(status).ravel()
    if s.size != n:
        raise ValueError(f"status has length {s.size}, time has length {n}")
    s = s.astype(float)
    if not np.all(np.isfinite(s)) or np.any(s != np.round(s)) or np.any(s < 0):
        raise ValueError("status must be non-negative integer codes (0 = censored)")
    return s.astype(np.int64)


def _z(conf_level: float) -> float:
    if not 0 < conf_level < 1:
        raise ValueError("conf_level must be in (0, 1)")
    return float(stats.norm.ppf(1 - (1 - conf_level) / 2))


def _counts(t: np.ndarray, *indicators: np.ndarray):
    """Unique sorted times, number at risk (time >= t) and per-time sums of each indicator."""
    ut, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=ut.size)
    n_risk = t.size - np.concatenate(([0], np.cumsum(total)[:-1]))
    sums = [np.bincount(inv, weights=ind, minlength=ut.size) for ind in indicators]
    return ut, n_risk.astype(float), total.astype(float), sums


# ---------------------------------------------------------------------------------------------
# Kaplan-Meier
# ---------------------------------------------------------------------------------------------


def _km_core(t: np.ndarray, e: np.ndarray):
    ut, n_risk, total, (n_event,) = _counts(t, e)
    n_censor = total - n_event
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - n_event / n_risk)
        # Greenwood: sum d / (n (n - d)); infinite once S reaches 0 (as in R survfit)
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    cumvar = np.cumsum(term)  # variance of log S (= of the cumulative hazard, Greenwood form)
    return ut, n_risk, n_event, n_censor, surv, cumvar


def _km_ci(surv, sigma, z, conf_type):
    """Pointwise CI from S and sigma = SE(log S), as R ``survfit`` (``survfit_confint``)."""
    surv = np.asarray(surv, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if conf_type == "log":
            lower = np.where(surv > 0, surv * np.exp(-z * sigma), np.nan)
            upper = np.where(surv > 0, np.minimum(surv * np.exp(z * sigma), 1.0), np.nan)
        elif conf_type == "log-log":
            special = (surv == 0) | (surv == 1)
            xx = np.where(special, 0.1, surv)
            fill = np.where(surv == 0, np.nan, 1.0)
            lower = np.where(special, fill, np.exp(-np.exp(np.log(-np.log(xx)) - z * sigma / np.log(xx))))
            upper = np.where(special, fill, np.exp(-np.exp(np.log(-np.log(xx)) + z * sigma / np.log(xx))))
        elif conf_type == "plain":
            se = surv * sigma
            lower = np.where(surv > 0, np.clip(surv - z * se, 0, 1), np.nan)
            upper = np.where(surv > 0, np.clip(surv + z * se, 0, 1), np.nan)
        else:
            raise ValueError("conf_type must be 'log-log', 'log' or 'plain'")
        # R drops the interval where the SE is not finite (after S reached 0)
        bad = ~np.isfinite(sigma)
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)


def kaplan_meier(time, event, conf_level: float = 0.95, conf_type: str = "log-log") -> pd.DataFrame:
    """Kaplan-Meier estimate of the survival function with Greenwood standard errors.

    Parameters
    ----------
    time : array-like of float
        Follow-up in months (>= 0).
    event : array-like of {0, 1}
        1 = event, 0 = right-censored.
    conf_level : float
        Level of the pointwise confidence interval (default 0.95).
    conf_type : {"log-log", "log", "plain"}
        Transformation for the pointwise interval.  Default ``"log-log"`` (Kalbfleisch-Prentice;
        the default of lifelines, SAS and Stata): ``exp(-exp(log(-log S) -/+ z sigma / log S))``.
        ``"log"`` is the default of R ``survfit``: ``S exp(-/+ z sigma)``, upper capped at 1.
        ``sigma`` is the Greenwood SE of log S.  Both match R ``survfit(conf.type=...)``.
        Where S = 1 (before the first event) the interval is [1, 1], as in survival >= 3.8
        (3.5-3 gives NA for log-log there); after S reaches 0 it is NaN, as in R.

    Returns
    -------
    pandas.DataFrame
        One row per distinct observed time (events and censorings), sorted:
        ``time`` (months), ``n_risk`` (subjects with time >= t), ``n_event``, ``n_censor``,
        ``surv`` (S(t), right-continuous), ``std_err`` (Greenwood SE of S(t), i.e.
        ``S(t) * sqrt(sum d / (n (n - d)))``, the ``std.err`` column of R ``summary(survfit)``),
        ``lower``, ``upper``.  After S(t) reaches 0, ``std_err`` is ``inf`` in the formula and
        ``lower``/``upper`` are NaN, as in R.

    Notes
    -----
    Kaplan EL, Meier P. JASA 1958;53:457-81.  Greenwood M. Reports on Public Health and Medical
    Subjects 33, 1926.  Matches R ``summary(survfit(Surv(time, event) ~ 1), censored=TRUE)`` to
    1e-12 and lifelines ``KaplanMeierFitter``.
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    z = _z(conf_level)
    ut, n_risk, n_event, n_censor, surv, cumvar = _km_core(t, e)
    sigma = np.sqrt(cumvar)
    lower, upper = _km_ci(surv, sigma, z, conf_type)
    with np.errstate(invalid="ignore"):
        se = surv * sigma
    return pd.DataFrame(
        {
            "time": ut,
            "n_risk": n_risk.astype(np.int64),
            "n_event": n_event.astype(np.int64),
            "n_censor": n_censor.astype(np.int64),
            "surv": surv,
            "std_err": se,
            "lower": lower,
            "upper": upper,
        }
    )


def km_surv_se_at(time, event, t):
    """Fast Kaplan-Meier S(t) and its Greenwood SE at given times (numpy only).

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    t : float or array-like
        Evaluation times in months.

    Returns
    -------
    (surv, se) : tuple of float or numpy arrays (same shape as ``t``)
        Step-function value of S and Greenwood SE of S at ``t``.  NaN for ``t`` beyond the last
        observed time (not estimable).  Same values as :func:`kaplan_meier` / :func:`km_milestones`.
    """
    tt = np.asarray(time, dtype=float)
    ee = np.asarray(event, dtype=float)
    order = np.argsort(tt, kind="stable")
    tt = tt[order]
    ee = ee[order]
    n = tt.size
    ut, first = np.unique(tt, return_index=True)
    n_risk = (n - first).astype(float)
    d = np.add.reduceat(ee, first)
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(1.0 - d / n_risk)
        cumvar = np.cumsum(np.where(d > 0, d / (n_risk * (n_risk - d)), 0.0))
        se = surv * np.sqrt(cumvar)
    q = np.asarray(t, dtype=float)
    idx = np.searchsorted(ut, q, side="right") - 1
    s_out = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
    se_out = np.where(idx >= 0, se[np.maximum(idx, 0)], 0.0)
    beyond = q > ut[-1]
    s_out = np.where(beyond, np.nan, s_out)
    se_out = np.where(beyond, np.nan, se_out)
    if q.ndim == 0:
        return float(s_out), float(se_out)
    return s_out, se_out


def km_milestones(
    time,
    event,
    at: Sequence[float] = DEFAULT_MILESTONES,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
) -> pd.DataFrame:
    """Kaplan-Meier survival at fixed milestones (e.g. 1-5 years = 12-60 months).

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    at : sequence of float
        Milestones in months (default 12, 24, 36, 48, 60).
    conf_level, conf_type :
        As in :func:`kaplan_meier` (default log-log interval).

    Returns
    -------
    pandas.DataFrame
        One row per milestone, sorted: ``time``, ``n_risk`` (subjects with follow-up >= t),
        ``surv``, ``std_err`` (Greenwood SE of S), ``lower``, ``upper``.  The values are those of
        the step function at ``t`` (the last event time <= t).  For a milestone beyond the last
        observed time the estimate is not defined and ``surv``, ``std_err``, ``lower`` and
        ``upper`` are NaN (R ``summary(survfit, times=)`` drops such times).
        Matches R ``summary(survfit(...), times=at)``.
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    z = _z(conf_level)
    q = np.sort(np.asarray(at, dtype=float).ravel())
    ut, n_risk, n_event, n_censor, surv, cumvar = _km_core(t, e)
    idx = np.searchsorted(ut, q, side="right") - 1
    s = np.where(idx >= 0, surv[np.maximum(idx, 0)], 1.0)
    v = np.where(idx >= 0, cumvar[np.maximum(idx, 0)], 0.0)
    beyond = q > ut[-1]
    s = np.where(beyond, np.nan, s)
    sigma = np.where(beyond, np.nan, np.sqrt(v))
    lower, upper = _km_ci(s, sigma, z, conf_type)
    with np.errstate(invalid="ignore"):
        se = s * sigma
    nr = (t[None, :] >= q[:, None]).sum(axis=1)
    return pd.DataFrame(
        {"time": q, "n_risk": nr.astype(np.int64), "surv": s, "std_err": se, "lower": lower, "upper": upper}
    )


# ---------------------------------------------------------------------------------------------
# Aalen-Johansen cumulative incidence (cmprsk::cuminc)
# ---------------------------------------------------------------------------------------------


def _aj_core(t: np.ndarray, s: np.ndarray, cause: int):
    """Cumulative incidence and cmprsk variance at each distinct time (numpy, vectorised).

    Transcribes Gray's Fortran ``cinc`` (cmprsk 2.2-11, src/cincsub.f): the variance is updated
    at every event time but *recorded* only at event times of the cause of interest, so the
    returned variance is a step function that jumps only there, exactly as ``cuminc`` returns it.
    """
    d1_ind = (s == cause).astype(float)
    d2_ind = ((s != 0) & (s != cause)).astype(float)
    ut, rs, total, (nd1, nd2) = _counts(t, d1_ind, d2_ind)
    nd = nd1 + nd2
    n_censor = total - nd
    with np.errstate(divide="ignore", invalid="ignore"):
        fkn = np.cumprod((rs - nd) / rs)  # overall KM S(t)
    fk = np.concatenate(([1.0], fkn[:-1]))  # S(t-)
    jump = fk * nd1 / rs
    cif = np.cumsum(jump)
    with np.errstate(divide="ignore", invalid="ignore"):
        inv_fkn = np.where(fkn > 0, 1.0 / fkn, 0.0)
        # competing events (cinc: skipped when fkn <= 0)
        t5 = np.where(nd2 > 1, 1.0 - (nd2 - 1.0) / (rs - 1.0), 1.0)
        a2 = np.where((nd2 > 0) & (fkn > 0), fk * fk * t5 * nd2 / (rs * rs), 0.0)
        t4 = cif * inv_fkn
        v1 = t4 * t4 * a2
        v2 = inv_fkn * t4 * a2
        v3 = inv_fkn * inv_fkn * a2
        # events of the cause of interest
        t5 = np.where(nd1 > 1, 1.0 - (nd1 - 1.0) / (rs - 1.0), 1.0)
        a1 = np.where(nd1 > 0, fk * fk * t5 * nd1 / (rs * rs), 0.0)
        t4 = 1.0 + inv_fkn * cif
        v1 = v1 + t4 * t4 * a1
        v2 = v2 + inv_fkn * t4 * a1
        v3 = v3 + inv_fkn * inv_fkn * a1
    V1, V2, V3 = np.cumsum(v1), np.cumsum(v2), np.cumsum(v3)
    var_at = V1 + cif * cif * V3 - 2.0 * cif * V2
    rec = nd1 > 0
    # forward-fill the variance from the last event time of the cause of interest
    last = np.maximum.accumulate(np.where(rec, np.arange(ut.size), -1))
    var = np.where(last >= 0, var_at[np.maximum(last, 0)], 0.0)
    return ut, rs, nd1, nd2, n_censor, cif, var


def _cif_ci(cif, var, z):
    """log(-log) interval for a cumulative incidence F: F ** exp(-/+ z se / (F log F))."""
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ok = (cif > 0) & (cif < 1)
        xx = np.where(ok, cif, 0.5)
        k = z * se / (xx * np.log(xx))
        lower = np.where(ok, xx ** np.exp(-k), cif)
        upper = np.where(ok, xx ** np.exp(k), cif)
    lower = np.where(np.isnan(cif), np.nan, lower)
    upper = np.where(np.isnan(cif), np.nan, upper)
    return se, lower, upper


def aalen_johansen(time, status, cause: int = 1, conf_level: float = 0.95) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of one cause, with cmprsk's variance (deterministic).

    Parameters
    ----------
    time : array-like of float
        Follow-up in months (>= 0).
    status : array-like of int
        0 = censored; ``cause`` = event of interest; any other positive code = competing event.
    cause : int
        Code of the cause of interest (default 1).
    conf_level : float
        Level of the pointwise interval (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per distinct observed time, sorted: ``time`` (months), ``n_risk`` (time >= t),
        ``n_event_cause``, ``n_event_other``, ``n_censor``, ``cif`` (F(t) = sum over s <= t of
        S(s-) d_cause(s) / n(s), S the all-cause Kaplan-Meier), ``variance``, ``std_err``,
        ``lower``, ``upper``.

        ``variance`` is the estimator of Gray's ``cmprsk::cuminc`` (Fortran ``cinc``, an
        Aalen-type delta-method variance with a correction for tied events; Gray RJ, cmprsk
        2.2-11).  As in ``cuminc``, it is updated only at event times of the cause of interest
        and carried forward otherwise, so ``timepoints(cuminc(...), t)$var`` equals this column.
        The interval is the log(-log) transform ``F ** exp(-/+ z se / (F log F))`` (Choudhury JB,
        Stat Med 2002;21:1129-44); cmprsk gives none.  Where F is 0 or 1 the interval is [F, F].

    Notes
    -----
    Ties are handled deterministically (all events at t, of any cause, before censorings at t),
    unlike lifelines' ``AalenJohansenFitter``, which jitters tied times at random (lifelines
    issue 1521).  Aalen OO, Johansen S. Scand J Stat 1978;5:141-50.
    """
    t = _as_time(time)
    s = _as_status(status, t.size)
    z = _z(conf_level)
    ut, rs, nd1, nd2, nc, cif, var = _aj_core(t, s, int(cause))
    se, lower, upper = _cif_ci(cif, var, z)
    return pd.DataFrame(
        {
            "time": ut,
            "n_risk": rs.astype(np.int64),
            "n_event_cause": nd1.astype(np.int64),
            "n_event_other": nd2.astype(np.int64),
            "n_censor": nc.astype(np.int64),
            "cif": cif,
            "variance": var,
            "std_err": se,
            "lower": lower,
            "upper": upper,
        }
    )


def cif_var_at(time, status, t, cause: int = 1):
    """Fast cumulative incidence and its cmprsk variance at given times (numpy only).

    Returns ``(cif, variance)`` with the shape of ``t``; NaN beyond the last observed time
    (as ``cmprsk::timepoints``).  Same values as :func:`aalen_johansen`.
    """
    tt = np.asarray(time, dtype=float).ravel()
    ss = np.asarray(status).ravel().astype(np.int64)
    ut, _, _, _, _, cif, var = _aj_core(tt, ss, int(cause))
    q = np.asarray(t, dtype=float)
    idx = np.searchsorted(ut, q, side="right") - 1
    c = np.where(idx >= 0, cif[np.maximum(idx, 0)], 0.0)
    v = np.where(idx >= 0, var[np.maximum(idx, 0)], 0.0)
    beyond = q > ut[-1]
    c = np.where(beyond, np.nan, c)
    v = np.where(beyond, np.nan, v)
    if q.ndim == 0:
        return float(c), float(v)
    return c, v


def cif_milestones(
    time,
    status,
    cause: int = 1,
    at: Sequence[float] = DEFAULT_MILESTONES,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` at fixed milestones (months).

    Returns
    -------
    pandas.DataFrame
        One row per milestone, sorted: ``time``, ``n_risk`` (time >= t), ``cif``, ``variance``,
        ``std_err``, ``lower``, ``upper``; step-function values as in :func:`aalen_johansen`
        (= ``cmprsk::timepoints``).  NaN beyond the last observed time.
    """
    t = _as_time(time)
    s = _as_status(status, t.size)
    z = _z(conf_level)
    q = np.sort(np.asarray(at, dtype=float).ravel())
    c, v = cif_var_at(t, s, q, cause=cause)
    se, lower, upper = _cif_ci(c, v, z)
    nr = (t[None, :] >= q[:, None]).sum(axis=1)
    return pd.DataFrame(
        {
            "time": q,
            "n_risk": nr.astype(np.int64),
            "cif": c,
            "variance": v,
            "std_err": se,
            "lower": lower,
            "upper": upper,
        }
    )


# ---------------------------------------------------------------------------------------------
# groups, log-rank, medians, RMST, at-risk tables
# ---------------------------------------------------------------------------------------------


def _groups(group, n: int):
    """Sorted group labels and integer codes (a single group 'all' when ``group`` is None)."""
    if group is None:
        return np.array(["all"], dtype=object), np.zeros(n, dtype=np.int64)
    g = pd.Series(np.asarray(group).ravel())
    if g.size != n:
        raise ValueError(f"group has length {g.size}, time has length {n}")
    if g.isna().any():
        raise ValueError("group has missing values")
    labels, codes = np.unique(g.to_numpy(), return_inverse=True)
    return labels, codes.astype(np.int64)


def logrank_test(time, event, group, strata=None) -> pd.DataFrame:
    """Log-rank test comparing survival between groups (optionally stratified).

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    group : array-like
        Group labels (two or more groups).
    strata : array-like, optional
        Stratum labels: observed minus expected and its variance are summed over strata.

    Returns
    -------
    pandas.DataFrame
        One row per group, sorted by label: ``group``, ``n``, ``observed``, ``expected``, and the
        test repeated on every row: ``chisq``, ``df``, ``p``.  ``df`` is the number of groups with
        expected > 0 minus one; groups with no expected events are left out of the statistic.

    Notes
    -----
    Mantel N. Cancer Chemother Rep 1966;50:163-70 (hypergeometric variance).  Equals R
    ``survdiff(Surv(time, event) ~ group + strata(s))`` (rho = 0), checked to 1e-10.
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    labels, g = _groups(group, t.size)
    _, st = _groups(strata, t.size)
    ng = labels.size
    obs = np.zeros(ng)
    exp_ = np.zeros(ng)
    var = np.zeros((ng, ng))
    for s in np.unique(st):
        m = st == s
        ts, es, gs = t[m], e[m], g[m]
        ut, inv = np.unique(ts, return_inverse=True)
        nt = ut.size
        cnt = np.zeros((nt, ng))
        dth = np.zeros((nt, ng))
        np.add.at(cnt, (inv, gs), 1.0)
        np.add.at(dth, (inv, gs), es)
        nrisk = cnt[::-1].cumsum(axis=0)[::-1]  # at risk by group at each time
        n = nrisk.sum(axis=1)
        d = dth.sum(axis=1)
        keep = d > 0
        nrisk, n, d, dth = nrisk[keep], n[keep], d[keep], dth[keep]
        frac = nrisk / n[:, None]
        obs += dth.sum(axis=0)
        exp_ += (frac * d[:, None]).sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            w = np.where(n > 1, d * (n - d) / (n - 1), 0.0)
        var += np.einsum("t,tk->k", w, frac) * np.eye(ng) - np.einsum("t,tk,tl->kl", w, frac, frac)
    ok = exp_ > 0
    df = int(ok.sum()) - 1
    if df < 1:
        chisq = 0.0
    else:
        diff = (obs - exp_)[ok][1:]
        vv = var[np.ix_(ok, ok)][1:, 1:]
        chisq = float(diff @ np.linalg.solve(vv, diff))
    p = float(stats.chi2.sf(chisq, df)) if df >= 1 else np.nan
    n_g = np.bincount(g, minlength=ng)
    return pd.DataFrame(
        {"group": labels, "n": n_g, "observed": obs, "expected": exp_, "chisq": chisq, "df": df, "p": p}
    )


def _minmin(y, x):
    """First x where the curve y drops below 0.5 (R survival's ``minmin`` in ``survmean``)."""
    tol = np.sqrt(np.finfo(float).eps)
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    keep = ~np.isnan(y) & (y < 0.5 + tol)
    if not keep.any():
        return np.nan
    x = x[keep]
    y = y[keep]
    if abs(y[0] - 0.5) < tol and np.any(y < y[0]):
        return float((x[0] + x[np.argmax(y < y[0])]) / 2)
    return float(x[0])


def median_survival(time, event, group=None, conf_level: float = 0.95, conf_type: str = "log-log") -> pd.DataFrame:
    """Median survival time (months) with its confidence interval, by group.

    The median is the first time the Kaplan-Meier curve falls below 0.5 (the midpoint of the
    flat stretch when it equals 0.5 exactly); the interval is where the pointwise lower and upper
    curves of :func:`kaplan_meier` cross 0.5 (Brookmeyer R, Crowley J. Biometrics 1982;38:29-41).
    NaN when a curve never falls below 0.5.  Equals R ``summary(survfit(...))$table`` columns
    ``median``, ``0.95LCL``, ``0.95UCL`` for the same ``conf.type``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``n``, ``n_event``, ``median``, ``lower``, ``upper``; one row per group.
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    labels, g = _groups(group, t.size)
    rows = []
    for k, lab in enumerate(labels):
        m = g == k
        km = kaplan_meier(t[m], e[m], conf_level=conf_level, conf_type=conf_type)
        rows.append(
            {
                "group": lab,
                "n": int(m.sum()),
                "n_event": int(e[m].sum()),
                "median": _minmin(km.surv, km.time),
                "lower": _minmin(km.lower, km.time),
                "upper": _minmin(km.upper, km.time),
            }
        )
    return pd.DataFrame(rows)


def median_followup(time, event, conf_level: float = 0.95) -> pd.DataFrame:
    """Median follow-up (months) by the reverse Kaplan-Meier method.

    Censoring is treated as the event and events as censoring, so the median is the potential
    follow-up had nobody died (Schemper M, Smith TL. Control Clin Trials 1996;17:343-6).  The
    interval uses the log-log transform.  Also gives the observed range of follow-up.

    Returns
    -------
    pandas.DataFrame
        One row: ``n``, ``median``, ``lower``, ``upper``, ``min``, ``max`` (months).
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    med = median_survival(t, 1 - e, conf_level=conf_level, conf_type="log-log")
    return pd.DataFrame(
        {
            "n": [t.size],
            "median": med["median"].to_numpy(),
            "lower": med["lower"].to_numpy(),
            "upper": med["upper"].to_numpy(),
            "min": [float(t.min())],
            "max": [float(t.max())],
        }
    )


def rmst(time, event, tau: float, group=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Restricted mean survival time up to ``tau`` months, with its standard error.

    RMST(tau) = integral of the Kaplan-Meier curve from 0 to tau (months).  Its variance is
    sum over event times t_j <= tau of A_j**2 d_j / (n_j (n_j - d_j)), where A_j is the area under
    the curve between t_j and tau (Klein JP, Moeschberger ML, Survival Analysis, 2nd ed., 4.5;
    Miller RG, Survival Analysis, 1981, pp 195-6).  Equals R ``print(survfit(...), rmean=tau)``
    (``rmean`` and ``se(rmean)``); lifelines' RMST variance differs (lifelines issue 1682).

    Returns
    -------
    pandas.DataFrame
        Columns ``group``, ``tau``, ``rmst``, ``std_err``, ``lower``, ``upper`` (normal interval),
        one row per group.
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    labels, g = _groups(group, t.size)
    z = _z(conf_level)
    tau = float(tau)
    rows = []
    for k, lab in enumerate(labels):
        m = g == k
        ut, n_risk, n_event, _, surv, _ = _km_core(t[m], e[m])
        with np.errstate(divide="ignore", invalid="ignore"):
            hh = np.where(n_risk - n_event == 0, 0.0, n_event / (n_risk * (n_risk - n_event)))
        keep = ut <= tau
        if not keep.any():
            temptime = np.array([tau])
            tempsurv = np.array([1.0])
            hh = np.array([0.0])
        else:
            temptime = np.concatenate((ut[keep], [tau]))
            tempsurv = np.concatenate((surv[keep], [surv[keep][-1]]))
            hh = np.concatenate((hh[keep], [0.0]))
        delta = np.diff(np.concatenate(([0.0], temptime)))
        rect = delta * np.concatenate(([1.0], tempsurv[:-1]))
        var = float(np.sum(np.cumsum(rect[1:][::-1]) ** 2 * hh[::-1][1:]))
        mean = float(rect.sum())
        se = np.sqrt(var)
        rows.append({"group": lab, "tau": tau, "rmst": mean, "std_err": se, "lower": mean - z * se, "upper": mean + z * se})
    return pd.DataFrame(rows)


def risk_table(time, event, at: Sequence[float], group=None) -> pd.DataFrame:
    """Numbers at risk and cumulative events / censorings at given times (survminer-style table).

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    at : sequence of float
        Times (months) for the table, e.g. 0, 12, 24, ...
    group : array-like, optional
        Group labels; one block of rows per group.

    Returns
    -------
    pandas.DataFrame
        Long table sorted by group then time: ``group``, ``time``, ``n_risk`` (follow-up >= t),
        ``n_event_cum`` (events at or before t), ``n_censor_cum`` (censored at or before t).
    """
    t = _as_time(time)
    e = _as_event(event, t.size)
    labels, g = _groups(group, t.size)
    q = np.sort(np.asarray(at, dtype=float).ravel())
    rows = []
    for k, lab in enumerate(labels):
        m = g == k
        tk, ek = t[m], e[m]
        for tt in q:
            rows.append(
                {
                    "group": lab,
                    "time": tt,
                    "n_risk": int((tk >= tt).sum()),
                    "n_event_cum": int(((tk <= tt) & (ek == 1)).sum()),
                    "n_censor_cum": int(((tk <= tt) & (ek == 0)).sum()),
                }
            )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Gray's test (cmprsk::cuminc Tests)
# ---------------------------------------------------------------------------------------------


def _crst(y, m, ig, ng, rho):
    """Score and variance of Gray's test within one stratum (transcribes cmprsk's ``crst``).

    ``y`` sorted times, ``m`` 0 censored / 1 cause of interest / 2 other cause, ``ig`` group
    codes 0..ng-1.  Returns (s, v): scores of the first ng-1 groups and their covariance.
    The time loop runs on Python floats (groups are few): for 2-3 groups that is several times
    faster than numpy on arrays of length ng.
    """
    ng1 = ng - 1
    _, inv = np.unique(y, return_inverse=True)
    nt = int(inv.max()) + 1 if inv.size else 0
    cell = inv * ng + ig
    d1_all = np.bincount(cell[m == 1], minlength=nt * ng).reshape(nt, ng).astype(float).tolist()
    d2_all = np.bincount(cell[m == 2], minlength=nt * ng).reshape(nt, ng).astype(float).tolist()
    out_all = np.bincount(cell, minlength=nt * ng).reshape(nt, ng).astype(float).tolist()
    groups = range(ng)
    first = range(ng1)
    rs = np.bincount(ig, minlength=ng).astype(float).tolist()
    s = [0.0] * ng1
    v = [[0.0] * ng1 for _ in first]
    f1m, f1, skmm, skm, v3 = [0.0] * ng, [0.0] * ng, [1.0] * ng, [1.0] * ng, [0.0] * ng
    v2 = [[0.0] * ng for _ in first]
    c = [[0.0] * ng for _ in groups]
    fm = f = 0.0
    for j in range(nt):
        d1, d2 = d1_all[j], d2_all[j]
        nd1, nd2 = sum(d1), sum(d2)
        if nd1 > 0 or nd2 > 0:
            pos = [r > 0 for r in rs]  # groups still at risk
            for k in groups:
                if pos[k]:
                    skm[k] = skmm[k] * (rs[k] - d1[k] - d2[k]) / rs[k]
                    f1[k] = f1m[k] + skmm[k] * d1[k] / rs[k]
            t1 = [rs[k] / skmm[k] if pos[k] else 0.0 for k in groups]
            tr = sum(t1)
            tq = sum(rs[k] * (1 - f1m[k]) / skmm[k] for k in groups if pos[k])
            f = fm + nd1 / tr
            fb = (1 - fm) ** rho
            a = [[-fb * t1[i] * t1[k] / tr for k in groups] for i in groups]
            for i in groups:
                a[i][i] = fb * t1[i] * (1 - t1[i] / tr) if pos[i] else 0.0
            if nd1 > 0:
                w = nd1 / (tr * (1 - fm))
                for i in groups:
                    ci, ai = c[i], a[i]
                    for k in groups:
                        ci[k] += ai[k] * w
            for i in first:
                if pos[i]:
                    s[i] += fb * (d1[i] - nd1 * rs[i] * (1 - f1m[i]) / (skmm[i] * tq))
            if nd1 > 0:
                for k in groups:
                    if not pos[k]:
                        continue
                    t4 = 1 - (1 - f) / skm[k] if skm[k] > 0 else 1.0
                    t5 = 1 - (nd1 - 1) / (tr * skmm[k] - 1) if nd1 > 1 else 1.0
                    t3 = t5 * skmm[k] * nd1 / (tr * rs[k])
                    v3[k] += t4 * t4 * t3
                    tv = [a[i][k] - t4 * c[i][k] for i in first]
                    for i in first:
                        v2[i][k] += tv[i] * t4 * t3
                        vi = v[i]
                        for l in first:
                            vi[l] += tv[i] * tv[l] * t3
            if nd2 > 0:
                for k in groups:
                    if not (skm[k] > 0 and d2[k] > 0):
                        continue
                    t4 = (1 - f) / skm[k]
                    t5 = 1 - (d2[k] - 1) / (rs[k] - 1) if d2[k] > 1 else 1.0
                    t3 = t5 * skmm[k] ** 2 * d2[k] / rs[k] ** 2
                    v3[k] += t4 * t4 * t3
                    tv = [t4 * c[i][k] for i in first]
                    for i in first:
                        v2[i][k] -= tv[i] * t4 * t3
                        vi = v[i]
                        for l in first:
                            vi[l] += tv[i] * tv[l] * t3
        if j == nt - 1:
            break
        out = out_all[j]
        for k in groups:
            rs[k] -= out[k]
        fm = f
        f1m = f1[:]
        skmm = skm[:]
    cc = np.array(c)[:ng1, :]
    v2a = np.array(v2).reshape(ng1, ng)
    vv = np.array(v).reshape(ng1, ng1) + (cc * np.array(v3)) @ cc.T + cc @ v2a.T + v2a @ cc.T
    return np.array(s), vv


def gray_test(time, status, group, strata=None, rho: float = 0.0) -> pd.DataFrame:
    """Gray's test comparing cumulative incidence functions between groups, for every cause.

    Parameters
    ----------
    time : array-like
        Follow-up in months.
    status : array-like of int
        0 = censored, positive codes = causes.
    group : array-like
        Group labels (two or more).
    strata : array-like, optional
        Strata: scores and variances are summed over strata.
    rho : float
        Power of the weight (1 - F(t-))**rho (0 = log-rank-like, the default).

    Returns
    -------
    pandas.DataFrame
        One row per cause (sorted): ``cause``, ``stat`` (chi-square), ``df`` (groups - 1), ``p``.

    Notes
    -----
    Gray RJ. Ann Stat 1988;16:1141-54.  A transcription of the Fortran ``crstm``/``crst`` of
    cmprsk 2.2-11, equal to ``cmprsk::cuminc(time, status, group, strata, rho)$Tests``.
    """
    t = _as_time(time)
    s = _as_status(status, t.size)
    labels, g = _groups(group, t.size)
    _, st = _groups(strata, t.size)
    ng = labels.size
    if ng < 2:
        raise ValueError("gray_test needs at least two groups")
    order = np.argsort(t, kind="stable")
    t, s, g, st = t[order], s[order], g[order], st[order]
    rows = []
    for cause in np.unique(s[s != 0]):
        m = np.where(s == 0, 0, np.where(s == cause, 1, 2))
        score = np.zeros(ng - 1)
        var = np.zeros((ng - 1, ng - 1))
        for k in np.unique(st):
            w = st == k
            sc, vv = _crst(t[w], m[w], g[w], ng, rho)
            score += sc
            var += vv
        if np.linalg.matrix_rank(var) == ng - 1:
            stat = float(score @ np.linalg.solve(var, score))
        else:
            stat = -1.0  # as cmprsk: singular variance
        rows.append({"cause": int(cause), "stat": stat, "df": ng - 1, "p": float(stats.chi2.sf(stat, ng - 1)) if stat >= 0 else np.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Fine-Gray subdistribution-hazard regression (cmprsk::crr), linear time
# ---------------------------------------------------------------------------------------------


class FineGrayFit:
    """Result of :func:`fine_gray`; ``summary`` is the tidy table.

    Attributes
    ----------
    coef : numpy.ndarray
        Log subdistribution hazard ratios.
    var : numpy.ndarray
        Robust (sandwich) covariance of ``coef``, as ``crr``'s ``var``.
    loglik, loglik_null : float
        Log pseudo-likelihood at ``coef`` and at 0.
    converged : bool
    n_iter : int
    summary : pandas.DataFrame
        ``term``, ``coef``, ``shr`` (subdistribution HR), ``se``, ``z``, ``p``, ``lower``,
        ``upper`` (interval for the SHR).
    """

    def __init__(self, terms, coef, var, loglik, loglik_null, converged, n_iter, n, conf_level):
        self.terms = list(terms)
        self.coef = coef
        self.var = var
        self.loglik = loglik
        self.loglik_null = loglik_null
        self.converged = converged
        self.n_iter = n_iter
        self.n = n
        z = _z(conf_level)
        se = np.sqrt(np.diag(var))
        self.summary = pd.DataFrame(
            {
                "term": self.terms,
                "coef": coef,
                "shr": np.exp(coef),
                "se": se,
                "z": coef / se,
                "p": 2 * stats.norm.sf(np.abs(coef / se)),
                "lower": np.exp(coef - z * se),
                "upper": np.exp(coef + z * se),
            }
        )

    def __repr__(self) -> str:  # no addresses in notebook output
        return f"FineGrayFit(n={self.n}, terms={self.terms}, converged={self.converged})"


class _FGData:
    """Sorted data and the censoring weights of a Fine-Gray fit (one censoring distribution)."""

    def __init__(self, t, s, X, cause):
        order = np.argsort(t, kind="stable")
        self.t = t[order]
        self.X = X[order]
        s = s[order]
        self.ev = s == cause
        self.comp = (s != 0) & (s != cause)
        self.cens = s == 0
        n = self.t.size
        ut, first, inv, cnt = np.unique(self.t, return_index=True, return_inverse=True, return_counts=True)
        self.first = first[inv]  # index of the first subject with the same time
        y = n - first  # at risk (time >= t), by distinct time
        nc = np.bincount(inv, weights=self.cens, minlength=ut.size)
        gsurv = np.cumprod(1.0 - nc / y)
        gleft = np.concatenate(([1.0], gsurv[:-1]))  # censoring KM at t- (as crr's uuu)
        self.G = gleft[inv]
        self.Y = y[inv].astype(float)
        self.nc_u = nc
        self.ut = ut
        self.inv = inv
        # distinct event times of the cause of interest
        et, ecount = np.unique(self.t[self.ev], return_counts=True)
        self.et = et
        self.twf = ecount.astype(float)
        self.efirst = np.searchsorted(self.t, et, side="left")
        self.Ge = self.G[self.efirst]
        self.xsum_ev = self.X[self.ev].sum(axis=0)

    def sums(self, b, second=True):
        """S0, S1 (and S2) over the Fine-Gray risk set at each distinct event time."""
        eta = self.X @ b
        r = np.exp(eta)
        rc = np.where(self.comp, r / self.G, 0.0)
        idx = self.efirst

        def at_events(w, arr):
            # suffix sums over t >= tau plus G(tau-) * prefix sums of competing over t < tau
            wa = w[:, None] * arr if arr is not None else w[:, None]
            suf = np.cumsum(wa[::-1], axis=0)[::-1]
            pre = np.concatenate((np.zeros((1, wa.shape[1])), np.cumsum(np.where(self.comp[:, None], rc[:, None] * (arr if arr is not None else 1.0), 0.0), axis=0)))
            return suf[idx] + self.Ge[:, None] * pre[idx]

        S0 = at_events(r, None)[:, 0]
        S1 = at_events(r, self.X)
        S2 = None
        if second:
            p = self.X.shape[1]
            XX = (self.X[:, :, None] * self.X[:, None, :]).reshape(-1, p * p)
            S2 = at_events(r, XX).reshape(-1, p, p)
        return eta, r, S0, S1, S2

    def objective(self, b, second=True):
        """Negative log pseudo-likelihood, its gradient and Hessian (crr's ``crrfsv``)."""
        eta, r, S0, S1, S2 = self.sums(b, second)
        nll = -(eta[self.ev].sum() - np.sum(self.twf * np.log(S0)))
        if not second:
            return nll
        xbar = S1 / S0[:, None]
        grad = -(self.xsum_ev - (self.twf[:, None] * xbar).sum(axis=0))
        hess = np.einsum("k,kij->ij", self.twf / S0, S2) - np.einsum("k,ki,kj->ij", self.twf, xbar, xbar)
        return nll, grad, hess

    def robust_var(self, b):
        """Sandwich covariance of crr (Fortran ``crrvv``), computed with prefix/suffix sums."""
        eta, r, S0, S1, S2 = self.sums(b, second=True)
        xbar = S1 / S0[:, None]
        twf = self.twf
        info = np.einsum("k,kij->ij", twf / S0, S2) - np.einsum("k,ki,kj->ij", twf, xbar, xbar)
        X, t = self.X, self.t
        et = self.et
        # cumulative sums over distinct event times
        D0 = np.concatenate(([0.0], np.cumsum(twf / S0)))
        D1 = np.vstack((np.zeros((1, X.shape[1])), np.cumsum((twf / S0)[:, None] * xbar, axis=0)))
        gw = twf * self.Ge / S0
        E0 = np.concatenate((np.cumsum(gw[::-1])[::-1], [0.0]))
        E1 = np.vstack((np.cumsum((gw[:, None] * xbar)[::-1], axis=0)[::-1], np.zeros((1, X.shape[1]))))
        k_le = np.searchsorted(et, t, side="right")  # number of event times <= t_i
        k_ge = np.searchsorted(et, t, side="left")  # first event time >= t_i
        # score residual eta_i (d N_i part and d Lambda part)
        res = -r[:, None] * (X * D0[k_le][:, None] - D1[k_le])
        rc = np.where(self.comp, r / self.G, 0.0)
        res -= rc[:, None] * (X * E0[k_le][:, None] - E1[k_le])
        ev_k = np.searchsorted(et, t[self.ev])
        res[self.ev] += X[self.ev] - xbar[ev_k]
        # censoring-martingale part psi_i
        A0 = np.concatenate(([0.0], np.cumsum(rc)))[self.first]  # competing with t < t_i
        A1 = np.vstack((np.zeros((1, X.shape[1])), np.cumsum(rc[:, None] * X, axis=0)))[self.first]
        q = A1 * E0[k_ge][:, None] - A0[:, None] * E1[k_ge]  # q(t_i), per subject
        qu = q[np.unique(self.first)]  # per distinct time
        yu = self.Y[np.unique(self.first)]
        cs = np.cumsum(-(self.nc_u / yu**2)[:, None] * qu, axis=0)[self.inv]
        psi = cs + np.where(self.cens, 1.0 / self.Y, 0.0)[:, None] * q
        u = res + psi
        v2 = u.T @ u
        h = np.linalg.inv(info)
        return h @ v2 @ h.T, info


def fine_gray(
    time,
    status,
    covariates,
    cause: int = 1,
    conf_level: float = 0.95,
    gtol: float = 1e-6,
    maxiter: int = 10,
) -> FineGrayFit:
    """Fine-Gray proportional subdistribution-hazard regression for one cause.

    Parameters
    ----------
    time : array-like
        Follow-up in months (> 0).
    status : array-like of int
        0 = censored, ``cause`` = event of interest, other positive codes = competing events.
    covariates : pandas.DataFrame or 2-d array
        Numeric covariates (code factors as 0/1 columns); column names become the terms.
    cause : int
        Code of the event of interest.
    gtol, maxiter :
        Newton-Raphson with step halving, stopped as ``cmprsk::crr`` (same defaults), so the
        iterates and the estimates are those of ``crr``.

    Returns
    -------
    FineGrayFit
        ``.summary`` is the tidy table (term, coef, shr, se, z, p, lower, upper).

    Notes
    -----
    Fine JP, Gray RJ. JASA 1999;94:496-509.  The censoring distribution is the Kaplan-Meier of
    the censoring times (one distribution, no ``cengroup``), evaluated at t-; subjects with a
    competing event stay in the risk set with weight G(t-)/G(t_i-).  Ties: Breslow.  The
    variance is crr's sandwich estimator (score residuals plus the censoring-martingale term).

    Every risk-set sum is a suffix sum over subjects still at risk plus a weighted prefix sum
    over earlier competing events, so one pass costs O(n p^2) instead of crr's O(n^2): the
    forward-backward scan of Kawaguchi ES, Shen JI, Suchard MA, Li G (R Journal 2021;13:
    "Scalable algorithms for large competing risks data", package fastcmprsk), applied here to the
    estimates and to crr's variance.  Equals ``cmprsk::crr`` coefficients and SEs to 1e-6.
    """
    t = _as_time(time)
    s = _as_status(status, t.size)
    if isinstance(covariates, pd.DataFrame):
        terms = [str(c) for c in covariates.columns]
        X = covariates.to_numpy(dtype=float)
    elif isinstance(covariates, pd.Series):
        terms = [str(covariates.name)]
        X = covariates.to_numpy(dtype=float)[:, None]
    else:
        X = np.asarray(covariates, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        terms = [f"x{i + 1}" for i in range(X.shape[1])]
    if X.shape[0] != t.size or not np.all(np.isfinite(X)):
        raise ValueError("covariates must have one finite row per subject")
    fd = _FGData(t, s, X, int(cause))
    if not fd.ev.any():
        raise ValueError(f"no events of cause {cause}")
    b = np.zeros(X.shape[1])
    converged = False
    it = 0
    for it in range(maxiter + 1):
        f, grad, hess = fd.objective(b)
        if np.max(np.abs(grad) * np.maximum(np.abs(b), 1)) < max(abs(f), 1) * gtol:
            converged = True
            break
        if it == maxiter:
            break
        sc = -np.linalg.solve(hess, grad)
        bn = b + sc
        fbn = fd.objective(bn, second=False)
        i = 0
        while not np.isfinite(fbn) or fbn > f + 1e-4 * np.sum(sc * grad):
            i += 1
            sc = sc * 0.5
            bn = b + sc
            fbn = fd.objective(bn, second=False)
            if i > 20:
                break
        if i > 20:
            break
        b = bn
    var, _ = fd.robust_var(b)
    loglik = -fd.objective(b, second=False)
    loglik0 = -fd.objective(np.zeros_like(b), second=False)
    return FineGrayFit(terms, b, var, loglik, loglik0, converged, it, t.size, conf_level)


# ---------------------------------------------------------------------------------------------
# Cox proportional hazards (lifelines) and the cox.zph test
# ---------------------------------------------------------------------------------------------

#: lifelines fit options that make CoxPHFitter match R coxph to ~1e-10 (see TOOLCHAIN.md).
COX_FIT_OPTIONS = {"precision": 1e-12, "r_precision": 0.0}


def cox_fit(data: pd.DataFrame, covariates: Sequence[str], duration_col: str = "time", event_col: str = "event", strata=None):
    """Fit a Cox proportional-hazards model (Efron ties) with lifelines.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject.
    covariates : sequence of str
        Numeric covariate columns (code factors as 0/1 columns).
    duration_col, event_col : str
        Follow-up (months) and 0/1 event columns.
    strata : str or list of str, optional
        Stratification columns (separate baseline hazards).

    Returns
    -------
    lifelines.CoxPHFitter
        Fitted with ``fit_options={"precision": 1e-12, "r_precision": 0.0}``, which matches R
        ``coxph(ties="efron")`` coefficients and SEs to 1e-6 (Cox DR. JRSS B 1972;34:187-220;
        Efron B. JASA 1977;72:557-65).
    """
    from lifelines import CoxPHFitter

    cols = list(covariates) + [duration_col, event_col]
    if strata is not None:
        strata = [strata] if isinstance(strata, str) else list(strata)
        cols += strata
    df = data[cols].copy()
    cph = CoxPHFitter()
    cph.fit(df, duration_col=duration_col, event_col=event_col, strata=strata, fit_options=dict(COX_FIT_OPTIONS))
    return cph


def cox_summary(fit, conf_level: float = 0.95) -> pd.DataFrame:
    """Tidy table of a fitted Cox model: one row per term, in model order.

    Columns ``term``, ``coef`` (log HR), ``hr``, ``se``, ``lower``, ``upper`` (Wald interval for
    the HR at ``conf_level``), ``z``, ``p`` (two-sided Wald).  No timestamps (unlike lifelines'
    ``print_summary``).
    """
    z = _z(conf_level)
    coef = fit.params_.to_numpy(dtype=float)
    se = fit.standard_errors_.to_numpy(dtype=float)
    return pd.DataFrame(
        {
            "term": [str(i) for i in fit.params_.index],
            "coef": coef,
            "hr": np.exp(coef),
            "se": se,
            "lower": np.exp(coef - z * se),
            "upper": np.exp(coef + z * se),
            "z": coef / se,
            "p": 2 * stats.norm.sf(np.abs(coef / se)),
        }
    )


def _zph_score(time, event, X, eta, strata, gtime):
    """Score vector for the X * g(t) terms and the full 2p x 2p information (survival's zph1, Efron)."""
    n, p = X.shape
    X = X - X.mean(axis=0)
    eta = eta - eta.mean()
    u = np.zeros(2 * p)
    imat = np.zeros((2 * p, 2 * p))
    risk = np.exp(eta)
    for s in np.unique(strata):
        m = np.flatnonzero(strata == s)
        order = m[np.argsort(-time[m], kind="stable")]  # backwards in time
        ts, es, xs, rs, gs = time[order], event[order], X[order], risk[order], gtime[order]
        ut, start = np.unique(-ts, return_index=True)
        ends = np.append(start[1:], ts.size)
        denom = 0.0
        a = np.zeros(p)
        cmat = np.zeros((p, p))
        for lo, hi in zip(start, ends):
            blk = slice(lo, hi)
            eb, xb, rb = es[blk], xs[blk], rs[blk]
            alive = eb == 0
            denom += rb[alive].sum()
            a += rb[alive] @ xb[alive]
            cmat += (xb[alive] * rb[alive][:, None]).T @ xb[alive]
            dead = ~alive
            nd = int(dead.sum())
            if nd == 0:
                continue
            g = gs[lo]
            xd, rd = xb[dead], rb[dead]
            denom2 = rd.sum()
            a2 = rd @ xd
            cmat2 = (xd * rd[:, None]).T @ xd
            u[:p] += xd.sum(axis=0)
            u[p:] += g * xd.sum(axis=0)
            for _k in range(nd):  # Efron: deaths enter the sums 1/nd at a time
                denom += denom2 / nd
                a += a2 / nd
                cmat += cmat2 / nd
                mean = a / denom
                u[:p] -= mean
                u[p:] -= g * mean
                temp = (cmat - np.outer(mean, a)) / denom
                imat[:p, :p] += temp
                imat[:p, p:] += g * temp
                imat[p:, p:] += g * g * temp
    imat[p:, :p] = imat[:p, p:].T
    return u, imat


def cox_zph(fit, data: pd.DataFrame, transform: str = "km") -> pd.DataFrame:
    """Test of proportional hazards on scaled Schoenfeld residuals (score test, R ``cox.zph``).

    For each covariate, the score test of adding ``x * g(t)`` to the fitted model, where g is
    the time transform; GLOBAL tests all of them together.  Equals ``cox.zph(fit,
    transform=...)$table`` of R survival 3.x (the score-test form introduced in survival 3.0),
    Efron ties, strata allowed.

    Parameters
    ----------
    fit : lifelines.CoxPHFitter
        From :func:`cox_fit` (Efron ties).
    data : pandas.DataFrame
        The data the model was fitted on.
    transform : {"km", "identity", "log", "rank"}
        g(t): ``"km"`` (default, as R) is 1 - KM(t-) of all subjects.

    Returns
    -------
    pandas.DataFrame
        ``term``, ``chisq``, ``df``, ``p``; one row per covariate, then ``GLOBAL``.

    Notes
    -----
    Grambsch PM, Therneau TM. Biometrika 1994;81:515-26.
    """
    terms = [str(i) for i in fit.params_.index]
    beta = fit.params_.to_numpy(dtype=float)
    time = data[fit.duration_col].to_numpy(dtype=float)
    event = data[fit.event_col].to_numpy(dtype=float)
    X = data[list(fit.params_.index)].to_numpy(dtype=float)
    if fit.strata:
        cols = [fit.strata] if isinstance(fit.strata, str) else list(fit.strata)
        strata = data[cols].astype(str).agg("\x1f".join, axis=1).to_numpy()
    else:
        strata = np.zeros(time.size, dtype=np.int64)
    if transform == "km":
        ut, _, _, _, surv, _ = _km_core(time, event.astype(np.int64))
        idx = np.searchsorted(ut, time, side="left")  # left-continuous: S(t-)
        ttimes = 1.0 - np.concatenate(([1.0], surv))[idx]
    elif transform == "identity":
        ttimes = time
    elif transform == "log":
        ttimes = np.log(time)
    elif transform == "rank":
        ttimes = stats.rankdata(time)
    else:
        raise ValueError("transform must be 'km', 'identity', 'log' or 'rank'")
    gtime = ttimes - ttimes[event == 1].mean()
    u, imat = _zph_score(time, event, X, X @ beta, strata, gtime)
    p = beta.size
    rows = []
    for j in range(p):
        kk = list(range(p)) + [p + j]
        uu = np.concatenate((np.zeros(p), [u[p + j]]))
        stat = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append({"term": terms[j], "chisq": stat, "df": 1, "p": float(stats.chi2.sf(stat, 1))})
    uu = np.concatenate((np.zeros(p), u[p:]))
    stat = float(uu @ np.linalg.solve(imat, uu))
    rows.append({"term": "GLOBAL", "chisq": stat, "df": p, "p": float(stats.chi2.sf(stat, p))})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Notebook glue: tidy report tables from the long time-to-event table (notebook 04)
# ---------------------------------------------------------------------------------------------
#
# The functions below take the long table of :func:`survival_data` (one row per patient per
# endpoint, the columns of ``endpoints.time_to_event_table`` plus patient covariates) and return
# tidy, sorted tables of *unrounded* numbers; notebooks round them for display.

#: Endpoints estimated by Kaplan-Meier (event = status 1); the others are competing-risk endpoints
#: estimated by Aalen-Johansen (status 1 = event of interest, 2 = competing event).
KM_ENDPOINTS = ("OS", "DFS")
CIF_ENDPOINTS = ("REL", "NRM", "TRM", "CR")

#: Patient covariates joined onto the time-to-event rows by :func:`survival_data`.
SURVIVAL_COVARIATES = ("sex", "age_at_transplant_years", "lupus_nephritis", "cd34_selected", "transplanted")

#: Readable names of the model terms of :func:`endpoint_frame` (the ``label`` column of model tables).
TERM_LABELS = {
    "hsct": "HSCT (vs MSCT)",
    "age_per_10_years": "age, per 10 years",
    "nephritis": "lupus nephritis",
    "female": "female sex",
    "cd34_selected": "CD34-selected graft",
}

#: Published measure name -> (endpoint, estimator) for the 5-year figures of the HSCT series.
PUBLISHED_MEASURES = {
    "overall_survival": "OS",
    "disease_free_survival": "DFS",
    "relapse_incidence": "REL",
    "non_relapse_mortality": "NRM",
}


def survival_data(data_dir=None) -> pd.DataFrame:
    """The long time-to-event table with patient covariates, in one call.

    Parameters
    ----------
    data_dir : path-like, optional
        None = the bundled synthetic exports (``data/raw``). Otherwise a folder of raw exports
        (CSV / xlsx), which goes through cleaning and the analysis-table build
        (:func:`sle_nb_utils.adam.load_analysis_tables`, cached on the raw files' hashes).

    Returns
    -------
    pandas.DataFrame
        One row per patient per endpoint (OS, DFS, REL, NRM, TRM, CR) from ``adtte``:
        ``patient_id``, ``cohort``, ``arm``, ``endpoint``, ``origin``, ``time_months`` (AVAL),
        ``status`` (0 censored, 1 event, 2 competing), ``event`` (1 - CNSR), ``event_desc``, and the
        covariates ``sex``, ``age_at_transplant_years``, ``lupus_nephritis`` (bool),
        ``cd34_selected`` (nullable bool; missing for MSCT), ``transplanted`` (bool).
        Sorted by endpoint, cohort, patient.
    """
    from . import adam, endpoints

    tables = adam.load_analysis_tables(data_dir)
    a = tables["adtte"]
    tte = pd.DataFrame({
        "patient_id": a["USUBJID"].astype(str), "cohort": a["STUDYID"].astype(str),
        "arm": a["ARM"].astype(str), "endpoint": a["PARAMCD"].astype(str),
        "origin": a["ORIGIN"].astype(str), "time_months": a["AVAL"].astype(float),
        "status": a["STATUS"].astype(int), "event": 1 - a["CNSR"].astype(int),
        "event_desc": a["EVNTDESC"].astype(str)})
    p = tables["patients"].assign(transplanted=lambda x: x["transplant_date"].notna())
    cov = p[["patient_id", *SURVIVAL_COVARIATES]]
    out = tte.merge(cov, on="patient_id", how="left", validate="m:1")
    out["lupus_nephritis"] = out["lupus_nephritis"].astype(bool)
    out["cd34_selected"] = out["cd34_selected"].astype("boolean")
    order = {e: i for i, e in enumerate(endpoints.ENDPOINTS)}
    out = out.sort_values(["endpoint", "cohort", "patient_id"],
                          key=lambda c: c.map(order) if c.name == "endpoint" else c)
    return out.reset_index(drop=True)


def _select(data: pd.DataFrame, endpoint: str, cohorts=None) -> pd.DataFrame:
    if endpoint not in KM_ENDPOINTS + CIF_ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {KM_ENDPOINTS + CIF_ENDPOINTS}")
    d = data.loc[data["endpoint"] == endpoint]
    if cohorts is not None:
        cohorts = [cohorts] if isinstance(cohorts, str) else list(cohorts)
        d = d.loc[d["cohort"].isin(cohorts)]
    if d.empty:
        raise ValueError(f"no rows for endpoint {endpoint!r} and cohorts {cohorts!r}")
    return d.sort_values(["cohort", "patient_id"]).reset_index(drop=True)


def endpoint_frame(data: pd.DataFrame, endpoint: str, cohorts=None) -> pd.DataFrame:
    """One row per patient for one endpoint, with numeric (0/1) model covariates.

    Returns ``patient_id``, ``cohort``, ``arm``, ``time`` (months), ``event`` (status == 1),
    ``status``, and ``hsct`` (arm is HSCT), ``age_per_10_years``, ``nephritis``, ``female``,
    ``cd34_selected`` (NaN where not recorded, i.e. MSCT).  Sorted by cohort and patient.
    """
    d = _select(data, endpoint, cohorts)
    return pd.DataFrame(
        {
            "patient_id": d["patient_id"],
            "cohort": d["cohort"],
            "arm": d["arm"],
            "time": d["time_months"].astype(float),
            "event": (d["status"] == 1).astype(int),
            "status": d["status"].astype(int),
            "hsct": (d["arm"] == "HSCT").astype(float),
            "age_per_10_years": d["age_at_transplant_years"].astype(float) / 10.0,
            "nephritis": d["lupus_nephritis"].astype(float),
            "female": (d["sex"] == "F").astype(float),
            "cd34_selected": d["cd34_selected"].astype("Float64").astype(float),
        }
    )


def format_pm(estimate_pct, se_pct, digits: int = 0) -> str:
    """``"81 ± 8%"``: an estimate and its standard error in percent (``"n/a"`` when missing)."""
    if estimate_pct is None or not np.isfinite(estimate_pct):
        return "n/a"
    if se_pct is None or not np.isfinite(se_pct):
        return f"{estimate_pct:.{digits}f}%"
    return f"{estimate_pct:.{digits}f} ± {se_pct:.{digits}f}%"


def milestone_table(
    data: pd.DataFrame,
    endpoint: str,
    by: str | None = "cohort",
    at: Sequence[float] = DEFAULT_MILESTONES,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    cohorts=None,
) -> pd.DataFrame:
    """Milestone estimates of one endpoint by group, in percent, with SE and CI.

    OS and DFS: Kaplan-Meier survival (:func:`km_milestones`, Greenwood SE, ``conf_type`` interval).
    REL, NRM, TRM, CR: Aalen-Johansen cumulative incidence of status 1 with status 2 competing
    (:func:`cif_milestones`, cmprsk variance, log(-log) interval).

    Returns
    -------
    pandas.DataFrame
        ``endpoint``, ``estimator`` (``KM`` / ``AJ``), ``group``, ``months``, ``n_risk``,
        ``estimate_pct``, ``se_pct``, ``lower_pct``, ``upper_pct``, ``estimate_pm`` (``"81 ± 8%"``).
        Sorted by group then months; NaN (and ``"n/a"``) beyond a group's last follow-up.
    """
    d = _select(data, endpoint, cohorts)
    labels, codes = _groups(None if by is None else d[by], len(d))
    rows = []
    for k, lab in enumerate(labels):
        m = d.loc[codes == k]
        if endpoint in KM_ENDPOINTS:
            est = km_milestones(m["time_months"], m["status"] == 1, at=at, conf_level=conf_level, conf_type=conf_type)
            est = est.rename(columns={"surv": "estimate"})
            estimator = "KM"
        else:
            est = cif_milestones(m["time_months"], m["status"], cause=1, at=at, conf_level=conf_level)
            est = est.rename(columns={"cif": "estimate"})
            estimator = "AJ"
        for r in est.itertuples():
            rows.append(
                {
                    "endpoint": endpoint,
                    "estimator": estimator,
                    "group": lab,
                    "months": r.time,
                    "n_risk": int(r.n_risk),
                    "estimate_pct": 100 * r.estimate,
                    "se_pct": 100 * r.std_err,
                    "lower_pct": 100 * r.lower,
                    "upper_pct": 100 * r.upper,
                }
            )
    out = pd.DataFrame(rows)
    out["estimate_pm"] = [format_pm(e, s) for e, s in zip(out["estimate_pct"], out["se_pct"])]
    return out


def at_risk_table(data: pd.DataFrame, endpoint: str, by: str | None = "cohort", at: Sequence[float] = (0, 12, 24, 36, 48, 60), cohorts=None) -> pd.DataFrame:
    """The table under a Kaplan-Meier plot, as data: ``"n at risk (cumulative events)"``.

    One row per group, one column per time (months); the same numbers as :func:`risk_table` and
    :func:`sle_nb_utils.survplot.plot_km` with ``risk_table_at=at``.
    """
    d = _select(data, endpoint, cohorts)
    rt = risk_table(d["time_months"], d["status"] == 1, at, group=None if by is None else d[by])
    rt["cell"] = rt["n_risk"].astype(str) + " (" + rt["n_event_cum"].astype(str) + ")"
    wide = rt.pivot(index="group", columns="time", values="cell")
    wide.columns = [f"{c:g} mo" for c in wide.columns]
    wide.index.name = "group"
    return wide.reset_index()


def logrank_summary(data: pd.DataFrame, endpoint: str, by: str, strata: str | None = None, cohorts=None) -> pd.DataFrame:
    """One-row log-rank test of ``endpoint`` between the groups of ``by`` (optionally stratified).

    Returns ``endpoint``, ``comparison`` (``"a vs b"``), ``strata``, ``n``, ``observed``,
    ``expected`` (per group, ``";"``-joined, rounded to 0.1), ``chisq``, ``df``, ``p``.
    """
    d = _select(data, endpoint, cohorts)
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("the log-rank test is for OS / DFS; use gray_summary for competing risks")
    lr = logrank_test(d["time_months"], d["status"] == 1, d[by], strata=None if strata is None else d[strata].astype(str))
    return pd.DataFrame(
        {
            "endpoint": [endpoint],
            "comparison": [" vs ".join(str(g) for g in lr["group"])],
            "strata": [strata or "none"],
            "n": [int(lr["n"].sum())],
            "observed": ["; ".join(f"{o:.0f}" for o in lr["observed"])],
            "expected": ["; ".join(f"{e:.1f}" for e in lr["expected"])],
            "chisq": [float(lr["chisq"].iloc[0])],
            "df": [int(lr["df"].iloc[0])],
            "p": [float(lr["p"].iloc[0])],
        }
    )


def median_table(data: pd.DataFrame, endpoint: str, by: str | None = "cohort", conf_level: float = 0.95, cohorts=None) -> pd.DataFrame:
    """Median time to event (months, log-log Brookmeyer-Crowley CI) and median follow-up by group.

    Follow-up is the reverse Kaplan-Meier of the OS rows (censoring as the event).  Returns
    ``endpoint``, ``group``, ``n``, ``n_event``, ``median``, ``lower``, ``upper`` (NaN = not
    reached), ``followup_median``, ``followup_lower``, ``followup_upper``, ``followup_min``,
    ``followup_max``.
    """
    d = _select(data, endpoint, cohorts)
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("median_table is for OS / DFS")
    grp = None if by is None else d[by]
    med = median_survival(d["time_months"], d["status"] == 1, group=grp, conf_level=conf_level)
    os_ = _select(data, "OS", cohorts)
    labels, codes = _groups(None if by is None else os_[by], len(os_))
    fu = []
    for k, lab in enumerate(labels):
        m = os_.loc[codes == k]
        f = median_followup(m["time_months"], m["status"] == 1, conf_level=conf_level).iloc[0]
        fu.append({"group": lab, "followup_median": f["median"], "followup_lower": f["lower"],
                   "followup_upper": f["upper"], "followup_min": f["min"], "followup_max": f["max"]})
    out = med.merge(pd.DataFrame(fu), on="group", how="left")
    out.insert(0, "endpoint", endpoint)
    return out


def rmst_table(data: pd.DataFrame, endpoint: str, tau: float = 60.0, by: str | None = "cohort", conf_level: float = 0.95, cohorts=None) -> pd.DataFrame:
    """Restricted mean survival time to ``tau`` months by group (:func:`rmst`).

    Adds ``max_followup`` and ``tau_within_followup``: where ``tau`` is beyond a group's last
    observed time the curve is carried flat to ``tau`` (as R ``rmean``), an extrapolation.
    """
    d = _select(data, endpoint, cohorts)
    grp = None if by is None else d[by]
    out = rmst(d["time_months"], d["status"] == 1, tau=tau, group=grp, conf_level=conf_level)
    mx = d.groupby(by)["time_months"].max() if by is not None else pd.Series({"all": d["time_months"].max()})
    out["max_followup"] = out["group"].map(mx).astype(float)
    out["tau_within_followup"] = out["max_followup"] >= tau
    out.insert(0, "endpoint", endpoint)
    return out


def competing_risks_table(data: pd.DataFrame, by: str | None = "cohort", at: Sequence[float] = DEFAULT_MILESTONES, cohorts=None) -> pd.DataFrame:
    """Relapse, non-relapse mortality and disease-free survival at milestones (percent).

    The three states of the stacked CIF figure: relapse incidence (REL, Aalen-Johansen), NRM
    (Aalen-Johansen) and DFS (Kaplan-Meier); at every time they add up to 100.  Returns
    ``group``, ``months``, ``n_risk``, ``relapse_pct``, ``relapse_se_pct``, ``nrm_pct``,
    ``nrm_se_pct``, ``dfs_pct``, ``dfs_se_pct``, ``total_pct``.
    """
    key = ["group", "months"]
    rel = milestone_table(data, "REL", by=by, at=at, cohorts=cohorts)
    nrm = milestone_table(data, "NRM", by=by, at=at, cohorts=cohorts)
    dfs = milestone_table(data, "DFS", by=by, at=at, cohorts=cohorts)
    out = rel[key + ["n_risk", "estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "relapse_pct", "se_pct": "relapse_se_pct"})
    out = out.merge(nrm[key + ["estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "nrm_pct", "se_pct": "nrm_se_pct"}), on=key)
    out = out.merge(dfs[key + ["estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "dfs_pct", "se_pct": "dfs_se_pct"}), on=key)
    out["total_pct"] = out["relapse_pct"] + out["nrm_pct"] + out["dfs_pct"]
    return out.sort_values(key).reset_index(drop=True)


def gray_summary(data: pd.DataFrame, endpoint: str = "REL", by: str = "cohort", strata: str | None = None, cohorts=None) -> pd.DataFrame:
    """Gray's test between the groups of ``by``, one row per cause, causes named from ``event_desc``."""
    d = _select(data, endpoint, cohorts)
    if endpoint not in CIF_ENDPOINTS:
        raise ValueError("Gray's test is for competing-risk endpoints (REL, NRM, TRM, CR)")
    g = gray_test(d["time_months"], d["status"], d[by], strata=None if strata is None else d[strata].astype(str))
    names = d.loc[d["status"] > 0].groupby("status")["event_desc"].first()
    g.insert(0, "event", g["cause"].map(names))
    g.insert(0, "comparison", " vs ".join(str(x) for x in np.unique(d[by])))
    g.insert(0, "endpoint", endpoint)
    return g


class CoxResult:
    """A Cox fit with its tidy tables: ``summary`` (:func:`cox_summary` with ``model`` and a readable
    ``label`` per term, see :data:`TERM_LABELS`) and ``zph`` (:func:`cox_zph`).

    Attributes: ``fit`` (lifelines CoxPHFitter), ``frame`` (the data it was fitted on), ``n``,
    ``n_event``, ``label``.
    """

    def __init__(self, fit, frame, label, conf_level):
        self.fit = fit
        self.frame = frame
        self.label = label
        self.n = len(frame)
        self.n_event = int(frame["event"].sum())
        s = cox_summary(fit, conf_level=conf_level)
        s.insert(1, "label", s["term"].map(TERM_LABELS).fillna(s["term"]))
        s.insert(0, "model", label)
        self.summary = s
        z = cox_zph(fit, frame)
        z.insert(0, "model", label)
        self.zph = z

    def __repr__(self) -> str:  # no addresses in notebook output
        return f"CoxResult({self.label!r}, n={self.n}, events={self.n_event})"


def cox_model(
    data: pd.DataFrame,
    endpoint: str,
    covariates: Sequence[str],
    cohorts=None,
    strata: str | None = None,
    label: str | None = None,
    conf_level: float = 0.95,
) -> CoxResult:
    """Cox model (Efron ties, :func:`cox_fit`) of one KM endpoint on :func:`endpoint_frame` columns.

    ``covariates`` name columns of :func:`endpoint_frame` (``hsct``, ``age_per_10_years``,
    ``nephritis``, ``female``, ``cd34_selected``); ``strata`` may be ``"cohort"`` (coded as
    integers).  Patients with a missing covariate are dropped.
    """
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("cox_model is for OS / DFS")
    f = endpoint_frame(data, endpoint, cohorts)
    cols = ["time", "event", *covariates]
    if strata is not None:
        f["stratum"] = pd.factorize(f[strata], sort=True)[0]
        cols.append("stratum")
    f = f[cols].dropna().reset_index(drop=True)
    fit = cox_fit(f, list(covariates), strata=None if strata is None else "stratum")
    return CoxResult(fit, f, label or endpoint, conf_level)


def fine_gray_model(data: pd.DataFrame, endpoint: str, covariates: Sequence[str], cohorts=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Fine-Gray regression (:func:`fine_gray`) of status 1 of a competing-risk endpoint.

    ``covariates`` name columns of :func:`endpoint_frame`; rows with a missing covariate are
    dropped.  Returns the fit's summary with ``endpoint``, ``n`` and ``n_event`` columns first and
    a readable ``label`` after ``term``.
    """
    if endpoint not in CIF_ENDPOINTS:
        raise ValueError("fine_gray_model is for competing-risk endpoints (REL, NRM, TRM, CR)")
    f = endpoint_frame(data, endpoint, cohorts)[["time", "status", *covariates]].dropna()
    fit = fine_gray(f["time"], f["status"], f[list(covariates)], cause=1, conf_level=conf_level)
    s = fit.summary.copy()
    s.insert(1, "label", s["term"].map(TERM_LABELS).fillna(s["term"]))
    s.insert(0, "n_event", int((f["status"] == 1).sum()))
    s.insert(0, "n", len(f))
    s.insert(0, "endpoint", endpoint)
    return s


def rounds_to(value, target, digits: int = 0) -> bool:
    """True when ``value`` rounds (half up) to ``target`` at ``digits`` decimals: the one rule by
    which a recomputed figure "matches" a published one at the published rounding."""
    if not (np.isfinite(value) and np.isfinite(target)):
        return False
    scale = 10.0**digits
    return bool(np.floor(value * scale + 0.5) == np.round(target * scale))


def published_comparison(data: pd.DataFrame, figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published 5-year figures of the HSCT series next to the values recomputed from ``data``.

    Takes every published figure whose ``measure`` is in :data:`PUBLISHED_MEASURES` with a time
    point (years); one row per cohort, measure and value (sources reporting the same value are
    joined).  ``pass`` is True when the recomputed estimate (and its SE, where one is published)
    rounds to the published value at the published rounding (whole percent).

    Returns
    -------
    pandas.DataFrame
        ``cohort``, ``measure``, ``endpoint``, ``months``, ``sources``, ``published``
        (``"81 ± 8%"``), ``recomputed`` (same form), ``estimate_pct``, ``se_pct``, ``pass``.
    """
    if figures is None:
        from . import published

        figures = published.figures()
    f = figures.loc[figures["measure"].isin(list(PUBLISHED_MEASURES)) & figures["timepoint_years"].notna()]
    f = f.loc[f["cohort"].isin(data["cohort"].unique())].copy()
    f["se_key"] = f["se_pct"].fillna(-1.0)
    grp = f.groupby(["cohort", "measure", "timepoint_years", "value_pct", "se_key"], sort=True)
    rows = []
    for (cohort, measure, years, value, se_key), g in grp:
        endpoint = PUBLISHED_MEASURES[measure]
        months = 12.0 * float(years)
        est = milestone_table(data, endpoint, by=None, at=[months], cohorts=cohort).iloc[0]
        se_pub = None if se_key < 0 else float(se_key)
        ok = rounds_to(est["estimate_pct"], value) and (se_pub is None or rounds_to(est["se_pct"], se_pub))
        se_shown = est["se_pct"] if se_pub is not None else None
        rows.append(
            {
                "cohort": cohort,
                "measure": measure,
                "endpoint": endpoint,
                "months": months,
                "sources": "; ".join(sorted(g["source_id"].unique())),
                "published": format_pm(float(value), se_pub),
                "recomputed": format_pm(est["estimate_pct"], se_shown),
                "estimate_pct": est["estimate_pct"],
                "se_pct": est["se_pct"],
                "pass": ok,
            }
        )
    order = {m: i for i, m in enumerate(PUBLISHED_MEASURES)}
    out = pd.DataFrame(rows)
    out = out.sort_values(["cohort", "measure"], key=lambda s: s.map(order) if s.name == "measure" else s)
    return out.reset_index(drop=True)


def trm_counts(data: pd.DataFrame, cohort: str = "hsct_burt2006", figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Treatment-related mortality counted two ways, from the data, next to the published figures.

    Rows: ``treatment-related deaths`` (TRM endpoint, status 1: deaths the source attributes to
    the treatment; compared with Burt 2006's 1/50) and ``deaths after mobilisation, before
    transplant`` (OS events of patients never transplanted; compared with the seed's 4 %).
    Columns ``count``, ``deaths``, ``patients``, ``pct``, ``published_pct``, ``published_by``, ``pass``.
    """
    if figures is None:
        from . import published

        figures = published.figures()
    pub = figures.loc[(figures["cohort"] == cohort) & (figures["measure"] == "treatment_related_mortality")]
    pub = pub.set_index("source_id")["value_pct"]
    trm = _select(data, "TRM", cohort)
    os_ = _select(data, "OS", cohort)
    n = len(os_)
    # each published figure with the count it stands for: Burt 2006 counts deaths it attributes to the
    # treatment (1/50, ITT); the seed's 4 % equals the deaths after mobilisation, before transplant
    counts = [
        ("treatment-related deaths", int((trm["status"] == 1).sum()), "burt2006"),
        ("deaths after mobilisation, before transplant",
         int(((os_["status"] == 1) & ~os_["transplanted"].astype(bool)).sum()), "sun_seed"),
    ]
    rows = []
    for label, k, source in counts:
        pct = 100.0 * k / n
        published_pct = float(pub.get(source, np.nan))
        rows.append({"count": label, "deaths": k, "patients": n, "pct": pct,
                     "published_pct": published_pct, "published_by": source if source in pub.index else "",
                     "pass": rounds_to(pct, published_pct)})
    return pd.DataFrame(rows)
