"""Figures of notebook 03 (longitudinal measures): spaghetti, mean/median by visit with N under
the axis, waterfall, swimmer, steroid taper, and why N falls.

Every function takes ``ax=None`` (a new figure when None) and returns the axes.  Inputs are the tidy
tables of :mod:`sle_nb_utils.longitudinal`, which the notebook prints beside each figure.  Groups are
shown by display name (``labels``: code -> name, e.g. from
:func:`sle_nb_utils.longitudinal.cohort_labels`); all text is at least 9 pt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D
from matplotlib.transforms import blended_transform_factory

__all__ = ["plot_spaghetti", "plot_by_visit", "plot_waterfall", "plot_swimmer", "plot_taper",
           "plot_visit_accounting"]

SMALL = 9
COLORS = ("C0", "C3", "C2", "C1", "C4", "C5", "C6", "C7")


def _ax(ax, size=(7.5, 4.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    return ax


def _label(labels, code):
    return (labels or {}).get(code, str(code))


def _n_under_axis(ax, x, rows: Mapping[str, Sequence], colors: Sequence[str], title: str = "N"):
    """A small table under the x axis: one row per group, the count at each x."""
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    tl = blended_transform_factory(ax.transAxes, ax.transAxes)
    y0 = -0.2
    ax.text(-0.01, y0 + 0.07, title, transform=tl, ha="right", va="center", fontsize=SMALL, fontweight="bold")
    for k, (name, ns) in enumerate(rows.items()):
        y = y0 - 0.07 * k
        ax.text(-0.01, y, name, transform=tl, ha="right", va="center", fontsize=SMALL, color=colors[k])
        for xi, n in zip(x, ns):
            ax.text(xi, y, "" if n is None or (isinstance(n, float) and np.isnan(n)) else f"{int(n)}",
                    transform=tr, ha="center", va="center", fontsize=SMALL, color=colors[k])


def plot_spaghetti(data: pd.DataFrame, value: str = "AVAL", time: str = "AVISITN", subject: str = "USUBJID",
                   highlight: Sequence[str] | int = 3, ax=None, ylabel: str = "", title: str = "",
                   log: bool = False, seed: int = 0):
    """One thin grey line per patient, with a few patients highlighted in colour.

    ``highlight``: patient ids, or a number of patients picked with a seeded generator (the same
    ones at every run).  ``log``: log-scaled y axis.
    """
    ax = _ax(ax)
    d = data.sort_values([subject, time])
    ids = sorted(d[subject].astype(str).unique())
    if isinstance(highlight, (int, np.integer)):
        rng = np.random.default_rng(seed)
        highlight = list(rng.choice(ids, size=min(int(highlight), len(ids)), replace=False)) if ids else []
    highlight = [str(h) for h in highlight]
    for pid, g in d.groupby(d[subject].astype(str), sort=True):
        if pid not in highlight:
            ax.plot(g[time], g[value], color="0.6", lw=0.6, alpha=0.5)
    for k, pid in enumerate(sorted(highlight)):
        g = d[d[subject].astype(str) == pid]
        ax.plot(g[time], g[value], color=COLORS[k % len(COLORS)], lw=2, marker="o", ms=4, label=pid)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("Months after transplant (nominal visit)", fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    if title:
        ax.set_title(title, fontsize=11)
    if highlight:
        ax.legend(title="highlighted", fontsize=SMALL, title_fontsize=SMALL, frameon=False, loc="upper right")
    return ax


def plot_by_visit(summary: pd.DataFrame, stat: str = "median", by: str = "STUDYID", labels=None, ax=None,
                  ylabel: str = "", title: str = "", n_table: bool = True):
    """Mean with its 95% CI (``stat="mean"``) or median with quartiles (``"median"``) at each visit,
    one line per group, with N at each visit under the axis.

    ``summary``: rows of :func:`sle_nb_utils.longitudinal.by_visit` for one measure.
    """
    ax = _ax(ax)
    groups = sorted(summary[by].astype(str).unique())
    months = sorted(summary["AVISITN"].unique())
    pos = {m: i for i, m in enumerate(months)}  # nominal visits equally spaced, labelled by month
    lo, hi = ("mean_lower", "mean_upper") if stat == "mean" else ("q1", "q3")
    nrows = {}
    offsets = np.linspace(-0.15, 0.15, len(groups)) if len(groups) > 1 else [0.0]
    for k, g in enumerate(groups):
        s = summary[summary[by].astype(str) == g].sort_values("AVISITN")
        x = s["AVISITN"].map(pos).to_numpy(float) + offsets[k]
        y = s[stat].to_numpy(float)
        err = np.vstack([y - s[lo].to_numpy(float), s[hi].to_numpy(float) - y])
        ax.errorbar(x, y, yerr=np.where(np.isfinite(err), err, 0), color=COLORS[k], marker="o", ms=4, capsize=3,
                    lw=1.5, label=_label(labels, g))
        n_at = s.set_index("AVISITN")["n"].reindex(months)
        nrows[_label(labels, g)] = [None if pd.isna(v) else v for v in n_at.to_numpy()]
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels([str(int(m)) for m in months])
    ax.set_xlabel("Nominal visit (months after transplant; equally spaced)", fontsize=10)
    what = "mean (95% CI)" if stat == "mean" else "median (IQR)"
    ax.set_ylabel(f"{ylabel}: {what}" if ylabel else what, fontsize=10)
    if title:
        ax.set_title(title, fontsize=11)
    ax.legend(fontsize=SMALL, frameon=False)
    if n_table:
        _n_under_axis(ax, range(len(months)), nrows, COLORS)
    return ax


def plot_waterfall(best: pd.DataFrame, value: str = "best_pchg", by: str = "STUDYID", labels=None, ax=None,
                   ylabel: str = "Best change from baseline (%)", reference_lines=(-50.0,)):
    """One bar per patient (sorted from worst to best within each group), coloured by group."""
    ax = _ax(ax, (9, 4.2))
    groups = sorted(best[by].astype(str).unique())
    x0 = 0
    handles = []
    for k, g in enumerate(groups):
        b = best[best[by].astype(str) == g].sort_values(value, ascending=False)
        x = np.arange(x0, x0 + len(b))
        ax.bar(x, b[value].to_numpy(float), width=0.85, color=COLORS[k])
        handles.append(plt.Rectangle((0, 0), 1, 1, color=COLORS[k], label=f"{_label(labels, g)} (n = {len(b)})"))
        x0 += len(b) + 3
    for r in reference_lines:
        ax.axhline(r, color="0.3", ls="--", lw=1)
        ax.text(-1.5, r, f"{r:g}%", fontsize=SMALL, va="center", ha="right", color="0.3")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xlim(-1, x0 - 2)
    ax.set_xticks([])
    ax.set_xlabel("Patients (one bar each)", fontsize=10)
    ax.set_ylabel(ylabel, fontsize=10)
    ax.legend(handles=handles, fontsize=SMALL, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.08),
              ncol=len(handles))
    return ax


def plot_swimmer(swim: pd.DataFrame, ax=None, color: str = "C0", title: str = "", xmax: float | None = None):
    """Swimmer plot: one bar per patient from 0 to the end of follow-up, with the first complete
    remission, the first relapse and death or censoring marked.

    ``swim``: rows of :func:`sle_nb_utils.longitudinal.swimmer_table` (one group).
    """
    s = swim.sort_values(["follow_up_months", "USUBJID"], ascending=[True, True]).reset_index(drop=True)
    ax = _ax(ax, (6, max(3.0, 0.06 * len(s) + 1.5)))
    y = np.arange(len(s))
    ax.barh(y, s["follow_up_months"], height=0.7, color=color, alpha=0.35)
    cr = s["cr_month"].notna()
    ax.scatter(s.loc[cr, "cr_month"], y[cr], marker="^", s=18, color="C2", zorder=3)
    rel = s["relapse_month"].notna()
    ax.scatter(s.loc[rel, "relapse_month"], y[rel], marker="x", s=22, color="C3", zorder=3)
    dead = s["end"] == "death"
    ax.scatter(s.loc[dead, "follow_up_months"], y[dead], marker="s", s=18, color="black", zorder=3)
    cens = ~dead
    ax.scatter(s.loc[cens, "follow_up_months"], y[cens], marker=">", s=14, color="0.4", zorder=3)
    ax.set_yticks([])
    ax.set_ylim(-1, len(s))
    if xmax is not None:
        ax.set_xlim(0, xmax)
    ax.set_xlabel("Months from the analysis origin", fontsize=10)
    ax.set_ylabel(f"Patients (n = {len(s)})", fontsize=10)
    if title:
        ax.set_title(title, fontsize=11)
    handles = [Line2D([], [], marker="^", color="C2", ls="", label="first complete remission"),
               Line2D([], [], marker="x", color="C3", ls="", label="relapse"),
               Line2D([], [], marker="s", color="black", ls="", label="death"),
               Line2D([], [], marker=">", color="0.4", ls="", label="censored (alive)")]
    ax.legend(handles=handles, fontsize=SMALL, frameon=False, loc="lower right")
    return ax


def plot_taper(taper: pd.DataFrame, by: str = "STUDYID", labels=None, ax=None, cap_mg_day: float = 10.0):
    """Share of patients on at most ``cap_mg_day`` prednisone at each visit, one line per group,
    with N under the axis (``taper``: :func:`sle_nb_utils.longitudinal.steroid_taper`)."""
    ax = _ax(ax)
    groups = sorted(taper[by].astype(str).unique())
    months = sorted(taper["AVISITN"].unique())
    pos = {m: i for i, m in enumerate(months)}
    nrows = {}
    for k, g in enumerate(groups):
        t = taper[taper[by].astype(str) == g].sort_values("AVISITN")
        ax.plot(t["AVISITN"].map(pos), t["pct_at_or_below_cap"], color=COLORS[k], marker="o", ms=4, lw=1.5,
                label=_label(labels, g))
        nrows[_label(labels, g)] = list(t.set_index("AVISITN")["n"].reindex(months).to_numpy())
    ax.set_ylim(-3, 103)
    ax.set_xticks(range(len(months)))
    ax.set_xticklabels([str(int(m)) for m in months])
    ax.set_xlabel("Nominal visit (months after transplant; equally spaced)", fontsize=10)
    ax.set_ylabel(f"Patients on <= {cap_mg_day:g} mg/day prednisone (%)", fontsize=10)
    ax.legend(fontsize=SMALL, frameon=False, loc="lower right")
    _n_under_axis(ax, range(len(months)), nrows, COLORS)
    return ax


def plot_visit_accounting(acc: pd.DataFrame, ax=None, title: str = ""):
    """Stacked bars at each visit month: seen, missed, not yet reached (staggered entry), died
    before (``acc``: :func:`sle_nb_utils.longitudinal.visit_accounting`, one group)."""
    ax = _ax(ax, (6.5, 3.8))
    a = acc.sort_values("visit_month")
    x = np.arange(len(a))
    bottom = np.zeros(len(a))
    colors = {"seen": "C0", "missed": "C1", "not yet reached": "0.75", "died before": "0.2"}
    for col, c in colors.items():
        v = a[col].to_numpy(float)
        ax.bar(x, v, bottom=bottom, color=c, label=col, width=0.75)
        bottom += v
    for xi, n in zip(x, a["seen"]):
        ax.text(xi, n / 2, f"{int(n)}", ha="center", va="center", fontsize=SMALL, color="white")
    ax.set_xticks(x)
    ax.set_xticklabels([str(int(m)) for m in a["visit_month"]])
    ax.set_xlabel("Visit month", fontsize=10)
    ax.set_ylabel("Patients enrolled", fontsize=10)
    if title:
        ax.set_title(title, fontsize=11)
    ax.legend(fontsize=SMALL, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    return ax
