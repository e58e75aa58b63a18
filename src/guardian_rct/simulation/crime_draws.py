"""Draw the individual crimes of a simulation from their expected rates.

Counts per unit (hotspot or ring) and day are gamma-Poisson; each crime then gets an
offence code from its unit's offence mix, a local clock time from the hour-of-day
profile within its experimental day, a place uniform in its unit's polygon, and a victim
age and detection by its offence. Every step draws from its own named stream
(``simulate_crimes/...``), so changing one never disturbs the others.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.simulation.common import Calibration, local_clock_instants, random_points_in

__all__ = ["draw_counts", "draw_offences", "draw_times", "draw_places", "draw_victims"]


def draw_counts(cal: Calibration, mu: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gamma-Poisson counts per unit-day (expected counts ``mu``, units × days); the
    unit and day of each crime."""
    n_units, n_days = mu.shape
    rng = stream(seed, "simulate_crimes", "counts")
    k = cal.gamma_shape
    gamma = rng.gamma(k, 1.0 / k, size=mu.shape)
    counts = rng.poisson(gamma * mu)
    flat = np.repeat(np.arange(n_units * n_days), counts.ravel())
    return flat // n_days, flat % n_days


def draw_offences(cu: np.ndarray, cd: np.ndarray, rates_uk: np.ndarray, mult_uk: np.ndarray, act_ud: np.ndarray,
                  seed: int) -> np.ndarray:
    """Offence code (row of the calibration's offences) of each crime: its unit's base
    mix (``rates_uk``, units × offences), or the mix tilted by ``mult_uk`` on the unit's
    active days (``act_ud``, units × days)."""
    n_units, n_offences = rates_uk.shape
    p_base = rates_uk / np.maximum(rates_uk.sum(1, keepdims=True), 1e-300)
    p_act = rates_uk * mult_uk
    p_act = p_act / np.maximum(p_act.sum(1, keepdims=True), 1e-300)
    cum = np.cumsum(np.vstack([p_base, p_act]), axis=1)
    row = cu + n_units * act_ud[cu, cd]
    rng_codes = stream(seed, "simulate_crimes", "offences")
    draw = rng_codes.random(len(cu))
    return np.minimum((draw[:, None] > cum[row]).sum(axis=1), n_offences - 1)


def draw_times(days: np.ndarray, cal: Calibration, config: TrialConfig, seed: int) -> pd.DatetimeIndex:
    """UTC instant of each crime: a local clock hour by the hour-of-day profile, inside
    its experimental day, to the second."""
    n = len(days)
    rng_times = stream(seed, "simulate_crimes", "times")
    hours = rng_times.choice(24, size=n, p=cal.hour_profile)
    minute = hours * 60.0 + rng_times.uniform(0, 60, n)
    return local_clock_instants(days, minute, config.trial.tz, config.trial.day_start_time).floor("s")


def draw_places(cu: np.ndarray, geoms: np.ndarray, seed: int) -> np.ndarray:
    """Position of each crime, uniform in its unit's polygon."""
    n = len(cu)
    rng_place = stream(seed, "simulate_crimes", "places")
    xy = np.empty((n, 2))
    order = np.argsort(cu, kind="stable")
    bounds = np.searchsorted(cu[order], np.arange(len(geoms) + 1))
    for u in range(len(geoms)):
        lo, hi = bounds[u], bounds[u + 1]
        if hi > lo:
            xy[order[lo:hi]] = random_points_in(geoms[u], hi - lo, rng_place)
    return xy


def draw_victims(code_k: np.ndarray, cal: Calibration, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Victim age of each crime (-1 without a person victim) and whether it was proactive."""
    n = len(code_k)
    off = cal.offences
    rng_people = stream(seed, "simulate_crimes", "victims")
    age = np.full(n, -1)
    pmf = cal.victim_age_pmf()
    for k_i, rowk in enumerate(off.itertuples()):
        if not rowk.person_victim:
            continue
        sel = np.flatnonzero(code_k == k_i)
        if len(sel):
            lo, hi = int(rowk.victim_age_min), int(rowk.victim_age_max)
            p = pmf[lo:hi + 1] / pmf[lo:hi + 1].sum()
            age[sel] = lo + rng_people.choice(hi - lo + 1, size=len(sel), p=p)
    proactive = rng_people.random(n) < off["proactive_share"].to_numpy()[code_k]
    return age, proactive
