"""The hotspot × experimental-day panel that every estimator reads.

One row per hotspot and experimental day (``docs/contracts.md``, "Panel"): the assigned
arm and scheduled window, the assignment probability, for every outcome the count of
crimes and their harm, the pre-trial baseline totals of the hotspot, and, when known, the
compliance columns. :attr:`Panel.rings` holds the same for each buffer ring around each
hotspot (for displacement and diffusion of benefits; Weisburd et al. 2006, "Does crime
just move around the corner?", *Criminology* 44(3)).

Rules, each tested:

* **Days.** A crime belongs to the experimental day in which it occurred, in the trial's
  time zone, days starting at ``trial.day_starts`` (a crime at 05:59 belongs to the
  previous day with the default 06:00 start). Days that contain a clock change last 23
  or 25 hours (:mod:`guardian_rct._core.days`).
* **Places.** A crime counts in a hotspot when the hotspot polygon *intersects* its point,
  so a point on the boundary counts as inside (the conservative choice for patrol areas:
  a crime on the kerb of a hotspot street is a hotspot crime). For a given hotspot a crime
  is in at most one of {the hotspot, its rings}: the hotspot wins, then the innermost
  ring. Overlapping hotspots both count a crime in their overlap. Point-in-polygon is
  vectorised with a shapely ``STRtree``.
* **Harm.** Each crime's weight comes from the :class:`~guardian_rct.harm.index.HarmIndex`;
  crimes without a weight (anti-social behaviour, codes missing from the index) count in
  ``count_*`` but add nothing to ``harm_*``, and are reported by code in
  :attr:`Panel.summary` and with a :class:`~guardian_rct._core.errors.DataQualityWarning`.
* **Exclusions.** ``[harm] exclude_proactive`` / ``exclude_historic_days`` remove those
  crimes from counts and harm (:func:`guardian_rct.crimes.outcomes.exclusions`), reported by
  reason.
* **Baseline.** ``baseline_count_*``/``baseline_harm_*`` total the ``baseline_days``
  experimental days before the trial's first day (``evaluation.baseline_days``).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.days import experimental_days
from guardian_rct._core.errors import DataError, DataQualityWarning
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct._core.safe_write import atomic_path, write_text
from guardian_rct.config.trial_config import OutcomeSpec, TrialConfig
from guardian_rct.crimes.outcomes import exclusions, outcome_mask
from guardian_rct.crimes.records import CrimeSet
from guardian_rct.design.allocation import Allocation
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.harm.index import HarmIndex, load_harm_index

__all__ = ["Panel", "build_panel", "ring_label", "PANEL_KEYS", "COMPLIANCE_COLUMNS"]

PANEL_KEYS = ("hotspot_id", "block", "date", "day_index", "dow", "arm", "treated", "p_treated",
              "window_start")
COMPLIANCE_COLUMNS = ("delivered", "dosage_minutes", "contaminated")
#: Optional: presence measured inside the experimental day (compliance.scoring.ON_DAY_COLUMNS)
ON_DAY_COLUMNS = ("delivered_on_day", "present_on_day")


@dataclass(frozen=True)
class Panel:
    """Hotspot × experimental-day outcomes (schema in ``docs/contracts.md``).

    Attributes
    ----------
    frame
        One row per hotspot-day, sorted by ``date, hotspot_id``. ``window_start`` is the
        UTC start of the first scheduled window (NaT on control days); ``harm_*`` are in
        the index's unit (CCHI days).
    rings
        One row per hotspot-day-ring (``ring`` such as ``"0-100"``, ``inner_m``,
        ``outer_m``) with the same columns; ``None`` when no rings were given.
    outcomes
        The outcome names, in config order.
    harm
        The harm index's name, version and SHA-256 (:meth:`HarmIndex.to_dict`).
    counts
        What happened to the crimes: read, quarantined by reason, excluded by reason,
        placed, unweighted by code.
    provenance
        Package version and input hashes.
    """

    frame: pd.DataFrame
    rings: pd.DataFrame | None
    outcomes: tuple[str, ...]
    harm: dict[str, Any]
    counts: dict[str, Any] = field(default_factory=dict)
    provenance: Provenance | None = None

    def to_frame(self) -> pd.DataFrame:
        """The hotspot-day table."""
        return self.frame

    def summary(self) -> dict[str, Any]:
        """Rows, days, hotspots, outcome totals, crime counts and the harm index."""
        totals = {o: {"count": int(self.frame[f"count_{o}"].sum()),
                      "harm": float(self.frame[f"harm_{o}"].sum())} for o in self.outcomes}
        return {"rows": len(self.frame), "days": int(self.frame["date"].nunique()),
                "hotspots": int(self.frame["hotspot_id"].nunique()),
                "ring_rows": 0 if self.rings is None else len(self.rings),
                "outcomes": totals, "crimes": self.counts, "harm_index": self.harm}

    def to_dict(self) -> dict[str, Any]:
        """Summary plus provenance, JSON-ready."""
        out = self.summary()
        out["provenance"] = self.provenance.to_dict() if self.provenance else None
        return out

    def write(self, out_dir: str | Path, *, inputs: Iterable[str | Path | None] = (),
              hotspots: HotspotSet | None = None) -> dict[str, Path]:
        """Write ``panel.csv``/``.parquet``, ``rings.csv``/``.parquet`` and ``panel.json``;
        with ``hotspots``, also ``panel_geo.parquet``.

        Each file is written atomically and never over one of ``inputs`` or a protected
        trial file; CSVs follow :func:`guardian_rct._core.csv_output.write_csv` (ISO 8601
        dates and times, formula-safe cells, optional BOM). ``panel_geo.parquet`` is the
        panel as GeoParquet: every hotspot-day row with its hotspot's polygon (trial CRS),
        for QGIS, DuckDB spatial or geopandas (columns: ``docs/outputs.md``).
        """
        inputs = list(inputs)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        tables = {"panel": self.frame, "rings": self.rings}
        for name, table in tables.items():
            if table is None:
                continue
            write_csv(out / f"{name}.csv", table, inputs=inputs, what="panel CSV")
            with atomic_path(out / f"{name}.parquet", inputs=inputs, what="panel Parquet") as tmp:
                table.to_parquet(tmp, index=False)
            paths[f"{name}_csv"] = out / f"{name}.csv"
            paths[f"{name}_parquet"] = out / f"{name}.parquet"
        if hotspots is not None:
            geo = hotspots.frame[["hotspot_id", "geometry"]].merge(self.frame, on="hotspot_id", how="right")
            geo = gpd.GeoDataFrame(geo, geometry="geometry", crs=hotspots.frame.crs)
            with atomic_path(out / "panel_geo.parquet", inputs=inputs, what="panel GeoParquet") as tmp:
                geo.to_parquet(tmp, index=False)
            paths["panel_geoparquet"] = out / "panel_geo.parquet"
        write_text(out / "panel.json", json.dumps(self.to_dict(), indent=2, default=str), inputs=inputs,
                   what="panel JSON")
        paths["json"] = out / "panel.json"
        return paths


def ring_label(inner_m: float, outer_m: float) -> str:
    """``"0-100"`` for a ring from 0 to 100 m."""
    return f"{inner_m:g}-{outer_m:g}"


def _arms(allocation: Allocation, days: list[dt.date], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    frame = allocation.frame
    day_index = {d: i for i, d in enumerate(days)}
    hot_index = {h: j for j, h in enumerate(ids)}
    unknown = sorted(set(frame["hotspot_id"]) - set(hot_index))
    if unknown:
        raise DataError(f"allocation names hotspot(s) not in the hotspot file: {', '.join(unknown[:5])}",
                        where=str(allocation.source or "allocation"),
                        fix="use the allocation made for these hotspots")
    first = frame.groupby(["date", "hotspot_id"], sort=False).agg(
        arm=("arm", "first"), window_start=("window_start", "min")).reset_index()
    rows = first["date"].map(day_index).to_numpy()
    cols = first["hotspot_id"].map(hot_index).to_numpy()
    arm = np.full((len(days), len(ids)), None, dtype=object)
    arm[rows, cols] = first["arm"].to_numpy()
    window = np.full((len(days), len(ids)), np.datetime64("NaT"), dtype="datetime64[ns]")
    window[rows, cols] = first["window_start"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    missing = np.argwhere(pd.isna(arm))
    if len(missing):
        d, h = missing[0]
        raise DataError(f"the allocation has no arm for hotspot '{ids[h]}' on {days[d]}",
                        where=str(allocation.source or "allocation"),
                        expected="every hotspot on every allocated day (control rows too)",
                        found=f"{len(missing)} hotspot-days without a row",
                        fix="export the full allocation, controls included")
    return arm, window


def _probabilities(p: np.ndarray | pd.DataFrame | None, days: list[dt.date], ids: np.ndarray,
                   config: TrialConfig) -> np.ndarray:
    shape = (len(days), len(ids))
    if p is None:
        return np.full(shape, np.nan)
    if isinstance(p, pd.DataFrame):
        table = p.assign(date=pd.to_datetime(p["date"]).dt.date).set_index(["date", "hotspot_id"])["p_treated"]
        index = pd.MultiIndex.from_product([days, list(ids)])
        return table.reindex(index).to_numpy(dtype=float).reshape(shape)
    p = np.asarray(p, dtype=float)
    if p.shape == (config.trial.n_days, len(ids)) and p.shape != shape:
        # Design.probabilities() covers every trial day; keep the allocated ones
        rows = np.array([(d - config.trial.start_date).days for d in days])
        if rows.min() < 0 or rows.max() >= config.trial.n_days:
            raise DataError("allocated days fall outside the trial's calendar",
                            expected=f"{config.trial.start_date} to {config.trial.end_date}",
                            found=f"{days[0]} to {days[-1]}", fix="use the allocation of this trial")
        p = p[rows]
    if p.shape != shape:
        raise DataError("assignment probabilities have the wrong shape",
                        expected=f"(days, hotspots) = {shape}", found=str(p.shape),
                        fix="give Design.probabilities() for the allocated days")
    return p


def _place(points: np.ndarray, hotspots: HotspotSet,
           rings: gpd.GeoDataFrame | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Pairs (crime, hotspot) and (crime, ring row) under the boundary and nesting rules."""
    tree = shapely.STRtree(hotspots.frame.geometry.to_numpy())
    pts_h, hot = tree.query(points, predicate="intersects")
    if rings is None or len(rings) == 0:
        return np.stack([pts_h, hot]), np.empty((2, 0), dtype=int), None
    ring_tree = shapely.STRtree(rings.geometry.to_numpy())
    pts_r, ring_rows = ring_tree.query(points, predicate="intersects")
    hot_index = {h: j for j, h in enumerate(hotspots.ids)}
    ring_hot = rings["hotspot_id"].map(hot_index).to_numpy()
    pairs = pd.DataFrame({"pt": pts_r, "ring": ring_rows, "hot": ring_hot[ring_rows],
                          "inner": rings["inner_m"].to_numpy(dtype=float)[ring_rows]})
    inside = pd.MultiIndex.from_arrays([pts_h, hot])
    pairs = pairs[~pd.MultiIndex.from_arrays([pairs["pt"], pairs["hot"]]).isin(inside)]
    pairs = pairs.sort_values(["pt", "hot", "inner"]).drop_duplicates(["pt", "hot"])
    return np.stack([pts_h, hot]), np.stack([pairs["pt"].to_numpy(), pairs["ring"].to_numpy()]), ring_hot


