# Reference values for guardian_rct's estimators, computed with independent R code.
# Run once from the repository root:  Rscript tests/reference/reference.R
# Writes tests/reference/r_reference.csv (the tests read it; they do not need R).
# R packages: sandwich (vcovCL), MASS (glm.nb), estimatr (lm_robust, iv_robust).
suppressPackageStartupMessages({library(sandwich); library(MASS); library(estimatr)})

cross <- read.csv("tests/reference/crossover_panel.csv", stringsAsFactors = FALSE)
par <- read.csv("tests/reference/parallel_panel.csv", stringsAsFactors = FALSE)
for (nm in c("cross", "par")) {
  d <- get(nm)
  d$hotspot <- factor(d$hotspot_id); d$day <- factor(d$day_index)
  d$week <- factor(d$day_index %/% 7); d$dowf <- factor(d$dow)
  d$ipw <- ifelse(d$treated == 1, 1 / d$p_treated, 1 / (1 - d$p_treated))
  d$patrolled <- ifelse(d$treated == 1, d$delivered, d$contaminated)
  assign(nm, d)
}
G <- length(unique(cross$hotspot_id))
ctrl <- glm.control(epsilon = 1e-14, maxit = 200)
rows <- list()
add <- function(name, model, coef, est, se, df, extra = NA) {
  p <- 2 * pt(-abs(est / se), df)
  rows[[length(rows) + 1]] <<- data.frame(name = name, model = model, coef = coef,
    estimate = sprintf("%.15g", est), std_error = sprintf("%.15g", se),
    p_value = sprintf("%.15g", p), extra = sprintf("%.15g", extra))
}
glm_cl <- function(name, formula, data, coef = "treated", weighted = FALSE) {
  data$w_ <- if (weighted) data$ipw else 1
  m <- suppressWarnings(glm(formula, family = poisson(), data = data, control = ctrl, weights = w_))
  v <- vcovCL(m, cluster = data$hotspot_id, type = "HC1")  # G/(G-1) * (N-1)/(N-K)
  add(name, "glm poisson + vcovCL HC1", coef, coef(m)[[coef]], sqrt(v[coef, coef]),
      length(unique(data$hotspot_id)) - 1)
}

# Poisson fixed effects: counts, harm, IPW, week + day-of-week
glm_cl("poisson_fe_count", count_violence ~ treated + hotspot + day, cross)
glm_cl("poisson_fe_harm", harm_violence ~ treated + hotspot + day, cross)
glm_cl("poisson_fe_count_ipw", count_violence ~ treated + hotspot + day, cross, weighted = TRUE)
glm_cl("poisson_fe_week", count_violence ~ treated + hotspot + week + dowf, cross)
# parallel: block + day effects and log(1 + baseline)
glm_cl("poisson_parallel", count_violence ~ treated + log1p(baseline_count_violence) + block + day, par)

# negative binomial (MASS::glm.nb), clustered the same way
nb <- glm.nb(count_violence ~ treated + hotspot + day, data = cross, control = ctrl)
vnb <- vcovCL(nb, cluster = cross$hotspot_id, type = "HC1")
add("negbin_fe_count", "MASS::glm.nb + vcovCL HC1", "treated", coef(nb)[["treated"]],
    sqrt(vnb["treated", "treated"]), G - 1, extra = nb$theta)

# difference in means, clustered (Stata CR1)
dm <- lm_robust(count_violence ~ treated, data = cross, clusters = hotspot_id, se_type = "stata")
add("diff_in_means_count", "estimatr::lm_robust stata", "treated", coef(dm)[["treated"]],
    dm$std.error[["treated"]], G - 1)
dmw <- lm_robust(count_violence ~ treated, data = cross, clusters = hotspot_id, se_type = "stata",
                 weights = ipw)
add("diff_in_means_count_ipw", "estimatr::lm_robust stata", "treated", coef(dmw)[["treated"]],
    dmw$std.error[["treated"]], G - 1)

# 2SLS with hotspot + day dummies, instrument = assignment (CACE)
for (endo in c("patrolled", "dosage_minutes")) {
  f <- as.formula(paste("count_violence ~", endo, "+ hotspot + day | treated + hotspot + day"))
  iv <- iv_robust(f, data = cross, clusters = hotspot_id, se_type = "stata")
  add(paste0("iv_", endo), "estimatr::iv_robust stata, explicit dummies", endo,
      coef(iv)[[endo]], iv$std.error[[endo]], G - 1)
}

# carry-over: yesterday's assignment, and bands of days since the last assigned patrol
cross <- cross[order(cross$hotspot_id, cross$day_index), ]
cross$lag1 <- ave(cross$treated, cross$hotspot_id, FUN = function(x) c(NA, head(x, -1)))
since <- function(x) {  # days since the last treated day strictly before today (NA if none)
  out <- rep(NA_real_, length(x)); last <- NA
  for (i in seq_along(x)) { out[i] <- if (is.na(last)) NA else i - last; if (x[i] == 1) last <- i }
  out
}
cross$since <- ave(cross$treated, cross$hotspot_id, FUN = since)
lagged <- cross[cross$day_index >= 1, ]
glm_cl("carryover_lag1", count_violence ~ treated + lag1 + hotspot + day, lagged, coef = "lag1")
lagged$band <- factor(ifelse(is.na(lagged$since) | lagged$since >= 4, "4+",
                             ifelse(lagged$since == 1, "1", as.character(lagged$since))),
                      levels = c("1", "2", "3", "4+"))
for (b in c("2", "3", "4+")) {
  glm_cl(paste0("carryover_since_", b), count_violence ~ treated + band + hotspot + day, lagged,
         coef = paste0("band", b))
}

out <- do.call(rbind, rows)
write.csv(out, "tests/reference/r_reference.csv", row.names = FALSE)
cat(sprintf("R %s, sandwich %s, MASS %s, estimatr %s\n", getRversion(), packageVersion("sandwich"),
            packageVersion("MASS"), packageVersion("estimatr")))
print(out)
