"""Cox proportional-hazards regression and the ``cox.zph`` test, matched to R ``survival``.

The partial likelihood of Cox (1972) with Efron (1977) or Breslow (1974) handling of tied event
times, strata (separate baseline hazards), case weights, late entry (left truncation, the
counting-process form ``Surv(entry, exit, event)``), and the robust sandwich variance of Lin & Wei
(1989), optionally summed over clusters.  :func:`cox_zph` is the score test of proportional
hazards of Grambsch & Therneau (1994) in the form of R ``survival`` >= 3.0 (``cox.zph(fit)$table``).

Algorithm
---------
The data are sorted once by (stratum, time descending, deaths first), as R processes them.  For
every value of the coefficients the risk-set sums S0 = sum w exp(eta) and S1 = sum w exp(eta) x at
each distinct event time are differences of cumulative sums (minus the sums of subjects who have
not entered yet, with late entry); the deaths' own sums, needed for Efron's correction, are
differences of the same cumulative sums because tied deaths are adjacent.  Efron's d terms of a
group of d tied deaths enter only through six scalar sums per group (of 1/D, f/D, 1/D^2, f/D^2,
f^2/D^2 and log D, with f = k/d).  The second-derivative sum S2 is never formed: its part of the
information, ``sum mw S2 / D``, equals ``X' diag(w exp(eta) h) X`` where h cumulates ``mw / D``
over the event times at which each subject is at risk.  One iteration therefore costs
O(n p + events + event times p^2), with no Python loop over subjects or times.

Newton-Raphson follows R's ``coxfit6`` (right-censored data) and ``agfit4`` (late entry) step for
step: start at 0, stop when ``|1 - loglik_best / loglik_new| <= tol`` (R ``eps = 1e-9``), pull a
step that lowers the log partial likelihood back towards the last good coefficients (step
halving), and return the last good coefficients when the iterations run out on a bad step.  The
same iterates give R's coefficients, standard errors and log-likelihoods to rounding error
(about 1e-13; the tests in ``tests/test_cox.py`` require 1e-8 against the values written by
``tests/reference/cox_reference.R``), including the number of iterations and the drift of a
coefficient to infinity under a monotone likelihood.

Conventions
-----------
- A subject is at risk at time t when ``entry < t <= exit`` (entry 0 when none is given); events
  are counted before censorings at a tied time.  Times that differ by rounding error only (less
  than sqrt(machine epsilon), absolutely or relative to the mean time) are tied, as R's ``coxph``
  does by default (``timefix = TRUE``, ``aeqSurv``).
- Case weights are R's ``weights=``: Efron's correction spreads the deaths' mean weight over the
  tied deaths; ``n_events`` is the unweighted number of events (R ``nevent``).
- Categorical covariates are dummy-coded against a reference level (R treatment contrasts), by
  :func:`sle_nb_utils.stats._validate.design_matrix`; terms are named ``"sex[M]"`` (R ``sexM``).

References
----------
Cox DR. Regression models and life-tables. J R Stat Soc B 1972;34:187-220.
Breslow NE. Covariance analysis of censored survival data. Biometrics 1974;30:89-99.
Efron B. The efficiency of Cox's likelihood function for censored data. JASA 1977;72:557-65.
Lin DY, Wei LJ. The robust inference for the Cox proportional hazards model. JASA 1989;84:1074-8.
Grambsch PM, Therneau TM. Proportional hazards tests and diagnostics based on weighted residuals.
Biometrika 1994;81:515-26.
Therneau TM. A package for survival analysis in R (``survival``; C sources ``coxfit6.c``,
``agfit4.c``, ``zph1.c``, ``zph2.c``).  Therneau TM, Grambsch PM. Modeling survival data:
extending the Cox model. Springer 2000.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import linalg, stats

from ..errors import BadInputError, ConvergenceWarning
from . import _validate as _v
from .results import ModelResult, warn_not_converged

__all__ = ["cox_fit", "cox_zph", "CoxResult"]

TIES = ("efron", "breslow")
TRANSFORMS = ("km", "identity", "log", "rank")


# ---------------------------------------------------------------------------------------------
# the sorted structure (independent of the coefficients)
# ---------------------------------------------------------------------------------------------


def _mv(A, v):
    """``A @ v`` without BLAS: numpy's own loops are steadier than a threaded BLAS on a shared machine."""
    return np.einsum("ik,k->i", A, v)