def _accumulate(n_cells: int, cell: np.ndarray, pt: np.ndarray, masks: dict[str, np.ndarray],
                harm: np.ndarray) -> dict[str, np.ndarray]:
    out = {}
    for name, mask in masks.items():
        keep = mask[pt] & (cell >= 0)
        out[f"count_{name}"] = np.bincount(cell[keep], minlength=n_cells).astype(np.int64)
        out[f"harm_{name}"] = np.bincount(cell[keep], weights=harm[pt[keep]], minlength=n_cells)
    return out


def build_panel(
    config: TrialConfig,
    hotspots: HotspotSet,
    allocation: Allocation,
    crimes: CrimeSet,
    *,
    outcomes: tuple[OutcomeSpec, ...] | None = None,
    harm_index: HarmIndex | None = None,
    rings: gpd.GeoDataFrame | None = None,
    probabilities: np.ndarray | pd.DataFrame | None = None,
    compliance: pd.DataFrame | None = None,
    baseline_days: int | None = None,
) -> Panel:
    """Build the hotspot × experimental-day panel (see the module docstring for the rules).

    Parameters
    ----------
    config
        Trial calendar (time zone, day start, start date), outcomes, harm rules.
    hotspots
        The trial's hotspots (their order fixes the panel's hotspot order).
    allocation
        Arms and windows; the panel covers its days, and every hotspot must have a row
        on every allocated day.
    crimes
        Validated crime records in the hotspots' CRS.
    outcomes
        Outcome definitions (default: ``config.outcomes``).
    harm_index
        Weights (default: ``load_harm_index(config.harm.index)``).
    rings
        Buffer rings ``hotspot_id, ring, inner_m, outer_m, geometry`` (the schema of
        ``hotspots.buffer_rings``) in the hotspots' CRS; ``None`` for no ring panel.
    probabilities
        P(treated) as a (day × hotspot) array over the allocated days or over every
        trial day (``Design.probabilities()``), or a frame with ``date, hotspot_id,
        p_treated``; ``NaN`` when not given.
    compliance
        ``date, hotspot_id, delivered, dosage_minutes, contaminated`` (docs/contracts.md).
    baseline_days
        Length of the pre-trial baseline (default ``config.evaluation.baseline_days``).
    """
    outcomes = tuple(outcomes if outcomes is not None else config.outcomes)
    if not outcomes:
        raise DataError("no outcomes to count", where="outcomes", fix="define [outcomes.NAME] tables")
    harm_index = harm_index or load_harm_index(config.harm.index, base_dir=config.base_dir)
    baseline_days = config.evaluation.baseline_days if baseline_days is None else baseline_days
    _check_crs(hotspots, crimes, rings)
    days = allocation.days
    ids = hotspots.ids
    n_days, n_hot = len(days), len(ids)
    arm, window = _arms(allocation, days, ids)
    p_treated = _probabilities(probabilities, days, ids, config)
    counted = _counted_crimes(crimes, config, harm_index, outcomes, days, baseline_days)

    frame = counted.frame
    points = shapely.points(frame["x"].to_numpy(dtype=float), frame["y"].to_numpy(dtype=float))
    hot_pairs, ring_pairs, ring_hot = _place(points, hotspots, rings)
    pt, h = hot_pairs
    cell = np.where(counted.d_idx[pt] >= 0, counted.d_idx[pt] * n_hot + h, -1)
    counts = _accumulate(n_days * n_hot, cell, pt, counted.masks, np.nan_to_num(counted.harm))
    base_cell = np.where(counted.base[pt], h, -1)
    baseline = _accumulate(n_hot, base_cell, pt, counted.masks, np.nan_to_num(counted.harm))

    out = _hotspot_days(hotspots, days, arm, window, p_treated)
    _add_outcome_columns(out, counts, baseline, outcomes, n_days)
    if compliance is not None:
        out = _merge_compliance(out, compliance)
    ring_frame = None
    if rings is not None:
        ring_frame = _ring_panel(out, rings, ring_pairs, ring_hot, counted.d_idx, counted.base, counted.masks,
                                 counted.harm, outcomes, n_days, n_hot)
    crime_counts = _crime_counts(crimes, counted, harm_index, pt, cell, base_cell, ring_pairs)
    provenance = make_provenance(seed=config.trial.seed, hashes={
        "hotspots": hotspots.sha256, "harm_index": harm_index.sha256, **crimes.sources})
    return Panel(frame=out, rings=ring_frame, outcomes=tuple(o.name for o in outcomes),
                 harm=harm_index.to_dict(), counts=crime_counts, provenance=provenance)


