"""Infinitesimal-jackknife SE of the Aalen-Johansen CIF against R survfit (multi-state)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils.errors import BadInputError
from sle_nb_utils.stats.cif_variance import cif_ij_se_at
from sle_nb_utils.stats.competing import cif_var_at

REF = Path(__file__).parent / "reference"
VAL = REF / "values" / "cif_variance"


@pytest.fixture(scope="module")
def d():
    return pd.read_csv(REF / "survival_fixture.csv")


@pytest.mark.parametrize("cause", [1, 2])
def test_matches_survfit_multistate(d, cause):
    r = pd.read_csv(VAL / "survfit_ms.csv").query("cause == @cause")
    cif, se = cif_ij_se_at(d.time, d.status, r.time.to_numpy(dtype=float), cause)
    np.testing.assert_allclose(cif, r.cif, rtol=0, atol=1e-12)
    np.testing.assert_allclose(se, r.se, rtol=0, atol=1e-12)
    # same point estimate as cmprsk's, different variance
    c2, v2 = cif_var_at(d.time, d.status, r.time.to_numpy(dtype=float), cause)
    np.testing.assert_allclose(cif, c2, atol=1e-12)
    assert not np.allclose(se, np.sqrt(v2), atol=1e-6)


def test_edges():
    c, s = cif_ij_se_at([1, 2, 3], [0, 0, 0], 2.5)
    assert (c, s) == (0.0, 0.0)
    c, s = cif_ij_se_at([1, 2], [1, 1], [0.5, 5.0])
    assert c[0] == 0 and np.isnan(c[1])
    with pytest.raises(BadInputError):
        cif_ij_se_at([1, 2], [1, -1], 1.0)


@pytest.mark.r
@pytest.mark.rerun
def test_r_rerun(tmp_path):
    from test_survival import run_rscript

    run_rscript(REF / "cif_variance_reference.R", tmp_path)
    a = pd.read_csv(tmp_path / "survfit_ms.csv")
    b = pd.read_csv(VAL / "survfit_ms.csv")
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
