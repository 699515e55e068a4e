"""Privacy helpers: the scrubber of rendered text and where the analysis cache goes.

The end-to-end privacy checks (``run`` on a re-identified export: no identifier and no exact date in
any rendered file, nothing written into the repository) are in ``test_own_cohort.py``, which runs
the whole collection once on a researcher's own series for both the any-cohort and the privacy
checks."""

from __future__ import annotations

import re
from pathlib import Path

from sle_nb_utils import config, report

ROOT = config.PROJ_ROOT


def test_scrubber_masks_identifiers_and_dates():
    ids = report.identifier_pattern(["MR1234567", "4857730291", "12", "H7654321"])
    text = ("MR1234567 seen 2009-03-04, 04/03/2009, 4 Mar 2009, 04-Mar-2009, Mar 4, 2009 and "
            "4857730291 at 2009-03-04 00:00:00; h7654321 twice; 12 patients; CI 0.81 (0.70-0.89); "
            "p 0.05; 12.5 months; version 4.15.0")
    got = report.scrub_text(text, ids)
    assert "MR1234567" not in got and "4857730291" not in got and "h7654321" not in got
    assert not re.search(r"2009|Mar", got), got
    # counts, intervals and short numbers are left alone
    for keep in ("12 patients", "0.81 (0.70-0.89)", "p 0.05", "12.5 months", "4.15.0"):
        assert keep in got, (keep, got)
    assert got.count(report.ID_MASK) == 3 and got.count(report.DATE_MASK) == 6


def test_cache_is_never_in_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == tmp_path / "xdg" / "sle_nb_utils"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert config.cache_dir() == Path.home() / ".cache" / "sle_nb_utils"
    assert ROOT not in config.cache_dir().parents
    monkeypatch.setenv(config.ENV_CACHE_DIR, str(tmp_path / "run" / "cache"))
    assert config.cache_dir() == tmp_path / "run" / "cache"