@dataclass(frozen=True)
class _CountedCrimes:
    """The crimes the panel counts (after the ``[harm]`` exclusions), in row order.

    Attributes
    ----------
    frame
        The kept crimes.
    excluded
        The exclusion reason of every crime read (``<NA>`` when kept).
    harm
        Harm weight of each kept crime (NaN when the index has none).
    masks
        Outcome name → which kept crimes the outcome counts.
    d_idx
        Position of each kept crime's experimental day among the allocated days (-1 when
        not allocated).
    base
        Whether each kept crime falls in the pre-trial baseline.
    """

    frame: pd.DataFrame
    excluded: pd.Series
    harm: np.ndarray
    masks: dict[str, np.ndarray]
    d_idx: np.ndarray
    base: np.ndarray


def _check_crs(hotspots: HotspotSet, crimes: CrimeSet, rings: gpd.GeoDataFrame | None) -> None:
    """Raise when the crimes or rings are in another CRS than the hotspots."""
    if crimes.crs and hotspots.crs and not hotspots.crs.equals(crimes.crs):
        raise DataError("crimes and hotspots are in different CRSs", expected=str(hotspots.crs),
                        found=str(crimes.crs), fix="read the crimes with crs= the trial CRS")
    if rings is not None and rings.crs is not None and not rings.crs.equals(hotspots.crs):
        raise DataError("buffer rings and hotspots are in different CRSs", expected=str(hotspots.crs),
                        found=str(rings.crs), fix="build the rings from the trial's hotspots")


