# Reference values for tests/test_cox.py, written by R (survival 3.5-3): coxph and cox.zph.
#
# Usage (from the project root):
#   Rscript tests/reference/cox_reference.R [OUT_DIR]
# Reads tests/reference/cox_fixture.csv (made by make_cox_fixtures.py) and writes one CSV per
# model into OUT_DIR (default tests/reference/values/cox).  Numbers are written with 17
# significant digits; no timestamps or paths, so reruns are byte-identical.
#
# Fits (fit_<name>.csv: term, coef, se, naive_se, loglik, loglik_null, iter, n, nevent; se is the
# robust SE where the model has one, naive_se the model-based one):
#   efron, breslow        Surv(time, event) ~ x1 + x2 + sex (sex is text: F/M)
#   strata                ... + strata(stratum)
#   factor                ~ x1 + grp3 + sex (grp3 is text with three levels)
#   weights               ~ x1 + x2 + sex, weights = wt, robust = FALSE
#   robust                ~ x1 + x2 + sex, robust = TRUE
#   cluster               ~ x1 + x2 + sex, cluster = cid
#   combined              ~ x1 + grp3 + strata(stratum), weights = wt, cluster = cid
#   lt_efron, lt_breslow  Surv(entry, time, event) ~ x1 + x2 + sex (late entry)
#   lt_combined           Surv(entry, time, event) ~ x1 + grp3 + strata(stratum), weights, cluster
#   maxiter1              efron with iter.max = 1: stops early (R warns "Ran out of iterations")
#   monotone              rows 1-60 with bad = x2 for censored subjects, 0 for events:
#                         Surv(time, event) ~ x1 + bad has a monotone likelihood (R warns that
#                         the coefficient of bad may be infinite)
#   timefix               efron on times * (1 + 1e-12 * (id %% 3)): ties broken by rounding error
#                         only, which coxph merges back (timefix = TRUE, aeqSurv)
# cox.zph tables (zph_<fit>_<transform>.csv: term, chisq, df, p).
# R's own example with the 1/2 event coding: lung_data.csv (survival::lung time, status, age,
# sex) and fit_lung.csv (coxph(Surv(time, status) ~ age + sex, lung), status 2 = death).
suppressPackageStartupMessages(library(survival))

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
out <- if (length(args) >= 1) args[1] else file.path(script_dir, "values", "cox")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(script_dir, "cox_fixture.csv"), stringsAsFactors = FALSE)

wcsv <- function(x, name) {
  x <- as.data.frame(x)
  for (j in seq_along(x)) if (is.double(x[[j]])) x[[j]] <- sprintf("%.17g", x[[j]])
  write.csv(x, file.path(out, name), row.names = FALSE, quote = TRUE)
}

fit_table <- function(f) {
  nv <- if (is.null(f$naive.var)) f$var else f$naive.var
  data.frame(term = names(coef(f)), coef = unname(coef(f)), se = sqrt(diag(f$var)),
             naive_se = sqrt(diag(nv)), loglik = f$loglik[2], loglik_null = f$loglik[1],
             iter = as.integer(f$iter), n = as.integer(f$n), nevent = as.integer(f$nevent))
}

zph_table <- function(f, transform) {
  z <- cox.zph(f, transform = transform)$table
  data.frame(term = rownames(z), chisq = z[, "chisq"], df = as.integer(z[, "df"]), p = z[, "p"])
}

rc <- Surv(d$time, d$event)
fits <- list(
  efron = coxph(Surv(time, event) ~ x1 + x2 + sex, data = d, ties = "efron"),
  breslow = coxph(Surv(time, event) ~ x1 + x2 + sex, data = d, ties = "breslow"),
  strata = coxph(Surv(time, event) ~ x1 + x2 + sex + strata(stratum), data = d),
  factor = coxph(Surv(time, event) ~ x1 + grp3 + sex, data = d),
  weights = coxph(Surv(time, event) ~ x1 + x2 + sex, data = d, weights = wt, robust = FALSE),
  robust = coxph(Surv(time, event) ~ x1 + x2 + sex, data = d, robust = TRUE),
  cluster = coxph(Surv(time, event) ~ x1 + x2 + sex, data = d, cluster = cid),
  combined = coxph(Surv(time, event) ~ x1 + grp3 + strata(stratum), data = d, weights = wt,
                   cluster = cid),
  lt_efron = coxph(Surv(entry, time, event) ~ x1 + x2 + sex, data = d, ties = "efron"),
  lt_breslow = coxph(Surv(entry, time, event) ~ x1 + x2 + sex, data = d, ties = "breslow"),
  lt_combined = coxph(Surv(entry, time, event) ~ x1 + grp3 + strata(stratum), data = d,
                      weights = wt, cluster = cid)
)
fits$maxiter1 <- suppressWarnings(coxph(Surv(time, event) ~ x1 + x2 + sex, data = d,
                                        control = coxph.control(iter.max = 1)))
d60 <- d[1:60, ]
d60$bad <- ifelse(d60$event == 0, d60$x2, 0)
fits$monotone <- suppressWarnings(coxph(Surv(time, event) ~ x1 + bad, data = d60))
dtf <- d
dtf$time <- dtf$time * (1 + 1e-12 * (dtf$id %% 3))
fits$timefix <- coxph(Surv(time, event) ~ x1 + x2 + sex, data = dtf)
for (nm in names(fits)) wcsv(fit_table(fits[[nm]]), sprintf("fit_%s.csv", nm))

zph_cases <- list(c("efron", "km"), c("efron", "identity"), c("efron", "log"), c("efron", "rank"),
                  c("breslow", "km"), c("strata", "km"), c("strata", "rank"), c("factor", "km"),
                  c("weights", "km"), c("combined", "km"), c("lt_efron", "km"),
                  c("lt_efron", "identity"), c("lt_breslow", "km"), c("lt_combined", "km"),
                  c("timefix", "km"))
for (zc in zph_cases) wcsv(zph_table(fits[[zc[1]]], zc[2]), sprintf("zph_%s_%s.csv", zc[1], zc[2]))

lung_d <- survival::lung[, c("time", "status", "age", "sex")]
wcsv(lung_d, "lung_data.csv")
wcsv(fit_table(coxph(Surv(time, status) ~ age + sex, data = lung_d)), "fit_lung.csv")
