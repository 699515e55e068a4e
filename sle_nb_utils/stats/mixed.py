"""Linear mixed models for repeated measures: random intercept and slope by profiled REML.

Model (one row per patient ``i`` and visit ``j``)::

    y_ij = x_ij' beta + b_0i + b_1i t_ij + e_ij,    (b_0i, b_1i) ~ N(0, D),    e_ij ~ N(0, sigma^2)

:func:`fit_lmm` fits it by restricted maximum likelihood (REML) the way R's lme4 does (Bates et al.,
*J Stat Softw* 2015;67(1), "Fitting linear mixed-effects models using lme4", section 3.4):
``D = sigma^2 Lambda Lambda'`` with ``Lambda`` lower-triangular (the relative covariance factor,
``theta`` = its three entries, as ``getME(fit, "theta")``); ``beta`` and ``sigma^2`` are profiled out
and the REML criterion is minimised over ``theta`` alone.  Because every patient's random effects
are a 2 x 2 block, the criterion needs only per-patient sums (``Z_i'Z_i``, ``Z_i'X_i``, ``Z_i'y_i``)
computed once, and each evaluation is a handful of vectorised 2 x 2 operations over patients: no
sparse Cholesky, no loop over patients.  The estimates equal lme4's ``lmer(y ~ x + (t | id),
REML = TRUE)`` (fixed effects, their SEs and the variance components to 1e-4 or better; see
``tests/test_mixed.py`` and ``tests/reference/mixed_reference.R``).

:func:`fit_gls_ar1` is the sensitivity analysis with no random effects but serially correlated
residuals within a patient, ``corr(e_ij, e_ik) = phi^|t_ij - t_ik|`` (a continuous-time AR(1),
nlme's ``corCAR1(form = ~ t | id)``; with integer times it equals ``corAR1(form = ~ t | id)``), fitted
by REML as nlme's ``gls``.  The AR(1) inverse is bidiagonal, so the fit whitens the data in one
vectorised pass and profiles ``phi`` on a bounded interval.

:func:`fit_mixedlm_statsmodels` is the general path (any random-effects formula) through
statsmodels' ``MixedLM``; it is slower (21x lme4 at 10k patients x 10 visits) and is kept for
models the specialised fitter does not cover and as an independent check.

All three assume that missing visits are **missing at random** (MAR): given the observed values
and covariates, whether a visit is missing does not depend on the value that would have been seen.
Likelihood-based fits (REML) are then unbiased without imputation; GEE would need MCAR.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize

from ..errors import BadInputError
from ._validate import _numeric, design_matrix
from .results import ModelResult, warn_not_converged

__all__ = ["fit_lmm", "fit_gls_ar1", "fit_mixedlm_statsmodels", "LmmData", "lmm_data"]

_LOG2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------------
class LmmData:
    """Validated arrays of a mixed-model fit: response, fixed-effects design, groups and time.

    Attributes
    ----------
    y : ndarray (n,)
    X : ndarray (n, p), with the intercept as its first column
    terms : list of str
        ``"Intercept"`` and the fixed-effect terms (``"arm[MSCT]"``, ``"time:arm[MSCT]"``).
    codes : ndarray (n,) of int
        Group index of every row, 0 .. n_groups - 1 in sorted order of the group labels.
    groups : ndarray
        Sorted group labels.
    t : ndarray (n,)
        The random-slope covariate.
    """

    def __init__(self, y, X, terms, codes, groups, t, reference):
        self.y, self.X, self.terms = y, X, terms
        self.codes, self.groups, self.t = codes, groups, t
        self.reference = reference

    @property
    def n(self) -> int:
        return int(self.y.size)

    @property
    def n_groups(self) -> int:
        return int(self.groups.size)


def _finite(x, name: str) -> np.ndarray:
    a = _numeric(x, name)
    miss = np.isnan(a)
    if miss.any():
        raise BadInputError(f"{int(miss.sum())} missing value(s); drop those rows first (lme4 drops them "
                            "with na.omit)", column=name)
    bad = ~np.isfinite(a)
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} infinite value(s)", column=name)
    return a


def lmm_data(data: pd.DataFrame, y: str, fixed: Sequence[str], group: str, time: str | None,
             reference=None) -> LmmData:
    """Check a long frame and build the arrays of a mixed-model fit.

    ``fixed`` lists columns of ``data``; ``"a:b"`` adds the product of the (dummy-coded) columns of
    ``a`` and ``b``, as R's ``a:b``.  Categorical columns are coded against a reference level (the
    first sorted level, or ``reference[column]``).  An intercept is always included.
    """
    if not isinstance(data, pd.DataFrame):
        raise BadInputError("data must be a pandas DataFrame (long format: one row per subject and visit)")
    if len(data) == 0:
        raise BadInputError("data has no rows")
    fixed = list(fixed)
    need = [y, group] + ([time] if time is not None else [])
    mains = [f for f in fixed if ":" not in f]
    for f in fixed:
        if ":" in f:
            for part in f.split(":"):
                if part not in mains:
                    raise BadInputError(f"interaction {f!r} needs its main effect {part!r} in fixed", column=part)
    for c in need + mains:
        if c not in data.columns:
            raise BadInputError("not in the data", column=c)
    yv = _finite(data[y], y)
    g = data[group]
    if g.isna().any():
        raise BadInputError(f"{int(g.isna().sum())} missing label(s); every row needs a {group}", column=group)
    if g.dtype == object or isinstance(g.dtype, pd.CategoricalDtype):
        g = g.astype(str)
    codes, groups = pd.factorize(g, sort=True)  # hash-based: much faster than np.unique on text
    groups = np.asarray(groups)
    t = _finite(data[time], time) if time is not None else np.zeros(len(data))
    cols, terms = [np.ones(len(data))], ["Intercept"]
    ref = {}
    if mains:
        cov = data[mains]
        text = [c for c in mains if cov[c].dtype == object and
                pd.api.types.infer_dtype(cov[c], skipna=True) == "string"]
        if text:  # all-text columns as sorted categoricals: the same coding, without a per-value scan
            cov = cov.assign(**{c: pd.Categorical(cov[c]) for c in text})
        des = design_matrix(cov, reference=reference, check_rank=False)
        ref = des.reference
        # map each main effect to its design columns
        owner = {}
        for j, term in enumerate(des.terms):
            owner.setdefault(term.split("[")[0], []).append(j)
        for f in fixed:
            if ":" not in f:
                for j in owner[f]:
                    cols.append(des.X[:, j])
                    terms.append(des.terms[j])
            else:
                a, b = f.split(":", 1)
                for ja in owner[a]:
                    for jb in owner[b]:
                        cols.append(des.X[:, ja] * des.X[:, jb])
                        terms.append(f"{des.terms[ja]}:{des.terms[jb]}")
    X = np.column_stack(cols)
    _check_full_rank(X, terms)
    if groups.size < 2:
        raise BadInputError(f"has one group only ({groups[0]!r}): random effects need several", column=group)
    return LmmData(yv, X, terms, codes.astype(np.int64), groups, t, ref)


def _check_full_rank(X: np.ndarray, terms: list[str]) -> None:
    sd = X[:, 1:].std(axis=0)
    for j in np.flatnonzero(sd <= 1e-12 * np.maximum(np.abs(X[:, 1:]).max(axis=0), 1.0)):
        raise BadInputError("constant in every row: it cannot be estimated beside the intercept",
                            column=terms[j + 1])
    r = np.linalg.qr(X / np.maximum(np.abs(X).max(axis=0), 1e-300), mode="r")
    d = np.abs(np.diag(r))
    tol = 1e-9 * d.max() * math.sqrt(X.shape[0])
    for j in range(X.shape[1]):
        if d[j] <= tol:
            raise BadInputError(f"is collinear with {', '.join(repr(t) for t in terms[:j])}: it cannot be "
                                "estimated (R gives NA); drop it", column=terms[j])


# ------------------------------------------------------------------------------------------------
# the profiled REML criterion on per-patient 2 x 2 blocks
# ------------------------------------------------------------------------------------------------
class _Blocks:
    """Per-group sufficient statistics of the random-intercept-and-slope model."""

    def __init__(self, d: LmmData):
        G = d.n_groups
        c, t, X, y = d.codes, d.t, d.X, d.y
        p = X.shape[1]
        bc = np.bincount
        self.a11 = bc(c, minlength=G).astype(float)
        self.a12 = bc(c, weights=t, minlength=G)
        self.a22 = bc(c, weights=t * t, minlength=G)
        B = np.empty((G, 2, p))
        for k in range(p):
            B[:, 0, k] = bc(c, weights=X[:, k], minlength=G)
            B[:, 1, k] = bc(c, weights=X[:, k] * t, minlength=G)
        self.B = B
        self.B0 = np.ascontiguousarray(B[:, 0, :])  # Z_i'X_i rows, contiguous for fast products
        self.B1 = np.ascontiguousarray(B[:, 1, :])
        self.cy = np.stack([bc(c, weights=y, minlength=G), bc(c, weights=y * t, minlength=G)], axis=1)
        self.cy0 = np.ascontiguousarray(self.cy[:, 0])
        self.cy1 = np.ascontiguousarray(self.cy[:, 1])
        self.XtX = X.T @ X
        self.Xty = X.T @ y
        self.yty = float(y @ y)
        self.n, self.p = X.shape

    def solve(self, theta: np.ndarray, slope: bool):
        """Pieces of the profiled criterion at ``theta``: log|M|, X'V^-1X, X'V^-1y, y'V^-1y (V in
        units of sigma^2)."""
        if slope:
            l11, l21, l22 = theta
        else:
            l11, l21, l22 = theta[0], 0.0, 0.0
        a11, a12, a22 = self.a11, self.a12, self.a22
        # S = Lambda' A Lambda with Lambda = [[l11, 0], [l21, l22]]
        # Lambda' A = [[l11 a11 + l21 a12, l11 a12 + l21 a22], [l22 a12, l22 a22]]
        u11 = l11 * a11 + l21 * a12
        u12 = l11 * a12 + l21 * a22
        m11 = u11 * l11 + u12 * l21 + 1.0
        m12 = u12 * l22
        m22 = l22 * a22 * l22 + 1.0
        det = m11 * m22 - m12 * m12
        logdet = float(np.log(det).sum())
        # Lambda' B and Lambda' c
        B0, B1, cy0, cy1 = self.B0, self.B1, self.cy0, self.cy1
        G0 = l11 * B0 + l21 * B1
        G1 = l22 * B1
        g0 = l11 * cy0 + l21 * cy1
        g1 = l22 * cy1
        # M^-1 = [[m22, -m12], [-m12, m11]] / det
        i11, i12, i22 = m22 / det, -m12 / det, m11 / det
        H0 = i11[:, None] * G0 + i12[:, None] * G1
        H1 = i12[:, None] * G0 + i22[:, None] * G1
        h0 = i11 * g0 + i12 * g1
        h1 = i12 * g0 + i22 * g1
        XVX = self.XtX - (G0.T @ H0 + G1.T @ H1)
        XVy = self.Xty - (G0.T @ h0 + G1.T @ h1)
        yVy = self.yty - float(g0 @ h0 + g1 @ h1)
        return logdet, XVX, XVy, yVy

    def reml(self, theta: np.ndarray, slope: bool) -> float:
        """lme4's REML criterion (-2 x restricted log-likelihood) profiled over beta and sigma."""
        return self.reml_grad(theta, slope, grad=False)[0]

    def reml_grad(self, theta: np.ndarray, slope: bool, grad: bool = True):
        """The REML criterion and its gradient in ``theta``.

        With ``Gamma = Lambda Lambda'``, ``K_i = (I + A_i Gamma)^-1`` (``A_i = Z_i'Z_i``) and
        ``C = (X'V^-1X)^-1``, the derivative in ``Gamma`` is ``sum_i K_i A_i - U_i C U_i' -
        (n - p) / pwrss w_i w_i'`` with ``U_i = K_i Z_i'X_i`` and ``w_i = K_i Z_i'(y_i - X_i beta)``
        (``Z_i'V_i^-1 = K_i Z_i'``); the chain rule through ``Gamma = Lambda Lambda'`` gives
        ``2 G Lambda``.
        """
        logdet, XVX, XVy, yVy = self.solve(theta, slope)
        try:
            R = np.linalg.cholesky(XVX)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        z = np.linalg.solve(R, XVy)
        pwrss = yVy - float(z @ z)
        df = self.n - self.p
        if not pwrss > 0 or not np.isfinite(logdet):
            return np.inf, np.zeros_like(theta)
        crit = (logdet + 2.0 * float(np.log(np.diag(R)).sum())
                + df * (1.0 + math.log(2.0 * math.pi * pwrss / df)))
        if not grad:
            return crit, None
        if slope:
            l11, l21, l22 = theta
        else:
            l11, l21, l22 = theta[0], 0.0, 0.0
        Lam = np.array([[l11, 0.0], [l21, l22]])
        g11, g12, g22 = l11 * l11, l11 * l21, l21 * l21 + l22 * l22
        a11, a12, a22 = self.a11, self.a12, self.a22
        n11 = 1.0 + a11 * g11 + a12 * g12
        n12 = a11 * g12 + a12 * g22
        n21 = a12 * g11 + a22 * g12
        n22 = 1.0 + a12 * g12 + a22 * g22
        det = n11 * n22 - n12 * n21
        k11, k12, k21, k22 = n22 / det, -n12 / det, -n21 / det, n11 / det
        # sum_i K_i A_i
        P = np.array([[np.sum(k11 * a11 + k12 * a12), np.sum(k11 * a12 + k12 * a22)],
                      [np.sum(k21 * a11 + k22 * a12), np.sum(k21 * a12 + k22 * a22)]])
        C = np.linalg.inv(XVX)
        beta = C @ XVy
        B0, B1 = self.B0, self.B1
        U0 = k11[:, None] * B0 + k12[:, None] * B1
        U1 = k21[:, None] * B0 + k22[:, None] * B1
        U0C, U1C = U0 @ C, U1 @ C
        q01 = float(np.sum(U0C * U1))
        Q = np.array([[float(np.sum(U0C * U0)), q01], [q01, float(np.sum(U1C * U1))]])
        e0 = self.cy0 - B0 @ beta  # Z_i'(y_i - X_i beta)
        e1 = self.cy1 - B1 @ beta
        w0 = k11 * e0 + k12 * e1
        w1 = k21 * e0 + k22 * e1
        W = np.array([[w0 @ w0, w0 @ w1], [w0 @ w1, w1 @ w1]])
        Gm = P - Q - (df / pwrss) * W
        Gm = (Gm + Gm.T) / 2
        dL = 2.0 * Gm @ Lam
        g = np.array([dL[0, 0], dL[1, 0], dL[1, 1]]) if slope else np.array([dL[0, 0]])
        return crit, g


