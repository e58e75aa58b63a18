"""Synthetic crime records for a trial, with the truth kept beside them.

Each hotspot (and, optionally, each of its buffer rings) gets a realistic baseline: the
mean daily counts per data.police.uk crime type of one of the 57 West Midlands LSOAs with
the most violence (``data/sim_hotspot_profiles.csv``), split into representative Home
Office offence codes with CCHI-like harm weights (``data/sim_offences.csv``). The daily
rate of a hotspot is

``rate[h, d, k] = base[h, k] · dow[d] · month[d] · G[h, d] · effect[h, d, k]``

with a mean-one gamma multiplier ``G`` per hotspot-day (gamma-Poisson, i.e. negative
binomial counts; Greenwood & Yule 1920; shape calibrated from the month-to-month
over-dispersion of the real areas), and ``effect`` the chosen treatment effect on days
with a (delivered) patrol, the residual-deterrence effect on the day after one (Koper
1995), and the displacement effect in the rings (Weisburd et al. 2006).

The effect on *volume* and on *harm* can differ: offences of at least
``harm_threshold_days`` CCHI days (the serious tail) get one rate multiplier ``a`` and
the rest another ``b``, solved per hotspot so that the expected count falls by exactly
``effect_volume`` and the expected harm by exactly ``effect_harm``.

Crimes are placed uniformly inside their hotspot or ring, at local clock times following
an hour-of-day profile within the experimental day, and written in the force-records
contract (DESIGN.md §3): ``crime_id, offence_code, occurred_at, x, y, victim_age,
detection``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import OutcomeSpec, TrialConfig
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.simulation.common import Calibration, SimulatedOutput, load_calibration
from guardian_rct.simulation.crime_draws import (
    draw_counts,
    draw_offences,
    draw_places,
    draw_times,
    draw_victims,
)

__all__ = ["SimulatedCrimes", "simulate_crimes", "CRIME_OUTPUT_COLUMNS"]

CRIME_OUTPUT_COLUMNS = ("crime_id", "offence_code", "occurred_at", "x", "y", "victim_age", "detection")
HOTSPOT_UNIT = "hotspot"


@dataclass(frozen=True)
class SimulatedCrimes(SimulatedOutput):
    """A synthetic crime file and its truth.

    Attributes
    ----------
    frame
        The crimes contract: ``crime_id, offence_code, occurred_at`` (UTC Timestamp),
        ``x, y`` (trial CRS), ``victim_age`` (nullable Int64), ``detection``.
    origin
        Per crime: ``crime_id, hotspot_id, ring`` (``"hotspot"`` or the ring label),
        ``date`` (experimental day), ``period`` (``baseline``/``trial``), ``cchi_days``.
    expected
        Per hotspot (or ring) and day: ``date, hotspot_id, ring, period, treated, active,
        residual, expected_count, expected_harm, counterfactual_count,
        counterfactual_harm`` (the expectation before the gamma noise, and without any
        effect).
    truth
        JSON-ready dict: effect sizes, per-hotspot baselines, per-outcome true rate
        ratios, seed and provenance.
    """

    frame: pd.DataFrame
    origin: pd.DataFrame
    expected: pd.DataFrame
    truth: dict[str, Any]
    provenance: Provenance

    def summary(self) -> str:
        """A few lines for the command line."""
        t = self.truth
        n = t["n_crimes"]
        return (f"{n['total']} crimes ({n['baseline']} baseline, {n['trial']} trial; "
                f"{n['rings']} in buffer rings); effect on volume {t['effects']['volume']:g}, "
                f"on harm {t['effects']['harm']:g}")


def _check_ratio(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise UsageError(f"{name} must be a positive rate ratio", expected="a number > 0 such as 0.8",
                         found=repr(value), where=name, fix=f"give {name} as a rate ratio (1 = no effect)")
    return float(value)


def _delivered_matrix(delivered: pd.DataFrame, days: list[dt.date], ids: np.ndarray,
                      treated: np.ndarray, *, column: str = "delivered", required: bool = True) -> np.ndarray:
    missing = [c for c in ("date", "hotspot_id", column) if c not in delivered.columns]
    if missing:
        raise UsageError("the delivered table lacks columns " + ", ".join(missing),
                         expected="date, hotspot_id, delivered", found=", ".join(map(str, delivered.columns)),
                         where="delivered", fix="pass the compliance table of simulate_pings")
    day_index = {d: i for i, d in enumerate(days)}
    hot_index = {h: j for j, h in enumerate(ids)}
    dates = [d if isinstance(d, dt.date) else dt.date.fromisoformat(str(d)[:10]) for d in delivered["date"]]
    rows = np.array([day_index.get(d, -1) for d in dates])
    cols = delivered["hotspot_id"].astype(str).map(hot_index).fillna(-1).to_numpy(dtype=int)
    ok = (rows >= 0) & (cols >= 0)
    out = np.zeros_like(treated)
    known = np.zeros_like(treated)
    out[rows[ok], cols[ok]] = delivered[column].to_numpy()[ok].astype(bool)
    known[rows[ok], cols[ok]] = True
    gap = treated & ~known
    if required and gap.any():
        d, h = np.argwhere(gap)[0]
        raise UsageError(f"no delivered value for treated hotspot {ids[h]} on {days[d]}",
                         where="delivered", fix="give every treated hotspot-day a delivered value (0/1)")
    return out & treated


def _baseline_targets(baseline_rates: Mapping[str, float], ids: np.ndarray) -> np.ndarray:
    missing = [h for h in ids if h not in baseline_rates]
    if missing:
        raise UsageError(f"baseline_rates has no rate for hotspot(s) {', '.join(missing[:5])}",
                         where="baseline_rates", fix="give a daily crime rate for every hotspot")
    target = np.array([baseline_rates[h] for h in ids], dtype=float)
    if not np.all(np.isfinite(target)) or np.any(target <= 0):
        raise UsageError("baseline_rates must be positive daily crime counts", found=str(target.min()),
                         where="baseline_rates", fix="use each hotspot's mean crimes per day, e.g. 1.7")
    return target


def _harm_multipliers(rates: np.ndarray, weights: np.ndarray, high: np.ndarray,
                      volume: float, harm: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-hotspot multipliers (a for serious, b for other offences).

    Solves ``pi·a + (1−pi)·b = volume`` and ``eta·a + (1−eta)·b = harm`` where ``pi``
    and ``eta`` are the serious offences' shares of a hotspot's expected count and harm.
    """
    total = rates.sum(axis=1)
    harm_total = (rates * weights).sum(axis=1)
    pi = rates[:, high].sum(axis=1) / total
    eta = (rates * weights)[:, high].sum(axis=1) / harm_total
    if np.isclose(volume, harm):
        return np.full(len(rates), volume), np.full(len(rates), volume)
    spread = eta - pi
    if np.any(spread <= 1e-9):
        raise UsageError("a hotspot has no serious offences, so harm cannot fall differently from volume",
                         where="effect_harm", fix="use the same effect for volume and harm")
    diff = (harm - volume) / spread
    b = volume - pi * diff
    a = b + diff
    if np.any(a < 0) or np.any(b < 0):
        raise UsageError("these volume and harm effects cannot both hold",
                         expected="effects whose harm ratio is reachable by scaling serious and other offences",
                         found=f"volume {volume:g}, harm {harm:g}", where="effect_harm",
                         fix="bring the harm effect closer to the volume effect")
    return a, b


