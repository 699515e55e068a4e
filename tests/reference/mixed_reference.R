# Reference values for tests/test_mixed.py and tests/test_paired.py, written by R
# (lme4, nlme, stats; versions written to values/mixed/versions.csv).
#
# Usage (from the project root):
#   Rscript tests/reference/mixed_reference.R [OUT_DIR]
# Reads tests/reference/mixed_fixture.csv, mixed_boundary_fixture.csv and paired_fixture.csv (made by make_mixed_fixtures.py)
# and writes into OUT_DIR (default tests/reference/values/mixed):
#   lmm.csv     lme4::lmer REML fits (random intercept and slope; random intercept only; a
#               boundary (singular) fit):
#               model, quantity (coef / se / theta / sd / corr / sigma / reml), term, value
#   gls.csv     nlme::gls REML with corCAR1(~ month | id) and corAR1(~ visit_index | id)
#   paired.csv  wilcox.test(paired = TRUE), t.test(paired = TRUE) and p.adjust(method = "holm")
# Numbers are written with 17 significant digits; no timestamps or paths, so reruns are identical.
suppressPackageStartupMessages({
  library(lme4)
  library(nlme)
})

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
out <- if (length(args) >= 1) args[1] else file.path(script_dir, "values", "mixed")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(file.path(script_dir, "mixed_fixture.csv"), stringsAsFactors = FALSE)
pr <- read.csv(file.path(script_dir, "paired_fixture.csv"))
db <- read.csv(file.path(script_dir, "mixed_boundary_fixture.csv"), stringsAsFactors = FALSE)

wcsv <- function(x, name) {
  x <- as.data.frame(x)
  for (j in seq_along(x)) if (is.double(x[[j]])) x[[j]] <- sprintf("%.17g", x[[j]])
  write.csv(x, file.path(out, name), row.names = FALSE, quote = TRUE)
}
rows <- function(model, quantity, term, value)
  data.frame(model = model, quantity = quantity, term = term, value = as.double(value))

# ---- lme4 ---------------------------------------------------------------------------------
# tight optimiser tolerances so that the reference is the optimum, not lme4's stopping point
ctl <- lmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-10, maxfun = 1e5))
lmm_rows <- function(name, fit) {
  vc <- as.data.frame(VarCorr(fit))
  sds <- vc[is.na(vc$var2), ]
  cors <- vc[!is.na(vc$var2), ]
  rbind(
    rows(name, "coef", names(fixef(fit)), fixef(fit)),
    rows(name, "se", names(fixef(fit)), sqrt(diag(as.matrix(vcov(fit))))),
    rows(name, "theta", names(getME(fit, "theta")), getME(fit, "theta")),
    rows(name, "sd", ifelse(sds$grp == "Residual", "Residual", sds$var1), sds$sdcor),
    if (nrow(cors)) rows(name, "corr", paste(cors$var1, cors$var2, sep = ":"), cors$sdcor),
    rows(name, "reml", "criterion", REMLcrit(fit)),
    rows(name, "n_groups", "id", ngrps(fit)[["id"]])
  )
}
fits <- list(
  slope_interaction = lmer(y ~ years * arm + (years | id), data = d, REML = TRUE, control = ctl),
  slope_logprot     = lmer(logprot ~ years + arm + (years | id), data = d, REML = TRUE, control = ctl),
  intercept_only    = lmer(y ~ years + arm + (1 | id), data = d, REML = TRUE, control = ctl),
  slope_default     = lmer(y ~ years * arm + (years | id), data = d, REML = TRUE),
  boundary          = suppressMessages(lmer(y ~ years * arm + (years | id), data = db, REML = TRUE,
                                            control = ctl))
)
wcsv(do.call(rbind, Map(lmm_rows, names(fits), fits)), "lmm.csv")

# ---- nlme::gls with AR(1) residuals -------------------------------------------------------
gctl <- glsControl(tolerance = 1e-10, msTol = 1e-12, maxIter = 200, msMaxIter = 200)
gls_rows <- function(name, fit) {
  phi <- coef(fit$modelStruct$corStruct, unconstrained = FALSE)
  rbind(
    rows(name, "coef", names(coef(fit)), coef(fit)),
    rows(name, "se", names(coef(fit)), sqrt(diag(vcov(fit)))),
    rows(name, "phi", "Phi", phi),
    rows(name, "sigma", "Residual", fit$sigma),
    rows(name, "loglik", "REML", as.numeric(logLik(fit)))
  )
}
g1 <- gls(y ~ years * arm, data = d, correlation = corCAR1(form = ~ month | id), method = "REML",
          control = gctl)
g2 <- gls(y ~ years * arm, data = d, correlation = corAR1(form = ~ visit_index | id), method = "REML",
          control = gctl)
wcsv(rbind(gls_rows("car1_month", g1), gls_rows("ar1_visit_index", g2)), "gls.csv")

# ---- paired tests -------------------------------------------------------------------------
ptest <- function(name, after, before) {
  ok <- !is.na(after) & !is.na(before)
  w <- suppressWarnings(wilcox.test(after[ok], before[ok], paired = TRUE))
  t <- t.test(after[ok], before[ok], paired = TRUE)
  rbind(
    rows(name, "wilcoxon", "V", w$statistic), rows(name, "wilcoxon", "p", w$p.value),
    rows(name, "t", "t", t$statistic), rows(name, "t", "df", t$parameter),
    rows(name, "t", "p", t$p.value), rows(name, "t", "mean_diff", t$estimate),
    rows(name, "t", "lower", t$conf.int[1]), rows(name, "t", "upper", t$conf.int[2])
  )
}
pv <- c(0.001, 0.04, 0.03, 0.2, 0.0125)
wcsv(rbind(
  ptest("ties_zeros", pr$month12, pr$baseline),
  ptest("small_exact", pr$small_month12, pr$small_baseline),
  rows("holm", "p_adjusted", as.character(seq_along(pv)), p.adjust(pv, method = "holm"))
), "paired.csv")

wcsv(data.frame(package = c("R", "lme4", "nlme"),
                version = c(paste(R.version$major, R.version$minor, sep = "."),
                            as.character(packageVersion("lme4")), as.character(packageVersion("nlme")))),
     "versions.csv")
