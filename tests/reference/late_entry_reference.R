# Late entry (left truncation) reference values for tests/test_survival.py, written by R
# (survival 3.5-3): Kaplan-Meier, Aalen-Johansen and the log-rank test on (entry, exit] data.
# Usage: Rscript tests/reference/late_entry_reference.R [OUT_DIR]
# survdiff takes right-censored data only, so the log-rank test with late entry is the score test
# of coxph(ties = "breslow"), which equals the Mantel log-rank statistic when no event times tie
# (the fixture has none).
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args) >= 1) args[1] else file.path(here, "values", "late_entry")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(here, "late_entry_fixture.csv"))
w <- function(x, name) {
  num <- vapply(x, is.numeric, TRUE)
  x[num] <- lapply(x[num], function(v) sprintf("%.17g", v))
  write.csv(x, file.path(out, name), row.names = FALSE, quote = FALSE)
}
s <- summary(survfit(Surv(entry, exit, event) ~ 1, data = d), censored = TRUE)
w(data.frame(time = s$time, n_risk = s$n.risk, n_event = s$n.event, surv = s$surv, std_err = s$std.err), "km_all.csv")
s <- summary(survfit(Surv(entry, exit, event) ~ arm, data = d), censored = TRUE)
w(data.frame(group = sub("arm=", "", as.character(s$strata)), time = s$time, n_risk = s$n.risk,
             surv = s$surv, std_err = s$std.err), "km_arm.csv")
s <- summary(survfit(Surv(entry, exit, event) ~ 1, data = d), times = c(6, 12, 24, 48))
w(data.frame(time = s$time, n_risk = s$n.risk, surv = s$surv, std_err = s$std.err), "km_milestones.csv")
d$state <- factor(d$status, levels = 0:2, labels = c("censor", "cause1", "cause2"))
m <- survfit(Surv(entry, exit, state) ~ 1, data = d, id = id)
w(data.frame(time = m$time, n_risk = m$n.risk[, 1], cif1 = m$pstate[, 2], cif2 = m$pstate[, 3]), "aj.csv")
lr <- function(f) {
  fit <- coxph(f, data = d, ties = "breslow")
  data.frame(chisq = unname(fit$score), df = length(coef(fit)))
}
w(rbind(cbind(test = "arm", lr(Surv(entry, exit, event) ~ arm)),
        cbind(test = "grp3", lr(Surv(entry, exit, event) ~ grp3)),
        cbind(test = "arm_strata", lr(Surv(entry, exit, event) ~ arm + strata(stratum)))), "logrank.csv")
