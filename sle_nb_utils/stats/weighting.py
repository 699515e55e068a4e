"""Propensity scores, inverse-probability-of-treatment weights, balance, and MAIC weights.

Pure estimators on arrays (or a frame plus column names): nothing here knows about cohorts or
published figures (the study layer is :mod:`sle_nb_utils.comparison`).  Inputs are checked at the
door (:mod:`sle_nb_utils.stats._validate`); errors are :class:`sle_nb_utils.errors.BadInputError`
naming the column.

What is here
------------
- :func:`propensity_model`: logistic regression of a binary treatment on covariates (statsmodels
  ``Logit``), returned as a :class:`~sle_nb_utils.stats.results.ModelResult` whose
  ``extra["ps"]`` holds the fitted propensity scores P(treated | covariates).
- :func:`iptw_weights`: inverse-probability-of-treatment weights for the ATE (optionally
  stabilised by the marginal treatment probabilities, Robins, Hernan & Brumback 2000) or the ATT.
- :func:`ps_trim`, :func:`truncate_weights`: the two usual sensitivity analyses (dropping patients
  with extreme scores, Crump et al. 2009 / Sturmer et al. 2010; capping weights at percentiles,
  Cole & Hernan 2008).
- :func:`kish_ess`: Kish's effective sample size ``(sum w)^2 / sum w^2``.
- :func:`weighted_smd`: standardised mean differences before / after weighting (Austin & Stuart,
  Stat Med 2015;34:3661-79).
- :func:`maic_weights`: matching-adjusted indirect comparison weights by the method of moments
  (Signorovitch et al., Value Health 2010;13:940-7; Phillippo et al., NICE DSU TSD 18, 2016).
- :func:`weighted_kaplan_meier`: the Kaplan-Meier estimate with case weights and the robust
  (infinitesimal-jackknife) or Greenwood SE (R ``survfit(..., weights=, robust=)``), for IPTW- or
  MAIC-weighted curves.

Worked examples that the tests check by hand are in ``tests/test_weighting.py``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import BadInputError, ConvergenceWarning
from ._validate import as_conf_level, as_event, as_groups, as_time, design_matrix
from .results import ModelResult
from .survival import _km_ci

__all__ = [
    "propensity_model",
    "iptw_weights",
    "ps_trim",
    "truncate_weights",
    "kish_ess",
    "weighted_smd",
    "maic_weights",
    "MaicResult",
    "weighted_kaplan_meier",
]


# --------------------------------------------------------------------------------------------
# input checks specific to weighting (they raise the contract's BadInputError)
# --------------------------------------------------------------------------------------------
def _as_treatment(x, n: int | None = None, name: str = "treatment", treated=None) -> np.ndarray:
    """A binary treatment as int 0/1.  0/1 and booleans as they are; two text labels need ``treated``."""
    labels, codes = as_groups(x, len(x) if n is None else n, name=name, min_levels=2)
    if labels.size != 2:
        raise BadInputError(f"has {labels.size} levels {list(labels)[:5]}; a treatment needs exactly two",
                            column=name)
    if treated is None:
        if set(np.asarray(labels).tolist()) <= {0, 1, True, False, 0.0, 1.0}:
            return codes.astype(np.int64)
        raise BadInputError(f"has the levels {list(labels)}; say which one is treated (treated=...)",
                            column=name)
    if treated not in list(labels):
        raise BadInputError(f"treated level {treated!r} is not among its levels {list(labels)}", column=name)
    return (np.asarray(x, dtype=object) == treated).astype(np.int64)


def _as_weights(w, n: int | None = None, name: str = "weights", allow_zero: bool = False) -> np.ndarray:
    arr = np.asarray(w, dtype=float).ravel()
    if n is not None and arr.size != n:
        raise BadInputError(f"has length {arr.size}, expected {n}", column=name)
    bad = ~np.isfinite(arr)
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} missing or infinite value(s)", column=name)
    neg = (arr < 0) if allow_zero else (arr <= 0)
    if neg.any():
        raise BadInputError(f"{int(neg.sum())} value(s) {'< 0' if allow_zero else '<= 0'}; weights must be "
                            f"{'>= 0' if allow_zero else '> 0'}", column=name)
    if arr.size == 0 or arr.sum() <= 0:
        raise BadInputError("no positive weight", column=name)
    return arr


def _as_ps(ps, n: int | None = None, name: str = "ps") -> np.ndarray:
    p = np.asarray(ps, dtype=float).ravel()
    if n is not None and p.size != n:
        raise BadInputError(f"has length {p.size}, expected {n}", column=name)
    bad = ~np.isfinite(p) | (p <= 0) | (p >= 1)
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} value(s) outside (0, 1); a propensity score of 0 or 1 means "
                            "no overlap (trim those patients or drop the covariate that separates them)",
                            column=name)
    return p


# --------------------------------------------------------------------------------------------
# propensity score
# --------------------------------------------------------------------------------------------
def propensity_model(data: pd.DataFrame, treatment: str, covariates: Sequence[str], *, treated=None,
                     reference=None, conf_level: float = 0.95, max_iter: int = 100) -> ModelResult:
    """Logistic-regression propensity score P(treated | covariates) (statsmodels ``Logit``, Newton).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per patient.
    treatment : str
        Column with a binary treatment (0/1, boolean, or two labels with ``treated`` naming one).
    covariates : sequence of str
        Numeric, boolean or categorical columns (categorical ones are dummy-coded as in R).
        Missing values are an error that names the column: decide on complete cases or imputation
        before weighting.
    treated : optional
        The treated level when ``treatment`` holds labels (e.g. ``"HSCT"``).
    reference : dict, optional
        Categorical covariate -> reference level.
    conf_level : float
        Level of the Wald intervals of the summary (odds ratios, ``ratio_name="or"``).
    max_iter : int
        Newton iterations.

    Returns
    -------
    ModelResult
        ``model="Logistic propensity score"``, terms ``Intercept`` plus the design terms;
        ``extra["ps"]`` = fitted probabilities (numpy array, data order), ``extra["treated"]`` =
        the 0/1 treatment, ``extra["linear_predictor"]``.  Converged is False (with a
        :class:`~sle_nb_utils.errors.ConvergenceWarning`) when statsmodels stops early or the
        covariates separate the arms (scores of 0 or 1: no overlap).

    Notes
    -----
    Rosenbaum PR, Rubin DB. Biometrika 1983;70:41-55.  Matches R ``glm(family = binomial)``
    (the same maximum-likelihood fit; a saturated one-binary-covariate model returns the treated
    share of each covariate level, checked by hand in the tests).
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import ConvergenceWarning as SMConvergence
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    if treatment not in data.columns:
        raise BadInputError("column not found", column=treatment)
    missing = [c for c in covariates if c not in data.columns]
    if missing:
        raise BadInputError("column not found", column=", ".join(missing))
    t = _as_treatment(data[treatment], len(data), treatment, treated)
    design = design_matrix(data[list(covariates)], len(data), reference=reference)
    X = np.column_stack([np.ones(len(data)), design.X])
    terms = ["Intercept", *design.terms]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            res = sm.Logit(t, X).fit(method="newton", maxiter=max_iter, disp=False)
        except np.linalg.LinAlgError as exc:  # singular Hessian: separation
            raise BadInputError(f"the propensity model cannot be fitted ({exc}); a covariate separates the "
                                "arms (no overlap)", column=", ".join(covariates)) from exc
    converged = bool(res.mle_retvals.get("converged", False))
    sep = any(issubclass(w.category, PerfectSeparationWarning) for w in caught)
    ps = np.asarray(res.predict(X), dtype=float)
    eps = 1e-10
    if sep or (ps.min() < eps) or (ps.max() > 1 - eps):
        converged = False
    if not converged or any(issubclass(w.category, SMConvergence) for w in caught):
        warnings.warn("propensity model did not converge or the covariates separate the arms (scores of 0 or 1: "
                      "no overlap); converged=False", ConvergenceWarning, stacklevel=2)
        converged = False
    try:
        cov = np.asarray(res.cov_params(), dtype=float)
    except (np.linalg.LinAlgError, ValueError):
        cov = np.full((len(terms), len(terms)), np.nan)
    return ModelResult("Logistic propensity score", terms, res.params, cov, converged=converged,
                       n_iter=int(res.mle_retvals.get("iterations", 0)), n=len(t), n_events=int(t.sum()),
                       loglik=float(res.llf), loglik_null=float(res.llnull), ratio_name="or",
                       conf_level=conf_level,
                       extra={"ps": ps, "treated": t, "linear_predictor": X @ np.asarray(res.params)})


