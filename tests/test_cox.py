"""Cox model and cox.zph of :mod:`sle_nb_utils.stats.cox` against R ``survival`` (and lifelines).

Reference values were written by ``tests/reference/cox_reference.R`` (survival 3.5-3) from
``tests/reference/cox_fixture.csv`` (made by ``make_cox_fixtures.py``) into
``tests/reference/values/cox/``; the older fixture ``survival_fixture.csv`` and its values
``values/cox*.csv`` (from ``survival_reference.R``) are checked too.  The ``r``-marked test reruns
the R script and compares with the stored values; it is skipped when ``Rscript`` is absent.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rtools import assert_rerun_matches, run_rscript

from sle_nb_utils.errors import BadInputError, ConvergenceWarning
from sle_nb_utils.stats.cox import CoxResult, cox_fit, cox_zph
from sle_nb_utils.stats.results import ModelResult

REF = Path(__file__).resolve().parent / "reference"
VAL = REF / "values" / "cox"
TOL = 1e-8
COLS = ["term", "coef", "hr", "se", "lower", "upper", "z", "p", "n", "n_events", "converged"]

# the fits of cox_reference.R, as cox_fit arguments
CASES = {
    "efron": dict(covariates=["x1", "x2", "sex"]),
    "breslow": dict(covariates=["x1", "x2", "sex"], ties="breslow"),
    "strata": dict(covariates=["x1", "x2", "sex"], strata="stratum"),
    "factor": dict(covariates=["x1", "grp3", "sex"]),
    "weights": dict(covariates=["x1", "x2", "sex"], weights="wt"),
    "robust": dict(covariates=["x1", "x2", "sex"], robust=True),
    "cluster": dict(covariates=["x1", "x2", "sex"], cluster="cid"),
    "combined": dict(covariates=["x1", "grp3"], strata="stratum", weights="wt", cluster="cid"),
    "lt_efron": dict(covariates=["x1", "x2", "sex"], entry="entry"),
    "lt_breslow": dict(covariates=["x1", "x2", "sex"], entry="entry", ties="breslow"),
    "lt_combined": dict(covariates=["x1", "grp3"], entry="entry", strata="stratum", weights="wt", cluster="cid"),
}
ZPH = [("efron", "km"), ("efron", "identity"), ("efron", "log"), ("efron", "rank"), ("breslow", "km"),
       ("strata", "km"), ("strata", "rank"), ("factor", "km"), ("weights", "km"), ("combined", "km"),
       ("lt_efron", "km"), ("lt_efron", "identity"), ("lt_breslow", "km"), ("lt_combined", "km")]


def close(a, b, tol=TOL):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def r_name(term: str) -> str:
    """Our term name in R's spelling: 'sex[M]' -> 'sexM'."""
    return term.replace("[", "").replace("]", "")


@pytest.fixture(scope="module")
def d() -> pd.DataFrame:
    return pd.read_csv(REF / "cox_fixture.csv")


@pytest.fixture(scope="module")
def fits(d):
    return {k: cox_fit(d, **kw) for k, kw in CASES.items()}


