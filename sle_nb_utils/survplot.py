"""Survival figures: Kaplan-Meier with an at-risk table, stacked cumulative incidence, forest plot.

Every function takes ``ax=None`` (a new figure is made when None) and returns the axes; the numbers
behind each figure come from :mod:`sle_nb_utils.stats`, so a notebook can print the same table
next to the figure.  Nothing here writes timestamps, paths or object addresses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from .stats import competing as cr
from .stats import survival as sv
from .stats._validate import as_groups

__all__ = ["plot_km", "plot_cif", "plot_follow_up", "plot_cif_stacked", "plot_forest"]


def _ax(ax, figsize=(7, 4.5)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def _no_data(ax, what: str = "no patients in this selection"):
    """An empty panel that says why it is empty (no curves to draw; never an IndexError)."""
    ax.text(0.5, 0.5, what, transform=ax.transAxes, ha="center", va="center", fontsize=10, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def _draw_curves(ax, n, group, colors, curve, start: float, conf_int: bool, fill_nan: bool):
    """One step curve per group with its pointwise band (and censor marks where given).

    ``curve(mask)`` returns ``(table, marks)``: a table with ``time``, ``value``, ``lower``,
    ``upper`` for the subjects of ``mask``, and censor marks (``time`` and the curve's value) or
    None.  The curve starts at ``start`` at time 0; ``fill_nan`` draws a missing band limit as 0.
    Returns the group labels and the colours used.
    """
    labels, codes = as_groups(group, n)
    colors = list(colors) if colors is not None else plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, lab in enumerate(labels):
        tab, marks = curve(codes == k)
        x = np.concatenate(([0.0], tab["time"].to_numpy()))
        c = colors[k % len(colors)]
        ax.step(x, np.concatenate(([start], tab["value"].to_numpy())), where="post", color=c,
                label=None if group is None else str(lab), lw=1.6)
        if conf_int:
            lo = np.concatenate(([start], tab["lower"].to_numpy()))
            hi = np.concatenate(([start], tab["upper"].to_numpy()))
            if fill_nan:
                lo, hi = np.nan_to_num(lo), np.nan_to_num(hi)
            ax.fill_between(x, lo, hi, step="post", color=c, alpha=0.15, lw=0)
        if marks is not None:
            ax.plot(marks.iloc[:, 0], marks.iloc[:, 1], ls="none", marker="+", ms=7, mew=1.2, color=c)
    return labels, colors


def _finish_axes(ax, ylim, xlabel: str, ylabel: str, legend: bool, legend_loc: str) -> None:
    ax.set_ylim(*ylim)
    ax.set_xlim(left=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if legend:
        ax.legend(frameon=False, loc=legend_loc)


def _risk_rows(ax, t, e, risk_table_at, group, labels, colors, title="Number at risk (cumulative events)"):
    """Draw "n at risk (cumulative events)" rows under the x-axis, aligned with the ticks."""
    at = np.sort(np.asarray(risk_table_at, dtype=float))
    ax.set_xticks(at)
    ax.set_xlim(min(0.0, at[0]), max(at[-1], ax.get_xlim()[1]))
    rt = sv.risk_table(t, e, at, group=group)
    tr = blended_transform_factory(ax.transData, ax.transAxes)
    y0 = -0.22
    step = 0.08
    ax.text(0, y0, title, transform=ax.transAxes, ha="left", va="top", fontsize=9, fontweight="bold",
            clip_on=False)
    for k, lab in enumerate(labels):
        yk = y0 - step * (k + 1)
        sub = rt[rt.group == lab]
        ax.annotate("" if group is None else str(lab), xy=(0, yk), xycoords=ax.transAxes, xytext=(-24, 0),
                    textcoords="offset points", ha="right", va="top", fontsize=9,
                    color=colors[k % len(colors)], annotation_clip=False)
        for _, row in sub.iterrows():
            ax.text(row.time, yk, f"{row.n_risk} ({row.n_event_cum})", transform=tr, ha="center", va="top",
                    fontsize=9, clip_on=False)


def plot_km(
    time,
    event,
    group=None,
    ax=None,
    conf_int: bool = True,
    conf_level: float = 0.95,
    conf_type: str = "log-log",
    censor_marks: bool = True,
    risk_table_at: Sequence[float] | None = None,
    xlabel: str = "Months",
    ylabel: str = "Survival probability",
    colors: Sequence[str] | None = None,
):
    """Kaplan-Meier curves with pointwise CI bands, censor marks and an at-risk table.

    Parameters
    ----------
    time, event : array-like
        Follow-up in months and 0/1 event indicator.
    group : array-like, optional
        One curve per group (sorted labels).
    ax : matplotlib Axes, optional
    conf_int, conf_level, conf_type :
        CI bands as in :func:`sle_nb_utils.stats.survival.kaplan_meier` (log-log by default).
    censor_marks : bool
        '+' at each censoring time, on the curve.
    risk_table_at : sequence of float, optional
        When given, a survminer-style table under the x-axis: for each group and each time,
        "number at risk (cumulative events)", aligned with the x ticks (the same numbers as
        :func:`sle_nb_utils.stats.survival.risk_table`).  The ticks are set to these times.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=float).astype(int)
    if t.size == 0:
        return _no_data(ax)

    def curve(m):
        km = sv.kaplan_meier(t[m], e[m], conf_level=conf_level, conf_type=conf_type)
        marks = km.loc[km.n_censor > 0, ["time", "surv"]] if censor_marks else None
        return km.rename(columns={"surv": "value"}), marks

    labels, colors = _draw_curves(ax, t.size, group, colors, curve, start=1.0, conf_int=conf_int,
                                  fill_nan=False)
    _finish_axes(ax, (0, 1.02), xlabel, ylabel, group is not None and len(labels), "best")
    if risk_table_at is not None:
        _risk_rows(ax, t, e, risk_table_at, group, labels, colors)
    return ax