# --------------------------------------------------------------------------------------------
# IPTW
# --------------------------------------------------------------------------------------------
def iptw_weights(treatment, ps, *, estimand: str = "ATE", stabilized: bool = True, treated=None) -> np.ndarray:
    """Inverse-probability-of-treatment weights.

    Parameters
    ----------
    treatment : array-like
        Binary treatment (0/1, boolean, or labels with ``treated``).
    ps : array-like of float
        Propensity scores P(treated | covariates), strictly inside (0, 1).
    estimand : {"ATE", "ATT"}
        ATE: treated ``1/ps``, untreated ``1/(1-ps)``.  ATT: treated 1, untreated ``ps/(1-ps)``.
    stabilized : bool
        ATE only: multiply by the marginal probability of the arm received, ``P(T=1)`` for the
        treated and ``P(T=0)`` for the untreated, so the weights sum to about n in each arm
        (Robins, Hernan & Brumback, Epidemiology 2000;11:550-60; Xu et al., Value Health 2010).
        Stabilising does not change the weighted means, only the spread of the weights (and so
        model-based variances).

    Returns
    -------
    numpy.ndarray
        One weight per patient, in input order.
    """
    ps = _as_ps(ps)
    t = _as_treatment(treatment, ps.size, "treatment", treated)
    estimand = str(estimand).upper()
    if estimand == "ATE":
        w = np.where(t == 1, 1.0 / ps, 1.0 / (1.0 - ps))
        if stabilized:
            p1 = t.mean()
            w = w * np.where(t == 1, p1, 1.0 - p1)
        return w
    if estimand == "ATT":
        return np.where(t == 1, 1.0, ps / (1.0 - ps))
    raise BadInputError(f"estimand must be 'ATE' or 'ATT', not {estimand!r}")


