"""Fast paths give the same numbers as the slow transcriptions or definitions they replaced.

- Gray's test: ``_crst_loop`` below is the former body of ``sle_nb_utils.stats.competing._crst``, a
  line-by-line transcription of cmprsk 2.2-11's Fortran ``crst`` (Gray's test within one stratum)
  that loops in Python over distinct times.  It matched ``cmprsk::cuminc`` in
  tests/test_survival.py before the package's version was vectorised over time; it is kept here,
  and only here, as the reference the vectorised version must reproduce to 1e-10 on random data
  with ties, 2-4 groups, strata, rho 0 and 1 (and groups leaving the risk set, a group
  Kaplan-Meier reaching 0, a stratum without events).
- Fine-Gray: the risk-set sums that ``_FGData`` accumulates in event-time bins equal their
  definition summed subject by subject.
- The benchmark's R side runs (marked ``r`` and ``slow``).
"""

from __future__ import annotations

import numpy as np
import pytest
from rtools import require_r
from scipy import stats

from sle_nb_utils.stats import competing as cr


def _crst_loop(y, m, ig, ng, rho):
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


def _crst_new(y, m, ig, ng, rho):
    """The package's vectorised ``_crst`` with the loop's inputs (sorted y, m coded 0/1/2)."""
    rs, d = cr._event_time_counts(y, np.asarray(m), ig, ng, 2)
    return cr._crst(d[0], d[1], rs, rho)


def _gray_loop(time, status, group, strata=None, rho=0.0):
    """Gray's test as the package computed it before vectorisation (sorted data, one ``_crst_loop``
    per stratum and cause, summed): (cause, chisq) pairs."""
    t = np.asarray(time, dtype=float)
    s = np.asarray(status)
    labels, g = np.unique(np.asarray(group), return_inverse=True)
    st = np.zeros(t.size, dtype=int) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    ng = labels.size
    order = np.argsort(t, kind="stable")
    t, s, g, st = t[order], s[order], g[order], st[order]
    out = {}
    for cause in np.unique(s[s != 0]):
        m = np.where(s == 0, 0, np.where(s == cause, 1, 2))
        score, var = np.zeros(ng - 1), np.zeros((ng - 1, ng - 1))
        for k in np.unique(st):
            w = st == k
            sc, vv = _crst_loop(t[w], m[w], g[w], ng, rho)
            score += sc
            var += vv
        out[int(cause)] = float(score @ np.linalg.solve(var, score))
    return out


def _random_cr(seed, n, ng, n_strata=1, tie_res=1.0):
    """Competing-risks data with many ties, ``ng`` groups of different hazards and follow-up.

    The last group has short follow-up, so it leaves the risk set before the others (a group no
    longer at risk while events continue); one small group has no censoring at all, so its
    Kaplan-Meier reaches 0.
    """
    rng = np.random.default_rng(seed)
    g = rng.integers(0, ng, n)
    st = rng.integers(0, n_strata, n)
    h1 = 0.03 * (1 + 0.4 * g)
    h2 = 0.02 * (1 + 0.2 * (ng - 1 - g))
    t1 = rng.exponential(1 / h1)
    t2 = rng.exponential(1 / h2)
    c = rng.uniform(5, 60, n)
    c = np.where(g == ng - 1, np.minimum(c, 15), c)
    tt = np.minimum.reduce([t1, t2, c])
    status = np.select([tt == t1, tt == t2], [1, 2], 0)
    # a few subjects of group 0 with events only (their own Kaplan-Meier reaches 0 at the end)
    extra = 7
    g = np.concatenate((g, np.full(extra, 0)))
    st = np.concatenate((st, rng.integers(0, n_strata, extra)))
    tt = np.concatenate((tt, 100 + rng.exponential(5, extra)))
    status = np.concatenate((status, rng.integers(1, 3, extra)))
    time = np.maximum(np.round(tt / tie_res) * tie_res, tie_res)
    return time, status, g, st


