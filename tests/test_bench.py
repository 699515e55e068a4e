"""``make bench``'s scale and timings parts: the exponent fit, the results table and its merge, the
committed ``bench/results.csv`` (its exponents are refitted from its own rows, so it cannot drift),
and one tiny run through the command line.  Timings themselves are not asserted."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import config
from sle_nb_utils.bench import scale
from sle_nb_utils.bench.__main__ import budgets, merge_results, read_results, write_readme

RESULTS = config.PROJ_ROOT / "bench" / "results.csv"


@pytest.mark.parametrize("b", [0.5, 1.0, 1.37, 2.0])
def test_fit_recovers_an_exact_power_law(b):
    n = np.array([990.0, 10065.0, 99990.0])
    a, got = scale.fit_power_law(n, 0.003 * n**b)
    assert got == pytest.approx(b, abs=1e-10)
    assert a == pytest.approx(0.003, rel=1e-8)


def test_fit_refuses_a_single_size():
    with pytest.raises(ValueError):
        scale.fit_power_law([1000, 1000], [1.0, 2.0])


@pytest.mark.parametrize("size, copies", [(1, 1), (100, 1), (1000, 6), (10_000, 61), (100_000, 606)])
def test_copies_nearest_the_size(size, copies):
    assert scale.copies_for(size) == copies
    # no other number of copies is nearer
    for k in (copies - 1, copies + 1):
        if k >= 1:
            assert abs(k * scale.PATIENTS_PER_COPY - size) >= abs(copies * scale.PATIENTS_PER_COPY - size)


def _fake_scale(b_seconds: float, machine: str = "m") -> pd.DataFrame:
    rows = []
    for size in (1000, 10_000):
        n = scale.copies_for(size) * scale.PATIENTS_PER_COPY
        for step in ("synth", "clean", "build", "clean+build"):
            for metric, v in (("seconds", round(0.001 * n**b_seconds, 2)), ("peak_rss_mb", round(0.5 * n, 1))):
                rows.append({"part": "scale", "step": step, "metric": metric, "size": size, "n_patients": n,
                             "raw_visit_rows": 6 * n, "input_mb": round(n / 1000, 1), "value": v,
                             "load_1min": 0.5, "command": "python -m sle_nb_utils " + step})
    return scale.tidy(rows + scale.exponent_rows(pd.DataFrame(rows)), machine)


def _fake_timings(seconds: float) -> pd.DataFrame:
    rows = []
    for step in ("make test (cold)", "make test (warm)", "make report"):
        for metric, v in (("seconds", seconds), ("peak_rss_mb", 900.0), ("exit_code", 0)):
            rows.append({"part": "timings", "step": step, "metric": metric, "value": v, "load_1min": 0.3,
                         "command": "make x in a fresh clone of 0123456789"})
    return scale.tidy(rows, "m")


def test_merge_replaces_only_the_parts_rerun(tmp_path):
    path = tmp_path / "results.csv"
    merge_results(path, _fake_scale(1.0))
    merge_results(path, _fake_timings(100.0))
    both = read_results(path)
    assert list(both.columns) == scale.COLUMNS
    assert set(both["part"]) == {"scale", "timings"}
    before_scale = both[both["part"] == "scale"].reset_index(drop=True)
    again = merge_results(path, _fake_timings(50.0))
    tm = again[again["part"] == "timings"]
    assert len(tm) == 9 and (tm.loc[tm["metric"] == "seconds", "value"] == 50.0).all()
    pd.testing.assert_frame_equal(again[again["part"] == "scale"].reset_index(drop=True), before_scale)
    # rerunning scale replaces its rows (no duplicates), timings stay
    after = merge_results(path, _fake_scale(1.2))
    assert len(after) == len(again)
    ex = after[(after["step"] == "clean") & (after["metric"] == "exponent_seconds")]["value"]
    assert ex.tolist() == [pytest.approx(1.2, abs=0.01)]
    assert (after.loc[after["part"] == "timings", "value"].isin([50.0, 900.0, 0])).all()


def test_readme_and_budget_verdicts(tmp_path):
    path = tmp_path / "results.csv"
    merge_results(path, _fake_scale(1.0))
    results = merge_results(path, _fake_timings(100.0))
    b = budgets(results).set_index("budget (issue 10)")["verdict"]
    assert b["warm make test <= 120 s"] == "met"
    assert b["make report <= 90 s"] == "NOT met"
    write_readme(results, tmp_path / "README.md")
    text = (tmp_path / "README.md").read_text()
    for needle in ("## Machine", "make bench PARTS=", "## Columns of `results.csv`", "## Budgets (issue 10)",
                   "| 990 |", "make test (warm)"):
        assert needle in text, needle


def test_run_measured_reports_peak_rss_exit_code_and_timeout(tmp_path):
    code = "x = b'x' * (200 * 2**20); import sys; sys.exit(3)"
    seconds, rss, rc = scale.run_measured([sys.executable, "-c", code], tmp_path, tmp_path / "a.log")
    assert rc == 3
    assert 200 <= rss < 2000
    assert 0 < seconds < 30
    seconds, _, rc = scale.run_measured([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path,
                                        tmp_path / "b.log", timeout=0.5)
    assert rc == -9 and seconds < 30


# ---------------------------------------------------------------------------- the committed table
def test_committed_results_are_tidy_and_exponents_refit():
    df = read_results(RESULTS)
    assert list(df.columns) == scale.COLUMNS
    assert "scale" in set(df["part"]) and set(df["part"]) <= {"scale", "timings"}
    assert df["machine"].notna().all() and (df["machine"] != "").all()
    text = RESULTS.read_text()
    for leak in ("/tmp", "/work", "/root", "/home", "\r"):
        assert leak not in text, leak
    key = df.assign(_s=df["size"].fillna(np.iinfo(np.int64).max))
    assert key.equals(key.sort_values(["part", "step", "metric", "_s"], kind="stable")), "rows not sorted"
    assert not df.duplicated(["part", "step", "metric", "size"]).any()
    sc = df[df["part"] == "scale"]
    assert {1000, 10_000} <= set(sc["size"].dropna())
    assert set(sc["step"]) == {"synth", "clean", "build", "clean+build"}
    meas = sc[sc["metric"].isin(["seconds", "peak_rss_mb"])]
    assert (meas["value"] > 0).all()
    assert (meas["value"] == meas["value"].round(2)).all()
    # every exponent is the fit of the rows beside it
    ex = sc[sc["metric"].str.startswith("exponent_")]
    assert len(ex) == 8
    for _, r in ex.iterrows():
        g = meas[(meas["step"] == r["step"]) & (meas["metric"] == r["metric"].removeprefix("exponent_"))]
        _, b = scale.fit_power_law(g["n_patients"], g["value"])
        assert r["value"] == pytest.approx(b, abs=6e-4), (r["step"], r["metric"])
    # clean+build = clean + build (seconds) and the larger peak
    for size, g in meas.groupby("size"):
        v = g.set_index(["step", "metric"])["value"]
        assert v[("clean+build", "seconds")] == pytest.approx(v[("clean", "seconds")] + v[("build", "seconds")],
                                                               abs=0.011)
        assert v[("clean+build", "peak_rss_mb")] == max(v[("clean", "peak_rss_mb")], v[("build", "peak_rss_mb")])
    tm = df[df["part"] == "timings"]  # absent in the commit the timings themselves were measured on
    if tm.empty:
        return
    assert set(tm["step"]) == {"make test (cold)", "make test (warm)", "make report"}
    assert (tm.loc[tm["metric"] == "seconds", "value"] > 0).all()


def test_committed_readme_matches_the_results():
    """bench/README.md is what write_readme makes from bench/results.csv (rerun `make bench` or
    `python -m sle_nb_utils.bench --render-only` after editing either)."""
    readme = (config.PROJ_ROOT / "bench" / "README.md").read_text()
    for row in budgets(read_results(RESULTS)).itertuples(index=False):
        assert f"| {row[0]} | {row[1]} | {row[2]} |" in readme
    assert (config.PROJ_ROOT / "bench" / "scaling.png").stat().st_size > 10_000


# ---------------------------------------------------------------------------- one tiny real run
@pytest.mark.slow
@pytest.mark.bench  # the benchmark harness: pytest -m bench
def test_tiny_scale_run_through_the_cli(tmp_path):
    """One size (one copy of the cohorts, 165 patients) through synth, clean and build as the CLI;
    about 15-20 s, most of it the calibrated generator."""
    rows = scale.measure_size(100, tmp_path)
    df = pd.DataFrame(rows)
    assert set(df["step"]) == {"synth", "clean", "build", "clean+build"}
    assert (df["n_patients"] == 165).all()
    assert (df["raw_visit_rows"] > 1000).all()
    v = df.set_index(["step", "metric"])["value"]
    for step in ("synth", "clean", "build"):
        assert 0 < v[(step, "seconds")] < 600
        assert 50 < v[(step, "peak_rss_mb")] < 4000
    assert df.loc[df["step"] == "clean", "input_mb"].iloc[0] > 0.1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build.log", "clean.log", "synth.log"]