def _code_matches(codes: pd.Series, prefixes: tuple[str, ...]) -> np.ndarray:
    out = np.zeros(len(codes), dtype=bool)
    for p in prefixes:
        p = p.strip()
        out |= (codes == p).to_numpy() if "/" in p else codes.str.startswith(p.zfill(3) + "/").to_numpy()
    return out


def _outcome_inclusion(spec: OutcomeSpec, offences: pd.DataFrame, age_pmf: np.ndarray) -> np.ndarray:
    """Expected share of each offence code's crimes that the outcome counts."""
    codes = offences["offence_code"].astype(str)
    sel = np.ones(len(offences), dtype=bool)
    if spec.offence_codes or spec.crime_types:
        by_code = _code_matches(codes, spec.offence_codes) if spec.offence_codes else np.zeros(len(codes), bool)
        by_type = offences["crime_type"].isin(spec.crime_types).to_numpy() if spec.crime_types else np.zeros(len(codes), bool)
        sel = by_code | by_type
    share = sel.astype(float)
    if spec.victim_age_below is not None:
        for k, row in enumerate(offences.itertuples()):
            if not row.person_victim:
                share[k] = 0.0
                continue
            pmf = age_pmf[int(row.victim_age_min):int(row.victim_age_max) + 1]
            ages = np.arange(int(row.victim_age_min), int(row.victim_age_max) + 1)
            share[k] *= pmf[ages < spec.victim_age_below].sum() / pmf.sum()
    return share


