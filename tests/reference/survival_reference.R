# Reference values for tests/test_survival.py, written by R (survival 3.5-3, cmprsk 2.2-11).
#
# Usage (from the project root):
#   Rscript tests/reference/survival_reference.R [OUT_DIR]
# Reads tests/reference/survival_fixture.csv (made by make_survival_fixtures.py) and writes one
# CSV per analysis into OUT_DIR (default tests/reference/values).  Numbers are written with 17
# significant digits.  No timestamps or paths are written, so reruns are byte-identical.
suppressPackageStartupMessages({
  library(survival)
  library(cmprsk)
})

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
out <- if (length(args) >= 1) args[1] else file.path(script_dir, "values")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(script_dir, "survival_fixture.csv"), stringsAsFactors = FALSE)

wcsv <- function(x, name) {
  x <- as.data.frame(x)
  for (j in seq_along(x)) if (is.double(x[[j]])) x[[j]] <- sprintf("%.17g", x[[j]])
  write.csv(x, file.path(out, name), row.names = FALSE, quote = TRUE)
}

# ---- Kaplan-Meier ------------------------------------------------------------------------
km_table <- function(fit) {
  s <- summary(fit, censored = TRUE)
  data.frame(strata = if (is.null(s$strata)) "all" else sub(".*=", "", as.character(s$strata)),
             time = s$time, n_risk = s$n.risk, n_event = s$n.event, n_censor = s$n.censor,
             surv = s$surv, std_err = s$std.err, lower = s$lower, upper = s$upper)
}
for (ct in c("log", "log-log")) {
  tag <- gsub("-", "", ct)
  wcsv(km_table(survfit(Surv(time, event) ~ 1, data = d, conf.type = ct)),
       sprintf("km_all_%s.csv", tag))
  wcsv(km_table(survfit(Surv(time, event) ~ grp3, data = d, conf.type = ct)),
       sprintf("km_grp3_%s.csv", tag))
  s <- summary(survfit(Surv(time, event) ~ 1, data = d, conf.type = ct),
               times = c(0, 6, 12, 24, 36, 48, 60))
  wcsv(data.frame(time = s$time, n_risk = s$n.risk, surv = s$surv, std_err = s$std.err,
                  lower = s$lower, upper = s$upper), sprintf("km_milestones_%s.csv", tag))
}

# ---- median survival, RMST, median follow-up ---------------------------------------------
med_rows <- list()
for (ct in c("log", "log-log")) {
  for (g in c("all", "arm")) {
    f <- if (g == "all") Surv(time, event) ~ 1 else Surv(time, event) ~ arm
    tb <- summary(survfit(f, data = d, conf.type = ct), rmean = 60)$table
    if (is.null(dim(tb))) tb <- t(as.matrix(tb))
    nm <- if (g == "all") "all" else sub(".*=", "", rownames(tb))
    med_rows[[length(med_rows) + 1]] <- data.frame(
      conf_type = ct, group = nm, median = tb[, "median"], lower = tb[, "0.95LCL"],
      upper = tb[, "0.95UCL"], rmean = tb[, "rmean"], se_rmean = tb[, "se(rmean)"])
  }
}
wcsv(do.call(rbind, med_rows), "median_rmst.csv")
for (tau in c(24, 36)) {
  tb <- summary(survfit(Surv(time, event) ~ arm, data = d), rmean = tau)$table
  wcsv(data.frame(group = sub(".*=", "", rownames(tb)), tau = tau, rmean = tb[, "rmean"],
                  se_rmean = tb[, "se(rmean)"]), sprintf("rmst_arm_tau%d.csv", tau))
}
rk <- summary(survfit(Surv(time, 1 - event) ~ 1, data = d, conf.type = "log-log"))$table
wcsv(data.frame(median = rk["median"], lower = rk["0.95LCL"], upper = rk["0.95UCL"]),
     "median_followup.csv")

# ---- log-rank ----------------------------------------------------------------------------
lr <- function(f, name) {
  x <- survdiff(f, data = d)
  etmp <- if (is.matrix(x$exp)) rowSums(x$exp) else x$exp
  df <- sum(etmp > 0) - 1  # as print.survdiff
  wcsv(data.frame(group = sub(".*=", "", names(x$n)), n = as.vector(x$n),
                  observed = as.vector(if (is.matrix(x$obs)) rowSums(x$obs) else x$obs),
                  expected = as.vector(if (is.matrix(x$exp)) rowSums(x$exp) else x$exp),
                  chisq = x$chisq, df = df,
                  p = pchisq(x$chisq, df, lower.tail = FALSE)), name)
}
lr(Surv(time, event) ~ arm, "logrank_arm.csv")
lr(Surv(time, event) ~ grp3, "logrank_grp3.csv")
lr(Surv(time, event) ~ arm + strata(stratum), "logrank_arm_strata.csv")

