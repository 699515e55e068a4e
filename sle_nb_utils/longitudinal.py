"""Study layer of notebook 03: longitudinal SLEDAI-2K, renal and serological measures, steroid taper.

Builds the tidy tables the notebook shows from the analysis tables of
:func:`sle_nb_utils.adam.load_analysis_tables` (``adsl``, ``adlb``, ``adtte``, ``visits``); the
estimators are in :mod:`sle_nb_utils.stats.paired` and :mod:`sle_nb_utils.stats.mixed`, the figures
in :mod:`sle_nb_utils.longplot`.  Cohorts and arms are read from the data, never named here.

Time: ``AVISITN`` is the nominal visit month after transplant (0 = baseline); models use years
(month / 12).  Nothing here prints; every function returns a DataFrame sorted by cohort and visit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import published as _published
from .stats import mixed as _mixed
from .stats import paired as _paired

__all__ = [
    "MEASURES", "cohort_labels", "by_visit_wide", "pick_patients", "patient_values", "display_table", "measure_table", "visit_counts", "visit_accounting", "by_visit",
    "change_from_baseline", "paired_by_visit", "shift_table", "steroid_taper", "steroid_dose_bands", "DOSE_BANDS", "immunosuppressant_counts",
    "best_change", "swimmer_table", "mixed_models", "published_comparison", "model_data",
    "PROTEINURIA_CATEGORIES", "CAVEATS",
]

#: Measures of notebook 03: PARAMCD -> (display name, unit, summary shown by visit).  "median"
#: (with quartiles) for skewed labs, "mean" (with 95% CI) for roughly symmetric ones.
MEASURES = {
    "SLEDAI": ("SLEDAI-2K", "points", "median"),
    "PROT": ("Proteinuria", "g/24 h", "median"),
    "CREAT": ("Creatinine", "umol/L", "median"),
    "EGFR": ("eGFR (CKD-EPI 2021)", "mL/min/1.73 m2", "mean"),
    "ALB": ("Albumin", "g/L", "mean"),
    "C3": ("C3", "g/L", "mean"),
    "C4": ("C4", "g/L", "median"),
    "DSDNA": ("Anti-dsDNA", "IU/mL", "median"),
    "PRED": ("Prednisone", "mg/day", "median"),
}

#: Proteinuria categories (g/24 h) of the shift table: normal (< 0.5, the SLEDAI-2K threshold and
#: the EULAR/ERA-EDTA 2019 complete-response level), sub-nephrotic (0.5 to < 3.5) and nephrotic
#: (>= 3.5).
PROTEINURIA_CATEGORIES = ((0.5, "< 0.5"), (3.5, "0.5 to < 3.5"), (np.inf, ">= 3.5 (nephrotic)"))

#: The caveats printed in notebook 03.
CAVEATS = (
    "Regression to the mean: entry required active disease (SLEDAI-2K >= 8 or organ-threatening "
    "activity), so part of any fall from baseline would happen without treatment.",
    "No control arm: the series are single-arm; changes from baseline are not treatment effects, and "
    "HSCT vs MSCT compares different studies, eras, populations and time origins.",
    "The steroid cap is part of the complete-remission definition (prednisone <= 10 mg/day), so the "
    "taper and the remission rates are not independent findings.",
    "Missing visits: the mixed models and the GLS sensitivity analysis assume the visits are missing "
    "at random (MAR: missingness may depend on observed values, not on the unseen ones); the paired "
    "tests use only patients seen at both visits (complete cases), which is valid only if the missing "
    "are missing completely at random.",
    "N falls mainly through staggered entry (patients enrolled late have not reached the later visits), "
    "not dropout: late visits describe the earliest-enrolled patients.",
)


# --------------------------------------------------------------------------------------------
# names
# --------------------------------------------------------------------------------------------
def _cohort_label(code: str) -> str:
    """Display name of one cohort code (:func:`sle_nb_utils.published.cohort_display_name`)."""
    return _published.cohort_display_name(code)


def cohort_labels(adsl: pd.DataFrame) -> dict:
    """Display name of every cohort in the data (``adsl.STUDYID``), from the package's one naming
    rule, :func:`sle_nb_utils.published.cohort_display_names` (e.g. ``msct_wang2013`` -> "MSCT,
    Wang 2013"; ``hsct_center_a`` -> "HSCT, Center A")."""
    return _published.cohort_display_names(adsl["STUDYID"].astype(str))


def measure_table() -> pd.DataFrame:
    """The measures of notebook 03: code, display name, unit and the by-visit summary used."""
    return pd.DataFrame([{"PARAMCD": k, "measure": v[0], "unit": v[1], "summary": v[2]}
                         for k, v in MEASURES.items()])


def _lb(adlb: pd.DataFrame, params) -> pd.DataFrame:
    if isinstance(params, str):
        params = [params]
    a = adlb[adlb["PARAMCD"].isin(list(params))]
    out = pd.DataFrame({
        "STUDYID": a["STUDYID"].astype(str).to_numpy(), "ARM": a["ARM"].astype(str).to_numpy(),
        "USUBJID": a["USUBJID"].astype(str).to_numpy(), "PARAMCD": a["PARAMCD"].astype(str).to_numpy(),
        "AVISITN": a["AVISITN"].to_numpy(), "AVAL": a["AVAL"].to_numpy(float),
        "BASE": a["BASE"].to_numpy(float), "CHG": a["CHG"].to_numpy(float), "PCHG": a["PCHG"].to_numpy(float),
    })
    return out


# --------------------------------------------------------------------------------------------
# who is seen when
# --------------------------------------------------------------------------------------------
def visit_counts(adlb: pd.DataFrame, param: str = "SLEDAI", by: str = "STUDYID") -> pd.DataFrame:
    """Patients with a value of ``param`` at each visit month: one row per visit, one column per
    cohort (0 where none)."""
    a = _lb(adlb, param)
    t = a.groupby([by, "AVISITN"]).USUBJID.nunique().unstack(by, fill_value=0)
    t.index.name = "visit_month"
    t.columns.name = None
    return t.astype(int)


def visit_accounting(adsl: pd.DataFrame, adlb: pd.DataFrame, param: str = "SLEDAI",
                     by: str = "STUDYID") -> pd.DataFrame:
    """Why N falls: every enrolled patient at every scheduled visit month, by status.

    Status at month m: ``seen`` (a value of ``param`` at that visit), ``died before`` (dead and
    followed for less than m months), ``not yet reached`` (alive at the data cut but followed for
    less than m months: enrolled late, staggered entry), ``missed`` (followed past m, no value).
    Follow-up is ``adsl.FUPM`` (months from the analysis origin to death or last contact).

    Returns
    -------
    DataFrame: ``by``, ``visit_month``, ``enrolled``, ``seen``, ``missed``, ``not yet reached``,
    ``died before``; the four statuses add up to ``enrolled``.
    """
    a = _lb(adlb, param)
    s = adsl[[by, "USUBJID", "FUPM", "DTHFL"]].copy()
    s[by] = s[by].astype(str)
    s["USUBJID"] = s["USUBJID"].astype(str)
    seen = set(zip(a.USUBJID, a.AVISITN))
    rows = []
    for g, sg in s.groupby(by, sort=True):
        months = sorted(a.loc[a[by] == g, "AVISITN"].unique())
        for m in months:
            st = []
            for pid, fup, dth in zip(sg.USUBJID, sg.FUPM.to_numpy(float), sg.DTHFL.astype(str)):
                if (pid, m) in seen:
                    st.append("seen")
                elif fup < m and dth == "Y":
                    st.append("died before")
                elif fup < m:
                    st.append("not yet reached")
                else:
                    st.append("missed")
            st = pd.Series(st)
            rows.append({by: g, "visit_month": int(m), "enrolled": len(sg), "seen": int((st == "seen").sum()),
                         "missed": int((st == "missed").sum()),
                         "not yet reached": int((st == "not yet reached").sum()),
                         "died before": int((st == "died before").sum())})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# summaries by visit
# --------------------------------------------------------------------------------------------
def by_visit(adlb: pd.DataFrame, params: Sequence[str], by: str = "STUDYID",
             conf_level: float = 0.95) -> pd.DataFrame:
    """n, mean (95% CI), SD, median (quartiles) and range of each measure at each visit.

    Returns
    -------
    DataFrame: ``PARAMCD``, ``by``, ``AVISITN``, ``n``, ``mean``, ``sd``, ``mean_lower``,
    ``mean_upper``, ``median``, ``q1``, ``q3``, ``min``, ``max``, ``summary`` (the one MEASURES
    recommends for the measure).
    """
    a = _lb(adlb, params)
    out = _paired.summary_by_visit(a, "AVAL", "AVISITN", by=["PARAMCD", by], conf_level=conf_level)
    out["summary"] = out["PARAMCD"].map(lambda c: MEASURES.get(c, ("", "", "mean"))[2])
    return _order_params(out, params)


def by_visit_wide(summary: pd.DataFrame, by: str = "STUDYID", labels=None, decimals: int = 2) -> pd.DataFrame:
    """The table of :func:`by_visit` in print form: one row per measure and cohort, one column per
    visit month, each cell ``"median [q1, q3]"`` or ``"mean (lower, upper)"`` (the measure's
    summary) followed by ``n``."""
    def cell(r):
        if r["n"] == 0 or pd.isna(r["n"]):
            return ""
        f = f"{{:.{decimals}f}}"
        if r["summary"] == "median":
            s = f"{f.format(r['median'])} [{f.format(r['q1'])}, {f.format(r['q3'])}]"
        else:
            lo = "-" if pd.isna(r["mean_lower"]) else f.format(r["mean_lower"])
            hi = "-" if pd.isna(r["mean_upper"]) else f.format(r["mean_upper"])
            s = f"{f.format(r['mean'])} ({lo}, {hi})"
        return f"{s}; n={int(r['n'])}"

    d = summary.assign(cell=summary.apply(cell, axis=1))
    d["measure"] = d["PARAMCD"].map(lambda c: "{} ({}), {}".format(*MEASURES[c]) if c in MEASURES else c)
    d["cohort"] = d[by].map(lambda c: (labels or {}).get(c, c))
    order = list(dict.fromkeys(d["measure"]))
    w = d.pivot_table(index=["measure", "cohort"], columns="AVISITN", values="cell", aggfunc="first")
    w = w.reindex(order, level=0).fillna("")
    w.columns = [f"month {int(m)}" for m in w.columns]
    return w


def pick_patients(adlb: pd.DataFrame, param: str, cohort: str, n: int = 3, min_visits: int = 4,
                  seed: int = 0, by: str = "STUDYID") -> list:
    """``n`` patients of ``cohort`` with at least ``min_visits`` values of ``param``, drawn with a
    seeded generator (the same ones at every run), sorted."""
    a = _lb(adlb, param)
    k = a[a[by] == cohort].groupby("USUBJID").size()
    ids = sorted(k[k >= min_visits].index)
    if not ids:
        return []
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(ids, size=min(n, len(ids)), replace=False).tolist())


