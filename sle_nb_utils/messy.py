"""Turn clean truth tables into messy hospital exports, and list every defect injected.

:func:`write_raw_exports` writes the raw exports of four synthetic sites as hospitals send them
(CSV and Excel; per-site column names, units, date formats, encodings; duplicated rows, impossible
values, ...) and returns the *defect manifest*: one row per injected defect with the handling that
cleaning (``sle_nb_utils.cleaning``) must apply. The output is byte-deterministic for a seed.

The four sites (``resources/site_settings.csv`` tells cleaning their encoding and day/month order):

========  ===========================  ======================================================
site      cohort(s)                    export
========  ===========================  ======================================================
nanjing   msct_wang2013 (half)         CSV, UTF-8 with BOM; ISO and YYYY/MM/DD dates; Chinese
                                       labels; creatinine unit per row; proteinuria in mg/24 h
suzhou    msct_wang2013 (other half)   CSV; DD/MM/YYYY; albumin g/dL; C3/C4 mg/dL; creatinine
                                       in mg/dL without a unit (inferred from magnitude);
                                       proteinuria unit per row
chicago   hsct_burt2006                CSV, latin-1; MM/DD/YYYY; creatinine unit per row
                                       (mg/dL, some µmol/L); albumin g/dL; C3/C4 mg/dL
ebmt      hsct_ebmt2013 (+ others)     Excel workbook (read-me sheet, header on line 3 / 2,
                                       native and DD-Mon-YYYY dates) + ';'-separated visits
                                       CSV with DD.MM.YYYY dates and 'n.d.' for missing
========  ===========================  ======================================================

In code, each site is one row of ``SITE_EXPORTS`` (formats, units, the defects only that site has);
its raw headers are ``resources/synthetic_site_headers.csv`` and its whole-file defects
``resources/synthetic_file_defects.csv``. :func:`manifest_check` tells whether a cleaning run
handled every injected defect as the manifest says.

:func:`example_truth` makes small truth tables with the data-model columns (for tests and
benchmarks when ``sle_nb_utils.synth`` is not wanted).
"""

from __future__ import annotations

import functools
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from . import scores, units
from .schemas import LAB_COLUMNS, NOMINAL_MONTHS

# Unit factors (to the canonical unit; docs/design.md, "Clinical definitions"), from sle_nb_utils.units:
# creatinine 1 mg/dL = 88.4 µmol/L; albumin 1 g/dL = 10 g/L; C3/C4 1 g/L = 100 mg/dL; proteinuria 1 g = 1000 mg.
CREAT_MG_DL = units.CREATININE_UMOL_L_PER_MG_DL
ALB_G_DL = units.ALBUMIN_G_L_PER_G_DL
COMPLEMENT_MG_DL = 1.0 / units.COMPLEMENT_MG_DL_PER_G_L
PROT_MG = 1.0 / units.PROTEINURIA_MG_PER_G

MANIFEST_COLUMNS = ["file", "row", "column", "kind", "raw_value", "handling", "expected_value",
                    "expected_handling"]



