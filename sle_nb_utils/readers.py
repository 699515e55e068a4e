"""Reading raw hospital exports: CSV (UTF-8, UTF-8 with BOM, latin-1; ',' ';' or tab) and ``.xlsx``
(several sheets, header not on line 1), with the settings a data manager keeps per site.

Everything that makes a file unreadable raises :class:`~sle_nb_utils.errors.BadInputError` naming
the file, the row and the reason. Each sheet/CSV becomes a :class:`RawTable` whose rows carry the
1-based line number a spreadsheet shows, so every later log entry can point back at the raw cell.
"""

from __future__ import annotations

import csv
import fnmatch
import io as _io  # the standard library's io (this module was once sle_nb_utils/io.py)
import re
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

from . import config
from .errors import BadInputError

HEADER_SCAN_LINES = 30  # the header must be within the first 30 lines of a file or sheet
DATA_SUFFIXES = {".csv", ".xlsx"}
_MOJIBAKE = re.compile("[ÃÂ][\u0080-\u00bf]")  # UTF-8 bytes decoded as latin-1 ("Âµ", "Ã©")


@dataclass
class RawTable:
    """One table of a raw export (a CSV file or one sheet of a workbook).

    Attributes
    ----------
    file : str
        Name used in every report: ``visits.csv`` or ``book.xlsx[Sheet]``.
    site : str
        Site whose settings apply (``resources/site_settings.csv``), ``""`` if none matched.
    encoding : str
        Text encoding used (``utf-8-sig``, ``latin-1``) or ``xlsx``.
    header_row : int
        1-based line of the header row.
    columns : list of str
        Raw header names, as in the file.
    data : pandas.DataFrame
        Raw cells, one column per header (positional names ``c0``, ``c1``, ...).
    rows : numpy.ndarray
        1-based line number of each data row (for CSV: the line, assuming no line breaks inside
        quoted fields; for Excel: the sheet row).
    delimiter : str
        CSV delimiter (``""`` for Excel).
    """

    file: str
    site: str
    encoding: str
    header_row: int
    columns: list
    data: pd.DataFrame
    rows: np.ndarray
    delimiter: str = ""
    notes: list = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# settings (resources, extensible by the user)
# --------------------------------------------------------------------------------------------
def normalise_name(name) -> str:
    """Header/alias key: case-folded, BOM and outer spaces removed, '_' as space, spaces collapsed."""
    s = "" if name is None else str(name)
    s = s.replace("\ufeff", "").replace("_", " ").casefold()
    return re.sub(r"\s+", " ", s).strip()


#: Columns of a resource table that a user's extra rows may leave out (blank = the default).
OPTIONAL_COLUMNS = {"site_settings.csv": {"delimiter", "decimal", "sex_codes", "id_case", "note"},
                    "column_aliases.csv": {"note"}, "label_synonyms.csv": {"note"}}


def read_resource(name: str, extra: str | Path | pd.DataFrame | None = None) -> pd.DataFrame:
    """A resource table (``resources/<name>``) with a user's rows appended (``extra``: a CSV path
    or a DataFrame with the same columns; those in ``OPTIONAL_COLUMNS`` may be left out). User
    rows come last and win on conflicts."""
    with config.open_resource(name) as fh:
        base = pd.read_csv(fh, dtype=str, keep_default_na=False, encoding="utf-8")
    if extra is None:
        return base
    more = extra if isinstance(extra, pd.DataFrame) else pd.read_csv(extra, dtype=str, keep_default_na=False)
    more = more.assign(**{c: "" for c in OPTIONAL_COLUMNS.get(name, set()) - set(more.columns)})
    missing = set(base.columns) - set(more.columns)
    if missing:
        raise BadInputError(f"settings table lacks columns {sorted(missing)}", file=str(getattr(extra, "name", name)))
    return pd.concat([base, more[base.columns].astype(str)], ignore_index=True)


@lru_cache(maxsize=None)
def _alias_keys_default() -> frozenset:
    return frozenset(normalise_name(a) for a in read_resource("column_aliases.csv")["alias"])


