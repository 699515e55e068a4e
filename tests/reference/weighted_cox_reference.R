# IPTW reference values for sle_nb_utils/stats/weighting.py and the weighted, robust Cox fit of
# sle_nb_utils/stats/cox.py (tests/test_weighting.py).
#   Rscript tests/reference/weighted_cox_reference.R [OUT_DIR]
# Reads weighted_cox_fixture.csv (make_weighted_cox_fixture.py) and writes to OUT_DIR (default
# values/weighted_cox next to this script), 17 significant digits:
#   ps.csv       glm(arm ~ age + female + nephritis + sledai, binomial) coefficients (coef, se)
#   weights.csv  id, ps (fitted), w_ate (1/ps, 1/(1-ps)), w_stab (stabilised by the arm shares)
#   cox_*.csv    coxph(Surv(time, event) ~ ..., weights = w_stab, robust = TRUE), Efron ties:
#                term, coef, se (robust), naive_se, loglik
#                cox_arm: ~ arm;  cox_adj: ~ arm + age + nephritis;
#                cox_arm_breslow: ~ arm with ties = "breslow"
#   km.csv       survfit(Surv(time, event) ~ arm, weights = w_stab, robust = FALSE):
#                arm, time, n_risk, n_event, surv, std_err (Greenwood on the weighted counts)
#   km_robust.csv  the same with robust = TRUE, id = id (infinitesimal-jackknife SE): arm, time,
#                surv, std_err
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
out <- if (length(args) >= 1) args[1] else file.path(here, "values", "weighted_cox")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(here, "weighted_cox_fixture.csv"))
w <- function(x, f) write.csv(format(x, digits = 17), file.path(out, f), row.names = FALSE, quote = FALSE)

g <- glm(arm ~ age + female + nephritis + sledai, family = binomial, data = d,
         control = glm.control(epsilon = 1e-14, maxit = 100))
cf <- summary(g)$coefficients
w(data.frame(term = rownames(cf), coef = cf[, 1], se = cf[, 2]), "ps.csv")
d$ps <- fitted(g)
d$w_ate <- ifelse(d$arm == 1, 1 / d$ps, 1 / (1 - d$ps))
p1 <- mean(d$arm)
d$w_stab <- d$w_ate * ifelse(d$arm == 1, p1, 1 - p1)
w(d[, c("id", "ps", "w_ate", "w_stab")], "weights.csv")

cox_out <- function(fit, f) {
  w(data.frame(term = names(coef(fit)), coef = unname(coef(fit)), se = sqrt(diag(fit$var)),
               naive_se = sqrt(diag(fit$naive.var)), loglik = fit$loglik[2]), f)
}
ctl <- coxph.control(eps = 1e-10, iter.max = 50)
cox_out(coxph(Surv(time, event) ~ arm, data = d, weights = w_stab, robust = TRUE, control = ctl), "cox_arm.csv")
cox_out(coxph(Surv(time, event) ~ arm + age + nephritis, data = d, weights = w_stab, robust = TRUE,
              control = ctl), "cox_adj.csv")
cox_out(coxph(Surv(time, event) ~ arm, data = d, weights = w_stab, robust = TRUE, ties = "breslow",
              control = ctl), "cox_arm_breslow.csv")

km <- survfit(Surv(time, event) ~ arm, data = d, weights = w_stab, robust = FALSE)
s <- summary(km, censored = TRUE)
w(data.frame(arm = sub("arm=", "", as.character(s$strata)), time = s$time, n_risk = s$n.risk,
             n_event = s$n.event, surv = s$surv, std_err = s$std.err), "km.csv")
kr <- survfit(Surv(time, event) ~ arm, data = d, weights = w_stab, robust = TRUE, id = id)
s <- summary(kr, censored = TRUE)
w(data.frame(arm = sub("arm=", "", as.character(s$strata)), time = s$time, surv = s$surv,
             std_err = s$std.err), "km_robust.csv")
cat(sprintf("survival %s\n", packageVersion("survival")))
