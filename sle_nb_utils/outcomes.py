"""Study layer for the time-to-event notebooks: tidy outcome tables from the analysis tables.

The functions take the long table of :func:`survival_data` (one row per patient per endpoint: the
``adtte`` rows plus patient covariates) and return tidy, sorted tables of *unrounded* numbers;
notebooks round them for display.  The estimators themselves live in :mod:`sle_nb_utils.stats`
(this module knows the endpoints, the covariates and the published figures; the stats layer does
not).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from . import endpoints
from .published import PUBLISHED_MEASURES, rounds_to
from .stats._validate import as_groups
from .stats.cif_variance import cif_ij_se_at
from .stats.competing import cif_milestones, cif_var_at, fine_gray, gray_test
from .stats.cox import cox_fit, cox_zph
from .stats.survival import (DEFAULT_MILESTONES, km_milestones, logrank_test, median_followup,
                             median_survival, risk_table, rmst)

__all__ = [
    "KM_ENDPOINTS",
    "CIF_ENDPOINTS",
    "TERM_LABELS",
    "survival_data",
    "endpoint_frame",
    "format_pm",
    "milestone_table",
    "at_risk_table",
    "logrank_summary",
    "median_table",
    "rmst_table",
    "competing_risks_table",
    "gray_summary",
    "cox_model",
    "CoxModel",
    "fine_gray_model",
    "published_comparison",
    "trm_counts",
    "sensitivity_table",
    "origin_comparison",
    "cif_variance_table",
    "follow_up_table",
    "censoring_pattern",
    "follow_up_end",
    "FOLLOW_UP_END",
    "causes_of_death",
    "cd34_calibration_check",
    "arm_cohorts",
    "series_cohort",
    "calibration_cohorts",
    "suppress_small",
    "conclusions",
    "named",
    "cohort_overview",
]

#: Endpoints estimated by Kaplan-Meier (event = status 1); the others are competing-risk endpoints
#: estimated by Aalen-Johansen (status 1 = event of interest, 2 = competing event).
KM_ENDPOINTS = ("OS", "DFS")
CIF_ENDPOINTS = ("REL", "NRM", "TRM", "CR")

#: Patient covariates joined onto the time-to-event rows by :func:`survival_data`.
SURVIVAL_COVARIATES = ("sex", "age_at_transplant_years", "lupus_nephritis", "cd34_selected", "transplanted")

#: Readable names of the model terms of :func:`endpoint_frame` (the ``label`` column of model tables).
TERM_LABELS = {
    "hsct": "HSCT (vs MSCT)",
    "age_per_10_years": "age, per 10 years",
    "nephritis": "lupus nephritis",
    "female": "female sex",
    "cd34_selected": "CD34-selected graft",
}

def survival_data(data_dir=None, definition: str = "primary") -> pd.DataFrame:
    """The long time-to-event table with patient covariates, in one call.

    Parameters
    ----------
    data_dir : path-like, optional
        None = the bundled synthetic exports (``data/raw``). Otherwise a folder of raw exports
        (CSV / xlsx), which goes through cleaning and the analysis-table build
        (:func:`sle_nb_utils.adam.load_analysis_tables`, cached on the raw files' hashes).
    definition : str
        ``"primary"`` (the ``adtte`` rows: :data:`sle_nb_utils.endpoints.PRIMARY`) or the name of a
        sensitivity analysis in :data:`sle_nb_utils.endpoints.SENSITIVITY` (recomputed from the
        clean tables). See ``docs/endpoints.md``.

    Returns
    -------
    pandas.DataFrame
        One row per patient per endpoint (OS, DFS, REL, NRM, TRM, CR):
        ``patient_id``, ``cohort``, ``arm``, ``endpoint``, ``origin``, ``time_months`` (AVAL),
        ``status`` (0 censored, 1 event, 2 competing), ``event`` (1 - CNSR), ``event_desc``, and the
        covariates ``sex``, ``age_at_transplant_years``, ``lupus_nephritis`` (bool),
        ``cd34_selected`` (nullable bool; missing for MSCT), ``transplanted`` (bool).
        Sorted by endpoint, cohort, patient.
    """
    from . import adam, endpoints

    tables = adam.load_analysis_tables(data_dir)
    if definition == "primary":
        a = tables["adtte"]
        tte = pd.DataFrame({
            "patient_id": a["USUBJID"].astype(str), "cohort": a["STUDYID"].astype(str),
            "arm": a["ARM"].astype(str), "endpoint": a["PARAMCD"].astype(str),
            "origin": a["ORIGIN"].astype(str), "time_months": a["AVAL"].astype(float),
            "status": a["STATUS"].astype(int), "event": 1 - a["CNSR"].astype(int),
            "event_desc": a["EVNTDESC"].astype(str)})
    else:
        t = endpoints.time_to_event_table(tables["patients"], tables["visits"], tables["events"],
                                          endpoint_definition=endpoints.definition_named(definition))
        tte = t[["patient_id", "cohort", "arm", "endpoint", "origin", "time_months", "status", "event",
                 "event_desc"]].copy()
    p = tables["patients"].assign(transplanted=lambda x: x["transplant_date"].notna())
    cov = p[["patient_id", *SURVIVAL_COVARIATES]]
    out = tte.merge(cov, on="patient_id", how="left", validate="m:1")
    out["lupus_nephritis"] = out["lupus_nephritis"].astype(bool)
    out["cd34_selected"] = out["cd34_selected"].astype("boolean")
    order = {e: i for i, e in enumerate(endpoints.ENDPOINTS)}
    out = out.sort_values(["endpoint", "cohort", "patient_id"],
                          key=lambda c: c.map(order) if c.name == "endpoint" else c)
    return out.reset_index(drop=True)


def _select(data: pd.DataFrame, endpoint: str, cohorts=None) -> pd.DataFrame:
    if endpoint not in KM_ENDPOINTS + CIF_ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {KM_ENDPOINTS + CIF_ENDPOINTS}")
    d = data.loc[data["endpoint"] == endpoint]
    if cohorts is not None:
        cohorts = [cohorts] if isinstance(cohorts, str) else list(cohorts)
        d = d.loc[d["cohort"].isin(cohorts)]
    if d.empty:
        raise ValueError(f"no rows for endpoint {endpoint!r} and cohorts {cohorts!r}")
    return d.sort_values(["cohort", "patient_id"]).reset_index(drop=True)


def arm_cohorts(data: pd.DataFrame, arm: str) -> list[str]:
    """The cohorts of ``data`` (a :func:`survival_data` table, or ``adsl``) whose arm is ``arm``
    (case-insensitive), sorted: the cohort lists of the notebooks come from the data, not from names."""
    c, a = ("STUDYID", "ARM") if "STUDYID" in data else ("cohort", "arm")
    d = data[[c, a]].astype(str).drop_duplicates()
    return sorted(d.loc[d[a].str.upper() == str(arm).upper(), c])


def series_cohort(data: pd.DataFrame, source_id: str) -> str | None:
    """The cohort of ``data`` that ``data/published/cohort_sources.csv`` maps to the published series
    ``source_id`` (e.g. ``"burt2006"``), or None when no cohort of the data does (a user's own
    series): the calibration checks against that series are then not computed."""
    from . import published

    col = "STUDYID" if "STUDYID" in data else "cohort"
    found = published.cohorts_of_series(data[col].astype(str).unique(), source_id)
    return found[0] if found else None


def calibration_cohorts(data: pd.DataFrame, arm: str | None = None) -> list[str]:
    """The cohorts of ``data`` that map to any published series (``cohort_sources.csv``), optionally
    of one ``arm``; sorted, empty on data with no bundled series."""
    from . import published

    src = published.cohort_sources()
    if arm is not None:
        src = src.loc[src["arm"].astype(str).str.upper() == str(arm).upper()]
    col = "STUDYID" if "STUDYID" in data else "cohort"
    return sorted(set(src["cohort"].astype(str)) & set(data[col].astype(str).unique()))


def _require(cohort, source_id: str, what: str) -> str:
    if cohort is None:
        from . import published

        raise ValueError(f"{what}: no cohort of the data maps to {published.series_name(source_id)} "
                         "(data/published/cohort_sources.csv); pass cohort=")
    return cohort


def endpoint_frame(data: pd.DataFrame, endpoint: str, cohorts=None) -> pd.DataFrame:
    """One row per patient for one endpoint, with numeric (0/1) model covariates.

    Returns ``patient_id``, ``cohort``, ``arm``, ``time`` (months), ``event`` (status == 1),
    ``status``, and ``hsct`` (arm is HSCT), ``age_per_10_years``, ``nephritis``, ``female``,
    ``cd34_selected`` (NaN where not recorded, i.e. MSCT).  Sorted by cohort and patient.
    """
    d = _select(data, endpoint, cohorts)
    return pd.DataFrame(
        {
            "patient_id": d["patient_id"],
            "cohort": d["cohort"],
            "arm": d["arm"],
            "time": d["time_months"].astype(float),
            "event": (d["status"] == 1).astype(int),
            "status": d["status"].astype(int),
            "hsct": (d["arm"] == "HSCT").astype(float),
            "age_per_10_years": d["age_at_transplant_years"].astype(float) / 10.0,
            "nephritis": d["lupus_nephritis"].astype(float),
            "female": (d["sex"] == "F").astype(float),
            "cd34_selected": d["cd34_selected"].astype("Float64").astype(float),
        }
    )


def format_pm(estimate_pct, se_pct, digits: int = 0) -> str:
    """``"81 ± 8%"``: an estimate and its standard error in percent (``"n/a"`` when missing)."""
    if estimate_pct is None or not np.isfinite(estimate_pct):
        return "n/a"
    if se_pct is None or not np.isfinite(se_pct):
        return f"{estimate_pct:.{digits}f}%"
    return f"{estimate_pct:.{digits}f} ± {se_pct:.{digits}f}%"


def milestone_table(
    data: pd.DataFrame,
    endpoint: str,
    by: str | None = "cohort",
    at: Sequence[float] = DEFAULT_MILESTONES,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    cohorts=None,
) -> pd.DataFrame:
    """Milestone estimates of one endpoint by group, in percent, with SE and CI.

    OS and DFS: Kaplan-Meier survival (:func:`km_milestones`, Greenwood SE, ``conf_type`` interval).
    REL, NRM, TRM, CR: Aalen-Johansen cumulative incidence of status 1 with status 2 competing
    (:func:`cif_milestones`, cmprsk variance, log(-log) interval).

    Returns
    -------
    pandas.DataFrame
        ``endpoint``, ``estimator`` (``KM`` / ``AJ``), ``group``, ``months``, ``n_risk``,
        ``estimate_pct``, ``se_pct``, ``lower_pct``, ``upper_pct``, ``estimate_pm`` (``"81 ± 8%"``).
        Sorted by group then months; NaN (and ``"n/a"``) beyond a group's last follow-up.
    """
    d = _select(data, endpoint, cohorts)
    labels, codes = as_groups(None if by is None else d[by], len(d))
    rows = []
    for k, lab in enumerate(labels):
        m = d.loc[codes == k]
        if endpoint in KM_ENDPOINTS:
            est = km_milestones(m["time_months"], m["status"] == 1, at=at, conf_level=conf_level, conf_type=conf_type)
            est = est.rename(columns={"surv": "estimate"})
            estimator = "KM"
        else:
            est = cif_milestones(m["time_months"], m["status"], cause=1, at=at, conf_level=conf_level)
            est = est.rename(columns={"cif": "estimate"})
            estimator = "AJ"
        for r in est.itertuples():
            rows.append(
                {
                    "endpoint": endpoint,
                    "estimator": estimator,
                    "group": lab,
                    "months": r.time,
                    "n_risk": int(r.n_risk),
                    "estimate_pct": 100 * r.estimate,
                    "se_pct": 100 * r.se,
                    "lower_pct": 100 * r.lower,
                    "upper_pct": 100 * r.upper,
                }
            )
    out = pd.DataFrame(rows)
    out["estimate_pm"] = [format_pm(e, s) for e, s in zip(out["estimate_pct"], out["se_pct"])]
    return out


def at_risk_table(data: pd.DataFrame, endpoint: str, by: str | None = "cohort", at: Sequence[float] = (0, 12, 24, 36, 48, 60), cohorts=None) -> pd.DataFrame:
    """The table under a Kaplan-Meier plot, as data: ``"n at risk (cumulative events)"``.

    One row per group, one column per time (months); the same numbers as :func:`risk_table` and
    :func:`sle_nb_utils.survplot.plot_km` with ``risk_table_at=at``.
    """
    d = _select(data, endpoint, cohorts)
    rt = risk_table(d["time_months"], d["status"] == 1, at, group=None if by is None else d[by])
    rt["cell"] = rt["n_risk"].astype(str) + " (" + rt["n_event_cum"].astype(str) + ")"
    wide = rt.pivot(index="group", columns="time", values="cell")
    wide.columns = [f"{c:g} mo" for c in wide.columns]
    wide.index.name = "group"
    return wide.reset_index()


def logrank_summary(data: pd.DataFrame, endpoint: str, by: str, strata: str | None = None, cohorts=None) -> pd.DataFrame:
    """One-row log-rank test of ``endpoint`` between the groups of ``by`` (optionally stratified).

    Returns ``endpoint``, ``comparison`` (``"a vs b"``), ``strata``, ``n``, ``observed``,
    ``expected`` (per group, ``";"``-joined, rounded to 0.1), ``chisq``, ``df``, ``p``.
    """
    d = _select(data, endpoint, cohorts)
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("the log-rank test is for OS / DFS; use gray_summary for competing risks")
    lr = logrank_test(d["time_months"], d["status"] == 1, d[by], strata=None if strata is None else d[strata].astype(str))
    return pd.DataFrame(
        {
            "endpoint": [endpoint],
            "comparison": [" vs ".join(str(g) for g in lr["group"])],
            "strata": [strata or "none"],
            "n": [int(lr["n"].sum())],
            "observed": ["; ".join(f"{o:.0f}" for o in lr["observed"])],
            "expected": ["; ".join(f"{e:.1f}" for e in lr["expected"])],
            "chisq": [float(lr["chisq"].iloc[0])],
            "df": [int(lr["df"].iloc[0])],
            "p": [float(lr["p"].iloc[0])],
        }
    )


def median_table(data: pd.DataFrame, endpoint: str, by: str | None = "cohort", conf_level: float = 0.95, cohorts=None) -> pd.DataFrame:
    """Median time to event (months, log-log Brookmeyer-Crowley CI) and median follow-up by group.

    Follow-up is the reverse Kaplan-Meier of the OS rows (censoring as the event).  Returns
    ``endpoint``, ``group``, ``n``, ``n_event``, ``median``, ``lower``, ``upper`` (NaN = not
    reached), ``followup_median``, ``followup_lower``, ``followup_upper``, ``followup_min``,
    ``followup_max``.
    """
    d = _select(data, endpoint, cohorts)
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("median_table is for OS / DFS")
    grp = None if by is None else d[by]
    med = median_survival(d["time_months"], d["status"] == 1, group=grp, conf_level=conf_level)
    os_ = _select(data, "OS", cohorts)
    labels, codes = as_groups(None if by is None else os_[by], len(os_))
    fu = []
    for k, lab in enumerate(labels):
        m = os_.loc[codes == k]
        f = median_followup(m["time_months"], m["status"] == 1, conf_level=conf_level).iloc[0]
        fu.append({"group": lab, "followup_median": f["median"], "followup_lower": f["lower"],
                   "followup_upper": f["upper"], "followup_min": f["min"], "followup_max": f["max"]})
    out = med.merge(pd.DataFrame(fu), on="group", how="left")
    out.insert(0, "endpoint", endpoint)
    return out


def rmst_table(data: pd.DataFrame, endpoint: str, tau: float = 60.0, by: str | None = "cohort", conf_level: float = 0.95, cohorts=None) -> pd.DataFrame:
    """Restricted mean survival time to ``tau`` months by group (:func:`rmst`).

    Adds ``max_followup`` and ``tau_within_followup``: where ``tau`` is beyond a group's last
    observed time the curve is carried flat to ``tau`` (as R ``rmean``), an extrapolation.
    """
    d = _select(data, endpoint, cohorts)
    grp = None if by is None else d[by]
    out = rmst(d["time_months"], d["status"] == 1, tau=tau, group=grp, conf_level=conf_level)
    mx = d.groupby(by)["time_months"].max() if by is not None else pd.Series({"all": d["time_months"].max()})
    out["max_followup"] = out["group"].map(mx).astype(float)
    out["tau_within_followup"] = out["max_followup"] >= tau
    out.insert(0, "endpoint", endpoint)
    return out


def competing_risks_table(data: pd.DataFrame, by: str | None = "cohort", at: Sequence[float] = DEFAULT_MILESTONES, cohorts=None) -> pd.DataFrame:
    """Relapse, non-relapse mortality and disease-free survival at milestones (percent).

    The three states of the stacked CIF figure: relapse incidence (REL, Aalen-Johansen), NRM
    (Aalen-Johansen) and DFS (Kaplan-Meier); at every time they add up to 100.  Returns
    ``group``, ``months``, ``n_risk``, ``relapse_pct``, ``relapse_se_pct``, ``nrm_pct``,
    ``nrm_se_pct``, ``dfs_pct``, ``dfs_se_pct``, ``total_pct``.
    """
    key = ["group", "months"]
    rel = milestone_table(data, "REL", by=by, at=at, cohorts=cohorts)
    nrm = milestone_table(data, "NRM", by=by, at=at, cohorts=cohorts)
    dfs = milestone_table(data, "DFS", by=by, at=at, cohorts=cohorts)
    out = rel[key + ["n_risk", "estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "relapse_pct", "se_pct": "relapse_se_pct"})
    out = out.merge(nrm[key + ["estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "nrm_pct", "se_pct": "nrm_se_pct"}), on=key)
    out = out.merge(dfs[key + ["estimate_pct", "se_pct"]].rename(columns={"estimate_pct": "dfs_pct", "se_pct": "dfs_se_pct"}), on=key)
    out["total_pct"] = out["relapse_pct"] + out["nrm_pct"] + out["dfs_pct"]
    return out.sort_values(key).reset_index(drop=True)


def gray_summary(data: pd.DataFrame, endpoint: str = "REL", by: str = "cohort", strata: str | None = None, cohorts=None) -> pd.DataFrame:
    """Gray's test between the groups of ``by``, one row per cause, causes named from ``event_desc``."""
    d = _select(data, endpoint, cohorts)
    if endpoint not in CIF_ENDPOINTS:
        raise ValueError("Gray's test is for competing-risk endpoints (REL, NRM, TRM, CR)")
    g = gray_test(d["time_months"], d["status"], d[by], strata=None if strata is None else d[strata].astype(str))
    names = d.loc[d["status"] > 0].groupby("status")["event_desc"].first()
    g.insert(0, "event", g["cause"].map(names))
    g.insert(0, "comparison", " vs ".join(str(x) for x in np.unique(d[by])))
    g.insert(0, "endpoint", endpoint)
    return g


class CoxModel:
    """A Cox fit of the study layer with its tidy tables.

    Attributes: ``fit`` (:class:`sle_nb_utils.stats.cox.CoxResult`), ``summary`` (the fit's summary
    with ``model`` and a readable ``label`` per term, see :data:`TERM_LABELS`), ``zph``
    (:func:`sle_nb_utils.stats.cox.cox_zph` of the fit), ``n``, ``n_event``, ``label``.
    """

    def __init__(self, fit, label):
        self.fit = fit
        self.label = label
        self.n = fit.n
        self.n_event = fit.n_events
        s = fit.summary
        s.insert(1, "label", s["term"].map(TERM_LABELS).fillna(s["term"]))
        s.insert(0, "model", label)
        self.summary = s
        z = cox_zph(fit)
        z.insert(0, "model", label)
        self.zph = z

    def __repr__(self) -> str:  # no addresses in notebook output
        return f"CoxModel({self.label!r}, n={self.n}, events={self.n_event})"


def cox_model(
    data: pd.DataFrame,
    endpoint: str,
    covariates: Sequence[str],
    cohorts=None,
    strata: str | None = None,
    label: str | None = None,
    conf_level: float = 0.95,
) -> CoxModel:
    """Cox model (Efron ties, :func:`sle_nb_utils.stats.cox.cox_fit`) of one KM endpoint.

    ``covariates`` name columns of :func:`endpoint_frame` (``hsct``, ``age_per_10_years``,
    ``nephritis``, ``female``, ``cd34_selected``); ``strata`` names a column of it (e.g.
    ``"cohort"``).  Patients with a missing covariate are dropped.
    """
    if endpoint not in KM_ENDPOINTS:
        raise ValueError("cox_model is for OS / DFS")
    f = endpoint_frame(data, endpoint, cohorts)
    cols = ["time", "event", *covariates] + ([strata] if strata is not None else [])
    f = f[cols].dropna().reset_index(drop=True)
    fit = cox_fit(f, list(covariates), strata=strata, conf_level=conf_level)
    return CoxModel(fit, label or endpoint)


def fine_gray_model(data: pd.DataFrame, endpoint: str, covariates: Sequence[str], cohorts=None, conf_level: float = 0.95) -> pd.DataFrame:
    """Fine-Gray regression (:func:`fine_gray`) of status 1 of a competing-risk endpoint.

    ``covariates`` name columns of :func:`endpoint_frame`; rows with a missing covariate are
    dropped.  Returns the fit's summary (with ``n``, ``n_events`` and ``converged``) with
    ``endpoint`` first and a readable ``label`` after ``term``.
    """
    if endpoint not in CIF_ENDPOINTS:
        raise ValueError("fine_gray_model is for competing-risk endpoints (REL, NRM, TRM, CR)")
    f = endpoint_frame(data, endpoint, cohorts)[["time", "status", *covariates]].dropna()
    fit = fine_gray(f["time"], f["status"], f[list(covariates)], cause=1, conf_level=conf_level)
    s = fit.summary.copy()
    s.insert(1, "label", s["term"].map(TERM_LABELS).fillna(s["term"]))
    s.insert(0, "endpoint", endpoint)
    return s


def published_comparison(data: pd.DataFrame, figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Published 5-year figures of the HSCT series next to the values recomputed from ``data``.

    Takes every published figure whose ``measure`` is in :data:`PUBLISHED_MEASURES` with a time
    point (years); one row per cohort, measure and value (sources reporting the same value are
    joined).  ``pass`` is True when the recomputed estimate (and its SE, where one is published)
    rounds to the published value at the published rounding (whole percent).

    Returns
    -------
    pandas.DataFrame
        ``cohort``, ``measure``, ``endpoint``, ``months``, ``sources``, ``published``
        (``"81 ± 8%"``), ``recomputed`` (same form), ``estimate_pct``, ``se_pct``, ``pass``.
    """
    if figures is None:
        from . import published

        figures = published.figures()
    f = figures.loc[figures["measure"].isin(list(PUBLISHED_MEASURES)) & figures["timepoint_years"].notna()]
    f = f.loc[f["cohort"].isin(data["cohort"].unique())].copy()
    f["se_key"] = f["se_pct"].fillna(-1.0)
    grp = f.groupby(["cohort", "measure", "timepoint_years", "value_pct", "se_key"], sort=True)
    rows = []
    for (cohort, measure, years, value, se_key), g in grp:
        endpoint = PUBLISHED_MEASURES[measure]
        months = 12.0 * float(years)
        est = milestone_table(data, endpoint, by=None, at=[months], cohorts=cohort).iloc[0]
        se_pub = None if se_key < 0 else float(se_key)
        ok = rounds_to(est["estimate_pct"], value) and (se_pub is None or rounds_to(est["se_pct"], se_pub))
        se_shown = est["se_pct"] if se_pub is not None else None
        rows.append(
            {
                "cohort": cohort,
                "measure": measure,
                "endpoint": endpoint,
                "months": months,
                "sources": "; ".join(sorted(g["source_id"].unique())),
                "published": format_pm(float(value), se_pub),
                "recomputed": format_pm(est["estimate_pct"], se_shown),
                "estimate_pct": est["estimate_pct"],
                "se_pct": est["se_pct"],
                "pass": ok,
            }
        )
    order = {m: i for i, m in enumerate(PUBLISHED_MEASURES)}
    cols = ["cohort", "measure", "endpoint", "months", "sources", "published", "recomputed",
            "estimate_pct", "se_pct", "pass"]
    out = pd.DataFrame(rows, columns=cols)
    out = out.sort_values(["cohort", "measure"], key=lambda s: s.map(order) if s.name == "measure" else s)
    return out.reset_index(drop=True)


def trm_counts(data: pd.DataFrame, cohort: str | None = None, figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Treatment-related mortality counted two ways, from the data, next to the published figures.

    Rows: ``treatment-related deaths`` (TRM endpoint, status 1: deaths the source attributes to
    the treatment; compared with Burt 2006's 1/50) and ``deaths after mobilisation, before
    transplant`` (OS events of patients never transplanted; compared with the seed's 4 %).
    Columns ``count``, ``deaths``, ``patients``, ``pct``, ``published_pct``, ``published_by``,
    ``hypothesis`` (how the published figure is taken to have counted), ``pass``. Both counts are by
    intention to treat: pass the ITT table (``survival_data(definition="origin_itt_mobilisation")``);
    with the primary (from-transplant) table the pre-transplant deaths are absent. ``cohort``: None
    = the cohort that ``cohort_sources.csv`` maps to Burt 2006 (ValueError when there is none).
    """
    cohort = _require(series_cohort(data, "burt2006") if cohort is None else cohort, "burt2006",
                      "trm_counts")
    if figures is None:
        from . import published

        figures = published.figures()
    pub = figures.loc[(figures["cohort"] == cohort) & (figures["measure"] == "treatment_related_mortality")]
    pub = pub.set_index("source_id")["value_pct"]
    trm = _select(data, "TRM", cohort)
    os_ = _select(data, "OS", cohort)
    n = len(os_)
    # each published figure with the count it stands for: Burt 2006 counts deaths it attributes to the
    # treatment (1/50, ITT); the seed's 4 % equals the deaths after mobilisation, before transplant
    died = os_["status"] == 1
    attributed = os_["patient_id"].isin(trm.loc[trm["status"] == 1, "patient_id"])
    tc = endpoints.trm_counts(died, os_["transplanted"].astype(bool), attributed)
    counts = [
        ("treatment-related deaths", tc["treatment_related"], "burt2006"),
        ("deaths after mobilisation, before transplant", tc["before_transplant"], "sun_seed"),
    ]
    hypotheses = {
        "burt2006": "stated by the source: deaths attributed to the treatment, of all enrolled (ITT)",
        "sun_seed": "ours: the seed counted the deaths after mobilisation and before transplant",
    }
    rows = []
    for label, k, source in counts:
        pct = 100.0 * k / n
        published_pct = float(pub.get(source, np.nan))
        rows.append({"count": label, "deaths": k, "patients": n, "pct": pct,
                     "published_pct": published_pct, "published_by": source if source in pub.index else "",
                     "hypothesis": hypotheses.get(source, ""), "pass": rounds_to(pct, published_pct)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Endpoint definitions, variance estimators, follow-up and censoring (docs/endpoints.md)
# ---------------------------------------------------------------------------------------------

_MEASURE_OF = {v: k for k, v in PUBLISHED_MEASURES.items()}


def _published_value(figures: pd.DataFrame, cohort: str, endpoint: str, months: float):
    """(value_pct, se_pct) of the published figure of ``endpoint`` at ``months``, or (nan, nan)."""
    f = figures.loc[(figures["cohort"] == cohort) & (figures["measure"] == _MEASURE_OF.get(endpoint, ""))
                    & (12.0 * figures["timepoint_years"] == months)]
    if f.empty:
        return np.nan, np.nan
    return float(f["value_pct"].iloc[0]), float(f["se_pct"].dropna().iloc[0]) if f["se_pct"].notna().any() else np.nan


def sensitivity_table(data_dir=None, definitions=None, cohorts=None, months: float = 60.0,
                      figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """OS, DFS, relapse and NRM at ``months`` under the primary and each sensitivity definition.

    Parameters
    ----------
    data_dir : as :func:`survival_data`.
    definitions : names (default: ``"primary"`` and every key of
        :data:`sle_nb_utils.endpoints.SENSITIVITY`).
    cohorts : cohorts to report (default: every HSCT cohort of the data, :func:`arm_cohorts`).
    months : the milestone (default 60).

    Returns
    -------
    pandas.DataFrame
        ``definition``, ``description``, ``cohort``, ``endpoint``, ``n``, ``estimate_pct``,
        ``se_pct`` (Greenwood for KM, cmprsk for AJ), ``published_pct``, ``published_se_pct``,
        ``matches_published`` (estimate and, where published, SE round to the published values;
        NA where nothing is published). Sorted by cohort, endpoint, definition order.
    """
    from . import endpoints, published

    figures = published.figures() if figures is None else figures
    names = ["primary", *endpoints.SENSITIVITY] if definitions is None else list(definitions)
    rows = []
    for name in names:
        data = survival_data(data_dir, definition=name)
        if cohorts is None:
            cohorts = arm_cohorts(data, "HSCT")
        for cohort in cohorts:
            for ep in ("OS", "DFS", "REL", "NRM"):
                m = milestone_table(data, ep, by=None, at=[months], cohorts=cohort).iloc[0]
                n = int((data["cohort"].eq(cohort) & data["endpoint"].eq(ep)).sum())
                pv, ps = _published_value(figures, cohort, ep, months)
                match = (pd.NA if np.isnan(pv) else bool(rounds_to(m["estimate_pct"], pv)
                                                         and (np.isnan(ps) or rounds_to(m["se_pct"], ps))))
                rows.append({"definition": name, "description": endpoints.SENSITIVITY_LABELS[name],
                             "cohort": cohort, "endpoint": ep, "n": n, "estimate_pct": m["estimate_pct"],
                             "se_pct": m["se_pct"], "published_pct": pv, "published_se_pct": ps,
                             "matches_published": match})
    out = pd.DataFrame(rows, columns=["definition", "description", "cohort", "endpoint", "n", "estimate_pct",
                                      "se_pct", "published_pct", "published_se_pct", "matches_published"])
    order = {nm: i for i, nm in enumerate(names)}
    ep_order = {"OS": 0, "DFS": 1, "REL": 2, "NRM": 3}
    out = out.sort_values(["cohort", "endpoint", "definition"],
                          key=lambda c: c.map(ep_order) if c.name == "endpoint" else
                          (c.map(order) if c.name == "definition" else c))
    return out.reset_index(drop=True)


def origin_comparison(data_dir=None, cohort: str | None = None, months: float = 60.0,
                      figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """Burt 2006 from both time origins side by side: from transplant (the 48 transplanted; the
    primary origin) and by intention to treat from mobilisation (all 50 enrolled).

    ``cohort``: None = the cohort of the data that ``cohort_sources.csv`` maps to Burt 2006
    (ValueError when there is none).

    Returns one row per endpoint: ``endpoint``, ``published_pct``, ``from_transplant_pct``,
    ``n_from_transplant``, ``itt_mobilisation_pct``, ``n_itt``, ``matches_from_transplant``,
    ``matches_itt`` (rounds to the published value).
    """
    if cohort is None:
        cohort = _require(series_cohort(survival_data(data_dir), "burt2006"), "burt2006", "origin_comparison")
    t = sensitivity_table(data_dir, ["primary", "origin_itt_mobilisation"], [cohort], months, figures)
    a = t[t["definition"] == "primary"].set_index("endpoint")
    b = t[t["definition"] == "origin_itt_mobilisation"].set_index("endpoint")
    out = pd.DataFrame({
        "endpoint": a.index, "published_pct": a["published_pct"].to_numpy(),
        "from_transplant_pct": a["estimate_pct"].to_numpy(), "n_from_transplant": a["n"].to_numpy(),
        "itt_mobilisation_pct": b["estimate_pct"].reindex(a.index).to_numpy(),
        "n_itt": b["n"].reindex(a.index).to_numpy(),
    })
    out["matches_from_transplant"] = [pd.NA if np.isnan(p) else rounds_to(v, p)
                                      for v, p in zip(out["from_transplant_pct"], out["published_pct"])]
    out["matches_itt"] = [pd.NA if np.isnan(p) else rounds_to(v, p)
                          for v, p in zip(out["itt_mobilisation_pct"], out["published_pct"])]
    return out


def cif_variance_table(data: pd.DataFrame, endpoints=("REL", "NRM"), cohorts=None,
                       months: float = 60.0, figures: pd.DataFrame | None = None) -> pd.DataFrame:
    """The cumulative incidence at ``months`` with two standard errors, and which one the published
    "±" matches.

    ``se_gray_pct``: Gray's variance (R ``cmprsk::cuminc``, :func:`cif_var_at`); ``se_ij_pct``: the
    infinitesimal-jackknife SE of R ``survfit`` multi-state (:func:`cif_ij_se_at`). Returns
    ``cohort``, ``endpoint``, ``estimate_pct``, ``se_gray_pct``, ``se_ij_pct``, ``published_pct``,
    ``published_se_pct``, ``gray_matches``, ``ij_matches`` (NA where no SE is published).
    ``cohorts``: None = the HSCT cohorts of the data that map to a published series
    (:func:`calibration_cohorts`).
    """
    from . import published

    figures = published.figures() if figures is None else figures
    cohorts = calibration_cohorts(data, "HSCT") if cohorts is None else cohorts
    rows = []
    for cohort in cohorts:
        for ep in endpoints:
            d = _select(data, ep, cohort)
            cif, var = cif_var_at(d["time_months"], d["status"], months, cause=1)
            _, se_ij = cif_ij_se_at(d["time_months"], d["status"], months, cause=1)
            pv, ps = _published_value(figures, cohort, ep, months)
            g, ij = 100 * float(np.sqrt(var)), 100 * float(se_ij)
            rows.append({"cohort": cohort, "endpoint": ep, "estimate_pct": 100 * float(cif),
                         "se_gray_pct": g, "se_ij_pct": ij, "published_pct": pv, "published_se_pct": ps,
                         "gray_matches": pd.NA if np.isnan(ps) else rounds_to(g, ps),
                         "ij_matches": pd.NA if np.isnan(ps) else rounds_to(ij, ps)})
    return pd.DataFrame(rows, columns=["cohort", "endpoint", "estimate_pct", "se_gray_pct", "se_ij_pct",
                                       "published_pct", "published_se_pct", "gray_matches", "ij_matches"])


def follow_up_table(data: pd.DataFrame, longitudinal: pd.DataFrame | None = None) -> pd.DataFrame:
    """Follow-up by cohort three ways: crude (observed time to death or last contact), reverse
    Kaplan-Meier (potential follow-up had nobody died), and the published figure.

    Returns ``cohort``, ``n``, ``crude_mean``, ``crude_median``, ``crude_min``, ``crude_max``,
    ``reverse_km_median``, ``reverse_km_lower``, ``reverse_km_upper`` (months), ``published``
    (statistic, value and range as the source gives them) and ``published_statistic``.
    The crude figures are what papers usually call "median (range) follow-up"; the reverse KM is
    longer when deaths cut observation short.
    """
    from . import published

    lon = published.longitudinal() if longitudinal is None else longitudinal
    lon = lon.loc[lon["measure"] == "follow_up_months"].set_index("cohort")
    os_ = _select(data, "OS")
    rows = []
    for cohort, g in os_.groupby("cohort", sort=True):
        f = median_followup(g["time_months"], g["status"] == 1).iloc[0]
        t = g["time_months"]
        pub, stat = "", ""
        if cohort in lon.index:
            r = lon.loc[cohort]
            stat = str(r["statistic"])
            pub = f"{stat} {float(r['value']):g}" + (f" ({r['spread']})" if isinstance(r["spread"], str) else "")
        rows.append({"cohort": cohort, "n": len(g), "crude_mean": t.mean(), "crude_median": t.median(),
                     "crude_min": t.min(), "crude_max": t.max(), "reverse_km_median": f["median"],
                     "reverse_km_lower": f["lower"], "reverse_km_upper": f["upper"],
                     "published": pub, "published_statistic": stat})
    return pd.DataFrame(rows)


#: How follow-up ends (:func:`follow_up_end`): code -> label.
FOLLOW_UP_END = {0: "censored at the data cut-off", 1: "lost to follow-up", 2: "death"}


def follow_up_end(patients: pd.DataFrame, window_days: int = 31) -> pd.Series:
    """How each patient's follow-up ends, coded as :data:`FOLLOW_UP_END`.

    The data cut-off of a cohort is its latest ``last_contact_date``; a survivor whose last contact
    is within ``window_days`` of it is censored at the cut-off (0, administrative censoring), any
    other survivor was lost to follow-up (1); a death is 2. Indexed like ``patients``.
    """
    cut = patients.groupby("cohort")["last_contact_date"].transform("max")
    gap = (cut - patients["last_contact_date"]).dt.days
    code = np.where(patients["death_date"].notna(), 2, np.where(gap <= window_days, 0, 1))
    return pd.Series(code, index=patients.index, name="follow_up_end")


def censoring_pattern(patients: pd.DataFrame, window_days: int = 31) -> pd.DataFrame:
    """How follow-up ends, by cohort: death, censored at the data cut-off, or lost earlier
    (:func:`follow_up_end`).

    Entry is summarised by the first and last transplant (or enrolment) year.
    Returns ``cohort``, ``patients``, ``deaths``, ``censored_at_cutoff``, ``lost_to_follow_up``,
    ``lost_pct_of_survivors``, ``lost_median_months_before_cutoff``, ``entry_first_year``,
    ``entry_last_year``.
    """
    from .endpoints import months_between

    end = follow_up_end(patients, window_days)
    rows = []
    for cohort, g in patients.groupby("cohort", sort=True):
        e = end.loc[g.index]
        cut = g["last_contact_date"].max()
        alive, at_cut, lost = e != 2, e == 0, e == 1
        entry = g["transplant_date"].fillna(g["enrol_date"])
        before = months_between(g.loc[lost, "last_contact_date"], pd.Series(cut, index=g.index[lost]))
        rows.append({"cohort": cohort, "patients": len(g), "deaths": int((~alive).sum()),
                     "censored_at_cutoff": int(at_cut.sum()), "lost_to_follow_up": int(lost.sum()),
                     "lost_pct_of_survivors": 100 * lost.sum() / max(1, alive.sum()),
                     "lost_median_months_before_cutoff": float(np.median(before)) if lost.any() else np.nan,
                     "entry_first_year": int(entry.dt.year.min()), "entry_last_year": int(entry.dt.year.max())})
    return pd.DataFrame(rows)


def causes_of_death(patients: pd.DataFrame, data: pd.DataFrame) -> pd.DataFrame:
    """Deaths by cohort, cause and whether a relapse (or primary non-response) came first.

    ``data`` is a :func:`survival_data` table (its REL rows: status 1 = relapse or non-response
    first). Patients outside its analysis set (never transplanted, under the primary origin) are
    counted as ``before transplant``. Returns ``cohort``, ``death_cause``, ``treatment_related``,
    ``after``, ``deaths``; sorted.
    """
    rel = data.loc[data["endpoint"] == "REL"].set_index("patient_id")["status"]
    d = patients.loc[patients["death_date"].notna()].copy()
    st = d["patient_id"].map(rel)
    d["after"] = np.select([st.isna(), st == 1], ["before transplant", "after relapse or non-response"],
                           "without prior relapse")
    d["treatment_related"] = d["death_treatment_related"].astype("boolean").fillna(False).astype(bool)
    out = (d.groupby(["cohort", "death_cause", "treatment_related", "after"], sort=True).size()
           .rename("deaths").reset_index())
    return out


def cd34_calibration_check(data: pd.DataFrame, cohort: str | None = None, months: float = 36.0,
                           conf_level: float = 0.95) -> dict:
    """The CD34-selection / relapse association, which the generator put in to reproduce Alchi 2013
    (lower relapse incidence with CD34 selection, p = 0.001): a calibration check, not evidence.

    Only the EBMT series varies CD34 selection (every Burt 2006 graft was CD34-selected), so the
    contrast is estimated within it. Returns a dict of three tables: ``cif`` (relapse incidence at
    ``months`` by CD34 selection, Aalen-Johansen), ``gray`` (Gray's test within the cohort) and
    ``fine_gray`` (Fine-Gray model of relapse on CD34 selection within the cohort). ``cohort``:
    None = the cohort that ``cohort_sources.csv`` maps to Alchi 2013 (ValueError when there is none).
    """
    cohort = _require(series_cohort(data, "alchi2013") if cohort is None else cohort, "alchi2013",
                      "cd34_calibration_check")
    d = data.loc[data["cohort"] == cohort].copy()
    d["cd34"] = np.where(d["cd34_selected"].astype("boolean").fillna(False), "CD34-selected", "unselected")
    cif = milestone_table(d, "REL", by="cd34", at=[months], conf_level=conf_level)
    gray = gray_summary(d, "REL", by="cd34")
    fg = fine_gray_model(d, "REL", ["cd34_selected"], conf_level=conf_level)
    return {"cif": cif, "gray": gray, "fine_gray": fg}


# ---------------------------------------------------------------------------------------------
# small-cell suppression and concluding text (notebook 04 on any data)
# ---------------------------------------------------------------------------------------------
def suppress_small(table: pd.DataFrame, columns, min_count: int | None) -> pd.DataFrame:
    """``table`` with each count of ``columns`` from 1 to ``min_count - 1`` written ``"<min_count"``
    (small-cell suppression on a user's data, so a page does not single out a few patients).

    ``min_count`` None or below 2 returns the table unchanged. Zeros stay 0.
    """
    if min_count is None or int(min_count) < 2:
        return table
    out = table.copy()
    for c in columns:
        v = pd.to_numeric(out[c], errors="coerce")
        small = v.notna() & (v >= 1) & (v < int(min_count))
        if small.any():
            out[c] = out[c].astype(object).where(~small, f"<{int(min_count)}")
    return out


def conclusions(data: pd.DataFrame, comparison: pd.DataFrame | None = None, months: float = 60.0,
                names: dict | None = None, bundled: bool = False) -> str:
    """Concluding text of notebook 04 computed from the results (Markdown bullet list).

    Per cohort: patients, OS and DFS (Kaplan-Meier, ± SE) at ``months`` or, when follow-up is shorter,
    at the cohort's last milestone of 12-month steps, and how many remain at risk then. With a
    ``comparison`` (:func:`published_comparison`) that has rows: how many published figures the
    estimators reproduce. ``bundled`` adds the caveat that agreement on calibrated synthetic data tests
    the pipeline, not the clinical claims.
    """
    names = names or {}
    lines = []
    for cohort in sorted(data["cohort"].astype(str).unique()):
        os_ = data.loc[(data["endpoint"] == "OS") & (data["cohort"] == cohort)]
        if os_.empty:
            continue
        last = float(os_["time_months"].max())
        at = months if last >= months else 12.0 * np.floor(last / 12.0)
        name = names.get(cohort, cohort)
        if at <= 0:
            lines.append(f"- **{name}** ({len(os_)} patients): follow-up shorter than 12 months; no milestone estimate.")
            continue
        parts = []
        n_risk = None
        for ep in KM_ENDPOINTS:
            m = milestone_table(data, ep, by=None, at=[at], cohorts=cohort).iloc[0]
            parts.append(f"{ep} {m['estimate_pm']}")
            n_risk = int(m["n_risk"]) if ep == "OS" else n_risk
        lines.append(f"- **{name}** ({len(os_)} patients): at {at:g} months {', '.join(parts)} "
                     f"(Kaplan-Meier, ± SE); {n_risk} still at risk for OS.")
    if comparison is not None and len(comparison):
        k, n = int(comparison["pass"].sum()), len(comparison)
        lines.append(f"- Of {n} published 5-year figures of the series that map to these cohorts, the "
                     f"estimators under the primary definitions reproduce {k} at the published rounding.")
    else:
        lines.append("- No published 5-year figure belongs to a series that these cohorts map to "
                     "(`data/published/cohort_sources.csv`), so nothing is compared with published figures.")
    risk = [int(milestone_table(data, "OS", by=None, at=[months], cohorts=c).iloc[0]["n_risk"])
            for c in sorted(data["cohort"].astype(str).unique())]
    if risk and max(risk) < 10:
        lines.append(f"- Fewer than 10 patients per cohort remain at risk at {months:g} months, so the "
                     "intervals there are wide.")
    if bundled:
        lines.append("- The data are synthetic and built to hit the published summaries (the CD34 "
                     "association included), so agreement with the papers tests this pipeline, not the "
                     "clinical claims.")
    return "\n".join(lines)


def named(table: pd.DataFrame, names: dict) -> pd.DataFrame:
    """``table`` for display: cohort codes in its ``cohort`` and ``group`` columns replaced by their
    display names (``names``, e.g. :func:`sle_nb_utils.published.cohort_display_names`); other
    values (e.g. "CD34-selected") unchanged. Computations keep the codes; only the shown table
    changes."""
    out = table.copy()
    for c in ("cohort", "group"):
        if c in out.columns:
            out[c] = out[c].map(lambda v: names.get(v, v))
    return out


def cohort_overview(data: pd.DataFrame, names: dict | None = None) -> pd.DataFrame:
    """The cohorts of a :func:`survival_data` table: ``cohort`` (display name), ``code``, ``arm``,
    ``patients`` (in the OS rows) and ``published series`` (from ``cohort_sources.csv``; "none"
    for a cohort that maps to no published series). Sorted by code."""
    from . import published

    names = names or published.cohort_display_names(data["cohort"])
    series = published.cohort_sources().set_index("cohort")["series"]
    os_ = data.loc[data["endpoint"] == "OS"]
    rows = []
    for code, g in data.groupby("cohort", sort=True):
        rows.append({"cohort": names.get(code, code), "code": code, "arm": str(g["arm"].iloc[0]),
                     "patients": int(os_.loc[os_["cohort"] == code, "patient_id"].nunique()),
                     "published series": str(series.get(code, "none"))})
    return pd.DataFrame(rows, columns=["cohort", "code", "arm", "patients", "published series"])

