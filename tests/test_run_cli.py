"""``python -m sle_nb_utils run`` as a promise: exit 2 with one line on bad input (before any
notebook runs, and when a notebook raises BadInputError), the options ``clean`` takes, no output
inside the git work tree, a previous run replaced only when the new one succeeds, and one
example per export layout in ``--help`` and in the README."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from sle_nb_utils import config, report
from sle_nb_utils.__main__ import LAYOUT_EXAMPLES, build_parser
from sle_nb_utils.__main__ import main as cli
from sle_nb_utils.errors import BadInputError

#: end-to-end CLI runs (subprocess + cleaning): `make unit` skips them, `make test` runs them
pytestmark = pytest.mark.slow

ROOT = config.PROJ_ROOT


def run_cli(*args, timeout=600):
    """The CLI in a fresh process, as a user runs it: (exit code, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-m", "sle_nb_utils", "run", *map(str, args)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=timeout)
    return res.returncode, res.stdout, res.stderr


def assert_one_line_error(err: str, *needles):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    assert lines[0].startswith("error: "), lines
    assert "Traceback" not in err and "papermill" not in err.lower()
    for n in needles:
        assert n in lines[0], (n, lines[0])


def copy_raw(tmp_path: Path, rename=None) -> Path:
    raw = tmp_path / "export"
    raw.mkdir()
    for f in sorted(config.RAW_DIR.iterdir()):
        name = rename(f.name) if rename else f.name
        if name:
            shutil.copy(f, raw / name)
    return raw


# ---- bad input: exit 2, one line, before any notebook ----------------------------------------
def test_zero_byte_file_exits_2_with_one_line(tmp_path):
    raw = copy_raw(tmp_path)
    (raw / "suzhou_visits.csv").write_bytes(b"")
    code, out, err = run_cli("--data-dir", raw, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, "suzhou_visits.csv")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export"]  # no temporary folder left behind


def test_missing_patients_file_of_one_site_exits_2(tmp_path):
    raw = copy_raw(tmp_path, rename=lambda n: None if n == "suzhou_patients.csv" else n)
    code, out, err = run_cli("--data-dir", raw, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, "file ")


def test_renamed_export_exits_2_and_settings_option_fixes_it(tmp_path):
    """Files renamed so that no bundled site rule matches (latin-1, month/day/year): exit 2 naming
    file, row and the fix; the same export goes through with ``--settings`` (as ``clean`` takes it),
    and the kernels receive that file and a cache folder under OUT through the environment."""
    raw = copy_raw(tmp_path, rename=lambda n: n.replace("chicago", "northwestern"))
    code, out, err = run_cli("--data-dir", raw, "--out", tmp_path / "out")
    assert code == 2
    assert_one_line_error(err, "northwestern_", "row ", "encoding")

    settings = tmp_path / "my_sites.csv"
    settings.write_text("site,file_pattern,encoding,date_order\nnorthwestern,northwestern_*,latin-1,MDY\n")
    parser = build_parser()
    args = parser.parse_args(["run", "--data-dir", str(raw), "--out", str(tmp_path / "out"),
                              "--settings", str(settings), "--aliases", str(tmp_path / "a.csv"),
                              "--synonyms", str(tmp_path / "s.csv")])
    assert (args.settings, args.aliases, args.synonyms) == (str(settings), str(tmp_path / "a.csv"),
                                                            str(tmp_path / "s.csv"))
    # cleaning (the check before any notebook) passes with the settings
    index = report.run_collection(raw, tmp_path / "out", notebooks=[], settings=settings)
    assert index.is_file()
    assert (tmp_path / "out" / "clean" / "quarantine.csv").is_file()
    assert [p.name for p in (tmp_path / "out" / "cache").iterdir()][0].startswith("analysis-")


def probe_notebook(path: Path, body: str) -> Path:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("DATA_DIR = None")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 · Probe?"), params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_kernels_get_settings_and_cache_under_out(tmp_path):
    raw = copy_raw(tmp_path, rename=lambda n: n.replace("chicago", "northwestern"))
    settings = tmp_path / "my_sites.csv"
    settings.write_text("site,file_pattern,encoding,date_order\nnorthwestern,northwestern_*,latin-1,MDY\n")
    nb = probe_notebook(tmp_path / "99_probe.ipynb",
                        "from sle_nb_utils import adam, config\n"
                        "t = adam.load_analysis_tables(DATA_DIR)\n"
                        "print('SETTINGS', config.extra_resources()['settings'])\n"
                        "print('CACHE', config.cache_dir())\n"
                        "print('PATIENTS', len(t['adsl']))")
    out = tmp_path / "out"
    report.run_collection(raw, out, notebooks=[nb], settings=settings)
    text = "".join(o.get("text", "") for o in nbformat.read(out / "notebooks" / nb.name, 4).cells[-1].outputs)
    assert f"SETTINGS {settings.resolve()}" in text
    cache = text.split("CACHE ")[1].split("\n")[0]
    assert "/out/.run-tmp-" in cache and cache.endswith("/cache")  # built inside OUT, swapped in
    assert "PATIENTS 165" in text
    # only what the run built is in the cache: one entry, under OUT
    assert len(list((out / "cache").glob("analysis-*"))) == 1
    assert (out / "site" / "99_probe.html").is_file()


@pytest.mark.slow
def test_bad_input_raised_inside_a_notebook_is_one_line(tmp_path, capsys):
    nb = probe_notebook(tmp_path / "99_probe.ipynb",
                        "from sle_nb_utils.errors import BadInputError\n"
                        "raise BadInputError('value out of range', file='x_visits.csv', row=7, column='SCr')")
    with pytest.raises(BadInputError) as exc:
        report.run_collection(config.RAW_DIR, tmp_path / "out", notebooks=[nb])
    msg = exc.value.message
    assert "file x_visits.csv, row 7, column 'SCr': value out of range" in msg
    assert "\n" not in msg and "Traceback" not in msg
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["99_probe.ipynb"]


# ---- where the output may go ------------------------------------------------------------------
def test_out_inside_the_git_work_tree_is_refused(tmp_path, capsys):
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    for inside in (ROOT / "docs" / "site", ROOT / "my-output", ROOT / "data" / "reports"):
        assert cli(["run", "--data-dir", str(config.RAW_DIR), "--out", str(inside)]) == 2
        err = capsys.readouterr().err
        assert_one_line_error(err, "inside the git work tree")
        assert not inside.exists()
    # the git-ignored reports/ is allowed (make report); a folder outside git too
    report.check_out_dir(ROOT / "reports", config.RAW_DIR)
    report.check_out_dir(ROOT / "reports" / "other", config.RAW_DIR)
    report.check_out_dir(tmp_path / "out", config.RAW_DIR)


def test_out_must_not_be_or_hold_the_data(tmp_path, capsys):
    raw = copy_raw(tmp_path)
    for bad in (raw, raw / "out", tmp_path):
        assert cli(["run", "--data-dir", str(raw), "--out", str(bad)]) == 2
        assert_one_line_error(capsys.readouterr().err, "data folder")


def test_folder_not_from_a_run_refused_without_force(tmp_path, capsys):
    out = tmp_path / "mine"
    (out / "site").mkdir(parents=True)
    (out / "site" / "thesis.html").write_text("precious")
    assert cli(["run", "--data-dir", str(config.RAW_DIR), "--out", str(out)]) == 2
    assert_one_line_error(capsys.readouterr().err, "not empty", "--force")
    assert (out / "site" / "thesis.html").read_text() == "precious"
    assert sorted(p.name for p in out.iterdir()) == ["site"]
    report._prepare_out(out, force=True)  # accepted with --force
    report._prepare_out(config.REPORTS_DIR, force=False)  # reports/ holds runs only (make report)
    (out / report.MARKER).write_text("")
    report._prepare_out(out, force=False)  # a previous run's folder is accepted (and replaced)


def test_other_files_in_out_are_left_alone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    report.run_collection(config.RAW_DIR, out, notebooks=[])
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == sorted(["notes.txt", "site", "clean", "cache", "notebooks",
                                                            "provenance.json", "kernels.log", report.MARKER])


def test_failed_run_leaves_the_previous_pages_untouched(tmp_path):
    out = tmp_path / "out"
    (out / "site").mkdir(parents=True)
    (out / report.MARKER).write_text("")
    (out / "site" / "index.html").write_text("previous run")
    raw = copy_raw(tmp_path)
    (raw / "nanjing_visits.csv").write_bytes(b"")
    code, _, err = run_cli("--data-dir", raw, "--out", out)
    assert code == 2
    assert (out / "site" / "index.html").read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "out"]
    assert sorted(p.name for p in out.iterdir()) == sorted([report.MARKER, "site"])  # no temporary folder