def patient_values(adlb: pd.DataFrame, param: str, ids: Sequence[str]) -> pd.DataFrame:
    """Values of ``param`` of the given patients: one row per patient, one column per visit month."""
    a = _lb(adlb, param)
    a = a[a.USUBJID.isin(list(ids))]
    w = a.pivot_table(index=["STUDYID", "USUBJID"], columns="AVISITN", values="AVAL", aggfunc="first")
    w.columns = [f"month {int(m)}" for m in w.columns]
    return w


def display_table(df: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Rounded copy for printing: floats to ``decimals``; p-value columns (``p``, ``*_p``,
    ``*_p_holm``) as two significant digits (text), so small p-values stay readable."""
    out = df.copy()
    for c in out.columns:
        name = str(c)
        if name == "p" or name.endswith("_p") or name.endswith("_p_holm"):
            out[c] = out[c].map(lambda v: "" if pd.isna(v) else f"{v:.2g}")
        elif pd.api.types.is_float_dtype(out[c]):
            out[c] = out[c].round(decimals)
    return out


def _order_params(out: pd.DataFrame, params) -> pd.DataFrame:
    params = [params] if isinstance(params, str) else list(params)
    out["PARAMCD"] = pd.Categorical(out["PARAMCD"], categories=params, ordered=True)
    keys = [c for c in ["PARAMCD", "STUDYID", "ARM", "AVISITN"] if c in out.columns]
    out = out.sort_values(keys, kind="stable").reset_index(drop=True)
    out["PARAMCD"] = out["PARAMCD"].astype(str)
    return out


def change_from_baseline(adlb: pd.DataFrame, params: Sequence[str], by: str = "STUDYID",
                         conf_level: float = 0.95) -> pd.DataFrame:
    """Change from baseline (CHG = value - baseline) at each post-baseline visit.

    Returns
    -------
    DataFrame: ``PARAMCD``, ``by``, ``AVISITN``, ``n`` (patients with both values), ``mean_base``,
    ``mean_chg``, ``chg_lower``, ``chg_upper`` (t interval), ``median_chg``, ``q1_chg``,
    ``q3_chg``, ``median_pchg`` (median percent change).
    """
    a = _lb(adlb, params)
    a = a[(a.AVISITN > 0) & a.BASE.notna()]
    rows = []
    for key, g in a.groupby(["PARAMCD", by, "AVISITN"], sort=True):
        s = _paired.summary_by_visit(g.assign(_v=0), "CHG", "_v", conf_level=conf_level).iloc[0]
        rows.append({"PARAMCD": key[0], by: key[1], "AVISITN": int(key[2]), "n": int(s["n"]),
                     "mean_base": float(g.BASE.mean()), "mean_chg": s["mean"], "chg_lower": s["mean_lower"],
                     "chg_upper": s["mean_upper"], "median_chg": s["median"], "q1_chg": s["q1"],
                     "q3_chg": s["q3"], "median_pchg": float(np.nanmedian(g.PCHG)) if g.PCHG.notna().any()
                     else np.nan})
    return _order_params(pd.DataFrame(rows), params)


def paired_by_visit(adlb: pd.DataFrame, params: Sequence[str], by: str = "STUDYID",
                    conf_level: float = 0.95, min_pairs: int = 3) -> pd.DataFrame:
    """Each post-baseline visit against baseline: Wilcoxon signed-rank and paired t.

    Holm's correction is applied across the visits of one measure within one cohort (the family
    the papers test).  Visits with fewer than ``min_pairs`` pairs are left out.

    Returns
    -------
    The table of :func:`sle_nb_utils.stats.paired.paired_tests` with ``PARAMCD`` and ``by``.
    """
    a = _lb(adlb, params)
    a = a[a.BASE.notna()]
    n = a[a.AVISITN > 0].groupby(["PARAMCD", by, "AVISITN"]).USUBJID.transform("size")
    a = a[(a.AVISITN == 0) | (n.reindex(a.index).fillna(0) >= min_pairs)]
    out = _paired.paired_tests(a, "AVAL", "BASE", "AVISITN", subject="USUBJID", by=["PARAMCD", by],
                               conf_level=conf_level)
    return _order_params(out, params)


def shift_table(adlb: pd.DataFrame, param: str, month: int = 12, cutoffs=None, by: str = "STUDYID",
                low_limit: float | None = None) -> pd.DataFrame:
    """Category at baseline against category at ``month``, among patients with both values.

    Parameters
    ----------
    param : str
        PARAMCD.
    cutoffs : sequence of (upper bound, label), optional
        Categories ``value < bound`` in order (default: ``PROTEINURIA_CATEGORIES``); ignored when
        ``low_limit`` is given.
    low_limit : float, optional
        Two categories, ``low (< low_limit)`` and ``normal``: e.g. C3 below the lower limit of
        normal.

    Returns
    -------
    DataFrame: ``by``, ``baseline`` category, one column per category at ``month``, ``total``.
    """
    if low_limit is not None:
        cats = ((low_limit, f"low (< {low_limit:g})"), (np.inf, f"normal (>= {low_limit:g})"))
    else:
        cats = tuple(cutoffs or PROTEINURIA_CATEGORIES)
    labels = [lab for _, lab in cats]

    def cat(x):
        x = np.asarray(x, float)
        idx = np.searchsorted(np.array([b for b, _ in cats]), x, side="right")
        return pd.Categorical.from_codes(idx, labels)

    a = _lb(adlb, param)
    b = a[a.AVISITN == 0].set_index("USUBJID")
    v = a[a.AVISITN == month].set_index("USUBJID")
    both = b.index.intersection(v.index)
    d = pd.DataFrame({by: b.loc[both, by].to_numpy(), "baseline": cat(b.loc[both, "AVAL"]),
                      "at_month": cat(v.loc[both, "AVAL"])})
    t = pd.crosstab([d[by], d["baseline"]], d["at_month"], dropna=False)
    t = t.reindex(columns=labels, fill_value=0)
    t["total"] = t.sum(axis=1)
    t.columns.name = f"month {month}"
    return t.reset_index()


def steroid_taper(adlb: pd.DataFrame, by: str = "STUDYID", cap_mg_day: float = 10.0) -> pd.DataFrame:
    """Prednisone-equivalent dose by visit: share at or below ``cap_mg_day`` and the distribution.

    Returns
    -------
    DataFrame: ``by``, ``AVISITN``, ``n``, ``n_at_or_below_cap``, ``pct_at_or_below_cap``,
    ``pct_off`` (0 mg/day), ``median``, ``q1``, ``q3``, ``max`` (mg/day).
    """
    a = _lb(adlb, "PRED")
    rows = []
    for (g, m), d in a.groupby([by, "AVISITN"], sort=True):
        x = d.AVAL.to_numpy(float)
        k = int((x <= cap_mg_day).sum())
        rows.append({by: g, "AVISITN": int(m), "n": int(x.size), "n_at_or_below_cap": k,
                     "pct_at_or_below_cap": 100 * k / x.size, "pct_off": 100 * float((x == 0).mean()),
                     "median": float(np.median(x)), "q1": float(np.quantile(x, 0.25)),
                     "q3": float(np.quantile(x, 0.75)), "max": float(x.max())})
    return pd.DataFrame(rows)


#: Prednisone-equivalent dose bands (mg/day) of :func:`steroid_dose_bands`: upper bound, label.
DOSE_BANDS = ((0.0, "0"), (5.0, "> 0 to 5"), (10.0, "> 5 to 10"), (20.0, "> 10 to 20"), (np.inf, "> 20"))


def steroid_dose_bands(adlb: pd.DataFrame, by: str = "STUDYID", bands=DOSE_BANDS) -> pd.DataFrame:
    """The dose distribution at each visit: percent of patients in each prednisone band.

    Returns
    -------
    DataFrame: ``by``, ``AVISITN``, ``n``, then one column per band (percent of ``n``).
    """
    a = _lb(adlb, "PRED")
    edges = np.array([b for b, _ in bands])
    labels = [lab for _, lab in bands]
    a = a.assign(band=pd.Categorical.from_codes(np.searchsorted(edges, a.AVAL.to_numpy(float), side="left"),
                                                labels))
    t = pd.crosstab([a[by], a["AVISITN"]], a["band"], dropna=False).reindex(columns=labels, fill_value=0)
    n = t.sum(axis=1)
    t = t[n > 0]
    out = (100 * t.div(t.sum(axis=1), axis=0))
    out.insert(0, "n", t.sum(axis=1))
    out.columns.name = None
    return out.reset_index()


def immunosuppressant_counts(visits: pd.DataFrame, adsl: pd.DataFrame, by: str = "STUDYID",
                             exclude: Sequence[str] = ("hydroxychloroquine",)) -> pd.DataFrame:
    """Number of immunosuppressants per patient at each visit (hydroxychloroquine, an antimalarial
    allowed in remission, is not counted by default).

    Returns
    -------
    DataFrame: ``by``, ``visit_month``, ``n``, ``mean_count``, ``pct_none``, ``pct_two_or_more``.
    """
    ex = {e.strip().lower() for e in exclude}
    drugs = visits["immunosuppressants"].fillna("").astype(str)
    count = drugs.map(lambda s: sum(1 for x in s.split(";") if x.strip() and x.strip().lower() not in ex))
    coh = visits["patient_id"].map(adsl.set_index("USUBJID")[by])
    d = pd.DataFrame({by: coh.astype(str), "visit_month": visits["visit_month"].to_numpy(), "k": count})
    g = d.groupby([by, "visit_month"], sort=True)["k"]
    out = pd.DataFrame({"n": g.size(), "mean_count": g.mean(), "pct_none": g.apply(lambda x: 100 * (x == 0).mean()),
                        "pct_two_or_more": g.apply(lambda x: 100 * (x >= 2).mean())}).reset_index()
    return out


# --------------------------------------------------------------------------------------------
# per-patient views
# --------------------------------------------------------------------------------------------
def best_change(adlb: pd.DataFrame, param: str = "SLEDAI", by: str = "STUDYID") -> pd.DataFrame:
    """Each patient's best (lowest) post-baseline change, for a waterfall plot.

    Returns
    -------
    DataFrame, sorted by cohort and change: ``by``, ``USUBJID``, ``BASE``, ``best_value``,
    ``best_month`` (first visit at the best value), ``best_chg``, ``best_pchg``.
    """
    a = _lb(adlb, param)
    a = a[(a.AVISITN > 0) & a.BASE.notna()].sort_values(["USUBJID", "AVAL", "AVISITN"])
    b = a.groupby("USUBJID", sort=True).head(1)
    out = pd.DataFrame({by: b[by].to_numpy(), "USUBJID": b.USUBJID.to_numpy(), "BASE": b.BASE.to_numpy(),
                        "best_value": b.AVAL.to_numpy(), "best_month": b.AVISITN.to_numpy(),
                        "best_chg": b.CHG.to_numpy(), "best_pchg": b.PCHG.to_numpy()})
    return out.sort_values([by, "best_chg", "USUBJID"], ascending=[True, False, True]).reset_index(drop=True)


def swimmer_table(adtte: pd.DataFrame, by: str = "STUDYID") -> pd.DataFrame:
    """One row per patient for a swimmer plot, from ``adtte`` (months from the analysis origin).

    Returns
    -------
    DataFrame sorted by cohort and follow-up: ``by``, ``USUBJID``, ``follow_up_months`` (OS time),
    ``end`` (``death`` or ``censored``), ``cr_month`` (first complete remission, NaN if none),
    ``relapse_month`` (NaN if none).
    """
    t = adtte.copy()
    t["USUBJID"] = t["USUBJID"].astype(str)

    def ev(code):
        x = t[(t.PARAMCD == code) & (t.CNSR == 0)]
        return pd.Series(x.AVAL.to_numpy(float), index=x.USUBJID)

    os_ = t[t.PARAMCD == "OS"].set_index("USUBJID")
    out = pd.DataFrame({by: os_[by].astype(str), "follow_up_months": os_.AVAL.astype(float),
                        "end": np.where(os_.CNSR.to_numpy() == 0, "death", "censored")})
    out["cr_month"] = ev("CR").reindex(out.index)
    out["relapse_month"] = ev("REL").reindex(out.index)
    out = out.reset_index()
    return out.sort_values([by, "follow_up_months", "USUBJID"], ascending=[True, False, True]).reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# mixed models
# --------------------------------------------------------------------------------------------
def model_data(adlb: pd.DataFrame, param: str, log: bool = False, log_offset: float = 0.0,
               max_month: float | None = None) -> pd.DataFrame:
    """Long model frame: ``USUBJID``, ``arm``, ``month``, ``years`` (= month / 12), ``y``
    (log(value + log_offset) when ``log``), rows up to ``max_month``."""
    a = _lb(adlb, param)
    if max_month is not None:
        a = a[a.AVISITN <= max_month]
    y = a.AVAL.to_numpy(float)
    if log:
        y = np.log(y + log_offset)
    d = pd.DataFrame({"USUBJID": a.USUBJID.to_numpy(), "arm": a.ARM.to_numpy(), "cohort": a.STUDYID.to_numpy(),
                      "month": a.AVISITN.to_numpy(float), "years": a.AVISITN.to_numpy(float) / 12.0, "y": y})
    return d[np.isfinite(d.y)].reset_index(drop=True)


def mixed_models(adlb: pd.DataFrame, specs: dict, max_month: float | None = None,
                 conf_level: float = 0.95) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Random intercept and slope (REML) and the GLS-AR(1) sensitivity fit for each measure.

    Parameters
    ----------
    specs : dict
        Label -> dict(param=PARAMCD, log=bool, log_offset=float).  Model: ``y ~ years * arm +
        (years | patient)`` when the data hold two or more arms (reference: the first in sorted
        order), ``y ~ years + (years | patient)`` otherwise; sensitivity: the same fixed effects,
        no random effects, AR(1) correlation ``phi^|months apart|`` within patient (nlme corCAR1).
    max_month : float, optional
        Use visits up to this month (a straight line over the whole follow-up would misdescribe
        a fall that levels off).

    Returns
    -------
    (fixed, variance) : two DataFrames.  ``fixed``: ``measure``, ``model``, ``term``, ``coef``,
    ``se``, ``lower``, ``upper``, ``p``, ``n_obs``, ``n_patients``, ``converged``, ``singular`` (a random-effect variance
    at 0 or a correlation of +-1: lme4's "boundary (singular) fit").
    ``variance``: ``measure``, ``model``, ``component``, ``sd``, ``corr`` (random-effect SDs and
    correlation; the AR(1) ``phi`` per month and the residual SD of the GLS fit).
    """
    fixed_rows, var_rows = [], []
    for label, spec in specs.items():
        d = model_data(adlb, spec["param"], spec.get("log", False), spec.get("log_offset", 0.0), max_month)
        fixed = ["years", "arm", "years:arm"] if d.arm.nunique() > 1 else ["years"]
        lmm = _mixed.fit_lmm(d, "y", fixed, "USUBJID", "years", conf_level=conf_level)
        gls = _mixed.fit_gls_ar1(d, "y", fixed, "USUBJID", "month", conf_level=conf_level)
        for name, fit in (("LMM random intercept + slope", lmm), ("GLS, AR(1) residuals", gls)):
            s = fit.summary
            for _, r in s.iterrows():
                fixed_rows.append({"measure": label, "model": name, "term": r.term, "coef": r.coef, "se": r.se,
                                   "lower": r.lower, "upper": r.upper, "p": r.p, "n_obs": fit.n,
                                   "n_patients": fit.n_events, "converged": fit.converged,
                                   "singular": bool(fit.extra.get("singular", False))})
        vc = lmm.extra["var_components"]
        for _, r in vc.iterrows():
            var_rows.append({"measure": label, "model": "LMM random intercept + slope", "component": r.component,
                             "sd": r.sd, "corr": r["corr"]})
        var_rows.append({"measure": label, "model": "GLS, AR(1) residuals", "component": "AR(1) phi per month",
                         "sd": np.nan, "corr": gls.extra["phi"]})
        var_rows.append({"measure": label, "model": "GLS, AR(1) residuals", "component": "Residual",
                         "sd": gls.extra["sigma"], "corr": np.nan})
    return pd.DataFrame(fixed_rows), pd.DataFrame(var_rows)


