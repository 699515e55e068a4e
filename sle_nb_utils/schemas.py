"""The data model (``docs/design.md``, "Data model") as code: column kinds, and pandera schemas that
validate clean tables.

Two layers:

* ``TABLES`` says, for each table (``patients``, ``visits``, ``events``), which columns exist, what
  kind each one is (``str``, ``label`` with a controlled vocabulary, ``float``, ``int``, ``bool``,
  ``nbool`` = nullable bool, ``date``), which are required in a raw export, and the row key.
  Cleaning (``sle_nb_utils.cleaning``) parses raw values into these kinds.
* :func:`table_schema` / :func:`cross_table_schemas` build pandera ``DataFrameSchema`` objects that
  encode types, plausible ranges (from ``resources/units.csv``), allowed values, one row per patient,
  visits after transplant and before death, and events in order. Failures become quarantine rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pandera.pandas as pa

from . import config
from .endpoints import DAYS_PER_MONTH
from .scores import SLEDAI_2K_DESCRIPTORS, SLEDAI_2K_WEIGHTS

#: SLEDAI-2K descriptors in the order of Gladman 2002 (weights 8, 4, 2, 1): :mod:`sle_nb_utils.scores`.
SLEDAI_DESCRIPTORS = list(SLEDAI_2K_DESCRIPTORS)

#: Laboratory and treatment columns of ``visits`` (canonical units in the names; docs/design.md).
LAB_COLUMNS = [
    "proteinuria_g_24h", "creatinine_umol_l", "albumin_g_l", "c3_g_l", "c4_g_l", "anti_dsdna_iu_ml",
    "wbc_10e9_l", "platelets_10e9_l", "haemoglobin_g_l", "prednisone_mg_day",
]

ARMS = ["HSCT", "MSCT"]
SEXES = ["F", "M"]
CELL_SOURCES = ["BM-MSC", "UC-MSC", "BM+UC-MSC", "autologous PBSC (CD34-selected)", "autologous PBSC"]
EVENTS = ["relapse", "death", "transplant_related_adverse_event"]
NOMINAL_MONTHS = [0, 1, 3, 6, 9, 12, 18, 24, 36, 48, 60]

#: Allowed values of the controlled-vocabulary (``label``) columns.
VOCABULARY = {"arm": ARMS, "sex": SEXES, "cell_source": CELL_SOURCES, "event": EVENTS}

#: column -> kind, per table; order is the output column order.
TABLES: dict[str, dict[str, str]] = {
    "patients": {
        "patient_id": "str", "cohort": "str", "arm": "label", "centre": "str", "cell_source": "label",
        "cell_dose_per_kg": "float", "conditioning": "str", "cd34_selected": "nbool", "sex": "label",
        "age_at_transplant_years": "float", "disease_duration_months": "float",
        "lupus_nephritis": "bool", "nephritis_class": "str", "enrol_date": "date",
        "transplant_date": "date", "last_contact_date": "date", "death_date": "date",
        "death_cause": "str", "death_treatment_related": "nbool",
    },
    "visits": {
        "patient_id": "str", "visit_date": "date", "visit_month": "int",
        **{d: "int" for d in SLEDAI_DESCRIPTORS}, "sledai_2k_total": "int",
        **{c: "float" for c in LAB_COLUMNS}, "immunosuppressants": "str",
    },
    "events": {"patient_id": "str", "event_date": "date", "event": "label", "detail": "str"},
}

#: Columns a raw export must have (a missing one stops the run); others are filled as missing.
REQUIRED = {
    "patients": ["patient_id", "cohort", "arm", "sex", "age_at_transplant_years", "enrol_date",
                 "transplant_date", "last_contact_date"],
    "visits": ["patient_id", "visit_date", "visit_month", *SLEDAI_DESCRIPTORS, "sledai_2k_total"],
    "events": ["patient_id", "event_date", "event"],
}

#: Columns that may be missing in a row (NA); any other missing value quarantines the row.
NULLABLE = {
    "patients": {"centre", "cell_source", "cell_dose_per_kg", "conditioning", "cd34_selected",
                 "disease_duration_months", "nephritis_class", "transplant_date", "death_date",
                 "death_cause", "death_treatment_related", "lupus_nephritis"},
    "visits": set(LAB_COLUMNS),  # labs may be "not measured"; SLEDAI-2K items must be recorded
    "events": set(),
}

#: Row key: two rows with the same key and different values are conflicting duplicates.
KEYS = {"patients": ["patient_id"], "visits": ["patient_id", "visit_date"],
        "events": ["patient_id", "event_date", "event"]}

#: Free-text columns where a missing value means "none" and is stored as "" (docs/design.md).
EMPTY_IS_NONE = {"immunosuppressants", "detail"}

#: Plausible ranges of the non-lab numeric columns (lab ranges come from resources/units.csv).
OTHER_RANGES = {
    "cell_dose_per_kg": (1e4, 1e10),          # cells/kg
    "age_at_transplant_years": (0.0, 100.0),  # years
    "disease_duration_months": (0.0, 900.0),  # months
    "visit_month": (0, 240),                  # months
    "sledai_2k_total": (0, 105),              # SLEDAI-2K range (Gladman 2002)
}

DTYPES = {"str": "object", "label": "object", "float": "float64", "int": "int64", "bool": "bool",
          "nbool": "boolean", "date": "datetime64[ns]"}


# --------------------------------------------------------------------------------------------
# plausibility rules: dates and totals that parse and lie in range, but cannot be right
# --------------------------------------------------------------------------------------------
#: Visit window: a follow-up visit of nominal month m (> 0) lies within max(1, m / 4) months of
#: origin + m months (origin: transplant, or enrolment without one). Month 1: 0-2 months; month 24:
#: 18-30 months. The bundled synthetic scheduled visits lie within 0.2 months of their nominal month;
#: a visit brought forward by a relapse lies inside its window (``synth._with_relapse_visit``).
VISIT_WINDOW_MIN_MONTHS = 1.0
VISIT_WINDOW_FRACTION = 0.25
#: A baseline (month-0) visit more than this many days before enrolment is not this treatment's baseline.
BASELINE_MAX_DAYS_BEFORE_ENROLMENT = 180

#: adtte endpoints (PARAMCD) and adlb that rows of each table feed.
_FEEDS = {"patients": ("OS", "DFS", "REL", "NRM", "TRM", "CR", "adlb"),
          "visits": ("DFS", "REL", "CR", "adlb"),
          "events": ("OS", "DFS", "REL", "NRM", "TRM")}


def table_endpoints() -> dict:
    """Clean table -> the adtte endpoints (PARAMCD) and ``adlb`` that its rows feed."""
    return dict(_FEEDS)


@dataclass(frozen=True)
class PlausibilityRule:
    """One named plausibility check: a failing row is quarantined with ``name`` as its reason.

    Attributes
    ----------
    name : str
        The check's name in the validation report and in the quarantine reason.
    table : str
        ``patients``, ``visits`` or ``events``.
    definition : str
        What passes, in words, with its stated parameter.
    """

    name: str
    table: str
    definition: str

    @property
    def endpoints(self) -> tuple:
        """Analysis endpoints (adtte PARAMCD) and tables that the quarantined rows would feed."""
        return _FEEDS[self.table]


PLAUSIBILITY_RULES = [
    PlausibilityRule("death on or after transplant", "patients",
                     "death_date is empty, or not before transplant_date (deaths after mobilisation and "
                     "before transplant have no transplant_date)"),
    PlausibilityRule("no date after the run date", "patients",
                     "enrol, transplant, last-contact and death dates are not after the day cleaning runs"),
    PlausibilityRule("recorded SLEDAI-2K total equals its descriptors", "visits",
                     "sledai_2k_total equals the weighted sum of the 24 descriptors (Gladman 2002)"),
    PlausibilityRule("visit date within its month's window", "visits",
                     f"follow-up visit of month m within max({VISIT_WINDOW_MIN_MONTHS:g}, m x "
                     f"{VISIT_WINDOW_FRACTION:g}) months of origin + m months"),
    PlausibilityRule("baseline visit not after transplant", "visits",
                     "a month-0 visit is on or before transplant_date"),
    PlausibilityRule("baseline visit not long before enrolment", "visits",
                     f"a month-0 visit is at most {BASELINE_MAX_DAYS_BEFORE_ENROLMENT} days before enrol_date"),
    PlausibilityRule("visit not after death", "visits", "visit_date is not after death_date"),
    PlausibilityRule("visit not after last contact", "visits", "visit_date is not after last_contact_date"),
    PlausibilityRule("no visit after the run date", "visits", "visit_date is not after the day cleaning runs"),
    PlausibilityRule("event not after last contact", "events", "event_date is not after last_contact_date"),
    PlausibilityRule("no event after the run date", "events", "event_date is not after the day cleaning runs"),
]


def plausibility_rules() -> pd.DataFrame:
    """The plausibility rules as a table: ``rule, table, definition, endpoints``."""
    return pd.DataFrame([dict(rule=r.name, table=r.table, definition=r.definition,
                              endpoints=", ".join(r.endpoints)) for r in PLAUSIBILITY_RULES])


def run_date() -> pd.Timestamp:
    """Today (the day cleaning runs): no recorded date can be later."""
    return pd.Timestamp.today().normalize()


def _months_from_origin(d: pd.DataFrame) -> pd.Series:
    return (d["visit_date"] - d["_start"]) / pd.Timedelta(days=1) / DAYS_PER_MONTH


def visit_window_months(month: float) -> tuple[float, float]:
    """The window of a follow-up visit of nominal ``month`` (> 0), in months from the origin:
    ``month -/+ max(VISIT_WINDOW_MIN_MONTHS, VISIT_WINDOW_FRACTION * month)``."""
    tol = max(VISIT_WINDOW_MIN_MONTHS, VISIT_WINDOW_FRACTION * month)
    return month - tol, month + tol


def _visit_in_window(d: pd.DataFrame) -> pd.Series:
    m = d["visit_month"].astype(float)
    tol = np.maximum(VISIT_WINDOW_MIN_MONTHS, VISIT_WINDOW_FRACTION * m)
    return (m == 0) | ((_months_from_origin(d) - m).abs() <= tol)


def _sledai_total_agrees(d: pd.DataFrame) -> pd.Series:
    """Recorded total = weighted descriptor sum; rows whose descriptors are not all 0/1 pass here
    (their own check quarantines them)."""
    valid = np.ones(len(d), bool)
    total = np.zeros(len(d))
    for c, w in SLEDAI_2K_WEIGHTS.items():  # column by column: no rows x 24 matrix (exact: 0/1 x integers)
        x = d[c].to_numpy(dtype=float)
        valid &= (x == 0.0) | (x == 1.0)
        total += w * x
    return pd.Series(~valid | (total == d["sledai_2k_total"].to_numpy(dtype=float)), index=d.index)


def _rule(name: str, fn) -> pa.Check:
    rule = {r.name: r for r in PLAUSIBILITY_RULES}[name]  # (a KeyError here is a typo in this module)
    return pa.Check(fn, name=rule.name, title=rule.definition)


@lru_cache(maxsize=None)
def unit_table() -> pd.DataFrame:
    """``resources/units.csv``: per column and unit, the factor to the canonical unit and the
    plausible range *in that unit* (used to infer units from magnitude and to validate)."""
    with config.open_resource("units.csv") as fh:
        t = pd.read_csv(fh, dtype={"column": str, "unit": str})
    return t


def canonical_range(column: str) -> tuple[float, float] | None:
    """Plausible (min, max) of ``column`` in its canonical unit, or None if unbounded."""
    t = unit_table()
    row = t[(t["column"] == column) & (t["factor"] == 1.0)]
    if len(row):
        return float(row["min"].iloc[0]), float(row["max"].iloc[0])
    return OTHER_RANGES.get(column)


def empty_table(table: str) -> pd.DataFrame:
    """An empty data-model table with the right dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=DTYPES[k]) for c, k in TABLES[table].items()})


