"""Score pings beyond one machine: the same kernels over partitions on a Dask cluster.

The input (a file, or a folder of Parquet or CSV files) is cut into tasks: a CSV file is
one task; a Parquet file is one task per run of a few row groups (:func:`plan_tasks`), so
two workers share even a single-file week. Four stages of plain ``distributed`` futures
call the same functions as the in-process engine
(:func:`~guardian_rct.compliance.pings.validate_chunk`,
:func:`~guardian_rct.geo.point_index.assign_points`, :func:`~guardian_rct.compliance.visits.visit_kernel`):

1. per task: validate every row (once: the only pass of the checks over the input),
   assign the usable pings to hotspots and keep the in-hotspot ones compact (with their
   row numbers) on the worker; send the duplicate key and row of every usable ping to a
   bucket by key (a hash shuffle);
2. per key bucket: find exact duplicates across tasks; the first in (file, row) order is
   kept, as in the in-process engine (tasks are numbered in that order);
3. per task: drop the duplicates found in stage 2 from the compact pings and quarantine
   them as read (only the raw rows of a task that has duplicates are read again, not
   checked again), and send the in-hotspot pings to a bucket by track (device, officer);
4. per track bucket: group pings into visits.

Row numbers are always the file's own (a task of row groups 4-7 starts at the first row
of group 4). The client only gathers counts, quarantined rows and visits. A task's
quarantined rows beyond :data:`WORKER_ROWS_IN_MEMORY` are spooled to its worker's
temporary folder (stage 3 runs where stage 1's result is, to merge the duplicates among
them by file row); the client fetches them in task order, a part of about
:data:`_PART_ROWS` rows at a time, into its own spool on disk, so neither side holds a
file of bad rows in memory. Without a scheduler address a
:class:`distributed.LocalCluster` is started for the call and closed after.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from guardian_rct._core.in_order import in_order
from guardian_rct._core.quarantine import Quarantine, QuarantineSpool
from guardian_rct.compliance.ping_assignment import (
    Codes,
    PingScore,
    assign_chunk,
    hotspot_index,
    track_labels,
    visits_from_compact,
)
from guardian_rct.compliance.ping_dedupe import raw_duplicate_quarantine
from guardian_rct.compliance.ping_types import QUARANTINE_COLUMNS, PingExtent, PingOptions
from guardian_rct.compliance.ping_validation import validate_chunk
from guardian_rct.compliance.pings import iter_raw_chunks, ping_files
from guardian_rct.compliance.visits import empty_visits, sort_visits
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.point_index import HotspotIndex

__all__ = ["score_pings_dask", "PingTask", "plan_tasks"]

_LOG = logging.getLogger(__name__)

#: At most this many row groups per task (a 50 M-ping file of 1 M-row groups: 7+ tasks).
MAX_ROW_GROUPS_PER_TASK = 8
#: Quarantined rows a task's result holds in the worker's memory; the rest are spooled to
#: the worker's temporary folder (:class:`~guardian_rct._core.quarantine.QuarantineSpool`).
WORKER_ROWS_IN_MEMORY = 200_000
#: Quarantined rows the client fetches from a worker in one task.
_PART_ROWS = 100_000


@dataclass(frozen=True)
class PingTask:
    """One unit of work: a whole file (``row_groups`` ``None``) or the row groups
    ``[start, stop)`` of a Parquet file; ``file_number`` orders files as the local engine reads them."""

    file: str
    file_number: int
    row_groups: tuple[int, int] | None = None


def _row_group_count(path: str) -> int | None:
    """Row groups of a Parquet file (``None``: CSV, or a file the worker will refuse with its own message)."""
    if not path.lower().endswith((".parquet", ".pq")):
        return None
    try:
        return pq.ParquetFile(path).metadata.num_row_groups
    except (pa.ArrowInvalid, OSError):
        return None


def plan_tasks(files: list[str], n_threads: int) -> list[PingTask]:
    """Cut the input into tasks: CSV files whole, Parquet files into runs of row groups.

    Runs hold ``ceil(all row groups / (2 x threads))`` groups (at least 1, at most
    :data:`MAX_ROW_GROUPS_PER_TASK`), so there are about two tasks per thread for the
    scheduler to balance, and a task's memory stays a few row groups.
    """
    counts = [_row_group_count(f) for f in files]
    total = sum(c for c in counts if c)
    per = min(MAX_ROW_GROUPS_PER_TASK, max(1, math.ceil(total / (2 * max(1, n_threads)))))
    tasks = []
    for i, (file, n) in enumerate(zip(files, counts, strict=True)):
        if not n or n <= per:
            tasks.append(PingTask(file, i))
            continue
        tasks.extend(PingTask(file, i, (a, min(a + per, n))) for a in range(0, n, per))
    return tasks


def _empty_compact() -> pd.DataFrame:
    return pd.DataFrame({"row": pd.Series(dtype=np.int64), "track": pd.Series(dtype=object),
                         "team": pd.Series(dtype=object), "hotspot": pd.Series(dtype=np.int16),
                         "t": pd.Series(dtype=np.int64)})


def _stage_check(task: PingTask, options: PingOptions, index: HotspotIndex, n_buckets: int) -> dict:
    """Stage 1: validate and assign the task's rows (see module docstring)."""
    source = Path(task.file)
    keys, compact = [], []
    quarantine = QuarantineSpool(QUARANTINE_COLUMNS, max_rows_in_memory=WORKER_ROWS_IN_MEMORY)
    n_read = n_used = 0
    extent, last = PingExtent(), None
    for first, raw, cols in iter_raw_chunks(source, options.chunk_rows, row_groups=task.row_groups):
        chunk = validate_chunk(raw, cols, source=source, first_row=first, options=options)
        extent = extent.merge(chunk.extent)
        n_read += chunk.n_read
        n_used += len(chunk.frame)
        quarantine.add(chunk.quarantine)
        frame = chunk.frame
        if frame.empty:
            continue
        keys.append(frame[["key", "source_row"]])
        latest = int(frame["time"].astype("int64").max())
        last = latest if last is None else max(last, latest)
        row, hot = assign_chunk(index, chunk, options.locate)
        sub = frame.iloc[row]
        compact.append(pd.DataFrame({"row": sub["source_row"].to_numpy(dtype=np.int64),
                                     "track": track_labels(sub).to_numpy(dtype=object),
                                     "team": sub["team"].to_numpy(dtype=object),
                                     "hotspot": hot.astype(np.int16),
                                     "t": sub["time"].astype("int64").to_numpy()}))
    key = pd.concat(keys, ignore_index=True) if keys else pd.DataFrame(
        {"key": pd.Series(dtype=np.uint64), "source_row": pd.Series(dtype=np.int64)})
    bucket = (key["key"].to_numpy(dtype=np.uint64) % np.uint64(n_buckets)).astype(np.int64)
    return {"keys": [key[bucket == b].reset_index(drop=True) for b in range(n_buckets)],
            "compact": pd.concat(compact, ignore_index=True) if compact else _empty_compact(),
            "quarantine": quarantine.finish(), "n_read": n_read, "n_used": n_used,
            "extent": extent, "last": last}


