"""A researcher's own series, run once per test session through the whole collection.

Used by ``test_own_cohort.py``: every notebook runs on a series that is not the bundled one, and
nothing identifying reaches the rendered files. One ``python -m sle_nb_utils run`` serves both sets of
checks, because each run executes the whole collection (about 40 s of CPU here).

The export: the synthetic generator's seed-7 export cut down to two cohorts (the HSCT site exporting
as Chicago, the MSCT site exporting as Nanjing), its files renamed to other site names
(``hospital_a_*``, ``hospital_b_*``, declared in a settings CSV, as a user would pass ``--settings``),
its cohorts relabelled (``hsct_center_a``, ``msct_center_b``), and its pseudonyms replaced by
realistic hospital numbers (10-digit NHS-style numbers, ``MR`` + 7 digits, ``H`` + 7 digits).
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
SEED = 7
BUNDLED_CODES = re.compile(r"hsct_burt2006|hsct_ebmt2013|msct_wang2013", re.I)
#: (site in the generated export, its encoding, bundled cohort code) -> (new site, new cohort code)
KEEP = {("chicago", "latin-1", "hsct_burt2006"): ("hospital_a", "hsct_center_a"),
        ("nanjing", "utf-8", "msct_wang2013"): ("hospital_b", "msct_center_b")}
NAMES = {"hsct_center_a": "HSCT, Center A", "msct_center_b": "MSCT, Center B"}
_PSEUDONYM = re.compile(r"(?<![A-Za-z0-9])(EB|NJ|NW)([-_ ]?)(\d{4})(?![0-9])", re.I)


def cli(*args, cwd=ROOT) -> subprocess.CompletedProcess:
    """``python -m sle_nb_utils ARGS`` in a subprocess with this checkout first on the path."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "sle_nb_utils", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=1200)


def hospital_numbers(ids) -> dict:
    """Realistic hospital numbers for the generator's pseudonyms: 10-digit NHS-style numbers for
    one series, 'MR' + 7 digits and 'H' + 7 digits for the others (distinct, seeded)."""
    rng = random.Random(SEED)
    out, used = {}, set()
    for pid in sorted(ids):
        while True:
            prefix = pid[:2].upper()
            new = {"NJ": f"{rng.randrange(4_000_000_000, 9_999_999_999)}",
                   "NW": f"MR{rng.randrange(1_000_000, 9_999_999)}",
                   "EB": f"H{rng.randrange(1_000_000, 9_999_999)}"}[prefix]
            if new not in used:
                break
        used.add(new)
        out[pid.upper()] = new
    return out


def reidentify(raw: Path, mapping: dict) -> int:
    """Replace every pseudonym in the export (CSV bytes, workbook cells) by its hospital number;
    returns the number of replacements."""
    import openpyxl

    n = 0

    def sub(text: str) -> str:
        def one(m):
            nonlocal n
            key = f"{m.group(1).upper()}-{m.group(3)}"
            if key not in mapping:
                return m.group(0)
            n += 1
            return mapping[key]
        return _PSEUDONYM.sub(one, text)

    for f in sorted(raw.iterdir()):
        if f.suffix == ".csv":
            f.write_bytes(sub(f.read_bytes().decode("latin-1")).encode("latin-1"))  # byte-preserving
        elif f.suffix == ".xlsx":
            wb = openpyxl.load_workbook(f)
            for ws in wb.worksheets:
                for row in ws.iter_rows():
                    for cell in row:
                        if isinstance(cell.value, str):
                            cell.value = sub(cell.value)
            wb.save(f)
    return n


def date_strings(truth: dict) -> set:
    """Every exact date of the export, in the formats the exports and pandas print."""
    days = set()
    for t in truth.values():
        for c in t.columns:
            if c.endswith("_date"):
                days.update(pd.to_datetime(t[c], errors="coerce").dropna().dt.date)
    out = set()
    for d in days:
        for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%b-%Y", "%Y/%m/%d", "%d %b %Y",
                    "%b %d, %Y", "%Y%m%d"):
            out.add(d.strftime(fmt))
    return out


