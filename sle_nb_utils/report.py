"""Run the notebook collection and render it (``make report``, ``make notebooks``, ``run`` CLI).

* :func:`refresh` executes notebooks in place: the golden outputs in ``notebooks/`` (bundled
  synthetic data only; ``make notebooks``).
* :func:`run_collection` (``python -m sle_nb_utils run``) checks and cleans a folder of raw exports,
  runs every notebook on it with papermill into ``OUT/notebooks`` and renders an offline HTML site
  (no CDN) in ``OUT/site``: an index with each notebook's question and key result and the run's
  provenance, and one page per notebook with a back link and a table of contents. Outputs on a
  user's data go to ``OUT`` only (never into ``notebooks/`` or anywhere git tracks), without the
  export's patient identifiers or exact dates on the pages.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import html
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

from . import config, display
from .errors import BadInputError

KERNEL = "python3"
TIMEOUT_S = 900


def notebook_paths() -> list[Path]:
    """The collection, in order (``NN_name.ipynb``)."""
    return sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def _coalesce_streams(outputs: list) -> list:
    """Merge consecutive stream outputs of the same name (how the kernel chunks stdout depends on
    timing; the stored golden outputs should not)."""
    merged: list = []
    for out in outputs:
        if (out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream"
                and merged[-1].get("name") == out.get("name")):
            merged[-1]["text"] = "".join(merged[-1]["text"]) + "".join(out["text"])
        else:
            merged.append(out)
    return merged


def refresh(paths=None) -> None:
    """Execute notebooks in place (cwd = notebooks/), without timing metadata."""
    import nbformat
    from nbclient import NotebookClient

    for path in [Path(p) for p in (paths or notebook_paths())]:
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(nb, timeout=TIMEOUT_S, kernel_name=KERNEL, record_timing=False,
                                resources={"metadata": {"path": str(path.parent.resolve())}})
        client.execute()
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = _coalesce_streams(cell.outputs)
        nb.metadata.pop("papermill", None)
        nbformat.write(nb, path)
        print(f"refreshed {path.name}")


_REMOTE = re.compile(r"<script[^>]*\bsrc=\"(?:https?://[^\"]*)?\"[^>]*>\s*</script>|"
                     r"<link[^>]*\bhref=\"https?://[^\"]*\"[^>]*>", re.I)


def render_html(notebook_path: Path, html_path: Path) -> None:
    """Render one executed notebook to standalone HTML with no remote scripts (offline)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(embed_images=True)
    for trait in ("mathjax_url", "require_js_url", "jquery_url", "mermaid_js_url",
                  "mermaid_layout_elk_js_url", "jupyter_widgets_base_url"):
        if exporter.has_trait(trait):
            setattr(exporter, trait, "")
    body, _ = exporter.from_filename(str(notebook_path))
    html_path.write_text(_REMOTE.sub("", body), encoding="utf-8")


@contextlib.contextmanager
def _stderr_to(path: Path):
    """Point file descriptor 2 (inherited by kernel processes) at ``path`` for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


# --------------------------------------------------------------------------------------------
# run: the collection on a data folder, into a site
# --------------------------------------------------------------------------------------------
#: Cells with this tag are left out of the pages rendered on a user's data (the synthetic-data
#: notice, conclusions written for the bundled numbers).
TAG_BUNDLED_ONLY = "bundled-only"
#: The output of the cell with this tag is the notebook's key result on the site's index.
TAG_KEY_RESULT = "key-result"
#: Markdown cells that say the data are synthetic, or conclude on the bundled numbers, when a
#: notebook has not tagged them ``bundled-only`` yet (left out on a user's data all the same).
_BUNDLED_TEXT = re.compile(r"\*\*the (?:bundled )?data are synthetic|written for the bundled (?:synthetic )?data",
                           re.I)
#: Written into OUT: a folder with this file is a previous run's output, which ``run`` replaces.
MARKER = ".sle_nb_utils-run"
SITE_CSS = """
:root { --site-max: 1180px; }
body { max-width: var(--site-max); margin: 0 auto !important; padding: 0 16px !important;
       overflow-x: hidden; }
