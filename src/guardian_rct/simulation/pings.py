"""Synthetic officer location pings for a trial, with the truth of every patrol.

For each scheduled patrol (a treatment row of the allocation) an officer is truly inside
the hotspot within the compliance window for a share ``compliance`` of patrols (the
reference trial: about 75% arrive within 24 hours of the scheduled start); of the rest,
a share ``late_share`` arrives later and the others never come. Arriving officers travel in from 0.8–2.5 km
away, stay a Koper-length time (log-normal around ``koper_minutes``, Koper 1995, "Just
enough police presence", *Justice Quarterly* 12(4)), wandering within about 40 m, and
leave. On control hotspot-days an officer passes through with probability
``contamination`` (a short stay at a random time of the experimental day).

Devices report a fix every 30–60 s while on these legs (no 24-hour tracks, so the volume
stays small) with Gaussian GPS noise whose scale matches the reported ``accuracy_m``
(about 68% of fixes within that radius). Pings are written in the pings contract
(DESIGN.md §3): ``device_id, timestamp, x, y, officer_id, team, accuracy_m``.

The truth of each visit (``visits``) is computed from the *noise-free* track: the true
arrival is the first fix whose true position lies inside the hotspot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct._core.rng import stream
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.simulation.common import SimulatedOutput, day_starts_utc, random_points_in
from guardian_rct.simulation.ping_truth import compliance_table, present_days, true_visits

__all__ = ["SimulatedPings", "simulate_pings", "PING_OUTPUT_COLUMNS"]

PING_OUTPUT_COLUMNS = ("device_id", "timestamp", "x", "y", "officer_id", "team", "accuracy_m")
_WANDER_M = 40.0
_NS = 1_000_000_000


@dataclass(frozen=True)
class SimulatedPings(SimulatedOutput):
    """Synthetic pings and the truth of every visit.

    Attributes
    ----------
    frame
        The pings contract: ``device_id, timestamp`` (UTC Timestamp), ``x, y`` (trial
        CRS, with GPS noise), ``officer_id, team, accuracy_m``; sorted by device and time.
    visits
        One row per scheduled patrol and per contamination visit: ``visit_id, kind``
        (``scheduled``/``contamination``), ``date, hotspot_id, window_start, status``
        (``on_time``/``late``/``never``/``contamination``) and ``intended_status`` (what
        the simulator planned; a travel leg crossing the hotspot can make a planned
        ``never`` truly ``on_time``), ``arrived_at, arrived_by`` (the first true presence
        of any officer within the arrival window, else the visit's own arrival; NaT when
        never), ``stay_start, stay_end, stay_minutes`` (the visit's own stay, from
        noise-free positions), ``officer_id, device_id, team``.
    compliance
        The compliance contract per allocation hotspot-day: ``date, hotspot_id, arm,
        delivered, dosage_minutes, contaminated``.
    truth
        JSON-ready summary (parameters, rates, seed, provenance).
    """

    frame: pd.DataFrame
    visits: pd.DataFrame
    compliance: pd.DataFrame
    truth: dict[str, Any]
    provenance: Provenance

    def summary(self) -> str:
        """A few lines for the command line."""
        t = self.truth
        return (f"{t['n_pings']} pings from {t['n_devices']} devices; {t['n_scheduled']} scheduled patrols, "
                f"{t['delivered_share']:.1%} delivered within {t['arrival_within_hours']:g} h; "
                f"{t['n_contamination']} contamination visits")


def _check_share(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise UsageError(f"{name} must be a proportion", expected="a number from 0 to 1 such as 0.75",
                         found=repr(value), where=name, fix=f"give {name} as a proportion")
    return float(value)


def _teams(hotspots: HotspotSet, officers_per_team: int) -> tuple[np.ndarray, dict[str, list[str]]]:
    blocks = hotspots.blocks.astype(str)
    if len(set(blocks)) > 1:
        team = np.array([f"Team {b}" for b in blocks], dtype=object)
    else:
        n_teams = max(1, int(np.ceil(len(blocks) / 10)))
        team = np.array([f"Team {chr(65 + i % 26)}{'' if i < 26 else i // 26}" for i in np.arange(len(blocks)) % n_teams],
                        dtype=object)
    roster = {t: [f"{t.replace('Team ', 'T')}-PC{j + 1:02d}" for j in range(officers_per_team)]
              for t in sorted(set(team))}
    return team, roster


def _cores(hotspots: HotspotSet) -> list:
    """Where an officer's wander can be centred so that it stays inside the hotspot."""
    cores = []
    for g in hotspots.frame.geometry:
        core = g
        for inset in (_WANDER_M + 30.0, _WANDER_M):
            candidate = g.buffer(-inset)
            if not candidate.is_empty and candidate.area > 1.0:
                core = candidate
                break
        cores.append(core)
    return cores


