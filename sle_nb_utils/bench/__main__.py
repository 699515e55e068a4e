"""``make bench``: the benchmarks, side by side with R in one run (not part of ``make test``).

* :mod:`sle_nb_utils.bench.survival`: Kaplan-Meier, log-rank, Aalen-Johansen, Gray's test and
  Fine-Gray against survfit / survdiff / cuminc / crr at 1e5 and 1e6 patients;
* :mod:`sle_nb_utils.bench.cox`: cox_fit and cox_zph against coxph / cox.zph at 1e5 and 1e6;
* :mod:`sle_nb_utils.bench.mixed`: the REML random intercept and slope fitter against lme4 at
  10k patients x 10 visits;
* :mod:`sle_nb_utils.bench.cleaning`: synthetic data at scale, then cleaning + building about 1M
  raw visit rows.

Each part prints its table; all of them are written to ``bench/out/results-<part>.csv`` (git-ignored:
timings belong to a machine, not to the repository).  ``python -m sle_nb_utils.bench PART ...``
runs only the parts named.
"""

from __future__ import annotations

import importlib
import platform
import sys
import time

import pandas as pd

from .. import config

PARTS = ("survival", "cox", "mixed", "cleaning")


def machine() -> str:
    """One line naming the machine the numbers belong to."""
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main(argv=None) -> int:
    parts = list(argv if argv is not None else sys.argv[1:]) or list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    out = config.PROJ_ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        for name in parts:
            mod = importlib.import_module(f"sle_nb_utils.bench.{name}")
            t0 = time.perf_counter()
            table = mod.run()
            print(f"== {name} ({time.perf_counter() - t0:.0f} s)")
            print(table.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            table.to_csv(out / f"results-{name}.csv", index=False)
    print(f"tables written to {out.relative_to(config.PROJ_ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
