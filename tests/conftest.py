"""Shared test settings.

Tests marked ``r`` rerun the R reference scripts and skip when ``Rscript`` is absent. CI sets
``SLE_REQUIRE_R=1`` (it installs R), and then a skipped R test is a failure, so that a broken R
install cannot pass unnoticed.
"""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")  # unit tests only; nbval runs notebooks in their own kernels


#: Test files whose fixtures run the whole notebook collection (tens of seconds each): scheduled
#: first, so that the two xdist workers finish together (longest first); everything else keeps its
#: collection order. ``make test`` runs ``--dist loadfile --no-loadscope-reorder``.
HEAVY_FIRST = ("test_own_cohort.py", "test_site.py", "test_run_cli.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items[:] = [item for _, item in sorted(enumerate(items),
                                            key=lambda p: (rank.get(p[1].path.name, len(rank)), p[0]))]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("SLE_REQUIRE_R") == "1"
            and item.get_closest_marker("r") is not None):
        report.outcome = "failed"
        report.longrepr = f"R test skipped although SLE_REQUIRE_R=1: {report.longrepr}"


# --------------------------------------------------------------------------------------------
# shared data: the calibrated synthetic truth, its messy exports and one cleaning run (built once
# per session; tests must not modify them: copy what you change into tmp_path)
# --------------------------------------------------------------------------------------------
SEED = 20130401


@pytest.fixture(scope="session")
def truth():
    """The calibrated synthetic truth tables (``synth.make_truth``, seed 20130401)."""
    from sle_nb_utils import synth

    return synth.make_truth(SEED)


@pytest.fixture(scope="session")
def raw_exports(truth, tmp_path_factory):
    """``(raw_dir, manifest)``: the truth written as messy site exports by ``messy``."""
    from sle_nb_utils import messy

    raw = tmp_path_factory.mktemp("raw")
    manifest = messy.write_raw_exports(truth, raw, SEED)
    return raw, manifest


@pytest.fixture(scope="session")
def cleaned(raw_exports, tmp_path_factory):
    """``(result, out_dir)``: one cleaning run over :func:`raw_exports`, written to ``out_dir``."""
    from sle_nb_utils import cleaning

    out = tmp_path_factory.mktemp("clean")
    return cleaning.clean_directory(raw_exports[0], out_dir=out), out
