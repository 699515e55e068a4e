"""Remission, relapse and time-to-event endpoints (our operational definitions, DESIGN §5).

The MSCT papers name complete and partial remission and relapse but their exact wording could not be
obtained (see ``data/published/README.md``). The definitions below are therefore ours; every threshold
is a named field of :class:`RemissionDefinition`, printed by the notebooks, and never claimed to be a
paper's wording.

* complete remission (CR) at a visit: SLEDAI-2K <= 3 and prednisone-equivalent <= 10 mg/day (the
  steroid cap follows the remission wording of Burt 2018, Bone Marrow Transplant: "no immune
  suppressive drugs except hydroxychloroquine and/or 10 mg or less of prednisone a day");
* partial remission (PR) at a visit: not CR, and SLEDAI-2K fallen >= 50 % from baseline;
* relapse: after a CR or PR, SLEDAI-2K rising by >= 4 points above the lowest post-transplant value
  seen so far, or a new weight-8 (organ-threatening) descriptor (present now, absent at the previous
  visit); the relapse date is the first visit that meets it. Only the first relapse is counted.

Times are in months: days / 30.4375 (365.25 / 12).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from . import scores

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class RemissionDefinition:
    """Thresholds of the operational remission / relapse definitions (see module docstring)."""

    cr_sledai_max: int = 3  # CR: SLEDAI-2K <= this
    cr_prednisone_max_mg_day: float = 10.0  # CR: prednisone-equivalent <= this (Burt 2018)
    pr_min_fall_fraction: float = 0.5  # PR: SLEDAI-2K fallen by at least this fraction of baseline
    relapse_min_rise: int = 4  # relapse: SLEDAI-2K >= post-transplant nadir so far + this
    relapse_on_new_weight8: bool = True  # relapse: a new organ-threatening (weight 8) descriptor
    refractory_sledai_min: int = 8  # inclusion (Wang 2018): SLEDAI >= 8 despite treatment

    def table(self) -> pd.DataFrame:
        """The thresholds as a two-column table for printing."""
        return pd.DataFrame({"parameter": list(asdict(self)), "value": list(asdict(self).values())})


DEFINITION = RemissionDefinition()


def months_between(start, end) -> np.ndarray:
    """Months (days / 30.4375) from ``start`` to ``end`` (datetime-like arrays)."""
    delta = pd.to_datetime(pd.Series(end)).to_numpy() - pd.to_datetime(pd.Series(start)).to_numpy()
    return delta.astype("timedelta64[D]").astype(float) / DAYS_PER_MONTH


def classify_visits(visits: pd.DataFrame, definition: RemissionDefinition = DEFINITION) -> pd.DataFrame:
    """Remission status and first relapse at every visit.

    Parameters
    ----------
    visits : DataFrame in the data model (``patient_id``, ``visit_month``, ``visit_date``, the 24
        SLEDAI-2K descriptors, ``prednisone_mg_day``). Month 0 is the baseline.

    Returns
    -------
    DataFrame, one row per visit sorted by patient and month, with ``patient_id``, ``visit_month``,
    ``visit_date``, ``sledai_2k`` (computed), ``baseline_sledai_2k``, ``prednisone_mg_day``,
    ``remission`` (``baseline`` / ``complete`` / ``partial`` / ``none``), ``relapse`` (True only at
    the first relapse visit) and ``relapsed`` (True from the first relapse on).
    """
    d = definition
    v = visits.sort_values(["patient_id", "visit_month"]).reset_index(drop=True)
    out = v[["patient_id", "visit_month", "visit_date", "prednisone_mg_day"]].copy()
    out["sledai_2k"] = scores.sledai_2k(v).to_numpy()
    base_rows = out.loc[out["visit_month"] == 0]
    twice = base_rows["patient_id"][base_rows["patient_id"].duplicated()]
    if len(twice):
        raise ValueError(f"more than one baseline (month 0) visit for patient(s) {', '.join(sorted(set(twice)))}")
    base = base_rows.set_index("patient_id")["sledai_2k"]
    out["baseline_sledai_2k"] = out["patient_id"].map(base)  # NaN without a baseline visit
    post = out["visit_month"] > 0
    complete = post & (out["sledai_2k"] <= d.cr_sledai_max) & (
        out["prednisone_mg_day"] <= d.cr_prednisone_max_mg_day)
    # a fall from baseline needs a baseline above 0 (NaN without a baseline: never partial)
    partial = post & ~complete & (out["baseline_sledai_2k"] > 0) & (
        out["sledai_2k"] <= (1 - d.pr_min_fall_fraction) * out["baseline_sledai_2k"])
    out["remission"] = np.select([~post, complete, partial], ["baseline", "complete", "partial"], "none")

    # Relapse, vectorised over patients: at a post-transplant visit, with a remission at an earlier
    # post-transplant visit, SLEDAI-2K >= the nadir of the earlier post-transplant visits + rise,
    # or a weight-8 descriptor present now and absent at the previous visit. The first such visit.
    pid = out["patient_id"].to_numpy()
    first_row = np.r_[True, pid[1:] != pid[:-1]]
    s_post = out["sledai_2k"].astype(float).where(post, np.inf)
    nadir_before = s_post.groupby(out["patient_id"], sort=False).cummin().shift(1).to_numpy()
    nadir_before[first_row] = np.inf
    remission = post & out["remission"].isin(["complete", "partial"])
    remitted_before = remission.groupby(out["patient_id"], sort=False).cummax().shift(1, fill_value=False)
    remitted_before = remitted_before.to_numpy(dtype=bool) & ~first_row
    rise = out["sledai_2k"].to_numpy() >= nadir_before + d.relapse_min_rise
    w8 = v.loc[:, list(scores.ORGAN_THREATENING_DESCRIPTORS)].to_numpy(dtype=int)
    w8_prev = np.vstack([np.zeros((1, w8.shape[1]), dtype=int), w8[:-1]])
    new8 = d.relapse_on_new_weight8 & ~first_row & ((w8 == 1) & (w8_prev == 0)).any(axis=1)
    candidate = post.to_numpy() & remitted_before & (rise | new8)
    relapse = candidate & (pd.Series(candidate).groupby(pid, sort=False).cumsum().to_numpy() == 1)
    out["relapse"] = relapse
    out["relapsed"] = out.groupby("patient_id")["relapse"].cummax()
    return out


def first_relapse(classified: pd.DataFrame) -> pd.DataFrame:
    """One row per relapsing patient: ``patient_id``, ``relapse_month``, ``relapse_date``."""
    r = classified.loc[classified["relapse"], ["patient_id", "visit_month", "visit_date"]]
    return r.rename(columns={"visit_month": "relapse_month", "visit_date": "relapse_date"}).reset_index(
        drop=True)


def yearly_remission_relapse(visits: pd.DataFrame, years=(1, 2, 3, 4),
                             definition: RemissionDefinition = DEFINITION) -> pd.DataFrame:
    """Complete remission and relapse by year of follow-up, as the MSCT series report them.

    For year *k*: ``evaluable`` = patients with a visit at month 12k; ``complete_remission`` =
    evaluable patients in CR at that visit; ``relapses`` = evaluable patients whose first relapse
    visit falls in (12(k-1), 12k] months. Percentages are of the evaluable patients.
    """
    c = classify_visits(visits, definition)
    rel = first_relapse(c).set_index("patient_id")["relapse_month"]
    rows = []
    for k in years:
        at = c.loc[c["visit_month"] == 12 * k]
        ev = at["patient_id"]
        cr = int((at["remission"] == "complete").sum())
        rm = rel.reindex(ev).to_numpy()
        n_rel = int(np.sum((rm > 12 * (k - 1)) & (rm <= 12 * k)))
        rows.append({"year": k, "evaluable": len(ev), "complete_remission": cr,
                     "complete_remission_pct": 100 * cr / len(ev) if len(ev) else np.nan,
                     "relapses": n_rel, "relapse_pct": 100 * n_rel / len(ev) if len(ev) else np.nan})
    return pd.DataFrame(rows)


ENDPOINTS = ("OS", "DFS", "REL", "NRM", "TRM", "CR")
ENDPOINT_LABELS = {
    "OS": "overall survival (death from any cause)",
    "DFS": "disease-free survival (first of relapse or death)",
    "REL": "relapse (competing event: death without prior relapse)",
    "NRM": "non-relapse mortality (death without prior relapse; competing event: relapse)",
    "TRM": "treatment-related mortality (competing event: death from other causes)",
    "CR": "first complete remission (competing event: death before CR)",
}


def analysis_origin(patients: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Where each patient's clock starts: ``(origin column name, start date)``, indexed like ``patients``.

    Intention to treat: in a cohort where some enrolled patients were never transplanted (Burt 2006:
    two deaths after mobilisation, before transplant), every patient's clock starts at enrolment
    (mobilisation), so that those deaths count. Otherwise day 0 is the transplant (``transplant_date``).
    """
    never = patients["transplant_date"].isna().groupby(patients["cohort"]).transform("any")
    col = pd.Series(np.where(never, "enrol_date", "transplant_date"), index=patients.index)
    date = pd.to_datetime(patients["enrol_date"].where(never, patients["transplant_date"]))
    return col, date


