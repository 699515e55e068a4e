"""Write the fixture cohorts used by the survival R-parity tests (seeded, deterministic).

Run from the project root:  .venv/bin/python tests/reference/make_survival_fixtures.py
The CSVs are committed; ``survival_reference.R`` reads them and writes ``values/*.csv``.

``survival_fixture.csv`` (n = 90), columns:
- ``time``: months, rounded to 0.5 so that many times are tied (events with events, events with
  censorings, causes with each other);
- ``event``: 0/1 (any event), ``status``: 0 censored, 1 relapse (cause of interest), 2 death
  without relapse (competing);
- ``arm``: HSCT / MSCT; ``grp3``: A / B / C (group C ends with an event, so S reaches 0);
- ``stratum``: S1 / S2 / S3, where stratum S3 has no events at all;
- ``age``: continuous covariate (years), ``nephritis``: 0/1.
Late entry is not represented: every subject is at risk from time 0 (the package does not
support left truncation).
"""

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make(seed: int = 20240501, n: int = 90) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < 0.5, "HSCT", "MSCT")
    age = np.round(rng.normal(32, 9, n), 1)
    nephritis = (rng.random(n) < 0.55).astype(int)
    lp = 0.5 * (arm == "HSCT") + 0.03 * (age - 32) + 0.4 * nephritis
    t1 = rng.exponential(70 * np.exp(-lp))          # relapse
    t2 = rng.exponential(150 * np.exp(-0.3 * lp))   # death without relapse
    c = rng.uniform(6, 72, n)                        # administrative censoring
    tt = np.minimum.reduce([t1, t2, c])
    status = np.select([tt == t1, tt == t2], [1, 2], 0)
    time = np.maximum(np.round(tt * 2) / 2, 0.5)
    stratum = np.where(rng.random(n) < 0.5, "S1", "S2").astype(object)
    # stratum S3: 8 subjects, all censored
    s3 = np.arange(n - 8, n)
    stratum[s3] = "S3"
    status[s3] = 0
    grp3 = np.array(["A", "B", "C"], dtype=object)[rng.integers(0, 3, n)]
    df = pd.DataFrame(
        {
            "id": np.arange(1, n + 1),
            "time": time,
            "status": status.astype(int),
            "arm": arm,
            "grp3": grp3,
            "stratum": stratum,
            "age": age,
            "nephritis": nephritis,
        }
    )
    # group C: make its longest follow-up an event (Kaplan-Meier reaches 0)
    ic = df.index[df.grp3 == "C"]
    last = df.loc[ic, "time"].idxmax()
    df.loc[last, "status"] = 1
    df.loc[last, "time"] = df.loc[ic, "time"].max() + 0.5
    df.loc[last, "stratum"] = "S1"
    df["event"] = (df.status > 0).astype(int)
    cols = ["id", "time", "event", "status", "arm", "grp3", "stratum", "age", "nephritis"]
    return df[cols]


if __name__ == "__main__":
    make().to_csv(HERE / "survival_fixture.csv", index=False)
