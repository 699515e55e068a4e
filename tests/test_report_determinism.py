"""``make report`` twice gives the same pages (issue 10, determinism).

Two ``python -m sle_nb_utils run`` on the bundled data, in two fresh folders; every rendered page
(HTML with its embedded figures) and every executed notebook must be byte-identical apart from the
provenance line that gives the run's date and time. nbval compares the stored text outputs of
``notebooks/`` but not images; this compares everything, figures included.

Each run executes the whole collection, so this sits in the ``rerun`` group (``make rerun``, which
``.ci/run`` always runs), beside the R reference reruns, not in ``make test``.
"""

from __future__ import annotations

import difflib
import json
import re

import pytest
from own_cohort import cli

from sle_nb_utils import config

#: the run date of the provenance footer and table (``report.provenance``: "%Y-%m-%d %H:%M UTC")
RUN_DATE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")

pytestmark = [pytest.mark.rerun, pytest.mark.slow]


def _run(out):
    res = cli("run", "--data-dir", config.RAW_DIR, "--out", out, "--jobs", "2")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out


def _page(path) -> str:
    text = path.read_text(encoding="utf-8")
    n = len(RUN_DATE.findall(text))
    assert n <= 2, (path.name, n)  # the footer and the provenance table, nothing else carries a time
    return RUN_DATE.sub("[run date]", text)


def _notebook(path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    nb["metadata"].pop("papermill", None)  # start and end times, duration
    for cell in nb["cells"]:
        cell.get("metadata", {}).pop("papermill", None)
        cell.get("metadata", {}).pop("execution", None)
    return json.dumps(nb, indent=1, sort_keys=True)


def _first_difference(a: str, b: str) -> str:
    diff = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=0)
    return "\n".join(line[:200] for _, line in zip(range(12), diff))


def test_make_report_twice_gives_identical_pages(tmp_path):
    first, second = _run(tmp_path / "first"), _run(tmp_path / "second")
    pages = sorted(p.name for p in (first / "site").glob("*.html"))
    assert "index.html" in pages and len(pages) >= 7
    assert pages == sorted(p.name for p in (second / "site").glob("*.html"))
    notebooks = sorted(p.name for p in (first / "notebooks").glob("*.ipynb"))
    assert len(notebooks) >= 6
    assert notebooks == sorted(p.name for p in (second / "notebooks").glob("*.ipynb"))
    differ = {}
    for name in pages:
        a, b = _page(first / "site" / name), _page(second / "site" / name)
        if a != b:
            differ[name] = _first_difference(a, b)
    for name in notebooks:
        a, b = _notebook(first / "notebooks" / name), _notebook(second / "notebooks" / name)
        if a != b:
            differ[name] = _first_difference(a, b)
    assert not differ, differ
    # the figures are in the comparison: the pages embed them
    assert sum(_page(first / "site" / n).count("data:image/png;base64,") for n in pages) >= 20