def plot_cif(
    time,
    status,
    group=None,
    cause: int = 1,
    ax=None,
    conf_int: bool = True,
    conf_level: float = 0.95,
    risk_table_at: Sequence[float] | None = None,
    xlabel: str = "Months",
    ylabel: str = "Cumulative incidence",
    colors: Sequence[str] | None = None,
):
    """Aalen-Johansen cumulative incidence of ``cause`` (others competing) with bands and at-risk rows.

    Parameters
    ----------
    time, status : array-like
        Follow-up in months; 0 = censored, ``cause`` = event of interest, other codes competing.
    group : array-like, optional
        One curve per group (sorted labels).
    conf_int, conf_level :
        Pointwise bands from :func:`sle_nb_utils.stats.competing.aalen_johansen` (cmprsk variance,
        log(-log) transform).
    risk_table_at : sequence of float, optional
        Rows under the axis: number still at risk and cumulative events of ``cause``.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    t = np.asarray(time, dtype=float)
    st = np.asarray(status).astype(int)
    if t.size == 0:
        return _no_data(ax)

    def curve(m):
        aj = cr.aalen_johansen(t[m], st[m], cause=cause, conf_level=conf_level)
        return aj.rename(columns={"cif": "value"}), None

    labels, colors = _draw_curves(ax, t.size, group, colors, curve, start=0.0, conf_int=conf_int,
                                  fill_nan=True)
    _finish_axes(ax, (0, 1.0), xlabel, ylabel, group is not None and len(labels), "upper left")
    if risk_table_at is not None:
        _risk_rows(ax, t, (st == cause).astype(int), risk_table_at, group, labels, colors)
    return ax


def plot_follow_up(entry, end, status, group, ax=None, labels: Mapping[int, str] | None = None,
                   colors: Sequence[str] | None = None, xlabel: str = "Calendar year"):
    """Each patient's follow-up as a line from entry to the end of follow-up, by calendar date.

    ``status`` codes how follow-up ends (e.g. 0 censored at the data cut-off, 1 lost to follow-up,
    2 death), drawn as the end marker; patients are sorted by group then entry. Shows staggered
    entry and the censoring pattern. Returns the axes.
    """
    ax = _ax(ax, figsize=(8, 5))
    d = pd.DataFrame({"entry": pd.to_datetime(entry), "end": pd.to_datetime(end),
                      "status": np.asarray(status).astype(int), "group": np.asarray(group)})
    d = d.sort_values(["group", "entry"]).reset_index(drop=True)
    labels = dict(labels) if labels is not None else {c: str(c) for c in sorted(d["status"].unique())}
    markers = {0: "|", 1: "o", 2: "x"}
    colors = list(colors) if colors is not None else ["#2c7bb6", "#fdae61", "#d7191c"]
    for i, r in d.iterrows():
        ax.plot([r.entry, r.end], [i, i], color="#999999", lw=0.8)
    for k, (code, lab) in enumerate(labels.items()):
        sub = d[d["status"] == code]
        ax.plot(sub["end"], sub.index, ls="none", marker=markers.get(code, "s"), ms=5,
                color=colors[k % len(colors)], label=lab)
    ticks = d.groupby("group", sort=False).apply(lambda g: g.index.to_numpy().mean(), include_groups=False)
    ax.set_yticks(list(ticks.to_numpy()))
    ax.set_yticklabels([str(g) for g in ticks.index])
    ax.set_xlabel(xlabel)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return ax


def plot_cif_stacked(
    time,
    status,
    causes: Mapping[int, str] | None = None,
    event_free_label: str = "Event-free",
    ax=None,
    colors: Sequence[str] | None = None,
    xlabel: str = "Months",
    ylabel: str = "Probability",
):
    """Stacked cumulative incidence: one band per cause, and the event-free probability on top.

    With ``status`` 0 = censored, 1 = relapse, 2 = non-relapse mortality, the bands are relapse
    (bottom), NRM, and alive without relapse (top); at every time the bands add up to 1 because
    the Aalen-Johansen incidences plus the all-cause Kaplan-Meier sum to 1.

    Parameters
    ----------
    time, status : array-like
        Follow-up in months; 0 = censored, positive codes = causes.
    causes : mapping code -> label, optional
        Order from the bottom up (default: every cause present, labelled "Cause k").

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    t = np.asarray(time, dtype=float)
    s = np.asarray(status).astype(int)
    if t.size == 0:
        return _no_data(ax)
    if causes is None:
        causes = {int(c): f"Cause {int(c)}" for c in np.unique(s[s != 0])}
    grid = np.concatenate(([0.0], np.unique(t)))
    colors = list(colors) if colors is not None else ["#c0392b", "#7f8c8d", "#d5e8d4", "#2980b9", "#8e44ad"]
    base = np.zeros(grid.size)
    for k, (code, lab) in enumerate(causes.items()):
        cif, _ = cr.cif_var_at(t, s, grid, cause=code)
        ax.fill_between(grid, base, base + cif, step="post", color=colors[k % len(colors)], label=lab, lw=0)
        base = base + cif
    ax.fill_between(grid, base, 1.0, step="post", color=colors[len(causes) % len(colors)], label=event_free_label, lw=0)
    ax.set_xlim(0, grid[-1])
    ax.set_ylim(0, 1)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return ax


