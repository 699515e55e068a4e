"""Tables and figures as a reviewer reads them: the one display helper the notebooks call.

Notebooks show tables through :func:`table` (HTML, no index column, "—" for a missing value, text
left-aligned, numbers right-aligned, small counts suppressed), reshape long tables with :func:`wide`,
summarise patient-level lists (quarantine, cleaning log) with :func:`counts_by` instead of
printing them, call :func:`setup` once for the figure resolution, and state the notebook's key
result with :func:`key_result` in a cell tagged ``key-result`` (the site's index shows it). Nothing
here computes a result; it only formats what the analysis functions return.

Small-cell suppression: a count of patients (or rows) from 1 to ``MIN_CELL_COUNT - 1`` is shown
as ``"<MIN_CELL_COUNT"`` (e.g. ``"<5"``) so that a rendered page on a user's data does not single
out a handful of patients. Zero is shown as 0. This follows the common small-cell rule of
disclosure control for health statistics; choose the threshold your data-access agreement asks for
(the notebooks' ``MIN_CELL_COUNT`` parameter).
"""

from __future__ import annotations

import html

import numpy as np
import pandas as pd

#: Default threshold of small-cell suppression (counts 1 .. MIN_CELL_COUNT-1 are shown as "<N").
MIN_CELL_COUNT = 5
#: What a missing value looks like in a displayed table.
NA_REP = "—"
#: Resolution of PNG figures (dots per inch); the site requires >= 150.
FIGURE_DPI = 150


def setup(dpi: int = FIGURE_DPI) -> None:
    """Figure resolution for the rest of the session (``figure.dpi`` and ``savefig.dpi``).

    Parameters
    ----------
    dpi : int
        Dots per inch of the PNG figures the inline backend embeds (>= 150 for the site).
    """
    import matplotlib as mpl

    mpl.rcParams["figure.dpi"] = dpi
    mpl.rcParams["savefig.dpi"] = dpi


def suppress_small(df: pd.DataFrame, columns=None, min_count: int | None = MIN_CELL_COUNT) -> pd.DataFrame:
    """Counts from 1 to ``min_count - 1`` replaced by the text ``"<min_count"``.

    Parameters
    ----------
    df : pandas.DataFrame
    columns : list of str, optional
        Count columns to suppress; default every integer column.
    min_count : int or None
        Threshold; ``None`` or ``0`` turns suppression off (the bundled synthetic data).

    Returns
    -------
    pandas.DataFrame
        A copy; suppressed columns become text (object) columns.
    """
    out = df.copy()
    if not min_count:
        return out
    if columns is None:
        columns = [c for c in out.columns if pd.api.types.is_integer_dtype(out[c])]
    for c in columns:
        v = pd.to_numeric(out[c], errors="coerce")
        small = (v > 0) & (v < min_count)
        if small.any():
            out[c] = out[c].astype(object).where(~small, f"<{min_count}")
    return out


def wide(df: pd.DataFrame, index, columns, values) -> pd.DataFrame:
    """A long table (one row per group x time, say) as a wide one, with flat column names.

    Parameters
    ----------
    df : pandas.DataFrame
    index : str or list of str
        Columns that identify a row of the result (e.g. ``["endpoint", "group"]``).
    columns : str
        Column whose values become the result's columns (e.g. ``"month"``).
    values : str
        Column that fills the cells.

    Returns
    -------
    pandas.DataFrame
        ``index`` columns first, then one column per value of ``columns`` (in sorted order), with
        a default index (which :func:`table` does not show).
    """
    index = [index] if isinstance(index, str) else list(index)
    w = df.pivot_table(index=index, columns=columns, values=values, aggfunc="first", sort=True,
                       observed=True)
    w.columns = [str(c) for c in w.columns]
    return w.reset_index()


