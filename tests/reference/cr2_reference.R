# CR2 + Satterthwaite reference values for guardian_rct.estimation.cr2, computed with
# clubSandwich (Pustejovsky & Tipton 2018) on glm(quasipoisson) fits with explicit
# hotspot and day (or block) dummies, clustered by hotspot.
# Run once from the repository root:  Rscript tests/reference/cr2_reference.R
# Writes tests/reference/cr2_reference.csv (the tests read it; they do not need R).
# R packages: clubSandwich, sandwich.
suppressPackageStartupMessages({library(clubSandwich); library(sandwich)})

cross <- read.csv("tests/reference/crossover_panel.csv", stringsAsFactors = FALSE)
par <- read.csv("tests/reference/parallel_panel.csv", stringsAsFactors = FALSE)
prep <- function(d) {
  d$hotspot <- factor(d$hotspot_id); d$day <- factor(d$day_index)
  d$ipw <- ifelse(d$treated == 1, 1 / d$p_treated, 1 / (1 - d$p_treated))
  d
}
cross <- prep(cross); par <- prep(par)
# a skewed variant of the crossover panel: the first 3 hotspots' harm is multiplied by 40,
# so that a few hotspots hold most of the harm (where the Satterthwaite df collapses)
skew <- cross
skew$harm_violence <- ifelse(skew$hotspot_id %in% unique(skew$hotspot_id)[1:3],
                             skew$harm_violence * 40, skew$harm_violence)
ctrl <- glm.control(epsilon = 1e-14, maxit = 200)
rows <- list()
add <- function(name, formula, data, weighted = FALSE) {
  data$w_ <- if (weighted) data$ipw else 1
  m <- suppressWarnings(glm(formula, family = quasipoisson(), data = data, control = ctrl,
                            weights = w_))
  V <- vcovCR(m, cluster = data$hotspot_id, type = "CR2")
  ct <- coef_test(m, vcov = V, test = "Satterthwaite", coefs = "treated")
  V1 <- vcovCL(m, cluster = data$hotspot_id, type = "HC1")
  rows[[length(rows) + 1]] <<- data.frame(
    name = name, estimate = sprintf("%.15g", coef(m)[["treated"]]),
    cr2_se = sprintf("%.15g", ct$SE), df = sprintf("%.15g", ct$df_Satt),
    p_value = sprintf("%.15g", ct$p_Satt), cr1_se = sprintf("%.15g", sqrt(V1["treated", "treated"])),
    n_clusters = length(unique(data$hotspot_id)))
}
add("count", count_violence ~ treated + hotspot + day, cross)
add("harm", harm_violence ~ treated + hotspot + day, cross)
add("count_ipw", count_violence ~ treated + hotspot + day, cross, weighted = TRUE)
# clubSandwich's matrix_power drops eigenvalues below an *absolute* 1e-12. With hotspot
# dummies and clusters = hotspots each B_j has an exact null direction whose round-off
# eigenvalue grows with the outcome's scale (B ~ mu^2); for harm in CCHI days (mu in the
# thousands) it passes 1e-12 and its inverse root inflates the Satterthwaite df term, so
# df_Satt changes with the unit of harm (3.21 in years or 1e-3 days, 1.13 in days, 4.57 in
# 10 days), although CR2 and its df are scale-invariant. The reference is therefore taken
# in CCHI years (harm / 365), where the null eigenvalue is round-off below 1e-12; the
# unscaled value is stored too, to document the artefact.
skew$harm_years <- skew$harm_violence / 365
add("harm_skewed", harm_years ~ treated + hotspot + day, skew)
add("harm_skewed_days_r_artefact", harm_violence ~ treated + hotspot + day, skew)
add("parallel", count_violence ~ treated + log1p(baseline_count_violence) + block + day, par)
out <- do.call(rbind, rows)
out$r_version <- R.version.string
out$clubSandwich <- as.character(packageVersion("clubSandwich"))
write.csv(out, "tests/reference/cr2_reference.csv", row.names = FALSE)
print(out)