def site_for(filename: str, sites: pd.DataFrame) -> pd.Series | None:
    """The first site-settings row whose ``file_pattern`` matches ``filename`` (case-insensitive)."""
    low = filename.casefold()
    for _, row in sites.iterrows():
        if fnmatch.fnmatch(low, row["file_pattern"].casefold()):
            return row
    return None


# --------------------------------------------------------------------------------------------
# header detection
# --------------------------------------------------------------------------------------------
def _header_score(cells, alias_keys) -> int:
    n = 0
    for c in cells:
        k = normalise_name(c)
        if not k:
            continue
        base = re.sub(r"\s*[\(\[].*[\)\]]\s*$", "", k)
        if k in alias_keys or base in alias_keys:
            n += 1
    return n


def _find_header(lines: list[list], alias_keys) -> int | None:
    """Index of the first line with at least two known column names (and at least half of its
    non-empty cells known)."""
    for i, cells in enumerate(lines[:HEADER_SCAN_LINES]):
        nonempty = [c for c in cells if c is not None and str(c).strip() != ""]
        score = _header_score(nonempty, alias_keys)
        if score >= 2 and score * 2 >= len(nonempty):
            return i
    return None


# --------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------
def _decode(path: Path, encoding: str, label: str) -> tuple[str, str]:
    """The file's text and a note ("" or what was decided against the site setting)."""
    data = path.read_bytes()
    if not data.strip():
        raise BadInputError("the file is empty", file=label)
    if b"\x00" in data[:65536]:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise BadInputError("contains NUL bytes: this is not a text CSV (binary or UTF-16 file?)",
                            file=label, row=line)
    enc = "utf-8-sig" if encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig") else encoding
    if data.startswith(b"\xef\xbb\xbf") and enc != "utf-8-sig":
        # a UTF-8 byte-order mark: the file is UTF-8 whatever the site setting says
        try:
            return data.decode("utf-8-sig"), f"starts with a UTF-8 BOM: read as UTF-8, not as {encoding}"
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise BadInputError(
                f"starts with a UTF-8 byte-order mark (BOM) but is not valid UTF-8 (byte 0x{data[err.start]:02x}); "
                f"the site setting says {encoding}: re-export the file in one encoding", file=label, row=line) from None
    try:
        text = data.decode(enc)
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise BadInputError(
            f"not valid {encoding} text (byte 0x{data[err.start]:02x}); set the site's encoding "
            f"in site_settings.csv (e.g. latin-1)", file=label, row=line) from None
    except LookupError:
        raise BadInputError(f"unknown encoding {encoding!r} in site settings", file=label) from None
    if enc != "utf-8-sig":
        m = _MOJIBAKE.search(text)
        if m:
            line = text[: m.start()].count("\n") + 1
            raise BadInputError(
                f"looks like UTF-8 read as {encoding} ({m.group()!r}); set the site's encoding to utf-8",
                file=label, row=line)
    return text, ""