def ps_trim(ps, alpha: float = 0.1) -> np.ndarray:
    """Keep-mask of patients whose propensity score lies in ``[alpha, 1 - alpha]``.

    The rule of thumb of Crump et al. (Biometrika 2009;96:187-99) is ``alpha = 0.1``; trimming
    changes the target population (to those with overlap), which the notebook must say.
    """
    p = np.asarray(ps, dtype=float).ravel()
    if not 0 <= alpha < 0.5:
        raise BadInputError(f"alpha must be in [0, 0.5), got {alpha!r}")
    if np.isnan(p).any():
        raise BadInputError(f"{int(np.isnan(p).sum())} missing value(s)", column="ps")
    return (p >= alpha) & (p <= 1 - alpha)


def truncate_weights(w, lower: float = 0.01, upper: float = 0.99) -> np.ndarray:
    """Cap weights at their ``lower`` and ``upper`` quantiles (Cole & Hernan, AJE 2008;168:656-64).

    Quantiles are numpy's default (linear interpolation, R ``quantile(type = 7)``).
    """
    w = _as_weights(w)
    if not 0 <= lower < upper <= 1:
        raise BadInputError(f"need 0 <= lower < upper <= 1, got {lower!r}, {upper!r}")
    lo, hi = np.quantile(w, [lower, upper])
    return np.clip(w, lo, hi)


def kish_ess(w) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum(w^2)`` (Kish 1965, *Survey Sampling*).

    Equal weights give n; the more variable the weights, the smaller the ESS.  Zero weights are
    allowed (they count as dropped patients).
    """
    w = _as_weights(w, allow_zero=True)
    return float(w.sum() ** 2 / np.sum(w**2))


def _wmean_var(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted mean and the unbiased (reliability-weights) variance; equals the sample variance
    (ddof = 1) when all weights are equal."""
    sw = w.sum()
    m = float(np.sum(w * x) / sw)
    denom = sw - np.sum(w**2) / sw
    var = float(np.sum(w * (x - m) ** 2) / denom) if denom > 0 else np.nan
    return m, var