# --------------------------------------------------------------------------------------------
# example truth (small, data-model shaped)
# --------------------------------------------------------------------------------------------
def example_truth(seed: int = 1, scale: float = 1.0) -> dict[str, pd.DataFrame]:
    """Small truth tables in the data model of ``docs/design.md`` (not calibrated; for tests/benchmarks).

    Parameters
    ----------
    seed : int
        Seed of the generator.
    scale : float
        Multiplies the cohort sizes (30, 20, 12 patients at scale 1, about 400 visit rows).

    Returns
    -------
    dict
        ``patients``, ``visits``, ``events`` DataFrames.
    """
    rng = np.random.default_rng(seed)
    sizes = {"msct_wang2013": 30, "hsct_burt2006": 20, "hsct_ebmt2013": 12}
    parts = []
    for cohort, n in sizes.items():
        n = max(2, int(round(n * scale)))
        p = pd.DataFrame({"patient_id": [f"{cohort[:4].upper()}{cohort[-4:]}-{i + 1:05d}" for i in range(n)]})
        p["cohort"] = cohort
        msct = cohort.startswith("msct")
        p["arm"] = "MSCT" if msct else "HSCT"
        if msct:
            p["centre"] = np.where(rng.random(n) < 0.7, "Nanjing Drum Tower Hospital", "Suzhou Partner Hospital")
            p["cell_source"] = rng.choice(["BM-MSC", "UC-MSC", "BM+UC-MSC"], n)
            p["cell_dose_per_kg"] = 1e6
            p["conditioning"] = "none"
            p["cd34_selected"] = pd.array([pd.NA] * n, dtype="boolean")
        else:
            burt = cohort == "hsct_burt2006"
            p["centre"] = "Northwestern University, Chicago" if burt else rng.choice(
                ["EBMT centre 01", "EBMT centre 02", "EBMT centre 03"], n)
            sel = np.ones(n, bool) if burt else rng.random(n) < 0.5
            p["cell_source"] = np.where(sel, "autologous PBSC (CD34-selected)", "autologous PBSC")
            p["cell_dose_per_kg"] = np.round(rng.uniform(2e6, 8e6, n), -3)
            p["conditioning"] = "CY200+ATG" if burt else rng.choice(["CY+ATG", "BEAM+ATG"], n)
            p["cd34_selected"] = pd.array(sel, dtype="boolean")
        p["sex"] = np.where(rng.random(n) < 0.88, "F", "M")
        p["age_at_transplant_years"] = np.round(rng.uniform(16, 55, n), 1)
        p["disease_duration_months"] = np.round(rng.uniform(6, 150, n), 1)
        ln = rng.random(n) < 0.6
        p["lupus_nephritis"] = ln
        p["nephritis_class"] = pd.Series(np.where(ln, rng.choice(["III", "IV", "V", "IV+V"], n), None),
                                         dtype=object).where(ln, None)
        start = pd.Timestamp("2007-03-01") if msct else pd.Timestamp("1997-01-01")
        enrol = start + pd.to_timedelta(rng.integers(0, 1400, n), unit="D")
        p["enrol_date"] = enrol
        tx = enrol + pd.to_timedelta(rng.integers(14, 60, n), unit="D")
        no_tx = np.zeros(n, bool)
        if cohort == "hsct_burt2006":
            no_tx[:2] = True  # docs/design.md: 2 Burt patients died after mobilisation, never transplanted
        p["transplant_date"] = pd.Series(tx).where(~no_tx, pd.NaT)
        fu_days = rng.integers(200, 1900, n)
        fu_days[no_tx] = 20
        base = pd.Series(tx).where(~no_tx, pd.Series(enrol))
        p["last_contact_date"] = base + pd.to_timedelta(fu_days, unit="D")
        dead = (rng.random(n) < 0.1) | no_tx
        p["death_date"] = p["last_contact_date"].where(dead, pd.NaT)
        p["death_cause"] = pd.Series(np.where(dead, rng.choice(["infection", "active SLE", "cardiac"], n), None),
                                     dtype=object).where(dead, None)
        p["death_treatment_related"] = pd.array(np.where(dead, no_tx, False), dtype="boolean")
        p.loc[~dead, "death_treatment_related"] = pd.NA
        parts.append(p)
    patients = pd.concat(parts, ignore_index=True)
    for c in ("enrol_date", "transplant_date", "last_contact_date", "death_date"):
        patients[c] = pd.to_datetime(patients[c]).astype("datetime64[ns]")

    # visits: nominal months up to last contact
    months = np.array(NOMINAL_MONTHS)
    start = patients["transplant_date"].fillna(patients["enrol_date"])
    fu = (patients["last_contact_date"] - start).dt.days.to_numpy()
    rep = np.repeat(np.arange(len(patients)), len(months))
    mon = np.tile(months, len(patients))
    vdate = start.to_numpy()[rep] + (np.round(mon * 30.44)).astype("timedelta64[D]")
    keep = (np.round(mon * 30.44) <= fu[rep])
    rep, mon, vdate = rep[keep], mon[keep], vdate[keep]
    m = len(rep)
    v = pd.DataFrame({"patient_id": patients["patient_id"].to_numpy()[rep],
                      "visit_date": pd.to_datetime(vdate).astype("datetime64[ns]"), "visit_month": mon})
    p_on = np.where(mon == 0, 0.25, 0.06)
    total = np.zeros(m, int)
    for d, w in scores.SLEDAI_2K_WEIGHTS.items():
        x = (rng.random(m) < p_on * (0.4 if w == 8 else 1.0)).astype("int64")
        v[d] = x
        total += w * x
    v["sledai_2k_total"] = total.astype("int64")
    v["proteinuria_g_24h"] = np.round(rng.lognormal(0.0, 0.8, m), 3)
    v["creatinine_umol_l"] = np.round(rng.lognormal(np.log(80), 0.3, m), 1)
    v["albumin_g_l"] = np.round(rng.uniform(20, 45, m), 1)
    v["c3_g_l"] = np.round(rng.uniform(0.3, 1.5, m), 2)
    v["c4_g_l"] = np.round(rng.uniform(0.05, 0.4, m), 3)
    v["anti_dsdna_iu_ml"] = np.round(rng.lognormal(3.5, 1.0, m), 1)
    v["wbc_10e9_l"] = np.round(rng.uniform(2.5, 10, m), 2)
    v["platelets_10e9_l"] = np.round(rng.uniform(60, 350, m), 0)
    v["haemoglobin_g_l"] = np.round(rng.uniform(80, 150, m), 0)
    v["prednisone_mg_day"] = np.round(rng.choice([5, 7.5, 10, 15, 20, 30], m), 1)
    for c in LAB_COLUMNS:
        v.loc[rng.random(m) < 0.08, c] = np.nan
    v["immunosuppressants"] = rng.choice(["", "cyclophosphamide", "mycophenolate mofetil",
                                          "hydroxychloroquine;mycophenolate mofetil"], m)
    v = v.sort_values(["patient_id", "visit_date"], ignore_index=True)

    # events: deaths on the death date, some relapses, some adverse events
    ev = []
    d = patients[patients["death_date"].notna()]
    ev.append(pd.DataFrame({"patient_id": d["patient_id"], "event_date": d["death_date"], "event": "death",
                            "detail": d["death_cause"].astype(str)}))
    alive_fu = patients[(fu > 200)]
    rel = alive_fu[rng.random(len(alive_fu)) < 0.3]
    rel_start = rel["transplant_date"].fillna(rel["enrol_date"])
    ev.append(pd.DataFrame({"patient_id": rel["patient_id"],
                            "event_date": rel_start + pd.to_timedelta(100, unit="D"),
                            "event": "relapse", "detail": "SLEDAI-2K rise"}))
    h = patients[(patients["arm"] == "HSCT") & patients["transplant_date"].notna()]
    h = h[rng.random(len(h)) < 0.3]
    ev.append(pd.DataFrame({"patient_id": h["patient_id"], "event_date": h["transplant_date"] + pd.Timedelta(days=10),
                            "event": "transplant_related_adverse_event", "detail": "febrile neutropenia"}))
    events = pd.concat(ev, ignore_index=True)
    events["event_date"] = events["event_date"].astype("datetime64[ns]")
    events = events.sort_values(["patient_id", "event_date", "event"], ignore_index=True)
    return {"patients": patients, "visits": v, "events": events}


