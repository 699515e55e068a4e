"""Seeded generator of ``late_entry_fixture.csv`` (late entry / left truncation reference data).

300 subjects; exit times continuous (rounded to 1e-6 months, no ties among event times), 40% of
subjects entering late (entry uniform between 0 and 80% of the exit time); ``event`` 0/1;
``status`` 0 censored / 1 / 2 competing; ``arm`` (A/B), ``grp3`` (a/b/c) and ``stratum`` (s1/s2).
Run: ``.venv/bin/python tests/reference/make_late_entry_fixture.py`` (byte-identical output).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent / "late_entry_fixture.csv"


def make() -> pd.DataFrame:
    rng = np.random.default_rng(19550101)
    n = 300
    arm = rng.choice(["A", "B"], n)
    grp3 = rng.choice(["a", "b", "c"], n)
    stratum = rng.choice(["s1", "s2"], n)
    t1 = rng.exponential(40 * np.where(arm == "B", 1.6, 1.0))
    t2 = rng.exponential(90, n)
    c = rng.uniform(5, 80, n)
    exit_ = np.minimum.reduce([t1, t2, c])
    status = np.select([exit_ == t1, exit_ == t2], [1, 2], 0)
    exit_ = np.round(exit_, 6) + 1e-3
    late = rng.random(n) < 0.4
    entry = np.where(late, np.round(rng.uniform(0, 0.8, n) * exit_, 6), 0.0)
    return pd.DataFrame({"id": np.arange(1, n + 1), "entry": entry, "exit": exit_,
                         "event": (status > 0).astype(int), "status": status,
                         "arm": arm, "grp3": grp3, "stratum": stratum})


if __name__ == "__main__":
    make().to_csv(OUT, index=False, float_format="%.6f")