def _keys_of(checked: dict, b: int) -> pd.DataFrame:
    return checked["keys"][b]


def _stage_duplicates(n_tasks: int, *pieces: pd.DataFrame) -> list[np.ndarray]:
    """Stage 2: rows (per task) whose key appeared earlier in (task, row) order, which is
    (file, row) order as tasks are numbered."""
    frames = [piece.assign(task=i) for i, piece in enumerate(pieces) if len(piece)]
    out = [np.empty(0, dtype=np.int64) for _ in range(n_tasks)]
    if not frames:
        return out
    allk = pd.concat(frames, ignore_index=True).sort_values(["task", "source_row"], kind="stable")
    dup = allk[allk.duplicated("key", keep="first").to_numpy()]
    for i, rows in dup.groupby("task")["source_row"]:
        out[int(i)] = np.sort(rows.to_numpy(dtype=np.int64))
    return out


def _duplicates_as_read(task: PingTask, rows: np.ndarray, options: PingOptions) -> Quarantine:
    """The task's duplicate ``rows`` (sorted file rows) quarantined as read: the raw rows
    only (no second validation), spooled on the worker."""
    source = Path(task.file)
    spool = QuarantineSpool(QUARANTINE_COLUMNS, max_rows_in_memory=WORKER_ROWS_IN_MEMORY)
    for first, raw, _ in iter_raw_chunks(source, options.chunk_rows, row_groups=task.row_groups):
        lo, hi = np.searchsorted(rows, [first, first + len(raw)])
        if hi > lo:
            spool.add(raw_duplicate_quarantine(raw, rows[lo:hi], first, source))
        if hi == len(rows):
            break
    return spool.finish()