def test_fixture_is_reproducible(d):
    spec = importlib.util.spec_from_file_location("make_cox", REF / "make_cox_fixtures.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    pd.testing.assert_frame_equal(mod.make(), d, check_exact=True)
    ev = d[d.event == 1]
    assert ev.time.duplicated().sum() > 100 and (d.entry > 0).sum() > 100  # ties, late entry


# ---------------------------------------------------------------- coxph
@pytest.mark.parametrize("case", list(CASES))
def test_fit_matches_coxph(fits, case):
    r = pd.read_csv(VAL / f"fit_{case}.csv")
    f = fits[case]
    assert isinstance(f, CoxResult) and isinstance(f, ModelResult)
    assert [r_name(t) for t in f.terms] == list(r.term)
    assert f.converged and f.n_iter == r.iter[0]
    close(f.params, r.coef)
    close(f.se, r.se)
    close(f.extra["naive_se"], r.naive_se)
    close(f.loglik, r.loglik[0])
    close(f.loglik_null, r.loglik_null[0])
    assert f.n == r.n[0] and f.n_events == r.nevent[0]
    assert f.robust == (case in ("robust", "cluster", "combined", "lt_combined"))
    assert f.model == ("Cox (Breslow)" if "breslow" in case else "Cox (Efron)")


@pytest.mark.parametrize("case,transform", ZPH)
def test_zph_matches_cox_zph(fits, case, transform):
    r = pd.read_csv(VAL / f"zph_{case}_{transform}.csv")
    z = cox_zph(fits[case], transform=transform)
    assert list(z.columns) == ["term", "chisq", "df", "p"]
    assert list(z.term) == list(r.term)
    assert list(z.df) == list(r.df)
    close(z.chisq, r.chisq)
    close(z.p, r.p)


def test_summary_shape_and_intervals(fits):
    f = fits["efron"]
    s = f.summary
    assert list(s.columns) == COLS
    assert list(s.term) == ["x1", "x2", "sex[M]"]
    close(s.hr, np.exp(s.coef), 1e-14)
    close(s.lower, np.exp(s.coef - 1.959963984540054 * s.se), 1e-12)
    assert s.converged.all() and (s.n == 240).all()
    ci = f.conf_int(0.9)
    assert (ci.upper - ci.lower < 2 * 1.96 * f.se).all()
    assert "CoxResult('Cox (Efron)'" in repr(f) and "0x" not in repr(f)


def test_old_survival_fixture(d):
    """The fixture of tests/reference/survival_reference.R (values/cox*.csv), to 1e-8."""
    s = pd.read_csv(REF / "survival_fixture.csv")
    s["armHSCT"] = (s.arm == "HSCT").astype(float)
    v = REF / "values"
    f = cox_fit(s, ["armHSCT", "age", "nephritis"])
    r = pd.read_csv(v / "cox.csv")
    close(f.params, r.coef)
    close(f.se, r.se)
    close(f.summary.p, r.p)
    close(f.loglik, r.loglik[0])
    z = cox_zph(f, s)
    r = pd.read_csv(v / "cox_zph.csv")
    close(z.chisq, r.chisq)
    close(z.p, r.p)
    # string arm: dummy-coded against the reference level MSCT gives the same model
    g = cox_fit(s, ["arm", "age", "nephritis"], reference={"arm": "MSCT"})
    assert g.terms[0] == "arm[HSCT]"
    close(g.params, f.params, 1e-12)
    f = cox_fit(s, ["armHSCT", "age"], strata="stratum")  # stratum S3 has no events
    r = pd.read_csv(v / "cox_strata.csv")
    close(f.params, r.coef)
    close(f.se, r.se)
    z = cox_zph(f)
    r = pd.read_csv(v / "cox_zph_strata.csv")
    close(z.chisq, r.chisq)


def test_lifelines_second_opinion(d, fits):
    from lifelines import CoxPHFitter

    x = d[["time", "event", "x1", "x2"]].assign(sexM=(d.sex == "M").astype(float))
    cph = CoxPHFitter().fit(x, "time", "event", fit_options={"precision": 1e-12, "r_precision": 0.0})
    f = fits["efron"]
    # lifelines stops on its own criterion (3e-7 from R here); we equal R to 1e-13
    close(cph.params_.to_numpy(), f.params, 1e-6)
    close(cph.standard_errors_.to_numpy(), f.se, 1e-6)
    close(cph.log_likelihood_, f.loglik, 1e-6)


def test_row_order_and_weights_invariance(d, fits):
    """The fit does not depend on the row order; with Breslow ties, weights of 2 equal duplicated
    rows (not with Efron: duplicating also doubles the number of tied deaths)."""
    shuffled = d.sample(frac=1.0, random_state=3).reset_index(drop=True)
    for case in ("lt_combined", "strata", "breslow"):
        g = cox_fit(shuffled, **CASES[case])
        close(g.params, fits[case].params, 1e-12)
        close(g.se, fits[case].se, 1e-12)
        close(cox_zph(g).chisq, cox_zph(fits[case]).chisq, 1e-10)
    two = cox_fit(d.assign(w2=2.0), ["x1", "x2", "sex"], weights="w2", ties="breslow")
    dup = cox_fit(pd.concat([d, d], ignore_index=True), ["x1", "x2", "sex"], ties="breslow")
    close(two.params, dup.params, 1e-12)
    close(two.loglik, dup.loglik, 1e-12)


def test_times_differing_by_rounding_error_are_tied(d, fits):
    """As R's coxph (timefix = TRUE): times * (1 + 1e-12 k) give the fit of the tied times."""
    r = pd.read_csv(VAL / "fit_timefix.csv")
    f = cox_fit(d.assign(time=d.time * (1 + 1e-12 * (d.id % 3))), ["x1", "x2", "sex"])
    close(f.params, r.coef)
    close(f.se, r.se)
    close(f.params, fits["efron"].params, 1e-12)
    z = cox_zph(f)
    close(z.chisq, pd.read_csv(VAL / "zph_timefix_km.csv").chisq)


def test_two_strata_columns_equal_their_combination(d):
    f = cox_fit(d, ["x1", "x2"], strata=["stratum", "sex"], entry="entry")
    g = cox_fit(d.assign(ss=d.stratum + "/" + d.sex), ["x1", "x2"], strata="ss", entry="entry")
    close(f.params, g.params, 1e-12)
    close(f.se, g.se, 1e-12)
    close(cox_zph(f).chisq, cox_zph(g).chisq, 1e-10)
    assert f.strata_levels[0] == "stratum=S1, sex=F" and len(f.strata_levels) == 6


def test_score_residuals_sum_to_the_score(fits):
    f = fits["lt_combined"]
    cd = f._cox_data
    res = cd.score_residuals(f.params.to_numpy()) * cd.weights[:, None]
    close(res.sum(axis=0), f.extra["score"], 1e-10)
    assert np.abs(f.extra["score"]).max() < 1e-6  # the score vanishes at the estimate


# ---------------------------------------------------------------- degenerate input
def test_no_events(d):
    with pytest.raises(BadInputError, match="no events"):
        cox_fit(d.assign(event=0), ["x1"])


@pytest.mark.parametrize("col,match", [("const", "'const'.*constant"), ("x1b", "'x1b'.*collinear")])
def test_constant_or_collinear_covariate(d, col, match):
    e = d.assign(const=3.0, x1b=2 * d.x1 + 1)
    with pytest.raises(BadInputError, match=match):
        cox_fit(e, ["x1", "x2", col])


def test_covariate_constant_within_strata(d):
    """R gives NA ("X matrix deemed to be singular"); we refuse and name the column."""
    e = d.assign(s2=(d.stratum == "S2").astype(float))
    with pytest.raises(BadInputError, match="'s2'.*information matrix is singular"):
        cox_fit(e, ["x1", "s2"], strata="stratum")


def test_not_converged_matches_R_and_warns(d):
    r = pd.read_csv(VAL / "fit_maxiter1.csv")  # R: iter.max = 1, "Ran out of iterations"
    with pytest.warns(ConvergenceWarning, match="did not converge after 1 iteration"):
        f = cox_fit(d, ["x1", "x2", "sex"], max_iter=1)
    assert not f.converged and f.n_iter == 1
    assert (~f.summary.converged).all()
    close(f.params, r.coef)
    close(f.se, r.se)
    close(f.loglik, r.loglik[0])


def test_monotone_likelihood_matches_R_and_warns(d):
    r = pd.read_csv(VAL / "fit_monotone.csv")
    d60 = d.head(60).assign(bad=lambda x: np.where(x.event == 0, x.x2, 0))
    with pytest.warns(ConvergenceWarning, match="coefficient of bad; it may be infinite"):
        f = cox_fit(d60, ["x1", "bad"])
    assert f.n_iter == r.iter[0]
    close(f.params, r.coef, 1e-7)
    close(f.se, r.se, 1e-6)
    close(f.loglik, r.loglik[0])


def test_event_coded_1_2_is_refused_on_R_lung_data():
    """R's own example: lung$status is 1 = censored, 2 = dead."""
    lung = pd.read_csv(VAL / "lung_data.csv")
    r = pd.read_csv(VAL / "fit_lung.csv")
    with pytest.raises(BadInputError, match=r"looks like R's Surv 1/2 coding.*recode as 0/1"):
        cox_fit(lung, ["age", "sex"], event="status")
    f = cox_fit(lung.assign(dead=lung.status - 1), ["age", "sex"], event="dead")
    close(f.params, r.coef)
    close(f.se, r.se)
    close(f.loglik, r.loglik[0])


def test_string_covariate_reference_level(d, fits):
    f = fits["efron"]
    assert f.reference == {"sex": "F"}
    g = cox_fit(d, ["x1", "x2", "sex"], reference={"sex": "M"})
    assert g.terms == ["x1", "x2", "sex[F]"] and g.reference == {"sex": "M"}
    close(g.params.iloc[2], -f.params.iloc[2], 1e-12)
    close(g.se.iloc[:2], f.se.iloc[:2], 1e-10)
    close(g.loglik, f.loglik, 1e-12)
    with pytest.raises(BadInputError, match="reference level 'X'"):
        cox_fit(d, ["sex"], reference={"sex": "X"})


def test_zph_refuses_other_data(d, fits):
    f = fits["strata"]
    close(cox_zph(f, d.copy()).chisq, cox_zph(f).chisq, 0)
    with pytest.raises(BadInputError, match="not the data of the fit"):
        cox_zph(f, d.head(200))
    with pytest.raises(BadInputError, match="not the data of the fit.*time"):
        cox_zph(f, d.assign(time=d.time + 1))
    with pytest.raises(BadInputError, match="not the data of the fit"):
        cox_zph(f, d.sample(frac=1.0, random_state=1))
    with pytest.raises(BadInputError, match="transform"):
        cox_zph(f, transform="spline")
    with pytest.raises(BadInputError, match="CoxResult"):
        cox_zph("fit")


@pytest.mark.parametrize("kwargs,match", [
    (dict(covariates=["nope"]), "'nope'.*not in the data"),
    (dict(covariates=["x1"], ties="exact"), "ties must be one of"),
    (dict(covariates=["x1"], weights="bad_w"), "'bad_w'.*> 0"),
    (dict(covariates=["x1"], entry="late"), "'late'.*enter at or after"),
    (dict(covariates=["x1"], time="neg"), "'neg'.*negative"),
    (dict(covariates=["x1"], max_iter=0), "max_iter"),
])
def test_bad_input_names_the_problem(d, kwargs, match):
    e = d.assign(bad_w=np.where(d.index == 3, 0.0, 1.0), late=d.time, neg=-d.time)
    with pytest.raises(BadInputError, match=match):
        cox_fit(e, **kwargs)


def test_cluster_implies_robust(d, fits):
    f = fits["cluster"]
    assert f.robust
    assert not np.allclose(f.se, f.extra["naive_se"])
    close(f.extra["naive_se"], fits["efron"].se, 1e-12)


# ---------------------------------------------------------------- R rerun, bench
@pytest.mark.r
@pytest.mark.rerun
def test_r_cox_reference_rerun(tmp_path):
    assert_rerun_matches(REF / "cox_reference.R", VAL, tmp_path)


def test_bench_table_without_r():
    from sle_nb_utils.bench import cox as bench

    out = bench.run(sizes=(3000,), with_r=False)
    assert list(out.columns) == ["n", "times", "function", "python_s", "r_s", "ratio", "max_abs_diff"]
    assert len(out) == 4 and (out.python_s > 0).all() and out.r_s.isna().all()


LIVE_R = r"""
suppressPackageStartupMessages(library(survival))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1], stringsAsFactors = FALSE)
out <- list()
for (ties in c("efron", "breslow")) for (lt in c(FALSE, TRUE)) {
  f <- if (lt) Surv(entry, time, event) ~ x1 + x2 + g + strata(s) else Surv(time, event) ~ x1 + x2 + g + strata(s)
  fit <- coxph(f, data = d, weights = w, cluster = cid, ties = ties)
  z <- cox.zph(fit, transform = "km")$table
  tag <- paste(ties, lt)
  out[[tag]] <- data.frame(tag = tag, what = c(rep("coef", 4), rep("se", 4), rep("naive", 4), "loglik",
                                               rep("zph", 4)),
                           value = c(coef(fit), sqrt(diag(fit$var)), sqrt(diag(fit$naive.var)),
                                     fit$loglik[2], z[, "chisq"]))
}
o <- do.call(rbind, out)
o$value <- sprintf("%.17g", o$value)
write.csv(o, stdout(), row.names = FALSE)
"""


@pytest.mark.r
def test_live_r_random_design(tmp_path):
    """2000 simulated rows: heavy ties, late entry, 4 strata, weights, clusters, a 3-level factor."""
    from io import StringIO

    rng = np.random.default_rng(11)
    n = 2000
    x1 = rng.normal(size=n)
    g = rng.choice(["a", "b", "c"], n)
    entry = np.where(rng.random(n) < 0.4, rng.integers(1, 10, n), 0)
    t = np.round(rng.exponential(15 * np.exp(-0.4 * x1 - 0.3 * (g == "b")))) + 1
    c = rng.integers(2, 40, n)
    d = pd.DataFrame({"entry": entry, "time": entry + np.minimum(t, c), "event": (t <= c).astype(int),
                      "x1": np.round(x1, 3), "x2": rng.integers(0, 2, n), "g": g,
                      "s": rng.choice(["s1", "s2", "s3", "s4"], n), "w": np.round(rng.uniform(0.2, 3, n), 2),
                      "cid": rng.integers(0, 300, n)})
    d.to_csv(tmp_path / "d.csv", index=False)
    (tmp_path / "live.R").write_text(LIVE_R)
    r = pd.read_csv(StringIO(run_rscript(tmp_path / "live.R", tmp_path / "d.csv").stdout))
    for ties in ("efron", "breslow"):
        for lt in (False, True):
            rr = r[r.tag == f"{ties} {'TRUE' if lt else 'FALSE'}"]
            f = cox_fit(d, ["x1", "x2", "g"], entry="entry" if lt else None, strata="s", weights="w",
                        cluster="cid", ties=ties)
            close(f.params, rr.value[rr.what == "coef"])
            close(f.se, rr.value[rr.what == "se"])
            close(f.extra["naive_se"], rr.value[rr.what == "naive"])
            close(f.loglik, rr.value[rr.what == "loglik"].item())
            close(cox_zph(f).chisq, rr.value[rr.what == "zph"])
