"""ADaM-shaped analysis tables and the cached loader."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import adam, config
from sle_nb_utils.errors import BadInputError


@pytest.fixture(scope="module")
def built(raw_exports, cleaned):
    raw = raw_exports[0]
    result, clean = cleaned
    return raw, clean, result, adam.build_analysis_tables(result.tables)


def test_adsl_one_row_per_patient(built):
    _, _, r, t = built
    adsl = t["adsl"]
    assert adsl["USUBJID"].is_unique
    assert len(adsl) == len(r.tables["patients"])
    assert set(adsl["ITTFL"]) == {"Y"}
    assert set(adsl["SAFFL"]) <= {"Y", "N"} and set(adsl["EFFFL"]) <= {"Y", "N"}
    tx = r.tables["patients"].set_index("patient_id")["transplant_date"].notna()
    assert (adsl.set_index("USUBJID")["SAFFL"].eq("Y") == tx.reindex(adsl["USUBJID"]).to_numpy()).all()


def test_adtte_one_row_per_patient_per_endpoint(built):
    _, _, r, t = built
    tte = t["adtte"]
    assert set(tte["PARAMCD"]) == {"OS", "DFS", "REL", "NRM", "TRM", "CR"}
    # primary time origin = transplant (docs/endpoints.md): patients never transplanted are not in ADTTE
    assert len(tte) == 6 * r.tables["patients"]["transplant_date"].notna().sum()
    assert not tte.duplicated(["USUBJID", "PARAMCD"]).any()
    assert set(tte["CNSR"]) <= {0, 1}
    assert ((tte["CNSR"] == 0) == (tte["STATUS"] == 1)).all()
    assert ((tte["CMPEVFL"] == "Y") == (tte["STATUS"] == 2)).all()
    assert (tte["AVAL"] >= 0).all()
    os_ = tte[tte["PARAMCD"] == "OS"].set_index("USUBJID")
    dead = r.tables["patients"].set_index("patient_id")["death_date"].notna()
    assert (os_["CNSR"].eq(0) == dead.reindex(os_.index)).all()


def test_adlb_baseline_and_change(built):
    _, _, r, t = built
    lb = t["adlb"]
    assert {"PARAMCD", "AVISIT", "AVAL", "BASE", "CHG", "PCHG", "ABLFL", "AVALU"} <= set(lb.columns)
    np.testing.assert_allclose(lb["CHG"], lb["AVAL"] - lb["BASE"], equal_nan=True)
    ok = lb["BASE"].notna() & (lb["BASE"] != 0)
    np.testing.assert_allclose(lb.loc[ok, "PCHG"], 100 * lb.loc[ok, "CHG"] / lb.loc[ok, "BASE"])
    base = lb[lb["ABLFL"] == "Y"]
    assert not base.duplicated(["USUBJID", "PARAMCD"]).any()
    assert (base["AVISITN"] == 0).all() and (base["AVAL"] == base["BASE"]).all()
    v = r.tables["visits"]
    creat = lb[lb["PARAMCD"] == "CREAT"]
    assert len(creat) == v["creatinine_umol_l"].notna().sum()
    sl = lb[lb["PARAMCD"] == "SLEDAI"]
    assert len(sl) == len(v)


def test_data_dictionary_describes_every_column(built):
    _, _, _, t = built
    dd = adam.data_dictionary()
    assert not dd.duplicated(["table", "column"]).any()
    for name, df in t.items():
        described = set(dd.loc[dd["table"] == name, "column"])
        assert set(df.columns) == described, name
    assert dd["description"].str.len().gt(0).all()


def test_build_from_clean_dir_equals_build_from_tables(built, tmp_path):
    _, clean, _, t = built
    t2 = adam.build_analysis_tables(clean, out_dir=tmp_path)
    for k in ("adsl", "adtte", "adlb"):
        pd.testing.assert_frame_equal(t[k], t2[k])
        assert (tmp_path / f"{k}.csv").exists()
    assert (tmp_path / "data_dictionary.csv").exists()


def test_load_analysis_tables_caches_on_raw_hashes(built, tmp_path, monkeypatch):
    raw, _, _, t = built
    cache = tmp_path / "cache"
    a = adam.load_analysis_tables(raw, cache_dir=cache)
    entries = sorted(p.name for p in cache.iterdir())
    assert len(entries) == 1 and entries[0].startswith("analysis-")
    # the second load must come from the cache: cleaning is not called again
    from sle_nb_utils import cleaning

    def no_cleaning(*args, **kwargs):
        raise AssertionError("cleaning ran although the cache entry exists")

    monkeypatch.setattr(cleaning, "clean_directory", no_cleaning)
    b = adam.load_analysis_tables(raw, cache_dir=cache)
    for k in ("patients", "visits", "events", "adsl", "adtte", "adlb"):
        pd.testing.assert_frame_equal(a[k], b[k], check_categorical=False)
        pd.testing.assert_frame_equal(a[k], t[k], check_categorical=False)
    key1 = adam.raw_fingerprint(raw)
    copy = tmp_path / "raw2"
    copy.mkdir()
    for p in raw.iterdir():
        (copy / p.name).write_bytes(p.read_bytes())
    assert adam.raw_fingerprint(copy) == key1
    f = copy / "nanjing_events.csv"
    f.write_bytes(f.read_bytes() + b"\n")
    assert adam.raw_fingerprint(copy) != key1


def test_bundled_data_missing_is_a_clear_error(tmp_path, monkeypatch):
    """An installed package without its checkout has no data/: say so, do not fail on a path."""
    monkeypatch.setattr(config, "PROJ_ROOT", tmp_path)
    with pytest.raises(BadInputError, match="ship with the git checkout") as err:
        adam.load_analysis_tables(cache_dir=tmp_path / "cache")
    assert err.value.file == str(tmp_path / "data" / "raw")
    with pytest.raises(BadInputError, match="data/truth"):
        config.bundled_dir("truth")


def test_resources_are_read_through_importlib_resources(monkeypatch, tmp_path):
    """Resources come from the package (importlib.resources), not from a path next to a checkout."""
    monkeypatch.setattr(config, "PROJ_ROOT", tmp_path)  # no checkout: resources still load
    assert "units.csv" in config.resource_names()
    with config.open_resource("data_dictionary.csv") as fh:
        assert fh.read(6) == b"table,"
    assert len(adam.data_dictionary()) > 0
