"""Read force crime records (the crimes contract) into a validated :class:`CrimeSet`.

The contract (DESIGN.md §3): CSV or Parquet with ``crime_id``, ``offence_code`` (Home
Office classification ``NNN/SS`` such as ``008/01``, or a data.police.uk crime type such
as ``Robbery``), ``occurred_at`` (ISO 8601 with offset) *or* ``occurred_from`` /
``occurred_to``, and ``lat``/``lon`` (WGS84) or ``x``/``y`` (metres, trial CRS);
optional ``victim_age``, ``detection`` (``reactive``/``proactive``) and ``reported_at``
(used to recognise historic reports).

**Time windows.** Many crimes are known only to have happened between two times (a
burglary discovered in the morning). A window is placed at its *midpoint*. This is the
single-point version of the aoristic method (Ratcliffe & McCullagh 1998, "Aoristic crime
analysis", *IJGIS* 12(7)): with windows no longer than a day the midpoint keeps the crime
on one of at most two experimental days. A window longer than 24 hours cannot be placed
on an experimental day and the row is quarantined (``time window longer than a day``);
``occurred_window_h`` keeps each window's length so it can be reported.

Unusable rows are quarantined with a reason, never dropped: no location, unparseable
offence code, unparseable time, a time outside 1990..now, a window that ends before it
starts, a victim age that is not a number from 0 to 120, a duplicate ``crime_id``. A file
that is not a crime file (missing columns, wrong format, empty) raises
:class:`~guardian_rct._core.errors.DataError`. ``read = used + quarantined`` always holds.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from pyproj import Transformer

from guardian_rct._core.errors import DataError, where
from guardian_rct._core.input_checks import lower_unique_columns, out_of_range_times
from guardian_rct._core.parquet_input import read_parquet_checked
from guardian_rct._core.provenance import sha256_file
from guardian_rct._core.quarantine import Quarantine, concat_quarantines, quarantine_rows
from guardian_rct.geo.plausibility import check_points_plausible
from guardian_rct.harm.tables import codes_to_categories, normalise_offence_codes

__all__ = ["CrimeSet", "read_crimes", "crimes_from_frame", "POLICEUK_CRIME_TYPES", "CRIME_COLUMNS"]

CRIME_COLUMNS = ("crime_id", "offence_code", "crime_type", "occurred_at", "x", "y", "victim_age",
                 "detection", "reported_at", "occurred_window_h")

#: data.police.uk crime types, current (since 2013) and the 2011 format.
POLICEUK_CRIME_TYPES = (
    "Anti-social behaviour", "Bicycle theft", "Burglary", "Criminal damage and arson", "Drugs",
    "Other crime", "Other theft", "Possession of weapons", "Public order", "Robbery",
    "Shoplifting", "Theft from the person", "Vehicle crime", "Violence and sexual offences",
    "Violent crime", "Public disorder and weapons",
)
_TYPE_LOOKUP = {t.lower(): t for t in POLICEUK_CRIME_TYPES}
_EARLIEST = pd.Timestamp("1990-01-01", tz="UTC")
_TIME_COLUMNS = ("occurred_at", "occurred_from", "occurred_to", "reported_at")
_MAX_WINDOW_H = 24.0


@dataclass(frozen=True)
class CrimeSet:
    """Validated crimes in the trial CRS.

    Attributes
    ----------
    frame
        ``crime_id`` (str), ``offence_code`` (``NNN/SS`` or ``<NA>``), ``crime_type``
        (data.police.uk category, derived from the code where there is one), ``occurred_at``
        (UTC), ``x``, ``y`` (metres, trial CRS), ``victim_age`` (float, NaN unknown),
        ``detection`` (``reactive``/``proactive``/``<NA>``), ``reported_at`` (UTC or NaT),
        ``occurred_window_h`` (length of the from/to window in hours; 0 for exact times).
    quarantine
        Unusable rows with reasons.
    sources
        File → SHA-256 of the files read.
    """

    frame: pd.DataFrame
    quarantine: Quarantine
    crs: str
    sources: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def n_read(self) -> int:
        """Rows read: used plus quarantined."""
        return len(self.frame) + len(self.quarantine)

    def summary(self) -> dict[str, object]:
        """Counts that add up: read = used + quarantined, with reasons."""
        return {"read": self.n_read, "used": len(self.frame), "quarantined": len(self.quarantine),
                "quarantine_reasons": self.quarantine.counts()}


def _read_table(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError("crime file not found", where=where(path), fix="check the path given to --crimes")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = read_parquet_checked(path, what="crime", time_columns=_TIME_COLUMNS)
        elif suffix in (".csv", ".txt", ".gz"):
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        else:
            raise DataError("not a crime file", where=where(path), expected="CSV or Parquet",
                            found=suffix or "no extension", fix="export the crime records as CSV or Parquet")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as exc:
        if isinstance(exc, DataError):
            raise
        raise DataError(f"cannot read the crime file ({type(exc).__name__})", where=where(path),
                        expected="CSV with a header row, or Parquet",
                        fix="export the crime records as CSV (UTF-8) or Parquet") from None
    return lower_unique_columns(frame, path, what="crime file")


def read_crimes(paths: str | Path | list[str | Path], *, crs: str = "EPSG:27700",
                assume_tz: str | None = None, now: dt.datetime | None = None,
                area_bounds: tuple[float, float, float, float] | None = None) -> CrimeSet:
    """Read force crime records (CSV or Parquet, see the module docstring).

    Parameters
    ----------
    paths
        One file or several (their rows are joined; quarantine rows name their file).
    crs
        The trial's metric CRS; ``x``/``y`` are taken to be in it, ``lat``/``lon`` are
        reprojected to it.
    assume_tz
        Zone for times written without an offset (e.g. ``"Europe/London"``). Without it,
        such a time is quarantined (``time without UTC offset``).
    now
        Latest plausible time (default: the current time); later times are quarantined.
    area_bounds
        The trial area (:func:`guardian_rct.geo.plausibility.trial_area_bounds` of the
        hotspots). When given, a file whose crimes mostly fall outside it is refused with
        the likely cause (degrees as metres, swapped axes, another force's file).

    Raises
    ------
    DataError
        Not a crime file, or (with ``area_bounds``) a file of implausible coordinates.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise DataError("no crime files given", fix="name at least one file with --crimes")
    frames, quarantines, sources = [], [], {}
    for path in map(Path, paths):
        raw = _read_table(path)
        frame, quarantine = _validate(raw, source=path, crs=crs, assume_tz=assume_tz, now=now)
        if area_bounds is not None:
            check_points_plausible(frame["x"].to_numpy(), frame["y"].to_numpy(), area_bounds=area_bounds,
                                   source=path, what="crimes", crs=crs)
        frames.append(frame)
        quarantines.append(quarantine)
        sources[str(path)] = sha256_file(path)
    frame = pd.concat(frames, ignore_index=True)
    frame, quarantine = _dedupe(frame, concat_quarantines(quarantines))
    return CrimeSet(frame=frame.drop(columns=["_source", "_row"]), quarantine=quarantine, crs=crs,
                    sources=sources)


def _dedupe(frame: pd.DataFrame, quarantine: Quarantine) -> tuple[pd.DataFrame, Quarantine]:
    dup = frame["crime_id"].duplicated(keep="first").to_numpy()
    if not dup.any():
        return frame, quarantine
    rows = frame.loc[dup].drop(columns=["_source", "_row"])
    extra = quarantine_rows(rows, "duplicate crime_id", source=None, source_row=frame.loc[dup, "_row"])
    extra.frame["source"] = frame.loc[dup, "_source"].to_numpy()
    kept = frame.loc[~dup].reset_index(drop=True)
    if not quarantine.frame.empty:
        extra = Quarantine(extra.frame.reindex(columns=quarantine.frame.columns.union(extra.frame.columns,
                                                                                     sort=False)))
    return kept, concat_quarantines([quarantine, extra])


def _parse_times(values: pd.Series, assume_tz: str | None) -> tuple[pd.Series, pd.Series]:
    """UTC times and a reason per row (``<NA>`` where the time is fine or absent)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):  # timestamps with a zone (in memory)
        values = values.dt.tz_convert("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
    text = values.astype("string").str.strip().replace("", pd.NA)
    reason = pd.Series(pd.NA, index=values.index, dtype="string")
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns, UTC]")
    out_of_range = pd.Series(out_of_range_times(text), index=text.index)
    reason[out_of_range] = "time out of range"
    present = text.notna() & ~out_of_range
    if not present.any():
        return out, reason
    has_offset = text.str.contains(r"(?:Z|[+-]\d\d:?\d\d)$", regex=True).fillna(False)
    with_off = present & has_offset
    parsed = pd.to_datetime(text[with_off], utc=True, errors="coerce", format="ISO8601")
    out[with_off] = parsed
    naive = present & ~has_offset
    if naive.any():
        if assume_tz is None:
            reason[naive] = "time without UTC offset"
        else:
            local = pd.to_datetime(text[naive], errors="coerce", format="ISO8601")
            try:
                local = local.dt.tz_localize(ZoneInfo(assume_tz), ambiguous="NaT", nonexistent="NaT")
            except TypeError:  # already aware: cannot happen for offset-free text
                pass
            out[naive] = local.dt.tz_convert("UTC")
    unparsed = text.notna() & out.isna() & reason.isna()
    reason[unparsed] = "unparseable time"
    return out, reason


def crimes_from_frame(raw: pd.DataFrame, *, source: str | Path | None = None, crs: str = "EPSG:27700",
                      assume_tz: str | None = None, now: dt.datetime | None = None) -> CrimeSet:
    """Validate an in-memory crime table (see :func:`read_crimes`)."""
    frame, quarantine = _validate(raw, source=source, crs=crs, assume_tz=assume_tz, now=now)
    frame, quarantine = _dedupe(frame, quarantine)
    return CrimeSet(frame=frame.drop(columns=["_source", "_row"]), quarantine=quarantine, crs=crs)


def _validate(raw: pd.DataFrame, *, source: str | Path | None, crs: str, assume_tz: str | None,
              now: dt.datetime | None) -> tuple[pd.DataFrame, Quarantine]:
    """Check every row of a crime table: the usable crimes, and the others quarantined.

    A row gets the first reason that applies, checked in the order location, offence,
    time, optional columns, ``crime_id``. The frame keeps ``_source`` and ``_row`` (the
    1-based data row) for the duplicate check.
    """
    path = Path(source) if source is not None else None
    raw = lower_unique_columns(raw, path, what="crime file")
    has_at, has_window = _check_columns(raw, path)
    n = len(raw)
    reason = pd.Series(pd.NA, index=raw.index, dtype="string")
    x, y = _coordinates(raw, crs, reason)
    codes, crime_type = _offences(raw, reason)
    at, window_h = _occurred(raw, reason, has_at=has_at, has_window=has_window, assume_tz=assume_tz,
                             now=now, path=path)
    age, detection, reported = _optional_columns(raw, reason, assume_tz)
    ids = raw["crime_id"].astype("string").str.strip().replace("", pd.NA)
    _flag(reason, ids.isna(), "missing crime_id")

    bad = reason.notna().to_numpy()
    source_row = pd.Series(np.arange(1, n + 1), index=raw.index)
    quarantine = quarantine_rows(raw.loc[bad], reason[bad], source=path, source_row=source_row[bad])
    good = ~bad
    frame = pd.DataFrame({
        "crime_id": ids[good].astype(str).to_numpy(),
        "offence_code": codes[good].to_numpy(),
        "crime_type": crime_type[good].astype("string").to_numpy(),
        "occurred_at": at[good].reset_index(drop=True),
        "x": x[good].to_numpy(), "y": y[good].to_numpy(),
        "victim_age": age[good].to_numpy(),
        "detection": detection[good].to_numpy(),
        "reported_at": reported[good].reset_index(drop=True),
        "occurred_window_h": window_h[good].to_numpy(),
        "_source": str(path) if path else "",
        "_row": source_row[good].to_numpy(),
    })
    frame["offence_code"] = frame["offence_code"].astype("string")
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
    frame["reported_at"] = pd.to_datetime(frame["reported_at"], utc=True)
    return frame, quarantine


def _check_columns(raw: pd.DataFrame, path: Path | None) -> tuple[bool, bool]:
    """Raise unless the table has rows and the contract's columns.

    Returns
    -------
    has_at, has_window : bool
        Whether ``occurred_at`` and whether ``occurred_from``/``occurred_to`` are given.
    """
    if len(raw) == 0:
        raise DataError("the crime file has no rows", where=where(path), fix="export at least one crime")
    has_at = "occurred_at" in raw.columns
    has_window = {"occurred_from", "occurred_to"} <= set(raw.columns)
    has_ll = {"lat", "lon"} <= set(raw.columns)
    has_xy = {"x", "y"} <= set(raw.columns)
    missing = [c for c in ("crime_id", "offence_code") if c not in raw.columns]
    if not (has_at or has_window):
        missing.append("occurred_at (or occurred_from and occurred_to)")
    if not (has_ll or has_xy):
        missing.append("lat and lon (or x and y)")
    if missing:
        found = ", ".join(raw.columns[:10]) + ("..." if raw.shape[1] > 10 else "")
        hint = (" This looks like a data.police.uk street file: read it with "
                "guardian_rct.crimes.policeuk.read_street_crimes.") if "crime type" in raw.columns else ""
        raise DataError(f"not a crime-records file: missing column(s) {', '.join(missing)}",
                        where=where(path), expected="crime_id, offence_code, occurred_at, lat/lon or x/y",
                        found=found, fix="rename the columns to the crimes contract (README)." + hint)
    return has_at, has_window


def _flag(reason: pd.Series, mask: pd.Series | np.ndarray, why: str) -> None:
    """Give ``why`` to the rows in ``mask`` that have no reason yet."""
    mask = pd.Series(np.asarray(mask, dtype=bool), index=reason.index)
    reason[mask & reason.isna()] = why


def _number(raw: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as floats (NaN when absent, blank or not a number)."""
    if col not in raw.columns:
        return pd.Series(np.nan, index=raw.index)
    if pd.api.types.is_numeric_dtype(raw[col]):
        return raw[col].astype(float)
    return pd.to_numeric(raw[col].astype("string").str.strip().replace("", pd.NA), errors="coerce").astype(float)


def _coordinates(raw: pd.DataFrame, crs: str, reason: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Each crime's ``x``/``y`` in ``crs``: given ``x``/``y``, else ``lat``/``lon`` reprojected.

    ``(0, 0)`` counts as missing; rows without usable coordinates are flagged.
    """
    x, y = _number(raw, "x"), _number(raw, "y")
    lat, lon = _number(raw, "lat"), _number(raw, "lon")
    use_xy = x.notna() & y.notna() & ~((x == 0) & (y == 0))
    use_ll = ~use_xy & lat.notna() & lon.notna() & ~((lat == 0) & (lon == 0))
    _flag(reason, ~use_xy & ~use_ll, "missing coordinates")
    _flag(reason, use_ll & ((lat.abs() > 90) | (lon.abs() > 180)), "coordinates out of range")
    ok_ll = use_ll & (lat.abs() <= 90) & (lon.abs() <= 180)
    if ok_ll.any():
        tx, ty = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(
            lon[ok_ll].to_numpy(), lat[ok_ll].to_numpy())
        x[ok_ll], y[ok_ll] = tx, ty
    _flag(reason, ~np.isfinite(x.to_numpy()) | ~np.isfinite(y.to_numpy()), "missing coordinates")
    return x, y


def _offences(raw: pd.DataFrame, reason: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Normalised offence codes (``NNN/SS`` or ``<NA>``) and crime types.

    The crime type comes from the code where there is one, else from a data.police.uk
    type written as the code, else from a ``crime_type`` column.
    """
    code_text = raw["offence_code"].astype("string").str.strip().replace("", pd.NA)
    codes = normalise_offence_codes(code_text.fillna(""))
    type_from_code = code_text.str.lower().map(_TYPE_LOOKUP)
    given_type = (raw["crime_type"].astype("string").str.strip().str.lower().map(_TYPE_LOOKUP)
                  if "crime_type" in raw.columns else pd.Series(pd.NA, index=raw.index, dtype="object"))
    _flag(reason, code_text.isna() & given_type.isna(), "missing offence code")
    _flag(reason, code_text.notna() & codes.isna() & type_from_code.isna(), "unparseable offence code")
    derived = codes_to_categories(codes)
    crime_type = derived.fillna(type_from_code).fillna(given_type)
    return codes, crime_type


def _occurred(raw: pd.DataFrame, reason: pd.Series, *, has_at: bool, has_window: bool,
              assume_tz: str | None, now: dt.datetime | None, path: Path | None) -> tuple[pd.Series, pd.Series]:
    """When each crime occurred (UTC), and the length in hours of its from/to window.

    Raises
    ------
    DataError
        No time in the file has a UTC offset (and no zone was named for them).
    """
    if now is not None and now.tzinfo is None:
        raise ValueError("now must be time-zone aware")
    latest = pd.Timestamp(now or dt.datetime.now(dt.UTC)).tz_convert("UTC")
    if has_at and (not has_window or raw["occurred_at"].astype("string").str.strip().ne("").any()):
        at, why = _parse_times(raw["occurred_at"], assume_tz)
    else:
        at, why = (pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]"),
                   pd.Series(pd.NA, index=raw.index, dtype="string"))
    window_h = pd.Series(0.0, index=raw.index)
    if has_window:
        at, why, window_h = _window_midpoints(raw, reason, at, why, window_h, assume_tz)
    offset_free = why.eq("time without UTC offset").fillna(False)
    if offset_free.all():
        raise DataError("crime times have no UTC offset", where=where(path, 1, "occurred_at"),
                        expected="ISO 8601 with offset or Z, e.g. 2023-05-01T14:00:00+01:00",
                        found="times without an offset on every row",
                        fix="name their zone (--crimes-timezone Europe/London, or assume_tz=)")
    fill = why.notna() & reason.isna()
    reason[fill] = why[fill]
    _flag(reason, at.isna(), "missing time")
    _flag(reason, (at < _EARLIEST) | (at > latest + pd.Timedelta(days=1)), "time outside 1990..today")
    return at, window_h


def _window_midpoints(raw: pd.DataFrame, reason: pd.Series, at: pd.Series, why: pd.Series,
                      window_h: pd.Series, assume_tz: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Place rows without an exact time at the midpoint of their from/to window.

    A window that ends before it starts or lasts more than a day is flagged; a row with
    only a "from" time takes it as exact.

    Returns
    -------
    at, why, window_h : pandas.Series
        Times, time problems (``<NA>`` when fine) and window lengths in hours, with the
        windowed rows filled in.
    """
    start, why_s = _parse_times(raw["occurred_from"], assume_tz)
    end, why_e = _parse_times(raw["occurred_to"], assume_tz)
    use = at.isna() & why.isna()
    # only a "from" time: treat it as exact
    end = end.where(end.notna() | why_e.notna(), start)
    why = why.where(~use, why_s.fillna(why_e))
    length = (end - start).dt.total_seconds() / 3600.0
    _flag(reason, use & (length < 0), "time window ends before it starts")
    _flag(reason, use & (length > _MAX_WINDOW_H), "time window longer than a day")
    mid = start + (end - start) / 2
    return at.where(~use, mid), why, window_h.where(~use, length)


def _optional_columns(raw: pd.DataFrame, reason: pd.Series,
                      assume_tz: str | None) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Victim age (NaN unknown), detection (``<NA>`` unknown) and ``reported_at`` (NaT
    unknown); flags values that are given but unusable."""
    age = _number(raw, "victim_age")
    if "victim_age" in raw.columns:
        given = raw["victim_age"].astype("string").str.strip().replace("", pd.NA).notna()
        _flag(reason, given & (age.isna() | (age < 0) | (age > 120)), "victim age not a number from 0 to 120")
    detection = pd.Series(pd.NA, index=raw.index, dtype="string")
    if "detection" in raw.columns:
        detection = raw["detection"].astype("string").str.strip().str.lower().replace("", pd.NA)
        _flag(reason, detection.notna() & ~detection.isin(["reactive", "proactive"]).fillna(False),
              "detection not 'reactive' or 'proactive'")
    reported = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    if "reported_at" in raw.columns:
        reported, why_r = _parse_times(raw["reported_at"], assume_tz)
        _flag(reason, why_r.notna(), "unparseable reported_at")
    return age, detection, reported
