"""Privacy by default: ``run`` on a re-identified export (the synthetic generator's seed-5 export
with its pseudonyms replaced by realistic hospital numbers) renders pages and executed notebooks
that carry none of those identifiers and none of the export's exact dates, writes nothing into the
repository (the analysis cache goes under OUT), and leaves the datasheet and the synthetic-data
notices out."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from sle_nb_utils import config, report

ROOT = config.PROJ_ROOT
SEED = 5
_PSEUDONYM = re.compile(r"(?<![A-Za-z0-9])(EB|NJ|NW)([-_ ]?)(\d{4})(?![0-9])", re.I)


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
    """Replace every pseudonym in the export (CSV bytes, workbook cells) by its hospital number."""
    import openpyxl

    n = 0

    def sub(text: str) -> str:
        nonlocal n

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


def _git_state():
    res = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--ignored"], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return {ln for ln in res.stdout.splitlines()
            if "__pycache__" not in ln and ".pytest_cache" not in ln and not ln.endswith(".pyc")
            and " reports/" not in ln}


@pytest.fixture(scope="module")
def reidentified_run(tmp_path_factory):
    """(out_dir, hospital numbers, date strings, git state before, git state after)."""
    base = tmp_path_factory.mktemp("privacy")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "sle_nb_utils", "synth", "--out", str(base / "export"), "--seed",
                    str(SEED)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=600)
    truth = {n: pd.read_csv(base / "export" / "truth" / f"{n}.csv") for n in ("patients", "visits", "events")}
    mapping = hospital_numbers(truth["patients"]["patient_id"])
    assert reidentify(base / "export" / "raw", mapping) > 1000
    in_git = (ROOT / ".git").exists()
    before = _git_state() if in_git else None
    out = base / "out"
    res = subprocess.run([sys.executable, "-m", "sle_nb_utils", "run", "--data-dir", str(base / "export" / "raw"),
                          "--out", str(out), "--jobs", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=1200)
    assert res.returncode == 0, res.stderr[-3000:]
    after = _git_state() if in_git else None
    return out, sorted(mapping.values()), date_strings(truth), before, after


def _rendered_files(out: Path) -> list:
    return sorted(p for d in ("site", "notebooks") for p in (out / d).rglob("*") if p.is_file())


def _find(pattern_words, text):
    alt = "|".join(re.escape(w) for w in sorted(pattern_words, key=len, reverse=True))
    return sorted(set(re.findall(rf"(?<![\w-])(?:{alt})(?![\w-])", text, re.I)))


@pytest.mark.slow
def test_the_export_really_carries_identifiers_and_dates(reidentified_run):
    """The check below can fail: the patient-level lists under OUT/clean hold the hospital numbers
    and the dates."""
    out, ids, dates, *_ = reidentified_run
    patients = (out / "clean" / "patients.csv").read_text(encoding="utf-8")
    assert len(_find(ids, patients)) > 100
    visits = (out / "clean" / "visits.csv").read_text(encoding="utf-8")
    assert len(_find(dates, visits)) > 100
    assert (out / "clean" / "quarantine.csv").is_file() and (out / "clean" / "cleaning_log.csv").is_file()


@pytest.mark.slow
def test_rendered_files_carry_no_identifier_and_no_date(reidentified_run):
    out, ids, dates, *_ = reidentified_run
    files = _rendered_files(out)
    assert any(f.suffix == ".html" for f in files) and any(f.suffix == ".ipynb" for f in files)
    leaks = {}
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        hit = _find(ids, text) + _find(dates, text)
        if hit:
            leaks[str(f.relative_to(out))] = hit[:10]
    assert not leaks, leaks


@pytest.mark.slow
def test_no_datasheet_and_no_synthetic_notice_on_user_data(reidentified_run):
    out, *_ = reidentified_run
    pages = sorted(p.name for p in (out / "site").glob("*.html"))
    assert "index.html" in pages and len(pages) >= 3
    assert not any(p.startswith("00_") for p in pages)
    for p in (out / "site").glob("*.html"):
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"data are synthetic", text, re.I), p.name
        assert "injected-parameters" not in text, p.name


@pytest.mark.slow
def test_nothing_written_into_the_repository_and_no_identifier_tracked(reidentified_run):
    out, ids, _dates, before, after = reidentified_run
    assert sorted(p.name for p in (out / "cache").iterdir())[0].startswith("analysis-")
    if before is None:
        pytest.skip("not a git checkout")
    assert after == before  # no new file (tracked, untracked or ignored) outside reports/
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    leaks = {}
    for name in tracked.decode().split("\0"):
        f = ROOT / name
        if name and f.is_file():
            text = f.read_bytes().decode("utf-8", errors="replace")
            hit = _find(ids, text)
            if hit:
                leaks[name] = hit[:5]
    assert not leaks, leaks


def test_scrubber_masks_identifiers_and_dates():
    ids = report.identifier_pattern(["MR1234567", "4857730291", "12", "H7654321"])
    text = ("MR1234567 seen 2009-03-04, 04/03/2009, 4 Mar 2009, 04-Mar-2009, Mar 4, 2009 and "
            "4857730291 at 2009-03-04 00:00:00; h7654321 twice; 12 patients; CI 0.81 (0.70-0.89); "
            "p 0.05; 12.5 months; version 4.15.0")
    got = report.scrub_text(text, ids)
    assert "MR1234567" not in got and "4857730291" not in got and "h7654321" not in got
    assert not re.search(r"2009|Mar", got), got
    # counts, intervals and short numbers are left alone
    for keep in ("12 patients", "0.81 (0.70-0.89)", "p 0.05", "12.5 months", "4.15.0"):
        assert keep in got, (keep, got)
    assert got.count(report.ID_MASK) == 3 and got.count(report.DATE_MASK) == 6


def test_cache_is_never_in_the_repository(monkeypatch, tmp_path):
    monkeypatch.delenv(config.ENV_CACHE_DIR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert config.cache_dir() == tmp_path / "xdg" / "sle_nb_utils"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert config.cache_dir() == Path.home() / ".cache" / "sle_nb_utils"
    assert ROOT not in config.cache_dir().parents
    monkeypatch.setenv(config.ENV_CACHE_DIR, str(tmp_path / "run" / "cache"))
    assert config.cache_dir() == tmp_path / "run" / "cache"
