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


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("SLE_REQUIRE_R") == "1"
            and item.get_closest_marker("r") is not None):
        report.outcome = "failed"
        report.longrepr = f"R test skipped although SLE_REQUIRE_R=1: {report.longrepr}"
