"""Benchmark: random-intercept-and-slope REML fit, ours vs lme4 (and statsmodels), side by side.

One seeded data set of 10,000 patients x 10 scheduled visits with 15% of the post-baseline visits
missing (about 86,500 rows), ``y ~ years * arm + (years | id)``.  Each fitter is timed on the same
rows in the same run: ours (:func:`sle_nb_utils.stats.mixed.fit_lmm`, from a DataFrame in memory),
lme4 (``lmer`` in an ``Rscript`` process, timed inside R around the fit only, so reading the CSV and
starting R are excluded) and, optionally, statsmodels' ``MixedLM``.  The table gives the seconds
(best of ``repeat``), the ratio to lme4 and the largest difference of the fixed effects, their SEs
and the variance components from lme4's.

Run: ``python -m sle_nb_utils.bench.mixed`` (or ``make bench``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

_R = r"""
suppressPackageStartupMessages(library(lme4))
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1])
reps <- as.integer(a[3])
best <- Inf
for (k in seq_len(reps)) {
  t0 <- proc.time()[["elapsed"]]
  fit <- lmer(y ~ years * arm + (years | id), data = d, REML = TRUE)
  best <- min(best, proc.time()[["elapsed"]] - t0)
}
vc <- as.data.frame(VarCorr(fit))
out <- data.frame(name = c(paste0("coef:", names(fixef(fit))), paste0("se:", names(fixef(fit))),
                           "sd:(Intercept)", "sd:years", "sd:Residual", "corr", "seconds"),
                  value = c(fixef(fit), sqrt(diag(as.matrix(vcov(fit)))),
                            vc$sdcor[is.na(vc$var2)], vc$sdcor[!is.na(vc$var2)], best))
write.csv(out, a[2], row.names = FALSE)
"""


def make_data(n_patients: int = 10_000, n_visits: int = 10, missing: float = 0.15,
              seed: int = 20240611) -> pd.DataFrame:
    """Seeded long data: months 0, 1, 3, 6, 9, 12, 18, 24, 36, 48 (first ``n_visits``), baseline
    always present, each later visit missing with probability ``missing``."""
    rng = np.random.default_rng(seed)
    months = np.array([0, 1, 3, 6, 9, 12, 18, 24, 36, 48, 60, 72])[:n_visits]
    ids = np.repeat(np.arange(n_patients), n_visits)
    m = np.tile(months, n_patients)
    keep = (m == 0) | (rng.random(ids.size) >= missing)
    ids, m = ids[keep], m[keep]
    years = m / 12.0
    arm = np.where(np.arange(n_patients) % 2 == 0, "A", "B")
    b = rng.multivariate_normal([0, 0], [[9.0, -1.2], [-1.2, 1.0]], size=n_patients)
    y = (13 + 1.5 * (arm[ids] == "B") - 3.0 * years - 0.8 * years * (arm[ids] == "B")
         + b[ids, 0] + b[ids, 1] * years + rng.normal(0, 2.0, ids.size))
    return pd.DataFrame({"id": [f"P{i:05d}" for i in ids], "arm": arm[ids], "years": years,
                         "y": np.round(y, 4)})


def _ours(d: pd.DataFrame, repeat: int):
    from ..stats.mixed import fit_lmm

    best, fit = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        fit = fit_lmm(d, "y", ["years", "arm", "years:arm"], "id", "years")
        best = min(best, time.perf_counter() - t0)
    ex = fit.extra
    vals = {f"coef:{t}": v for t, v in fit.params.items()}
    vals.update({f"se:{t}": v for t, v in fit.se.items()})
    vals.update({"sd:(Intercept)": ex["sd_intercept"], "sd:years": ex["sd_slope"], "sd:Residual": ex["sigma"],
                 "corr": ex["corr"]})
    return best, vals


def _lme4(d: pd.DataFrame, repeat: int):
    if shutil.which("Rscript") is None:
        return np.nan, None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        d.to_csv(tmp / "d.csv", index=False)
        (tmp / "fit.R").write_text(_R)
        subprocess.run(["Rscript", str(tmp / "fit.R"), str(tmp / "d.csv"), str(tmp / "out.csv"), str(repeat)],
                       check=True, capture_output=True, text=True, timeout=1800)
        r = pd.read_csv(tmp / "out.csv")
    names = {"(Intercept)": "Intercept", "armB": "arm[B]", "years:armB": "years:arm[B]"}
    vals = {}
    for name, v in zip(r.name, r.value):
        kind, _, term = name.partition(":")
        if kind in ("coef", "se"):
            name = f"{kind}:{names.get(term, term)}"
        vals[name] = float(v)
    return vals.pop("seconds"), vals


def _statsmodels(d: pd.DataFrame):
    from ..stats.mixed import fit_mixedlm_statsmodels

    t0 = time.perf_counter()
    fit = fit_mixedlm_statsmodels(d, "y", ["years", "arm", "years:arm"], "id", "years")
    sec = time.perf_counter() - t0
    vals = {f"coef:{t}": v for t, v in fit.params.items()}
    vals.update({f"se:{t}": v for t, v in fit.se.items()})
    vals.update({"sd:(Intercept)": fit.extra["sd_intercept"], "sd:years": fit.extra["sd_slope"],
                 "sd:Residual": fit.extra["sigma"], "corr": fit.extra["corr"]})
    return sec, vals


def run(n_patients: int = 10_000, n_visits: int = 10, missing: float = 0.15, repeat: int = 3,
        with_statsmodels: bool = False) -> pd.DataFrame:
    """Seconds per fit (best of ``repeat``), ratio to lme4, and max |difference| from lme4.

    Returns
    -------
    DataFrame
        One row per fitter: ``fitter``, ``patients``, ``rows``, ``seconds``, ``ratio_to_lme4``,
        ``max_abs_diff_coef``, ``max_abs_diff_se``, ``max_abs_diff_varcomp`` (the SDs and the
        correlation of the random effects and the residual SD).
    """
    d = make_data(n_patients, n_visits, missing)
    t_r, v_r = _lme4(d, repeat)
    t_o, v_o = _ours(d, repeat)
    results = [("sle_nb_utils fit_lmm (2x2 blocks)", t_o, v_o), ("lme4 lmer", t_r, v_r)]
    if with_statsmodels:
        t_s, v_s = _statsmodels(d)
        results.append(("statsmodels MixedLM", t_s, v_s))
    rows = []
    for name, sec, vals in results:
        row = {"fitter": name, "patients": n_patients, "rows": len(d), "seconds": round(sec, 3),
               "ratio_to_lme4": round(sec / t_r, 2) if np.isfinite(t_r) else np.nan}
        for kind, keys in (("coef", "coef:"), ("se", "se:"), ("varcomp", ("sd:", "corr"))):
            if v_r is None or vals is None:
                row[f"max_abs_diff_{kind}"] = np.nan
                continue
            ks = [k for k in v_r if k.startswith(keys)]
            row[f"max_abs_diff_{kind}"] = float(max(abs(vals[k] - v_r[k]) for k in ks))
        rows.append(row)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    print(run(with_statsmodels="--statsmodels" in sys.argv).to_string(index=False))