def _units(hotspots: HotspotSet, rings: gpd.GeoDataFrame | None) -> pd.DataFrame:
    frame = hotspots.frame
    units = pd.DataFrame({"h": np.arange(len(frame)), "hotspot_id": frame["hotspot_id"].to_numpy(),
                          "ring": HOTSPOT_UNIT, "geometry": frame.geometry.to_numpy(),
                          "area_ratio": 1.0})
    if rings is None or len(rings) == 0:
        return units
    missing = [c for c in ("hotspot_id", "ring", "geometry") if c not in rings.columns]
    if missing:
        raise UsageError("the rings table lacks columns " + ", ".join(missing),
                         expected="hotspot_id, ring, geometry", where="rings",
                         fix="pass hotspots.buffer_rings(...)")
    if rings.crs is not None and hotspots.crs is not None and not rings.crs.equals(hotspots.crs):
        raise DataError("rings and hotspots are in different CRSs", expected=str(hotspots.crs),
                        found=str(rings.crs), where="rings", fix="build the rings from these hotspots")
    index = {h: i for i, h in enumerate(frame["hotspot_id"])}
    h = rings["hotspot_id"].astype(str).map(index)
    if h.isna().any():
        bad = rings["hotspot_id"][h.isna()].iloc[0]
        raise DataError(f"ring of unknown hotspot '{bad}'", where=where("rings", int(np.flatnonzero(h.isna())[0]) + 1, "hotspot_id"),
                        fix="build the rings from these hotspots")
    h = h.to_numpy(dtype=int)
    areas = frame.geometry.area.to_numpy()
    ring_geom = rings.geometry.to_numpy()
    ring_area = np.array([0.0 if g is None or g.is_empty else g.area for g in ring_geom])
    extra = pd.DataFrame({"h": h, "hotspot_id": frame["hotspot_id"].to_numpy()[h],
                          "ring": rings["ring"].astype(str).to_numpy(), "geometry": ring_geom,
                          "area_ratio": ring_area / areas[h]})
    return pd.concat([units, extra], ignore_index=True)


