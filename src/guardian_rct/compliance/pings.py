"""Read and validate officers' location pings, in chunks, with nothing dropped silently.

Pings come as CSV or Parquet (or a folder of them, read in sorted file-name order), one
row per location fix (DESIGN.md §3): ``device_id``, ``timestamp`` (ISO 8601 with an
offset or ``Z``; or a Parquet timestamp type), and either ``lat``/``lon`` (WGS84) or
``x``/``y`` (metres, trial CRS); optional ``officer_id``, ``team``, ``accuracy_m``.
Column names are matched without regard to case or surrounding spaces.

Files are read in chunks (``pyarrow`` streaming CSV reader, Parquet row batches), so a
file larger than memory works. Every row is checked; a row that cannot be used goes to
the :class:`~guardian_rct._core.quarantine.Quarantine` with one of the fixed reasons in
:data:`REASONS` (the first that applies, in that order), so that for every file
``read = used + quarantined``.

Exact duplicates are rows whose parsed values (device, officer, team, instant,
coordinates as given, accuracy) are all equal; the first in file order is kept.

This module finds and reads the files and runs the pipeline; the steps live beside it:
the types in :mod:`~guardian_rct.compliance.ping_types`, the row checks in
:mod:`~guardian_rct.compliance.ping_validation` and the duplicate keys in
:mod:`~guardian_rct.compliance.ping_dedupe`. Their public names are importable from here
too.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from guardian_rct._core.errors import DataError, UsageError, where
from guardian_rct._core.in_order import in_order
from guardian_rct._core.quarantine import concat_quarantines
from guardian_rct.compliance.ping_dedupe import Deduplicator
from guardian_rct.compliance.ping_sources import PING_SUFFIXES, ping_files
from guardian_rct.compliance.ping_types import PingChunk, PingOptions, PingSet
from guardian_rct.compliance.ping_validation import validate_chunk

__all__ = ["ping_files", "iter_raw_chunks", "iter_checked_chunks", "map_raw_chunks", "iter_ping_chunks", "read_pings", "area_around", "prefetch", "even_batch_rows",
           "checked_in_parallel", "WORKERS"]

_OPTIONAL = ("officer_id", "team", "accuracy_m")
#: Chunks checked at once (threads): the cores, at most 4 (memory grows with each).
WORKERS = max(1, min(4, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def _canonical(columns: list[str], path: Path) -> dict[str, str]:
    """Map canonical names to the file's column names; check the required ones.

    Only contract columns are mapped: other columns (``collar_number``, ``officer_name``,
    ``imei``...) are never read, so they cannot reach the quarantine or any output.
    """
    lower: dict[str, list[str]] = {}
    for col in columns:
        lower.setdefault(str(col).strip().lower(), []).append(col)
    has_ll = "lat" in lower and "lon" in lower
    has_xy = "x" in lower and "y" in lower
    missing = [c for c in ("device_id", "timestamp") if c not in lower]
    if not (has_ll or has_xy):
        missing.append("lat/lon or x/y")
    if missing:
        raise DataError(f"ping file is missing column(s) {', '.join(missing)}", where=where(path),
                        expected="device_id, timestamp and lat/lon (WGS84) or x/y (trial CRS); "
                        "optional officer_id, team, accuracy_m",
                        found="columns " + (", ".join(map(str, columns)) or "none"),
                        fix="rename the columns to the ping contract (README, 'Weekly compliance')")
    wanted = ["device_id", "timestamp", *(("lat", "lon") if has_ll else ("x", "y")), *_OPTIONAL]
    for name in wanted:
        if len(lower.get(name, [])) > 1:
            raise DataError(f"ping file has {len(lower[name])} columns that mean '{name}'", where=where(path),
                            expected=f"one column named {name} (names are matched without case)",
                            found="columns " + ", ".join(map(repr, lower[name])),
                            fix="drop or rename all but one of them")
    return {c: lower[c][0] for c in wanted if c in lower}


def _timestamp_type_ok(typ: pa.DataType) -> bool:
    """Whether a Parquet timestamp column of type ``typ`` is accepted."""
    if pa.types.is_dictionary(typ):
        typ = typ.value_type
    return (pa.types.is_timestamp(typ) or pa.types.is_string(typ) or pa.types.is_large_string(typ)
            or pa.types.is_null(typ) or getattr(pa.types, "is_string_view", lambda t: False)(typ))


def _check_parquet_types(schema: pa.Schema, cols: dict[str, str], path: Path) -> None:
    """Refuse a timestamp column whose type cannot hold instants (dates, numbers, ...)."""
    name = cols["timestamp"]
    typ = schema.field(name).type
    if _timestamp_type_ok(typ):
        return
    if pa.types.is_date(typ):
        raise DataError(f"ping column '{name}' holds dates without a time of day ({typ})", where=where(path),
                        expected="a Parquet timestamp (with time zone) or ISO 8601 text with an offset",
                        found=str(typ), fix="export the fix time of each ping, not its date")
    raise DataError(f"ping column '{name}' cannot hold timestamps ({typ})", where=where(path),
                    expected="a Parquet timestamp (with time zone) or ISO 8601 text with an offset",
                    found=str(typ), fix="convert the column to a timestamp or to text such as "
                    "2023-05-01T10:00:00Z (epoch numbers are not guessed at)")


def _csv_header(path: Path) -> list[str]:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        try:
            line = handle.readline()
        except UnicodeDecodeError:
            raise DataError("ping file is not UTF-8 text", where=where(path),
                            fix="save the CSV as UTF-8") from None
    if not line.strip():
        raise DataError("ping file is empty", where=where(path), expected="a header row",
                        found="no header", fix="export the pings with a header row")
    return next(csv.reader(io.StringIO(line)))


def iter_raw_chunks(path: Path, chunk_rows: int, *,
                    row_groups: tuple[int, int] | None = None) -> Iterator[tuple[int, pd.DataFrame, dict[str, str]]]:
    """Yield ``(first_row, raw_frame, column_map)`` chunks of one file, unvalidated.

    Only the contract columns are read, under their canonical names (``column_map`` is
    then the identity). CSV columns are read as text (so that a stray letter in a number
    is a quarantined row, not a failed read); Parquet columns keep their types, and a
    timestamp column of a type that cannot hold instants is refused. ``row_groups``
    ``(start, stop)`` reads only those row groups of a Parquet file (one task of the Dask
    engine); ``first_row`` stays the row's number in the whole file.
    """
    kind = PING_SUFFIXES[path.suffix.lower()]
    first = 1
    if row_groups is not None and kind == "csv":
        raise ValueError("row_groups applies to Parquet files only")
    if kind == "csv":
        header = _csv_header(path)
        cols = _canonical(header, path)
        types = {c: pa.string() for c in header}
        block = max(1 << 16, min(1 << 28, chunk_rows * 80))
        rename = {v: k for k, v in cols.items()}
        try:
            reader = pacsv.open_csv(
                path, read_options=pacsv.ReadOptions(block_size=block, encoding="utf8"),
                convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                                     quoted_strings_can_be_null=False,
                                                     include_columns=list(cols.values())))
            for batch in reader:
                frame = batch.to_pandas().rename(columns=rename)
                yield first, frame, {c: c for c in cols}
                first += len(frame)
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0]
            row = _row_with_wrong_fields(path, len(header), first)
            raise DataError(f"cannot read the ping CSV ({detail})", where=where(path, row or first),
                            found=None if row else f"a row at or after row {first} (the block of rows "
                            "being read)", fix="check that every row has the header's number of fields "
                            "and the file is UTF-8 CSV") from None
        return
    try:
        # pre_buffer=False: a pre-buffering reader keeps every column chunk it has read until it
        # is closed (a 1.2 GB file of 50 M pings: 1.4 GB resident just to iterate; 0.24 GB without).
        handle = pq.ParquetFile(path, pre_buffer=False)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"cannot read the ping file as Parquet ({str(exc).splitlines()[0]})",
                        where=where(path), fix="check that the file is a complete Parquet file") from None
    cols = _canonical(handle.schema_arrow.names, path)
    _check_parquet_types(handle.schema_arrow, cols, path)
    rename = {v: k for k, v in cols.items()}
    same = {c: c for c in cols}
    ids = _text_id_columns(handle.schema_arrow, cols)
    if ids:  # read as dictionaries: ids repeat, so they are decoded, trimmed and hashed per distinct value
        handle = pq.ParquetFile(path, read_dictionary=ids, pre_buffer=False)
    chosen = None
    if row_groups is not None:
        chosen = range(*row_groups)
        first += sum(handle.metadata.row_group(g).num_rows for g in range(row_groups[0]))
    batch_rows = even_batch_rows(handle.metadata, chosen, chunk_rows)
    batches = handle.iter_batches(batch_size=batch_rows, columns=list(cols.values()), row_groups=chosen)
    if ids:  # a batch of dictionaries ends with its row group: join short ones up to chunk_rows
        batches = _joined_batches(batches, chunk_rows)
    while True:
        try:
            batch = next(batches, None)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"cannot read the ping Parquet file ({str(exc).splitlines()[0]})",
                            where=where(path, first), fix="check that the file is a complete Parquet "
                            "file with UTF-8 text columns") from None
        if batch is None:
            return
        _check_utf8(batch, path, first)
        frame = _batch_frame(batch, ids, rename)
        yield first, frame, same
        first += len(frame)


def _row_with_wrong_fields(path: Path, n_fields: int, first: int) -> int | None:
    """The first data row, from row ``first`` on, whose number of fields is not the
    header's ``n_fields`` (``None`` if none is: the reader failed on something else).

    Arrow's CSV reader names the bad line's text but not its number, and fails for the
    whole block of rows it was reading, so the row the error gives is found here, on the
    error path only, with :mod:`csv` (one pass over the file, counting records as the
    reader does: a quoted line break does not start a row)."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for number, fields in enumerate(csv.reader(handle)):  # number 0 is the header
                if number >= first and fields and len(fields) != n_fields:
                    return number
    except (UnicodeDecodeError, csv.Error):
        return None
    return None