def weighted_smd(data: pd.DataFrame, treatment: str, covariates: Sequence[str], weights=None, *,
                 treated=None, binary: Sequence[str] | None = None, sd: str = "unweighted") -> pd.DataFrame:
    """Standardised mean differences (treated minus untreated) before and after weighting.

    Parameters
    ----------
    data : pandas.DataFrame
    treatment : str
        Binary treatment column (0/1, boolean or labels with ``treated``).
    covariates : sequence of str
        Numeric or boolean columns (encode categories as 0/1 columns first).  Rows with a missing
        value in a covariate are left out of that covariate's SMD (``n_used``).
    weights : array-like, optional
        Case weights (e.g. IPTW); None = unweighted only.
    binary : sequence of str, optional
        Covariates to treat as binary (default: booleans and columns with only 0/1 values).
    sd : {"unweighted", "weighted"}
        Denominator of the weighted SMD.  ``"unweighted"`` (default) uses the pooled SD of the
        unweighted sample in both columns, so that the SMD changes only through the means (Austin &
        Stuart 2015; R cobalt's default); ``"weighted"`` uses the pooled weighted SDs.

    Returns
    -------
    pandas.DataFrame
        One row per covariate (input order): ``covariate``, ``kind`` (``binary``/``continuous``),
        ``n_used``, ``mean_treated``, ``mean_control``, ``smd`` (unweighted) and, with weights,
        ``wmean_treated``, ``wmean_control``, ``smd_weighted``.

    Notes
    -----
    Continuous: ``(m1 - m0) / sqrt((s1^2 + s0^2) / 2)`` with sample variances; binary:
    ``(p1 - p0) / sqrt((p1 (1 - p1) + p0 (1 - p0)) / 2)``, as tableone (Yang & Dalton, SAS Global
    Forum 2012) computes them.  Weighted variances use reliability weights,
    ``sum w (x - m)^2 / (sum w - sum w^2 / sum w)``.
    """
    if treatment not in data.columns:
        raise BadInputError("column not found", column=treatment)
    t = _as_treatment(data[treatment], len(data), treatment, treated)
    w = None if weights is None else _as_weights(weights, len(data), "weights", allow_zero=True)
    if sd not in ("unweighted", "weighted"):
        raise BadInputError(f"sd must be 'unweighted' or 'weighted', not {sd!r}")
    rows = []
    for c in covariates:
        if c not in data.columns:
            raise BadInputError("column not found", column=c)
        s = data[c]
        if s.dtype == bool or str(s.dtype) == "boolean":
            s = s.astype("Float64")
        x = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        if (np.isnan(x) & s.notna().to_numpy()).any():
            raise BadInputError("non-numeric values; encode categories as 0/1 columns first", column=c)
        ok = ~np.isnan(x)
        is_bin = (c in binary) if binary is not None else bool(np.isin(x[ok], [0.0, 1.0]).all())
        x1, x0 = x[ok & (t == 1)], x[ok & (t == 0)]
        if x1.size == 0 or x0.size == 0:
            raise BadInputError("no observed value in one of the arms", column=c)
        one = np.ones
        m1, v1 = _wmean_var(x1, one(x1.size))
        m0, v0 = _wmean_var(x0, one(x0.size))
        if is_bin:
            v1, v0 = m1 * (1 - m1), m0 * (1 - m0)
        sd_u = np.sqrt((v1 + v0) / 2)
        row = {"covariate": c, "kind": "binary" if is_bin else "continuous", "n_used": int(ok.sum()),
               "mean_treated": m1, "mean_control": m0, "smd": (m1 - m0) / sd_u if sd_u > 0 else np.nan}
        if w is not None:
            w1, w0 = w[ok & (t == 1)], w[ok & (t == 0)]
            wm1, wv1 = _wmean_var(x1, w1)
            wm0, wv0 = _wmean_var(x0, w0)
            if is_bin:
                wv1, wv0 = wm1 * (1 - wm1), wm0 * (1 - wm0)
            den = sd_u if sd == "unweighted" else np.sqrt((wv1 + wv0) / 2)
            row.update({"wmean_treated": wm1, "wmean_control": wm0,
                        "smd_weighted": (wm1 - wm0) / den if den > 0 else np.nan})
        rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# MAIC
