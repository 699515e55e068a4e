"""Benchmark of the survival layer against R (``make bench``; not part of ``make test``).

``run(n)`` simulates a seeded cohort of ``n`` patients (two arms, three covariates, relapse with
death as a competing risk, times in months rounded to 0.1 so that ties occur), times each
estimator of :mod:`sle_nb_utils.stats` and, when ``Rscript`` is on the PATH, the matching R
function (survival 3.x / cmprsk) in one Rscript subprocess.  Timings are wall-clock seconds of
the computation only (data already in memory; import and start-up excluded).

``cmprsk::crr`` is quadratic in n (about 22 s at 10 000 patients), so it is timed in R only up
to ``crr_max_n`` patients; larger sizes get NaN with a note.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time as _time
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from ..stats import competing as cr
from ..stats import survival as sv

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(cmprsk)})
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1]); crr_max_n <- as.numeric(a[2]); n <- nrow(d)
tm <- function(expr) unname(system.time(expr)["elapsed"])
X <- as.matrix(d[, c("arm", "age", "nephritis")])
out <- data.frame(
  method = c("kaplan_meier", "logrank_test", "aalen_johansen", "gray_test", "fine_gray"),
  r_function = c("survfit", "survdiff", "cuminc (no groups)", "cuminc (groups: Gray's test)", "crr"),
  seconds = c(
    tm(survfit(Surv(time, event) ~ 1, data = d)),
    tm(survdiff(Surv(time, event) ~ arm, data = d)),
    tm(cuminc(d$time, d$status)),
    tm(cuminc(d$time, d$status, d$arm)),
    if (n <= crr_max_n) tm(crr(d$time, d$status, X)) else NA))
write.csv(out, stdout(), row.names = FALSE)
"""


def simulate(n: int, seed: int = 20240501) -> pd.DataFrame:
    """Seeded benchmark cohort: time (months, 0.1 resolution), event, status 0/1/2, arm, age, nephritis."""
    rng = np.random.default_rng(seed)
    arm = (rng.random(n) < 0.5).astype(int)
    age = np.round(rng.normal(32, 9, n), 1)
    neph = (rng.random(n) < 0.55).astype(int)
    lp = 0.5 * arm + 0.03 * (age - 32) + 0.4 * neph
    t1 = rng.exponential(70 * np.exp(-lp))
    t2 = rng.exponential(150 * np.exp(-0.3 * lp))
    c = rng.uniform(6, 72, n)
    tt = np.minimum.reduce([t1, t2, c])
    status = np.select([tt == t1, tt == t2], [1, 2], 0)
    time = np.maximum(np.round(tt, 1), 0.1)
    return pd.DataFrame(
        {"time": time, "event": (status > 0).astype(int), "status": status, "arm": arm, "age": age, "nephritis": neph}
    )


def _timed(fn) -> float:
    t0 = _time.perf_counter()
    fn()
    return _time.perf_counter() - t0


def _python_timings(d: pd.DataFrame) -> pd.DataFrame:
    t, e, s, g = d.time.to_numpy(), d.event.to_numpy(), d.status.to_numpy(), d.arm.to_numpy()
    X = d[["arm", "age", "nephritis"]].astype(float)
    rows = [
        ("kaplan_meier", lambda: sv.kaplan_meier(t, e)),
        ("logrank_test", lambda: sv.logrank_test(t, e, g)),
        ("aalen_johansen", lambda: cr.aalen_johansen(t, s)),
        ("gray_test", lambda: cr.gray_test(t, s, g)),
        ("fine_gray", lambda: cr.fine_gray(t, s, X)),
    ]
    return pd.DataFrame([{"method": m, "seconds": _timed(f)} for m, f in rows])


def _r_timings(d: pd.DataFrame, crr_max_n: int) -> pd.DataFrame | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.csv"
        script = Path(tmp) / "bench.R"
        d.to_csv(data, index=False)
        script.write_text(R_SCRIPT)
        res = subprocess.run(
            ["Rscript", str(script), str(data), str(crr_max_n)], capture_output=True, text=True, check=True
        )
    return pd.read_csv(StringIO(res.stdout))


def run(n: int = 100_000, seed: int = 20240501, with_r: bool = True, crr_max_n: int = 10_000) -> pd.DataFrame:
    """Time Python vs R on a simulated cohort of ``n`` patients.

    Returns
    -------
    pandas.DataFrame
        Sorted by method then implementation: ``method`` (function of
        :mod:`sle_nb_utils.stats`), ``implementation`` ("python" / "R"), ``function`` (what
        ran), ``n``, ``seconds`` (NaN when not run), ``note``.
    """
    d = simulate(n, seed)
    py = _python_timings(d)
    py["implementation"] = "python"
    py["function"] = "sle_nb_utils.stats." + py.method
    py["note"] = ""
    parts = [py]
    r = _r_timings(d, crr_max_n) if with_r else None
    if r is not None:
        r = r.rename(columns={"r_function": "function"})
        r["implementation"] = "R"
        r["note"] = np.where(r.seconds.isna(), f"skipped: crr is quadratic, run only for n <= {crr_max_n}", "")
        parts.append(r)
    out = pd.concat(parts, ignore_index=True)
    out["n"] = n
    out = out[["method", "implementation", "function", "n", "seconds", "note"]]
    return out.sort_values(["method", "implementation"], kind="stable").reset_index(drop=True)


if __name__ == "__main__":  # pragma: no cover
    import sys

    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with pd.option_context("display.width", 160, "display.max_colwidth", 40):
        print(run(size).round(3).to_string(index=False))
