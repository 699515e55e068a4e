"""Helpers for the SLE stem-cell transplantation notebooks.

One module per concern: ``config`` (paths), ``units`` (unit conversions, steroid equivalents),
``scores`` (SLEDAI-2K, eGFR CKD-EPI 2021), ``endpoints`` (remission / relapse definitions and
time-to-event rows), ``synth`` (the calibrated synthetic cohorts), ``published`` (published figures
with citations), ``stats`` (the estimators: Kaplan-Meier, competing risks, Cox), ``outcomes`` (the
study tables of the survival notebook), ``cleaning`` / ``readers`` (raw
exports to clean tables), ``plots``.

Modules are imported lazily by the notebooks (``from sle_nb_utils import scores``) so that importing
the package stays cheap.
"""

__version__ = "0.1.0"
