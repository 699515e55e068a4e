"""One input contract for every public estimator of :mod:`sle_nb_utils.stats` (checked at the door).

Like R's ``Surv()`` and scikit-survival's ``check_y_survival``, the estimators validate their input
once, here, and trust it afterwards.  Every failure is a :class:`sle_nb_utils.errors.BadInputError`
(a ``ValueError``) whose message names the argument or column, how many values are wrong and what
was expected, so the CLI can report it without a traceback.

The contract
------------
- time (and late-entry time): finite, >= 0; entry < exit for every subject.
- event: exactly 0/1 or boolean.  A 1/2 coding gets "looks like R's Surv 1/2 coding; recode as 0/1".
- status (competing risks): 0 = censored plus non-negative integer cause codes.
- groups: no missing labels, one type (not a mix of numbers and strings), and at least two levels
  where a test compares groups.
- covariates: numeric, boolean or categorical.  Categorical ones (strings, pandas categoricals) are
  dummy-coded against a reference level (the first level in sorted order, or the one named), as R's
  treatment contrasts do.  Missing values, constant columns and collinear columns are errors that
  name the column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import BadInputError

__all__ = [
    "as_time",
    "as_entry",
    "as_event",
    "as_status",
    "as_groups",
    "as_conf_level",
    "design_matrix",
    "Design",
]


def _name(name: str) -> str:
    return f"{name!r}"


def _values(x, name: str) -> np.ndarray:
    if isinstance(x, (pd.Series, pd.Index)):
        if isinstance(x.dtype, pd.CategoricalDtype):
            x = x.astype(object)
        arr = x.to_numpy()
    else:
        arr = np.asarray(x)
    if arr.ndim != 1:
        arr = arr.ravel()
    return arr


def _numeric(x, name: str) -> np.ndarray:
    arr = _values(x, name)
    if arr.dtype == bool:
        return arr.astype(float)
    if arr.dtype.kind in "iuf":
        return arr.astype(float)
    # object / string / nullable: numbers only
    s = pd.Series(arr)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() & s.notna()
    if bad.any():
        example = s[bad].iloc[0]
        raise BadInputError(f"{int(bad.sum())} non-numeric value(s) (e.g. {example!r}); expected numbers",
                            column=name)
    return num.to_numpy(dtype=float)


def _check_length(arr: np.ndarray, n: int | None, name: str) -> None:
    if n is not None and arr.size != n:
        raise BadInputError(f"has length {arr.size}, but time has length {n}", column=name)


def as_time(time, name: str = "time") -> np.ndarray:
    """Follow-up times as a float array: finite and >= 0 (months, by the package convention)."""
    t = _numeric(time, name)
    if t.size == 0:
        raise BadInputError("is empty: no subjects", column=name)
    nan = np.isnan(t)
    if nan.any():
        raise BadInputError(f"{int(nan.sum())} missing value(s); drop or impute those subjects first", column=name)
    inf = ~np.isfinite(t)
    if inf.any():
        raise BadInputError(f"{int(inf.sum())} infinite value(s); times must be finite", column=name)
    neg = t < 0
    if neg.any():
        raise BadInputError(f"{int(neg.sum())} negative value(s) (e.g. {t[neg][0]:g}); times must be >= 0",
                            column=name)
    return t


def as_entry(entry, time: np.ndarray, name: str = "entry") -> np.ndarray | None:
    """Late-entry (left-truncation) times: finite, >= 0 and < the exit time.  None = all enter at 0."""
    if entry is None:
        return None
    e = as_time(entry, name)
    _check_length(e, time.size, name)
    bad = e >= time
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BadInputError(
            f"{int(bad.sum())} subject(s) enter at or after their exit time (e.g. row {i}: entry {e[i]:g}, "
            f"exit {time[i]:g}); entry must be < exit, as in R Surv(entry, exit, event)", column=name)
    return e


def as_event(event, n: int | None = None, name: str = "event") -> np.ndarray:
    """Event indicator as an int64 array of 0/1 (booleans accepted)."""
    arr = _values(event, name)
    _check_length(arr, n, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    e = _numeric(arr, name)
    nan = np.isnan(e)
    if nan.any():
        raise BadInputError(f"{int(nan.sum())} missing value(s); code every subject 0 (censored) or 1 (event)",
                            column=name)
    vals = set(np.unique(e).tolist())
    if vals <= {0.0, 1.0}:
        return e.astype(np.int64)
    if vals <= {1.0, 2.0}:
        raise BadInputError("is coded 1/2: this looks like R's Surv 1/2 coding (1 = censored, 2 = event); "
                            "recode as 0/1", column=name)
    odd = sorted(vals - {0.0, 1.0})
    raise BadInputError(f"must be 0 (censored) or 1 (event); found {odd[:5]}"
                        + ("; for competing risks pass a status with cause codes" if all(v == int(v) and v > 0 for v in odd) else ""),
                        column=name)


def as_status(status, n: int | None = None, name: str = "status") -> np.ndarray:
    """Competing-risk status: 0 = censored, positive integer codes = causes (int64 array)."""
    arr = _values(status, name)
    _check_length(arr, n, name)
    s = _numeric(arr, name)
    nan = np.isnan(s)
    if nan.any():
        raise BadInputError(f"{int(nan.sum())} missing value(s); code 0 = censored and 1, 2, ... = causes",
                            column=name)
    bad = (s < 0) | (s != np.round(s))
    if bad.any():
        raise BadInputError(f"{int(bad.sum())} value(s) that are not 0 or a positive integer cause code "
                            f"(e.g. {s[bad][0]:g})", column=name)
    return s.astype(np.int64)


def as_groups(group, n: int, name: str = "group", min_levels: int = 1):
    """Sorted group labels and integer codes; a single level ``"all"`` when ``group`` is None.

    Raises when labels are missing, when they mix numbers and strings, or when there are fewer than
    ``min_levels`` levels (R's survdiff: "There is only 1 group").
    """
    if group is None:
        if min_levels > 1:
            raise BadInputError(f"a {name} is needed: the test compares at least {min_levels} groups", column=name)
        return np.array(["all"], dtype=object), np.zeros(n, dtype=np.int64)
    arr = _values(group, name)
    _check_length(arr, n, name)
    s = pd.Series(arr)
    if s.isna().any():
        raise BadInputError(f"{int(s.isna().sum())} missing label(s); every subject needs a {name}", column=name)
    kinds = {("number" if isinstance(v, (int, float, np.number, bool, np.bool_)) else "text") for v in s.unique()}
    if len(kinds) > 1:
        raise BadInputError("mixes numbers and text labels; convert it to one type (e.g. .astype(str))",
                            column=name)
    labels, codes = np.unique(s.to_numpy(), return_inverse=True)
    if labels.size < min_levels:
        raise BadInputError(f"has only {labels.size} level ({labels[0]!r}); the test needs at least "
                            f"{min_levels} groups (R: 'There is only 1 group')", column=name)
    return labels, codes.astype(np.int64)


def as_conf_level(conf_level: float) -> float:
    """The two-sided normal quantile of a confidence level in (0, 1)."""
    from scipy import stats

    if not 0 < conf_level < 1:
        raise BadInputError(f"conf_level must be in (0, 1), got {conf_level!r}")
    return float(stats.norm.ppf(1 - (1 - conf_level) / 2))


class Design:
    """A numeric design matrix with the terms it came from.

    Attributes
    ----------
    X : numpy.ndarray, shape (n, p)
    terms : list of str
        Column names of ``X``: numeric covariates keep their name; a categorical covariate ``sex``
        with levels F (reference) and M gives the term ``"sex[M]"`` (R: ``sexM``).
    reference : dict
        Covariate -> reference level, for every categorical covariate.
    """

    def __init__(self, X: np.ndarray, terms: list[str], reference: dict):
        self.X = X
        self.terms = terms
        self.reference = reference

    def __repr__(self) -> str:
        return f"Design(n={self.X.shape[0]}, terms={self.terms})"


def _is_categorical(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.CategoricalDtype) or s.dtype == object or pd.api.types.is_string_dtype(s)


def design_matrix(covariates, n: int | None = None, reference: Mapping[str, object] | None = None,
                  check_rank: bool = True) -> Design:
    """Numeric design matrix from a DataFrame (or 2-d array) of covariates.

    Parameters
    ----------
    covariates : pandas.DataFrame, pandas.Series or array-like (n, p)
        Numeric and boolean columns are used as they are; text and categorical columns are
        dummy-coded with treatment contrasts against a reference level.
    n : int, optional
        Expected number of rows (the length of ``time``).
    reference : mapping, optional
        Covariate -> reference level.  Default: the first category of a pandas categorical,
        otherwise the first level in sorted order (as R's ``factor``).
    check_rank : bool
        Raise on constant or collinear columns (R would return NA coefficients with a warning).
    """
    reference = dict(reference or {})
    if isinstance(covariates, pd.Series):
        covariates = covariates.to_frame(name=str(covariates.name if covariates.name is not None else "x1"))
    if not isinstance(covariates, pd.DataFrame):
        arr = np.asarray(covariates)
        if arr.ndim == 1:
            arr = arr[:, None]
        covariates = pd.DataFrame(arr, columns=[f"x{i + 1}" for i in range(arr.shape[1])])
    if n is not None and len(covariates) != n:
        raise BadInputError(f"covariates have {len(covariates)} rows, but time has length {n}")
    if covariates.shape[1] == 0:
        raise BadInputError("no covariates given")
    cols, terms, refs = [], [], {}
    for name in covariates.columns:
        s = covariates[name]
        cname = str(name)
        miss = s.isna()
        if miss.any():
            raise BadInputError(f"{int(miss.sum())} missing value(s); drop those rows or impute first", column=cname)
        if _is_categorical(s):
            if isinstance(s.dtype, pd.CategoricalDtype):
                levels = [lv for lv in s.cat.categories if (s == lv).any()]
            else:
                vals = s.to_numpy()
                kinds = {type(v).__name__ for v in vals}
                if len(kinds) > 1 and any(isinstance(v, str) for v in vals):
                    raise BadInputError("mixes numbers and text; convert it to one type", column=cname)
                levels = sorted(pd.unique(vals).tolist())
            ref = reference.get(cname, levels[0])
            if ref not in levels:
                raise BadInputError(f"reference level {ref!r} is not among its levels {levels}", column=cname)
            refs[cname] = ref
            for lv in levels:
                if lv == ref:
                    continue
                cols.append((s == lv).to_numpy(dtype=float))
                terms.append(f"{cname}[{lv}]")
            if len(levels) == 1 and check_rank:
                raise BadInputError(f"has one level only ({ref!r}): it cannot be estimated", column=cname)
            continue
        x = _numeric(s, cname)
        if not np.all(np.isfinite(x)):
            raise BadInputError(f"{int((~np.isfinite(x)).sum())} infinite value(s)", column=cname)
        cols.append(x)
        terms.append(cname)
    X = np.column_stack(cols) if cols else np.zeros((len(covariates), 0))
    if check_rank:
        _check_rank(X, terms)
    return Design(X, terms, refs)


def _check_rank(X: np.ndarray, terms: Sequence[str]) -> None:
    """Constant or collinear columns, named (the intercept is implicit, as in a Cox model)."""
    if X.shape[0] == 0:
        raise BadInputError("no rows")
    sd = X.std(axis=0)
    scale = np.maximum(np.abs(X).max(axis=0), 1.0)
    const = sd <= 1e-12 * scale
    if const.any():
        names = [terms[j] for j in np.flatnonzero(const)]
        raise BadInputError(f"constant in every row: it cannot be estimated (R gives NA); drop it", column=", ".join(names))
    Z = (X - X.mean(axis=0)) / sd
    # QR of the centred, scaled columns: a vanishing R[j, j] means column j lies in the span of the
    # columns before it
    r = np.linalg.qr(Z, mode="r")
    tol = 1e-8 * np.sqrt(Z.shape[0])
    for j in range(1, Z.shape[1]):
        if abs(r[j, j]) <= tol:
            raise BadInputError(f"is collinear with {', '.join(repr(t) for t in terms[:j])}: it cannot be "
                                "estimated (R gives NA); drop it or one of those", column=terms[j])
