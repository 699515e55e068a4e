"""Benchmark: synth + clean + build through the command line at 1k, 10k and 100k patients.

Each step runs as its own ``python -m sle_nb_utils synth|clean|build`` process (what users run), so
its wall time includes starting Python and importing the package, and its peak resident set size
(RSS) is the child's ``ru_maxrss`` from :func:`os.wait4`.  The scaling exponent ``b`` of
``seconds = a * n_patients ** b`` (and of the peak RSS) is fitted by least squares on the log-log
points over the sizes run (:func:`fit_power_law`).

Sizes are numbers of patients.  ``synth.make_truth(seed, scale)`` makes ``scale`` copies of the
calibrated cohorts (:data:`PATIENTS_PER_COPY` patients each), so the number of copies is the one
whose patient count is nearest the size asked for (:func:`copies_for`) and the actual number of
patients is recorded beside it.

Run: ``python -m sle_nb_utils.bench scale [--sizes 1000 10000 100000]`` (rows merged into
``bench/results.csv``; see ``bench/README.md``).
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config

#: Patients in one copy of the synthetic cohorts (``synth.make_truth(seed, 1)``; the bundled data).
PATIENTS_PER_COPY = 165
DEFAULT_SIZES = (1_000, 10_000, 100_000)
#: The steps timed, in pipeline order; ``clean+build`` is their sum (seconds) and maximum (RSS).
STEPS = ("synth", "clean", "build")
TOTAL_STEP = "clean+build"

#: The columns of ``bench/results.csv``, in order (one tidy long table: one value per row).
COLUMNS = ["part", "step", "metric", "size", "n_patients", "raw_visit_rows", "input_mb", "value",
           "load_1min", "command", "machine"]
#: Metrics and how their values are rounded (decimals).
ROUNDING = {"seconds": 2, "peak_rss_mb": 1, "exponent_seconds": 3, "exponent_peak_rss_mb": 3}
MEASURED = {"seconds": "exponent_seconds", "peak_rss_mb": "exponent_peak_rss_mb"}


def copies_for(size: int, per_copy: int = PATIENTS_PER_COPY) -> int:
    """Cohort copies whose patient count (``copies * per_copy``) is nearest ``size`` (at least 1).

    Ties go to the smaller number of copies.
    """
    size = int(size)
    lo = max(1, size // per_copy)
    hi = lo + 1
    return lo if abs(lo * per_copy - size) <= abs(hi * per_copy - size) else hi


def fit_power_law(n, y) -> tuple[float, float]:
    """Least-squares fit of ``y = a * n ** b`` on the log-log scale.

    Parameters
    ----------
    n, y : array-like of positive numbers, at least two distinct ``n``.

    Returns
    -------
    (a, b) : the prefactor and the exponent (b = 1: linear; b < 1: a fixed cost dominates).
    """
    n = np.asarray(n, dtype=float)
    y = np.asarray(y, dtype=float)
    if len(n) != len(y) or len(np.unique(n)) < 2 or (n <= 0).any() or (y <= 0).any():
        raise ValueError("fit_power_law needs >= 2 distinct positive n and positive y of the same length")
    b, log_a = np.polyfit(np.log(n), np.log(y), 1)
    return float(np.exp(log_a)), float(b)


def load_1min() -> float:
    """The 1-minute load average (NaN where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return float("nan")


def run_measured(cmd: list[str], cwd: Path, log: Path, env: dict | None = None,
                 timeout: float | None = None) -> tuple[float, float, int]:
    """Run ``cmd`` as a child process; return (wall seconds, peak RSS in MB, exit code).

    The peak RSS is ``ru_maxrss`` of the child as :func:`os.wait4` reports it: the largest resident
    set of the child or of any descendant it waited for (MB = 2**20 bytes).  Output goes to ``log``.
    A child still running after ``timeout`` seconds is killed (exit code -9).
    """
    with open(log, "wb") as fh:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        deadline = None if timeout is None else t0 + timeout
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG if deadline else 0)
                if pid:
                    break
                if time.perf_counter() > deadline:
                    os.killpg(proc.pid, 9)
                    pid, status, usage = os.wait4(proc.pid, 0)
                    break
                time.sleep(0.05)
        except BaseException:  # Ctrl-C: the child runs in its own session, so stop it (and its children) here
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            raise
        seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss: kilobytes on Linux, bytes on macOS
    rss_mb = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)
    return seconds, rss_mb, proc.returncode


