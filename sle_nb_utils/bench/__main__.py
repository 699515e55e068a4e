"""``make bench``: the benchmarks (not part of ``make test``).

* :mod:`sle_nb_utils.bench.survival`: Kaplan-Meier, log-rank, Aalen-Johansen, Gray's test and
  Fine-Gray against survfit / survdiff / cuminc / crr at 1e5 and 1e6 patients;
* :mod:`sle_nb_utils.bench.cox`: cox_fit and cox_zph against coxph / cox.zph at 1e5 and 1e6;
* :mod:`sle_nb_utils.bench.mixed`: the REML random intercept and slope fitter against lme4 at
  10k patients x 10 visits;
* :mod:`sle_nb_utils.bench.cleaning`: synthetic data at scale, then cleaning + building about 1M
  raw visit rows, in memory;
* :mod:`sle_nb_utils.bench.scale`: synth + clean + build through the command line at 1k, 10k and
  100k patients: wall time, peak RSS and the fitted scaling exponents;
* :mod:`sle_nb_utils.bench.timings`: cold and warm ``make test`` and ``make report`` in a fresh clone.

The first four print their tables and write them to ``bench/out/results-<part>.csv`` (git-ignored).
``scale`` and ``timings`` are merged into ``bench/results.csv`` (committed: rerunning one part
replaces only that part's rows), which also redraws ``bench/scaling.png`` and rewrites
``bench/README.md`` (the machine, how to rerun, the latest numbers and the budgets of issue 10).

``python -m sle_nb_utils.bench [PART ...] [--sizes N ...] [--repeat R]`` runs the parts named (all
of them by default).
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import config

PARTS = ("survival", "cox", "mixed", "cleaning", "scale", "timings")
#: The parts whose rows go to bench/results.csv (the others to bench/out/).
RESULTS_PARTS = ("scale", "timings")
BENCH_DIR = config.PROJ_ROOT / "bench"

#: Budgets from issue 10.
BUDGET_CLEAN_BUILD_S = 30.0  # clean + build of 1M raw visit rows through the CLI
BUDGET_ROWS = 1_000_000
BUDGET_RSS_X_INPUT = 10.0  # peak memory <= 10 x the input size
BUDGET_WARM_TEST_S = 120.0
BUDGET_REPORT_S = 90.0

STEP_NAMES = {"synth": "synth (generate + write raw exports)", "clean": "clean (raw exports -> clean tables)",
              "build": "build (clean tables -> adsl, adtte, adlb)", "clean+build": "clean + build"}


def machine() -> str:
    """One line naming the machine the numbers belong to."""
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


# ------------------------------------------------------------------------------- bench/results.csv
def read_results(path: Path) -> pd.DataFrame:
    """``bench/results.csv`` as written by :func:`merge_results` (empty table if absent)."""
    from .scale import COLUMNS

    path = Path(path)
    if not path.exists():
        return pd.DataFrame(columns=COLUMNS)
    df = pd.read_csv(path, keep_default_na=False, na_values=[""])
    for c in ("size", "n_patients", "raw_visit_rows"):
        df[c] = pd.array(df[c], dtype="Int64")
    return df


def merge_results(path: Path, new: pd.DataFrame) -> pd.DataFrame:
    """Replace the rows of the parts in ``new`` in ``path`` (other parts kept); write and return it.

    The file has the columns of :data:`sle_nb_utils.bench.scale.COLUMNS` in order, rows sorted by
    part, step, metric and size.
    """
    from .scale import COLUMNS

    old = read_results(path)
    keep = old[~old["part"].isin(set(new["part"]))]
    frames = [f for f in (keep, new) if len(f)]
    out = pd.concat([f.astype(object) for f in frames], ignore_index=True)[COLUMNS] if frames else pd.DataFrame(columns=COLUMNS)
    out = out.sort_values(["part", "step", "metric", "size"], na_position="last", kind="stable").reset_index(drop=True)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, lineterminator="\n")
    return read_results(path)


# ------------------------------------------------------------------------------------ the figure
def plot_scaling(results: pd.DataFrame, ax=None):
    """Log-log wall time and peak RSS against patients per step, with the fitted power laws.

    Parameters
    ----------
    results : the table of ``bench/results.csv`` (its ``scale`` rows are used).
    ax : a pair of matplotlib axes, optional (default: a new 2-panel figure).

    Returns
    -------
    the pair of axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    from .scale import fit_power_law

    sc = results[results["part"] == "scale"]
    if ax is None:
        _, ax = plt.subplots(1, 2, figsize=(11, 6), layout="constrained")
    colors = {"synth": "#7f7f7f", "clean": "#1f77b4", "build": "#ff7f0e", "clean+build": "#2ca02c"}
    for panel, metric, label in ((ax[0], "seconds", "Wall time (s)"), (ax[1], "peak_rss_mb", "Peak RSS (MB)")):
        for step in ("synth", "clean", "build", "clean+build"):
            g = sc[(sc["step"] == step) & (sc["metric"] == metric)].sort_values("n_patients")
            if g.empty:
                continue
            n = g["n_patients"].astype(float).to_numpy()
            y = g["value"].astype(float).to_numpy()
            name = STEP_NAMES[step]
            if len(np.unique(n)) >= 2:
                a, b = fit_power_law(n, y)
                grid = np.geomspace(n.min(), n.max(), 50)
                panel.plot(grid, a * grid**b, color=colors[step], lw=1.2, alpha=0.8)
                name += f": b = {b:.2f}"
            panel.plot(n, y, "o", color=colors[step], label=name, ms=6,
                       ls="--" if step == "clean+build" else "none", lw=0.8)
        panel.set_xscale("log")
        panel.set_yscale("log")
        for axis in (panel.xaxis, panel.yaxis):
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if v >= 1 else f"{v:g}"))
            axis.set_minor_formatter(NullFormatter())
        panel.set_xlabel("Patients (synthetic)", fontsize=11)
        panel.set_ylabel(label, fontsize=11)
        panel.tick_params(labelsize=10)
        panel.grid(True, which="major", alpha=0.3)
        panel.legend(fontsize=9.5, title="step: fitted exponent b (y = a n^b)", title_fontsize=9.5,
                     loc="upper center", bbox_to_anchor=(0.5, -0.16), frameon=False)
    ax[0].set_title("Wall time per command-line step", fontsize=12)
    ax[1].set_title("Peak resident memory per step", fontsize=12)
    return ax