# --------------------------------------------------------------------------------------------
# formatting helpers
# --------------------------------------------------------------------------------------------
def _fmt_date(s: pd.Series, fmt: str) -> pd.Series:
    """Dates as strings in ``fmt``; missing as None (written as the file's missing token)."""
    out = pd.to_datetime(s).dt.strftime(fmt)
    return out.astype(object).where(s.notna(), None)


def _fmt_bool(s: pd.Series, true: str, false: str) -> pd.Series:
    s = pd.Series(s, dtype="boolean")
    out = pd.Series(np.where(s.fillna(False).to_numpy(bool), true, false), index=s.index, dtype=object)
    return out.where(s.notna(), None)


def _na_str(s: pd.Series) -> pd.Series:
    """Object column with missing as None (so CSV writes the file's missing token)."""
    return s.astype(object).where(s.notna(), None)


class _Site:
    """Collects one export table, its row-level defects and extra rows, then numbers the lines."""

    def __init__(self, file: str, frame: pd.DataFrame, header_line: int, rename: dict[str, str]):
        self.file = file
        self.frame = frame.reset_index(drop=True)  # model column names; values already formatted
        self.header_line = header_line             # 1-based line of the header row
        self.rename = rename                       # model column -> raw header
        self.frame["_pos"] = np.arange(len(self.frame)) * 4.0
        self.defects: list[dict] = []              # row-level: refer to _pos
        self.extra: list[pd.DataFrame] = []

    def cell(self, idx, column, kind, raw_value, handling, expected_value, text):
        self.frame.at[idx, column] = raw_value
        self.defects.append(dict(_pos=self.frame.at[idx, "_pos"], column=column, kind=kind,
                                 raw_value=str(raw_value), handling=handling,
                                 expected_value=expected_value, expected_handling=text))

    def add_row(self, row: dict, after_idx: int, offset: float, column, kind, raw_value, handling,
                expected_value, text):
        pos = self.frame.at[after_idx, "_pos"] + offset
        r = pd.DataFrame([{**row, "_pos": pos}])
        self.extra.append(r)
        self.defects.append(dict(_pos=pos, column=column, kind=kind, raw_value=str(raw_value),
                                 handling=handling, expected_value=expected_value, expected_handling=text))

    def finish(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Final frame (raw headers, line order) and the row-level manifest with line numbers."""
        f = pd.concat([self.frame, *self.extra], ignore_index=True) if self.extra else self.frame
        f = f.sort_values("_pos", kind="stable", ignore_index=True)
        line = pd.Series(self.header_line + 1 + np.arange(len(f)), index=f["_pos"].to_numpy())
        man = pd.DataFrame(self.defects, columns=["_pos", "column", "kind", "raw_value", "handling",
                                                  "expected_value", "expected_handling"])
        man.insert(0, "row", line.loc[man["_pos"].to_numpy()].to_numpy().astype("int64"))
        man.insert(0, "file", self.file)
        man = man.drop(columns="_pos")
        f = f.drop(columns="_pos").rename(columns=self.rename)
        return f, man


def _patients_text(p: pd.DataFrame, date_fmt: str, nephritis_labels: tuple, bool_labels: tuple,
                   sex_labels: dict | None = None) -> pd.DataFrame:
    """A patients table written the site's way: its date format, yes/no labels and sex labels."""
    f = p.copy()
    if sex_labels is not None:
        f["sex"] = f["sex"].map(sex_labels)
    f["lupus_nephritis"] = _fmt_bool(f["lupus_nephritis"], *nephritis_labels)
    for c in ("cd34_selected", "death_treatment_related"):
        f[c] = _fmt_bool(f[c], *bool_labels)
    for c in ("enrol_date", "transplant_date", "last_contact_date", "death_date"):
        f[c] = _fmt_date(f[c], date_fmt)
    for c in ("nephritis_class", "death_cause"):
        f[c] = _na_str(f[c])
    return f


def _events_site(fname: str, e: pd.DataFrame, date_fmt: str, header_row: int, rename: dict) -> "_Site":
    """An events export: dates formatted the site's way, columns renamed to the site's headers."""
    f = e.copy()
    f["event_date"] = _fmt_date(e["event_date"], date_fmt)
    return _Site(fname, f, header_row, rename)


def _file_defect(file, column, kind, raw_value, handling, expected_value, text) -> dict:
    return dict(file=file, row=pd.NA, column=column, kind=kind, raw_value=raw_value, handling=handling,
                expected_value=expected_value, expected_handling=text)


# --------------------------------------------------------------------------------------------
# the writer
# --------------------------------------------------------------------------------------------
def _site_of(patients: pd.DataFrame) -> pd.Series:
    """Site of each patient: MSCT alternates nanjing/suzhou (sorted by id), Burt -> chicago,
    everything else -> ebmt."""
    site = pd.Series("ebmt", index=patients.index, dtype=object)
    msct = patients["cohort"].eq("msct_wang2013")
    order = patients.loc[msct, "patient_id"].rank(method="first").astype(int)
    site[order.index] = np.where(order % 2 == 1, "nanjing", "suzhou")
    site[patients["cohort"].eq("hsct_burt2006")] = "chicago"
    return site


def write_raw_exports(truth: dict, raw_dir: Path, seed: int) -> pd.DataFrame:
    """Write the truth as messy raw exports of four sites into ``raw_dir``; return the manifest.

    Parameters
    ----------
    truth : dict
        ``patients``, ``visits``, ``events`` DataFrames in the data model (``docs/design.md``).
    raw_dir : Path
        Output folder (created). Files: ``nanjing_{patients,visits,events}.csv``,
        ``suzhou_{patients,visits,events}.csv``, ``chicago_{patients,visits,events}.csv``,
        ``ebmt_registry.xlsx`` (sheets "Read me", "Patients", "Events") and ``ebmt_visits.csv``.
    seed : int
        Seed of the defect placement; same truth + seed gives byte-identical files.

    Returns
    -------
    pandas.DataFrame
        The defect manifest, one row per injected defect: ``file`` (as cleaning names it, e.g.
        ``ebmt_registry.xlsx[Patients]``), ``row`` (1-based line as a spreadsheet shows it; NA for a
        defect of the whole file or column), ``column`` (data-model column), ``kind``, ``raw_value``,
        ``handling`` (``corrected``, ``converted``, ``read``, ``dropped_duplicate``,
        ``quarantined``), ``expected_value`` and ``expected_handling`` (in words).
    """
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 4])
    P = truth["patients"].sort_values("patient_id", ignore_index=True)
    V = truth["visits"].sort_values(["patient_id", "visit_date"], ignore_index=True)
    E = truth["events"].sort_values(["patient_id", "event_date", "event"], ignore_index=True)
    site = _site_of(P)
    site_of_id = pd.Series(site.to_numpy(), index=P["patient_id"].to_numpy())
    manifest: list[pd.DataFrame] = []
    file_rows: list[dict] = []

    v_site = V["patient_id"].map(site_of_id)
    e_site = E["patient_id"].map(site_of_id)
    for s in ["nanjing", "suzhou", "chicago", "ebmt"]:
        p = P[site == s].reset_index(drop=True)
        v = V[v_site.eq(s)].reset_index(drop=True)
        e = E[e_site.eq(s)].reset_index(drop=True)
        if len(p) == 0:
            continue
        man, frows = _write_site(SITE_EXPORTS[s], p, v, e, P, V, raw_dir, rng)
        manifest.extend(man)
        file_rows.extend(frows)
    m = pd.concat([pd.DataFrame(file_rows, columns=MANIFEST_COLUMNS), *manifest], ignore_index=True)
    m["row"] = m["row"].astype("Int64")
    m = m.sort_values(["file", "row", "column", "kind"], na_position="first", kind="stable",
                      ignore_index=True)
    return m[MANIFEST_COLUMNS]