def plot_forest(
    table: pd.DataFrame,
    ax=None,
    estimate: str = "hr",
    lower: str = "lower",
    upper: str = "upper",
    label: str = "term",
    reference: float = 1.0,
    xlabel: str = "Hazard ratio (95% CI)",
    annotate: bool = True,
    ticks: Sequence[float] | None = None,
):
    """Forest plot of ratios with intervals (e.g. ``CoxResult.summary`` of :func:`sle_nb_utils.stats.cox.cox_fit`).

    Rows are drawn top-down in table order on a log x-axis, with a dashed line at
    ``reference``; with ``annotate`` the estimate and interval are written at the right.
    ``ticks`` overrides the automatic choice of x ticks (a "nice" subset of 0.01-100 around the
    intervals).

    Returns
    -------
    matplotlib Axes
    """
    n = len(table)
    ax = _ax(ax, figsize=(7, 0.5 * n + 1.2))
    y = np.arange(n)[::-1]
    est = table[estimate].to_numpy(dtype=float)
    lo = table[lower].to_numpy(dtype=float)
    hi = table[upper].to_numpy(dtype=float)
    ax.errorbar(est, y, xerr=[est - lo, hi - est], fmt="s", color="black", ecolor="black", capsize=3, ms=5)
    ax.axvline(reference, ls="--", color="grey", lw=1)
    ax.set_xscale("log")
    lo_lim, hi_lim = np.nanmin(np.append(lo, reference)), np.nanmax(np.append(hi, reference))
    nice = np.array([0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 4, 5, 10, 20, 50, 100])
    if ticks is None:
        ticks = nice[(nice >= lo_lim / 1.5) & (nice <= hi_lim * 1.5)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_yticks(y)
    ax.set_yticklabels([str(v) for v in table[label]])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel(xlabel)
    if annotate:
        tr = blended_transform_factory(ax.transAxes, ax.transData)
        for yi, e_, l_, h_ in zip(y, est, lo, hi):
            ax.text(1.02, yi, f"{e_:.2f} ({l_:.2f}-{h_:.2f})", transform=tr, va="center", fontsize=9, clip_on=False)
    return ax
