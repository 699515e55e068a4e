"""Benchmark of the survival layer against R (``make bench``; not part of ``make test``).

``run(sizes=(100_000, 1_000_000))`` simulates one seeded cohort per size (two arms, three
covariates, relapse with death as a competing risk), in two versions that differ only in the
times: **continuous** (no ties) and **tied** (rounded to 0.1 month, about 700 distinct times).
On exactly these data it times each estimator of :mod:`sle_nb_utils.stats` and, when ``Rscript``
is on the PATH, its R counterpart, all R timings of one size in a single Rscript process:

=================  ====================================================
ours               R
=================  ====================================================
kaplan_meier       ``survfit(Surv(time, event) ~ 1)`` (survival)
logrank_test       ``survdiff(Surv(time, event) ~ arm)`` (survival)
aalen_johansen     ``cuminc(time, status)`` (cmprsk, no groups)
gray_test          ``cuminc(time, status, arm)`` (cmprsk; curves and Gray's test)
fine_gray          ``crr(time, status, cbind(arm, age, nephritis))`` (cmprsk)
=================  ====================================================

Timings are wall-clock seconds of the computation only: the data are in memory (the R side
reads its CSV before the clock starts and times each call with ``system.time``), and each time is
the best of ``repeats`` runs, for both languages alike (``crr``, which takes minutes, is run
once).  ``ratio`` is ours / R (below 1: we are faster); the CPU times (user + system) are given
too, since wall-clock times on a shared machine move with the load of other processes.
R's ``survfit`` runs with ``timefix = FALSE``: by default it first merges times closer than about
1e-8 (relative; ``aeqSurv``), which with a million continuous times changes some risk sets (and
costs R time); without it both sides estimate on the same times.  ``survdiff`` cannot turn this
off in survival 3.5-3 (``timefix = FALSE`` reaches ``model.frame`` and fails), so its chi-square
with continuous times differs from ours by that merging (of the order of 1e-8 relative in our runs);
with tied times it agrees to rounding.

``cmprsk::crr`` is quadratic in n (at 10 000 patients it took about 10 s with tied times and
2 minutes with continuous times on a 2-core machine), so R is timed only for n <= ``crr_max_n``;
Fine-Gray and ``crr`` are also timed on a cohort of ``crr_n`` patients (same seed) so that there
is one like-for-like comparison.  At larger n, ``fine_gray`` is measured against its own target
(``FINE_GRAY_TARGET_S``, 10 s at 1e6 patients) and the ``note`` says whether it is met.
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

#: Target for ``fine_gray`` at 1e6 patients, seconds (no R counterpart at that size).
FINE_GRAY_TARGET_S = 10.0

METHODS = {  # ours -> R counterpart
    "kaplan_meier": "survfit",
    "logrank_test": "survdiff",
    "aalen_johansen": "cuminc (no groups)",
    "gray_test": "cuminc (groups: curves + Gray's test)",
    "fine_gray": "crr",
}
TIMES = {"continuous": "time_cont", "tied 0.1 month": "time_tied"}

R_SCRIPT = r"""
suppressPackageStartupMessages({library(survival); library(cmprsk)})
a <- commandArgs(trailingOnly = TRUE)
d <- read.csv(a[1]); crr_max_n <- as.numeric(a[2]); reps <- as.integer(a[3]); n <- nrow(d)
Q <- as.numeric(strsplit(a[4], ",")[[1]])
best <- function(f, reps) {  # best elapsed and CPU (user + system) times of reps runs, and the result
  tt <- cpu <- Inf
  for (i in seq_len(reps)) {
    st <- system.time(res <- f())
    tt <- min(tt, unname(st["elapsed"])); cpu <- min(cpu, unname(st["user.self"] + st["sys.self"]))
  }
  list(s = tt, cpu = cpu, res = res)
}
X <- as.matrix(d[, c("arm", "age", "nephritis")])
out <- NULL
add <- function(method, tt, b, value) {
  out <<- rbind(out, data.frame(method = method, times = tt, r_s = b$s, r_cpu_s = b$cpu,
                                r_values = paste(sprintf("%.17g", value), collapse = ";")))
}
for (tt in c("continuous", "tied 0.1 month")) {
  time <- if (tt == "continuous") d$time_cont else d$time_tied
  event <- d$event; status <- d$status; arm <- d$arm
  b <- best(function() survfit(Surv(time, event) ~ 1, timefix = FALSE), reps)
  add("kaplan_meier", tt, b, summary(b$res, times = Q)$surv)
  b <- best(function() survdiff(Surv(time, event) ~ arm), reps)
  add("logrank_test", tt, b, b$res$chisq)
  b <- best(function() cuminc(time, status), reps)
  add("aalen_johansen", tt, b, timepoints(b$res, Q)$est[1, ])
  b <- best(function() cuminc(time, status, arm), reps)
  add("gray_test", tt, b, b$res$Tests[, "stat"])
  if (n <= crr_max_n) {
    b <- best(function() crr(time, status, X), 1)
    add("fine_gray", tt, b, b$res$coef)
  }
}
write.csv(out, stdout(), row.names = FALSE)
"""

#: Times (months) at which the curves are compared with R.
CHECK_AT = (6.0, 12.0, 24.0, 48.0)



def simulate(n: int, seed: int = 20240501, ties: bool = True) -> pd.DataFrame:
    """Seeded benchmark cohort: time (months), event, status 0/1/2, arm, age, nephritis.

    ``ties=True`` rounds the times to 0.1 month (at least 0.1), so that ties occur;
    ``ties=False`` keeps the continuous times.  Everything else is the same draw.
    """
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
    time = np.maximum(np.round(tt, 1), 0.1) if ties else tt
    return pd.DataFrame(
        {"time": time, "event": (status > 0).astype(int), "status": status, "arm": arm, "age": age, "nephritis": neph}
    )


def _both(n: int, seed: int) -> pd.DataFrame:
    """One cohort with both versions of the times: ``time_cont`` and ``time_tied``."""
    d = simulate(n, seed, ties=False).rename(columns={"time": "time_cont"})
    d.insert(1, "time_tied", simulate(n, seed, ties=True).time)
    return d


def _best(fn, repeats: int):
    """Best wall-clock and CPU seconds of ``repeats`` calls, and the result of the last one."""
    wall = cpu = np.inf
    for _ in range(repeats):
        t0, c0 = _time.perf_counter(), _time.process_time()
        res = fn()
        wall = min(wall, _time.perf_counter() - t0)
        cpu = min(cpu, _time.process_time() - c0)
    return wall, cpu, res


def _step_at(frame: pd.DataFrame, column: str) -> np.ndarray:
    """The step function ``column`` of a curve table at the times ``CHECK_AT``."""
    idx = np.searchsorted(frame.time.to_numpy(), CHECK_AT, side="right") - 1
    return frame[column].to_numpy()[idx]


def _python_timings(d: pd.DataFrame, repeats: int, methods=tuple(METHODS)) -> pd.DataFrame:
    e, s, g = d.event.to_numpy(), d.status.to_numpy(), d.arm.to_numpy()
    X = d[["arm", "age", "nephritis"]].astype(float)
    rows = []
    for label, col in TIMES.items():
        t = d[col].to_numpy()
        calls = {  # the timed call, and the numbers compared with R
            "kaplan_meier": (lambda: sv.kaplan_meier(t, e), lambda r: _step_at(r, "surv")),
            "logrank_test": (lambda: sv.logrank_test(t, e, g), lambda r: r.chisq.to_numpy()[:1]),
            "aalen_johansen": (lambda: cr.aalen_johansen(t, s), lambda r: _step_at(r, "cif")),
            "gray_test": (lambda: cr.gray_test(t, s, g), lambda r: r.chisq.to_numpy()),
            "fine_gray": (lambda: cr.fine_gray(t, s, X), lambda r: np.asarray(r.params)),
        }
        for m in methods:
            wall, cpu, res = _best(calls[m][0], repeats)
            rows.append({"method": m, "times": label, "python_s": wall, "python_cpu_s": cpu, "values": calls[m][1](res)})
    return pd.DataFrame(rows)


def _r_timings(d: pd.DataFrame, crr_max_n: int, repeats: int) -> pd.DataFrame | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bench.csv"
        script = Path(tmp) / "bench.R"
        d.to_csv(data, index=False)
        script.write_text(R_SCRIPT)
        res = subprocess.run(["Rscript", str(script), str(data), str(crr_max_n), str(repeats),
                              ",".join(f"{q:g}" for q in CHECK_AT)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"the R side of the benchmark failed:\n{res.stderr[-2000:]}")
    return pd.read_csv(StringIO(res.stdout))


def _max_abs_diff(ours, r_values) -> float:
    if not isinstance(r_values, str):
        return np.nan
    theirs = np.array([float(v) for v in r_values.split(";")])
    ours = np.asarray(ours, dtype=float)
    return float(np.max(np.abs(ours - theirs))) if ours.shape == theirs.shape else np.inf


def _note(method: str, n: int, py_s: float, r_s: float, crr_max_n: int) -> str:
    parts = []
    if method == "fine_gray" and n > crr_max_n:
        parts.append(f"crr not timed: quadratic in n, run only for n <= {crr_max_n}")
    elif not np.isfinite(r_s):
        parts.append("R not run")
    if method == "fine_gray" and n >= 1_000_000:
        met = "met" if py_s <= FINE_GRAY_TARGET_S else "NOT met"
        parts.append(f"target at 1e6: <= {FINE_GRAY_TARGET_S:g} s, {met}")
    return "; ".join(parts)


def run(
    sizes=(100_000, 1_000_000),
    seed: int = 20240501,
    with_r: bool = True,
    crr_max_n: int = 10_000,
    crr_n: int | None = 10_000,
    repeats: int = 3,
) -> pd.DataFrame:
    """Time our estimators and their R counterparts on the same simulated cohorts.

    Parameters
    ----------
    sizes : sequence of int
        Numbers of patients; one cohort (continuous and tied times) per size.
    seed : int
        Seed of :func:`simulate`.
    with_r : bool
        Time R too (skipped, with NaN, when ``Rscript`` is absent).
    crr_max_n : int
        Largest n at which ``cmprsk::crr`` is timed (it is quadratic).
    crr_n : int or None
        Also time ``fine_gray`` and ``crr`` on the first ``crr_n`` patients of a cohort of
        that size (None: do not).
    repeats : int
        Each timing is the best of this many runs (both languages).

    Returns
    -------
    pandas.DataFrame
        One row per method, n and kind of times, sorted by method, n, times: ``method`` (function
        of :mod:`sle_nb_utils.stats`), ``r_function``, ``n``, ``times`` ("continuous" or
        "tied 0.1 month"), ``python_s``, ``r_s`` (seconds; NaN when not run), ``ratio``
        (python_s / r_s), ``python_cpu_s``, ``r_cpu_s``, ``ratio_cpu`` (the same in CPU seconds:
        user + system of the process, less sensitive to other load on the machine),
        ``max_abs_diff`` (largest absolute difference from R of the numbers
        compared: S(t) or the cause-1 CIF at ``CHECK_AT`` months, the chi-square(s), the
        Fine-Gray coefficients; NaN when R did not run), ``note``.
    """
    jobs = [(int(n), tuple(METHODS)) for n in sizes]
    if crr_n is not None and int(crr_n) not in {n for n, _ in jobs}:
        jobs.append((int(crr_n), ("fine_gray",)))
    parts = []
    for n, methods in jobs:
        d = _both(n, seed)
        py = _python_timings(d, repeats, methods)
        r = _r_timings(d, crr_max_n, repeats) if with_r else None
        if r is None:
            py["r_s"] = py["r_cpu_s"] = np.nan
            py["r_values"] = None
        else:
            py = py.merge(r, on=["method", "times"], how="left")
        py["max_abs_diff"] = [_max_abs_diff(a, b) for a, b in zip(py["values"], py.r_values)]
        py["n"] = n
        parts.append(py)
    out = pd.concat(parts, ignore_index=True)
    out["r_function"] = out.method.map(METHODS)
    out["ratio"] = out.python_s / out.r_s
    out["ratio_cpu"] = out.python_cpu_s / out.r_cpu_s
    out["note"] = [_note(m, n, p, r, crr_max_n)
                   for m, n, p, r in zip(out.method, out.n, out.python_s, out.r_s)]
    out = out[["method", "r_function", "n", "times", "python_s", "r_s", "ratio", "python_cpu_s", "r_cpu_s",
               "ratio_cpu", "max_abs_diff", "note"]]
    order = {m: i for i, m in enumerate(METHODS)}
    out = out.sort_values(["method", "n", "times"], key=lambda c: c.map(order) if c.name == "method" else c,
                          kind="stable")
    return out.reset_index(drop=True)


if __name__ == "__main__":  # pragma: no cover
    import sys

    sz = tuple(int(a) for a in sys.argv[1:]) or (100_000, 1_000_000)
    with pd.option_context("display.width", 200, "display.max_colwidth", 90):
        print(run(sz).round(3).to_string(index=False))