# ---- common pieces --------------------------------------------------------------------------
def _visit_frame(v: pd.DataFrame) -> pd.DataFrame:
    f = v.copy()
    for c in LAB_COLUMNS:
        f[c] = f[c].astype("float64")
    return f


def _free_visit_date(V: pd.DataFrame, P: pd.DataFrame, pid: str, date: pd.Timestamp, step: int) -> pd.Timestamp:
    """A date near ``date`` that is not one of the patient's truth visit dates, stays after
    transplant and on/before death and last contact."""
    taken = set(V.loc[V["patient_id"] == pid, "visit_date"])
    pr = P.loc[P["patient_id"] == pid].iloc[0]
    end = pr["death_date"] if pd.notna(pr["death_date"]) else pr["last_contact_date"]
    d = date
    for _ in range(400):
        d = d + pd.Timedelta(days=step)
        if d not in taken and d <= end:
            return d
        if d > end:
            step, d = -abs(step), date
    return date + pd.Timedelta(days=1)


def _row_defects_visits(site: _Site, v: pd.DataFrame, P: pd.DataFrame, V: pd.DataFrame, rng,
                        date_fmt: str, lab_raw: dict, n_dup: int = 2, fixed: dict | None = None,
                        unknown: str = "UNKNOWN-999"):
    """Row-level defects shared by every visits file. ``lab_raw[column](canonical_value)`` gives
    the raw (site-unit) value to write for an extra row; ``fixed`` sets cells of every extra row
    (e.g. the unit column that goes with ``lab_raw``)."""
    fixed = fixed or {}
    f = site.frame
    n = len(f)
    if n < 6:
        return
    post = np.flatnonzero(f["visit_month"].astype(int).to_numpy() > 0)
    picks = rng.choice(post if len(post) >= 8 else np.arange(n), size=8, replace=False)
    picks = [int(i) for i in picks]
    # stray spaces in patient_id
    i = picks[0]
    pid = v.at[i, "patient_id"]
    site.cell(i, "patient_id", "stray_spaces", f"  {pid} ", "corrected", pid,
              f"corrected to {pid} (spaces stripped)")
    # exact duplicates, written on the line after the original
    for i in picks[1:1 + n_dup]:
        row = f.loc[i].drop("_pos").to_dict()
        site.add_row(row, i, 1, "", "exact_duplicate", "(whole row)", "dropped_duplicate", "",
                     "dropped as exact duplicate")
    # conflicting duplicate: an unscheduled visit recorded twice with different creatinine
    i = picks[3]
    pid = v.at[i, "patient_id"]
    d = _free_visit_date(V, P, pid, v.at[i, "visit_date"], 3)
    row = f.loc[i].drop("_pos").to_dict()
    row["visit_date"] = d.strftime(date_fmt)
    row.update(fixed)
    row2 = dict(row)
    creat_col = "creatinine_umol_l"
    base = v.at[i, creat_col] if pd.notna(v.at[i, creat_col]) else 90.0
    row["creatinine_umol_l"] = lab_raw[creat_col](float(base))
    row2["creatinine_umol_l"] = lab_raw[creat_col](float(base) * 1.5)
    site.add_row(row, i, 2, "creatinine_umol_l", "conflicting_duplicate", row["creatinine_umol_l"],
                 "quarantined", "", "quarantined (conflicting duplicate of the same patient and visit date)")
    site.add_row(row2, i, 2.5, "creatinine_umol_l", "conflicting_duplicate", row2["creatinine_umol_l"],
                 "quarantined", "", "quarantined (conflicting duplicate of the same patient and visit date)")
    # impossible value: platelets negative on an unscheduled visit
    i = picks[4]
    pid = v.at[i, "patient_id"]
    row = f.loc[i].drop("_pos").to_dict()
    row["visit_date"] = _free_visit_date(V, P, pid, v.at[i, "visit_date"], 5).strftime(date_fmt)
    row["platelets_10e9_l"] = -40.0
    site.add_row(row, i, 3, "platelets_10e9_l", "impossible_value", -40.0, "quarantined", "",
                 "quarantined (platelets outside the plausible range)")
    # unparseable date (30 February)
    i = picks[5]
    row = f.loc[i].drop("_pos").to_dict()
    bad = {"%Y-%m-%d": "2011-02-30", "%Y/%m/%d": "2011/02/30", "%d/%m/%Y": "30/02/2011",
           "%m/%d/%Y": "02/30/2011", "%d.%m.%Y": "30.02.2011"}[date_fmt]
    row["visit_date"] = bad
    site.add_row(row, i, 3.25, "visit_date", "unparseable_date", bad, "quarantined", "",
                 "quarantined (date does not exist)")
    # missing patient id
    i = picks[6]
    row = f.loc[i].drop("_pos").to_dict()
    row["patient_id"] = None
    site.add_row(row, i, 3.5, "patient_id", "missing_key", "", "quarantined", "",
                 "quarantined (missing patient_id)")
    # unknown patient
    i = picks[7]
    row = f.loc[i].drop("_pos").to_dict()
    row["patient_id"] = unknown
    site.add_row(row, i, 3.75, "patient_id", "unknown_patient", unknown, "quarantined", "",
                 "quarantined (patient not in the patients table)")
    # a visit after death (if this site has a patient who died after at least one visit)
    dead = P[P["death_date"].notna() & P["patient_id"].isin(v["patient_id"])]
    if len(dead):
        pid = dead["patient_id"].iloc[0]
        idx = int(np.flatnonzero(v["patient_id"].to_numpy() == pid)[-1])
        row = f.loc[idx].drop("_pos").to_dict()
        dd = dead["death_date"].iloc[0] + pd.Timedelta(days=30)
        row["visit_date"] = dd.strftime(date_fmt)
        row["visit_month"] = int(f.at[idx, "visit_month"])
        site.add_row(row, idx, 1.5, "visit_date", "visit_after_death", row["visit_date"], "quarantined", "",
                     "quarantined (visit after the patient's death)")