def _mm(A, B):
    """``A @ B.T`` for p x n arrays, without BLAS (see :func:`_mv`)."""
    return np.einsum("ik,jk->ij", A, B)


def _fixed_ranks(time, entry):
    """Ranks of the times after merging those that differ by rounding error only (R ``aeqSurv``).

    As R's ``coxph`` (``timefix = TRUE``), distinct exit/entry times closer than sqrt(machine
    epsilon), absolutely or relative to the mean absolute time, become the smallest of their run.
    Returns the rank of every exit time, an order that sorts the exit times, the merged
    exit and entry times, and the ranks of the entry times (exit and entry ranked together).
    """
    tol = np.sqrt(np.finfo(float).eps)
    n = time.size
    allt = time if entry is None else np.concatenate((time, entry))
    o = np.argsort(allt)
    ts = allt[o]
    new = np.r_[True, ts[1:] != ts[:-1]]
    y = ts[new]
    dy = np.diff(y)
    keep = np.r_[True, ~((dy <= tol) | (dy / np.mean(np.abs(y)) <= tol))]
    rank = np.empty(allt.size, dtype=np.int64)
    rank[o] = (np.cumsum(keep) - 1)[np.cumsum(new) - 1]
    fixed = y[keep][rank]
    if entry is None:
        return rank, o, fixed, None, None
    if np.any(fixed[n:] >= fixed[:n]):
        raise BadInputError("an interval (entry, exit] has length 0 after merging times that differ by "
                            "rounding error only (as R's aeqSurv)")
    return rank[:n], o[o < n], fixed[:n], fixed[n:], rank[n:]


