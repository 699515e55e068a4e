"""Kaplan-Meier, log-rank, median survival, reverse-KM follow-up, RMST and at-risk tables.

Pure estimators on arrays: nothing here knows about cohorts, ADaM tables or published figures (the
study layer is :mod:`sle_nb_utils.outcomes`); nothing prints or plots.  Every public function checks
its input through :mod:`sle_nb_utils.stats._validate`.

Conventions
-----------
- ``time`` is follow-up in **months** from day 0; finite and >= 0.
- ``event`` is 1 for the event and 0 for right censoring (booleans accepted; R's 1/2 coding is
  refused with a message).
- ``entry`` (optional, where supported) is the late-entry time (left truncation): a subject is at
  risk at t when entry < t <= exit, as in R ``Surv(entry, exit, event)``.
- At a tied time, events are counted before censorings (a subject censored at t is at risk at t),
  as in R ``survival``.

Every estimator is checked against R (``survival`` 3.5-3) in ``tests/test_survival.py``; the R
scripts and the values they wrote are in ``tests/reference/``.  The estimators use numpy only: the
calibration of the bundled synthetic data calls them thousands of times on 28-87 patients.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from ._validate import as_conf_level, as_entry, as_event, as_groups, as_time

__all__ = [
    "DEFAULT_MILESTONES",
    "kaplan_meier",
    "km_milestones",
    "km_surv_se_at",
    "logrank_test",
    "median_survival",
    "median_followup",
    "rmst",
    "risk_table",
]

#: Milestones of the tables, months (1-5 years).
DEFAULT_MILESTONES = (12, 24, 36, 48, 60)




def _counts(t: np.ndarray, *indicators: np.ndarray):
    """Unique sorted times, number at risk (time >= t) and per-time sums of each indicator."""
    ut, inv = np.unique(t, return_inverse=True)
    total = np.bincount(inv, minlength=ut.size)
    n_risk = t.size - np.concatenate(([0], np.cumsum(total)[:-1]))
    sums = [np.bincount(inv, weights=ind, minlength=ut.size) for ind in indicators]
    return ut, n_risk.astype(float), total.astype(float), sums


def _step_at(ut: np.ndarray, q: np.ndarray, *curves_and_starts):
    """Right-continuous step functions on the sorted times ``ut``, read at the times ``q``.

    ``curves_and_starts`` alternates a curve (one value per time of ``ut``) and its value before
    the first time (e.g. ``surv, 1.0, se, 0.0``).  Beyond the last time every curve is NaN (not
    estimable; R ``summary(survfit, times=)`` and ``cmprsk::timepoints`` drop or NaN such times).
    """
    idx = np.searchsorted(ut, q, side="right") - 1
    beyond = q > ut[-1]
    out = []
    for curve, start in zip(curves_and_starts[::2], curves_and_starts[1::2]):
        v = np.where(idx >= 0, np.asarray(curve)[np.maximum(idx, 0)], start)
        out.append(np.where(beyond, np.nan, v))
    return out


def _read_at(ut: np.ndarray, t, *curves_and_starts):
    """:func:`_step_at` at ``t``: floats when ``t`` is a scalar, arrays of its shape otherwise."""
    q = np.asarray(t, dtype=float)
    out = _step_at(ut, q, *curves_and_starts)
    return tuple(float(v) for v in out) if q.ndim == 0 else tuple(out)


def _entered_at_or_after(entry: np.ndarray | None, times: np.ndarray) -> np.ndarray:
    """Number of subjects whose late-entry time is >= each of ``times`` (not yet at risk there)."""
    if entry is None:
        return np.zeros(np.shape(times))
    se = np.sort(entry)
    return (se.size - np.searchsorted(se, times, side="left")).astype(float)


def _km_curve(n_risk: np.ndarray, n_event: np.ndarray):
    """S(t) and the Greenwood variance of log S(t) from risk-set and event counts per time."""
    with np.errstate(divide="ignore", invalid="ignore"):
        surv = np.cumprod(np.where(n_risk > 0, 1.0 - n_event / np.where(n_risk > 0, n_risk, 1.0), 1.0))
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    return surv, np.cumsum(term)


def _n_at_risk(t: np.ndarray, entry: np.ndarray | None, q: np.ndarray) -> np.ndarray:
    """Subjects at risk at each time of ``q``, as R ``summary(survfit, times=)``: the risk set of the
    first observed time >= q (time >= q; with late entry, also entry < that time); 0 beyond."""
    ut = np.unique(t)
    idx = np.searchsorted(ut, q, side="left")
    inside = idx < ut.size
    u = ut[np.minimum(idx, ut.size - 1)]
    st = np.sort(t)
    n = (st.size - np.searchsorted(st, u, side="left")).astype(float) - _entered_at_or_after(entry, u)
    return np.where(inside, n, 0.0).astype(np.int64)


def _km_entry_core(t: np.ndarray, e: np.ndarray, entry: np.ndarray | None):
    """As :func:`_km_core`, with the risk set reduced by late entry (entry < t <= exit)."""
    if entry is None:
        return _km_core(t, e)
    ut, n_risk, total, (n_event,) = _counts(t, e)
    n_risk = n_risk - _entered_at_or_after(entry, ut)
    surv, cumvar = _km_curve(n_risk, n_event)
    return ut, n_risk, n_event, total - n_event, surv, cumvar


def _group_frames(fn, group, n: int, *arrays, **kwargs) -> pd.DataFrame:
    """Run ``fn(*arrays_of_one_group, **kwargs)`` per group; one long table with ``group`` first."""
    labels, codes = as_groups(group, n)
    parts = []
    for k, lab in enumerate(labels):
        m = codes == k
        sub = [None if a is None else a[m] for a in arrays]
        out = fn(*sub, **kwargs)
        out.insert(0, "group", lab)
        parts.append(out)
    return pd.concat(parts, ignore_index=True)

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
            raise BadInputError(f"conf_type must be 'log-log', 'log' or 'plain', got {conf_type!r}")
        # R drops the interval where the SE is not finite (after S reached 0)
        bad = ~np.isfinite(sigma)
    return np.where(bad, np.nan, lower), np.where(bad, np.nan, upper)


def kaplan_meier(time, event, group=None, entry=None, conf_level: float = 0.95,
                 conf_type: str = "log-log") -> pd.DataFrame:
    """Kaplan-Meier estimate of the survival function with Greenwood standard errors.

    Parameters
    ----------
    time : array-like of float
        Follow-up in months (>= 0).
    event : array-like of {0, 1}
        1 = event, 0 = right-censored.
    group : array-like, optional
        One curve per group: the table gets a ``group`` column first and is sorted by group.
    entry : array-like of float, optional
        Late-entry (left-truncation) times, < ``time``: a subject is at risk at t when
        entry < t <= time, as in R ``survfit(Surv(entry, time, event) ~ 1)``.
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
        ``time`` (months), ``n_risk`` (subjects with time >= t, and entry < t), ``n_event``,
        ``n_censor``,
        ``surv`` (S(t), right-continuous), ``std_err`` (Greenwood SE of S(t), i.e.
        ``S(t) * sqrt(sum d / (n (n - d)))``, the ``std.err`` column of R ``summary(survfit)``),
        ``lower``, ``upper``.  After S(t) reaches 0, ``std_err`` is ``inf`` in the formula and
        ``lower``/``upper`` are NaN, as in R.

    Notes
    -----
    Kaplan EL, Meier P. JASA 1958;53:457-81.  Greenwood M. Reports on Public Health and Medical
    Subjects 33, 1926.  Matches R ``summary(survfit(Surv(time, event) ~ 1), censored=TRUE)`` to
    1e-12 and lifelines ``KaplanMeierFitter``; with ``entry``, R ``Surv(entry, time, event)``.
    """
    t = as_time(time)
    e = as_event(event, t.size)
    en = as_entry(entry, t)
    if group is not None:
        return _group_frames(lambda a, b, c: kaplan_meier(a, b, entry=c, conf_level=conf_level,
                                                          conf_type=conf_type), group, t.size, t, e, en)
    z = as_conf_level(conf_level)
    ut, n_risk, n_event, n_censor, surv, cumvar = _km_entry_core(t, e, en)
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
    tt = as_time(time)
    ee = as_event(event, tt.size).astype(float)
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
    return _read_at(ut, t, surv, 1.0, se, 0.0)


def km_milestones(
    time,
    event,
    at: Sequence[float] = DEFAULT_MILESTONES,
    group=None,
    entry=None,
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
    group, entry :
        As in :func:`kaplan_meier`: one block of rows per group (``group`` column first); late entry.
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
    t = as_time(time)
    e = as_event(event, t.size)
    en = as_entry(entry, t)
    if group is not None:
        return _group_frames(lambda a, b, c: km_milestones(a, b, at=at, entry=c, conf_level=conf_level,
                                                           conf_type=conf_type), group, t.size, t, e, en)
    z = as_conf_level(conf_level)
    q = np.sort(np.asarray(at, dtype=float).ravel())
    ut, n_risk, n_event, n_censor, surv, cumvar = _km_entry_core(t, e, en)
    s, v = _step_at(ut, q, surv, 1.0, cumvar, 0.0)
    sigma = np.sqrt(v)
    lower, upper = _km_ci(s, sigma, z, conf_type)
    with np.errstate(invalid="ignore"):
        se = s * sigma
    nr = _n_at_risk(t, en, q)
    return pd.DataFrame(
        {"time": q, "n_risk": nr.astype(np.int64), "surv": s, "std_err": se, "lower": lower, "upper": upper}
    )


# ---------------------------------------------------------------------------------------------
# groups, log-rank, medians, RMST, at-risk tables
# ---------------------------------------------------------------------------------------------


def logrank_test(time, event, group, strata=None, entry=None) -> pd.DataFrame:
    """Log-rank test comparing survival between groups (optionally stratified).

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    group : array-like
        Group labels (two or more groups).
    strata : array-like, optional
        Stratum labels: observed minus expected and its variance are summed over strata.
    entry : array-like of float, optional
        Late-entry (left-truncation) times: a subject is in the risk sets of times t with
        entry < t <= time.  (R's ``survdiff`` takes right-censored data only; with late entry the
        test equals the score test of ``coxph(Surv(entry, time, event) ~ group, ties="breslow")``
        when no event times are tied, which is how it is checked.)

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
    t = as_time(time)
    e = as_event(event, t.size)
    en = as_entry(entry, t)
    labels, g = as_groups(group, t.size, min_levels=2)
    _, st = as_groups(strata, t.size, name="strata")
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
        if en is not None:  # late entry: not yet at risk where entry >= t
            ens = en[m]
            for k in range(ng):
                nrisk[:, k] -= _entered_at_or_after(ens[gs == k], ut)
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
    if obs.sum() == 0:
        raise BadInputError("no events: the log-rank test has nothing to compare", column="event")
    ok = exp_ > 0
    df = int(ok.sum()) - 1
    if df < 1:
        raise BadInputError("only one group has subjects at risk at the event times; the log-rank test "
                            "needs two (R: 'There is only 1 group')", column="group")
    diff = (obs - exp_)[ok][1:]
    vv = var[np.ix_(ok, ok)][1:, 1:]
    chisq = float(diff @ np.linalg.solve(vv, diff))
    p = float(stats.chi2.sf(chisq, df))
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
    t = as_time(time)
    e = as_event(event, t.size)
    labels, g = as_groups(group, t.size)
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
    t = as_time(time)
    e = as_event(event, t.size)
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
    t = as_time(time)
    e = as_event(event, t.size)
    labels, g = as_groups(group, t.size)
    z = as_conf_level(conf_level)
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
    t = as_time(time)
    e = as_event(event, t.size)
    labels, g = as_groups(group, t.size)
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


