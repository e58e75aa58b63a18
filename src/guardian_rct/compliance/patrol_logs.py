"""Compliance without GPS: visits from officers' patrol logs.

Forces without location data keep patrol logs: officers report, per hotspot, when they
arrived and when they left. A log is a CSV with columns ``officer_id``, ``hotspot_id``,
``arrived_at``, ``departed_at`` (ISO 8601 with an offset, or local times when a zone is
given) and optional ``team`` and ``device_id``. Each usable row becomes one visit, so
compliance, dosage and contamination are scored by exactly the same code as for pings
(:func:`guardian_rct.compliance.scoring.score_compliance`). Self-reported times are less
trustworthy than GPS; the report says which source was used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where
from guardian_rct._core.input_checks import lower_unique_columns, out_of_range_times
from guardian_rct._core.quarantine import concat_quarantines, quarantine_rows
from guardian_rct._core.textcsv import read_text_csv
from guardian_rct.compliance.ping_assignment import PingScore
from guardian_rct.compliance.ping_validation import as_text, flag_rows, parse_times
from guardian_rct.compliance.visits import empty_visits, officer_key, sort_visits
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["LOG_REASONS", "read_patrol_log"]

LOG_REASONS = {
    1: "missing officer id",
    2: "missing hotspot id",
    3: "unknown hotspot",
    4: "missing timestamp",
    5: "timestamp without offset",
    6: "timestamp does not parse",
    7: "nonexistent or ambiguous local time",
    8: "departed before arrived",
    9: "stay longer than 24 hours",
    10: "shorter than min_visit_minutes",
    11: "exact duplicate",
    12: "timestamp out of range",
}
_REQUIRED = ("officer_id", "hotspot_id", "arrived_at", "departed_at")
# ping_validation.parse_times uses the ping reason numbers 2..5; map them onto the log's.
_TIME_CODES = {2: 4, 3: 5, 4: 6, 5: 7}


def read_patrol_log(path: str | Path, hotspots: HotspotSet, rules: ComplianceSpec, *,
                    timezone: str | None = None) -> PingScore:
    """Read a patrol log into visits; unusable rows go to the quarantine with a reason.

    Raises
    ------
    DataError
        The file is missing, unreadable, or lacks a required column.
    """
    path = Path(path)
    raw = read_text_csv(path, what="patrol log", option="--patrol-log")
    lower_unique_columns(raw, path, what="patrol log")  # refuses 'team' and 'TEAM'
    lower = {str(c).strip().lower(): c for c in raw.columns}
    missing = [c for c in _REQUIRED if c not in lower]
    if missing:
        raise DataError(f"patrol log is missing column(s) {', '.join(missing)}", where=where(path),
                        expected=", ".join(_REQUIRED) + " (optional team, device_id)",
                        found="columns " + ", ".join(map(str, raw.columns)),
                        fix="rename the columns to the patrol-log contract (README, 'Weekly compliance')")
    n = len(raw)
    code = np.zeros(n, dtype=np.int8)
    officer = as_text(raw[lower["officer_id"]])
    hotspot = as_text(raw[lower["hotspot_id"]])
    flag_rows(code, (officer == "").to_numpy(), 1)
    flag_rows(code, (hotspot == "").to_numpy(), 2)
    flag_rows(code, ~hotspot.isin(set(map(str, hotspots.ids))).to_numpy(), 3)
    times = []
    for col in ("arrived_at", "departed_at"):
        sub = np.zeros(n, dtype=np.int8)
        values = raw[lower[col]]
        far = out_of_range_times(values)  # 9999-12-31, 0001-01-01: quarantine, do not abort
        flag_rows(code, far, 12)
        times.append(parse_times(values.where(~far, ""), timezone, sub))
        for ping_code, log_code in _TIME_CODES.items():
            flag_rows(code, sub == ping_code, log_code)
    start, end = times
    flag_rows(code, end < start, 8)
    flag_rows(code, (end - start) > 24 * 3_600_000_000_000, 9)
    flag_rows(code, (end - start) < rules.min_visit_minutes * 60e9, 10)
    team = as_text(raw[lower["team"]]) if "team" in lower else pd.Series("", index=raw.index)
    device = as_text(raw[lower["device_id"]]) if "device_id" in lower else pd.Series("", index=raw.index)
    key = pd.DataFrame({"o": officer, "h": hotspot, "s": start, "e": end, "t": team, "d": device})
    dup = key.duplicated().to_numpy() & (code == 0)
    flag_rows(code, dup, 11)
    ok = code == 0
    rows = np.arange(1, n + 1)
    quarantine = concat_quarantines([])
    if (~ok).any():
        reasons = pd.Series([LOG_REASONS[int(c)] for c in code[~ok]], dtype="string")
        quarantine = quarantine_rows(raw[~ok], reasons, source=path, source_row=pd.Series(rows[~ok]))
    if not ok.any():
        visits = empty_visits()
    else:
        dev = device[ok].to_numpy(dtype=object)
        off = officer[ok].to_numpy(dtype=object)
        dev = np.where(dev == "", "log", dev).astype(object)
        frame = pd.DataFrame({
            "device_id": dev, "officer_id": off, "officer": officer_key(dev, off),
            "team": team[ok].to_numpy(dtype=object), "hotspot_id": hotspot[ok].to_numpy(dtype=object),
            "start": pd.to_datetime(start[ok], utc=True).as_unit("ns"),
            "end": pd.to_datetime(end[ok], utc=True).as_unit("ns"),
            "minutes": (end[ok] - start[ok]) / 60e9, "n_pings": np.zeros(int(ok.sum()), dtype=np.int64)})
        visits = sort_visits(frame)
    last = pd.Timestamp(int(end[ok].max()), tz="UTC") if ok.any() else None
    return PingScore(visits=visits, quarantine=quarantine, n_read=n, n_used=int(ok.sum()),
                     n_in_hotspots=int(ok.sum()), sources=(str(path),), last_ping=last)
