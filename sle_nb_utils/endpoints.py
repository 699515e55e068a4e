"""Remission, relapse and time-to-event endpoints: every rule a named, documented parameter.

Every rule below, its parameter, its clinical source and which published figure it reproduces is
tabulated in ``docs/endpoints.md``. The MSCT papers name complete and partial remission and relapse
but their exact wording could not be obtained (``data/published/README.md``), so the visit-level
definitions are ours: every threshold is a field of :class:`RemissionDefinition`, printed by the
notebooks, and never claimed to be a paper's wording.

Visit level (:class:`RemissionDefinition`)
    * complete remission (CR) at a visit: SLEDAI-2K <= 3 and prednisone-equivalent <= 10 mg/day (the
      steroid cap follows the remission wording of Burt 2018, Bone Marrow Transplant: "no immune
      suppressive drugs except hydroxychloroquine and/or 10 mg or less of prednisone a day");
    * partial remission (PR) at a visit: not CR, and SLEDAI-2K fallen >= 50 % from baseline;
    * relapse: after a CR or PR, SLEDAI-2K rising by >= 4 points above the lowest post-transplant
      value seen so far, or a new weight-8 (organ-threatening) descriptor (present now, absent at the
      previous visit); the visit-derived relapse date is the first visit that meets it. Only the
      first relapse counts;
    * inclusion (Wang 2018, refractory SLE): baseline SLEDAI-2K >= 8 (:func:`inclusion_check`).

Patient level (:class:`EndpointDefinition`; the primary analysis is :data:`PRIMARY`)
    * relapse date, one rule for every cohort: the earliest evidence, i.e. the earlier of the
      site-recorded relapse (``events``) and the first visit meeting the relapse definition
      (``relapse_source="both"``); site-only and visit-only dates are sensitivity analyses;
    * primary non-response: no CR or PR at any post-transplant visit up to the response-assessment
      landmark (``nonresponse_landmark_months``, 12 months) is a treatment failure dated at the
      landmark, as in the EBMT/CIBMTR treatment-failure endpoints (primary non-response counts as
      failure, like relapse);
    * disease-free survival (DFS): first of relapse, primary non-response or death;
    * relapse incidence (REL): relapse or primary non-response, death first competing; non-relapse
      mortality (NRM): death without prior relapse or non-response; so DFS + REL + NRM = 100 %;
    * time origin: the transplant (``origin="transplant"``; the patients never transplanted are not
      in this analysis set) or intention to treat from enrolment = mobilisation
      (``origin="itt"``: Burt 2006 enrols at mobilisation, and two patients died before transplant);
    * relapse-free survival among responders, from the date of first response
      (:func:`responder_rfs_table`);
    * the former DFS, where a patient who never responds can never fail
      (``count_primary_nonresponse=False``), survives only as the named sensitivity analysis
      ``"dfs_without_nonresponse"`` in :data:`SENSITIVITY`.

Times are in months: days / 30.4375 (365.25 / 12).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from . import scores
from .errors import BadInputError

DAYS_PER_MONTH = 365.25 / 12


@dataclass(frozen=True)
class RemissionDefinition:
    """Thresholds of the visit-level remission / relapse definitions (see the module docstring and
    ``docs/endpoints.md``)."""

    cr_sledai_max: int = 3  # CR: SLEDAI-2K <= this
    cr_prednisone_max_mg_day: float = 10.0  # CR: prednisone-equivalent <= this (Burt 2018)
    pr_min_fall_fraction: float = 0.5  # PR: SLEDAI-2K fallen by at least this fraction of baseline
    relapse_min_rise: int = 4  # relapse: SLEDAI-2K >= post-transplant nadir so far + this
    relapse_on_new_weight8: bool = True  # relapse: a new organ-threatening (weight 8) descriptor
    refractory_sledai_min: int = 8  # inclusion (Wang 2018): baseline SLEDAI-2K >= this

    def table(self) -> pd.DataFrame:
        """The thresholds as a two-column table for printing."""
        return pd.DataFrame({"parameter": list(asdict(self)), "value": list(asdict(self).values())})


DEFINITION = RemissionDefinition()

RELAPSE_SOURCES = ("events", "visits", "both")
ORIGINS = ("transplant", "itt")


@dataclass(frozen=True)
class EndpointDefinition:
    """Patient-level endpoint rules (see the module docstring and ``docs/endpoints.md``).

    Attributes
    ----------
    relapse_source : ``"both"`` (earliest evidence: the earlier of the site-recorded and the
        visit-derived date; primary), ``"events"`` (site only) or ``"visits"`` (visit-derived only).
    count_primary_nonresponse : count no CR/PR by the landmark as a DFS / REL failure (primary: True).
    nonresponse_landmark_months : the response-assessment landmark, months after transplant: a
        response must be seen at a visit whose nominal month is <= this.
    origin : ``"transplant"`` (primary; day 0 = transplant) or ``"itt"`` (intention to treat: day 0 =
        enrolment, i.e. mobilisation, in a cohort where someone enrolled was never transplanted).
    """

    relapse_source: str = "both"
    count_primary_nonresponse: bool = True
    nonresponse_landmark_months: float = 12.0
    origin: str = "transplant"

    def __post_init__(self):
        if self.relapse_source not in RELAPSE_SOURCES:
            raise BadInputError(f"relapse source must be one of {RELAPSE_SOURCES}, got {self.relapse_source!r}")
        if self.origin not in ORIGINS:
            raise BadInputError(f"time origin must be one of {ORIGINS}, got {self.origin!r}")
        if not self.nonresponse_landmark_months > 0:
            raise BadInputError("the non-response landmark must be > 0 months")

    def table(self) -> pd.DataFrame:
        """The rules as a two-column table for printing."""
        return pd.DataFrame({"parameter": list(asdict(self)), "value": list(asdict(self).values())})


#: The primary analysis: the definitions the bundled data are calibrated to (docs/endpoints.md).
PRIMARY = EndpointDefinition()

#: Named sensitivity analyses: each changes one rule of :data:`PRIMARY`.
SENSITIVITY = {
    "relapse_visits_only": replace(PRIMARY, relapse_source="visits"),
    "relapse_site_only": replace(PRIMARY, relapse_source="events"),
    "dfs_without_nonresponse": replace(PRIMARY, count_primary_nonresponse=False),
    "origin_itt_mobilisation": replace(PRIMARY, origin="itt"),
}
SENSITIVITY_LABELS = {
    "primary": "primary: earliest relapse evidence, non-response at 12 months is a failure, from transplant",
    "relapse_visits_only": "relapse dated by the visits only (our definition)",
    "relapse_site_only": "relapse dated by the site's record only",
    "dfs_without_nonresponse": "former DFS: a patient who never responds cannot fail",
    "origin_itt_mobilisation": "intention to treat from enrolment (mobilisation)",
}


def definition_named(name: str) -> EndpointDefinition:
    """:data:`PRIMARY` for ``"primary"``, else the named sensitivity analysis."""
    if name == "primary":
        return PRIMARY
    if name not in SENSITIVITY:
        raise BadInputError(f"unknown endpoint definition {name!r}; expected 'primary' or one of "
                            f"{sorted(SENSITIVITY)}")
    return SENSITIVITY[name]


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
        raise BadInputError(f"more than one baseline (month 0) visit for patient(s) {', '.join(sorted(set(twice)))}")
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
    "DFS": "disease-free survival (first of relapse, primary non-response or death)",
    "REL": "relapse or primary non-response (competing event: death first)",
    "NRM": "non-relapse mortality (death without prior relapse or non-response; competing: those)",
    "TRM": "treatment-related mortality (competing event: death from other causes)",
    "CR": "first complete remission (competing event: death before CR)",
}


def analysis_origin(patients: pd.DataFrame, origin: str = "itt") -> tuple[pd.Series, pd.Series]:
    """Where each patient's clock starts: ``(origin column name, start date)``, indexed like ``patients``.

    ``origin="itt"`` (intention to treat): in a cohort where some enrolled patients were never
    transplanted (Burt 2006: two deaths after mobilisation, before transplant), every patient's clock
    starts at enrolment (= mobilisation), so that those deaths count; otherwise at the transplant.
    ``origin="transplant"``: day 0 is ``transplant_date`` (NaT for a patient never transplanted, who is
    outside this analysis set). See ``docs/endpoints.md`` ("Time origin").
    """
    if origin not in ORIGINS:
        raise BadInputError(f"time origin must be one of {ORIGINS}, got {origin!r}")
    if origin == "transplant":
        col = pd.Series("transplant_date", index=patients.index)
        return col, pd.to_datetime(patients["transplant_date"])
    never = patients["transplant_date"].isna().groupby(patients["cohort"]).transform("any")
    col = pd.Series(np.where(never, "enrol_date", "transplant_date"), index=patients.index)
    date = pd.to_datetime(patients["enrol_date"].where(never, patients["transplant_date"]))
    return col, date


#: The two ways treatment-related mortality is counted for an HSCT series (``docs/endpoints.md``):
#: ``treatment_related`` = deaths the source attributes to the treatment, of all enrolled (Burt 2006:
#: "Treatment-related mortality was 2% (1/50)", intention to treat); ``before_transplant`` = deaths
#: after mobilisation and before transplant, of all enrolled (our hypothesis for the seed's 4%).
TRM_COUNTS = ("treatment_related", "before_transplant")


def trm_counts(dead, transplanted, treatment_related) -> dict:
    """Treatment-related mortality counted both ways (:data:`TRM_COUNTS`), by intention to treat.

    Parameters
    ----------
    dead, transplanted, treatment_related : array-like of bool
        One value per enrolled patient: died; was transplanted; the death is attributed to the
        treatment by the source (missing = not attributed).

    Returns
    -------
    dict
        ``enrolled`` (the denominator of both), ``treatment_related``, ``before_transplant``.
    """
    dead = np.asarray(dead, dtype=bool)
    transplanted = np.asarray(transplanted, dtype=bool)
    trm = np.asarray(pd.array(treatment_related, dtype="boolean").fillna(False), dtype=bool)
    return {"enrolled": int(dead.size), "treatment_related": int((dead & trm).sum()),
            "before_transplant": int((dead & ~transplanted).sum())}


def competing_status(time_death, dead, time_relapse, relapsed):
    """First event of relapse vs death: ``(time, status)`` with status 1 relapse first, 2 death
    without prior relapse, 0 censored. A relapse on the day of death counts as the relapse."""
    dead = np.asarray(dead, dtype=bool)
    relapsed = np.asarray(relapsed, dtype=bool)
    time_death = np.asarray(time_death)
    time_relapse = np.asarray(time_relapse)
    first = relapsed & (~dead | (time_relapse <= time_death))
    return np.where(first, time_relapse, time_death), np.where(first, 1, np.where(dead, 2, 0))


def relapse_dates(visits: pd.DataFrame, events: pd.DataFrame, source: str = "both",
                  definition: RemissionDefinition = DEFINITION, classified: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """First relapse per patient, by the site (events) and by our definition (visits).

    Returns one row per patient with any relapse: ``patient_id``, ``event_date`` (first ``relapse``
    event the site recorded), ``visit_date`` (first visit meeting the relapse definition),
    ``relapse_date`` (by ``source``: ``events``, ``visits``, or ``both`` = the earlier of the two,
    the primary rule for every cohort) and ``lag_days`` (visit-derived minus site-recorded: the
    delay between the onset the site records and the visit that shows it).
    """
    if source not in RELAPSE_SOURCES:
        raise BadInputError(f"relapse source must be one of {RELAPSE_SOURCES}, got {source!r}")
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
    """Per cohort: relapses recorded by the site, found by our definition, both, and the lag.

    ``agreement`` is the share of relapses seen by both sources; ``lag_days_*`` summarise visit-derived
    minus site-recorded dates among relapses seen by both (days).
    """
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
        "lag_days_q1": g["lag_days"].quantile(0.25),
        "lag_days_q3": g["lag_days"].quantile(0.75),
        "lag_days_max": g["lag_days"].max(),
    })
    out = out.reindex(sorted(patients["cohort"].unique()))
    for c in ("relapses", "site_recorded", "visit_derived", "both", "same_date"):
        out[c] = out[c].fillna(0).astype(int)
    out["agreement"] = out["both"] / out["relapses"].where(out["relapses"] > 0)
    return out.reset_index()


def inclusion_check(patients: pd.DataFrame, visits: pd.DataFrame,
                    definition: RemissionDefinition = DEFINITION) -> pd.DataFrame:
    """Per cohort: patients whose baseline SLEDAI-2K meets the inclusion threshold.

    Refractory SLE for inclusion (Wang 2018, ``data/published/README.md``): SLEDAI >= 8 despite
    corticosteroids and immunosuppressants; the threshold is ``definition.refractory_sledai_min``.
    Returns ``cohort``, ``patients``, ``with_baseline`` (a month-0 visit), ``meeting_threshold``,
    ``below_threshold`` and ``baseline_sledai_min``.
    """
    base = visits.loc[visits["visit_month"] == 0, ["patient_id"]].copy()
    base["sledai"] = scores.sledai_2k(visits.loc[visits["visit_month"] == 0]).to_numpy()
    b = base.groupby("patient_id")["sledai"].first()
    p = patients[["patient_id", "cohort"]].copy()
    p["sledai"] = p["patient_id"].map(b)
    rows = []
    for cohort, g in p.groupby("cohort", sort=True):
        s = g["sledai"]
        rows.append({"cohort": cohort, "patients": len(g), "with_baseline": int(s.notna().sum()),
                     "meeting_threshold": int((s >= definition.refractory_sledai_min).sum()),
                     "below_threshold": int((s < definition.refractory_sledai_min).sum()),
                     "baseline_sledai_min": s.min()})
    return pd.DataFrame(rows)


def response_dates(classified: pd.DataFrame) -> pd.DataFrame:
    """First post-transplant response (CR or PR) per patient: ``patient_id``, ``response_month``
    (nominal), ``response_date``, ``response`` (``complete`` / ``partial``)."""
    r = classified.loc[(classified["visit_month"] > 0) & classified["remission"].isin(["complete", "partial"])]
    r = r.sort_values(["patient_id", "visit_month"]).groupby("patient_id", sort=True).first().reset_index()
    return r.rename(columns={"visit_month": "response_month", "visit_date": "response_date",
                             "remission": "response"})[["patient_id", "response_month", "response_date",
                                                        "response"]]


def primary_nonresponse(patients: pd.DataFrame, classified: pd.DataFrame,
                        endpoint_definition: EndpointDefinition = PRIMARY) -> pd.DataFrame:
    """Primary non-response per transplanted patient, at the response-assessment landmark.

    A patient is a primary non-responder when, alive and followed at ``transplant_date + L`` months
    (L = ``nonresponse_landmark_months``), no post-transplant visit with nominal month <= L showed a
    CR or PR, and at least one such visit was made (a patient never assessed is not counted).
    Returns ``patient_id``, ``landmark_date``, ``assessed`` (visits by the landmark), ``responded``
    and ``nonresponse`` (bool), indexed like the transplanted patients, sorted by patient.
    """
    L = endpoint_definition.nonresponse_landmark_months
    p = patients.loc[patients["transplant_date"].notna()].sort_values("patient_id")
    tx = pd.to_datetime(p["transplant_date"])
    landmark = tx + pd.to_timedelta(np.round(L * DAYS_PER_MONTH), unit="D")
    c = classified.loc[(classified["visit_month"] > 0) & (classified["visit_month"] <= L)]
    assessed = c.groupby("patient_id").size().reindex(p["patient_id"]).fillna(0).astype(int).to_numpy()
    resp = c.loc[c["remission"].isin(["complete", "partial"])].groupby("patient_id").size()
    responded = resp.reindex(p["patient_id"]).fillna(0).to_numpy() > 0
    end = pd.to_datetime(p["death_date"]).fillna(pd.to_datetime(p["last_contact_date"]))
    alive_at = (end >= landmark).to_numpy() & ~(pd.to_datetime(p["death_date"]) <= landmark).to_numpy()
    return pd.DataFrame({"patient_id": p["patient_id"].to_numpy(), "landmark_date": landmark.to_numpy(),
                         "assessed": assessed, "responded": responded,
                         "nonresponse": alive_at & (assessed > 0) & ~responded})


def time_to_event_table(patients: pd.DataFrame, visits: pd.DataFrame, events: pd.DataFrame,
                        definition: RemissionDefinition = DEFINITION,
                        relapse_source: str | None = None,
                        endpoint_definition: EndpointDefinition = PRIMARY) -> pd.DataFrame:
    """One row per patient per endpoint (OS, DFS, REL, NRM, TRM, CR) under one endpoint definition.

    Parameters
    ----------
    patients, visits, events : the clean tables of the data model.
    definition : the visit-level thresholds (:class:`RemissionDefinition`).
    relapse_source : optional override of ``endpoint_definition.relapse_source``.
    endpoint_definition : the patient-level rules (:data:`PRIMARY` by default; see
        :data:`SENSITIVITY`): relapse dating, primary non-response at the landmark, time origin.

    The clock starts at :func:`analysis_origin` (``endpoint_definition.origin``; with
    ``"transplant"`` the patients never transplanted are left out). Deaths come from
    ``patients.death_date``; first complete remission from the visits. Follow-up ends at death or
    ``last_contact_date``. DFS/REL/NRM count primary non-response (:func:`primary_nonresponse`) as a
    failure at the landmark when ``count_primary_nonresponse``.

    Returns
    -------
    DataFrame with ``patient_id``, ``cohort``, ``arm``, ``endpoint``, ``origin`` (the date column
    the clock starts from), ``start_date``, ``end_date``, ``time_months``, ``status``
    (0 censored, 1 event of interest, 2 competing event), ``event`` (1 if status == 1),
    ``event_desc``. Sorted by endpoint, cohort, patient.
    """
    ed = endpoint_definition
    if relapse_source is not None:
        ed = replace(ed, relapse_source=relapse_source)
    p = patients.set_index("patient_id")
    origin_col, start = analysis_origin(p, ed.origin)
    keep = start.notna()
    p, origin_col, start = p.loc[keep], origin_col.loc[keep], start.loc[keep]

    c = classify_visits(visits, definition)
    rel = relapse_dates(visits, events, ed.relapse_source, definition, classified=c).set_index(
        "patient_id")["relapse_date"].reindex(p.index)
    death = pd.to_datetime(p["death_date"])
    last = pd.to_datetime(p["last_contact_date"])
    end_fu = death.fillna(last)
    trm = p["death_treatment_related"].astype("boolean").fillna(False).astype(bool)
    cr_date = (c.loc[c["remission"] == "complete"].groupby("patient_id")["visit_date"].min()
               .reindex(p.index))
    nr = primary_nonresponse(p.reset_index(), c, ed).set_index("patient_id").reindex(p.index)
    nonresp = nr["nonresponse"].astype("boolean").fillna(False).to_numpy(dtype=bool) & ed.count_primary_nonresponse
    # a failure is the first of relapse and (if counted) primary non-response at the landmark
    fail_date = rel.to_numpy()
    fail_kind = np.where(rel.notna().to_numpy(), "relapse", "")
    nr_first = nonresp & (rel.isna().to_numpy() | (nr["landmark_date"].to_numpy() < fail_date))
    fail_date = np.where(nr_first, nr["landmark_date"].to_numpy(), fail_date)
    fail_kind = np.where(nr_first, "primary non-response", fail_kind)
    failed = pd.notna(fail_date)

    def rows(endpoint, end, status, desc):
        return pd.DataFrame({
            "patient_id": p.index, "cohort": p["cohort"].to_numpy(), "arm": p["arm"].to_numpy(),
            "endpoint": endpoint, "origin": origin_col.to_numpy(), "start_date": start.to_numpy(),
            "end_date": pd.to_datetime(end).to_numpy(), "status": np.asarray(status, dtype=int),
            "event_desc": np.asarray(desc, dtype=object)})

    dead = death.notna().to_numpy()
    dfs_end, rel_status = competing_status(end_fu.to_numpy(), dead, pd.to_datetime(fail_date).to_numpy(),
                                           failed)
    parts = [rows("OS", end_fu, dead, np.where(dead, "death", "censored"))]
    kind = np.where(rel_status == 1, fail_kind, np.where(rel_status == 2, "death", "censored"))
    parts.append(rows("DFS", dfs_end, rel_status > 0, kind))
    parts.append(rows("REL", dfs_end, rel_status,
                      np.where(rel_status == 2, "death without relapse", kind)))
    nrm_status = np.where(rel_status == 1, 2, np.where(rel_status == 2, 1, 0))
    parts.append(rows("NRM", dfs_end, nrm_status,
                      np.where(nrm_status == 1, "death without relapse", kind)))
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


def responder_rfs_table(patients: pd.DataFrame, visits: pd.DataFrame, events: pd.DataFrame,
                        definition: RemissionDefinition = DEFINITION,
                        endpoint_definition: EndpointDefinition = PRIMARY) -> pd.DataFrame:
    """Relapse-free survival among responders, from the date of first response (CR or PR).

    Only patients with a post-transplant response; the clock starts at the first response visit;
    the event is the first of relapse (``endpoint_definition.relapse_source``) or death. The usual
    remission-duration endpoint of responders (a sensitivity view of DFS; ``docs/endpoints.md``).
    Returns ``patient_id``, ``cohort``, ``arm``, ``response``, ``start_date``, ``end_date``,
    ``time_months``, ``status`` (1 relapse, 2 death without relapse, 0 censored), ``event``
    (relapse or death), ``event_desc``; sorted by cohort, patient.
    """
    c = classify_visits(visits, definition)
    r = response_dates(c).set_index("patient_id")
    p = patients.set_index("patient_id").loc[lambda d: d.index.isin(r.index)]
    r = r.reindex(p.index)
    rel = relapse_dates(visits, events, endpoint_definition.relapse_source, definition, classified=c
                        ).set_index("patient_id")["relapse_date"].reindex(p.index)
    rel = rel.where(rel > r["response_date"])  # a site record before the response date is not one
    death = pd.to_datetime(p["death_date"])
    end_fu = death.fillna(pd.to_datetime(p["last_contact_date"]))
    t_end, status = competing_status(end_fu.to_numpy(), death.notna().to_numpy(),
                                     pd.to_datetime(rel).to_numpy(), rel.notna().to_numpy())
    out = pd.DataFrame({
        "patient_id": p.index, "cohort": p["cohort"].to_numpy(), "arm": p["arm"].to_numpy(),
        "response": r["response"].to_numpy(), "start_date": r["response_date"].to_numpy(),
        "end_date": pd.to_datetime(t_end), "status": status.astype(int)})
    out["time_months"] = months_between(out["start_date"], out["end_date"])
    out["event"] = (out["status"] > 0).astype(int)
    out["event_desc"] = np.select([status == 1, status == 2], ["relapse", "death without relapse"], "censored")
    return out.sort_values(["cohort", "patient_id"]).reset_index(drop=True)[
        ["patient_id", "cohort", "arm", "response", "start_date", "end_date", "time_months", "status",
         "event", "event_desc"]]
