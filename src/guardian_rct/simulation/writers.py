"""Synthetic trials with known truth: crimes and pings in the real file contracts.

:func:`simulate_crimes` (``simulate_crimes.py``) and :func:`simulate_pings`
(``simulate_pings.py``) make the data; this module writes them in the same contracts
real data use (DESIGN.md §3), so that every downstream reader takes them unchanged, and
keeps the truth beside them:

``crimes.csv``
    ``crime_id, offence_code, occurred_at`` (ISO 8601 with the trial zone's offset),
    ``x, y`` (trial CRS), ``victim_age``, ``detection``.
``pings.parquet`` (or ``.csv``)
    ``device_id, timestamp`` (ISO 8601, UTC ``Z``), ``x, y, officer_id, team, accuracy_m``.
``truth.json``
    Effect sizes, per-hotspot baselines, true per-outcome rate ratios, compliance
    parameters, seed and provenance.
``truth_visits.csv``, ``truth_compliance.csv``, ``truth_crimes.csv``, ``truth_expected.csv.gz``
    Every patrol's true arrival; the compliance contract per hotspot-day
    (``date, hotspot_id, delivered, dosage_minutes, contaminated``); each crime's true
    hotspot/ring and day; expected counts per hotspot (ring) and day.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pyproj import Transformer

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.errors import UsageError
from guardian_rct._core.safe_write import atomic_path, write_text
from guardian_rct.simulation.common import iso_utc, iso_with_offset
from guardian_rct.simulation.crimes import CRIME_OUTPUT_COLUMNS, SimulatedCrimes, simulate_crimes
from guardian_rct.simulation.pings import PING_OUTPUT_COLUMNS, SimulatedPings, simulate_pings

__all__ = [
    "SimulatedCrimes",
    "SimulatedPings",
    "simulate_crimes",
    "simulate_pings",
    "write_crimes",
    "write_pings",
    "write_simulation",
]


def _coords(frame: pd.DataFrame, columns: list[str], coords: str, crs) -> tuple[pd.DataFrame, list[str]]:
    if coords == "xy":
        return frame, columns
    if coords != "latlon":
        raise UsageError("unknown coordinate style", expected="xy or latlon", found=repr(coords),
                         where="coords", fix="write x/y (trial CRS) or lat/lon (WGS84)")
    transformer = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    lon, lat = transformer.transform(frame["x"].to_numpy(), frame["y"].to_numpy())
    frame = frame.assign(lat=np.round(lat, 7), lon=np.round(lon, 7))
    i = columns.index("x")
    return frame, [*columns[:i], "lat", "lon", *columns[i + 2:]]


def write_crimes(crimes: SimulatedCrimes, path: str | Path, *, tz: str = "Europe/London",
                 coords: Literal["xy", "latlon"] = "xy", crs: str = "EPSG:27700") -> Path:
    """Write the crimes in the crimes contract (CSV, or Parquet by the ``.parquet`` suffix).

    ``occurred_at`` is written as ISO 8601 local time with its UTC offset in ``tz``;
    ``coords="latlon"`` writes WGS84 ``lat``/``lon`` instead of ``x``/``y`` in ``crs``.
    """
    path = Path(path)
    frame = crimes.frame.copy()
    frame["occurred_at"] = iso_with_offset(frame["occurred_at"], tz)
    frame, columns = _coords(frame, list(CRIME_OUTPUT_COLUMNS), coords, crs)
    frame = frame[columns]
    _write_table(frame, path, "parquet" if path.suffix.lower() == ".parquet" else "csv")
    return path


def write_pings(pings: SimulatedPings, path: str | Path, *,
                fmt: Literal["auto", "csv", "parquet"] = "auto",
                coords: Literal["xy", "latlon"] = "xy", crs: str = "EPSG:27700") -> Path:
    """Write the pings in the pings contract; ``timestamp`` as ISO 8601 UTC with ``Z``.

    The format follows ``fmt`` or, with ``"auto"``, the file suffix (``.csv`` or
    ``.parquet``); ``coords="latlon"`` writes WGS84 ``lat``/``lon`` instead of ``x``/``y``.
    """
    path = Path(path)
    kind = fmt if fmt != "auto" else ("parquet" if path.suffix.lower() == ".parquet" else "csv")
    if kind not in ("csv", "parquet"):
        raise UsageError("unknown pings format", expected="csv or parquet", found=repr(fmt),
                         where="fmt", fix="write pings as .csv or .parquet")
    frame = pings.frame.copy()
    frame["timestamp"] = iso_utc(frame["timestamp"])
    frame, columns = _coords(frame, list(PING_OUTPUT_COLUMNS), coords, crs)
    frame = frame[columns]
    _write_table(frame, path, kind)
    return path


def _write_table(frame: pd.DataFrame, path: Path, kind: str) -> None:
    """Write ``frame`` as CSV (compressed by suffix) or Parquet, atomically
    (:func:`guardian_rct._core.safe_write.atomic_path`: never over a protected trial file,
    never a truncated file after a failure)."""
    with atomic_path(path, what="simulated data file") as tmp:
        if kind == "parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_csv(tmp, index=False, compression="infer")


def _dates_iso(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if isinstance(out[col].dtype, pd.DatetimeTZDtype):
            text = pd.Series(iso_with_offset(out[col].fillna(pd.Timestamp(0, tz="UTC")), tz), index=out.index)
            out[col] = text.where(out[col].notna(), "")
        elif col == "date":
            out[col] = [str(d) for d in out[col]]
    return out


def write_simulation(out_dir: str | Path, *, crimes: SimulatedCrimes | None = None,
                     pings: SimulatedPings | None = None, tz: str = "Europe/London",
                     pings_format: Literal["csv", "parquet"] = "parquet",
                     coords: Literal["xy", "latlon"] = "xy", crs: str = "EPSG:27700") -> dict[str, Path]:
    """Write a simulated trial into ``out_dir`` (created if needed).

    ``truth.json`` lists every scheduled patrol with its true status and arrival.

    Returns
    -------
    dict
        Name → path of every file written (see the module docstring).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    # "simulated": every report made from a file in this folder carries a SIMULATED DATA
    # banner (guardian_rct.reports.banner).
    truth: dict = {"schema": 1, "simulated": True}
    if crimes is not None:
        written["crimes"] = write_crimes(crimes, out / "crimes.csv", tz=tz, coords=coords, crs=crs)
        written["truth_crimes"] = out / "truth_crimes.csv"
        write_csv(written["truth_crimes"], _dates_iso(crimes.origin, tz), what="simulation truth")
        written["truth_expected"] = out / "truth_expected.csv.gz"
        _write_table(_dates_iso(crimes.expected, tz), written["truth_expected"], "csv")
        truth["crimes"] = crimes.truth
    if pings is not None:
        written["pings"] = write_pings(pings, out / f"pings.{pings_format}", fmt=pings_format, coords=coords,
                                       crs=crs)
        written["truth_visits"] = out / "truth_visits.csv"
        write_csv(written["truth_visits"], _dates_iso(pings.visits, tz), what="simulation truth")
        written["truth_compliance"] = out / "truth_compliance.csv"
        write_csv(written["truth_compliance"], _dates_iso(pings.compliance, tz), what="simulation truth")
        sched = pings.visits[pings.visits["kind"] == "scheduled"]
        patrols = _dates_iso(sched[["visit_id", "date", "hotspot_id", "window_start", "status", "arrived_at",
                                    "arrived_by"]], tz)
        patrols = patrols.astype(object)
        patrols = patrols.where(patrols.notna() & (patrols != ""), None)
        truth["pings"] = {**pings.truth, "patrols": patrols.to_dict(orient="records")}
    written["truth"] = out / "truth.json"
    write_text(written["truth"], json.dumps(truth, indent=2, default=str) + "\n", what="simulation truth")
    return written
