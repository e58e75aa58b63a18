"""Daily tasking outputs for officers, from the published schedule.

For each published day, four files list **only the treated hotspots** (the control list
never appears in officer-facing outputs) with their scheduled windows in local time:

``tasking_YYYY-MM-DD.csv``      for the tasking system,
``tasking_YYYY-MM-DD.xlsx``     for people who live in Excel,
``tasking_YYYY-MM-DD.geojson``  for in-car maps and GIS (WGS84 polygons),
``tasking_YYYY-MM-DD.html``     a printable tasking sheet with a static map (PNG inside
                                the page, so it works offline).

The outputs are made from the stored record, never from a new draw, and carry no seed
(the seed would let a reader compute later days' allocations); they are the same every
time they are written for a published day, byte for byte (the XLSX zip members carry
the record's publication time).
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pandas as pd

from guardian_rct._core.csv_output import write_csv
from guardian_rct._core.days import day_bounds
from guardian_rct._core.formula_safe import force_text_cells
from guardian_rct._core.provenance import make_provenance
from guardian_rct._core.safe_write import atomic_path, write_text
from guardian_rct._core.wording import count_of
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.records import PublishedSchedule
from guardian_rct.reports.banner import simulated_notice
from guardian_rct.reports.map_layers import map_context
from guardian_rct.reports.maps import hotspot_map_png, png_data_uri, street_insets_png
from guardian_rct.reports.render import write_html

__all__ = ["tasking_frame", "write_daily_outputs", "DailyOutputs", "TASKING_COLUMNS"]

TASKING_COLUMNS = ("date", "hotspot_id", "name", "visit", "start_local", "end_local",
                   "window_start", "window_end", "latitude", "longitude")


def tasking_frame(record: PublishedSchedule, hotspots: HotspotSet, tz: str) -> pd.DataFrame:
    """One row per scheduled visit of a treated hotspot, in time order.

    Columns: ``date``, ``hotspot_id``, ``name``, ``visit`` (1, 2, ...), ``start_local`` and
    ``end_local`` (``HH:MM`` local clock), ``window_start``/``window_end`` (ISO 8601 with
    the local offset), ``latitude``/``longitude`` (WGS84 of a point inside the hotspot).
    """
    frame = hotspots.frame.set_index("hotspot_id")
    points = frame.geometry.representative_point().to_crs("EPSG:4326")
    rows = []
    for h, visits in record.treated.items():
        for i, (start, end) in enumerate(visits, start=1):
            s, e = start.tz_convert(tz), end.tz_convert(tz)
            rows.append({
                "date": record.day.isoformat(), "hotspot_id": h, "name": str(frame.loc[h, "name"]),
                "visit": i, "start_local": s.strftime("%H:%M"), "end_local": e.strftime("%H:%M"),
                "window_start": s.isoformat(), "window_end": e.isoformat(),
                "latitude": round(float(points.loc[h].y), 6),
                "longitude": round(float(points.loc[h].x), 6),
            })
    out = pd.DataFrame(rows, columns=list(TASKING_COLUMNS))
    return out.sort_values(["window_start", "hotspot_id"], kind="stable").reset_index(drop=True)


@dataclass(frozen=True)
class DailyOutputs:
    """Files written for one day."""

    day: dt.date
    treated: int
    csv: Path
    xlsx: Path
    geojson: Path
    html: Path

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {"day": self.day.isoformat(), "treated": self.treated, "csv": str(self.csv),
                "xlsx": str(self.xlsx), "geojson": str(self.geojson), "html": str(self.html)}


def write_daily_outputs(config: TrialConfig, record: PublishedSchedule, hotspots: HotspotSet,
                        out_dir: str | Path) -> DailyOutputs:
    """Write the officer-facing CSV, XLSX, GeoJSON and HTML tasking sheet of one day."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tz = config.trial.timezone
    stem = out_dir / f"tasking_{record.day.isoformat()}"
    table = tasking_frame(record, hotspots, tz)
    inputs = [config.trial.store, config.hotspots.path, config.source, config.hotspots.boundary,
              hotspots.source]
    csv_path = stem.with_suffix(".csv")
    write_csv(csv_path, table, inputs=inputs, what="tasking CSV")
    xlsx_path = stem.with_suffix(".xlsx")
    with atomic_path(xlsx_path, inputs=inputs, what="tasking XLSX") as tmp:
        _write_xlsx(table, tmp, record)
    geo_path = stem.with_suffix(".geojson")
    write_text(geo_path, _geojson_text(table, hotspots), inputs=inputs, what="tasking GeoJSON")
    html_path = stem.with_suffix(".html")
    _write_sheet(config, record, hotspots, table, html_path, inputs)
    return DailyOutputs(record.day, len(record.treated), csv_path, xlsx_path, geo_path, html_path)


def _write_xlsx(table: pd.DataFrame, path: Path, record: PublishedSchedule) -> None:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        table.to_excel(writer, index=False, sheet_name="Tasking")
        stamp = dt.datetime.fromisoformat(record.published_at).replace(tzinfo=None)
        writer.book.properties.created = stamp
        writer.book.properties.modified = stamp
        sheet = writer.sheets["Tasking"]
        force_text_cells(sheet)  # a hotspot called "=HYPERLINK(...)" stays text
        for column, width in zip("ABCDEFGHIJ", (11, 11, 28, 6, 10, 10, 26, 26, 11, 11), strict=True):
            sheet.column_dimensions[column].width = width
    _pin_zip_times(path, stamp)