def _merged_by_row(checks: Quarantine, duplicates: Quarantine) -> Quarantine:
    """The task's quarantine: the checks' rows and its duplicates (each in file-row order;
    no row is in both) in file-row order, spooled on the worker, a frame of the checks'
    rows at a time with the duplicates among them."""
    spool = QuarantineSpool(QUARANTINE_COLUMNS, max_rows_in_memory=WORKER_ROWS_IN_MEMORY)
    later = iter(duplicates.iter_frames(_PART_ROWS))
    held = next(later, None)
    for frame in checks.iter_frames(_PART_ROWS):
        last = int(frame["source_row"].max())
        among = []
        while held is not None:
            rows = held["source_row"].to_numpy(dtype=np.int64)
            cut = int(np.searchsorted(rows, last, side="right"))
            if cut:
                among.append(held.iloc[:cut])
            if cut < len(held):
                held = held.iloc[cut:].reset_index(drop=True)
                break
            held = next(later, None)
        spool.add(Quarantine(frame), Quarantine(pd.concat(among, ignore_index=True)) if among else None)
    while held is not None:
        spool.add(Quarantine(held))
        held = next(later, None)
    return spool.finish()


def _stage_finish(task: PingTask, options: PingOptions, n_buckets: int, checked: dict,
                  *dup_parts: list[np.ndarray], task_number: int) -> dict:
    """Stage 3: the task's duplicates out of its pings and into its quarantine; in-hotspot
    pings to buckets by track."""
    dups = np.sort(np.concatenate([p[task_number] for p in dup_parts])) if dup_parts else np.empty(0, np.int64)
    compact, quarantine, n_used = checked["compact"], checked["quarantine"], checked["n_used"]
    if len(dups):
        compact = compact[~np.isin(compact["row"].to_numpy(), dups)]
        n_used -= len(dups)
        quarantine = _merged_by_row(quarantine, _duplicates_as_read(task, dups, options))
    n_in = int(compact["row"].nunique())
    pings = compact.drop(columns="row").reset_index(drop=True)
    bucket = (pd.util.hash_array(pings["track"].to_numpy(dtype=object), categorize=True)
              % np.uint64(n_buckets)).astype(np.int64)
    return {"buckets": [pings[bucket == b].reset_index(drop=True) for b in range(n_buckets)],
            "quarantine": quarantine, "n_read": checked["n_read"], "n_used": n_used,
            "n_in": n_in, "extent": checked["extent"], "last": checked["last"]}


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
                     processes: bool = True, n_buckets: int | None = None,
                     index: HotspotIndex | None = None) -> PingScore:
    """:func:`guardian_rct.compliance.presence.score_pings` on a Dask cluster (see module docstring).

    Parameters
    ----------
    index
        The trial's exact index (:func:`~guardian_rct.compliance.ping_assignment.hotspot_index`),
        if already built.
    scheduler
        Address of a running scheduler (``tcp://host:8786``); ``None`` starts a local
        cluster of ``n_workers`` workers (``processes=False``: threads in this process).
    n_buckets
        Shuffle buckets (default: twice the number of tasks, at least 2).
    """
    from distributed import Client, LocalCluster, get_task_stream

    files = [str(p) for p in ping_files(path)]
    index = index if index is not None else hotspot_index(hotspots, rules)
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                               dashboard_address="127.0.0.1:0", silence_logs=40)  # a free port: never collides
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        with get_task_stream(client) as stream:  # which worker ran what: logged below
            tasks = plan_tasks(files, sum(client.nthreads().values()) or n_workers)
            spool = QuarantineSpool(QUARANTINE_COLUMNS)
            visits_frames, stats = _run_stages(client, tasks, options, index, hotspots.ids, rules,
                                               n_buckets or max(2, 2 * len(tasks)), spool)
        _log_placement(stream.data, tasks)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    frames = [f for f in visits_frames if len(f)]
    visits = sort_visits(pd.concat(frames, ignore_index=True)) if frames else empty_visits()
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


