"""The stats layer: pure estimators on arrays, or a frame plus column names.

Nothing here knows about cohorts, ADaM tables or published figures (that is the study layer,
:mod:`sle_nb_utils.outcomes`).  One module per family; every public estimator checks its input
through :mod:`sle_nb_utils.stats._validate` (one contract) and every regression returns a
:class:`sle_nb_utils.stats.results.ModelResult`.

- :mod:`.survival`: Kaplan-Meier, log-rank, medians, reverse-KM follow-up, RMST, risk tables.
- :mod:`.competing`: Aalen-Johansen cumulative incidence, Gray's test, Fine-Gray regression.
- :mod:`.cox`: Cox proportional hazards (Efron / Breslow ties, strata, robust SE, late entry) and
  the ``cox.zph`` test.
- :mod:`.mixed`: linear mixed models (REML random intercept and slope on 2x2 blocks, matched to
  lme4) and the GLS AR(1) sensitivity analysis (matched to nlme).
- :mod:`.paired`: paired tests by visit (Wilcoxon signed-rank, paired t, Holm) and by-visit summaries.
- :mod:`.weighting`: propensity score, IPTW (stabilised), trimming, Kish ESS, weighted SMDs, MAIC
  weights and the weighted Kaplan-Meier (matched to R glm / coxph / survfit).
- :mod:`.meta`: random-effects pooling (REML tau^2, Hartung-Knapp, I^2) of logit proportions
  (matched to metafor).
- :mod:`.results`: the common result object.
"""
