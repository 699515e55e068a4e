"""Study layer of notebook 02, HSCT vs MSCT: how the series differ, Table 1, outcomes at a common
horizon, what weighting can (and cannot) adjust, MAIC against a published cohort, and the published
series side by side.

Every function takes the analysis tables (:func:`sle_nb_utils.adam.load_analysis_tables`) or the
long time-to-event table (:func:`sle_nb_utils.outcomes.survival_data`) and returns a tidy table of
*unrounded* numbers (notebooks round for display); nothing prints.  Cohorts, arms and their order
come from the data (``adsl``), never from a list of the bundled cohorts; the bundled cohorts get
readable names and published context from ``data/published/series_design.csv`` and
``data/published/table1_provenance.csv``, and a user's own cohorts simply show their codes.

Estimators live in :mod:`sle_nb_utils.stats` (``weighting``, ``meta``, ``survival``,
``competing``, ``cox``); published series in ``data/published/published_series.csv`` (each figure
with its citation, the wording it was taken from, and a ``confirmed`` flag).

The comparison is descriptive.  The series differ in indication, era, centre, time origin,
conditioning and follow-up, and each arm is one or two series: arm, series, centre and era
coincide, so no weighting of measured covariates can separate a treatment effect from them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from .config import PUBLISHED_DIR
from .errors import BadInputError
from .stats import weighting as wt
from .stats.cox import cox_fit
from .stats.meta import MIN_STUDIES, pool_proportions
from .stats.survival import median_followup, risk_table

__all__ = [
    "BASELINE_VARIABLES",
    "PS_COVARIATES",
    "OUTCOME_ENDPOINTS",
    "select",
    "series_design",
    "display_names",
    "arms",
    "series_differences",
    "baseline_frame",
    "table1",
    "table1_provenance",
    "common_horizon",
    "outcomes_at_horizon",
    "crude_proportions",
    "wilson",
    "adjustment_frame",
    "Adjustment",
    "iptw_analysis",
    "trimming_sensitivity",
    "published_series",
    "maic_targets",
    "maic_analysis",
    "forest_table",
    "pooled_estimates",
    "risk_rows",
]

#: Baseline variables of Table 1: adsl column -> (key, display label, kind).  ``skewed`` ones are
#: summarised as median [Q1, Q3] (tableone ``nonnormal``), ``continuous`` as mean (SD), ``binary``
#: as n (%).
BASELINE_VARIABLES = {
    "AGE": ("age", "Age at transplant, years", "continuous"),
    "SEX": ("sex", "Female", "binary"),
    "DISDURM": ("disease_duration", "Disease duration, months", "skewed"),
    "LNFL": ("lupus_nephritis", "Lupus nephritis", "binary"),
    "BSLEDAI": ("baseline_sledai", "SLEDAI-2K at baseline", "continuous"),
    "BPROT": ("baseline_proteinuria", "Proteinuria at baseline, g/24 h", "skewed"),
    "BEGFR": ("baseline_egfr", "eGFR at baseline, mL/min/1.73 m2", "continuous"),
    "BALB": ("baseline_albumin", "Albumin at baseline, g/L", "continuous"),
    "BC3": ("baseline_c3", "C3 at baseline, g/L", "continuous"),
    "BDSDNA": ("baseline_dsdna", "Anti-dsDNA at baseline, IU/mL", "skewed"),
    "BPRED": ("baseline_prednisone", "Prednisone at baseline, mg/day", "skewed"),
}

#: Covariates of the propensity score (columns of :func:`adjustment_frame`) and their labels.
PS_COVARIATES = {
    "age_per_10_years": "Age, per 10 years",
    "female": "Female",
    "disease_duration_years": "Disease duration, years",
    "nephritis": "Lupus nephritis",
    "baseline_sledai": "SLEDAI-2K at baseline",
}

#: Endpoints shown at the common horizon, with readable names (adtte PARAMCD).
OUTCOME_ENDPOINTS = {
    "OS": "Overall survival",
    "DFS": "Disease-free survival",
    "REL": "Relapse or primary non-response (cumulative incidence)",
    "NRM": "Non-relapse mortality (cumulative incidence)",
    "TRM": "Treatment-related mortality (cumulative incidence)",
    "CR": "First complete remission (cumulative incidence)",
}

_ORIGIN_LABELS = {
    "enrol_date": "mobilisation / enrolment (intention to treat)",
    "transplant_date": "transplant or infusion (day 0)",
}


# --------------------------------------------------------------------------------------------
# names, arms, series
# --------------------------------------------------------------------------------------------
def select(tables: dict, data: pd.DataFrame, cohorts: Sequence[str] | None = None) -> tuple[dict, pd.DataFrame]:
    """The analysis tables and the time-to-event table restricted to ``cohorts`` (None: all).

    Raises a :class:`~sle_nb_utils.errors.BadInputError` naming any cohort not in the data.
    """
    if cohorts is None:
        return tables, data
    cohorts = [cohorts] if isinstance(cohorts, str) else list(cohorts)
    known = set(tables["adsl"]["STUDYID"].astype(str))
    missing = [c for c in cohorts if c not in known]
    if missing:
        raise BadInputError(f"cohort(s) {missing} not in the data (cohorts: {sorted(known)})", column="cohort")
    ids = set(tables["patients"].loc[tables["patients"]["cohort"].isin(cohorts), "patient_id"].astype(str))
    out = {}
    for k, t in tables.items():
        col = "patient_id" if "patient_id" in t.columns else "USUBJID" if "USUBJID" in t.columns else None
        out[k] = t.loc[t[col].astype(str).isin(ids)].reset_index(drop=True) if col else t
    return out, data.loc[data["cohort"].isin(cohorts)].reset_index(drop=True)


def series_design() -> pd.DataFrame:
    """Published design facts of the bundled cohorts (``data/published/series_design.csv``):
    ``cohort``, ``series_id``, ``indication``, ``relapse_definition_published``,
    ``concomitant_immunosuppression_published``, ``source_note``."""
    return pd.read_csv(PUBLISHED_DIR / "series_design.csv", dtype=str, keep_default_na=False)


def display_names(cohorts: Sequence[str]) -> dict:
    """Cohort code -> readable name, by the one naming rule of the package
    (:func:`sle_nb_utils.published.cohort_display_names`; a user's cohort gets a readable form of
    its code)."""
    from .published import cohort_display_names

    return dict(cohort_display_names(list(cohorts)))


def arms(adsl: pd.DataFrame) -> list[str]:
    """The arms present in ``adsl``, sorted (e.g. ``["HSCT", "MSCT"]``)."""
    return sorted(adsl["ARM"].astype(str).unique())


def _cohorts(adsl: pd.DataFrame) -> list[str]:
    a = adsl[["STUDYID", "ARM"]].astype(str).drop_duplicates().sort_values(["ARM", "STUDYID"])
    return a["STUDYID"].tolist()


def _counts_text(s: pd.Series) -> str:
    vc = s.fillna("not recorded").astype(str).replace("", "not recorded").value_counts()
    vc = vc.sort_index().sort_values(ascending=False, kind="stable")
    return "; ".join(f"{k} ({v})" for k, v in vc.items())


def series_differences(tables: dict, data: pd.DataFrame) -> pd.DataFrame:
    """How the series differ: one row per cohort (arm, then cohort order).

    Computed from the data: ``n`` (enrolled, ``adsl``), ``n_analysed`` (in the time-to-event
    analysis set: the OS rows of ``data``), ``centres``, ``era`` (years of the analysis origin dates),
    ``nephritis_pct``, ``time_origin`` (of the OS rows of ``data``), ``conditioning`` and
    ``cell_source`` (counts), ``immunosuppressant_baseline_pct`` and
    ``immunosuppressant_month12_pct`` (share of patients whose visit at month 0 / month 12 lists an
    immunosuppressant other than hydroxychloroquine, among those with that visit),
    ``relapses_site_recorded`` / ``relapses_visit_derived`` / ``relapses_both`` (how the relapses
    were ascertained, :func:`sle_nb_utils.endpoints.relapse_source_summary`),
    ``followup_median_months`` (reverse Kaplan-Meier of OS) and ``followup_max_months``.
    Read from ``data/published/series_design.csv`` (bundled cohorts only; ``"not recorded"``
    otherwise): ``indication``, ``relapse_definition_published``,
    ``concomitant_immunosuppression_published``, ``source_note``.
    """
    from . import endpoints

    adsl, visits = tables["adsl"], tables["visits"]
    design = series_design().set_index("cohort")
    names = display_names(_cohorts(adsl))
    v = visits.merge(tables["patients"][["patient_id", "cohort"]], on="patient_id", how="left")
    imm = v["immunosuppressants"].fillna("").astype(str).str.split(";").map(
        lambda xs: any(x.strip() and x.strip().lower() != "hydroxychloroquine" for x in xs))
    v = v.assign(other_is=imm)
    rel = endpoints.relapse_source_summary(tables["patients"], tables["visits"], tables["events"]).set_index("cohort")
    os_ = data.loc[data["endpoint"] == "OS"]
    rows = []
    for c in _cohorts(adsl):
        a = adsl.loc[adsl["STUDYID"] == c]
        o = os_.loc[os_["cohort"] == c]
        fu = median_followup(o["time_months"], o["status"] == 1).iloc[0] if len(o) else None
        orig = pd.to_datetime(a["ORIGDT"])
        vc = v.loc[v["cohort"] == c]
        v0, v12 = vc.loc[vc["visit_month"] == 0], vc.loc[vc["visit_month"] == 12]
        d = design.loc[c] if c in design.index else None
        rows.append({
            "cohort": c,
            "series": names[c],
            "arm": str(a["ARM"].iloc[0]),
            "n": len(a),
            "n_analysed": len(o),
            "centres": int(a["SITEID"].nunique()),
            "era": f"{orig.min().year}-{orig.max().year}" if orig.notna().any() else "not recorded",
            "indication": d["indication"] if d is not None else "not recorded",
            "nephritis_pct": 100.0 * (a["LNFL"] == "Y").mean(),
            "time_origin": "; ".join(_ORIGIN_LABELS.get(x, x) for x in sorted(o["origin"].unique())),
            "conditioning": _counts_text(a["CONDIT"]),
            "cell_source": _counts_text(a["CELLSRC"]),
            "immunosuppressant_baseline_pct": 100.0 * v0["other_is"].mean() if len(v0) else np.nan,
            "immunosuppressant_month12_pct": 100.0 * v12["other_is"].mean() if len(v12) else np.nan,
            "concomitant_immunosuppression_published": (d["concomitant_immunosuppression_published"]
                                                        if d is not None else "not recorded"),
            "relapses_site_recorded": int(rel.loc[c, "site_recorded"]) if c in rel.index else 0,
            "relapses_visit_derived": int(rel.loc[c, "visit_derived"]) if c in rel.index else 0,
            "relapses_both": int(rel.loc[c, "both"]) if c in rel.index else 0,
            "relapse_definition_published": d["relapse_definition_published"] if d is not None else "not recorded",
            "followup_median_months": float(fu["median"]) if fu is not None else np.nan,
            "followup_max_months": float(o["time_months"].max()) if len(o) else np.nan,
            "source_note": d["source_note"] if d is not None else "",
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# Table 1
# --------------------------------------------------------------------------------------------
def baseline_frame(adsl: pd.DataFrame) -> pd.DataFrame:
    """One row per patient: ``cohort``, ``series`` (display name), ``arm`` and the Table 1
    variables under their display labels (binary ones as ``"yes"``/``"no"``)."""
    names = display_names(_cohorts(adsl))
    out = pd.DataFrame({"cohort": adsl["STUDYID"].astype(str), "arm": adsl["ARM"].astype(str)})
    out["series"] = out["cohort"].map(names)
    for col, (_, label, kind) in BASELINE_VARIABLES.items():
        s = adsl[col]
        if col == "SEX":
            out[label] = np.where(s.isna(), None, np.where(s.astype(str) == "F", "yes", "no"))
        elif col == "LNFL":
            out[label] = np.where(s.isna(), None, np.where(s.astype(str) == "Y", "yes", "no"))
        else:
            out[label] = pd.to_numeric(s, errors="coerce").astype(float)
    return out


_MARK = {"published": "P", "related series": "R", "generator-assumed": "A"}


def table1_provenance(adsl: pd.DataFrame | None = None) -> pd.DataFrame:
    """Where each baseline variable of the bundled cohorts comes from.

    ``data/published/table1_provenance.csv`` lists the (cohort, variable) pairs calibrated to a
    published figure of that series (``published``) or of a related series of the same group
    (``related series``); every other (cohort, variable) of the bundled data is
    ``generator-assumed`` (see ``data/README.md``, Assumptions).  Returns ``cohort``,
    ``variable`` (display label), ``status``, ``mark`` (``P``/``R``/``A``), ``source_id``, ``note``;
    one row per cohort of ``adsl`` (default: the cohorts listed in the file) and variable.
    """
    p = pd.read_csv(PUBLISHED_DIR / "table1_provenance.csv", dtype=str, keep_default_na=False)
    key_to_label = {k: label for k, label, _ in BASELINE_VARIABLES.values()}
    cohorts = _cohorts(adsl) if adsl is not None else sorted(series_design()["cohort"])
    rows = []
    for c in cohorts:
        for key, label in key_to_label.items():
            m = p.loc[(p["cohort"] == c) & (p["variable"] == key)]
            if len(m):
                r = m.iloc[0]
                rows.append({"cohort": c, "variable": label, "status": r["status"], "source_id": r["source_id"],
                             "note": r["note"]})
            else:
                rows.append({"cohort": c, "variable": label, "status": "generator-assumed", "source_id": "",
                             "note": ""})
    out = pd.DataFrame(rows)
    out.insert(3, "mark", out["status"].map(_MARK))
    return out


def table1(adsl: pd.DataFrame, by: str = "arm", provenance: pd.DataFrame | None = None,
           decimals: int = 1) -> pd.DataFrame:
    """Table 1 by arm or by series with tableone: mean (SD) or median [Q1,Q3], n (%), missing
    counts and standardised mean differences (pairwise between the groups).

    Parameters
    ----------
    adsl : pandas.DataFrame
    by : {"arm", "series"}
    provenance : pandas.DataFrame, optional
        :func:`table1_provenance` (bundled data only).  Each group cell of a variable then ends in
        ``[P]`` (published for that series), ``[R]`` (published for a related series), ``[A]``
        (generator-assumed) or, for an arm that pools series of different status, e.g. ``[A/P]``.
    decimals : int

    Returns
    -------
    pandas.DataFrame
        tableone's table with flat column names: ``Missing``, ``Overall``, one column per group and
        ``SMD (a,b)`` per pair of groups; the index is (variable, level).

    Notes
    -----
    tableone 0.9.6 (Pollard et al., JAMIA Open 2018;1:26-31): continuous SMD
    ``(mean_b - mean_a) / sqrt((sd_a^2 + sd_b^2) / 2)``; categorical SMD after Yang & Dalton
    (2012), always >= 0.  One value is checked by hand in ``tests/test_comparison.py``.
    """
    import warnings

    from tableone import TableOne

    if by not in ("arm", "series"):
        raise BadInputError(f"by must be 'arm' or 'series', not {by!r}")
    f = baseline_frame(adsl)
    labels = [label for _, label, _ in BASELINE_VARIABLES.values()]
    cat = [label for _, label, kind in BASELINE_VARIABLES.values() if kind == "binary"]
    skew = [label for _, label, kind in BASELINE_VARIABLES.values() if kind == "skewed"]
    group_col = "arm" if by == "arm" else "series"
    order = arms(adsl) if by == "arm" else [display_names([c])[c] for c in _cohorts(adsl)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tableone's advisory notes (normality hints) are not results
        t = TableOne(f, columns=labels, categorical=cat, nonnormal=skew, groupby=group_col, order={group_col: order},
                     smd=True, missing=True, pval=False, decimals=decimals, overall=True)
    tab = t.tableone.copy()
    tab.columns = [c[1] for c in tab.columns]
    tab = tab[["Missing", "Overall", *order, *[c for c in tab.columns if c.startswith("SMD")]]]
    tab.index.names = ["variable", "level"]
    if provenance is not None:
        status = provenance.assign(series=provenance["cohort"].map(display_names(provenance["cohort"].unique())))
        coh_arm = adsl[["STUDYID", "ARM"]].astype(str).drop_duplicates().set_index("STUDYID")["ARM"]
        status["arm"] = status["cohort"].map(coh_arm)
        for (var, _lvl), row in tab.iterrows():
            label = next((lab for lab in labels if str(var).startswith(lab + ",")), None)
            if label is None:
                continue
            for g in order:
                s = status.loc[(status["variable"] == label) & (status[group_col] == g), "mark"]
                if s.empty or row[g] in ("", None):
                    continue
                tab.loc[(var, _lvl), g] = f"{row[g]} [{'/'.join(sorted(s.unique()))}]"
    return tab


# --------------------------------------------------------------------------------------------
# outcomes at a common horizon
# --------------------------------------------------------------------------------------------
def common_horizon(data: pd.DataFrame, step: float = 12.0, min_at_risk: int = 10, by: str = "cohort") -> float:
    """The common horizon (months) for the side-by-side outcomes.

    The largest multiple of ``step`` that is within every series' follow-up and at which every
    series still has at least ``min_at_risk`` patients at risk for OS (beyond it, one series'
    estimate rests on a handful of patients).  Never beyond the shortest series' longest follow-up.

    Raises
    ------
    BadInputError
        When no positive multiple of ``step`` qualifies.
    """
    o = data.loc[data["endpoint"] == "OS"]
    if o.empty:
        raise BadInputError("no OS rows: cannot choose a horizon")
    shortest = o.groupby(by)["time_months"].max().min()
    h = np.floor(shortest / step) * step
    while h > 0:
        n_risk = o.loc[o["time_months"] >= h].groupby(by).size().reindex(o[by].unique(), fill_value=0)
        if n_risk.min() >= min_at_risk:
            return float(h)
        h -= step
    raise BadInputError(f"no multiple of {step:g} months has >= {min_at_risk} patients at risk in every series")


def outcomes_at_horizon(data: pd.DataFrame, horizon: float, by: str = "cohort",
                        endpoints: Sequence[str] = tuple(OUTCOME_ENDPOINTS), conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier (OS, DFS) and Aalen-Johansen (REL, NRM, TRM, CR) estimates at ``horizon``, in
    percent, by ``by`` (``"cohort"`` or ``"arm"``): ``endpoint``, ``outcome`` (readable),
    ``estimator``, ``group``, ``months``, ``n_risk``, ``estimate_pct``, ``se_pct``, ``lower_pct``,
    ``upper_pct``.  Descriptive: no test between groups."""
    from .outcomes import milestone_table

    frames = []
    for ep in endpoints:
        m = milestone_table(data, ep, by=by, at=[horizon], conf_level=conf_level)
        m.insert(1, "outcome", OUTCOME_ENDPOINTS.get(ep, ep))
        m["note"] = ""
        d = data.loc[data["endpoint"] == ep]
        for i in np.flatnonzero(m["estimate_pct"].isna().to_numpy()):
            g = d.loc[d[by] == m.at[i, "group"]]
            # every patient had the event or the competing event before the horizon: the curve is
            # complete (flat from the last event on), so its last value is the value at the horizon
            if len(g) and (g["status"] > 0).all() and g["time_months"].max() <= horizon:
                last = milestone_table(g, ep, by=None, at=[float(g["time_months"].max())],
                                       conf_level=conf_level).iloc[0]
                for c in ("estimate_pct", "se_pct", "lower_pct", "upper_pct"):
                    m.at[i, c] = last[c]
                m.at[i, "note"] = (f"all patients had the event or a competing event by month "
                                   f"{g['time_months'].max():.1f}: final value")
        frames.append(m.drop(columns=["estimate_pm"]))
    return pd.concat(frames, ignore_index=True)


