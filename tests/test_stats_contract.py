"""The stats layer's input contract, degenerate inputs, ``group=`` and late entry.

Late entry (left truncation) is checked against R (``tests/reference/late_entry_reference.R``,
values in ``tests/reference/values/late_entry/``); the degenerate cases check R's answer or a
clear error, never a silent number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rtools import assert_rerun_matches

from sle_nb_utils.errors import BadInputError, ConvergenceWarning
from sle_nb_utils.stats import _validate as v
from sle_nb_utils.stats import competing as cr
from sle_nb_utils.stats import survival as sv

REF = Path(__file__).resolve().parent / "reference"
LATE = REF / "values" / "late_entry"


def close(a, b, tol=1e-10):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=tol, atol=tol)


@pytest.fixture(scope="module")
def le() -> pd.DataFrame:
    return pd.read_csv(REF / "late_entry_fixture.csv")


@pytest.fixture(scope="module")
def small() -> pd.DataFrame:
    return pd.read_csv(REF / "survival_fixture.csv")


# ---------------------------------------------------------------- the contract
def test_event_coded_1_2_is_refused_with_r_hint(small):
    e12 = small.event + 1
    for call in (lambda: sv.kaplan_meier(small.time, e12), lambda: sv.km_surv_se_at(small.time, e12, 12),
                 lambda: sv.logrank_test(small.time, e12, small.arm)):
        with pytest.raises(BadInputError, match="R's Surv 1/2 coding .*; recode as 0/1"):
            call()


@pytest.mark.parametrize("bad,msg", [([1.0, np.nan, 3.0], "1 missing value"), ([1.0, -2.0, 3.0], "1 negative"),
                                     ([1.0, np.inf, 3.0], "1 infinite")])
def test_bad_times_name_the_column_and_count(bad, msg):
    with pytest.raises(BadInputError, match=msg) as ex:
        sv.km_surv_se_at(pd.Series(bad, name="months"), [1, 0, 1], 1.0)
    assert "column 'time'" in str(ex.value)
    with pytest.raises(BadInputError, match=msg):
        cr.cif_var_at(bad, [1, 0, 2], 1.0)


def test_status_must_be_integer_codes():
    with pytest.raises(BadInputError, match="positive integer cause code"):
        cr.aalen_johansen([1, 2, 3], [0, 1.5, 2])
    with pytest.raises(BadInputError, match="missing"):
        cr.cif_milestones([1, 2, 3], [0, np.nan, 2])


def test_groups_one_type_and_two_levels(small):
    with pytest.raises(BadInputError, match="only 1 group"):
        sv.logrank_test(small.time, small.event, ["x"] * len(small))
    mixed = np.array([1, "B"] * (len(small) // 2), dtype=object)
    with pytest.raises(BadInputError, match="mixes numbers and text"):
        sv.logrank_test(small.time, small.event, mixed)
    with pytest.raises(BadInputError, match="only 1 group"):
        cr.gray_test(small.time, small.status, ["x"] * len(small))


def test_no_events_is_an_error_not_a_number(small):
    zero = np.zeros(len(small), dtype=int)
    with pytest.raises(BadInputError, match="no events"):
        sv.logrank_test(small.time, zero, small.arm)
    with pytest.raises(BadInputError, match="no events of any cause"):
        cr.gray_test(small.time, zero, small.arm)
    with pytest.raises(BadInputError, match="no events of cause 1"):
        cr.fine_gray(small.time, zero, small[["age"]])


def test_gray_singular_variance_is_flagged_not_minus_one():
    # group B is censored before any event: no information on either cause -> cmprsk returns -1
    t = np.array([1.0, 2, 3, 4, 5, 6, 0.1, 0.2, 0.3])
    s = np.array([1, 2, 1, 2, 1, 0, 0, 0, 0])
    g = np.array(["A"] * 6 + ["B"] * 3)
    out = cr.gray_test(t, s, g)
    assert list(out.columns) == ["cause", "chisq", "df", "p", "note"]
    assert out.chisq.isna().all() and out.p.isna().all() and out.note.str.contains("singular").all()
    ok = cr.gray_test(np.arange(1.0, 13.0), [1, 2, 1, 0, 2, 1, 1, 0, 1, 0, 1, 0], ["A"] * 6 + ["B"] * 6)
    assert ok.chisq.notna().all() and (ok.note == "").all()


def test_categorical_covariates_are_dummy_coded_against_a_reference(small):
    X = pd.DataFrame({"sex": np.where(small.nephritis == 1, "M", "F"), "age": small.age})
    d = v.design_matrix(X)
    assert d.terms == ["sex[M]", "age"] and d.reference == {"sex": "F"}
    d2 = v.design_matrix(X, reference={"sex": "M"})
    assert d2.terms == ["sex[F]", "age"]
    np.testing.assert_array_equal(d.X[:, 0], 1 - d2.X[:, 0])
    fg_text = cr.fine_gray(small.time, small.status, X)
    fg_num = cr.fine_gray(small.time, small.status, pd.DataFrame({"sex[M]": small.nephritis.astype(float), "age": small.age}))
    close(fg_text.params.to_numpy(), fg_num.params.to_numpy(), 1e-12)
    assert list(fg_text.summary.term) == ["sex[M]", "age"]


def test_constant_and_collinear_covariates_name_the_column(small):
    X = pd.DataFrame({"age": small.age, "one": 1.0})
    with pytest.raises(BadInputError, match="constant") as ex:
        cr.fine_gray(small.time, small.status, X)
    assert "'one'" in str(ex.value)
    X = pd.DataFrame({"age": small.age, "age_months": small.age * 12 + 3})
    with pytest.raises(BadInputError, match="collinear with 'age'") as ex:
        cr.fine_gray(small.time, small.status, X)
    assert "'age_months'" in str(ex.value)
    with pytest.raises(BadInputError, match="2 missing") as ex:
        v.design_matrix(pd.DataFrame({"age": [1.0, np.nan, np.nan, 4.0]}))


def test_fine_gray_non_convergence_warns_and_is_in_the_summary(small):
    X = small[["age", "nephritis"]].astype(float)
    with pytest.warns(ConvergenceWarning, match="Fine-Gray did not converge after 0"):
        fit = cr.fine_gray(small.time, small.status, X, maxiter=0)
    assert not fit.converged and (~fit.summary.converged).all()
    assert list(fit.summary.columns) == ["term", "coef", "shr", "se", "lower", "upper", "z", "p", "n",
                                         "n_events", "converged"]


# ---------------------------------------------------------------- group=
def test_group_argument_gives_one_long_table(small):
    long = sv.kaplan_meier(small.time, small.event, group=small.arm)
    assert long.columns[0] == "group" and list(pd.unique(long.group)) == sorted(small.arm.unique())
    for g, part in long.groupby("group"):
        m = small.arm == g
        pd.testing.assert_frame_equal(part.drop(columns="group").reset_index(drop=True),
                                      sv.kaplan_meier(small.time[m], small.event[m]))
    ms = sv.km_milestones(small.time, small.event, at=[12, 24], group=small.grp3)
    assert len(ms) == 2 * small.grp3.nunique()
    aj = cr.aalen_johansen(small.time, small.status, group=small.arm)
    cm = cr.cif_milestones(small.time, small.status, at=[12, 24], group=small.arm)
    for g in small.arm.unique():
        m = small.arm == g
        close(aj.loc[aj.group == g, "cif"], cr.aalen_johansen(small.time[m], small.status[m]).cif, 0)
        close(cm.loc[cm.group == g, "variance"], cr.cif_milestones(small.time[m], small.status[m], at=[12, 24]).variance, 0)


# ---------------------------------------------------------------- late entry against R
def test_late_entry_km_matches_survfit(le):
    r = pd.read_csv(LATE / "km_all.csv")
    k = sv.kaplan_meier(le.exit, le.event, entry=le.entry)
    assert len(k) == len(r)
    close(k.time, r.time, 1e-12)
    close(k.n_risk, r.n_risk, 0)
    close(k.surv, r.surv, 1e-12)
    close(k.se, r.std_err, 1e-10)
    # entry = 0 for everybody is the ordinary estimator
    pd.testing.assert_frame_equal(sv.kaplan_meier(le.exit, le.event, entry=np.zeros(len(le))),
                                  sv.kaplan_meier(le.exit, le.event))


def test_late_entry_km_by_group_and_milestones(le):
    r = pd.read_csv(LATE / "km_arm.csv")
    k = sv.kaplan_meier(le.exit, le.event, group=le.arm, entry=le.entry)
    assert list(k.group) == list(r.group)
    close(k.surv, r.surv, 1e-12)
    close(k.se, r.std_err, 1e-10)
    close(k.n_risk, r.n_risk, 0)
    r = pd.read_csv(LATE / "km_milestones.csv")
    m = sv.km_milestones(le.exit, le.event, at=[6, 12, 24, 48], entry=le.entry)
    close(m.n_risk, r.n_risk, 0)
    close(m.surv, r.surv, 1e-12)
    close(m.se, r.std_err, 1e-10)


def test_late_entry_aalen_johansen_matches_survfit_multistate(le):
    r = pd.read_csv(LATE / "aj.csv")
    a1 = cr.aalen_johansen(le.exit, le.status, cause=1, entry=le.entry)
    a2 = cr.aalen_johansen(le.exit, le.status, cause=2, entry=le.entry)
    assert len(r) == len(a1)
    close(a1.time, r.time, 1e-12)
    close(a1.cif, r.cif1, 1e-12)
    close(a2.cif, r.cif2, 1e-12)
    close(a1.n_risk, r.n_risk, 0)
    c, _ = cr.cif_var_at(le.exit, le.status, [12.0, 24.0], entry=le.entry)
    close(c, [a1.cif[a1.time <= 12].iloc[-1], a1.cif[a1.time <= 24].iloc[-1]], 0)


@pytest.mark.parametrize("test,group,strata", [("arm", "arm", None), ("grp3", "grp3", None),
                                               ("arm_strata", "arm", "stratum")])
def test_late_entry_logrank_matches_coxph_score_test(le, test, group, strata):
    r = pd.read_csv(LATE / "logrank.csv").set_index("test").loc[test]
    p = sv.logrank_test(le.exit, le.event, le[group], strata=None if strata is None else le[strata], entry=le.entry)
    close(p.chisq.iloc[0], r.chisq, 1e-9)
    assert p.df.iloc[0] == r.df


def test_entry_must_precede_exit():
    with pytest.raises(BadInputError, match="entry must be < exit"):
        sv.kaplan_meier([5.0, 3.0], [1, 0], entry=[1.0, 3.0])


@pytest.mark.r
@pytest.mark.rerun
def test_r_late_entry_reference_rerun(tmp_path):
    """Rerun late_entry_reference.R and compare with the stored values."""
    names = assert_rerun_matches(REF / "late_entry_reference.R", LATE, tmp_path, rtol=1e-12, atol=1e-14,
                                 timeout=300)
    assert len(names) == 5