nav.site-nav, footer.site-footer { font: 14px/1.5 system-ui, sans-serif; margin: 12px 0;
       padding: 8px 12px; border: 1px solid #d0d7de; border-radius: 6px; background: #f6f8fa; }
nav.site-nav ol { margin: 4px 0 0 0; columns: 2; }
.jp-OutputArea-output pre, .jp-RenderedText pre { white-space: pre; overflow-x: auto; max-width: 100%; }
.jp-OutputArea-output { overflow-x: auto; max-width: 100%; }
div.table-wrap { overflow-x: auto; max-width: 100%; }
.jp-RenderedHTMLCommon td.txt, .jp-RenderedHTMLCommon th.txt { text-align: left; }
.jp-RenderedHTMLCommon table { font-size: 13px; }
img { max-width: 100%; height: auto; }
.jp-InputPrompt, .jp-OutputPrompt { display: none !important; }
"""
INDEX_CSS = """
body { font: 16px/1.5 system-ui, sans-serif; max-width: 1100px; margin: 24px auto; padding: 0 16px; }
table { border-collapse: collapse; width: 100%; }
td, th { border-bottom: 1px solid #d0d7de; padding: 8px; text-align: left; vertical-align: top; }
td:first-child { white-space: nowrap; }
.notice { padding: 8px 12px; border-left: 4px solid #bf8700; background: #fff8c5; }
.prov { font-size: 13px; color: #333; background: #f6f8fa; padding: 8px 12px; border-radius: 6px; }
.prov td { padding: 2px 8px; border: 0; }
"""


class RunError(Exception):
    """A notebook failed for a reason other than bad input (a bug): ``run`` exits 1 with one line."""


def _first_existing(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _git(args, cwd) -> subprocess.CompletedProcess | None:
    try:
        return subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None


def check_out_dir(out_dir: Path, data_dir: Path) -> None:
    """Refuse an output folder that would put patient-level rows where they do not belong.

    Refused: ``notebooks/`` (golden outputs), any folder inside a git work tree except a git-ignored
    folder under that tree's ``reports/`` (what ``make report`` uses), the data folder itself, a
    folder inside it, or a folder that contains it (replacing it would delete the data).

    Raises
    ------
    BadInputError
    """
    out_dir, data_dir = Path(out_dir).resolve(), Path(data_dir).resolve()
    if out_dir == config.NOTEBOOKS_DIR or config.NOTEBOOKS_DIR in out_dir.parents:
        raise BadInputError("choose an output folder outside notebooks/ (golden outputs live there)",
                            file=str(out_dir))
    if out_dir == data_dir or data_dir in out_dir.parents or out_dir in data_dir.parents:
        raise BadInputError("the output folder must not be, contain or sit inside the data folder",
                            file=str(out_dir))
    res = _git(["rev-parse", "--show-toplevel"], _first_existing(out_dir))
    if res is None or res.returncode != 0:
        return  # not in a git work tree (or no git): fine
    top = Path(res.stdout.strip()).resolve()
    reports = top / "reports"
    if reports in out_dir.parents or out_dir == reports:
        ignored = _git(["check-ignore", "-q", str(out_dir.relative_to(top)) + "/"], top)
        if ignored is not None and ignored.returncode == 0:
            return
    raise BadInputError(
        f"the output folder is inside the git work tree {top}: outputs on patient data must never be "
        "committed. Choose a folder outside it (or the git-ignored reports/ of this repository)",
        file=str(out_dir))


#: What a run writes into OUT (and replaces on the next run); anything else in OUT is left alone.
RUN_ENTRIES = ("site", "notebooks", "clean", "cache", "provenance.json", "kernels.log", MARKER)
FAILED = "failed-run"  # OUT/failed-run/: the executed notebooks of a run that failed (a bug, not bad input)


def _prepare_out(out_dir: Path, force: bool) -> None:
    """Refuse an ``out_dir`` whose ``site/``, ``notebooks/``, ``clean/``... are not a previous run's
    (no marker file; the repository's ``reports/`` aside), unless ``force``: a run replaces those
    entries and only those."""
    if out_dir.exists() and not out_dir.is_dir():
        raise BadInputError("the output path exists and is not a folder", file=str(out_dir))
    reports = config.REPORTS_DIR.resolve()
    if not out_dir.is_dir() or (out_dir / MARKER).exists() or force:
        return
    if out_dir == reports or reports in out_dir.parents:
        return  # the repository's git-ignored reports/ holds runs only (also those made before the marker)
    clash = sorted(n for n in RUN_ENTRIES if (out_dir / n).exists())
    if clash:
        raise BadInputError(f"the output folder is not empty ({', '.join(clash)}) and is not the output of a "
                            "previous run; choose an empty or new folder, or pass --force to replace those",
                            file=str(out_dir))


def _swap_in(tmp: Path, out_dir: Path) -> None:
    """Move the finished run from ``tmp`` (a hidden folder inside ``out_dir``) into place.

    Each entry of :data:`RUN_ENTRIES` is replaced by a rename (the previous one is first renamed
    aside, then deleted), so a page is always the old run's or the new run's, never a mixture;
    anything else in ``out_dir`` is left alone.
    """
    old = Path(tempfile.mkdtemp(prefix=".run-old-", dir=out_dir))
    for name in RUN_ENTRIES[::-1]:  # the marker last in, first out
        if (out_dir / name).exists():
            os.replace(out_dir / name, old / name)
    for name in RUN_ENTRIES:
        if (tmp / name).exists():
            os.replace(tmp / name, out_dir / name)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(out_dir / FAILED, ignore_errors=True)  # a previous failure is stale now


@contextlib.contextmanager
def _environ(values: dict):
    saved = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = str(v)
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _data_hash(data_dir: Path) -> str:
    """SHA-256 over the export files (names and bytes, sorted): which data a site was made from."""
    h = hashlib.sha256()
    for f in sorted(p for p in Path(data_dir).iterdir() if p.is_file() and not p.name.startswith(".")):
        h.update(f.name.encode() + b"\0" + hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


_VERSIONED = ("sle_nb_utils", "numpy", "pandas", "scipy", "statsmodels", "lifelines", "matplotlib",
              "pandera", "papermill", "nbconvert")


def provenance(data_dir: Path, bundled: bool) -> dict:
    """Commit, package versions, data hash and run date of a run (``OUT/provenance.json`` and the
    site's index; never written into the golden notebooks)."""
    from importlib import metadata

    commit = "not a git checkout"
    res = _git(["rev-parse", "HEAD"], config.PROJ_ROOT)
    if res is not None and res.returncode == 0:
        commit = res.stdout.strip()
        dirty = _git(["status", "--porcelain", "--untracked-files=no"], config.PROJ_ROOT)
        if dirty is not None and dirty.stdout.strip():
            commit += " (with uncommitted changes)"
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"commit": commit, "versions": versions,
            "data": "bundled synthetic data (data/raw)" if bundled else "user-supplied export",
            "data_sha256": _data_hash(data_dir),
            "run_date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


# ---- privacy: what a page on a user's data must not show -----------------------------------
_MONTH = r"(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
_DATE = re.compile(
    r"(?<![\w.])(?:"
    r"(?:19|20)\d{2}[-/.](?:0?[1-9]|1[0-2])[-/.](?:0?[1-9]|[12]\d|3[01])(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
    r"|(?:0?[1-9]|[12]\d|3[01])[-/.](?:0?[1-9]|[12]\d|3[01])[-/.](?:19|20)?\d{2}"
    r"|(?:0?[1-9]|[12]\d|3[01])[ -]" + _MONTH + r"[ -](?:19|20)?\d{2}"
    r"|" + _MONTH + r" (?:0?[1-9]|[12]\d|3[01]),? (?:19|20)\d{2}"
    r"|(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
    r")(?![\w.])", re.I)
ID_MASK, DATE_MASK = "[id]", "[date]"


class _Identifiers:
    """Masks a set of identifiers as whole tokens (case-insensitive), in time linear in the text:
    each maximal run of word characters and hyphens is looked up in a set; identifiers with other
    characters (rare: spaces, dots, slashes) go through one alternation regex."""

    _TOKEN = re.compile(r"[\w-]+")

    def __init__(self, ids: set):
        self.simple = {i.casefold() for i in ids if self._TOKEN.fullmatch(i)}
        other = sorted((i for i in ids if not self._TOKEN.fullmatch(i)), key=lambda x: (-len(x), x))
        self.other = (re.compile(r"(?<![\w-])(?:" + "|".join(map(re.escape, other)) + r")(?![\w-])", re.I)
                      if other else None)

    def sub(self, mask: str, text: str) -> str:
        if self.other is not None:
            text = self.other.sub(mask, text)
        return self._TOKEN.sub(lambda m: mask if m.group(0).casefold() in self.simple else m.group(0), text)


def identifier_pattern(values) -> _Identifiers | None:
    """What masks the patient identifiers ``values`` as whole tokens (case-insensitive).

    Identifiers of fewer than 4 characters made of digits only are left out: they cannot be told
    apart from counts on a page (use longer identifiers, or pseudonymise before the run).
    """
    ids = {str(v).strip() for v in values if v is not None and str(v).strip() and str(v) != "nan"}
    ids = {i for i in ids if not (i.isdigit() and len(i) < 4) and len(i) >= 2}
    return _Identifiers(ids) if ids else None


def scrub_text(text: str, ids: _Identifiers | None) -> str:
    """``text`` with patient identifiers and exact dates masked (``[id]``, ``[date]``)."""
    if ids is not None:
        text = ids.sub(ID_MASK, text)
    return _DATE.sub(DATE_MASK, text)


def _scrub_outputs(nb, ids) -> int:
    """Mask identifiers and dates in every text output of ``nb`` (in place); returns how many
    outputs changed. SVG figures are text and scrubbed too; PNG images are not inspected: figures
    must not carry identifiers."""
    changed = 0

    def fix(x):
        if isinstance(x, list):
            x = "".join(x)
        return scrub_text(x, ids)

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            before = repr(out)
            if out.get("output_type") == "stream":
                out["text"] = fix(out["text"])
            elif out.get("output_type") == "error":
                out["evalue"] = fix(out["evalue"])
                out["traceback"] = [fix(t) for t in out["traceback"]]
            else:
                for mime in list(out.get("data", {})):
                    if mime.startswith("text/") or mime in ("application/json", "image/svg+xml"):
                        if isinstance(out["data"][mime], (str, list)):
                            out["data"][mime] = fix(out["data"][mime])
            changed += repr(out) != before
    return changed


def _identifiers(result) -> list:
    vals: list = []
    for t in result.tables.values():
        if "patient_id" in t.columns:
            vals.extend(t["patient_id"].dropna().astype(str).unique())
    q = result.quarantine
    if "patient_id" in q.columns:
        vals.extend(q["patient_id"].dropna().astype(str).unique())
    log = result.log
    if len(log) and "column" in log.columns:
        sel = log[log["column"] == "patient_id"]
        vals.extend(sel["old"].dropna().astype(str).unique())
        vals.extend(sel["new"].dropna().astype(str).unique())
    return vals


def _is_bundled_only_notebook(nb, path: Path) -> bool:
    meta = nb.metadata.get("sle_nb_utils", {})
    return bool(meta.get("bundled_only", path.name.startswith("00_")))


def _drop_bundled_only_cells(nb) -> int:
    keep = [c for c in nb.cells
            if not (TAG_BUNDLED_ONLY in c.metadata.get("tags", [])
                    or (c.cell_type == "markdown" and _BUNDLED_TEXT.search("".join(c.source))))]
    n = len(nb.cells) - len(keep)
    nb.cells = keep
    return n


# ---- the site --------------------------------------------------------------------------------
def _markdown_text(md: str) -> str:
    md = re.sub(r"`([^`]*)`", r"\1", md)
    md = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", md)
    md = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", md)
    return re.sub(r"\s+", " ", md).strip()


_ACRONYMS = {w.lower(): w for w in ("SLE", "SLEDAI", "HSCT", "MSCT", "KM", "OS", "DFS", "TRM", "NRM", "CR", "ADaM")}


def notebook_summary(nb, path: Path, bundled: bool) -> dict:
    """Title, one-line question and key result of an executed notebook (for the index).

    * title: the notebook metadata ``sle_nb_utils.title``, else from the file name
      (``04_survival_curves`` -> "04 · Survival curves", ``03_longitudinal_sledai_renal`` ->
      "03 · Longitudinal SLEDAI renal");
    * question: the notebook metadata ``sle_nb_utils.question``, else the first heading (its first
      sentence ending in "?", if any);
    * key result: what the cell tagged ``key-result`` prints (or displays as Markdown; its plain
      repr only when it prints nothing); else, on the bundled data only, the first paragraph of the
      "What this shows" section; else "—".
    """
    num, _, name = path.stem.partition("_")
    meta = nb.metadata.get("sle_nb_utils", {})
    words = [_ACRONYMS.get(w, w) for w in name.split("_")]
    title = meta.get("title") or f"{num} · {' '.join(words)[:1].upper()}{' '.join(words)[1:]}"
    question = meta.get("question")
    if not question:
        for c in nb.cells:
            m = re.search(r"^#\s+(.+)$", "".join(c.source), re.M) if c.cell_type == "markdown" else None
            if m:
                h = _markdown_text(m.group(1))
                h = re.sub(r"^\d\d\s*[·:.-]\s*", "", h)
                q = re.search(r"[^?]*\?", h)
                question = q.group(0).strip() if q else h
                break
    key = None
    for c in nb.cells:
        if c.cell_type == "code" and TAG_KEY_RESULT in c.metadata.get("tags", []):
            texts, plain = [], []  # printed text and Markdown first; a repr only if nothing else
            for o in c.get("outputs", []):
                if o.get("output_type") == "stream" and o.get("name") == "stdout":
                    texts.append("".join(o["text"]))
                elif "text/markdown" in o.get("data", {}):
                    texts.append(_markdown_text("".join(o["data"]["text/markdown"])))
                elif "text/plain" in o.get("data", {}):
                    plain.append("".join(o["data"]["text/plain"]))
            key = " ".join(" ".join(texts or plain).split()) or None
            break
    if key is None and bundled:
        for c in nb.cells:
            src = "".join(c.source)
            if c.cell_type == "markdown" and re.match(r"#+\s*What this shows", src, re.I):
                body = src.split("\n", 1)[1] if "\n" in src else ""
                paras = [p for p in body.split("\n\n") if p.strip() and not p.lstrip().startswith("*Written")]
                if paras:
                    key = _markdown_text(paras[0])
                break
    if key and len(key) > 300:  # the first sentences, up to about 300 characters
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z])", key)
        key = sentences[0]
        for more in sentences[1:]:
            if len(key) + len(more) > 300:
                break
            key += " " + more
        if len(key) > 300:
            key = key[:297].rsplit(" ", 1)[0] + " …"
    return {"file": path.stem, "title": title, "question": question or "—", "key_result": key or "—"}


def _png_dpi(data: bytes) -> float | None:
    i = data.find(b"pHYs", 0, 4096)
    if i < 0:
        return None
    x, _y, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    return x * 0.0254 if unit == 1 and x else None


_NUMERIC = re.compile(r"^[\s<>≤≥±+\-−]*[\d.,]+(?:e[+-]?\d+)?\s*%?$|^[—-]$|^$", re.I)
_MISSING = {"NaN", "nan", "<NA>", "NaT", "None"}


def _decorate(body: str, title: str, prov: dict) -> str:
    """Site furniture on a rendered notebook: back link, table of contents, provenance footer,
    HTML tables without a 0..n index, "—" for missing, text left-aligned, figures at their true
    size (PNG width from its dpi)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(body, "html.parser")
    style = soup.new_tag("style")
    style.string = SITE_CSS
    (soup.head or soup).append(style)
    if soup.title is not None:
        soup.title.string = title
    toc = []
    for h in soup.find_all(["h1", "h2", "h3"]):
        if not h.get("id"):
            continue
        text = h.get_text(" ", strip=True).rstrip("¶").strip()
        if h.name != "h1":
            toc.append((h.name, h["id"], text))
    nav = BeautifulSoup(
        '<nav class="site-nav"><a href="index.html">← All notebooks</a> · <strong>'
        f"{html.escape(title)}</strong><details open><summary>Contents</summary><ol>"
        + "".join(f'<li class="toc-{lvl}"><a href="#{html.escape(i, quote=True)}">{html.escape(t)}</a></li>'
                  for lvl, i, t in toc)
        + "</ol></details></nav>", "html.parser")
    foot = BeautifulSoup(
        '<footer class="site-footer"><a href="index.html">← All notebooks</a> · commit '
        f"{html.escape(prov['commit'][:12])} · data sha256 {html.escape(prov['data_sha256'][:16])} · "
        f"run {html.escape(prov['run_date_utc'])}</footer>", "html.parser")
    container = soup.body or soup
    container.insert(0, nav)
    container.append(foot)
    for table in soup.find_all("table"):
        classes = table.get("class") or []
        if "dataframe" in classes and "sle" not in classes:
            head_rows = table.thead.find_all("tr") if table.thead else []
            body_rows = table.tbody.find_all("tr") if table.tbody else []
            labels = [r.find(["th", "td"]) for r in body_rows]
            if (len(head_rows) == 1 and body_rows and all(lab is not None and lab.name == "th" for lab in labels)
                    and [lab.get_text(strip=True) for lab in labels] == [str(i) for i in range(len(body_rows))]):
                first = head_rows[0].find("th")
                if first is not None and not first.get_text(strip=True):
                    first.decompose()
                    for lab in labels:
                        lab.decompose()
        for td in table.find_all("td"):
            t = td.get_text(strip=True)
            if t in _MISSING:
                td.string = "—"
            elif not _NUMERIC.match(t):
                td["class"] = (td.get("class") or []) + ["txt"]
        if table.parent is not None and "table-wrap" not in (table.parent.get("class") or []):
            table.wrap(soup.new_tag("div", attrs={"class": "table-wrap"}))
    for img in soup.find_all("img"):
        src = img.get("src", "")
        if src.startswith("data:image/png;base64,") and not img.get("width"):
            data = base64.b64decode(src.split(",", 1)[1])
            dpi = _png_dpi(data)
            if dpi and data[12:16] == b"IHDR":
                w = struct.unpack(">I", data[16:20])[0]
                img["width"] = str(round(w * 96 / dpi))
    return str(soup)


def _render(nb, html_path: Path, *, title: str, prov: dict) -> None:
    """Render an executed notebook (in memory) to a standalone offline page of the site."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    c = Config()
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = {"injected-parameters", "remove-cell"}
    c.TagRemovePreprocessor.remove_input_tags = {"remove-input"}
    exporter = HTMLExporter(config=c, embed_images=True)
    for trait in ("mathjax_url", "require_js_url", "jquery_url", "mermaid_js_url",
                  "mermaid_layout_elk_js_url", "jupyter_widgets_base_url"):
        if exporter.has_trait(trait):
            setattr(exporter, trait, "")
    body, _ = exporter.from_notebook_node(nb)
    html_path.write_text(_decorate(_REMOTE.sub("", body), title, prov), encoding="utf-8")


def _render_page(nb, path: Path, site: Path, *, prov: dict, bundled: bool) -> dict:
    """Render executed notebook ``nb`` (from ``path``) as ``site/<stem>.html``; returns its index entry."""
    summary = notebook_summary(nb, path, bundled)
    _render(nb, site / f"{path.stem}.html", title=summary["title"], prov=prov)
    return summary


def render_site(executed, site_dir, *, prov: dict, bundled: bool = True) -> Path:
    """Render notebooks that are already executed (e.g. the stored ``notebooks/``) into a site: one
    page per notebook and the index, exactly as :func:`run_collection` renders the ones it executes.

    Parameters
    ----------
    executed : list of Path
        Executed notebooks, in index order.
    site_dir : Path
        Folder for the pages (created).
    prov : dict
        Provenance for the footer and the index (:func:`provenance`).
    bundled : bool
        Whether the notebooks ran on the bundled synthetic data (index notice, summaries).

    Returns
    -------
    Path
        ``site_dir / "index.html"``.
    """
    site_dir = Path(site_dir)
    site_dir.mkdir(parents=True, exist_ok=True)
    entries = [_render_page(nbformat.read(p, as_version=4), Path(p), site_dir, prov=prov, bundled=bundled)
               for p in executed]
    (site_dir / "index.html").write_text(_index(entries, prov, bundled), encoding="utf-8")
    return site_dir / "index.html"


def _index(entries: list, prov: dict, bundled: bool) -> str:
    rows = "".join(
        f'<tr><td><a href="{html.escape(e["file"])}.html">{html.escape(e["title"])}</a></td>'
        f'<td>{html.escape(e["question"])}</td><td>{html.escape(e["key_result"])}</td></tr>'
        for e in entries)
    notice = ('<p class="notice"><strong>The bundled data are synthetic</strong>: pseudo-patients '
              "calibrated to published figures, a test bed for the methods, not evidence.</p>"
              if bundled else
              '<p class="notice">Rendered from a user-supplied export. Pages show aggregates only; '
              "patient-level lists (quarantine, cleaning log) are in the run folder's <code>clean/</code>, "
              "not on these pages.</p>")
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items())
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>SLE stem-cell transplantation notebooks</title><style>{INDEX_CSS}</style></head><body>"
        "<h1>SLE stem-cell transplantation notebooks</h1>" + notice +
        "<table><thead><tr><th>Notebook</th><th>Question</th><th>Key result</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        '<h2>Provenance</h2><table class="prov"><tbody>'
        f"<tr><td>commit</td><td>{html.escape(prov['commit'])}</td></tr>"
        f"<tr><td>data</td><td>{html.escape(prov['data'])}, sha256 {html.escape(prov['data_sha256'])}</td></tr>"
        f"<tr><td>run</td><td>{html.escape(prov['run_date_utc'])}</td></tr>"
        f"<tr><td>versions</td><td>{html.escape(versions)}</td></tr></tbody></table>"
        "</body></html>\n")


def _fix_injected_cell_id(nb) -> None:
    """Give papermill's injected-parameters cell a fixed id (papermill draws a random one), so that
    two runs on the same data write the same executed notebooks."""
    for cell in nb.cells:
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["id"] = "injected-parameters"


def _execute(path: Path, target: Path, parameters: dict) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(str(path), str(target), kernel_name=KERNEL, cwd=str(config.NOTEBOOKS_DIR),
                            parameters=parameters, progress_bar=False, log_output=False,
                            request_save_on_cell_execute=False)
    except PapermillExecutionError as exc:
        ename, evalue = str(exc.ename), " ".join(str(exc.evalue).split())
        if ename.rsplit(".", 1)[-1] == "BadInputError":
            raise BadInputError(f"{evalue} (raised in notebook {path.stem})") from None
        raise RunError(f"notebook {path.stem} failed in cell {exc.exec_count}: {ename}: {evalue}") from None


def run_collection(data_dir, out_dir, notebooks=None, *, settings=None, aliases=None, synonyms=None,
                   allow_partial: bool = False, force: bool = False, jobs: int = 1) -> Path:
    """Run the notebook collection on a folder of raw exports and render a site; returns its index.

    Steps: check the folders (:func:`check_out_dir`); clean the export once, before any notebook
    runs, so that bad input stops the run with one line naming file, row, column and reason
    (:class:`~sle_nb_utils.errors.BadInputError`); cache the analysis tables under ``OUT/cache``;
    run each notebook with papermill (kernels get ``DATA_DIR`` as a parameter and the cache folder
    and the extra settings through the environment, see :data:`config.ENV_EXTRA_RESOURCES`);
    render the site; swap the new folder in.

    Layout of ``OUT``: ``site/`` (the pages; shareable), ``notebooks/`` (executed notebooks),
    ``clean/`` (clean tables, ``cleaning_log.csv``, ``quarantine.csv``: patient-level, stays here),
    ``cache/`` (analysis tables), ``provenance.json``, ``kernels.log``.

    On a user's data (any folder but the bundled ``data/raw``): the bundled-only notebooks (the
    datasheet, 00) and cells (tag ``bundled-only``, or the synthetic-data notice) are left out, and
    every text output is scrubbed of the export's patient identifiers and of exact dates.

    Parameters
    ----------
    data_dir : str or Path
        Folder of raw exports (CSV / xlsx).
    out_dir : str or Path
        Output folder: outside any git work tree (a git-ignored folder under ``reports/`` of this
        repository is allowed). The new run is built in a hidden folder inside it and its entries
        (:data:`RUN_ENTRIES`: ``site/``, ``notebooks/``...) are swapped in at the end, replacing a
        previous run's; a failed run leaves the previous one untouched, and other files in ``out_dir``
        are left alone. Entries of that name that are not a previous run's are refused unless
        ``force``.
    notebooks : list of Path, optional
        Default (``None``): every ``notebooks/NN_*.ipynb``; ``[]`` checks, cleans and caches only.
    settings, aliases, synonyms : str or Path, optional
        Extra site settings / column aliases / label synonyms CSVs (as ``clean`` takes them).
    allow_partial : bool
        Go on when a file or site loses more than 20% of its rows to quarantine (as ``clean
        --allow-partial``; logged in the cleaning notebook).
    force : bool
        Replace a non-empty folder that is not a previous run's output.
    jobs : int
        Notebooks run at the same time (each in its own kernel).

    Raises
    ------
    BadInputError
        Bad input (file, row, column, reason), also when raised inside a notebook.
    RunError
        A notebook failed for another reason; its executed copy is kept in ``OUT/failed-run/``.
    """
    from . import adam, cleaning

    data_dir, out_dir = Path(data_dir).resolve(), Path(out_dir).resolve()
    if not data_dir.is_dir():
        raise BadInputError("data folder not found", file=str(data_dir))
    check_out_dir(out_dir, data_dir)
    _prepare_out(out_dir, force)
    extra = {}
    for kind, value in (("settings", settings), ("aliases", aliases), ("synonyms", synonyms)):
        if value is not None:
            p = Path(value).resolve()
            if not p.is_file():
                raise BadInputError(f"--{kind} file not found", file=str(value))
            extra[kind] = p
    bundled = data_dir == config.RAW_DIR.resolve()
    paths = notebook_paths() if notebooks is None else [Path(p) for p in notebooks]

    created = not out_dir.exists()
    out_dir.mkdir(parents=True, exist_ok=True)
    # built inside OUT (hidden), never beside it: OUT's parent may be a git work tree (OUT = reports/)
    tmp = Path(tempfile.mkdtemp(prefix=".run-tmp-", dir=out_dir))
    keep_tmp = False
    try:
        result = cleaning.clean_directory(data_dir, tmp / "clean", settings=extra.get("settings"),
                                          aliases=extra.get("aliases"), synonyms=extra.get("synonyms"),
                                          allow_partial=allow_partial)
        ids = None if bundled else identifier_pattern(_identifiers(result))
        env = {config.ENV_CACHE_DIR: tmp / "cache", "MATPLOTLIBRC": tmp / "matplotlibrc",
               config.ENV_ALLOW_PARTIAL: "1" if allow_partial else None,
               **{config.ENV_EXTRA_RESOURCES[k]: extra.get(k) for k in config.ENV_EXTRA_RESOURCES}}
        (tmp / "matplotlibrc").write_text(f"figure.dpi: {display.FIGURE_DPI}\nsavefig.dpi: figure\n")
        with _environ(env):
            adam.store_analysis_tables(data_dir, adam.build_analysis_tables(result.tables))
        prov = provenance(data_dir, bundled)
        nb_out, site = tmp / "notebooks", tmp / "site"
        nb_out.mkdir()
        site.mkdir()
        todo = []
        for path in paths:
            if not bundled and _is_bundled_only_notebook(nbformat.read(path, as_version=4), path):
                continue
            todo.append(path)
        params = {"DATA_DIR": None if bundled else str(data_dir)}

        def one(path: Path) -> dict:
            t0 = time.monotonic()
            target = nb_out / path.name
            _execute(path, target, params)
            nb = nbformat.read(target, as_version=4)
            _fix_injected_cell_id(nb)
            if not bundled:
                _drop_bundled_only_cells(nb)
                _scrub_outputs(nb, ids)
            nbformat.write(nb, target)
            summary = _render_page(nb, path, site, prov=prov, bundled=bundled)
            print(f"  {path.stem}: {time.monotonic() - t0:.0f} s", flush=True)
            return summary

        # kernels inherit this process's stderr: their start-up chatter goes to kernels.log
        with _environ(env), _stderr_to(tmp / "kernels.log"):
            try:
                if jobs > 1 and len(todo) > 1:
                    from concurrent.futures import ThreadPoolExecutor

                    with ThreadPoolExecutor(max_workers=jobs) as pool:
                        entries = list(pool.map(one, todo))
                else:
                    entries = [one(p) for p in todo]
            except RunError:
                keep_tmp = True
                raise
        (tmp / "matplotlibrc").unlink()
        (site / "index.html").write_text(_index(entries, prov, bundled), encoding="utf-8")
        (tmp / "provenance.json").write_text(json.dumps(prov, indent=1) + "\n", encoding="utf-8")
        (tmp / MARKER).write_text("output of `python -m sle_nb_utils run`; the next run replaces its entries\n",
                                  encoding="utf-8")
        _swap_in(tmp, out_dir)
    except RunError as exc:
        if keep_tmp:
            failed = out_dir / FAILED
            shutil.rmtree(failed, ignore_errors=True)
            os.replace(tmp, failed)
            raise RunError(f"{exc} (executed notebooks in {failed}/notebooks; the previous pages are "
                           "unchanged)") from None
        raise
    finally:
        if tmp.exists() and not keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        if created and out_dir.is_dir() and not any(out_dir.iterdir()):
            out_dir.rmdir()  # a run that stopped on bad input leaves no empty folder behind
    index = out_dir / "site" / "index.html"
    print(f"{len(entries)} notebooks -> {out_dir / 'notebooks'}; site -> {index}")
    return index


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "refresh":
        print("usage: python -m sle_nb_utils.report refresh [NOTEBOOK ...]", file=sys.stderr)
        return 2
    refresh([Path(p) for p in argv[1:] if not p.endswith("*.ipynb")] or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
