"""Notebook 05's study layer (``sle_nb_utils.claims``): every claim of the seed abstract.

Expected values are derived here from the data with other package functions (never typed in),
except the published values, which are fixed facts of the abstract; those are checked against the
abstract quoted in ``data/published/README.md`` and against ``published_figures.csv``.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rtools import assert_rerun_matches

from sle_nb_utils import claims as C
from sle_nb_utils import endpoints, outcomes, published
from sle_nb_utils.config import PUBLISHED_DIR

REF = Path(__file__).resolve().parent / "reference"
VAL = REF / "values" / "lupus"


@pytest.fixture(scope="module")
def tables():
    return C.load(None)


@pytest.fixture(scope="module")
def table(tables):
    return C.claims_table(tables)


def abstract_sentences() -> list[str]:
    """The seed abstract as the repository quotes it (data/published/README.md), split into sentences."""
    text = (PUBLISHED_DIR / "README.md").read_text(encoding="utf-8")
    m = re.search(r"## The seed abstract[^\n]*\n+> (.+?)\n", text)
    assert m, "the seed abstract is no longer quoted in data/published/README.md"
    return [s for s in re.split(r"(?<=\.)\s+(?=[A-Z])", m.group(1).strip()) if s]


# ---------------------------------------------------------------------------------------------
# the resource against the seed
# ---------------------------------------------------------------------------------------------
def test_extract_numbers():
    assert C.extract_numbers("81%±8% and 29%±9%") == [81, 8, 29, 9]
    assert C.extract_numbers("complement C3 and SLEDAI-2K") == [2]  # "C3" is a name; "2K" keeps its 2
    assert C.extract_numbers("(one million cells per kilogram)") == [1e6]
    assert C.extract_numbers("the first application, 17.2 months") == [17.2]
    assert C.extract_numbers("no numbers here") == []


def test_every_number_of_the_seed_has_a_row():
    """Fails when the claims no longer match the seed's numbers: a number of the abstract with no
    row, a row standing for a number the abstract does not state, or a sentence changed."""
    cl = C.seed_claims()
    sentences = abstract_sentences()
    with_numbers = [s for s in sentences if C.extract_numbers(s)]
    assert len(with_numbers) == 6
    assert set(cl["sentence"]) <= set(sentences), "a claim sentence is not verbatim in the abstract"
    missing = [s for s in with_numbers if s not in set(cl["sentence"])]
    assert not missing, f"sentences with numbers but no claim row: {missing}"
    chk = C.claim_numbers(cl)
    assert chk["complete"].all(), chk.loc[~chk["complete"], ["sentence", "missing", "extra"]].to_dict("records")
    in_abstract = {x for s in sentences for x in C.extract_numbers(s)}
    in_rows = {x for s in cl["numbers"].dropna() for x in C.extract_numbers(s.replace(";", " ; "))}
    assert in_abstract == in_rows


def test_every_row_states_its_published_value_in_its_sentence():
    cl = C.seed_claims()
    for r in cl[cl["kind"] == "number"].itertuples():
        nums = set(C.extract_numbers(r.sentence))
        stated = set(C.extract_numbers(r.numbers.replace(";", " ; ")))
        assert stated <= nums
        if r.unit == "percent":
            assert r.published_value in stated, r.claim_id
            for v in (r.published_se, r.numerator, r.denominator):
                if np.isfinite(v):
                    assert v in stated, (r.claim_id, v)
        assert isinstance(r.operation, str) and r.operation, r.claim_id
    assert set(cl["kind"]) == {"number", "qualitative", "not testable"}
    assert cl["claim_id"].is_unique
    assert (cl.loc[cl["kind"] != "not testable", "test"].str.len() > 20).all()


def test_seed_figures_agree_with_published_figures_csv():
    """The seed's figures in published_figures.csv (sun_seed rows) are the same facts as the claims."""
    cl = C.seed_claims().set_index("claim_id")
    f = published.figures()
    seed = f[f["source_id"] == "sun_seed"]
    src = C.cohort_sources().set_index("cohort")["source_id"]
    matched = 0
    for r in seed.itertuples():
        cand = cl[(cl["series_source"] == src.get(r.cohort)) & (cl["published_value"] == r.value_pct)]
        assert len(cand) >= 1, (r.cohort, r.measure, r.value_pct)
        if np.isfinite(r.denominator):
            assert (cand["denominator"] == r.denominator).any() and (cand["numerator"] == r.numerator).any()
        if np.isfinite(r.se_pct):
            assert (cand["published_se"] == r.se_pct).any()
        matched += 1
    assert matched == len(seed) == 14