class _CoxData:
    """Validated arrays of one fit, sorted once, and the index arrays of its risk sets.

    Rows are kept in R's processing order: by stratum, then time descending, deaths before
    censorings at a tied time; covariates are centred (weighted mean) and stored as a p x n array.
    An event group is a run of tied deaths (one stratum, one time) with d deaths.  Efron's
    k-th term (k = 0..d-1) of a group uses the risk-set sums minus f_k = k/d times the deaths' own
    sums; Breslow's single term uses f = 0.  Every sum over those terms is written with the
    scalar sums ``sum_k 1/D_k, f_k/D_k, 1/D_k^2, f_k/D_k^2, f_k^2/D_k^2, log D_k`` of each group,
    so that an iteration costs O(n p + events + groups p^2).
    """

    def __init__(self, X, time, event, entry, strata, weights, efron, n_strata):
        n, p = X.shape
        self.n, self.p = n, p
        self.X, self.time_in, self.event, self.entry_in, self.strata, self.weights = (X, time, event, entry,
                                                                                    strata, weights)
        self.mean = np.einsum('n,np->p', weights, X) / weights.sum()
        rank, o, self.time, self.entry, self.entry_rank = _fixed_ranks(time, entry)
        m = int(rank[o[-1]]) + 2
        o = o[np.argsort(rank[o] * 2 + event[o], kind="stable")]  # nearly sorted: a fast timsort
        if n_strata > 1:
            o = o[np.argsort(strata[o].astype(np.int16 if n_strata < 2**15 else np.int64), kind="stable")]
        o = o[::-1]  # stratum, time descending, deaths first
        self.order = o
        ts, ss = self.time[o], strata[o]
        self.XT = np.ascontiguousarray((X[o] - self.mean).T)
        self.w = weights[o]
        self.dead = event[o] == 1
        rows = np.arange(n)
        new_b = np.r_[True, ts[1:] != ts[:-1]]
        if n_strata > 1:
            new_s = np.r_[True, ss[1:] != ss[:-1]]
            new_b |= new_s
            s_start = np.maximum.accumulate(np.where(new_s, rows, 0))      # first row of the stratum
            s_end = np.r_[np.flatnonzero(new_s)[1:], n][np.cumsum(new_s) - 1]  # one past its last row
        b_start = np.maximum.accumulate(np.where(new_b, rows, 0))          # first row of the tie block
        bs = np.flatnonzero(new_b)
        gi = np.flatnonzero(self.dead[bs])
        starts = bs[gi]                                                    # event groups, by row
        cdead = np.r_[0, np.cumsum(self.dead)]
        self.g_start = starts
        self.g_end = np.r_[bs, n][gi + 1]
        self.nd = cdead[self.g_end] - cdead[starts]
        self.g_sb = s_start[starts] if n_strata > 1 else np.zeros(starts.size, dtype=np.int64)
        G = self.G = starts.size
        self.ev = np.flatnonzero(self.dead)
        self.ev_group = np.repeat(np.arange(G), self.nd)
        self.deadwt = np.add.reduceat(self.w[self.ev], np.r_[0, np.cumsum(self.nd)[:-1]])
        self.wx_dead = _mv(self.XT[:, self.ev], self.w[self.ev])
        self.w_dead = np.where(self.dead, self.w, 0.0)
        # Efron's terms for groups of tied deaths (none with continuous times; none for Breslow)
        self.tied = np.flatnonzero(self.nd > 1) if efron else np.zeros(0, dtype=np.int64)
        nt = self.nd[self.tied]
        self.t_first = np.cumsum(nt) - nt                                  # first term of each tied group
        k = np.arange(nt.sum()) - np.repeat(self.t_first, nt)               # Efron's k of each term
        self.t_rows = np.repeat(starts[self.tied], nt) + k                   # the row of that death
        self.t_frac = k / np.repeat(nt, nt)
        # groups at which row i is at risk: [h_lo, h_hi) in group order
        before = np.r_[0, np.cumsum(new_b & self.dead)]                   # groups starting before a row
        self.h_lo = before[b_start]
        self.h_hi = before[s_end] if n_strata > 1 else np.full(n, starts.size)
        if entry is not None:
            # a row is not at risk at the groups of its stratum at or before its entry: the last
            # `below` groups of [h_lo, h_hi).  Its risk is taken out of those groups' sums by a
            # bincount at its first excluded group and a cumulative sum over the groups.
            kentry = ss * m + self.entry_rank[o]
            oe = np.argsort(kentry)
            gkey_up = (ss[starts] * m + rank[o][starts])[::-1]              # group keys, ascending
            below = np.empty(n, dtype=np.int64)
            below[oe] = (np.searchsorted(gkey_up, kentry[oe], side="right")
                         - np.searchsorted(gkey_up, ss[oe] * m))
            self.h_hi = self.h_hi - below
            self.e_bin = np.where(below > 0, self.h_hi, starts.size)          # starts.size: no group
            self.e_first = before[self.g_sb]                                 # first group of the stratum

    @staticmethod
    def _cum(V):
        c = np.zeros((V.shape[0], V.shape[1] + 1))
        np.cumsum(V, axis=1, out=c[:, 1:])
        return c

    def _at_risk_sum(self, P):
        """For every row, the sum of the group values P (k x G) over the groups it is at risk at."""
        c = self._cum(P)
        return c[:, self.h_hi] - c[:, self.h_lo]

    def sums(self, beta):
        """Risk scores, risk-set sums S ((p+1) x G), deaths' sums E of the tied groups, term sums T.

        T = (T0, T1, W0, W1, W2, L): per group, the sums over its terms of mw/D, mw f/D, mw/D^2,
        mw f/D^2, mw f^2/D^2 and mw log D, where mw is the deaths' mean weight (Efron) or their
        total weight (Breslow, and groups with one death); T1, W1, W2 (zero elsewhere) and the
        columns of E are those of the tied groups ``self.tied`` only.
        """
        eta = np.einsum("i,in->n", beta, self.XT)
        risk = np.exp(eta)
        r = self.w * risk
        V = np.empty((self.p + 1, self.n))
        V[0] = r
        np.multiply(self.XT, r, out=V[1:])
        c = self._cum(V)
        S = c[:, self.g_end]
        if self.g_sb.any():  # groups of later strata: minus the sums of the strata before
            S -= c[:, self.g_sb]
        if self.entry is not None:  # minus the subjects who have not entered yet
            B = np.vstack([np.bincount(self.e_bin, weights=v, minlength=self.G + 1)[:self.G] for v in V])
            cb = self._cum(B)
            S -= cb[:, 1:] - cb[:, self.e_first]
        S0, mw, tg = S[0], self.deadwt, self.tied
        T = [mw / S0, None, mw / S0**2, None, None, mw * np.log(S0)]
        start, nt = self.g_start[tg], self.nd[tg]
        E = c[:, start + nt] - c[:, start]
        f = self.t_frac
        D = np.repeat(S0[tg], nt) - f * np.repeat(E[0], nt)
        iD = 1.0 / D
        mwt = mw[tg] / nt
        for i, term in enumerate((iD, f * iD, iD * iD, f * iD * iD, f * f * iD * iD, np.log(D))):
            total = mwt * np.add.reduceat(term, self.t_first) if tg.size else np.zeros(0)
            if i in (1, 3, 4):
                T[i] = total
            else:
                T[i][tg] = total
        return eta, risk, r, S, E, T

    def loglik_score_info(self, beta):
        """Log partial likelihood, score and information at ``beta`` (R's coxfit6/agfit4 sums)."""
        eta, _, r, S, E, T = self.sums(beta)
        loglik = float(np.einsum("n,n->", self.w_dead, eta) - T[5].sum())
        u = self.wx_dead - (_mv(S[1:], T[0]) - _mv(E[1:], T[1]))
        return loglik, u, self._information(r, S, E, T, None)

    def _information(self, r, S, E, T, gw):
        """``sum_terms gw mw (C / D - xbar xbar')`` with gw a weight per group (None: 1).

        The C / D part is ``X' diag(r h) X``, h being the sum of mw/D over the terms at which a
        row is at risk (Efron: a death is in its own group's terms with weight 1 - f).
        """
        tg = self.tied
        T0, T1, W0, W1, W2 = T[:5] if gw is None else [t * (gw if t.size == self.G else gw[tg]) for t in T[:5]]
        h = r * self._at_risk_sum(T0[None, :])[0]
        S1, E1 = S[1:], E[1:]
        outer = _mm(S1 * W0, S1)
        if tg.size:
            rows = self.t_rows
            h[rows] -= r[rows] * np.repeat(T1, self.nd[tg])
            cross = _mm(S1[:, tg] * W1, E1)
            outer += _mm(E1 * W2, E1) - cross - cross.T
        XT = self.XT
        return _mm(XT * h, XT) - outer

    def score_residuals(self, beta):
        """Score residuals per subject, unweighted (R ``residuals(fit, "score")``), n x p, input order."""
        _, risk, _, S, E, T = self.sums(beta)
        T0, T1, W0, W1, W2, _ = T
        tg, S1, E1 = self.tied, S[1:], E[1:]
        HX = np.vstack([T0, S1 * W0])                                   # mw/D and mw xbar/D per group
        HX[1:, tg] -= E1 * W1
        xe = S1 * T0                                                     # mean of the terms' means
        xe[:, tg] -= E1 * T1
        xe /= self.deadwt
        H = self._at_risk_sum(HX)
        XT = self.XT
        U = -risk * (XT * H[0] - H[1:])
        ev, ge = self.ev, self.ev_group
        U[:, ev] += XT[:, ev] - xe[:, ge]
        if tg.size:  # a death is in its own group's terms with weight 1 - f only
            rows, nt = self.t_rows, self.nd[tg]
            QX = S1[:, tg] * W1 - E1 * W2
            U[:, rows] += risk[rows] * (XT[:, rows] * np.repeat(T1, nt) - np.repeat(QX, nt, axis=1))
        out = np.empty((self.n, self.p))
        out[self.order] = U.T
        return out


