# Kaplan-Meier of the Merrell & Shulman (1955) SLE cohort (lifelines.datasets.load_lupus, written to
# lupus_fixture.csv by make_lupus_fixture.py), for tests/test_claims.py; R survival 3.5-3.
# Usage: Rscript tests/reference/lupus_late_entry_reference.R [OUT_DIR]
# Three analyses, each with the log-log interval (conf.type = "log-log"):
#   km_late_entry.csv  years since onset, late entry at diagnosis: survfit(Surv(entry, exit, dead) ~ 1)
#   km_diagnosis.csv   years since diagnosis: survfit(Surv(years_from_diagnosis, dead) ~ 1)
#   km_naive.csv       years since onset, late entry ignored: survfit(Surv(exit, dead) ~ 1)
#   milestones.csv     the three at 1, 2, 3, 4 and 5 years (summary(..., times =, extend = TRUE))
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args) >= 1) args[1] else file.path(here, "values", "lupus")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(here, "lupus_fixture.csv"))
w <- function(x, name) {
  num <- vapply(x, is.numeric, TRUE)
  x[num] <- lapply(x[num], function(v) sprintf("%.17g", v))
  write.csv(x, file.path(out, name), row.names = FALSE, quote = FALSE)
}
fits <- list(
  late_entry = survfit(Surv(entry_years, exit_years, dead) ~ 1, data = d, conf.type = "log-log"),
  diagnosis = survfit(Surv(years_from_diagnosis, dead) ~ 1, data = d, conf.type = "log-log"),
  naive = survfit(Surv(exit_years, dead) ~ 1, data = d, conf.type = "log-log"))
ms <- NULL
for (nm in names(fits)) {
  s <- summary(fits[[nm]], censored = TRUE)
  w(data.frame(time = s$time, n_risk = s$n.risk, n_event = s$n.event, surv = s$surv, std_err = s$std.err,
               lower = s$lower, upper = s$upper), paste0("km_", nm, ".csv"))
  m <- summary(fits[[nm]], times = c(1, 2, 3, 4, 5), extend = TRUE)
  ms <- rbind(ms, data.frame(analysis = nm, time = m$time, n_risk = m$n.risk, surv = m$surv,
                             std_err = m$std.err, lower = m$lower, upper = m$upper))
}
w(ms, "milestones.csv")