def _column(table: str, name: str, kind: str) -> pa.Column:
    checks = []
    if kind == "label":
        checks.append(pa.Check.isin(VOCABULARY[name], name="allowed values", title="allowed values"))
    rng = canonical_range(name) if kind in ("float", "int") else None
    if rng is not None:
        checks.append(pa.Check.in_range(rng[0], rng[1], name="plausible range",
                                          title=f"plausible range {rng[0]:g}-{rng[1]:g}"))
    if name.startswith("sledai_") and name != "sledai_2k_total":
        checks.append(pa.Check.isin([0, 1], name="descriptor is 0/1", title="descriptor is 0/1"))
    if name == "visit_month":
        checks.append(pa.Check.isin(NOMINAL_MONTHS, name="nominal visit month", title="nominal visit month"))
    nullable = name in NULLABLE[table] or kind == "str" and name not in ("patient_id", "cohort")
    if kind == "int" and nullable:
        dtype = "Int64"
    else:
        dtype = DTYPES[kind]
    return pa.Column(dtype, checks=checks, nullable=nullable, coerce=False,
                     unique=(table == "patients" and name == "patient_id"))


@lru_cache(maxsize=None)
def table_schema(table: str) -> pa.DataFrameSchema:
    """pandera schema of one clean table: types, ranges, allowed values, one row per patient."""
    cols = {c: _column(table, c, k) for c, k in TABLES[table].items()}
    checks = []
    if table == "patients":
        # chronology of one patient: enrolment (mobilisation) <= transplant <= last contact; death
        # not before enrolment (docs/design.md: HSCT intention-to-treat starts at enrol_date)
        checks = [
            pa.Check(lambda d: d["transplant_date"].isna() | (d["transplant_date"] >= d["enrol_date"]),
                     name="transplant on or after enrolment"),
            pa.Check(lambda d: d["last_contact_date"] >= d["enrol_date"],
                     name="last contact on or after enrolment"),
            pa.Check(lambda d: d["death_date"].isna() | (d["death_date"] >= d["enrol_date"]),
                     name="death on or after enrolment"),
            _rule("death on or after transplant", lambda d: d["death_date"].isna()
                  | d["transplant_date"].isna() | (d["death_date"] >= d["transplant_date"])),
            _rule("no date after the run date", lambda d: pd.concat(
                [d[c].isna() | (d[c] <= run_date()) for c in
                 ("enrol_date", "transplant_date", "last_contact_date", "death_date")], axis=1).all(axis=1)),
        ]
    elif table == "visits":
        checks = [_rule("recorded SLEDAI-2K total equals its descriptors", _sledai_total_agrees)]
    return pa.DataFrameSchema(cols, checks=checks, strict=True, ordered=False,
                              name=f"{table} (docs/design.md, Data model)")


