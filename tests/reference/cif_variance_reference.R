# Aalen-Johansen cumulative incidence and its std.err from survival::survfit (multi-state), on the
# survival fixture (tests/reference/survival_fixture.csv): the reference for
# sle_nb_utils.stats.cif_variance.cif_ij_se_at. Writes values/cif_variance/survfit_ms.csv.
# Usage: Rscript tests/reference/cif_variance_reference.R [OUT_DIR]
suppressPackageStartupMessages(library(survival))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("--file=", "", grep("--file=", commandArgs(FALSE), value = TRUE)))
out <- if (length(args)) args[1] else file.path(here, "values", "cif_variance")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(here, "survival_fixture.csv"))
d$ms <- factor(d$status, levels = 0:2, labels = c("censor", "cause1", "cause2"))
fit <- survfit(Surv(time, ms) ~ 1, data = d, id = id)
at <- c(6, 12, 24, 36, 48, 60)
s <- summary(fit, times = at, extend = TRUE)
res <- data.frame(time = rep(s$time, 2), cause = rep(1:2, each = length(s$time)),
                  cif = c(s$pstate[, 2], s$pstate[, 3]), se = c(s$std.err[, 2], s$std.err[, 3]))
write.csv(format(res, digits = 17), file.path(out, "survfit_ms.csv"), row.names = FALSE, quote = FALSE)
