"""Command line: ``python -m sle_nb_utils {synth,clean,build,run} ...`` (each has ``--help``).

Exit codes: 0 ok; 2 bad input (one line naming file, row, column and reason; never a traceback);
1 a notebook failed for another reason (one line naming the notebook and cell; the executed copy is
kept for the traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .config import DEFAULT_SEED
from .errors import BadInputError


def _synth(args) -> int:
    from . import messy, synth

    out = Path(args.out)
    truth = synth.make_truth(seed=args.seed, scale=args.scale)
    synth.write_truth(truth, out / "truth")
    defects = messy.write_raw_exports(truth, out / "raw", seed=args.seed)
    defects.to_csv(out / "truth" / "defects.csv", index=False, lineterminator="\n")
    if args.scale == 1:
        (out / "README.md").write_text(synth.datasheet_markdown(truth, args.seed, args.scale),
                                       encoding="utf-8", newline="\n")
    n = {k: len(v) for k, v in truth.items()}
    print(f"synthetic data (seed {args.seed}, scale {args.scale}): {n['patients']} patients, "
          f"{n['visits']} visits, {n['events']} events, {len(defects)} injected defects -> {out}")
    return 0


def _clean(args) -> int:
    from . import cleaning

    result = cleaning.clean_directory(Path(args.raw_dir), Path(args.out), settings=args.settings,
                                      aliases=args.aliases, synonyms=args.synonyms,
                                      allow_partial=args.allow_partial)
    print(result.summary())
    return 0


def _build(args) -> int:
    from . import adam

    counts = adam.write_analysis_tables(Path(args.clean_dir), Path(args.out), fmt=args.format)
    print(", ".join(f"{k}: {n} rows" for k, n in counts.items()) + f" -> {args.out}")
    return 0


def _run(args) -> int:
    from . import report

    try:
        report.run_collection(Path(args.data_dir), Path(args.out), settings=args.settings,
                              aliases=args.aliases, synonyms=args.synonyms,
                              allow_partial=args.allow_partial, force=args.force,
                              jobs=args.jobs)
    except report.RunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


#: One example per accepted export layout (``run --help`` and the README show the same).
LAYOUT_EXAMPLES = """\
export layouts (one folder, not recursive; each table is recognised by its columns):
  one CSV per table and site:  nanjing_patients.csv nanjing_visits.csv nanjing_events.csv
      python -m sle_nb_utils run --data-dir ~/exports/nanjing --out ~/sle-reports/nanjing
  one workbook, one sheet per table (header may sit below a title block):
      registry.xlsx [Patients] [Visits] [Events]
      python -m sle_nb_utils run --data-dir ~/exports/registry --out ~/sle-reports/registry
  several sites, mixed CSV and workbook, site rules in a settings file:
      chicago_patients.csv chicago_visits.csv ebmt_registry.xlsx ebmt_visits.csv
      python -m sle_nb_utils run --data-dir ~/exports/all --out ~/sle-reports/all \\
          --settings my_sites.csv --aliases my_columns.csv --synonyms my_labels.csv
  the bundled synthetic exports (what `make report` does):
      python -m sle_nb_utils run --data-dir data/raw --out reports

--out must lie outside the git work tree (the git-ignored reports/ aside); a previous run's pages
there are replaced when the new run succeeds (other files are left alone). Pages on your data show no patient identifier and no exact date;
patient-level lists stay in OUT/clean/. Exit 2 = bad input (file, row, column, reason).
"""


def _add_resource_options(parser) -> None:
    """``--settings``, ``--aliases``, ``--synonyms``: shared by ``clean`` and ``run``."""
    parser.add_argument("--settings", help="CSV of per-site settings (columns: site, file_pattern, encoding, "
                                           "date_order; optional: delimiter, decimal, sex_codes, id_case, note)")
    parser.add_argument("--aliases", help="CSV of extra column aliases (columns: alias, column, role, note)")
    parser.add_argument("--synonyms", help="CSV of extra label synonyms (columns: column, raw, value, note)")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sle_nb_utils",
                                description="SLE stem-cell transplantation notebooks: data and reports.")
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("synth", help="write the synthetic raw exports + truth + defect manifest")
    s.add_argument("--out", required=True, help="output folder (gets raw/ and truth/)")
    s.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"seed (default {DEFAULT_SEED})")
    s.add_argument("--scale", type=int, default=1, help="copies of the cohorts, for benchmarks (default 1)")
    s.set_defaults(func=_synth)
    c = sub.add_parser("clean", help="raw exports -> clean tables, cleaning_log.csv, quarantine.csv")
    c.add_argument("raw_dir")
    c.add_argument("--out", required=True)
    _add_resource_options(c)
    c.add_argument("--allow-partial", action="store_true",
                   help="go on when a file or site loses more than 20%% of its rows to quarantine (logged)")
    c.set_defaults(func=_clean)
    b = sub.add_parser("build", help="clean tables -> analysis tables (adsl, adtte, adlb)")
    b.add_argument("clean_dir")
    b.add_argument("--out", required=True)
    b.add_argument("--format", choices=("auto", "csv", "parquet"), default="auto",
                   help="table format: auto (default) writes adlb, 13 rows per visit, as parquet and adsl, "
                        "adtte as CSV; csv or parquet: every table in that format")
    b.set_defaults(func=_build)
    r = sub.add_parser("run", help="run the whole notebook collection on a raw export folder",
                       description="Clean a folder of raw exports, run every notebook on it and render "
                                   "an offline HTML site in OUT/site/index.html.",
                       epilog=LAYOUT_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--data-dir", required=True, help="folder of raw exports (CSV / xlsx)")
    r.add_argument("--out", required=True,
                   help="output folder, outside the git work tree (or under the git-ignored reports/)")
    _add_resource_options(r)
    r.add_argument("--allow-partial", action="store_true",
                   help="go on when a file or site loses more than 20%% of its rows to quarantine (logged)")
    r.add_argument("--force", action="store_true",
                   help="replace a non-empty --out that is not a previous run's output")
    r.add_argument("--jobs", type=int, default=1, help="notebooks run at once (default 1)")
    r.set_defaults(func=_run)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BadInputError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        print(f"error: file {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
