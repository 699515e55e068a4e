"""Analysis tables in the shape of CDISC ADaM: ``adsl``, ``adtte``, ``adlb`` (+ a data dictionary).

* ``adsl``: one row per patient: cohort, arm, baseline characteristics, analysis origin, follow-up,
  population flags (ITTFL all enrolled; SAFFL transplanted; EFFFL baseline and >= 1 follow-up visit).
* ``adtte``: one row per patient per endpoint (PARAMCD in OS, DFS, REL, NRM, TRM, CR) from
  :func:`sle_nb_utils.endpoints.time_to_event_table`: AVAL months from the analysis origin,
  CNSR 0 = event / 1 = censored, EVNTDESC, and STATUS 0/1/2 with CMPEVFL for competing events.
* ``adlb``: long format, one row per patient, visit and parameter (labs, SLEDAI-2K, eGFR): AVAL,
  BASE (the month-0 value), CHG, PCHG, ABLFL, AVALU. Its text columns are pandas Categoricals
  (13 rows per visit: 13M rows for 1M visits); pass ``observed=True`` when grouping by them.

:func:`load_analysis_tables` is what notebooks call: it cleans the raw exports and builds these
tables once, caching them in ``config.cache_dir()`` (outside the repository) under a key made of
the raw files' hashes and the code and resources that produce them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from . import config, datamodel, endpoints
from .errors import BadInputError

#: adlb parameters: PARAMCD -> (source column, PARAM, AVALU). SLEDAI and EGFR are derived.
LB_PARAMS = {
    "SLEDAI": (None, "SLEDAI-2K (computed from the 24 descriptors)", "points"),
    "SLEDAIRC": ("sledai_2k_total", "SLEDAI-2K as recorded by the site", "points"),
    "PROT": ("proteinuria_g_24h", "Proteinuria (g/24 h)", "g/24h"),
    "CREAT": ("creatinine_umol_l", "Serum creatinine (umol/L)", "umol/L"),
    "EGFR": (None, "eGFR, CKD-EPI 2021 (mL/min/1.73 m2)", "mL/min/1.73m2"),
    "ALB": ("albumin_g_l", "Serum albumin (g/L)", "g/L"),
    "C3": ("c3_g_l", "Complement C3 (g/L)", "g/L"),
    "C4": ("c4_g_l", "Complement C4 (g/L)", "g/L"),
    "DSDNA": ("anti_dsdna_iu_ml", "Anti-dsDNA (IU/mL)", "IU/mL"),
    "WBC": ("wbc_10e9_l", "White blood cells (10^9/L)", "10^9/L"),
    "PLAT": ("platelets_10e9_l", "Platelets (10^9/L)", "10^9/L"),
    "HGB": ("haemoglobin_g_l", "Haemoglobin (g/L)", "g/L"),
    "PRED": ("prednisone_mg_day", "Prednisone-equivalent dose (mg/day)", "mg/day"),
}

ADSL_COLUMNS = ["STUDYID", "USUBJID", "SITEID", "ARM", "SEX", "AGE", "AGEU", "DISDURM", "LNFL", "LNCLASS",
                "CELLSRC", "CELLDOSE", "CONDIT", "CD34FL", "ENRLDT", "TRSDT", "LSTCNDT", "DTHFL", "DTHDT",
                "DTHCAUS", "DTHTRFL", "ORIGIN", "ORIGDT", "FUPM", "NVISIT", "BSLEDAI", "BPROT", "BCREAT",
                "BEGFR", "BALB", "BC3", "BC4", "BDSDNA", "BPRED", "ITTFL", "SAFFL", "EFFFL"]
ADTTE_COLUMNS = ["STUDYID", "USUBJID", "ARM", "PARAMCD", "PARAM", "ORIGIN", "STARTDT", "ADT", "AVAL",
                 "AVALU", "CNSR", "STATUS", "CMPEVFL", "EVNTDESC"]
ADLB_COLUMNS = ["STUDYID", "USUBJID", "ARM", "PARAMCD", "PARAM", "AVALU", "AVISIT", "AVISITN", "ADT",
                "AVAL", "BASE", "CHG", "PCHG", "ABLFL"]

_CODE_FILES = ["cleaning.py", "readers.py", "datamodel.py", "schemas.py", "adam.py", "endpoints.py", "scores.py", "units.py"]


def _yn(x) -> np.ndarray:
    return np.where(np.asarray(x, dtype=bool), "Y", "N")


def data_dictionary() -> pd.DataFrame:
    """Every column of the clean and analysis tables: ``table, column, type, unit, description``."""
    with config.open_resource("data_dictionary.csv") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


# --------------------------------------------------------------------------------------------
def _egfr(visits: pd.DataFrame, patients: pd.DataFrame) -> np.ndarray:
    """eGFR (CKD-EPI 2021, ``scores.egfr_ckd_epi_2021``) at each visit; age at the visit = age at
    transplant + years since transplant (or enrolment). NaN without creatinine or under 18."""
    from . import scores

    p = patients.set_index("patient_id")
    pid = visits["patient_id"]
    ref = pid.map(p["transplant_date"].fillna(p["enrol_date"]))
    age = pid.map(p["age_at_transplant_years"]).to_numpy(float) + (
        (visits["visit_date"] - ref).dt.days.to_numpy(float) / 365.25)
    sex = pid.map(p["sex"]).to_numpy(object)
    cr = visits["creatinine_umol_l"].to_numpy(float)
    ok = np.isfinite(cr) & (cr > 0) & np.isfinite(age) & (age >= 0) & np.isin(sex, ["F", "M"])
    out = np.full(len(visits), np.nan)
    if ok.any():
        out[ok] = scores.egfr_ckd_epi_2021(cr[ok], age[ok], sex[ok])
    return out


def _sledai(visits: pd.DataFrame) -> np.ndarray:
    from . import scores

    return scores.sledai_2k(visits).to_numpy(dtype=float)


class _AdlbSource:
    """What every ``adlb`` row is taken from: the visits sorted by key, each parameter's value per
    visit, the baseline visit of each patient and the per-patient and per-month categories.
    Shared by :func:`build_adlb` (the whole table) and :func:`_adlb_blocks` (one PARAMCD at a time,
    for writing large tables without holding them in memory)."""

    def __init__(self, patients: pd.DataFrame, visits: pd.DataFrame):
        v = datamodel.sort_by_key("visits", visits)  # clean tables are already sorted: then this is free
        n = len(v)
        self.codes = list(LB_PARAMS)
        values = {}
        for code, (src, _, _) in LB_PARAMS.items():
            if code == "SLEDAI":
                values[code] = _sledai(v)
            elif code == "EGFR":
                values[code] = _egfr(v, patients)
            else:
                values[code] = v[src].to_numpy(dtype=float)
        self.values = values
        self.months = v["visit_month"].to_numpy()
        self.dates = v["visit_date"].to_numpy()
        # first month-0 record per patient is the baseline
        is_base = self.months == 0
        pid_codes, pid_uniques = pd.factorize(v["patient_id"])
        first_base = np.zeros(n, bool)
        if is_base.any():
            bi = np.flatnonzero(is_base)
            _, first_idx = np.unique(pid_codes[bi], return_index=True)
            first_base[bi[first_idx]] = True
        self.pid_codes, self.pid_uniques, self.first_base = pid_codes, pid_uniques, first_base
        # AVISIT categories: the months of the visits with at least one value
        any_value = np.zeros(n, bool)
        for c in self.codes:
            any_value |= ~np.isnan(values[c])
        self.month_values = np.unique(self.months[any_value])
        self.month_labels = ["Baseline" if m == 0 else f"Month {m}" for m in self.month_values]
        self.unit_cats = list(dict.fromkeys(LB_PARAMS[c][2] for c in self.codes))
        # per-patient attributes as categoricals built on the unique patients, then taken per row
        pat = patients.set_index("patient_id").reindex(pd.Index(pid_uniques))
        self.coh_codes, self.coh_cats = pd.factorize(pat["cohort"], sort=True)
        self.arm_codes, self.arm_cats = pd.factorize(pat["arm"], sort=True)

    def base(self, code: str) -> np.ndarray:
        """Each visit's patient's baseline value of ``code`` (NaN without one)."""
        b = np.full(len(self.pid_uniques), np.nan)
        fb = self.first_base
        b[self.pid_codes[fb]] = self.values[code][fb]
        return b[self.pid_codes]

    def frame(self, rep: np.ndarray, par: np.ndarray, aval: np.ndarray, base: np.ndarray) -> pd.DataFrame:
        """The ``adlb`` rows of visits ``rep`` (positions in the sorted visits) and parameters
        ``par`` (positions in ``LB_PARAMS``), with their values and baselines."""
        codes = self.codes
        chg = aval - base
        with np.errstate(divide="ignore", invalid="ignore"):
            pchg = np.where((base != 0) & ~np.isnan(base), 100.0 * chg / base, np.nan)
        months = self.months[rep]
        mcat = pd.Categorical.from_codes(np.searchsorted(self.month_values, months), self.month_labels) \
            if len(months) else pd.Categorical([])
        prow = self.pid_codes[rep]
        unit_idx = np.array([self.unit_cats.index(LB_PARAMS[c][2]) for c in codes])
        return pd.DataFrame({
            "STUDYID": pd.Categorical.from_codes(self.coh_codes[prow], self.coh_cats),
            "USUBJID": pd.Categorical.from_codes(prow, self.pid_uniques),
            "ARM": pd.Categorical.from_codes(self.arm_codes[prow], self.arm_cats),
            "PARAMCD": pd.Categorical.from_codes(par, codes),
            "PARAM": pd.Categorical.from_codes(par, [LB_PARAMS[c][1] for c in codes]),
            "AVALU": pd.Categorical.from_codes(unit_idx[par] if len(par) else par, self.unit_cats),
            "AVISIT": mcat,
            "AVISITN": months.astype("int64"),
            "ADT": self.dates[rep],
            "AVAL": aval, "BASE": base, "CHG": chg, "PCHG": pchg,
            "ABLFL": pd.Categorical.from_codes(self.first_base[rep].astype("int8"), ["", "Y"]),
        }, columns=ADLB_COLUMNS)

    def block(self, j: int) -> pd.DataFrame:
        """The rows of parameter ``self.codes[j]`` (in ``adlb`` order)."""
        code = self.codes[j]
        rep = np.flatnonzero(~np.isnan(self.values[code]))
        return self.frame(rep, np.full(len(rep), j, dtype=np.intp), self.values[code][rep], self.base(code)[rep])


def build_adlb(patients: pd.DataFrame, visits: pd.DataFrame) -> pd.DataFrame:
    """Long lab/score table: one row per patient, visit and parameter with a value.

    Rows are ordered by PARAMCD (in ``LB_PARAMS`` order), USUBJID and ADT. BASE is the value at the
    month-0 visit (ABLFL = "Y"); CHG = AVAL - BASE; PCHG = 100 * CHG / BASE (missing when BASE is 0
    or missing). Units: AVALU.
    """
    src = _AdlbSource(patients, visits)
    reps, pars, avals, bases = [], [], [], []
    for j, code in enumerate(src.codes):
        rep = np.flatnonzero(~np.isnan(src.values[code]))
        reps.append(rep)
        pars.append(np.full(len(rep), j, dtype=np.intp))
        avals.append(src.values[code][rep])
        bases.append(src.base(code)[rep])
    return src.frame(np.concatenate(reps), np.concatenate(pars), np.concatenate(avals), np.concatenate(bases))


def _adlb_blocks(patients: pd.DataFrame, visits: pd.DataFrame):
    """``adlb`` one PARAMCD at a time (each block in ``adlb`` order; concatenated they are
    :func:`build_adlb`), so that writing it never holds the 13 rows per visit in memory."""
    src = _AdlbSource(patients, visits)
    for j in range(len(src.codes)):
        yield src.block(j)


def build_adsl(patients: pd.DataFrame, visits: pd.DataFrame, adlb: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per patient with baseline characteristics and population flags.

    ``ORIGIN``/``ORIGDT`` are the primary analysis origin of ``adtte`` (``endpoints.PRIMARY.origin``,
    the transplant), or enrolment for a patient never transplanted; ``FUPM`` is months from it to
    death or last contact."""
    p = patients.sort_values("patient_id", ignore_index=True)
    # the primary analysis origin (endpoints.PRIMARY, as in adtte); a patient never transplanted, who
    # is outside the primary time-to-event set (SAFFL = "N"), keeps enrolment as origin
    origin_col, origin = endpoints.analysis_origin(p, endpoints.PRIMARY.origin)
    missing = origin.isna()
    origin_col = origin_col.where(~missing, "enrol_date")
    origin = origin.where(~missing, pd.to_datetime(p["enrol_date"]))
    end = p["death_date"].fillna(p["last_contact_date"])
    fupm = endpoints.months_between(origin, end)
    nvis = visits.groupby("patient_id").size().reindex(p["patient_id"]).fillna(0).astype(int).to_numpy()
    post = visits[visits["visit_month"] > 0].groupby("patient_id").size().reindex(p["patient_id"]).fillna(0)
    has_base = visits[visits["visit_month"] == 0].groupby("patient_id").size().reindex(p["patient_id"]).fillna(0)
    out = pd.DataFrame({
        "STUDYID": p["cohort"], "USUBJID": p["patient_id"], "SITEID": p["centre"], "ARM": p["arm"],
        "SEX": p["sex"], "AGE": p["age_at_transplant_years"], "AGEU": "YEARS",
        "DISDURM": p["disease_duration_months"], "LNFL": _yn(p["lupus_nephritis"].fillna(False)),
        "LNCLASS": p["nephritis_class"], "CELLSRC": p["cell_source"], "CELLDOSE": p["cell_dose_per_kg"],
        "CONDIT": p["conditioning"],
        "CD34FL": np.where(p["cd34_selected"].isna(), "", _yn(p["cd34_selected"].fillna(False))),
        "ENRLDT": p["enrol_date"], "TRSDT": p["transplant_date"], "LSTCNDT": p["last_contact_date"],
        "DTHFL": _yn(p["death_date"].notna()), "DTHDT": p["death_date"], "DTHCAUS": p["death_cause"],
        "DTHTRFL": np.where(p["death_treatment_related"].isna(), "",
                            _yn(p["death_treatment_related"].fillna(False))),
        "ORIGIN": origin_col.to_numpy(), "ORIGDT": origin.to_numpy(), "FUPM": fupm, "NVISIT": nvis,
    })
    adlb = build_adlb(p, visits) if adlb is None else adlb
    base = adlb[adlb["ABLFL"] == "Y"]
    bmap = {"BSLEDAI": "SLEDAI", "BPROT": "PROT", "BCREAT": "CREAT", "BEGFR": "EGFR", "BALB": "ALB",
            "BC3": "C3", "BC4": "C4", "BDSDNA": "DSDNA", "BPRED": "PRED"}
    for col, code in bmap.items():
        b = base[base["PARAMCD"] == code]
        out[col] = p["patient_id"].map(pd.Series(b["AVAL"].to_numpy(), index=b["USUBJID"].astype(object))).to_numpy(float)
    out["ITTFL"] = "Y"
    out["SAFFL"] = _yn(p["transplant_date"].notna())
    out["EFFFL"] = _yn((has_base.to_numpy() > 0) & (post.to_numpy() > 0))
    return out[ADSL_COLUMNS].reset_index(drop=True)