def counts_by(frame: pd.DataFrame, by="reason", *, name: str = "rows",
              min_count: int | None = MIN_CELL_COUNT) -> pd.DataFrame:
    """Counts per reason (or per any columns) in place of a patient-level list.

    Use it for the quarantine and the cleaning log on a user's data: the page says how many rows
    each rule caught; the rows themselves stay in ``OUT/clean/*.csv``.

    Parameters
    ----------
    frame : pandas.DataFrame
        A patient-level list (e.g. ``result.quarantine``).
    by : str or list of str
        Columns to count by (e.g. ``["table", "reason"]``).
    name : str
        Name of the count column.
    min_count : int or None
        Small-cell threshold (see :func:`suppress_small`); ``None`` for none.

    Returns
    -------
    pandas.DataFrame
        One row per combination, sorted by count (descending) then by the ``by`` columns.
    """
    by = [by] if isinstance(by, str) else list(by)
    if frame.empty:
        return pd.DataFrame({**{c: pd.Series(dtype=object) for c in by}, name: pd.Series(dtype=int)})
    n = frame.groupby(by, dropna=False, observed=True).size().rename(name).reset_index()
    n = n.sort_values([name, *by], ascending=[False] + [True] * len(by), kind="stable", ignore_index=True)
    return suppress_small(n, [name], min_count)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


class Table:
    """A DataFrame displayed as an HTML table (``_repr_html_``) with a plain-text twin (``repr``).

    The plain text (what nbval compares) and the HTML carry the same cells: no index column,
    ``NA_REP`` for a missing value, floats rounded to ``decimals``.
    """

    def __init__(self, df: pd.DataFrame, *, decimals: int | None = None, caption: str | None = None,
                 index: bool = False):
        d = df.reset_index() if index else df.reset_index(drop=True)
        if isinstance(d.columns, pd.MultiIndex):
            d.columns = [" ".join(str(p) for p in c if str(p) != "").strip() for c in d.columns]
        if decimals is not None:
            d = d.round(decimals)
        self.frame = d
        self.caption = caption

    def _cell(self, x) -> str:
        if x is None or (not isinstance(x, str) and pd.api.types.is_scalar(x) and pd.isna(x)):
            return NA_REP
        return str(x)

    def __repr__(self) -> str:
        d = self.frame.astype(object).map(self._cell) if len(self.frame) else self.frame
        text = d.to_string(index=False) if len(d.columns) else ""
        return (f"{self.caption}\n{text}" if self.caption else text)

    def _repr_html_(self) -> str:
        d = self.frame
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in d.columns)
        rows = []
        for rec in d.itertuples(index=False):
            cells = []
            for x in rec:
                suppressed = isinstance(x, str) and x[:1] == "<" and x[1:].isdigit()
                cls = "num" if _is_number(x) or suppressed else "txt"
                cells.append(f'<td class="{cls}">{html.escape(self._cell(x))}</td>')
            rows.append("<tr>" + "".join(cells) + "</tr>")
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return ('<div class="sle-table"><style>.sle-table table{border-collapse:collapse}'
                ".sle-table td.txt,.sle-table th{text-align:left}.sle-table td.num{text-align:right}"
                ".sle-table td,.sle-table th{padding:2px 8px}</style>"
                f'<table class="dataframe sle">{cap}<thead><tr>{head}</tr></thead>'
                f"<tbody>{''.join(rows)}</tbody></table></div>")


def table(df: pd.DataFrame, *, decimals: int | None = None, caption: str | None = None,
          index: bool = False, min_count: int | None = None, count_columns=None) -> Table:
    """Display a table the way the site wants it.

    Parameters
    ----------
    df : pandas.DataFrame
    decimals : int, optional
        Round floats to this many decimals.
    caption : str, optional
    index : bool
        Show the index as ordinary columns (for a meaningful index; a 0..n index is never shown).
    min_count : int, optional
        Suppress counts below this threshold in ``count_columns`` (see :func:`suppress_small`).
    count_columns : list of str, optional
        Count columns to suppress (default: every integer column) when ``min_count`` is given.

    Returns
    -------
    Table
        Displays as HTML in a notebook (no index column, "—" for missing, text left-aligned) and as
        the same cells in plain text.
    """
    if min_count:
        df = suppress_small(df, count_columns, min_count)
    return Table(df, decimals=decimals, caption=caption, index=index)


def key_result(text: str):
    """The notebook's key result, one sentence computed from its results, as Markdown.

    Put the call in a cell tagged ``key-result``: the site's index (``run``) shows its text beside
    the notebook's question.

    Parameters
    ----------
    text : str
        E.g. ``f"5-year OS {os5:.0f}% (95% CI {lo:.0f}-{hi:.0f}) after HSCT, n = {n}"``.

    Returns
    -------
    IPython.display.Markdown
    """
    from IPython.display import Markdown

    return Markdown(f"**Key result.** {text}")