def git_state():
    """Every path git reports as changed, untracked or ignored, outside reports/ and caches."""
    res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {ln for ln in res.stdout.splitlines()
            if "__pycache__" not in ln and ".pytest_cache" not in ln and not ln.endswith(".pyc")
            and " reports/" not in ln}


def own_export(tmp: Path) -> tuple[Path, Path, dict, set]:
    """``(raw, settings, hospital numbers by pseudonym, date strings)`` of the own-series export."""
    gen = tmp / "generated"
    res = cli("synth", "--out", gen, "--seed", SEED)
    assert res.returncode == 0, res.stderr
    truth = {n: pd.read_csv(gen / "truth" / f"{n}.csv") for n in ("patients", "visits", "events")}
    raw = tmp / "my_export"
    raw.mkdir()
    for (site, enc, code), (new_site, new_code) in KEEP.items():
        for part in ("patients", "visits", "events"):
            text = (gen / "raw" / f"{site}_{part}.csv").read_bytes().decode(enc)
            if part == "patients":
                assert code in text
                text = text.replace(code, new_code)
            (raw / f"{new_site}_{part}.csv").write_bytes(text.encode(enc))
    settings = tmp / "my_sites.csv"
    pd.DataFrame({"site": ["hospital_a", "hospital_b"], "file_pattern": ["hospital_a_*", "hospital_b_*"],
                  "encoding": ["latin-1", "utf-8"], "date_order": ["MDY", "YMD"],
                  "note": ["HSCT centre", "MSCT centre"]}).to_csv(settings, index=False)
    assert not BUNDLED_CODES.search(" ".join(p.read_bytes().decode("latin-1") for p in raw.iterdir()))
    text = " ".join(p.read_bytes().decode("latin-1") for p in raw.iterdir())
    kept = {f"{m.group(1).upper()}-{m.group(3)}" for m in _PSEUDONYM.finditer(text)}  # patients in the export
    mapping = hospital_numbers(kept)
    n = reidentify(raw, mapping)
    assert n >= 5 * len(mapping), (n, len(mapping))  # every patient row and most visit rows
    return raw, settings, mapping, date_strings({n: t[t["patient_id"].isin(kept)] for n, t in truth.items()})


@dataclass
class OwnCohortRun:
    out: Path  # the run's OUT folder
    notebooks: dict  # executed notebook name -> notebook JSON
    ids: list  # the hospital numbers in the export
    dates: set  # every exact date of the export, in common formats
    git_before: set | None  # git state before the run (None outside a git checkout)
    git_after: set | None


def run_own_cohort(tmp: Path) -> OwnCohortRun:
    raw, settings, mapping, dates = own_export(tmp)
    in_git = (ROOT / ".git").exists()
    before = git_state() if in_git else None
    out = tmp / "reports"
    res = cli("run", "--data-dir", raw, "--out", out, "--settings", settings, "--jobs", "2")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    after = git_state() if in_git else None
    nbs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "notebooks").glob("*.ipynb"))}
    return OwnCohortRun(out, nbs, sorted(mapping.values()), dates, before, after)


def rendered_files(out: Path) -> list:
    return sorted(p for d in ("site", "notebooks") for p in (out / d).rglob("*") if p.is_file())


def _shape(word: str) -> str:
    """The regular expression of a word's shape: digits, letters and the literal separators."""
    return "".join(r"\d" if ch.isdigit() else "[^\\W\\d_]" if ch.isalpha() else re.escape(ch) for ch in word)


def find(pattern_words, text):
    """The words of ``pattern_words`` (case-insensitive) that occur in ``text`` as a whole token (not
    inside a longer run of word characters or hyphens).

    Candidates are found by shape (one pattern per distinct shape, e.g. ``dddd-dd-dd``, overlapping
    matches allowed) and looked up in a set: one pass per shape instead of one alternation of
    thousands of words, which took 40 s on the rendered pages."""
    words = {w.lower() for w in pattern_words}
    hits = set()
    for shape in sorted({_shape(w) for w in words}):
        for m in re.finditer(rf"(?<![\w-])(?=({shape})(?![\w-]))", text):
            if m.group(1).lower() in words:
                hits.add(m.group(1))
    return sorted(hits)