# ---------------------------------------------------------------------------------------------
# Newton-Raphson (R coxfit6 / agfit4)
# ---------------------------------------------------------------------------------------------


def _solve(info, u):
    try:
        return linalg.solve(info, u, assume_a="pos")
    except (linalg.LinAlgError, ValueError):
        return np.linalg.lstsq(info, u, rcond=None)[0]


def _singular_columns(info, toler=np.finfo(float).eps ** 0.75):
    """Columns whose pivot vanishes in a Cholesky decomposition of ``info`` (R ``cholesky2``)."""
    m = np.array(info, dtype=float)
    eps = toler * max(np.max(np.diag(m)), 0.0)
    out = []
    for i in range(m.shape[0]):
        if not np.isfinite(m[i, i]) or m[i, i] <= eps:
            out.append(i)
            m[i, :] = m[:, i] = 0.0
            continue
        m[i + 1:, i + 1:] -= np.outer(m[i + 1:, i], m[i, i + 1:]) / m[i, i]
    return out


def _newton(cd: _CoxData, max_iter: int, tol: float):
    """Maximise the log partial likelihood with R's iteration (``coxfit6``; ``agfit4`` with entry).

    Start at 0; converged when ``|1 - loglik_best / loglik_new| <= tol``; a step that lowers the
    log-likelihood is pulled back towards the last good coefficients (step halving).  When the
    iterations run out, the last good coefficients are returned if the last step made things
    worse.  Returns beta, score, information, loglik, loglik at 0, iterations, converged.
    """
    ag = cd.entry is not None
    beta = np.zeros(cd.p)
    loglik0, u, info = cd.loglik_score_info(beta)
    sing = _singular_columns(info)
    if sing:
        raise BadInputError("cannot be estimated: the information matrix is singular in this column (e.g. it "
                            "is constant within every stratum, or among the subjects at risk at the event "
                            "times); R gives NA; drop it", column=", ".join(cd.terms[j] for j in sing))
    best = loglik0
    newbeta = beta + _solve(info, u)
    halving, newlk, it = 0, loglik0, 0
    for it in range(1, max_iter + 1):
        newlk, u, info = cd.loglik_score_info(newbeta)
        ok = bool(np.isfinite(newlk) and np.all(np.isfinite(u)) and np.all(np.isfinite(info)))
        if ok and (halving == 0 or not ag) and abs(1 - best / newlk) <= tol:
            return newbeta, u, info, newlk, loglik0, it, True
        if it == max_iter:
            break
        if not ok or newlk < best:  # worse than the last good step: back off towards it
            halving += 1
            newbeta = (newbeta + halving * beta) / (halving + 1.0)
        else:
            halving = 0
            best = newlk
            step = _solve(info, u)
            beta = newbeta
            newbeta = newbeta + step
    worse = not np.isfinite(newlk) or ((newlk - best) / abs(best) < -tol if ag else newlk < best)
    if max_iter > 1 and worse:
        newlk, u, info = cd.loglik_score_info(beta)
        return beta, u, info, newlk, loglik0, it, False
    return newbeta, u, info, newlk, loglik0, it, False


