"""Published outcome figures with their citations (real data, copied into ``data/published/``).

``published_figures.csv``: one row per published figure (source, cohort, measure, time point in years,
numerator / denominator, value and SE in percent, note). ``published_longitudinal.csv``: published
shape targets (SLEDAI, proteinuria, follow-up). ``sources.csv``: the citation of each ``source_id``.
See ``data/published/README.md`` for what could and could not be confirmed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import PUBLISHED_DIR

#: Published measure name -> endpoint (``PARAMCD`` of ``adtte``) of the 5-year HSCT figures; the one
#: map that the calibration (:mod:`sle_nb_utils.synth`) and the study layer
#: (:mod:`sle_nb_utils.outcomes`) share.
PUBLISHED_MEASURES = {
    "overall_survival": "OS",
    "disease_free_survival": "DFS",
    "relapse_incidence": "REL",
    "non_relapse_mortality": "NRM",
}


def rounds_to(value, target, digits: int = 0) -> bool:
    """True when ``value`` rounds (half up) to ``target`` at ``digits`` decimals: the one rule by
    which a recomputed figure "matches" a published one at the published rounding."""
    if not (np.isfinite(value) and np.isfinite(target)):
        return False
    scale = 10.0**digits
    return bool(np.floor(value * scale + 0.5) == np.round(target * scale))


def figures() -> pd.DataFrame:
    """Published outcome figures (percent), one row per figure, with the citation joined on."""
    f = pd.read_csv(PUBLISHED_DIR / "published_figures.csv")
    s = sources()[["source_id", "citation"]]
    return f.merge(s, on="source_id", how="left")


def longitudinal() -> pd.DataFrame:
    """Published longitudinal summaries (SLEDAI, proteinuria, follow-up) used as shape targets."""
    return pd.read_csv(PUBLISHED_DIR / "published_longitudinal.csv", dtype={"month": str})


def sources() -> pd.DataFrame:
    """Citations: ``source_id``, ``citation``, ``design``, ``n_patients``, ``url_or_locator``."""
    return pd.read_csv(PUBLISHED_DIR / "sources.csv")
