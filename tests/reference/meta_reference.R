# Random-effects pooling of logit proportions with metafor, the reference for
# sle_nb_utils/stats/meta.py (tests/test_meta.py).
#   Rscript tests/reference/meta_reference.R [OUT_DIR]
# Reads meta_fixture.csv (dataset, study, events, total) and writes OUT_DIR/escalc.csv (yi, vi of
# escalc(measure = "PLO"), metafor's default 0.5 added to both cells of a 0-or-n study) and
# OUT_DIR/pooled.csv (rma(method = "REML", test = "knha") and test = "z": tau2, estimate, se, CI,
# prediction interval, I2, H2, Q).  REML is iterated to a threshold of 1e-12 (metafor's default
# 1e-5 would leave tau2 about 1e-6 from the optimum).  OUT_DIR defaults to values/meta next to
# this script; 17 significant digits.
suppressPackageStartupMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(normalizePath(sub("^--file=", "", grep("^--file=", commandArgs(FALSE), value = TRUE))))
out <- if (length(args) >= 1) args[1] else file.path(here, "values", "meta")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(here, "meta_fixture.csv"), stringsAsFactors = FALSE)
esc <- list(); pooled <- list()
for (ds in unique(d$dataset)) {
  s <- d[d$dataset == ds, ]
  e <- escalc(measure = "PLO", xi = s$events, ni = s$total)
  esc[[ds]] <- data.frame(dataset = ds, study = s$study, yi = as.numeric(e$yi), vi = as.numeric(e$vi))
  for (test in c("knha", "z")) {
    f <- rma(yi = as.numeric(e$yi), vi = as.numeric(e$vi), method = "REML", test = test,
             control = list(threshold = 1e-12, maxiter = 1000))
    p <- predict(f)
    pooled[[paste(ds, test)]] <- data.frame(
      dataset = ds, test = test, k = f$k, tau2 = f$tau2, estimate = as.numeric(f$b), se = f$se,
      ci_lb = f$ci.lb, ci_ub = f$ci.ub, pi_lb = p$pi.lb, pi_ub = p$pi.ub, I2 = f$I2, H2 = f$H2,
      QE = f$QE, QEp = f$QEp)
  }
}
w <- function(x, f) write.csv(format(x, digits = 17), file.path(out, f), row.names = FALSE, quote = FALSE)
w(do.call(rbind, esc), "escalc.csv")
w(do.call(rbind, pooled), "pooled.csv")
cat(sprintf("metafor %s\n", packageVersion("metafor")))