def _run_stages(client, tasks: list[PingTask], options: PingOptions, index: HotspotIndex,  # noqa: ANN001
                hotspot_ids: np.ndarray, rules: ComplianceSpec, n_buckets: int,
                spool: QuarantineSpool) -> tuple[list, list]:
    """Submit the four stages (module docstring); the visit frames and per-task stats.

    Each task's quarantined rows go to ``spool`` in task order, fetched from the worker a
    part at a time (:func:`_spool_quarantine`), and are not in its stats: the client holds
    a part at a time (a file of bad rows only is quarantined whole; gathered at once, its
    rows had all been in the client's memory together, and in the workers' until taken).
    """
    # Sent to every worker once, not with every task (the options carry the degree raster).
    index_f = client.scatter(index, broadcast=True)
    options_f = client.scatter(options, broadcast=True)
    checked = [client.submit(_stage_check, t, options_f, index_f, n_buckets, pure=False) for t in tasks]
    # Whatever reads a task's results runs where they are (the quarantined rows beyond
    # WORKER_ROWS_IN_MEMORY are in a file there): its stage 3, the pieces taken for the
    # shuffles, its stats and the fetches of its quarantine. A result is then never moved
    # whole, with its quarantine, to another worker. Stage 2 needs every task's keys, so
    # waiting here for stage 1 to finish delays nothing.
    holders = _holders(client, checked)
    dup_parts = []
    for b in range(n_buckets):
        pieces = [client.submit(_keys_of, c, b, pure=False, **_on(holders[i])) for i, c in enumerate(checked)]
        dup_parts.append(client.submit(_stage_duplicates, len(tasks), *pieces, pure=False))
    finished = [client.submit(_stage_finish, t, options_f, n_buckets, checked[i], *dup_parts,
                              task_number=i, pure=False, **_on(holders[i])) for i, t in enumerate(tasks)]
    visit_parts = []
    for b in range(n_buckets):
        pieces = [client.submit(_bucket_of, a, b, pure=False, **_on(holders[i])) for i, a in enumerate(finished)]
        visit_parts.append(client.submit(_stage_visits, hotspot_ids, rules, *pieces, pure=False))
    visits_frames = client.gather(visit_parts)
    stats = client.gather([client.submit(_stats_of, a, pure=False, **_on(holders[i])) for i, a in enumerate(finished)])
    for i, result in enumerate(finished):  # in task order: the quarantine in file order
        _spool_quarantine(client, result, stats[i].pop("parts"), holders[i], spool)
    return visits_frames, stats


def _holders(client, futures: list) -> list[list[str]]:  # noqa: ANN001 - a distributed.Client
    """The workers holding each future's result, once all are computed (empty where the
    scheduler cannot say: a result lost with its worker)."""
    for future in futures:
        future.exception()  # waits until computed (an error is raised later, where the result is used)
    where = client.who_has(futures)
    return [list(where.get(f.key, ())) for f in futures]


def _on(workers: list[str]) -> dict:
    """``submit`` keywords that run a task on ``workers`` if any of them is alive (else
    anywhere: a worker that died took its result along, and Dask recomputes it elsewhere)."""
    return {"workers": workers, "allow_other_workers": True} if workers else {}


def _spool_quarantine(client, result, parts: int, holder: list[str], spool: QuarantineSpool,  # noqa: ANN001
                      window: int = 2) -> None:
    """Fetch a task's quarantine part by part (``window`` fetches in flight), each added
    to ``spool`` before the next is taken: the client holds a part at a time, the worker
    its spooled file."""
    def fetch(j: int):  # noqa: ANN202 - a distributed.Future
        return client.submit(_quarantine_part, result, j, pure=False, **_on(holder))

    for part in in_order(fetch, range(parts), window):
        spool.add(part)


def _quarantine_part(result: dict, j: int) -> Quarantine:
    """Part ``j`` of a task's quarantine (:data:`_PART_ROWS` rows at most; read on the
    worker that holds it)."""
    return Quarantine(result["quarantine"].part(j, _PART_ROWS))


def _stats_of(result: dict) -> dict:
    stats = {k: v for k, v in result.items() if k not in ("buckets", "quarantine")}
    stats["parts"] = result["quarantine"].n_parts(_PART_ROWS)
    return stats


def _log_placement(records: list[dict], tasks: list[PingTask]) -> dict[str, int]:
    """Log which worker ran each stage-1 task (from the scheduler's task stream); returns
    ``{worker address: tasks}`` (shown by ``-v`` and by ``scripts/bench_week.py``)."""
    workers: dict[str, int] = {}
    for record in records:
        if str(record.get("key", "")).startswith("_stage_check"):
            workers[record["worker"]] = workers.get(record["worker"], 0) + 1
    _LOG.info("dask engine: %d tasks (%d of them row groups of a Parquet file); validation tasks per worker: %s",
              len(tasks), sum(t.row_groups is not None for t in tasks),
              ", ".join(f"{w} {n}" for w, n in sorted(workers.items())))
    return workers