def _child_env() -> dict:
    """The environment for the CLI children: this very package first on the path."""
    env = dict(os.environ)
    root = str(config.PACKAGE_DIR.parent)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def _dir_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file()) / 2**20


def _generated_patients(synth_dir: Path) -> int:
    """Patients the generator made (rows of ``truth/patients.csv`` under ``synth --out``)."""
    with open(Path(synth_dir) / "truth" / "patients.csv", newline="", encoding="utf-8") as fh:
        return sum(1 for _ in csv.DictReader(fh))


def _raw_visit_rows(clean_dir: Path) -> int:
    """Raw visit rows as cleaning counted them (``row_accounting.csv``, table ``visits``)."""
    with open(Path(clean_dir) / "row_accounting.csv", newline="", encoding="utf-8") as fh:
        return sum(int(r["raw_rows"]) for r in csv.DictReader(fh) if r["table"] == "visits")


class StepFailed(Exception):
    """A command-line step exited non-zero (or was killed at the time limit)."""


def measure_size(size: int, work: Path, seed: int = config.DEFAULT_SEED, repeat: int = 1,
                 timeout: float | None = None) -> list[dict]:
    """Run synth, clean and build once (or ``repeat`` times, keeping the fastest) at ``size`` patients.

    Returns one dict per step and metric (``seconds``, ``peak_rss_mb``), plus the ``clean+build`` total.
    """
    copies = copies_for(size)
    py = sys.executable
    env = _child_env()
    work = Path(work)
    cmds = {
        "synth": [py, "-m", "sle_nb_utils", "synth", "--out", "synth", "--seed", str(seed), "--scale", str(copies)],
        "clean": [py, "-m", "sle_nb_utils", "clean", str(Path("synth") / "raw"), "--out", "clean"],
        "build": [py, "-m", "sle_nb_utils", "build", "clean", "--out", "analysis"],
    }
    best: dict[str, tuple] = {}
    inputs = {}
    for _ in range(max(1, int(repeat))):
        for d in ("synth", "clean", "analysis"):
            shutil.rmtree(work / d, ignore_errors=True)
        for step in STEPS:
            # the size of the folder the step reads (synth reads nothing)
            inputs[step] = {"synth": lambda: 0.0, "clean": lambda: _dir_mb(work / "synth" / "raw"),
                            "build": lambda: _dir_mb(work / "clean")}[step]()
            load = load_1min()
            seconds, rss, code = run_measured(cmds[step], work, work / f"{step}.log", env=env, timeout=timeout)
            if code != 0:
                tail = (work / f"{step}.log").read_text(errors="replace")[-2000:]
                raise StepFailed(f"{step} at {size} patients ({copies} copies) exited {code} after "
                                 f"{seconds:.0f} s (peak RSS {rss:.0f} MB):\n{tail}")
            if step not in best or seconds < best[step][0]:
                best[step] = (seconds, rss, load)
    n_patients = _generated_patients(work / "synth")  # counted, not copies x PATIENTS_PER_COPY
    visit_rows = _raw_visit_rows(work / "clean")
    shutil.rmtree(work / "synth", ignore_errors=True)
    shutil.rmtree(work / "clean", ignore_errors=True)
    shutil.rmtree(work / "analysis", ignore_errors=True)

    def show(cmd):
        return "python " + " ".join(cmd[1:])

    rows = []
    base = {"part": "scale", "size": int(size), "n_patients": n_patients, "raw_visit_rows": visit_rows}
    for step in STEPS:
        seconds, rss, load = best[step]
        common = dict(base, step=step, input_mb=round(inputs[step], 1), load_1min=load, command=show(cmds[step]))
        rows.append(dict(common, metric="seconds", value=round(seconds, ROUNDING["seconds"])))
        rows.append(dict(common, metric="peak_rss_mb", value=round(rss, ROUNDING["peak_rss_mb"])))
    # the pipeline after the data arrive: clean + build (seconds add up, the peak is the larger one)
    total = dict(base, step=TOTAL_STEP, input_mb=round(inputs["clean"], 1),
                 load_1min=max(best["clean"][2], best["build"][2]),
                 command=show(cmds["clean"]) + " && " + show(cmds["build"]))
    rows.append(dict(total, metric="seconds", value=round(round(best["clean"][0], 2) + round(best["build"][0], 2), 2)))
    rows.append(dict(total, metric="peak_rss_mb", value=round(max(best["clean"][1], best["build"][1]), 1)))
    return rows


