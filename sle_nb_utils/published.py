"""Published outcome figures with their citations (real data, copied into ``data/published/``).

``published_figures.csv``: one row per published figure (source, cohort, measure, time point in years,
numerator / denominator, value and SE in percent, note). ``published_longitudinal.csv``: published
shape targets (SLEDAI, proteinuria, follow-up). ``sources.csv``: the citation of each ``source_id``.
See ``data/published/README.md`` for what could and could not be confirmed.
"""

from __future__ import annotations

import pandas as pd

from .config import PUBLISHED_DIR


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
