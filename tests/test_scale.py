"""Scale of the data layer: memory that grows with the input, and the 1M-visit budget (issue 10).

Targets (docs/design.md; ``sle_nb_utils/bench/cleaning.py``): ``clean`` + ``build`` of about 1M raw
visit rows through the command line in <= 30 s, and a peak memory <= 10x the raw export bytes.

* :func:`test_clean_memory_grows_with_input` (fast): the memory that cleaning *adds* per extra byte of
  input, measured with :mod:`tracemalloc` on an export and on six copies of it.
  The difference of the two peaks removes the fixed cost (settings, schemas, caches), which
  dominates a 200 kB export; tracemalloc sees Python objects and NumPy buffers, not Arrow's own
  memory pool (used while reading and writing CSV) nor allocator fragmentation, so it is a lower
  bound of what the resident size adds, not the resident size itself.
* :func:`test_cli_one_million_visits` (``slow`` and ``bench``; skipped unless selected with
  ``-m bench`` or ``SLE_RUN_BENCH=1``: it generates 200 MB of exports): ``clean`` + ``build`` as
  subprocesses, each with its peak resident size from ``os.wait4`` (``bench.scale.run_measured``; always asserted) and
  their wall time (asserted only with ``SLE_ASSERT_BUDGETS=1``: timings depend on the machine and
  its load).
"""

from __future__ import annotations

import os
import sys
import tracemalloc
from pathlib import Path

import pytest

from conftest import SEED

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 30.0
#: The target is a peak resident size <= 10x the raw export bytes. NOT met yet: measured at 1M
#: visits (199 MB of exports), clean peaks at 2.39-2.45 GB (12.0-12.3x; it was 3.5-3.7 GB, 18x) and
#: build at 1.7 GB (8.5x; it was 3.7-4.1 GB). The asserted bound is what the code holds today (with
#: a little room for allocator noise), so that a regression fails. The rest of the gap: the raw
#: cells, the 3M-row cleaning log and the clean text columns are held as Python strings.
RSS_PER_INPUT_BYTE = 13.0
#: tracemalloc's memory added per extra input byte: 15.7 before the issue-10 changes, 10.7 after.
TRACED_PER_INPUT_BYTE = 12.0


def _bytes(d: Path) -> int:
    return sum(f.stat().st_size for f in d.iterdir() if f.is_file())


def _traced_peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_clean_memory_grows_with_input(truth, raw_exports, tmp_path):
    from sle_nb_utils import cleaning, messy, synth

    small = raw_exports[0]
    big = tmp_path / "big"
    messy.write_raw_exports(synth._replicate(truth, 6), big, SEED)
    cleaning.clean_directory(small, progress=False)  # warm: settings, schemas and imports loaded once
    p_small = _traced_peak(lambda: cleaning.clean_directory(small, progress=False))
    p_big = _traced_peak(lambda: cleaning.clean_directory(big, progress=False))
    extra_bytes = _bytes(big) - _bytes(small)
    assert extra_bytes > 1_000_000
    per_byte = (p_big - p_small) / extra_bytes
    assert 0 < per_byte <= TRACED_PER_INPUT_BYTE, (p_small, p_big, extra_bytes, per_byte)


def _cli_peak(args, cwd) -> tuple[float, float, str]:
    """Run ``python -m sle_nb_utils ARGS`` (``bench.scale.run_measured``): wall seconds, peak
    resident bytes of that process, its output."""
    from sle_nb_utils.bench.scale import _child_env, run_measured

    log = Path(cwd) / f"{args[0]}.log"
    seconds, rss_mb, code = run_measured([sys.executable, "-m", "sle_nb_utils", *args], cwd, log,
                                         env=_child_env(), timeout=1200)
    out = log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, out[-2000:]
    return seconds, rss_mb * 2**20, out


def _bench_selected(config) -> bool:
    return os.environ.get("SLE_RUN_BENCH") == "1" or "bench" in (config.option.markexpr or "")


@pytest.mark.slow
@pytest.mark.bench
def test_cli_one_million_visits(tmp_path, request):
    if not _bench_selected(request.config):
        pytest.skip("generates 200 MB of exports: select with -m bench or SLE_RUN_BENCH=1")
    import pandas as pd

    from sle_nb_utils import messy, synth
    from sle_nb_utils.bench.cleaning import scale_for

    truth = synth.make_truth(SEED, scale_for())
    n_visits = len(truth["visits"])
    raw = tmp_path / "raw"
    messy.write_raw_exports(truth, raw, SEED)
    del truth
    raw_bytes = _bytes(raw)
    # the peak of each command (clean, then build), and the larger of the two
    t_clean, rss_clean, out = _cli_peak(["clean", str(raw), "--out", str(tmp_path / "clean")], tmp_path)
    assert "NOT BALANCED" not in out
    acc = pd.read_csv(tmp_path / "clean" / "row_accounting.csv")
    assert acc["balanced"].all()
    assert int(acc.loc[acc["table"] == "visits", "raw_rows"].sum()) >= 1_000_000
    kept_visits = int(acc.loc[acc["table"] == "visits", "kept"].sum())
    assert kept_visits >= 0.99 * n_visits
    t_build, rss_build, out = _cli_peak(["build", str(tmp_path / "clean"), "--out", str(tmp_path / "an")], tmp_path)
    rss_both = max(rss_clean, rss_build)
    assert f"visits: {kept_visits} rows" in out
    adlb = pd.read_parquet(tmp_path / "an" / "adlb.parquet", columns=["PARAMCD"])
    assert len(adlb) > 10 * kept_visits
    assert len(pd.read_csv(tmp_path / "an" / "adsl.csv", usecols=["USUBJID"])) > 100_000
    print(f"\n1M visits ({raw_bytes / 1e6:.0f} MB raw): clean {t_clean:.1f} s, build {t_build:.1f} s, "
          f"peak {rss_both / 1e9:.2f} GB ({rss_both / raw_bytes:.1f}x the input)")
    assert rss_clean <= RSS_PER_INPUT_BYTE * raw_bytes, (rss_clean, raw_bytes)
    assert rss_both <= RSS_PER_INPUT_BYTE * raw_bytes, (rss_both, raw_bytes)
    if os.environ.get("SLE_ASSERT_BUDGETS") == "1":
        assert t_clean + t_build <= BUDGET_SECONDS, (t_clean, t_build)