def read_csv_table(path: Path, label: str, site: str, encoding: str, alias_keys,
                   delimiter: str = "") -> RawTable:
    """Read one CSV export into a :class:`RawTable` (numbers parsed, other cells as text).
    ``delimiter``: the site's declared delimiter ("" = detect among ',', ';' and tab)."""
    declared = encoding
    text, note = _decode(path, encoding, label)
    if note:
        encoding = "utf-8-sig"
    end = -1
    for _ in range(HEADER_SCAN_LINES):  # the first lines, without copying the rest of the file
        end = text.find("\n", end + 1)
        if end < 0:
            break
    head_lines = (text if end < 0 else text[:end]).split("\n")
    best = None
    for delim in ((delimiter,) if delimiter else (",", ";", "\t")):
        rows = list(csv.reader(head_lines, delimiter=delim))
        i = _find_header(rows, alias_keys)
        if i is not None:
            score = _header_score(rows[i], alias_keys)
            if best is None or i < best[0] or (i == best[0] and score > best[2]):
                best = (i, delim, score)
    if best is None:
        declared = f" with the site's declared delimiter {delimiter!r}" if delimiter else ""
        raise BadInputError(
            f"no header row with known column names{declared} in the first {HEADER_SCAN_LINES} lines "
            "(add the site's column names to column_aliases.csv)", file=label, row=1)
    hi, delim, _ = best
    raw_header = next(csv.reader([head_lines[hi]], delimiter=delim))
    # Arrow reads UTF-8 bytes: the file's own bytes when it is UTF-8 (no second copy of the text)
    utf8 = encoding.replace("_", "-").lower() in ("utf-8", "utf8", "utf-8-sig")
    data = path.read_bytes() if utf8 else text.encode("utf-8")
    del text
    df = _read_csv_arrow(data, delim, hi, len(raw_header))
    del data
    if df is not None:
        columns = [c.replace("\ufeff", "") for c in raw_header]
    else:
        text, _ = _decode(path, declared, label)
        df, columns = _read_csv_pandas(text, delim, hi, label, raw_header)
    rows = np.arange(len(df), dtype="int64") + hi + 2
    # a trailing empty line is not a row
    if len(df) and df.iloc[-1].isna().all():
        df, rows = df.iloc[:-1], rows[:-1]
    if len(df) == 0:
        raise BadInputError("the file has a header but no data rows", file=label, row=hi + 1)
    return RawTable(label, site, "utf-8-sig" if encoding.lower().startswith("utf") else encoding,
                    hi + 1, columns, df.reset_index(drop=True), rows, delim, notes=[note] if note else [])


