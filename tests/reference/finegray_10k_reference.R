# Fine-Gray reference values on the 10,000-patient fixture, written by R (cmprsk 2.2-11).
#
# Usage (from the project root):
#   Rscript tests/reference/finegray_10k_reference.R [OUT_DIR]
# Reads tests/reference/finegray_10k.csv.gz (made by make_finegray_10k_fixture.py) and writes
# OUT_DIR/cause1.csv and OUT_DIR/cause2.csv (default OUT_DIR: tests/reference/values/finegray_10k).
# For each cause, crr is run twice: with its defaults (gtol = 1e-6, maxiter = 10; columns coef,
# se, converged) and to full convergence (gtol = 1e-10, maxiter = 100; columns coef_tight,
# se_tight, loglik, loglik_null; the script stops if this run does not converge).  Numbers are written with 17
# significant digits; no timestamps or paths are written, so reruns are byte-identical.
# crr is O(n^2) per iteration: expect tens of seconds in all.
suppressPackageStartupMessages(library(cmprsk))

args <- commandArgs(trailingOnly = TRUE)
script_dir <- local({
  a <- commandArgs(trailingOnly = FALSE)
  f <- sub("^--file=", "", a[grep("^--file=", a)])
  if (length(f)) dirname(normalizePath(f)) else "tests/reference"
})
out <- if (length(args) >= 1) args[1] else file.path(script_dir, "values", "finegray_10k")
dir.create(out, showWarnings = FALSE, recursive = TRUE)
d <- read.csv(gzfile(file.path(script_dir, "finegray_10k.csv.gz")), stringsAsFactors = FALSE)
stopifnot(nrow(d) == 10000)

wcsv <- function(x, name) {
  x <- as.data.frame(x)
  for (j in seq_along(x)) if (is.double(x[[j]])) x[[j]] <- sprintf("%.17g", x[[j]])
  write.csv(x, file.path(out, name), row.names = FALSE, quote = TRUE)
}

X <- as.matrix(d[, c("arm", "age", "nephritis")])
storage.mode(X) <- "double"
for (cz in c(1, 2)) {
  t0 <- proc.time()[["elapsed"]]
  fg <- crr(d$time, d$status, X, failcode = cz, cencode = 0)
  t1 <- proc.time()[["elapsed"]]
  fgt <- crr(d$time, d$status, X, failcode = cz, cencode = 0, gtol = 1e-10, maxiter = 100)
  t2 <- proc.time()[["elapsed"]]
  if (!fgt$converged) stop(sprintf("crr (tight) did not converge for cause %d", cz))
  message(sprintf("cause %d: crr defaults %.1f s (converged: %s), tight %.1f s", cz, t1 - t0,
                  fg$converged, t2 - t1))
  wcsv(data.frame(term = colnames(X), coef = unname(fg$coef), se = sqrt(diag(fg$var)),
                  converged = fg$converged,
                  coef_tight = unname(fgt$coef), se_tight = sqrt(diag(fgt$var)),
                  loglik = fgt$loglik, loglik_null = fgt$loglik.null),
       sprintf("cause%d.csv", cz))
}