def _counted_crimes(crimes: CrimeSet, config: TrialConfig, harm_index: HarmIndex,
                    outcomes: tuple[OutcomeSpec, ...], days: list[dt.date], baseline_days: int) -> _CountedCrimes:
    """Drop the excluded crimes; weigh the rest, match them to outcomes and place them in
    time (allocated day, baseline)."""
    frame = crimes.frame.reset_index(drop=True)
    excluded = exclusions(frame, config.harm)
    kept = excluded.isna().to_numpy()
    frame = frame.loc[kept].reset_index(drop=True)
    harm = harm_index.weigh(frame["offence_code"], frame["crime_type"]).to_numpy(dtype=float)
    masks = {o.name: outcome_mask(frame, o) for o in outcomes}
    crime_day = experimental_days(frame["occurred_at"], config.trial.tz, config.trial.day_start_time) \
        if len(frame) else np.array([], dtype="datetime64[D]")
    first = np.datetime64(config.trial.start_date, "D")
    day_arr = np.array(days, dtype="datetime64[D]")
    pos = np.clip(np.searchsorted(day_arr, crime_day), 0, len(days) - 1)
    d_idx = np.where(day_arr[pos] == crime_day, pos, -1).astype(np.int64)
    base = (crime_day >= first - np.timedelta64(baseline_days, "D")) & (crime_day < first)
    _check_period_overlap(crimes, crime_day, d_idx, base, days, baseline_days, first)
    return _CountedCrimes(frame=frame, excluded=excluded, harm=harm, masks=masks, d_idx=d_idx, base=base)