# ---- cumulative incidence (cuminc) and Gray's test ---------------------------------------
ut <- sort(unique(d$time))
ci_rows <- list()
for (g in c("all", "HSCT", "MSCT")) {
  dd <- if (g == "all") d else d[d$arm == g, ]
  ci <- cuminc(dd$time, dd$status)
  tp <- timepoints(ci, ut)
  for (cause in c(1, 2)) {
    ci_rows[[length(ci_rows) + 1]] <- data.frame(
      group = g, cause = cause, time = ut, cif = tp$est[sprintf("1 %d", cause), ],
      variance = tp$var[sprintf("1 %d", cause), ])
  }
}
wcsv(do.call(rbind, ci_rows), "cuminc.csv")
s <- cuminc(d$time, d$status, cencode = 0)
tp <- timepoints(s, c(12, 24, 36, 48, 60))
wcsv(data.frame(time = c(12, 24, 36, 48, 60), cif = tp$est["1 1", ], variance = tp$var["1 1", ]),
     "cif_milestones.csv")
gray <- function(g, strata, name) {
  ci <- if (missing(strata)) cuminc(d$time, d$status, g) else cuminc(d$time, d$status, g, strata)
  tst <- ci$Tests
  wcsv(data.frame(cause = as.integer(rownames(tst)), stat = tst[, "stat"], p = tst[, "pv"],
                  df = tst[, "df"]), name)
}
gray(d$arm, name = "gray_arm.csv")
gray(d$grp3, name = "gray_grp3.csv")
gray(d$arm, d$stratum, name = "gray_arm_strata.csv")
ci <- cuminc(d$time, d$status, d$arm, rho = 1)$Tests
wcsv(data.frame(cause = as.integer(rownames(ci)), stat = ci[, "stat"], p = ci[, "pv"],
                df = ci[, "df"]), "gray_arm_rho1.csv")

# ---- Fine-Gray (crr) ---------------------------------------------------------------------
X <- cbind(armHSCT = as.numeric(d$arm == "HSCT"), age = d$age, nephritis = d$nephritis)
for (cz in c(1, 2)) {
  fg <- crr(d$time, d$status, X, failcode = cz, cencode = 0)
  fgt <- crr(d$time, d$status, X, failcode = cz, cencode = 0, gtol = 1e-12, maxiter = 50)
  wcsv(data.frame(term = names(fg$coef), coef = fg$coef, se = sqrt(diag(fg$var)),
                  coef_tight = fgt$coef, se_tight = sqrt(diag(fgt$var)),
                  loglik = fgt$loglik, loglik_null = fgt$loglik.null),
       sprintf("finegray_cause%d.csv", cz))
}

# ---- Cox (Efron) and cox.zph -------------------------------------------------------------
d$armHSCT <- as.numeric(d$arm == "HSCT")
cx <- coxph(Surv(time, event) ~ armHSCT + age + nephritis, data = d, ties = "efron")
sm <- summary(cx)$coefficients
wcsv(data.frame(term = rownames(sm), coef = sm[, "coef"], se = sm[, "se(coef)"],
                z = sm[, "z"], p = sm[, "Pr(>|z|)"], loglik = cx$loglik[2]), "cox.csv")
zp <- cox.zph(cx, transform = "km")$table
wcsv(data.frame(term = rownames(zp), chisq = zp[, "chisq"], df = zp[, "df"], p = zp[, "p"]),
     "cox_zph.csv")
cs <- coxph(Surv(time, event) ~ armHSCT + age + strata(stratum), data = d, ties = "efron")
sm <- summary(cs)$coefficients
wcsv(data.frame(term = rownames(sm), coef = sm[, "coef"], se = sm[, "se(coef)"]), "cox_strata.csv")
zp <- cox.zph(cs, transform = "km")$table
wcsv(data.frame(term = rownames(zp), chisq = zp[, "chisq"], df = zp[, "df"], p = zp[, "p"]),
     "cox_zph_strata.csv")