# --------------------------------------------------------------------------------------------
class MaicResult:
    """MAIC weights and their diagnostics.

    Attributes
    ----------
    weights : numpy.ndarray
        ``exp(x_c' a)`` (x centred at the target), data order.
    rescaled : numpy.ndarray
        The weights scaled to sum to n (TSD 18's "rescaled weights"; 1 = an average patient).
    coef : pandas.Series
        ``a``, one per matched column.
    ess : float
        Kish effective sample size of the weights.
    balance : pandas.DataFrame
        ``variable``, ``target``, ``unweighted``, ``weighted`` (the weighted mean equals the target
        when the fit converged).
    converged : bool
    n : int
    """

    def __init__(self, weights, coef, names, target, X, converged, n_iter):
        self.weights = weights
        self.rescaled = weights * weights.size / weights.sum()
        self.coef = pd.Series(coef, index=list(names), name="coef")
        self.ess = kish_ess(weights)
        self.converged = bool(converged)
        self.n_iter = int(n_iter)
        self.n = int(weights.size)
        self.balance = pd.DataFrame({
            "variable": list(names), "target": np.asarray(target, dtype=float),
            "unweighted": X.mean(axis=0), "weighted": (weights[:, None] * X).sum(axis=0) / weights.sum()})

    def __repr__(self) -> str:
        return f"MaicResult(n={self.n}, ess={self.ess:.1f}, converged={self.converged})"


def maic_weights(data: pd.DataFrame, targets: dict, *, tol: float = 1e-12, max_iter: int = 100) -> MaicResult:
    """Matching-adjusted indirect comparison weights by the method of moments.

    Finds ``a`` minimising ``Q(a) = sum_i exp(x_ci' a)`` with ``x_ci = x_i - target`` (Signorovitch
    et al. 2010), a convex problem whose stationary point makes the weighted means of the
    individual-patient data equal to the published (aggregate) means: ``sum w_i x_ci = 0``.
    Newton's method with step halving on ``Q`` (Hessian ``X_c' diag(w) X_c``); R's ``optim(BFGS)``
    of TSD 18 finds the same minimum.

    Parameters
    ----------
    data : pandas.DataFrame
        Individual patient data of one arm, numeric (or boolean) columns named in ``targets``; no
        missing values.
    targets : dict
        Column -> published mean (a proportion for a 0/1 column).  To match a published median m
        of x, pass a 0/1 column ``x <= m`` with target 0.5; to match a variance as well, pass a
        column ``x**2`` with target ``sd^2 + mean^2`` (TSD 18, section 3.3).
    tol : float
        Convergence on the largest absolute weighted-mean gap (in the columns' units).
    max_iter : int

    Returns
    -------
    MaicResult

    Raises
    ------
    BadInputError
        Missing columns or values, or a target outside the range of the data (no weights can
        reach it: the published population is not covered by these patients).

    Warns
    -----
    ConvergenceWarning
        When Newton stops after ``max_iter`` iterations (a target on the edge of the data's convex
        hull; the weights then concentrate on few patients).

    Notes
    -----
    Signorovitch JE, et al. Value Health 2010;13:940-7.  Phillippo DM, et al. NICE DSU Technical
    Support Document 18, 2016 (methods for population-adjusted indirect comparisons).  An
    *unanchored* comparison (no common comparator) is unbiased only if every prognostic factor and
    effect modifier is in ``targets`` (TSD 18, section 4).
    """
    if not targets:
        raise BadInputError("no targets given")
    names = list(targets)
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise BadInputError("column not found", column=", ".join(missing))
    design = design_matrix(data[names].astype(float), check_rank=True)
    X = design.X
    m = np.array([float(targets[c]) for c in names])
    if not np.all(np.isfinite(m)):
        raise BadInputError("targets must be finite numbers")
    for j, c in enumerate(names):
        lo, hi = X[:, j].min(), X[:, j].max()
        if not (lo < m[j] < hi):
            raise BadInputError(f"target {m[j]:g} is outside the range of the data [{lo:g}, {hi:g}]: no "
                                "weighting can reach it", column=c)
    Xc = X - m
    a = np.zeros(len(names))

    def q(a_):
        return np.exp(Xc @ a_).sum()

    converged, it = False, 0
    for it in range(1, max_iter + 1):
        w = np.exp(Xc @ a)
        g = Xc.T @ w
        gap = np.abs(g / w.sum()).max()
        if gap < tol:
            converged = True
            break
        H = (Xc * w[:, None]).T @ Xc
        step = np.linalg.solve(H, g)
        q0, s = q(a), 1.0
        while q(a - s * step) > q0 and s > 1e-10:
            s /= 2
        a = a - s * step
    else:
        w = np.exp(Xc @ a)
        gap = np.abs((Xc.T @ w) / w.sum()).max()
        converged = gap < tol
    if not converged:
        warnings.warn(f"MAIC weights did not converge after {max_iter} iterations (largest gap to a target "
                      f"{gap:.2g}); a target is near the edge of the data", ConvergenceWarning, stacklevel=2)
    return MaicResult(np.exp(Xc @ a), a, names, m, X, converged, it)


