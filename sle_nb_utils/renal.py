"""Renal response in lupus nephritis by a named published criterion (EULAR/ERA-EDTA 2019).

Source: Fanouriakis A, Kostopoulou M, Cheema K, et al. "2019 Update of the Joint European League
Against Rheumatism and European Renal Association-European Dialysis and Transplant Association
(EULAR/ERA-EDTA) recommendations for the management of lupus nephritis". *Ann Rheum Dis*
2020;79:713-723.  The recommendations define the treatment goals:

- **complete renal response**: proteinuria below 0.5 g/24 h (UPCR < 50 mg/mmol) with normal or
  near-normal GFR ("within 10% of normal GFR if previously abnormal"), by 12 months;
- **partial renal response**: proteinuria reduced by at least 50% to subnephrotic levels with
  normal or near-normal GFR, preferably by 6 months and no later than 12 months.

Our reading, stated because the recommendation leaves it open: proteinuria is the 24-h collection
of the data model (g/24 h), "subnephrotic" is below 3.5 g/24 h, and "near-normal GFR" is an
eGFR (CKD-EPI 2021) of at least 90 mL/min/1.73 m2 or no more than 10% below the patient's own
baseline (without a baseline eGFR, e.g. under 18 at baseline, only the absolute threshold applies).
Every threshold is a field of :class:`RenalResponseCriterion`, printed by the notebook.

Who is assessed: patients with lupus nephritis (``LNFL == "Y"``) whose baseline proteinuria shows
active nephritis (>= 0.5 g/24 h).  Everyone else is listed with a reason (no nephritis; inactive at
baseline; no baseline proteinuria; no visit at the assessment month; no eGFR, because creatinine was
not measured or because CKD-EPI is not defined under 18 years).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["RenalResponseCriterion", "EULAR_ERA_EDTA_2019", "renal_response", "renal_response_summary",
           "renal_response_wide", "egfr_missing"]

CITATION = ("Fanouriakis A et al. 2019 Update of the joint EULAR and ERA-EDTA recommendations for the "
            "management of lupus nephritis. Ann Rheum Dis 2020;79:713-723")


@dataclass(frozen=True)
class RenalResponseCriterion:
    """Thresholds of a renal-response definition (defaults: EULAR/ERA-EDTA 2019, our reading)."""

    name: str = "EULAR/ERA-EDTA 2019"
    complete_proteinuria_below_g_24h: float = 0.5  # CR: proteinuria < this
    partial_min_fall_fraction: float = 0.5  # PR: proteinuria fallen by at least this fraction ...
    partial_proteinuria_below_g_24h: float = 3.5  # ... to subnephrotic levels (< this)
    egfr_normal_min: float = 90.0  # near-normal GFR: eGFR >= this (mL/min/1.73 m2) ...
    egfr_max_fall_fraction: float = 0.10  # ... or no more than this fraction below baseline eGFR
    active_proteinuria_min_g_24h: float = 0.5  # assessed: baseline proteinuria >= this
    assessment_month: int = 12  # visit at which response is assessed
    citation: str = CITATION

    def table(self) -> pd.DataFrame:
        """The thresholds as a two-column table for printing."""
        d = asdict(self)
        return pd.DataFrame({"parameter": list(d), "value": [str(v) for v in d.values()]})


EULAR_ERA_EDTA_2019 = RenalResponseCriterion()


def _age_at_visit(adsl: pd.DataFrame, pid, adt) -> np.ndarray:
    """Age (years) at a visit date, as :mod:`sle_nb_utils.adam` computes it for eGFR: age at
    transplant + (visit date - transplant date, or enrolment date without one) / 365.25."""
    s = adsl.assign(USUBJID=adsl["USUBJID"].astype(str)).set_index("USUBJID")
    pid = pd.Series(np.asarray(pid, dtype=object)).astype(str)
    ref = pd.to_datetime(pid.map(s["TRSDT"].fillna(s["ENRLDT"])))
    days = (pd.to_datetime(pd.Series(np.asarray(adt))) - ref).dt.days.to_numpy(float)
    return pid.map(s["AGE"]).to_numpy(float) + days / 365.25


def _param_wide(adlb: pd.DataFrame, codes) -> pd.DataFrame:
    a = adlb[adlb["PARAMCD"].isin(codes)]
    w = a.pivot_table(index=["USUBJID", "AVISITN"], columns="PARAMCD", values="AVAL", observed=True,
                      aggfunc="first")
    return w.reindex(columns=list(codes))


def renal_response(adsl: pd.DataFrame, adlb: pd.DataFrame,
                   criterion: RenalResponseCriterion = EULAR_ERA_EDTA_2019) -> pd.DataFrame:
    """Renal response of every patient at ``criterion.assessment_month``.

    Parameters
    ----------
    adsl, adlb : DataFrame
        Analysis tables of :func:`sle_nb_utils.adam.load_analysis_tables` (``adlb`` parameters
        PROT, EGFR, CREAT; ``adsl`` LNFL, AGE, STUDYID, ARM, DTHFL, FUPM).
    criterion : RenalResponseCriterion

    Returns
    -------
    DataFrame, one row per patient sorted by cohort and patient: ``STUDYID``, ``ARM``, ``USUBJID``,
    ``prot_base``, ``prot_visit`` (g/24 h), ``egfr_base``, ``egfr_visit`` (mL/min/1.73 m2),
    ``prot_fall_pct``, ``response`` (``complete`` / ``partial`` / ``no response`` / ``not
    assessed``) and ``reason`` (why a patient was not assessed; empty otherwise).
    """
    c = criterion
    m = c.assessment_month
    w = _param_wide(adlb, ["PROT", "EGFR", "CREAT"])
    s = adsl.sort_values(["STUDYID", "USUBJID"]).reset_index(drop=True)
    ids = s["USUBJID"].astype(str)

    def get(code, month):
        idx = pd.MultiIndex.from_arrays([ids, np.full(len(ids), month)])
        return w[code].reindex(idx).to_numpy(float)

    pb, pv = get("PROT", 0), get("PROT", m)
    eb, ev = get("EGFR", 0), get("EGFR", m)
    cv = get("CREAT", m)
    seen = pd.MultiIndex.from_arrays([ids, np.full(len(ids), m)]).isin(w.index)
    vis = adlb[(adlb["PARAMCD"] == "CREAT") & (adlb["AVISITN"] == m)]
    adt = pd.Series(vis["ADT"].to_numpy(), index=vis["USUBJID"].astype(str).to_numpy()) if "ADT" in vis else None
    if adt is not None and len(adt):
        age_at_visit = _age_at_visit(s, ids, ids.map(adt[~adt.index.duplicated()]).to_numpy())
        age_at_visit = np.where(np.isnan(age_at_visit), s["AGE"].to_numpy(float) + m / 12.0, age_at_visit)
    else:
        age_at_visit = s["AGE"].to_numpy(float) + m / 12.0
    ln = s["LNFL"].astype(str).eq("Y").to_numpy()
    dead = s["DTHFL"].astype(str).eq("Y").to_numpy()
    fup = s["FUPM"].to_numpy(float)
    reason = np.full(len(s), "", dtype=object)
    todo = np.ones(len(s), bool)

    def mark(mask, why):
        nonlocal todo
        mask = mask & todo
        reason[mask] = why
        todo = todo & ~mask

    mark(~ln, "no lupus nephritis")
    mark(np.isnan(pb), "no baseline proteinuria")
    mark(pb < c.active_proteinuria_min_g_24h,
         f"inactive at baseline (proteinuria < {c.active_proteinuria_min_g_24h:g} g/24 h)")
    mark(~seen & dead & (fup < m), f"died before month {m}")
    mark(~seen & (fup < m), f"follow-up shorter than {m} months")
    mark(~seen, f"no month-{m} visit")
    mark(np.isnan(pv), f"no proteinuria at month {m}")
    mark(np.isnan(ev) & np.isnan(cv), f"no eGFR at month {m}: creatinine not measured")
    mark(np.isnan(ev) & (age_at_visit < 18), "no eGFR: under 18 years (CKD-EPI 2021 not defined)")
    mark(np.isnan(ev), f"no eGFR at month {m}")
    assessed = todo
    near_normal = (ev >= c.egfr_normal_min) | (ev >= (1 - c.egfr_max_fall_fraction) * eb)
    with np.errstate(invalid="ignore", divide="ignore"):
        fall = (pb - pv) / pb
    complete = assessed & (pv < c.complete_proteinuria_below_g_24h) & near_normal
    partial = (assessed & ~complete & (fall >= c.partial_min_fall_fraction)
               & (pv < c.partial_proteinuria_below_g_24h) & near_normal)
    response = np.where(~assessed, "not assessed",
                        np.where(complete, "complete", np.where(partial, "partial", "no response")))
    out = pd.DataFrame({
        "STUDYID": s["STUDYID"].astype(str), "ARM": s["ARM"].astype(str), "USUBJID": ids,
        "prot_base": pb, "prot_visit": pv, "prot_fall_pct": 100 * fall, "egfr_base": eb, "egfr_visit": ev,
        "response": response, "reason": reason,
    })
    return out


def renal_response_summary(resp: pd.DataFrame, by: str = "STUDYID") -> pd.DataFrame:
    """Counts by ``by`` and response, with the percentage of the assessed patients.

    Returns
    -------
    DataFrame: ``by``, ``response``, ``n``, ``pct_of_assessed`` (NaN for ``not assessed``).
    """
    order = ["complete", "partial", "no response", "not assessed"]
    rows = []
    for g, d in resp.groupby(by, sort=True):
        n_ass = int((d["response"] != "not assessed").sum())
        for r in order:
            n = int((d["response"] == r).sum())
            rows.append({by: g, "response": r, "n": n,
                         "pct_of_assessed": (100 * n / n_ass if n_ass else np.nan) if r != "not assessed"
                         else np.nan})
    return pd.DataFrame(rows)


def renal_response_wide(resp: pd.DataFrame, by: str = "STUDYID", labels=None) -> pd.DataFrame:
    """:func:`renal_response_summary` in print form: one row per group (display names from
    ``labels``), counts per response, then the percentages of the assessed patients."""
    order = ["complete", "partial", "no response", "not assessed"]
    s = renal_response_summary(resp, by)
    s[by] = s[by].map(lambda c: (labels or {}).get(c, c))
    n = s.pivot(index=by, columns="response", values="n")[order]
    pct = s[s.response != "not assessed"].pivot(index=by, columns="response", values="pct_of_assessed")[order[:3]]
    out = n.join(pct.add_prefix("% of assessed: ").round(1))
    out.columns.name = None
    return out


def egfr_missing(adsl: pd.DataFrame, adlb: pd.DataFrame) -> pd.DataFrame:
    """Every patient with at least one visit without an eGFR, with the reason and the visits.

    Reasons: ``under 18 years (CKD-EPI 2021 not defined)`` when creatinine was measured but the
    patient was under 18 at the visit date (a patient 18 at transplant may be 17 at the baseline
    visit before it; age as :mod:`sle_nb_utils.adam` computes it); ``creatinine not measured``
    otherwise.

    Returns
    -------
    DataFrame sorted by cohort and patient: ``STUDYID``, ``USUBJID``, ``AGE``, ``reason``,
    ``n_visits`` (visits without eGFR), ``visit_months`` (text).
    """
    a = adlb[adlb["PARAMCD"].isin(["EGFR", "CREAT", "SLEDAI"])]
    key = a["USUBJID"].astype(str) + "|" + a["AVISITN"].astype(str)
    has = {c: set(key[a["PARAMCD"] == c]) for c in ("EGFR", "CREAT", "SLEDAI")}
    visits = a[a["PARAMCD"] == "SLEDAI"][["USUBJID", "AVISITN", "ADT"]].astype({"USUBJID": str})
    visits = visits.assign(k=visits.USUBJID + "|" + visits.AVISITN.astype(str))
    miss = visits[~visits.k.isin(has["EGFR"])].copy()
    age = adsl.assign(USUBJID=adsl["USUBJID"].astype(str)).set_index("USUBJID")["AGE"]
    under = _age_at_visit(adsl, miss.USUBJID, miss.ADT) < 18
    miss["reason"] = np.where(miss.k.isin(has["CREAT"]) & under,
                              "under 18 years (CKD-EPI 2021 not defined)", "creatinine not measured")
    rows = []
    coh = adsl.assign(USUBJID=adsl["USUBJID"].astype(str)).set_index("USUBJID")["STUDYID"].astype(str)
    for (pid, why), g in miss.groupby(["USUBJID", "reason"], sort=True):
        rows.append({"STUDYID": coh.get(pid, ""), "USUBJID": pid, "AGE": float(age.get(pid, np.nan)),
                     "reason": why, "n_visits": len(g),
                     "visit_months": ", ".join(str(int(m)) for m in sorted(g.AVISITN))})
    out = pd.DataFrame(rows, columns=["STUDYID", "USUBJID", "AGE", "reason", "n_visits", "visit_months"])
    return out.sort_values(["STUDYID", "USUBJID", "reason"]).reset_index(drop=True)