def simulate_crimes(
    config: TrialConfig,
    hotspots: HotspotSet,
    allocation: Allocation,
    *,
    effect_volume: float = 0.8,
    effect_harm: float = 0.8,
    residual_deterrence: float = 1.0,
    displacement: float = 1.0,
    rings: gpd.GeoDataFrame | None = None,
    seed: int | None = None,
    baseline_days: int = 0,
    delivered: pd.DataFrame | None = None,
    contamination_has_effect: bool = False,
    rate_scale: float = 1.0,
    baseline_rates: Mapping[str, float] | None = None,
    ring_density: float = 0.5,
    harm_threshold_days: float = 100.0,
) -> SimulatedCrimes:
    """Simulate force crime records for the hotspots over the allocation's days.

    Parameters
    ----------
    config, hotspots, allocation
        The trial, its hotspots and the schedule to simulate against (never drawn here).
    effect_volume, effect_harm
        Rate ratios of crime count and of CCHI harm on a hotspot-day with a patrol
        (1 = no effect). With ``delivered``, only delivered patrols have the effect.
    residual_deterrence
        Rate ratio on the day after a patrol day when that day has no patrol.
    displacement
        Rate ratio in the buffer rings on the hotspot's patrol days (>1 displacement,
        <1 diffusion of benefits); needs ``rings``.
    rings
        GeoDataFrame ``hotspot_id, ring, geometry`` in the hotspots' CRS (e.g.
        ``hotspots.buffer_rings``); each ring's baseline is its hotspot's rates times
        ``ring_density`` times the ring's area relative to the hotspot.
    seed
        Root seed (default: the trial seed); streams ``simulate_crimes/...``.
    baseline_days
        Days before the trial start (no patrols) to simulate as well, for pre-trial
        baselines (e.g. 365).
    delivered
        Optional table ``date, hotspot_id, delivered`` (the compliance contract; e.g.
        :attr:`SimulatedPings.compliance`); without it every scheduled patrol counts.
    contamination_has_effect
        With ``delivered`` holding a ``contaminated`` column (the compliance contract), a
        patrol on a control day has the same effect as a scheduled one (presence deters
        whoever sent it), which dilutes the effect of assignment.
    rate_scale
        Multiplies every baseline rate (1 = the calibrated West Midlands rates).
    baseline_rates
        Hotspot id → mean crimes per day, to replace the calibrated totals (e.g. from the
        force's own pre-trial counts); the offence mix of the drawn profile is kept.
    harm_threshold_days
        CCHI days at and above which an offence counts as serious for ``effect_harm``.

    Returns
    -------
    SimulatedCrimes
    """
    effects = _check_arguments(effect_volume, effect_harm, residual_deterrence, displacement, rate_scale,
                               harm_threshold_days=harm_threshold_days, ring_density=ring_density,
                               baseline_days=baseline_days)
    seed = config.trial.seed if seed is None else int(seed)
    cal = load_calibration()
    ids = hotspots.ids.astype(str)
    _check_allocation(allocation, ids)
    calendar = _calendar(config, allocation, ids, baseline_days, delivered, contamination_has_effect)
    offences = _offence_rates(cal, ids, effects, baseline_rates, seed)
    units = _units(hotspots, rings)
    rates = _unit_rates(units, offences, effects)
    expectation = _expectation(cal, calendar, rates, offences.weights)
    frame, origin = _draw_crimes(config, cal, calendar, units, rates, expectation, offences.weights, seed)
    expected = _expected_table(calendar, units, rates, expectation)
    truth = _truth(config, cal, ids, offences, calendar, expected, origin, seed=seed,
                   effects={**asdict(effects),
                            "contamination_has_effect": bool(contamination_has_effect and delivered is not None),
                            "baseline_rates_given": baseline_rates is not None},
                   delivered_given=delivered is not None, rings_given=bool(rates.is_ring.any()))
    digest = hashlib.sha256(allocation.frame.to_csv(index=False).encode()).hexdigest()
    provenance = make_provenance(seed=seed, hashes={"hotspots": hotspots.sha256, "allocation": digest})
    truth["provenance"] = provenance.to_dict()
    return SimulatedCrimes(frame=frame, origin=origin, expected=expected, truth=truth, provenance=provenance)


@dataclass(frozen=True)
class _Effects:
    """The effect sizes and rate settings, in the order the truth lists them."""

    volume: float
    harm: float
    residual_deterrence: float
    displacement: float
    harm_threshold_days: float
    rate_scale: float
    ring_density: float


@dataclass(frozen=True)
class _Calendar:
    """The simulated days (``nb`` pre-trial baseline days, then the allocation's) and,
    per day and hotspot, whether it is treated, whether the effect applies (``active``)
    and whether residual deterrence applies (the day after an active day, itself not)."""

    days: list[dt.date]
    nb: int
    treated: np.ndarray
    active: np.ndarray
    residual: np.ndarray


