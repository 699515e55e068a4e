"""Figures of notebook 02 (HSCT vs MSCT): propensity-score overlap, love plot, outcomes at the
common horizon, and the forest of published series.

Every function takes ``ax=None`` (a new figure is made when None) and returns the axes; it draws
a tidy table of :mod:`sle_nb_utils.comparison`, so the notebook prints the same numbers beside the
figure.  Labels are display names (never codes); no text is smaller than 9 pt.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["plot_overlap", "plot_love", "plot_outcomes_at_horizon", "plot_series_forest"]

FONT = 10
_COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]


def _ax(ax, figsize):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_overlap(frame: pd.DataFrame, ps: str = "ps", arm: str = "arm", bins: int = 20, ax=None):
    """Mirrored histogram of the propensity score by arm (first arm up, second arm down).

    ``frame`` is :attr:`sle_nb_utils.comparison.Adjustment.frame` (columns ``ps`` and ``arm``).
    Regions where one arm has patients and the other none are where weights explode.
    """
    ax = _ax(ax, (7, 4))
    edges = np.linspace(0, 1, bins + 1)
    levels = sorted(frame[arm].astype(str).unique())
    for k, lev in enumerate(levels[:2]):
        h, _ = np.histogram(frame.loc[frame[arm].astype(str) == lev, ps], bins=edges)
        sign = 1 if k == 0 else -1
        ax.bar(edges[:-1], sign * h, width=np.diff(edges), align="edge", color=_COLORS[k], alpha=0.75,
               edgecolor="white", label=f"{lev} (n = {int(h.sum())})")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlim(0, 1)
    ax.set_xlabel(f"Propensity score: P({levels[0]} | covariates)", fontsize=FONT)
    ax.set_ylabel("Patients (second arm drawn downwards)", fontsize=FONT)
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{abs(v):g}"))
    ax.tick_params(labelsize=FONT)
    ax.legend(fontsize=FONT, frameon=False)
    return ax


def plot_love(balance: pd.DataFrame, label: str = "label", before: str = "smd", after: str = "smd_weighted",
              threshold: float = 0.1, ax=None, after_label: str = "IPTW-weighted"):
    """Love plot: absolute standardised mean differences before and after weighting.

    ``balance`` is :meth:`sle_nb_utils.comparison.Adjustment.balance`; dashed lines at
    ``threshold`` (0.1, the usual mark of negligible imbalance; Austin 2009).
    """
    n = len(balance)
    ax = _ax(ax, (7, 0.45 * n + 1.6))
    y = np.arange(n)[::-1]
    ax.scatter(balance[before].abs(), y, marker="o", facecolors="none", edgecolors="black", s=45,
               label="unweighted", zorder=3)
    if after in balance:
        ax.scatter(balance[after].abs(), y, marker="o", color=_COLORS[1], s=45, label=after_label, zorder=3)
    ax.axvline(threshold, ls="--", color="grey", lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(balance[label].astype(str), fontsize=FONT)
    ax.set_xlabel("Absolute standardised mean difference", fontsize=FONT)
    ax.set_xlim(0, max(1.05 * float(np.nanmax(balance[[before, after]].abs().to_numpy())), threshold * 2))
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="y", color="0.9")
    ax.legend(fontsize=FONT, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    return ax


def plot_outcomes_at_horizon(table: pd.DataFrame, names: dict | None = None, ax=None):
    """Dot-and-interval plot of :func:`sle_nb_utils.comparison.outcomes_at_horizon`: one row per
    outcome, one marker per group (display names via ``names``), estimate and interval in percent."""
    t = table.dropna(subset=["estimate_pct"])
    outcomes_ = list(dict.fromkeys(t["outcome"]))
    groups = list(dict.fromkeys(t["group"]))
    ax = _ax(ax, (8, 0.6 * len(outcomes_) * max(1, len(groups) / 2) + 1.5))
    step = 0.7 / max(1, len(groups))
    for k, g in enumerate(groups):
        s = t.loc[t["group"] == g].set_index("outcome").reindex(outcomes_)
        y = np.arange(len(outcomes_))[::-1] + 0.35 - (k + 0.5) * step
        est = s["estimate_pct"].to_numpy(float)
        ax.errorbar(est, y, xerr=[est - s["lower_pct"].to_numpy(float), s["upper_pct"].to_numpy(float) - est],
                    fmt="o", color=_COLORS[k % len(_COLORS)], capsize=3, ms=5,
                    label=(names or {}).get(g, g))
    ax.set_yticks(np.arange(len(outcomes_))[::-1])
    ax.set_yticklabels(outcomes_, fontsize=FONT)
    ax.set_xlim(0, 100)
    months = table["months"].iloc[0] if len(table) else np.nan
    ax.set_xlabel(f"Estimate at {months:g} months, % (95% CI)", fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="x", color="0.9")
    ax.legend(fontsize=FONT, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
    return ax


def plot_series_forest(forest: pd.DataFrame, pooled: pd.DataFrame | None = None, ax=None,
                       xlabel: str = "Overall survival, % (95% CI)"):
    """Forest of the published series (and this data's cohorts) by arm, with a pooled diamond for
    each arm that :func:`sle_nb_utils.comparison.pooled_estimates` allowed to pool.

    Filled squares: published figures; open circles: this data (synthetic); a square without an
    interval: no count or SE was published; rows without a marker: series listed but no figure
    could be confirmed.  The ``when`` of each row (time point or crude) is printed at the right.
    """
    rows = []
    for arm_ in sorted(forest["arm"].unique()):
        rows.append(("header", arm_, None))
        for r in forest.loc[forest["arm"] == arm_].itertuples():
            rows.append(("row", arm_, r))
        if pooled is not None:
            p = pooled.loc[(pooled["arm"] == arm_) & pooled["pooled"]]
            if len(p):
                rows.append(("pooled", arm_, p.iloc[0]))
    n = len(rows)
    ax = _ax(ax, (9, 0.42 * n + 1.2))
    y = np.arange(n)[::-1]
    labels = []
    for yi, (kind, arm_, r) in zip(y, rows):
        if kind == "header":
            labels.append(f"{arm_}")
            continue
        if kind == "pooled":
            e, lo, hi = r["estimate_pct"], r["lower_pct"], r["upper_pct"]
            ax.fill([lo, e, hi, e], [yi, yi + 0.25, yi, yi - 0.25], color="black")
            labels.append(f"  pooled, random effects (k = {int(r['k'])})")
            ax.text(1.01, yi, f"{e:.0f} ({lo:.0f}-{hi:.0f})", transform=ax.get_yaxis_transform(), va="center",
                    fontsize=9)
            continue
        labels.append(f"  {r.label}")
        if not np.isfinite(r.estimate_pct):
            ax.text(1.01, yi, "no figure", transform=ax.get_yaxis_transform(), va="center", fontsize=9, color="0.4")
            continue
        ours = r.source != "published"
        if np.isfinite(r.lower_pct):
            ax.errorbar(r.estimate_pct, yi, xerr=[[r.estimate_pct - r.lower_pct], [r.upper_pct - r.estimate_pct]],
                        fmt="o" if ours else "s", mfc="white" if ours else "black", color="black", capsize=3, ms=6)
        else:
            ax.plot(r.estimate_pct, yi, "s", color="black", ms=6)
        txt = f"{r.estimate_pct:.0f}"
        if np.isfinite(r.lower_pct):
            txt += f" ({r.lower_pct:.0f}-{r.upper_pct:.0f})"
        ax.text(1.01, yi, f"{txt}; {r.when}", transform=ax.get_yaxis_transform(), va="center", fontsize=9)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=FONT)
    for tick, (kind, _, _) in zip(ax.get_yticklabels(), rows):
        if kind == "header":
            tick.set_fontweight("bold")
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlim(40, 100)
    ax.set_xlabel(xlabel, fontsize=FONT)
    ax.tick_params(labelsize=FONT)
    ax.grid(axis="x", color="0.9")
    return ax
