"""Errors for bad input: one clear message naming the file, row, column and reason.

The CLI turns a :class:`BadInputError` into exit code 2 and a one-line message, never a traceback.
"""

from __future__ import annotations


class BadInputError(ValueError):
    """Input the pipeline cannot accept.

    Parameters
    ----------
    reason : str
        What is wrong, in words a data manager understands.
    file, row, column : optional
        Where. ``row`` is the 1-based line/row number in the file as a spreadsheet shows it.
    """

    def __init__(self, reason: str, *, file: str | None = None, row: int | None = None,
                 column: str | None = None):
        self.reason = reason
        self.file = file
        self.row = row
        self.column = column
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = []
        if self.file is not None:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        prefix = ", ".join(where)
        return f"{prefix}: {self.reason}" if prefix else self.reason


class ConvergenceWarning(UserWarning):
    """A model fit stopped before its convergence criterion was met (statsmodels-style).

    The fit still returns a result, with ``converged=False`` in its summary; the warning says which
    model, after how many iterations and by which criterion.
    """
