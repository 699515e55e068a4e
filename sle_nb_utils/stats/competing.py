"""Competing risks: Aalen-Johansen cumulative incidence, Gray's test and Fine-Gray regression.

Pure estimators on arrays (the study layer is :mod:`sle_nb_utils.outcomes`).  ``status`` codes
competing risks: 0 = censored and one positive integer code per cause; ``cause`` names the cause
of interest (default 1); every other non-zero code is a competing event.  Inputs are checked
through :mod:`sle_nb_utils.stats._validate`.  Checked against R ``cmprsk`` 2.2-11 in
``tests/test_survival.py`` (scripts and values in ``tests/reference/``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from ._validate import as_conf_level, as_entry, as_groups, as_status, as_time, design_matrix
from .results import ModelResult, warn_not_converged
from .survival import DEFAULT_MILESTONES, _counts, _entered_at_or_after, _group_frames, _n_at_risk, _read_at

__all__ = ["aalen_johansen", "cif_milestones", "cif_var_at", "gray_test", "fine_gray"]



# ---------------------------------------------------------------------------------------------
# Aalen-Johansen cumulative incidence (cmprsk::cuminc)
# ---------------------------------------------------------------------------------------------


def _aj_core(t: np.ndarray, s: np.ndarray, cause: int, entry: np.ndarray | None = None):
    """Cumulative incidence and cmprsk variance at each distinct time (numpy, vectorised).

    Transcribes Gray's Fortran ``cinc`` (cmprsk 2.2-11, src/cincsub.f): the variance is updated
    at every event time but *recorded* only at event times of the cause of interest, so the
    returned variance is a step function that jumps only there, exactly as ``cuminc`` returns it.
    """
    d1_ind = (s == cause).astype(float)
    d2_ind = ((s != 0) & (s != cause)).astype(float)
    ut, rs, total, (nd1, nd2) = _counts(t, d1_ind, d2_ind)
    rs = rs - _entered_at_or_after(entry, ut)  # late entry: at risk when entry < t <= time
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


def aalen_johansen(time, status, cause: int = 1, group=None, entry=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Aalen-Johansen cumulative incidence of one cause, with cmprsk's variance (deterministic).

    Parameters
    ----------
    time : array-like of float
        Follow-up in months (>= 0).
    status : array-like of int
        0 = censored; ``cause`` = event of interest; any other positive code = competing event.
    cause : int
        Code of the cause of interest (default 1).
    group : array-like, optional
        One curve per group: a ``group`` column first, sorted by group.
    entry : array-like of float, optional
        Late-entry (left-truncation) times: at risk at t when entry < t <= time.  The estimate then
        equals R ``survfit(Surv(entry, time, factor(status)) ~ 1, id=)`` (checked); the variance is
        the same delta-method formula on the left-truncated risk sets (cmprsk, the reference of the
        variance, has no late entry).
    conf_level : float
        Level of the pointwise interval (default 0.95).

    Returns
    -------
    pandas.DataFrame
        One row per distinct observed time, sorted: ``time`` (months), ``n_risk`` (time >= t and
        entry < t),
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
    t = as_time(time)
    s = as_status(status, t.size)
    en = as_entry(entry, t)
    if group is not None:
        return _group_frames(lambda a, b, c: aalen_johansen(a, b, cause=cause, entry=c, conf_level=conf_level),
                             group, t.size, t, s, en)
    z = as_conf_level(conf_level)
    ut, rs, nd1, nd2, nc, cif, var = _aj_core(t, s, int(cause), en)
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


def cif_var_at(time, status, t, cause: int = 1, entry=None):
    """Fast cumulative incidence and its cmprsk variance at given times (numpy only).

    Returns ``(cif, variance)`` with the shape of ``t``; NaN beyond the last observed time
    (as ``cmprsk::timepoints``).  Same values as :func:`aalen_johansen`.
    """
    tt = as_time(time)
    ss = as_status(status, tt.size)
    ut, _, _, _, _, cif, var = _aj_core(tt, ss, int(cause), as_entry(entry, tt))
    return _read_at(ut, t, cif, 0.0, var, 0.0)


def cif_milestones(
    time,
    status,
    cause: int = 1,
    at: Sequence[float] = DEFAULT_MILESTONES,
    group=None,
    entry=None,
    conf_level: float = 0.95,
) -> pd.DataFrame:
    """Cumulative incidence of ``cause`` at fixed milestones (months).

    ``group`` and ``entry`` as in :func:`aalen_johansen` (one block of rows per group, ``group``
    column first; late entry).

    Returns
    -------
    pandas.DataFrame
        One row per milestone, sorted: ``time``, ``n_risk`` (time >= t), ``cif``, ``variance``,
        ``std_err``, ``lower``, ``upper``; step-function values as in :func:`aalen_johansen`
        (= ``cmprsk::timepoints``).  NaN beyond the last observed time.
    """
    t = as_time(time)
    s = as_status(status, t.size)
    en = as_entry(entry, t)
    if group is not None:
        return _group_frames(lambda a, b, c: cif_milestones(a, b, cause=cause, at=at, entry=c, conf_level=conf_level),
                             group, t.size, t, s, en)
    z = as_conf_level(conf_level)
    q = np.sort(np.asarray(at, dtype=float).ravel())
    c, v = cif_var_at(t, s, q, cause=cause, entry=en)
    se, lower, upper = _cif_ci(c, v, z)
    nr = _n_at_risk(t, en, q)
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
# Gray's test (cmprsk::cuminc Tests)
# ---------------------------------------------------------------------------------------------


def _event_time_counts(y, code, ig, ng, ncode):
    """At-risk numbers and event counts, by group, at the distinct times with an event (one stratum).

    ``y`` sorted times, ``code`` 0 = censored or 1..ncode (cause index), ``ig`` group codes
    0..ng-1.  Returns ``rs`` (ng, times): subjects with time >= t, and ``d`` (ncode, ng, times):
    events of each cause at t; both float, time along the last (contiguous) axis.  Times without
    events change nothing in ``crst`` and are left out.
    """
    n = y.size
    new = np.ones(n, dtype=bool)
    new[1:] = y[1:] != y[:-1]
    inv = np.cumsum(new) - 1  # distinct-time index of each subject
    nt = int(inv[-1]) + 1 if n else 0
    out = np.bincount(ig * nt + inv, minlength=ng * nt).reshape(ng, nt)
    rs = out[:, ::-1].cumsum(axis=1)[:, ::-1]  # time >= t
    e = code > 0
    ie = inv[e]  # sorted
    first = np.ones(ie.size, dtype=bool)
    first[1:] = ie[1:] != ie[:-1]
    ev = ie[first]
    je = np.cumsum(first) - 1  # index among event times
    ne = ev.size
    d = np.bincount(((code[e] - 1) * ng + ig[e]) * ne + je, minlength=ncode * ng * ne)
    return rs[:, ev].astype(float), d.reshape(ncode, ng, ne).astype(float)


def _outer_sum(x, y):
    """sum over the last two axes of x[i] * y[l], as a (rows, rows) matrix (no BLAS threads)."""
    return np.array([[np.sum(xi * yl) for yl in y] for xi in x]).reshape(x.shape[0], y.shape[0])


def _crst_km(d_all, rs):
    """The parts of ``crst`` that do not depend on the cause: group Kaplan-Meier (all causes)."""
    pos = rs > 0  # groups still at risk
    skm = np.cumprod((np.maximum(rs, 1.0) - d_all) / np.maximum(rs, 1.0), axis=1)  # 1 where rs = 0
    skmm = np.empty_like(skm)  # at the previous event time
    skmm[:, :1] = 1.0
    skmm[:, 1:] = skm[:, :-1]
    t1 = np.divide(rs, skmm, out=np.zeros_like(rs), where=pos)
    return pos, skm, skmm, t1, t1.sum(axis=0)


#: Event times per block in :func:`_crst` (temporaries of a few hundred kB stay in cache).
_CRST_BLOCK = 1 << 15


def _crst(d1, d2, rs, rho, km=None):
    """Score and variance of Gray's test within one stratum: cmprsk's ``crst``, vectorised over time.

    ``d1``, ``d2``, ``rs`` (groups, event times): events of the cause of interest, events of other
    causes, and subjects at risk, at each distinct time with at least one event (the others change
    nothing); ``km`` is ``_crst_km(d1 + d2, rs)`` when already computed for another cause.
    Returns (s, v): scores of the first ng-1 groups and their covariance.

    The Fortran loops over distinct times; only its Kaplan-Meier products (``skm``), cumulative
    incidences (``f1``, ``f``) and the running matrix ``c`` carry over from one time to the next,
    and each is a cumulative product or sum over time.  Everything else (the score ``s`` and the
    variance pieces ``v``, ``v2``, ``v3``) is a sum over time of per-time terms, so the recursion
    runs in numpy on arrays of shape (ng[, ng], event times), block by block of event times
    (``_CRST_BLOCK``), carrying the running sums from one block to the next.  Only the first ng-1
    rows of ``a`` and ``c`` enter the result.  Equal to the loop transcription (kept in
    tests/test_speed_equivalence.py) to rounding.
    """
    ng, ne = rs.shape
    ng1 = ng - 1
    s = np.zeros(ng1)
    v, v2, v3 = np.zeros((ng1, ng1)), np.zeros((ng1, ng)), np.zeros(ng)
    c_last = np.zeros((ng1, ng, 1))  # running c, f1 and f at the end of the previous block
    f1_last = np.zeros((ng, 1))
    f_last = np.zeros(1)
    pos_a, skm_a, skmm_a, t1_a, tr_a = _crst_km(d1 + d2, rs) if km is None else km
    for lo in range(0, ne, _CRST_BLOCK):
        b = slice(lo, lo + _CRST_BLOCK)
        d1b, d2b, rsb = d1[:, b], d2[:, b], rs[:, b]
        pos, skm, skmm, t1, tr = pos_a[:, b], skm_a[:, b], skmm_a[:, b], t1_a[:, b], tr_a[b]
        nd1 = d1b.sum(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # group CIF of the cause (f1) and pooled CIF (f); "m" = at the previous event time
            inc = np.divide(skmm * d1b, rsb, out=np.zeros_like(rsb), where=pos)
            f1 = np.cumsum(np.concatenate((f1_last, inc), axis=1), axis=1)
            f1m, f1_last = f1[:, :-1], f1[:, -1:]
            q = np.divide(rsb * (1 - f1m), skmm, out=np.zeros_like(rsb), where=pos)
            tq = q.sum(axis=0)
            f = np.cumsum(np.concatenate((f_last, nd1 / tr)))
            fm, f, f_last = f[:-1], f[1:], f[-1:]
            fb = (1 - fm) ** rho
            s += (fb * (d1b[:ng1] - nd1 * q[:ng1] / tq)).sum(axis=1)
            # a_j = fb (diag(t1) - t1 t1' / tr) (rows 0..ng-2); c = running sum of a_j nd1 / (tr (1 - fm))
            a = -(fb / tr) * t1[:ng1, None, :] * t1[None, :, :]
            for i in range(ng1):
                a[i, i] = fb * t1[i] * (1 - t1[i] / tr)
            c = np.cumsum(np.concatenate((c_last, a * (nd1 / (tr * (1 - fm)))), axis=2), axis=2)[:, :, 1:]
            c_last = c[:, :, -1:]  # nd1 = 0 above: adds 0
            # event times of the cause of interest
            r = np.flatnonzero(nd1)
            k1, kk, tr1, n1 = skm[:, r], skmm[:, r], tr[r], nd1[r]
            t4 = 1 - np.divide(1 - f[r], k1, out=np.zeros_like(k1), where=k1 > 0)
            t5 = np.ones_like(kk)  # correction for tied events
            tied = np.flatnonzero(n1 > 1)
            t5[:, tied] = 1 - (n1[tied] - 1) / (tr1[tied] * kk[:, tied] - 1)
            t3 = np.divide(t5 * kk * n1, tr1 * rsb[:, r], out=np.zeros_like(kk), where=pos[:, r])
            tv = a[:, :, r] - t4 * c[:, :, r]
            v3 += (t4 * t4 * t3).sum(axis=1)
            v2 += (tv * (t4 * t3)).sum(axis=2)
            v += _outer_sum(tv * t3, tv)
            # event times of the competing causes
            r = np.flatnonzero(d2b.sum(axis=0))
            k1, kk, dd, rr = skm[:, r], skmm[:, r], d2b[:, r], rsb[:, r]
            sel = (k1 > 0) & (dd > 0)
            t4 = np.divide(1 - f[r], k1, out=np.zeros_like(k1), where=sel)
            t5 = np.ones_like(dd)
            tied = dd > 1
            t5[tied] = 1 - (dd[tied] - 1) / (rr[tied] - 1)
            t3 = np.divide(t5 * kk**2 * dd, rr**2, out=np.zeros_like(dd), where=sel)
            tv = t4 * c[:, :, r]
            v3 += (t4 * t4 * t3).sum(axis=1)
            v2 -= (tv * (t4 * t3)).sum(axis=2)
            v += _outer_sum(tv * t3, tv)
    cc = c_last[:, :, 0]
    vv = v + (cc * v3) @ cc.T + cc @ v2.T + v2 @ cc.T
    return s, vv


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
        One row per cause (sorted): ``cause``, ``chisq``, ``df`` (groups - 1), ``p``, ``note``.
        Where the variance is singular (cmprsk returns ``stat = -1``), ``chisq`` and ``p`` are NaN
        and ``note`` says why.

    Notes
    -----
    Gray RJ. Ann Stat 1988;16:1141-54.  A transcription of the Fortran ``crstm``/``crst`` of
    cmprsk 2.2-11, equal to ``cmprsk::cuminc(time, status, group, strata, rho)$Tests``.
    """
    t = as_time(time)
    s = as_status(status, t.size)
    labels, g = as_groups(group, t.size, min_levels=2)
    _, st = as_groups(strata, t.size, name="strata")
    ng = labels.size
    if not np.any(s != 0):
        raise BadInputError("no events of any cause: Gray's test has nothing to compare", column="status")
    order = np.argsort(t)  # the order within tied times does not matter
    t, s, g, st = t[order], s[order], g[order], st[order]
    causes = np.unique(s[s != 0])
    code = np.where(s == 0, 0, np.searchsorted(causes, s) + 1)  # 0 censored, i + 1 for causes[i]
    score = np.zeros((causes.size, ng - 1))
    var = np.zeros((causes.size, ng - 1, ng - 1))
    n_strata = int(st.max()) + 1  # stratum codes 0..k-1, all present
    for k in range(n_strata):
        w = slice(None) if n_strata == 1 else st == k
        rs, d = _event_time_counts(t[w], code[w], g[w], ng, causes.size)
        d_all = d.sum(axis=0)
        km = _crst_km(d_all, rs)
        for i in range(causes.size):  # cause i against all other causes
            sc, vv = _crst(d[i], d_all - d[i], rs, rho, km)
            score[i] += sc
            var[i] += vv
    rows = []
    for cause, sc, vv in zip(causes, score, var):
        if np.linalg.matrix_rank(vv) == ng - 1:
            chisq = float(sc @ np.linalg.solve(vv, sc))
            p, note = float(stats.chi2.sf(chisq, ng - 1)), ""
        else:  # cmprsk returns stat = -1 here; we say why instead
            chisq, p, note = np.nan, np.nan, "singular variance: not testable (e.g. no events of this cause in a group)"
        rows.append({"cause": int(cause), "chisq": chisq, "df": ng - 1, "p": p, "note": note})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Fine-Gray subdistribution-hazard regression (cmprsk::crr), linear time
