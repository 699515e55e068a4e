"""Synthetic pseudo-patients calibrated to the published figures (the bundled default data).

No patient-level data of the source studies is public. This module makes **synthetic** cohorts whose
published figures come out of our own pipeline when it derives them from the visit data, under the
primary endpoint definitions (:data:`sle_nb_utils.endpoints.PRIMARY`; ``docs/endpoints.md``). The
targets are read from ``data/published/`` (:func:`calibration_targets`), never typed in here:

* ``msct_wang2013`` (87 patients; Wang 2013, the seed's MSCT series): evaluable, complete remission
  and first relapses at the 1-4 year visits, deaths (none treatment-related), mean follow-up;
* ``hsct_burt2006`` (50 enrolled, 48 transplanted; Burt 2006): Kaplan-Meier 5-year OS and DFS from
  transplant among the 48 transplanted (the source: "at 5 years post transplant"), 1/50
  treatment-related death by intention to treat, 2 deaths after mobilisation and before
  transplant, follow-up after transplant mean 29 months (6-90);
* ``hsct_ebmt2013`` (28 patients; Alchi 2013): 5-year OS, DFS, relapse incidence and non-relapse
  mortality with their standard errors (Greenwood for Kaplan-Meier, cmprsk's variance for the
  cumulative incidences), median follow-up 38 (1-110) months, baseline as published.

How (``docs/design.md``, "Bundled synthetic data and calibration"): first each patient's *story*
(entry, follow-up and loss to follow-up, death, remission and relapse) is fixed by a seeded,
deterministic allocation that hits the exact published counts (the HSCT event and censoring times by
a seeded local search on the Kaplan-Meier / Aalen-Johansen estimates); then SLEDAI-2K targets per
visit that produce exactly that story under :mod:`sle_nb_utils.endpoints`; then the 24 descriptors
that sum to each target; then labs that agree with the lab-driven descriptors. One relapse-dating
process for every cohort: the site records the onset, and the visit that shows the relapse by our
definition follows it after a lag drawn from the same distribution in every cohort
(:data:`RELAPSE_LAG_DAYS`). Where a paper gives no number the generator uses a documented
assumption (``ASSUMPTIONS``). The messy hospital exports are made from this truth by
:mod:`sle_nb_utils.messy`.

Nothing here is real patient data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from . import endpoints, scores
from .published import PUBLISHED_MEASURES, rounds_to, wilson_ci
from .stats.competing import cif_var_at
from .stats.survival import km_surv_se_at
from .config import DEFAULT_SEED
from .errors import BadInputError


class GeneratorError(RuntimeError):
    """The generator could not build data that meet its calibration targets (an internal failure,
    not bad input): the message names the cohort, the seed and what failed."""

DAY = endpoints.DAYS_PER_MONTH  # days per month
MSCT_VISIT_MONTHS = (0, 1, 3, 6, 9, 12, 18, 24, 36, 48)
HSCT_VISIT_MONTHS = (0, 3, 6, 12, 24, 36, 48, 60)
OPTIONAL_VISITS = (1, 3, 9, 18)  # may be missed; year visits never are

#: Assumptions used where the papers give no number (printed in data/README.md and notebook 00).
ASSUMPTIONS = [
    ("msct_wang2013", "sex", "88% female (share from the 2019 MSCT database study, Table 2)"),
    ("msct_wang2013", "age", "age at MSCT ~ normal(31, 9) years, clipped to 18-55"),
    ("msct_wang2013", "lupus nephritis", "91% (share from the 2019 MSCT database study, Table 2)"),
    ("msct_wang2013", "cell source", "BM-MSC before 2009, UC-MSC from 2009 (BM vs UC split not published)"),
    ("msct_wang2013", "baseline SLEDAI-2K", "median 13, range 8-34 (2019 MSCT database study)"),
    ("msct_wang2013", "data cut-off", "2011-06-30; transplants from 2007-03 (seed)"),
    ("msct_wang2013", "deaths", "5 deaths, causes assumed (infection, active lupus, cardiovascular); none treatment-related"),
    ("msct_wang2013", "prednisone", "baseline 20-60 mg/day, tapering to about 30% of baseline by month 12"),
    ("hsct_burt2006", "sex and age", "90% female, age ~ normal(31, 9) years clipped to 18-55 (not found in the sources)"),
    ("hsct_burt2006", "graft", "autologous PBSC, CD34-selected; conditioning CY200+ATG (cyclophosphamide 200 mg/kg + ATG)"),
    ("hsct_burt2006", "baseline SLEDAI-2K", "median about 17 (not found; Burt 2006 reports only that SLEDAI improved)"),
    ("hsct_burt2006", "data cut-off", "2005-07-31; enrolment 1997-04 to 2005-01"),
    ("hsct_ebmt2013", "data cut-off", "2010-03-15; transplants 2001-2008"),
    ("all", "lab reference limits", "C3 0.90 g/L, C4 0.10 g/L, anti-dsDNA 100 IU/mL (lab-specific in SLEDAI-2K)"),
    ("all", "labs", "lab values drawn around clinically plausible levels, conditional on the lab-driven SLEDAI-2K descriptors"),
    ("all", "missed visits", "each optional visit (months 1, 3, 9, 18) missed with probability 0.10"),
    ("hsct_burt2006", "lupus nephritis", "65% (not found in the sources)"),
    ("msct_wang2013", "disease duration", "lognormal, median 60 months, clipped to 6-300 (not found)"),
    ("hsct_burt2006", "disease duration", "lognormal, median 60 months, clipped to 6-300 (not found)"),
    ("all", "relapse dating", "the site records the onset; the visit that shows the relapse follows "
            "0-42 days later (uniform, stratified draws: the same lag distribution in every cohort)"),
    ("all", "loss to follow-up", "about 1 in 5 surviving patients without a relapse leaves follow-up "
            "at least 6 months before the data cut-off (entry staggered over each enrolment window)"),
    ("hsct_burt2006", "time origin", "the published OS and DFS are taken as from transplant among the 48 "
                      "transplanted (\"at 5 years post transplant\"); intention to treat is the sensitivity view"),
]

#: Days from the relapse onset the site records to the visit that shows it (same in every cohort).
RELAPSE_LAG_DAYS = (0, 42)
#: Share of surviving, censored patients lost to follow-up before the cut-off (assumed).
LOSS_TO_FOLLOW_UP = 0.2


def _relapse_lags(n: int, rng) -> np.ndarray:
    """``n`` lags in whole days, uniform on :data:`RELAPSE_LAG_DAYS` by stratified draws (one per
    n-quantile, shuffled), so every cohort gets the same lag distribution, not only in expectation."""
    lo, hi = RELAPSE_LAG_DAYS
    u = (rng.permutation(n) + rng.random(n)) / max(n, 1)
    return np.floor(lo + u * (hi - lo + 1)).astype(int)


def calibration_targets() -> dict:
    """The generator's targets, read from ``data/published/`` (figures and longitudinal tables).

    Returns a dict per cohort. ``msct_wang2013``: ``evaluable``, ``complete_remission`` and
    ``relapses`` by year (1-4), ``patients``, ``deaths``, ``relapses_overall``,
    ``follow_up_mean``. ``hsct_burt2006``: ``os``, ``dfs`` (percent at 5 years), ``trm`` (n/N),
    ``follow_up_mean``, ``follow_up_min``, ``follow_up_max``. ``hsct_ebmt2013``: ``os``, ``os_se``,
    ``dfs``, ``dfs_se``, ``rel``, ``rel_se``, ``nrm``, ``nrm_se``, ``follow_up_median``,
    ``follow_up_min``, ``follow_up_max``.
    """
    from . import published

    f = published.figures()
    lon = published.longitudinal()

    def fig(cohort, measure, year=None, source=None):
        g = f[(f["cohort"] == cohort) & (f["measure"] == measure)]
        if year is not None:
            g = g[g["timepoint_years"] == year]
        if source is not None:
            g = g[g["source_id"] == source]
        if len(g) == 0:
            raise BadInputError(f"no published {measure} for {cohort} (year {year})",
                                file="published_figures.csv")
        return g.iloc[0]

    def fu(cohort):
        g = lon[(lon["cohort"] == cohort) & (lon["measure"] == "follow_up_months")]
        if len(g) != 1:
            raise BadInputError(f"expected one follow_up_months row for {cohort}",
                                file="published_longitudinal.csv")
        r = g.iloc[0]
        lo, hi = (float(x) for x in str(r["spread"]).split("-")) if isinstance(r["spread"], str) else (np.nan,) * 2
        return r["statistic"], float(r["value"]), lo, hi

    years = (1, 2, 3, 4)
    m = "msct_wang2013"
    os_m = fig(m, "overall_survival")
    msct = {"evaluable": {k: int(fig(m, "complete_remission", k)["denominator"]) for k in years},
            "complete_remission": {k: int(fig(m, "complete_remission", k)["numerator"]) for k in years},
            "relapses": {k: int(fig(m, "relapse", k)["numerator"]) for k in years},
            "patients": int(os_m["denominator"]),
            "deaths": int(os_m["denominator"] - os_m["numerator"]),
            "relapses_overall": int(fig(m, "relapse_overall")["numerator"]),
            "follow_up_mean": fu(m)[1]}
    if sum(msct["relapses"].values()) != msct["relapses_overall"]:
        raise BadInputError("MSCT yearly relapses do not add up to the overall count",
                            file="published_figures.csv")
    b = "hsct_burt2006"
    trm = fig(b, "treatment_related_mortality", source="burt2006")
    _, bmean, bmin, bmax = fu(b)
    burt = {"os": float(fig(b, "overall_survival", 5, "burt2006")["value_pct"]),
            "dfs": float(fig(b, "disease_free_survival", 5, "burt2006")["value_pct"]),
            "trm": (int(trm["numerator"]), int(trm["denominator"])),
            "follow_up_mean": bmean, "follow_up_min": bmin, "follow_up_max": bmax}
    e = "hsct_ebmt2013"
    ebmt = {}
    for key, measure in (("os", "overall_survival"), ("dfs", "disease_free_survival"),
                         ("rel", "relapse_incidence"), ("nrm", "non_relapse_mortality")):
        r = fig(e, measure, 5)
        ebmt[key], ebmt[key + "_se"] = float(r["value_pct"]), float(r["se_pct"])
    _, ebmt["follow_up_median"], ebmt["follow_up_min"], ebmt["follow_up_max"] = fu(e)
    return {m: msct, b: burt, e: ebmt}


@dataclass
class Story:
    """One patient's fixed story, before descriptors and labs are drawn."""

    patient_id: str
    cohort: str
    arm: str
    centre: str
    enrol_date: pd.Timestamp
    transplant_date: pd.Timestamp | None
    last_contact_date: pd.Timestamp
    death_date: pd.Timestamp | None = None
    death_cause: str | None = None
    death_treatment_related: bool | None = None
    relapse_date: pd.Timestamp | None = None  # HSCT: the onset the site records
    relapse_month: int | None = None  # MSCT: nominal month of the relapse visit
    cr_year_visits: tuple = ()  # MSCT: year visits (12, 24, ...) at which the patient is in CR
    nephritis: bool = True
    group: str = ""  # MSCT follow-up group: last year visit reached (G0, G12, ... G48)
    relapse_lag_days: int = 0  # days from the recorded onset to the visit that shows the relapse


