"""SLEDAI-2K, eGFR (CKD-EPI 2021) and unit conversions against published definitions."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sle_nb_utils import scores, units


def visit(**present):
    row = {d: 0 for d in scores.SLEDAI_2K_DESCRIPTORS}
    row.update({f"sledai_{k}": v for k, v in present.items()})
    return pd.DataFrame([row])


# ------------------------------------------------------------------ SLEDAI-2K (Gladman 2002)
def test_sledai_weights_are_gladman_2002():
    w = scores.SLEDAI_2K_WEIGHTS
    assert len(w) == 24
    assert sorted(w.values()).count(8) == 8 and sorted(w.values()).count(4) == 6
    assert sorted(w.values()).count(2) == 7 and sorted(w.values()).count(1) == 3
    assert scores.SLEDAI_2K_MAX == 105  # the published range is 0-105


def test_sledai_worked_example_active_nephritis():
    # proteinuria 4 + haematuria 4 + low complement 2 + increased DNA binding 2 + fever 1 = 13
    v = visit(proteinuria=1, haematuria=1, low_complement=1, increased_dna_binding=1, fever=1)
    assert scores.sledai_2k(v).iloc[0] == 13


def test_sledai_all_and_none():
    assert scores.sledai_2k(visit()).iloc[0] == 0
    allv = visit(**{d.removeprefix("sledai_"): 1 for d in scores.SLEDAI_2K_DESCRIPTORS})
    assert scores.sledai_2k(allv).iloc[0] == 105


def test_sledai_rejects_missing_and_non_binary():
    with pytest.raises(ValueError, match="missing: sledai_fever"):
        scores.sledai_2k(visit().drop(columns="sledai_fever"))
    with pytest.raises(ValueError, match="sledai_rash"):
        scores.sledai_2k(visit(rash=2))
    with pytest.raises(ValueError, match="sledai_rash"):
        scores.sledai_2k(visit(rash=np.nan))


def test_recorded_total_mismatch_is_reported():
    v = visit(arthritis=1)
    v["sledai_2k_total"] = 6
    v["patient_id"], v["visit_month"] = "P1", 3
    bad = scores.sledai_total_mismatches(v)
    assert bad[["patient_id", "visit_month", "recorded", "computed"]].iloc[0].tolist() == ["P1", 3, 6, 4]
    v["sledai_2k_total"] = 4
    assert scores.sledai_total_mismatches(v).empty


def lab_visit(**labs):
    base = {"proteinuria_g_24h": 0.2, "c3_g_l": 1.0, "c4_g_l": 0.2, "anti_dsdna_iu_ml": 20.0,
            "platelets_10e9_l": 200.0, "wbc_10e9_l": 6.0}
    base.update(labs)
    v = visit()
    for k, val in base.items():
        v[k] = val
    return v


@pytest.mark.parametrize("lab, value, descriptor, implied", [
    ("proteinuria_g_24h", 0.5, "sledai_proteinuria", 0.0),   # threshold is "> 0.5 g/24 h"
    ("proteinuria_g_24h", 0.51, "sledai_proteinuria", 1.0),
    ("platelets_10e9_l", 100.0, "sledai_thrombocytopenia", 0.0),  # "< 100 x 10^9/L"
    ("platelets_10e9_l", 99.0, "sledai_thrombocytopenia", 1.0),
    ("wbc_10e9_l", 3.0, "sledai_leukopenia", 0.0),  # "< 3 x 10^9/L"
    ("wbc_10e9_l", 2.9, "sledai_leukopenia", 1.0),
    ("c3_g_l", 0.9, "sledai_low_complement", 0.0),
    ("c3_g_l", 0.89, "sledai_low_complement", 1.0),
    ("c4_g_l", 0.09, "sledai_low_complement", 1.0),
    ("anti_dsdna_iu_ml", 100.0, "sledai_increased_dna_binding", 0.0),
    ("anti_dsdna_iu_ml", 101.0, "sledai_increased_dna_binding", 1.0),
])
def test_lab_driven_descriptors_at_thresholds(lab, value, descriptor, implied):
    v = lab_visit(**{lab: value})
    assert scores.lab_descriptors(v)[descriptor].iloc[0] == implied
    v[descriptor] = 1 - int(implied)
    conflicts = scores.lab_descriptor_conflicts(v)
    assert conflicts["descriptor"].tolist() == [descriptor]


def test_missing_lab_is_not_a_conflict():
    v = lab_visit(proteinuria_g_24h=np.nan)
    v["sledai_proteinuria"] = 1
    assert scores.lab_descriptor_conflicts(v).empty


# ------------------------------------------------------------------ eGFR CKD-EPI 2021 (Inker 2021)
# Expected values are hand-computed from the published equation (Inker LA et al., NEJM 2021;
# 385:1737-49): 142 x min(Scr/k,1)^a x max(Scr/k,1)^-1.200 x 0.9938^age x 1.012 [female].
@pytest.mark.parametrize("scr_mg_dl, age, sex, expected", [
    # female 50 y, Scr 1.0 mg/dL: 142 x (1/0.7)^-1.2 x 0.9938^50 x 1.012 = 68.6 (calculators show 69)
    (1.0, 50, "F", 142 * (1.0 / 0.7) ** -1.2 * 0.9938 ** 50 * 1.012),
    # male 60 y, Scr 1.2 mg/dL = 69.2
    (1.2, 60, "M", 142 * (1.2 / 0.9) ** -1.2 * 0.9938 ** 60),
    # below kappa uses alpha: female 30 y, Scr 0.5
    (0.5, 30, "F", 142 * (0.5 / 0.7) ** -0.241 * 0.9938 ** 30 * 1.012),
    (0.6, 30, "M", 142 * (0.6 / 0.9) ** -0.302 * 0.9938 ** 30),
    # exactly at kappa both power terms are 1
    (0.7, 40, "F", 142 * 0.9938 ** 40 * 1.012),
    (0.9, 40, "M", 142 * 0.9938 ** 40),
])
def test_egfr_ckd_epi_2021(scr_mg_dl, age, sex, expected):
    got = scores.egfr_ckd_epi_2021(scr_mg_dl * 88.4, age, sex)
    assert got == pytest.approx(expected, rel=1e-12)


def test_egfr_published_rounding_example():
    assert round(scores.egfr_ckd_epi_2021(88.4, 50, "F")) == 69
    assert round(scores.egfr_ckd_epi_2021(1.2 * 88.4, 60, "M")) == 69


def test_egfr_vectorised_and_bad_values():
    out = scores.egfr_ckd_epi_2021(np.array([61.88, 79.56]), np.array([40, 40]), np.array(["F", "M"]))
    assert out.shape == (2,)
    with pytest.raises(ValueError, match="positive"):
        scores.egfr_ckd_epi_2021(-5, 40, "F")
    with pytest.raises(ValueError, match="positive"):
        scores.egfr_ckd_epi_2021(np.nan, 40, "F")
    with pytest.raises(ValueError, match="sex"):
        scores.egfr_ckd_epi_2021(80, 40, "X")
    with pytest.raises(ValueError, match="age"):
        scores.egfr_ckd_epi_2021(80, -1, "F")


def test_egfr_not_defined_for_children():
    assert math.isnan(scores.egfr_ckd_epi_2021(60, 16, "F"))


# ------------------------------------------------------------------ units (docs/design.md, Clinical definitions)
@pytest.mark.parametrize("quantity, value, unit, expected", [
    ("creatinine_umol_l", 1.0, "mg/dL", 88.4),
    ("creatinine_umol_l", 88.4, "µmol/L", 88.4),
    ("albumin_g_l", 3.5, "g/dL", 35.0),
    ("c3_g_l", 90.0, "mg/dL", 0.9),
    ("c4_g_l", 10.0, "mg/dl", 0.1),
    ("proteinuria_g_24h", 2500.0, "mg/24h", 2.5),
    ("proteinuria_g_24h", 2500.0, "mg/day", 2.5),
])
def test_unit_conversions(quantity, value, unit, expected):
    assert float(units.convert([value], quantity, unit)[0]) == pytest.approx(expected, rel=1e-12)


def test_unknown_unit_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown unit 'mmol/L' for creatinine_umol_l"):
        units.convert([1.0], "creatinine_umol_l", "mmol/L")


@pytest.mark.parametrize("drug, dose, expected", [
    ("methylprednisolone", 4, 5.0), ("hydrocortisone", 20, 5.0), ("dexamethasone", 0.75, 5.0),
    ("Prednisolone", 10, 10.0), ("betamethasone", 0.6, 5.0),
])
def test_prednisone_equivalents(drug, dose, expected):
    assert units.prednisone_equivalent_mg(dose, drug) == pytest.approx(expected)


def test_prednisone_equivalent_bad_values():
    with pytest.raises(ValueError, match="unknown corticosteroid"):
        units.prednisone_equivalent_mg(5, "aspirin")
    with pytest.raises(ValueError, match=">= 0"):
        units.prednisone_equivalent_mg(-5, "prednisone")
    with pytest.raises(ValueError, match=">= 0"):
        units.prednisone_equivalent_mg(float("nan"), "prednisone")