def write_plot(results: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ax = plot_scaling(results)
    machines = sorted(set(results.loc[results["part"] == "scale", "machine"].dropna()))
    ax[0].figure.suptitle("make bench, part scale: synth + clean + build through the CLI"
                          + (f" ({'; '.join(machines)})" if machines else ""), fontsize=11)
    ax[0].figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(ax[0].figure)


# ------------------------------------------------------------------------------------ the README
def _md(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join("" if pd.isna(v) else str(v) for v in r) + " |")
    return "\n".join(lines)


def _value(df, **sel):
    m = np.ones(len(df), dtype=bool)
    for k, v in sel.items():
        m &= (df[k] == v).to_numpy()
    got = df.loc[m, "value"]
    return float(got.iloc[0]) if len(got) else float("nan")


def budgets(results: pd.DataFrame) -> pd.DataFrame:
    """The budgets of issue 10 against the measured rows: budget, measured, verdict."""
    from .scale import fit_power_law

    rows = []
    sc = results[results["part"] == "scale"]
    tot = sc[(sc["step"] == "clean+build") & (sc["metric"] == "seconds")].sort_values("n_patients")
    if len(tot):
        last = tot.iloc[-1]
        n_rows = int(last["raw_visit_rows"])
        if n_rows >= BUDGET_ROWS:
            measured = f"{last['value']:.2f} s at {n_rows:,} raw visit rows"
            ok = last["value"] <= BUDGET_CLEAN_BUILD_S
        elif len(tot) >= 2 and n_rows >= BUDGET_ROWS // 5:
            # extrapolate along the slope between the two largest sizes (the fixed start-up cost
            # flattens the slope over the whole range)
            two = tot.iloc[-2:]
            a, b = fit_power_law(two["raw_visit_rows"].astype(float), two["value"].astype(float))
            est = a * BUDGET_ROWS**b
            measured = (f"{last['value']:.2f} s at {n_rows:,} raw visit rows (the largest size run); "
                        f"about {est:.0f} s at 1,000,000 rows, extrapolated along the slope between the two "
                        f"largest sizes (b = {b:.2f} on rows)")
            ok = est <= BUDGET_CLEAN_BUILD_S
        else:
            measured, ok = f"{last['value']:.2f} s at {n_rows:,} raw visit rows (too few to judge 1M)", None
        rows.append(("clean + build of 1M raw visit rows through the CLI <= 30 s", measured, ok))
        ratios = []
        for step in ("clean", "build"):
            g = sc[(sc["step"] == step) & (sc["metric"] == "peak_rss_mb")].sort_values("n_patients")
            if len(g):
                r = g.iloc[-1]
                ratios.append((step, r["value"], r["input_mb"], r["value"] / r["input_mb"]))
        if ratios:
            measured = "; ".join(f"{s}: {v:.0f} MB peak / {i:.1f} MB input = {x:.1f}x" for s, v, i, x in ratios)
            rows.append((f"peak memory <= 10x the input size (largest size, {int(last['n_patients']):,} patients)",
                         measured, all(x <= BUDGET_RSS_X_INPUT for *_, x in ratios)))
    tm = results[results["part"] == "timings"]
    for step, budget in (("make test (warm)", BUDGET_WARM_TEST_S), ("make report", BUDGET_REPORT_S)):
        s = _value(tm, step=step, metric="seconds")
        if not np.isnan(s):
            code = _value(tm, step=step, metric="exit_code")
            passed = "" if code == 0 else f" (exit code {code:.0f}: the target FAILED)"
            rows.append((f"{'warm make test' if 'test' in step else step} <= {budget:.0f} s", f"{s:.1f} s{passed}",
                         s <= budget))
    out = pd.DataFrame(rows, columns=["budget (issue 10)", "measured", "verdict"])
    out["verdict"] = [("not measured" if v is None else "met" if v else "NOT met")
                      + (" (extrapolated)" if v is not None and "extrapolated" in m else "")
                      for v, m in zip(out["verdict"], out["measured"])]
    return out


def write_readme(results: pd.DataFrame, path: Path, stopped: str = "") -> None:
    """Rewrite ``bench/README.md`` from the table of ``bench/results.csv``."""
    from .scale import fit_power_law

    machines = sorted(set(results["machine"].dropna()))
    loads = results["load_1min"].dropna().astype(float)
    cores = os.cpu_count() or 1
    sc = results[results["part"] == "scale"]
    tm = results[results["part"] == "timings"]
    parts = []
    parts.append(
        "# Benchmarks (`make bench`)\n\n"
        "Written by `make bench` (`python -m sle_nb_utils.bench`; do not edit by hand): the parts `scale` and\n"
        "`timings` write [`results.csv`](results.csv) (one tidy table, committed), the figure\n"
        "[`scaling.png`](scaling.png) and this file. All data are **synthetic** (`python -m sle_nb_utils synth`).\n\n"
        "## Machine\n\n"
        + "\n".join(f"- {m}" for m in machines) + "\n"
    )
    if len(loads):
        busy = loads.max() > 0.5 * cores
        parts.append(
            f"- 1-minute load average at the start of each measurement: {loads.min():.2f} to {loads.max():.2f} "
            f"on {cores} cores (column `load_1min`)."
            + (" **Measured under load**: the machine was shared with other jobs, so wall times are upper "
               "bounds; rerun on a quiet machine for clean numbers." if busy else "") + "\n"
        )
    parts.append(
        "\n## How to rerun\n\n"
        "```sh\n"
        "make bench                                  # every part (survival, cox, mixed, cleaning -> bench/out/;\n"
        "                                            #   scale, timings -> bench/results.csv, scaling.png, README.md)\n"
        "make bench PARTS=\"scale timings\"            # only these parts (the others' rows in results.csv stay)\n"
        "make bench PARTS=scale SIZES=\"1000 10000\"   # other sizes (patients)\n"
        "PYTHONPATH=$PWD python -m sle_nb_utils.bench scale --sizes 1000 10000 100000 --repeat 2\n"
        "python -m sle_nb_utils.bench timings        # ~10 min: clones HEAD into a temporary folder\n"
        "```\n\n"
        "- `scale`: for each size N (patients) it runs `python -m sle_nb_utils synth --scale K` with K copies of the\n"
        "  165-patient synthetic cohorts (K chosen so that 165 K is nearest N; `n_patients` is the number made), then\n"
        "  `clean` and `build` (CSV, the CLI default), each as its own process: wall time includes starting Python.\n"
        "  `--repeat R` keeps each step's fastest of R runs. The exponent b of `y = a n^b` is fitted by least squares\n"
        "  on log y against log `n_patients`, per step, from the rounded values in `results.csv`.\n"
        "- `timings`: clones the committed `HEAD` (uncommitted changes are not measured) into a temporary folder and\n"
        "  runs `make test` there with no `.venv` (cold: creates the venv and installs the pins; pip's download cache\n"
        "  may be used), `make test` again (warm) and `make report`; the clone is then deleted.\n"
        "- Peak RSS is `ru_maxrss` of the child process (`os.wait4`): for `make`, the largest resident set of `make`\n"
        "  or of any process it waited for (for example one pytest-xdist worker), not the sum of parallel processes.\n\n"
        "## Columns of `results.csv`\n\n"
        "| column | meaning |\n|---|---|\n"
        "| `part` | `scale` or `timings` |\n"
        "| `step` | `synth`, `clean`, `build`, `clean+build` (sum of seconds, larger peak); `make test (cold)`, `make test (warm)`, `make report` |\n"
        "| `metric` | `seconds` (wall clock, 0.01 s), `peak_rss_mb` (MB = 2^20 bytes, 0.1 MB), `exit_code`, `exponent_seconds` / `exponent_peak_rss_mb` (fitted b, 0.001) |\n"
        "| `size` | patients asked for (`--sizes`) |\n"
        "| `n_patients` | patients generated (165 x copies) |\n"
        "| `raw_visit_rows` | visit rows in the raw exports, as cleaning counted them (`row_accounting.csv`) |\n"
        "| `input_mb` | size of the step's input folder: raw exports for `clean` and `clean+build`, the clean folder for `build`; 0 for `synth` |\n"
        "| `value` | the number |\n"
        "| `load_1min` | 1-minute load average when the measurement started |\n"
        "| `command` | what was run (or, for exponents, what was fitted) |\n"
        "| `machine` | CPU architecture, cores, Python, OS |\n"
    )
    if len(sc):
        meas = sc[sc["metric"].isin(["seconds", "peak_rss_mb"])]
        wide = meas.pivot_table(index=["n_patients", "raw_visit_rows"], columns=["step", "metric"], values="value",
                                aggfunc="first")
        table = []
        for (n, rows_), r in wide.iterrows():
            raw_mb = sc[(sc["n_patients"] == n) & (sc["step"] == "clean")]["input_mb"].iloc[0]
            line = {"patients": f"{int(n):,}", "raw visit rows": f"{int(rows_):,}", "raw MB": f"{raw_mb:.1f}"}
            for step in ("synth", "clean", "build", "clean+build"):
                if (step, "seconds") in r.index:
                    line[f"{step} s"] = f"{r[(step, 'seconds')]:.2f}"
            for step in ("clean", "build"):
                if (step, "peak_rss_mb") in r.index:
                    line[f"{step} peak MB"] = f"{r[(step, 'peak_rss_mb')]:.0f}"
            table.append(line)
        parts.append("\n## Latest numbers\n\n### scale: synth + clean + build through the CLI\n\n"
                     + _md(pd.DataFrame(table)) + "\n")
        ex = sc[sc["metric"].str.startswith("exponent")]
        if len(ex):
            e = ex.pivot_table(index="step", columns="metric", values="value", aggfunc="first")
            e = e.reindex([s for s in STEP_NAMES if s in e.index])
            et = pd.DataFrame({"step": [STEP_NAMES[s] for s in e.index],
                               "b, wall time": [f"{v:.2f}" for v in e.get("exponent_seconds", np.nan)],
                               "b, peak RSS": [f"{v:.2f}" for v in e.get("exponent_peak_rss_mb", np.nan)]})
            if meas["n_patients"].nunique() >= 3:
                top = sorted(meas["n_patients"].unique())[-2:]
                for metric, col in (("seconds", "b, wall time, two largest sizes"),
                                    ("peak_rss_mb", "b, peak RSS, two largest sizes")):
                    local = []
                    for step in e.index:
                        g = meas[(meas["step"] == step) & (meas["metric"] == metric) & meas["n_patients"].isin(top)]
                        local.append(f"{fit_power_law(g['n_patients'], g['value'])[1]:.2f}" if len(g) == 2 else "")
                    et[col] = local
            parts.append(
                "\nFitted scaling exponents (`y = a n^b` over the sizes above; b = 1 is linear in patients). Fixed\n"
                "costs (starting Python and importing pandas: a few seconds and about 200 MB per process; for `synth`\n"
                "also calibrating the base cohort, about 10 s, before the copies are made) pull b below its large-n\n"
                "value; the slope between the two largest sizes (last columns, not in `results.csv`) is closer to it.\n\n"
                + _md(et) + "\n"
            )
        parts.append("\n![Wall time and peak RSS against patients, log-log](scaling.png)\n")
    if stopped:
        parts.append(f"\nThe last `scale` run stopped early: {stopped}\n")
    if len(tm):
        t = tm.pivot_table(index="step", columns="metric", values="value", aggfunc="first")
        tt = pd.DataFrame({"step": t.index, "seconds": [f"{v:.1f}" for v in t["seconds"]],
                           "peak RSS MB": [f"{v:.0f}" for v in t["peak_rss_mb"]],
                           "exit code": [f"{v:.0f}" for v in t["exit_code"]]})
        cmd = tm["command"].dropna().iloc[0]
        parts.append(f"\n### timings ({cmd.split(' in ', 1)[1].replace(' (no .venv)', '')})\n\n" + _md(tt) + "\n")
    b = budgets(results)
    if len(b):
        parts.append("\n## Budgets (issue 10)\n\n" + _md(b) + "\n")
    Path(path).write_text("".join(parts), encoding="utf-8", newline="\n")


# -------------------------------------------------------------------------------------- command
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sle_nb_utils.bench", description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", help=f"parts to run (default all): {' '.join(PARTS)}")
    ap.add_argument("--sizes", nargs="+", type=int, default=None,
                    help="scale: sizes in patients (default 1000 10000 100000)")
    ap.add_argument("--repeat", type=int, default=1, help="scale: runs per step, the fastest kept (default 1)")
    ap.add_argument("--timeout", type=float, default=1800,
                    help="scale: seconds one step may take before the run stops at the sizes done (default 1800)")
    ap.add_argument("--results", type=Path, default=BENCH_DIR / "results.csv",
                    help="the results table (default bench/results.csv; figure and README beside it)")
    ap.add_argument("--render-only", action="store_true",
                    help="only redraw the figure and rewrite the README from the results table (nothing is run)")
    args = ap.parse_args(argv)
    if args.render_only:
        results = read_results(args.results)
        write_plot(results, args.results.parent / "scaling.png")
        write_readme(results, args.results.parent / "README.md")
        return 0
    parts = args.parts or list(PARTS)
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        print(f"unknown part(s) {unknown}; choose from {list(PARTS)}", file=sys.stderr)
        return 2
    out = BENCH_DIR / "out"
    here = machine()
    print(f"machine: {here}")
    stopped = ""
    with pd.option_context("display.width", 200, "display.max_columns", 30, "display.max_colwidth", 60):
        for name in parts:
            mod = importlib.import_module(f"sle_nb_utils.bench.{name}")
            t0 = time.perf_counter()
            if name == "scale":
                from .scale import DEFAULT_SIZES

                table = mod.run(sizes=args.sizes or DEFAULT_SIZES, repeat=args.repeat, timeout=args.timeout,
                                machine=here)
                stopped = table.attrs.get("stopped", "")
            elif name == "timings":
                table = mod.run(machine=here)
            else:
                table = mod.run()
            print(f"== {name} ({time.perf_counter() - t0:.0f} s)")
            show = table.drop(columns=["machine"], errors="ignore")
            print(show.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
            if name in RESULTS_PARTS:
                if table.empty:
                    print(f"{name}: nothing measured; {args.results} left as it was", file=sys.stderr)
                    continue
                results = merge_results(args.results, table)
                write_plot(results, args.results.parent / "scaling.png")
                write_readme(results, args.results.parent / "README.md", stopped=stopped)
                print(f"{name}: merged into {args.results}")
            else:
                out.mkdir(parents=True, exist_ok=True)
                table.to_csv(out / f"results-{name}.csv", index=False)
                print(f"{name}: written to {out}/results-{name}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
