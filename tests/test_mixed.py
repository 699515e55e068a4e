"""Mixed models: the 2 x 2-block REML fitter against lme4, GLS-AR(1) against nlme, statsmodels.

Values written by ``tests/reference/mixed_reference.R`` into ``tests/reference/values/mixed/`` from
``tests/reference/mixed_fixture.csv``; the ``r``-marked test reruns the script (skipped without R).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rtools import assert_rerun_matches, require_r

from sle_nb_utils.errors import BadInputError
from sle_nb_utils.stats import mixed

REF = Path(__file__).resolve().parent / "reference"
VAL = REF / "values" / "mixed"
TOL = 1e-4  # the criterion; the fits agree far closer (checked below at 1e-6)
R_TERMS = {"(Intercept)": "Intercept", "armB": "arm[B]", "years:armB": "years:arm[B]", "years": "years"}


@pytest.fixture(scope="module")
def d() -> pd.DataFrame:
    return pd.read_csv(REF / "mixed_fixture.csv")


def lmm_ref(model: str) -> pd.DataFrame:
    r = pd.read_csv(VAL / "lmm.csv")
    return r[r.model == model]


def q(r: pd.DataFrame, quantity: str) -> pd.Series:
    s = r[r.quantity == quantity]
    return pd.Series(s.value.to_numpy(float), index=[R_TERMS.get(t, t) for t in s.term])


SPECS = {
    "slope_interaction": dict(y="y", fixed=["years", "arm", "years:arm"], random_slope=True),
    "slope_logprot": dict(y="logprot", fixed=["years", "arm"], random_slope=True),
    "intercept_only": dict(y="y", fixed=["years", "arm"], random_slope=False),
    "boundary": dict(y="y", fixed=["years", "arm", "years:arm"], random_slope=True,
                     data="mixed_boundary_fixture.csv"),
}


@pytest.mark.parametrize("model", list(SPECS))
def test_lmm_matches_lme4(d, model):
    spec = SPECS[model]
    r = lmm_ref(model)
    if "data" in spec:
        d = pd.read_csv(REF / spec["data"])
    fit = mixed.fit_lmm(d, spec["y"], spec["fixed"], "id", "years", random_slope=spec["random_slope"])
    # lme4 flags a boundary fit with "boundary (singular) fit" (isSingular); so do we
    assert fit.converged and fit.extra["singular"] == (model == "boundary")
    coef, se = q(r, "coef"), q(r, "se")
    assert list(fit.params.index) == list(coef.index)
    np.testing.assert_allclose(fit.params, coef, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit.se, se, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit.extra["theta"], q(r, "theta").to_numpy(), rtol=1e-5, atol=1e-6)
    sd = q(r, "sd")
    assert fit.extra["sd_intercept"] == pytest.approx(sd["Intercept"], rel=1e-6)
    assert fit.extra["sigma"] == pytest.approx(sd["Residual"], rel=1e-6)
    if spec["random_slope"]:
        assert fit.extra["sd_slope"] == pytest.approx(sd["years"], rel=1e-6)
        assert fit.extra["corr"] == pytest.approx(q(r, "corr").iloc[0], abs=1e-6)
    assert fit.extra["reml_criterion"] == pytest.approx(q(r, "reml").iloc[0], abs=1e-7)
    assert fit.n_events == fit.extra["n_groups"] == int(q(r, "n_groups").iloc[0])
    vc = fit.extra["var_components"]
    assert list(vc.columns) == ["component", "variance", "sd", "corr"]
    np.testing.assert_allclose(vc.sd.to_numpy(), np.sqrt(vc.variance.to_numpy()))


def test_lmm_at_least_as_good_as_lme4_defaults(d):
    """lme4 with its default optimiser stops slightly short of the optimum; we are within 1e-4 of
    it (the issue's criterion) and no worse on the REML criterion."""
    r = lmm_ref("slope_default")
    fit = mixed.fit_lmm(d, "y", ["years", "arm", "years:arm"], "id", "years")
    np.testing.assert_allclose(fit.params, q(r, "coef"), rtol=TOL, atol=TOL)
    np.testing.assert_allclose(fit.se, q(r, "se"), rtol=TOL, atol=TOL)
    assert fit.extra["sd_slope"] == pytest.approx(q(r, "sd")["years"], rel=TOL)
    assert fit.extra["reml_criterion"] <= q(r, "reml").iloc[0] + 1e-9


def test_lmm_gradient_is_analytic_derivative(d):
    from scipy import optimize

    data = mixed.lmm_data(d, "y", ["years", "arm"], "id", "years")
    blocks = mixed._Blocks(data)
    for th in ([1.7, -0.25, 0.6], [0.4, 0.3, 1.2]):
        th = np.array(th)
        _, g = blocks.reml_grad(th, True)
        num = optimize.approx_fprime(th, lambda x: blocks.reml(x, True), 1e-6)
        np.testing.assert_allclose(g, num, rtol=1e-4, atol=2e-3)


def test_lmm_matches_statsmodels(d):
    fit = mixed.fit_lmm(d, "logprot", ["years", "arm"], "id", "years")
    sm = mixed.fit_mixedlm_statsmodels(d, "logprot", ["years", "arm"], "id", "years")
    np.testing.assert_allclose(fit.params, sm.params, rtol=1e-4, atol=1e-5)
    # statsmodels takes the fixed-effect SEs from the joint Hessian (fixed effects and variance
    # parameters), lme4 and we from sigma^2 (X'V^-1X)^-1 at the estimates: they differ by < 1%
    np.testing.assert_allclose(fit.se, sm.se, rtol=1e-2)
    assert fit.extra["sd_slope"] == pytest.approx(sm.extra["sd_slope"], rel=1e-3)
    assert fit.loglik == pytest.approx(sm.loglik, rel=1e-8, abs=1e-4)


@pytest.mark.parametrize("model,time", [("car1_month", "month"), ("ar1_visit_index", "visit_index")])
def test_gls_ar1_matches_nlme(d, model, time):
    r = pd.read_csv(VAL / "gls.csv")
    r = r[r.model == model]
    fit = mixed.fit_gls_ar1(d, "y", ["years", "arm", "years:arm"], "id", time)
    np.testing.assert_allclose(fit.params, q(r, "coef"), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(fit.se, q(r, "se"), rtol=1e-6, atol=1e-6)
    assert fit.extra["phi"] == pytest.approx(q(r, "phi").iloc[0], abs=1e-6)
    assert fit.extra["sigma"] == pytest.approx(q(r, "sigma").iloc[0], rel=1e-6)
    assert fit.loglik == pytest.approx(q(r, "loglik").iloc[0], abs=1e-6)


def test_result_shape_and_order_invariance(d):
    fit = mixed.fit_lmm(d, "y", ["years", "arm"], "id", "years")
    shuffled = d.sample(frac=1.0, random_state=3)
    fit2 = mixed.fit_lmm(shuffled, "y", ["years", "arm"], "id", "years")
    np.testing.assert_allclose(fit.params, fit2.params, rtol=1e-8)
    s = fit.summary
    assert list(s.term) == ["Intercept", "years", "arm[B]"]
    assert {"coef", "se", "lower", "upper", "z", "p", "converged"} <= set(s.columns)
    assert fit.n == len(d) and "ModelResult" in repr(fit) and "0x" not in repr(fit)


def test_bad_input(d):
    x = d.copy()
    x.loc[3, "y"] = np.nan
    with pytest.raises(BadInputError, match="'y'.*1 missing"):
        mixed.fit_lmm(x, "y", ["years"], "id", "years")
    with pytest.raises(BadInputError, match="'nope'"):
        mixed.fit_lmm(d, "y", ["nope"], "id", "years")
    with pytest.raises(BadInputError, match="main effect"):
        mixed.fit_lmm(d, "y", ["years:arm"], "id", "years")
    x = d.assign(c=1.0)
    with pytest.raises(BadInputError, match="'c'.*constant"):
        mixed.fit_lmm(x, "y", ["years", "c"], "id", "years")
    x = d.assign(twice=2 * d.years)
    with pytest.raises(BadInputError, match="'twice'.*collinear"):
        mixed.fit_lmm(x, "y", ["years", "twice"], "id", "years")
    with pytest.raises(BadInputError, match="one group"):
        mixed.fit_lmm(d.assign(id="same"), "y", ["years"], "id", "years")
    with pytest.raises(BadInputError, match="repeated time"):
        mixed.fit_gls_ar1(pd.concat([d, d.head(1)]), "y", ["years"], "id", "month")


def test_singular_fit_at_boundary():
    """No between-patient slope variance: theta on its bound, still converged, no warning."""
    rng = np.random.default_rng(1)
    ids = np.repeat(np.arange(80), 6)
    t = np.tile(np.arange(6.0), 80)
    y = 2 + 0.5 * t + rng.normal(0, 1, 80)[ids] + rng.normal(0, 1, ids.size)
    df = pd.DataFrame({"id": ids, "t": t, "y": y})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = mixed.fit_lmm(df, "y", ["t"], "id", "t")
    assert fit.converged
    assert fit.extra["sd_slope"] < 0.2
    assert fit.extra["singular"]


@pytest.mark.r
@pytest.mark.rerun
def test_r_reference_rerun(tmp_path):
    assert_rerun_matches(REF / "mixed_reference.R", VAL, tmp_path)


@pytest.mark.r
@pytest.mark.slow
def test_bench_estimates_equal_lme4_live():
    """The benchmark's comparison at 2,000 patients x 10 visits: our fit against a live lme4 fit
    (timings are reported by ``make bench``, not asserted)."""
    require_r()
    from sle_nb_utils.bench import mixed as bench

    out = bench.run(n_patients=2000, repeat=1).set_index("fitter")
    ours = out.loc["sle_nb_utils fit_lmm (2x2 blocks)"]
    assert ours.max_abs_diff_coef < 1e-4 and ours.max_abs_diff_se < 1e-4 and ours.max_abs_diff_varcomp < 1e-4
    assert np.isfinite(ours.ratio_to_lme4)
