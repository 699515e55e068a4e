"""Random-effects pooling (:mod:`sle_nb_utils.stats.meta`) against R metafor.

Reference values: ``tests/reference/meta_reference.R`` (metafor 3.8.1) on
``tests/reference/meta_fixture.csv``, written to ``tests/reference/values/meta/``.  The issue's
criterion: tau^2, pooled estimate and CI within 1e-6 of ``rma(method = "REML", test = "knha")``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rtools import run_rscript

from sle_nb_utils.errors import BadInputError
from sle_nb_utils.stats import meta

REF = Path(__file__).resolve().parent / "reference"
VAL = REF / "values" / "meta"
TOL = 1e-6
FIELDS = [("tau2", "tau2"), ("estimate", "estimate"), ("se", "se"), ("lower", "ci_lb"), ("upper", "ci_ub"),
          ("pi_lower", "pi_lb"), ("pi_upper", "pi_ub"), ("i2", "I2"), ("h2", "H2"), ("q", "QE"), ("q_p", "QEp")]


def read(path):
    return pd.read_csv(path, skipinitialspace=True)


FIXTURE = read(REF / "meta_fixture.csv")
POOLED = read(VAL / "pooled.csv")


@pytest.mark.parametrize("dataset,test", list(POOLED[["dataset", "test"]].itertuples(index=False, name=None)))
def test_random_effects_matches_metafor(dataset, test):
    s = FIXTURE[FIXTURE.dataset == dataset]
    yi, vi = meta.logit_proportions(s.events, s.total)
    esc = read(VAL / "escalc.csv").query("dataset == @dataset")
    np.testing.assert_allclose(yi, esc.yi, atol=1e-12)
    np.testing.assert_allclose(vi, esc.vi, atol=1e-12)
    got = meta.random_effects(yi, vi, test=test)
    ref = POOLED.set_index(["dataset", "test"]).loc[(dataset, test)]
    assert got["k"] == ref["k"]
    assert got["converged"]
    for ours, theirs in FIELDS:
        assert abs(got[ours] - ref[theirs]) <= TOL * max(1.0, abs(ref[theirs])), (ours, got[ours], ref[theirs])


def test_fixture_covers_zero_tau2_and_edge_studies():
    """The fixture is not trivial: one dataset has tau^2 = 0 (REML truncated), one a 0/n and one an n/n study."""
    knha = POOLED[POOLED.test == "knha"].set_index("dataset")
    assert knha.loc["homogeneous4", "tau2"] == 0
    assert (knha["tau2"] > 0.5).any()
    assert ((FIXTURE.events == 0) | (FIXTURE.events == FIXTURE.total)).sum() >= 2


def test_hartung_knapp_by_hand():
    """Three studies worked by hand: with tau^2 = 0 the weights are 1/v, and the HK variance is
    sum w (y - mu)^2 / ((k - 1) sum w)."""
    y = np.array([0.0, 0.0, 0.0])
    v = np.array([0.1, 0.2, 0.4])
    r = meta.random_effects(y, v)
    assert r["tau2"] == 0 and r["estimate"] == 0 and r["se"] == 0 and r["q"] == 0
    y = np.array([-1.0, 0.0, 1.0])
    v = np.array([1.0, 1.0, 1.0])
    r = meta.random_effects(y, v)
    # REML with equal v: tau2 = var(y) - v = 1 - 1 = 0 here; mu = 0; HK se^2 = (1 + 0 + 1) / (2 * 3)
    assert r["tau2"] == pytest.approx(0.0, abs=1e-12)
    assert r["se"] == pytest.approx(np.sqrt(2 / 6), abs=1e-12)
    from scipy import stats

    assert r["upper"] == pytest.approx(stats.t.ppf(0.975, 2) * np.sqrt(1 / 3), abs=1e-12)
    # equal v: REML tau2 = sample variance - v exactly
    y = np.array([-2.0, 0.5, 3.0, 1.0])
    r = meta.random_effects(y, np.full(4, 0.25))
    assert r["tau2"] == pytest.approx(np.var(y, ddof=1) - 0.25, abs=1e-10)


def test_pool_proportions_back_transforms_and_refuses_two_series():
    s = FIXTURE[FIXTURE.dataset == "mixed8"]
    out = meta.pool_proportions(s.events, s.total)
    ref = POOLED.set_index(["dataset", "test"]).loc[("mixed8", "knha")]
    expit = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    assert out["estimate"].iloc[0] == pytest.approx(expit(ref["estimate"]), abs=1e-7)
    assert out["lower"].iloc[0] == pytest.approx(expit(ref["ci_lb"]), abs=1e-7)
    assert out["upper"].iloc[0] == pytest.approx(expit(ref["ci_ub"]), abs=1e-7)
    with pytest.raises(BadInputError, match="at least 3"):
        meta.pool_proportions([5, 6], [10, 12])


@pytest.mark.parametrize("events,total,match", [
    ([1, 11], [10, 10], "events"), ([1.5, 2], [10, 10], "events"), ([1, np.nan], [10, 10], "events"),
])
def test_bad_proportions(events, total, match):
    with pytest.raises(BadInputError, match=match):
        meta.logit_proportions(events, total)


def test_bad_variances():
    with pytest.raises(BadInputError, match="vi"):
        meta.random_effects([0.1, 0.2, 0.3], [0.1, 0.0, 0.2])
    with pytest.raises(BadInputError, match="at least 2"):
        meta.random_effects([0.1], [0.1])


@pytest.mark.r
@pytest.mark.rerun
def test_r_reference_rerun(tmp_path):
    run_rscript(REF / "meta_reference.R", tmp_path, timeout=300)
    for name in ("escalc.csv", "pooled.csv"):
        new, old = read(tmp_path / name), read(VAL / name)
        pd.testing.assert_frame_equal(new, old, check_exact=False, rtol=1e-12, atol=1e-12)
