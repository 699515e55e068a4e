"""Test support: run an R reference script, and rerun one against the values it stored.

One helper for every ``r``-marked test: the test skips when ``Rscript`` is absent, and
``tests/conftest.py`` turns that skip into a failure under CI (``SLE_REQUIRE_R=1``).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest


def require_r() -> None:
    """Skip the calling test when ``Rscript`` is not on the PATH."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found")


def run_rscript(script, *args, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run an R script with arguments (skips without R); raises when R fails."""
    require_r()
    return subprocess.run(["Rscript", str(script), *map(str, args)], check=True, capture_output=True,
                          text=True, timeout=timeout)


def assert_rerun_matches(script, stored: Path, out: Path, *, rtol: float = 1e-9, atol: float = 1e-12,
                         timeout: int = 600, read=pd.read_csv) -> list[str]:
    """Rerun ``script`` into ``out`` and compare every CSV it writes with the stored one in ``stored``
    (the same file names, the same values within ``rtol``/``atol``). Returns the file names."""
    run_rscript(script, out, timeout=timeout)
    names = sorted(p.name for p in Path(stored).glob("*.csv"))
    assert names, f"no stored values in {stored}"
    assert sorted(p.name for p in Path(out).glob("*.csv")) == names
    for name in names:
        pd.testing.assert_frame_equal(read(Path(out) / name), read(Path(stored) / name), check_exact=False,
                                      rtol=rtol, atol=atol)
    return names
