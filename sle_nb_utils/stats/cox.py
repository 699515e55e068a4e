"""Cox proportional-hazards regression and the ``cox.zph`` test of proportional hazards.

Placeholder backed by lifelines (Efron ties, strata) with the final API; our own Newton-Raphson
fitter (Efron / Breslow, strata, robust / cluster SE, late entry) replaces the internals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from ._validate import as_event, as_groups, as_time, design_matrix
from .results import ModelResult, warn_not_converged
from .survival import _km_core

__all__ = ["cox_fit", "cox_zph", "CoxResult"]

#: lifelines fit options that make CoxPHFitter match R coxph coefficients to about 1e-10.
_LIFELINES_OPTIONS = {"precision": 1e-12, "r_precision": 0.0}


class CoxResult(ModelResult):
    """A fitted Cox model (:class:`~sle_nb_utils.stats.results.ModelResult`) with what
    :func:`cox_zph` needs: ``time``, ``event``, ``X``, ``strata`` (codes), ``linear_predictor``."""


def _strata_codes(data: pd.DataFrame, strata) -> np.ndarray:
    if strata is None:
        return np.zeros(len(data), dtype=np.int64)
    cols = [strata] if isinstance(strata, str) else list(strata)
    key = data[cols].astype(str).agg("\x1f".join, axis=1)
    return as_groups(key, len(data), name=", ".join(cols))[1]


def cox_fit(data: pd.DataFrame, covariates: Sequence[str], *, time: str = "time", event: str = "event",
            entry: str | None = None, strata=None, weights: str | None = None, cluster: str | None = None,
            robust: bool = False, ties: str = "efron", reference=None, conf_level: float = 0.95,
            max_iter: int = 30, tol: float = 1e-9) -> CoxResult:
    """Cox model (Efron ties) of ``event`` on ``covariates``; see the module docstring."""
    from lifelines import CoxPHFitter

    if entry is not None or weights is not None or cluster is not None or robust or ties != "efron":
        raise NotImplementedError("entry, weights, cluster, robust and Breslow ties come with the own fitter")
    t = as_time(data[time], name=time)
    e = as_event(data[event], t.size, name=event)
    if e.sum() == 0:
        raise BadInputError("no events: a Cox model cannot be fitted", column=event)
    design = design_matrix(data[list(covariates)], n=t.size, reference=reference)
    st = _strata_codes(data, strata)
    df = pd.DataFrame(design.X, columns=[f"x{j}" for j in range(design.X.shape[1])])
    df["_t"], df["_e"] = t, e
    if strata is not None:
        df["_s"] = st
    cph = CoxPHFitter()
    cph.fit(df, duration_col="_t", event_col="_e", strata=["_s"] if strata is not None else None,
            fit_options=dict(_LIFELINES_OPTIONS))
    beta = cph.params_.to_numpy(dtype=float)
    cov = cph.variance_matrix_.to_numpy(dtype=float)
    res = CoxResult("Cox (Efron)", design.terms, beta, cov, converged=True, n_iter=0, n=t.size,
                    n_events=int(e.sum()), loglik=float(cph.log_likelihood_), ratio_name="hr",
                    conf_level=conf_level)
    res.time, res.event, res.X, res.strata = t, e, design.X, st
    res.linear_predictor = design.X @ beta
    res.design = design
    res.spec = {"time": time, "event": event, "covariates": list(covariates), "strata": strata,
                "reference": reference}
    return res


def _same_data(fit: CoxResult, data: pd.DataFrame) -> bool:
    """True when ``data`` holds the fitted rows: same time, event, covariates and strata."""
    spec = fit.spec
    try:
        if len(data) != fit.time.size:
            return False
        t = as_time(data[spec["time"]], name=spec["time"])
        e = as_event(data[spec["event"]], t.size, name=spec["event"])
        X = design_matrix(data[spec["covariates"]], n=t.size, reference=spec["reference"], check_rank=False).X
    except (KeyError, BadInputError):
        return False
    return (np.array_equal(t, fit.time) and np.array_equal(e, fit.event) and X.shape == fit.X.shape
            and np.array_equal(X, fit.X) and np.array_equal(_strata_codes(data, spec["strata"]), fit.strata))
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


def cox_zph(fit: CoxResult, data: pd.DataFrame | None = None, transform: str = "km") -> pd.DataFrame:
    """Test of proportional hazards on scaled Schoenfeld residuals (score test, R ``cox.zph``).

    For each covariate, the score test of adding ``x * g(t)`` to the fitted model, where g is the
    time transform; GLOBAL tests all of them together.  Equals ``cox.zph(fit, transform=...)$table``
    of R survival 3.x (the score-test form introduced in survival 3.0), Efron ties, strata allowed.

    Parameters
    ----------
    fit : CoxResult
        From :func:`cox_fit`; the data are taken from the fit.
    data : pandas.DataFrame, optional
        Accepted only as a check: a frame whose time / event / covariates differ from the fitted
        data raises (R takes the data from the fit too).
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
    time, event, X = fit.time, fit.event.astype(float), fit.X
    if data is not None and not _same_data(fit, data):
        raise BadInputError("cox_zph: these data are not the data of the fit; call cox_zph(fit), which "
                            "takes them from the fit")
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
        raise BadInputError("transform must be 'km', 'identity', 'log' or 'rank'")
    gtime = ttimes - ttimes[event == 1].mean()
    beta = fit.params.to_numpy()
    u, imat = _zph_score(time, event, X, X @ beta, fit.strata, gtime)
    p = beta.size
    rows = []
    for j in range(p):
        kk = list(range(p)) + [p + j]
        uu = np.concatenate((np.zeros(p), [u[p + j]]))
        stat = float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        rows.append({"term": fit.terms[j], "chisq": stat, "df": 1, "p": float(stats.chi2.sf(stat, 1))})
    uu = np.concatenate((np.zeros(p), u[p:]))
    stat = float(uu @ np.linalg.solve(imat, uu))
    rows.append({"term": "GLOBAL", "chisq": stat, "df": p, "p": float(stats.chi2.sf(stat, p))})
    return pd.DataFrame(rows)