def simulate_pings(
    config: TrialConfig,
    hotspots: HotspotSet,
    allocation: Allocation,
    *,
    compliance: float = 0.75,
    contamination: float = 0.05,
    seed: int | None = None,
    late_share: float = 0.3,
    officers_per_team: int = 6,
    cadence_s: tuple[float, float] = (30.0, 60.0),
    accuracy_m: tuple[float, float] = (4.0, 20.0),
    until: dt.datetime | None = None,
) -> SimulatedPings:
    """Simulate officers' location pings for the allocation's patrols.

    Parameters
    ----------
    config, hotspots, allocation
        The trial, its hotspots and the schedule (never drawn here).
    compliance
        Share of scheduled patrols truly delivered: some officer inside the hotspot within
        ``[compliance] arrival_within_hours`` of the window start. Because another visit
        (the next day's patrol, a contamination visit) can arrive within a missed patrol's
        window, the scheduled officer's own arrival probability is solved by bisection so
        that the delivered share equals ``compliance`` (``truth["own_arrival_probability"]``;
        when other visits alone deliver more than ``compliance`` it is 0).
    contamination
        Probability that a control hotspot-day gets a (short) visit.
    seed
        Root seed (default: the trial seed); streams ``simulate_pings/...``.
    late_share
        Share of the non-compliant patrols that arrive late (the rest never arrive).
    officers_per_team
        Officers per team; teams are the hotspot blocks (or groups of ten hotspots).
    cadence_s
        Range of seconds between fixes.
    accuracy_m
        Range of the reported accuracy (metres); the noise's scale follows it.
    until
        Time-zone-aware end of the data: no fix at or after it is written (for a real
        trial, the end of the last complete experimental day, so that late arrivals of
        its patrols are not pings from the future). The truth (``visits``,
        ``compliance``) is the simulated world's and still includes them; the patrols
        they deliver are *pending* in the data. ``truth["pings_until"]`` and
        ``truth["n_pings_after_until"]`` record the cut.

    Returns
    -------
    SimulatedPings
    """
    compliance = _check_share("compliance", compliance)
    contamination = _check_share("contamination", contamination)
    late_share = _check_share("late_share", late_share)
    if not (0 < cadence_s[0] <= cadence_s[1]):
        raise UsageError("cadence_s must be (min, max) seconds with 0 < min <= max", found=repr(cadence_s),
                         where="cadence_s", fix="use e.g. (30, 60)")
    seed = config.trial.seed if seed is None else int(seed)
    tz, day_start = config.trial.tz, config.trial.day_start_time
    within_h = config.compliance.arrival_within_hours
    koper = config.compliance.koper_minutes or 15.0
    ids = hotspots.ids.astype(str)
    index = _hotspot_index(ids, allocation)
    alloc = allocation.frame
    team_of, roster = _teams(hotspots, officers_per_team)

    ctrl, c_target = _contamination_visits(alloc, contamination, seed, tz, day_start)
    sched = alloc[alloc["arm"] == "treatment"].reset_index(drop=True)
    plan = _plan_visits(sched, ctrl, c_target, index, compliance=compliance, late_share=late_share,
                        within_h=within_h, koper=koper, seed=seed)
    visits, vh = _visit_table(sched, ctrl, plan, index)
    goes = visits["status"].to_numpy() != "never"
    visits = _staff_visits(visits, team_of[vh], goes, plan, roster, seed)
    geoms = hotspots.frame.geometry.to_numpy()
    tracks = _tracks(_cores(hotspots), geoms, vh, goes, plan, cadence_s, accuracy_m, seed)
    visits, pres_pt, pres_h = true_visits(visits, tracks.owner, tracks.t_ns, tracks.xy, geoms, vh, plan.win_start,
                                          within_h)
    present = present_days(tracks.t_ns[pres_pt], ids[pres_h], tz, day_start)
    frame = _ping_frame(visits, tracks)
    n_cut = 0
    if until is not None:
        if until.tzinfo is None:
            raise UsageError("until must be time-zone aware", found=repr(until), where="until",
                             fix="pass an aware datetime such as datetime(..., tzinfo=UTC)")
        keep = frame["timestamp"] < pd.Timestamp(until)
        n_cut = int((~keep).sum())
        frame = frame[keep].reset_index(drop=True)

    comp = compliance_table(alloc, visits, present, tz, day_start)
    digest = hashlib.sha256(allocation.frame.to_csv(index=False).encode()).hexdigest()
    provenance = make_provenance(seed=seed, hashes={"hotspots": hotspots.sha256, "allocation": digest})
    truth = _truth(visits, frame, roster, provenance, seed=seed, compliance=compliance, p_own=plan.p_own,
                   contamination=contamination, late_share=late_share, within_h=within_h, koper=koper,
                   cadence_s=cadence_s, accuracy_m=accuracy_m)
    truth["pings_until"] = None if until is None else until.astimezone(dt.UTC).isoformat()
    truth["n_pings_after_until"] = n_cut
    return SimulatedPings(frame=frame, visits=visits, compliance=comp, truth=truth, provenance=provenance)


