"""The whole collection on a researcher's own series (issue 13, item 1: "any cohort").

A generated export is cut down to two cohorts (the HSCT site exporting as Chicago, the MSCT site
exporting as Nanjing), its files renamed to other site names (``hospital_a_*``, ``hospital_b_*``,
declared in a settings CSV, as a user would pass ``--settings``) and its cohorts relabelled
(``hsct_center_a``, ``msct_center_b``). ``python -m sle_nb_utils run`` then runs every notebook on
it. Each must complete; no output may mention the bundled cohort codes or carry the synthetic-data
notice; the cohorts must appear under their display names; the key tables must have rows.

Notebook 00 is the datasheet of the bundled data: ``run`` leaves it out on any other folder (a
notebook whose metadata ``sle_nb_utils.bundled_only`` is true, by default one whose name starts with
``00_``; see ``report._is_bundled_only_notebook``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUNDLED_CODES = re.compile(r"hsct_burt2006|hsct_ebmt2013|msct_wang2013", re.I)
#: (site in the generated export, its encoding, bundled cohort code) -> (new site, new cohort code)
KEEP = {("chicago", "latin-1", "hsct_burt2006"): ("hospital_a", "hsct_center_a"),
        ("nanjing", "utf-8", "msct_wang2013"): ("hospital_b", "msct_center_b")}
NAMES = {"hsct_center_a": "HSCT, Center A", "msct_center_b": "MSCT, Center B"}

pytestmark = pytest.mark.slow


def _cli(*args, cwd=ROOT):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "sle_nb_utils", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _own_export(tmp: Path) -> tuple[Path, Path]:
    """A generated export with two cohorts, other site names and other cohort labels."""
    gen = tmp / "generated"
    res = _cli("synth", "--out", gen, "--seed", 7)
    assert res.returncode == 0, res.stderr
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
    return raw, settings


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
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("any_cohort")
    raw, settings = _own_export(tmp)
    out = tmp / "reports"
    res = _cli("run", "--data-dir", raw, "--out", out, "--settings", settings)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    nbs = {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted((out / "notebooks").glob("*.ipynb"))}
    return out, nbs


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
