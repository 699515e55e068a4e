"""Image regression tests: every public ``plot_*`` function of the package, drawn from small fixed
inputs, compared with a committed baseline PNG in ``tests/baseline_images/`` (nbval compares text
outputs only, not figures).

Each figure is drawn on a 4 x 3 in axes at 72 dpi with Matplotlib's default style, DejaVu Sans
(shipped with Matplotlib) and no font hinting, saved to the test's ``tmp_path`` and compared with
``matplotlib.testing.compare.compare_images`` (RMS difference of the pixel values, 0-255, at most
:data:`TOL`). On a failure the image drawn and the difference image stay in ``tmp_path`` (the
message names both); nothing is written into the repository.

Refresh the baselines deliberately, after a change that is meant to alter a figure (then look at
the new PNGs before committing them)::

    SLE_UPDATE_BASELINES=1 python -m pytest tests/test_images.py

A missing baseline fails (it is not skipped), and :func:`test_every_plot_function_has_a_baseline`
fails when a public ``plot_*`` function of ``sle_nb_utils`` has no case here, so that a new figure
cannot go untested.

The inputs are small tables written here with the columns each function reads (not the output of
the analysis pipeline), so that a change in cleaning or in the analysis tables does not move a
baseline; only a change in how a function draws does.
"""

from __future__ import annotations

import ast
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt  # the Agg backend: tests/conftest.py
import numpy as np
import pandas as pd
import pytest
from matplotlib.testing import set_font_settings_for_testing, set_reproducibility_for_testing
from matplotlib.testing.compare import compare_images
from matplotlib.testing.exceptions import ImageComparisonFailure

from sle_nb_utils import claims, compplot, config, longplot, plots, survplot

ROOT = config.PROJ_ROOT
PACKAGE = ROOT / "sle_nb_utils"
BASELINE_DIR = Path(__file__).parent / "baseline_images"
UPDATE = os.environ.get("SLE_UPDATE_BASELINES") == "1"
#: Largest accepted RMS difference (pixel values 0-255). Redrawing here gives 0; a changed line
#: colour, a changed label or a moved curve step gives well above 1 (see tests/README.md).
TOL = 1.0
FIGSIZE = (4.0, 3.0)
DPI = 72
MAX_TOTAL_BYTES = 1_500_000

# --------------------------------------------------------------------------------------------
# small fixed inputs
# --------------------------------------------------------------------------------------------
TIME = np.array([2, 5, 5, 8, 12, 14, 18, 20, 24, 30, 1, 3, 4, 6, 6, 9, 10, 15, 22, 28], dtype=float)
EVENT = np.array([1, 1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0])
STATUS = np.array([1, 2, 0, 1, 0, 1, 0, 2, 0, 0, 1, 0, 2, 1, 1, 0, 1, 0, 2, 0])  # 1 relapse, 2 NRM
ARM = np.array(["HSCT"] * 10 + ["MSCT"] * 10)
VISITS = [0, 3, 6, 12]


def _by_visit_summary() -> pd.DataFrame:
    rows = []
    for g, base in (("hsct_burt2006", 14.0), ("msct_wang2013", 11.0)):
        for k, m in enumerate(VISITS):
            med = base - 3.0 * k
            rows.append(dict(STUDYID=g, AVISITN=m, median=med, q1=med - 2, q3=med + 3, n=12 - 2 * k))
    return pd.DataFrame(rows)


LABELS = {"hsct_burt2006": "HSCT (Burt 2006)", "msct_wang2013": "MSCT (Wang 2013)"}

CASES: dict[str, Callable] = {}


def case(name: str):
    """Register the drawing of ``module.function`` (the baseline is ``<name>.png``)."""
    def register(fn):
        CASES[name] = fn
        return fn
    return register


@case("survplot.plot_km")
def _km(ax):
    return survplot.plot_km(TIME, EVENT, group=ARM, ax=ax, risk_table_at=[0, 12, 24])


@case("survplot.plot_cif")
def _cif(ax):
    return survplot.plot_cif(TIME, STATUS, group=ARM, cause=1, ax=ax, ylabel="Relapse")


@case("survplot.plot_follow_up")
def _follow_up(ax):
    entry = pd.to_datetime(["2001-03-01", "2002-07-15", "2003-01-10", "2004-05-20",
                            "2001-09-01", "2002-02-01", "2003-06-30", "2004-11-11"])
    end = pd.to_datetime(["2006-01-01", "2004-03-01", "2006-01-01", "2005-08-01",
                          "2003-04-01", "2006-01-01", "2005-02-14", "2006-01-01"])
    return survplot.plot_follow_up(entry, end, [0, 2, 0, 1, 2, 0, 1, 0], ["HSCT"] * 4 + ["MSCT"] * 4, ax=ax,
                                   labels={0: "data cut-off", 1: "lost", 2: "death"})