@dataclass(frozen=True)
class _Plan:
    """What the simulator intends for every visit (scheduled patrols first, then contamination).

    Times are UTC nanoseconds, lengths seconds; ``status`` and ``win_start`` cover the
    scheduled patrols only.
    """

    kinds: np.ndarray
    status: np.ndarray
    target: np.ndarray
    stay_s: np.ndarray
    approach_s: np.ndarray
    leave_s: np.ndarray
    win_start: np.ndarray
    p_own: float


@dataclass(frozen=True)
class _Tracks:
    """Every fix of every visit that happens: its visit (``owner``), time (UTC ns, whole
    seconds), noise-free and reported positions, and reported accuracy (m)."""

    owner: np.ndarray
    t_ns: np.ndarray
    xy: np.ndarray
    noisy: np.ndarray
    acc: np.ndarray


def _hotspot_index(ids: np.ndarray, allocation: Allocation) -> dict[str, int]:
    """Position of each hotspot id; raises if the allocation names an unknown hotspot."""
    index = {h: i for i, h in enumerate(ids)}
    alloc = allocation.frame
    h_all = alloc["hotspot_id"].map(index)
    if h_all.isna().any():
        bad = alloc["hotspot_id"][h_all.isna()].iloc[0]
        raise DataError(f"the allocation names hotspot '{bad}', which is not in the hotspot file",
                        where=where(allocation.source, int(np.flatnonzero(h_all.isna())[0]) + 1, "hotspot_id"),
                        fix="use the allocation made for these hotspots")
    return index


def _contamination_visits(alloc: pd.DataFrame, contamination: float, seed: int, tz: ZoneInfo,
                          day_start: dt.time) -> tuple[pd.DataFrame, np.ndarray]:
    """The control hotspot-days that get a visit, and its target arrival (UTC ns).

    The arrival is uniform over the experimental day, at least an hour before its end.
    """
    ctrl = alloc[alloc["arm"] == "control"].reset_index(drop=True)
    rng_c = stream(seed, "simulate_pings", "contamination")
    hit = rng_c.random(len(ctrl)) < contamination
    ctrl = ctrl[hit].reset_index(drop=True)
    c_days = sorted(set(ctrl["date"]))
    starts, ends = day_starts_utc(c_days, tz, day_start) if c_days else (pd.DatetimeIndex([]), pd.DatetimeIndex([]))
    pos = {d: i for i, d in enumerate(c_days)}
    di = np.array([pos[d] for d in ctrl["date"]], dtype=int)
    c_start = starts.as_unit("ns").asi8[di] if len(ctrl) else np.zeros(0, "int64")
    c_len = (ends.as_unit("ns").asi8[di] - c_start) if len(ctrl) else np.zeros(0, "int64")
    c_target = c_start + (rng_c.random(len(ctrl)) * (c_len - 3600 * _NS)).astype("int64")
    return ctrl, c_target