CASES = [
    # seed, n, groups, strata, tie resolution (months), rho
    (1, 300, 2, 1, 1.0, 0.0),
    (2, 300, 2, 1, 1.0, 1.0),
    (3, 500, 3, 1, 0.5, 0.0),
    (4, 500, 3, 2, 2.0, 1.0),
    (5, 800, 4, 1, 1.0, 0.0),
    (6, 800, 4, 3, 1.0, 1.0),
    (7, 400, 2, 2, 1e-9, 0.0),  # (almost) no ties
    (8, 600, 3, 1, 5.0, 0.5),  # heavy ties
]


@pytest.mark.parametrize("block", [None, 5])
@pytest.mark.parametrize("seed,n,ng,n_strata,res,rho", CASES)
def test_crst_vectorised_equals_loop(seed, n, ng, n_strata, res, rho, block, monkeypatch):
    if block is not None:  # many blocks of event times, carrying the running sums across them
        monkeypatch.setattr(cr, "_CRST_BLOCK", block)
    time, status, g, st = _random_cr(seed, n, ng, n_strata, res)
    assert len(np.unique(time)) < len(time)  # ties present
    order = np.argsort(time, kind="stable")
    y, s, gg, ss = time[order], status[order], g[order], st[order]
    for cause in (1, 2):
        m = np.where(s == 0, 0, np.where(s == cause, 1, 2))
        for k in range(n_strata):
            w = ss == k
            s_new, v_new = _crst_new(y[w], m[w], gg[w], ng, rho)
            s_old, v_old = _crst_loop(y[w], m[w], gg[w], ng, rho)
            assert s_new.shape == (ng - 1,) and v_new.shape == (ng - 1, ng - 1)
            np.testing.assert_allclose(s_new, s_old, rtol=1e-10, atol=1e-10)
            np.testing.assert_allclose(v_new, v_old, rtol=1e-10, atol=1e-10)
    # and the whole test, strata summed
    p = cr.gray_test(time, status, g, strata=st if n_strata > 1 else None, rho=rho)
    ref = _gray_loop(time, status, g, strata=st if n_strata > 1 else None, rho=rho)
    assert list(p.cause) == sorted(ref)
    np.testing.assert_allclose(p.chisq, [ref[c] for c in p.cause], rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(p.p, stats.chi2.sf([ref[c] for c in p.cause], ng - 1), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("block", [None, 1, 2])
def test_crst_edge_cases_equal_loop(block, monkeypatch):
    """A group no longer at risk, a Kaplan-Meier reaching 0, a cause absent from one group,
    a stratum with censorings only, and a one-subject stratum."""
    if block is not None:
        monkeypatch.setattr(cr, "_CRST_BLOCK", block)
    y = np.array([1, 1, 2, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 9, 9, 10], dtype=float)
    m = np.array([1, 2, 0, 1, 1, 2, 1, 0, 2, 1, 1, 0, 1, 2, 1, 1])
    g = np.array([0, 1, 2, 0, 1, 2, 0, 1, 0, 0, 1, 2, 0, 0, 1, 1])
    for rho in (0.0, 1.0):
        for ng_m in (m, np.where(m == 1, 2, np.where(m == 2, 1, 0))):
            a = _crst_new(y, ng_m, g, 3, rho)
            b = _crst_loop(y, ng_m, g, 3, rho)
            np.testing.assert_allclose(a[0], b[0], rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(a[1], b[1], rtol=1e-12, atol=1e-12)
    for yy, mm, gg in [(np.array([1.0, 2.0]), np.array([0, 0]), np.array([0, 1])),
                       (np.array([3.0]), np.array([1]), np.array([1]))]:
        a = _crst_new(yy, mm, gg, 2, 0.0)
        b = _crst_loop(yy, mm, gg, 2, 0.0)
        np.testing.assert_allclose(a[0], b[0], atol=1e-15)
        np.testing.assert_allclose(a[1], b[1], atol=1e-15)


@pytest.mark.r
@pytest.mark.slow
def test_bench_with_r_small():
    """The benchmark's R side runs and gives our numbers (tiny sizes; a few seconds of R)."""
    from sle_nb_utils.bench import survival as bench_survival

    require_r()
    out = bench_survival.run(sizes=(3000,), crr_max_n=2000, crr_n=1000, repeats=1)
    assert len(out) == 12
    timed = out[~((out.method == "fine_gray") & (out.n == 3000))]
    assert timed.r_s.notna().all() and (timed.note == "").all()
    np.testing.assert_allclose(timed.ratio, timed.python_s / timed.r_s)
    assert timed.r_cpu_s.notna().all()
    assert (timed.max_abs_diff < 1e-8).all()  # same numbers as R (curves, chi-squares, crr coefficients)
    fg = out[(out.method == "fine_gray") & (out.n == 3000)]
    assert fg.r_s.isna().all() and fg.note.str.startswith("crr not timed: quadratic").all()


@pytest.mark.parametrize("seed,res", [(11, 1.0), (12, 0.1), (13, 1e-9)])
def test_fine_gray_risk_set_sums_equal_brute_force(seed, res):
    """_FGData's binned risk-set sums equal the definition, summed subject by subject (O(n^2)):
    at each event time tau, S_m = sum over t_i >= tau of r_i x_i^m plus, over competing events
    with t_j < tau, r_j x_j^m G(tau-) / G(t_j-) (Fine & Gray 1999, crr's weights)."""
    rng = np.random.default_rng(seed)
    n, p = 300, 3
    t = np.maximum(np.round(rng.exponential(20, n) / res) * res, res)
    s = rng.choice([0, 1, 2, 3], n, p=[0.3, 0.35, 0.25, 0.1])
    X = np.column_stack([rng.normal(size=n), rng.integers(0, 2, n), rng.uniform(20, 60, n)])
    fd = cr._FGData(t, s, X, 1)
    b = np.array([0.3, -0.5, 0.02])
    _, r, S0, S1, S2 = fd.sums(b)
    ts, Xs, rs_ = fd.t, fd.X, np.exp(fd.X @ b)
    np.testing.assert_allclose(r, rs_, rtol=1e-14)
    for k, tau in enumerate(fd.et):
        w = np.where(ts >= tau, rs_, 0.0) + np.where(fd.comp & (ts < tau), rs_ * fd.Ge[k] / fd.G, 0.0)
        np.testing.assert_allclose(S0[k], w.sum(), rtol=1e-12)
        np.testing.assert_allclose(S1[k], w @ Xs, rtol=1e-12)
        np.testing.assert_allclose(S2[k], (Xs * w[:, None]).T @ Xs, rtol=1e-12)
    # the censoring Kaplan-Meier at t- (crr's uuu) by its definition
    for i in rng.integers(0, n, 20):
        before = np.unique(ts[ts < ts[i]])
        g = np.prod([1 - np.sum((ts == u) & fd.cens) / np.sum(ts >= u) for u in before])
        np.testing.assert_allclose(fd.G[i], g, rtol=1e-12)


def test_gray_stratum_without_events_changes_nothing():
    time, status, g, st = _random_cr(21, 400, 3, 2, 1.0)
    quiet = np.arange(30)  # a third stratum: censorings only
    t3 = np.concatenate((time, time[quiet]))
    s3 = np.concatenate((status, np.zeros(30, dtype=int)))
    g3 = np.concatenate((g, g[quiet]))
    st3 = np.concatenate((st, np.full(30, 2)))
    a = cr.gray_test(time, status, g, strata=st)
    b = cr.gray_test(t3, s3, g3, strata=st3)
    np.testing.assert_allclose(a.chisq, b.chisq, rtol=1e-12)
    ref = _gray_loop(t3, s3, g3, strata=st3)
    np.testing.assert_allclose(b.chisq, [ref[c] for c in b.cause], rtol=1e-10)
