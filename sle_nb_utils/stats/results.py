"""One result shape for every regression model of the stats layer (Cox, Fine-Gray, mixed models).

After statsmodels' results classes and lifelines' fitted attributes: ``params``, ``se``, ``cov``,
``conf_int()``, ``summary``, ``converged``, ``n``, ``n_events``, ``loglik``.  The ``summary`` table
has one row per term and always carries ``converged``, so a model that stopped early cannot be
read as if it had converged.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import ConvergenceWarning
from ._validate import as_conf_level

__all__ = ["ModelResult", "warn_not_converged"]


def warn_not_converged(model: str, n_iter: int, criterion: str) -> None:
    """Issue the :class:`~sle_nb_utils.errors.ConvergenceWarning` of a fit that stopped early."""
    warnings.warn(f"{model} did not converge after {n_iter} iteration(s): {criterion}; the estimates "
                  "are those of the last iteration (converged=False in the summary)", ConvergenceWarning,
                  stacklevel=3)


class ModelResult:
    """Estimates of a fitted regression model.

    Attributes
    ----------
    model : str
        E.g. ``"Cox (Efron)"``, ``"Fine-Gray"``.
    params : pandas.Series
        Coefficients by term (log hazard ratios for Cox, log subdistribution HRs for Fine-Gray).
    cov : pandas.DataFrame
        Covariance of ``params`` (the robust one where the model reports it).
    se : pandas.Series
        Standard errors, ``sqrt(diag(cov))``.
    converged : bool
    n_iter : int
    n, n_events : int
        Subjects (rows) and events of interest.
    loglik, loglik_null : float
        (Partial or pseudo) log-likelihood at ``params`` and at 0.
    ratio_name : str
        Name of the exponentiated coefficient in ``summary`` (``"hr"``, ``"shr"``; None: none).
    extra : dict
        Model-specific results (e.g. the naive SE of a robust Cox fit).
    """

    def __init__(self, model, terms, params, cov, *, converged, n_iter, n, n_events, loglik=np.nan,
                 loglik_null=np.nan, ratio_name="hr", conf_level=0.95, extra=None):
        terms = [str(t) for t in terms]
        self.model = model
        self.terms = terms
        self.params = pd.Series(np.asarray(params, dtype=float), index=terms, name="coef")
        cov = np.asarray(cov, dtype=float).reshape(len(terms), len(terms))
        self.cov = pd.DataFrame(cov, index=terms, columns=terms)
        self.se = pd.Series(np.sqrt(np.diag(cov)), index=terms, name="se")
        self.converged = bool(converged)
        self.n_iter = int(n_iter)
        self.n = int(n)
        self.n_events = int(n_events)
        self.loglik = float(loglik)
        self.loglik_null = float(loglik_null)
        self.ratio_name = ratio_name
        self.conf_level = conf_level
        self.extra = dict(extra or {})

    def conf_int(self, conf_level: float | None = None) -> pd.DataFrame:
        """Wald interval of the coefficients (log scale): columns ``lower``, ``upper``."""
        z = as_conf_level(self.conf_level if conf_level is None else conf_level)
        return pd.DataFrame({"lower": self.params - z * self.se, "upper": self.params + z * self.se})

    @property
    def summary(self) -> pd.DataFrame:
        """One row per term: ``term``, ``coef``, ratio (``hr``/``shr``), ``se``, ``lower``,
        ``upper`` (interval of the ratio, or of the coefficient when there is no ratio), ``z``,
        ``p`` (two-sided Wald), ``n``, ``n_events``, ``converged``."""
        ci = self.conf_int()
        z = self.params / self.se
        out = pd.DataFrame({"term": self.terms, "coef": self.params.to_numpy()})
        if self.ratio_name:
            with np.errstate(over="ignore"):  # an infinite ratio (monotone likelihood) is shown as inf
                out[self.ratio_name] = np.exp(self.params.to_numpy())
                lo, hi = np.exp(ci["lower"].to_numpy()), np.exp(ci["upper"].to_numpy())
        else:
            lo, hi = ci["lower"].to_numpy(), ci["upper"].to_numpy()
        out["se"] = self.se.to_numpy()
        out["lower"] = lo
        out["upper"] = hi
        out["z"] = z.to_numpy()
        out["p"] = 2 * stats.norm.sf(np.abs(z.to_numpy()))
        out["n"] = self.n
        out["n_events"] = self.n_events
        out["converged"] = self.converged
        return out

    def __repr__(self) -> str:  # no addresses in notebook output
        return (f"ModelResult({self.model!r}, n={self.n}, events={self.n_events}, terms={self.terms}, "
                f"converged={self.converged})")
