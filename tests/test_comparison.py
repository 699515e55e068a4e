"""Study layer of notebook 02 (:mod:`sle_nb_utils.comparison`): every number derived in the test,
none hard-coded from the bundled data's calibration; one tableone SMD checked by hand; the published
series checked against the notes they were copied from."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import adam, comparison, config, outcomes
from sle_nb_utils.errors import BadInputError
from sle_nb_utils.stats import meta
from sle_nb_utils.stats import weighting as W
from sle_nb_utils.stats.cox import cox_fit
from sle_nb_utils.stats.survival import median_followup


@pytest.fixture(scope="module")
def tables():
    return adam.load_analysis_tables(None)


@pytest.fixture(scope="module")
def data():
    return outcomes.survival_data(None)


@pytest.fixture(scope="module")
def horizon(data):
    return comparison.common_horizon(data)


# ------------------------------------------------------------------ Table 1
def _num(cell: str) -> tuple[float, float]:
    a, b = re.match(r"\s*([-\d.]+) \(([-\d.]+)\)", cell).groups()
    return float(a), float(b)


def test_table1_smd_by_hand(tables):
    """Age by arm: (mean_2 - mean_1) / sqrt((sd_1^2 + sd_2^2) / 2), sample SDs, as tableone."""
    adsl = tables["adsl"]
    t = comparison.table1(adsl, by="arm")
    a1, a2 = comparison.arms(adsl)
    x1 = adsl.loc[adsl.ARM == a1, "AGE"].astype(float)
    x2 = adsl.loc[adsl.ARM == a2, "AGE"].astype(float)
    smd = (x2.mean() - x1.mean()) / np.sqrt((x1.var(ddof=1) + x2.var(ddof=1)) / 2)
    row = t.loc[("Age at transplant, years, mean (SD)", "")]
    assert float(row[f"SMD ({a1},{a2})"]) == pytest.approx(smd, abs=0.0005)
    # the group cell is mean (SD)
    m, s = _num(row[a1])
    assert m == pytest.approx(x1.mean(), abs=0.05) and s == pytest.approx(x1.std(ddof=1), abs=0.05)
    # binary (two levels): Yang & Dalton reduces to |p1 - p2| / sqrt((p1 q1 + p2 q2) / 2)
    p1 = (adsl.loc[adsl.ARM == a1, "LNFL"] == "Y").mean()
    p2 = (adsl.loc[adsl.ARM == a2, "LNFL"] == "Y").mean()
    smd_b = abs(p1 - p2) / np.sqrt((p1 * (1 - p1) + p2 * (1 - p2)) / 2)
    assert float(t.loc[("Lupus nephritis, n (%)", "no"), f"SMD ({a1},{a2})"]) == pytest.approx(smd_b, abs=0.0005)
    # missing counts
    assert int(t.loc[("eGFR at baseline, mL/min/1.73 m2, mean (SD)", ""), "Missing"]) == int(adsl.BEGFR.isna().sum())


def test_table1_marks_every_group_cell_only_with_provenance(tables):
    adsl = tables["adsl"]
    prov = comparison.table1_provenance(adsl)
    assert set(prov["mark"]) <= {"P", "R", "A"}
    assert len(prov) == adsl.STUDYID.nunique() * len(comparison.BASELINE_VARIABLES)
    t = comparison.table1(adsl, by="series", provenance=prov)
    names = comparison.display_names(sorted(adsl.STUDYID.unique()))
    body = t.drop(index="n", level=0)
    for name in names.values():
        assert body[name].str.contains(r"\[(?:P|R|A)\]$").all()
    plain = comparison.table1(adsl, by="series")
    assert not plain[list(names.values())].astype(str).apply(lambda s: s.str.contains(r"\[[PRA/]+\]$")).any().any()
    # a published mark only where the provenance file says so
    pub = prov.loc[prov["mark"] == "P"]
    for r in pub.itertuples():
        cells = body.loc[body.index.get_level_values(0).str.startswith(r.variable + ","), names[r.cohort]]
        assert cells.str.endswith("[P]").all()


# ------------------------------------------------------------------ series differences
def test_series_differences_are_computed_from_the_data(tables, data):
    adsl = tables["adsl"]
    d = comparison.series_differences(tables, data)
    assert list(d["cohort"]) == (adsl[["ARM", "STUDYID"]].drop_duplicates()
                                 .sort_values(["ARM", "STUDYID"])["STUDYID"].tolist())
    for r in d.itertuples():
        a = adsl.loc[adsl.STUDYID == r.cohort]
        o = data.loc[(data.endpoint == "OS") & (data.cohort == r.cohort)]
        assert r.n == len(a)
        assert r.nephritis_pct == pytest.approx(100 * (a.LNFL == "Y").mean())
        assert r.followup_max_months == pytest.approx(o.time_months.max())
        assert r.followup_median_months == pytest.approx(median_followup(o.time_months, o.status == 1)["median"].iloc[0])
        assert r.centres == a.SITEID.nunique()
        assert r.time_origin and r.indication


def test_display_names_follow_the_one_naming_rule():
    from sle_nb_utils import published

    codes = ["my_cohort_2024", "hsct_burt2006"]
    assert comparison.display_names(codes) == dict(published.cohort_display_names(codes))
    assert comparison.display_names(["my_cohort_2024"])["my_cohort_2024"] != ""


def test_select_restricts_and_refuses_unknown_cohorts(tables, data):
    c = sorted(tables["adsl"].STUDYID.unique())[0]
    t2, d2 = comparison.select(tables, data, [c])
    assert set(t2["adsl"].STUDYID) == {c} and set(d2.cohort) == {c}
    assert set(t2["visits"].patient_id) <= set(t2["patients"].patient_id)
    with pytest.raises(BadInputError, match="not in the data"):
        comparison.select(tables, data, ["no_such_cohort"])


# ------------------------------------------------------------------ common horizon and outcomes
def test_common_horizon_rule(data, horizon):
    o = data[data.endpoint == "OS"]
    assert horizon > 0 and horizon % 12 == 0
    assert horizon <= o.groupby("cohort").time_months.max().min()
    n_risk = o[o.time_months >= horizon].groupby("cohort").size()
    assert n_risk.min() >= 10 and len(n_risk) == o.cohort.nunique()
    nxt = horizon + 12
    n_next = o[o.time_months >= nxt].groupby("cohort").size().reindex(o.cohort.unique(), fill_value=0)
    assert nxt > o.groupby("cohort").time_months.max().min() or n_next.min() < 10
    with pytest.raises(BadInputError):
        comparison.common_horizon(data, min_at_risk=10_000)


def test_outcomes_at_horizon_match_the_milestone_tables(data, horizon):
    t = comparison.outcomes_at_horizon(data, horizon)
    for ep in ("OS", "REL"):
        m = outcomes.milestone_table(data, ep, by="cohort", at=[horizon])
        got = t[t.endpoint == ep].reset_index(drop=True)
        np.testing.assert_allclose(got.estimate_pct, m.estimate_pct)
        np.testing.assert_array_equal(got.n_risk, m.n_risk)


def test_outcomes_at_horizon_fills_complete_curves_only():
    """A group in which everyone had an event before the horizon keeps its final value; a group
    censored before the horizon stays NaN."""
    rows = []
    for i, t in enumerate([1.0, 2.0, 3.0]):
        rows.append({"patient_id": f"a{i}", "cohort": "a", "arm": "X", "endpoint": "CR", "time_months": t,
                     "status": 1 if i < 2 else 2})
    for i, t in enumerate([1.0, 2.0, 3.0]):
        rows.append({"patient_id": f"b{i}", "cohort": "b", "arm": "X", "endpoint": "CR", "time_months": t,
                     "status": 1 if i < 2 else 0})
    d = pd.DataFrame(rows)
    t = comparison.outcomes_at_horizon(d, 12.0, endpoints=["CR"]).set_index("group")
    assert t.loc["a", "estimate_pct"] == pytest.approx(200 / 3)
    assert np.isnan(t.loc["b", "estimate_pct"])


def test_crude_proportions_and_wilson(data, horizon):
    c = comparison.crude_proportions(data, horizon)
    for r in c.itertuples():
        d = data[(data.endpoint == r.endpoint) & (data.cohort == r.group)]
        assert r.n == len(d)
        assert r.events == int(((d.status == 1) & (d.time_months <= horizon)).sum())
    # Wilson by its formula: (p + z^2/2n -/+ z sqrt(p q / n + z^2 / 4n^2)) / (1 + z^2 / n)
    k, n, z = 82, 87, 1.959963984540054
    p = k / n
    centre, half = p + z**2 / (2 * n), z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    lo, hi = comparison.wilson(k, n)
    assert float(lo) == pytest.approx((centre - half) / (1 + z**2 / n), abs=1e-12)
    assert float(hi) == pytest.approx((centre + half) / (1 + z**2 / n), abs=1e-12)


# ------------------------------------------------------------------ adjustment
def test_iptw_analysis_is_the_stats_layer(tables, data, horizon):
    a1, a2 = comparison.arms(tables["adsl"])
    adj = comparison.iptw_analysis(tables, data, a1)
    f = adj.frame
    assert set(f.arm) == {a1, a2} and (f.treated == (f.arm == a1)).all()
    m = W.propensity_model(f, "treated", list(comparison.PS_COVARIATES))
    np.testing.assert_allclose(f.ps, m.extra["ps"], atol=1e-12)
    np.testing.assert_allclose(f.weight, W.iptw_weights(f.treated, f.ps), atol=1e-12)
    ess = adj.ess().set_index("arm")
    assert ess.loc[a1, "ess"] == pytest.approx(W.kish_ess(f.loc[f.arm == a1, "weight"]))
    assert (ess["ess"] <= ess["n"]).all()
    cox = adj.cox(horizon).set_index(["endpoint", "weighting"])
    g = f.assign(time=np.minimum(f.os_time, horizon), event=np.where(f.os_time > horizon, 0.0, f.os_event))
    fit = cox_fit(g, ["treated"], weights="weight", robust=True)
    assert cox.loc[("OS", adj.label), "hr"] == pytest.approx(float(np.exp(fit.params.iloc[0])), rel=1e-12)
    assert cox.loc[("OS", adj.label), "robust_se"] == pytest.approx(float(fit.se.iloc[0]), rel=1e-12)
    b = adj.balance()
    assert list(b.covariate) == list(comparison.PS_COVARIATES)


def test_trimming_rules(tables, data, horizon):
    a1 = comparison.arms(tables["adsl"])[0]
    trimmed = comparison.iptw_analysis(tables, data, a1, trim="ps", alpha=0.1)
    full = comparison.iptw_analysis(tables, data, a1)
    assert len(trimmed.frame) == int(W.ps_trim(full.frame.ps, 0.1).sum())
    capped = comparison.iptw_analysis(tables, data, a1, trim="truncate")
    assert capped.frame.weight.max() <= full.frame.weight.max()
    s = comparison.trimming_sensitivity(tables, data, a1, horizon)
    assert s.groupby("rule").size().eq(2).all() and s.rule.nunique() == 4


def test_maic_matches_published_targets(tables, data, horizon):
    pub = comparison.published_series()
    target = pub.loc[pub.measure == "female"].series_id.iloc[0]
    arm = next(a for a in comparison.arms(tables["adsl"]) if a != pub.loc[pub.series_id == target, "arm"].iloc[0])
    m = comparison.maic_analysis(tables, data, arm, target, horizon)
    np.testing.assert_allclose(m["balance"]["weighted"], m["balance"]["target"], atol=1e-9)
    assert m["result"].converged
    assert 0 < m["ess"]["ess"].iloc[0] < m["ess"]["n"].iloc[0]
    # every target comes from a confirmed published row
    for r in m["targets"].itertuples():
        row = pub.loc[(pub.series_id == target) & (pub.measure == r.variable)].iloc[0]
        assert row.confirmed and row.value == r.published


# ------------------------------------------------------------------ published series
def test_published_series_figures_come_from_the_notes():
    pub = comparison.published_series()
    notes = (config.PUBLISHED_DIR / "README.md").read_text() + (config.PUBLISHED_DIR / "published_figures.csv").read_text()
    assert {"MSCT", "HSCT"} == set(pub.arm)
    for r in pub.itertuples():
        assert r.citation, r.series_id
        if not r.confirmed:
            assert np.isnan(r.value) and np.isnan(r.numerator), r.series_id
            continue
        assert r.quote and r.quote in notes, (r.series_id, r.quote)
        if np.isfinite(r.numerator) and np.isfinite(r.denominator) and r.statistic == "percent":
            assert abs(100 * r.numerator / r.denominator - r.value) < 0.6, (r.series_id, r.measure)
    # the series the issue names are all listed, found or not
    for s in ("liang2010", "sun2010", "wang2013", "wang2014", "wang2018", "jayne2004", "burt2006", "alchi2013"):
        assert s in set(pub.series_id)


def test_forest_intervals(data, horizon):
    f = comparison.forest_table("overall_survival", data, horizon)
    pub = f[f.source == "published"]
    for r in pub.itertuples():
        if r.interval == "Wilson":
            lo, hi = comparison.wilson(r.numerator, r.denominator)
            assert r.lower_pct == pytest.approx(100 * float(lo)) and r.upper_pct == pytest.approx(100 * float(hi))
        if not r.confirmed:
            assert np.isnan(r.estimate_pct)
    assert set(f.loc[f.source == "this data", "series_id"]) == set(data.cohort)


def test_pooling_rules():
    def forest(rows):
        return pd.DataFrame([{"source": "published", "confirmed": True, "arm": "X", "series_id": s, "numerator": k,
                              "denominator": n, "overlap_group": g} for s, k, n, g in rows])

    three = forest([("a", 30, 40, "a"), ("b", 50, 60, "b"), ("c", 20, 35, "c")])
    p = comparison.pooled_estimates(three).iloc[0]
    ref = meta.pool_proportions([30, 50, 20], [40, 60, 35]).iloc[0]
    assert p["pooled"] and p["k"] == 3
    assert p["estimate_pct"] == pytest.approx(100 * ref["estimate"]) and p["tau2"] == pytest.approx(ref["tau2"])
    overlapping = forest([("a", 30, 40, "g"), ("b", 50, 60, "g"), ("c", 20, 35, "c")])
    p = comparison.pooled_estimates(overlapping).iloc[0]
    assert not p["pooled"] and p["k"] == 2 and "a" in p["reason"] and "overlapping" in p["reason"]