# ---------------------------------------------------------------------------------------------
# input
# ---------------------------------------------------------------------------------------------


def _columns(data, names, what):
    if not isinstance(data, pd.DataFrame):
        raise BadInputError(f"data must be a pandas DataFrame, got {type(data).__name__}")
    missing = [c for c in names if c not in data.columns]
    if missing:
        raise BadInputError(f"{what} not in the data (columns: {list(map(str, data.columns))[:20]})",
                            column=", ".join(map(str, missing)))


def _as_list(x) -> list:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def _strata_codes(data, names, n):
    if not names:
        return np.zeros(n, dtype=np.int64), None
    codes, labels = [], []
    for nm in names:
        lab, code = _v.as_groups(data[nm], n, name=str(nm))
        codes.append(code)
        labels.append(lab)
    if len(codes) == 1:
        return codes[0], [str(x) for x in labels[0]]
    combos, joint = np.unique(np.column_stack(codes), axis=0, return_inverse=True)
    names_out = [", ".join(f"{nm}={labels[k][c]}" for k, (nm, c) in enumerate(zip(names, row))) for row in combos]
    return joint.ravel().astype(np.int64), names_out


def _as_weights(x, n, name):
    w = _v._numeric(x, name)
    _v._check_length(w, n, name)
    bad = ~np.isfinite(w) | (w <= 0)
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} weight(s) missing, infinite or <= 0; case weights must be "
                            "finite and > 0 (as R coxph)", column=name)
    return w


def _prepare(data, covariates, time, event, entry, strata, weights, cluster, reference):
    """Validate the columns of a fit (the one input contract of :mod:`sle_nb_utils.stats`)."""
    covariates = _as_list(covariates)
    if not covariates:
        raise BadInputError("no covariates given")
    strata = _as_list(strata)
    named = [time, event] + covariates + strata + [c for c in (entry, weights, cluster) if c is not None]
    _columns(data, named, "column(s)")
    t = _v.as_time(data[time], time)
    n = t.size
    e = _v.as_event(data[event], n, event)
    a = _v.as_entry(None if entry is None else data[entry], t, entry or "entry")
    s, slabels = _strata_codes(data, strata, n)
    w = np.ones(n) if weights is None else _as_weights(data[weights], n, weights)
    cl = None if cluster is None else _v.as_groups(data[cluster], n, name=cluster)[1]
    design = _v.design_matrix(data[covariates], n, reference=reference)
    if e.sum() == 0:
        raise BadInputError(f"no events: all {n} subjects are censored, so the Cox model has nothing to "
                            "estimate", column=event)
    assign = {}
    for c in covariates:
        if c in design.reference:
            assign[str(c)] = [j for j, term in enumerate(design.terms) if term.startswith(f"{c}[")]
        else:
            assign[str(c)] = [design.terms.index(str(c))]
    return dict(X=design.X, time=t, event=e, entry=a, strata=s, weights=w, cluster=cl), design, assign, slabels


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------


