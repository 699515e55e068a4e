"""Benchmark: cleaning plus building the analysis tables on about 1M raw visit rows.

Budget: clean + build <= 30 s on a 2-core machine (checked here, not in the unit tests).
``run(scale)`` generates ``scale`` copies of the synthetic cohorts (``synth.make_truth(seed, scale)``), writes them as messy exports
(``messy.write_raw_exports``), then times ``cleaning.clean_directory`` and
``adam.build_analysis_tables`` in memory, and, separately, the command-line path: writing the clean
tables and reports, then ``adam.write_analysis_tables`` (what ``build`` runs: ``adlb`` made and
written one parameter at a time) in each ``--format``. The command-line processes' peak memory is
measured by ``tests/test_scale.py`` (``-m bench``).

Run: ``python -m sle_nb_utils.bench.cleaning [--scale K]`` (default: enough copies for 1M visit
rows).
"""

from __future__ import annotations

import argparse
import math
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from .. import adam, cleaning, config, messy, synth

BUDGET_SECONDS = 30.0
TARGET_VISIT_ROWS = 1_000_000


def scale_for(rows: int = TARGET_VISIT_ROWS, seed: int = config.DEFAULT_SEED) -> int:
    """Number of cohort copies that gives at least ``rows`` truth visit rows."""
    per_copy = len(synth.make_truth(seed, 1)["visits"])
    return max(1, math.ceil(rows / per_copy))


def run(scale: int | None = None, seed: int = config.DEFAULT_SEED, workdir: str | Path | None = None) -> pd.DataFrame:
    """Time the cleaning pipeline at ``scale`` (None: about 1M visit rows).

    Returns
    -------
    pandas.DataFrame
        One row per step: ``step``, ``seconds`` (wall clock, rounded to 0.01), ``rows`` (rows the
        step produced or read), ``counted`` (True for the steps inside the 30 s budget), ``scale``,
        ``within_budget`` (on the ``clean + build`` total, in memory, and on the command-line path
        that also writes and re-reads the CSVs).
    """
    scale = scale_for(seed=seed) if scale is None else int(scale)
    own = workdir is None
    work = Path(tempfile.mkdtemp(prefix="bench-cleaning-")) if own else Path(workdir)
    rows = []
    try:
        t0 = time.perf_counter()
        truth = synth.make_truth(seed, scale)
        rows.append(("synth truth", time.perf_counter() - t0, len(truth["visits"]), False))
        t0 = time.perf_counter()
        raw = work / "raw"
        messy.write_raw_exports(truth, raw, seed)
        n_raw = len(truth["visits"])
        del truth
        rows.append(("write messy raw exports", time.perf_counter() - t0, n_raw, False))
        t0 = time.perf_counter()
        result = cleaning.clean_directory(raw, progress=False)
        t_clean = time.perf_counter() - t0
        raw_visit_rows = int(result.accounting.loc[result.accounting["table"] == "visits", "raw_rows"].sum())
        rows.append(("clean (read, map, convert, validate)", t_clean, raw_visit_rows, True))
        t0 = time.perf_counter()
        tables = adam.build_analysis_tables(result.tables)
        t_build = time.perf_counter() - t0
        rows.append(("build adsl/adtte/adlb", t_build, len(tables["adlb"]), True))
        rows.append(("clean + build", t_clean + t_build, raw_visit_rows, True))
        # the command-line path: clean RAW --out CLEAN writes CSVs, build CLEAN --out reads them back
        t0 = time.perf_counter()
        result.write(work / "clean")
        t_write = time.perf_counter() - t0
        rows.append(("CLI: write clean tables and reports (CSV)", t_write, len(result.log), False))
        del result, tables
        t0 = time.perf_counter()
        counts = adam.write_analysis_tables(work / "clean", work / "analysis", fmt="auto")
        t_cli_build = time.perf_counter() - t0
        rows.append(("CLI: build from CSV, write adlb parquet + adsl/adtte CSV (default)", t_cli_build,
                     counts["adlb"], False))
        rows.append(("CLI total: clean --out + build --out", t_clean + t_write + t_cli_build, raw_visit_rows,
                     False))
        t0 = time.perf_counter()
        counts = adam.write_analysis_tables(work / "clean", work / "analysis_csv", fmt="csv")
        t_csv = time.perf_counter() - t0
        rows.append(("CLI: build from CSV, write CSV (--format csv)", t_csv, counts["adlb"], False))
        rows.append(("CLI total with CSV analysis tables", t_clean + t_write + t_csv, raw_visit_rows, False))
        t0 = time.perf_counter()
        counts = adam.write_analysis_tables(work / "clean", work / "analysis_parquet", fmt="parquet")
        t_pq = time.perf_counter() - t0
        rows.append(("CLI: build from CSV, write parquet (--format parquet)", t_pq, counts["adlb"], False))
        rows.append(("CLI total with parquet analysis tables", t_clean + t_write + t_pq, raw_visit_rows, False))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    out = pd.DataFrame(rows, columns=["step", "seconds", "rows", "counted"])
    out["seconds"] = out["seconds"].round(2)
    out["scale"] = scale
    out["within_budget"] = ""
    for step in ("clean + build", "CLI total: clean --out + build --out", "CLI total with CSV analysis tables",
                 "CLI total with parquet analysis tables"):
        sel = out["step"] == step
        if sel.any():
            out.loc[sel, "within_budget"] = "yes" if out.loc[sel, "seconds"].iloc[0] <= BUDGET_SECONDS else "NO"
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=None, help="cohort copies (default: ~1M visit rows)")
    args = ap.parse_args(argv)
    table = run(args.scale)
    print(table.to_string(index=False))
    return 0 if (table.loc[table["step"] == "clean + build", "within_budget"] == "yes").all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