# --------------------------------------------------------------------------------------------------
# MSCT: Wang 2013
# --------------------------------------------------------------------------------------------------

MSCT_START = pd.Timestamp("2007-03-05")
MSCT_CUTOFF = pd.Timestamp("2011-06-30")


def _months(d0: pd.Timestamp, d1: pd.Timestamp) -> float:
    return (d1 - d0).days / DAY


def _add_months(d: pd.Timestamp, m: float) -> pd.Timestamp:
    return (d + pd.Timedelta(days=int(round(m * DAY)))).normalize()


def _msct_stories(rng: np.random.Generator, t: dict) -> list[Story]:
    """Allocate the MSCT stories so the published counts ``t`` hold exactly (see module doc)."""
    ev = t["evaluable"]
    n_g = {"G48": ev[4], "G36": ev[3] - ev[4], "G24": ev[2] - ev[3], "G12": ev[1] - ev[2]}
    n_early = t["patients"] - ev[1]  # not evaluable at 1 year: deaths and one lost to follow-up
    # follow-up groups by the last year visit reached (months of follow-up drawn in each band)
    groups = ([("G48", 48.3 + 2.7 * rng.random()) for _ in range(n_g["G48"])]
              + [("G36", 38.5 + 8.5 * rng.random()) for _ in range(n_g["G36"])]
              + [("G24", 29.0 + 6.5 * rng.random()) for _ in range(n_g["G24"])]
              + [("G12", 18.0 + 5.5 * rng.random()) for _ in range(n_g["G12"])])
    stories: list[Story] = []
    # transplant date = cut-off minus follow-up (followed to the cut-off; some are lost below)
    for g, m in groups:
        tx = (MSCT_CUTOFF - pd.Timedelta(days=int(m * DAY))).normalize()
        stories.append(Story(patient_id="", cohort="msct_wang2013", arm="MSCT",
                             centre="Nanjing Drum Tower Hospital", enrol_date=tx - pd.Timedelta(days=7),
                             transplant_date=tx, last_contact_date=MSCT_CUTOFF, group=g))
    # not evaluable at 1 year: 3 deaths and 1 lost to follow-up, transplanted 2007-2009
    early = [(2.4, "death", "infection (pneumonia)"), (5.1, "death", "active lupus (refractory nephritis)"),
             (8.6, "death", "cardiovascular (myocardial infarction)"), (7.2, "lost", None)]
    if n_early != len(early):
        raise GeneratorError(f"msct_wang2013: the story plan has {len(early)} patients not evaluable at "
                             f"1 year, the published table implies {n_early}")
    for j, (m, kind, cause) in enumerate(early):
        tx = (pd.Timestamp("2007-09-01") + pd.Timedelta(days=int(j * 211 + rng.integers(0, 60)))).normalize()
        end = _add_months(tx, m)
        s = Story(patient_id="", cohort="msct_wang2013", arm="MSCT", centre="Nanjing Drum Tower Hospital",
                  enrol_date=tx - pd.Timedelta(days=7), transplant_date=tx, last_contact_date=end,
                  group="G0")
        if kind == "death":
            s.death_date, s.death_cause, s.death_treatment_related = end, cause, False
        stories.append(s)
    # later deaths: one in G12 (after the 18-month visit), one in G24 (after the 24-month visit)
    later = t["deaths"] - sum(k == "death" for _, k, _ in early)
    g12 = [s for s in stories if s.group == "G12" and _months(s.transplant_date, MSCT_CUTOFF) > 21]
    g24 = [s for s in stories if s.group == "G24"]
    plan = ((g12[0], 20.3, "infection (sepsis)"), (g24[3], 28.4, "active lupus (CNS lupus)"))
    if later != len(plan):
        raise GeneratorError(f"msct_wang2013: the story plan has {len(plan)} later deaths, the published "
                             f"table implies {later}")
    for s, m, cause in plan:
        s.death_date = _add_months(s.transplant_date, m)
        s.last_contact_date = s.death_date
        s.death_cause, s.death_treatment_related = cause, False

    def evaluable(s: Story, k: int) -> bool:
        return s.group != "G0" and int(s.group[1:]) >= 12 * k

    # first relapses at the visits of each year (year 4: month 48, 3: 36, 2: 18/24, 1: 6/9/12)
    order = list(rng.permutation(len(stories)))
    taken: set[int] = set()

    def pick(n: int, k: int) -> list[int]:
        cand = [i for i in order if i not in taken and evaluable(stories[i], k)
                and stories[i].death_date is None]
        chosen = cand[:n]
        taken.update(chosen)
        return chosen

    for k, months in ((4, (48,)), (3, (36,)), (2, (18, 24)), (1, (6, 9, 12))):
        for i in pick(t["relapses"][k], k):
            stories[i].relapse_month = int(months[rng.integers(0, len(months))])

    # complete remission at the year visits; prefer patients already in CR at the next year visit
    targets = t["complete_remission"]
    cr: dict[int, set[int]] = {k: set() for k in targets}
    for k in (4, 3, 2, 1):
        elig = [i for i in range(len(stories)) if evaluable(stories[i], k)
                and (stories[i].relapse_month is None or stories[i].relapse_month > 12 * k)]
        later_cr = cr.get(k + 1, set())
        weights = np.array([4.0 if i in later_cr else 1.0 for i in elig])
        chosen = rng.choice(elig, size=targets[k], replace=False, p=weights / weights.sum())
        cr[k] = set(int(c) for c in chosen)
    for i, s in enumerate(stories):
        s.cr_year_visits = tuple(12 * k for k in (1, 2, 3, 4) if i in cr[k])
    # loss to follow-up with staggered entry: some survivors of the shorter follow-up groups were
    # transplanted earlier and last seen at least 6 months before the cut-off (same follow-up length)
    for i in order:
        s = stories[i]
        if s.group in ("G12", "G24") and s.death_date is None and rng.random() < LOSS_TO_FOLLOW_UP:
            m = _months(s.transplant_date, s.last_contact_date)
            latest = MSCT_CUTOFF - pd.Timedelta(days=int((m + 6) * DAY))
            span = (latest - MSCT_START).days
            if span > 30:
                tx = (MSCT_START + pd.Timedelta(days=int(rng.integers(0, span)))).normalize()
                s.transplant_date, s.enrol_date = tx, tx - pd.Timedelta(days=7)
                s.last_contact_date = _add_months(tx, m)
    return stories


# --------------------------------------------------------------------------------------------------
# HSCT: event and censoring times by a seeded local search on the published estimates
# --------------------------------------------------------------------------------------------------

def _within(value: float, target: float, half: float = 0.45) -> float:
    """Distance of ``value`` (percent) outside [target - half, target + half]; 0 inside."""
    return max(0.0, abs(value - target) - half)


def hsct_metrics(time_death, dead, time_rel, relapsed, follow_up=None) -> dict:
    """Published-style 5-year figures (percent) from per-patient times in months.

    ``time_death``/``dead``: time to death or censoring and the death indicator; ``time_rel`` /
    ``relapsed``: time to relapse (meaningful when ``relapsed``). Uses :mod:`sle_nb_utils.stats`.
    """
    dead = np.asarray(dead, dtype=bool)
    t_first, status = endpoints.competing_status(time_death, dead, time_rel, relapsed)
    os_, os_se = km_surv_se_at(time_death, dead.astype(int), 60.0)
    dfs, dfs_se = km_surv_se_at(t_first, (status > 0).astype(int), 60.0)
    rel, rel_v = cif_var_at(t_first, status, 60.0, cause=1)
    nrm, nrm_v = cif_var_at(t_first, status, 60.0, cause=2)
    return {"os": 100 * os_, "os_se": 100 * os_se, "dfs": 100 * dfs, "dfs_se": 100 * dfs_se,
            "rel": 100 * rel, "rel_se": 100 * np.sqrt(rel_v), "nrm": 100 * nrm,
            "nrm_se": 100 * np.sqrt(nrm_v)}


def _whole_days(state):
    """Round every float array of a search state to whole days (dates are stored as days)."""
    return [np.round(a * DAY) / DAY if a.dtype.kind == "f" else a for a in state]