@dataclass(frozen=True)
class _OffenceRates:
    """Per hotspot (h) and offence code (k): the drawn profile, baseline daily rates, CCHI
    weights and the effect multipliers (``a`` serious, ``b`` other, ``mult_hk`` both)."""

    pick: np.ndarray
    rates_hk: np.ndarray
    weights: np.ndarray
    a: np.ndarray
    b: np.ndarray
    mult_hk: np.ndarray


@dataclass(frozen=True)
class _UnitRates:
    """Per unit (hotspot or ring, u): its hotspot, whether it is a ring, its daily rates
    and effect multipliers per offence code, and its residual-deterrence ratio."""

    uh: np.ndarray
    is_ring: np.ndarray
    rates_uk: np.ndarray
    mult_uk: np.ndarray
    resid_u: np.ndarray


@dataclass(frozen=True)
class _Expectation:
    """Per unit and day (u, d): the day factor, whether the effect or residual deterrence
    applies, and the expected count and harm (with and without the effect: per unit)."""

    day_arr: np.ndarray
    f_d: np.ndarray
    act_ud: np.ndarray
    res_ud: np.ndarray
    mu: np.ndarray
    mu_harm: np.ndarray
    base_n: np.ndarray
    base_h: np.ndarray


def _check_arguments(volume: float, harm: float, residual_deterrence: float, displacement: float,
                     rate_scale: float, *, harm_threshold_days: float, ring_density: float,
                     baseline_days: int) -> _Effects:
    """The effect sizes, each rate ratio checked to be positive; and a check of ``baseline_days``."""
    volume = _check_ratio("effect_volume", volume)
    harm = _check_ratio("effect_harm", harm)
    residual_deterrence = _check_ratio("residual_deterrence", residual_deterrence)
    displacement = _check_ratio("displacement", displacement)
    rate_scale = _check_ratio("rate_scale", rate_scale)
    if not isinstance(baseline_days, int) or baseline_days < 0:
        raise UsageError("baseline_days must be a whole number of days, 0 or more",
                         found=repr(baseline_days), where="baseline_days", fix="use e.g. 365")
    return _Effects(volume=volume, harm=harm, residual_deterrence=residual_deterrence,
                    displacement=displacement, harm_threshold_days=harm_threshold_days,
                    rate_scale=rate_scale, ring_density=ring_density)


def _check_allocation(allocation: Allocation, ids: np.ndarray) -> None:
    """Raise if the allocation names a hotspot that is not in the hotspot file."""
    unknown = set(allocation.frame["hotspot_id"]) - set(ids)
    if unknown:
        raise DataError(f"the allocation names hotspots not in the hotspot file: {', '.join(sorted(unknown)[:5])}",
                        where=where(allocation.source), fix="use the allocation made for these hotspots")


def _calendar(config: TrialConfig, allocation: Allocation, ids: np.ndarray, baseline_days: int,
              delivered: pd.DataFrame | None, contamination_has_effect: bool) -> _Calendar:
    """Days: an optional pre-trial baseline, then the allocation's days; and where the
    effect and residual deterrence apply."""
    trial_days, treat = allocation.assignment_matrix(ids)
    first = min(config.trial.start_date, trial_days[0])
    base_list = [first - dt.timedelta(days=i) for i in range(baseline_days, 0, -1)]
    days = base_list + list(trial_days)
    nb, n_days, n_hot = len(base_list), len(days), len(ids)
    treated = np.zeros((n_days, n_hot), dtype=bool)
    treated[nb:] = treat
    active = treated.copy()
    if delivered is not None:
        active[nb:] = _delivered_matrix(delivered, list(trial_days), ids, treat)
        if contamination_has_effect:
            control = ~treat
            active[nb:] |= _delivered_matrix(delivered, list(trial_days), ids, control, column="contaminated",
                                             required=False)
    consecutive = np.r_[False, np.diff(np.array(days, dtype="datetime64[D]")).astype(int) == 1]
    residual = np.zeros_like(active)
    residual[1:] = active[:-1] & ~active[1:] & consecutive[1:, None]
    return _Calendar(days=days, nb=nb, treated=treated, active=active, residual=residual)