def _common_event_defects(site: _Site, e: pd.DataFrame, p: pd.DataFrame, date_fmt, event_case=None):
    f = site.frame
    if len(f) == 0:
        return
    # event before enrolment: an extra relapse a year before enrolment of the first patient
    pid = e.at[0, "patient_id"]
    enrol = p.loc[p["patient_id"] == pid, "enrol_date"].iloc[0]
    row = f.loc[0].drop("_pos").to_dict()
    row["event_date"] = (enrol - pd.Timedelta(days=365)).strftime(date_fmt)
    row["event"] = "relapse" if event_case is None else event_case("relapse")
    row["detail"] = "flare recorded before enrolment"
    site.add_row(row, 0, 1, "event_date", "event_before_enrolment", row["event_date"], "quarantined", "",
                 "quarantined (event before enrolment)")


def _write_csv(frame: pd.DataFrame, path: Path, encoding: str, sep: str = ",", na_rep: str = "",
               preamble: str = "") -> None:
    text = frame.to_csv(index=False, sep=sep, na_rep=na_rep, lineterminator="\n")
    data = (preamble + text).encode(encoding)
    path.write_bytes(data)


# ---- the site table ----------------------------------------------------------------------------
# Each site's export is one row of SITE_EXPORTS: file names, encodings, date formats, labels and the
# units the site writes. The raw header of each data-model column, per site, is one row of
# resources/synthetic_site_headers.csv (cleaning maps them back through column_aliases.csv;
# tests/test_messy.py checks that every one does). One writer (_write_site) turns a site into
# files; the few defects that only one site has are small functions named in its row.
@functools.lru_cache(maxsize=None)
def site_headers(site: str, table: str) -> dict:
    """``{data-model column: raw header}`` of ``site``'s ``table`` export
    (``resources/synthetic_site_headers.csv``; a blank cell keeps the data-model name)."""
    from .config import open_resource

    with open_resource("synthetic_site_headers.csv") as fh:
        t = pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8")
    t = t[(t["table"] == table) & (t[site] != "")]
    return dict(zip(t["column"], t[site]))


@functools.lru_cache(maxsize=None)
def site_file_defects(site: str) -> list[tuple]:
    """Defects of a whole file or column of ``site``'s exports, as the manifest lists them
    (``resources/synthetic_file_defects.csv``: table or file, column, kind, raw value, handling,
    expected value, expected handling)."""
    from .config import open_resource

    with open_resource("synthetic_file_defects.csv") as fh:
        t = pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8")
    return [tuple(r) for r in t[t["site"] == site].drop(columns="site").itertuples(index=False)]


@dataclass(frozen=True)
class _UnitColumn:
    """A lab written in one of two units, the unit in its own column: a share ``share`` of rows
    (drawn at random) in ``drawn``, the others in ``other``; each unit is ``(label, divisor)`` with
    raw = canonical / divisor."""

    column: str
    unit_column: str
    share: float
    drawn: tuple
    other: tuple


