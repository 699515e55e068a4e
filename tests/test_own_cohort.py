"""The whole collection on a researcher's own series: any cohort (issue 13, item 1) and privacy.

The export (``tests/own_cohort.py``): two cohorts of a generated export, with other site names
declared in a settings CSV (as a user would pass ``--settings``), other cohort labels
(``hsct_center_a``, ``msct_center_b``) and realistic hospital numbers instead of pseudonyms.
``python -m sle_nb_utils run`` runs every notebook on it once (one run serves both sets of checks:
each run executes the whole collection).

Any cohort: each notebook must complete; no output may mention the bundled cohort codes or carry the
synthetic-data notice; the cohorts must appear under their display names; the key tables must have
rows. Notebook 00 is the datasheet of the bundled data: ``run`` leaves it out on any other folder (a
notebook whose metadata ``sle_nb_utils.bundled_only`` is true, by default one whose name starts with
``00_``; see ``report._is_bundled_only_notebook``).

Privacy by default: the rendered pages and executed notebooks carry none of the hospital numbers and
none of the export's exact dates, nothing is written into the repository (the analysis cache goes
under OUT), and the datasheet and the synthetic-data notices are left out.
"""

from __future__ import annotations

import re

import pandas as pd
import pytest
import subprocess

from own_cohort import BUNDLED_CODES, NAMES, ROOT, find, rendered_files, run_own_cohort

pytestmark = pytest.mark.slow


def _outputs(cell) -> str:
    out = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "stream":
            out.append("".join(o["text"]))
        elif o.get("output_type") == "error":
            out.append(f"{o['ename']}: {o['evalue']}")
        else:
            out.extend("".join(v) for k, v in o.get("data", {}).items() if k.startswith("text/"))
    return "\n".join(out)


def _cell(nb, source_part: str):
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and source_part in "".join(c["source"])]
    assert cells, f"no code cell with {source_part!r}"
    return cells[0]


@pytest.fixture(scope="module")
def own_cohort_run(tmp_path_factory):
    """The own series run through the whole collection (``own_cohort.run_own_cohort``)."""
    return run_own_cohort(tmp_path_factory.mktemp("own_cohort"))


@pytest.fixture(scope="module")
def run(own_cohort_run):
    return own_cohort_run.out, own_cohort_run.notebooks


@pytest.fixture(scope="module")
def reidentified_run(own_cohort_run):
    """(out_dir, hospital numbers, date strings, git state before, git state after)."""
    r = own_cohort_run
    return r.out, r.ids, r.dates, r.git_before, r.git_after


def test_every_notebook_runs_except_the_bundled_datasheet(run):
    out, nbs = run
    expected = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb") if not p.name.startswith("00_"))
    assert sorted(nbs) == expected
    for name, nb in nbs.items():
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                assert c.get("execution_count") is not None or not "".join(c["source"]).strip(), name
                assert not any(o.get("output_type") == "error" for o in c.get("outputs", [])), (name, _outputs(c))
                assert "Traceback" not in _outputs(c), name
    assert sorted(p.name for p in (out / "site").glob("0*.html")) == [n.replace(".ipynb", ".html") for n in expected]


def test_no_output_mentions_the_bundled_cohorts_or_the_synthetic_notice(run):
    out, nbs = run
    for name, nb in nbs.items():
        text = "\n".join(_outputs(c) for c in nb["cells"] if c["cell_type"] == "code")
        hit = BUNDLED_CODES.search(text)
        assert hit is None, (name, text[max(0, hit.start() - 200):hit.end() + 50])
        assert "The data are SYNTHETIC" not in text, name
    for page in (out / "site").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert not BUNDLED_CODES.search(text), page.name
        assert "The data are SYNTHETIC" not in text, page.name


def test_cohorts_show_under_their_display_names(run):
    _, nbs = run
    for name in ("03_longitudinal_sledai_renal.ipynb", "04_survival_curves.ipynb", "05_published_claims.ipynb"):
        text = "\n".join(_outputs(c) for c in nbs[name]["cells"])
        for display in NAMES.values():
            assert display in text, (name, display)


def test_notebook_04_key_tables_and_calibration_sections(run):
    _, nbs = run
    nb = nbs["04_survival_curves.ipynb"]
    overview = _outputs(_cell(nb, "outcomes.cohort_overview"))
    assert "HSCT, Center A" in overview and "MSCT, Center B" in overview and "none" in overview
    km = _outputs(_cell(nb, 'for ep in ("OS", "DFS")], ignore_index=True)'))
    for display in NAMES.values():
        assert display in km
    assert re.search(r"HSCT, Center A\s+12\.0\s+\d+\s+\d", km)  # a 12-month OS estimate with numbers
    stacked = _outputs(_cell(nb, "competing_risks_table"))
    assert "HSCT, Center A" in stacked and "100.0" in stacked  # REL + NRM + DFS = 100%
    # each calibration section prints one line instead of running on cohorts it does not describe
    for part in ("origin_comparison", "cif_variance_table", "cd34_calibration_check", "published_comparison",
                 "trm_counts"):
        assert _outputs(_cell(nb, part)).startswith("Not computed: no cohort of the data maps to"), part
    conclusion = _outputs(_cell(nb, "outcomes.conclusions"))
    assert "HSCT, Center A" in conclusion and "nothing is compared with published figures" in conclusion
    assert "synthetic" not in conclusion.lower()


def test_cleaning_and_claims_tables_have_rows(run):
    out, nbs = run
    patients = pd.read_csv(out / "clean" / "patients.csv")
    assert sorted(patients["cohort"].unique()) == sorted(NAMES) and len(patients) > 50
    claims = _outputs(_cell(nbs["05_published_claims.ipynb"], "claims.load"))
    assert "HSCT, Center A" in claims and "MSCT, Center B" in claims


# ------------------------------------------------------------------------- privacy
def test_the_export_really_carries_identifiers_and_dates(reidentified_run):
    """The check below can fail: the patient-level lists under OUT/clean hold the hospital numbers
    and the dates."""
    out, ids, dates, *_ = reidentified_run
    patients = (out / "clean" / "patients.csv").read_text(encoding="utf-8")
    assert len(ids) > 50 and len(find(ids, patients)) >= 0.9 * len(ids)  # (most) patients kept, under their numbers
    visits = (out / "clean" / "visits.csv").read_text(encoding="utf-8")
    assert len(find(dates, visits)) > 100
    assert (out / "clean" / "quarantine.csv").is_file() and (out / "clean" / "cleaning_log.csv").is_file()


def test_rendered_files_carry_no_identifier_and_no_date(reidentified_run):
    out, ids, dates, *_ = reidentified_run
    files = rendered_files(out)
    assert any(f.suffix == ".html" for f in files) and any(f.suffix == ".ipynb" for f in files)
    leaks = {}
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        hit = find(ids, text) + find(dates, text)
        if hit:
            leaks[str(f.relative_to(out))] = hit[:10]
    assert not leaks, leaks


def test_no_datasheet_and_no_synthetic_notice_on_user_data(reidentified_run):
    out, *_ = reidentified_run
    pages = sorted(p.name for p in (out / "site").glob("*.html"))
    assert "index.html" in pages and len(pages) >= 3
    assert not any(p.startswith("00_") for p in pages)
    for p in (out / "site").glob("*.html"):
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"data are synthetic", text, re.I), p.name
        assert "injected-parameters" not in text, p.name


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
            hit = find(ids, text)
            if hit:
                leaks[name] = hit[:5]
    assert not leaks, leaks
