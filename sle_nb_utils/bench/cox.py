"""Benchmark of :mod:`sle_nb_utils.stats.cox` against R ``coxph`` / ``cox.zph`` (not part of the tests).

``run(sizes)`` simulates, for each size, a seeded cohort (two arms, age, nephritis; exponential
event times with uniform censoring) twice: with continuous times and with times rounded to 0.1
month (many ties).  It times :func:`~sle_nb_utils.stats.cox.cox_fit` (Efron) and
:func:`~sle_nb_utils.stats.cox.cox_zph` (km transform) and, when ``Rscript`` is on the PATH, R's
``coxph(ties = "efron")`` and ``cox.zph`` on the same data in one Rscript subprocess.  Seconds are
wall-clock of the computation only (data already in memory: reading and writing the CSV files and
starting R are excluded).  ``ratio`` is Python / R (below 1: faster than R); ``max_abs_diff`` is
the largest absolute difference from R of the coefficients (cox_fit) or of the chi-squares
(cox_zph).

Run: ``python -m sle_nb_utils.bench.cox [n ...]`` (best of 3 runs of each, Python and R).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time as _time
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats.cox import cox_fit, cox_zph

COVARIATES = ["arm", "age", "nephritis"]

R_SCRIPT = r"""
suppressPackageStartupMessages(library(survival))
a <- commandArgs(trailingOnly = TRUE)
repeats <- as.integer(a[1])
rows <- list()
for (f in a[-1]) {
  d <- read.csv(f)
  t_fit <- t_zph <- Inf
  for (i in seq_len(repeats)) {
    invisible(gc())
    t_fit <- min(t_fit, system.time(fit <- coxph(Surv(time, event) ~ arm + age + nephritis, data = d,
                                                 ties = "efron"))["elapsed"])
    invisible(gc())
    t_zph <- min(t_zph, system.time(z <- cox.zph(fit, transform = "km"))["elapsed"])
  }
  rows[[length(rows) + 1]] <- data.frame(file = basename(f), fn = c("cox_fit", "cox_zph"),
    seconds = c(t_fit, t_zph),
    values = c(paste(sprintf("%.17g", coef(fit)), collapse = " "),
               paste(sprintf("%.17g", z$table[, "chisq"]), collapse = " ")))
}
write.csv(do.call(rbind, rows), stdout(), row.names = FALSE)
"""


def simulate(n: int, seed: int = 20261128, tied: bool = False) -> pd.DataFrame:
    """Seeded cohort: time (months; continuous, or rounded to 0.1 when ``tied``), event, covariates."""
    rng = np.random.default_rng(seed)
    arm = (rng.random(n) < 0.5).astype(int)
    age = np.round(rng.normal(32, 9, n), 1)
    neph = (rng.random(n) < 0.55).astype(int)
    lp = 0.5 * arm + 0.03 * (age - 32) + 0.4 * neph
    t = rng.exponential(70 * np.exp(-lp))
    c = rng.uniform(6, 72, n)
    time = np.minimum(t, c)
    if tied:
        time = np.maximum(np.round(time, 1), 0.1)
    return pd.DataFrame({"time": time, "event": (t <= c).astype(int), "arm": arm, "age": age, "nephritis": neph})


def _timed(fn, repeats: int = 1):
    """Best wall-clock time of ``repeats`` runs (the machine may be shared) and the last result."""
    best = np.inf
    for _ in range(repeats):
        t0 = _time.perf_counter()
        out = fn()
        best = min(best, _time.perf_counter() - t0)
    return best, out


def _r_timings(files: list[Path], repeats: int) -> pd.DataFrame:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "bench_cox.R"
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(repeats), *map(str, files)], check=True, capture_output=True,
                             text=True, timeout=3600)
    return pd.read_csv(StringIO(res.stdout))


def run(sizes=(100_000, 1_000_000), with_r: bool = True, seed: int = 20261128, repeats: int = 1) -> pd.DataFrame:
    """Time cox_fit and cox_zph against R coxph / cox.zph (best of ``repeats`` runs each).

    Returns
    -------
    pandas.DataFrame
        ``n``, ``times`` ("continuous"/"tied"), ``function`` ("cox_fit"/"cox_zph"), ``python_s``,
        ``r_s`` (NaN without R), ``ratio`` (python_s / r_s), ``max_abs_diff`` (vs R; NaN without R).
    """
    cox_zph(cox_fit(simulate(500, seed), COVARIATES))  # warm-up (imports) outside the timings
    have_r = with_r and shutil.which("Rscript") is not None
    rows, values = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        files = []
        for n in sizes:
            for tied in (False, True):
                d = simulate(int(n), seed, tied)
                kind = "tied" if tied else "continuous"
                t_fit, fit = _timed(lambda: cox_fit(d, COVARIATES), repeats)
                t_zph, z = _timed(lambda: cox_zph(fit), repeats)
                rows += [(int(n), kind, "cox_fit", t_fit), (int(n), kind, "cox_zph", t_zph)]
                values[(int(n), kind, "cox_fit")] = fit.params.to_numpy()
                values[(int(n), kind, "cox_zph")] = z.chisq.to_numpy()
                if have_r:
                    f = Path(tmp) / f"d_{int(n)}_{kind}.csv"
                    d.to_csv(f, index=False, float_format="%.17g")
                    files.append(f)
        r = _r_timings(files, repeats) if have_r else None
    out = pd.DataFrame(rows, columns=["n", "times", "function", "python_s"])
    out["r_s"] = np.nan
    out["max_abs_diff"] = np.nan
    if r is not None:
        for i, row in out.iterrows():
            hit = r[(r.file == f"d_{row.n}_{row.times}.csv") & (r.fn == row.function)].iloc[0]
            out.loc[i, "r_s"] = float(hit.seconds)
            rv = np.array([float(v) for v in str(hit["values"]).split()])
            out.loc[i, "max_abs_diff"] = float(np.max(np.abs(values[(row.n, row.times, row.function)] - rv)))
    out["ratio"] = out.python_s / out.r_s
    return out[["n", "times", "function", "python_s", "r_s", "ratio", "max_abs_diff"]]


if __name__ == "__main__":  # pragma: no cover
    sizes = tuple(int(a) for a in sys.argv[1:]) or (100_000, 1_000_000)
    with pd.option_context("display.width", 120):
        print(run(sizes, repeats=3).to_string(index=False))