@dataclass(frozen=True)
class SiteExport:
    """How one synthetic site writes its exports (see the module docstring's table)."""

    site: str
    dates: tuple                   # strftime date format of the patients, visits, events tables
    files: tuple = ()              # file names (``book.xlsx[Sheet]``); default ``<site>_<table>.csv``
    header_lines: tuple = (1, 1, 1)  # 1-based line of each table's header row
    encoding: str = "utf-8"        # of every CSV file of the site
    labels: tuple | None = None    # (nephritis yes/no, other booleans yes/no, sex labels or None);
    #                                None: native cells (the Excel workbook)
    visit_divisors: dict = field(default_factory=dict)  # lab -> divisor for the whole column
    unit_column: _UnitColumn | None = None
    immunosuppressant_separator: str = ";"
    visits_sep: str = ","
    visits_na: str = ""
    unknown_id: str = "UNKNOWN-999"
    workbook: str = ""             # patients and events are sheets of this workbook
    patient_defects: object = None  # f(site, p, rng): site-specific patient-table defects
    visit_defects: object = None    # f(site, p): after the shared visit defects
    event_defects: object = None    # f(site, e, rng): before the shared event defects
    event_before_enrolment: bool = True
    order: tuple = ("patients", "visits", "events")  # order of the random draws


def _nanjing_patients(sp: _Site, p: pd.DataFrame, rng) -> None:
    f = sp.frame
    if len(f) >= 3:
        i = int(rng.integers(0, len(f)))
        c = str(p.at[i, "centre"])
        sp.cell(i, "centre", "stray_spaces", f" {c}  ", "corrected", c, f"corrected to {c} (spaces stripped)")
        j = (i + 1) % len(f)
        sp.add_row(sp.frame.loc[j].drop("_pos").to_dict(), j, 1, "", "exact_duplicate", "(whole row)",
                   "dropped_duplicate", "", "dropped as exact duplicate")


def _suzhou_patients(sp: _Site, p: pd.DataFrame, rng) -> None:
    f = sp.frame
    if len(f) >= 3:
        i = int(rng.integers(0, len(f)))
        sx = str(p.at[i, "sex"])
        raw = {"F": "FEMALE", "M": "MALE"}[sx]
        sp.cell(i, "sex", "case_synonym", raw, "corrected", sx, f"corrected to {sx}")
        j = (i + 1) % len(f)
        arm = str(p.at[j, "arm"])
        sp.cell(j, "arm", "case", arm.lower(), "corrected", arm, f"corrected to {arm}")
        # an impossible patient (age 250) with one visit (_suzhou_visits): both quarantined
        row = sp.frame.loc[j].drop("_pos").to_dict()
        row.update(patient_id="SZ-IMPOSSIBLE-1", age_at_transplant_years=250.0)
        sp.add_row(row, j, 1, "age_at_transplant_years", "impossible_value", 250.0, "quarantined", "",
                   "quarantined (age outside the plausible range)")


def _suzhou_visits(sv: _Site, p: pd.DataFrame) -> None:
    if len(p) >= 3 and len(sv.frame):  # the impossible patient's visit
        row = sv.frame.loc[0].drop("_pos").to_dict()
        row["patient_id"] = "SZ-IMPOSSIBLE-1"
        sv.add_row(row, 0, 1, "patient_id", "orphan_of_quarantined_patient", "SZ-IMPOSSIBLE-1",
                   "quarantined", "", "quarantined (its patient is quarantined)")


def _chicago_patients(sp: _Site, p: pd.DataFrame, rng) -> None:
    if len(sp.frame) >= 3:
        i = int(rng.integers(0, len(sp.frame)))
        sx = str(p.at[i, "sex"])
        raw = {"F": " female ", "M": " MALE"}[sx]
        sp.cell(i, "sex", "case_spaces", raw, "corrected", sx, f"corrected to {sx}")


def _chicago_events(se: _Site, e: pd.DataFrame, rng) -> None:
    if len(e) >= 2:
        i = int(rng.integers(0, len(e)))
        ev = str(e.at[i, "event"])
        se.cell(i, "event", "case", ev.upper(), "corrected", ev, f"corrected to {ev}")


def _ebmt_patients(sp: _Site, p: pd.DataFrame, rng) -> None:
    if len(sp.frame) >= 2:
        i = int(rng.integers(0, len(sp.frame)))
        cs = str(p.at[i, "cell_source"])
        sp.cell(i, "cell_source", "case", cs.upper(), "corrected", cs, f"corrected to {cs}")


def _ebmt_events(se: _Site, e: pd.DataFrame, rng) -> None:
    if len(e) >= 2:
        i = int(rng.integers(0, len(e)))
        se.add_row(se.frame.loc[i].drop("_pos").to_dict(), i, 1, "", "exact_duplicate", "(whole row)",
                   "dropped_duplicate", "", "dropped as exact duplicate")


_US_UNITS = {"albumin_g_l": ALB_G_DL, "c3_g_l": COMPLEMENT_MG_DL, "c4_g_l": COMPLEMENT_MG_DL}