def _local_search(rng, init, propose, loss, what: str, max_iter=4_000, restarts=2_000):
    """Seeded hill-climb: accept a proposal when it does not increase the loss; stop at loss 0."""
    for _ in range(restarts):
        state = init(rng)
        cur = loss(state)
        for _ in range(max_iter):
            if cur == 0.0:
                return state
            cand = propose(rng, state)
            val = loss(cand)
            if val <= cur:
                state, cur = cand, val
        # restart from a fresh random state
    raise GeneratorError(f"{what}: the calibration search found no times that reproduce the published "
                         f"figures ({restarts} restarts); try another seed")


BURT_ENROL_FIRST = pd.Timestamp("1997-04-14")
BURT_ENROL_LAST = pd.Timestamp("2005-01-20")
BURT_CUTOFF = pd.Timestamp("2005-07-31")
#: Months between a relapse onset and the end of follow-up, so the visit that shows it (at most
#: 42 days later, :data:`RELAPSE_LAG_DAYS`) happens while the patient is followed.
LAG_ROOM = 1.5
#: Latest relapse onset generated, months after transplant: the visit that shows it must come by
#: the last nominal visit (month 60); the published figures are 5-year estimates, which later
#: relapses would not change.
LAST_ONSET = 58.0


def _burt_times(rng, t: dict):
    """Times (months from transplant) for the 48 transplanted Burt patients.

    Fixed separately: 2 deaths after mobilisation and before transplant. Searched: per patient
    censoring, death and relapse times so that Kaplan-Meier 5-year OS and DFS from transplant among
    the 48 round to the published values, and follow-up after transplant has the published mean
    and range. Returns ``gap`` (mobilisation to transplant, months), end of follow-up, death flag and
    relapse onset (NaN without relapse), all from transplant.
    """
    n = 48
    gap = np.round((0.8 + 0.7 * rng.random(n)) * DAY) / DAY  # mobilisation to transplant, months
    lo_fu, hi_fu = t["follow_up_min"], t["follow_up_max"]

    def init(r):
        c = np.clip(r.gamma(1.6, 19.0, n), lo_fu + 1.0, hi_fu + 1.0)
        c[0], c[1] = lo_fu + 0.2, hi_fu  # the range ends
        dead = r.random(n) < 0.10
        dead[:2] = False
        td = c * r.random(n) ** 0.7
        rel = r.random(n) < 0.45
        tr = c * r.random(n)
        return [c, dead, np.maximum(td, 6.0), rel, np.clip(tr, 3.5, LAST_ONSET)]

    def propose(r, st):
        c, dead, td, rel, tr = (a.copy() for a in st)
        i = int(r.integers(2, n))
        k = r.integers(0, 4)
        if k == 0:
            c[i] = float(np.clip(r.gamma(1.6, 19.0), lo_fu + 1.0, hi_fu + 1.0))
        elif k == 1:
            dead[i] = not dead[i]
        elif k == 2:
            rel[i] = not rel[i]
        else:
            td[i], tr[i] = c[i] * r.random(), c[i] * r.random()
        td = np.clip(td, 6.0, c)
        tr = np.clip(tr, 3.5, np.minimum(LAST_ONSET, np.maximum(3.5, np.where(dead, td, c) - LAG_ROOM)))
        return [c, dead, td, rel, tr]

    def evaluate(st):
        c, dead, td, rel, tr = st
        end = np.where(dead, td, c)
        r_ = rel & (tr + LAG_ROOM <= end)
        return hsct_metrics(end, dead, tr, r_), end

    def loss(st):
        m, fu = evaluate(st)
        if np.isnan(m["os"]) or np.isnan(m["dfs"]):
            return 1e9
        return (_within(m["os"], t["os"]) + _within(m["dfs"], t["dfs"])
                + _within(fu.mean(), t["follow_up_mean"])
                + 10 * max(0.0, lo_fu - 0.5 - fu.min()) + 10 * max(0.0, fu.max() - hi_fu - 0.49))

    st = _local_search(rng, lambda r: _whole_days(init(r)), lambda r, s: _whole_days(propose(r, s)), loss,
                       "hsct_burt2006")
    c, dead, td, rel, tr = st
    end = np.where(dead, td, c)
    return gap, end, dead, np.where(rel & (tr + LAG_ROOM <= end), tr, np.nan)


EBMT_CUTOFF = pd.Timestamp("2010-03-15")


def _ebmt_times(rng, t: dict):
    """Times (months from transplant) for the 28 EBMT patients.

    Searched so that 5-year OS, DFS, relapse CIF and NRM CIF and their standard errors round to the
    published values, with the published median follow-up and range.
    """
    n = 28

    def fix(typ, c, te, td):
        relapser = (typ == 1) | (typ == 3)
        te = np.minimum(np.where(typ == 2, te, np.maximum(te, 3.5)), c)
        # room for the visit that shows the relapse before the end of follow-up
        te = np.where(relapser, np.minimum(te, np.minimum(LAST_ONSET, np.maximum(3.5, c - LAG_ROOM))), te)
        td = np.where(typ == 3, np.clip(td, te + LAG_ROOM, np.maximum(c, te + LAG_ROOM)), np.clip(td, te, c))
        te[0], td[0] = t["follow_up_min"], t["follow_up_min"]
        return te, td

    def init(r):
        c = np.clip(r.gamma(2.0, 22.0, n), 14.5, t["follow_up_max"] - 2.0)
        c[0], c[1] = t["follow_up_min"], t["follow_up_max"]  # range ends: an early death, the longest
        typ = r.choice(4, size=n, p=[0.25, 0.5, 0.15, 0.10])  # 0 none, 1 relapse, 2 NRM, 3 rel+death
        typ[0], typ[1] = 2, 0
        te = c * r.random(n)
        td = te + (c - te) * r.random(n)
        te, td = fix(typ, c, te, td)
        return [c, typ, te, td]

    def propose(r, st):
        c, typ, te, td = (a.copy() for a in st)
        i = int(r.integers(2, n))
        k = r.integers(0, 3)
        if k == 0:
            c[i] = float(np.clip(r.gamma(2.0, 22.0), 5.5, t["follow_up_max"] - 2.0))
        elif k == 1:
            typ[i] = r.integers(0, 4)
        else:
            te[i] = c[i] * r.random()
            td[i] = te[i] + (c[i] - te[i]) * r.random()
        te, td = fix(typ, c, te, td)
        return [c, typ, te, td]

    def evaluate(st):
        c, typ, te, td = st
        dead = (typ == 2) | (typ == 3)
        t_death = np.where(typ == 2, te, np.where(typ == 3, td, c))
        relapsed = (typ == 1) | (typ == 3)
        t_rel = np.where(relapsed, te, np.inf)
        m = hsct_metrics(t_death, dead, t_rel, relapsed)
        return m, t_death

    def loss(st):
        m, fu = evaluate(st)
        if any(np.isnan(v) for v in m.values()):
            return 1e9
        return (sum(_within(m[k], t[k]) for k in ("os", "os_se", "dfs", "dfs_se", "rel", "rel_se",
                                                     "nrm", "nrm_se"))
                + _within(np.median(fu), t["follow_up_median"]))

    st = _local_search(rng, lambda r: _whole_days(init(r)), lambda r, s: _whole_days(propose(r, s)), loss,
                       "hsct_ebmt2013")
    c, typ, te, td = st
    dead = (typ == 2) | (typ == 3)
    t_end = np.where(typ == 2, te, np.where(typ == 3, td, c))
    t_rel = np.where((typ == 1) | (typ == 3), te, np.nan)
    return t_end, dead, t_rel, typ


def _entry(rng, first: pd.Timestamp, last: pd.Timestamp, cutoff: pd.Timestamp, fu_days: int,
           relapsed: bool) -> tuple[pd.Timestamp, bool]:
    """Entry date (staggered) and whether follow-up ends at the data cut-off.

    A censored survivor is followed to the cut-off (entry = cut-off - follow-up) unless that entry
    falls outside the enrolment window, or (with probability :data:`LOSS_TO_FOLLOW_UP`, never after a
    relapse) the patient is lost to follow-up: then entry is drawn in the window so that follow-up
    ends at least 6 months before the cut-off. Returns ``(entry, admin_censored)``.
    """
    at_cutoff = (cutoff - pd.Timedelta(days=fu_days)).normalize()
    lost = (not relapsed) and rng.random() < LOSS_TO_FOLLOW_UP
    if first <= at_cutoff <= last and not lost:
        return at_cutoff, True
    latest = min(last, cutoff - pd.Timedelta(days=fu_days + 183))
    span = (latest - first).days
    if span <= 0:  # no room to be lost: followed to the cut-off
        return at_cutoff, True
    return (first + pd.Timedelta(days=int(rng.integers(0, max(1, span))))).normalize(), False


