"""Study layer of notebook 05: every claim of the seed abstract, recomputed from the data.

The seed is Sun L, *Stem cells and the treatment of SLE* (abstract; quoted in full in
``data/published/README.md``). ``data/published/seed_claims.csv`` holds one row per number or
qualitative claim of it: the sentence (verbatim), the numbers the row stands for, the published
value with its numerator / denominator, the series it is about and the operational test that stands
for it. ``data/published/cohort_sources.csv`` maps the cohorts of the data to the published series
(``source_id``); a claim about "the MSCT series" is computed on the cohort mapped to its source, or,
when the data hold no such cohort, on the only cohort of the claim's arm (``ARM``); never on a cohort
named in this module.

Every value is recomputed from the analysis tables (:func:`sle_nb_utils.adam.load_analysis_tables`:
raw exports -> cleaning -> ``adsl`` / ``adtte`` / ``adlb``) with the package's estimators:

* survival figures: Kaplan-Meier with Greenwood SE and log-log 95% CI
  (:func:`sle_nb_utils.outcomes.milestone_table`); cumulative incidences: Aalen-Johansen with
  Gray's (cmprsk) variance and log(-log) CI;
* "k of n" proportions: the Wilson score 95% interval (Wilson EB. *J Am Stat Assoc*
  1927;22:209-12; statsmodels ``proportion_confint(method="wilson")``);
* qualitative changes: the paired Wilcoxon signed-rank test at month 12 against baseline
  (:func:`sle_nb_utils.longitudinal.paired_by_visit`), the steroid taper by visit
  (:func:`sle_nb_utils.longitudinal.steroid_taper`) and the eGFR slope of a linear mixed model
  (:func:`sle_nb_utils.stats.mixed.fit_lmm`).

On the bundled data the agreement is **by construction**: the synthetic cohorts were generated to
reproduce these figures (``data/README.md``). A "pass" is a calibration check of the pipeline, not
evidence for the claim.

The real-data panel uses the historical lupus cohort of Merrell M, Shulman LE, *J Chronic Dis*
1955;1:12-32 (doi:10.1016/0021-9681(55)90018-7), which ships with lifelines
(``lifelines.datasets.load_lupus``, transcribed by the lifelines author from the paper). See
:func:`lupus_1955`.

Nothing here prints; every function returns a tidy table of unrounded numbers (notebooks round them),
and every plot function takes ``ax=None`` and returns the axes.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from . import published
from .config import PUBLISHED_DIR
from .errors import ConvergenceWarning
from .published import rounds_to

__all__ = [
    "CLAIMS_FILE", "COHORT_SOURCES_FILE", "seed_claims", "cohort_names", "cohort_sources", "extract_numbers",
    "claim_numbers", "resolve_cohorts", "cohorts_for", "wilson", "load", "claims_table", "claims_display",
    "trm_both_ways", "cr_trend", "relapse_crude_vs_cif", "follow_up_vs_claim", "relapse_vs_nrm",
    "paired_changes", "steroid_by_visit", "egfr_sustained", "untestable_claims", "lupus_1955",
    "lupus_km", "lupus_milestones", "transplant_os_milestones", "transplant_os_km", "survival_panel", "plot_cr_trend",
    "plot_relapse_crude_vs_cif", "plot_taper", "plot_lupus_beside_transplant", "what_this_shows",
]

CLAIMS_FILE = PUBLISHED_DIR / "seed_claims.csv"
COHORT_SOURCES_FILE = PUBLISHED_DIR / "cohort_sources.csv"

#: The citation of every row of the claims table.
SEED_CITATION = "Sun L, Stem cells and the treatment of SLE (abstract)"

#: Label of the "calibration check" column for a claim that agrees on data built to show it.
AGREES = "agrees (by construction)"

_SPELLED = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
            "nine": 9, "ten": 10}
_SCALE = {"hundred": 100, "thousand": 1000, "million": 1_000_000}
_NUMBER = re.compile(r"(?<![A-Za-z0-9.])\d+(?:\.\d+)?|\b(?:" + "|".join(_SPELLED) + r")(?:\s+(?:"
                     + "|".join(_SCALE) + r"))?\b", re.IGNORECASE)


# --------------------------------------------------------------------------------------------
# the resource
# --------------------------------------------------------------------------------------------
def seed_claims() -> pd.DataFrame:
    """The claims of the seed abstract (``data/published/seed_claims.csv``), one row per claim.

    Columns: ``claim_id``, ``kind`` (``number`` / ``qualitative`` / ``not testable``), ``claim``,
    ``sentence`` (verbatim from the abstract), ``numbers`` (the numbers of the sentence this row
    stands for, ``;``-separated, as written), ``series_source`` (the published series, a
    ``source_id`` of ``sources.csv``), ``arm``, ``operation`` (the computation), ``parameter``,
    ``direction``, ``timepoint_years``, ``published_text``, ``published_value``, ``published_se``,
    ``numerator``, ``denominator``, ``unit``, ``source_text`` / ``source_value`` /
    ``source_numerator`` / ``source_denominator`` (the same figure as the original source gives
    it), ``test`` (the operational test, in words).
    """
    return pd.read_csv(CLAIMS_FILE, dtype={"numbers": str, "operation": str, "parameter": str,
                                           "direction": str, "series_source": str},
                       keep_default_na=True, encoding="utf-8")


def cohort_sources() -> pd.DataFrame:
    """Cohort of the data -> published series: ``cohort``, ``arm``, ``source_id``, ``series``
    (:func:`sle_nb_utils.published.cohort_sources`)."""
    return published.cohort_sources()


def extract_numbers(text: str) -> list[float]:
    """Every number written in ``text``, in order: digits (``84``, ``2007``, ``17.2``; a digit
    glued to a letter, as in "C3", is a name, not a number) and spelled-out cardinals up to ten,
    optionally with a scale ("one million" -> 1e6). Ordinals ("first") are not numbers here."""
    out = []
    for m in _NUMBER.finditer(str(text)):
        tok = m.group(0).lower()
        if tok[0].isdigit():
            out.append(float(tok))
        else:
            parts = tok.split()
            out.append(float(_SPELLED[parts[0]] * (_SCALE[parts[1]] if len(parts) > 1 else 1)))
    return out


def claim_numbers(claims: pd.DataFrame) -> pd.DataFrame:
    """Per sentence: the numbers written in it and the numbers its rows stand for.

    Returns one row per distinct sentence with a number: ``sentence``, ``in_sentence`` and
    ``in_rows`` (sorted distinct numbers), ``missing`` (in the sentence, in no row), ``extra`` (in a
    row, not in the sentence), ``complete`` (both empty).
    """
    rows = []
    for sentence, g in claims.groupby("sentence", sort=False):
        found = sorted(set(extract_numbers(sentence)))
        stated = sorted({x for s in g["numbers"].dropna() for x in extract_numbers(s.replace(";", " ; "))})
        if not found and not stated:
            continue
        missing = sorted(set(found) - set(stated))
        extra = sorted(set(stated) - set(found))
        rows.append({"sentence": sentence, "in_sentence": found, "in_rows": stated, "missing": missing,
                     "extra": extra, "complete": not missing and not extra})
    return pd.DataFrame(rows)


def _series_label(source_id) -> str:
    return published.series_name(source_id)


def resolve_cohorts(series_source, arm, adsl: pd.DataFrame, sources: pd.DataFrame | None = None,
                    claims: pd.DataFrame | None = None):
    """The cohorts of the data a claim is about, and how they were found.

    A claim about one published series (``series_source``) takes the data's cohorts that
    ``cohort_sources.csv`` maps to that series; if the data hold none, the only cohort of the
    claim's ``arm`` (``adsl.ARM``), if there is exactly one and the claims (``claims``, default
    :func:`seed_claims`) name only one series of that arm (the seed reports one MSCT series but two
    HSCT series, so an unmapped HSCT cohort cannot stand for either). A claim about an arm as a whole
    (no ``series_source``) takes every cohort of that arm.

    Returns
    -------
    (list of str, str) : the cohorts (sorted; empty when none fits) and ``"by source"``,
    ``"by arm"`` or the reason nothing fits.
    """
    sources = cohort_sources() if sources is None else sources
    coh = adsl[["STUDYID", "ARM"]].astype(str).drop_duplicates()
    present = set(coh["STUDYID"])
    of_arm = sorted(coh.loc[coh["ARM"].str.upper() == str(arm).upper(), "STUDYID"])
    if isinstance(series_source, str) and series_source:
        mapped = sorted(set(sources.loc[sources["source_id"] == series_source, "cohort"]) & present)
        if mapped:
            return mapped, "by source"
        claims = seed_claims() if claims is None else claims
        series = claims.loc[claims["arm"].astype(str).str.upper() == str(arm).upper(), "series_source"].dropna().unique()
        if len(of_arm) == 1 and len(series) <= 1:
            return of_arm, "by arm"
        if not of_arm:
            why = f"no {arm} cohort in the data"
        elif len(series) > 1:
            why = f"no cohort mapped to {_series_label(series_source)}, and the seed reports {len(series)} {arm} series"
        else:
            why = f"{len(of_arm)} {arm} cohorts, none mapped to {_series_label(series_source)}"
        return [], why
    return (of_arm, "by arm") if of_arm else ([], f"no {arm} cohort in the data")


def cohorts_for(tables, claim_id: str, claims: pd.DataFrame | None = None) -> list[str]:
    """The data's cohorts that the claim ``claim_id`` is computed on (:func:`resolve_cohorts`)."""
    claims = seed_claims() if claims is None else claims
    r = claims.set_index("claim_id").loc[claim_id]
    return resolve_cohorts(r["series_source"], r["arm"], tables["adsl"])[0]


