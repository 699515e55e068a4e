"""Raw hospital exports -> validated clean tables, as carefully as a data manager would do it.

``clean_directory(raw_dir)`` reads every CSV / ``.xlsx`` export (``sle_nb_utils.readers``), maps per-site
column names onto the data model (``resources/column_aliases.csv``; ``docs/design.md``, "Data
model"), harmonises units (``resources/units.csv``), parses dates with the site's day/month order
(``resources/site_settings.csv``), normalises labels (``resources/label_synonyms.csv``), removes
exact duplicates, quarantines conflicting duplicates and rows that fail the pandera schemas
(``sle_nb_utils.schemas``), and accounts for every raw row:

    raw rows = kept + merged (exact) duplicates + quarantined      (per file, checked)

Every changed cell is in the cleaning log (file, row, column, old, new, rule); every refused row is
in the quarantine table (file, row, reason). Problems with a whole file or column stop the run with
:class:`~sle_nb_utils.errors.BadInputError` (exit code 2 in the CLI).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.errors

from . import config, datamodel, schemas
from . import readers
from .datamodel import TABLE_ORDER, read_clean_tables  # noqa: F401  (public here too)
from .errors import BadInputError
from .schemas import KEYS, NULLABLE, REQUIRED, TABLES, VOCABULARY

LOG_COLUMNS = ["file", "row", "column", "old", "new", "rule"]
QUARANTINE_COLUMNS = ["file", "row", "table", "patient_id", "reason"]

# date formats (strptime). Year-first and month-name formats cannot be misread; numeric
# day/month formats need the site's ``date_order`` (DMY or MDY): never guessed.
_UNAMBIGUOUS = ["%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d-%b-%Y", "%d %b %Y", "%d-%B-%Y", "%d %B %Y",
                "%b %d, %Y", "%B %d, %Y", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]
_ORDERED = {"DMY": ["%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y"], "MDY": ["%m/%d/%Y", "%m.%d.%Y", "%m-%d-%Y"]}
_NUMERIC_DM = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{4}$")
_EXCEL_ORIGIN = pd.Timestamp("1899-12-30")  # Excel's day 0 (1900 date system)
UNPARSEABLE_COLUMN_SHARE = 0.5  # more than half of a date/number column unreadable: stop the run
#: A file or site that loses more than this share of its raw rows to quarantine (and at least
#: SITE_LOSS_MIN_ROWS rows) stops the run: a missing patients file or an undeclared site coding,
#: not a few bad rows. ``allow_partial=True`` (``clean --allow-partial``) goes on and warns.
SITE_LOSS_MAX_SHARE = 0.2
SITE_LOSS_MIN_ROWS = 5
#: A censored lab value ("<10", ">1000", "≤ 0.1") is kept as its bound and logged as censored.
_CENSORED = re.compile(r"^\s*(<=|>=|<|>|≤|≥)\s*([0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)\s*$")


# --------------------------------------------------------------------------------------------
# result
# --------------------------------------------------------------------------------------------
@dataclass
class CleaningResult:
    """Everything cleaning produced (all tidy DataFrames).

    Attributes
    ----------
    tables : dict
        ``patients``, ``visits``, ``events`` in the data model (``docs/design.md``), sorted by key.
    log : DataFrame
        ``file, row, column, old, new, rule``: one row per changed cell.
    quarantine : DataFrame
        ``file, row, table, patient_id, reason``: one row per refused raw row.
    duplicates : DataFrame
        ``file, row, table, duplicate_of_file, duplicate_of_row``: exact duplicates merged.
    validation : DataFrame
        One row per schema check: ``table, column, check, rows_checked, rows_failed, status``.
    accounting : DataFrame
        Per file: ``raw_rows, kept, merged_duplicates, quarantined, balanced``.
    mapping : DataFrame
        Per raw column: ``file, raw_column, column, role, unit, status``.
    units : DataFrame
        Per file, column and unit: ``source`` (unit column, header, name, inferred), ``factor``,
        ``values``.
    dates : DataFrame
        Per file and date column: ``date_order`` and the formats found with their counts.
    inventory : DataFrame
        Per file/sheet: site, format, encoding, delimiter, header row, raw rows, status.
    warnings : list of str
        What the run let through but a data manager must know: a file that repeats another, a
        file or site that lost more than ``SITE_LOSS_MAX_SHARE`` of its rows under
        ``allow_partial=True``.
    """

    tables: dict
    log: pd.DataFrame
    quarantine: pd.DataFrame
    duplicates: pd.DataFrame
    validation: pd.DataFrame
    accounting: pd.DataFrame
    mapping: pd.DataFrame
    units: pd.DataFrame
    dates: pd.DataFrame
    inventory: pd.DataFrame
    warnings: list = field(default_factory=list)

    def summary(self) -> str:
        """Row accounting as text (what the CLI prints)."""
        a = self.accounting
        lines = ["row accounting (raw rows = kept + merged duplicates + quarantined):"]
        for r in a.itertuples():
            lines.append(f"  {r.file}: {r.raw_rows} = {r.kept} + {r.merged_duplicates} + {r.quarantined}"
                         + ("" if r.balanced else "  NOT BALANCED"))
        t = a[["raw_rows", "kept", "merged_duplicates", "quarantined"]].sum()
        lines.append(f"  total: {t.raw_rows} = {t.kept} + {t.merged_duplicates} + {t.quarantined}")
        lines.append(f"cleaning log: {len(self.log)} changed cells; quarantine: {len(self.quarantine)} rows")
        lines.extend(f"warning: {w}" for w in self.warnings)
        return "\n".join(lines)

    def mapping_summary(self) -> pd.DataFrame:
        """Per file: columns mapped to the data model, unit columns, columns ignored."""
        m = self.mapping
        ok = m["status"].eq("mapped")
        return (m.assign(mapped=ok & m["role"].eq("value"), unit_columns=ok & m["role"].eq("unit"), ignored=~ok)
                .groupby("file")[["mapped", "unit_columns", "ignored"]].sum().reset_index())

    def renamed_columns(self) -> pd.DataFrame:
        """Raw headers that differ from their data-model name (one example per model column)."""
        m = self.mapping
        r = m[m["status"].eq("mapped") & (m["raw_column"].str.lower() != m["column"])]
        return r.groupby("column", sort=False).head(1)[["file", "raw_column", "column", "role", "unit"]] \
            .reset_index(drop=True)

    def converted_units(self) -> pd.DataFrame:
        """Unit report rows that changed values or were not stated in a header: conversions,
        per-row unit columns and magnitude inferences."""
        u = self.units
        return u[(u["factor"] != 1) | u["source"].isin(["inferred from magnitude", "unit column"])] \
            .reset_index(drop=True)

    def validation_summary(self) -> pd.DataFrame:
        """Per schema: number of checks and how many passed."""
        v = self.validation
        return v.groupby("table", sort=False)["status"].agg(
            checks="size", passed=lambda s: int((s == "pass").sum())).reset_index()

    def rule_accounting(self) -> pd.DataFrame:
        """Rows each plausibility rule (``schemas.PLAUSIBILITY_RULES``) quarantined, per endpoint.

        One row per rule: ``rule``, ``table``, ``definition``, ``rows`` (rows failing it; a row that
        fails two rules counts under both), then one column per analysis endpoint (adtte PARAMCD
        OS, DFS, REL, NRM, TRM, CR, and adlb) with the rows removed from what feeds it (0 where
        the rule's table does not feed that endpoint).
        """
        v = self.validation
        failed = v.groupby("rule")["rows_failed"].sum() if len(v) else pd.Series(dtype="int64")
        feeds = ["OS", "DFS", "REL", "NRM", "TRM", "CR", "adlb"]
        rows = []
        for r in schemas.PLAUSIBILITY_RULES:
            n = int(failed.get(r.name, 0))
            rows.append(dict(rule=r.name, table=r.table, definition=r.definition, rows=n,
                             **{e: n if e in r.endpoints else 0 for e in feeds}))
        return pd.DataFrame(rows)

    def quarantine_accounting(self) -> pd.DataFrame:
        """Every quarantined row counted per reason and per analysis endpoint it would have fed.

        Covers every quarantine reason (schema checks, conflicting duplicates, events before
        transplant, unknown patients, unparseable dates, plausibility rules), not only the rules of
        :meth:`rule_accounting`.  Reasons are grouped by their wording without the row-specific
        details (identifiers, dates and values in parentheses or quotes), so the table carries no
        patient identifier.  One row per table and reason: ``table``, ``reason``, ``rows``, then one
        column per endpoint (adtte PARAMCD OS, DFS, REL, NRM, TRM, CR, and adlb) with the rows that
        no longer feed it (``schemas.table_endpoints``; 0 where the table does not feed it).  For an
        events row the count is an upper bound: a relapse event does not feed OS, a death does not
        feed CR, and the quarantine table does not keep the event type.
        """
        feeds = ["OS", "DFS", "REL", "NRM", "TRM", "CR", "adlb"]
        q = self.quarantine
        if q.empty:
            return pd.DataFrame(columns=["table", "reason", "rows", *feeds])
        reason = q["reason"].astype(str)
        for _ in range(3):  # nested parentheses, innermost first
            reason = reason.str.replace(r"\s*\([^()]*\)", "", regex=True)
        reason = (reason.str.replace(r"'[^']*'", "'…'", regex=True)
                  .str.replace(r"rows .*? differ", "rows differ", regex=True).str.strip())
        g = (pd.DataFrame({"table": q["table"].astype(str), "reason": reason})
             .groupby(["table", "reason"]).size().rename("rows").reset_index())
        fed = schemas.table_endpoints()
        for e in feeds:
            g[e] = [n if e in fed.get(t, ()) else 0 for t, n in zip(g["table"], g["rows"])]
        return g.sort_values(["table", "rows", "reason"], ascending=[True, False, True], ignore_index=True)

    def log_examples(self) -> pd.DataFrame:
        """Changed cells per rule, with the first logged example of each (values quoted)."""
        g = self.log.groupby("rule")
        ex = g.head(1).set_index("rule")
        out = pd.DataFrame({"cells": g.size()}).join(ex[["file", "row", "column", "old", "new"]])
        out["old"] = out["old"].map(repr)
        out["new"] = out["new"].map(repr)
        return out.reset_index()

    def write(self, out_dir: str | Path) -> Path:
        """Write clean tables and reports as CSV into ``out_dir`` (created)."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, t in self.tables.items():
            readers.write_csv(t, out / f"{name}.csv")
        for name, t in [("cleaning_log", self.log), ("quarantine", self.quarantine),
                        ("duplicates", self.duplicates), ("validation_report", self.validation),
                        ("row_accounting", self.accounting), ("column_mapping", self.mapping),
                        ("units_report", self.units), ("dates_report", self.dates),
                        ("inventory", self.inventory), ("plausibility_report", self.rule_accounting())]:
            readers.write_csv(t, out / f"{name}.csv")
        return out


# --------------------------------------------------------------------------------------------
# settings
# --------------------------------------------------------------------------------------------
@dataclass
class _Settings:
    aliases: dict            # normalised alias -> (column, role)
    sites: pd.DataFrame
    synonyms: dict           # column or "<bool>" -> {normalised raw: value}
    missing: set             # normalised missing tokens
    units: pd.DataFrame      # resources/units.csv
    spellings: dict          # normalised spelling -> unit key


def _site_codes(text: str) -> dict:
    """A site's declared codes, ``"1=M;2=F"`` -> ``{"1": "M", "2": "F"}`` (keys normalised)."""
    out = {}
    for part in [p for p in str(text).split(";") if p.strip()]:
        raw, eq, val = part.partition("=")
        if not eq or val.strip() not in VOCABULARY["sex"]:
            raise BadInputError(f"sex_codes {text!r}: write code=value pairs separated by ';' with values "
                                f"{'/'.join(VOCABULARY['sex'])} (e.g. 1=M;2=F)", file="site_settings.csv",
                                column="sex_codes")
        out[readers.normalise_name(raw)] = val.strip()
    return out


def _norm_unit(u) -> str:
    s = str(u).strip().casefold().replace(" ", "").replace("μ", "µ")
    return s


def load_settings(site_settings=None, aliases=None, synonyms=None) -> _Settings:
    """Bundled settings plus a user's extra rows (CSV paths or DataFrames with the same columns).

    An argument left ``None`` falls back on the file ``run --settings/--aliases/--synonyms`` passed
    to the notebook kernels (:func:`sle_nb_utils.config.extra_resources`), if any."""
    extra = config.extra_resources()
    site_settings = extra["settings"] if site_settings is None else site_settings
    aliases = extra["aliases"] if aliases is None else aliases
    synonyms = extra["synonyms"] if synonyms is None else synonyms
    a = readers.read_resource("column_aliases.csv", aliases)
    amap: dict = {}
    for alias, col, role in zip(a["alias"], a["column"], a["role"].replace("", "value")):
        key = readers.normalise_name(alias)
        if col not in {c for t in TABLES.values() for c in t}:
            raise BadInputError(f"alias {alias!r} maps to {col!r}, which is not a data-model column",
                                file="column_aliases.csv", column="column")
        amap[key] = (col, role)  # later (user) rows win
    s = readers.read_resource("site_settings.csv", site_settings)
    s = s.iloc[::-1].drop_duplicates("site").iloc[::-1] if len(s) else s
    for o in s["date_order"]:
        if o not in ("", "DMY", "MDY", "YMD"):
            raise BadInputError(f"date_order {o!r} is not DMY, MDY or YMD", file="site_settings.csv",
                                column="date_order")
    for col, allowed in (("decimal", ("", ".", ",")), ("id_case", ("", "upper", "lower")),
                         ("delimiter", ("", ",", ";", "tab", "\\t", "|"))):
        for o in s[col]:
            if o not in allowed:
                raise BadInputError(f"{col} {o!r} is not one of {', '.join(repr(a) for a in allowed if a)} "
                                    "(or blank)", file="site_settings.csv", column=col)
    for o in s["sex_codes"]:
        _site_codes(o)  # fails on a malformed declaration
    syn = readers.read_resource("label_synonyms.csv", synonyms)
    smap: dict = {}
    missing = set()
    for col, raw, val in zip(syn["column"], syn["raw"], syn["value"]):
        k = readers.normalise_name(raw) if col != "<missing>" else str(raw).strip().casefold()
        if col == "<missing>":
            missing.add(k)
        else:
            smap.setdefault(col, {})[k] = val
    for col, allowed in VOCABULARY.items():  # the canonical values themselves, any case
        for v in allowed:
            smap.setdefault(col, {}).setdefault(readers.normalise_name(v), v)
    units = schemas.unit_table()
    sp = readers.read_resource("unit_spellings.csv")
    spellings = {_norm_unit(a): b for a, b in zip(sp["spelling"], sp["unit"])}
    for u in units["unit"]:
        spellings.setdefault(_norm_unit(u), u)
    return _Settings(amap, s, smap, missing, units, spellings)


# --------------------------------------------------------------------------------------------
# per-file context
# --------------------------------------------------------------------------------------------
class _Ctx:
    def __init__(self, t: readers.RawTable, settings: _Settings):
        self.t = t
        self.s = settings
        self.rows = t.rows
        self.n = len(t.data)
        self.logs: list[pd.DataFrame] = []
        self.q_mask: list[tuple[np.ndarray, object]] = []  # (bool mask, reason str or array)
        srow = settings.sites[settings.sites["site"] == t.site]
        first = (lambda c: srow[c].iloc[0]) if len(srow) else (lambda c: "")
        self.date_order = first("date_order")
        self.decimal = first("decimal")        # "," : numbers written with a decimal comma
        self.sex_codes = _site_codes(first("sex_codes"))
        self.id_case = first("id_case")        # "upper" / "lower": fold patient IDs
        self.mapping: list[dict] = []
        self.units: list[dict] = []
        self.dates: list[dict] = []

    def log(self, mask: np.ndarray, column: str, old, new, rule: str, text_old: bool = False) -> None:
        """Log the cells of ``column`` selected by ``mask`` (old/new: full-length arrays or scalars)."""
        mask = np.asarray(mask, bool)
        k = int(mask.sum())
        if not k:
            return
        self.logs.append(pd.DataFrame({
            "file": self.t.file, "row": self.rows[mask], "column": column,
            "old": old[mask] if text_old else _texts(old, mask, k), "new": _texts(new, mask, k),
            "rule": rule}))

    def quarantine(self, mask: np.ndarray, reason) -> None:
        """Quarantine rows of ``mask``; ``reason`` is a string or a function of the row indices
        returning one string per index (only evaluated for the selected rows)."""
        mask = np.asarray(mask, bool)
        if mask.any():
            self.q_mask.append((mask, reason))

    def fail(self, reason: str, row=None, column=None):
        raise BadInputError(reason, file=self.t.file, row=row, column=column)


def _text1(x) -> str:
    if x is None or x is pd.NA or x is pd.NaT or (isinstance(x, float) and np.isnan(x)):
        return ""
    if isinstance(x, (float, np.floating)):
        return repr(float(x))
    if isinstance(x, (pd.Timestamp, np.datetime64)):
        return pd.Timestamp(x).strftime("%Y-%m-%d")
    return str(x)


def _texts(a, mask: np.ndarray, k: int) -> np.ndarray:
    """Text of the masked values (vectorised for float arrays: repr, i.e. round-trip exact)."""
    if isinstance(a, str) or np.isscalar(a) or a is None:
        return np.full(k, _text1(a), dtype=object)
    arr = np.asarray(a)[mask]
    if arr.dtype.kind == "f":  # format each distinct value once (values repeat a lot)
        codes, uniq = pd.factorize(arr, use_na_sentinel=True)
        txt = np.array([repr(float(x)) for x in uniq], dtype=object)
        out = np.full(len(arr), "", dtype=object)
        ok = codes >= 0
        out[ok] = txt[codes[ok]]
        return out
    if len(arr) > 1000:  # vectorised: strings, bools, ints (dates are logged as raw text)
        ser = pd.Series(arr, dtype=object)
        out = ser.where(ser.notna(), "").astype(str).to_numpy(dtype=object)
        fl = np.fromiter((isinstance(x, float) for x in arr), bool, len(arr))
        if fl.any():
            out[fl] = [_text1(x) for x in arr[fl]]
        return out
    return np.array([_text1(x) for x in arr], dtype=object)


# --------------------------------------------------------------------------------------------
# column mapping
# --------------------------------------------------------------------------------------------
_BRACKET = re.compile(r"^(.*?)\s*[\(\[]\s*([^\)\]]*?)\s*[\)\]]$")


def _map_columns(ctx: _Ctx) -> dict:
    """raw column id -> (model column, role, unit key or None, raw name)."""
    t, s = ctx.t, ctx.s
    unit_cols = set(s.units["column"])
    found: dict = {}
    by_target: dict = {}
    for cid, raw in zip(t.data.columns, t.columns):
        k = readers.normalise_name(raw)
        m = _BRACKET.match(k)
        hit, unit, unit_raw = None, None, None
        if k in s.aliases:  # the full header is an alias (most specific), e.g. "proteinuria (sledai)"
            hit = s.aliases[k]
            if m and hit[0] in unit_cols and hit[1] == "value" \
                    and s.spellings.get(_norm_unit(m.group(2))) in set(s.units.loc[s.units["column"] == hit[0], "unit"]):
                unit_raw = m.group(2)
        elif m and m.group(1) in s.aliases:
            hit = s.aliases[m.group(1)]
            if hit[0] in unit_cols and hit[1] == "value":
                unit_raw = m.group(2)  # "Creatinine (mg/dL)": the bracket is the unit
        if hit is None:
            ctx.mapping.append(dict(file=t.file, raw_column=raw, column="", role="", unit="",
                                    status="not mapped (ignored)" if k else "blank header (ignored)"))
            if not k and t.data[cid].notna().any():
                ctx.mapping[-1]["status"] = "blank header with values (ignored)"
            continue
        col, role = hit
        if unit_raw is not None:
            unit = s.spellings.get(_norm_unit(unit_raw))
            known = s.units[s.units["column"] == col]["unit"].tolist()
            if unit not in known:
                ctx.fail(f"unknown unit {unit_raw!r} for {col} in the header (known: {', '.join(known)}); "
                         "add it to units.csv / unit_spellings.csv", row=t.header_row, column=raw)
        elif role == "value" and k == readers.normalise_name(col) and col in unit_cols:
            unit = s.units[(s.units["column"] == col) & (s.units["factor"] == 1.0)]["unit"].iloc[0]
        target = (col, role)
        if target in by_target:
            ctx.fail(f"columns {by_target[target]!r} and {raw!r} both map to {col}"
                     + (" (unit column)" if role == "unit" else ""), row=t.header_row, column=raw)
        by_target[target] = raw
        found[cid] = (col, role, unit, raw)
        ctx.mapping.append(dict(file=t.file, raw_column=raw, column=col, role=role, unit=unit or "",
                                status="mapped"))
    return found


def _table_kind(ctx: _Ctx, cols: set) -> str:
    if "event" in cols or "event_date" in cols:
        return "events"
    if "visit_date" in cols or "visit_month" in cols or cols & set(schemas.LAB_COLUMNS):
        return "visits"
    if cols & {"sex", "transplant_date", "enrol_date", "arm", "cohort", "age_at_transplant_years"}:
        return "patients"
    ctx.fail("cannot tell whether this is a patients, visits or events table (no key columns "
             "recognised; add the site's column names to column_aliases.csv)", row=ctx.t.header_row)


# --------------------------------------------------------------------------------------------
# value parsing
# --------------------------------------------------------------------------------------------
def _factorize(s: pd.Series):
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    return codes, np.asarray(uniques, dtype=object)


def _take(values: np.ndarray, codes: np.ndarray, fill) -> np.ndarray:
    out = np.empty(len(codes), dtype=object)
    out[:] = fill
    ok = codes >= 0
    if len(values):
        out[ok] = values[codes[ok]]
    return out


def _first_row(ctx, mask):
    i = int(np.flatnonzero(mask)[0])
    return int(ctx.rows[i])


def _short(x, limit: int = 60) -> str:
    """``repr`` of a raw value for a message, cut to ``limit`` characters (a 1 MB cell must not
    become a 1 MB reason)."""
    r = repr(x)
    return r if len(r) <= limit else f"{r[:limit - 20]}... ({len(str(x))} characters)"


def _text_of(x) -> str:
    if isinstance(x, float) and x.is_integer():
        return str(int(x))
    if isinstance(x, (pd.Timestamp,)) or hasattr(x, "strftime"):
        return pd.Timestamp(x).strftime("%Y-%m-%d")
    return str(x)


def _parse_text(ctx: _Ctx, s: pd.Series, col: str, table: str) -> pd.Series:
    """Free text: outer spaces stripped, inner runs of spaces collapsed; ';'-lists tidied."""
    codes, uniq = _factorize(s)
    raw = np.array([_text_of(u) for u in uniq], dtype=object)
    new = np.array([re.sub(r"\s+", " ", u).strip() for u in raw], dtype=object)
    if col == "immunosuppressants":
        new = np.array([re.sub(r"\s*;\s*", ";", u).strip(";") for u in new], dtype=object)
    is_missing_tok = np.array([u.strip().casefold() in ctx.s.missing for u in raw], dtype=bool)
    changed_u = (new != raw) & ~is_missing_tok
    out = _take(np.where(is_missing_tok, None, new), codes, None)
    if changed_u.any() or is_missing_tok.any():
        rawv = _take(raw, codes, None)
        if changed_u.any():
            ctx.log(_take(changed_u, codes, False).astype(bool), col, rawv, out, "whitespace")
        if is_missing_tok.any():
            ctx.log(_take(is_missing_tok, codes, False).astype(bool), col, rawv, "", "missing_token")
    res = pd.Series(out, index=s.index, dtype=object)
    if col in schemas.EMPTY_IS_NONE:
        res = res.fillna("")
    return res


def _parse_label(ctx: _Ctx, s: pd.Series, col: str, table: str, bool_kind: bool = False) -> pd.Series:
    syn = ctx.s.synonyms.get("<bool>" if bool_kind else col, {})
    if col == "sex" and ctx.sex_codes:  # the site's declared codes (site_settings.csv, sex_codes)
        syn = {**syn, **ctx.sex_codes}
    codes, uniq = _factorize(s)
    raw = np.array([_text_of(u) if not isinstance(u, (bool, np.bool_)) else str(bool(u)) for u in uniq],
                   dtype=object)
    keys = [readers.normalise_name(u) for u in raw]
    vals, rules, bad, tok = [], [], [], []
    for r, k in zip(raw, keys):
        if k in syn:
            v = syn[k]
            v = {"True": True, "False": False}[v] if bool_kind else v
            vals.append(v)
            if bool_kind:
                rule = "" if k in ("true", "false") else "synonym"
            elif str(v) == r:
                rule = ""
            elif str(v) == re.sub(r"\s+", " ", r).strip():
                rule = "whitespace"
            elif str(v).casefold() == k:
                rule = "case" if r.strip() != r.strip().casefold() or r == r.strip() else "case+whitespace"
            else:
                rule = "synonym"
            rules.append(rule)
            bad.append(False)
            tok.append(False)
        elif r.strip().casefold() in ctx.s.missing:
            vals.append(None), rules.append("missing_token"), bad.append(False), tok.append(True)
        else:
            vals.append(None), rules.append(""), bad.append(True), tok.append(False)
    vals_a = np.empty(len(vals), dtype=object)
    vals_a[:] = vals
    out = _take(vals_a, codes, None)
    rawv = _take(raw, codes, None)
    rules_a = _take(np.array(rules, dtype=object), codes, "")
    for rule in ("whitespace", "case", "case+whitespace", "synonym", "missing_token"):
        m = rules_a == rule
        ctx.log(m, col, rawv, out, "label_" + rule if rule != "missing_token" else rule)
    badm = _take(np.array(bad, dtype=bool), codes, False).astype(bool)
    if col == "sex" and badm.any():
        _stop_on_undeclared_sex_codes(ctx, rawv, badm)
    if badm.any():
        allowed = "True/False" if bool_kind else ", ".join(VOCABULARY[col])
        fix = "add it to label_synonyms.csv" + (
            " or declare the site's sex_codes in site_settings.csv (e.g. 1=M;2=F)" if col == "sex" else "")
        ctx.quarantine(badm, lambda idx: [f"{col} {_short(rawv[i])} is not a known value ({allowed}); {fix}"
                                          for i in idx])
    res = pd.Series(out, index=s.index, dtype=object)
    if bool_kind:
        res = res.astype("boolean")
    return res


def _stop_on_undeclared_sex_codes(ctx: _Ctx, rawv: np.ndarray, badm: np.ndarray) -> None:
    """Numeric sex codes (``1``, ``2``...) that neither the vocabulary nor the site's ``sex_codes``
    declaration knows stop the run: which code is which sex is a property of the site's coding,
    which only its data manager can declare, so no row is quarantined for it. Unknown words
    (``X``, ``Femal``) are per-row problems and are quarantined by the caller."""
    positions = np.flatnonzero(badm)
    values = pd.Series(rawv[badm], dtype=object).map(lambda v: str(v).strip())
    is_code = values.str.fullmatch(r"\d+(\.0)?").to_numpy(dtype=bool)  # Excel may give 1.0 for 1
    if not is_code.any():
        return
    counts = values[is_code].str.replace(r"\.0$", "", regex=True).value_counts().sort_index()
    first = int(positions[np.flatnonzero(is_code)[0]])
    listed = ", ".join(f"{code!r} ({n} row{'s' * (n != 1)})" for code, n in counts.items())
    declaration = "sex_codes=" + ";".join(f"{code}=?" for code in counts.index) + " (each ? M or F)"
    if ctx.t.site:
        where = f"at site {ctx.t.site}"
        fix = (f"declare what each code means in the site's row of site_settings.csv or of a --settings "
               f"file: {declaration}")
    else:
        where = "in a file that matches no site of site_settings.csv"
        fix = (f"add a row for its site (site, file_pattern, encoding, date_order) to a --settings file, "
               f"with {declaration}")
    raise BadInputError(
        f"sex is coded as numbers {where}: {listed}, and no sex_codes are declared for them; {fix}",
        file=ctx.t.file, row=int(ctx.rows[first]), column="sex")


_DECIMAL_COMMA = re.compile(r"^\s*(-?\d+),(\d+)\s*$")


def _parse_number(ctx: _Ctx, s: pd.Series, col: str, integer: bool, raw_name: str = "") -> pd.Series:
    if ctx.decimal == "," and s.dtype == object:  # the site declared a decimal comma: "35,5" is 35.5
        s = s.map(lambda x: _DECIMAL_COMMA.sub(r"\1.\2", x) if isinstance(x, str) else x)
    if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        num = s.astype("float64")
    else:
        num = pd.to_numeric(s, errors="coerce")
        if num.dtype == object:  # bools or other objects from Excel
            num = pd.to_numeric(s.map(lambda x: x if isinstance(x, (int, float)) and not isinstance(x, bool)
                                      else np.nan), errors="coerce")
        num = num.astype("float64")
        failed = num.isna().to_numpy() & s.notna().to_numpy()
        if failed.any() and col in schemas.LAB_COLUMNS:
            raw = s.to_numpy(dtype=object)
            idx = np.flatnonzero(failed)
            hits = [(i, _CENSORED.match(str(raw[i]))) for i in idx]
            hits = [(i, m) for i, m in hits if m]
            if hits:
                ii = np.array([i for i, _ in hits])
                vals = num.to_numpy(copy=True)
                vals[ii] = [float(m.group(2)) for _, m in hits]
                num = pd.Series(vals, index=s.index)
                for side, ops in (("below", ("<", "<=", "≤")), ("above", (">", ">=", "≥"))):
                    mask = np.zeros(len(s), bool)
                    mask[[i for i, m in hits if m.group(1) in ops]] = True
                    ctx.log(mask, col, raw, vals, f"censored_{side}_limit_kept_as_bound")
                failed[ii] = False
        if failed.any():
            raw = s.to_numpy(dtype=object)
            idx = np.flatnonzero(failed)
            txt = np.empty(len(s), dtype=object)
            txt[idx] = [str(raw[i]).strip() for i in idx]
            tok = np.zeros(len(s), bool)
            tok[idx] = [t.casefold() in ctx.s.missing or t == "" for t in txt[idx]]
            ctx.log(tok, col, raw, "", "missing_token")
            bad = failed & ~tok
            if bad.any():
                present = int((s.notna().to_numpy() & ~tok).sum())
                if bad.sum() > UNPARSEABLE_COLUMN_SHARE * present:  # a column problem, not a row problem
                    first = int(np.flatnonzero(bad)[0])
                    ctx.fail(f"{col}: {int(bad.sum())} of {present} values are not numbers (first: "
                             f"{_short(txt[first])}; a decimal comma or a text column?)",
                             row=int(ctx.rows[first]), column=raw_name)
                ctx.quarantine(bad, lambda ii: [f"{col}: {_short(txt[i])} is not a number" for i in ii])
    if integer:
        v = num.to_numpy()
        frac = ~np.isnan(v) & (v != np.round(v))
        if frac.any():
            ctx.quarantine(frac, lambda idx: [f"{col}: {float(v[i])!r} is not a whole number" for i in idx])
    return num


def _parse_dates(ctx: _Ctx, s: pd.Series, col: str, raw_name: str) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(s):  # ISO dates typed by the CSV reader, Excel date cells
        n = int(s.notna().sum())
        if n:
            ctx.dates.append(dict(file=ctx.t.file, column=col, date_order=ctx.date_order,
                                  format="ISO 8601 (typed on reading)", values=n))
        return s.dt.normalize().astype("datetime64[ns]")
    codes, uniq = _factorize(s)
    parsed = np.full(len(uniq), np.datetime64("NaT"), dtype="datetime64[ns]")
    fmt_used = np.full(len(uniq), "", dtype=object)
    is_str = np.array([isinstance(u, str) for u in uniq], dtype=bool)
    for i, u in enumerate(uniq):
        if isinstance(u, str):
            continue
        if isinstance(u, (pd.Timestamp, np.datetime64)) or hasattr(u, "year"):
            parsed[i] = pd.Timestamp(u).normalize().to_datetime64()
            fmt_used[i] = "Excel date cell"
        elif isinstance(u, (int, float, np.integer, np.floating)) and not isinstance(u, bool) \
                and 1000 <= float(u) <= 100000 and float(u).is_integer():
            parsed[i] = (_EXCEL_ORIGIN + pd.Timedelta(days=int(u))).to_datetime64()
            fmt_used[i] = "Excel serial number"
    strs = np.array([u.strip() if isinstance(u, str) else "" for u in uniq], dtype=object)
    tok = is_str & np.array([x.casefold() in ctx.s.missing or x == "" for x in strs], dtype=bool)
    todo = is_str & ~tok
    order = ctx.date_order
    formats = list(_UNAMBIGUOUS) + (_ORDERED.get(order, []))
    for fmt in formats:
        if not todo.any():
            break
        idx = np.flatnonzero(todo)
        got = pd.to_datetime(pd.Series(strs[idx]), format=fmt, errors="coerce").to_numpy()
        ok = ~np.isnat(got)
        parsed[idx[ok]] = got[ok]
        fmt_used[idx[ok]] = fmt
        todo[idx[ok]] = False
    if todo.any() and order not in _ORDERED:
        amb = [i for i in np.flatnonzero(todo) if _NUMERIC_DM.match(strs[i])]
        if amb:
            rowmask = codes == amb[0]
            ctx.fail(f"date {strs[amb[0]]!r}: day/month order unknown for site "
                     f"{ctx.t.site or '(no site matched)'}; set date_order (DMY or MDY) in site_settings.csv",
                     row=_first_row(ctx, rowmask), column=raw_name)
    out = pd.Series(parsed[codes], index=s.index) if len(uniq) else pd.Series(pd.NaT, index=s.index)
    out[codes < 0] = pd.NaT
    out = out.astype("datetime64[ns]")
    badu = todo | (~is_str & np.isnat(parsed) & ~tok)
    bad = (codes >= 0) & badu[np.maximum(codes, 0)] if len(uniq) else np.zeros(len(s), bool)
    nonmissing = (codes >= 0) & ~(tok[np.maximum(codes, 0)] if len(uniq) else False)
    if bad.any():
        share = bad.sum() / max(1, nonmissing.sum())
        first = _first_row(ctx, bad)
        example = _text_of(uniq[codes[np.flatnonzero(bad)[0]]])
        if share > UNPARSEABLE_COLUMN_SHARE:
            ctx.fail(f"unparseable date column: {bad.sum()} of {nonmissing.sum()} dates cannot be read "
                     f"(first: {_short(example)}; site date_order {order or 'not set'})", row=first, column=raw_name)
        rawv = _take(uniq, codes, None)
        ctx.quarantine(bad, lambda idx: [f"{col}: date {_short(_text_of(rawv[i]))} cannot be parsed "
                                         f"(site date_order {order or 'not set'})" for i in idx])
    tokm = (codes >= 0) & (tok[np.maximum(codes, 0)] if len(uniq) else False)
    ctx.log(tokm, col, _take(uniq, codes, None), "", "missing_token")
    counts = pd.Series(fmt_used[codes[codes >= 0]]).value_counts() if len(uniq) else pd.Series(dtype=int)
    for fmt, n in counts.items():
        if fmt:
            ctx.dates.append(dict(file=ctx.t.file, column=col, date_order=order, format=fmt, values=int(n)))
    return out


# --------------------------------------------------------------------------------------------
# units
# --------------------------------------------------------------------------------------------
def _harmonise_units(ctx: _Ctx, out: pd.DataFrame, unit_info: dict, unit_cols: dict) -> None:
    """Convert each lab column to its canonical unit (``docs/design.md``), in place, logging every cell."""
    units = ctx.s.units
    for col, (header_unit, raw_name) in unit_info.items():
        u = units[units["column"] == col]
        if u.empty:
            continue
        factor_of = dict(zip(u["unit"], u["factor"].astype(float)))
        canon = u.loc[u["factor"] == 1.0, "unit"].iloc[0]
        v = out[col].to_numpy(dtype="float64")
        has = ~np.isnan(v)
        unit_row = np.empty(len(v), dtype=object)
        source = np.empty(len(v), dtype=object)
        if col in unit_cols:
            ucid, uraw_name = unit_cols[col]
            us = ctx.t.data[ucid]
            codes, uniq = _factorize(us)
            keys = np.array([ctx.s.spellings.get(_norm_unit(x), None) if str(x).strip().casefold()
                             not in ctx.s.missing else "" for x in uniq], dtype=object)
            for i, k in enumerate(keys):
                if k is None or (k != "" and k not in factor_of):
                    ctx.fail(f"unknown unit {str(uniq[i])!r} for {col} (known: {', '.join(factor_of)}); "
                             "add it to units.csv / unit_spellings.csv",
                             row=_first_row(ctx, codes == i), column=uraw_name)
            unit_row = _take(keys, codes, "")
            unit_row[unit_row == ""] = None
            source[:] = "unit column"
        elif header_unit:
            unit_row[:] = header_unit
            source[:] = "header" if header_unit != canon or readers.normalise_name(raw_name) != \
                readers.normalise_name(col) else "data-model name"
        elif len(set(factor_of.values())) == 1:  # every accepted unit is the canonical one
            unit_row[:] = canon
            source[:] = "only unit"
        need = has & pd.isna(pd.Series(unit_row)).to_numpy()
        inferred = np.zeros(len(v), bool)
        if need.any():
            u = u.drop_duplicates("factor")  # spellings of the same unit count once
            disjoint = _ranges_disjoint(u)
            if not disjoint:
                if col in unit_cols:
                    ctx.quarantine(need, f"{col}: value without a unit, and the units "
                                         f"({', '.join(factor_of)}) overlap, so the unit cannot be inferred")
                    need = np.zeros(len(v), bool)
                else:
                    ctx.fail(f"no unit for {col}, and its units ({', '.join(factor_of)}) have overlapping "
                             "plausible ranges; add a unit column or put the unit in the header",
                             row=ctx.t.header_row, column=raw_name)
            fits = np.zeros((len(u), len(v)), bool)
            for j, (un, lo, hi) in enumerate(zip(u["unit"], u["min"].astype(float), u["max"].astype(float))):
                fits[j] = need & (v >= lo) & (v <= hi)
            nfit = fits.sum(axis=0)
            ok = need & (nfit == 1)
            pick = np.argmax(fits, axis=0)
            unit_row[ok] = u["unit"].to_numpy()[pick[ok]]
            source[ok] = "inferred from magnitude"
            inferred = ok
            nofit = need & (nfit == 0)
            if nofit.any():
                rng = "; ".join(f"{a} {lo:g}-{hi:g}" for a, lo, hi in zip(u["unit"], u["min"], u["max"]))
                ctx.quarantine(nofit, lambda idx, v=v, rng=rng, col=col: [
                    f"{col}: value {v[i]!r} without unit fits no plausible range ({rng})" for i in idx])
        fac = pd.Series(unit_row).map(factor_of).to_numpy(dtype="float64")
        new = v * fac
        conv = has & ~np.isnan(fac) & (fac != 1.0)
        for mask, rule in ((inferred, "unit_inferred_from_magnitude"), (conv & ~inferred, "unit_conversion")):
            if mask.any():
                old_txt = np.empty(len(v), dtype=object)
                old_txt[mask] = _texts(v, mask, int(mask.sum())) + " " + unit_row[mask]
                ctx.log(mask, col, old_txt, new, rule, text_old=True)
        out[col] = pd.Series(np.where(has, new, np.nan), index=out[col].index)
        tab = pd.DataFrame({"unit": unit_row[has], "source": source[has]})
        for (un, src), n in tab.value_counts(sort=False).items():
            ctx.units.append(dict(file=ctx.t.file, column=col, unit=un, source=src,
                                  factor=factor_of.get(un, np.nan), values=int(n)))


def _ranges_disjoint(u: pd.DataFrame) -> bool:
    r = sorted(zip(u["min"].astype(float), u["max"].astype(float)))
    return all(r[i][1] < r[i + 1][0] for i in range(len(r) - 1))


# --------------------------------------------------------------------------------------------
# one raw table
# --------------------------------------------------------------------------------------------
def _process_table(t: readers.RawTable, settings: _Settings):
    ctx = _Ctx(t, settings)
    found = _map_columns(ctx)
    value_cols = {v[0]: cid for cid, v in found.items() if v[1] == "value"}
    kind = _table_kind(ctx, set(value_cols))
    if kind == "events" and "event_date" not in value_cols and "visit_date" in value_cols:
        value_cols["event_date"] = value_cols.pop("visit_date")  # a "Date" column in an events table
        found[value_cols["event_date"]] = ("event_date",) + found[value_cols["event_date"]][1:]
        ctx.mapping = [dict(m, column="event_date") if m["column"] == "visit_date" else m for m in ctx.mapping]
    for c in REQUIRED[kind]:
        if c not in value_cols:
            ctx.fail(f"required column {c!r} of the {kind} table not found (columns: "
                     f"{', '.join(t.columns)}); add the site's name for it to column_aliases.csv",
                     row=t.header_row, column=c)
    foreign = [c for c in value_cols if c not in TABLES[kind]]
    for m in ctx.mapping:
        if m["column"] in foreign:
            m["status"] = f"not a {kind} column (ignored)"
    for c in foreign:
        value_cols.pop(c)
    unit_cols = {v[0]: (cid, v[3]) for cid, v in found.items() if v[1] == "unit"}
    data = t.data
    # a row is empty when every cell is missing or blank (checked cheaply: numbers first)
    empty = np.ones(len(data), bool)
    for c in data.columns:
        if data[c].dtype != object:
            empty &= data[c].isna().to_numpy()
    for c in data.columns:
        if data[c].dtype == object and empty.any():
            idx = np.flatnonzero(empty)
            vals = data[c].to_numpy()[idx]
            empty[idx] = [x is None or (isinstance(x, float) and np.isnan(x)) or (isinstance(x, str) and not x.strip())
                          for x in vals]
    ctx.quarantine(empty, "empty row")
    out = {}
    unit_info = {}
    for col, ck in TABLES[kind].items():
        if col not in value_cols:
            if ck == "date":
                out[col] = pd.Series(pd.NaT, index=data.index, dtype="datetime64[ns]")
            elif ck in ("float", "int"):
                out[col] = pd.Series(np.nan, index=data.index)
            elif ck in ("bool", "nbool"):
                out[col] = pd.Series(pd.NA, index=data.index, dtype="boolean")
            else:
                out[col] = pd.Series("" if col in schemas.EMPTY_IS_NONE else None, index=data.index, dtype=object)
            continue
        cid = value_cols[col]
        raw_name = found[cid][3]
        s = data[cid]
        if ck == "str":
            out[col] = _parse_text(ctx, s, col, kind)
        elif ck == "label":
            out[col] = _parse_label(ctx, s, col, kind)
        elif ck in ("bool", "nbool"):
            out[col] = _parse_label(ctx, s, col, kind, bool_kind=True)
        elif ck in ("float", "int"):
            out[col] = _parse_number(ctx, s, col, integer=(ck == "int"), raw_name=raw_name)
            if col in set(settings.units["column"]):
                unit_info[col] = (found[cid][2], raw_name)
        elif ck == "date":
            out[col] = _parse_dates(ctx, s, col, raw_name)
    if ctx.id_case and "patient_id" in value_cols:  # the site declared its IDs case-insensitive
        pid = out["patient_id"]
        folded = pid.str.upper() if ctx.id_case == "upper" else pid.str.lower()
        changed = (pid.notna() & (folded != pid)).to_numpy()
        ctx.log(changed, "patient_id", pid.to_numpy(dtype=object), folded.to_numpy(dtype=object), "id_case_folded")
        out["patient_id"] = folded
    _harmonise_units(ctx, out, unit_info, unit_cols)
    # missing values where the data model does not allow them
    for col in TABLES[kind]:
        if col in NULLABLE[kind] or col in schemas.EMPTY_IS_NONE:
            continue
        if TABLES[kind][col] == "str" and col not in ("patient_id", "cohort"):
            continue
        prior = np.zeros(len(data), bool)
        for m_, _ in ctx.q_mask:
            prior |= m_
        miss = out[col].isna().to_numpy() & ~prior  # (unreadable values already have their reason)
        ctx.quarantine(miss, f"missing {col}")
    # quarantine reasons per row
    qreason = _combine_reasons(ctx.n, ctx.q_mask)
    out = pd.DataFrame({"_file": t.file, "_row": t.rows, **out})
    q = qreason != ""
    quar = pd.DataFrame({"file": t.file, "row": t.rows[q], "table": kind,
                         "patient_id": out["patient_id"].to_numpy()[q], "reason": qreason[q]})
    return kind, (_keep(out, ~q) if q.any() else out), ctx, quar


#: Raw rows from which a cleaning run collects garbage and trims the heap between its stages
#: (:func:`_release_memory`; below it, the ~70 ms of a collection would be a tenth of the run).
RELEASE_MEMORY_MIN_ROWS = 100_000


def _release_memory(n_rows: int) -> None:
    """For a run over ``n_rows`` raw rows (at least ``RELEASE_MEMORY_MIN_ROWS``): collect garbage
    (pandas objects form reference cycles) and give freed heap memory back to the operating system
    (glibc ``malloc_trim``; skipped elsewhere). Freed Python strings and arrays otherwise stay in
    the process's resident memory, which then grows with every stage of a large cleaning run."""
    import ctypes
    import gc

    if n_rows < RELEASE_MEMORY_MIN_ROWS:
        return
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        pass


def _keep(df: pd.DataFrame, mask: np.ndarray) -> pd.DataFrame:
    """The rows of ``df`` where ``mask`` holds, with a fresh 0..n-1 index: ``df[mask].reset_index(
    drop=True)`` without the second copy of every column that ``reset_index`` makes."""
    out = df[mask]
    out.index = pd.RangeIndex(len(out))
    return out


def _combine_reasons(n: int, parts) -> np.ndarray:
    reason = np.full(n, "", dtype=object)
    for mask, r in parts:
        idx = np.flatnonzero(mask)
        texts = [r] * len(idx) if isinstance(r, str) else list(r(idx))
        for i, add in zip(idx, texts):
            reason[i] = add if reason[i] == "" else f"{reason[i]}; {add}"
    return reason


# --------------------------------------------------------------------------------------------
# whole directory
# --------------------------------------------------------------------------------------------
def _py(x):
    return x.item() if hasattr(x, "item") else x


def _run_schema(schema, df: pd.DataFrame, table: str, report: list, label: str) -> pd.Series:
    """Validate; return a reason per failing row (index of ``df``) and add to the report."""
    reasons = pd.Series("", index=df.index, dtype=object)
    failures = pd.DataFrame(columns=["column", "check", "index", "failure_case"])
    try:
        schema.validate(df, lazy=True, inplace=True)  # no coercion: nothing to change, so no copy
    except pandera.errors.SchemaErrors as err:
        failures = err.failure_cases
    except pandera.errors.SchemaError as err:  # pragma: no cover - lazy=True raises SchemaErrors
        raise BadInputError(f"{table}: {err}") from None
    rows_checked = len(df)
    counted = failures.assign(column=failures["column"].fillna(""), check=failures["check"].astype(str))
    # row-level failures -> reasons
    rowf = counted[counted["index"].notna()]
    schema_level = counted[counted["index"].isna()]
    if len(schema_level):
        f = schema_level.iloc[0]
        raise BadInputError(f"{table} table fails the schema: {f['column']} {f['check']} "
                            f"({f['failure_case']})", column=f["column"] or None)
    wide = {chk.name for chk in schema.checks}
    title = {}
    for c in schema.columns.values():
        for chk in c.checks:
            title[chk.error or chk.name] = chk.title or chk.name
    for (col, chk), g in rowf.groupby(["column", "check"], sort=False):
        idx = g["index"].astype(int).to_numpy()
        if chk in wide:  # a whole-row check: pandera lists every column; one reason per row
            texts = [f"fails {chk}"] * len(idx)
            seen = set()
            keep = [k for k, i in enumerate(idx) if not (i in seen or seen.add(i))]
            idx = idx[keep]
            texts = [texts[k] for k in keep]
        else:
            desc = title.get(chk, chk)
            texts = [f"{col} fails {desc} ({chk}; value {_text_of(_py(fc))})" if desc != chk
                     else f"{col} fails {chk} (value {_text_of(_py(fc))})" for fc in g["failure_case"].to_numpy()]
        for i, tx in zip(idx, texts):
            if tx not in reasons.at[i]:
                reasons.at[i] = tx if reasons.at[i] == "" else f"{reasons.at[i]}; {tx}"
    rowf = rowf.assign(column=np.where(rowf["check"].isin(wide), "", rowf["column"]))
    # report every check of the schema
    items = []
    for cname, c in schema.columns.items():
        items.append((cname, f"dtype('{c.dtype}')"))
        if not c.nullable:
            items.append((cname, "not_nullable"))
        if c.unique:
            items.append((cname, "field_uniqueness"))
        for chk in c.checks:
            items.append((cname, chk.error or chk.name))
    for chk in schema.checks:
        items.append(("", chk.name or str(chk)))
    nfail = rowf.groupby(["column", "check"])["index"].nunique().to_dict() if len(rowf) else {}
    for cname, chk in items:
        n = int(nfail.get((cname, chk), 0))
        report.append(dict(table=label, column=cname, check=title.get(chk, chk), rule=chk,
                           rows_checked=rows_checked, rows_failed=n,
                           status="pass" if n == 0 else "fail: rows quarantined"))
    known = {(a, b) for a, b in items}
    for (cname, chk), n in nfail.items():
        if (cname, chk) not in known:
            report.append(dict(table=label, column=cname, check=title.get(chk, chk), rule=chk,
                               rows_checked=rows_checked, rows_failed=int(n), status="fail: rows quarantined"))
    return reasons


def clean_directory(raw_dir, out_dir=None, settings=None, *, aliases=None, synonyms=None,
                    progress: bool | None = None, allow_partial: bool = False) -> CleaningResult:
    """Clean every export in ``raw_dir``.

    Parameters
    ----------
    raw_dir : str or Path
        Folder of CSV / ``.xlsx`` exports (not recursive).
    out_dir : str or Path, optional
        If given, write the clean tables and reports there (see :meth:`CleaningResult.write`).
    settings : str, Path or DataFrame, optional
        Extra site-settings rows (``site, file_pattern, encoding, date_order`` and, optionally,
        ``delimiter`` (``,``, ``;``, ``tab``, ``|``), ``decimal`` (``,`` for a decimal comma),
        ``sex_codes`` (e.g. ``1=M;2=F``; numeric sex codes that no declaration covers stop the run
        with the declaration to add), ``id_case`` (``upper`` / ``lower``: fold patient IDs),
        ``note``); a site given here replaces the bundled row of the same name.
    aliases, synonyms : str, Path or DataFrame, optional
        Extra rows for ``column_aliases.csv`` / ``label_synonyms.csv``.
    progress : bool, optional
        Show a tqdm bar over files (default: only on an interactive terminal).
    allow_partial : bool
        Go on when a file or a site loses more than ``SITE_LOSS_MAX_SHARE`` of its rows to
        quarantine (and at least ``SITE_LOSS_MIN_ROWS``); the result's ``warnings`` say so.
        Default False (unless ``run --allow-partial`` set it for the kernels): such a loss stops the
        run.

    Returns
    -------
    CleaningResult

    Raises
    ------
    BadInputError
        A file or column the run cannot accept (message names file, row, column and reason), or
        a file or site that lost more than ``SITE_LOSS_MAX_SHARE`` of its rows (unless
        ``allow_partial``).
    """
    s = load_settings(settings, aliases, synonyms)
    allow_partial = allow_partial or config.allow_partial()  # `run --allow-partial`, in a kernel
    alias_keys = frozenset(s.aliases)
    tables, inventory = readers.read_directory(raw_dir, s.sites, alias_keys)
    if progress is None:
        progress = sys.stderr.isatty()
    from tqdm import tqdm  # (not tqdm.auto: in a kernel without ipywidgets it warns on stderr)

    frames = {k: [] for k in TABLE_ORDER}
    logs, quars, mapping, units, dates = [], [], [], [], []
    kind_of = {}
    raw_rows = {}
    for t in tqdm(tables, desc="cleaning files", disable=not progress):
        kind, frame, ctx, quar = _process_table(t, s)
        kind_of[t.file] = kind
        raw_rows[t.file] = len(t.data)
        t.data = t.data.iloc[:0]  # the raw cells are no longer needed: free them before the next file
        frames[kind].append(frame)
        logs.extend(ctx.logs)
        quars.append(quar)
        mapping.extend(ctx.mapping)
        units.extend(ctx.units)
        dates.extend(ctx.dates)
    n_raw = sum(raw_rows.values())
    _release_memory(n_raw)
    missing_tables = [k for k in TABLE_ORDER if not frames[k]]
    if missing_tables:
        raise BadInputError(f"no {' / '.join(missing_tables)} table found among the exports "
                            f"({', '.join(t.file for t in tables)})", file=Path(raw_dir).name)
    dup_rows = []
    report: list = []
    clean = {}
    for table in TABLE_ORDER:
        if table != TABLE_ORDER[0]:
            _release_memory(n_raw)
        df = pd.concat(frames[table], ignore_index=True) if len(frames[table]) > 1 else frames[table][0]
        frames[table] = None  # (the per-file frames are in df now)
        df = datamodel.to_model_dtypes(table, df)
        cols = list(TABLES[table])
        # 1. exact duplicates (identical after cleaning): keep the first, merge the others
        hv = np.zeros(len(df), dtype=np.uint64)  # row hash, column by column (no copy of the frame)
        for c in cols:
            hc = pd.util.hash_pandas_object(df[c] if table == "visits" else df[c].astype(str), index=False)
            hv = (hv * np.uint64(1099511628211)) ^ hc.to_numpy()
        dup = pd.Series(hv).duplicated(keep="first").to_numpy()
        if dup.any():
            cand = np.isin(hv, hv[dup])  # rows whose hash has a duplicate (few)
            firsts = pd.Series(np.flatnonzero(cand), index=hv[cand])
            firsts = firsts[~firsts.index.duplicated(keep="first")]
            fi = firsts.loc[hv[dup]].to_numpy()
            same = (df.loc[dup, cols].reset_index(drop=True).astype(str)
                    == df.loc[fi, cols].reset_index(drop=True).astype(str)).all(axis=1).to_numpy()
            di = np.flatnonzero(dup)[same]
            fi = fi[same]
            dup = np.zeros(len(df), bool)
            dup[di] = True
            dup_rows.append(pd.DataFrame({"file": df["_file"].to_numpy()[di], "row": df["_row"].to_numpy()[di],
                                          "table": table, "duplicate_of_file": df["_file"].to_numpy()[fi],
                                          "duplicate_of_row": df["_row"].to_numpy()[fi]}))
        if dup.any():
            df = _keep(df, ~dup)
        # 2. conflicting duplicates: same key, different values -> quarantine all of them
        key = KEYS[table]
        conflict = df.duplicated(key, keep=False).to_numpy()
        if conflict.any():
            sub = df[conflict]
            reasons = []
            for _, g in sub.groupby(key, sort=False):
                diff = [c for c in cols if g[c].astype(str).nunique(dropna=False) > 1]
                where = ", ".join(f"{f} row {r}" for f, r in zip(g["_file"], g["_row"]))
                kdesc = " ".join(f"{k}={_text_of(g[k].iloc[0])}" for k in key)
                for i in g.index:
                    reasons.append((i, f"conflicting duplicate ({kdesc}): rows {where} differ in "
                                       f"{', '.join(diff)}"))
            idx = [i for i, _ in reasons]
            quars.append(pd.DataFrame({"file": df.loc[idx, "_file"].to_numpy(), "row": df.loc[idx, "_row"].to_numpy(),
                                       "table": table, "patient_id": df.loc[idx, "patient_id"].to_numpy(),
                                       "reason": [r for _, r in reasons]}))
            df = _keep(df, ~conflict)
        # 3. pandera: types, ranges, allowed values, one row per patient
        body = df[cols]
        reasons = _run_schema(schemas.table_schema(table), body, table, report, table)
        del body
        # 4. cross-table: the patient must be clean; visits / events in follow-up order
        if table != "patients":
            pat = clean["patients"].set_index("patient_id")
            known = df["patient_id"].isin(pat.index).to_numpy()
            qp = [q for q in quars if len(q) and (q["table"] == "patients").any()]
            quarantined_ids = set(pd.concat(qp)["patient_id"].dropna()) if qp else set()
            unknown_reason = np.full(len(df), "patient not in the patients table", dtype=object)  # (one str object)
            unknown_reason[df["patient_id"].isin(quarantined_ids).to_numpy()] = "its patient is quarantined"
            folded = {str(k).casefold(): k for k in pat.index}
            for i in np.flatnonzero(~known & (unknown_reason == "patient not in the patients table")):
                pid = df["patient_id"].iat[i]
                twin = folded.get(str(pid).casefold()) if pid is not None else None
                if twin is not None:
                    unknown_reason[i] = (f"patient not in the patients table ({pid!r} differs only in case "
                                         f"from {twin!r}: fix the ID in the export, or declare the site's "
                                         "id_case in site_settings.csv)")
            r2 = pd.Series(np.where(known, "", unknown_reason), index=df.index, dtype=object)
            need = ["patient_id", "visit_date", "visit_month"] if table == "visits" else \
                ["patient_id", "event_date", "event"]
            j = df.loc[known, need].join(pat[["enrol_date", "transplant_date", "last_contact_date", "death_date"]],
                                         on="patient_id")
            j["_start"] = j["transplant_date"].fillna(j["enrol_date"])
            if len(j):
                r3 = _run_schema(schemas.cross_table_schemas()[table], j, table, report,
                                 f"{table} x patients")
                r2.loc[r3.index] = r3
            both = (reasons != "").to_numpy() & (r2 != "").to_numpy()
            merged = np.where(reasons == "", r2, reasons).astype(object)
            if both.any():
                merged[both] = reasons[both].to_numpy() + "; " + r2[both].to_numpy()
            reasons = pd.Series(merged, index=df.index, dtype=object)
        bad = (reasons != "").to_numpy()
        if bad.any():
            quars.append(pd.DataFrame({"file": df.loc[bad, "_file"].to_numpy(), "row": df.loc[bad, "_row"].to_numpy(),
                                       "table": table, "patient_id": df.loc[bad, "patient_id"].to_numpy(),
                                       "reason": reasons[bad].to_numpy()}))
        clean[table] = _keep(df, ~bad) if bad.any() else df
    # outputs
    _release_memory(n_raw)
    log = _sorted_log(logs)
    quarantine = pd.concat(quars, ignore_index=True)[QUARANTINE_COLUMNS] if quars else \
        pd.DataFrame(columns=QUARANTINE_COLUMNS)
    quarantine = quarantine.sort_values(["file", "row"], kind="stable", ignore_index=True)
    quarantine["row"] = quarantine["row"].astype("int64")
    duplicates = pd.concat(dup_rows, ignore_index=True) if dup_rows else pd.DataFrame(
        columns=["file", "row", "table", "duplicate_of_file", "duplicate_of_row"])
    duplicates = duplicates.sort_values(["file", "row"], ignore_index=True)
    accounting = _accounting(tables, kind_of, clean, duplicates, quarantine, raw_rows)
    if not accounting["balanced"].all():  # nothing may be dropped silently
        bad = accounting[~accounting["balanced"]].iloc[0]
        raise BadInputError("row accounting does not balance (raw rows != kept + merged + quarantined): "
                            "a defect of cleaning itself; please report it with this file", file=bad["file"])
    warnings = _repeated_files(accounting, duplicates) + _missing_visits(clean)
    warnings += _heavy_losses(accounting, quarantine, {t.file: t.site for t in tables}, allow_partial)
    _release_memory(n_raw)
    result = CleaningResult(
        tables={k: datamodel.conform(k, clean.pop(k)) for k in list(clean)},  # one copy at a time
        log=log, quarantine=quarantine, duplicates=duplicates,
        validation=pd.DataFrame(report), accounting=accounting,
        mapping=pd.DataFrame(mapping, columns=["file", "raw_column", "column", "role", "unit", "status"]),
        units=pd.DataFrame(units, columns=["file", "column", "unit", "source", "factor", "values"]),
        dates=pd.DataFrame(dates, columns=["file", "column", "date_order", "format", "values"]),
        inventory=inventory, warnings=warnings)
    if out_dir is not None:
        result.write(out_dir)
    return result


def _missing_visits(clean: dict) -> list[str]:
    """Warnings for kept patients without any kept visit (remission endpoints and labs are
    undefined for them; survival is not) and without a kept baseline (month-0) visit (no change
    from baseline, no partial remission)."""
    p, v = clean["patients"]["patient_id"], clean["visits"]
    out = []
    for what, ids in (("no visits", p[~p.isin(v["patient_id"])]),
                      ("no baseline (month-0) visit", p[p.isin(v["patient_id"])
                                                       & ~p.isin(v.loc[v["visit_month"] == 0, "patient_id"])])):
        if len(ids):
            shown = ", ".join(sorted(map(str, ids))[:5]) + (", ..." if len(ids) > 5 else "")
            out.append(f"{len(ids)} patient{'s' if len(ids) > 1 else ''} with {what} ({shown}): "
                       "remission and change from baseline are undefined for "
                       f"{'them' if len(ids) > 1 else 'this patient'}")
    return out


def _repeated_files(accounting: pd.DataFrame, duplicates: pd.DataFrame) -> list[str]:
    """Warnings for files whose every row is an exact copy of rows of one other file."""
    out = []
    for r in accounting.itertuples():
        d = duplicates[duplicates["file"] == r.file]
        if r.raw_rows and len(d) == r.raw_rows and d["duplicate_of_file"].nunique() == 1 \
                and d["duplicate_of_file"].iat[0] != r.file:
            out.append(f"file {r.file} repeats {d['duplicate_of_file'].iat[0]}: all {r.raw_rows} rows are exact "
                       "copies (the same export delivered twice?); they were merged, not counted twice")
    return out


def _heavy_losses(accounting: pd.DataFrame, quarantine: pd.DataFrame, site_of: dict,
                  allow_partial: bool) -> list[str]:
    """Stop (or, with ``allow_partial``, warn) when a file or a site lost more than
    ``SITE_LOSS_MAX_SHARE`` of its raw rows (and at least ``SITE_LOSS_MIN_ROWS``) to quarantine."""
    a = accounting.assign(site=accounting["file"].map(site_of).fillna(""),
                          _order=accounting["table"].map(TABLE_ORDER.index))
    a = a.sort_values(["_order", "file"], kind="stable")  # patients first: the cause, not its orphans
    groups = [("file", f, a[a["file"] == f]) for f in a["file"]]
    groups += [("site", s, a[a["site"] == s]) for s in sorted(set(a["site"]) - {""})]
    out = []
    for what, name, g in groups:
        raw, lost = int(g["raw_rows"].sum()), int(g["quarantined"].sum())
        if lost < SITE_LOSS_MIN_ROWS or lost <= SITE_LOSS_MAX_SHARE * raw:
            continue
        q = quarantine[quarantine["file"].isin(g["file"])]
        top = q["reason"].value_counts()
        msg = (f"{lost} of {raw} rows ({100 * lost / raw:.0f}%) quarantined, {top.iat[0]} of them as "
               f"{top.index[0]!r}; more than {100 * SITE_LOSS_MAX_SHARE:.0f}% of a "
               f"{'file' if what == 'file' else 'site'} is a missing or mis-named file or an undeclared "
               "site coding, not a few bad rows. Fix the export or the settings, or pass --allow-partial "
               "(allow_partial=True) to go on")
        if not allow_partial:
            raise BadInputError(msg, file=name if what == "file" else f"{', '.join(g['file'])} (site {name})")
        out.append(f"{what} {name}: {msg.split('. Fix')[0]}; going on (allow_partial)")
    return out


def _sorted_log(logs: list) -> pd.DataFrame:
    """Concatenate log parts sorted by file, row, column (per-file numeric sort: fast at 1M rows)."""
    if not logs:
        return pd.DataFrame(columns=LOG_COLUMNS)
    by_file: dict = {}
    for part in logs:
        by_file.setdefault(part["file"].iat[0], []).append(part)
    out = []
    for f in sorted(by_file):
        d = pd.concat(by_file[f], ignore_index=True)
        col_code = pd.factorize(d["column"], sort=True)[0]
        order = np.lexsort((col_code, d["row"].to_numpy()))
        out.append(d.iloc[order])
    return pd.concat(out, ignore_index=True)[LOG_COLUMNS]


def _accounting(tables, kind_of, clean, duplicates, quarantine, raw_rows=None) -> pd.DataFrame:
    kept = pd.concat([v["_file"] for v in clean.values()]).value_counts()
    merged = duplicates["file"].value_counts()
    quar = quarantine["file"].value_counts()
    rows = []
    for t in tables:
        n_raw = len(t.data) if raw_rows is None else raw_rows[t.file]
        r = dict(file=t.file, table=kind_of[t.file], raw_rows=n_raw, kept=int(kept.get(t.file, 0)),
                 merged_duplicates=int(merged.get(t.file, 0)), quarantined=int(quar.get(t.file, 0)))
        r["balanced"] = r["raw_rows"] == r["kept"] + r["merged_duplicates"] + r["quarantined"]
        rows.append(r)
    return pd.DataFrame(rows).sort_values("file", ignore_index=True)


# --------------------------------------------------------------------------------------------
# checks and summaries used by notebook 01 and the tests
# --------------------------------------------------------------------------------------------
def missingness(tables: dict, by: str = "cohort") -> pd.DataFrame:
    """Share of missing values per visits column (labs) and ``by`` group.

    Returns
    -------
    DataFrame
        ``column``, ``by`` value, ``visits``, ``missing``, ``pct_missing`` (0-100, 1 decimal).
    """
    v = tables["visits"].merge(tables["patients"][["patient_id", by]], on="patient_id", how="left")
    rows = []
    for col in schemas.LAB_COLUMNS:
        g = v.groupby(by, sort=True)[col]
        for key, s in g:
            rows.append(dict(column=col, **{by: key}, visits=len(s), missing=int(s.isna().sum())))
    out = pd.DataFrame(rows)
    out["pct_missing"] = (100 * out["missing"] / out["visits"]).round(1)
    return out
