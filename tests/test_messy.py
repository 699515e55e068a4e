"""The messy raw exports: byte-deterministic, realistic (sites, formats, encodings, units, dates),
and the defect manifest points at real raw cells."""

from __future__ import annotations

import hashlib
import zipfile

import pandas as pd
import pytest

from sle_nb_utils import messy

SEED = 20130401  # the seed of conftest's raw_exports


@pytest.fixture(scope="module")
def exports(truth, raw_exports):
    raw, manifest = raw_exports
    return truth, raw, manifest


def _hashes(d):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_byte_deterministic(exports, tmp_path):
    truth, raw, manifest = exports
    again = messy.write_raw_exports(truth, tmp_path, SEED)
    assert _hashes(raw) == _hashes(tmp_path)
    pd.testing.assert_frame_equal(manifest, again)
    assert manifest.to_csv(index=False) == again.to_csv(index=False)


def test_xlsx_has_fixed_timestamps(exports):
    _, raw, _ = exports
    with zipfile.ZipFile(raw / "ebmt_registry.xlsx") as z:
        assert {i.date_time for i in z.infolist()} == {(2020, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert "2020-01-01T00:00:00Z" in core


def test_files_sites_and_formats(exports):
    _, raw, _ = exports
    names = {p.name for p in raw.iterdir()}
    sites = {n.split("_")[0] for n in names}
    assert len(sites) >= 4
    assert any(n.endswith(".xlsx") for n in names) and any(n.endswith(".csv") for n in names)
    assert (raw / "nanjing_patients.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM
    data = (raw / "chicago_visits.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # latin-1 export
    assert "µmol/L" in data.decode("latin-1")
    assert b";" in (raw / "ebmt_visits.csv").read_bytes().split(b"\n")[0]


def test_workbook_has_several_sheets_and_offset_headers(exports):
    from openpyxl import load_workbook

    _, raw, _ = exports
    wb = load_workbook(raw / "ebmt_registry.xlsx", read_only=True)
    assert wb.sheetnames == ["Read me", "Patients", "Events"]
    rows = list(wb["Patients"].iter_rows(values_only=True, max_row=3))
    assert rows[2][0] == "UPN" and rows[0][0] != "UPN"


def test_manifest_shape_and_kinds(exports):
    _, _, m = exports
    assert list(m.columns) == messy.MANIFEST_COLUMNS
    kinds = set(m["kind"])
    for k in ["exact_duplicate", "conflicting_duplicate", "impossible_value", "unparseable_date",
              "stray_spaces", "case", "label_synonym", "unit_header", "unit_per_row", "unit_missing",
              "date_format", "bom", "encoding", "header_offset", "missing_token", "missing_key"]:
        assert k in kinds, k
    assert set(m["handling"]) <= {"corrected", "converted", "read", "dropped_duplicate", "quarantined"}
    assert m["expected_handling"].str.len().gt(0).all()
    assert len(m[m["kind"] == "date_format"]["raw_value"].unique()) >= 3


def test_manifest_rows_point_at_the_raw_cells(exports):
    _, raw, m = exports
    rowlevel = m[m["row"].notna() & ~m["file"].str.contains(".xlsx", regex=False)]
    assert len(rowlevel) > 20
    enc = {"chicago": "latin-1"}
    for d in rowlevel.itertuples():
        text = (raw / d.file).read_bytes().decode(enc.get(d.file.split("_")[0], "utf-8-sig"))
        line = text.split("\n")[int(d.row) - 1]
        if d.kind in ("exact_duplicate",):
            prev = text.split("\n")[int(d.row) - 2]
            assert line == prev
        elif d.raw_value not in ("", "(whole row)"):
            assert d.raw_value.strip() in line, (d.file, d.row, d.raw_value)


def test_example_truth_has_the_data_model_columns():
    from sle_nb_utils.schemas import TABLES

    t = messy.example_truth(1)
    for table, cols in TABLES.items():
        assert list(t[table].columns) == list(cols)


def test_site_table_headers_map_back_through_column_aliases():
    """Each site's raw headers (messy.SITE_EXPORTS) are the reverse of resources/column_aliases.csv:
    every header maps back to the data-model column it was written from."""
    import re

    from sle_nb_utils import readers

    aliases = readers.read_resource("column_aliases.csv")
    to = {readers.normalise_name(a): (c, r) for a, c, r in aliases[["alias", "column", "role"]].itertuples(index=False)}
    checked = 0
    for spec in messy.SITE_EXPORTS.values():
        for table in ("patients", "visits", "events"):
            for col, header in messy.site_headers(spec.site, table).items():
                k = readers.normalise_name(header)
                hit = to.get(k) or to.get(re.sub(r"\s*[\(\[].*[\)\]]\s*$", "", k))
                assert hit is not None, (spec.site, table, header)
                if col.endswith("_unit"):  # a per-row unit column
                    assert hit[1] == "unit", (spec.site, header, hit)
                else:
                    assert hit == (col, "value"), (spec.site, header, hit)
                checked += 1
    assert checked > 150