def _check_period_overlap(crimes: CrimeSet, crime_day: np.ndarray, d_idx: np.ndarray, base: np.ndarray,
                          days: list[dt.date], baseline_days: int, first: np.datetime64) -> None:
    """Refuse a crimes file none of whose crimes falls in the panel's days or baseline: it is
    another period's export (or the wrong file), not a trial without crime (issue 11)."""
    start = first - np.timedelta64(baseline_days, "D")
    span = (crime_day >= start) & (crime_day <= np.datetime64(days[-1], "D"))
    if len(crime_day) == 0 or np.any(d_idx >= 0) or np.any(base) or np.any(span):
        return
    raise DataError("no crime in the file falls in the evaluated period or its baseline",
                    where=", ".join(str(s) for s in crimes.sources) or "crimes",
                    expected=f"crimes dated {start} to {days[-1]}",
                    found=f"{len(crime_day):,} crimes dated {crime_day.min()} to {crime_day.max()}",
                    fix="give the export for the trial period (was it another period's file?)")


def _hotspot_days(hotspots: HotspotSet, days: list[dt.date], arm: np.ndarray, window: np.ndarray,
                  p_treated: np.ndarray) -> pd.DataFrame:
    """The panel's key columns (:data:`PANEL_KEYS`), one row per day and hotspot."""
    ids = hotspots.ids
    n_days, n_hot = len(days), len(ids)
    dates = pd.to_datetime(np.repeat(np.array(days, dtype="datetime64[D]"), n_hot)).astype("datetime64[ns]")
    return pd.DataFrame({
        "hotspot_id": np.tile(ids, n_days).astype(object),
        "block": np.tile(hotspots.blocks, n_days).astype(object),
        "date": dates,
        "day_index": np.repeat(np.arange(n_days), n_hot),
        "dow": dates.day_of_week.to_numpy(),
        "arm": arm.ravel(),
        "treated": (arm.ravel() == "treatment").astype(np.int64),
        "p_treated": p_treated.ravel(),
        "window_start": pd.to_datetime(window.ravel()).tz_localize("UTC"),
    })