class CoxResult(ModelResult):
    """A fitted Cox model (:class:`~sle_nb_utils.stats.results.ModelResult` with ``ratio_name="hr"``).

    Besides the common attributes (``params``, ``se``, ``cov``, ``conf_int()``, ``summary``,
    ``converged``, ``n_iter``, ``n``, ``n_events``, ``loglik``, ``loglik_null``):

    Attributes
    ----------
    ties : {"efron", "breslow"}
    robust : bool
        ``se``/``cov`` are the robust (sandwich) ones; the model-based SE is in
        ``extra["naive_se"]`` and the model-based covariance in ``extra["naive_cov"]``.
    assign : dict
        Covariate -> indices of its terms (several for a categorical covariate), as R ``assign``.
    reference : dict
        Reference level of every categorical covariate.
    strata_levels : list of str or None
    columns : dict
        The column names the model was fitted with (time, event, entry, strata, weights, cluster,
        covariates), used by :func:`cox_zph` to check that ``data`` is the data of the fit.
    """

    def __init__(self, *args, ties, robust, assign, reference, strata_levels, columns, cox_data, **kw):
        super().__init__(*args, **kw)
        self.ties = ties
        self.robust = robust
        self.assign = assign
        self.reference = reference
        self.strata_levels = strata_levels
        self.columns = columns
        self._cox_data = cox_data

    @property
    def linear_predictors(self) -> np.ndarray:
        """Centred linear predictors, ``(x - mean) @ beta`` (R ``fit$linear.predictors``)."""
        cd = self._cox_data
        return (cd.X - cd.mean) @ self.params.to_numpy()

    def __repr__(self) -> str:  # no addresses in notebook output
        return (f"CoxResult({self.model!r}, n={self.n}, events={self.n_events}, terms={self.terms}, "
                f"robust={self.robust}, converged={self.converged})")


# ---------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------


