"""Write the fixture cohort of the Cox R-parity tests (seeded, deterministic).

Run from the project root:  .venv/bin/python tests/reference/make_cox_fixtures.py
The CSV is committed; ``cox_reference.R`` reads it and writes ``values/cox/*.csv``.

``cox_fixture.csv`` (n = 240), columns:
- ``entry``: late-entry time (months; 0 for about half of the subjects, else 1-12), so that
  ``Surv(entry, time, event)`` is a left-truncated (counting-process) data set;
- ``time``: exit time in whole months (> entry), so that events tie with events and with
  censorings; ``event``: 0/1;
- ``x1``: continuous covariate; ``x2``: 0/1 covariate;
- ``sex``: text ``"F"``/``"M"``; ``grp3``: text ``"A"``/``"B"``/``"C"`` (a three-level factor);
- ``stratum``: ``"S1"``/``"S2"``/``"S3"``;
- ``wt``: non-integer case weights in [0.5, 2.5]; ``cid``: cluster id (80 clusters of 3).
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make(seed: int = 20261128, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x1 = np.round(rng.normal(0, 1, n), 2)
    x2 = (rng.random(n) < 0.45).astype(int)
    sex = np.where(rng.random(n) < 0.6, "F", "M")
    grp3 = np.array(["A", "B", "C"])[rng.integers(0, 3, n)]
    stratum = np.array(["S1", "S2", "S3"])[rng.integers(0, 3, n)]
    lp = 0.5 * x1 + 0.4 * x2 + 0.3 * (sex == "M") + 0.5 * (grp3 == "B") - 0.4 * (grp3 == "C")
    t = rng.exponential(20 * np.exp(-lp))
    c = rng.uniform(5, 40, n)
    entry = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 13, n))
    dur = np.minimum(t, c)
    time = entry + np.maximum(np.round(dur), 1)
    event = (t <= c).astype(int)
    wt = np.round(rng.uniform(0.5, 2.5, n), 2)
    cid = rng.permutation(np.repeat(np.arange(1, n // 3 + 1), 3))
    return pd.DataFrame({"id": np.arange(1, n + 1), "entry": entry.astype(int), "time": time.astype(int),
                         "event": event, "x1": x1, "x2": x2, "sex": sex, "grp3": grp3, "stratum": stratum,
                         "wt": wt, "cid": cid})


if __name__ == "__main__":
    make().to_csv(HERE / "cox_fixture.csv", index=False)
