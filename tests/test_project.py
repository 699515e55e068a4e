"""Project-level checks: pins in sync, docs name real files, notebooks fully executed and clean,
bundled data regenerate byte-identically."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from sle_nb_utils import config
from sle_nb_utils.__main__ import main as cli

ROOT = config.PROJ_ROOT


def pins_from_pyproject():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    return sorted(deps)


def pins_from_environment_yml():
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return sorted(m.group(1) for line in lines if (m := re.match(r"\s*-\s*([A-Za-z0-9_.-]+==\S+)\s*$", line)))


def test_every_dependency_is_pinned_exactly():
    assert all("==" in d for d in pins_from_pyproject())
    names = {d.split("==")[0] for d in pins_from_pyproject()}
    assert {"pandas", "lifelines"} <= names  # lifelines 0.30.3 needs pandas < 3 (README, "Pins")


def test_environment_yml_matches_pyproject():
    assert pins_from_environment_yml() == pins_from_pyproject()


def test_readme_names_only_files_that_exist():
    text = (ROOT / "README.md").read_text()
    named = set(re.findall(r"`((?:notebooks|data|sle_nb_utils|tests|\.ci)/[^`*\s]*)`", text))
    assert named, "README names no project files"
    missing = sorted(n for n in named if not (ROOT / n.rstrip("/")).exists())
    assert not missing, missing


def test_readme_lists_every_notebook():
    text = (ROOT / "README.md").read_text()
    for nb in sorted(config.NOTEBOOKS_DIR.glob("*.ipynb")):
        assert nb.name in text, nb.name


def test_makefile_targets_and_ci():
    mk = (ROOT / "Makefile").read_text()
    for target in ("help", "report", "test", "lab", "notebooks", "data", "bench"):
        assert re.search(rf"^{target}:.*## ", mk, re.M), target
    assert ".DEFAULT_GOAL := help" in mk
    assert re.search(r'^unit:.*\n\t.*pytest tests .*-m "not r and not slow"', mk, re.M)  # fast: no R, no slow
    assert "make test" in (ROOT / ".ci" / "run").read_text()


NOTEBOOKS = sorted(config.NOTEBOOKS_DIR.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_executed_clean_and_labelled(path):
    nb = json.loads(path.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]
    assert code
    unexecuted = [i for i, c in enumerate(code) if c.get("execution_count") is None]
    assert not unexecuted, f"code cells never executed (nbval would skip them): {unexecuted}"
    counts = [c["execution_count"] for c in code]
    assert counts == list(range(1, len(code) + 1)), "cells were not executed once, top to bottom"
    bad = re.compile(r"(/root/|/tmp/|/home/|/work/|site-packages|\bat 0x[0-9a-f]+|"
                     r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2})")
    for c in code:
        for out in c.get("outputs", []):
            assert out.get("output_type") != "error" and out.get("name") != "stderr", (
                "stored error/stderr output", "".join(c["source"])[:80])
            text = "".join(out.get("text", "")) + "".join(
                "".join(v) if isinstance(v, list) else str(v)
                for k, v in out.get("data", {}).items() if k.startswith("text/"))
            assert not bad.search(text), bad.search(text).group(0)
            assert "image/svg+xml" not in out.get("data", {})
    opening = " ".join("".join(c["source"]) for c in nb["cells"][:3] if c["cell_type"] == "markdown")
    assert "synthetic" in opening.lower()
    assert nb["cells"][0]["cell_type"] == "markdown" and "".join(nb["cells"][0]["source"]).startswith("# ")
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters' (papermill)"


def digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow  # regenerates the whole bundled data set (~7 s)
@pytest.mark.rerun  # a reproducibility rerun: `make rerun` (and .ci/run) runs it
def test_bundled_data_regenerate_byte_identically(tmp_path, capsys):
    assert cli(["synth", "--out", str(tmp_path)]) == 0
    assert digest(tmp_path / "raw") == digest(config.RAW_DIR)
    assert digest(tmp_path / "truth") == digest(config.TRUTH_DIR)
    assert (tmp_path / "README.md").read_bytes() == (config.DATA_DIR / "README.md").read_bytes()


@pytest.mark.slow
@pytest.mark.rerun
def test_synth_is_deterministic_for_another_seed(tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli(["synth", "--out", str(a), "--seed", "2"]) == 0
    assert cli(["synth", "--out", str(b), "--seed", "2"]) == 0
    assert digest(a) == digest(b)
    assert digest(a / "truth") != digest(config.TRUTH_DIR)


def test_html_report_is_offline(tmp_path):
    from sle_nb_utils import report

    out = tmp_path / "00.html"
    report.render_html(config.NOTEBOOKS_DIR / "00_bundled_data.ipynb", out)
    html = out.read_text()
    assert "SYNTHETIC" in html
    for cdn in ("cdnjs.cloudflare.com", "unpkg.com", "cdn.jsdelivr.net", '<script src=""'):
        assert cdn not in html, cdn


def test_run_refuses_to_write_into_notebooks(tmp_path, capsys):
    assert cli(["run", "--data-dir", str(config.RAW_DIR), "--out", str(config.NOTEBOOKS_DIR / "x")]) == 2
    assert "outside notebooks/" in capsys.readouterr().err
    assert cli(["run", "--data-dir", str(tmp_path / "missing"), "--out", str(tmp_path)]) == 2


@pytest.mark.slow
def test_readme_cli_examples_work_verbatim(tmp_path):
    """Each ``python -m sle_nb_utils`` example in the README runs (paths under /tmp redirected)."""
    import shlex
    import subprocess
    import sys

    text = (ROOT / "README.md").read_text()
    lines = [ln.split("#")[0].strip() for ln in text.splitlines()
             if ln.startswith(".venv/bin/python -m sle_nb_utils ")]
    commands = [ln for ln in lines if " run " not in ln]  # `run` is what `make report` does
    assert {c.split()[3] for c in commands} == {"synth", "clean", "build"}
    for line in commands:
        args = shlex.split(line.replace("/tmp/", f"{tmp_path}/"))
        res = subprocess.run([sys.executable, *args[1:]], cwd=ROOT, capture_output=True, text=True,
                             timeout=300)
        assert res.returncode == 0, (line, res.stderr[-2000:])
    assert (tmp_path / "sle-adam" / "adtte.csv").exists()


@pytest.mark.slow
def test_installed_package_without_checkout(tmp_path):
    """The package as a wheel installs it (sle_nb_utils/ with resources/, no data/ beside it): the
    resources load through importlib.resources, and the bundled-data path fails with a clear
    message instead of a missing-file traceback."""
    import shutil
    import subprocess
    import sys

    site = tmp_path / "site-packages"
    shutil.copytree(ROOT / "sle_nb_utils", site / "sle_nb_utils",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    code = (
        "from sle_nb_utils import adam, config, readers\n"
        "from sle_nb_utils.errors import BadInputError\n"
        "assert len(readers.read_resource('column_aliases.csv')) > 100\n"
        "assert len(adam.data_dictionary()) > 50\n"
        "try:\n"
        "    adam.load_analysis_tables()\n"
        "except BadInputError as e:\n"
        "    print(e.message)\n")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(site), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "ship with the git checkout, not with an installed package" in res.stdout
    assert str(site / "data" / "raw") in res.stdout
    res = subprocess.run([sys.executable, "-m", "sle_nb_utils", "clean", str(site / "data" / "raw"), "--out",
                          str(tmp_path / "out")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr[-2000:]