# --------------------------------------------------------------------------------------------
# published shape targets
# --------------------------------------------------------------------------------------------
#: A recomputed summary is "close" to a published shape target within this many percent.
SHAPE_TOLERANCE_PCT = 25.0


def key_result(adlb: pd.DataFrame, comparison: pd.DataFrame, month: int = 12) -> str:
    """One sentence for the site's index: median SLEDAI-2K at baseline and at ``month`` by cohort,
    and how many published shape targets lie within tolerance (``comparison`` from
    :func:`published_comparison`, ``verdict == "close"``)."""
    sled = adlb[adlb.PARAMCD == "SLEDAI"].groupby(["STUDYID", "AVISITN"], observed=True).AVAL.median()
    names = _published.cohort_display_names(adlb.STUDYID.astype(str).unique())
    moves = [f"{names[c]} {sled[(c, 0)]:g} to {sled[(c, month)]:g}" for c in sorted(names)
             if (c, 0) in sled.index and (c, month) in sled.index]
    return (f"Median SLEDAI-2K from baseline to month {month}: "
            + ("; ".join(moves) or f"not computed (no month-{month} visits)")
            + f". {int((comparison.verdict == 'close').sum())} of {len(comparison)} published longitudinal "
            f"targets lie within {SHAPE_TOLERANCE_PCT:g}% of our value.")