def _minimise(fun_grad, x0, bounds, tol):
    """L-BFGS-B with the analytic gradient from lme4's start; then Newton steps on the free
    coordinates with a finite-difference Hessian of the analytic gradient (projected on the
    bounds), so that ``theta`` is found to about ``tol``."""
    # L-BFGS-B to about 1e-6 in the gradient (tighter only spends line searches at the noise
    # floor of the criterion); the Newton steps below finish the job
    r = optimize.minimize(fun_grad, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                          options={"ftol": 1e-12, "gtol": 1e-6, "maxiter": 1000, "maxcor": 20})
    x = np.asarray(r.x, float)
    f, g = fun_grad(x)
    lo = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    n_iter = int(r.nit)
    converged = False
    for _ in range(20):
        free = ~((x <= lo + 1e-10) & (g > 0))
        if not free.any():
            converged = True
            break
        idx = np.flatnonzero(free)
        h = 1e-6 * np.maximum(1.0, np.abs(x))
        H = np.empty((idx.size, idx.size))
        for a, k in enumerate(idx):
            xp, xm = x.copy(), x.copy()
            xp[k] += h[k]
            xm[k] -= h[k]
            H[:, a] = (fun_grad(xp)[1][idx] - fun_grad(xm)[1][idx]) / (2 * h[k])
        H = (H + H.T) / 2
        try:
            ev = np.linalg.eigvalsh(H)
            if ev.min() <= 0:
                H = H + (abs(ev.min()) + 1e-6 * max(1.0, ev.max())) * np.eye(idx.size)
            step = np.linalg.solve(H, g[idx])
        except np.linalg.LinAlgError:
            break
        if np.max(np.abs(step)) < tol:
            converged = True
            break
        lam = 1.0
        while lam > 1e-6:
            xn = x.copy()
            xn[idx] = x[idx] - lam * step
            xn = np.maximum(xn, lo)
            fn, gn = fun_grad(xn)
            if fn <= f + 1e-12 * abs(f):
                break
            lam /= 2
        else:
            converged = np.max(np.abs(g[idx])) < 1e-4
            break
        n_iter += 1
        x, f, g = xn, fn, gn
    return x, float(f), n_iter, converged