def _arrival_targets(sched: pd.DataFrame, within_h: float,
                     seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each scheduled patrol's delivery draw and its arrival times if on time and if late.

    Returns
    -------
    u, win_start, on_target, late_target : numpy.ndarray
        The uniform draw that fixes the patrol's status, and the window start and the two
        candidate arrivals (UTC ns). An on-time arrival falls in the scheduled window
        (80%) or after it, always within the arrival window; a late one 15 min to 12 h
        after the arrival window closes.
    """
    n_s = len(sched)
    rng = stream(seed, "simulate_pings", "delivery")
    u = rng.random(n_s)
    win_start = sched["window_start"].to_numpy(dtype="datetime64[ns]").view("int64")
    win_len = (sched["window_end"] - sched["window_start"]).dt.total_seconds().to_numpy()
    in_window = rng.random(n_s) < 0.8
    delay_s = np.where(in_window, rng.uniform(120.0, np.maximum(win_len, 180.0)),
                       win_len + rng.exponential(2 * 3600.0, n_s))
    delay_s = np.maximum(np.minimum(delay_s, within_h * 3600.0 - 30 * 60.0), 120.0)
    late_delay = within_h * 3600.0 + rng.uniform(0.25, 12.0, n_s) * 3600.0
    on_target = win_start + (delay_s * _NS).astype("int64")
    late_target = win_start + (late_delay * _NS).astype("int64")
    return u, win_start, on_target, late_target


def _leg_lengths(kinds: np.ndarray, koper: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds of each visit's stay (log-normal around Koper's minutes; 5 min for
    contamination), approach and departure."""
    rng_s = stream(seed, "simulate_pings", "stays")
    sigma = 0.4
    stay_mean = np.where(kinds == "scheduled", koper, 5.0)
    stay_s = np.clip(rng_s.lognormal(np.log(stay_mean) - sigma ** 2 / 2, sigma), 3.0, 60.0) * 60.0
    approach_s = rng_s.uniform(300.0, 900.0, len(kinds))
    leave_s = rng_s.uniform(180.0, 600.0, len(kinds))
    return stay_s, approach_s, leave_s


def _plan_visits(sched: pd.DataFrame, ctrl: pd.DataFrame, c_target: np.ndarray, index: dict[str, int], *,
                 compliance: float, late_share: float, within_h: float, koper: float, seed: int) -> _Plan:
    """Plan every visit: each scheduled patrol's status (on time, late, never), every
    target arrival and the lengths of every leg."""
    n_s = len(sched)
    u, win_start, on_target, late_target = _arrival_targets(sched, within_h, seed)
    kinds = np.r_[np.full(n_s, "scheduled"), np.full(len(ctrl), "contamination")]
    stay_s, approach_s, leave_s = _leg_lengths(kinds, koper, seed)
    # Another visit to the same hotspot (the next day's patrol, a passing officer) can
    # also arrive within a missed patrol's window; choose the scheduled officer's own
    # probability of arriving so that the share truly delivered is ``compliance``.
    h_s = sched["hotspot_id"].map(index).to_numpy(dtype=int)
    h_c = ctrl["hotspot_id"].map(index).to_numpy(dtype=int)
    window_end_ns = win_start + int(within_h * 3600) * _NS
    p_own = _own_arrival_probability(compliance, late_share, u, on_target, late_target, stay_s, h_s, h_c,
                                     c_target, win_start, window_end_ns)
    status = np.where(u < p_own, "on_time", np.where(u < p_own + (1 - p_own) * late_share, "late", "never"))
    target = np.where(status == "late", late_target, on_target)
    return _Plan(kinds=kinds, status=status, target=np.r_[target, c_target], stay_s=stay_s,
                 approach_s=approach_s, leave_s=leave_s, win_start=win_start, p_own=p_own)


def _visit_table(sched: pd.DataFrame, ctrl: pd.DataFrame, plan: _Plan,
                 index: dict[str, int]) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per planned visit (``visit_id, kind, date, hotspot_id, window_start,
    status``), and each visit's hotspot position."""
    visits = pd.DataFrame({
        "kind": plan.kinds,
        "date": np.r_[sched["date"].to_numpy(dtype=object), ctrl["date"].to_numpy(dtype=object)],
        "hotspot_id": np.r_[sched["hotspot_id"].to_numpy(dtype=object), ctrl["hotspot_id"].to_numpy(dtype=object)],
        "window_start": pd.concat([sched["window_start"], pd.Series(pd.NaT, index=range(len(ctrl)),
                                                                     dtype="datetime64[ns, UTC]")],
                                  ignore_index=True),
        "status": np.r_[plan.status, np.full(len(ctrl), "contamination")],
    })
    vh = visits["hotspot_id"].map(index).to_numpy(dtype=int)
    visits.insert(0, "visit_id", pd.Index(np.arange(1, len(visits) + 1)).map("V{:06d}".format).to_numpy())
    return visits, vh


def _staff_visits(visits: pd.DataFrame, teams: np.ndarray, goes: np.ndarray, plan: _Plan,
                  roster: dict[str, list[str]], seed: int) -> pd.DataFrame:
    """The visits with ``officer_id, device_id, team``: nobody is in two places at once."""
    rng_o = stream(seed, "simulate_pings", "officers")
    busy_from = plan.target - (plan.approach_s * _NS).astype("int64")
    busy_to = plan.target + ((plan.stay_s + plan.leave_s) * _NS).astype("int64")
    officer = _assign_officers(teams, goes, busy_from, busy_to, roster, rng_o)
    return visits.assign(officer_id=officer, device_id=np.array([f"DEV-{o}" for o in officer], dtype=object),
                         team=teams)


def _tracks(cores: list, geoms: np.ndarray, vh: np.ndarray, goes: np.ndarray, plan: _Plan,
            cadence_s: tuple[float, float], accuracy_m: tuple[float, float], seed: int) -> _Tracks:
    """The fixes of the visits that happen: travel in, wander within the hotspot, travel out.

    Fixes come every ``cadence_s`` seconds along the legs; reported positions carry
    Gaussian noise whose scale follows the reported accuracy.
    """
    rng_t = stream(seed, "simulate_pings", "tracks")
    entry = np.zeros((len(vh), 2))
    for h in np.unique(vh[goes]):
        sel = np.flatnonzero(goes & (vh == h))
        entry[sel] = random_points_in(cores[h], len(sel), rng_t)
    tree = shapely.STRtree(geoms)
    start_pt = _clear_leg(entry, vh, tree, rng_t)
    exit_pt = _clear_leg(entry, vh, tree, rng_t)
    owner, offset = _fix_offsets(np.flatnonzero(goes), plan, cadence_s, rng_t)
    xy = _positions(owner, offset, entry, start_pt, exit_pt, geoms[vh[owner]], plan, rng_t)
    t_ns = plan.target[owner] - (plan.approach_s[owner] * _NS).astype("int64") + (offset * _NS).astype("int64")
    t_ns = t_ns // _NS * _NS  # devices report whole seconds
    acc = np.round(rng_t.uniform(accuracy_m[0], accuracy_m[1], len(owner)), 1)
    noisy = xy + rng_t.normal(0.0, 1.0, (len(owner), 2)) * (acc / 1.5)[:, None]
    return _Tracks(owner=owner, t_ns=t_ns, xy=xy, noisy=noisy, acc=acc)


def _fix_offsets(live: np.ndarray, plan: _Plan, cadence_s: tuple[float, float],
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The visit of each fix and its seconds since the visit's approach began."""
    duration = plan.approach_s[live] + plan.stay_s[live] + plan.leave_s[live]
    n_max = np.ceil(duration / cadence_s[0]).astype(int) + 1
    owner = np.repeat(live, n_max)
    gaps = rng.uniform(cadence_s[0], cadence_s[1], len(owner))
    first = np.cumsum(n_max) - n_max
    gaps[first] = rng.uniform(0, cadence_s[0], len(live))
    csum = np.cumsum(gaps)
    offset = csum - np.repeat(csum[first] - gaps[first], n_max)
    keep = offset <= np.repeat(duration, n_max)
    return owner[keep], offset[keep]


def _positions(owner: np.ndarray, offset: np.ndarray, entry: np.ndarray, start_pt: np.ndarray,
               exit_pt: np.ndarray, fix_hotspot: np.ndarray, plan: _Plan,
               rng: np.random.Generator) -> np.ndarray:
    """Noise-free position of each fix: on the way in, wandering within about 40 m of the
    entry point (never outside the hotspot ``fix_hotspot``), or on the way out."""
    approach_s, stay_s, leave_s = plan.approach_s[owner], plan.stay_s[owner], plan.leave_s[owner]
    t_rel = offset - approach_s  # seconds after the target arrival
    phase_in = (t_rel >= 0) & (t_rel < stay_s)
    frac_in = np.clip(offset / approach_s, 0, 1)[:, None]
    frac_out = np.clip((t_rel - stay_s) / leave_s, 0, 1)[:, None]
    ent = entry[owner]
    wander_r = _WANDER_M * np.sqrt(rng.random(len(owner)))
    wander_a = rng.uniform(0, 2 * np.pi, len(owner))
    wander = ent + np.c_[wander_r * np.cos(wander_a), wander_r * np.sin(wander_a)]
    inside_w = shapely.contains_xy(fix_hotspot, wander[:, 0], wander[:, 1])
    wander = np.where(inside_w[:, None], wander, ent)
    return np.where((t_rel < 0)[:, None], start_pt[owner] + (ent - start_pt[owner]) * frac_in,
                    np.where(phase_in[:, None], wander, ent + (exit_pt[owner] - ent) * frac_out))


def _ping_frame(visits: pd.DataFrame, tracks: _Tracks) -> pd.DataFrame:
    """The pings contract, sorted by device and time; positions rounded to 0.1 m."""
    owner = tracks.owner
    return pd.DataFrame({
        "device_id": visits["device_id"].to_numpy()[owner],
        "timestamp": pd.to_datetime(tracks.t_ns, utc=True),
        "x": np.round(tracks.noisy[:, 0], 1),
        "y": np.round(tracks.noisy[:, 1], 1),
        "officer_id": visits["officer_id"].to_numpy()[owner],
        "team": visits["team"].to_numpy()[owner],
        "accuracy_m": tracks.acc,
    }).sort_values(["device_id", "timestamp"], kind="stable").reset_index(drop=True)


def _truth(visits: pd.DataFrame, frame: pd.DataFrame, roster: dict[str, list[str]], provenance: Provenance, *,
           seed: int, compliance: float, p_own: float, contamination: float, late_share: float,
           within_h: float, koper: float, cadence_s: tuple[float, float],
           accuracy_m: tuple[float, float]) -> dict[str, Any]:
    """The JSON-ready summary of :attr:`SimulatedPings.truth`: parameters, rates, counts."""
    sched_mask = visits["kind"] == "scheduled"
    n_sched = int(sched_mask.sum())
    delivered_share = float((visits.loc[sched_mask, "status"] == "on_time").mean()) if n_sched else 0.0
    return {
        "kind": "simulated_pings",
        "seed": seed,
        "compliance": compliance,
        "own_arrival_probability": round(float(p_own), 6),
        "contamination": contamination,
        "late_share": late_share,
        "arrival_within_hours": within_h,
        "koper_minutes": koper,
        "cadence_s": list(cadence_s),
        "accuracy_m": list(accuracy_m),
        "n_scheduled": n_sched,
        "delivered_share": round(delivered_share, 6),
        "status_counts": {str(k): int(v) for k, v in visits.loc[sched_mask, "status"].value_counts().items()},
        "n_contamination": int((~sched_mask).sum()),
        "n_pings": len(frame),
        "n_devices": int(frame["device_id"].nunique()),
        "teams": {t: r for t, r in roster.items()},
        "note": ("visits are the simulator's intended visits; a travel leg that crosses another hotspot "
                 "is real presence in the pings but is not listed as a visit"),
        "provenance": provenance.to_dict(),
    }


def _assign_officers(teams: np.ndarray, goes: np.ndarray, busy_from: np.ndarray, busy_to: np.ndarray,
                     roster: dict[str, list[str]], rng: np.random.Generator) -> np.ndarray:
    """Give each visit an officer of its hotspot's team who is free for the whole trip.

    Visits are taken in time order and each goes to a random free officer; when the
    whole team is busy an extra officer joins the team's roster (and ``roster`` is
    updated), so that no device is in two places at once.
    """
    officer = np.empty(len(teams), dtype=object)
    free_at = {t: dict.fromkeys(names, np.iinfo("int64").min) for t, names in roster.items()}
    draws = rng.random(len(teams))
    for i in np.argsort(busy_from, kind="stable"):
        team = teams[i]
        if not goes[i]:  # a patrol never made: the officer who should have gone
            names = roster[team]
            officer[i] = names[int(draws[i] * len(names))]
            continue
        free = [o for o, t in free_at[team].items() if t <= busy_from[i]]
        if not free:
            name = f"{roster[team][0].rsplit('-PC', 1)[0]}-PC{len(roster[team]) + 1:02d}"
            roster[team].append(name)
            free = [name]
        chosen = free[int(draws[i] * len(free))]
        free_at[team][chosen] = busy_to[i]
        officer[i] = chosen
    return officer


def _delivered_given(p_own: float, late_share: float, u: np.ndarray, on_target: np.ndarray,
                     late_target: np.ndarray, stay_s: np.ndarray, h_s: np.ndarray, h_c: np.ndarray,
                     c_target: np.ndarray, win_start: np.ndarray, win_end: np.ndarray) -> np.ndarray:
    """Which scheduled patrols some visit reaches within their window, for a given ``p_own``."""
    status_on = u < p_own
    goes = status_on | (u < p_own + (1 - p_own) * late_share)
    start = np.r_[np.where(status_on, on_target, late_target)[goes], c_target]
    end = start + (np.r_[stay_s[:len(u)][goes], stay_s[len(u):]] * _NS).astype("int64")
    hot = np.r_[h_s[goes], h_c]
    out = np.zeros(len(u), dtype=bool)
    for h in np.unique(h_s):
        q = np.flatnonzero(h_s == h)
        mine = np.flatnonzero(hot == h)
        if len(mine) == 0:
            continue
        order = mine[np.argsort(start[mine], kind="stable")]
        s_sorted, e_max = start[order], np.maximum.accumulate(end[order])
        i = np.searchsorted(s_sorted, win_end[q], side="right") - 1
        ok = i >= 0
        out[q[ok]] = e_max[i[ok]] >= win_start[q[ok]]
    return out


def _own_arrival_probability(compliance: float, late_share: float, u: np.ndarray, *args) -> float:
    """Bisection for the scheduled officer's arrival probability that delivers ``compliance``."""
    if len(u) == 0:
        return compliance
    lo, hi = 0.0, compliance
    if _delivered_given(lo, late_share, u, *args).mean() >= compliance:
        return lo
    for _ in range(25):
        mid = (lo + hi) / 2
        if _delivered_given(mid, late_share, u, *args).mean() < compliance:
            lo = mid
        else:
            hi = mid
    return hi


def _clear_leg(entry: np.ndarray, own: np.ndarray, tree: shapely.STRtree, rng: np.random.Generator,
               *, tries: int = 8) -> np.ndarray:
    """Far ends (0.8-2.5 km away) of straight travel legs that cross no other hotspot.

    Officers do not drive through a control hotspot on their way to a scheduled one in
    the simulation unless no direction of the ``tries`` drawn avoids every other hotspot
    (then the last direction is kept), so that the chosen compliance and contamination
    rates are what the pings show.
    """
    far = np.empty_like(entry)
    todo = np.arange(len(entry))
    for attempt in range(tries):
        dist = rng.uniform(800.0, 2500.0, len(todo))
        angle = rng.uniform(0, 2 * np.pi, len(todo))
        far[todo] = entry[todo] + dist[:, None] * np.c_[np.cos(angle), np.sin(angle)]
        if attempt == tries - 1 or len(todo) == 0:
            break
        legs = shapely.linestrings(np.stack([entry[todo], far[todo]], axis=1))
        leg_i, hot_i = tree.query(legs, predicate="intersects")
        crosses = np.zeros(len(todo), dtype=bool)
        crosses[leg_i[hot_i != own[todo][leg_i]]] = True
        todo = todo[crosses]
    return far