def _offence_rates(cal: Calibration, ids: np.ndarray, effects: _Effects,
                   baseline_rates: Mapping[str, float] | None, seed: int) -> _OffenceRates:
    """Baseline rates per hotspot and offence code, from a drawn real-area profile, and
    the serious/other multipliers that give the volume and harm effects."""
    n_hot = len(ids)
    rng_profiles = stream(seed, "simulate_crimes", "profiles")
    n_prof = len(cal.profiles)
    pick = rng_profiles.permutation(n_prof)[:n_hot] if n_hot <= n_prof else rng_profiles.integers(0, n_prof, n_hot)
    cat_rates = cal.profiles.loc[pick, cal.crime_types].to_numpy(dtype=float) * effects.rate_scale
    if baseline_rates is not None:
        cat_rates *= (_baseline_targets(baseline_rates, ids) / cat_rates.sum(axis=1))[:, None]
    off = cal.offences
    cat_index = {c: i for i, c in enumerate(cal.crime_types)}
    k_cat = off["crime_type"].map(cat_index).to_numpy()
    rates_hk = cat_rates[:, k_cat] * off["share_in_category"].to_numpy()
    weights = off["cchi_days"].to_numpy(dtype=float)
    high = weights >= effects.harm_threshold_days
    a, b = _harm_multipliers(rates_hk, weights, high, effects.volume, effects.harm)
    mult_hk = np.where(high[None, :], a[:, None], b[:, None])
    return _OffenceRates(pick=pick, rates_hk=rates_hk, weights=weights, a=a, b=b, mult_hk=mult_hk)


def _unit_rates(units: pd.DataFrame, offences: _OffenceRates, effects: _Effects) -> _UnitRates:
    """Rates and multipliers per unit: a ring has its hotspot's rates scaled by density and
    area, the displacement multiplier and no residual deterrence."""
    uh = units["h"].to_numpy()
    is_ring = (units["ring"] != HOTSPOT_UNIT).to_numpy()
    scale_u = np.where(is_ring, effects.ring_density * units["area_ratio"].to_numpy(), 1.0)
    rates_uk = offences.rates_hk[uh] * scale_u[:, None]
    mult_uk = np.where(is_ring[:, None], effects.displacement, offences.mult_hk[uh])
    resid_u = np.where(is_ring, 1.0, effects.residual_deterrence)
    return _UnitRates(uh=uh, is_ring=is_ring, rates_uk=rates_uk, mult_uk=mult_uk, resid_u=resid_u)