SITE_EXPORTS = {
    "nanjing": SiteExport(
        site="nanjing", encoding="utf-8-sig",
        dates=("%Y-%m-%d", "%Y/%m/%d", "%Y-%m-%d"),
        labels=(("是", "否"), ("yes", "no"), {"F": "女", "M": "男"}),
        visit_divisors={"proteinuria_g_24h": PROT_MG},
        unit_column=_UnitColumn("creatinine_umol_l", "creatinine_unit", 0.2, ("mg/dL", CREAT_MG_DL),
                                ("µmol/L", 1.0)),
        immunosuppressant_separator="; ", unknown_id="NJ-UNKNOWN-9", patient_defects=_nanjing_patients),
    "suzhou": SiteExport(
        site="suzhou",
        dates=("%d/%m/%Y", "%d/%m/%Y", "%d/%m/%Y"),
        labels=(("1", "0"), ("1", "0"), None),
        visit_divisors={**_US_UNITS, "creatinine_umol_l": CREAT_MG_DL},
        unit_column=_UnitColumn("proteinuria_g_24h", "proteinuria_unit", 0.3, ("mg/24h", PROT_MG),
                                ("g/24h", 1.0)),
        unknown_id="SZ-UNKNOWN-9", patient_defects=_suzhou_patients, visit_defects=_suzhou_visits),
    "chicago": SiteExport(
        site="chicago", encoding="latin-1",
        dates=("%m/%d/%Y", "%m/%d/%Y", "%m/%d/%Y"),
        labels=(("Yes", "No"), ("Yes", "No"), {"F": "Female", "M": "Male"}),
        visit_divisors=dict(_US_UNITS),
        unit_column=_UnitColumn("creatinine_umol_l", "creatinine_unit", 0.15, ("µmol/L", 1.0),
                                ("mg/dL", CREAT_MG_DL)),
        unknown_id="CH-UNKNOWN-9", patient_defects=_chicago_patients, event_defects=_chicago_events),
    "ebmt": SiteExport(
        site="ebmt", workbook="ebmt_registry.xlsx",
        dates=("", "%d.%m.%Y", "%d-%b-%Y"), header_lines=(3, 1, 2),
        files=("ebmt_registry.xlsx[Patients]", "ebmt_visits.csv", "ebmt_registry.xlsx[Events]"),
        visits_sep=";", visits_na="n.d.", unknown_id="EB-UNKNOWN-9", patient_defects=_ebmt_patients,
        event_defects=_ebmt_events, event_before_enrolment=False, order=("patients", "events", "visits"),
        # the visits CSV writes "n.d." for every missing lab: one manifest row per such cell would
        # duplicate the file; it is listed once (missing_token) and logged per cell by cleaning.
    ),
}


def _patients_native(p: pd.DataFrame) -> pd.DataFrame:
    """A patients table for an Excel sheet: native dates, booleans and numbers; missing as None."""
    f = p.copy()
    for c in ("nephritis_class", "death_cause"):
        f[c] = _na_str(f[c])
    for c in ("cd34_selected", "death_treatment_related"):
        f[c] = pd.Series(p[c], dtype="boolean").astype(object).where(p[c].notna(), None)
    f["lupus_nephritis"] = p["lupus_nephritis"].astype(bool)
    return f


def _visits_text(spec: SiteExport, v: pd.DataFrame, rng) -> pd.DataFrame:
    """A visits table in the site's date format and units (one random draw when a lab's unit
    varies by row)."""
    f = _visit_frame(v)
    f["visit_date"] = _fmt_date(v["visit_date"], spec.dates[1])
    for c, d in spec.visit_divisors.items():
        f[c] = f[c] / d
    u = spec.unit_column
    if u is not None:
        drawn = rng.random(len(f)) < u.share
        f[u.column] = np.where(drawn, f[u.column] / u.drawn[1], f[u.column] / u.other[1])
        f[u.unit_column] = np.where(drawn, u.drawn[0], u.other[0])
    if spec.immunosuppressant_separator != ";":
        f["immunosuppressants"] = f["immunosuppressants"].fillna("").str.replace(
            ";", spec.immunosuppressant_separator, regex=False)
    return f


def _extra_visit_units(spec: SiteExport) -> tuple[dict, dict]:
    """Creatinine of the visit rows that defects add, in the site's main unit: ``lab_raw`` and
    ``fixed`` for :func:`_row_defects_visits`."""
    u = spec.unit_column
    if u is not None and u.column == "creatinine_umol_l":
        div = u.other[1]
        return {"creatinine_umol_l": lambda x: x / div}, {u.unit_column: u.other[0]}
    div = spec.visit_divisors.get("creatinine_umol_l", 1.0)
    return {"creatinine_umol_l": lambda x: x / div}, {}


def _write_site(spec: SiteExport, p, v, e, P, V, raw_dir: Path, rng) -> tuple[list, list]:
    """Write one site's exports (its row of ``SITE_EXPORTS``); return its manifest parts."""
    names = ("patients", "visits", "events")
    files = dict(zip(names, spec.files or [f"{spec.site}_{t}.csv" for t in names]))
    frows = [_file_defect(files.get(t, t), *rest) for t, *rest in site_file_defects(spec.site)]
    done = {}
    for table in spec.order:
        k = names.index(table)
        file, fmt, line = files[table], spec.dates[k], spec.header_lines[k]
        headers = site_headers(spec.site, table)
        if table == "patients":
            f = _patients_text(p, fmt, *spec.labels) if spec.labels else _patients_native(p)
            site = _Site(file, f, line, headers)
            if spec.patient_defects:
                spec.patient_defects(site, p, rng)
        elif table == "visits":
            site = _Site(file, _visits_text(spec, v, rng), line, headers)
            lab_raw, fixed = _extra_visit_units(spec)
            _row_defects_visits(site, v, P, V, rng, fmt, lab_raw, fixed=fixed, unknown=spec.unknown_id)
            if spec.visit_defects:
                spec.visit_defects(site, p)
        else:
            site = _events_site(file, e, fmt, line, headers)
            if spec.event_defects:
                spec.event_defects(site, e, rng)
            if spec.event_before_enrolment:
                _common_event_defects(site, e, p, fmt)
        frame, man = site.finish()
        done[table] = man
        if spec.workbook and table != "visits":
            done[f"{table}_frame"] = frame
        else:
            sep, na = (spec.visits_sep, spec.visits_na) if table == "visits" else (",", "")
            _write_csv(frame, raw_dir / file, spec.encoding, sep=sep, na_rep=na)
    if spec.workbook:
        _write_workbook(raw_dir / spec.workbook, done["patients_frame"], done["events_frame"])
    return [done["patients"], done["visits"], done["events"]], frows


