"""Shared test settings.

Tests marked ``r`` rerun the R reference scripts and skip when ``Rscript`` is absent. CI sets
``SLE_REQUIRE_R=1`` (it installs R), and then a skipped R test is a failure, so that a broken R
install cannot pass unnoticed.
"""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")  # unit tests only; nbval runs notebooks in their own kernels


#: The longest test files (test_own_cohort runs the whole notebook collection, about 50 s here):
#: scheduled first, so that the two xdist workers finish together (longest first); everything else
#: keeps its collection order. ``make test`` runs ``--dist loadfile --no-loadscope-reorder``.
HEAVY_FIRST = ("test_own_cohort.py", "test_run_cli.py", "test_site.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(HEAVY_FIRST)}
    items[:] = [item for _, item in sorted(enumerate(items),
                                            key=lambda p: (rank.get(p[1].path.name, len(rank)), p[0]))]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if (report.skipped and os.environ.get("SLE_REQUIRE_R") == "1"
            and item.get_closest_marker("r") is not None):
        report.outcome = "failed"
        report.longrepr = f"R test skipped although SLE_REQUIRE_R=1: {report.longrepr}"


# --------------------------------------------------------------------------------------------
# shared data: the calibrated synthetic truth, its messy exports and one cleaning run (built once
# per session; tests must not modify them: copy what you change into tmp_path)
# --------------------------------------------------------------------------------------------
SEED = 20130401


def _built_once(tmp_path_factory, name: str, build):
    """``build(folder)`` run once per test session, also across pytest-xdist workers: the first
    worker builds under a file lock and pickles the result beside its folder; the others load it
    (the pattern of pytest-xdist's docs, with fcntl instead of the filelock package)."""
    import fcntl
    import pickle

    if os.environ.get("PYTEST_XDIST_WORKER") is None:  # not under xdist: nothing to share
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent  # shared by the workers of this session
    folder, done = root / f"shared-{name}", root / f"shared-{name}.pickle"
    with open(root / f"shared-{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return pickle.loads(done.read_bytes())
        folder.mkdir()
        value = build(folder)
        done.write_bytes(pickle.dumps(value))
        return value


@pytest.fixture(scope="session")
def truth(tmp_path_factory):
    """The calibrated synthetic truth tables (``synth.make_truth``, seed 20130401)."""
    from sle_nb_utils import synth

    return _built_once(tmp_path_factory, "truth", lambda _folder: synth.make_truth(SEED))


@pytest.fixture(scope="session")
def raw_exports(truth, tmp_path_factory):
    """``(raw_dir, manifest)``: the truth written as messy site exports by ``messy``."""
    from sle_nb_utils import messy

    return _built_once(tmp_path_factory, "raw",
                       lambda raw: (raw, messy.write_raw_exports(truth, raw, SEED)))


@pytest.fixture(scope="session")
def cleaned(raw_exports, tmp_path_factory):
    """``(result, out_dir)``: one cleaning run over :func:`raw_exports`, written to ``out_dir``."""
    from sle_nb_utils import cleaning

    return _built_once(tmp_path_factory, "clean",
                       lambda out: (cleaning.clean_directory(raw_exports[0], out_dir=out), out))