def _expectation(cal: Calibration, calendar: _Calendar, rates: _UnitRates, weights: np.ndarray) -> _Expectation:
    """Expected counts and harm per unit-day: baseline × day-of-week × month, times the
    effect on active days and residual deterrence on the day after."""
    day_arr = np.array(calendar.days, dtype="datetime64[D]")
    dow = (day_arr.view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    months = day_arr.astype("datetime64[M]").astype(int) % 12
    f_d = cal.dow_factor[dow] * cal.month_factor[months]
    act_ud = calendar.active[:, rates.uh].T
    res_ud = calendar.residual[:, rates.uh].T
    rates_uk, mult_uk = rates.rates_uk, rates.mult_uk
    base_n, act_n = rates_uk.sum(1), (rates_uk * mult_uk).sum(1)
    base_h, act_h = (rates_uk * weights).sum(1), (rates_uk * mult_uk * weights).sum(1)
    resid_ud = np.where(res_ud, rates.resid_u[:, None], 1.0)
    mu = f_d[None, :] * np.where(act_ud, act_n[:, None], base_n[:, None] * resid_ud)
    mu_harm = f_d[None, :] * np.where(act_ud, act_h[:, None], base_h[:, None] * resid_ud)
    return _Expectation(day_arr=day_arr, f_d=f_d, act_ud=act_ud, res_ud=res_ud, mu=mu, mu_harm=mu_harm,
                        base_n=base_n, base_h=base_h)


def _draw_crimes(config: TrialConfig, cal: Calibration, calendar: _Calendar, units: pd.DataFrame,
                 rates: _UnitRates, expectation: _Expectation, weights: np.ndarray,
                 seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draw the crimes: counts per unit-day, then each crime's offence, time, place, victim
    and detection.

    Returns
    -------
    frame, origin : pandas.DataFrame
        :attr:`SimulatedCrimes.frame` and :attr:`SimulatedCrimes.origin`, sorted by time
        and offence code.
    """
    cu, cd = draw_counts(cal, expectation.mu, seed)
    code_k = draw_offences(cu, cd, rates.rates_uk, rates.mult_uk, expectation.act_ud, seed)
    occurred = draw_times(expectation.day_arr[cd], cal, config, seed)
    xy = draw_places(cu, units["geometry"].to_numpy(), seed)
    age, proactive = draw_victims(code_k, cal, seed)
    off = cal.offences
    frame = pd.DataFrame({
        "offence_code": off["offence_code"].to_numpy()[code_k],
        "occurred_at": occurred,
        "x": xy[:, 0],
        "y": xy[:, 1],
        "victim_age": pd.array(np.where(age >= 0, age, 0), dtype="Int64"),
        "detection": np.where(proactive, "proactive", "reactive"),
    })
    frame.loc[age < 0, "victim_age"] = pd.NA
    date_out = np.array(calendar.days, dtype=object)[cd]
    origin = pd.DataFrame({"hotspot_id": units["hotspot_id"].to_numpy()[cu], "ring": units["ring"].to_numpy()[cu],
                           "date": date_out, "period": np.where(cd < calendar.nb, "baseline", "trial"),
                           "cchi_days": weights[code_k]})
    sort = np.lexsort((frame["offence_code"].to_numpy(), frame["occurred_at"].to_numpy()))
    frame = frame.iloc[sort].reset_index(drop=True)
    origin = origin.iloc[sort].reset_index(drop=True)
    crime_id = pd.Index(np.arange(1, len(cu) + 1)).map("SIM{:07d}".format).to_numpy()
    frame.insert(0, "crime_id", crime_id)
    origin.insert(0, "crime_id", crime_id)
    return frame, origin


def _expected_table(calendar: _Calendar, units: pd.DataFrame, rates: _UnitRates,
                    expectation: _Expectation) -> pd.DataFrame:
    """:attr:`SimulatedCrimes.expected`: one row per unit and day."""
    n_units, n_days, nb = len(units), len(calendar.days), calendar.nb
    f_d = expectation.f_d
    return pd.DataFrame({
        "date": np.tile(np.array(calendar.days, dtype=object), n_units),
        "hotspot_id": np.repeat(units["hotspot_id"].to_numpy(), n_days),
        "ring": np.repeat(units["ring"].to_numpy(), n_days),
        "period": np.tile(np.where(np.arange(n_days) < nb, "baseline", "trial"), n_units),
        "treated": calendar.treated[:, rates.uh].T.ravel().astype(int),
        "active": expectation.act_ud.ravel().astype(int),
        "residual": expectation.res_ud.ravel().astype(int),
        "expected_count": expectation.mu.ravel(),
        "expected_harm": expectation.mu_harm.ravel(),
        "counterfactual_count": (f_d[None, :] * expectation.base_n[:, None]).ravel(),
        "counterfactual_harm": (f_d[None, :] * expectation.base_h[:, None]).ravel(),
    })


def _truth(config: TrialConfig, cal: Calibration, ids: np.ndarray, offences: _OffenceRates, calendar: _Calendar,
           expected: pd.DataFrame, origin: pd.DataFrame, *, seed: int, effects: dict, delivered_given: bool,
           rings_given: bool) -> dict[str, Any]:
    """The JSON-ready :attr:`SimulatedCrimes.truth` (without provenance)."""
    pick, rates_hk, weights = offences.pick, offences.rates_hk, offences.weights
    mult_hk, a, b = offences.mult_hk, offences.a, offences.b
    off, days, nb = cal.offences, calendar.days, calendar.nb
    age_pmf = cal.victim_age_pmf()
    violence = (off["crime_type"] == "Violence and sexual offences").to_numpy()
    hot = [{"hotspot_id": str(h), "profile_lsoa": str(cal.profiles["lsoa_code"].iloc[p]),
            "baseline_daily_count": round(float(r.sum()), 5),
            "baseline_daily_violence": round(float(r[violence].sum()), 5),
            "baseline_daily_harm": round(float((r * weights).sum()), 3),
            "multiplier_serious": round(float(ai), 6), "multiplier_other": round(float(bi), 6)}
           for h, p, r, ai, bi in zip(ids, pick, rates_hk, a, b, strict=True)]
    outcomes = {}
    not_proactive = 1.0 - off["proactive_share"].to_numpy()
    for spec in config.outcomes:
        q = _outcome_inclusion(spec, off, age_pmf)
        qh = q * (not_proactive if config.harm.exclude_proactive else 1.0)
        num, den = (rates_hk * mult_hk * q).sum(), (rates_hk * q).sum()
        hnum, hden = (rates_hk * mult_hk * qh * weights).sum(), (rates_hk * qh * weights).sum()
        outcomes[spec.name] = {
            "rate_ratio_count": round(float(num / den), 6) if den > 0 else None,
            "rate_ratio_harm": round(float(hnum / hden), 6) if hden > 0 else None,
            "baseline_daily_count_per_hotspot": round(float(den / len(ids)), 6),
            "harm_excludes_proactive": bool(config.harm.exclude_proactive),
        }
    hot_exp = expected[(expected["ring"] == HOTSPOT_UNIT) & (expected["period"] == "trial")]
    on = hot_exp[hot_exp["treated"] == 1]
    off_days = hot_exp[hot_exp["treated"] == 0]
    itt = (float(on["expected_count"].sum() / on["counterfactual_count"].sum()) if len(on) else None)
    itt_h = (float(on["expected_harm"].sum() / on["counterfactual_harm"].sum()) if len(on) else None)
    ctl = (float(off_days["expected_count"].sum() / off_days["counterfactual_count"].sum()) if len(off_days) else None)
    ctl_h = (float(off_days["expected_harm"].sum() / off_days["counterfactual_harm"].sum()) if len(off_days) else None)
    return {
        "kind": "simulated_crimes",
        "seed": seed,
        "effects": effects,
        "effect_applies_to": "delivered patrols" if delivered_given else "every scheduled patrol",
        "itt_rate_ratio_count": None if itt is None else round(itt, 6),
        "itt_rate_ratio_harm": None if itt_h is None else round(itt_h, 6),
        "control_days_rate_ratio_count": None if ctl is None else round(ctl, 6),
        "control_days_rate_ratio_harm": None if ctl_h is None else round(ctl_h, 6),
        "note": ("itt_rate_ratio_* = expected / no-effect expectation on treated hotspot-days; "
                 "control_days_* the same on control days (below 1 with residual deterrence or "
                 "effective contamination); their ratio is the expected treated-vs-control rate ratio"),
        "outcomes": outcomes,
        "days": {"baseline_first": str(days[0]) if nb else None, "n_baseline": nb,
                 "trial_first": str(days[nb]), "trial_last": str(days[-1]), "n_trial": len(days) - nb},
        "calibration": {"gamma_shape_day": cal.gamma_shape, "dow_factor": cal.dow_factor.round(4).tolist(),
                        "month_factor": cal.month_factor.tolist(), "hour_profile": cal.hour_profile.round(5).tolist(),
                        "source": cal.meta["source"], "licence": cal.meta["licence"]},
        "hotspots": hot,
        "rings_simulated": rings_given,
        "n_crimes": {"total": len(origin), "baseline": int((origin["period"] == "baseline").sum()),
                     "trial": int((origin["period"] == "trial").sum()),
                     "rings": int((origin["ring"] != HOTSPOT_UNIT).sum())},
    }
