"""Score pings beyond one machine: the same kernels over partitions on a Dask cluster.

A partitioned ping dataset (a folder of Parquet or CSV files, one task per file) is
processed in four stages of plain ``distributed`` futures; every stage calls the same
functions as the in-process engine (:func:`~guardian_rct.compliance.pings.validate_chunk`,
:func:`~guardian_rct.geo.point_index.assign_points`, :func:`~guardian_rct.compliance.visits.visit_kernel`):

1. per file: validate, and send the duplicate key and row of every usable ping to a
   bucket by key (a hash shuffle);
2. per key bucket: find exact duplicates across files; the first in (file, row) order
   is kept, as in the in-process engine;
3. per file: validate again, quarantine the duplicates found in stage 2, assign pings
   to hotspots, and send the in-hotspot pings to a bucket by track (device, officer);
4. per track bucket: group pings into visits.

The client only gathers counts, quarantined rows and visits. Without a scheduler
address a :class:`distributed.LocalCluster` is started for the call and closed after.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from guardian_rct._core.quarantine import Quarantine, QuarantineSpool, concat_quarantines
from guardian_rct.compliance.ping_assignment import (
    Codes,
    PingScore,
    assign_chunk,
    track_labels,
    visits_from_compact,
)
from guardian_rct.compliance.ping_dedupe import quarantine_duplicates
from guardian_rct.compliance.ping_types import QUARANTINE_COLUMNS, PingExtent, PingOptions
from guardian_rct.compliance.ping_validation import validate_chunk
from guardian_rct.compliance.pings import iter_raw_chunks, ping_files
from guardian_rct.compliance.visits import empty_visits, sort_visits
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.point_index import HotspotIndex, build_index

__all__ = ["score_pings_dask"]


def _stage_keys(file: str, options: PingOptions, n_buckets: int) -> list[pd.DataFrame]:
    parts = []
    for first, raw, cols in iter_raw_chunks(Path(file), options.chunk_rows):
        chunk = validate_chunk(raw, cols, source=Path(file), first_row=first, options=options)
        parts.append(chunk.frame[["key", "source_row"]])
    keys = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame({"key": [], "source_row": []})
    bucket = (keys["key"].to_numpy(dtype=np.uint64) % np.uint64(n_buckets)).astype(np.int64)
    return [keys[bucket == b].reset_index(drop=True) for b in range(n_buckets)]


def _stage_duplicates(n_files: int, *pieces: pd.DataFrame) -> list[np.ndarray]:
    """Rows (per file) whose key appeared earlier in (file, row) order."""
    frames = []
    for i, piece in enumerate(pieces):
        if len(piece):
            frames.append(piece.assign(file=i))
    out = [np.empty(0, dtype=np.int64) for _ in range(n_files)]
    if not frames:
        return out
    allk = pd.concat(frames, ignore_index=True).sort_values(["file", "source_row"], kind="stable")
    dup = allk.duplicated("key", keep="first").to_numpy()
    d = allk[dup]
    for i, rows in d.groupby("file")["source_row"]:
        out[int(i)] = np.sort(rows.to_numpy(dtype=np.int64))
    return out


def _stage_assign(file: str, options: PingOptions, index: HotspotIndex, n_buckets: int,
                  *dup_parts: list[np.ndarray], file_number: int) -> dict:
    dups = np.concatenate([p[file_number] for p in dup_parts]) if dup_parts else np.empty(0, np.int64)
    dups = np.sort(dups)
    quarantines: list[Quarantine] = []
    compact = []
    n_read = n_used = n_in = 0
    extent = PingExtent()
    last = None
    for first, raw, cols in iter_raw_chunks(Path(file), options.chunk_rows):
        raw.attrs["first_row"] = first
        chunk = validate_chunk(raw, cols, source=Path(file), first_row=first, options=options)
        extent = extent.merge(chunk.extent)
        is_dup = np.isin(chunk.frame["source_row"].to_numpy(), dups)
        if is_dup.any():
            chunk = quarantine_duplicates(chunk, is_dup, raw, Path(file))
        n_read += chunk.n_read
        n_used += len(chunk.frame)
        if len(chunk.quarantine):
            quarantines.append(chunk.quarantine)
        frame = chunk.frame
        if frame.empty:
            continue
        latest = int(frame["time"].astype("int64").max())
        last = latest if last is None else max(last, latest)
        row, hot = assign_chunk(index, frame)
        n_in += int(np.count_nonzero(np.diff(row, prepend=-1)))
        sub = frame.iloc[row]
        compact.append(pd.DataFrame({"track": track_labels(sub).to_numpy(dtype=object),
                                     "team": sub["team"].to_numpy(dtype=object),
                                     "hotspot": hot.astype(np.int16),
                                     "t": sub["time"].astype("int64").to_numpy()}))
    pings = pd.concat(compact, ignore_index=True) if compact else pd.DataFrame(
        {"track": pd.Series(dtype=object), "team": pd.Series(dtype=object),
         "hotspot": pd.Series(dtype=np.int16), "t": pd.Series(dtype=np.int64)})
    bucket = (pd.util.hash_array(pings["track"].to_numpy(dtype=object), categorize=True)
              % np.uint64(n_buckets)).astype(np.int64)
    return {"buckets": [pings[bucket == b].reset_index(drop=True) for b in range(n_buckets)],
            "quarantine": concat_quarantines(quarantines), "n_read": n_read, "n_used": n_used,
            "n_in": n_in, "extent": extent, "last": last}


def _bucket_of(result: dict, b: int) -> pd.DataFrame:
    return result["buckets"][b]


def _stage_visits(hotspot_ids: np.ndarray, rules: ComplianceSpec, *pieces: pd.DataFrame) -> pd.DataFrame:
    pings = pd.concat([p for p in pieces if len(p)], ignore_index=True) if any(len(p) for p in pieces) else None
    if pings is None:
        return empty_visits().frame
    tracks, teams = Codes(), Codes()
    track_code = tracks.encode(pings["track"].to_numpy(dtype=object))
    team_code = teams.encode(pings["team"].to_numpy(dtype=object))
    visits = visits_from_compact(np.array(tracks.values, dtype=object), np.array(teams.values, dtype=object),
                                 pings["hotspot"].to_numpy(), pings["t"].to_numpy(), team_code, track_code,
                                 hotspot_ids, rules)
    return visits.frame


def score_pings_dask(path: str | Path, hotspots: HotspotSet, rules: ComplianceSpec, *,
                     options: PingOptions, scheduler: str | None = None, n_workers: int = 2,
                     processes: bool = True, n_buckets: int | None = None) -> PingScore:
    """:func:`guardian_rct.compliance.presence.score_pings` on a Dask cluster (see module docstring).

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``tcp://host:8786``); ``None`` starts a local
        cluster of ``n_workers`` workers (``processes=False``: threads in this process).
    n_buckets
        Shuffle buckets (default: twice the number of files, at least 2).
    """
    from distributed import Client, LocalCluster

    files = [str(p) for p in ping_files(path)]
    n_buckets = n_buckets or max(2, 2 * len(files))
    index = build_index(hotspots.frame.geometry.to_numpy(), tolerance_m=rules.gps_tolerance_m)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address="127.0.0.1:0", silence_logs=40)  # a free port: never collides
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        key_parts = [client.submit(_stage_keys, f, options, n_buckets, pure=False) for f in files]
        dup_parts = []
        for b in range(n_buckets):
            pieces = [client.submit(lambda parts, b=b: parts[b], kp, pure=False) for kp in key_parts]
            dup_parts.append(client.submit(_stage_duplicates, len(files), *pieces, pure=False))
        index_f = client.scatter(index, broadcast=True)
        assigned = [client.submit(_stage_assign, f, options, index_f, n_buckets, *dup_parts,
                                  file_number=i, pure=False) for i, f in enumerate(files)]
        visit_parts = []
        for b in range(n_buckets):
            pieces = [client.submit(_bucket_of, a, b, pure=False) for a in assigned]
            visit_parts.append(client.submit(_stage_visits, hotspots.ids, rules, *pieces, pure=False))
        visits_frames = client.gather(visit_parts)
        stats = client.gather([client.submit(lambda r: {k: v for k, v in r.items() if k != "buckets"},
                                             a, pure=False) for a in assigned])
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    frames = [f for f in visits_frames if len(f)]
    visits = sort_visits(pd.concat(frames, ignore_index=True)) if frames else empty_visits()
    spool = QuarantineSpool(QUARANTINE_COLUMNS)
    for s in stats:
        spool.add(s["quarantine"])
    return PingScore(visits=visits, quarantine=spool.finish(),
                     n_read=sum(s["n_read"] for s in stats), n_used=sum(s["n_used"] for s in stats),
                     n_in_hotspots=sum(s["n_in"] for s in stats), sources=tuple(files),
                     extent=_merge_extents([s["extent"] for s in stats]),
                     last_ping=_latest(s["last"] for s in stats))


def _merge_extents(parts: list[PingExtent]) -> PingExtent:
    out = PingExtent()
    for part in parts:
        out = out.merge(part)
    return out


def _latest(values) -> pd.Timestamp | None:
    known = [v for v in values if v is not None]
    return pd.Timestamp(max(known), tz="UTC") if known else None