# ---------------------------------------------------------------------------------------------
# the claims table on the bundled data
# ---------------------------------------------------------------------------------------------
def test_every_testable_claim_passes_on_the_bundled_data(table):
    """A claim row that fails (check "differs" or "not computed") fails this test."""
    cl = C.seed_claims()
    assert list(table["claim_id"]) == list(cl["claim_id"])
    testable = table[table["kind"] != "not testable"]
    bad = testable[testable["check"] != C.AGREES]
    assert bad.empty, bad[["claim_id", "published", "recomputed", "check"]].to_dict("records")
    assert testable["passed"].all()
    untestable = table[table["kind"] == "not testable"]
    assert (untestable["check"] == "not testable").all() and untestable["passed"].isna().all()
    assert len(untestable) == 6 and {"msct_profound_effect", "msct_tissue_repair_mechanism"} <= set(untestable["claim_id"])


def test_survival_claims_equal_the_outcomes_estimates(tables, table):
    t = table.set_index("claim_id")
    cl = C.seed_claims().set_index("claim_id")
    src = C.cohort_sources().set_index("source_id")["cohort"]
    for cid in ("hsct_os_5y", "hsct_dfs_5y", "ebmt_os_5y", "ebmt_dfs_5y", "ebmt_nrm_5y"):
        r = cl.loc[cid]
        m = outcomes.milestone_table(tables["survival"], r["parameter"], by=None, at=[12 * r["timepoint_years"]],
                                     cohorts=src[r["series_source"]]).iloc[0]
        assert t.loc[cid, "estimate"] == pytest.approx(m["estimate_pct"], abs=1e-12)
        assert t.loc[cid, "lower"] == pytest.approx(m["lower_pct"], abs=1e-12)
        assert t.loc[cid, "upper"] == pytest.approx(m["upper_pct"], abs=1e-12)
        assert t.loc[cid, "lower"] < t.loc[cid, "estimate"] < t.loc[cid, "upper"]


def test_yearly_claims_recounted_from_the_visits(tables, table):
    """CR and relapse k/n counted here from the classified visits, independently of claims.py."""
    t = table.set_index("claim_id")
    pids = set(tables["adsl"].loc[tables["adsl"]["ARM"].astype(str) == "MSCT", "USUBJID"].astype(str))
    c = endpoints.classify_visits(tables["visits"][tables["visits"]["patient_id"].isin(pids)])
    first_rel = c.loc[c["relapse"]].set_index("patient_id")["visit_month"]
    for k in (1, 2, 3, 4):
        at = c[c["visit_month"] == 12 * k]
        n = len(at)
        cr = int((at["remission"] == "complete").sum())
        rm = first_rel.reindex(at["patient_id"]).to_numpy()
        rel = int(np.sum((rm > 12 * (k - 1)) & (rm <= 12 * k)))
        assert t.loc[f"msct_cr_{k}y", "recomputed"] == f"{100 * cr / n:.1f}% ({cr}/{n})"
        assert t.loc[f"msct_relapse_{k}y", "recomputed"] == f"{100 * rel / n:.1f}% ({rel}/{n})"
        lo, hi = C.wilson(cr, n)
        assert (t.loc[f"msct_cr_{k}y", "lower"], t.loc[f"msct_cr_{k}y", "upper"]) == (lo, hi)