def _pin_zip_times(path: Path, stamp: dt.datetime) -> None:
    """Give every member of the XLSX zip, and its document properties, the record's time.

    openpyxl stamps ``dcterms:modified`` with the wall clock when it saves, whatever the
    workbook says, so the property is rewritten here too; rewrites are then byte-identical.
    """
    iso = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    with zipfile.ZipFile(path) as source:
        members = [(info, source.read(info)) for info in source.infolist()]
    members = [(info, re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>" + iso, data)
                if info.filename == "docProps/core.xml" else data) for info, data in members]
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as target:
        for info, data in members:
            pinned = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = info.external_attr
            target.writestr(pinned, data)


def _geojson_text(table: pd.DataFrame, hotspots: HotspotSet) -> str:
    frame = hotspots.frame
    treated = frame[frame["hotspot_id"].isin(set(table["hotspot_id"]))].copy()
    windows = (table.assign(window=table["start_local"] + "-" + table["end_local"])
               .groupby("hotspot_id")["window"].agg("; ".join))
    treated["date"] = table["date"].iloc[0] if len(table) else ""
    treated["windows"] = treated["hotspot_id"].map(windows).fillna("")
    treated = treated[["hotspot_id", "name", "date", "windows", "geometry"]].to_crs("EPSG:4326")
    return treated.to_json(drop_id=True, to_wgs84=True)


def sheet_rows(table: pd.DataFrame, tz: str) -> list[dict]:
    """Rows of the printed sheet: clock times, each marked BST/GMT when the day changes clocks.

    On the nights the clocks change the same clock time can mean two instants, so "From
    01:53 To 01:13" needs its zone to be read right; on other days the plain clock time is
    shown (the zone is stated once in the heading).
    """
    starts = pd.to_datetime(table["window_start"], utc=True).dt.tz_convert(tz)
    ends = pd.to_datetime(table["window_end"], utc=True).dt.tz_convert(tz)
    zones = set(starts.dt.strftime("%Z")) | set(ends.dt.strftime("%Z"))
    mark = len(zones) > 1
    rows = []
    for rec, s, e in zip(table.to_dict(orient="records"), starts, ends, strict=True):
        rows.append({**rec, "from": s.strftime("%H:%M %Z" if mark else "%H:%M"),
                     "to": e.strftime("%H:%M %Z" if mark else "%H:%M")})
    return rows


def _window_titles(table: pd.DataFrame, rows: list[dict], treated: gpd.GeoDataFrame) -> list[str]:
    windows: dict[str, list[str]] = {}
    for row in rows:
        windows.setdefault(row["hotspot_id"], []).append(f"{row['from']}–{row['to']}")
    return [f"{h} {str(n)[:17]}\n{', '.join(windows.get(h, []))}"
            for h, n in zip(treated["hotspot_id"], treated["name"], strict=True)]


def _write_sheet(config: TrialConfig, record: PublishedSchedule, hotspots: HotspotSet,
                 table: pd.DataFrame, path: Path, inputs: list) -> None:
    tz = config.trial.tz
    start, end = day_bounds(record.day, tz, config.trial.day_start_time)
    frame = hotspots.frame
    treated = frame[frame["hotspot_id"].isin(record.treated)].sort_values("hotspot_id")
    rows = sheet_rows(table, config.trial.timezone)
    map_uri = insets_uri = None
    context = map_context(config, hotspots)
    if len(treated):
        png = hotspot_map_png(treated, labels=list(treated["hotspot_id"]), context=context,
                              title=f"Patrols on {record.day:%a %d %b %Y}", size_inches=(7.2, 5.6), dpi=120)
        map_uri = png_data_uri(png)
        insets_uri = png_data_uri(street_insets_png(treated, _window_titles(table, rows, treated),
                                                    basemap=context.basemap))
    provenance = make_provenance(seed=None, hashes={"ledger record": record.hash},
                                 now=dt.datetime.fromisoformat(record.published_at))
    write_html(
        path, "tasking.html", inputs=inputs,
        trial=config.trial.name,
        day_label=f"{record.day:%A} {record.day.day} {record.day:%B %Y}",
        day_start=start.astimezone(tz).strftime("%a %d %b %H:%M %Z"),
        day_end=end.astimezone(tz).strftime("%a %d %b %H:%M %Z"),
        timezone=config.trial.timezone,
        rows=rows,
        n_treated=len(record.treated),
        patrol_minutes=config.design.patrol_minutes,
        map_uri=map_uri,
        insets_uri=insets_uri,
        outline_label=context.outline_label,
        record_seq=record.seq,
        record_hash=record.hash[:16],
        note=record.note,
        provenance=provenance.to_dict(),
        simulated=simulated_notice(config.trial.simulated or record.simulated, inputs),
        n_treated_text=count_of(len(record.treated), "hotspot") + " to patrol",
    )
