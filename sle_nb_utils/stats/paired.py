"""Paired tests against baseline and by-visit summaries (as the MSCT papers report them).

- :func:`wilcoxon_signed_rank`: R's ``wilcox.test(x, y, paired = TRUE)``: zero differences dropped;
  the exact null distribution when fewer than 50 pairs remain and there are no ties or zeros,
  otherwise the normal approximation with the tie correction of the variance and the continuity
  correction.  The statistic ``V`` is the sum of the ranks of the positive differences ``x - y``.
- :func:`paired_t`: R's ``t.test(x, y, paired = TRUE)``: mean difference, its t interval, t, df, p.
- :func:`holm`: R's ``p.adjust(p, method = "holm")`` (Holm 1979, *Scand J Stat* 6:65-70; controls
  the family-wise error rate under any dependence).
- :func:`paired_tests`: both tests at every visit against baseline, with the number of pairs and
  Holm-adjusted p-values across the visits of one measure.
- :func:`summary_by_visit`: n, mean with t-based 95% CI, median with quartiles (for skewed labs).

All checked against R in ``tests/test_paired.py`` (values written by
``tests/reference/mixed_reference.R``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import BadInputError
from ._validate import _numeric

__all__ = ["wilcoxon_signed_rank", "paired_t", "holm", "paired_tests", "summary_by_visit"]


def _pairs(x, y, names=("x", "y")):
    a = _numeric(x, names[0])
    b = _numeric(y, names[1])
    if a.size != b.size:
        raise BadInputError(f"has length {b.size}, but {names[0]} has length {a.size}", column=names[1])
    ok = np.isfinite(a) & np.isfinite(b)
    return a[ok], b[ok]


def _psignrank_le(q: int, n: int) -> float:
    """P(V <= q) under the null of the signed-rank test with n pairs (R's ``psignrank``)."""
    if q < 0:
        return 0.0
    top = n * (n + 1) // 2
    if q >= top:
        return 1.0
    counts = np.zeros(top + 1)
    counts[0] = 1.0
    for k in range(1, n + 1):
        counts[k:] = counts[k:] + counts[:-k].copy()
    return float(counts[: q + 1].sum() / 2.0**n)


def wilcoxon_signed_rank(x, y, correct: bool = True) -> dict:
    """Wilcoxon signed-rank test of paired samples (``x - y``), two-sided, as R ``wilcox.test``.

    Parameters
    ----------
    x, y : array-like
        Paired values (e.g. the value at a visit and at baseline); pairs with a missing value are
        dropped.
    correct : bool
        Continuity correction of the normal approximation (R's default).

    Returns
    -------
    dict
        ``n_pairs`` (complete pairs), ``n_nonzero`` (pairs with a non-zero difference), ``V``,
        ``p``, ``method`` (``"exact"`` or ``"normal approximation"``).
    """
    a, b = _pairs(x, y)
    n_pairs = int(a.size)
    dlt = a - b
    dlt = dlt[dlt != 0]
    n = int(dlt.size)
    if n == 0:
        return {"n_pairs": n_pairs, "n_nonzero": 0, "V": np.nan, "p": np.nan, "method": "no non-zero differences"}
    zeros = n < n_pairs
    r = stats.rankdata(np.abs(dlt))
    V = float(r[dlt > 0].sum())
    ties = np.unique(r).size < n
    if n < 50 and not ties and not zeros:
        half = n * (n + 1) / 4
        if V > half:
            p = 1.0 - _psignrank_le(int(V) - 1, n)
        else:
            p = _psignrank_le(int(V), n)
        return {"n_pairs": n_pairs, "n_nonzero": n, "V": V, "p": min(1.0, 2 * p), "method": "exact"}
    z = V - n * (n + 1) / 4
    _, nties = np.unique(r, return_counts=True)
    sigma = math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - float((nties**3 - nties).sum()) / 48)
    corr = 0.5 * np.sign(z) if correct else 0.0
    if sigma == 0:
        return {"n_pairs": n_pairs, "n_nonzero": n, "V": V, "p": np.nan, "method": "normal approximation"}
    zz = (z - corr) / sigma
    p = 2 * min(stats.norm.cdf(zz), stats.norm.sf(zz))
    return {"n_pairs": n_pairs, "n_nonzero": n, "V": V, "p": float(min(1.0, p)), "method": "normal approximation"}


def paired_t(x, y, conf_level: float = 0.95) -> dict:
    """Paired t-test of ``x - y`` (two-sided), as R ``t.test(x, y, paired = TRUE)``.

    Returns
    -------
    dict
        ``n_pairs``, ``mean_diff``, ``lower``, ``upper`` (t interval at ``conf_level``), ``t``,
        ``df``, ``p``.
    """
    if not 0 < conf_level < 1:
        raise BadInputError(f"conf_level must be in (0, 1), got {conf_level!r}")
    a, b = _pairs(x, y)
    dlt = a - b
    n = int(dlt.size)
    out = {"n_pairs": n, "mean_diff": float(dlt.mean()) if n else np.nan, "lower": np.nan, "upper": np.nan,
           "t": np.nan, "df": float(n - 1) if n else np.nan, "p": np.nan}
    if n < 2:
        return out
    se = float(dlt.std(ddof=1)) / math.sqrt(n)
    q = stats.t.ppf(1 - (1 - conf_level) / 2, n - 1)
    out["lower"] = out["mean_diff"] - q * se
    out["upper"] = out["mean_diff"] + q * se
    if se > 0:
        t = out["mean_diff"] / se
        out["t"] = t
        out["p"] = float(2 * stats.t.sf(abs(t), n - 1))
    return out