def cox_fit(data: pd.DataFrame, covariates: Sequence[str], *, time: str = "time", event: str = "event",
            entry: str | None = None, strata=None, weights: str | None = None, cluster: str | None = None,
            robust: bool = False, ties: str = "efron", reference=None, conf_level: float = 0.95,
            max_iter: int = 30, tol: float = 1e-9) -> CoxResult:
    """Fit a Cox proportional-hazards model (R ``coxph``).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per subject (or per counting-process interval with ``entry``).
    covariates : sequence of str
        Covariate columns: numeric, boolean, or categorical (text / pandas categorical), which
        are dummy-coded against a reference level like R's treatment contrasts.
    time, event : str
        Exit time (months by the package convention; finite, >= 0) and 0/1 event columns.
        An event coded 1/2 (R's ``Surv`` convention) is refused: recode it as 0/1.
    entry : str, optional
        Late-entry (left-truncation) time, < exit: R ``Surv(entry, time, event)``.  A subject is
        at risk at t when ``entry < t <= time``.
    strata : str or list of str, optional
        Stratification column(s): separate baseline hazards, as R ``strata()``.
    weights : str, optional
        Case weights (finite, > 0), as R ``weights=``.  R switches to the robust variance by
        default when weights are not integers; here ``robust`` is always explicit.
    cluster : str, optional
        Cluster column: robust variance summed over clusters (R ``cluster()``); implies ``robust``.
    robust : bool
        Robust (sandwich) variance of Lin & Wei (1989), as R ``robust=TRUE``.
    ties : {"efron", "breslow"}
        Handling of tied event times (Efron 1977; Breslow 1974).  R's default is Efron.
    reference : dict, optional
        Categorical covariate -> reference level (default: the first level in sorted order).
    conf_level : float
        Level of the Wald intervals in ``summary`` and ``conf_int()``.
    max_iter : int
        Maximum Newton-Raphson iterations (R ``iter.max``, default 20 there).
    tol : float
        Convergence criterion on the relative change of the log partial likelihood (R ``eps``).

    Returns
    -------
    CoxResult
        ``summary`` columns ``term, coef, hr, se, lower, upper, z, p, n, n_events, converged``.

    Raises
    ------
    BadInputError
        Missing columns, invalid times, events not 0/1, no events, constant or collinear
        covariates, a covariate with a singular information (e.g. constant within every
        stratum; R gives NA) -- the error names the column --, non-positive weights, unknown
        ``ties``.

    Warns
    -----
    ConvergenceWarning
        When Newton-Raphson stops after ``max_iter`` iterations (``converged=False``), or when the
        log-likelihood converged while a coefficient was still drifting to infinity (monotone
        likelihood; R: "coefficient may be infinite").

    Notes
    -----
    Cox 1972; Efron 1977; Breslow 1974; Lin & Wei 1989; Therneau's R ``survival`` (``coxph``).
    See the module docstring for the algorithm.
    """
    if ties not in TIES:
        raise BadInputError(f"ties must be one of {TIES}, got {ties!r} (the 'exact' method is not implemented)")
    if not isinstance(max_iter, (int, np.integer)) or max_iter < 1:
        raise BadInputError(f"max_iter must be a positive integer, got {max_iter!r}")
    arr, design, assign, slabels = _prepare(data, covariates, time, event, entry, strata, weights, cluster,
                                            reference)
    _v.as_conf_level(conf_level)
    robust = bool(robust) or cluster is not None
    efron = ties == "efron"
    cd = _CoxData(arr["X"], arr["time"], arr["event"], arr["entry"], arr["strata"], arr["weights"], efron,
                  1 if slabels is None else len(slabels))
    cd.terms = design.terms
    beta, u, info, loglik, loglik0, n_iter, converged = _newton(cd, int(max_iter), float(tol))
    model = f"Cox ({'Efron' if efron else 'Breslow'})"
    try:
        cov = linalg.inv(info, check_finite=True)
    except (linalg.LinAlgError, ValueError):
        cov = np.full((cd.p, cd.p), np.nan)
    cov = (cov + cov.T) / 2
    if not converged:
        warn_not_converged(model, n_iter, f"relative change of the log partial likelihood > {tol:g}")
    else:
        infs = np.abs(u @ cov)
        flag = ~np.isfinite(u) | ((infs > tol) & (infs > np.sqrt(tol) * np.abs(beta)))
        if flag.any():
            names = ", ".join(design.terms[j] for j in np.flatnonzero(flag))
            warnings.warn(f"{model}: the log-likelihood converged before the coefficient of {names}; it may be "
                          "infinite (monotone likelihood, e.g. no events in one group)", ConvergenceWarning,
                          stacklevel=2)
    naive = cov
    extra = {"naive_se": pd.Series(np.sqrt(np.diag(naive)), index=design.terms, name="naive_se"),
             "naive_cov": pd.DataFrame(naive, index=design.terms, columns=design.terms),
             "means": pd.Series(cd.mean, index=design.terms), "score": u}
    if robust:
        resid = cd.score_residuals(beta) * cd.weights[:, None]
        dfbeta = np.einsum('np,pq->nq', resid, naive)
        if arr["cluster"] is not None:
            k = arr["cluster"]
            dfbeta = np.column_stack([np.bincount(k, weights=dfbeta[:, j]) for j in range(cd.p)])
        cov = np.einsum('np,nq->pq', dfbeta, dfbeta)
    columns = {"time": time, "event": event, "entry": entry, "strata": _as_list(strata), "weights": weights,
               "cluster": cluster, "covariates": [str(c) for c in _as_list(covariates)]}
    return CoxResult(model, design.terms, beta, cov, converged=converged, n_iter=n_iter, n=cd.n,
                     n_events=int(arr["event"].sum()), loglik=loglik, loglik_null=loglik0, ratio_name="hr",
                     conf_level=conf_level, extra=extra, ties=ties, robust=robust, assign=assign,
                     reference=dict(design.reference), strata_levels=slabels, columns=columns, cox_data=cd)


def _same_data(fit: CoxResult, data: pd.DataFrame) -> None:
    """Raise unless ``data`` gives exactly the validated arrays of ``fit``."""
    c = fit.columns
    arr, design, _, _ = _prepare(data, c["covariates"], c["time"], c["event"], c["entry"], c["strata"],
                                 c["weights"], c["cluster"], fit.reference)
    cd = fit._cox_data
    mine = {"X": cd.X, "time": cd.time_in, "event": cd.event, "entry": cd.entry_in, "strata": cd.strata,
            "weights": cd.weights}
    if arr["X"].shape != cd.X.shape or design.terms != fit.terms:
        raise BadInputError(f"data is not the data of the fit: {arr['X'].shape[0]} rows and terms "
                            f"{design.terms}, the fit has {cd.n} rows and terms {fit.terms}; call cox_zph(fit) "
                            "without data")
    for k, a in mine.items():
        b = arr[k]
        if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
            raise BadInputError(f"data is not the data of the fit: its {k} values differ from the fitted ones; "
                                "call cox_zph(fit) without data")


