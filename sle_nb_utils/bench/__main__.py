"""``make bench``: the benchmarks (not part of ``make test``).

* survival layer vs R at 100k synthetic patients (:mod:`sle_nb_utils.bench.survival`);
* synthetic data generation at scale, and cleaning + building 1M raw visit rows
  (:mod:`sle_nb_utils.bench.cleaning`, when present).
"""

from __future__ import annotations

import importlib
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd


def bench_synth(scale: int = 1030) -> pd.DataFrame:
    """Seconds to generate ``scale`` copies of the cohorts (scale 1030 is about 1M visit rows)."""
    from ..__main__ import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cli(["synth", "--out", str(Path(tmp)), "--scale", str(scale)])
        seconds = time.perf_counter() - t0
        rows = sum(1 for _ in open(Path(tmp) / "truth" / "visits.csv")) - 1
    return pd.DataFrame([{"step": f"synth --scale {scale}", "visit_rows": rows, "seconds": round(seconds, 2)}])


def main() -> int:
    pd.set_option("display.width", 160)
    print("== synthetic data at scale")
    print(bench_synth().to_string(index=False))
    for name in ("cleaning", "survival", "cox", "mixed"):
        try:
            mod = importlib.import_module(f"sle_nb_utils.bench.{name}")
        except ImportError:
            print(f"== {name}: not there yet")
            continue
        print(f"== {name}")
        print(mod.run().to_string(index=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