def build_adtte(patients: pd.DataFrame, visits: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """One row per patient per endpoint (OS, DFS, REL, NRM, TRM, CR), from
    ``endpoints.time_to_event_table``; CNSR = 1 - (STATUS == 1); CMPEVFL = "Y" for STATUS 2."""
    from . import endpoints

    t = endpoints.time_to_event_table(patients, visits, events)
    labels = endpoints.ENDPOINT_LABELS
    out = pd.DataFrame({
        "STUDYID": t["cohort"].to_numpy(), "USUBJID": t["patient_id"].to_numpy(), "ARM": t["arm"].to_numpy(),
        "PARAMCD": t["endpoint"].to_numpy(), "PARAM": t["endpoint"].map(labels).fillna(t["endpoint"]).to_numpy(),
        "ORIGIN": t["origin"].to_numpy(), "STARTDT": t["start_date"].to_numpy(),
        "ADT": t["end_date"].to_numpy(), "AVAL": t["time_months"].to_numpy(float), "AVALU": "MONTHS",
        "CNSR": np.where(t["status"].to_numpy() == 1, 0, 1).astype("int64"),
        "STATUS": t["status"].to_numpy().astype("int64"),
        "CMPEVFL": np.where(t["status"].to_numpy() == 2, "Y", "N"),
        "EVNTDESC": t["event_desc"].to_numpy(),
    })
    return out[ADTTE_COLUMNS]


#: File formats of the analysis tables: ``auto`` writes the tables in ``LARGE_TABLES`` as parquet and
#: the others as CSV; ``csv`` and ``parquet`` write every table in that format.
FORMATS = ("auto", "csv", "parquet")
#: Tables that ``auto`` writes as parquet: ``adlb`` has 13 rows per visit (13M rows, 1.8 GB of CSV
#: for 1M visits), which parquet writes several times faster and about 40 times smaller.
LARGE_TABLES = ("adlb",)


def table_format(name: str, fmt: str) -> str:
    """The file format (``csv`` or ``parquet``) of analysis table ``name`` under ``fmt`` (``FORMATS``)."""
    if fmt not in FORMATS:
        raise BadInputError(f"fmt must be one of {', '.join(map(repr, FORMATS))}, not {fmt!r}")
    if fmt == "auto":
        return "parquet" if name in LARGE_TABLES else "csv"
    return fmt


def _write_parts(parts, path: Path, fmt: str) -> int:
    """Write DataFrames with the same columns and dtypes (e.g. :func:`_adlb_blocks`) as one file at
    ``path`` (no suffix), one part in memory at a time. The file equals what writing their
    concatenation gives: :func:`readers.write_csv` for CSV, ``DataFrame.to_parquet(index=False)``
    for parquet. Returns the number of rows."""
    from .readers import write_csv_parts

    if fmt == "csv":
        return write_csv_parts(parts, path.with_suffix(".csv"))
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, n = None, 0
    try:
        for df in parts:
            table = pa.Table.from_pandas(df, preserve_index=False)  # as DataFrame.to_parquet(index=False)
            if writer is None:
                writer = pq.ParquetWriter(str(path.with_suffix(".parquet")), table.schema, compression="snappy")
            writer.write_table(table)
            n += len(df)
    finally:
        if writer is not None:
            writer.close()
    return n


def _write_table(df: pd.DataFrame, path: Path, fmt: str) -> None:
    from .readers import write_csv

    if fmt == "csv":
        write_csv(df, path.with_suffix(".csv"))
    else:
        df.to_parquet(path.with_suffix(".parquet"), index=False)


def _clean_tables(clean_dir_or_tables) -> dict:
    if isinstance(clean_dir_or_tables, dict):
        return {k: clean_dir_or_tables[k] for k in ("patients", "visits", "events")}
    return datamodel.read_clean_tables(clean_dir_or_tables)


def build_analysis_tables(clean_dir_or_tables, out_dir=None, fmt: str = "csv") -> dict[str, pd.DataFrame]:
    """ADaM-shaped analysis tables from the clean tables.

    Parameters
    ----------
    clean_dir_or_tables : str, Path or dict
        A folder written by ``clean`` (``patients.csv``, ``visits.csv``, ``events.csv``) or a dict
        of the clean DataFrames (e.g. ``CleaningResult.tables``).
    out_dir : str or Path, optional
        If given, write ``adsl``, ``adtte``, ``adlb`` and ``data_dictionary.csv`` there.
    fmt : {"csv", "parquet", "auto"}
        File format of the analysis tables (parquet keeps dtypes and is much faster for the
        13 rows per visit of ``adlb`` at large scale); ``auto``: ``adlb`` as parquet, the others as
        CSV (:func:`table_format`).

    Returns
    -------
    dict
        ``patients``, ``visits``, ``events`` (clean) and ``adsl``, ``adtte``, ``adlb``.

    See Also
    --------
    write_analysis_tables : the same files without holding ``adlb`` in memory (what ``build`` runs).
    """
    if out_dir is not None:
        for k in ("adsl", "adtte", "adlb"):
            table_format(k, fmt)  # a bad fmt fails before the work
    tables = _clean_tables(clean_dir_or_tables)
    p, v, e = tables["patients"], tables["visits"], tables["events"]
    adlb = build_adlb(p, v)
    out = dict(tables)
    out["adsl"] = build_adsl(p, v, adlb)
    out["adtte"] = build_adtte(p, v, e)
    out["adlb"] = adlb
    if out_dir is not None:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        from .readers import write_csv

        for k in ("adsl", "adtte", "adlb"):
            _write_table(out[k], d / k, table_format(k, fmt))
        write_csv(data_dictionary(), d / "data_dictionary.csv")
    return out


def write_analysis_tables(clean_dir_or_tables, out_dir, fmt: str = "auto") -> dict[str, int]:
    """Write ``adsl``, ``adtte``, ``adlb`` and ``data_dictionary.csv`` into ``out_dir``: the files
    :func:`build_analysis_tables` writes, but ``adlb`` is made and written one parameter at a time
    (:func:`_adlb_blocks`), so its 13 rows per visit are never all in memory (what ``build`` runs).

    Parameters
    ----------
    clean_dir_or_tables : str, Path or dict
        As in :func:`build_analysis_tables`.
    out_dir : str or Path
        Folder to write to (created).
    fmt : {"auto", "csv", "parquet"}
        Default ``auto``: ``adlb`` as parquet, ``adsl`` and ``adtte`` as CSV (:func:`table_format`).

    Returns
    -------
    dict
        Row counts: ``patients``, ``visits``, ``events``, ``adsl``, ``adtte``, ``adlb``.
    """
    formats = {k: table_format(k, fmt) for k in ("adsl", "adtte", "adlb")}
    tables = _clean_tables(clean_dir_or_tables)
    p, v, e = tables["patients"], tables["visits"], tables["events"]
    d = Path(out_dir)
    d.mkdir(parents=True, exist_ok=True)
    baseline = []  # the ABLFL = "Y" rows, all build_adsl reads of adlb

    def blocks():
        for b in _adlb_blocks(p, v):
            baseline.append(b[b["ABLFL"] == "Y"])
            yield b

    counts = {k: len(t) for k, t in tables.items()}
    n_adlb = _write_parts(blocks(), d / "adlb", formats["adlb"])
    adsl = build_adsl(p, v, pd.concat(baseline, ignore_index=True))
    _write_table(adsl, d / "adsl", formats["adsl"])
    counts["adsl"] = len(adsl)
    del adsl
    adtte = build_adtte(p, v, e)
    _write_table(adtte, d / "adtte", formats["adtte"])
    counts["adtte"] = len(adtte)
    counts["adlb"] = n_adlb
    from .readers import write_csv

    write_csv(data_dictionary(), d / "data_dictionary.csv")
    return counts


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------
def raw_fingerprint(raw_dir) -> str:
    """SHA-256 over the raw files (names and bytes, sorted) and the code and resources that turn
    them into analysis tables (with the user's extra settings, aliases and synonyms passed by
    ``run``, :func:`config.extra_resources <sle_nb_utils.config.extra_resources>`): any change to
    either gives a new cache entry."""
    h = hashlib.sha256()
    raw_dir = Path(raw_dir)
    for f in sorted(p for p in raw_dir.iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f.name.encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    for name in _CODE_FILES:
        f = config.PACKAGE_DIR / name
        h.update(name.encode() + hashlib.sha256(f.read_bytes()).digest())
    for name in config.resource_names():
        with config.open_resource(name) as fh:
            h.update(name.encode() + hashlib.sha256(fh.read()).digest())
    for kind, path in sorted(config.extra_resources().items()):  # a user's --settings/--aliases/--synonyms
        if path and Path(path).is_file():
            h.update(kind.encode() + hashlib.sha256(Path(path).read_bytes()).digest())
    return h.hexdigest()


def load_analysis_tables(data_dir=None, *, refresh: bool = False, cache_dir=None) -> dict[str, pd.DataFrame]:
    """Clean + analysis tables for a folder of raw exports, built once and cached.

    Parameters
    ----------
    data_dir : str or Path, optional
        Folder of raw exports; ``None`` = the bundled synthetic exports in ``data/raw``.
    refresh : bool
        Rebuild even if a cache entry exists.
    cache_dir : str or Path, optional
        Default :func:`config.cache_dir() <sle_nb_utils.config.cache_dir>`: ``$SLE_NB_UTILS_CACHE_DIR``
        (``run`` sets ``OUT/cache``), else ``$XDG_CACHE_HOME/sle_nb_utils``; never the repository.

    Returns
    -------
    dict
        ``patients``, ``visits``, ``events``, ``adsl``, ``adtte``, ``adlb``.
    """
    from .cleaning import clean_directory

    raw = config.bundled_dir("raw") if data_dir is None else Path(data_dir)
    if not raw.is_dir():
        raise BadInputError("raw data directory not found (run `make data` for the bundled data)",
                            file=str(raw))
    key = raw_fingerprint(raw)[:20]
    root = Path(cache_dir or config.cache_dir())
    entry = root / f"analysis-{key}"
    names = _CACHED
    if entry.is_dir() and not refresh and all((entry / f"{n}.parquet").exists() for n in names):
        out = {n: pd.read_parquet(entry / f"{n}.parquet") for n in names}
        for n in ("patients", "visits", "events"):
            out[n] = datamodel.conform(n, out[n])
        for n in ("adsl", "adtte"):  # parquet returns None for missing text; the builders use pd.NA
            for c in out[n].columns:
                if out[n][c].dtype == object and out[n][c].isna().any():
                    out[n][c] = out[n][c].where(out[n][c].notna(), pd.NA)
        return out
    result = clean_directory(raw)
    out = build_analysis_tables(result.tables)
    store_analysis_tables(raw, out, cache_dir=root)
    return out


_CACHED = ["patients", "visits", "events", "adsl", "adtte", "adlb"]


def store_analysis_tables(raw_dir, tables: dict, *, cache_dir=None) -> Path:
    """Write the cache entry of ``raw_dir`` (what :func:`load_analysis_tables` reads back).

    ``run`` calls this after cleaning the export once, so the notebooks do not clean it again.

    Parameters
    ----------
    raw_dir : str or Path
        The folder of raw exports the tables were made from (its fingerprint is the key).
    tables : dict
        What :func:`build_analysis_tables` returns for the clean tables: ``patients``, ``visits``,
        ``events``, ``adsl``, ``adtte``, ``adlb``.
    cache_dir : str or Path, optional
        Default :func:`config.cache_dir() <sle_nb_utils.config.cache_dir>`.

    Returns
    -------
    Path
        The entry folder (``analysis-<key>``), replaced atomically.
    """
    root = Path(cache_dir or config.cache_dir())
    entry = root / f"analysis-{raw_fingerprint(raw_dir)[:20]}"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        for n in _CACHED:
            tables[n].to_parquet(tmp / f"{n}.parquet", index=False)
        if entry.exists():
            shutil.rmtree(entry)
        os.replace(tmp, entry)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return entry