# --------------------------------------------------------------------------------------------
# weighted Kaplan-Meier
# --------------------------------------------------------------------------------------------
def weighted_kaplan_meier(time, event, weights, group=None, conf_level: float = 0.95,
                          variance: str = "robust") -> pd.DataFrame:
    """Kaplan-Meier estimate with case weights, R ``survfit(Surv(time, event) ~ 1, weights = w)``.

    At each distinct time, ``S(t) = prod (1 - d_w / n_w)`` with weighted events ``d_w`` and
    weighted number at risk ``n_w``.

    Parameters
    ----------
    time, event, weights : array-like
        Follow-up (months), 0/1 event, case weights (> 0).
    group : array-like, optional
    conf_level : float
    variance : {"robust", "greenwood"}
        ``"robust"`` (default): the infinitesimal-jackknife (sandwich) SE, R ``survfit(...,
        weights = w, robust = TRUE, id = id)`` with one row per subject: the right SE for
        estimated weights such as IPTW or MAIC weights, which are not frequencies.
        ``"greenwood"``: Greenwood's formula on the weighted counts, R ``robust = FALSE`` (treats
        the weights as frequencies).

    Returns
    -------
    pandas.DataFrame
        ``group`` (with ``group``), ``time``, ``n_risk`` (unweighted count), ``n_risk_weighted``,
        ``n_event_weighted``, ``surv``, ``std_err`` (SE of S(t)), ``lower``, ``upper`` (log-log
        interval from ``std_err / surv``, as :func:`sle_nb_utils.stats.survival.kaplan_meier`).

    Notes
    -----
    The robust variance sums, over subjects, the squared weighted influence ``w_i dS(t)/dw_i``;
    with ``h_j = d_j / n_j`` the influence of subject i on ``log S(t)`` is
    ``-sum_{u_j <= t} (dN_i(u_j) - Y_i(u_j) h_j) / (n_j (1 - h_j))``, computed in O(n + K) by
    splitting subjects at their own time.  Both variances are checked against R survival 3.5-3 in
    ``tests/test_weighting.py``.
    """
    t = as_time(time)
    e = as_event(event, t.size)
    w = _as_weights(weights, t.size)
    z = as_conf_level(conf_level)
    if variance not in ("robust", "greenwood"):
        raise BadInputError(f"variance must be 'robust' or 'greenwood', not {variance!r}")
    labels, codes = as_groups(group, t.size)
    frames = []
    for k, lab in enumerate(labels):
        m = codes == k
        tk, ek, wk = t[m], e[m], w[m]
        ut, inv = np.unique(tk, return_inverse=True)
        wt = np.bincount(inv, weights=wk, minlength=ut.size)
        cnt = np.bincount(inv, minlength=ut.size)
        wd = np.bincount(inv, weights=wk * ek, minlength=ut.size)
        nw = wt[::-1].cumsum()[::-1]
        n = cnt[::-1].cumsum()[::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            h = wd / nw
            surv = np.cumprod(1.0 - h)
            if variance == "greenwood":
                var_log = np.cumsum(np.where(wd > 0, wd / (nw * (nw - wd)), 0.0))
            else:
                b = 1.0 / (nw * (1.0 - h))  # d log S / d dN at u_j, per unit weight
                A = np.cumsum(h * b)  # at-risk part, cumulated
                # subjects whose own time index is <= j: constant influence A[idx] - e b[idx]
                D = A[inv] - ek * b[inv]
                done = np.cumsum(np.bincount(inv, weights=(wk * D) ** 2, minlength=ut.size))
                # subjects still at risk after u_j: influence A[j]
                w2_after = np.concatenate(((np.bincount(inv, weights=wk**2, minlength=ut.size)[::-1]
                                            .cumsum()[::-1])[1:], [0.0]))
                var_log = done + A**2 * w2_after
            sigma = np.sqrt(var_log)
            se = surv * sigma
        lower, upper = _km_ci(surv, sigma, z, "log-log")
        f = pd.DataFrame({"time": ut, "n_risk": n.astype(np.int64), "n_risk_weighted": nw,
                          "n_event_weighted": wd, "surv": surv, "std_err": se, "lower": lower, "upper": upper})
        if group is not None:
            f.insert(0, "group", lab)
        frames.append(f)
    return pd.concat(frames, ignore_index=True)