def _add_outcome_columns(table: pd.DataFrame, counts: dict[str, np.ndarray], baseline: dict[str, np.ndarray],
                         outcomes: tuple[OutcomeSpec, ...], n_days: int) -> None:
    """Add ``count_*``, ``harm_*`` and the per-place ``baseline_*`` totals of each outcome
    to ``table`` (rows: day-major, one per place)."""
    for o in outcomes:
        table[f"count_{o.name}"] = counts[f"count_{o.name}"]
        table[f"harm_{o.name}"] = counts[f"harm_{o.name}"]
        table[f"baseline_count_{o.name}"] = np.tile(baseline[f"count_{o.name}"], n_days)
        table[f"baseline_harm_{o.name}"] = np.tile(baseline[f"harm_{o.name}"], n_days)


def _crime_counts(crimes: CrimeSet, counted: _CountedCrimes, harm_index: HarmIndex, pt: np.ndarray,
                  cell: np.ndarray, base_cell: np.ndarray, ring_pairs: np.ndarray) -> dict[str, Any]:
    """What happened to the crimes (:attr:`Panel.counts`); warns about hotspot crimes
    without a harm weight.

    ``pt`` is the kept crime of each (crime, hotspot) pair, ``cell`` and ``base_cell``
    the pair's panel cell and baseline cell (-1 when not counted there).
    """
    n = len(counted.frame)
    placed = np.zeros(n, dtype=bool)
    placed[pt] = True
    if ring_pairs.size:
        placed[ring_pairs[0]] = True
    in_panel = np.zeros(n, dtype=bool)
    in_panel[pt[cell >= 0]] = True
    unweighted = counted.frame.loc[np.isnan(counted.harm) & in_panel]
    keys = unweighted["offence_code"].astype("string").fillna(unweighted["crime_type"].astype("string"))
    unweighted_counts = {str(k): int(v) for k, v in keys.fillna("unknown").value_counts().items()}
    if unweighted_counts:
        warnings.warn(f"{sum(unweighted_counts.values())} hotspot crime(s) have no harm weight in "
                      f"{harm_index.version} and add nothing to harm: "
                      + ", ".join(f"{k} ({v})" for k, v in list(unweighted_counts.items())[:8]),
                      DataQualityWarning, stacklevel=3)  # the caller of build_panel
    return {
        **crimes.summary(),
        "excluded": {str(k): int(v) for k, v in counted.excluded.dropna().value_counts().items()},
        "detection_unknown": int(crimes.frame["detection"].isna().sum()),
        "reported_at_unknown": int(crimes.frame["reported_at"].isna().sum()),
        "in_hotspots_trial": int(in_panel.sum()),
        "in_hotspots_baseline": int(np.unique(pt[base_cell >= 0]).size),
        "outside_hotspots_and_rings": int((~placed).sum()),
        "unweighted": unweighted_counts,
    }