def _read_csv_arrow(data: bytes, delim: str, hi: int, ncols: int) -> pd.DataFrame | None:
    """Fast path: pyarrow's multi-threaded CSV reader (exact float parsing). Returns None when the
    file needs the careful pandas path (ragged or blank lines, types changing within a column)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        table = pacsv.read_csv(
            pa.py_buffer(data),
            read_options=pacsv.ReadOptions(skip_rows=hi + 1, column_names=[f"c{i}" for i in range(ncols)],
                                           block_size=1 << 26),
            parse_options=pacsv.ParseOptions(delimiter=delim, ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(strings_can_be_null=True),
            memory_pool=pa.system_memory_pool())  # freed when done (mimalloc keeps its arenas)
    except pa.ArrowException:  # ArrowInvalid (ragged row, ...): let pandas read it and report the line
        return None
    return table.to_pandas(date_as_object=False)


def _read_csv_pandas(text: str, delim: str, hi: int, label: str, raw_header: list):
    try:
        # numbers are parsed by pandas (fast, exact to the last digit for repr-written floats);
        # a column with any non-numeric text stays text and is examined cell by cell later.
        # Standard missing markers ("", "NA", "N/A", "NaN", "null") are read as missing.
        df = pd.read_csv(_io.StringIO(text), sep=delim, skiprows=hi, header=0,
                         skip_blank_lines=False, engine="c", low_memory=False)
    except pd.errors.ParserError as err:
        m = re.search(r"line (\d+)", str(err))
        row = int(m.group(1)) if m else None  # pandas counts lines from the top of the file
        raise BadInputError(f"cannot be parsed as CSV ({str(err).splitlines()[-1].strip()})",
                            file=label, row=row) from None
    columns = [str(c) for c in df.columns]
    # pandas de-duplicates repeated names as "x.1"; keep the raw header text instead
    if len(raw_header) == len(columns):
        columns = [c.replace("\ufeff", "") for c in raw_header]
    df.columns = [f"c{i}" for i in range(df.shape[1])]
    return df, columns


# --------------------------------------------------------------------------------------------
# Excel
# --------------------------------------------------------------------------------------------
_ATTR_RE = re.compile(r'(\w+)="([^"]*)"')
_T_RE = re.compile(r"<t\b[^>]*?(?:/>|>(.*?)</t>)", re.S)
_RPH_RE = re.compile(r"<rPh\b.*?</rPh>", re.S)
_DATE_FMT_IDS = set(range(14, 23)) | {45, 46, 47}  # built-in date/time number formats (ECMA-376)


class _FormulaWithoutValue(Exception):
    """A formula cell without a stored result (a workbook written by a program, never recalculated
    and saved by a spreadsheet application): its value is unknown."""

    def __init__(self, row: int, col: str, formula: str, sheet: str = ""):
        super().__init__(row, col, formula, sheet)
        self.row, self.col, self.formula, self.sheet = row, col, formula, sheet


def _col_index(ref: str) -> int:
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        else:
            break
    return n - 1


def _is_date_format(code: str) -> bool:
    code = re.sub(r"\[[^\]]*\]|\"[^\"]*\"|\\.", "", code)
    return bool(re.search(r"[dmyhs]", code, re.I)) and code.lower() != "general"


def _fast_xlsx(path: Path) -> list[tuple[str, list[list]]]:
    """Cell values of every sheet, like openpyxl's ``iter_rows(values_only=True)`` but about ten
    times faster (plain SpreadsheetML only; anything unexpected raises and the caller falls back
    to openpyxl)."""
    import html

    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        wb = z.read("xl/workbook.xml").decode("utf-8")
        if "<sheet " not in wb:
            raise ValueError("prefixed or unusual workbook XML")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8")
        target = {}
        for m in re.finditer(r"<Relationship\b([^>]*)/?>", rels):
            a = dict(_ATTR_RE.findall(m.group(1)))
            t = a.get("Target", "")
            target[a.get("Id")] = t.lstrip("/") if t.startswith("/") else "xl/" + t
        date1904 = bool(re.search(r'date1904="(1|true)"', wb))
        origin = pd.Timestamp("1904-01-01") if date1904 else pd.Timestamp("1899-12-30")
        shared = []
        if "xl/sharedStrings.xml" in names:
            sst = z.read("xl/sharedStrings.xml").decode("utf-8")
            for si in re.findall(r"<si>(.*?)</si>", sst, re.S):
                si = _RPH_RE.sub("", si)
                shared.append(html.unescape("".join(x or "" for x in _T_RE.findall(si))))
        date_styles = set()
        if "xl/styles.xml" in names:
            st = z.read("xl/styles.xml").decode("utf-8")
            custom = {int(a): html.unescape(b) for a, b in
                      re.findall(r'<numFmt\b[^>]*numFmtId="(\d+)"[^>]*formatCode="([^"]*)"', st)}
            xfs = re.search(r"<cellXfs\b[^>]*>(.*?)</cellXfs>", st, re.S)
            if xfs:
                for i, xf in enumerate(re.findall(r"<xf\b([^>]*)", xfs.group(1))):
                    fid = int(dict(_ATTR_RE.findall(xf)).get("numFmtId", 0))
                    if fid in _DATE_FMT_IDS or (fid in custom and _is_date_format(custom[fid])):
                        date_styles.add(i)
        sheets = []
        for m in re.finditer(r"<sheet\b([^>]*)/?>", wb):
            a = dict(re.findall(r'([\w:]+)="([^"]*)"', m.group(1)))
            title = html.unescape(a["name"])
            xml = z.read(target[a["r:id"]]).decode("utf-8")
            if "<sheetData" not in xml:
                raise ValueError("prefixed or unusual sheet XML")
            try:
                rows = _fast_sheet_rows(xml, shared, date_styles, origin, date1904)
            except _FormulaWithoutValue as f:
                f.sheet = title
                raise
            while rows and not rows[-1]:
                rows.pop()
            sheets.append((title, rows))
    return sheets


_CELL_FAST = re.compile(
    r'<c r="([A-Z]+)(\d+)"(?: s="(\d+)")?(?: t="(\w+)")?\s*(?:/>|>(?:<v>([^<]*)</v>|<v\s*/>|<is>(.*?)</is>'
    r'|<f>([^<]*)</f>(?:<v>([^<]*)</v>|<v\s*/>)?)?</c>)',
    re.S)


def _fast_sheet_rows(xml, shared, date_styles, origin, date1904) -> list[list]:
    import html

    n_cells = xml.count("<c ") + xml.count("<c>")
    found = _CELL_FAST.findall(xml)
    if len(found) != n_cells:
        raise ValueError("cell XML not in the simple layout")
    rows: list[list] = []
    col_cache: dict = {}
    date_cache: dict = {}
    for col, rnum, sidx, t, v, inline, formula, fv in found:
        r = int(rnum) - 1
        while len(rows) <= r:
            rows.append([])
        ci = col_cache.get(col)
        if ci is None:
            ci = col_cache[col] = _col_index(col)
        if formula and not fv and not v:  # a formula whose result was never stored
            raise _FormulaWithoutValue(int(rnum), col, "=" + html.unescape(formula))
        if fv and not v:
            v = fv
        if t == "inlineStr":
            val = "".join(x or "" for x in _T_RE.findall(_RPH_RE.sub("", inline)))
            if "&" in val:
                val = html.unescape(val)
        elif v == "" and not inline:
            val = None
        elif t == "s":
            val = shared[int(v)]
        elif t == "b":
            val = v.strip() in ("1", "true")
        elif t in ("str", "e"):
            val = html.unescape(v) if "&" in v else v
        else:
            num = float(v) if ("." in v or "e" in v or "E" in v) else int(v)
            if sidx and int(sidx) in date_styles:
                val = date_cache.get(v)
                if val is None:
                    days = float(num)
                    if not date1904 and days < 60:
                        days += 1  # Excel's fictitious 1900-02-29
                    val = date_cache[v] = (origin + pd.Timedelta(days=days)).round("ms").to_pydatetime()
            else:
                val = num
        cells = rows[r]
        if len(cells) < ci:
            cells.extend([None] * (ci - len(cells)))
        if len(cells) == ci:
            cells.append(val)
        else:
            cells[ci] = val
    while rows and not rows[-1]:
        rows.pop()
    return rows


def _openpyxl_sheets(path: Path) -> list[tuple[str, list[list]]]:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        sheets = [(ws.title, [list(r) for r in ws.iter_rows(values_only=True)]) for ws in wb.worksheets]
    finally:
        wb.close()
    if any(c is None for _, rows in sheets for r in rows for c in r):  # formulas without results?
        wb = load_workbook(path, read_only=True, data_only=False)
        try:
            for (title, rows), ws in zip(sheets, wb.worksheets):
                for i, r in enumerate(ws.iter_rows(values_only=True)):
                    for j, c in enumerate(r):
                        if isinstance(c, str) and c.startswith("=") and (i >= len(rows) or j >= len(rows[i])
                                                                         or rows[i][j] is None):
                            from openpyxl.utils import get_column_letter

                            raise _FormulaWithoutValue(i + 1, get_column_letter(j + 1), c, title)
        finally:
            wb.close()
    return sheets


def _read_sheets(path: Path, engine: str) -> list[tuple[str, list[list]]]:
    """Cell values of every sheet: the fast reader, or openpyxl when it cannot (see
    :func:`read_xlsx_tables`)."""
    from openpyxl.utils.exceptions import InvalidFileException

    if engine in ("auto", "fast"):
        try:
            return _fast_xlsx(path)
        except (KeyError, ValueError, IndexError, OverflowError, zipfile.BadZipFile):
            # a member or attribute the simple SpreadsheetML reader does not know (KeyError,
            # IndexError), a cell or layout it does not parse (ValueError, incl. UnicodeDecodeError)
            if engine == "fast":
                raise
    try:
        return _openpyxl_sheets(path)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, IndexError, TypeError,
            OSError) as err:
        raise BadInputError(f"cannot be opened as an Excel workbook ({type(err).__name__})",
                            file=path.name) from None


def read_xlsx_tables(path: Path, site: str, alias_keys, engine: str = "auto") -> tuple[list[RawTable], list[dict]]:
    """Read every sheet of a workbook that has a recognisable header.

    Parameters
    ----------
    engine : {"auto", "fast", "openpyxl"}
        ``auto`` uses the fast SpreadsheetML reader and falls back to openpyxl when the workbook
        has anything it does not handle.

    Returns
    -------
    tables, skipped : list of RawTable, list of dict
        ``skipped`` lists sheets without a recognised header (reported in the inventory).
    """
    name = path.name
    if path.stat().st_size == 0:
        raise BadInputError("the file is empty", file=name)
    if not zipfile.is_zipfile(path):
        raise BadInputError("cannot be opened as an Excel workbook (not an .xlsx zip archive)", file=name)
    try:
        sheets = _read_sheets(path, engine)
    except _FormulaWithoutValue as f:
        formula = f.formula if len(f.formula) <= 40 else f.formula[:37] + "..."
        raise BadInputError(f"cell {f.col}{f.row} holds the formula {formula!r} without a stored result, so "
                            "its value is unknown; open and save the workbook in a spreadsheet application "
                            "(Excel, LibreOffice) to store the results", file=f"{name}[{f.sheet}]",
                            row=f.row) from None
    tables, skipped = [], []
    for title, values in sheets:
        label = f"{name}[{title}]"
        hi = _find_header(values, alias_keys)
        if hi is None:
            if any(any(c is not None for c in r) for r in values):
                skipped.append({"file": label, "reason": "no header row with known column names"})
            else:
                skipped.append({"file": label, "reason": "empty sheet"})
            continue
        header = list(values[hi])
        while header and header[-1] is None:
            header = header[:-1]
        width = len(header)
        body = [list(r) for r in values[hi + 1:]]
        while body and all(c is None for c in body[-1]):
            body.pop()  # trailing empty rows that Excel reports as used
        for k, r in enumerate(body):
            if len(r) > width and any(c is not None for c in r[width:]):
                raise BadInputError("cells to the right of the header (a column without a name)",
                                    file=label, row=hi + 2 + k)
        body = [(r + [None] * width)[:width] for r in body]
        if not body:
            raise BadInputError("the sheet has a header but no data rows", file=label, row=hi + 1)
        df = pd.DataFrame(body, columns=[f"c{i}" for i in range(width)], dtype=object)
        cols = ["" if h is None else str(h) for h in header]
        tables.append(RawTable(label, site, "xlsx", hi + 1, cols, df,
                               np.arange(len(df), dtype="int64") + hi + 2))
    if not tables:
        raise BadInputError("no sheet has a header row with known column names", file=name)
    return tables, skipped


# --------------------------------------------------------------------------------------------
# directory
# --------------------------------------------------------------------------------------------
def read_directory(raw_dir: str | Path, sites: pd.DataFrame | None = None,
                   alias_keys=None) -> tuple[list[RawTable], pd.DataFrame]:
    """Read every CSV / xlsx file of ``raw_dir`` (sorted by name; not recursive).

    Returns
    -------
    tables : list of RawTable
    inventory : pandas.DataFrame
        One row per file or sheet: ``file``, ``site``, ``format``, ``encoding``, ``delimiter``,
        ``header_row``, ``raw_rows``, ``status`` (``read`` / ``ignored: ...``).
    """
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise BadInputError("raw data directory not found", file=str(raw_dir.name or raw_dir))
    sites = read_resource("site_settings.csv") if sites is None else sites
    alias_keys = _alias_keys_default() if alias_keys is None else alias_keys
    tables: list[RawTable] = []
    inv: list[dict] = []
    for path in sorted(raw_dir.iterdir()):
        name = path.name
        suffix = path.suffix.lower()
        if path.is_dir() or name.startswith((".", "~$")):
            why = "a folder (not read)" if path.is_dir() else "hidden or Office lock file"
            inv.append(dict(file=name, site="", format="", encoding="", delimiter="", header_row=pd.NA,
                            raw_rows=pd.NA, status=f"ignored: {why}"))
            continue
        if suffix == ".xls":
            raise BadInputError("legacy .xls workbooks are not read; save it as .xlsx", file=name)
        if suffix not in DATA_SUFFIXES:
            inv.append(dict(file=name, site="", format=suffix.lstrip(".") or "?", encoding="",
                            delimiter="", header_row=pd.NA, raw_rows=pd.NA,
                            status="ignored: not a CSV or .xlsx file"))
            continue
        srow = site_for(name, sites)
        site = "" if srow is None else srow["site"]
        encoding = "utf-8" if srow is None or not srow["encoding"] else srow["encoding"]
        if suffix == ".csv":
            delim = "" if srow is None else {"tab": "\t", "\\t": "\t"}.get(srow.get("delimiter", ""),
                                                                           srow.get("delimiter", ""))
            t = read_csv_table(path, name, site, encoding, alias_keys, delimiter=delim)
            found = [t]
        else:
            found, skipped = read_xlsx_tables(path, site, alias_keys)
            for s in skipped:
                inv.append(dict(file=s["file"], site=site, format="xlsx", encoding="", delimiter="",
                                header_row=pd.NA, raw_rows=pd.NA, status=f"ignored: {s['reason']}"))
        for t in found:
            tables.append(t)
            inv.append(dict(file=t.file, site=t.site, format=suffix.lstrip("."), encoding=t.encoding,
                            delimiter=t.delimiter, header_row=t.header_row, raw_rows=len(t.data),
                            status="read" + (f" ({'; '.join(t.notes)})" if t.notes else "")))
    if not tables:
        raise BadInputError("no CSV or .xlsx export found", file=raw_dir.name)
    inventory = pd.DataFrame(inv).sort_values("file", ignore_index=True)
    inventory["header_row"] = inventory["header_row"].astype("Int64")
    inventory["raw_rows"] = inventory["raw_rows"].astype("Int64")
    return tables, inventory


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def arrow_table(df: pd.DataFrame):
    """``df`` as a :class:`pyarrow.Table` of the types :func:`write_csv` writes (dates as
    ``date32``, categoricals and other text as strings)."""
    import pyarrow as pa

    arrays, names = [], []
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s):
            arr = pa.array(s.to_numpy().astype("datetime64[D]"), type=pa.date32(), mask=s.isna().to_numpy())
        elif isinstance(s.dtype, pd.CategoricalDtype):  # decoded by Arrow (C++), not in Python
            cats = pa.array(s.cat.categories.astype(str).to_numpy(dtype=object), type=pa.string())
            codes = s.cat.codes.to_numpy()
            arr = pa.DictionaryArray.from_arrays(pa.array(codes, mask=codes < 0), cats).cast(pa.string())
        elif s.dtype == object:
            vals = s.where(s.notna(), None).to_numpy(dtype=object)
            arr = pa.array([v if v is None or isinstance(v, str) else str(v) for v in vals], type=pa.string()) \
                if not all(isinstance(v, str) or v is None for v in vals[:1000]) else pa.array(vals, type=pa.string())
        else:
            arr = pa.array(s)
        arrays.append(arr)
        names.append(str(c))
    return pa.table(arrays, names=names)


#: Rows converted to Arrow at a time when writing CSV (bounds the extra memory of writing a table).
WRITE_CHUNK_ROWS = 250_000


def write_csv(df: pd.DataFrame, path: str | Path) -> None:
    """Write ``df`` as UTF-8 CSV quickly (pyarrow's multi-threaded writer, about 10x pandas).

    Floats are written in their shortest round-trip form (as ``repr``), dates as ``YYYY-MM-DD``,
    booleans as ``true`` / ``false``, missing values as empty fields. The rows are converted
    ``WRITE_CHUNK_ROWS`` at a time.
    """
    write_csv_parts((df.iloc[i:i + WRITE_CHUNK_ROWS] for i in range(0, max(len(df), 1), WRITE_CHUNK_ROWS)),
                    path)


def write_csv_parts(parts, path: str | Path) -> int:
    """Write an iterable of DataFrames with the same columns and dtypes as one CSV, as
    :func:`write_csv` writes their concatenation (the same bytes), holding one part at a time.

    Returns
    -------
    int
        Rows written.
    """
    import pyarrow.csv as pacsv

    writer, n = None, 0
    try:
        for df in parts:
            table = arrow_table(df)
            if writer is None:
                writer = pacsv.CSVWriter(str(path), table.schema,
                                         write_options=pacsv.WriteOptions(quoting_style="needed"))
            writer.write_table(table)
            n += len(df)
    finally:
        if writer is not None:
            writer.close()
    if writer is None:
        raise ValueError("write_csv_parts needs at least one part (its columns make the header)")
    return n