def fit_lmm(data: pd.DataFrame, y: str, fixed: Sequence[str], group: str, time: str,
            random_slope: bool = True, reference=None, conf_level: float = 0.95,
            tol: float = 1e-9) -> ModelResult:
    """Linear mixed model with a random intercept (and slope in ``time``) per group, by REML.

    The same model as R ``lme4::lmer(y ~ fixed + (time | group), REML = TRUE)`` (or ``(1 | group)``
    with ``random_slope=False``), fitted on each group's 2 x 2 block (module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format: one row per subject and visit, no missing values in the columns used.
    y : str
        Response column.
    fixed : sequence of str
        Fixed-effect columns (an intercept is added); ``"a:b"`` adds an interaction, as in R.
    group : str
        Subject identifier (random effects per level).
    time : str
        Random-slope covariate (e.g. years since transplant).  Put it in ``fixed`` too for the mean
        slope, as ``y ~ time + (time | id)`` does.
    random_slope : bool
        False: random intercept only, ``(1 | group)``.
    reference : mapping, optional
        Reference level per categorical column.
    conf_level : float
        Level of the Wald intervals in ``summary``.
    tol : float
        Optimiser tolerance on ``theta``.

    Returns
    -------
    ModelResult
        ``params`` and ``cov`` are the fixed effects and ``sigma^2 (X'V^-1X)^-1`` (lme4's
        ``fixef`` and ``vcov``); ``n`` rows, ``n_events`` = number of groups; ``loglik`` =
        -REML criterion / 2.  ``extra``: ``theta`` (lme4's ``getME(fit, "theta")``), ``sigma``,
        ``sd_intercept``, ``sd_slope``, ``corr`` (lme4's ``VarCorr``), ``reml_criterion``,
        ``singular`` (lme4's ``isSingular``: a variance at 0 or a correlation of +-1),
        ``n_groups`` and ``var_components`` (a table: component, variance, sd, corr).
    """
    d = lmm_data(data, y, fixed, group, time if random_slope else None, reference)
    blocks = _Blocks(d)
    if random_slope:
        x0 = np.array([1.0, 0.0, 1.0])
        bounds = [(0.0, None), (None, None), (0.0, None)]
    else:
        x0 = np.array([1.0])
        bounds = [(0.0, None)]

    def fun_grad(th):
        return blocks.reml_grad(np.asarray(th, float), random_slope)

    theta, crit, n_iter, converged = _minimise(fun_grad, x0, bounds, tol)
    if not converged or not np.isfinite(crit):
        warn_not_converged("Linear mixed model (REML)", n_iter, "optimiser stopped before its tolerance")
        converged = False
    logdet, XVX, XVy, yVy = blocks.solve(theta, random_slope)
    beta = np.linalg.solve(XVX, XVy)
    df = blocks.n - blocks.p
    sigma2 = (yVy - float(beta @ XVy)) / df
    cov = sigma2 * np.linalg.inv(XVX)
    cov = (cov + cov.T) / 2
    if random_slope:
        l11, l21, l22 = theta
    else:
        l11, l21, l22 = theta[0], 0.0, 0.0
    D = sigma2 * np.array([[l11 * l11, l11 * l21], [l11 * l21, l21 * l21 + l22 * l22]])
    sd0 = math.sqrt(D[0, 0])
    sd1 = math.sqrt(D[1, 1])
    corr = D[0, 1] / (sd0 * sd1) if sd0 > 0 and sd1 > 0 else np.nan
    sigma = math.sqrt(sigma2)
    rows = [{"component": f"{group}: (Intercept)", "variance": D[0, 0], "sd": sd0, "corr": np.nan}]
    if random_slope:
        rows.append({"component": f"{group}: {time}", "variance": D[1, 1], "sd": sd1, "corr": corr})
    rows.append({"component": "Residual", "variance": sigma2, "sd": sigma, "corr": np.nan})
    extra = {
        "theta": np.asarray(theta, float), "sigma": sigma, "sd_intercept": sd0,
        "sd_slope": sd1 if random_slope else np.nan, "corr": corr if random_slope else np.nan,
        "reml_criterion": crit, "n_groups": d.n_groups, "var_components": pd.DataFrame(rows),
        # lme4's isSingular(): a diagonal entry of Lambda at (or within 1e-4 of) its bound of 0,
        # i.e. a random-effect variance of 0 or a correlation of +-1
        "singular": bool(np.any(np.asarray([l11, l22] if random_slope else [l11]) < 1e-4)),
        "df_resid": df, "method": "REML", "reference": d.reference,
        "formula": f"{y} ~ {' + '.join(fixed) if fixed else '1'} + ({time if random_slope else '1'} | {group})",
    }
    label = "Linear mixed model, random intercept" + (" and slope" if random_slope else "") + " (REML)"
    return ModelResult(label, d.terms, beta, cov, converged=converged, n_iter=n_iter, n=d.n,
                       n_events=d.n_groups, loglik=-crit / 2, ratio_name=None, conf_level=conf_level,
                       extra=extra)