def wilson(k, n, conf_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of k/n, in percent (:func:`sle_nb_utils.published.wilson_ci`);
    (nan, nan) when n is 0 or missing."""
    return published.wilson_ci(k, n, conf_level)


# --------------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------------
def load(data_dir=None) -> dict:
    """The analysis tables and the time-to-event table of ``data_dir`` (None = bundled raw data).

    Returns a dict: the tables of :func:`sle_nb_utils.adam.load_analysis_tables` (``patients``,
    ``visits``, ``events``, ``adsl``, ``adtte``, ``adlb``) plus ``survival``
    (:func:`sle_nb_utils.outcomes.survival_data`). Nothing is read from ``data/truth``.
    """
    from . import adam, outcomes

    tables = dict(adam.load_analysis_tables(data_dir))
    tables["survival"] = outcomes.survival_data(data_dir)
    return tables


def cohort_names(tables) -> dict:
    """Display name of every cohort in the data (``adsl.STUDYID``), from the package's one naming
    rule, :func:`sle_nb_utils.published.cohort_display_names`."""
    return published.cohort_display_names(tables["adsl"]["STUDYID"].astype(str))


# --------------------------------------------------------------------------------------------
# one computation per operation: each returns a dict of the claims-table columns
# --------------------------------------------------------------------------------------------
def _result(estimate=np.nan, lower=np.nan, upper=np.nan, recomputed="", estimator="", passed=None, n=np.nan):
    return {"estimate": estimate, "lower": lower, "upper": upper, "recomputed": recomputed,
            "estimator": estimator, "passed": passed, "n": n}


def _km_or_aj(row, cohorts, tables, conf_level):
    from .outcomes import milestone_table

    months = 12.0 * float(row["timepoint_years"])
    m = milestone_table(tables["survival"], row["parameter"], by=None, at=[months], cohorts=cohorts,
                        conf_level=conf_level).iloc[0]
    se_pub = row["published_se"]
    est, se = float(m["estimate_pct"]), float(m["se_pct"])
    ok = rounds_to(est, float(row["published_value"])) and (not np.isfinite(se_pub) or rounds_to(se, float(se_pub)))
    text = f"{est:.1f}% ± {se:.1f}% (n at risk {int(m['n_risk'])})" if np.isfinite(est) else "not reached"
    kind = "Kaplan-Meier, Greenwood SE, log-log 95% CI" if m["estimator"] == "KM" else \
        "Aalen-Johansen (competing risk), Gray's SE, log(-log) 95% CI"
    return _result(est, float(m["lower_pct"]), float(m["upper_pct"]), text, kind, ok,
                   int((tables["survival"]["endpoint"].eq(row["parameter"])
                        & tables["survival"]["cohort"].isin(cohorts)).sum()))


def _trm_counts(adsl: pd.DataFrame, cohorts) -> dict:
    from .endpoints import trm_counts

    a = adsl[adsl["STUDYID"].astype(str).isin(cohorts)]
    return trm_counts(a["DTHFL"].astype(str) == "Y", a["TRSDT"].notna(), a["DTHTRFL"].astype(str) == "Y")


def _trm(row, cohorts, tables, conf_level):
    c = _trm_counts(tables["adsl"], cohorts)
    k, n = c["before_transplant"], c["enrolled"]
    pct = 100 * k / n if n else np.nan
    lo, hi = wilson(k, n, conf_level)
    return _result(pct, lo, hi, f"{pct:.1f}% ({k}/{n}) died after mobilisation, before transplant",
                   "crude proportion of all enrolled, Wilson 95% CI", rounds_to(pct, float(row["published_value"])), n)


def _yearly(tables, cohorts):
    from .endpoints import yearly_remission_relapse

    pids = tables["patients"].loc[tables["patients"]["cohort"].astype(str).isin(cohorts), "patient_id"]
    v = tables["visits"][tables["visits"]["patient_id"].isin(set(pids))]
    if v.empty:
        return pd.DataFrame(columns=["evaluable", "complete_remission", "relapses"], index=pd.Index([], name="year"))
    return yearly_remission_relapse(v, years=(1, 2, 3, 4)).set_index("year")


def _k_of_n(row, cohorts, tables, conf_level, num_col):
    y = _yearly(tables, cohorts)
    year = int(row["timepoint_years"])
    if year not in y.index or y.loc[year, "evaluable"] == 0:
        return _result(recomputed="nobody seen at that visit", estimator="crude proportion, Wilson 95% CI", passed=False)
    k, n = int(y.loc[year, num_col]), int(y.loc[year, "evaluable"])
    pct = 100 * k / n
    lo, hi = wilson(k, n, conf_level)
    ok = (k == int(row["numerator"]) and n == int(row["denominator"]) and rounds_to(pct, float(row["published_value"])))
    return _result(pct, lo, hi, f"{pct:.1f}% ({k}/{n})", "crude proportion of patients seen at the visit, Wilson 95% CI", ok, n)


def _cr_year(row, cohorts, tables, conf_level):
    return _k_of_n(row, cohorts, tables, conf_level, "complete_remission")


def _relapse_year(row, cohorts, tables, conf_level):
    return _k_of_n(row, cohorts, tables, conf_level, "relapses")


def _first_transplant(row, cohorts, tables, conf_level):
    p = tables["patients"][tables["patients"]["cohort"].astype(str).isin(cohorts)]
    first = pd.to_datetime(p["transplant_date"]).min()
    start = pd.to_datetime(row["published_text"], format="%B %Y")  # "March 2007" -> 1 March 2007
    ok = bool(pd.notna(first) and first >= start)
    return _result(first.year + (first.month - 1) / 12 if pd.notna(first) else np.nan,
                   recomputed=f"first transplant {first:%B %Y}" if pd.notna(first) else "no transplant date",
                   estimator="earliest transplant date", passed=ok, n=len(p))


def _cell_dose(row, cohorts, tables, conf_level):
    p = tables["patients"][tables["patients"]["cohort"].astype(str).isin(cohorts)]
    d = p["cell_dose_per_kg"].astype(float)
    target = float(row["published_value"])
    ok = bool(d.notna().all() and np.allclose(d, target, rtol=1e-9, atol=0))
    return _result(float(d.median()), float(d.min()), float(d.max()),
                   f"median {d.median():.3g} cells/kg (range {d.min():.3g}-{d.max():.3g}; {int(d.notna().sum())}/{len(d)} recorded)",
                   "median (range) of the recorded dose", ok, len(p))


def _follow_up_span(row, cohorts, tables, conf_level):
    a = tables["adsl"][tables["adsl"]["STUDYID"].astype(str).isin(cohorts)]
    f = a["FUPM"].astype(float)
    longest = float(f.max()) / 12
    return _result(longest, recomputed=f"longest {longest:.2f} years; mean {f.mean():.1f} months",
                   estimator="longest follow-up (adsl.FUPM, origin to death or last contact)",
                   passed=rounds_to(longest, float(row["published_value"])), n=len(a))


def _cell_source(row, cohorts, tables, conf_level):
    p = tables["patients"][tables["patients"]["cohort"].astype(str).isin(cohorts)]
    src = p["cell_source"].astype(str).str.upper()
    ok_rows = src.str.contains(r"\b(?:BM|UC)\b", regex=True)
    counts = src.value_counts().sort_index()
    return _result(100 * ok_rows.mean(), recomputed="; ".join(f"{k} {v}" for k, v in counts.items()),
                   estimator="counts of the recorded cell source", passed=bool(ok_rows.all()), n=len(p))


def _nephritis_share(row, cohorts, tables, conf_level):
    a = tables["adsl"][tables["adsl"]["STUDYID"].astype(str).isin(cohorts)]
    k, n = int((a["LNFL"].astype(str) == "Y").sum()), len(a)
    pct = 100 * k / n
    lo, hi = wilson(k, n, conf_level)
    return _result(pct, lo, hi, f"{pct:.1f}% ({k}/{n}) with lupus nephritis",
                   "crude proportion, Wilson 95% CI", bool(lo > 50), n)


def _adlb_of(tables, cohorts):
    a = tables["adlb"]
    return a[a["STUDYID"].astype(str).isin(cohorts)]


def paired_changes(tables, cohorts, params=("SLEDAI", "PROT", "EGFR", "DSDNA", "ALB", "C3", "PRED"),
                   month: int = 12, conf_level: float = 0.95) -> pd.DataFrame:
    """Month ``month`` against baseline for each measure (:func:`longitudinal.paired_by_visit`).

    Returns one row per measure: ``PARAMCD``, ``measure`` (display name), ``unit``, ``n_pairs``,
    ``median_baseline``, ``median_visit``, ``median_diff``, ``wilcoxon_p`` (unadjusted: one
    prespecified visit per measure), ``mean_diff``, ``lower``, ``upper`` (paired-t 95% CI of the
    mean change).
    """
    from .longitudinal import MEASURES, paired_by_visit

    cols = ["n_pairs", "median_baseline", "median_visit", "median_diff", "wilcoxon_p", "mean_diff", "lower", "upper"]
    a = _adlb_of(tables, cohorts)
    p = paired_by_visit(a, list(params), conf_level=conf_level) if len(a) else pd.DataFrame(columns=["AVISITN", "PARAMCD", *cols])
    if p.empty:
        p = pd.DataFrame(columns=["AVISITN", "PARAMCD", *cols])
    p = p[p["AVISITN"] == month]
    p = p.set_index("PARAMCD").reindex(list(params))
    out = pd.DataFrame({"PARAMCD": list(params),
                        "measure": [MEASURES[c][0] for c in params], "unit": [MEASURES[c][1] for c in params]})
    for c in cols:
        out[c] = p[c].to_numpy(float)
    out["n_pairs"] = out["n_pairs"].round().astype("Int64")
    return out


def _paired(row, cohorts, tables, conf_level):
    if len(cohorts) != 1:
        return _result(recomputed=f"needs one cohort, found {len(cohorts)}", passed=False)
    r = paired_changes(tables, cohorts, params=(row["parameter"],), conf_level=conf_level).iloc[0]
    if not np.isfinite(r["n_pairs"]) or r["n_pairs"] == 0:
        return _result(recomputed="no patient seen at baseline and month 12", passed=False)
    sign = -1 if row["direction"] == "down" else 1
    ok = bool(np.sign(r["median_diff"]) == sign and np.sign(r["mean_diff"]) == sign and r["wilcoxon_p"] < 0.05)
    return _result(float(r["mean_diff"]), float(r["lower"]), float(r["upper"]),
                   f"median {r['median_baseline']:.3g} -> {r['median_visit']:.3g} {r['unit']} "
                   f"(n = {int(r['n_pairs'])}), Wilcoxon p = {r['wilcoxon_p']:.2g}",
                   "paired Wilcoxon signed-rank test, month 12 vs baseline; estimate: mean change, paired-t 95% CI",
                   ok, int(r["n_pairs"]))


def steroid_by_visit(tables, cohorts, cap_mg_day: float = 10.0, conf_level: float = 0.95) -> pd.DataFrame:
    """Prednisone and immunosuppressants by visit for the claim "doses were tapered or discontinued".

    Returns one row per visit month: ``visit_month``, ``n``, ``n_at_or_below_cap``,
    ``pct_at_or_below_cap`` with its Wilson CI (``lower``, ``upper``), ``median_prednisone``
    (mg/day), ``mean_immunosuppressants`` (hydroxychloroquine not counted) and
    ``pct_no_immunosuppressant``.
    """
    from .longitudinal import immunosuppressant_counts, steroid_taper

    a = _adlb_of(tables, cohorts)
    if not (a["PARAMCD"] == "PRED").any():
        return pd.DataFrame(columns=["visit_month", "n", "n_at_or_below_cap", "pct_at_or_below_cap", "lower", "upper",
                                     "median_prednisone", "mean_immunosuppressants", "pct_no_immunosuppressant"])
    st = steroid_taper(a, cap_mg_day=cap_mg_day)
    st = st.groupby("AVISITN", as_index=False).agg(n=("n", "sum"), k=("n_at_or_below_cap", "sum"),
                                                     median=("median", "first"))
    pids = set(tables["adsl"].loc[tables["adsl"]["STUDYID"].astype(str).isin(cohorts), "USUBJID"].astype(str))
    v = tables["visits"][tables["visits"]["patient_id"].astype(str).isin(pids)]
    im = immunosuppressant_counts(v, tables["adsl"])
    im = im.groupby("visit_month", as_index=False).agg(mean_count=("mean_count", "mean"), pct_none=("pct_none", "mean"))
    ci = [wilson(k, n, conf_level) for k, n in zip(st["k"], st["n"])]
    out = pd.DataFrame({"visit_month": st["AVISITN"].astype(int), "n": st["n"].astype(int),
                        "n_at_or_below_cap": st["k"].astype(int), "pct_at_or_below_cap": 100 * st["k"] / st["n"],
                        "lower": [c[0] for c in ci], "upper": [c[1] for c in ci],
                        "median_prednisone": st["median"] if len(cohorts) == 1 else np.nan})
    out = out.merge(im.rename(columns={"mean_count": "mean_immunosuppressants",
                                       "pct_none": "pct_no_immunosuppressant"}), on="visit_month", how="left")
    return out.sort_values("visit_month").reset_index(drop=True)


def _steroid_taper(row, cohorts, tables, conf_level):
    s = steroid_by_visit(tables, cohorts, conf_level=conf_level).set_index("visit_month")
    if 0 not in s.index or 12 not in s.index:
        return _result(recomputed="no baseline or month-12 visit", passed=False)
    p = paired_changes(tables, cohorts, params=("PRED",), conf_level=conf_level).iloc[0]
    b, m = s.loc[0, "pct_at_or_below_cap"], s.loc[12, "pct_at_or_below_cap"]
    ok = bool(m > b and p["median_diff"] < 0 and p["wilcoxon_p"] < 0.05)
    return _result(float(m), float(s.loc[12, "lower"]), float(s.loc[12, "upper"]),
                   f"on <= 10 mg/day: {b:.0f}% at baseline, {m:.0f}% at month 12; median prednisone "
                   f"{p['median_baseline']:.3g} -> {p['median_visit']:.3g} mg/day, p = {p['wilcoxon_p']:.2g}",
                   "share on <= 10 mg/day prednisone by visit (Wilson 95% CI); paired Wilcoxon", ok, int(s.loc[12, "n"]))


def _immunosuppressant_taper(row, cohorts, tables, conf_level):
    s = steroid_by_visit(tables, cohorts, conf_level=conf_level).set_index("visit_month")
    if 0 not in s.index or 12 not in s.index:
        return _result(recomputed="no baseline or month-12 visit", passed=False)
    b, m = s.loc[0, "mean_immunosuppressants"], s.loc[12, "mean_immunosuppressants"]
    off = s.loc[12, "pct_no_immunosuppressant"]
    ok = bool(m < b and off > 0)
    return _result(float(m), recomputed=f"mean number {b:.2f} at baseline, {m:.2f} at month 12; off all: {off:.0f}%",
                   estimator="mean number of immunosuppressants by visit", passed=ok, n=int(s.loc[12, "n"]))


def egfr_sustained(tables, cohorts, conf_level: float = 0.95) -> pd.DataFrame:
    """eGFR over the whole follow-up: the slope of a linear mixed model and the change to the last visit.

    ``y ~ years + (years | patient)`` by REML (:func:`sle_nb_utils.stats.mixed.fit_lmm`, matched to
    lme4 in ``tests/test_mixed.py``) on every visit with an eGFR; and each patient's change from
    baseline to the last visit with an eGFR (paired Wilcoxon).

    When the random-slope fit does not converge or is singular (a random-effect correlation of
    +-1: lme4's "boundary (singular) fit"), the random-intercept model is fitted instead and
    ``method`` says so.

    Returns two rows (``statistic``: ``slope per year``, ``change to last visit``) with
    ``estimate``, ``lower``, ``upper`` (mL/min/1.73 m2 [per year]), ``n_patients``, ``n_obs``, ``p``,
    ``method``.
    """
    from .longitudinal import model_data
    from .stats.mixed import fit_lmm
    from .stats.paired import paired_t, wilcoxon_signed_rank

    a = _adlb_of(tables, cohorts)
    d = model_data(a, "EGFR")
    if d["USUBJID"].nunique() < 3:
        return pd.DataFrame({"statistic": ["slope per year (mixed model)", "median change, baseline to last visit"],
                             "estimate": np.nan, "lower": np.nan, "upper": np.nan, "n_patients": 0, "n_obs": 0,
                             "p": np.nan, "method": "not computed: fewer than 3 patients with an eGFR"})
    with warnings.catch_warnings():  # a non-converged / singular fit is reported, then replaced
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = fit_lmm(d, "y", ["years"], "USUBJID", "years", conf_level=conf_level)
    model = "random intercept + slope"
    if not fit.converged or fit.extra.get("singular", False):
        # lme4's "boundary (singular) fit": the slope variance is not identified (correlation +-1
        # or variance 0); the random-intercept model estimates the same mean slope
        why = "did not converge" if not fit.converged else "singular"
        fit = fit_lmm(d, "y", ["years"], "USUBJID", "years", random_slope=False, conf_level=conf_level)
        model = f"random intercept only (the random-slope fit {why})"
    s = fit.summary.set_index("term").loc["years"]
    e = a[(a["PARAMCD"] == "EGFR") & (a["AVISITN"] > 0) & a["BASE"].notna()]
    last = e.sort_values(["USUBJID", "AVISITN"]).groupby("USUBJID", observed=True).tail(1)
    w = wilcoxon_signed_rank(last["AVAL"], last["BASE"])
    t = paired_t(last["AVAL"], last["BASE"], conf_level=conf_level)
    return pd.DataFrame([
        {"statistic": "slope per year (mixed model)", "estimate": float(s["coef"]), "lower": float(s["lower"]),
         "upper": float(s["upper"]), "n_patients": int(d["USUBJID"].nunique()), "n_obs": len(d), "p": float(s["p"]),
         "method": f"REML, {model}; Wald CI"},
        {"statistic": "median change, baseline to last visit", "estimate": float(np.median(last["AVAL"] - last["BASE"])),
         "lower": t["lower"], "upper": t["upper"], "n_patients": len(last), "n_obs": len(last), "p": w["p"],
         "method": "paired Wilcoxon p; paired-t CI of the mean change"},
    ])


def _egfr_slope(row, cohorts, tables, conf_level):
    t = egfr_sustained(tables, cohorts, conf_level).set_index("statistic")
    slope, last = t.iloc[0], t.iloc[1]
    ok = bool(slope["estimate"] >= 0 and last["estimate"] >= 0)
    return _result(float(slope["estimate"]), float(slope["lower"]), float(slope["upper"]),
                   f"slope {slope['estimate']:+.2f} per year; median change to last visit {last['estimate']:+.1f} "
                   f"(n = {int(last['n_patients'])})",
                   "linear mixed model slope (REML, Wald 95% CI); change to last visit", ok, int(slope["n_patients"]))


def relapse_vs_nrm(tables, cohorts, months: float = 60.0, conf_level: float = 0.95) -> pd.DataFrame:
    """Cumulative incidence of relapse and of non-relapse mortality at ``months``, per cohort.

    Aalen-Johansen with the other as the competing event (:func:`outcomes.milestone_table`).
    Returns ``cohort`` (display name), ``endpoint`` (REL / NRM), ``estimate_pct``, ``lower_pct``, ``upper_pct``,
    ``n_risk``.
    """
    from .outcomes import milestone_table

    names = cohort_names(tables)
    rows = []
    for c in cohorts:
        for ep in ("REL", "NRM"):
            m = milestone_table(tables["survival"], ep, by=None, at=[months], cohorts=c, conf_level=conf_level).iloc[0]
            rows.append({"cohort": names.get(c, c), "endpoint": ep, "estimate_pct": float(m["estimate_pct"]),
                         "lower_pct": float(m["lower_pct"]), "upper_pct": float(m["upper_pct"]),
                         "n_risk": int(m["n_risk"])})
    return pd.DataFrame(rows, columns=["cohort", "endpoint", "estimate_pct", "lower_pct", "upper_pct", "n_risk"])


def _relapse_vs_nrm(row, cohorts, tables, conf_level):
    t = relapse_vs_nrm(tables, cohorts, 12.0 * float(row["timepoint_years"]), conf_level)
    w = t.pivot(index="cohort", columns="endpoint", values="estimate_pct")
    ok = bool((w["REL"] > w["NRM"]).all())
    text = "; ".join(f"{c}: relapse {r.REL:.0f}% vs NRM {r.NRM:.0f}%" for c, r in w.iterrows())
    return _result(float((w["REL"] - w["NRM"]).min()), recomputed=text,
                   estimator="Aalen-Johansen cumulative incidences at 60 months", passed=ok,
                   n=int(tables["adsl"]["STUDYID"].astype(str).isin(cohorts).sum()))


_OPERATIONS = {
    "km_milestone": _km_or_aj, "aj_milestone": _km_or_aj, "trm": _trm, "cr_year": _cr_year,
    "relapse_year": _relapse_year, "first_transplant": _first_transplant, "cell_dose": _cell_dose,
    "follow_up_span": _follow_up_span, "cell_source": _cell_source, "nephritis_share": _nephritis_share,
    "paired_12m": _paired, "steroid_taper": _steroid_taper, "immunosuppressant_taper": _immunosuppressant_taper,
    "egfr_slope": _egfr_slope, "relapse_vs_nrm": _relapse_vs_nrm,
}


def claims_table(tables: dict, claims: pd.DataFrame | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Every claim of the seed abstract beside the value recomputed from the data.

    Parameters
    ----------
    tables : dict
        From :func:`load`.
    claims : DataFrame, optional
        :func:`seed_claims` (default).

    Returns
    -------
    pandas.DataFrame, one row per claim in the resource's order: ``claim_id``, ``kind``,
    ``claim``, ``source`` (the seed, and the series it reports), ``published``,
    ``published_value``, ``numerator``, ``denominator``, ``published_n`` (the published denominator,
    or else the size of the series in ``sources.csv``), ``cohort`` (display names of the data's
    cohorts used, and how they were found), ``recomputed``, ``estimate``, ``lower``, ``upper``
    (95% CI where the estimator has one: percent for proportions and survival figures),
    ``estimator``, ``test``, ``check`` (``"agrees (by construction)"``, ``"differs"``,
    ``"not computed: ..."`` or ``"not testable"``) and ``passed`` (True / False; NA when not
    testable or not computed).
    """
    claims = seed_claims() if claims is None else claims
    sources = cohort_sources()
    series_n = published.sources().set_index("source_id")["n_patients"]
    names = cohort_names(tables)
    rows = []
    for _, r in claims.iterrows():
        src = SEED_CITATION + (f"; {_series_label(r['series_source'])}" if isinstance(r["series_source"], str) else "")
        if np.isfinite(r["denominator"]):
            pub_n = f"{int(r['denominator'])}"
        elif isinstance(r["series_source"], str) and pd.notna(series_n.get(r["series_source"], np.nan)):
            pub_n = f"{series_n[r['series_source']]} (series)"
        else:
            pub_n = ""
        base = {"claim_id": r["claim_id"], "kind": r["kind"], "claim": r["claim"], "source": src,
                "published": r["published_text"] if isinstance(r["published_text"], str) else "",
                "published_value": r["published_value"], "numerator": r["numerator"],
                "denominator": r["denominator"], "published_n": pub_n, "test": r["test"]}
        if r["kind"] == "not testable":
            rows.append({**base, **_result(recomputed="", estimator=""), "cohort": "", "check": "not testable",
                         "passed": pd.NA})
            continue
        cohorts, how = resolve_cohorts(r["series_source"], r["arm"], tables["adsl"], sources, claims)
        if not cohorts:
            rows.append({**base, **_result(), "cohort": "", "check": f"not computed: {how}", "passed": pd.NA})
            continue
        res = _OPERATIONS[r["operation"]](r, cohorts, tables, conf_level)
        shown = ", ".join(names.get(c, c) for c in cohorts) + ("" if how == "by source" else f" ({how})")
        check = AGREES if res["passed"] else "differs"
        rows.append({**base, **res, "cohort": shown, "check": check, "passed": bool(res["passed"])})
    cols = ["claim_id", "kind", "claim", "source", "published", "published_value", "numerator", "denominator", "published_n",
            "cohort", "recomputed", "estimate", "lower", "upper", "n", "estimator", "test", "check", "passed"]
    out = pd.DataFrame(rows)[cols]
    out["passed"] = out["passed"].astype("boolean")
    return out


def claims_display(table: pd.DataFrame, kinds=("number",), with_test: bool = False) -> pd.DataFrame:
    """The claims table in print form: the rows of ``kinds``, rounded, "—" for missing, the 95% CI
    as text, ``n`` = the patients the recomputed value rests on (the denominator of a proportion),
    and the operational test when ``with_test``."""
    t = table[table["kind"].isin(kinds)].copy()

    def ci(r):
        if not (np.isfinite(r["lower"]) and np.isfinite(r["upper"])):
            return "—"
        return f"{r['lower']:.1f} to {r['upper']:.1f}"

    t["95% CI"] = t.apply(ci, axis=1)
    t["n"] = t["n"].map(lambda v: "—" if pd.isna(v) else f"{int(v)}")
    t = t.rename(columns={"published_n": "published n"})
    cols = ["claim", "published", "published n", "cohort", "n", "recomputed", "95% CI", "estimator"]
    out = t[cols + (["test"] if with_test else []) + ["check"]].copy()
    out.insert(1, "source", t["source"].str.replace(SEED_CITATION, "seed", regex=False))
    return out.fillna("—").replace("", "—").reset_index(drop=True)


def untestable_claims(table: pd.DataFrame) -> pd.DataFrame:
    """The claims that patient data built to show them cannot test, with why: ``claim``, ``why``."""
    t = table[table["kind"] == "not testable"]
    return pd.DataFrame({"claim": t["claim"].to_numpy(), "why not testable here": t["test"].to_numpy()})


# --------------------------------------------------------------------------------------------
# the additional tables of notebook 05
# --------------------------------------------------------------------------------------------
def _claim_row(claims, claim_id):
    return claims.set_index("claim_id").loc[claim_id]


def trm_both_ways(tables, claims: pd.DataFrame | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Treatment-related mortality of the seed's HSCT series counted both ways, with Wilson CIs.

    Rows: the seed's 4% (our hypothesis: the deaths after mobilisation and before transplant, of
    all enrolled) and the source's 2% (1/50: deaths attributed to the treatment, of all enrolled,
    intention to treat; Burt 2006). Columns: ``count``, ``published``, ``published_by``,
    ``deaths``, ``enrolled``, ``pct``, ``lower``, ``upper``, ``passed``.
    """
    claims = seed_claims() if claims is None else claims
    r = _claim_row(claims, "hsct_trm")
    cohorts, how = resolve_cohorts(r["series_source"], r["arm"], tables["adsl"])
    c = _trm_counts(tables["adsl"], cohorts)
    rows = []
    for label, key, pub, by in (
            ("deaths after mobilisation, before transplant (our reading of the seed)", "before_transplant",
             f"{r['published_value']:g}%", "seed"),
            ("deaths attributed to the treatment (as the source counts)", "treatment_related",
             f"{r['source_value']:g}% ({int(r['source_numerator'])}/{int(r['source_denominator'])})",
             _series_label(r["series_source"]))):
        k, n = c[key], c["enrolled"]
        if not n:
            rows.append({"count": label, "published": pub, "published_by": by, "deaths": pd.NA, "enrolled": 0,
                         "pct": np.nan, "lower": np.nan, "upper": np.nan, "passed": pd.NA})
            continue
        lo, hi = wilson(k, n, conf_level)
        target = r["published_value"] if key == "before_transplant" else r["source_value"]
        ok = rounds_to(100 * k / n, float(target)) and (key == "before_transplant" or n == int(r["source_denominator"]))
        rows.append({"count": label, "published": pub, "published_by": by, "deaths": k, "enrolled": n,
                     "pct": 100 * k / n, "lower": lo, "upper": hi, "passed": ok})
    out = pd.DataFrame(rows)
    out.attrs["cohorts"] = cohorts if cohorts else f"not computed: {how}"
    return out


def cr_trend(tables, claims: pd.DataFrame | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Complete remission of the MSCT series by year: published and recomputed k/n, Wilson CIs.

    Returns one row per year: ``year``, ``published`` (k/n), ``published_pct``, ``pub_lower``,
    ``pub_upper`` (Wilson CI of the published k/n), ``complete_remission``, ``evaluable``, ``pct``,
    ``lower``, ``upper``. ``attrs["all_overlap"]``: True when one value lies inside every year's
    recomputed interval (the rise is within the noise of the shrinking denominators).
    """
    claims = seed_claims() if claims is None else claims
    c = claims[claims["operation"] == "cr_year"].sort_values("timepoint_years")
    cohorts, _ = resolve_cohorts(c["series_source"].iloc[0], c["arm"].iloc[0], tables["adsl"])
    y = _yearly(tables, cohorts)
    rows = []
    for _, r in c.iterrows():
        k_p, n_p = int(r["numerator"]), int(r["denominator"])
        year = int(r["timepoint_years"])
        k, n = (int(y.loc[year, "complete_remission"]), int(y.loc[year, "evaluable"])) if year in y.index else (0, 0)
        plo, phi = wilson(k_p, n_p, conf_level)
        lo, hi = wilson(k, n, conf_level)
        rows.append({"year": year, "published": f"{k_p}/{n_p}", "published_pct": 100 * k_p / n_p,
                     "pub_lower": plo, "pub_upper": phi, "complete_remission": k, "evaluable": n,
                     "pct": 100 * k / n if n else np.nan, "lower": lo, "upper": hi})
    out = pd.DataFrame(rows)
    out.attrs["all_overlap"] = bool(out["lower"].max() < out["upper"].min())
    return out


def relapse_crude_vs_cif(tables, claims: pd.DataFrame | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """The MSCT series' yearly crude relapse rates beside the cumulative incidence of relapse.

    ``crude_pct``: relapses within year k among the patients seen at the month-12k visit (the seed's
    rate; Wilson CI). ``cif_pct``: Aalen-Johansen cumulative incidence of relapse by 12k months
    (death without relapse competing; every patient counts until censored), with its CI and the
    number still at risk. The two answer different questions: the crude rate is conditional on
    being seen at the visit and restarts each year; the cumulative incidence accumulates.
    """
    from .outcomes import milestone_table

    claims = seed_claims() if claims is None else claims
    c = claims[claims["operation"] == "relapse_year"].sort_values("timepoint_years")
    cohorts, _ = resolve_cohorts(c["series_source"].iloc[0], c["arm"].iloc[0], tables["adsl"])
    y = _yearly(tables, cohorts)
    years = [int(v) for v in c["timepoint_years"]]
    if cohorts:
        cif = milestone_table(tables["survival"], "REL", by=None, at=[12.0 * k for k in years], cohorts=cohorts,
                              conf_level=conf_level).set_index("months")
    else:
        cif = pd.DataFrame({"estimate_pct": np.nan, "lower_pct": np.nan, "upper_pct": np.nan, "n_risk": 0},
                           index=[12.0 * k for k in years])
    rows = []
    for _, r in c.iterrows():
        k = int(r["timepoint_years"])
        rel, n = (int(y.loc[k, "relapses"]), int(y.loc[k, "evaluable"])) if k in y.index else (0, 0)
        lo, hi = wilson(rel, n, conf_level)
        m = cif.loc[12.0 * k]
        rows.append({"year": k, "published": f"{int(r['numerator'])}/{int(r['denominator'])} ({r['published_value']:g}%)",
                     "relapses": rel, "evaluable": n, "crude_pct": 100 * rel / n if n else np.nan,
                     "crude_lower": lo, "crude_upper": hi, "months": 12 * k, "cif_pct": float(m["estimate_pct"]),
                     "cif_lower": float(m["lower_pct"]), "cif_upper": float(m["upper_pct"]),
                     "n_risk": int(m["n_risk"])})
    return pd.DataFrame(rows)


def follow_up_vs_claim(tables, claims: pd.DataFrame | None = None) -> pd.DataFrame:
    """The seed's "4 years' follow-up" against the source's mean and the data's follow-up.

    Rows (``statistic``, ``months``, ``source``): the seed's 4 years; the source's mean (Wang 2013,
    27 months); and from the data: mean, median, longest (crude: origin to death or last contact,
    ``adsl.FUPM``) and the reverse Kaplan-Meier median (potential follow-up).
    """
    from .stats.survival import median_followup

    claims = seed_claims() if claims is None else claims
    r = _claim_row(claims, "msct_follow_up")
    cohorts, _ = resolve_cohorts(r["series_source"], r["arm"], tables["adsl"])
    f = tables["adsl"].loc[tables["adsl"]["STUDYID"].astype(str).isin(cohorts), "FUPM"].astype(float)
    s = tables["survival"]
    os_ = s[(s["endpoint"] == "OS") & s["cohort"].isin(cohorts)]
    rk = median_followup(os_["time_months"], os_["status"] == 1).iloc[0] if len(os_) else {"median": np.nan}
    lab = _series_label(r["series_source"])
    return pd.DataFrame([
        {"statistic": "seed: \"during 4 years' follow up\"", "months": 12 * float(r["published_value"]), "source": "seed"},
        {"statistic": f"{lab}: mean follow-up", "months": float(r["source_value"]), "source": lab},
        {"statistic": "data: mean follow-up", "months": float(f.mean()), "source": "recomputed"},
        {"statistic": "data: median follow-up", "months": float(f.median()), "source": "recomputed"},
        {"statistic": "data: reverse Kaplan-Meier median", "months": float(rk["median"]), "source": "recomputed"},
        {"statistic": "data: longest follow-up", "months": float(f.max()), "source": "recomputed"},
    ])


# --------------------------------------------------------------------------------------------
# real data: Merrell & Shulman 1955 (lifelines.datasets.load_lupus)
# --------------------------------------------------------------------------------------------
#: Follow-up given to a patient diagnosed and last seen in the same calendar month (years): half a
#: month, the middle of the month (the data are recorded to the month).
SAME_MONTH_YEARS = 1.0 / 24.0


def lupus_1955() -> pd.DataFrame:
    """The Merrell & Shulman (1955) SLE cohort, shipped with lifelines, on two time scales.

    99 patients with SLE diagnosed at the Johns Hopkins Hospital 1949-1953 and followed to early
    1954 (Merrell M, Shulman LE. Determination of prognosis in chronic disease, illustrated by
    systemic lupus erythematosus. *J Chronic Dis* 1955;1:12-32; lifelines transcribed the table from
    the paper and says two rows were corrected in v0.23.7). Real, historical data (before
    corticosteroids were routine), not synthetic.

    The patients came under observation at diagnosis, a median of about 2.6 years after the
    estimated onset of symptoms. On the time scale "years since onset" they are late entries:
    nobody who died before diagnosis could be in the cohort (left truncation).

    Returns
    -------
    pandas.DataFrame, one row per patient, sorted by ``id``: ``id``, ``dead`` (0/1),
    ``entry_years`` (onset to diagnosis = study entry), ``years_from_diagnosis`` (diagnosis to death
    or last observation; a same-month last observation counts as :data:`SAME_MONTH_YEARS`),
    ``exit_years`` (onset to death or last observation = entry + years from diagnosis),
    ``same_month`` (True where that rule applied).
    """
    from lifelines.datasets import load_lupus

    raw = load_lupus()
    dx = raw["time_between_diagnosis_and_last_observation_(years)"].astype(float)
    same = dx <= 0
    fu = dx.where(~same, SAME_MONTH_YEARS)
    entry = raw["time_elapsed_between_estimated_onset_and_diagnosis_(months)"].astype(float) / 12.0
    out = pd.DataFrame({"id": raw.index.astype(int), "dead": raw["dead"].astype(int).to_numpy(),
                        "entry_years": entry.to_numpy(), "years_from_diagnosis": fu.to_numpy(),
                        "exit_years": (entry + fu).to_numpy(), "same_month": same.to_numpy()})
    return out.sort_values("id").reset_index(drop=True)


_LUPUS_ANALYSES = {
    "from diagnosis": "years since diagnosis (everyone observed from time 0)",
    "from onset, late entry": "years since onset; each patient at risk only after diagnosis (entry)",
    "from onset, late entry ignored": "years since onset, as if observed from onset (biased upward)",
}


def lupus_km(lupus: pd.DataFrame | None = None, conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier curves of the 1955 cohort three ways (:func:`stats.survival.kaplan_meier`).

    ``from diagnosis``: time since diagnosis; ``from onset, late entry``: time since onset with
    entry = onset-to-diagnosis (R ``survfit(Surv(entry, exit, dead) ~ 1)``); ``from onset, late
    entry ignored``: the naive curve that counts the years before diagnosis as observed, biased
    upward (immortal time: whoever died before diagnosis was never enrolled).

    Returns the KM table (``time`` in years, ``n_risk``, ``n_event``, ``n_censor``, ``surv``,
    ``se``, ``lower``, ``upper``) with ``analysis`` first.
    """
    from .stats.survival import kaplan_meier

    d = lupus_1955() if lupus is None else lupus
    parts = [
        kaplan_meier(d["years_from_diagnosis"], d["dead"], conf_level=conf_level).assign(analysis="from diagnosis"),
        kaplan_meier(d["exit_years"], d["dead"], entry=d["entry_years"], conf_level=conf_level)
        .assign(analysis="from onset, late entry"),
        kaplan_meier(d["exit_years"], d["dead"], conf_level=conf_level).assign(analysis="from onset, late entry ignored"),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out[["analysis", *[c for c in out.columns if c != "analysis"]]]


def lupus_milestones(lupus: pd.DataFrame | None = None, at=(1, 2, 3, 4, 5), conf_level: float = 0.95) -> pd.DataFrame:
    """Survival of the 1955 cohort at ``at`` years, each of the three analyses of :func:`lupus_km`.

    Returns ``analysis``, ``years``, ``n_risk``, ``surv_pct``, ``lower_pct``, ``upper_pct`` (log-log CI).
    """
    from .stats.survival import km_milestones

    d = lupus_1955() if lupus is None else lupus
    rows = []
    for name, (t, entry) in {"from diagnosis": (d["years_from_diagnosis"], None),
                             "from onset, late entry": (d["exit_years"], d["entry_years"]),
                             "from onset, late entry ignored": (d["exit_years"], None)}.items():
        m = km_milestones(t, d["dead"], at=list(at), entry=entry, conf_level=conf_level)
        for r in m.itertuples():
            rows.append({"analysis": name, "years": float(r.time), "n_risk": int(r.n_risk), "surv_pct": 100 * r.surv,
                         "lower_pct": 100 * r.lower, "upper_pct": 100 * r.upper})
    return pd.DataFrame(rows)


def transplant_os_milestones(tables, at_years=(1, 2, 3, 4, 5), conf_level: float = 0.95) -> pd.DataFrame:
    """Overall survival of every cohort of the data at ``at_years`` (Kaplan-Meier from each cohort's
    analysis origin), in the layout of :func:`lupus_milestones` (``analysis`` = cohort display name)."""
    from .outcomes import milestone_table

    names = cohort_names(tables)
    m = milestone_table(tables["survival"], "OS", by="cohort", at=[12.0 * y for y in at_years], conf_level=conf_level)
    return pd.DataFrame({"analysis": m["group"].map(lambda c: names.get(c, c)), "years": m["months"] / 12.0,
                         "n_risk": m["n_risk"], "surv_pct": m["estimate_pct"], "lower_pct": m["lower_pct"],
                         "upper_pct": m["upper_pct"]})


def survival_panel(lupus_ms: pd.DataFrame, transplant_ms: pd.DataFrame, decimals: int = 1,
                   synthetic: bool = True) -> pd.DataFrame:
    """The numbers behind :func:`plot_lupus_beside_transplant`, wide: one row per curve (``data``:
    real and historical, or synthetic and calibrated; ``analysis``), one column per year, the
    percent alive as text ("—" beyond a curve's follow-up). ``synthetic``: the transplant cohorts are
    the bundled synthetic ones (False on a user's data: labelled "transplant cohorts of the data")."""
    p = pd.concat([lupus_ms.assign(data="real, historical (1955)", analysis="SLE 1955: " + lupus_ms["analysis"]),
                   transplant_ms.assign(data="synthetic, calibrated" if synthetic else "transplant cohorts of the data", analysis=transplant_ms["analysis"] + ": OS")])
    w = p.pivot(index=["data", "analysis"], columns="years", values="surv_pct")
    w.columns = [f"{y:g} y alive %" for y in w.columns]
    return w.apply(lambda col: col.map(lambda v: "—" if pd.isna(v) else f"{v:.{decimals}f}"))


def transplant_os_km(tables, conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier overall survival of every cohort of the data, time in years, with ``analysis``
    = cohort display name first (the curves drawn beside the 1955 cohort)."""
    from .stats.survival import kaplan_meier

    names = cohort_names(tables)
    s = tables["survival"]
    os_ = s[s["endpoint"] == "OS"]
    km = kaplan_meier(os_["time_months"].to_numpy(float) / 12.0, os_["status"] == 1, group=os_["cohort"],
                      conf_level=conf_level)
    km.insert(0, "analysis", km.pop("group").map(lambda c: names.get(c, c)))
    return km


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def _err(est, lower, upper):
    """Error-bar lengths below and above, never negative (a Wilson bound can sit a rounding error
    beyond the estimate at 0 or 100%)."""
    est = np.asarray(est, float)
    return [np.clip(est - np.asarray(lower, float), 0, None), np.clip(np.asarray(upper, float) - est, 0, None)]


def _ax(ax, size=(6.5, 4.2)):
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_cr_trend(trend: pd.DataFrame, ax=None, synthetic: bool = True):
    """Complete remission by year (:func:`cr_trend`): published and recomputed, Wilson 95% CIs.
    ``synthetic``: label the recomputed series as synthetic (the bundled data)."""
    ax = _ax(ax)
    x = trend["year"].to_numpy(float)
    ax.errorbar(x - 0.08, trend["published_pct"], yerr=_err(trend["published_pct"], trend["pub_lower"], trend["pub_upper"]), fmt="s", color="0.35", capsize=4, label="published k/n")
    ax.errorbar(x + 0.08, trend["pct"], yerr=_err(trend["pct"], trend["lower"], trend["upper"]),
                fmt="o", color="C0", capsize=4, label="recomputed (synthetic)" if synthetic else "recomputed")
    for xi, r in zip(x, trend.itertuples()):
        ax.annotate(f"n={r.evaluable}", (xi, 2), ha="center", fontsize=9, color="0.3")
    return _yearly_percent_axes(ax, x, "visit (years after MSCT)", "complete remission, % (95% CI)")


def _yearly_percent_axes(ax, years, xlabel: str, ylabel: str):
    """Ticks at whole years, a 0-100 % axis, labels and the legend of the yearly percent plots."""
    ax.set_xticks(years)
    ax.set_xticklabels([f"{int(v)} y" for v in years])
    ax.set_ylim(0, 100)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    return ax


def plot_relapse_crude_vs_cif(table: pd.DataFrame, ax=None):
    """Yearly crude relapse rate (Wilson CI) beside the cumulative incidence of relapse (AJ CI)."""
    ax = _ax(ax)
    x = table["year"].to_numpy(float)
    ax.errorbar(x - 0.08, table["crude_pct"], yerr=_err(table["crude_pct"], table["crude_lower"], table["crude_upper"]), fmt="o", color="C1", capsize=4,
                label="relapses in year k / seen at year k (crude)")
    ax.errorbar(x + 0.08, table["cif_pct"], yerr=_err(table["cif_pct"], table["cif_lower"], table["cif_upper"]), fmt="D", color="C3", capsize=4,
                label="cumulative incidence by year k (Aalen-Johansen)")
    return _yearly_percent_axes(ax, x, "years after MSCT", "relapse, % (95% CI)")


def plot_taper(table: pd.DataFrame, ax=None):
    """Share on <= 10 mg/day prednisone (Wilson 95% CI) and share off every immunosuppressant, by
    visit (:func:`steroid_by_visit`)."""
    ax = _ax(ax)
    x = table["visit_month"].to_numpy(float)
    ax.errorbar(x, table["pct_at_or_below_cap"], yerr=_err(table["pct_at_or_below_cap"], table["lower"], table["upper"]), fmt="o-", color="C0", capsize=3,
                label="prednisone <= 10 mg/day (95% CI)")
    ax.plot(x, table["pct_no_immunosuppressant"], "s--", color="C1", label="no immunosuppressant")
    ax.set_ylim(0, 100)
    ax.set_xlabel("months after transplant (nominal visit)")
    ax.set_ylabel("patients, %")
    ax.legend(loc="upper left", frameon=False, fontsize=9)
    return ax


def plot_lupus_beside_transplant(km: pd.DataFrame, transplant: pd.DataFrame, ax=None, max_years: float = 5.0,
                                 synthetic: bool = True):
    """Kaplan-Meier of the 1955 cohort (:func:`lupus_km`, real) and of the transplant cohorts' OS
    (:func:`transplant_os_km`; ``synthetic``: the bundled synthetic ones) on one axis of years."""
    ax = _ax(ax, (7.5, 4.6))
    styles = {"from diagnosis": ("k", "-"), "from onset, late entry": ("C2", "-"),
              "from onset, late entry ignored": ("C2", ":")}
    for name, (col, ls) in styles.items():
        k = km[km["analysis"] == name]
        t = np.r_[0.0, k["time"].to_numpy(float)]
        s = np.r_[1.0, k["surv"].to_numpy(float)]
        ax.step(t, 100 * s, where="post", color=col, ls=ls, lw=1.8, label=f"1955 cohort (real): {name}")
    for i, (name, g) in enumerate(transplant.groupby("analysis", sort=True)):
        ax.step(np.r_[0.0, g["time"].to_numpy(float)], 100 * np.r_[1.0, g["surv"].to_numpy(float)], where="post",
                lw=1.3, ls="--", color=f"C{i + 4}", label=f"{name}: OS (synthetic)" if synthetic else f"{name}: OS")
    ax.set_xlim(0, max_years)
    ax.set_ylim(0, 102)
    ax.set_xlabel("years (since diagnosis, onset or transplant)")
    ax.set_ylabel("alive, %")
    ax.legend(loc="lower left", frameon=False, fontsize=9)
    return ax


# --------------------------------------------------------------------------------------------
# the closing text
# --------------------------------------------------------------------------------------------
def what_this_shows(table: pd.DataFrame, trend: pd.DataFrame, lupus_ms: pd.DataFrame,
                    follow_up: pd.DataFrame, bundled: bool = True, trm: pd.DataFrame | None = None) -> list[str]:
    """The closing sentences of notebook 05, computed from its results (a list of strings).

    ``table`` from :func:`claims_table`, ``trend`` from :func:`cr_trend`, ``lupus_ms`` from
    :func:`lupus_milestones`, ``follow_up`` from :func:`follow_up_vs_claim`, ``trm`` (optional)
    from :func:`trm_both_ways`; ``bundled``: the data are the bundled synthetic ones.
    """
    tested = table[table["kind"] != "not testable"]
    computed = tested[tested["passed"].notna()]
    n_pass = int(computed["passed"].sum())
    n_num = int((tested["kind"] == "number").sum())
    out = [f"{len(table)} claims of the seed abstract: {n_num} numbers, "
           f"{int((tested['kind'] == 'qualitative').sum())} qualitative claims with an operational test, "
           f"{int((table['kind'] == 'not testable').sum())} that patient data cannot test."]
    failed = computed[~computed["passed"].astype(bool)]
    msg = f"{n_pass} of {len(computed)} testable claims computed on these data agree with the published value"
    if len(computed) < len(tested):
        msg += f" ({len(tested) - len(computed)} could not be computed: no matching cohort)"
    if len(failed):
        msg += "; differing: " + ", ".join(failed["claim_id"])
    out.append(msg + ("." if not bundled else ". On the bundled data this is a calibration check: "
                      "the synthetic cohorts were generated to reproduce these figures, so agreement is by "
                      "construction and is no evidence for the claims."))
    if trm is not None and trm["enrolled"].gt(0).all():
        a, b = trm.iloc[0], trm.iloc[1]
        overlap = a["lower"] < b["upper"] and b["lower"] < a["upper"]
        out.append(f"Treatment-related mortality: the seed's {a['published']} is compared with {a['deaths']}/{a['enrolled']} "
                   f"deaths after mobilisation and before transplant (our reading), the source's "
                   f"{b['published']} with {b['deaths']}/{b['enrolled']} deaths attributed to the treatment; "
                   f"their 95% intervals ({a['lower']:.0f}-{a['upper']:.0f}% and {b['lower']:.0f}-{b['upper']:.0f}%) "
                   + ("overlap." if overlap else "do not overlap."))
    rc = table.set_index("claim_id")
    if "hsct_relapse_challenge" in rc.index and rc.loc["hsct_relapse_challenge", "recomputed"]:
        out.append("Relapse against non-relapse mortality at 5 years: " + rc.loc["hsct_relapse_challenge", "recomputed"] + ".")
    if len(trend) and trend["pct"].notna().all():
        out.append(f"Complete remission rises from {trend['pct'].iloc[0]:.0f}% to {trend['pct'].iloc[-1]:.0f}% "
                   f"while the number seen falls from {trend['evaluable'].iloc[0]} to {trend['evaluable'].iloc[-1]}; "
                   + ("the 95% intervals of all years overlap, so the rise is within sampling noise."
                      if trend.attrs.get("all_overlap") else "not every pair of intervals overlaps."))
    rec = follow_up.set_index("statistic")["months"]
    if np.isfinite(rec["data: mean follow-up"]):
        out.append(f"\"4 years' follow up\" is the span of the series: the mean follow-up is "
                   f"{rec['data: mean follow-up']:.0f} months and only the longest reaches "
                   f"{rec['data: longest follow-up'] / 12:.1f} years.")
    w = lupus_ms.pivot(index="years", columns="analysis", values="surv_pct").dropna()
    if len(w) and set(_LUPUS_ANALYSES) <= set(w.columns):
        y = float(w.index.max())
        r = w.loc[y]
        out.append(f"Real, historical data (Merrell & Shulman 1955): {r['from diagnosis']:.0f}% alive {y:g} years after "
                   f"diagnosis; from onset, {r['from onset, late entry']:.0f}% with late entry against "
                   f"{r['from onset, late entry ignored']:.0f}% when the years before diagnosis are wrongly counted "
                   "as observed. " + ("The transplant cohorts beside it are synthetic and calibrated; "
                                      if bundled else "The transplant cohorts beside it are from a later era, ")
                   + "the panel compares time scales and methods, not treatments.")
    return out