@case("survplot.plot_cif_stacked")
def _cif_stacked(ax):
    return survplot.plot_cif_stacked(TIME, STATUS, causes={1: "Relapse", 2: "NRM"}, ax=ax)


@case("survplot.plot_forest")
def _forest(ax):
    table = pd.DataFrame({"term": ["MSCT vs HSCT", "Age (10 y)", "Nephritis"],
                          "hr": [0.62, 1.15, 1.9], "lower": [0.3, 0.8, 1.05], "upper": [1.28, 1.65, 3.4]})
    return survplot.plot_forest(table, ax=ax)


@case("compplot.plot_overlap")
def _overlap(ax):
    ps = np.linspace(0.05, 0.95, 20)
    frame = pd.DataFrame({"ps": ps, "arm": np.where(np.arange(20) % 3 == 0, "MSCT", "HSCT")})
    return compplot.plot_overlap(frame, bins=10, ax=ax)


@case("compplot.plot_love")
def _love(ax):
    balance = pd.DataFrame({"label": ["Age", "Female", "Nephritis", "SLEDAI-2K"],
                            "smd": [0.45, -0.2, 0.3, 0.05], "smd_weighted": [0.04, -0.06, 0.09, 0.02]})
    return compplot.plot_love(balance, ax=ax)


@case("compplot.plot_outcomes_at_horizon")
def _outcomes(ax):
    table = pd.DataFrame({"outcome": ["Overall survival"] * 2 + ["Relapse"] * 2,
                          "group": ["hsct", "msct"] * 2, "months": 36.0,
                          "estimate_pct": [85.0, 90.0, 30.0, 20.0], "lower_pct": [70.0, 80.0, 15.0, 10.0],
                          "upper_pct": [95.0, 96.0, 48.0, 35.0]})
    return compplot.plot_outcomes_at_horizon(table, names={"hsct": "HSCT", "msct": "MSCT"}, ax=ax)


@case("compplot.plot_series_forest")
def _series_forest(ax):
    forest = pd.DataFrame({
        "arm": ["HSCT", "HSCT", "MSCT", "MSCT"],
        "label": ["Burt 2006", "HSCT, this data", "Wang 2013", "Liang 2010"],
        "estimate_pct": [84.0, 80.0, 94.0, np.nan], "lower_pct": [76.0, 68.0, np.nan, np.nan],
        "upper_pct": [90.0, 88.0, np.nan, np.nan], "source": ["published", "this data", "published", "published"],
        "when": ["5 y", "60 months", "4 y", "crude"]})
    pooled = pd.DataFrame({"arm": ["HSCT"], "pooled": [True], "estimate_pct": [82.0], "lower_pct": [72.0],
                           "upper_pct": [89.0], "k": [2]})
    return compplot.plot_series_forest(forest, pooled, ax=ax)


@case("longplot.plot_spaghetti")
def _spaghetti(ax):
    data = pd.DataFrame({"USUBJID": np.repeat(["P1", "P2", "P3", "P4", "P5"], 4),
                         "AVISITN": VISITS * 5,
                         "AVAL": [16, 10, 6, 4, 12, 12, 8, 8, 20, 14, 6, 2, 8, 6, 6, 4, 10, 4, 2, 0]})
    return longplot.plot_spaghetti(data, highlight=["P1", "P3"], ax=ax, ylabel="SLEDAI-2K")


@case("longplot.plot_by_visit")
def _long_by_visit(ax):
    return longplot.plot_by_visit(_by_visit_summary(), labels=LABELS, ax=ax, ylabel="SLEDAI-2K")


@case("longplot.plot_waterfall")
def _waterfall(ax):
    best = pd.DataFrame({"STUDYID": ["hsct_burt2006"] * 5 + ["msct_wang2013"] * 4,
                         "best_pchg": [-100, -80, -40, 10, -60, -90, -20, 25, -55]})
    return longplot.plot_waterfall(best, labels=LABELS, ax=ax)


@case("longplot.plot_swimmer")
def _swimmer(ax):
    swim = pd.DataFrame({"USUBJID": ["A", "B", "C", "D", "E"],
                         "follow_up_months": [12.0, 30.0, 24.0, 6.0, 36.0],
                         "cr_month": [6.0, 3.0, np.nan, np.nan, 9.0],
                         "relapse_month": [np.nan, 18.0, np.nan, np.nan, 24.0],
                         "end": ["censored", "censored", "death", "death", "censored"]})
    return longplot.plot_swimmer(swim, ax=ax, title="HSCT")


