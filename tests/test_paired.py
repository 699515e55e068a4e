"""Paired tests by visit against R's wilcox.test / t.test / p.adjust (values from
``tests/reference/mixed_reference.R``, fixture ``tests/reference/paired_fixture.csv``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sle_nb_utils.errors import BadInputError
from sle_nb_utils.stats import paired

REF = Path(__file__).resolve().parent / "reference"


@pytest.fixture(scope="module")
def pr() -> pd.DataFrame:
    return pd.read_csv(REF / "paired_fixture.csv")


def rv(name, quantity, term):
    r = pd.read_csv(REF / "values" / "mixed" / "paired.csv")
    return float(r[(r.model == name) & (r.quantity == quantity) & (r.term == term)].value.item())


@pytest.mark.parametrize("name,after,before,method", [
    ("ties_zeros", "month12", "baseline", "normal approximation"),
    ("small_exact", "small_month12", "small_baseline", "exact"),
])
def test_wilcoxon_and_t_match_r(pr, name, after, before, method):
    w = paired.wilcoxon_signed_rank(pr[after], pr[before])
    assert w["method"] == method
    assert w["V"] == rv(name, "wilcoxon", "V")
    assert w["p"] == pytest.approx(rv(name, "wilcoxon", "p"), rel=1e-10)
    t = paired.paired_t(pr[after], pr[before])
    for k in ("t", "df", "p", "mean_diff", "lower", "upper"):
        assert t[k] == pytest.approx(rv(name, "t", k), rel=1e-10), k
    assert t["n_pairs"] == w["n_pairs"] == int(pr[[after, before]].dropna().shape[0])


def test_wilcoxon_counts_zeros(pr):
    w = paired.wilcoxon_signed_rank(pr.month12, pr.baseline)
    assert w["n_pairs"] == 60 and w["n_nonzero"] == int((pr.month12 != pr.baseline).sum()) < 60


def test_exact_distribution_equals_enumeration():
    """P(V <= v) of the signed-rank null, by the recursion, against all 2^n sign patterns."""
    from itertools import product

    for n in (1, 4, 9):
        sums = np.array([sum(k + 1 for k, s in enumerate(signs) if s) for signs in product((0, 1), repeat=n)])
        for v in range(-1, n * (n + 1) // 2 + 2):
            assert paired._psignrank_le(v, n) == pytest.approx((sums <= v).mean(), abs=1e-15)


def test_holm_matches_p_adjust():
    r = pd.read_csv(REF / "values" / "mixed" / "paired.csv")
    ref = r[r.model == "holm"].sort_values("term").value.to_numpy(float)
    np.testing.assert_allclose(paired.holm([0.001, 0.04, 0.03, 0.2, 0.0125]), ref, rtol=1e-12)
    out = paired.holm([0.01, np.nan, 0.02])
    assert np.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


def test_paired_tests_table(pr):
    long = pd.concat([
        pd.DataFrame({"id": pr.pair, "month": 12, "value": pr.month12, "base": pr.baseline}),
        pd.DataFrame({"id": pr.pair, "month": 6, "value": pr.baseline - 1.0 * (pr.pair % 3), "base": pr.baseline}),
        pd.DataFrame({"id": pr.pair, "month": 0, "value": pr.baseline, "base": pr.baseline}),
    ])
    t = paired.paired_tests(long, "value", "base", "month", subject="id")
    assert list(t.month) == [6, 12]
    row = t[t.month == 12].iloc[0]
    assert row.n_pairs == 60
    assert row.wilcoxon_p == pytest.approx(rv("ties_zeros", "wilcoxon", "p"), rel=1e-10)
    np.testing.assert_allclose(t.wilcoxon_p_holm, paired.holm(t.wilcoxon_p))
    assert set(t.correction) == {"Holm across 2 visits"}
    with pytest.raises(BadInputError, match="twice"):
        paired.paired_tests(pd.concat([long, long]), "value", "base", "month", subject="id")


def test_summary_by_visit():
    d = pd.DataFrame({"v": [0, 0, 0, 1, 1, 1, 1], "x": [1.0, 2.0, 6.0, 3.0, 4.0, np.nan, 5.0]})
    s = paired.summary_by_visit(d, "x", "v")
    r0 = s.iloc[0]
    assert r0.n == 3 and r0["mean"] == pytest.approx(3.0) and r0["median"] == 2.0
    half = stats.t.ppf(0.975, 2) * np.std([1, 2, 6], ddof=1) / np.sqrt(3)
    assert r0.mean_lower == pytest.approx(3 - half) and r0.q1 == 1.5 and r0.q3 == 4.0
    assert s.iloc[1].n == 3
    with pytest.raises(BadInputError):
        paired.summary_by_visit(d, "nope", "v")


def test_bad_input_and_degenerate_cases():
    with pytest.raises(BadInputError, match="length"):
        paired.wilcoxon_signed_rank([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(BadInputError, match="non-numeric"):
        paired.paired_t(["a", "b"], [1.0, 2.0])
    with pytest.raises(BadInputError, match="conf_level"):
        paired.paired_t([1.0, 2.0], [1.0, 3.0], conf_level=95)
    w = paired.wilcoxon_signed_rank([1.0, 2.0], [1.0, 2.0])  # all differences zero (R: p = NaN)
    assert w["n_pairs"] == 2 and w["n_nonzero"] == 0 and np.isnan(w["p"])
    t = paired.paired_t([1.0, np.nan, 3.0], [0.5, 1.0, np.nan])  # incomplete pairs dropped
    assert t["n_pairs"] == 1 and np.isnan(t["p"])