def test_successful_run_replaces_the_previous_pages(tmp_path):
    out = tmp_path / "out"
    (out / "site").mkdir(parents=True)
    (out / report.MARKER).write_text("")
    (out / "site" / "stale_page.html").write_text("previous dataset")
    report.run_collection(config.RAW_DIR, out, notebooks=[])
    assert not (out / "site" / "stale_page.html").exists()
    assert (out / "site" / "index.html").is_file() and (out / report.MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".run-")]


# ---- help and README ----------------------------------------------------------------------------
def test_help_and_readme_show_one_example_per_layout(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    helptext = capsys.readouterr().out
    examples = [ln.strip() for ln in LAYOUT_EXAMPLES.splitlines() if "python -m sle_nb_utils run" in ln]
    assert len(examples) >= 4  # CSV per table, workbook, mixed sites with settings, bundled
    readme = (ROOT / "README.md").read_text()
    for ex in examples:
        assert ex in helptext
        assert ex.rstrip(" \\") in readme, ex
    for flag in ("--settings", "--aliases", "--synonyms", "--force"):
        assert flag in helptext


def test_allow_partial_is_taken_as_the_error_suggests(tmp_path, capsys):
    """A file that loses all its rows to quarantine stops the run (exit 2, suggesting
    --allow-partial); ``run --allow-partial`` goes on."""
    raw = copy_raw(tmp_path)
    shutil.copy(Path(__file__).parent / "bad_inputs" / "visits__whole_site_lost.csv", raw / "extra_visits.csv")
    assert cli(["run", "--data-dir", str(raw), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "extra_visits.csv", "--allow-partial")
    args = build_parser().parse_args(["run", "--data-dir", str(raw), "--out", str(tmp_path / "out"),
                                      "--allow-partial"])
    assert args.allow_partial
    report.run_collection(raw, tmp_path / "out", notebooks=[], allow_partial=True)
    assert (tmp_path / "out" / "site" / "index.html").is_file()


@pytest.mark.slow
def test_a_failing_notebook_is_one_line_and_kept_for_its_traceback(tmp_path):
    out = tmp_path / "out"
    (out / "site").mkdir(parents=True)
    (out / report.MARKER).write_text("")
    (out / "site" / "index.html").write_text("previous run")
    nb = probe_notebook(tmp_path / "99_probe.ipynb", "1 / 0")
    with pytest.raises(report.RunError) as exc:
        report.run_collection(config.RAW_DIR, out, notebooks=[nb])
    msg = str(exc.value)
    assert "notebook 99_probe failed in cell" in msg and "ZeroDivisionError" in msg and "\n" not in msg
    assert (out / "failed-run" / "notebooks" / "99_probe.ipynb").is_file()
    assert (out / "site" / "index.html").read_text() == "previous run"


def test_cli_turns_a_run_error_into_exit_1(monkeypatch, capsys):
    def boom(*a, **k):
        raise report.RunError("notebook 04_x failed in cell 3: KeyError: 'x'")

    monkeypatch.setattr(report, "run_collection", boom)
    assert cli(["run", "--data-dir", str(config.RAW_DIR), "--out", "/tmp/x"]) == 1
    assert_one_line_error(capsys.readouterr().err, "04_x", "cell 3")