def competing_status(time_death, dead, time_relapse, relapsed):
    """First event of relapse vs death: ``(time, status)`` with status 1 relapse first, 2 death
    without prior relapse, 0 censored. A relapse on the day of death counts as the relapse."""
    dead = np.asarray(dead, dtype=bool)
    relapsed = np.asarray(relapsed, dtype=bool)
    time_death = np.asarray(time_death)
    time_relapse = np.asarray(time_relapse)
    first = relapsed & (~dead | (time_relapse <= time_death))
    return np.where(first, time_relapse, time_death), np.where(first, 1, np.where(dead, 2, 0))


RELAPSE_SOURCES = ("events", "visits", "both")


def relapse_dates(visits: pd.DataFrame, events: pd.DataFrame, source: str = "both",
                  definition: RemissionDefinition = DEFINITION, classified: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """First relapse per patient, by the site (events) and by our definition (visits).

    Returns one row per patient with any relapse: ``patient_id``, ``event_date`` (first ``relapse``
    event the site recorded), ``visit_date`` (first visit meeting the relapse definition),
    ``relapse_date`` (by ``source``: ``events``, ``visits``, or ``both`` = the earlier of the two)
    and ``lag_days`` (visit-derived minus site-reported; a site's exact date precedes the next visit).
    """
    if source not in RELAPSE_SOURCES:
        raise ValueError(f"relapse source must be one of {RELAPSE_SOURCES}, got {source!r}")
    ev = (events.loc[events["event"] == "relapse"].groupby("patient_id")["event_date"].min()
          .rename("event_date"))
    c = classify_visits(visits, definition) if classified is None else classified
    vi = first_relapse(c).set_index("patient_id")["relapse_date"].rename("visit_date")
    out = pd.concat([ev, vi], axis=1).sort_index()
    out.index.name = "patient_id"
    pick = {"events": out["event_date"], "visits": out["visit_date"],
            "both": out[["event_date", "visit_date"]].min(axis=1)}[source]
    out["relapse_date"] = pick
    out["lag_days"] = (out["visit_date"] - out["event_date"]).dt.days
    return out.dropna(subset=["relapse_date"]).reset_index()


def relapse_source_summary(patients: pd.DataFrame, visits: pd.DataFrame, events: pd.DataFrame,
                           definition: RemissionDefinition = DEFINITION) -> pd.DataFrame:
    """Per cohort: relapses recorded by the site, found by our definition, both, and the lag."""
    r = relapse_dates(visits, events, "both", definition)
    r["cohort"] = r["patient_id"].map(patients.set_index("patient_id")["cohort"])
    g = r.groupby("cohort")
    out = pd.DataFrame({
        "relapses": g.size(),
        "site_recorded": g["event_date"].count(),
        "visit_derived": g["visit_date"].count(),
        "both": g.apply(lambda x: int((x["event_date"].notna() & x["visit_date"].notna()).sum()),
                        include_groups=False),
        "same_date": g["lag_days"].apply(lambda x: int((x == 0).sum())),
        "lag_days_median": g["lag_days"].median(),
        "lag_days_max": g["lag_days"].max(),
    })
    return out.reindex(sorted(patients["cohort"].unique()), fill_value=0).reset_index()


def time_to_event_table(patients: pd.DataFrame, visits: pd.DataFrame, events: pd.DataFrame,
                        definition: RemissionDefinition = DEFINITION,
                        relapse_source: str = "both") -> pd.DataFrame:
    """One row per patient per endpoint (OS, DFS, REL, NRM, TRM, CR).

    The clock starts at :func:`analysis_origin`. The relapse date is, by default, the earlier of the
    site-recorded relapse (``events``) and the first visit meeting our relapse definition
    (:func:`relapse_dates`; ``relapse_source`` picks one of them instead); deaths come from
    ``patients.death_date``; first complete remission from the visits under ``definition``.
    Follow-up ends at death or ``last_contact_date``.

    Returns
    -------
    DataFrame with ``patient_id``, ``cohort``, ``arm``, ``endpoint``, ``origin`` (the date column
    the clock starts from), ``start_date``, ``end_date``, ``time_months``, ``status``
    (0 censored, 1 event of interest, 2 competing event), ``event`` (1 if status == 1),
    ``event_desc``. Sorted by endpoint, cohort, patient.
    """
    p = patients.set_index("patient_id")
    origin_col, start = analysis_origin(p)

    c = classify_visits(visits, definition)
    rel = relapse_dates(visits, events, relapse_source, definition, classified=c).set_index(
        "patient_id")["relapse_date"].reindex(p.index)
    death = pd.to_datetime(p["death_date"])
    last = pd.to_datetime(p["last_contact_date"])
    end_fu = death.fillna(last)
    trm = p["death_treatment_related"].astype("boolean").fillna(False).astype(bool)
    cr_date = (c.loc[c["remission"] == "complete"].groupby("patient_id")["visit_date"].min()
               .reindex(p.index))

    def rows(endpoint, end, status, desc):
        return pd.DataFrame({
            "patient_id": p.index, "cohort": p["cohort"].to_numpy(), "arm": p["arm"].to_numpy(),
            "endpoint": endpoint, "origin": origin_col.to_numpy(), "start_date": start.to_numpy(),
            "end_date": pd.to_datetime(end).to_numpy(), "status": np.asarray(status, dtype=int),
            "event_desc": np.asarray(desc, dtype=object)})

    dead = death.notna().to_numpy()
    dfs_end, rel_status = competing_status(end_fu.to_numpy(), dead, rel.to_numpy(), rel.notna().to_numpy())
    dfs_end = pd.Series(dfs_end, index=p.index)
    parts = [
        rows("OS", end_fu, dead, np.where(dead, "death", "censored")),
    ]
    parts.append(rows("DFS", dfs_end, rel_status > 0,
                      np.select([rel_status == 1, rel_status == 2], ["relapse", "death"], "censored")))
    parts.append(rows("REL", dfs_end, rel_status,
                      np.select([rel_status == 1, rel_status == 2], ["relapse", "death without relapse"],
                                "censored")))
    nrm_status = np.where(rel_status == 1, 2, np.where(rel_status == 2, 1, 0))
    parts.append(rows("NRM", dfs_end, nrm_status,
                      np.select([nrm_status == 1, nrm_status == 2], ["death without relapse", "relapse"],
                                "censored")))
    trm_status = np.where(dead & trm.to_numpy(), 1, np.where(dead, 2, 0))
    parts.append(rows("TRM", end_fu, trm_status,
                      np.select([trm_status == 1, trm_status == 2],
                                ["treatment-related death", "death from other causes"], "censored")))
    has_cr = cr_date.notna().to_numpy()
    cr_end = pd.Series(np.where(has_cr, cr_date, end_fu), index=p.index)
    cr_status = np.where(has_cr, 1, np.where(dead, 2, 0))
    parts.append(rows("CR", cr_end, cr_status,
                      np.select([cr_status == 1, cr_status == 2], ["complete remission", "death before CR"],
                                "censored")))
    out = pd.concat(parts, ignore_index=True)
    out["time_months"] = months_between(out["start_date"], out["end_date"])
    out["event"] = (out["status"] == 1).astype(int)
    order = {e: i for i, e in enumerate(ENDPOINTS)}
    out = out.sort_values(["endpoint", "cohort", "patient_id"], key=lambda s: s.map(order) if s.name == "endpoint" else s)
    return out.reset_index(drop=True)[["patient_id", "cohort", "arm", "endpoint", "origin", "start_date",
                                       "end_date", "time_months", "status", "event", "event_desc"]]
