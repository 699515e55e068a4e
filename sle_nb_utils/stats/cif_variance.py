"""Two variance estimators of the Aalen-Johansen cumulative incidence, side by side.

* **Gray's variance** (``cmprsk::cuminc``): :func:`sle_nb_utils.stats.competing.cif_var_at`;
* **the infinitesimal-jackknife (influence) variance** that R ``survival::survfit`` reports for a
  multi-state (competing-risks) fit: the sum over subjects of the squared influence of each
  subject on the estimate (Therneau, *The survival package*, vignette "Multi-state models",
  section on variance), which for unweighted data is the Aalen-type delta-method variance.

Pure estimator on arrays (no cohorts, no published figures); inputs checked through
:mod:`sle_nb_utils.stats._validate`. Checked against R ``survfit`` (survival 3.5-3) in
``tests/test_cif_variance.py`` (script ``tests/reference/cif_variance_reference.R``).
"""

from __future__ import annotations

import numpy as np

from ._validate import as_status, as_time
from .survival import _step_at

__all__ = ["cif_ij_se_at"]


def cif_ij_se_at(time, status, t, cause: int = 1):
    """Aalen-Johansen cumulative incidence of ``cause`` and its infinitesimal-jackknife SE at ``t``.

    Parameters
    ----------
    time : array-like
        Follow-up (any unit, e.g. months), >= 0.
    status : array-like
        0 = censored; positive integer codes = causes (competing events).
    t : float or array-like
        Evaluation times, same unit as ``time``.
    cause : int
        The cause of interest.

    Returns
    -------
    (cif, se) : numpy arrays with the shape of ``t``; the SE is the square root of
        sum_i IF_i(t)^2, IF_i the influence of subject i on the estimate (R ``survfit`` multi-state
        ``std.err``). NaN beyond the last observed time.
    """
    tt = as_time(time)
    ss = as_status(status, n=tt.size)
    q = np.atleast_1d(np.asarray(t, dtype=float))
    ut = np.unique(tt)
    m = ut.size
    idx = np.searchsorted(ut, tt)  # each subject's time index
    ev = ss > 0
    # counts per distinct time
    n_risk = (tt.size - np.r_[0, np.cumsum(np.bincount(idx, minlength=m))[:-1]]).astype(float)
    d_all = np.bincount(idx, weights=ev.astype(float), minlength=m)
    d_k = np.bincount(idx, weights=(ss == cause).astype(float), minlength=m)
    with np.errstate(divide="ignore", invalid="ignore"):
        h_all = d_all / n_risk
        h_k = d_k / n_risk
        s = np.cumprod(1.0 - h_all)
        s_prev = np.r_[1.0, s[:-1]]
        # per-time increments of the KM influence: d_j / (Y_j (Y_j - d_j)), 0 where everyone fails
        c_inc = np.where(n_risk > d_all, d_all / (n_risk * (n_risk - d_all)), 0.0)
        own = np.where(n_risk > d_all, 1.0 / (n_risk - d_all), 0.0)
    cif = np.cumsum(s_prev * h_k)
    j_idx = np.arange(m)
    # influence of each subject on S(t_j): S_j * (sum_{l<=min(j, idx_i)} c_inc_l - ev_i [j >= idx_i] own_idx_i)
    C = np.cumsum(c_inc)
    at_risk = j_idx[None, :] <= idx[:, None]  # Y_ij
    is_mat = s[None, :] * (C[np.minimum(j_idx[None, :], idx[:, None])]
                           - (ev[:, None] & (j_idx[None, :] >= idx[:, None])) * own[idx][:, None])
    is_prev = np.hstack([np.zeros((tt.size, 1)), is_mat[:, :-1]])
    # influence on the increments S_{j-1} h_kj: IS_i(t_{j-1}) h_kj + S_{j-1} (dN_kij - h_kj Y_ij) / Y_j
    dn_k = np.zeros((tt.size, m))
    dn_k[np.arange(tt.size), idx] = (ss == cause)
    with np.errstate(divide="ignore", invalid="ignore"):
        inc = is_prev * h_k[None, :] + s_prev[None, :] * (dn_k - h_k[None, :] * at_risk) / n_risk[None, :]
    inc = np.nan_to_num(inc)
    infl = np.cumsum(inc, axis=1)
    se_all = np.sqrt((infl ** 2).sum(axis=0))
    out_cif, out_se = _step_at(ut, q, cif, 0.0, se_all, 0.0)
    if np.ndim(t) == 0:
        return float(out_cif[0]), float(out_se[0])
    return out_cif, out_se
