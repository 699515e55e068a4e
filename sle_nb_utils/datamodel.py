"""The clean tables' dtypes and row order, shared by cleaning, the clean-table reader and the
analysis tables (``docs/design.md``, "Data model").

The columns, their kinds and each table's row key are declared in :mod:`sle_nb_utils.schemas`
(``TABLES``, ``KEYS``). This module turns a frame into exactly those dtypes and that order:

* :func:`to_model_dtypes` casts each column to its kind's dtype, only where needed;
* :func:`sort_by_key` orders rows by the table's key (``patient_id`` then date);
* :func:`conform` does both and fixes the representation of missing text, so that a table made by
  cleaning, read back from CSV or read from the parquet cache compares equal;
* :func:`read_clean_tables` reads the tables written by ``clean`` back with these dtypes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import BadInputError
from .schemas import EMPTY_IS_NONE, KEYS, TABLES

#: The clean tables, in the order they are cleaned and written.
TABLE_ORDER = ["patients", "visits", "events"]

_TARGET = {"int": "int64", "float": "float64", "nbool": "boolean", "date": "datetime64[ns]"}


def to_model_dtypes(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """Cast the data-model columns of ``df`` to their dtypes, column by column and only where
    needed (no full copy; ``df`` is changed in place and returned).

    Kinds: ``int`` -> int64, ``float`` -> float64, ``bool`` -> bool (pandas ``boolean`` while a
    value is missing), ``nbool`` -> ``boolean``, ``date`` -> datetime64[ns], text -> object.
    """
    for c, k in TABLES[table].items():
        d = df[c].dtype
        if k == "int":
            if d != "int64":
                df[c] = df[c].astype("float64").astype("int64")
        elif k == "bool":
            if d != bool:
                b = df[c].astype("boolean")
                df[c] = b.astype(bool) if not b.isna().any() else b
        elif k in _TARGET:
            if str(d) != _TARGET[k]:
                df[c] = df[c].astype(_TARGET[k])
        elif d != object:
            df[c] = df[c].astype(object)
    return df


def sort_by_key(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """``df`` ordered by the table's row key (``KEYS``), with a fresh 0..n-1 index.

    Text keys sort as strings, dates and numbers by value. An already sorted frame is returned
    without copying its rows.
    """
    keys = []
    for k in reversed(KEYS[table]):
        col = df[k]
        if col.dtype == object:
            keys.append(pd.factorize(col, sort=True)[0])
        else:
            keys.append(col.to_numpy().astype("int64"))
    order = np.lexsort(keys) if len(df) else np.arange(0)
    if (order == np.arange(len(df))).all():
        return df.reset_index(drop=True)
    out = df.iloc[order]
    out.index = pd.RangeIndex(len(out))  # (not reset_index: that copies every column again)
    return out


def conform(table: str, df: pd.DataFrame) -> pd.DataFrame:
    """The data-model columns of ``df`` in their order, dtypes and row order.

    Missing free text is ``""`` in the columns where missing means "none" (``EMPTY_IS_NONE``) and
    ``pd.NA`` in the other text columns.
    """
    df = df[list(TABLES[table])]
    df = to_model_dtypes(table, df.copy(deep=False))
    for c, k in TABLES[table].items():
        if k == "bool" and str(df[c].dtype) == "boolean" and not df[c].isna().any():
            df[c] = df[c].astype(bool)
        if k == "str":
            col = df[c]
            if col.isna().any():
                df[c] = col.fillna("") if c in EMPTY_IS_NONE else col.astype(object).where(col.notna(), pd.NA)
    return sort_by_key(table, df)


def _read_clean_arrow(path: Path, kinds: dict) -> pd.DataFrame | None:
    """Fast, exact reading of a clean table with pyarrow (None: use the pandas path)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    types = {c: pa.string() for c, k in kinds.items() if k in ("str", "label")}
    types.update({c: pa.float64() for c, k in kinds.items() if k == "float"})
    types.update({c: pa.int64() for c, k in kinds.items() if k == "int"})
    types.update({c: pa.bool_() for c, k in kinds.items() if k in ("bool", "nbool")})
    types.update({c: pa.date32() for c, k in kinds.items() if k == "date"})
    try:
        t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
            column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=True,
            include_columns=list(kinds)))
    except pa.ArrowException:  # a cell that does not convert: the pandas path reports it
        return None
    return t.to_pandas(date_as_object=False)


def read_clean_tables(clean_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``patients.csv``, ``visits.csv``, ``events.csv`` written by ``clean``
    (:meth:`sle_nb_utils.cleaning.CleaningResult.write`) back with the data-model dtypes.

    Raises
    ------
    BadInputError
        A table is missing or lacks a data-model column.
    """
    clean_dir = Path(clean_dir)
    out = {}
    for table in TABLE_ORDER:
        path = clean_dir / f"{table}.csv"
        if not path.exists():
            raise BadInputError(f"clean table {table}.csv not found (run `clean` first)", file=str(path.name))
        kinds = TABLES[table]
        missing = [c for c in kinds if c not in pd.read_csv(path, nrows=0).columns]
        if missing:
            raise BadInputError(f"clean table lacks column {missing[0]!r} (not written by `clean`?)",
                                file=path.name, row=1, column=missing[0])
        df = _read_clean_arrow(path, kinds)
        if df is not None:
            out[table] = conform(table, df)
            continue
        text_cols = {c: str for c, k in kinds.items() if k in ("str", "label")}
        df = pd.read_csv(path, dtype=text_cols, keep_default_na=False, low_memory=False, na_values={
            c: [""] for c, k in kinds.items() if k not in ("str", "label")} | {
            c: [""] for c, k in kinds.items() if k in ("str", "label") and c not in EMPTY_IS_NONE})
        for c, k in kinds.items():
            if k in ("bool", "nbool") and df[c].dtype == object:
                tf = {"true": True, "false": False, "True": True, "False": False}
                df[c] = df[c].map(lambda x: tf.get(x, x) if isinstance(x, str) else x)
        out[table] = conform(table, df)
    return out