def _time_transform(cd: _CoxData, transform: str) -> np.ndarray:
    t = cd.time
    if transform == "identity":
        return t.astype(float)
    if transform == "log":
        if np.any(t <= 0):
            raise BadInputError(f"{int((t <= 0).sum())} time(s) <= 0: the 'log' transform needs times > 0")
        return np.log(t)
    if transform == "rank":
        return stats.rankdata(t)
    # "km": 1 - the left-continuous Kaplan-Meier of all subjects (late entry respected), unweighted
    ut, d = np.unique(t[cd.event == 1], return_counts=True)
    n_risk = t.size - np.searchsorted(np.sort(t), ut)
    if cd.entry is not None:
        n_risk = n_risk - (t.size - np.searchsorted(np.sort(cd.entry), ut))
    surv = np.concatenate(([1.0], np.cumprod(1.0 - d / n_risk)))
    return 1.0 - surv[np.searchsorted(ut, t, side="left")]


def cox_zph(fit: CoxResult, data: pd.DataFrame | None = None, transform: str = "km") -> pd.DataFrame:
    """Test of proportional hazards: the score test of adding ``x * g(t)`` (R ``cox.zph``).

    For each covariate (term), the score test at the fitted coefficients of adding the
    interaction of its column(s) with g(t) to the model; GLOBAL tests all of them together.  This
    is the form of R ``survival`` >= 3.0 (``cox.zph(fit, transform)$table``), computed on the
    sorted structure of the fit (strata, weights, ties and late entry as fitted).

    Parameters
    ----------
    fit : CoxResult
        From :func:`cox_fit`; it keeps the data it was fitted on.
    data : pandas.DataFrame, optional
        Only for a check: if given, it must give exactly the fitted values (else BadInputError).
    transform : {"km", "identity", "log", "rank"}
        g(t): ``"km"`` (R's default) is 1 - the left-continuous Kaplan-Meier estimate of all
        subjects; ``"rank"`` the average rank of the exit times.

    Returns
    -------
    pandas.DataFrame
        ``term``, ``chisq``, ``df``, ``p``: one row per covariate (a categorical covariate is one
        term with df = levels - 1), then ``GLOBAL``.

    Notes
    -----
    Grambsch & Therneau 1994; Therneau's R ``survival`` (``cox.zph``, C ``zph1``/``zph2``).
    """
    if not isinstance(fit, CoxResult):
        raise BadInputError(f"fit must be a CoxResult from cox_fit, got {type(fit).__name__}")
    if transform not in TRANSFORMS:
        raise BadInputError(f"transform must be one of {TRANSFORMS}, got {transform!r}")
    if data is not None:
        _same_data(fit, data)
    cd = fit._cox_data
    beta = fit.params.to_numpy()
    tt = _time_transform(cd, transform)
    gt = tt - tt[cd.event == 1].mean()
    gg = gt[cd.order][cd.g_start]                    # g(t) of each event group
    _, _, r, S, E, T = cd.sums(beta)
    p = cd.p
    ev = cd.ev
    u2 = _mv(cd.XT[:, ev], cd.w[ev] * gg[cd.ev_group]) - (_mv(S[1:], T[0] * gg) - _mv(E[1:], T[1] * gg[cd.tied]))
    imat = np.zeros((2 * p, 2 * p))
    i0 = cd._information(r, S, E, T, None)
    i1 = cd._information(r, S, E, T, gg)
    i2 = cd._information(r, S, E, T, gg * gg)
    imat[:p, :p], imat[:p, p:], imat[p:, :p], imat[p:, p:] = i0, i1, i1.T, i2

    def score_test(kk, uu):
        try:
            return float(uu @ np.linalg.solve(imat[np.ix_(kk, kk)], uu))
        except np.linalg.LinAlgError:
            raise BadInputError(f"cox_zph: the information of x * g(t) is singular (g = {transform!r} is constant "
                                "at the event times?); the test is undefined") from None

    rows = []
    for term, jj in fit.assign.items():
        rows.append((term, score_test(list(range(p)) + [p + j for j in jj], np.r_[np.zeros(p), u2[jj]]), len(jj)))
    rows.append(("GLOBAL", score_test(list(range(2 * p)), np.r_[np.zeros(p), u2]), p))
    out = pd.DataFrame(rows, columns=["term", "chisq", "df"])
    out["p"] = stats.chi2.sf(out.chisq, out.df)
    return out