# ------------------------------------------------------------------------------------------------
# GLS with continuous-time AR(1) residuals (nlme::gls + corCAR1), REML
# ------------------------------------------------------------------------------------------------
def fit_gls_ar1(data: pd.DataFrame, y: str, fixed: Sequence[str], group: str, time: str,
                reference=None, conf_level: float = 0.95) -> ModelResult:
    """Generalised least squares with AR(1) correlation within each group, by REML.

    ``corr(e_ij, e_ik) = phi ** |t_ij - t_ik|`` with ``0 <= phi < 1``: R ``nlme::gls(y ~ fixed,
    correlation = corCAR1(form = ~ time | group), method = "REML")``; with integer ``time`` (e.g.
    the visit's position in the schedule) this is ``corAR1(form = ~ time | group)`` with gaps for
    missed visits.  Rows are sorted by group and time internally; times must differ within a group.

    Returns
    -------
    ModelResult
        Fixed effects with ``sigma^2 (X*'X*)^-1`` as ``cov`` (nlme's ``vcov``); ``extra``:
        ``phi`` (nlme's ``coef(fit$modelStruct$corStruct, unconstrained = FALSE)``), ``sigma``,
        ``reml_loglik`` (nlme's ``logLik(fit)``), ``n_groups``.
    """
    d = lmm_data(data, y, fixed, group, time, reference)
    order = np.lexsort((d.t, d.codes))
    c, t, X, yv = d.codes[order], d.t[order], d.X[order], d.y[order]
    same = np.r_[False, c[1:] == c[:-1]]
    dt = np.r_[0.0, np.diff(t)]
    if (same & (dt <= 0)).any():
        k = int((same & (dt <= 0)).sum())
        raise BadInputError(f"{k} repeated time(s) within a {group}: AR(1) needs one row per time", column=time)
    dts = dt[same]
    idx = np.flatnonzero(same)
    n, p = X.shape
    df = n - p

    def whiten(phi):
        rho = np.power(phi, dts)
        s = np.sqrt(1.0 - rho * rho)
        ys = yv.copy()
        Xs = X.copy()
        ys[idx] = (yv[idx] - rho * yv[idx - 1]) / s
        Xs[idx] = (X[idx] - rho[:, None] * X[idx - 1]) / s[:, None]
        return ys, Xs, float(np.log(s).sum())  # log|R|^(1/2) = sum log s

    def neg_reml(phi):
        ys, Xs, half_logdet = whiten(phi)
        R = np.linalg.qr(Xs, mode="r")
        beta = np.linalg.lstsq(Xs, ys, rcond=None)[0]
        rss = float(((ys - Xs @ beta) ** 2).sum())
        # nlme's restricted log-likelihood (sigma profiled)
        ll = (-0.5 * df * (_LOG2PI + 1.0 + math.log(rss / df)) - half_logdet
              - float(np.log(np.abs(np.diag(R))).sum()))
        return -ll

    # bounded 1-d search on the unconstrained scale, then a golden-section polish
    res = optimize.minimize_scalar(lambda z: neg_reml(1.0 / (1.0 + math.exp(-z))), bounds=(-20, 20),
                                   method="bounded", options={"xatol": 1e-10, "maxiter": 500})
    phi = 1.0 / (1.0 + math.exp(-res.x))
    converged = bool(res.success)
    if not converged:
        warn_not_converged("GLS with AR(1) correlation (REML)", int(res.nfev), "bounded search stopped early")
    ys, Xs, half_logdet = whiten(phi)
    beta, *_ = np.linalg.lstsq(Xs, ys, rcond=None)
    rss = float(((ys - Xs @ beta) ** 2).sum())
    sigma2 = rss / df
    XtX = Xs.T @ Xs
    cov = sigma2 * np.linalg.inv(XtX)
    cov = (cov + cov.T) / 2
    ll = -neg_reml(phi)
    extra = {"phi": phi, "sigma": math.sqrt(sigma2), "reml_loglik": ll, "n_groups": d.n_groups,
             "df_resid": df, "method": "REML", "reference": d.reference,
             "formula": f"gls({y} ~ {' + '.join(fixed)}, corCAR1(~ {time} | {group}))"}
    return ModelResult("GLS, AR(1) within patient (REML)", d.terms, beta, cov, converged=converged,
                       n_iter=int(res.nfev), n=n, n_events=d.n_groups, loglik=ll, ratio_name=None,
                       conf_level=conf_level, extra=extra)