def published_comparison(published: pd.DataFrame, adsl: pd.DataFrame, adlb: pd.DataFrame,
                         tolerance_pct: float = SHAPE_TOLERANCE_PCT) -> pd.DataFrame:
    """Each published shape target beside the same statistic computed from the data.

    A published cohort is matched to the data's cohort of the same code when present, otherwise to
    all cohorts of the arm its code starts with (``msct_...`` -> ARM ``MSCT``).  ``sledai`` and
    ``proteinuria_mg_24h`` (converted to g/24 h; among patients with lupus nephritis) are computed
    at the published visit month (``last`` = each patient's last visit); ``follow_up_months`` is
    ``adsl.FUPM``.  ``verdict``: ``close`` when within ``tolerance_pct`` percent of the published
    value, otherwise how far and in which direction; ``direction`` compares the sign of the change
    from baseline for post-baseline rows.

    Returns
    -------
    DataFrame: ``source_id``, ``published_cohort`` (display name), ``compared_with``, ``measure``, ``month``,
    ``statistic``, ``published``, ``published_n``, ``spread``, ``ours``, ``our_n``,
    ``diff_pct``, ``direction``, ``verdict``.
    """
    adsl = adsl.copy()
    adsl["STUDYID"] = adsl["STUDYID"].astype(str)
    cohorts = set(adsl.STUDYID)
    lb = _lb(adlb, ["SLEDAI", "PROT"])
    ln = set(adsl.loc[adsl.LNFL.astype(str) == "Y", "USUBJID"].astype(str))
    rows = []
    base_of = {}
    for _, p in published.iterrows():
        pc = str(p["cohort"])
        if pc in cohorts:
            match = [pc]
        else:
            arm = pc.split("_")[0].upper()
            match = sorted(adsl.loc[adsl.ARM.astype(str).str.upper() == arm, "STUDYID"].unique())
        measure, stat = str(p["measure"]), str(p["statistic"])
        month = "" if pd.isna(p["month"]) else str(p["month"])
        ours, n = np.nan, 0
        if match and measure in ("sledai", "proteinuria_mg_24h"):
            code = "SLEDAI" if measure == "sledai" else "PROT"
            d = lb[(lb.PARAMCD == code) & lb.STUDYID.isin(match)]
            if code == "PROT":
                d = d[d.USUBJID.isin(ln)]
            if month == "last":
                d = d[d.AVISITN > 0].sort_values(["USUBJID", "AVISITN"]).groupby("USUBJID").tail(1)
            elif month not in ("", "nan"):
                d = d[d.AVISITN == int(float(month))]
            x = d.AVAL.to_numpy(float) * (1000.0 if code == "PROT" else 1.0)
            n = int(x.size)
            if n:
                ours = float(np.median(x)) if stat == "median" else float(np.mean(x))
        elif match and measure == "follow_up_months":
            # follow-up after transplant: the transplanted patients (SAFFL), from the primary origin
            x = adsl.loc[adsl.STUDYID.isin(match) & (adsl.SAFFL == "Y"), "FUPM"].to_numpy(float)
            n = int(x.size)
            ours = float(np.median(x)) if stat == "median" else float(np.mean(x))
        pub = float(p["value"])
        key = (str(p["source_id"]), measure)
        if month == "0":
            base_of[key] = (pub, ours)
        direction = ""
        if key in base_of and month not in ("0", "", "nan"):
            pb, ob = base_of[key]
            same = np.sign(pub - pb) == np.sign(ours - ob)
            direction = "same" if same else "opposite"
        diff = 100 * (ours - pub) / pub if pub and np.isfinite(ours) else np.nan
        if not np.isfinite(diff):
            verdict = "not computed"
        elif abs(diff) <= tolerance_pct:
            verdict = "close"
        else:
            verdict = f"{'higher' if diff > 0 else 'lower'} by {abs(diff):.0f}%"
        rows.append({"source_id": p["source_id"], "published_cohort": _cohort_label(pc),
                     "compared_with": ", ".join(_cohort_label(m) for m in match), "measure": measure,
                     "month": month, "statistic": stat, "published": pub, "published_n": p["n"],
                     "spread": "" if pd.isna(p["spread"]) else f"{p['spread']} ({p['spread_kind']})",
                     "ours": ours, "our_n": n, "diff_pct": diff, "direction": direction, "verdict": verdict})
    return pd.DataFrame(rows)