# --------------------------------------------------------------------------------------------
# did cleaning handle every injected defect?
# --------------------------------------------------------------------------------------------
#: Quarantine reason (a part of cleaning's text) expected for each kind of row-level defect injected here.
REASON_OF_KIND = {
    "conflicting_duplicate": "conflicting duplicate", "impossible_value": "plausible range",
    "unparseable_date": "cannot be parsed", "missing_key": "missing patient_id",
    "unknown_patient": "patient not in the patients table", "visit_after_death": "visit not after death",
    "orphan_of_quarantined_patient": "its patient is quarantined",
    "event_before_enrolment": "event on or after enrolment",
}


def manifest_check(result, manifest: pd.DataFrame) -> pd.DataFrame:
    """Was every injected defect handled as the defect manifest says?

    Parameters
    ----------
    result : sle_nb_utils.cleaning.CleaningResult
        A cleaning run on the exports that :func:`write_raw_exports` wrote.
    manifest : DataFrame
        The manifest of :func:`write_raw_exports` (``data/truth/defects.csv`` for the bundled data).

    Returns
    -------
    DataFrame
        The manifest with ``found`` (what cleaning did, in words) and ``handled`` (bool).
    """
    q = result.quarantine.groupby(["file", "row"])["reason"].agg("; ".join)
    dups = set(zip(result.duplicates["file"], result.duplicates["row"]))
    log = result.log
    inv = result.inventory.set_index("file")
    found, ok = [], []
    for d in manifest.itertuples():
        row = None if pd.isna(d.row) else int(d.row)
        f, good = "", False
        if d.handling == "quarantined":
            reason = q.get((d.file, row))
            f = f"quarantined: {reason}" if reason is not None else "not quarantined"
            good = reason is not None and REASON_OF_KIND.get(d.kind, "") in reason
        elif d.handling == "dropped_duplicate":
            good = (d.file, row) in dups
            f = "merged as exact duplicate" if good else "not merged"
        elif d.handling in ("corrected", "converted"):
            sel = log[(log["file"] == d.file) & (log["column"] == d.column)]
            if d.handling == "converted":
                sel = sel[sel["rule"].isin(["unit_conversion", "unit_inferred_from_magnitude"])]
                if d.kind == "unit_missing":
                    sel = sel[sel["rule"] == "unit_inferred_from_magnitude"]
            if row is not None:
                sel = sel[(sel["row"] == row) & (sel["new"] == str(d.expected_value))]
            good = len(sel) > 0
            f = f"{len(sel)} logged change(s) ({', '.join(sorted(set(sel['rule'])))})" if good else "no logged change"
        elif d.handling == "read":
            if d.file in inv.index:
                i = inv.loc[d.file]
                good = {"non_data_sheet": str(i["status"]).startswith("ignored"),
                        "header_offset": pd.notna(i["header_row"]) and int(i["header_row"]) > 1,
                        "encoding": i["encoding"] == "latin-1",
                        "bom": i["encoding"] == "utf-8-sig",
                        "delimiter": i["delimiter"] == ";",
                        "missing_token": bool(((log["file"] == d.file) & (log["rule"] == "missing_token")).any()),
                        "date_format": bool(((result.dates["file"] == d.file)
                                             & (result.dates["column"] == d.column)).any()),
                        }.get(d.kind, str(i["status"]) == "read")
                f = f"read ({i['status']}, header row {i['header_row']}, {i['encoding'] or 'no'} encoding)"
            else:
                f = "file not read"
        found.append(f)
        ok.append(bool(good))
    out = manifest.copy()
    out["found"] = found
    out["handled"] = ok
    return out


_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def _write_workbook(path: Path, patients: pd.DataFrame, events: pd.DataFrame) -> None:
    """The EBMT workbook: a read-me sheet, patients with the header on line 3, events with the
    header on line 2; native date cells for patient dates. Byte-deterministic (fixed document
    properties and zip timestamps)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Read me")
    ws.append(["EBMT registry extract - autoimmune diseases working party"])
    ws.append(["Synthetic pseudo-patients generated by sle_nb_utils; not real patient data."])
    ws.append(["Sheets: Patients (one row per patient), Events (one row per clinical event)."])
    ws = wb.create_sheet("Patients")
    ws.append(["EBMT registry extract: patients"])
    ws.append([])
    ws.append(list(patients.columns))
    _append_frame(ws, patients)
    ws = wb.create_sheet("Events")
    ws.append(["Dates as DD-Mon-YYYY"])
    ws.append(list(events.columns))
    _append_frame(ws, events)
    fixed = pd.Timestamp("2020-01-01").to_pydatetime()
    wb.properties.created = fixed
    wb.properties.modified = fixed
    wb.properties.creator = "sle_nb_utils.messy"
    buf = io.BytesIO()
    wb.save(buf)
    path.write_bytes(_deterministic_zip(buf.getvalue()))


def _append_frame(ws, frame: pd.DataFrame) -> None:
    cols = []
    for c in frame.columns:
        s = frame[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            cols.append([None if pd.isna(x) else x.to_pydatetime() for x in s])
        elif pd.api.types.is_float_dtype(s):
            cols.append([None if np.isnan(x) else float(x) for x in s.to_numpy()])
        elif pd.api.types.is_integer_dtype(s):
            cols.append([int(x) for x in s.to_numpy()])
        else:
            cols.append([None if (x is None or (isinstance(x, float) and np.isnan(x)) or x is pd.NA)
                         else (bool(x) if isinstance(x, (bool, np.bool_)) else x) for x in s.to_numpy()])
    for row in zip(*cols):
        ws.append(list(row))


def _deterministic_zip(data: bytes) -> bytes:
    """Rewrite an .xlsx zip with fixed entry timestamps and fixed core-property dates."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:)",
                                 rb"\g<1>2020-01-01T00:00:00Z\g<3>", content)
            zi = zipfile.ZipInfo(info.filename, date_time=_FIXED_TIME)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o600 << 16
            dst.writestr(zi, content)
    return out.getvalue()
