"""Seeded generator of the mixed-model and paired-test fixtures (``mixed_fixture.csv``).

``mixed_fixture.csv``: 240 synthetic patients (120 per arm ``A``/``B``), scheduled visits at months
0, 1, 3, 6, 9, 12, 18, 24, 36 with 15% of the post-baseline visits missing at random; ``years`` =
month / 12, ``visit_index`` = position in the schedule (0-8, gaps where a visit is missing);
``y`` a SLEDAI-like score with a random intercept and slope (correlated) and AR(1)-like noise;
``logprot`` a log-proteinuria-like response; ``baseline`` and ``month12`` paired values for the
paired tests (with ties and zero differences on purpose, so R's normal approximation with tie
and continuity corrections is exercised) and ``small_*`` a small sample without ties (R's exact
Wilcoxon distribution).  ``mixed_boundary_fixture.csv``: 150 patients with a random intercept and no random slope, so
that ``(years | id)`` is fitted on the boundary.  Rerun (byte-identical):
``.venv/bin/python tests/reference/make_mixed_fixtures.py``.
"""

from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parent


def make(seed: int = 20240611) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    months = np.array([0, 1, 3, 6, 9, 12, 18, 24, 36])
    rows = []
    for i in range(240):
        arm = "A" if i < 120 else "B"
        b0, b1 = rng.multivariate_normal([0, 0], [[9.0, -1.2], [-1.2, 1.0]])
        c0, c1 = rng.multivariate_normal([0, 0], [[0.4, 0.05], [0.05, 0.09]])
        e_prev = 0.0
        for k, m in enumerate(months):
            if m > 0 and rng.random() < 0.15:
                continue
            yrs = m / 12
            e_prev = 0.5 * e_prev + rng.normal(0, 2.0)
            y = 13 + (1.5 if arm == "B" else 0) - 3.0 * yrs - (0.8 * yrs if arm == "B" else 0) + b0 + b1 * yrs + e_prev
            lp = 0.9 - 0.6 * yrs + c0 + c1 * yrs + rng.normal(0, 0.5)
            rows.append({"id": f"P{i + 1:03d}", "arm": arm, "month": int(m), "years": round(yrs, 6),
                         "visit_index": k, "y": round(float(y), 3), "logprot": round(float(lp), 4)})
    return pd.DataFrame(rows)


def make_paired(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 60
    base = rng.integers(6, 25, n).astype(float)
    later = np.clip(base - rng.integers(-3, 12, n), 0, None).astype(float)
    later[:4] = base[:4]  # zero differences
    small_b = np.round(rng.normal(12, 3, 14), 2)
    small_f = np.round(small_b - rng.normal(1.5, 2.5, 14), 2)
    out = pd.DataFrame({"pair": np.arange(1, n + 1), "baseline": base, "month12": later})
    out["small_baseline"] = np.r_[small_b, [np.nan] * (n - 14)]
    out["small_month12"] = np.r_[small_f, [np.nan] * (n - 14)]
    return out


def make_boundary(seed: int = 2) -> pd.DataFrame:
    """No between-patient slope variance: ``(years | id)`` is fitted on the boundary (lme4:
    "boundary (singular) fit"), the case where optimisers most often disagree."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(150):
        arm = "A" if i % 2 else "B"
        b0 = rng.normal(0, 2.0)
        for m in (0, 3, 6, 12, 18, 24):
            if m > 0 and rng.random() < 0.2:
                continue
            yrs = m / 12
            y = 10 - 4.0 * yrs + (1.0 * yrs if arm == "B" else 0) + b0 + rng.normal(0, 3.0)
            rows.append({"id": f"Q{i + 1:03d}", "arm": arm, "years": yrs, "y": round(float(y), 3)})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    make_boundary().to_csv(OUT / "mixed_boundary_fixture.csv", index=False, lineterminator="\n")
    make().to_csv(OUT / "mixed_fixture.csv", index=False, lineterminator="\n")
    make_paired().to_csv(OUT / "paired_fixture.csv", index=False, lineterminator="\n")
