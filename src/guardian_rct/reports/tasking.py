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
from shapely import box

from guardian_rct._core.days import day_bounds
from guardian_rct._core.errors import DataError
from guardian_rct._core.formula_safe import force_text_cells, formula_safe_frame
from guardian_rct._core.provenance import make_provenance
from guardian_rct._core.safe_write import atomic_path, write_text
from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.ledger.records import PublishedSchedule
from guardian_rct.reports.maps import hotspot_map_png, png_data_uri
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
    write_text(csv_path, formula_safe_frame(table).to_csv(index=False), inputs=inputs, what="tasking CSV")
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


def _write_sheet(config: TrialConfig, record: PublishedSchedule, hotspots: HotspotSet,
                 table: pd.DataFrame, path: Path, inputs: list) -> None:
    tz = config.trial.tz
    start, end = day_bounds(record.day, tz, config.trial.day_start_time)
    frame = hotspots.frame
    treated = frame[frame["hotspot_id"].isin(record.treated)]
    map_uri = None
    if len(treated):
        png = hotspot_map_png(treated, labels=list(treated["hotspot_id"]), context=_context(config, treated),
                              title=f"Patrols on {record.day:%a %d %b %Y}", size_inches=(7.5, 5.5))
        map_uri = png_data_uri(png)
    provenance = make_provenance(seed=None, hashes={"ledger record": record.hash},
                                 now=dt.datetime.fromisoformat(record.published_at))
    write_html(
        path, "tasking.html", inputs=inputs,
        trial=config.trial.name,
        day_label=f"{record.day:%A} {record.day.day} {record.day:%B %Y}",
        day_start=start.astimezone(tz).strftime("%a %d %b %H:%M"),
        day_end=end.astimezone(tz).strftime("%a %d %b %H:%M"),
        timezone=config.trial.timezone,
        rows=table.to_dict(orient="records"),
        n_treated=len(record.treated),
        patrol_minutes=config.design.patrol_minutes,
        map_uri=map_uri,
        record_seq=record.seq,
        record_hash=record.hash[:16],
        note=record.note,
        provenance=provenance.to_dict(),
    )


def _context(config: TrialConfig, treated: gpd.GeoDataFrame) -> gpd.GeoDataFrame | None:
    """``[hotspots] boundary`` lines near the day's hotspots (1 km around them), if named."""
    path = config.hotspots.boundary
    if path is None:
        return None
    if not path.exists():
        raise DataError("boundary file not found", where=path,
                        fix="fix [hotspots] boundary or remove it")
    minx, miny, maxx, maxy = treated.total_bounds
    frame = gpd.read_file(path).to_crs(treated.crs)
    return frame.clip(box(minx - 1000, miny - 1000, maxx + 1000, maxy + 1000))