def even_batch_rows(metadata: pq.FileMetaData, row_groups: range | None, chunk_rows: int) -> int:
    """Rows per Parquet batch: ``chunk_rows``, or less, so that the longest row group splits
    into equal batches of at most ``chunk_rows`` (groups of 1,000,000 rows at 400,000 a
    chunk: three of 333,334, not 400,000, 400,000 and 200,000; chunks then hold about the
    same memory, and none is a short one with the fixed work of a full one)."""
    groups = row_groups if row_groups is not None else range(metadata.num_row_groups)
    longest = max((metadata.row_group(g).num_rows for g in groups), default=0)
    if longest <= chunk_rows:
        return chunk_rows
    parts = -(-longest // chunk_rows)
    return -(-longest // parts)


def _joined_batches(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Consecutive batches joined into batches of at most ``rows`` rows (each as read when it
    is alone), their dictionaries unified.

    A Parquet reader reading text as dictionaries ends a batch where a row group ends, as
    each row group has its own dictionaries: files of small row groups (DuckDB writes
    122,880 rows a group, polars 262,144) or with short groups among long ones would
    otherwise be scored in chunks of their size, and every chunk costs some fixed work (the
    50-million-ping week of ``scripts/bench_week.py``, whose short groups of bad rows sit
    between groups of a million, read as 173 batches of up to 500,000 rows, joined 101;
    in batches of 333,334, :func:`even_batch_rows`, 225 and 150).
    Joining copies the joined batches' rows once (Arrow, without the GIL).
    """
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if pending and held + batch.num_rows > rows:
            yield _joined(pending)
            pending, held = [], 0
        pending.append(batch)
        held += batch.num_rows
    if pending:
        yield _joined(pending)


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    """One batch of the rows of ``batches`` (same schema), dictionaries unified."""
    if len(batches) == 1 or not any(batch.num_rows for batch in batches):
        return batches[0]
    table = pa.Table.from_batches(batches).unify_dictionaries().combine_chunks()
    return pa.RecordBatch.from_arrays([column.chunk(0) for column in table.columns], schema=table.schema)


_ID_COLUMNS = ("device_id", "officer_id", "team")


def _text_id_columns(schema: pa.Schema, cols: dict[str, str]) -> list[str]:
    """The file's identifier columns (device, officer, team) stored as text."""
    out = []
    for name in _ID_COLUMNS:
        if name in cols:
            typ = schema.field(cols[name]).type
            if pa.types.is_string(typ) or pa.types.is_large_string(typ):
                out.append(cols[name])
    return out


def _batch_frame(batch: pa.RecordBatch, ids: list[str], rename: dict[str, str]) -> pd.DataFrame:
    """The batch as a frame under the canonical names (``rename``); identifier columns read
    as dictionaries stay Arrow dictionaries (``pd.ArrowDtype``), the rest converted as
    ``to_pandas`` does.

    One ``to_pandas`` of the whole batch, each column its own block (``split_blocks``: no
    block of the float columns to copy them into, nor to copy again when reordered), is a
    third of the work of a frame built from each column's ``to_pandas`` (about 0.3 ms a
    chunk instead of 1 ms, held under the GIL). A dictionary column that is not an
    identifier (a Parquet file written from a pandas categorical) is converted by itself,
    as ``to_pandas`` converts it (a categorical).
    """
    # No schema metadata (pyarrow 26 drops it on renaming; said here so that no version keeps
    # it): pandas' (a file written from a frame) would rebuild its index and
    # dtypes as they were, where each column is taken as its Arrow type says.
    batch = batch.rename_columns([rename[name] for name in batch.schema.names]).replace_schema_metadata(None)
    wanted = {rename[name] for name in ids}
    other = [name for name, typ in zip(batch.schema.names, batch.schema.types, strict=True)
             if pa.types.is_dictionary(typ) and name not in wanted]
    if other:
        return _frame_by_column(batch, wanted)
    # use_threads=False: in this thread, not Arrow's pool, which waited for cores the checks
    # keep busy while holding the GIL (py-spy --gil, 50 M week: 0.46 s held here, < 0.15 s).
    return batch.to_pandas(types_mapper=_arrow_dictionary, split_blocks=True, use_threads=False)


def _arrow_dictionary(typ: pa.DataType) -> pd.ArrowDtype | None:
    """``to_pandas`` types mapper: dictionary columns as Arrow dictionaries."""
    return pd.ArrowDtype(typ) if pa.types.is_dictionary(typ) else None


def _frame_by_column(batch: pa.RecordBatch, ids: set[str]) -> pd.DataFrame:
    """:func:`_batch_frame` column by column (dictionaries among the other columns)."""
    columns = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name in ids and pa.types.is_dictionary(column.type):
            columns[name] = pd.arrays.ArrowExtensionArray(column)
        else:
            columns[name] = column.to_pandas().array
    return pd.DataFrame(columns, index=pd.RangeIndex(batch.num_rows), copy=False)


def _check_utf8(batch: pa.RecordBatch, path: Path, first: int) -> None:
    """Refuse text columns whose bytes are not UTF-8 (Parquet writers do not all check)."""
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if pa.types.is_dictionary(column.type):
            column = column.dictionary
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            try:
                column.validate(full=True)
            except pa.ArrowInvalid:
                raise DataError(f"ping column '{name}' holds text that is not UTF-8", where=where(path, first),
                                expected="UTF-8 text", found="invalid byte sequences in this batch of rows",
                                fix="re-export the file with UTF-8 text columns") from None


def prefetch(items: Iterator, depth: int = 1, name: str = "ping-prefetch") -> Iterator:
    """Yield from ``items``, computing the next ``depth`` items in a background thread
    (called ``name``) meanwhile.

    Reading and decoding a chunk (Arrow releases the GIL) then overlaps with checking
    the previous one, so both cores work. Errors are raised in the consumer, at the
    item where they happened; a consumer that stops early stops the thread.
    """
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        box.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            box.put((done, None))
        except BaseException as exc:  # handed to the consumer
            box.put((done, exc))

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            item, exc = box.get()
            if item is done:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def _all_raw_chunks(files: list[Path], chunk_rows: int) -> Iterator[tuple[Path, int, pd.DataFrame, dict[str, str]]]:
    for file in files:
        for first, raw, cols in iter_raw_chunks(file, chunk_rows):
            yield file, first, raw, cols


_POOLS: dict[int, object] = {}


def _pool(workers: int):  # noqa: ANN202 - a concurrent.futures.ThreadPoolExecutor
    """A process-wide pool of ``workers`` threads, made once and reused (each thread keeps
    its own cached PROJ transformer, which takes ~50 ms to build)."""
    from concurrent.futures import ThreadPoolExecutor

    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ping-check")
    return _POOLS[workers]


def checked_in_parallel(items: Iterator, check, workers: int = WORKERS) -> Iterator:  # noqa: ANN001
    """``check(item)`` for each of ``items``, in order, ``workers`` at a time in threads.

    At most ``workers`` items are being checked at once (memory stays bounded: about
    ``workers + 2`` chunks are alive, counting the one being read and the one being
    consumed). The checks spend most of their time in Arrow, numpy and PROJ, which
    release the GIL, so on a machine with two cores both work. An error is raised in the
    consumer at the item that failed; a consumer that stops early cancels the rest.
    """
    if workers <= 1:
        yield from map(check, items)
        return
    pool = _pool(workers)
    yield from in_order(lambda item: pool.submit(check, item), items, workers)


def map_raw_chunks(path: str | Path, options: PingOptions,
                   work: Callable[[Path, int, pd.DataFrame, dict[str, str]], Any]) -> Iterator[Any]:
    """``work(file, first_row, raw, columns)`` for each raw chunk of every ping file at
    ``path``, in reading order, in the worker threads.

    The next chunk is read while earlier ones are worked on (:func:`prefetch`), and
    chunks are worked on :data:`WORKERS` at a time (:func:`checked_in_parallel`).
    ``raw.attrs["first_row"]`` is set before ``work`` runs.
    """
    if options.timezone is not None:
        _check_zone(options.timezone)
    files = ping_files(path)

    def run(item: tuple[Path, int, pd.DataFrame, dict[str, str]]) -> Any:
        file, first, raw, cols = item
        raw.attrs["first_row"] = first
        return work(file, first, raw, cols)

    yield from checked_in_parallel(prefetch(_all_raw_chunks(files, options.chunk_rows)), run)


def iter_checked_chunks(path: str | Path, options: PingOptions | None = None,
                        then: Callable[[PingChunk], Any] | None = None,
                        ) -> Iterator[tuple[Path, pd.DataFrame, PingChunk, Any]]:
    """``(file, raw, chunk, then(chunk))`` for each chunk of every ping file at ``path``,
    in reading order, validated but *not* de-duplicated (duplicates depend on the
    chunks before, so they are found in the consumer: :class:`Deduplicator`).

    Chunks are read and checked as by :func:`map_raw_chunks`; ``then`` (e.g. assigning
    the chunk's pings to hotspots) runs in the same worker thread right after the
    checks, so it uses the cores too (``None`` when not given).
    """
    options = options or PingOptions()

    def check(file: Path, first: int, raw: pd.DataFrame, cols: dict[str, str]) -> tuple[Path, pd.DataFrame, PingChunk, Any]:
        chunk = validate_chunk(raw, cols, source=file, first_row=first, options=options)
        return file, raw, chunk, None if then is None else then(chunk)

    yield from map_raw_chunks(path, options, check)


def iter_ping_chunks(path: str | Path, options: PingOptions | None = None) -> Iterator[PingChunk]:
    """Validated, de-duplicated chunks of every ping file at ``path`` (a file or folder).

    Chunks are read and checked as by :func:`iter_checked_chunks`; duplicates are then
    removed one chunk after another in reading order, so the first copy is kept.
    """
    with Deduplicator() as dedup:
        for file, raw, chunk, _ in iter_checked_chunks(path, options):
            yield dedup(chunk, raw, source=file)


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"unknown time zone '{name}'", expected="an IANA name such as Europe/London",
                         found=repr(name), where="--ping-timezone", fix="use a name from the tz database") from None


def read_pings(path: str | Path, options: PingOptions | None = None) -> PingSet:
    """Read every ping at ``path`` into memory (small data and tests; the weekly job
    streams with :func:`iter_ping_chunks` instead)."""
    frames, quarantines, n = [], [], 0
    for chunk in iter_ping_chunks(path, options):
        frames.append(chunk.frame)
        quarantines.append(chunk.quarantine)
        n += chunk.n_read
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["device_id", "officer_id", "team", "time", "x", "y", "accuracy_m", "source_row", "key"])
    return PingSet(frame=frame, quarantine=concat_quarantines(quarantines), n_read=n,
                   sources=tuple(str(p) for p in ping_files(path)))


def area_around(bounds: np.ndarray | tuple[float, float, float, float], grow_m: float = 50_000.0
                ) -> tuple[float, float, float, float]:
    """The plausible-ping area: hotspot bounds grown by ``grow_m`` metres."""
    xmin, ymin, xmax, ymax = (float(v) for v in bounds)
    return (xmin - grow_m, ymin - grow_m, xmax + grow_m, ymax + grow_m)