# ---------------------------------------------------------------------------------------------


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
        new = np.ones(n, dtype=bool)  # first subject of each distinct time (t is sorted)
        new[1:] = self.t[1:] != self.t[:-1]
        first = np.flatnonzero(new)
        inv = np.cumsum(new) - 1
        ut = self.t[first]
        self.first = first[inv]  # index of the first subject with the same time
        self.first_u = first
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
        # risk sets as bins: subject i is at risk at the event times tau_k <= t_i (k < k_le[i]);
        # a competing subject j adds to the weighted part at tau_k > t_j (k >= k_le[j])
        self.k_le = np.searchsorted(et, self.t, side="right")  # event times <= t_i
        self.k_ge = np.searchsorted(et, self.t, side="left")  # event times < t_i
        self.ci = np.flatnonzero(self.comp)
        self.k_comp = self.k_le[self.ci]
        self.G_comp = self.G[self.ci]
        self.Xf = np.asfortranarray(self.X)  # contiguous columns
        self.Xc = np.asfortranarray(self.X[self.ci])

    def _at_events(self, w, wc):
        """sum of w over t >= tau, plus G(tau-) * sum of wc over competing events with t < tau,
        at each distinct event time tau (bincounts over risk-set bins, then cumulative sums)."""
        ne = self.et.size
        suf = np.cumsum(np.bincount(self.k_le, weights=w, minlength=ne + 1)[::-1])[::-1][1:]
        pre = np.cumsum(np.bincount(self.k_comp, weights=wc, minlength=ne + 1))[:ne]
        return suf + self.Ge * pre

    def sums(self, b, second=True):
        """S0, S1 (and S2) over the Fine-Gray risk set at each distinct event time.

        Only per-subject weights of length n are formed (never n x p x p arrays); each sum is
        accumulated straight into the bins of the event times.
        """
        eta = self.X @ b
        r = np.exp(eta)
        rc = r[self.ci] / self.G_comp
        S0 = self._at_events(r, rc)
        p = self.X.shape[1]
        rx = [r * x for x in self.Xf.T]
        rcx = [rc * x for x in self.Xc.T]
        S1 = np.column_stack([self._at_events(w, wc) for w, wc in zip(rx, rcx)])
        S2 = None
        if second:
            S2 = np.empty((self.et.size, p, p))
            for i in range(p):
                for j in range(i, p):
                    S2[:, i, j] = S2[:, j, i] = self._at_events(rx[i] * self.Xf[:, j], rcx[i] * self.Xc[:, j])
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
        k_le, k_ge = self.k_le, self.k_ge  # event times <= t_i; event times < t_i
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
        qu = q[self.first_u]  # per distinct time
        yu = self.Y[self.first_u]
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
    reference=None,
) -> ModelResult:
    """Fine-Gray proportional subdistribution-hazard regression for one cause.

    Parameters
    ----------
    time : array-like
        Follow-up in months (> 0).
    status : array-like of int
        0 = censored, ``cause`` = event of interest, other positive codes = competing events.
    covariates : pandas.DataFrame, Series or 2-d array
        Numeric, boolean or categorical covariates; categorical ones are dummy-coded against a
        reference level (``reference``: covariate -> level; default the first sorted level), as R's
        treatment contrasts.  Constant or collinear columns raise, naming the column.
    cause : int
        Code of the event of interest.
    gtol, maxiter :
        Newton-Raphson with step halving, stopped as ``cmprsk::crr`` (same defaults), so the
        iterates and the estimates are those of ``crr``.

    Returns
    -------
    sle_nb_utils.stats.results.ModelResult
        ``params`` (log subdistribution HRs), ``se`` and ``cov`` (crr's sandwich variance),
        ``converged`` (False, with a ConvergenceWarning, when the criterion was not met or the step
        halving failed), ``summary`` (term, coef, shr, se, lower, upper, z, p, n, n_events,
        converged).

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
    t = as_time(time)
    s = as_status(status, t.size)
    design = design_matrix(covariates, n=t.size, reference=reference)
    X, terms = design.X, design.terms
    fd = _FGData(t, s, X, int(cause))
    if not fd.ev.any():
        raise BadInputError(f"no events of cause {cause}: a Fine-Gray model cannot be fitted", column="status")
    b = np.zeros(X.shape[1])
    converged = False
    stopped = ""
    it = 0
    for it in range(maxiter + 1):
        f, grad, hess = fd.objective(b)
        if np.max(np.abs(grad) * np.maximum(np.abs(b), 1)) < max(abs(f), 1) * gtol:
            converged = True
            break
        if it == maxiter:
            stopped = f"gradient criterion not met within maxiter={maxiter}"
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
            stopped = "step halving failed 20 times (as crr, which stops there too)"
            break
        b = bn
    if not converged:
        warn_not_converged("Fine-Gray", it, stopped)
    var, _ = fd.robust_var(b)
    loglik = -fd.objective(b, second=False)
    loglik0 = -fd.objective(np.zeros_like(b), second=False)
    return ModelResult("Fine-Gray", terms, b, var, converged=converged, n_iter=it, n=t.size,
                       n_events=int(fd.ev.sum()), loglik=loglik, loglik_null=loglik0, ratio_name="shr",
                       conf_level=conf_level, extra={"cause": int(cause), "reference": design.reference})
