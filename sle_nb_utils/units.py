"""Unit conversions and corticosteroid equivalents.

Conversion factors (docs/design.md, "Clinical definitions"):

* creatinine: 1 mg/dL = 88.4 µmol/L (molar mass of creatinine 113.12 g/mol);
* albumin: 1 g/dL = 10 g/L;
* complement C3 / C4: 1 g/L = 100 mg/dL;
* proteinuria: 1 g/24 h = 1000 mg/24 h.

Corticosteroids are expressed as prednisone-equivalent mg/day using the conventional
anti-inflammatory equivalences (5 mg prednisone = 5 mg prednisolone = 4 mg methylprednisolone
= 4 mg triamcinolone = 20 mg hydrocortisone = 25 mg cortisone = 0.75 mg dexamethasone
= 0.6 mg betamethasone; Liu D et al., Allergy Asthma Clin Immunol 2013;9:30, Table 1).
"""

from __future__ import annotations

import functools
import numpy as np
import pandas as pd

from .errors import BadInputError

CREATININE_UMOL_L_PER_MG_DL = 88.4
ALBUMIN_G_L_PER_G_DL = 10.0
COMPLEMENT_MG_DL_PER_G_L = 100.0
PROTEINURIA_MG_PER_G = 1000.0

#: mg of prednisone equivalent to 1 mg of each corticosteroid (Liu 2013, Table 1).
PREDNISONE_EQUIVALENT_PER_MG: dict[str, float] = {
    "prednisone": 1.0,
    "prednisolone": 1.0,
    "methylprednisolone": 5.0 / 4.0,
    "triamcinolone": 5.0 / 4.0,
    "hydrocortisone": 5.0 / 20.0,
    "cortisone": 5.0 / 25.0,
    "dexamethasone": 5.0 / 0.75,
    "betamethasone": 5.0 / 0.6,
}


def normalise_unit(unit: str) -> str:
    """Lower-case a unit label, drop spaces, unify the micro sign and per-day spellings.

    >>> normalise_unit(" µmol / L ")
    'umol/l'
    >>> normalise_unit("mg/day")
    'mg/24h'
    """
    u = str(unit).strip().lower().replace(" ", "").replace("µ", "u").replace("μ", "u")
    for spelling in ("/24hours", "/24hr", "/day"):
        if u.endswith(spelling):
            u = u[: -len(spelling)] + "/24h"
    return u


@functools.lru_cache(maxsize=1)
def unit_factors() -> dict[str, dict[str, float]]:
    """Canonical unit factors per lab column, read once from ``resources/units.csv`` (the one table
    this module and cleaning share): ``{column: {normalised unit: factor to the canonical unit}}``."""
    from .config import open_resource

    with open_resource("units.csv") as fh:
        table = pd.read_csv(fh)
    factors: dict[str, dict[str, float]] = {}
    for column, unit, factor in table[["column", "unit", "factor"]].itertuples(index=False):
        factors.setdefault(column, {})[normalise_unit(unit)] = float(factor)
    return factors


def conversion_factor(quantity: str, unit: str) -> float:
    """Factor that converts ``unit`` into the canonical unit of ``quantity``.

    Raises ``ValueError`` naming the quantity and the unit when the unit is unknown.
    """
    factors = unit_factors()
    if quantity not in factors:
        raise BadInputError(f"no unit table for {quantity!r}")
    key = normalise_unit(unit)
    try:
        return factors[quantity][key]
    except KeyError:
        known = ", ".join(sorted(factors[quantity]))
        raise BadInputError(f"unknown unit {unit!r} for {quantity} (known: {known})") from None


def convert(values, quantity: str, unit: str):
    """Convert ``values`` given in ``unit`` to the canonical unit of ``quantity`` (see module doc)."""
    factor = conversion_factor(quantity, unit)
    if isinstance(values, pd.Series):
        return values.astype(float) * factor
    return np.asarray(values, dtype=float) * factor


def creatinine_mg_dl(creatinine_umol_l):
    """Creatinine in mg/dL from µmol/L (÷ 88.4)."""
    return np.asarray(creatinine_umol_l, dtype=float) / CREATININE_UMOL_L_PER_MG_DL


def prednisone_equivalent_mg(dose_mg, drug: str) -> float:
    """Prednisone-equivalent dose (mg) of ``dose_mg`` of corticosteroid ``drug``.

    >>> prednisone_equivalent_mg(4, "methylprednisolone")
    5.0
    """
    key = str(drug).strip().lower()
    if key not in PREDNISONE_EQUIVALENT_PER_MG:
        known = ", ".join(sorted(PREDNISONE_EQUIVALENT_PER_MG))
        raise BadInputError(f"unknown corticosteroid {drug!r} (known: {known})")
    dose = float(dose_mg)
    if not np.isfinite(dose) or dose < 0:
        raise BadInputError(f"corticosteroid dose must be a finite number >= 0 mg, got {dose_mg!r}")
    return dose * PREDNISONE_EQUIVALENT_PER_MG[key]