# ------------------------------------------------------------------------------------------------
# statsmodels: the general path
# ------------------------------------------------------------------------------------------------
def fit_mixedlm_statsmodels(data: pd.DataFrame, y: str, fixed: Sequence[str], group: str,
                            time: str | None = None, reference=None, conf_level: float = 0.95,
                            reml: bool = True) -> ModelResult:
    """The same model through statsmodels' ``MixedLM`` (general, slower path).

    Random intercept, plus a random slope in ``time`` when ``time`` is given (``re_formula
    "~time"``, unstructured 2 x 2 covariance).  Same input checks and result shape as
    :func:`fit_lmm`; convergence warnings of statsmodels are turned into ``converged=False`` plus
    one :class:`~sle_nb_utils.errors.ConvergenceWarning`.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergenceWarning

    d = lmm_data(data, y, fixed, group, time, reference)
    exog_re = np.column_stack([np.ones(d.n), d.t]) if time is not None else np.ones((d.n, 1))
    model = sm.MixedLM(d.y, d.X, groups=d.codes, exog_re=exog_re)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(reml=reml, method=["lbfgs", "bfgs", "cg"])
    bad = [w for w in caught if issubclass(w.category, SMConvergenceWarning)]
    converged = bool(getattr(res, "converged", True)) and not bad
    if not converged:
        warn_not_converged("statsmodels MixedLM", 0, "; ".join(str(w.message) for w in bad) or "not converged")
    p = d.X.shape[1]
    beta = np.asarray(res.fe_params, float)
    cov = np.asarray(res.cov_params())[:p, :p]
    sigma2 = float(res.scale)
    D = np.asarray(res.cov_re, float)
    sd0 = math.sqrt(D[0, 0])
    extra = {"sigma": math.sqrt(sigma2), "sd_intercept": sd0, "n_groups": d.n_groups,
             "reml_loglik" if reml else "loglik": float(res.llf), "reference": d.reference}
    if time is not None:
        extra["sd_slope"] = math.sqrt(D[1, 1])
        extra["corr"] = D[0, 1] / (sd0 * math.sqrt(D[1, 1])) if D[1, 1] > 0 and sd0 > 0 else np.nan
    return ModelResult("Linear mixed model (statsmodels MixedLM)", d.terms, beta, cov, converged=converged,
                       n_iter=0, n=d.n, n_events=d.n_groups, loglik=float(res.llf), ratio_name=None,
                       conf_level=conf_level, extra=extra)