def _hsct_stories(rng, targets: dict) -> list[Story]:
    stories: list[Story] = []
    # ---- Burt 2006 (times from transplant) -------------------------------------------------------
    gap, end, dead, t_rel = _burt_times(rng, targets["hsct_burt2006"])
    for i in range(48):
        gap_days = int(round(gap[i] * DAY))
        fu_days = int(round(end[i] * DAY))
        if dead[i]:
            latest = BURT_CUTOFF - pd.Timedelta(days=fu_days + gap_days + 1)
            hi = max(1, min((BURT_ENROL_LAST - BURT_ENROL_FIRST).days, (latest - BURT_ENROL_FIRST).days))
            enrol = (BURT_ENROL_FIRST + pd.Timedelta(days=int(rng.integers(0, hi)))).normalize()
        else:
            enrol, _ = _entry(rng, BURT_ENROL_FIRST, BURT_ENROL_LAST, BURT_CUTOFF, fu_days + gap_days,
                              not np.isnan(t_rel[i]))
        tx = enrol + pd.Timedelta(days=gap_days)
        last = _add_months(tx, end[i])
        s = Story(patient_id="", cohort="hsct_burt2006", arm="HSCT",
                  centre="Northwestern Memorial Hospital, Chicago", enrol_date=enrol, transplant_date=tx,
                  last_contact_date=last)
        if dead[i]:
            s.death_date = last
            s.death_cause = "active lupus" if rng.random() < 0.5 else "infection"
            s.death_treatment_related = False
        if not np.isnan(t_rel[i]):
            s.relapse_date = _add_months(tx, t_rel[i])
        stories.append(s)
    # the two deaths after mobilisation, before transplant (Burt 2006); mucormycosis is the one the
    # source counts as treatment-related (1/50)
    for j, (m, cause, trm) in enumerate(((1.1, "mucormycosis after mobilisation", True),
                                         (1.6, "active lupus after mobilisation", False))):
        enrol = (BURT_ENROL_FIRST + pd.Timedelta(days=700 + 900 * j)).normalize()
        d = _add_months(enrol, m)
        stories.append(Story(patient_id="", cohort="hsct_burt2006", arm="HSCT",
                             centre="Northwestern Memorial Hospital, Chicago", enrol_date=enrol,
                             transplant_date=None, last_contact_date=d, death_date=d, death_cause=cause,
                             death_treatment_related=trm))
    # ---- EBMT 2013 ----------------------------------------------------------------------------
    t_end, dead, t_rel, typ = _ebmt_times(rng, targets["hsct_ebmt2013"])
    centres = ["Leiden", "Paris Saint-Louis", "London UCLH", "Sheffield", "Barcelona", "Genoa",
               "Nantes", "Basel"]
    lo, hi = pd.Timestamp("2001-01-15"), pd.Timestamp("2008-12-15")
    for i in range(28):
        fu_days = int(round(t_end[i] * DAY))
        if dead[i]:
            hi_i = min(hi, EBMT_CUTOFF - pd.Timedelta(days=fu_days + 1))
            tx = (lo + pd.Timedelta(days=int(rng.integers(0, max(1, (hi_i - lo).days))))).normalize()
        else:
            tx, _ = _entry(rng, lo, hi, EBMT_CUTOFF, fu_days, not np.isnan(t_rel[i]))
        last = _add_months(tx, t_end[i])
        s = Story(patient_id="", cohort="hsct_ebmt2013", arm="HSCT", centre=centres[i % 8],
                  enrol_date=tx - pd.Timedelta(days=int(rng.integers(25, 45))), transplant_date=tx,
                  last_contact_date=last)
        if dead[i]:
            s.death_date = last
            s.death_cause = "transplant-related infection" if typ[i] == 2 else "progressive lupus"
            s.death_treatment_related = bool(typ[i] == 2)
        if not np.isnan(t_rel[i]):
            s.relapse_date = _add_months(tx, t_rel[i])
        stories.append(s)
    return stories


# --------------------------------------------------------------------------------------------------
# Baseline characteristics
# --------------------------------------------------------------------------------------------------

