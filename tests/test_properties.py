"""Property-based tests (hypothesis): invariants that must hold for *any* valid input, not only for
the hand-picked cases of the other test files.

- unit conversions round-trip (``sle_nb_utils.units``, ``resources/units.csv``);
- the SLEDAI-2K total stays within 0-105 for any combination of descriptors (``scores.sledai_2k``);
- Kaplan-Meier is monotone non-increasing within [0, 1] (``stats.survival.kaplan_meier``);
- the Aalen-Johansen incidences of all causes plus the event-free Kaplan-Meier sum to 1
  (``stats.competing.aalen_johansen``);
- cleaning a raw export whose data rows are shuffled gives the same clean tables
  (``cleaning.clean_directory``).

Every test runs with a fixed, derandomised profile (``derandomize=True``, no example database,
no deadline), so a run draws the same examples every time and writes nothing into the repository.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from sle_nb_utils import cleaning, config, scores, units
from sle_nb_utils.schemas import KEYS
from sle_nb_utils.stats.competing import aalen_johansen
from sle_nb_utils.stats.survival import kaplan_meier


# hypothesis caches what it reads from the source files; keep that out of the repository
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "sle_nb_utils-hypothesis")


def profile(max_examples: int, shrink: bool = True) -> settings:
    """The fixed profile of this file: same examples at every run, nothing stored on disk.
    ``shrink=False`` reports the first failing example as drawn (for slow tests, where shrinking
    a failure would take minutes)."""
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    return settings(derandomize=True, max_examples=max_examples, deadline=None, database=None,
                    phases=phases,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------------------------
# unit conversions
# --------------------------------------------------------------------------------------------
#: Factor to the canonical unit, written from the definitions (docs/design.md, "Clinical
#: definitions", and the module constants of sle_nb_utils.units), independently of
#: resources/units.csv, which ``units.convert`` reads.
FACTOR_FROM_DEFINITIONS = {
    ("creatinine_umol_l", "mg/dl"): units.CREATININE_UMOL_L_PER_MG_DL,   # 1 mg/dL = 88.4 umol/L
    ("albumin_g_l", "g/dl"): units.ALBUMIN_G_L_PER_G_DL,                 # 1 g/dL = 10 g/L
    ("haemoglobin_g_l", "g/dl"): 10.0,                                   # 1 g/dL = 10 g/L
    ("c3_g_l", "mg/dl"): 1.0 / units.COMPLEMENT_MG_DL_PER_G_L,           # 1 g/L = 100 mg/dL
    ("c4_g_l", "mg/dl"): 1.0 / units.COMPLEMENT_MG_DL_PER_G_L,
    ("proteinuria_g_24h", "mg/24h"): 1.0 / units.PROTEINURIA_MG_PER_G,   # 1 g = 1000 mg
}
#: Canonical unit of each lab column (factor 1 by definition), as ``units.normalise_unit`` spells it.
CANONICAL = {"creatinine_umol_l": "umol/l", "proteinuria_g_24h": "g/24h", "albumin_g_l": "g/l",
             "c3_g_l": "g/l", "c4_g_l": "g/l", "anti_dsdna_iu_ml": "iu/ml", "wbc_10e9_l": "10^9/l",
             "platelets_10e9_l": "10^9/l", "haemoglobin_g_l": "g/l",
             "prednisone_mg_day": "mg/24h"}  # "mg/day" in units.csv; per day = per 24 h
#: Doses equivalent to 5 mg prednisone (Liu D et al., Allergy Asthma Clin Immunol 2013;9:30, Table 1).
EQUIVALENT_TO_5_MG_PREDNISONE = {"prednisone": 5.0, "prednisolone": 5.0, "methylprednisolone": 4.0,
                                 "triamcinolone": 4.0, "hydrocortisone": 20.0, "cortisone": 25.0,
                                 "dexamethasone": 0.75, "betamethasone": 0.6}

UNIT_ROWS = sorted((q, u) for q, per in units.unit_factors().items() for u in per)
values = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)  # > 0: a
# wrong factor cannot hide behind 0


@st.composite
def spellings(draw, unit: str) -> str:
    """The same unit as a site might write it: any letter case, spaces around '/', µ or μ for the
    u of umol, per day or per 24 hours."""
    if unit.endswith("/24h"):
        unit = unit[: -len("/24h")] + draw(st.sampled_from(["/24h", "/day", "/24hours", "/24hr"]))
    out = []
    for i, ch in enumerate(unit):
        if ch == "u" and i == 0 and draw(st.booleans()):  # umol/l
            ch = draw(st.sampled_from(["µ", "μ"]))
        elif ch.isalpha() and draw(st.booleans()):
            ch = ch.upper()
        if ch == "/" and draw(st.booleans()):
            ch = " / "
        out.append(ch)
    return draw(st.sampled_from(["", " "])) + "".join(out) + draw(st.sampled_from(["", " "]))


def test_unit_table_has_the_defined_units():
    """The independent definitions above name units that the unit table really holds."""
    assert set(FACTOR_FROM_DEFINITIONS) <= set(UNIT_ROWS)
    assert {(q, u) for q, u in CANONICAL.items()} <= set(UNIT_ROWS)


@pytest.mark.parametrize("row", UNIT_ROWS, ids=["-".join(r) for r in UNIT_ROWS])
@profile(15)
@given(x=values, data=st.data())
def test_unit_conversion_round_trips(row, x, data):
    """A canonical value written in any unit of the table (however spelled) converts back to itself,
    and the factor agrees with the definition where one is written down."""
    quantity, unit = row
    factor = FACTOR_FROM_DEFINITIONS.get(row, 1.0 if CANONICAL.get(quantity) == unit else None)
    if factor is None:  # a unit added to units.csv without a definition here: internal round trip
        factor = units.conversion_factor(quantity, unit)
    assert np.isfinite(factor) and factor > 0
    written = x / factor  # the canonical value x, expressed in `unit`
    spelled = data.draw(spellings(unit), label="spelling")
    back = units.convert([written], quantity, spelled)[0]
    assert back == pytest.approx(x, rel=1e-12, abs=1e-300)
    series = units.convert(pd.Series([written, x]), quantity, unit)
    assert series.iloc[0] == pytest.approx(x, rel=1e-12, abs=1e-300)


@profile(100)
@given(mg_dl=st.floats(min_value=0.0, max_value=100.0, allow_nan=False))
def test_creatinine_round_trips_through_both_code_paths(mg_dl):
    """mg/dL -> umol/L by the unit table (what cleaning uses) -> mg/dL by ``creatinine_mg_dl``
    (what eGFR uses) gives the value back."""
    umol_l = units.convert([mg_dl], "creatinine_umol_l", "mg/dL")[0]
    assert units.creatinine_mg_dl(umol_l) == pytest.approx(mg_dl, rel=1e-12, abs=1e-300)


@profile(100)
@given(a=st.sampled_from(sorted(EQUIVALENT_TO_5_MG_PREDNISONE)),
       b=st.sampled_from(sorted(EQUIVALENT_TO_5_MG_PREDNISONE)),
       dose=st.floats(min_value=0.0, max_value=2000.0, allow_nan=False))
def test_corticosteroid_equivalents_round_trip(a, b, dose):
    """An equivalent dose of another corticosteroid (Liu 2013, Table 1) is the same prednisone dose."""
    other = dose * EQUIVALENT_TO_5_MG_PREDNISONE[b] / EQUIVALENT_TO_5_MG_PREDNISONE[a]
    assert units.prednisone_equivalent_mg(other, b) == pytest.approx(
        units.prednisone_equivalent_mg(dose, a), rel=1e-12, abs=1e-300)
    assert units.prednisone_equivalent_mg(dose, a) == pytest.approx(
        dose * 5.0 / EQUIVALENT_TO_5_MG_PREDNISONE[a], rel=1e-12, abs=1e-300)


# --------------------------------------------------------------------------------------------
# SLEDAI-2K
# --------------------------------------------------------------------------------------------
#: Gladman 2002: 8 descriptors weigh 8, 6 weigh 4, 7 weigh 2, 3 weigh 1 (written independently
#: of scores.SLEDAI_2K_WEIGHTS; total 105).
GLADMAN_WEIGHT_COUNTS = {8: 8, 4: 6, 2: 7, 1: 3}
N_DESCRIPTORS = len(scores.SLEDAI_2K_DESCRIPTORS)


@profile(40)
@given(rows=st.lists(st.lists(st.integers(0, 1), min_size=N_DESCRIPTORS, max_size=N_DESCRIPTORS),
                     min_size=1, max_size=12),
       dtype=st.sampled_from(["int64", "float64", "bool"]),
       order=st.permutations(range(N_DESCRIPTORS)),
       data=st.data())
def test_sledai_total_within_0_105(rows, dtype, order, data):
    """Any combination of present/absent descriptors, in any column order and dtype, scores an
    integer within 0-105; adding a descriptor raises the total by its weight."""
    assert sum(w * n for w, n in GLADMAN_WEIGHT_COUNTS.items()) == scores.SLEDAI_2K_MAX == 105
    cols = [scores.SLEDAI_2K_DESCRIPTORS[j] for j in order]
    m = np.array(rows)[:, order]
    visits = pd.DataFrame(m, columns=cols).astype(dtype)
    visits["sledai_2k_total"] = -1  # an extra column is ignored
    total = scores.sledai_2k(visits)
    assert total.dtype.kind == "i"
    assert ((total >= 0) & (total <= 105)).all()
    canonical = scores.sledai_2k(visits[list(scores.SLEDAI_2K_DESCRIPTORS)].astype("int64"))
    pd.testing.assert_series_equal(total, canonical)  # descriptors are found by name, not position
    assert list(total[m.sum(axis=1) == 0]) == [0] * int((m.sum(axis=1) == 0).sum())
    # add one absent descriptor to the first visit: the total rises by a Gladman weight
    absent = [c for c in cols if visits.at[0, c] == 0]
    if absent:
        c = data.draw(st.sampled_from(absent), label="added descriptor")
        more = visits.copy()
        more[c] = more[c].astype("int64")
        more.loc[0, c] = 1
        rise = int(scores.sledai_2k(more).iloc[0] - total.iloc[0])
        assert rise in GLADMAN_WEIGHT_COUNTS
        assert int(scores.sledai_2k(more).iloc[0]) <= 105


def test_sledai_all_present_is_105():
    every = pd.DataFrame([[1] * N_DESCRIPTORS], columns=list(scores.SLEDAI_2K_DESCRIPTORS))
    assert scores.sledai_2k(every).tolist() == [105]


# --------------------------------------------------------------------------------------------
# Kaplan-Meier and Aalen-Johansen
# --------------------------------------------------------------------------------------------
#: Times from a small grid (many ties) or anywhere in 0-120 months.
times = st.one_of(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.0, 6.0, 12.0, 24.0]),
                  st.floats(min_value=0.0, max_value=120.0, allow_nan=False, allow_infinity=False))


@st.composite
def survival_data(draw, n_causes: int = 1):
    """``(time, status, entry)``: 1-40 subjects; status 0 (censored) or a cause 1..n_causes, with
    all-censored and all-event samples as likely as mixed ones; entry None or late entry < time."""
    n = draw(st.integers(1, 40))
    t = np.array(draw(st.lists(times, min_size=n, max_size=n)))
    mode = draw(st.sampled_from(["mixed", "all censored", "all events"]))
    if mode == "all censored":
        s = np.zeros(n, dtype=int)
    elif mode == "all events":
        s = np.array(draw(st.lists(st.integers(1, n_causes), min_size=n, max_size=n)))
    else:
        s = np.array(draw(st.lists(st.integers(0, n_causes), min_size=n, max_size=n)))
    entry = None
    if draw(st.booleans()):
        t = t + 0.25  # late entry needs exit > entry >= 0
        frac = np.array(draw(st.lists(st.floats(0.0, 0.99), min_size=n, max_size=n)))
        entry = t * frac
    return t, s, entry


def check_km_curve(km: pd.DataFrame) -> None:
    surv = km["surv"].to_numpy()
    assert np.isfinite(surv).all()
    assert ((surv >= 0.0) & (surv <= 1.0)).all(), surv
    assert (np.diff(surv) <= 0.0).all(), surv
    assert (np.diff(km["time"].to_numpy()) > 0).all()


#: Edge cases always run first: a single subject (event / censored), all censored with ties, every
#: subject failing at one tied time, ties of events and censorings, an event at time 0.
EDGE_CASES = [
    (np.array([3.0]), np.array([1]), None),
    (np.array([3.0]), np.array([0]), None),
    (np.array([2.0, 2.0, 5.0, 5.0]), np.array([0, 0, 0, 0]), None),
    (np.array([4.0, 4.0, 4.0]), np.array([1, 1, 1]), None),
    (np.array([0.0, 1.0, 1.0, 1.0, 6.0]), np.array([1, 1, 0, 1, 0]), None),
    (np.array([2.0, 3.0, 3.0]), np.array([1, 0, 1]), np.array([0.0, 2.5, 1.0])),
]


def with_edge_cases(test):
    for sample in EDGE_CASES:
        test = example(data=sample, grouped=False)(test)
    return test


@profile(60)
@with_edge_cases
@given(data=survival_data(), grouped=st.booleans())
def test_kaplan_meier_is_monotone_within_0_1(data, grouped):
    """For any times and events (ties, all censored, a single subject, late entry), S(t) is a
    non-increasing step function within [0, 1], equal to 1 while no event has occurred."""
    t, e, entry = data
    if grouped:
        group = np.where(np.arange(t.size) % 2 == 0, "a", "b")
        km = kaplan_meier(t, e, group=group, entry=entry)
        for _, g in km.groupby("group"):
            check_km_curve(g)
        return
    km = kaplan_meier(t, e, entry=entry)
    check_km_curve(km)
    assert len(km) == np.unique(t).size
    before_first = km["time"] < (t[e == 1].min() if e.any() else np.inf)
    assert (km.loc[before_first, "surv"] == 1.0).all()
    if entry is None and e.all():  # everybody had the event: the curve ends at 0
        assert km["surv"].iloc[-1] == 0.0


def with_competing_edge_cases(test):
    for t, e, entry in EDGE_CASES:
        test = example(sample=(t, e, entry))(test)  # one cause
        test = example(sample=(t, e * (1 + np.arange(e.size) % 3), entry))(test)  # three causes
    return test


@profile(50)
@with_competing_edge_cases
@given(sample=survival_data(n_causes=3))
def test_aalen_johansen_cifs_and_event_free_survival_sum_to_1(sample):
    """For any times and cause codes 1-3 (ties, all censored, a single subject, late entry), the
    incidences of every cause plus the all-cause Kaplan-Meier survival are 1 at every time, and each
    incidence is non-decreasing within [0, 1]."""
    t, s, entry = sample
    km = kaplan_meier(t, (s != 0).astype(int), entry=entry)
    total = km["surv"].to_numpy().copy()
    for cause in (1, 2, 3):  # causes absent from the sample included (incidence 0)
        aj = aalen_johansen(t, s, cause=cause, entry=entry)
        np.testing.assert_array_equal(aj["time"].to_numpy(), km["time"].to_numpy())
        cif = aj["cif"].to_numpy()
        assert np.isfinite(cif).all() and ((cif >= 0) & (cif <= 1 + 1e-12)).all(), cif
        assert (np.diff(cif) >= 0).all(), cif
        total += cif
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------------
# cleaning does not depend on row order
# --------------------------------------------------------------------------------------------
#: A small raw export: two sites of the bundled data (Chicago: US dates, quoted fields; Nanjing: a
#: UTF-8 BOM, Chinese headers, ISO dates), about 0.6 s per cleaning run; all four sites take ~1.5 s.
SITES = ("chicago", "nanjing")
#: Their CSV files, whose data rows are shuffled (header on the first line; records found by quote
#: parity, so a quoted field with a line break would stay whole).
SHUFFLABLE = sorted(p.name for site in SITES for p in config.RAW_DIR.glob(f"{site}_*.csv"))


def records(raw: bytes) -> tuple[bytes, list[bytes]]:
    """Header line and data records of a CSV file (a record spans lines while its quotes are open)."""
    lines = raw.rstrip(b"\n").split(b"\n")
    recs: list[bytes] = []
    for line in lines:
        if recs and recs[-1].count(b'"') % 2 == 1:
            recs[-1] += b"\n" + line
        else:
            recs.append(line)
    return recs[0], recs[1:]


def sorted_table(df: pd.DataFrame, table: str) -> pd.DataFrame:
    keys = KEYS[table] + [c for c in df.columns if c not in KEYS[table]]
    return df.sort_values(keys, kind="mergesort", na_position="last").reset_index(drop=True)


def without_rows(text: pd.Series) -> list[str]:
    return sorted(text.astype(str).str.replace(r"row \d+", "row N", regex=True))


class Reference(tuple):
    """``(raw_dir, CleaningResult)`` with a one-line repr (hypothesis prints it on failure)."""

    def __repr__(self) -> str:
        return f"Reference(raw_dir={self[0].name!r}, sites={SITES!r})"


@pytest.fixture(scope="module")
def bundled_clean(tmp_path_factory):
    """A private copy of the small raw export (:data:`SITES`) and one cleaning run over it."""
    raw = tmp_path_factory.mktemp("props_raw")
    for site in SITES:
        for path in sorted(config.RAW_DIR.glob(f"{site}_*")):
            shutil.copy(path, raw / path.name)
    assert len(SHUFFLABLE) == 6
    return Reference((raw, cleaning.clean_directory(raw)))


@profile(5, shrink=False)  # about 0.6 s per cleaning run
@given(files=st.lists(st.sampled_from(SHUFFLABLE), min_size=1, max_size=6, unique=True),
       seed=st.integers(0, 2**32 - 1))
def test_cleaning_a_shuffled_export_equals_cleaning_the_original(bundled_clean, files, seed):
    """Shuffling the data rows of any raw CSV export changes no clean table (compared after sorting
    by key), no quarantine reason, no logged change and no count of merged duplicates."""
    raw, ref = bundled_clean
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as tmp:
        shuffled = Path(tmp) / "raw"
        shutil.copytree(raw, shuffled)
        for name in files:
            head, body = records((raw / name).read_bytes())
            body = [body[i] for i in rng.permutation(len(body))]
            (shuffled / name).write_bytes(b"\n".join([head, *body]) + b"\n")
        got = cleaning.clean_directory(shuffled)
    for table in ("patients", "visits", "events"):
        pd.testing.assert_frame_equal(sorted_table(got.tables[table], table),
                                      sorted_table(ref.tables[table], table), obj=table)
    assert without_rows(got.quarantine["reason"]) == without_rows(ref.quarantine["reason"])
    assert len(got.duplicates) == len(ref.duplicates)
    log_cols = ["file", "column", "old", "new", "rule"]
    assert sorted(map(tuple, got.log[log_cols].astype(str).to_numpy())) == \
        sorted(map(tuple, ref.log[log_cols].astype(str).to_numpy()))