@lru_cache(maxsize=None)
def cross_table_schemas() -> dict[str, pa.DataFrameSchema]:
    """Schemas for rows joined with their patient's dates (``enrol_date``, ``transplant_date``,
    ``death_date``): visits after transplant (month > 0) and not after death; events in order."""
    visits = pa.DataFrameSchema(
        checks=[
            pa.Check(lambda d: (d["visit_month"] == 0) | (d["visit_date"] >= d["_start"]),
                     name="follow-up visit on or after transplant"),
            _rule("visit not after death", lambda d: d["death_date"].isna() | (d["visit_date"] <= d["death_date"])),
            _rule("visit date within its month's window", _visit_in_window),
            _rule("baseline visit not after transplant", lambda d: (d["visit_month"] != 0)
                  | d["transplant_date"].isna() | (d["visit_date"] <= d["transplant_date"])),
            _rule("baseline visit not long before enrolment", lambda d: (d["visit_month"] != 0) | (
                d["visit_date"] >= d["enrol_date"] - pd.Timedelta(days=BASELINE_MAX_DAYS_BEFORE_ENROLMENT))),
            _rule("visit not after last contact", lambda d: d["visit_date"] <= d["last_contact_date"]),
            _rule("no visit after the run date", lambda d: d["visit_date"] <= run_date()),
        ], name="visits within follow-up")
    events = pa.DataFrameSchema(
        checks=[
            pa.Check(lambda d: d["event_date"] >= d["enrol_date"], name="event on or after enrolment"),
            pa.Check(lambda d: d["death_date"].isna() | (d["event_date"] <= d["death_date"]),
                     name="event not after death"),
            pa.Check(lambda d: (d["event"] != "death") | (d["event_date"] == d["death_date"]),
                     name="death event on the patient's death date"),
            pa.Check(lambda d: (d["event"] != "relapse") | d["transplant_date"].isna()
                     | (d["event_date"] >= d["transplant_date"]),
                     name="relapse after transplant"),
            _rule("event not after last contact", lambda d: d["event_date"] <= d["last_contact_date"]),
            _rule("no event after the run date", lambda d: d["event_date"] <= run_date()),
        ], name="events in order")
    return {"visits": visits, "events": events}
