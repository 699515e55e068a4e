"""Study layer of notebook 03 (``sle_nb_utils.longitudinal``, ``renal``, ``longplot``) on the
bundled synthetic data and on small hand-made tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import adam, longitudinal as lg, longplot, published, renal
from sle_nb_utils.stats import paired


@pytest.fixture(scope="module")
def t():
    return adam.load_analysis_tables(None)


def test_cohort_labels_from_data():
    adsl = pd.DataFrame({"STUDYID": ["msct_wang2013", "hsct_ebmt2013", "my_cohort", "msct_wang2013"]})
    assert lg.cohort_labels(adsl) == {"hsct_ebmt2013": "HSCT, EBMT 2013", "msct_wang2013": "MSCT, Wang 2013",
                                      "my_cohort": "My Cohort"}  # readable fallback (published.cohort_display_name)


def test_visit_accounting_adds_up(t):
    acc = lg.visit_accounting(t["adsl"], t["adlb"])
    parts = acc[["seen", "missed", "not yet reached", "died before"]].sum(axis=1)
    assert (parts == acc.enrolled).all()
    counts = lg.visit_counts(t["adlb"])
    for _, r in acc.iterrows():
        assert counts.loc[r.visit_month, r.STUDYID] == r.seen
    # baseline: everyone seen
    assert (acc[acc.visit_month == 0].seen == acc[acc.visit_month == 0].enrolled).all()


def test_visit_accounting_statuses():
    adsl = pd.DataFrame({"STUDYID": "c", "USUBJID": ["a", "b", "c", "d"], "FUPM": [30.0, 5.0, 8.0, 30.0],
                         "DTHFL": ["N", "Y", "N", "N"]})
    adlb = pd.DataFrame({"STUDYID": "c", "ARM": "X", "USUBJID": ["a", "b", "c", "d", "a"], "PARAMCD": "SLEDAI",
                         "AVISITN": [0, 0, 0, 0, 12], "AVAL": 1.0, "BASE": 1.0, "CHG": 0.0, "PCHG": 0.0})
    acc = lg.visit_accounting(adsl, adlb).set_index("visit_month")
    assert acc.loc[12, ["seen", "died before", "not yet reached", "missed"]].tolist() == [1, 1, 1, 1]


def test_by_visit_and_change_match_direct(t):
    s = lg.by_visit(t["adlb"], ["SLEDAI", "C3"])
    a = t["adlb"]
    d = a[(a.PARAMCD == "C3") & (a.STUDYID == "msct_wang2013") & (a.AVISITN == 12)]
    r = s[(s.PARAMCD == "C3") & (s.STUDYID == "msct_wang2013") & (s.AVISITN == 12)].iloc[0]
    assert r.n == len(d) and r["mean"] == pytest.approx(d.AVAL.mean()) and r["median"] == pytest.approx(d.AVAL.median())
    assert list(s.PARAMCD.unique()) == ["SLEDAI", "C3"]
    c = lg.change_from_baseline(t["adlb"], ["SLEDAI"])
    r = c[(c.STUDYID == "msct_wang2013") & (c.AVISITN == 12)].iloc[0]
    d = a[(a.PARAMCD == "SLEDAI") & (a.STUDYID == "msct_wang2013") & (a.AVISITN == 12)]
    assert r["mean_chg"] == pytest.approx((d.AVAL - d.BASE).mean())
    w = lg.by_visit_wide(s)
    assert w.shape[0] == s.groupby(["PARAMCD", "STUDYID"]).ngroups


def test_paired_by_visit_uses_stats_layer(t):
    p = lg.paired_by_visit(t["adlb"], ["SLEDAI"])
    a = t["adlb"]
    d = a[(a.PARAMCD == "SLEDAI") & (a.STUDYID == "msct_wang2013") & (a.AVISITN == 6)]
    w = paired.wilcoxon_signed_rank(d.AVAL, d.BASE)
    r = p[(p.STUDYID == "msct_wang2013") & (p.AVISITN == 6)].iloc[0]
    assert r.n_pairs == w["n_pairs"] == len(d) and r.wilcoxon_p == pytest.approx(w["p"])
    assert (p.AVISITN > 0).all() and (p.n_pairs >= 3).all()
    for _, g in p.groupby("STUDYID"):
        np.testing.assert_allclose(g.wilcoxon_p_holm, paired.holm(g.wilcoxon_p))


def test_shift_table_counts(t):
    s = lg.shift_table(t["adlb"], "PROT", 12)
    a = t["adlb"]
    prot = a[a.PARAMCD == "PROT"]
    both = set(prot[prot.AVISITN == 0].USUBJID) & set(prot[prot.AVISITN == 12].USUBJID)
    assert s.total.sum() == len(both)
    c3 = lg.shift_table(t["adlb"], "C3", 12, low_limit=0.9)
    assert list(c3.columns[-3:]) == ["low (< 0.9)", "normal (>= 0.9)", "total"]


def test_steroid_taper_and_bands(t):
    tp = lg.steroid_taper(t["adlb"], cap_mg_day=10)
    a = t["adlb"]
    d = a[(a.PARAMCD == "PRED") & (a.STUDYID == "msct_wang2013") & (a.AVISITN == 12)]
    r = tp[(tp.STUDYID == "msct_wang2013") & (tp.AVISITN == 12)].iloc[0]
    assert r.n_at_or_below_cap == int((d.AVAL <= 10).sum())
    b = lg.steroid_dose_bands(t["adlb"])
    band_cols = [lab for _, lab in lg.DOSE_BANDS]
    np.testing.assert_allclose(b[band_cols].sum(axis=1), 100)
    # at or below 10 mg = the first three bands
    rb = b[(b.STUDYID == "msct_wang2013") & (b.AVISITN == 12)].iloc[0]
    assert rb[band_cols[:3]].sum() == pytest.approx(r.pct_at_or_below_cap)


def test_immunosuppressant_count_excludes_hcq():
    v = pd.DataFrame({"patient_id": ["a", "a"], "visit_month": [0, 12],
                      "immunosuppressants": ["hydroxychloroquine;cyclophosphamide;azathioprine", "hydroxychloroquine"]})
    adsl = pd.DataFrame({"USUBJID": ["a"], "STUDYID": ["c"]})
    out = lg.immunosuppressant_counts(v, adsl)
    assert out.mean_count.tolist() == [2.0, 0.0] and out.pct_none.tolist() == [0.0, 100.0]


def test_best_change_and_swimmer(t):
    b = lg.best_change(t["adlb"])
    a = t["adlb"]
    d = a[(a.PARAMCD == "SLEDAI") & (a.AVISITN > 0)]
    assert len(b) == d.USUBJID.nunique()
    assert (b.set_index("USUBJID").best_chg == d.groupby("USUBJID", observed=True).CHG.min().reindex(b.USUBJID)).all()
    s = lg.swimmer_table(t["adtte"])
    # adtte's analysis set is the transplanted patients (primary origin, docs/endpoints.md)
    assert len(s) == t["adtte"].USUBJID.nunique() and set(s.end) <= {"death", "censored"}
    assert ((s.cr_month.isna()) | (s.cr_month <= s.follow_up_months + 1e-9)).all()


def test_mixed_models_table(t):
    fixed, var = lg.mixed_models(t["adlb"], {"SLEDAI-2K": dict(param="SLEDAI")}, max_month=24)
    assert set(fixed.model) == {"LMM random intercept + slope", "GLS, AR(1) residuals"}
    assert fixed.converged.all()
    slope = fixed[(fixed.term == "years")]
    assert (slope.coef < 0).all()  # the generator puts in a falling SLEDAI-2K
    assert "AR(1) phi per month" in set(var.component)


def test_renal_response_rules():
    adsl = pd.DataFrame({"STUDYID": "c", "ARM": "X", "USUBJID": list("abcdefg"), "LNFL": list("YYYYYYN"),
                         "AGE": [30, 30, 30, 30, 16.5, 30, 30], "DTHFL": "N", "FUPM": [20, 20, 20, 20, 20, 6, 20]})
    rows = []
    #        id   prot0 prot12 egfr0 egfr12 creat12
    spec = [("a", 2.0, 0.3, 80.0, 78.0, 90.0),     # complete (eGFR within 10% of baseline)
            ("b", 4.0, 1.5, 80.0, 95.0, 70.0),     # partial (fallen 62%, < 3.5, normal GFR)
            ("c", 2.0, 1.5, 80.0, 85.0, 80.0),     # no response (fallen 25%)
            ("d", 2.0, 0.3, 80.0, 60.0, 120.0),    # no response (eGFR fell 25%)
            ("e", 2.0, 0.3, np.nan, np.nan, 60.0),  # under 18: no eGFR
            ("f", 2.0, np.nan, 80.0, np.nan, np.nan),  # follow-up 6 months
            ("g", 2.0, 0.3, 80.0, 80.0, 80.0)]     # no lupus nephritis
    for pid, p0, p12, e0, e12, c12 in spec:
        for m, code, v in [(0, "PROT", p0), (12, "PROT", p12), (0, "EGFR", e0), (12, "EGFR", e12), (12, "CREAT", c12)]:
            if not np.isnan(v):
                rows.append({"USUBJID": pid, "AVISITN": m, "PARAMCD": code, "AVAL": v})
    r = renal.renal_response(adsl, pd.DataFrame(rows)).set_index("USUBJID")
    assert r.response.tolist() == ["complete", "partial", "no response", "no response", "not assessed",
                                   "not assessed", "not assessed"]
    assert "under 18" in r.loc["e", "reason"] and "shorter than 12" in r.loc["f", "reason"]
    assert r.loc["g", "reason"] == "no lupus nephritis"
    strict = renal.RenalResponseCriterion(egfr_max_fall_fraction=0.0, egfr_normal_min=120)
    assert renal.renal_response(adsl, pd.DataFrame(rows), strict).set_index("USUBJID").loc["a", "response"] == "no response"
    s = renal.renal_response_summary(r.reset_index())
    assert s.n.sum() == len(adsl)
    assert set(renal.EULAR_ERA_EDTA_2019.table().parameter) >= {"complete_proteinuria_below_g_24h", "citation"}


def test_published_comparison(t):
    cmp = lg.published_comparison(published.longitudinal(), t["adsl"], t["adlb"])
    assert len(cmp) == len(published.longitudinal())
    r = cmp[(cmp.source_id == "sci2019") & (cmp.month == "0")].iloc[0]
    a = t["adlb"]
    msct = t["adsl"][t["adsl"].ARM == "MSCT"].STUDYID.unique()
    d = a[(a.PARAMCD == "SLEDAI") & (a.AVISITN == 0) & a.STUDYID.isin(msct)]
    assert r.ours == pytest.approx(d.AVAL.median()) and r.our_n == len(d)
    assert set(cmp.verdict) - {"close", "not computed"} <= {v for v in cmp.verdict if " by " in v}
    assert (cmp[cmp.month.isin(["1", "3", "6", "12", "last"])].direction != "").all()


def test_display_table_formats_p():
    d = pd.DataFrame({"x": [1.23456], "t_p": [1.234e-9], "p": [0.5], "wilcoxon_p_holm": [np.nan]})
    out = lg.display_table(d, 2)
    assert out.x.item() == 1.23 and out.t_p.item() == "1.2e-09" and out.p.item() == "0.5"
    assert out.wilcoxon_p_holm.item() == ""


def test_plots_return_axes_and_readable_text(t):
    summ = lg.by_visit(t["adlb"], ["SLEDAI"])
    labels = lg.cohort_labels(t["adsl"])
    axes = [
        longplot.plot_by_visit(summ, labels=labels, ylabel="SLEDAI-2K"),
        longplot.plot_spaghetti(t["adlb"][t["adlb"].PARAMCD == "SLEDAI"], highlight=2),
        longplot.plot_waterfall(lg.best_change(t["adlb"]), labels=labels),
        longplot.plot_swimmer(lg.swimmer_table(t["adtte"])),
        longplot.plot_taper(lg.steroid_taper(t["adlb"]), labels=labels),
        longplot.plot_visit_accounting(lg.visit_accounting(t["adsl"], t["adlb"]).query("STUDYID == 'msct_wang2013'")),
    ]
    for ax in axes:
        assert isinstance(ax, plt.Axes)
        fig = ax.figure
        texts = [x for x in fig.findobj(plt.Text) if x.get_text()]
        assert min(x.get_fontsize() for x in texts) >= 9
        legend = ax.get_legend()
        if legend is not None:
            assert not any("msct_" in x.get_text() or "hsct_" in x.get_text() for x in legend.get_texts())
    _, ax = plt.subplots()
    assert longplot.plot_by_visit(summ, ax=ax) is ax
    plt.close("all")


def test_egfr_missing_reasons(t):
    m = renal.egfr_missing(t["adsl"], t["adlb"])
    a = t["adlb"]
    sled = a[a.PARAMCD == "SLEDAI"]
    egfr = set(zip(a[a.PARAMCD == "EGFR"].USUBJID, a[a.PARAMCD == "EGFR"].AVISITN))
    n_missing = sum((p, v) not in egfr for p, v in zip(sled.USUBJID, sled.AVISITN))
    assert m.n_visits.sum() == n_missing
    # creatinine is measured at every bundled visit: every missing eGFR is an age < 18 at the visit
    assert set(m.reason) == {"under 18 years (CKD-EPI 2021 not defined)"}
    assert (m.AGE <= 18.0 + 1e-9).all()


def test_key_result_states_medians_and_target_count():
    from sle_nb_utils import longitudinal as lg

    adlb = pd.DataFrame({"STUDYID": ["msct_x"] * 4, "USUBJID": ["a", "b", "a", "b"], "PARAMCD": "SLEDAI",
                         "AVISITN": [0, 0, 12, 12], "AVAL": [12.0, 14.0, 4.0, 6.0]})
    cmp = pd.DataFrame({"verdict": ["close", "higher by 81%", "close"]})
    text = lg.key_result(adlb, cmp)
    assert "13 to 5" in text and "2 of 3 published longitudinal targets lie within 25%" in text
    assert "not computed" in lg.key_result(adlb[adlb.AVISITN == 0], cmp)
