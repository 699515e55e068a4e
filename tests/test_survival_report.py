"""The study layer ``sle_nb_utils.outcomes``: the report tables agree with the core estimators.

The core estimators are checked against R in ``test_survival.py``; here each report function is
checked to pass the same numbers through (and to reproduce the published calibration targets).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import outcomes
from sle_nb_utils.stats import competing as cr
from sle_nb_utils.stats import cox
from sle_nb_utils.stats import survival as sv

HSCT = ["hsct_burt2006", "hsct_ebmt2013"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return outcomes.survival_data()


def rows(data, endpoint, cohort=None):
    d = data[data.endpoint == endpoint]
    return d if cohort is None else d[d.cohort == cohort]


def test_survival_data_shape_and_covariates(data):
    assert set(data.endpoint) == {"OS", "DFS", "REL", "NRM", "TRM", "CR"}
    # primary origin = transplant: the 2 Burt patients never transplanted are outside the analysis set
    assert data.groupby("endpoint").patient_id.nunique().eq(48 + 28 + 87).all()
    for c in ("time_months", "status", "event", "sex", "age_at_transplant_years", "lupus_nephritis",
              "cd34_selected", "transplanted"):
        assert c in data.columns
    os_ = rows(data, "OS")
    assert os_.loc[os_.arm == "MSCT", "cd34_selected"].isna().all()
    assert os_.transplanted.all()
    itt = outcomes.survival_data(definition="origin_itt_mobilisation")
    assert itt.groupby("endpoint").patient_id.nunique().eq(50 + 28 + 87).all()
    assert (~rows(itt, "OS").transplanted).sum() == 2


def test_endpoint_frame_codes_covariates(data):
    f = outcomes.endpoint_frame(data, "DFS", cohorts=HSCT)
    assert len(f) == 76 and f.hsct.eq(1).all()
    assert set(f.cd34_selected) == {0.0, 1.0}
    d = rows(data, "DFS").query("cohort in @HSCT").sort_values(["cohort", "patient_id"])
    np.testing.assert_allclose(f.age_per_10_years, d.age_at_transplant_years / 10)
    with pytest.raises(ValueError):
        outcomes.endpoint_frame(data, "XYZ")


def test_format_pm():
    assert outcomes.format_pm(80.6, 7.8) == "81 ± 8%"
    assert outcomes.format_pm(84.0, None) == "84%"
    assert outcomes.format_pm(np.nan, 1.0) == "n/a"


def test_milestone_table_km_and_cif(data):
    m = outcomes.milestone_table(data, "OS", by="cohort")
    d = rows(data, "OS", "hsct_ebmt2013")
    ref = sv.km_milestones(d.time_months, d.event)
    got = m[m.group == "hsct_ebmt2013"]
    np.testing.assert_allclose(got.estimate_pct, 100 * ref.surv)
    np.testing.assert_allclose(got.se_pct, 100 * ref.se)
    assert got.estimate_pm.iloc[-1] == "81 ± 8%"
    # beyond the MSCT series' follow-up: not estimable
    assert m.query("group == 'msct_wang2013' and months == 60").estimate_pm.item() == "n/a"
    r = outcomes.milestone_table(data, "REL", by=None, at=[60], cohorts="hsct_ebmt2013")
    d = rows(data, "REL", "hsct_ebmt2013")
    cif, var = cr.cif_var_at(d.time_months, d.status, 60.0)
    assert r.estimator.item() == "AJ"
    assert r.estimate_pct.item() == pytest.approx(100 * cif)
    assert r.se_pct.item() == pytest.approx(100 * np.sqrt(var))


def test_at_risk_table_matches_risk_table(data):
    w = outcomes.at_risk_table(data, "OS", by="arm", at=(0, 12))
    d = rows(data, "OS")
    rt = sv.risk_table(d.time_months, d.event, [12], group=d.arm)
    h = rt[rt.group == "HSCT"].iloc[0]
    assert w.set_index("group").loc["HSCT", "12 mo"] == f"{h.n_risk} ({h.n_event_cum})"
    assert w.set_index("group").loc["MSCT", "0 mo"] == "87 (0)"


def test_logrank_summary_matches_logrank_test(data):
    s = outcomes.logrank_summary(data, "DFS", "arm", strata="lupus_nephritis")
    d = rows(data, "DFS")
    lr = sv.logrank_test(d.time_months, d.event, d.arm, strata=d.lupus_nephritis.astype(str))
    assert s.comparison.item() == "HSCT vs MSCT" and s.n.item() == 163
    assert s.chisq.item() == pytest.approx(lr.chisq.iloc[0])
    assert s.p.item() == pytest.approx(lr.p.iloc[0])
    with pytest.raises(ValueError):
        outcomes.logrank_summary(data, "REL", "arm")


def test_median_table_and_rmst_table(data):
    m = outcomes.median_table(data, "DFS", by="cohort")
    d = rows(data, "OS", "hsct_ebmt2013")
    fu = sv.median_followup(d.time_months, d.event)
    got = m.set_index("group").loc["hsct_ebmt2013"]
    assert got.followup_median == pytest.approx(fu["median"].item())
    assert got.followup_max == pytest.approx(d.time_months.max())
    r = outcomes.rmst_table(data, "OS", tau=60, by="arm").set_index("group")
    assert bool(r.loc["HSCT", "tau_within_followup"]) and not bool(r.loc["MSCT", "tau_within_followup"])
    d = rows(data, "OS")
    ref = sv.rmst(d.time_months, d.event, 60, group=d.arm).set_index("group")
    assert r.loc["MSCT", "rmst"] == pytest.approx(ref.loc["MSCT", "rmst"])


def test_competing_risks_table_adds_to_100(data):
    t = outcomes.competing_risks_table(data, by="cohort", cohorts=HSCT)
    assert len(t) == 10
    np.testing.assert_allclose(t.total_pct, 100.0, atol=1e-9)
    e = t.query("group == 'hsct_ebmt2013' and months == 60").iloc[0]
    assert (round(e.relapse_pct), round(e.nrm_pct), round(e.dfs_pct)) == (56, 15, 29)


def test_gray_summary_matches_gray_test(data):
    g = outcomes.gray_summary(data, "REL", by="cohort", cohorts=HSCT)
    d = rows(data, "REL").query("cohort in @HSCT")
    ref = cr.gray_test(d.time_months, d.status, d.cohort)
    np.testing.assert_allclose(g.chisq, ref.chisq)
    assert list(g.event) == ["relapse", "death without relapse"]


def test_cox_model_matches_cox_fit(data):
    res = outcomes.cox_model(data, "DFS", ["hsct", "age_per_10_years", "nephritis"], label="m")
    f = outcomes.endpoint_frame(data, "DFS")
    ref = cox.cox_fit(f, ["hsct", "age_per_10_years", "nephritis"]).summary
    np.testing.assert_allclose(res.summary.coef, ref.coef)
    assert list(res.summary.label) == ["HSCT (vs MSCT)", "age, per 10 years", "lupus nephritis"]
    assert list(res.zph.term) == ["hsct", "age_per_10_years", "nephritis", "GLOBAL"]
    assert (res.n, res.n_event) == (163, int(f.event.sum()))
    assert "0x" not in repr(res)
    strat = outcomes.cox_model(data, "DFS", ["cd34_selected"], cohorts=HSCT, strata="cohort")
    assert strat.n == 76 and strat.fit.columns["strata"] == ["cohort"] and strat.fit.strata_levels == HSCT


def test_fine_gray_model_matches_fine_gray(data):
    s = outcomes.fine_gray_model(data, "REL", ["cd34_selected", "age_per_10_years"], cohorts=HSCT)
    f = outcomes.endpoint_frame(data, "REL", cohorts=HSCT)
    ref = cr.fine_gray(f.time, f.status, f[["cd34_selected", "age_per_10_years"]]).summary
    np.testing.assert_allclose(s.coef, ref.coef)
    assert (s.n.iloc[0], s.n_events.iloc[0]) == (76, int((f.status == 1).sum())) and s.converged.all()


def test_published_comparison_passes_and_can_fail(data):
    t = outcomes.published_comparison(data)
    assert len(t) == 6 and t["pass"].all()
    assert t.set_index(["cohort", "endpoint"]).loc[("hsct_ebmt2013", "OS"), "published"] == "81 ± 8%"
    from sle_nb_utils import published

    wrong = published.figures()
    wrong.loc[(wrong.cohort == "hsct_ebmt2013") & (wrong.measure == "overall_survival"), "se_pct"] = 5
    t2 = outcomes.published_comparison(data, wrong).set_index(["cohort", "endpoint"])
    assert not t2.loc[("hsct_ebmt2013", "OS"), "pass"]


def test_rounds_to_half_up():
    from sle_nb_utils import published

    assert published.rounds_to(83.5, 84) and not published.rounds_to(83.49, 84) and not published.rounds_to(np.nan, 84)


def test_trm_counts_both_ways():
    data = outcomes.survival_data(definition="origin_itt_mobilisation")  # both counts are ITT
    t = outcomes.trm_counts(data, "hsct_burt2006").set_index("count")
    assert t.loc["treatment-related deaths", "deaths"] == 1
    assert t.loc["deaths after mobilisation, before transplant", "deaths"] == 2
    assert list(t.published_pct) == [2.0, 4.0]
    assert list(t.published_by) == ["burt2006", "sun_seed"]
    assert t["pass"].all() and t.hypothesis.str.len().gt(0).all()
    # a count that disagrees with its source is a failure, not a silent NaN
    bad = data.copy()
    bad.loc[(bad.endpoint == "TRM") & (bad.cohort == "hsct_burt2006") & (bad.status == 2), "status"] = 1
    assert not outcomes.trm_counts(bad, "hsct_burt2006").set_index("count").loc["treatment-related deaths", "pass"]


def test_forest_ticks_override():
    import matplotlib.pyplot as plt

    from sle_nb_utils import survplot

    tab = pd.DataFrame({"term": ["a", "b"], "hr": [0.5, 2.0], "lower": [0.3, 1.1], "upper": [0.9, 3.5]})
    ax = survplot.plot_forest(tab, ticks=[0.25, 1, 4])
    assert list(ax.get_xticks()) == [0.25, 1, 4]
    plt.close("all")


# ---------------------------------------------------------------- issue 9: definitions, variance, follow-up
def test_sensitivity_table_primary_matches_and_itt_does_not():
    t = outcomes.sensitivity_table()
    prim = t[t.definition == "primary"]
    pub = prim[prim.published_pct.notna()]
    assert len(pub) == 6 and pub.matches_published.astype(bool).all()
    itt = t.query("definition == 'origin_itt_mobilisation' and cohort == 'hsct_burt2006'")
    assert set(itt.n) == {50} and not itt.query("endpoint in ['OS', 'DFS']").matches_published.astype(bool).any()
    # each row is the milestone of its own definition's table
    vis = outcomes.survival_data(definition="relapse_visits_only")
    d = rows(vis, "REL", "hsct_ebmt2013")
    cif, _ = cr.cif_var_at(d.time_months, d.status, 60.0)
    got = t.query("definition == 'relapse_visits_only' and cohort == 'hsct_ebmt2013' and endpoint == 'REL'")
    assert got.estimate_pct.item() == pytest.approx(100 * cif)


def test_origin_comparison_side_by_side():
    o = outcomes.origin_comparison().set_index("endpoint")
    assert list(o.n_from_transplant) == [48] * 4 and list(o.n_itt) == [50] * 4
    assert o.loc["OS", "matches_from_transplant"] and not o.loc["OS", "matches_itt"]
    assert o.loc["OS", "itt_mobilisation_pct"] < o.loc["OS", "from_transplant_pct"]


def test_cif_variance_table_two_estimators(data):
    from sle_nb_utils.stats.cif_variance import cif_ij_se_at

    v = outcomes.cif_variance_table(data).set_index(["cohort", "endpoint"])
    e = v.loc[("hsct_ebmt2013", "REL")]
    d = rows(data, "REL", "hsct_ebmt2013")
    _, se = cif_ij_se_at(d.time_months, d.status, 60.0)
    assert e.se_ij_pct == pytest.approx(100 * se)
    # the published "56 ± 11" is Gray's (cmprsk) SE; the survfit (IJ) SE rounds to 10
    assert bool(e.gray_matches) and not bool(e.ij_matches)


def test_follow_up_table_reconciles_three_ways(data):
    f = outcomes.follow_up_table(data).set_index("cohort")
    e = f.loc["hsct_ebmt2013"]
    d = rows(data, "OS", "hsct_ebmt2013")
    assert e.crude_median == pytest.approx(d.time_months.median())
    assert e.reverse_km_median == pytest.approx(sv.median_followup(d.time_months, d.event)["median"].item())
    assert e.published == "median 38 (1-110)" and round(e.crude_median) == 38
    assert round(f.loc["msct_wang2013", "crude_mean"]) == 27 and round(f.loc["hsct_burt2006", "crude_mean"]) == 29


def test_censoring_pattern_and_causes_of_death(data):
    from sle_nb_utils import adam

    p = adam.load_analysis_tables(None)["patients"]
    c = outcomes.censoring_pattern(p).set_index("cohort")
    assert (c.deaths + c.censored_at_cutoff + c.lost_to_follow_up == c.patients).all()
    assert (c.lost_to_follow_up > 0).all()
    end = outcomes.follow_up_end(p)  # the per-patient codes the table counts (and the figure draws)
    counts = end.groupby(p.cohort).value_counts().unstack(fill_value=0)
    assert (counts[0] == c.censored_at_cutoff).all() and (counts[1] == c.lost_to_follow_up).all()
    assert (counts[2] == c.deaths).all()
    assert (end[p.death_date.notna()] == 2).all()
    k = outcomes.causes_of_death(p, data)
    assert k.deaths.sum() == p.death_date.notna().sum()
    assert k.query("after == 'before transplant'").deaths.sum() == 2
    assert k.query("treatment_related").deaths.sum() == p.death_treatment_related.fillna(False).sum()


def test_cd34_check_reproduces_the_calibration_target(data):
    r = outcomes.cd34_calibration_check(data)
    assert round(r["gray"].query("cause == 1").p.item(), 3) == 0.001  # Alchi 2013: p = 0.001
    assert r["fine_gray"].converged.all() and (r["fine_gray"].coef < 0).all()


def test_plot_cif_and_follow_up_return_axes(data):
    import matplotlib.pyplot as plt

    from sle_nb_utils import survplot

    d = rows(data, "REL").query("cohort in @HSCT")
    ax = survplot.plot_cif(d.time_months, d.status, d.cohort, risk_table_at=[0, 24, 48])
    assert list(ax.get_xticks()) == [0, 24, 48] and len(ax.get_lines()) == 2
    assert any(t.get_text() == "48 (0)" for t in ax.texts)
    plt.close("all")


def test_notebook_04_has_no_between_series_tests_and_no_overclaiming_title():
    """Issue 9, findings 5 and 11: no HSCT-vs-MSCT p-values or hazard ratios in notebook 04 (notebook
    02 owns that comparison), and the title says what the notebook shows."""
    import json
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "04_survival_curves.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert 'by="arm"' not in code and '"arm"' not in code
    assert '"hsct"' not in code  # no arm term in any model
    assert "logrank_summary" not in code
    assert "would sign" not in text and "statistician" not in text.lower()
    # the generator-made CD34 association is labelled as a calibration check, within one series
    assert "calibration check" in text and "cd34_calibration_check" in code


# ---------------------------------------------------------------------------------------------
# any cohort (issue 13, item 1): cohorts, arms and names come from the data
# ---------------------------------------------------------------------------------------------
def _relabelled(data):
    codes = {"hsct_burt2006": "hsct_center_a", "hsct_ebmt2013": "hsct_center_c", "msct_wang2013": "msct_center_b"}
    return data.assign(cohort=data.cohort.map(codes))


def test_cohort_lists_come_from_the_arm_column(data):
    assert outcomes.arm_cohorts(data, "HSCT") == HSCT
    assert outcomes.arm_cohorts(data, "msct") == ["msct_wang2013"]
    other = _relabelled(data)
    assert outcomes.arm_cohorts(other, "HSCT") == ["hsct_center_a", "hsct_center_c"]
    assert outcomes.series_cohort(data, "burt2006") == "hsct_burt2006"
    assert outcomes.series_cohort(other, "burt2006") is None
    assert outcomes.calibration_cohorts(data, "HSCT") == HSCT and outcomes.calibration_cohorts(other) == []


def test_calibration_functions_say_why_they_cannot_run_on_unmapped_cohorts(data):
    other = _relabelled(data)
    with pytest.raises(ValueError, match="Burt 2006"):
        outcomes.trm_counts(other)
    with pytest.raises(ValueError, match="Alchi 2013"):
        outcomes.cd34_calibration_check(other)
    assert outcomes.published_comparison(other).empty
    assert list(outcomes.published_comparison(other).columns)[:3] == ["cohort", "measure", "endpoint"]
    assert outcomes.cif_variance_table(other).empty
    # the defaults find the bundled series through cohort_sources.csv, with the same numbers as before
    pd.testing.assert_frame_equal(outcomes.trm_counts(data), outcomes.trm_counts(data, "hsct_burt2006"))
    assert outcomes.cd34_calibration_check(data)["cif"].equals(
        outcomes.cd34_calibration_check(data, "hsct_ebmt2013")["cif"])


def test_display_names_one_rule_with_readable_fallback():
    from sle_nb_utils import claims, longitudinal, published

    names = published.cohort_display_names(["hsct_burt2006", "hsct_ebmt2013", "msct_wang2013", "hsct_center_a",
                                            "site-3"])
    assert names == {"hsct_burt2006": "HSCT, Burt 2006", "hsct_ebmt2013": "HSCT, EBMT 2013",
                     "msct_wang2013": "MSCT, Wang 2013", "hsct_center_a": "HSCT, Center A", "site-3": "Site 3"}
    # names stay distinct when two codes read alike
    assert len(set(published.cohort_display_names(["center_a", "center-a"]).values())) == 2
    adsl = pd.DataFrame({"STUDYID": ["msct_center_b", "hsct_center_a"]})
    assert longitudinal.cohort_labels(adsl) == published.cohort_display_names(adsl.STUDYID)
    assert claims.cohort_names({"adsl": adsl}) == published.cohort_display_names(adsl.STUDYID)


def test_plots_with_no_rows_draw_an_empty_panel():
    import matplotlib.pyplot as plt

    from sle_nb_utils import survplot

    e = np.array([], dtype=float)
    for ax in (survplot.plot_cif_stacked(e, e.astype(int), causes={1: "Relapse", 2: "NRM"}),
               survplot.plot_km(e, e, group=np.array([], dtype=object), risk_table_at=[0, 12]),
               survplot.plot_cif(e, e.astype(int), group=np.array([], dtype=object))):
        assert any("no patients" in t.get_text() for t in ax.texts)
    plt.close("all")


def test_small_cells_and_computed_conclusions(data):
    t = pd.DataFrame({"cohort": ["a", "b", "c"], "deaths": [0, 3, 7]})
    s = outcomes.suppress_small(t, ["deaths"], 5)
    assert s.deaths.tolist() == [0, "<5", 7] and outcomes.suppress_small(t, ["deaths"], None).equals(t)
    text = outcomes.conclusions(data, outcomes.published_comparison(data), bundled=True)
    assert "reproduce 6" in text and "synthetic" in text and "OS 84 ± 7%" in text
    other = _relabelled(data)
    text = outcomes.conclusions(other, outcomes.published_comparison(other), bundled=False,
                                names={"hsct_center_a": "HSCT, Center A"})
    assert "synthetic" not in text and "nothing is compared with published figures" in text
    assert "HSCT, Center A" in text and "burt" not in text.lower()


def test_notebook_04_takes_cohorts_and_names_from_the_data():
    import json
    import re
    from pathlib import Path

    nb = json.loads((Path(__file__).parents[1] / "notebooks" / "04_survival_curves.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert not re.search(r"hsct_burt2006|hsct_ebmt2013|msct_wang2013", code)
    params = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(params) == 1
    for name in ("DATA_DIR", "COHORTS", "MILESTONES_MONTHS", "MIN_CELL_COUNT"):
        assert re.search(rf"^{name} = ", "".join(params[0]["source"]), re.M)
    notice = [c for c in nb["cells"] if "SYNTHETIC" in "".join(c["source"])]
    assert notice and all(c["cell_type"] == "code" and "if BUNDLED" in "".join(c["source"]) for c in notice)

