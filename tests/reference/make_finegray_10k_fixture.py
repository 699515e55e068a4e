"""Write the 10,000-patient competing-risks fixture for the Fine-Gray parity test (seeded).

Run from the project root:  .venv/bin/python tests/reference/make_finegray_10k_fixture.py
The gzipped CSV is committed; ``finegray_10k_reference.R`` reads it and writes
``values/finegray_10k/*.csv`` with ``cmprsk::crr``.

``finegray_10k.csv.gz`` (n = 10,000), columns:
- ``id``;
- ``time``: months, rounded to 0.1 (minimum 0.1), so that many times are tied (events with
  events, events with censorings, the two causes with each other);
- ``status``: 0 censored, 1 relapse, 2 death without relapse;
- ``arm``: 0/1 (binary), ``age``: years (continuous, rounded to 0.1), ``nephritis``: 0/1 (binary).
The gzip header carries no file name and mtime 0, so rerunning the script is byte-identical.
"""

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
OUT = HERE / "finegray_10k.csv.gz"


def make(seed: int = 20240610, n: int = 10_000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    arm = (rng.random(n) < 0.5).astype(int)
    age = np.round(rng.normal(32, 9, n), 1)
    nephritis = (rng.random(n) < 0.55).astype(int)
    lp1 = 0.5 * arm + 0.03 * (age - 32) + 0.4 * nephritis
    lp2 = -0.2 * arm + 0.05 * (age - 32) + 0.3 * nephritis
    t1 = rng.exponential(70 * np.exp(-lp1))   # relapse
    t2 = rng.exponential(120 * np.exp(-lp2))   # death without relapse
    c = rng.uniform(6, 72, n)                  # administrative censoring
    tt = np.minimum.reduce([t1, t2, c])
    status = np.select([tt == t1, tt == t2], [1, 2], 0)
    time = np.maximum(np.round(tt, 1), 0.1)
    return pd.DataFrame({"id": np.arange(1, n + 1), "time": time, "status": status.astype(int),
                         "arm": arm, "age": age, "nephritis": nephritis})


def write(df: pd.DataFrame, path: Path = OUT) -> None:
    text = df.to_csv(index=False, lineterminator="\n").encode()
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz:
        gz.write(text)


if __name__ == "__main__":
    write(make())