def _with_median_range(rng, n, median, lo, hi, sigma):
    """``n`` positive values with exactly the given median and range (lognormal in between)."""
    x = np.sort(np.clip(np.exp(np.log(median) + sigma * rng.standard_normal(n)), lo, hi))
    x[0], x[-1] = lo, hi
    mid = [n // 2 - 1, n // 2] if n % 2 == 0 else [n // 2]
    x[: mid[0]] = np.minimum(x[: mid[0]], median)
    x[mid[-1] + 1:] = np.maximum(x[mid[-1] + 1:], median)
    x[mid] = median
    return x[rng.permutation(n)]


#: Alchi 2013: CD34 selection was associated with a lower relapse incidence, p = 0.001. The
#: generator places CD34 selection to reproduce it (a calibration check, not a finding).
CD34_GRAY_P = (0.0005, 0.0015)


def _ebmt_cd34(group: list[Story], rng) -> np.ndarray:
    """CD34 selection for 10 of the 28 EBMT patients (36 %), placed mostly among non-relapsers so that
    Gray's test of relapse incidence by CD34 selection gives p = 0.001 (rounded, :data:`CD34_GRAY_P`)
    with at least one relapse among the CD34-selected (so a Fine-Gray model has a finite estimate)."""
    from .stats.competing import gray_test

    tx = [x.transplant_date for x in group]
    end = [x.death_date if x.death_date is not None else x.last_contact_date for x in group]
    rel = np.array([x.relapse_date is not None for x in group])
    t = np.array([_months(a, x.relapse_date if r else b) for a, x, r, b in zip(tx, group, rel, end)])
    status = np.where(rel, 1, np.where([x.death_date is not None for x in group], 2, 0))
    n = len(group)
    for _ in range(20_000):
        score = rng.random(n) + rng.uniform(0.5, 3.0) * (~rel)
        cd34 = np.zeros(n, bool)
        cd34[np.argsort(-score)[:10]] = True
        if not (cd34 & rel).any():
            continue
        p = float(gray_test(t, status, np.where(cd34, "a", "b"))["p"].iloc[0])
        if CD34_GRAY_P[0] <= p < CD34_GRAY_P[1]:
            return cd34
    raise GeneratorError("hsct_ebmt2013: no CD34 allocation reproduces Alchi 2013's p = 0.001")


NEPHRITIS_CLASSES = ["III", "IV", "IV", "IV", "V", "III+V", "IV+V"]


def _patients_frame(stories: list[Story], rng) -> pd.DataFrame:
    rows = []
    by_cohort: dict[str, list[Story]] = {}
    for s in stories:
        by_cohort.setdefault(s.cohort, []).append(s)
    prefix = {"msct_wang2013": "NJ", "hsct_burt2006": "NW", "hsct_ebmt2013": "EB"}
    for cohort, group in by_cohort.items():
        group.sort(key=lambda s: (s.transplant_date or s.enrol_date, s.enrol_date))
        n = len(group)
        if cohort == "hsct_ebmt2013":
            female = np.r_[np.ones(25, bool), np.zeros(3, bool)][rng.permutation(n)]
            age = np.round(_with_median_range(rng, n, 29, 16, 48, 0.25), 1)
            duration = np.round(_with_median_range(rng, n, 52, 9, 396, 0.9), 0)
            neph = np.r_[np.ones(17, bool), np.zeros(11, bool)][rng.permutation(n)]
            cd34 = _ebmt_cd34(group, rng)
            cond = np.r_[np.repeat("low intensity", 10), np.repeat("intermediate intensity", 18)][
                rng.permutation(n)]
        else:
            share_f = 0.88 if cohort == "msct_wang2013" else 0.90
            female = rng.random(n) < share_f
            age = np.round(np.clip(31 + 9 * rng.standard_normal(n), 18, 55), 1)
            duration = np.round(np.clip(np.exp(np.log(60) + 0.7 * rng.standard_normal(n)), 6, 300), 0)
            neph = rng.random(n) < (0.91 if cohort == "msct_wang2013" else 0.65)
            cd34 = np.ones(n, bool)
            cond = np.repeat("CY200+ATG", n)
        for i, s in enumerate(group):
            s.patient_id = f"{prefix[cohort]}-{i + 1:04d}"
            s.nephritis = bool(neph[i])
            if cohort == "msct_wang2013":
                source = "BM-MSC" if s.transplant_date < pd.Timestamp("2009-01-01") else "UC-MSC"
                dose, conditioning, sel = 1e6, "none", pd.NA
            else:
                source = "autologous PBSC (CD34-selected)" if cd34[i] else "autologous PBSC"
                dose, conditioning, sel = float(np.round(rng.uniform(2.5, 8.0), 1) * 1e6), cond[i], bool(cd34[i])
            rows.append({
                "patient_id": s.patient_id, "cohort": cohort, "arm": s.arm, "centre": s.centre,
                "cell_source": source, "cell_dose_per_kg": dose, "conditioning": conditioning,
                "cd34_selected": sel, "sex": "F" if female[i] else "M",
                "age_at_transplant_years": float(age[i]), "disease_duration_months": float(duration[i]),
                "lupus_nephritis": bool(neph[i]),
                "nephritis_class": NEPHRITIS_CLASSES[int(rng.integers(0, 7))] if neph[i] else pd.NA,
                "enrol_date": s.enrol_date, "transplant_date": s.transplant_date,
                "last_contact_date": s.last_contact_date, "death_date": s.death_date,
                "death_cause": s.death_cause if s.death_cause else pd.NA,
                "death_treatment_related": s.death_treatment_related
                if s.death_treatment_related is not None else pd.NA,
            })
    p = pd.DataFrame(rows)
    for c in ("enrol_date", "transplant_date", "last_contact_date", "death_date"):
        p[c] = pd.to_datetime(p[c])
    p["cd34_selected"] = p["cd34_selected"].astype("boolean")
    p["death_treatment_related"] = p["death_treatment_related"].astype("boolean")
    return p


# --------------------------------------------------------------------------------------------------
# SLEDAI-2K targets per visit, descriptors that sum to them, labs that agree with them
# --------------------------------------------------------------------------------------------------

W8 = list(scores.ORGAN_THREATENING_DESCRIPTORS)
W4_RENAL = ["sledai_proteinuria", "sledai_haematuria", "sledai_urinary_casts", "sledai_pyuria"]
W4_OTHER = ["sledai_arthritis", "sledai_myositis"]
W2 = ["sledai_low_complement", "sledai_increased_dna_binding", "sledai_rash", "sledai_alopecia",
      "sledai_mucosal_ulcers", "sledai_pleurisy", "sledai_pericarditis"]
W1 = ["sledai_fever", "sledai_thrombocytopenia", "sledai_leukopenia"]

#: Median SLEDAI-2K as a fraction of baseline after MSCT (shape: 13 -> 9, 8, 6, 5 at months 1-12,
#: 2019 MSCT database study); later months assumed to level off.
MSCT_SLEDAI_FRACTION = {1: 0.66, 3: 0.58, 6: 0.47, 9: 0.42, 12: 0.44, 18: 0.38, 24: 0.36, 36: 0.35,
                        48: 0.33}
#: Prednisone as a fraction of the baseline dose (assumed taper).
PREDNISONE_FRACTION = {0: 1.0, 1: 0.85, 3: 0.65, 6: 0.45, 9: 0.35, 12: 0.30, 18: 0.27, 24: 0.25,
                       36: 0.22, 48: 0.20, 60: 0.20}
#: Share of patients still on an immunosuppressant (besides hydroxychloroquine), by month (assumed).
IMMUNOSUPPRESSANT_SHARE = {0: 1.0, 1: 0.9, 3: 0.8, 6: 0.65, 9: 0.55, 12: 0.45, 18: 0.4, 24: 0.35,
                           36: 0.3, 48: 0.3, 60: 0.3}
IMMUNOSUPPRESSANTS = ["cyclophosphamide", "mycophenolate mofetil", "tacrolimus", "azathioprine",
                      "leflunomide"]


class _Patient:
    """Per-patient latent traits that keep a patient's visits coherent."""

    def __init__(self, rng, nephritis: bool):
        self.nephritis = nephritis
        renal = list(rng.permutation(W4_RENAL))
        if rng.random() < 0.85:  # proteinuria is the commonest renal descriptor
            renal.remove("sledai_proteinuria")
            renal.insert(0, "sledai_proteinuria")
        other = list(rng.permutation(W4_OTHER))
        self.fours = (renal + other) if nephritis else other
        twos = list(rng.permutation(W2))
        for d in ("sledai_increased_dna_binding", "sledai_low_complement"):
            if rng.random() < 0.7:  # serological activity is common and persists
                twos.remove(d)
                twos.insert(0, d)
        self.twos = twos
        self.ones = list(rng.permutation(W1))
        self.eights = list(rng.permutation(W8))
        self.prot_base = float(np.clip(np.exp(np.log(2.6) + 0.5 * rng.standard_normal()), 0.7, 8.0))
        self.creat_base = float(np.clip(np.exp(np.log(105) + 0.35 * rng.standard_normal()), 55, 400)
                                if nephritis else rng.uniform(50, 80))
        self.alb_base = float(rng.uniform(20, 33) if nephritis else rng.uniform(33, 40))
        self.hb_base = float(rng.uniform(85, 120))
        self.u = rng.random(6)  # quantiles for C3, C4, dsDNA, platelets, WBC levels


def _descriptors(T: int, pt: _Patient, rng, allow8: bool) -> dict[str, int]:
    """A set of descriptors whose SLEDAI-2K weights sum exactly to ``T``."""
    chosen: list[str] = []
    R = int(T)
    n1 = R % 2
    if n1 == 1 and R >= 5 and rng.random() < 0.15:
        n1 = 3
    chosen += pt.ones[:n1]
    R -= n1
    cap4, cap2 = 4 * len(pt.fours), 2 * len(pt.twos)
    n8 = 1 if (allow8 and R >= 10 and rng.random() < 0.35) else 0
    while R - 8 * n8 > cap4 + cap2:  # too high for this patient's other descriptors
        n8 += 1
    chosen += pt.eights[:n8]
    R -= 8 * n8
    k4_min = max(0, -(-(R - cap2) // 4))
    k4_max = min(R // 4, len(pt.fours))
    if k4_min > k4_max:
        raise GeneratorError(f"cannot decompose SLEDAI-2K {T} for this patient")
    k4 = int(rng.integers(k4_min, k4_max + 1)) if k4_max > k4_min else k4_min
    if pt.nephritis and R >= 4 and k4 == 0:
        k4 = 1
    chosen += pt.fours[:k4]
    R -= 4 * k4
    chosen += pt.twos[: R // 2]
    out = {d: 0 for d in scores.SLEDAI_2K_DESCRIPTORS}
    for d in chosen:
        out[d] = 1
    if sum(scores.SLEDAI_2K_WEIGHTS[d] * v for d, v in out.items()) != T:
        raise GeneratorError(f"descriptors do not sum to SLEDAI-2K {T}")
    return out


def _labs(desc: dict, pt: _Patient, act: float, month: int, rng) -> dict:
    """Labs consistent with the lab-driven descriptors (cut-offs in :mod:`scores`)."""
    u = pt.u
    noise = lambda s: float(np.exp(s * rng.standard_normal()))  # noqa: E731
    if desc["sledai_proteinuria"]:
        prot = max(0.55, pt.prot_base * act ** 1.2 * noise(0.15))
    else:
        prot = rng.uniform(0.10, 0.48) if pt.nephritis else rng.uniform(0.04, 0.20)
    if desc["sledai_low_complement"]:
        c3 = 0.35 + (0.50 * u[0]) * (1 - 0.4 * act) + rng.uniform(-0.03, 0.0)
        c4 = 0.03 + 0.12 * u[1] * (1 - 0.3 * act)
    else:
        c3 = 0.92 + 0.40 * u[0] * rng.uniform(0.8, 1.0)
        c4 = 0.11 + 0.22 * u[1] * rng.uniform(0.8, 1.0)
    dna = (120 + 600 * u[2] * (0.4 + 0.6 * act) * noise(0.1)) if desc["sledai_increased_dna_binding"] \
        else (5 + 85 * u[2] * rng.uniform(0.6, 1.0))
    plt_ = (35 + 60 * u[3] * rng.uniform(0.8, 1.0)) if desc["sledai_thrombocytopenia"] \
        else (110 + 260 * u[3] * rng.uniform(0.8, 1.0))
    wbc = (1.5 + 1.4 * u[4] * rng.uniform(0.8, 1.0)) if desc["sledai_leukopenia"] \
        else (3.1 + 6.4 * u[4] * rng.uniform(0.8, 1.0))
    creat = pt.creat_base * (0.80 + 0.20 * act) * noise(0.05)
    alb = min(48.0, pt.alb_base + (1 - act) * 9.0 * noise(0.1))
    hb = pt.hb_base + (1 - act) * 12 * noise(0.1)
    labs = {
        "proteinuria_g_24h": round(prot, 2), "creatinine_umol_l": round(creat, 1),
        "albumin_g_l": round(alb, 1), "c3_g_l": round(c3, 2), "c4_g_l": round(c4, 2),
        "anti_dsdna_iu_ml": round(dna, 1), "wbc_10e9_l": round(wbc, 1),
        "platelets_10e9_l": float(round(plt_)), "haemoglobin_g_l": float(round(hb)),
    }
    # rounding must not cross a SLEDAI-2K cut-off
    labs["proteinuria_g_24h"] = max(labs["proteinuria_g_24h"], 0.51) if desc["sledai_proteinuria"] \
        else min(labs["proteinuria_g_24h"], 0.50)
    labs["c3_g_l"] = min(labs["c3_g_l"], 0.89) if desc["sledai_low_complement"] else max(labs["c3_g_l"], 0.90)
    if not desc["sledai_low_complement"]:
        labs["c4_g_l"] = max(labs["c4_g_l"], 0.10)
    if month > 0:  # labs missed now and then (never at baseline)
        for col, p in (("anti_dsdna_iu_ml", 0.04), ("c4_g_l", 0.04), ("haemoglobin_g_l", 0.03)):
            if rng.random() < p:
                labs[col] = np.nan
    return labs


def _round_dose(x: float) -> float:
    return float(max(2.5, 2.5 * round(x / 2.5)))


def _visit_dates(s: Story, months, rng) -> list[tuple[int, pd.Timestamp]]:
    """Nominal months with their dates, up to the end of follow-up; optional visits may be missed."""
    end = s.death_date if s.death_date is not None else s.last_contact_date
    out = []
    for m in months:
        if m == 0:
            d = s.enrol_date if s.arm == "HSCT" else s.transplant_date - pd.Timedelta(
                days=int(rng.integers(1, 8)))
        else:
            if s.transplant_date is None:
                break
            d = s.transplant_date + pd.Timedelta(days=int(round(m * DAY)) + int(rng.integers(-5, 6)))
        if d > end:
            break
        # optional MSCT visits are missed now and then, but never by a patient who will relapse
        # before them (a relapse needs a remission visit before it)
        skippable = s.arm == "MSCT" and m in OPTIONAL_VISITS and (
            s.relapse_month is None or m > s.relapse_month)
        if skippable and rng.random() < 0.10:
            continue
        out.append((m, d.normalize()))
    if s.arm == "HSCT" and s.relapse_date is not None:
        out = _with_relapse_visit(s, out)
    return out


def _with_relapse_visit(s: Story, plan: list[tuple[int, pd.Timestamp]]) -> list[tuple[int, pd.Timestamp]]:
    """Add the visit that shows an HSCT relapse, ``relapse_lag_days`` after the onset.

    Visit months stay nominal (:data:`sle_nb_utils.schemas.NOMINAL_MONTHS`) and every visit lies in
    its month's window (:func:`sle_nb_utils.schemas.visit_window_months`, the window that cleaning
    checks): a scheduled visit between the onset and the flare is replaced by the flare visit (the
    flare brought the patient in); the flare visit takes the first nominal month after the last
    visit before it whose window has not yet closed, and the scheduled visit of that month, if any,
    is brought forward to it.  When the flare comes before that month's window opens, the visit is
    at the opening of the window (the lag is then longer than drawn; the onset date, which dates
    the relapse under the primary rule, does not move)."""
    from .schemas import NOMINAL_MONTHS, visit_window_months

    flare = (s.relapse_date + pd.Timedelta(days=int(s.relapse_lag_days))).normalize()
    end = s.death_date if s.death_date is not None else s.last_contact_date
    if flare > end:
        raise GeneratorError(f"{s.cohort}: a relapse visit after the end of follow-up")
    inside = [(m, d) for m, d in plan if m > 0 and s.relapse_date <= d <= flare]
    kept = [(m, d) for m, d in plan if (m, d) not in inside]
    prev = max(m for m, d in kept if d < flare)
    for month in (m for m in NOMINAL_MONTHS if m > prev):
        lo, hi = visit_window_months(month)
        opens = (s.transplant_date + pd.Timedelta(days=int(np.ceil(lo * DAY)))).normalize()
        closes = (s.transplant_date + pd.Timedelta(days=int(np.floor(hi * DAY)))).normalize()
        if closes < flare:
            continue
        date = max(flare, opens)
        if date > end:
            break
        kept = [(m, d) for m, d in kept if m != month]  # its scheduled visit, brought forward
        return sorted(kept + [(month, date)], key=lambda x: x[1])
    raise GeneratorError(f"{s.cohort}: no nominal month whose window holds the relapse visit")


def _sledai_path(s: Story, plan, B: int, rng, fractions=None) -> list[int]:
    """SLEDAI-2K targets per planned visit that reproduce the story under our definitions."""
    months = [m for m, _ in plan]
    dates = [d for _, d in plan]
    T = [B]
    if s.arm == "MSCT":
        resp = float(np.exp(0.25 * rng.standard_normal()))
        for m in months[1:]:
            raw = int(round(B * (fractions or MSCT_SLEDAI_FRACTION)[m] * resp * np.exp(0.15 * rng.standard_normal())))
            T.append(int(np.clip(raw, 2, B)))
        for i, m in enumerate(months):
            if m in (12, 24, 36, 48):
                T[i] = int(rng.choice([2, 2, 3])) if m in s.cr_year_visits else max(T[i], 4)
        r_idx = months.index(s.relapse_month) if s.relapse_month is not None else None
    else:
        for m in months[1:]:
            T.append(int(rng.choice([0, 2, 2, 3])))
        r_idx = None
        if s.relapse_date is not None:
            after = [i for i, d in enumerate(dates) if i > 0 and d >= s.relapse_date]
            r_idx = after[0] if after else None
    if r_idx is not None and r_idx < 2:
        raise GeneratorError(f"{s.patient_id}: relapse without a post-transplant visit before it")
    if r_idx is not None:  # the visit before a relapse is in remission (PR: SLEDAI <= 50% baseline)
        T[r_idx - 1] = min(T[r_idx - 1], B // 2)
    nadir, remitted = np.inf, False
    for i in range(1, len(T)):
        if r_idx is not None and i == r_idx:
            T[i] = int(nadir + 4 + rng.integers(0, 5))
            for j in range(i + 1, len(T)):
                T[j] = int(max(4, T[i] + rng.integers(-2, 3)))
            break
        if remitted:
            T[i] = int(min(T[i], nadir + 3))
        nadir = min(nadir, T[i])
        remitted = remitted or T[i] <= B / 2 or T[i] <= 3
    return T


def _patient_visits(s: Story, pt: _Patient, B: int, rng, fractions=None) -> list[dict]:
    months = MSCT_VISIT_MONTHS if s.arm == "MSCT" else HSCT_VISIT_MONTHS
    plan = _visit_dates(s, months, rng)
    T = _sledai_path(s, plan, B, rng, fractions)
    relapse_i = None
    if s.arm == "MSCT" and s.relapse_month is not None:
        relapse_i = [m for m, _ in plan].index(s.relapse_month)
    elif s.relapse_date is not None:
        after = [i for i, (_, d) in enumerate(plan) if i > 0 and d >= s.relapse_date]
        relapse_i = after[0] if after else None
    p0 = float(rng.choice([20, 25, 30, 40, 50, 60], p=[0.15, 0.15, 0.25, 0.2, 0.15, 0.1]))
    u_is = rng.random()
    base_is = list(rng.choice(IMMUNOSUPPRESSANTS, size=int(rng.integers(1, 3)), replace=False))
    hcq = rng.random() < 0.7
    rows = []
    for i, (m, d) in enumerate(plan):
        post_relapse = relapse_i is not None and i >= relapse_i
        desc = _descriptors(T[i], pt, rng, allow8=(m == 0 and rng.random() < 0.3) or (
            relapse_i is not None and i == relapse_i and rng.random() < 0.3))
        act = T[i] / max(B, 1)
        if s.arm == "MSCT":
            pred = _round_dose(p0 * PREDNISONE_FRACTION[m])
        else:
            pred = p0 if m == 0 else _round_dose(rng.choice([5.0, 7.5, 10.0]))
        in_cr_story = T[i] <= 3 and (m in s.cr_year_visits or s.arm == "HSCT" or m not in (12, 24, 36, 48))
        if m > 0 and in_cr_story and not post_relapse:
            pred = min(pred, float(rng.choice([5.0, 7.5, 10.0])))
        if post_relapse:
            pred = _round_dose(max(pred, 30.0) * (0.8 if i > relapse_i else 1.0))
        if m == 0:
            drugs = base_is
        elif s.arm == "HSCT":
            drugs = ["mycophenolate mofetil"] if post_relapse else []
        else:
            drugs = base_is[:1] if u_is < IMMUNOSUPPRESSANT_SHARE[m] else []
            if post_relapse:
                drugs = sorted(set(drugs) | {"cyclophosphamide"})
        if hcq:
            drugs = list(drugs) + ["hydroxychloroquine"]
        row = {"patient_id": s.patient_id, "visit_date": d, "visit_month": m, **desc,
               "sledai_2k_total": int(T[i]), **_labs(desc, pt, act, m, rng),
               "prednisone_mg_day": pred, "immunosuppressants": ";".join(sorted(drugs))}
        rows.append(row)
    return rows


def _baseline_sledai(cohort: str, n: int, rng) -> np.ndarray:
    if cohort == "msct_wang2013":  # median 13, range 8-34 (2019 MSCT database study)
        return np.round(_with_median_range(rng, n, 13, 8, 34, 0.3)).astype(int)
    return np.clip(np.round(np.exp(np.log(17) + 0.3 * rng.standard_normal(n))), 8, 40).astype(int)


# --------------------------------------------------------------------------------------------------
# Assembly
# --------------------------------------------------------------------------------------------------

TRAE_KINDS = ["febrile neutropenia", "CMV reactivation", "bacteraemia", "engraftment syndrome"]


def _visits_and_events(patients, by_id, rng, fractions):
    """Visits and events of every patient from the fixed stories (rows as dicts)."""
    visits, events = [], []
    for cohort in ("msct_wang2013", "hsct_burt2006", "hsct_ebmt2013"):
        ids = patients.loc[patients["cohort"] == cohort, "patient_id"].tolist()
        B = _baseline_sledai(cohort, len(ids), rng)
        for pid, b in zip(ids, B):
            s = by_id[pid]
            neph = bool(patients.loc[patients["patient_id"] == pid, "lupus_nephritis"].iloc[0])
            pt = _Patient(rng, neph)
            rows = _patient_visits(s, pt, int(b), rng, fractions)
            visits.extend(rows)
            if s.arm == "MSCT" and s.relapse_month is not None:
                d = next(r["visit_date"] for r in rows if r["visit_month"] == s.relapse_month)
                events.append({"patient_id": pid, "event_date": d - pd.Timedelta(days=s.relapse_lag_days),
                               "event": "relapse", "detail": "relapse onset recorded by the centre"})
            elif s.relapse_date is not None:
                events.append({"patient_id": pid, "event_date": s.relapse_date, "event": "relapse",
                               "detail": "relapse onset recorded by the centre"})
            if s.death_date is not None:
                events.append({"patient_id": pid, "event_date": s.death_date, "event": "death",
                               "detail": s.death_cause})
            if s.arm == "HSCT" and s.transplant_date is not None and rng.random() < 0.3:
                d = s.transplant_date + pd.Timedelta(days=int(rng.integers(5, 40)))
                end = s.death_date if s.death_date is not None else s.last_contact_date
                if d <= end:
                    events.append({"patient_id": pid, "event_date": d,
                                   "event": "transplant_related_adverse_event",
                                   "detail": TRAE_KINDS[int(rng.integers(0, len(TRAE_KINDS)))]})
    return visits, events


#: Stated tolerance of the SLEDAI-2K shape targets (points of the median; integers must match).
SHAPE_TOLERANCE = 0.5


def _shape_targets() -> dict[int, float]:
    """Published MSCT SLEDAI-2K medians after transplant by month (data/published, sci2019)."""
    from . import published

    lon = published.longitudinal()
    lon = lon[(lon["source_id"] == "sci2019") & (lon["measure"] == "sledai") & (lon["month"] != "0")]
    return {int(m): float(v) for m, v in zip(lon["month"], lon["value"])}


def _msct_medians(visits: list[dict]) -> dict[int, float]:
    v = pd.DataFrame([{"m": r["visit_month"], "s": r["sledai_2k_total"]} for r in visits
                      if r["patient_id"].startswith("NJ-")])
    return v.groupby("m")["s"].median().to_dict()


def make_truth(seed: int = DEFAULT_SEED, scale: int = 1) -> dict[str, pd.DataFrame]:
    """The clean synthetic truth: ``patients``, ``visits`` and ``events`` in the data model.

    Parameters
    ----------
    seed : the generator's seed (the bundled data use ``config.DEFAULT_SEED``).
    scale : integer K >= 1; K copies of the calibrated cohorts (each copy with its own patient
        identifiers), for benchmarks. K = 1 is the bundled data.

    Returns
    -------
    dict of DataFrames, rows sorted by patient (and visit / event date).
    """
    if int(scale) < 1:
        raise BadInputError(f"scale must be an integer >= 1, got {scale!r}")
    rng = np.random.default_rng(seed)
    targets = calibration_targets()
    stories = _msct_stories(rng, targets["msct_wang2013"]) + _hsct_stories(rng, targets)
    # one relapse-dating process for every cohort: the same lag distribution, stratified per cohort
    for cohort in ("msct_wang2013", "hsct_burt2006", "hsct_ebmt2013"):
        rel = [x for x in stories if x.cohort == cohort and (x.relapse_month is not None
                                                             or x.relapse_date is not None)]
        for x, lag in zip(rel, _relapse_lags(len(rel), rng)):
            x.relapse_lag_days = int(lag)
    patients = _patients_frame(stories, rng)
    by_id = {s.patient_id: s for s in stories}
    # SLEDAI-2K paths: redrawn from the same random state, with the MSCT fractions nudged, until the
    # MSCT medians hit the published shape targets within SHAPE_TOLERANCE
    state = rng.bit_generator.state
    fractions = dict(MSCT_SLEDAI_FRACTION)
    shape = _shape_targets()
    for _ in range(40):
        rng.bit_generator.state = state
        visits, events = _visits_and_events(patients, by_id, rng, fractions)
        med = _msct_medians(visits)
        miss = {m: target - med.get(m, np.nan) for m, target in shape.items()}
        if all(abs(x) <= SHAPE_TOLERANCE for x in miss.values()):
            break
        for m, x in miss.items():
            if abs(x) > SHAPE_TOLERANCE:
                fractions[m] *= 1.03 if x > 0 else 1 / 1.03
    else:
        raise GeneratorError(f"msct_wang2013: SLEDAI-2K medians {med} miss the published {shape}")
    v = pd.DataFrame(visits)
    v["visit_date"] = pd.to_datetime(v["visit_date"])
    e = pd.DataFrame(events)
    e["event_date"] = pd.to_datetime(e["event_date"])
    truth = {
        "patients": patients.sort_values("patient_id").reset_index(drop=True),
        "visits": v.sort_values(["patient_id", "visit_month"]).reset_index(drop=True),
        "events": e.sort_values(["patient_id", "event_date", "event"]).reset_index(drop=True),
    }
    if int(scale) > 1:
        truth = _replicate(truth, int(scale))
    return truth


def _replicate(truth: dict[str, pd.DataFrame], k: int) -> dict[str, pd.DataFrame]:
    """K copies of every table, each copy with its own identifiers (``NJ-0001`` -> ``NJ-R002-0001``)."""
    out = {}
    for name, df in truth.items():
        parts = []
        for r in range(1, k + 1):
            part = df.copy()
            prefix, num = part["patient_id"].str.split("-", n=1).str[0], part["patient_id"].str.split("-", n=1).str[1]
            part["patient_id"] = prefix + f"-R{r:03d}-" + num
            parts.append(part)
        out[name] = pd.concat(parts, ignore_index=True)
    return out


def write_truth(truth: dict[str, pd.DataFrame], out_dir) -> None:
    """Write the truth tables as CSV (ISO dates, fixed float format, LF line ends)."""
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name, df in truth.items():
        df.to_csv(out / f"{name}.csv", index=False, date_format="%Y-%m-%d", lineterminator="\n")


def read_truth(truth_dir) -> dict[str, pd.DataFrame]:
    """Read truth tables written by :func:`write_truth` back with their data-model dtypes (the same
    reader as for clean tables: :func:`sle_nb_utils.cleaning.read_clean_tables`)."""
    from .cleaning import read_clean_tables

    return read_clean_tables(truth_dir)


# --------------------------------------------------------------------------------------------------
# Datasheet tables (notebook 00)
# --------------------------------------------------------------------------------------------------

def assumptions_table() -> pd.DataFrame:
    """Every generator assumption made where the papers give no number."""
    return pd.DataFrame(ASSUMPTIONS, columns=["cohort", "what", "assumption"])


def cohort_summary(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Size and baseline of each synthetic cohort (one row per cohort)."""
    p, v, e = truth["patients"], truth["visits"], truth["events"]
    tte = endpoints.time_to_event_table(p, v, e)
    fu = tte[tte["endpoint"] == "OS"].set_index("patient_id")["time_months"]
    rows = []
    for cohort, g in p.groupby("cohort", sort=True):
        ids = g["patient_id"]
        rows.append({
            "cohort": cohort, "arm": g["arm"].iloc[0], "patients": len(g),
            "visits": int(v["patient_id"].isin(ids).sum()),
            "events": int(e["patient_id"].isin(ids).sum()),
            "female_pct": round(100 * (g["sex"] == "F").mean(), 1),
            "age_median_years": round(g["age_at_transplant_years"].median(), 1),
            "nephritis_pct": round(100 * g["lupus_nephritis"].mean(), 1),
            "deaths": int(g["death_date"].notna().sum()),
            "follow_up_mean_months": round(fu.reindex(ids).mean(), 1),
            "follow_up_median_months": round(fu.reindex(ids).median(), 1),
        })
    return pd.DataFrame(rows)


def calibration_table(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Published figures next to the same figures derived from the synthetic truth.

    Derivations use the package's definitions (:mod:`endpoints`) and estimators (:mod:`sle_nb_utils.stats`):
    MSCT counts by year visit, Kaplan-Meier (Greenwood SE) for OS/DFS, Aalen-Johansen (cmprsk
    variance) for relapse and NRM, counts for treatment-related mortality, all under the primary
    endpoint definitions (:data:`sle_nb_utils.endpoints.PRIMARY`; Burt 2006 from transplant).

    Returns one row per published figure: ``source``, ``cohort``, ``measure``, ``year``,
    ``published``, ``n`` (the denominator: N of a published n/N, else the analysis set of the
    estimate), ``published_95ci`` (Wilson interval of a published n/N; estimate ± 1.96 SE where an
    SE is published; empty otherwise), ``derived``, ``how`` (how the figure is derived, and the
    hypothesis where the published figure's counting is ours to guess) and ``calibration_check``
    (True when the derived value equals the published one at the published rounding, and so do
    n/N and SE).
    """
    from . import published

    p, v, e = truth["patients"], truth["visits"], truth["events"]
    tte = endpoints.time_to_event_table(p, v, e)
    figs = published.figures()
    figs = figs[figs["cohort"].isin(p["cohort"].unique())]
    msct_ids = p.loc[p["cohort"] == "msct_wang2013", "patient_id"]
    yearly = endpoints.yearly_remission_relapse(v[v["patient_id"].isin(msct_ids)]).set_index("year")
    c = endpoints.classify_visits(v[v["patient_id"].isin(msct_ids)])
    rows = []
    for _, f in figs.iterrows():
        cohort, measure, year = f["cohort"], f["measure"], f["timepoint_years"]
        pc = p[p["cohort"] == cohort]
        num = den = se = np.nan
        if cohort == "msct_wang2013":
            if measure == "complete_remission":
                num, den = yearly.loc[year, "complete_remission"], yearly.loc[year, "evaluable"]
                how = f"patients in CR at the {int(year)}-year visit / evaluable there"
            elif measure == "relapse":
                num, den = yearly.loc[year, "relapses"], yearly.loc[year, "evaluable"]
                how = f"first relapses in year {int(year)} / evaluable at the {int(year)}-year visit (crude)"
            elif measure == "overall_survival":
                num, den = pc["death_date"].isna().sum(), len(pc)
                how = "alive at last contact / all (crude)"
            elif measure == "relapse_overall":
                num, den = len(endpoints.first_relapse(c)), len(pc)
                how = "patients with a first relapse / all (crude)"
            value = 100 * num / den
            n = den
        elif measure == "treatment_related_mortality":
            trm = endpoints.trm_counts(pc["death_date"].notna(), pc["transplant_date"].notna(),
                                       pc["death_treatment_related"])
            if f["source_id"] == "sun_seed":
                num = trm["before_transplant"]
                how = ("hypothesis (ours): the seed's 4% counted the deaths after mobilisation and before "
                       "transplant, by intention to treat")
            else:
                num = trm["treatment_related"]
                how = "deaths the source attributes to the treatment / enrolled (intention to treat)"
            den = trm["enrolled"]
            value = 100 * num / den
            n = den
        else:
            endpoint = PUBLISHED_MEASURES[measure]
            d = tte[(tte["cohort"] == cohort) & (tte["endpoint"] == endpoint)]
            t = 12.0 * year
            if endpoint in ("OS", "DFS"):
                s, s_se = km_surv_se_at(d["time_months"], d["event"], t)
                how = f"Kaplan-Meier at {int(t)} months from transplant, Greenwood SE"
            else:
                s, var = cif_var_at(d["time_months"], d["status"], t, cause=1)
                s_se = np.sqrt(var)
                how = f"Aalen-Johansen at {int(t)} months from transplant, Gray's (cmprsk) SE"
            value, se = 100 * s, 100 * s_se
            n = len(d)
        if not np.isnan(f["denominator"]):
            lo, hi = wilson_ci(f["numerator"], f["denominator"])
            ci = f"{lo:.0f}-{hi:.0f}% (Wilson)"
        elif not np.isnan(f["se_pct"]):
            ci = f"{f['value_pct'] - 1.96 * f['se_pct']:.0f}-{f['value_pct'] + 1.96 * f['se_pct']:.0f}% (± 1.96 SE)"
        else:
            ci = ""
        digits = 0 if f["value_pct"] == round(f["value_pct"]) else 1  # e.g. 92.5 % is given to 0.1
        ok = rounds_to(value, f["value_pct"], digits)
        if not np.isnan(f["numerator"]):
            ok = ok and num == f["numerator"] and den == f["denominator"]
        if not np.isnan(f["se_pct"]):
            ok = ok and rounds_to(se, f["se_pct"])
        rows.append({
            "source": f["source_id"], "cohort": cohort, "measure": measure,
            "year": year, "published": _fmt_pct(f["value_pct"], f["se_pct"], f["numerator"], f["denominator"]),
            "n": int(n), "published_95ci": ci, "derived": _fmt_pct(value, se, num, den), "how": how,
            "calibration_check": bool(ok),
        })
    return pd.DataFrame(rows).sort_values(["cohort", "measure", "year", "source"]).reset_index(drop=True)


def msct_relapse_rates(truth: dict[str, pd.DataFrame], years=(1, 2, 3, 4)) -> pd.DataFrame:
    """MSCT relapse by year two ways: the published crude rate (relapses in the year / evaluable at
    the year visit) beside the Aalen-Johansen cumulative incidence of first relapse by the end of
    the year (from transplant, death without relapse competing; relapse dated by the primary rule,
    primary non-response not counted here since the published figure counts relapses).

    Returns ``year``, ``relapses``, ``evaluable``, ``crude_pct``, ``cumulative_incidence_pct``,
    ``ci_se_pct`` (Gray's), ``at_risk``.
    """
    p, v, e = truth["patients"], truth["visits"], truth["events"]
    ids = p.loc[p["cohort"] == "msct_wang2013", "patient_id"]
    yearly = endpoints.yearly_remission_relapse(v[v["patient_id"].isin(ids)], years).set_index("year")
    tte = endpoints.time_to_event_table(p[p["patient_id"].isin(ids)], v[v["patient_id"].isin(ids)],
                                        e[e["patient_id"].isin(ids)],
                                        endpoint_definition=endpoints.SENSITIVITY["dfs_without_nonresponse"])
    d = tte[tte["endpoint"] == "REL"]
    rows = []
    for k in years:
        cif, var = cif_var_at(d["time_months"], d["status"], 12.0 * k, cause=1)
        rows.append({"year": k, "relapses": int(yearly.loc[k, "relapses"]),
                     "evaluable": int(yearly.loc[k, "evaluable"]),
                     "crude_pct": float(yearly.loc[k, "relapse_pct"]),
                     "cumulative_incidence_pct": 100 * float(cif), "ci_se_pct": 100 * float(np.sqrt(var)),
                     "at_risk": int((d["time_months"] >= 12.0 * k).sum())})
    return pd.DataFrame(rows)


#: Stated tolerances of the shape targets (notebook 00, tests/test_calibration.py).
PROTEINURIA_TOLERANCE_G = 0.5


def shape_check(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The published shape targets against the synthetic MSCT data, each with a stated tolerance.

    SLEDAI-2K medians at months 0, 1, 3, 6 and 12 (2019 MSCT database study): within
    :data:`SHAPE_TOLERANCE` (0.5 point, i.e. equal for integers); baseline range 8-34 exactly;
    proteinuria in lupus nephritis (Liang 2010: mean 2.5 g/24 h at baseline, 0.86 at last follow-up,
    mean 17 months), read at months 0 and 12, within :data:`PROTEINURIA_TOLERANCE_G`.
    Returns ``target``, ``source``, ``published``, ``derived``, ``tolerance``, ``within``.
    """
    from . import published

    p, v = truth["patients"], truth["visits"]
    ids = p.loc[p["cohort"] == "msct_wang2013", "patient_id"]
    c = endpoints.classify_visits(v[v["patient_id"].isin(ids)])
    med = c.groupby("visit_month")["sledai_2k"].median()
    lon = published.longitudinal()
    rows = []
    for _, r in lon[(lon["source_id"] == "sci2019") & (lon["measure"] == "sledai")].iterrows():
        m = int(r["month"])
        got = float(med.get(m, np.nan))
        rows.append({"target": f"SLEDAI-2K median, month {m}", "source": "sci2019",
                     "published": float(r["value"]), "derived": got, "tolerance": SHAPE_TOLERANCE,
                     "within": bool(abs(got - float(r["value"])) <= SHAPE_TOLERANCE)})
    base = c.loc[c["visit_month"] == 0, "sledai_2k"]
    rng_pub = lon[(lon["source_id"] == "sci2019") & (lon["measure"] == "sledai") & (lon["month"] == "0")]
    lo, hi = (float(x) for x in str(rng_pub["spread"].iloc[0]).split("-"))
    rows.append({"target": "SLEDAI-2K baseline minimum", "source": "sci2019", "published": lo,
                 "derived": float(base.min()), "tolerance": 0.0, "within": bool(base.min() == lo)})
    rows.append({"target": "SLEDAI-2K baseline maximum", "source": "sci2019", "published": hi,
                 "derived": float(base.max()), "tolerance": 0.0, "within": bool(base.max() == hi)})
    neph = v[v["patient_id"].isin(p.loc[(p["cohort"] == "msct_wang2013") & p["lupus_nephritis"].astype(bool),
                                        "patient_id"])]
    prot = neph.groupby("visit_month")["proteinuria_g_24h"].mean()
    lp = lon[(lon["source_id"] == "liang2010") & (lon["measure"] == "proteinuria_mg_24h")].set_index("month")
    for month, key in ((0, "0"), (12, "last")):
        pub = float(lp.loc[key, "value"]) / 1000
        got = float(prot.get(month, np.nan))
        rows.append({"target": f"proteinuria in nephritis, mean g/24 h, month {month}", "source": "liang2010",
                     "published": pub, "derived": got, "tolerance": PROTEINURIA_TOLERANCE_G,
                     "within": bool(abs(got - pub) <= PROTEINURIA_TOLERANCE_G)})
    return pd.DataFrame(rows)


def _fmt_pct(value, se, num, den) -> str:
    s = f"{value:.1f}%"
    if se is not None and not np.isnan(se):
        s += f" ± {se:.1f}"
    if num is not None and not np.isnan(num):
        s += f" ({int(num)}/{int(den)})"
    return s


def _markdown_table(df: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in r) + " |")
    return "\n".join(lines)


def datasheet_markdown(truth: dict[str, pd.DataFrame], seed: int = DEFAULT_SEED, scale: int = 1) -> str:
    """The datasheet (``data/README.md``) of a generated data set: what, how, calibration, assumptions."""
    from . import published

    cohorts = sorted(truth["patients"]["cohort"].unique())  # noqa: F841 (used in the query below)
    return f"""# Datasheet: the bundled data (SYNTHETIC)

**Everything in `data/raw/` and `data/truth/` is synthetic.** These are pseudo-patients made by
`sle_nb_utils.synth` (and `sle_nb_utils.messy` for the raw exports); no row describes a real person.
No patient-level data of the source studies is public. The only real data here are the published
summary figures in `data/published/`, with their sources. This file is written by
`python -m sle_nb_utils synth` (`make data`).

## What is here
- `raw/`: exports as hospitals send them (four sites: Nanjing and Suzhou for the MSCT series, Chicago for
  Burt 2006, the EBMT registry as CSV and `.xlsx`), with per-site column names, unit mixes, several date
  formats, stray spaces and case, duplicates, impossible and missing values. Cleaning (notebook 01) must
  recover the truth from them.
- `truth/`: the clean tables in the data model (`patients.csv`, `visits.csv`, `events.csv`) and
  `defects.csv`, one row per injected defect with its expected handling.
- `published/`: published figures (`published_figures.csv`, `published_longitudinal.csv`), their citations
  (`sources.csv`) and notes on what could and could not be confirmed (`README.md`).

## How it is made (seed {seed}, scale {scale}; `make data` regenerates it byte for byte)
1. **Stories first.** Each patient's follow-up, death and cause, remission and relapse are fixed by a
   seeded, deterministic allocation that hits the exact published counts (MSCT), or by a seeded local
   search on event and censoring times until the Kaplan-Meier / Aalen-Johansen estimates and their
   standard errors round to the published values (HSCT).
2. **Scores that tell the story.** SLEDAI-2K targets per visit that produce exactly that story under our
   operational definitions (`sle_nb_utils/endpoints.py`): complete-remission visits have SLEDAI-2K <= 3
   and prednisone <= 10 mg/day; a relapse is a rise of >= 4 above the post-transplant nadir after a
   remission. Then the 24 descriptors summing to each target, then labs that agree with the lab-driven
   descriptors (proteinuria > 0.5 g/24 h, low C3/C4, anti-dsDNA, platelets, WBC).
   One relapse-dating process in every cohort: the site records the onset, and the visit that shows it
   follows 0-42 days later (the same lag distribution in every cohort). Entry is staggered and about 1
   in 5 survivors without relapse is lost to follow-up before the cut-off.
3. **Messy exports.** The truth is copied into site exports, and defects are injected and recorded.
4. `--scale K` makes K copies of the calibrated cohorts with their own identifiers (benchmarks).

## Cohorts
{_markdown_table(cohort_summary(truth))}

## Calibration: published vs derived from these data by the package
Derived with the same functions the notebooks use (asserted in `tests/test_calibration.py`).

{_markdown_table(calibration_table(truth))}

Distinct figures: {len(published.distinct_figures(published.figures().query("cohort in @cohorts")))}
(Burt 2006's OS and DFS are quoted by both the seed and the source, so they appear twice above).
Derived under the primary endpoint definitions (`docs/endpoints.md`): Burt 2006 from transplant among
the 48 transplanted; relapse dated by the earliest evidence; primary non-response at 12 months counts as
failure.

Treatment-related mortality in Burt 2006: the source attributes 1/50 (2%) to treatment, by intention to
treat; two patients died after mobilisation and before transplant. The seed's 4% equals 2/50: our
hypothesis is that the seed counted those two deaths. Both counts are in the data.

Shape targets (`published/published_longitudinal.csv`), each with a stated tolerance:

{_markdown_table(shape_check(truth).round(2))}

## Assumptions (where the papers give no number)
{_markdown_table(assumptions_table())}

## Limits
- Trajectories are plausible, not realistic in every detail: descriptors follow fixed per-patient
  preference orders, and labs are drawn conditionally on the descriptors.
- The MSCT remission and relapse wording of the papers could not be obtained; the counts are reproduced
  under **our** stated definitions, not the papers'.
- Comparisons between the synthetic HSCT and MSCT cohorts say nothing about the treatments.
- Associations the generator put in (CD34 selection and relapse in the EBMT series, to reproduce
  Alchi 2013's p = 0.001; the SLEDAI and proteinuria trajectories) are calibration checks, not findings.
"""
