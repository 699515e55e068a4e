"""Writes ``lupus_fixture.csv``: the Merrell & Shulman (1955) SLE cohort as notebook 05 analyses it.

The rows come from :func:`sle_nb_utils.claims.lupus_1955` (``lifelines.datasets.load_lupus``, 99
patients; a same-month last observation counts as half a month), so that
``lupus_late_entry_reference.R`` reads exactly the data the package analyses. Columns: ``id``,
``dead`` (0/1), ``entry_years`` (onset to diagnosis), ``exit_years`` (onset to death or last
observation), ``years_from_diagnosis``. Floats are written with 17 significant digits.
Run: ``.venv/bin/python tests/reference/make_lupus_fixture.py`` (byte-identical output);
``tests/test_claims.py`` checks that the committed file equals a fresh one.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path(__file__).resolve().parent / "lupus_fixture.csv"
COLUMNS = ["id", "dead", "entry_years", "exit_years", "years_from_diagnosis"]


def make():
    from sle_nb_utils.claims import lupus_1955

    return lupus_1955()[COLUMNS]


if __name__ == "__main__":
    make().to_csv(OUT, index=False, float_format="%.17g", lineterminator="\n")