def exponent_rows(measured: pd.DataFrame) -> list[dict]:
    """The fitted exponents, one row per step and measured metric, from the (rounded) measured rows."""
    rows = []
    for (step, metric), g in measured.groupby(["step", "metric"], sort=True):
        if metric not in MEASURED or g["n_patients"].nunique() < 2:
            continue
        _, b = fit_power_law(g["n_patients"], g["value"])
        sizes = ", ".join(str(int(x)) for x in sorted(g["n_patients"]))
        rows.append({"part": g["part"].iloc[0], "step": step, "metric": MEASURED[metric],
                     "value": round(b, ROUNDING[MEASURED[metric]]),
                     "command": f"least squares: log {metric} = log a + b log n_patients; n_patients = {sizes}"})
    return rows


def tidy(rows: list[dict], machine: str) -> pd.DataFrame:
    """Rows -> a table with :data:`COLUMNS` in order, sorted by part, step, metric and size."""
    df = pd.DataFrame(rows)
    for c in COLUMNS:
        if c not in df:
            df[c] = pd.NA
    df["machine"] = machine
    df = df[COLUMNS]
    for c in ("size", "n_patients", "raw_visit_rows"):
        df[c] = pd.array(df[c], dtype="Int64")
    return df.sort_values(["part", "step", "metric", "size"], na_position="last", kind="stable").reset_index(drop=True)


def run(sizes=DEFAULT_SIZES, seed: int = config.DEFAULT_SEED, repeat: int = 1, timeout: float | None = None,
        machine: str = "", workdir: str | Path | None = None, progress=print) -> pd.DataFrame:
    """Measure every size (smallest first) and fit the exponents.

    A size whose step fails or passes ``timeout`` seconds stops the run there: the sizes already done
    are kept (and fitted), and the failure is reported through ``progress`` and in the returned
    table's ``attrs["stopped"]``.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS`; metrics ``seconds`` (wall clock, 0.01 s), ``peak_rss_mb`` (MB = 2**20 bytes,
        0.1 MB) per step and size, and ``exponent_seconds`` / ``exponent_peak_rss_mb`` (the fitted
        ``b``, 0.001) per step.
    """
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-scale-")) if own else Path(workdir)
    rows: list[dict] = []
    stopped = ""
    try:
        for size in sorted(int(s) for s in sizes):
            t0 = time.perf_counter()
            try:
                new = measure_size(size, work, seed=seed, repeat=repeat, timeout=timeout)
            except StepFailed as exc:
                stopped = str(exc).splitlines()[0]
                progress(f"scale: stopped: {exc}")
                break
            rows += new
            got = {r["step"]: r["value"] for r in new if r["metric"] == "seconds"}
            progress(f"scale: {size} patients ({new[0]['n_patients']} made, {new[0]['raw_visit_rows']} raw visit rows): "
                     + ", ".join(f"{k} {v:.2f} s" for k, v in got.items())
                     + f" ({time.perf_counter() - t0:.0f} s)")
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    if not rows:
        out = tidy([], machine)
    else:
        measured = pd.DataFrame(rows)
        out = tidy(rows + exponent_rows(measured), machine)
    out.attrs["stopped"] = stopped
    return out
