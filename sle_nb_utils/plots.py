"""General figures (distributions, trajectories). Survival figures live in :mod:`survplot`.

Every function takes ``ax=None`` (a new figure when None) and returns the axes; the numbers behind
each figure come from a tidy table function the notebooks print beside it.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns


def cohort_order(patients: pd.DataFrame) -> list:
    """Cohorts of ``patients`` in display order, from the data: grouped by arm (arms in reverse
    alphabetical order, so MSCT before HSCT), codes sorted within an arm; sorted codes when there is
    no ``arm`` column."""
    if "arm" not in patients.columns:
        return sorted(set(patients["cohort"]))
    d = patients[["arm", "cohort"]].astype(str).drop_duplicates("cohort")
    return d.sort_values(["arm", "cohort"], ascending=[False, True])["cohort"].tolist()


def _ax(ax, size=(6.5, 4.0)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def plot_baseline_by_cohort(patients: pd.DataFrame, column: str, label: str, ax=None):
    """Box + strip plot of one baseline variable by cohort."""
    ax = _ax(ax)
    order = cohort_order(patients)
    sns.boxplot(data=patients, x="cohort", y=column, order=order, ax=ax, color="0.9", fliersize=0)
    rng = np.random.default_rng(0)  # seeded jitter: the figure is the same at every run
    for i, cohort in enumerate(order):
        y = patients.loc[patients["cohort"] == cohort, column].to_numpy(dtype=float)
        ax.scatter(i + rng.uniform(-0.2, 0.2, len(y)), y, s=9, alpha=0.6, color="C0", zorder=3)
    ax.set_xlabel("")
    ax.set_ylabel(label)
    return ax


def plot_by_visit(visits: pd.DataFrame, column: str, label: str, ax=None):
    """Distribution of ``column`` at each nominal visit month (box plot with the median line)."""
    ax = _ax(ax)
    months = sorted(visits["visit_month"].unique())
    sns.boxplot(data=visits, x="visit_month", y=column, order=months, ax=ax, color="0.85", fliersize=2)
    med = visits.groupby("visit_month")[column].median().reindex(months)
    ax.plot(range(len(months)), med.to_numpy(), color="C3", marker="o", label="median")
    ax.set_xlabel("months after transplant (nominal visit)")
    ax.set_ylabel(label)
    ax.legend(loc="upper right", frameon=False)
    return ax


def by_visit_table(visits: pd.DataFrame, column: str, decimals: int = 2) -> pd.DataFrame:
    """The numbers behind :func:`plot_by_visit`: n, median, quartiles and mean per visit month."""
    g = visits.groupby("visit_month")[column]
    out = pd.DataFrame({"n": g.count(), "median": g.median(), "q1": g.quantile(0.25),
                        "q3": g.quantile(0.75), "mean": g.mean()})
    return out.round(decimals).reset_index()


def plot_missingness(miss: pd.DataFrame, by: str = "cohort", ax=None):
    """Heat map of :func:`sle_nb_utils.cleaning.missingness` (% of visits without a value per lab
    column and ``by`` group); returns the axes."""
    wide = miss.pivot(index="column", columns=by, values="pct_missing")  # same order as the printed pivot
    ax = _ax(ax, size=(6, 4.5))
    im = ax.imshow(wide.to_numpy(float), cmap="Blues", vmin=0, vmax=max(10.0, float(np.nanmax(wide.to_numpy(float)))),
                   aspect="auto")
    ax.set_xticks(range(wide.shape[1]), wide.columns, rotation=20, ha="right")
    ax.set_yticks(range(wide.shape[0]), wide.index)
    for i in range(wide.shape[0]):
        for j in range(wide.shape[1]):
            ax.text(j, i, f"{wide.iat[i, j]:.1f}", ha="center", va="center", fontsize=9)
    ax.figure.colorbar(im, ax=ax, label="% of visits missing")
    ax.set_title("Missing lab values after cleaning")
    return ax
