"""Cleaning: truth recovered from the messy exports, every manifest defect handled as the manifest
says, row accounting, logging, and the bad-input catalogue in tests/bad_inputs/."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import cleaning, messy, schemas
from sle_nb_utils.errors import BadInputError

BAD = Path(__file__).parent / "bad_inputs"


@pytest.fixture(scope="module")
def run(truth, raw_exports, cleaned):
    raw, manifest = raw_exports
    result, out = cleaned
    return truth, manifest, result, raw, out


def _assert_same_table(a: pd.DataFrame, b: pd.DataFrame, table: str) -> None:
    b = b.sort_values(schemas.KEYS[table], ignore_index=True)
    assert list(a.columns) == list(b.columns)
    assert len(a) == len(b)
    for c in a.columns:
        if pd.api.types.is_float_dtype(b[c]):
            np.testing.assert_allclose(a[c].to_numpy(float), b[c].to_numpy(float), rtol=0, atol=1e-9,
                                       err_msg=f"{table}.{c}")
        elif pd.api.types.is_datetime64_any_dtype(b[c]):
            assert (a[c].isna() == b[c].isna()).all() and (a[c].dropna() == b[c].dropna()).all(), f"{table}.{c}"
        else:
            left = a[c].astype(object).where(a[c].notna(), None).tolist()
            right = b[c].astype(object).where(b[c].notna(), None).tolist()
            assert left == right, f"{table}.{c}"


@pytest.mark.parametrize("table", ["patients", "visits", "events"])
def test_recovers_truth_exactly(run, table):
    truth, _, result, _, _ = run
    _assert_same_table(result.tables[table], truth[table], table)


@pytest.mark.parametrize("table", ["patients", "visits", "events"])
def test_clean_dtypes_are_the_data_model(run, table):
    _, _, result, _, _ = run
    t = result.tables[table]
    for c, kind in schemas.TABLES[table].items():
        want = schemas.DTYPES[kind]
        assert str(t[c].dtype) in (want, "boolean" if kind == "bool" else want), (c, t[c].dtype)


REASON_OF_KIND = messy.REASON_OF_KIND


def test_manifest_check_agrees(run):
    _, manifest, r, _, _ = run
    chk = messy.manifest_check(r, manifest)
    assert chk["handled"].all(), chk[~chk["handled"]].to_string()


def test_bundled_data_recovers_truth_and_manifest():
    from sle_nb_utils import config

    if not (config.RAW_DIR.is_dir() and (config.TRUTH_DIR / "defects.csv").exists()):
        pytest.skip("bundled data not generated yet (make data)")
    r = cleaning.clean_directory(config.RAW_DIR)
    truth = cleaning.read_clean_tables(config.TRUTH_DIR)
    for t in ("patients", "visits", "events"):
        _assert_same_table(r.tables[t], truth[t], t)
    manifest = pd.read_csv(config.TRUTH_DIR / "defects.csv", dtype={"expected_value": str},
                           keep_default_na=False, na_values={"row": [""]})
    chk = messy.manifest_check(r, manifest)
    assert chk["handled"].all(), chk[~chk["handled"]].to_string()


def test_every_manifest_row_handled_as_the_manifest_says(run):
    _, manifest, r, _, _ = run
    quarantined = set(zip(r.quarantine["file"], r.quarantine["row"]))
    dups = set(zip(r.duplicates["file"], r.duplicates["row"]))
    log = r.log
    inventory = r.inventory.set_index("file")
    for d in manifest.itertuples():
        row = None if pd.isna(d.row) else int(d.row)
        where = f"{d.file} row {row} {d.column} {d.kind}"
        if d.handling == "quarantined":
            assert (d.file, row) in quarantined, where
            reason = r.quarantine.set_index(["file", "row"]).loc[(d.file, row), "reason"]
            assert REASON_OF_KIND[d.kind] in str(reason), (where, reason)
        elif d.handling == "dropped_duplicate":
            assert (d.file, row) in dups, where
        elif d.handling == "corrected":
            sel = log[(log["file"] == d.file) & (log["column"] == d.column)]
            if row is not None:
                sel = sel[sel["row"] == row]
                assert (sel["new"] == str(d.expected_value)).any(), where
            else:
                assert len(sel) > 0, where
        elif d.handling == "converted":
            sel = log[(log["file"] == d.file) & (log["column"] == d.column)
                      & log["rule"].isin(["unit_conversion", "unit_inferred_from_magnitude"])]
            assert len(sel) > 0, where
            if d.kind == "unit_missing":
                assert (sel["rule"] == "unit_inferred_from_magnitude").all(), where
        elif d.handling == "read":
            assert d.file in inventory.index, where
            if d.kind == "non_data_sheet":
                assert inventory.loc[d.file, "status"].startswith("ignored"), where
            elif d.kind == "header_offset":
                assert int(inventory.loc[d.file, "header_row"]) > 1, where
            elif d.kind == "encoding":
                assert inventory.loc[d.file, "encoding"] == "latin-1", where
            elif d.kind == "delimiter":
                assert inventory.loc[d.file, "delimiter"] == ";", where
            elif d.kind == "missing_token":
                assert ((log["file"] == d.file) & (log["rule"] == "missing_token")).any(), where
            elif d.kind == "date_format":
                assert ((r.dates["file"] == d.file) & (r.dates["column"] == d.column)).any(), where
        else:  # pragma: no cover
            pytest.fail(f"unknown handling {d.handling}")
    # and nothing else was quarantined or merged
    expected_q = {(f, int(x)) for f, x, h in zip(manifest["file"], manifest["row"], manifest["handling"])
                  if h == "quarantined"}
    assert quarantined == expected_q
    expected_d = {(f, int(x)) for f, x, h in zip(manifest["file"], manifest["row"], manifest["handling"])
                  if h == "dropped_duplicate"}
    assert dups == expected_d


def test_row_accounting_balances_per_file(run, capsys):
    _, _, r, raw, _ = run
    a = r.accounting
    assert a["balanced"].all()
    assert (a["raw_rows"] == a["kept"] + a["merged_duplicates"] + a["quarantined"]).all()
    assert a["raw_rows"].sum() == sum(len(t) for t in r.tables.values()) + len(r.duplicates) + len(r.quarantine)
    print(r.summary())
    out = capsys.readouterr().out
    assert "raw rows = kept + merged duplicates + quarantined" in out
    for f in a["file"]:
        assert f in out


def test_at_least_four_sites_csv_and_xlsx(run):
    _, _, r, _, _ = run
    inv = r.inventory
    assert inv["site"].replace("", np.nan).dropna().nunique() >= 4
    assert {"csv", "xlsx"} <= set(inv["format"])
    assert {"utf-8-sig", "latin-1", "xlsx"} <= set(inv["encoding"])
    assert len(r.dates["format"].unique()) >= 3


def test_unit_conversions_logged_per_cell(run):
    _, _, r, raw, _ = run
    # nanjing writes proteinuria in mg/24h: every non-missing value converted and logged
    units = r.units
    n_mg = units[(units["file"] == "nanjing_visits.csv") & (units["column"] == "proteinuria_g_24h")
                 & (units["unit"] == "mg/24h")]["values"].sum()
    logged = r.log[(r.log["file"] == "nanjing_visits.csv") & (r.log["column"] == "proteinuria_g_24h")
                   & (r.log["rule"] == "unit_conversion")]
    assert n_mg > 0 and len(logged) == n_mg
    assert logged["old"].str.endswith(" mg/24h").all()
    inferred = r.log[r.log["rule"] == "unit_inferred_from_magnitude"]
    assert len(inferred) > 0 and set(inferred["file"]) == {"suzhou_visits.csv"}


def test_unmapped_columns_reported(tmp_path):
    for f in (BAD / "_base").iterdir():
        shutil.copy(f, tmp_path / f.name)
    v = pd.read_csv(tmp_path / "visits.csv", dtype=str, keep_default_na=False)
    v["ward"] = "3B"
    v.to_csv(tmp_path / "visits.csv", index=False)
    r = cleaning.clean_directory(tmp_path)
    m = r.mapping[(r.mapping["file"] == "visits.csv") & (r.mapping["raw_column"] == "ward")]
    assert m["status"].tolist() == ["not mapped (ignored)"]


def test_user_alias_extends_the_table(tmp_path):
    for f in (BAD / "_base").iterdir():
        shutil.copy(f, tmp_path / f.name)
    p = pd.read_csv(tmp_path / "patients.csv", dtype=str, keep_default_na=False)
    p = p.rename(columns={"sex": "Geschlecht"})
    p.to_csv(tmp_path / "patients.csv", index=False)
    with pytest.raises(BadInputError, match="required column 'sex'"):
        cleaning.clean_directory(tmp_path)
    extra = pd.DataFrame({"alias": ["Geschlecht"], "column": ["sex"], "role": ["value"], "note": ["German"]})
    r = cleaning.clean_directory(tmp_path, aliases=extra)
    assert r.tables["patients"]["sex"].tolist() == ["F", "M", "F"]


def test_site_date_order_setting_resolves_ambiguous_dates(tmp_path):
    for f in (BAD / "_base").iterdir():
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(BAD / "visits__ambiguous_dates.csv", tmp_path / "visits.csv")
    with pytest.raises(BadInputError, match="day/month order unknown"):
        cleaning.clean_directory(tmp_path)
    settings = pd.DataFrame({"site": ["demo"], "file_pattern": ["visits*"], "encoding": ["utf-8"],
                             "date_order": ["DMY"], "note": [""]})
    r = cleaning.clean_directory(tmp_path, settings=settings)
    v = r.tables["visits"].set_index(["patient_id", "visit_month"])
    assert v.loc[("P1", 0), "visit_date"] == pd.Timestamp("2010-01-18")
    assert v.loc[("P1", 3), "visit_date"] == pd.Timestamp("2010-04-08")  # 08/04/2010 day-first


def test_write_and_read_back(run):
    _, _, r, _, out = run
    for name in ["patients", "visits", "events", "cleaning_log", "quarantine", "validation_report",
                 "row_accounting", "column_mapping", "inventory"]:
        assert (out / f"{name}.csv").exists(), name
    back = cleaning.read_clean_tables(out)
    for t in ("patients", "visits", "events"):
        pd.testing.assert_frame_equal(back[t], r.tables[t])
    log = pd.read_csv(out / "cleaning_log.csv")
    assert list(log.columns) == ["file", "row", "column", "old", "new", "rule"]
    q = pd.read_csv(out / "quarantine.csv")
    assert {"file", "row", "reason"} <= set(q.columns)


def test_validation_report_lists_checks(run):
    _, _, r, _, _ = run
    v = r.validation
    assert {"table", "column", "check", "rows_checked", "rows_failed", "status"} <= set(v.columns)
    checks = set(v["check"])
    for name in ["visit not after death", "follow-up visit on or after transplant",
                 "event on or after enrolment", "field_uniqueness"]:
        assert name in checks
    assert (v.loc[v["rows_failed"] > 0, "status"] != "pass").all()


def test_unit_resource_holds_the_design_conversion_factors():
    """resources/units.csv (read by cleaning and by sle_nb_utils.units) carries the factors of docs/design.md, Clinical definitions."""
    from sle_nb_utils import units

    t = schemas.unit_table().set_index(["column", "unit"])["factor"]
    assert t[("creatinine_umol_l", "mg/dl")] == units.CREATININE_UMOL_L_PER_MG_DL == 88.4
    assert t[("albumin_g_l", "g/dl")] == units.ALBUMIN_G_L_PER_G_DL == 10
    assert t[("c3_g_l", "mg/dl")] == t[("c4_g_l", "mg/dl")] == 1 / units.COMPLEMENT_MG_DL_PER_G_L
    assert t[("proteinuria_g_24h", "mg/24h")] == 1 / units.PROTEINURIA_MG_PER_G


# --------------------------------------------------------------------------------------------
# the bad-input catalogue
# --------------------------------------------------------------------------------------------
def _cases():
    with open(BAD / "expected.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _setup(tmp_path: Path, bad_file: str) -> Path:
    table = bad_file.split("__")[0]
    for f in (BAD / "_base").iterdir():
        if f.stem != table:
            shutil.copy(f, tmp_path / f.name)
    shutil.copy(BAD / bad_file, tmp_path / bad_file)
    return tmp_path


def test_catalogue_has_at_least_40_files():
    files = [p for p in BAD.iterdir() if p.is_file() and p.name != "expected.csv"]
    assert len(files) >= 40
    assert {c["file"] for c in _cases()} == {p.name for p in files}


@pytest.mark.parametrize("case", _cases(), ids=lambda c: c["file"])
def test_bad_input(tmp_path, case):
    raw = _setup(tmp_path, case["file"])
    if case["outcome"] == "error":  # the run stops: exit 2 with file, row, column and reason
        with pytest.raises(BadInputError) as err:
            cleaning.clean_directory(raw)
        e = err.value
        msg = e.message
        assert case["message"].lower() in msg.lower(), msg
        assert e.file is not None and e.file.startswith(case["file"]), msg
        if case["row"]:
            assert e.row == int(case["row"]), msg
        if case["column"]:
            assert e.column == case["column"], msg
        assert "\n" not in msg and "Traceback" not in msg
        return
    r = cleaning.clean_directory(raw)
    a = r.accounting  # raw = kept + merged + quarantined, whatever happened
    assert (a["raw_rows"] == a["kept"] + a["merged_duplicates"] + a["quarantined"]).all()
    if case["outcome"] == "quarantine":  # refused, with its reason
        q = r.quarantine[(r.quarantine["file"] == case["file"]) & (r.quarantine["row"] == int(case["row"]))]
        assert len(q) >= 1, r.quarantine.to_string()
        assert any(case["message"] in reason for reason in q["reason"]), q["reason"].tolist()
    elif case["outcome"] == "log":  # kept, with the change in the cleaning log
        hit = r.log[(r.log["file"] == case["file"]) & (r.log["row"] == int(case["row"]))
                    & (r.log["column"] == case["column"])]
        assert case["message"] in set(hit["rule"]), hit.to_string()
        assert not ((r.quarantine["file"] == case["file"]) & (r.quarantine["row"] == int(case["row"]))).any()
    elif case["outcome"] == "inventory":  # read, with a note in the inventory (and its header row)
        inv = r.inventory.set_index("file")
        label = next(f for f in inv.index if f.startswith(case["file"]))  # "book.xlsx[Sheet]" for a sheet
        assert case["message"] in inv.at[label, "status"], inv.at[label, "status"]
        if case["row"]:
            assert inv.at[label, "header_row"] == int(case["row"])
        assert a.set_index("file").at[label, "kept"] > 0
    elif case["outcome"] == "warning":
        assert any(case["message"] in w for w in r.warnings), r.warnings
        assert any(case["message"] in line for line in r.summary().splitlines())
    else:  # pragma: no cover
        pytest.fail(f"unknown outcome {case['outcome']!r} in expected.csv")


def test_censored_labs_are_kept_as_their_bound(tmp_path):
    r = cleaning.clean_directory(_setup(tmp_path, "visits__censored_lab.csv"))
    v = r.tables["visits"].set_index(["patient_id", "visit_month"])
    assert v.at[("P1", 3), "anti_dsdna_iu_ml"] == 10.0
    assert v.at[("P1", 12), "platelets_10e9_l"] == 1000.0
    rules = r.log[r.log["rule"].str.startswith("censored")].set_index("column")["rule"].to_dict()
    assert rules == {"anti_dsdna_iu_ml": "censored_below_limit_kept_as_bound",
                     "platelets_10e9_l": "censored_above_limit_kept_as_bound"}
    assert r.quarantine.empty


def test_whole_site_loss_goes_on_only_when_allowed(tmp_path, capsys):
    from sle_nb_utils.__main__ import main as cli

    (tmp_path / "raw").mkdir()
    raw = _setup(tmp_path / "raw", "visits__whole_site_lost.csv")
    assert cli(["clean", str(raw), "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert "6 of 6 rows (100%) quarantined" in err and "patient not in the patients table" in err
    assert "--allow-partial" in err and "Traceback" not in err
    assert cli(["clean", str(raw), "--out", str(tmp_path / "b"), "--allow-partial"]) == 0
    assert "going on (allow_partial)" in capsys.readouterr().out
    r = cleaning.clean_directory(raw, allow_partial=True)
    a = r.accounting.set_index("file")
    assert a.at["visits__whole_site_lost.csv", "quarantined"] == 6
    assert (a["raw_rows"] == a["kept"] + a["merged_duplicates"] + a["quarantined"]).all()


def test_rule_accounting_counts_rows_per_endpoint(tmp_path):
    r = cleaning.clean_directory(_setup(tmp_path, "visits__outside_month_window.csv"))
    ra = r.rule_accounting().set_index("rule")
    assert set(ra.index) == {rule.name for rule in schemas.PLAUSIBILITY_RULES}
    row = ra.loc["visit date within its month's window"]
    assert row["rows"] == 1 and row["CR"] == 1 and row["REL"] == 1 and row["adlb"] == 1 and row["OS"] == 0
    assert ra.drop(index="visit date within its month's window")["rows"].sum() == 0


def test_fast_xlsx_reader_matches_openpyxl(run, tmp_path):
    import datetime as dt

    from openpyxl import Workbook

    from sle_nb_utils import readers as rawio

    _, _, _, raw, _ = run
    wb = Workbook()  # the normal writer: shared strings, styles, gaps, formulas
    ws = wb.active
    ws.title = "Data & notes"
    ws.append(["title <with> markup & ampersand"])
    ws.append([])
    ws.append(["patient_id", "visit_date", "visit_month", "flag", "value", "note"])
    ws.append(["P1", dt.datetime(2010, 1, 18), 0, True, 1.25, "n.d."])
    ws.append(["P2", dt.datetime(1999, 12, 31, 12, 0), 3, False, None, None])
    ws.append([None, None, 12, None, 3, "n.d."])
    ws["H9"] = "far cell"
    wb.create_sheet("Empty")
    path = tmp_path / "book.xlsx"
    wb.save(path)
    for p in (path, raw / "ebmt_registry.xlsx"):
        fast = rawio._fast_xlsx(p)
        slow = rawio._openpyxl_sheets(p)
        assert [t for t, _ in fast] == [t for t, _ in slow]
        for (_, a), (_, b) in zip(fast, slow):
            b = [list(r) for r in b]
            while b and all(c is None for c in b[-1]):
                b.pop()
            width = max([len(r) for r in a + b] or [0])
            pad = lambda rows: [list(r) + [None] * (width - len(r)) for r in rows]  # noqa: E731
            assert pad(a) == pad(b)


def test_non_data_files_are_listed_not_dropped(tmp_path):
    for f in (BAD / "_base").iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "README.txt").write_text("exported 2024")
    (tmp_path / "~$visits.xlsx").write_bytes(b"lock")
    (tmp_path / "old").mkdir()
    r = cleaning.clean_directory(tmp_path)
    status = r.inventory.set_index("file")["status"]
    assert status["README.txt"].startswith("ignored")
    assert status["~$visits.xlsx"].startswith("ignored")
    assert status["old"].startswith("ignored")


@pytest.mark.slow
@pytest.mark.bench  # the benchmark harness: pytest -m bench
def test_benchmark_smoke():
    """The cleaning benchmark runs end to end at scale 2 (its timings are `make bench`'s business)."""
    from sle_nb_utils.bench import cleaning as bench_cleaning

    t = bench_cleaning.run(2)
    steps = t.set_index("step")
    assert {"clean (read, map, convert, validate)", "build adsl/adtte/adlb", "clean + build"} <= set(steps.index)
    assert steps["seconds"].gt(0).all()
    parts = steps.loc[["clean (read, map, convert, validate)", "build adsl/adtte/adlb"], "seconds"].sum()
    assert steps.at["clean + build", "seconds"] == pytest.approx(parts, rel=0.05)


def test_unitless_headers(tmp_path):
    """A header without a unit: canonical if every accepted unit is the same (prednisone mg/day =
    mg/24h); inferred per value and logged where the plausible ranges are disjoint (creatinine)."""
    for f in (BAD / "_base").iterdir():
        shutil.copy(f, tmp_path / f.name)
    v = pd.read_csv(tmp_path / "visits.csv", dtype=str, keep_default_na=False)
    v = v.rename(columns={"prednisone_mg_day": "Prednisone", "creatinine_umol_l": "Creatinine"})
    v.loc[1, "Creatinine"] = "0.905"  # mg/dL
    v.to_csv(tmp_path / "visits.csv", index=False)
    r = cleaning.clean_directory(tmp_path)
    u = r.units.set_index(["column", "unit"])
    assert u.loc[("prednisone_mg_day", "mg/day"), "source"] == "only unit"
    assert u.loc[("creatinine_umol_l", "mg/dl"), "source"] == "inferred from magnitude"
    inferred = r.log[r.log["rule"] == "unit_inferred_from_magnitude"]
    assert len(inferred) == len(v)  # every inference logged, canonical ones included
    got = r.tables["visits"].set_index(["patient_id", "visit_month"]).loc[("P1", 3), "creatinine_umol_l"]
    assert got == pytest.approx(0.905 * 88.4, abs=1e-9)


def test_result_summaries(run):
    _, manifest, r, raw, _ = run
    ms = r.mapping_summary()
    assert list(ms.columns) == ["file", "mapped", "unit_columns", "ignored"]
    assert set(ms["file"]) == set(r.accounting["file"])
    assert (r.renamed_columns()["raw_column"].str.lower() != r.renamed_columns()["column"]).all()
    assert (r.converted_units()["values"] > 0).all()
    # the failing schema checks are exactly those the injected defects trip, with their row counts
    m = manifest
    n = lambda kind, column=None: int(((m["kind"] == kind) & ((m["column"] == column) if column else True)).sum())  # noqa: E731
    expected = {("patients", "age_at_transplant_years", "plausible range 0-100"): n("impossible_value", "age_at_transplant_years"),
                ("visits", "platelets_10e9_l", "plausible range 1-2000"): n("impossible_value", "platelets_10e9_l"),
                ("visits x patients", "", "visit not after death"): n("visit_after_death"),
                # a visit 30 days after death is after the last contact too, and may leave its window
                ("visits x patients", "", "visit not after last contact"): n("visit_after_death"),
                ("events x patients", "", "event on or after enrolment"): n("event_before_enrolment"),
                ("events x patients", "", "relapse after transplant"): n("event_before_enrolment")}
    v = r.validation
    failed = v[v["rows_failed"] > 0]
    got = dict(zip(zip(failed["table"], failed["column"], failed["check"]), failed["rows_failed"]))
    window = ("visits x patients", "", "visit date within its month's window")
    in_window_rule = r.quarantine[r.quarantine["reason"].str.contains("visit date within its month's window")]
    after_death = m[m["kind"] == "visit_after_death"]
    assert set(zip(in_window_rule["file"], in_window_rule["row"])) <= set(zip(after_death["file"], after_death["row"]))
    assert got.pop(window, 0) == len(in_window_rule)
    assert got == expected
    assert min(expected.values()) >= 1
    vs = r.validation_summary().set_index("table")
    n_failing = pd.Series([t for t, _, _ in expected] + [window[0]] * bool(len(in_window_rule))).value_counts()
    for table, row in vs.iterrows():
        assert row["checks"] == (v["table"] == table).sum()
        assert row["passed"] == row["checks"] - n_failing.get(table, 0), table
    # cells changed per rule agree with the units report and with the raw file
    ex = r.log_examples().set_index("rule")
    u = r.units
    converted = u[(u["factor"] != 1) & (u["source"] != "inferred from magnitude")]["values"].sum()
    assert ex.at["unit_conversion", "cells"] == converted
    assert ex.at["unit_inferred_from_magnitude", "cells"] == u[u["source"] == "inferred from magnitude"]["values"].sum()
    nd = sum(line.split(";").count("n.d.") for line in (raw / "ebmt_visits.csv").read_text().splitlines()[1:])
    assert ex.at["missing_token", "cells"] == nd > 0
    for rule, e in ex.iterrows():  # each example is a real logged cell of that rule
        hit = r.log[(r.log["rule"] == rule) & (r.log["file"] == e["file"]) & (r.log["row"] == e["row"])
                    & (r.log["column"] == e["column"])]
        assert len(hit) >= 1 and repr(hit["old"].iloc[0]) == e["old"], rule


def _site(pattern: str, **declared) -> pd.DataFrame:
    return pd.DataFrame([{"site": "demo", "file_pattern": pattern, "encoding": "utf-8", "date_order": "",
                          **declared}])


def test_site_declarations_decimal_comma_and_delimiter(tmp_path):
    raw = _setup(tmp_path, "visits__decimal_comma.csv")
    with pytest.raises(BadInputError, match="are not numbers"):
        cleaning.clean_directory(raw)
    r = cleaning.clean_directory(raw, settings=_site("visits*", delimiter=";", decimal=","))
    assert r.tables["visits"]["albumin_g_l"].eq(35.5).any()
    assert r.inventory.set_index("file").at["visits__decimal_comma.csv", "delimiter"] == ";"
    assert r.quarantine.empty
    with pytest.raises(BadInputError, match="declared delimiter ','"):  # a wrong declaration is named
        cleaning.clean_directory(raw, settings=_site("visits*", delimiter=",", decimal=","))


def test_site_declarations_sex_codes(tmp_path):
    raw = _setup(tmp_path, "patients__sex_coded_1_2.csv")
    # undeclared numeric codes stop the run with the declaration to add, naming the site
    with pytest.raises(BadInputError, match=r"at site demo: '1' \(2 rows\), '2' \(4 rows\).*"
                                            r"sex_codes=1=\?;2=\? \(each \? M or F\)") as err:
        cleaning.clean_directory(raw, settings=_site("patients*"))
    assert (err.value.file, err.value.row, err.value.column) == ("patients__sex_coded_1_2.csv", 2, "sex")
    with pytest.raises(BadInputError, match=r"'2' \(4 rows\).*sex_codes=2=\?"):  # a partial declaration
        cleaning.clean_directory(raw, settings=_site("patients*", sex_codes="1=M"))
    r = cleaning.clean_directory(raw, settings=_site("patients*", sex_codes="1=M;2=F"))
    sex = r.tables["patients"].set_index("patient_id")["sex"]
    assert sex.to_dict() == {"P1": "F", "P2": "M", "P3": "F", "P4": "F", "P5": "M", "P6": "F"}
    assert ((r.log["rule"] == "label_synonym") & (r.log["column"] == "sex")).sum() == 6
    with pytest.raises(BadInputError, match="sex_codes '1=X'") as err:
        cleaning.clean_directory(raw, settings=_site("patients*", sex_codes="1=X"))
    assert err.value.file == "site_settings.csv"


def test_site_declarations_id_case(tmp_path):
    raw = _setup(tmp_path, "visits__case_only_id.csv")
    r = cleaning.clean_directory(raw, settings=_site("visits*", id_case="upper"))
    assert r.quarantine.empty
    folded = r.log[r.log["rule"] == "id_case_folded"]
    assert folded[["row", "old", "new"]].values.tolist() == [[6, "p2", "P2"]]
    with pytest.raises(BadInputError, match="id_case 'title'"):
        cleaning.clean_directory(raw, settings=_site("visits*", id_case="title"))


def test_very_long_field_gives_a_short_reason(tmp_path):
    r = cleaning.clean_directory(_setup(tmp_path, "visits__very_long_field.csv"))
    reason = r.quarantine.set_index("row").at[4, "reason"]
    assert "(100003 characters) is not a number" in reason and len(reason) < 200


@pytest.mark.parametrize("seed", [1, 2])
def test_cleaning_a_shuffled_export_gives_the_same_tables(run, tmp_path, seed):
    """Row order in a raw file carries no meaning: shuffled data lines give the same clean tables
    and the same number of quarantined and merged rows."""
    _, _, r, raw, _ = run
    rng = np.random.default_rng(seed)
    shutil.copytree(raw, tmp_path / "raw")
    for name in ("nanjing_visits.csv", "chicago_visits.csv", "suzhou_patients.csv", "ebmt_visits.csv"):
        p = tmp_path / "raw" / name
        head, *body = p.read_bytes().rstrip(b"\n").split(b"\n")
        body = [body[i] for i in rng.permutation(len(body))]
        p.write_bytes(b"\n".join([head, *body]) + b"\n")
    s = cleaning.clean_directory(tmp_path / "raw")
    for t in ("patients", "visits", "events"):
        pd.testing.assert_frame_equal(s.tables[t], r.tables[t])
    assert len(s.quarantine) == len(r.quarantine) and len(s.duplicates) == len(r.duplicates)
    no_rows = lambda q: sorted(q["reason"].str.replace(r"row \d+", "row N", regex=True))  # noqa: E731
    assert no_rows(s.quarantine) == no_rows(r.quarantine)


@pytest.mark.parametrize("engine", ["fast", "openpyxl"])
def test_formula_without_a_stored_result_stops_the_run(tmp_path, engine):
    """openpyxl (like any program) writes formulas without their results: the value is unknown,
    so the run stops naming the cell, instead of reading it as missing."""
    from openpyxl import Workbook

    from sle_nb_utils import readers

    wb = Workbook()
    ws = wb.active
    ws.title = "Visits"
    ws.append(["patient_id", "visit_date", "visit_month", "creatinine_umol_l"])
    ws.append(["P1", "2010-01-18", 0, 80])
    ws.append(["P1", "2010-04-18", 3, "=80*1.1"])
    wb.save(tmp_path / "visits.xlsx")
    with pytest.raises(BadInputError, match="formula '=80\\*1.1' without a stored result") as err:
        readers.read_xlsx_tables(tmp_path / "visits.xlsx", "", readers._alias_keys_default(), engine=engine)
    assert (err.value.file, err.value.row) == ("visits.xlsx[Visits]", 3)
    assert "D3" in err.value.message


def test_quarantine_accounting_covers_every_quarantined_row(cleaned):
    """Every quarantine reason (not only the plausibility rules) counted per endpoint, without ids."""
    cleaned = cleaned[0]
    qa = cleaned.quarantine_accounting()
    assert qa["rows"].sum() == len(cleaned.quarantine)
    fed = {"events": {"OS", "DFS", "REL", "NRM", "TRM"}, "visits": {"DFS", "REL", "CR", "adlb"}}
    for t, cols in fed.items():
        part = qa[qa.table == t]
        for e in ("OS", "DFS", "REL", "NRM", "TRM", "CR", "adlb"):
            expect = part["rows"] if e in cols else 0
            assert (part[e] == expect).all()
    ids = set(cleaned.quarantine["patient_id"].dropna().astype(str))
    text = " ".join(qa["reason"])
    assert not any(i in text for i in ids)
    assert any(qa.reason.str.startswith("conflicting duplicate")) and any(qa.reason.str.contains("relapse after transplant"))