def _merge_compliance(out: pd.DataFrame, compliance: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("date", "hotspot_id", *COMPLIANCE_COLUMNS) if c not in compliance.columns]
    if missing:
        raise DataError(f"compliance table is missing column(s) {', '.join(missing)}",
                        expected="date, hotspot_id, delivered, dosage_minutes, contaminated",
                        found=", ".join(map(str, compliance.columns)), fix="use the compliance export")
    on_day = [c for c in ON_DAY_COLUMNS if c in compliance.columns]  # the evaluation's presence, if scored
    comp = compliance[["date", "hotspot_id", *COMPLIANCE_COLUMNS, *on_day]].copy()
    comp["date"] = pd.to_datetime(comp["date"]).astype("datetime64[ns]")
    comp["hotspot_id"] = comp["hotspot_id"].astype(str)
    if comp.duplicated(["date", "hotspot_id"]).any():
        raise DataError("compliance lists a hotspot-day twice", fix="give one row per hotspot-day")
    return out.merge(comp, on=["date", "hotspot_id"], how="left", validate="one_to_one")


def _ring_panel(out: pd.DataFrame, rings: gpd.GeoDataFrame, ring_pairs: np.ndarray, ring_hot: np.ndarray,
                d_idx: np.ndarray, base: np.ndarray, masks: dict[str, np.ndarray], harm: np.ndarray,
                outcomes: tuple[OutcomeSpec, ...], n_days: int, n_hot: int) -> pd.DataFrame:
    if pd.isna(ring_hot).any():
        raise DataError("a buffer ring names a hotspot not in the hotspot file",
                        fix="build the rings from the trial's hotspots")
    n_rings = len(rings)
    pt, r = ring_pairs if ring_pairs.size else (np.empty(0, dtype=int), np.empty(0, dtype=int))
    cell = np.where(d_idx[pt] >= 0, d_idx[pt] * n_rings + r, -1)
    counts = _accumulate(n_days * n_rings, cell, pt, masks, np.nan_to_num(harm))
    baseline = _accumulate(n_rings, np.where(base[pt], r, -1), pt, masks, np.nan_to_num(harm))
    day_rows = np.repeat(np.arange(n_days), n_rings) * n_hot + np.tile(ring_hot.astype(int), n_days)
    keys = out.loc[day_rows, list(PANEL_KEYS)].reset_index(drop=True)
    labels = (rings["ring"].astype(str).to_numpy() if "ring" in rings.columns else
              [ring_label(a, b) for a, b in zip(rings["inner_m"], rings["outer_m"], strict=True)])
    keys["ring"] = np.tile(labels, n_days)
    keys["inner_m"] = np.tile(rings["inner_m"].to_numpy(dtype=float), n_days)
    keys["outer_m"] = np.tile(rings["outer_m"].to_numpy(dtype=float), n_days)
    _add_outcome_columns(keys, counts, baseline, outcomes, n_days)
    return keys.sort_values(["date", "hotspot_id", "inner_m"], kind="stable").reset_index(drop=True)