@case("longplot.plot_taper")
def _taper(ax):
    taper = _by_visit_summary()[["STUDYID", "AVISITN", "n"]].assign(
        pct_at_or_below_cap=[0.0, 20.0, 45.0, 70.0, 10.0, 30.0, 60.0, 80.0])
    return longplot.plot_taper(taper, labels=LABELS, ax=ax)


@case("longplot.plot_visit_accounting")
def _visit_accounting(ax):
    acc = pd.DataFrame({"visit_month": VISITS, "seen": [20, 17, 14, 9], "missed": [0, 2, 3, 4],
                        "not yet reached": [0, 0, 2, 5], "died before": [0, 1, 1, 2]})
    return longplot.plot_visit_accounting(acc, ax=ax, title="HSCT")


@case("plots.plot_baseline_by_cohort")
def _baseline_by_cohort(ax):
    patients = pd.DataFrame({"cohort": ["hsct_burt2006"] * 6 + ["msct_wang2013"] * 6,
                             "arm": ["HSCT"] * 6 + ["MSCT"] * 6,
                             "age": [28, 33, 35, 41, 22, 30, 25, 31, 29, 38, 44, 27]})
    return plots.plot_baseline_by_cohort(patients, "age", "Age (years)", ax=ax)


@case("plots.plot_by_visit")
def _plots_by_visit(ax):
    visits = pd.DataFrame({"visit_month": np.repeat(VISITS, 5),
                           "sledai": [16, 12, 20, 10, 8, 12, 10, 14, 6, 4, 8, 6, 6, 2, 4, 4, 2, 0, 4, 0]})
    return plots.plot_by_visit(visits, "sledai", "SLEDAI-2K", ax=ax)


@case("plots.plot_missingness")
def _missingness(ax):
    miss = pd.DataFrame({"column": ["albumin_g_l", "c3_g_l", "creatinine_umol_l"] * 2,
                         "cohort": ["hsct_burt2006"] * 3 + ["msct_wang2013"] * 3,
                         "pct_missing": [2.5, 12.0, 0.0, 5.0, 30.5, 1.2]})
    return plots.plot_missingness(miss, ax=ax)


@case("claims.plot_cr_trend")
def _cr_trend(ax):
    trend = pd.DataFrame({"year": [1, 2, 3], "published_pct": [40.0, 55.0, 60.0], "pub_lower": [25.0, 38.0, 40.0],
                          "pub_upper": [56.0, 70.0, 77.0], "pct": [42.0, 52.0, 63.0], "lower": [28.0, 36.0, 44.0],
                          "upper": [57.0, 67.0, 79.0], "evaluable": [40, 30, 19]})
    return claims.plot_cr_trend(trend, ax=ax)


@case("claims.plot_relapse_crude_vs_cif")
def _relapse_crude_vs_cif(ax):
    table = pd.DataFrame({"year": [1, 2, 3], "crude_pct": [10.0, 12.0, 8.0], "crude_lower": [4.0, 5.0, 2.0],
                          "crude_upper": [22.0, 25.0, 24.0], "cif_pct": [10.0, 20.0, 26.0],
                          "cif_lower": [4.0, 11.0, 15.0], "cif_upper": [20.0, 31.0, 38.0]})
    return claims.plot_relapse_crude_vs_cif(table, ax=ax)


@case("claims.plot_taper")
def _claims_taper(ax):
    table = pd.DataFrame({"visit_month": VISITS, "pct_at_or_below_cap": [0.0, 25.0, 50.0, 75.0],
                          "lower": [0.0, 12.0, 33.0, 55.0], "upper": [15.0, 43.0, 67.0, 88.0],
                          "pct_no_immunosuppressant": [0.0, 5.0, 15.0, 30.0]})
    return claims.plot_taper(table, ax=ax)


