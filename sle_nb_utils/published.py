"""Published outcome figures with their citations (real data, copied into ``data/published/``).

``published_figures.csv``: one row per published figure (source, cohort, measure, time point in years,
numerator / denominator, value and SE in percent, note). ``published_longitudinal.csv``: published
shape targets (SLEDAI, proteinuria, follow-up). ``sources.csv``: the citation of each ``source_id``.
See ``data/published/README.md`` for what could and could not be confirmed.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
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


# ---------------------------------------------------------------------------------------------
# cohorts of the data: display names, published series, bundled or not
# ---------------------------------------------------------------------------------------------
#: Registry and society names written in capitals in cohort display names.
_ACRONYMS = {"ebmt", "cibmtr", "asbmt", "eular", "acr", "bm", "uc", "ln"}
#: Treatment arms written in capitals when a cohort code starts with one.
_ARMS = {"hsct", "msct", "asct", "ahsct", "sct"}


def cohort_sources() -> pd.DataFrame:
    """Cohort of the data -> published series (``data/published/cohort_sources.csv``): ``cohort``,
    ``arm``, ``source_id``, ``series``. A cohort of a user's data that is in no row maps to no
    published series; the calibration checks are then not computed for it."""
    return pd.read_csv(PUBLISHED_DIR / "cohort_sources.csv")


def _word(w: str) -> str:
    if w in _ACRONYMS or w in _ARMS:
        return w.upper()
    if len(w) == 1 or w.isdigit():
        return w.upper()
    return w.capitalize()


def cohort_display_name(code) -> str:
    """Display name of one cohort code, derived from the code alone.

    ``arm_authorYYYY`` -> ``"ARM, Author YYYY"`` (``msct_wang2013`` -> "MSCT, Wang 2013"; registry
    acronyms in capitals: ``hsct_ebmt2013`` -> "HSCT, EBMT 2013"); any other code is made readable:
    underscores and hyphens become spaces, a leading arm is written in capitals and separated by a
    comma, other words are capitalised (``hsct_center_a`` -> "HSCT, Center A",
    ``site-3`` -> "Site 3"). A code that has no letters or digits is returned unchanged.
    """
    code = str(code)
    m = re.fullmatch(r"([a-z]+)_([a-z]+)(\d{4})", code)
    if m:
        return f"{m.group(1).upper()}, {_word(m.group(2))} {m.group(3)}"
    words = [w for w in re.split(r"[_\-\s]+", code.strip()) if w]
    if not words:
        return code
    low = [w.lower() for w in words]
    if len(words) > 1 and low[0] in _ARMS:
        return f"{low[0].upper()}, " + " ".join(_word(w) for w in low[1:])
    return " ".join(_word(w) if w.islower() else w for w in words)


def cohort_display_names(cohorts) -> dict:
    """Display name of each cohort code (:func:`cohort_display_name`), sorted by code.

    The one naming rule of the package: notebooks, figures and tables take their cohort names from
    here. ``cohorts`` is any iterable of codes (e.g. ``adsl["STUDYID"]``, a ``cohort`` column) or a
    table with a ``STUDYID`` or ``cohort`` column. Two codes that would get the same name keep their
    codes in brackets, so the names stay distinct.
    """
    if isinstance(cohorts, pd.DataFrame):
        cohorts = cohorts["STUDYID"] if "STUDYID" in cohorts else cohorts["cohort"]
    elif isinstance(cohorts, str):
        cohorts = [cohorts]
    codes = sorted({str(c) for c in cohorts})
    names = {c: cohort_display_name(c) for c in codes}
    counts = pd.Series(list(names.values())).value_counts()
    return {c: (f"{n} ({c})" if counts[n] > 1 else n) for c, n in names.items()}


def cohorts_of_series(cohorts, source_id: str, sources: pd.DataFrame | None = None) -> list[str]:
    """The cohorts among ``cohorts`` that ``cohort_sources.csv`` maps to the published series
    ``source_id`` (sorted; empty when none does, e.g. on a user's data)."""
    sources = cohort_sources() if sources is None else sources
    mapped = set(sources.loc[sources["source_id"] == source_id, "cohort"].astype(str))
    return sorted(mapped & {str(c) for c in cohorts})


def series_name(source_id: str, sources: pd.DataFrame | None = None) -> str:
    """Readable name of a published series, for messages (``burt2006`` -> "Burt 2006")."""
    m = re.fullmatch(r"([a-z]+)(\d{4})", str(source_id))
    return f"{m.group(1).capitalize()} {m.group(2)}" if m else str(source_id)


def is_bundled(data_dir) -> bool:
    """True when ``data_dir`` is the bundled synthetic data: None (the notebooks' default) or the
    folder ``data/raw`` of the checkout. The synthetic-data notice and the conclusions about the
    calibration are shown only then."""
    if data_dir is None:
        return True
    try:
        return Path(data_dir).resolve() == config.RAW_DIR.resolve()
    except OSError:
        return False
