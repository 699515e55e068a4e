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


def wilson_ci(k, n, conf_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of the proportion k/n, in percent (statsmodels ``proportion_confint``).

    The interval a reader should put on a published "k of n" proportion (e.g. 3/6 = 50 %,
    95 % CI 19-81 %). Returns (nan, nan) when n is 0 or missing.
    """
    from statsmodels.stats.proportion import proportion_confint

    if n is None or not np.isfinite(n) or n <= 0 or k is None or not np.isfinite(k):
        return np.nan, np.nan
    lo, hi = proportion_confint(int(k), int(n), alpha=1 - conf_level, method="wilson")
    return 100 * float(lo), 100 * float(hi)


def distinct_figures(f: pd.DataFrame) -> pd.DataFrame:
    """One row per distinct published figure: rows of ``f`` that give the same cohort, measure, time
    point and value (e.g. Burt 2006's OS 84 % quoted by both the seed and the source) count once.
    Returns those columns plus ``sources`` (joined) and ``rows`` (how many table rows)."""
    key = ["cohort", "measure", "timepoint_years", "value_pct"]
    g = f.assign(timepoint_years=f["timepoint_years"].fillna(-1))
    out = g.groupby(key, sort=True).agg(sources=("source_id", lambda x: "; ".join(sorted(set(x)))),
                                         rows=("source_id", "size")).reset_index()
    out["timepoint_years"] = out["timepoint_years"].replace(-1, np.nan)
    return out


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