def test_wilson_interval_formula():
    """statsmodels' Wilson interval against the closed form (Wilson 1927)."""
    z = 1.959963984540054
    for k, n in ((23, 83), (3, 6), (0, 12), (6, 6)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        lo, hi = C.wilson(k, n)
        assert lo == pytest.approx(100 * (centre - half), abs=1e-9)
        assert hi == pytest.approx(100 * (centre + half), abs=1e-9)
    assert all(np.isnan(C.wilson(0, 0)))


def test_trm_both_ways(tables):
    t = C.trm_both_ways(tables)
    assert t["passed"].all()
    adsl = tables["adsl"]
    burt = adsl[adsl["STUDYID"].astype(str).isin(
        C.cohort_sources().query("source_id == 'burt2006'")["cohort"])]
    dead = burt["DTHFL"].astype(str) == "Y"
    assert list(t["deaths"]) == [int((dead & burt["TRSDT"].isna()).sum()),
                                 int((dead & (burt["DTHTRFL"].astype(str) == "Y")).sum())]
    assert (t["enrolled"] == len(burt)).all()
    assert list(t["published"]) == ["4%", "2% (1/50)"]


def test_cr_trend_and_relapse_tables(tables, table):
    tr = C.cr_trend(tables)
    t = table.set_index("claim_id")
    assert list(tr["year"]) == [1, 2, 3, 4]
    assert np.allclose(tr["pct"], [t.loc[f"msct_cr_{k}y", "estimate"] for k in (1, 2, 3, 4)])
    assert tr.attrs["all_overlap"] == bool(tr["lower"].max() < tr["upper"].min())
    rc = C.relapse_crude_vs_cif(tables)
    assert np.allclose(rc["crude_pct"], [t.loc[f"msct_relapse_{k}y", "estimate"] for k in (1, 2, 3, 4)])
    assert (rc["cif_pct"].diff().dropna() >= 0).all()  # a cumulative incidence never falls
    assert ((rc["cif_lower"] <= rc["cif_pct"]) & (rc["cif_pct"] <= rc["cif_upper"])).all()


def test_follow_up_source_value_agrees_with_published_longitudinal():
    cl = C.seed_claims().set_index("claim_id")
    lon = published.longitudinal()
    src = C.cohort_sources().set_index("source_id")["cohort"]
    r = cl.loc["msct_follow_up"]
    pub = lon[(lon["measure"] == "follow_up_months") & (lon["cohort"] == src[r["series_source"]])]
    assert len(pub) == 1 and pub["statistic"].iloc[0] == "mean"
    assert float(pub["value"].iloc[0]) == r["source_value"]


def test_egfr_sustained_reports_its_model(tables):
    msct = C.cohorts_for(tables, "msct_tissue_repair")
    e = C.egfr_sustained(tables, msct)
    assert list(e["statistic"]) == ["slope per year (mixed model)", "median change, baseline to last visit"]
    assert e["method"].iloc[0].startswith("REML, random intercept")
    assert (e["lower"] <= e["upper"]).all()


def test_first_transplant_rule(tables):
    """"From March 2007": a transplant on 28 February 2007 fails the row, one on 1 March passes."""
    msct = C.cohorts_for(tables, "msct_start")
    p = tables["patients"]
    first = p.loc[p["cohort"].isin(msct), "transplant_date"].idxmin()
    for date, ok in (("2007-02-28", False), ("2007-03-01", True)):
        t2 = dict(tables)
        t2["patients"] = p.assign(transplant_date=p["transplant_date"].where(p.index != first, pd.Timestamp(date)))
        row = C.claims_table(t2).set_index("claim_id").loc["msct_start"]
        assert bool(row["passed"]) is ok, date


def test_follow_up_against_the_claim(tables):
    fu = C.follow_up_vs_claim(tables).set_index("statistic")["months"]
    f = tables["adsl"].loc[tables["adsl"]["ARM"].astype(str) == "MSCT", "FUPM"]
    assert fu["data: mean follow-up"] == pytest.approx(f.mean())
    assert fu["data: longest follow-up"] == pytest.approx(f.max())
    assert fu["seed: \"during 4 years' follow up\""] == 48


# ---------------------------------------------------------------------------------------------
# claims that must fail
# ---------------------------------------------------------------------------------------------
def test_a_changed_published_value_fails_its_row(tables):
    cl = C.seed_claims()
    cl.loc[cl["claim_id"] == "hsct_os_5y", "published_value"] = 90
    cl.loc[cl["claim_id"] == "msct_cr_1y", "numerator"] = 24
    cl.loc[cl["claim_id"] == "msct_sledai", "direction"] = "up"
    t = C.claims_table(tables, cl).set_index("claim_id")
    for cid in ("hsct_os_5y", "msct_cr_1y", "msct_sledai"):
        assert t.loc[cid, "check"] == "differs" and not t.loc[cid, "passed"]
    assert t.drop(["hsct_os_5y", "msct_cr_1y", "msct_sledai"]).query("kind != 'not testable'")["passed"].all()


def test_changed_data_fail_the_rows_they_touch(tables):
    """Drop one month-12 MSCT visit: the 1-year denominators no longer match the published ones."""
    v = tables["visits"]
    pids = set(tables["adsl"].loc[tables["adsl"]["ARM"].astype(str) == "MSCT", "USUBJID"].astype(str))
    drop = v[(v["visit_month"] == 12) & v["patient_id"].isin(pids)].index[:1]
    t2 = dict(tables)
    t2["visits"] = v.drop(drop)
    t = C.claims_table(t2).set_index("claim_id")
    assert t.loc["msct_cr_1y", "check"] == "differs"
    assert t.loc["msct_relapse_1y", "check"] == "differs"
    assert t.loc["msct_cr_2y", "check"] == C.AGREES


# ---------------------------------------------------------------------------------------------
# any cohort: the claims are mapped through data/published/cohort_sources.csv or by arm
# ---------------------------------------------------------------------------------------------
def _relabel(tables, mapping):
    out = dict(tables)
    out["patients"] = tables["patients"].assign(cohort=tables["patients"]["cohort"].astype(str).replace(mapping))
    out["adsl"] = tables["adsl"].assign(STUDYID=tables["adsl"]["STUDYID"].astype(str).replace(mapping))
    out["adlb"] = tables["adlb"].assign(STUDYID=tables["adlb"]["STUDYID"].astype(str).replace(mapping))
    out["adtte"] = tables["adtte"].assign(STUDYID=tables["adtte"]["STUDYID"].astype(str).replace(mapping))
    out["survival"] = tables["survival"].assign(cohort=tables["survival"]["cohort"].astype(str).replace(mapping))
    return out


def test_other_cohort_labels(tables):
    src = C.cohort_sources().set_index("source_id")["cohort"]
    mapping = {src["wang2013"]: "site_a_msc", src["burt2006"]: "site_b_hsct", src["alchi2013"]: "site_c_hsct"}
    t = C.claims_table(_relabel(tables, mapping)).set_index("claim_id")
    msct = t[t.index.str.startswith("msct_") & (t["kind"] != "not testable")]
    assert (msct["check"] == C.AGREES).all()  # the only MSCT cohort, found by arm
    assert msct["cohort"].str.endswith("(by arm)").all()
    for cid in ("hsct_os_5y", "ebmt_nrm_5y", "hsct_trm"):  # two HSCT cohorts, neither mapped: ambiguous
        assert t.loc[cid, "check"].startswith("not computed") and pd.isna(t.loc[cid, "passed"])
    assert t.loc["hsct_relapse_challenge", "check"] == C.AGREES  # an arm-level claim: every HSCT cohort


def test_resolve_cohorts():
    src = C.cohort_sources()
    adsl = pd.DataFrame({"STUDYID": ["x", "y", "y", "z"], "ARM": ["MSCT", "HSCT", "HSCT", "MSCT"]})
    assert C.resolve_cohorts("wang2013", "MSCT", adsl, src) == ([], "2 MSCT cohorts, none mapped to Wang 2013")
    assert C.resolve_cohorts("wang2013", "MSCT", adsl[adsl.STUDYID != "z"], src) == (["x"], "by arm")
    # the seed reports two HSCT series: one unmapped HSCT cohort cannot stand for either
    assert C.resolve_cohorts("burt2006", "HSCT", adsl, src) == (
        [], "no cohort mapped to Burt 2006, and the seed reports 2 HSCT series")
    assert C.resolve_cohorts(np.nan, "HSCT", adsl, src) == (["y"], "by arm")
    assert C.resolve_cohorts("wang2013", "MSCT", adsl.assign(STUDYID=["msct_wang2013", "y", "y", "z"]), src) == (
        ["msct_wang2013"], "by source")
    assert C.resolve_cohorts(np.nan, "CAR-T", adsl, src)[0] == []


def test_what_this_shows_is_computed(tables, table):
    lm = C.lupus_milestones()
    text = C.what_this_shows(table, C.cr_trend(tables), lm, C.follow_up_vs_claim(tables))
    n_test = int((table["kind"] != "not testable").sum())
    assert f"{n_test} of {n_test} testable claims" in text[1]
    assert "by construction" in text[1]
    failed = table.assign(passed=[False] + list(table["passed"][1:]))
    failed.loc[failed["kind"] == "not testable", "passed"] = pd.NA
    failed.loc[1, "passed"] = False
    text2 = C.what_this_shows(failed, C.cr_trend(tables), lm, C.follow_up_vs_claim(tables), bundled=False)
    assert "differing: hsct_os_5y" in text2[1] and "by construction" not in text2[1]


# ---------------------------------------------------------------------------------------------
# real data: Merrell & Shulman 1955 with late entry, against R survfit(Surv(entry, exit, dead))
# ---------------------------------------------------------------------------------------------
def test_lupus_1955_data():
    from lifelines.datasets import load_lupus

    raw = load_lupus()
    d = C.lupus_1955()
    assert len(d) == len(raw) == 99 and d["id"].is_unique
    assert int(d["dead"].sum()) == int(raw["dead"].sum())
    assert (d["entry_years"] < d["exit_years"]).all()
    same = raw["time_between_diagnosis_and_last_observation_(years)"] == 0
    assert int(d["same_month"].sum()) == int(same.sum()) > 0
    assert np.allclose(d["exit_years"] - d["entry_years"], d["years_from_diagnosis"])


def test_lupus_fixture_is_current():
    import importlib.util

    spec = importlib.util.spec_from_file_location("mk", REF / "make_lupus_fixture.py")
    mk = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mk)
    fresh = mk.make().reset_index(drop=True)
    stored = pd.read_csv(REF / "lupus_fixture.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(stored, fresh, check_exact=True, check_dtype=False)


@pytest.mark.parametrize("name,time,entry", [
    ("late_entry", "exit_years", "entry_years"),
    ("diagnosis", "years_from_diagnosis", None),
    ("naive", "exit_years", None),
])
def test_lupus_km_equals_r(name, time, entry):
    from sle_nb_utils.stats.survival import kaplan_meier

    d = pd.read_csv(REF / "lupus_fixture.csv", float_precision="round_trip")
    ours = kaplan_meier(d[time], d["dead"], entry=None if entry is None else d[entry])
    r = pd.read_csv(VAL / f"km_{name}.csv").rename(columns={"std_err": "se"})  # R's std.err
    assert len(ours) == len(r)
    for col in ("time", "n_risk", "n_event", "surv", "se", "lower", "upper"):
        assert np.allclose(ours[col].to_numpy(float), r[col].to_numpy(float), rtol=1e-10, atol=1e-13,
                           equal_nan=True), (name, col)


def test_lupus_milestones_equal_r():
    ours = C.lupus_milestones(at=(1, 2, 3, 4, 5))
    r = pd.read_csv(VAL / "milestones.csv")
    names = {"late_entry": "from onset, late entry", "diagnosis": "from diagnosis",
             "naive": "from onset, late entry ignored"}
    r["analysis"] = r["analysis"].map(names)
    m = ours.merge(r, left_on=["analysis", "years"], right_on=["analysis", "time"])
    assert len(m) == 15
    inside = m["n_risk_y"] > 0  # R's extend = TRUE carries the curve past the last follow-up; we give NaN
    assert m.loc[~inside, "surv_pct"].isna().all()
    k = m[inside]
    assert (k["n_risk_x"] == k["n_risk_y"]).all()
    assert np.allclose(k["surv_pct"], 100 * k["surv"], rtol=1e-12)
    assert np.allclose(k["lower_pct"], 100 * k["lower"], rtol=1e-10)
    assert np.allclose(k["upper_pct"], 100 * k["upper"], rtol=1e-10)


def test_late_entry_changes_the_answer():
    """Ignoring late entry counts the years before diagnosis as observed: survival from onset is
    then higher at every milestone than with late entry."""
    m = C.lupus_milestones(at=(1, 2, 3, 4)).pivot(index="years", columns="analysis", values="surv_pct")
    assert (m["from onset, late entry ignored"] > m["from onset, late entry"]).all()


@pytest.mark.r
@pytest.mark.rerun
def test_r_lupus_reference_rerun(tmp_path):
    assert_rerun_matches(REF / "lupus_late_entry_reference.R", VAL, tmp_path, rtol=1e-12, atol=1e-15,
                         timeout=300)


def test_every_table_of_the_notebook_without_an_msct_cohort(tables):
    """Data with two unmapped HSCT cohorts and no MSCT cohort: nothing crashes; the claims that need
    a missing or ambiguous series say "not computed"."""
    src = C.cohort_sources().set_index("source_id")["cohort"]
    keep = [src["burt2006"], src["alchi2013"]]
    t = _relabel(tables, {src["burt2006"]: "site_b", src["alchi2013"]: "site_c"})
    pids = set(t["adsl"].loc[t["adsl"]["STUDYID"].isin(["site_b", "site_c"]), "USUBJID"].astype(str))
    for k in ("patients", "visits", "events", "survival"):
        t[k] = t[k][t[k]["patient_id"].astype(str).isin(pids)]
    for k in ("adsl", "adlb", "adtte"):
        t[k] = t[k][t[k]["USUBJID"].astype(str).isin(pids)]
    assert keep
    tab = C.claims_table(t)
    testable = tab[tab["kind"] != "not testable"]
    assert testable.loc[testable["claim_id"] == "hsct_relapse_challenge", "check"].iloc[0] == C.AGREES
    rest = testable[testable["claim_id"] != "hsct_relapse_challenge"]
    assert rest["check"].str.startswith("not computed").all() and rest["passed"].isna().all()
    msct = C.cohorts_for(t, "msct_sledai")
    assert msct == []
    assert C.trm_both_ways(t)["passed"].isna().all()
    assert C.cr_trend(t)["pct"].isna().all()
    assert C.relapse_crude_vs_cif(t)["cif_pct"].isna().all()
    assert C.follow_up_vs_claim(t).query("source == 'recomputed'")["months"].isna().all()
    assert C.paired_changes(t, msct)["n_pairs"].isna().all()
    assert C.steroid_by_visit(t, msct).empty
    assert C.egfr_sustained(t, msct)["estimate"].isna().all()
    lines = C.what_this_shows(tab, C.cr_trend(t), C.lupus_milestones(), C.follow_up_vs_claim(t), bundled=False)
    assert "could not be computed" in lines[1]


def test_figures_draw_with_and_without_data(tables):
    import matplotlib.pyplot as plt

    empty = C.steroid_by_visit(tables, [])
    for ax in (C.plot_cr_trend(C.cr_trend(tables)), C.plot_relapse_crude_vs_cif(C.relapse_crude_vs_cif(tables)),
               C.plot_taper(C.steroid_by_visit(tables, C.cohorts_for(tables, "msct_steroid_taper"))),
               C.plot_taper(empty),
               C.plot_lupus_beside_transplant(C.lupus_km(), C.transplant_os_km(tables))):
        assert ax.get_ylabel()
        assert all(t.get_fontsize() >= 9 for t in ax.get_xticklabels() + ax.get_yticklabels())
    plt.close("all")


def test_what_this_shows_trm_sentence(tables, table):
    trm = C.trm_both_ways(tables)
    lines = C.what_this_shows(table, C.cr_trend(tables), C.lupus_milestones(), C.follow_up_vs_claim(tables), trm=trm)
    line = next(x for x in lines if x.startswith("Treatment-related mortality"))
    a, b = trm.iloc[0], trm.iloc[1]
    assert f"{a['deaths']}/{a['enrolled']}" in line and f"{b['deaths']}/{b['enrolled']}" in line
    assert line.endswith("overlap.") == (a["lower"] < b["upper"] and b["lower"] < a["upper"])
