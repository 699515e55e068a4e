"""Benchmark: cold and warm ``make test``, and ``make report``, in a fresh clone.

The repository's committed ``HEAD`` is cloned into a temporary folder (never the working tree you
run it from; uncommitted changes are not measured), then, in that clone:

1. ``make test`` with no ``.venv``: *cold*, so it includes ``python3 -m venv`` and installing the
   exact pins (pip's download cache is allowed, as on any machine that installed them once);
2. ``make test`` again: *warm*;
3. ``make report`` (warm venv): every notebook on the bundled data into ``reports/``.

Each is one wall-clock time with the peak RSS of the whole process tree (``ru_maxrss`` of ``make``
as :func:`os.wait4` reports it: the largest resident set of ``make`` or any descendant it waited
for).  The clone is deleted afterwards.  This takes about ten minutes on two cores.

Run: ``python -m sle_nb_utils.bench timings`` (rows merged into ``bench/results.csv``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pandas as pd

from .. import config
from .scale import ROUNDING, load_1min, run_measured, tidy

#: (step, make target) in the order they run; the first runs on a clone without .venv.
RUNS = (("make test (cold)", "test"), ("make test (warm)", "test"), ("make report", "report"))
#: Variables of the caller's environment that would leak the caller's Python into the clone's make.
_DROP = ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHONHOME", "PIP_REQUIRE_VIRTUALENV")


def _git(*args, cwd=None) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def clone_head(src: Path, dest: Path) -> str:
    """Clone ``src``'s committed ``HEAD`` into ``dest``; return the short commit hash."""
    sha = _git("rev-parse", "HEAD", cwd=src)
    _git("clone", "--quiet", "--no-checkout", str(src), str(dest))
    _git("checkout", "--quiet", "--detach", sha, cwd=dest)
    return sha[:10]


def run(machine: str = "", src: str | Path | None = None, runs=RUNS, timeout: float | None = 3600,
        progress=print) -> pd.DataFrame:
    """Time ``runs`` (step, make target) in a fresh clone of ``src`` (default: this checkout).

    Returns
    -------
    pandas.DataFrame
        The columns of ``bench/results.csv``; per step the metrics ``seconds`` (wall clock, 0.01 s),
        ``peak_rss_mb`` (MB = 2**20 bytes, 0.1 MB) and ``exit_code`` (0: the target passed).
    """
    src = Path(src) if src is not None else config.PROJ_ROOT
    make = shutil.which("make") or "make"
    env = {k: v for k, v in os.environ.items() if k not in _DROP}
    tmp = Path(tempfile.mkdtemp(prefix="bench-timings-"))
    rows = []
    try:
        clone = tmp / "repo"
        sha = clone_head(src, clone)
        progress(f"timings: clone of {sha} (no .venv) in a temporary folder")
        for step, target in runs:
            load = load_1min()
            seconds, rss, code = run_measured([make, target], clone, tmp / f"{target}.log", env=env,
                                              timeout=timeout)
            log = (tmp / f"{target}.log").read_text(errors="replace")
            last = [ln for ln in log.splitlines() if ln.strip()][-1:] or [""]
            progress(f"timings: {step}: {seconds:.1f} s, peak RSS {rss:.0f} MB, exit {code}; {last[0][:160]}")
            common = {"part": "timings", "step": step, "load_1min": load,
                      "command": f"make {target} in a fresh clone of {sha}"
                                 + (" (no .venv)" if step.endswith("(cold)") else "")}
            rows.append(dict(common, metric="seconds", value=round(seconds, ROUNDING["seconds"])))
            rows.append(dict(common, metric="peak_rss_mb", value=round(rss, ROUNDING["peak_rss_mb"])))
            rows.append(dict(common, metric="exit_code", value=code))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tidy(rows, machine)


def _main() -> int:  # pragma: no cover - manual use
    t0 = time.perf_counter()
    print(run().to_string(index=False))
    print(f"{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
