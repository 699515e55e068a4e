"""Clinical scores: SLEDAI-2K and eGFR (CKD-EPI 2021).

SLEDAI-2K
    Gladman DD, Ibañez D, Urowitz MB. Systemic lupus erythematosus disease activity index 2000.
    J Rheumatol 2002;29:288-91. 24 descriptors scored present (1) / absent (0) and weighted
    8 / 4 / 2 / 1; range 0-105. Lab-driven descriptors must agree with the labs of the same visit
    (:func:`lab_descriptor_conflicts`).

eGFR
    Inker LA et al. New creatinine- and cystatin C-based equations to estimate GFR without race.
    N Engl J Med 2021;385:1737-49 (the race-free CKD-EPI 2021 creatinine equation).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import units
from .errors import BadInputError

#: SLEDAI-2K descriptor columns (data model names) and weights (Gladman 2002).
SLEDAI_2K_WEIGHTS: dict[str, int] = {
    # weight 8: central nervous system and vasculitis
    "sledai_seizure": 8,
    "sledai_psychosis": 8,
    "sledai_organic_brain_syndrome": 8,
    "sledai_visual_disturbance": 8,
    "sledai_cranial_nerve_disorder": 8,
    "sledai_lupus_headache": 8,
    "sledai_cva": 8,
    "sledai_vasculitis": 8,
    # weight 4: musculoskeletal and renal
    "sledai_arthritis": 4,
    "sledai_myositis": 4,
    "sledai_urinary_casts": 4,
    "sledai_haematuria": 4,
    "sledai_proteinuria": 4,
    "sledai_pyuria": 4,
    # weight 2: mucocutaneous, serosal, immunological
    "sledai_rash": 2,
    "sledai_alopecia": 2,
    "sledai_mucosal_ulcers": 2,
    "sledai_pleurisy": 2,
    "sledai_pericarditis": 2,
    "sledai_low_complement": 2,
    "sledai_increased_dna_binding": 2,
    # weight 1: constitutional and haematological
    "sledai_fever": 1,
    "sledai_thrombocytopenia": 1,
    "sledai_leukopenia": 1,
}
SLEDAI_2K_DESCRIPTORS: tuple[str, ...] = tuple(SLEDAI_2K_WEIGHTS)
SLEDAI_2K_MAX = sum(SLEDAI_2K_WEIGHTS.values())  # 105
ORGAN_THREATENING_DESCRIPTORS: tuple[str, ...] = tuple(
    d for d, w in SLEDAI_2K_WEIGHTS.items() if w == 8)

# Lab cut-offs behind the lab-driven descriptors.
#: SLEDAI-2K proteinuria: > 0.5 g/24 h (Gladman 2002; new onset or recent increase).
PROTEINURIA_THRESHOLD_G_24H = 0.5
#: SLEDAI-2K thrombocytopenia: < 100 x 10^9/L (Gladman 2002).
THROMBOCYTOPENIA_BELOW_10E9_L = 100.0
#: SLEDAI-2K leukopenia: < 3 x 10^9/L (Gladman 2002).
LEUKOPENIA_BELOW_10E9_L = 3.0
#: Low complement = C3 or C4 below the testing laboratory's lower limit of normal (Gladman 2002).
#: Lab-specific; our assumption: C3 0.90 g/L, C4 0.10 g/L (common reference limits).
C3_LOWER_LIMIT_G_L = 0.90
C4_LOWER_LIMIT_G_L = 0.10
#: Increased DNA binding = above the testing laboratory's normal range (Gladman 2002).
#: Lab-specific; our assumption: anti-dsDNA ELISA > 100 IU/mL.
ANTI_DSDNA_UPPER_LIMIT_IU_ML = 100.0


def _descriptor_matrix(visits: pd.DataFrame) -> np.ndarray:
    missing = [c for c in SLEDAI_2K_DESCRIPTORS if c not in visits.columns]
    if missing:
        raise BadInputError(f"SLEDAI-2K needs all 24 descriptor columns; missing: {', '.join(missing)}")
    m = visits.loc[:, list(SLEDAI_2K_DESCRIPTORS)].to_numpy(dtype=float)
    bad = ~np.isin(m, (0.0, 1.0))
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise BadInputError(
            f"SLEDAI-2K descriptors must be 0 or 1: row {visits.index[i]!r}, column "
            f"{SLEDAI_2K_DESCRIPTORS[j]!r} holds {m[i, j]!r}")
    return m


def sledai_2k(visits: pd.DataFrame) -> pd.Series:
    """SLEDAI-2K total (0-105) from the 24 descriptor columns (Gladman 2002).

    Parameters
    ----------
    visits : DataFrame with the 24 ``sledai_*`` descriptor columns, each 0 (absent) or 1 (present).

    Returns
    -------
    Series of int, named ``sledai_2k``, aligned with ``visits``.

    Raises
    ------
    ValueError if a descriptor column is missing or holds anything but 0/1 (NaN included).
    """
    m = _descriptor_matrix(visits)
    weights = np.array(list(SLEDAI_2K_WEIGHTS.values()), dtype=float)
    return pd.Series((m @ weights).astype(int), index=visits.index, name="sledai_2k")


def sledai_total_mismatches(visits: pd.DataFrame, recorded: str = "sledai_2k_total") -> pd.DataFrame:
    """Visits whose site-recorded SLEDAI-2K total differs from the total computed from descriptors.

    Returns a DataFrame with ``patient_id`` (if present), ``visit_month`` (if present), the recorded
    and the computed totals, and their difference; empty when every visit agrees.
    """
    computed = sledai_2k(visits)
    rec = pd.to_numeric(visits[recorded], errors="coerce")
    bad = rec.ne(computed)
    keep = [c for c in ("patient_id", "visit_month") if c in visits.columns]
    out = visits.loc[bad, keep].copy()
    out["recorded"] = rec[bad]
    out["computed"] = computed[bad]
    out["difference"] = out["recorded"] - out["computed"]
    return out.reset_index(drop=True)


def lab_descriptors(visits: pd.DataFrame) -> pd.DataFrame:
    """The lab-driven SLEDAI-2K descriptors implied by the labs of each visit.

    Returns 0/1 floats (NaN where the lab is missing) for ``sledai_proteinuria``
    (> 0.5 g/24 h), ``sledai_low_complement`` (C3 < 0.90 g/L or C4 < 0.10 g/L),
    ``sledai_increased_dna_binding`` (anti-dsDNA > 100 IU/mL), ``sledai_thrombocytopenia``
    (< 100 x 10^9/L) and ``sledai_leukopenia`` (< 3 x 10^9/L).
    """
    def flag(cond: pd.Series, value: pd.Series) -> pd.Series:
        return cond.astype(float).where(value.notna())

    c3, c4 = visits["c3_g_l"], visits["c4_g_l"]
    low_c = ((c3 < C3_LOWER_LIMIT_G_L) | (c4 < C4_LOWER_LIMIT_G_L)).astype(float)
    low_c = low_c.where(c3.notna() | c4.notna())
    return pd.DataFrame({
        "sledai_proteinuria": flag(visits["proteinuria_g_24h"] > PROTEINURIA_THRESHOLD_G_24H,
                                   visits["proteinuria_g_24h"]),
        "sledai_low_complement": low_c,
        "sledai_increased_dna_binding": flag(
            visits["anti_dsdna_iu_ml"] > ANTI_DSDNA_UPPER_LIMIT_IU_ML, visits["anti_dsdna_iu_ml"]),
        "sledai_thrombocytopenia": flag(
            visits["platelets_10e9_l"] < THROMBOCYTOPENIA_BELOW_10E9_L, visits["platelets_10e9_l"]),
        "sledai_leukopenia": flag(visits["wbc_10e9_l"] < LEUKOPENIA_BELOW_10E9_L, visits["wbc_10e9_l"]),
    }, index=visits.index)


def lab_descriptor_conflicts(visits: pd.DataFrame) -> pd.DataFrame:
    """Visits where a lab-driven descriptor disagrees with the lab value (missing labs are not
    conflicts). Columns: ``patient_id``, ``visit_month``, ``descriptor``, ``recorded``, ``implied``."""
    implied = lab_descriptors(visits)
    rows = []
    for col in implied.columns:
        rec = visits[col].astype(float)
        bad = implied[col].notna() & rec.ne(implied[col])
        part = visits.loc[bad, [c for c in ("patient_id", "visit_month") if c in visits.columns]].copy()
        part["descriptor"] = col
        part["recorded"] = rec[bad]
        part["implied"] = implied.loc[bad, col]
        rows.append(part)
    return pd.concat(rows, ignore_index=True)


def egfr_ckd_epi_2021(creatinine_umol_l, age_years, sex):
    """eGFR in mL/min/1.73 m² by the race-free CKD-EPI 2021 creatinine equation (Inker 2021).

    eGFR = 142 × min(Scr/κ, 1)^α × max(Scr/κ, 1)^−1.200 × 0.9938^age × 1.012 [if female],
    with Scr in mg/dL, κ = 0.7 (F) / 0.9 (M), α = −0.241 (F) / −0.302 (M).

    Parameters
    ----------
    creatinine_umol_l : float or array, serum creatinine in µmol/L (converted with 88.4).
    age_years : float or array, age in years (the equation is for adults, >= 18).
    sex : 'F' / 'M' (or array of them).

    Raises
    ------
    ValueError on non-positive or missing creatinine, a negative or missing age, or a sex other
    than F/M. Ages under 18 give NaN: the equation is not defined for children.
    """
    scr_umol = np.atleast_1d(np.asarray(creatinine_umol_l, dtype=float))
    age = np.atleast_1d(np.asarray(age_years, dtype=float))
    sx = np.atleast_1d(np.asarray(sex, dtype=object))
    scr_umol, age, sx = np.broadcast_arrays(scr_umol, age, sx)
    if not np.all(np.isfinite(scr_umol)) or np.any(scr_umol <= 0):
        raise BadInputError("creatinine must be a positive number of µmol/L (got a missing, zero or "
                         "negative value)")
    if not np.all(np.isfinite(age)) or np.any(age < 0):
        raise BadInputError("age must be a number of years >= 0")
    female = np.array([s == "F" for s in sx])
    male = np.array([s == "M" for s in sx])
    if not np.all(female | male):
        raise BadInputError("sex must be 'F' or 'M'")
    scr = units.creatinine_mg_dl(scr_umol)
    kappa = np.where(female, 0.7, 0.9)
    alpha = np.where(female, -0.241, -0.302)
    ratio = scr / kappa
    egfr = (142.0 * np.minimum(ratio, 1.0) ** alpha * np.maximum(ratio, 1.0) ** -1.200
            * 0.9938 ** age * np.where(female, 1.012, 1.0))
    egfr = np.where(age >= 18, egfr, np.nan)  # CKD-EPI is an adult equation
    return egfr if np.ndim(creatinine_umol_l) or np.ndim(age_years) or np.ndim(sex) else float(egfr[0])
