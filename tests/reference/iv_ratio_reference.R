# Independent check of guardian_rct.estimation.iv_ratio.cace_ratio (issue 12, item 6):
# the multiplicative IV (Mullahy 1997) solved with R's glm + uniroot, and its Anderson-Rubin
# interval with sandwich::vcovCL (HC1 = CR1: G/(G-1) * (N-1)/(N-K)), t(G-1) critical value.
# Run from the repository root:  Rscript tests/reference/iv_ratio_reference.R
# Writes tests/reference/iv_ratio_reference.csv (tests read it; they never need R).
suppressPackageStartupMessages(library(sandwich))
cross <- read.csv("tests/reference/crossover_panel.csv", colClasses = c(hotspot_id = "character", date = "character"))
cross$d <- ifelse(cross$treated == 1, cross$delivered, cross$contaminated)
G <- length(unique(cross$hotspot_id))
fit_t <- function(beta) {
  cross$yt <- cross$count_violence * exp(-beta * cross$d)
  m <- suppressWarnings(glm(yt ~ treated + factor(hotspot_id) + factor(date), family = quasipoisson(),
                            data = cross, control = glm.control(epsilon = 1e-12, maxit = 100)))
  v <- vcovCL(m, cluster = cross$hotspot_id, type = "HC1")
  c(gamma = unname(coef(m)["treated"]), se = sqrt(v["treated", "treated"]))
}
gamma <- function(b) fit_t(b)[["gamma"]]
tstat <- function(b) { f <- fit_t(b); f[["gamma"]] / f[["se"]] }
q <- qt(0.975, G - 1)
grid <- seq(-5, 5, length.out = 41)
g <- sapply(grid, tstat)
k <- which(sign(g[-1]) * sign(g[-length(g)]) < 0)[1]
est <- uniroot(gamma, c(grid[k], grid[k + 1]), tol = 1e-12)$root
acc <- grid[abs(g) <= q]
lo_in <- min(acc); hi_in <- max(acc)
lo <- uniroot(function(b) abs(tstat(b)) - q, c(lo_in - 0.25, lo_in), tol = 1e-10)$root
hi <- uniroot(function(b) abs(tstat(b)) - q, c(hi_in, hi_in + 0.25), tol = 1e-10)$root
p0 <- 2 * pt(abs(tstat(0)), G - 1, lower.tail = FALSE)
out <- data.frame(name = c("estimate", "ar_low", "ar_high", "p_ar0"), value = c(est, lo, hi, p0))
write.csv(out, "tests/reference/iv_ratio_reference.csv", row.names = FALSE)
print(out, digits = 12)
