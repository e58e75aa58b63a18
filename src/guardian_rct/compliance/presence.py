"""From a ping file to visits: read in chunks, validate, assign to hotspots, group.

:func:`score_pings` is the one entry point; ``engine="local"`` streams the file(s) in
this process (memory: the in-hotspot pings, 22 bytes each, plus 8 bytes per used ping
for duplicate detection, plus a few chunks; quarantined rows beyond
200 000 are spooled to a temporary file), ``engine="dask"`` runs the same kernels over
the partitions of a Parquet dataset on a Dask cluster (:mod:`guardian_rct.compliance.dask_engine`).
Both give identical visits, counts and quarantine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from guardian_rct._core.log import progress
from guardian_rct._core.memory import release_free_memory, reuse_freed_memory
from guardian_rct._core.quarantine import QuarantineSpool, rows_as_read
from guardian_rct.compliance.chunk_scoring import ScoredChunk, score_rows
from guardian_rct.compliance.dask_engine import score_pings_dask
from guardian_rct.compliance.ping_assignment import (
    Codes,
    PingScore,
    TrackCodes,
    hotspot_index,
    ping_options_for,
    visits_from_compact,
)
from guardian_rct.compliance.ping_dedupe import (
    Deduplicator,
    PreparedKeys,
)
from guardian_rct.compliance.ping_types import (
    DUPLICATE,
    QUARANTINE_COLUMNS,
    PingExtent,
    PingOptions,
)
from guardian_rct.compliance.ping_validation import check_rows
from guardian_rct.compliance.pings import map_raw_chunks, ping_files, prefetch
from guardian_rct.config.trial_config import ComplianceSpec
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.geo.point_index import HotspotIndex

__all__ = ["score_pings"]


def _scored(index: HotspotIndex, options: PingOptions, prepare: Callable[[np.ndarray], PreparedKeys],
            file: Path, first: int, raw: pd.DataFrame, cols: dict[str, str]) -> tuple[Path, pd.DataFrame, ScoredChunk]:
    """A worker thread's share of a raw chunk: the checks, then what scoring keeps of the
    chunk, its duplicate keys prepared (``prepare`` reads no state of the set)."""
    checked = check_rows(raw, cols, source=file, first_row=first, options=options)
    return file, raw, score_rows(checked, options, index, prepare)


def _without_duplicates(chunks: Iterator[tuple[Path, pd.DataFrame, ScoredChunk]], dedup: Deduplicator,
                        spool: QuarantineSpool) -> Iterator[tuple[ScoredChunk, np.ndarray]]:
    """Each scored chunk with its usable rows' duplicate flags, in reading order (the set
    must see the chunks in that order); the chunk's whole quarantine (the checks' rows and
    its duplicates, by source row) goes to ``spool`` here, so that a chunk of bad rows is
    not handed on."""
    for file, raw, scored in chunks:
        dup = dedup.resolve(scored.keys)
        # The duplicates go among the chunk's other quarantined rows when the spool stores them.
        duplicates = (rows_as_read(raw, scored.positions[dup], DUPLICATE, source=file,
                                   first_row=scored.first_row) if dup.any() else None)
        spool.add(scored.quarantine, duplicates)
        yield scored, dup


def score_pings(path: str | Path, hotspots: HotspotSet, rules: ComplianceSpec, *,
                options: PingOptions | None = None, engine: Literal["local", "dask"] = "local",
                scheduler: str | None = None, n_workers: int = 2,
                processes: bool = True) -> PingScore:
    """Read, validate and assign every ping at ``path``; group them into visits.

    Parameters
    ----------
    path
        A CSV or Parquet file, or a folder of them (a partitioned Parquet dataset).
    hotspots
        The trial's hotspots (metric CRS).
    rules
        ``[compliance]``: ``gps_tolerance_m``, ``max_ping_gap_minutes``,
        ``min_visit_minutes``, ``max_accuracy_m``.
    engine
        ``"local"`` (this process, streaming) or ``"dask"`` (partitions on a Dask cluster:
        ``scheduler`` address, or a local cluster of ``n_workers``). The local engine tunes
        glibc's malloc for the process to keep freed blocks for reuse
        (:func:`~guardian_rct._core.memory.reuse_freed_memory`).
    """
    # Options made by ping_options_for carry the trial's exact index (inside their degree
    # index): the same one, not built again.
    built = options.locate.metric if options is not None and options.locate is not None else None
    index = built if built is not None else hotspot_index(hotspots, rules)
    options = options or ping_options_for(hotspots, rules, index=index)
    if engine == "dask":
        return score_pings_dask(path, hotspots, rules, options=options, scheduler=scheduler,
                                n_workers=n_workers, processes=processes, index=index)
    reuse_freed_memory()  # each chunk's arrays reuse the last chunk's heap (see _core.memory)
    tracks, teams = TrackCodes(), Codes()
    parts: list[tuple[np.ndarray, ...]] = []
    spool = QuarantineSpool(QUARANTINE_COLUMNS)
    dedup = Deduplicator()
    n_read = n_used = n_in = 0
    extent = PingExtent()
    last: int | None = None
    # Checks, hotspot assignment and the chunk's own share of duplicate finding run in the
    # worker threads; duplicates (which depend on the chunks before) and the quarantine
    # spool in reading order in a thread of their own; here, in reading order, only the
    # books: codes and counts.
    chunks = map_raw_chunks(path, options, partial(_scored, index, options, dedup.prepare))
    stream = prefetch(_without_duplicates(chunks, dedup, spool), depth=1, name="ping-dedup")
    try:
        for scored, dup in progress(stream, desc="ping chunks", unit="chunk"):
            n_read += scored.n_read
            extent = extent.merge(scored.extent)
            n_dup = int(np.count_nonzero(dup))
            n_used += scored.n_usable - n_dup
            if scored.n_usable == n_dup:  # nothing usable, or only duplicates
                continue
            latest = int((scored.time_ns[~dup] if n_dup else scored.time_ns).max())
            last = latest if last is None else max(last, latest)
            keep = ~dup[scored.row] if n_dup else slice(None)
            row, hot = scored.row[keep], scored.hotspot[keep]
            n_in += int(np.count_nonzero(np.diff(row, prepend=-1)))
            parts.append((tracks.encode_indices(scored.device.take(keep), scored.officer.take(keep)),
                          teams.encode_indices(*scored.team.take(keep)), hot.astype(np.int16), scored.time_ns[row]))
    finally:
        stream.close()  # stops the duplicate thread before the set goes
        dedup.close()  # stops its merge thread; the keys are not needed for the visits
    del dedup, chunks
    release_free_memory()  # the duplicate-key runs' heap pages, before the visits are built (see _core.memory)
    if parts:
        track_code, team_code, hot, t = (np.concatenate(p) for p in zip(*parts, strict=True))
        del parts
    else:
        track_code = team_code = np.empty(0, dtype=np.int32)
        t = np.empty(0, dtype=np.int64)
        hot = np.empty(0, dtype=np.int16)
    visits = visits_from_compact(tracks.labels(), np.array(teams.values, dtype=object),
                                 hot, t, team_code, track_code, hotspots.ids, rules)
    return PingScore(visits=visits, quarantine=spool.finish(), n_read=n_read,
                     n_used=n_used, n_in_hotspots=n_in,
                     sources=tuple(str(p) for p in ping_files(path)), extent=extent,
                     last_ping=None if last is None else pd.Timestamp(last, tz="UTC"))