def wilson(k, n, conf_level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of k/n (statsmodels ``proportion_confint(method="wilson")``)."""
    from statsmodels.stats.proportion import proportion_confint

    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise BadInputError("proportions need 0 <= k <= n and n > 0")
    lo, hi = proportion_confint(k, n, alpha=1 - conf_level, method="wilson")
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)


def crude_proportions(data: pd.DataFrame, horizon: float, by: str = "cohort",
                      endpoints: Sequence[str] = tuple(OUTCOME_ENDPOINTS), conf_level: float = 0.95) -> pd.DataFrame:
    """Crude proportions as the papers report them: patients with the event observed by
    ``horizon`` over all patients of the group, with the Wilson interval.

    A crude proportion ignores censoring (patients followed for less than the horizon count as
    event-free), so it is below the Kaplan-Meier / Aalen-Johansen estimate whenever follow-up is
    short; ``n_followed`` is the number with the event or follow-up to the horizon.  Returns
    ``endpoint``, ``outcome``, ``group``, ``events``, ``n``, ``n_followed``, ``pct``,
    ``lower_pct``, ``upper_pct``.
    """
    rows = []
    for ep in endpoints:
        d = data.loc[data["endpoint"] == ep]
        for g, x in d.groupby(by, sort=True):
            ev = int(((x["status"] == 1) & (x["time_months"] <= horizon)).sum())
            n = len(x)
            followed = int(((x["status"] > 0) & (x["time_months"] <= horizon) | (x["time_months"] >= horizon)).sum())
            lo, hi = wilson(ev, n, conf_level)
            rows.append({"endpoint": ep, "outcome": OUTCOME_ENDPOINTS.get(ep, ep), "group": g, "events": ev,
                         "n": n, "n_followed": followed, "pct": 100.0 * ev / n, "lower_pct": 100 * float(lo),
                         "upper_pct": 100 * float(hi)})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# adjustment: propensity score and IPTW
# --------------------------------------------------------------------------------------------
def adjustment_frame(tables: dict, data: pd.DataFrame, treated: str) -> pd.DataFrame:
    """One row per patient with the propensity covariates and the OS / DFS times.

    Columns: ``patient_id``, ``cohort``, ``arm``, ``treated`` (1 = ``treated`` arm), the
    :data:`PS_COVARIATES` (age per 10 years, female 0/1, disease duration in years, nephritis
    0/1, baseline SLEDAI-2K), ``os_time``, ``os_event``, ``dfs_time``, ``dfs_event`` (months; 0/1).
    Patients missing a covariate, or outside the time-to-event analysis set (no OS row, e.g. never
    transplanted under a transplant origin), are dropped (``attrs["dropped"]`` counts them).
    """
    a = tables["adsl"]
    f = pd.DataFrame({
        "patient_id": a["USUBJID"].astype(str), "cohort": a["STUDYID"].astype(str), "arm": a["ARM"].astype(str),
        "age_per_10_years": pd.to_numeric(a["AGE"], errors="coerce") / 10.0,
        "female": np.where(a["SEX"].isna(), np.nan, (a["SEX"].astype(str) == "F").astype(float)),
        "disease_duration_years": pd.to_numeric(a["DISDURM"], errors="coerce") / 12.0,
        "nephritis": np.where(a["LNFL"].isna(), np.nan, (a["LNFL"].astype(str) == "Y").astype(float)),
        "baseline_sledai": pd.to_numeric(a["BSLEDAI"], errors="coerce"),
    })
    if treated not in set(f["arm"]):
        raise BadInputError(f"arm {treated!r} not in the data (arms: {sorted(f['arm'].unique())})", column="arm")
    f.insert(3, "treated", (f["arm"] == treated).astype(int))
    for ep in ("OS", "DFS"):
        e = data.loc[data["endpoint"] == ep].set_index("patient_id")
        f[f"{ep.lower()}_time"] = f["patient_id"].map(e["time_months"]).astype(float)
        f[f"{ep.lower()}_event"] = f["patient_id"].map((e["status"] == 1).astype(float))
    keep = f[list(PS_COVARIATES) + ["os_time", "dfs_time"]].notna().all(axis=1)
    out = f.loc[keep].sort_values(["arm", "cohort", "patient_id"]).reset_index(drop=True)
    out.attrs["dropped"] = int((~keep).sum())
    return out


class Adjustment:
    """An IPTW analysis: the propensity model, weights and every table the notebook shows.

    Attributes
    ----------
    frame : pandas.DataFrame
        :func:`adjustment_frame` plus ``ps`` and ``weight`` (stabilised ATE weights, after any
        trimming rule).
    model : ModelResult
        The logistic propensity model (odds ratios in ``model.summary``).
    treated, control : str
        Arm labels.
    """

    def __init__(self, frame, model, treated, control, label):
        self.frame = frame
        self.model = model
        self.treated = treated
        self.control = control
        self.label = label

    def __repr__(self) -> str:
        return f"Adjustment({self.label!r}, n={len(self.frame)})"

    def ess(self) -> pd.DataFrame:
        """Per arm: ``n``, ``sum_weights``, ``ess`` (Kish), ``max_weight``."""
        rows = []
        for arm_, g in self.frame.groupby("arm", sort=True):
            rows.append({"arm": arm_, "n": len(g), "sum_weights": g["weight"].sum(), "ess": wt.kish_ess(g["weight"]),
                         "max_weight": g["weight"].max()})
        return pd.DataFrame(rows)

    def balance(self) -> pd.DataFrame:
        """Standardised mean differences (treated minus control) before and after weighting, with
        readable covariate names (the love plot's numbers)."""
        b = wt.weighted_smd(self.frame, "treated", list(PS_COVARIATES), self.frame["weight"])
        b.insert(1, "label", b["covariate"].map(PS_COVARIATES))
        return b

    def overlap(self, bins: int = 10) -> pd.DataFrame:
        """Counts of patients per propensity-score bin and arm (the overlap histogram's numbers)."""
        edges = np.linspace(0, 1, bins + 1)
        cut = pd.cut(self.frame["ps"], edges, include_lowest=True)
        t = pd.crosstab(cut, self.frame["arm"]).reindex(cut.cat.categories, fill_value=0)
        t.index = [f"{a:.1f}-{b:.1f}" for a, b in zip(edges[:-1], edges[1:])]
        t.index.name = "propensity score"
        t.columns.name = None
        return t.reset_index()

    def weighted_survival_at(self, horizon: float, conf_level: float = 0.95) -> pd.DataFrame:
        """Unweighted and IPTW-weighted Kaplan-Meier OS and DFS at ``horizon`` by arm, in percent.

        The interval is log-log with the robust (infinitesimal-jackknife) SE, R ``survfit(weights=,
        robust=TRUE)``, which does not treat the weights as frequencies."""
        rows = []
        for ep in ("os", "dfs"):
            for weighted in (False, True):
                w = self.frame["weight"] if weighted else np.ones(len(self.frame))
                km = wt.weighted_kaplan_meier(self.frame[f"{ep}_time"], self.frame[f"{ep}_event"], w,
                                              group=self.frame["arm"], conf_level=conf_level)
                for g, k in km.groupby("group", sort=True):
                    k = k.loc[k["time"] <= horizon]
                    last = k.iloc[-1] if len(k) else None
                    n_risk = int((self.frame.loc[self.frame["arm"] == g, f"{ep}_time"] >= horizon).sum())
                    rows.append({"endpoint": ep.upper(), "weighting": "IPTW" if weighted else "none", "arm": g,
                                 "months": horizon, "n_risk": n_risk,
                                 "estimate_pct": 100 * (last["surv"] if last is not None else 1.0),
                                 "lower_pct": 100 * (last["lower"] if last is not None else 1.0),
                                 "upper_pct": 100 * (last["upper"] if last is not None else 1.0)})
        return pd.DataFrame(rows)

    def weighted_km(self, endpoint: str = "OS", conf_level: float = 0.95) -> pd.DataFrame:
        """The whole IPTW-weighted Kaplan-Meier curve of one endpoint by arm."""
        ep = endpoint.lower()
        return wt.weighted_kaplan_meier(self.frame[f"{ep}_time"], self.frame[f"{ep}_event"], self.frame["weight"],
                                        group=self.frame["arm"], conf_level=conf_level)

    def cox(self, horizon: float | None = None, conf_level: float = 0.95) -> pd.DataFrame:
        """Hazard ratio of the treated arm for OS and DFS, unweighted and IPTW-weighted, Cox (Efron)
        with the robust (sandwich) SE (R ``coxph(weights=, robust=TRUE)``).  With ``horizon``,
        follow-up is censored at the horizon (the same window in every series)."""
        rows = []
        for ep in ("os", "dfs"):
            f = self.frame[[f"{ep}_time", f"{ep}_event", "treated", "weight"]].copy()
            f.columns = ["time", "event", "treated", "weight"]
            if horizon is not None:
                f["event"] = np.where(f["time"] > horizon, 0.0, f["event"])
                f["time"] = np.minimum(f["time"], horizon)
            for weighted in (False, True):
                fit = cox_fit(f, ["treated"], weights="weight" if weighted else None, robust=True,
                              conf_level=conf_level)
                s = fit.summary.iloc[0]
                rows.append({"endpoint": ep.upper(), "weighting": self.label if weighted else "none",
                             "term": f"{self.treated} vs {self.control}",
                             "hr": s["hr"], "lower": s["lower"], "upper": s["upper"], "robust_se": s["se"],
                             "p": s["p"], "n": int(s["n"]), "events": int(s["n_events"]),
                             "window_months": horizon if horizon is not None else np.nan})
        return pd.DataFrame(rows)


def iptw_analysis(tables: dict, data: pd.DataFrame, treated: str, *, trim: str = "none",
                  alpha: float = 0.1, quantiles: tuple[float, float] = (0.01, 0.99)) -> Adjustment:
    """Propensity score (logistic, :data:`PS_COVARIATES`) and stabilised ATE weights.

    Parameters
    ----------
    treated : str
        The arm coded 1 (e.g. the first of :func:`arms`).
    trim : {"none", "ps", "truncate"}
        ``"ps"``: drop patients with a score outside ``[alpha, 1 - alpha]`` (Crump 2009) and refit
        the score on those kept; ``"truncate"``: cap the weights at the ``quantiles``.
    """
    f = adjustment_frame(tables, data, treated)
    control = [a for a in sorted(f["arm"].unique()) if a != treated]
    if len(control) != 1:
        raise BadInputError(f"IPTW needs exactly two arms; found {sorted(f['arm'].unique())}", column="arm")
    control = control[0]
    covs = list(PS_COVARIATES)
    m = wt.propensity_model(f, "treated", covs)
    f["ps"] = m.extra["ps"]
    label = "IPTW"
    if trim == "ps":
        keep = wt.ps_trim(f["ps"], alpha)
        f = f.loc[keep].reset_index(drop=True)
        m = wt.propensity_model(f, "treated", covs)
        f["ps"] = m.extra["ps"]
        label = f"IPTW, PS in [{alpha:g}, {1 - alpha:g}]"
    f["weight"] = wt.iptw_weights(f["treated"], f["ps"])
    if trim == "truncate":
        f["weight"] = wt.truncate_weights(f["weight"], *quantiles)
        label = f"IPTW, weights capped at the {quantiles[0]:.0%}-{quantiles[1]:.0%} quantiles"
    elif trim not in ("none", "ps"):
        raise BadInputError(f"trim must be 'none', 'ps' or 'truncate', not {trim!r}")
    return Adjustment(f, m, treated, control, label)


def trimming_sensitivity(tables: dict, data: pd.DataFrame, treated: str, horizon: float | None = None,
                         alphas: Sequence[float] = (0.05, 0.1), quantiles: tuple[float, float] = (0.01, 0.99)) -> pd.DataFrame:
    """The weighted Cox hazard ratios and ESS under each trimming rule (none, PS trimming at each
    alpha, weight truncation): one row per rule and endpoint with ``n``, ``ess_treated``,
    ``ess_control``, ``max_abs_smd_weighted``, ``hr``, ``lower``, ``upper``."""
    analyses = [iptw_analysis(tables, data, treated)]
    analyses += [iptw_analysis(tables, data, treated, trim="ps", alpha=a) for a in alphas]
    analyses += [iptw_analysis(tables, data, treated, trim="truncate", quantiles=quantiles)]
    rows = []
    for an in analyses:
        ess = an.ess().set_index("arm")["ess"]
        smd = an.balance()["smd_weighted"].abs().max()
        c = an.cox(horizon).query("weighting != 'none'")
        for r in c.itertuples():
            rows.append({"rule": an.label, "endpoint": r.endpoint, "n": r.n,
                         "ess_treated": ess.get(an.treated, np.nan), "ess_control": ess.get(an.control, np.nan),
                         "max_abs_smd_weighted": smd, "hr": r.hr, "lower": r.lower, "upper": r.upper})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# published series, MAIC, forest
# --------------------------------------------------------------------------------------------
def published_series() -> pd.DataFrame:
    """Every published series figure we could source (``data/published/published_series.csv``).

    One row per series and measure: ``series_id``, ``arm``, ``citation``, ``locator``,
    ``n_patients``, ``centres``, ``era``, ``intervention``, ``overlap_group`` (series of one group
    or registry that may share patients), ``measure``, ``statistic`` (``percent``, ``median``,
    ``mean``), ``timepoint_months`` (empty = crude, to the end of follow-up), ``estimator``
    (``crude``, ``KM``, ``AJ``), ``numerator``, ``denominator``, ``value``, ``se``, ``spread``,
    ``confirmed`` (False: the paper could not be read and no figure is taken), ``quote`` (the
    wording in ``data/published/README.md`` the figure comes from), ``note``.
    """
    d = pd.read_csv(PUBLISHED_DIR / "published_series.csv", keep_default_na=False,
                    dtype={"series_id": str, "quote": str, "note": str, "spread": str})
    for c in ("n_patients", "timepoint_months", "numerator", "denominator", "value", "se"):
        d[c] = pd.to_numeric(d[c].replace("", np.nan), errors="coerce")
    d["confirmed"] = d["confirmed"].astype(str).str.lower() == "true"
    return d


def maic_targets(series_id: str, published: pd.DataFrame | None = None) -> pd.DataFrame:
    """The published baseline of one series as MAIC targets.

    Uses the rows ``female`` and ``lupus_nephritis`` (percent -> proportion), ``age_years`` and
    ``disease_duration_months`` (a median m is matched as the share of patients at or below m =
    0.5; a mean as a mean).  Returns ``variable``, ``column`` (of :func:`adjustment_frame`-like
    IPD built by :func:`maic_analysis`), ``statistic``, ``published``, ``target``.
    """
    p = published_series() if published is None else published
    s = p.loc[(p["series_id"] == series_id) & p["confirmed"]]
    spec = {"female": ("female", 1 / 100), "lupus_nephritis": ("nephritis", 1 / 100),
            "age_years": ("age_years", 1.0), "disease_duration_months": ("disease_duration_months", 1.0)}
    rows = []
    for measure, (col, scale) in spec.items():
        r = s.loc[s["measure"] == measure]
        if r.empty:
            continue
        r = r.iloc[0]
        if r["statistic"] == "percent":
            rows.append({"variable": measure, "column": col, "statistic": "proportion",
                         "published": r["value"], "target": r["value"] * scale})
        elif r["statistic"] == "median":
            rows.append({"variable": measure, "column": f"{col}_le_{r['value']:g}", "statistic": "median",
                         "published": r["value"], "target": 0.5})
        else:
            rows.append({"variable": measure, "column": col, "statistic": "mean", "published": r["value"],
                         "target": r["value"]})
    if not rows:
        raise BadInputError(f"series {series_id!r} has no confirmed baseline figures to match", column="series_id")
    return pd.DataFrame(rows)


def maic_analysis(tables: dict, data: pd.DataFrame, arm: str, series_id: str, horizon: float,
                  conf_level: float = 0.95) -> dict:
    """Weight one arm's patients to a published series' baseline (MAIC, method of moments).

    Returns a dict: ``targets`` (:func:`maic_targets`), ``result`` (the
    :class:`~sle_nb_utils.stats.weighting.MaicResult`), ``balance`` (target vs unweighted vs
    weighted, with readable names), ``ess`` (one row: ``n``, ``ess``, ``ess_pct``, ``max_weight``
    rescaled), ``outcomes`` (unweighted and MAIC-weighted Kaplan-Meier OS and DFS of the arm at
    ``horizon`` and at each time point the series publishes, ``NaN`` beyond the arm's follow-up),
    ``published`` (the series' published OS / DFS figures).
    """
    a = tables["adsl"]
    a = a.loc[a["ARM"].astype(str) == arm]
    if a.empty:
        raise BadInputError(f"arm {arm!r} not in the data", column="arm")
    targets = maic_targets(series_id)
    ipd = pd.DataFrame({"patient_id": a["USUBJID"].astype(str).to_numpy(),
                        "female": (a["SEX"].astype(str) == "F").astype(float).to_numpy(),
                        "nephritis": (a["LNFL"].astype(str) == "Y").astype(float).to_numpy(),
                        "age_years": pd.to_numeric(a["AGE"], errors="coerce").to_numpy(float),
                        "disease_duration_months": pd.to_numeric(a["DISDURM"], errors="coerce").to_numpy(float)})
    for r in targets.itertuples():
        if r.statistic == "median":
            base = r.column.split("_le_")[0]
            ipd[r.column] = (ipd[base] <= r.published).astype(float)
    cols = targets["column"].tolist()
    ipd = ipd.dropna(subset=cols).reset_index(drop=True)
    res = wt.maic_weights(ipd, dict(zip(cols, targets["target"])))
    bal = res.balance.rename(columns={"variable": "column"}).merge(targets[["column", "variable", "statistic", "published"]], on="column")
    bal = bal[["variable", "statistic", "published", "column", "target", "unweighted", "weighted"]]
    ess = pd.DataFrame([{"arm": arm, "series_id": series_id, "n": res.n, "ess": res.ess, "ess_pct": 100 * res.ess / res.n,
                         "max_rescaled_weight": float(res.rescaled.max()), "converged": res.converged}])
    pub = published_series()
    pub = pub.loc[(pub["series_id"] == series_id) & pub["measure"].isin(["overall_survival", "disease_free_survival"])]
    times = sorted({float(horizon), *pub["timepoint_months"].dropna().astype(float)})
    w = pd.Series(res.weights, index=ipd["patient_id"])
    rows = []
    for ep in ("OS", "DFS"):
        e = data.loc[(data["endpoint"] == ep) & data["patient_id"].isin(ipd["patient_id"])]
        ww = e["patient_id"].map(w).to_numpy(float)
        for weighted in (False, True):
            km = wt.weighted_kaplan_meier(e["time_months"], e["status"] == 1, ww if weighted else np.ones(len(e)),
                                          conf_level=conf_level)
            tmax = e["time_months"].max()
            for t in times:
                k = km.loc[km["time"] <= t]
                val = np.nan if t > tmax else 100 * (k["surv"].iloc[-1] if len(k) else 1.0)
                rows.append({"endpoint": ep, "weighting": "MAIC" if weighted else "none", "months": t,
                             "n_risk": int((e["time_months"] >= t).sum()), "estimate_pct": val})
    return {"targets": targets, "result": res, "balance": bal, "ess": ess, "outcomes": pd.DataFrame(rows),
            "published": pub[["series_id", "measure", "timepoint_months", "estimator", "value", "se", "quote"]]}


def _logit_ci(p, se, z):
    """Interval of a proportion p with standard error se via the logit (delta method)."""
    lg = np.log(p / (1 - p))
    s = se / (p * (1 - p))
    return 1 / (1 + np.exp(-(lg - z * s))), 1 / (1 + np.exp(-(lg + z * s)))


def forest_table(measure: str = "overall_survival", data: pd.DataFrame | None = None, horizon: float | None = None,
                 endpoint: str = "OS", conf_level: float = 0.95) -> pd.DataFrame:
    """The published series of one measure, plus (optionally) each cohort of ``data``, for a forest.

    Published rows: the estimate in percent with a Wilson interval where a count is published, a
    logit interval where a standard error is published, and no interval otherwise
    (``interval``: ``Wilson``, ``logit (published SE)``, ``none published``); unconfirmed series
    are listed with no estimate.  Cohort rows (``source`` = ``this data``): the Kaplan-Meier /
    Aalen-Johansen estimate of ``endpoint`` at ``horizon`` with its interval.

    Returns ``source`` (``published`` / ``this data``), ``series_id``, ``arm``, ``label``,
    ``when`` (time point or "crude, end of follow-up"), ``estimator``, ``numerator``,
    ``denominator``, ``estimate_pct``, ``lower_pct``, ``upper_pct``, ``interval``,
    ``overlap_group``, ``confirmed``; sorted by arm then source then label.
    """
    from .outcomes import milestone_table
    from .stats._validate import as_conf_level

    z = as_conf_level(conf_level)
    p = published_series()
    p = p.loc[p["measure"] == measure]
    rows = []
    for r in p.itertuples():
        est = lo = hi = np.nan
        interval = "none published"
        if r.confirmed and np.isfinite(r.value):
            est = r.value
            if np.isfinite(r.numerator) and np.isfinite(r.denominator):
                a, b = wilson(r.numerator, r.denominator, conf_level)
                lo, hi, interval = 100 * float(a), 100 * float(b), "Wilson"
            elif np.isfinite(r.se):
                a, b = _logit_ci(r.value / 100, r.se / 100, z)
                lo, hi, interval = 100 * float(a), 100 * float(b), "logit (published SE)"
        elif not r.confirmed:
            interval = "not found in the readable sources: no figure taken"
        when = (f"{r.timepoint_months:g} months" if np.isfinite(r.timepoint_months)
                else "crude, end of follow-up" if np.isfinite(r.value) else "")
        rows.append({"source": "published", "series_id": r.series_id, "arm": r.arm,
                     "label": f"{r.citation.split('.')[0].split(',')[0]} {r.series_id[-4:]}",
                     "when": when, "estimator": r.estimator or "", "numerator": r.numerator,
                     "denominator": r.denominator, "estimate_pct": est, "lower_pct": lo, "upper_pct": hi,
                     "interval": interval, "overlap_group": r.overlap_group, "confirmed": bool(r.confirmed)})
    if data is not None and horizon is not None:
        names = display_names(sorted(data["cohort"].unique()))
        m = milestone_table(data, endpoint, by="cohort", at=[horizon], conf_level=conf_level)
        arm_of = data.drop_duplicates("cohort").set_index("cohort")["arm"]
        for r in m.itertuples():
            rows.append({"source": "this data", "series_id": r.group, "arm": str(arm_of[r.group]),
                         "label": f"{names[r.group]}, this data", "when": f"{horizon:g} months",
                         "estimator": r.estimator, "numerator": np.nan, "denominator": np.nan,
                         "estimate_pct": r.estimate_pct, "lower_pct": r.lower_pct, "upper_pct": r.upper_pct,
                         "interval": "log-log (Greenwood)" if r.estimator == "KM" else "log-log (AJ)",
                         "overlap_group": "", "confirmed": True})
    out = pd.DataFrame(rows)
    return out.sort_values(["arm", "source", "label"], kind="stable").reset_index(drop=True)


def pooled_estimates(forest: pd.DataFrame, min_series: int = MIN_STUDIES, conf_level: float = 0.95) -> pd.DataFrame:
    """Random-effects pooling per arm of the published rows of :func:`forest_table`, where allowed.

    A series enters when it is confirmed and publishes a count (numerator / denominator); of series
    sharing an ``overlap_group`` (same centre or registry, which may share patients) only the one
    with the largest denominator enters.  An arm is pooled (REML, Hartung-Knapp, logit scale,
    :func:`sle_nb_utils.stats.meta.pool_proportions`) only with at least ``min_series`` such series.

    Returns one row per arm: ``arm``, ``series_eligible`` (ids), ``k``, ``pooled`` (bool),
    ``reason``, and where pooled ``estimate_pct``, ``lower_pct``, ``upper_pct``, ``pi_lower_pct``,
    ``pi_upper_pct``, ``tau2``, ``i2``.
    """
    pub = forest.loc[(forest["source"] == "published") & forest["confirmed"]
                     & forest["numerator"].notna() & forest["denominator"].notna()]
    rows = []
    for arm_ in sorted(forest["arm"].unique()):
        g = pub.loc[pub["arm"] == arm_].sort_values("denominator", ascending=False, kind="stable")
        dropped = g.loc[g.duplicated("overlap_group")]
        g = g.drop_duplicates("overlap_group").sort_values("series_id")
        row = {"arm": arm_, "series_eligible": ", ".join(g["series_id"]), "k": len(g), "pooled": False}
        reasons = []
        if len(dropped):
            reasons.append("left out as possibly overlapping: " + ", ".join(sorted(dropped["series_id"])))
        if len(g) < min_series:
            reasons.append(f"{len(g)} independent series with a published count (pooling needs >= {min_series})")
            row["reason"] = "; ".join(reasons)
        else:
            pr = pool_proportions(g["numerator"], g["denominator"], conf_level=conf_level).iloc[0]
            row.update({"pooled": True, "reason": "; ".join(reasons) or "",
                        "estimate_pct": 100 * pr["estimate"], "lower_pct": 100 * pr["lower"],
                        "upper_pct": 100 * pr["upper"], "pi_lower_pct": 100 * pr["pi_lower"],
                        "pi_upper_pct": 100 * pr["pi_upper"], "tau2": pr["tau2"], "i2": pr["i2"]})
        rows.append(row)
    return pd.DataFrame(rows)


def risk_rows(data: pd.DataFrame, endpoint: str, horizon: float, by: str = "cohort", step: float = 12.0) -> pd.DataFrame:
    """At-risk rows up to the horizon: ``"n at risk (cumulative events)"`` per group and time."""
    d = data.loc[data["endpoint"] == endpoint]
    at = np.arange(0, horizon + 1e-9, step)
    rt = risk_table(d["time_months"], d["status"] == 1, at, group=d[by])
    rt["cell"] = rt["n_risk"].astype(str) + " (" + rt["n_event_cum"].astype(str) + ")"
    wide = rt.pivot(index="group", columns="time", values="cell")
    wide.columns = [f"{c:g} mo" for c in wide.columns]
    wide.index.name = "group"
    return wide.reset_index()