def holm(p) -> np.ndarray:
    """Holm step-down adjusted p-values, as R ``p.adjust(p, "holm")`` (NaN entries kept as NaN)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = ok.size
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def paired_tests(data: pd.DataFrame, value: str, baseline: str, visit: str, subject: str | None = None,
                 by: Sequence[str] = (), conf_level: float = 0.95) -> pd.DataFrame:
    """Each visit against baseline: Wilcoxon signed-rank and paired t, with Holm adjustment.

    Parameters
    ----------
    data : DataFrame
        Long format, one row per subject and visit, with the value at the visit (``value``) and the
        subject's baseline value (``baseline``) on the same row; rows of the baseline visit itself
        (visit 0) are ignored.
    value, baseline, visit : str
        Column names.
    subject : str, optional
        Subject column; when given, a subject may appear once per visit (checked).
    by : sequence of str
        Further grouping (e.g. measure, cohort); the Holm adjustment is across the visits within
        each ``by`` group.
    conf_level : float
        Level of the paired-t interval.

    Returns
    -------
    DataFrame
        One row per group and visit: ``n_pairs``, ``median_baseline``, ``median_visit``,
        ``median_diff``, ``wilcoxon_V``, ``wilcoxon_p``, ``wilcoxon_method``, ``mean_diff``,
        ``lower``, ``upper``, ``t``, ``df``, ``t_p``, ``wilcoxon_p_holm``, ``t_p_holm``,
        ``correction`` (``"Holm across k visits"``).
    """
    by = list(by)
    for c in [value, baseline, visit, *by] + ([subject] if subject else []):
        if c not in data.columns:
            raise BadInputError("not in the data", column=c)
    d = data[data[visit] != 0]
    if subject:
        dup = d.duplicated(by + [visit, subject])
        if dup.any():
            raise BadInputError(f"{int(dup.sum())} subject(s) appear twice at one visit", column=subject)
    rows = []
    keys = by + [visit]
    for key, g in d.groupby(keys, sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        a = _numeric(g[value], value)
        b = _numeric(g[baseline], baseline)
        ok = np.isfinite(a) & np.isfinite(b)
        w = wilcoxon_signed_rank(a[ok], b[ok])
        t = paired_t(a[ok], b[ok], conf_level=conf_level)
        rows.append({**dict(zip(keys, key)), "n_pairs": w["n_pairs"],
                     "median_baseline": float(np.median(b[ok])) if ok.any() else np.nan,
                     "median_visit": float(np.median(a[ok])) if ok.any() else np.nan,
                     "median_diff": float(np.median(a[ok] - b[ok])) if ok.any() else np.nan,
                     "wilcoxon_V": w["V"], "wilcoxon_p": w["p"], "wilcoxon_method": w["method"],
                     "mean_diff": t["mean_diff"], "lower": t["lower"], "upper": t["upper"], "t": t["t"],
                     "df": t["df"], "t_p": t["p"]})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["wilcoxon_p_holm"] = np.nan
    out["t_p_holm"] = np.nan
    out["correction"] = ""
    groups = out.groupby(by, sort=False).groups.values() if by else [out.index]
    for idx in groups:
        idx = list(idx)
        out.loc[idx, "wilcoxon_p_holm"] = holm(out.loc[idx, "wilcoxon_p"].to_numpy())
        out.loc[idx, "t_p_holm"] = holm(out.loc[idx, "t_p"].to_numpy())
        k = int(out.loc[idx, "wilcoxon_p"].notna().sum())
        out.loc[idx, "correction"] = f"Holm across {k} visits"
    return out


def summary_by_visit(data: pd.DataFrame, value: str, visit: str, by: Sequence[str] = (),
                     conf_level: float = 0.95) -> pd.DataFrame:
    """n, mean with t-based CI, SD, median with quartiles and range at each visit.

    Returns
    -------
    DataFrame
        One row per group and visit: ``n``, ``mean``, ``sd``, ``mean_lower``, ``mean_upper``,
        ``median``, ``q1``, ``q3``, ``min``, ``max`` (quartiles by linear interpolation, R's
        ``quantile`` type 7).
    """
    by = list(by)
    for c in [value, visit, *by]:
        if c not in data.columns:
            raise BadInputError("not in the data", column=c)
    if not 0 < conf_level < 1:
        raise BadInputError(f"conf_level must be in (0, 1), got {conf_level!r}")
    rows = []
    for key, g in data.groupby(by + [visit], sort=True, observed=True):
        key = key if isinstance(key, tuple) else (key,)
        x = _numeric(g[value], value)
        x = x[np.isfinite(x)]
        n = int(x.size)
        row = dict(zip(by + [visit], key))
        row["n"] = n
        if n == 0:
            rows.append(row)
            continue
        m = float(x.mean())
        sd = float(x.std(ddof=1)) if n > 1 else np.nan
        q = stats.t.ppf(1 - (1 - conf_level) / 2, n - 1) if n > 1 else np.nan
        half = q * sd / math.sqrt(n) if n > 1 else np.nan
        row.update({"mean": m, "sd": sd, "mean_lower": m - half, "mean_upper": m + half,
                    "median": float(np.median(x)), "q1": float(np.quantile(x, 0.25)),
                    "q3": float(np.quantile(x, 0.75)), "min": float(x.min()), "max": float(x.max())})
        rows.append(row)
    cols = by + [visit, "n", "mean", "sd", "mean_lower", "mean_upper", "median", "q1", "q3", "min", "max"]
    return pd.DataFrame(rows).reindex(columns=cols)