@case("claims.plot_lupus_beside_transplant")
def _lupus_beside_transplant(ax):
    years = np.array([0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    km = pd.concat([pd.DataFrame({"analysis": name, "time": years, "surv": surv}) for name, surv in (
        ("from diagnosis", [0.95, 0.9, 0.8, 0.7, 0.62, 0.55]),
        ("from onset, late entry", [0.97, 0.93, 0.86, 0.78, 0.7, 0.64]),
        ("from onset, late entry ignored", [0.99, 0.97, 0.93, 0.88, 0.83, 0.79]))], ignore_index=True)
    transplant = pd.concat([pd.DataFrame({"analysis": name, "time": years, "surv": surv}) for name, surv in (
        ("HSCT", [0.95, 0.9, 0.88, 0.86, 0.84, 0.84]), ("MSCT", [0.98, 0.96, 0.94, 0.94, 0.93, 0.93]))],
        ignore_index=True)
    return claims.plot_lupus_beside_transplant(km, transplant, ax=ax)


@case("bench.__main__.plot_scaling")
def _bench_scaling(ax):
    from sle_nb_utils.bench.__main__ import plot_scaling

    rows = []
    for step, (t0, m0) in {"synth": (10.0, 200.0), "clean": (2.0, 210.0), "build": (1.5, 190.0),
                           "clean+build": (3.5, 210.0)}.items():
        for n in (990, 10_065, 99_990):
            rows.append(dict(part="scale", step=step, metric="seconds", n_patients=n, value=t0 * (n / 990) ** 0.5))
            rows.append(dict(part="scale", step=step, metric="peak_rss_mb", n_patients=n,
                             value=m0 * (n / 990) ** 0.4))
    fig = ax.figure
    fig.set_size_inches(8.0, 3.5)
    ax.set_position([0.08, 0.42, 0.38, 0.5])
    right = fig.add_axes([0.58, 0.42, 0.38, 0.5])
    return plot_scaling(pd.DataFrame(rows), ax=(ax, right))


# --------------------------------------------------------------------------------------------
# drawing and comparing
# --------------------------------------------------------------------------------------------
def render(name: str, path: Path) -> None:
    """Draw case ``name`` with deterministic settings and save it as PNG at ``path``."""
    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        set_font_settings_for_testing()  # DejaVu Sans, no hinting
        set_reproducibility_for_testing()
        fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
        try:
            got = CASES[name](ax)
            assert got is ax or (isinstance(got, (list, tuple, np.ndarray))
                                 and all(a.figure is fig for a in np.ravel(got))), \
                f"{name} must return the axes it drew on"
            fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
        finally:
            plt.close(fig)


def baseline(name: str) -> Path:
    return BASELINE_DIR / f"{name}.png"


def refresh_hint(name: str) -> str:
    return (f"SLE_UPDATE_BASELINES=1 python -m pytest tests/test_images.py -k {name.replace('.', '_')!r}"
            " (then look at the new PNG before committing it)")


def case_id(name: str) -> str:
    return name.replace(".", "_")


@pytest.mark.parametrize("name", sorted(CASES), ids=[case_id(n) for n in sorted(CASES)])
def test_figure_matches_baseline(name, tmp_path):
    actual = tmp_path / f"{name}.png"
    render(name, actual)
    expected = baseline(name)
    if UPDATE:
        BASELINE_DIR.mkdir(exist_ok=True)
        shutil.copyfile(actual, expected)
    if not expected.exists():
        pytest.fail(f"no baseline tests/baseline_images/{expected.name}; write it with {refresh_hint(name)}")
    try:
        err = compare_images(str(expected), str(actual), tol=TOL, in_decorator=True)
    except ImageComparisonFailure as exc:  # different image sizes
        pytest.fail(f"{name}: {exc}; drawn: {actual}; if the change is meant, {refresh_hint(name)}")
    if err is not None:
        pytest.fail(f"{name} differs from tests/baseline_images/{expected.name}: RMS {err['rms']:.2f} > "
                    f"{TOL}; drawn: {err['actual']}; difference: {err['diff']}; if the change is meant, "
                    f"{refresh_hint(name)}")


def public_plot_functions() -> set[str]:
    """``module.plot_*`` for every public top-level function named ``plot_*`` in the package
    (read from the source, without importing it; private modules ``_x.py`` skipped)."""
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "def plot_" not in text:
            continue
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(p.startswith("_") and p != "__main__" for p in parts):  # private modules
            continue
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("plot_"):
                found.add(".".join((*parts, node.name)))
    return found


def test_every_plot_function_has_a_baseline():
    """A public plot function without an image case here, a case without a baseline, or a stale
    baseline (its function gone) fails; the baselines stay small."""
    functions = public_plot_functions()
    assert len(functions) >= 23, sorted(functions)  # the discovery itself works
    missing = sorted(functions - set(CASES))
    assert not missing, f"plot functions without an image test (add a case to tests/test_images.py): {missing}"
    stale = sorted(set(CASES) - functions)
    assert not stale, f"image cases whose function no longer exists: {stale}"
    if UPDATE:
        return
    pngs = {p.stem for p in BASELINE_DIR.glob("*.png")}
    assert not sorted(set(CASES) - pngs), f"cases without a baseline: {sorted(set(CASES) - pngs)}"
    assert not sorted(pngs - set(CASES)), f"baselines without a case: {sorted(pngs - set(CASES))}"
    total = sum(p.stat().st_size for p in BASELINE_DIR.glob("*.png"))
    assert total < MAX_TOTAL_BYTES, f"baseline images take {total} bytes"
