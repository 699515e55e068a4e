"""Seeded generator of ``weighted_cox_fixture.csv`` (tests/reference/weighted_cox_reference.R).

240 patients of two non-randomised arms: treatment depends on age, sex, nephritis and baseline
SLEDAI (so the propensity model has something to do), survival on arm, age and nephritis; times in
months rounded to 0.5 (tied event times, for Efron's method with weights), about 30% censored.

    python tests/reference/make_weighted_cox_fixture.py
"""

from pathlib import Path

import numpy as np
import pandas as pd


def make(seed: int = 20240612, n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = np.round(rng.normal(32, 9, n).clip(16, 60), 1)
    female = (rng.random(n) < 0.87).astype(int)
    nephritis = (rng.random(n) < 0.7).astype(int)
    sledai = rng.poisson(15, n).clip(6, 40)
    lp = -0.5 + 0.04 * (age - 32) - 0.6 * nephritis + 0.09 * (sledai - 15) + 0.3 * female
    arm = (rng.random(n) < 1 / (1 + np.exp(-lp))).astype(int)
    haz = 0.01 * np.exp(0.5 * arm + 0.03 * (age - 32) + 0.4 * nephritis)
    t_event = rng.exponential(1 / haz)
    t_cens = rng.uniform(6, 90, n)
    time = np.round(np.minimum(t_event, t_cens) * 2) / 2 + 0.5
    event = (t_event <= t_cens).astype(int)
    return pd.DataFrame({"id": np.arange(1, n + 1), "arm": arm, "age": age, "female": female,
                         "nephritis": nephritis, "sledai": sledai, "time": time, "event": event})


if __name__ == "__main__":
    out = Path(__file__).resolve().parent / "weighted_cox_fixture.csv"
    make().to_csv(out, index=False)
    print(f"wrote {out.name}")
