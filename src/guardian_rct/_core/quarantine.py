"""Rows that cannot be used: kept with a reason, counted, written out, never dropped silently.

Every reader (pings, crimes, street crimes) returns the rows it used and a
:class:`Quarantine` of the rest, so that ``read = used + quarantined`` always holds and the
counts by reason can be reported (DESIGN.md rule 3).

A reader that may meet millions of bad rows (the ping reader) collects them with a
:class:`QuarantineSpool`: rows beyond ``max_rows_in_memory`` are appended to an Arrow IPC
file (LZ4-compressed record batches: ten times cheaper to write and read back than
Parquet, about twice its size) in a private temporary folder, so memory stays bounded however many rows are bad;
:meth:`Quarantine.write_parquet` (the default for the ping quarantine, ``[outputs]
large_tables``) and :meth:`Quarantine.write_csv` then stream them out batch by batch: one
Parquet row group or one block of CSV text per batch, so writing is bounded in memory too.
"""

from __future__ import annotations

import os
import tempfile
import weakref
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.ipc  # noqa: F401 - pa.ipc
import pyarrow.parquet as pq

from guardian_rct._core.arrow_csv import csv_bytes, supported
from guardian_rct._core.formula_safe import escape_arrow, formula_safe_frame, text_array
from guardian_rct._core.output_options import csv_bom_enabled
from guardian_rct._core.safe_write import atomic_path

__all__ = ["Quarantine", "QuarantineSpool", "SpilledRows", "RowsAsRead", "rows_as_read", "quarantine_rows",
           "concat_quarantines"]

#: ``to_pandas`` types mapper: the spill file's text columns as pandas strings.
_TEXT = {pa.string(): pd.StringDtype()}.get

#: A column transform applied while writing (e.g. pseudonymising an identifier column):
#: element-wise, so it is called once on a batch's distinct values.
Transform = Callable[[list[str]], list[str]]


@dataclass(frozen=True)
class SpilledRows:
    """Quarantined rows written to a temporary Arrow IPC file (all columns text)."""

    path: Path
    n: int
    counts: tuple[tuple[str, int], ...]
    sources: tuple[str, ...] = ()
    #: Rows of each record batch of the file, in order (empty: not recorded).
    batch_rows: tuple[int, ...] = ()


@dataclass(frozen=True)
class Quarantine:
    """Unusable input rows.

    Attributes
    ----------
    frame
        The rows held in memory: the original columns (as text) plus ``source`` (file),
        ``source_row`` (1-based data row, header excluded) and ``reason`` (a short, fixed
        phrase such as ``"missing coordinates"``), in file order. When ``spilled`` is set
        these are the rows after the spilled ones; :meth:`to_frame` loads them all.
    spilled
        Earlier rows kept on disk by a :class:`QuarantineSpool` (``None``: all in memory).
    """

    frame: pd.DataFrame
    spilled: SpilledRows | None = field(default=None)

    def __len__(self) -> int:
        return len(self.frame) + (self.spilled.n if self.spilled else 0)

    def __reduce__(self) -> tuple:
        """Pickled with every row: a spilled quarantine's file belongs to the original
        object (removed when it is garbage-collected) and is on this machine only, so a
        copy sent to another process (a Dask worker's result moved, or spilled to disk
        under memory pressure) carries its rows in memory instead of a path that may be
        gone. The Dask engine runs the tasks reading a task's quarantine where it is, so
        this is the rare path."""
        return (Quarantine, (self.to_frame(),) if self.spilled is not None else (self.frame,))

    def counts(self) -> dict[str, int]:
        """Number of quarantined rows per reason, largest first."""
        total: Counter[str] = Counter(dict(self.spilled.counts) if self.spilled else {})
        if not self.frame.empty:
            total.update({str(k): int(v) for k, v in self.frame["reason"].value_counts().items()})
        return dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))

    def iter_frames(self, batch_rows: int = 200_000) -> Iterator[pd.DataFrame]:
        """The rows in file order, in frames of at most about ``batch_rows`` rows."""
        for batch in self._spilled_batches(batch_rows):
            yield batch.to_pandas(types_mapper=_TEXT)
        if len(self.frame):
            yield self.frame

    def _spilled_batches(self, batch_rows: int | None, batches: range | None = None) -> Iterator[pa.RecordBatch]:
        """The spilled rows in record batches of at most ``batch_rows`` rows (``None``: the
        file's batches whole), of the file's record batches numbered ``batches`` (default all)."""
        if self.spilled is None:
            return
        if not self.spilled.path.exists():  # e.g. a Dask task's quarantine read on another machine
            raise FileNotFoundError(f"quarantined rows spilled to {self.spilled.path} are gone: the file "
                                    "is removed with its quarantine and lives on the machine that made it")
        with pa.OSFile(str(self.spilled.path), "rb") as source:  # not mmap: touched pages count as RSS
            reader = pa.ipc.open_file(source)
            for i in batches if batches is not None else range(reader.num_record_batches):
                batch = reader.get_batch(i)
                step = batch_rows or max(batch.num_rows, 1)
                for start in range(0, batch.num_rows, step):
                    yield batch.slice(start, step)

    def _part_plan(self, rows: int) -> list[tuple[str, int, int]]:
        """Parts of about ``rows`` rows, in file order: ``("spilled", first, stop)`` runs of
        the spill file's record batches (whole batches, together until they hold ``rows``),
        then ``("memory", start, stop)`` slices of :attr:`frame`."""
        plan: list[tuple[str, int, int]] = []
        if self.spilled is not None:
            sizes = self.spilled.batch_rows
            if not sizes:  # not recorded: the file's batches one by one
                with pa.OSFile(str(self.spilled.path), "rb") as source:
                    sizes = (rows,) * pa.ipc.open_file(source).num_record_batches
            first = held = 0
            for i, size in enumerate(sizes):
                held += size
                if held >= rows or i == len(sizes) - 1:
                    plan.append(("spilled", first, i + 1))
                    first, held = i + 1, 0
        plan += [("memory", a, min(a + rows, len(self.frame))) for a in range(0, len(self.frame), rows)]
        return plan

    def n_parts(self, rows: int = 200_000) -> int:
        """How many parts of about ``rows`` rows :meth:`part` gives (fetching a quarantine
        from another process a part at a time bounds the memory of both)."""
        return len(self._part_plan(rows))

    def part(self, j: int, rows: int = 200_000) -> pd.DataFrame:
        """Part ``j`` of the rows (in file order; parts of about ``rows`` rows, whole
        record batches of the spill file, so a part may hold a little more)."""
        kind, a, b = self._part_plan(rows)[j]
        if kind == "memory":
            return self.frame.iloc[a:b].reset_index(drop=True)
        batches = list(self._spilled_batches(None, range(a, b)))
        return pa.Table.from_batches(batches).to_pandas(types_mapper=_TEXT)

    def to_frame(self) -> pd.DataFrame:
        """All the rows in one frame (loads spilled rows into memory)."""
        if self.spilled is None:
            return self.frame
        return pd.concat(list(self.iter_frames()), ignore_index=True)

    def sources(self) -> list[str]:
        """The files the rows came from (in memory and spilled)."""
        found = list(self.spilled.sources) if self.spilled else []
        if "source" in self.frame.columns:
            found += [str(v) for v in self.frame["source"].dropna().unique() if str(v)]
        return list(dict.fromkeys(found))

    def write_csv(self, path: str | Path, transforms: Mapping[str, Transform] | None = None, *,
                  inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the quarantined rows (with their reasons) as CSV, atomically, streaming
        batch by batch (memory stays bounded for a spilled quarantine).

        ``transforms`` maps a column name (matched without case or surrounding spaces) to
        an element-wise function applied to its values as text (called once on each
        batch's distinct values), e.g. a pseudonymiser for identifiers. The text is built
        in Arrow (:mod:`guardian_rct._core.arrow_csv`): the bytes ``DataFrame.to_csv`` writes.
        Refuses a ``path`` that is one of ``inputs`` or of the files these rows came from,
        or a protected trial file; cells a spreadsheet would run as formulas are escaped
        (:mod:`guardian_rct._core.formula_safe`).
        """
        transforms = {k.strip().lower(): f for k, f in (transforms or {}).items()}
        with atomic_path(path, inputs=[*inputs, *self.sources()], what="quarantine file") as tmp:
            with open(tmp, "wb") as handle:
                if csv_bom_enabled():  # --csv-bom / [outputs] csv_bom, as every CSV (_core.csv_output)
                    handle.write(b"\xef\xbb\xbf")
                header = True
                for part in self._iter_parts():
                    handle.write(_csv_part(part, transforms, header))
                    header = False
                if header:
                    handle.write(formula_safe_frame(self.frame).to_csv(index=False).encode("utf-8"))
        return Path(path)

    def write_parquet(self, path: str | Path, transforms: Mapping[str, Transform] | None = None, *,
                      inputs: Iterable[str | Path | None] = ()) -> Path:
        """Write the quarantined rows (with their reasons) as Parquet, atomically, streaming:
        one row group per batch, so memory stays bounded for a spilled quarantine.

        The columns are those of :meth:`write_csv`, in the same order: ``source_row`` as a
        64-bit integer, every other column as text exactly as read (``""`` where the row had
        no value; no spreadsheet formula escaping: Parquet is not opened as a sheet, and the
        raw text is what a data manager needs to fix the export). ``transforms``,
        ``inputs`` and the refusals are as for :meth:`write_csv`.
        """
        transforms = {k.strip().lower(): f for k, f in (transforms or {}).items()}
        with atomic_path(path, inputs=[*inputs, *self.sources()], what="quarantine file") as tmp:
            writer: pq.ParquetWriter | None = None
            schema = None
            try:
                for part in self._iter_parts():
                    table = _parquet_part(part, transforms)
                    if writer is None:
                        schema = table.schema
                        writer = pq.ParquetWriter(str(tmp), schema, compression="zstd")
                    writer.write_table(_conform_table(table, schema))
                if writer is None:  # no rows: the header alone, as the CSV has
                    table = _parquet_part(self.frame, transforms)
                    writer = pq.ParquetWriter(str(tmp), table.schema, compression="zstd")
                    writer.write_table(table)
            finally:
                if writer is not None:
                    writer.close()
        return Path(path)

    def _iter_parts(self, batch_rows: int = 200_000) -> Iterator[pa.Table | pd.DataFrame]:
        """The rows in file order, as Arrow tables where they are text and integers (the
        spilled rows always are), else as frames."""
        for batch in self._spilled_batches(batch_rows):
            yield pa.Table.from_batches([batch])
        if len(self.frame):
            yield _as_arrow(self.frame)


def _as_arrow(frame: pd.DataFrame) -> pa.Table | pd.DataFrame:
    """``frame`` as an Arrow table if every column is text or integers, else itself."""
    columns = {}
    for i, name in enumerate(frame.columns):
        series = frame.iloc[:, i]
        if pd.api.types.is_integer_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
            columns[name] = pa.array(series, from_pandas=True)
            continue
        arr = text_array(series)
        if arr is None:
            return frame
        columns[name] = arr
    if len(set(map(str, columns))) < len(columns):
        return frame
    table = pa.table({str(k): v for k, v in columns.items()})
    return table if supported(table.schema) else frame


def _apply(transform: Transform, values: pa.Array) -> pa.Array:
    """``transform`` applied to a column's text (``""`` for missing), called once on its
    distinct values (transforms are element-wise, e.g. a pseudonymiser)."""
    text = pc.fill_null(pc.cast(values, pa.large_string()), "")
    encoded = pc.dictionary_encode(text)
    mapped = pa.array([str(v) for v in transform(encoded.dictionary.to_pylist())], type=pa.large_string())
    return mapped.take(encoded.indices)


def _parquet_part(part: pa.Table | pd.DataFrame, transforms: Mapping[str, Transform]) -> pa.Table:
    """One batch of quarantined rows as an Arrow table for Parquet: ``source_row`` as
    ``int64``, every other column as text (missing as ``""``), transformed."""
    names = [str(c) for c in part.columns] if isinstance(part, pd.DataFrame) else part.column_names
    columns = []
    for i, name in enumerate(names):
        if isinstance(part, pd.DataFrame):
            series = part.iloc[:, i]
            if name == "source_row":
                columns.append(pa.array(series.to_numpy(dtype="int64"), type=pa.int64()))
                continue
            values = pa.array(series.astype("string"), type=pa.string(), from_pandas=True)
        else:
            values = part.column(i).combine_chunks()
            if name == "source_row":
                columns.append(pc.cast(values, pa.int64()))
                continue
        fn = transforms.get(name.strip().lower())
        if fn is not None:
            values = _apply(fn, values)
        columns.append(pc.fill_null(pc.cast(values, pa.string()), ""))
    return pa.table(columns, names=names)


def _conform_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with the columns of ``schema`` (the first batch's), in its order; a column
    a later batch lacks is ``""`` (a batch with a column the first lacked is refused, not cut)."""
    extra = set(table.column_names) - set(schema.names)
    if extra:
        raise ValueError(f"quarantine batch has columns the first batch had not: {sorted(extra)}")
    columns = [table.column(n) if n in table.column_names else pa.array([""] * table.num_rows, pa.string())
               for n in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def _csv_part(part: pa.Table | pd.DataFrame, transforms: Mapping[str, Transform], header: bool) -> bytes:
    """The CSV text of one batch of quarantined rows: transformed, formula-escaped, and
    formatted as ``DataFrame.to_csv(index=False)`` would (:mod:`guardian_rct._core.arrow_csv`)."""
    if isinstance(part, pd.DataFrame):
        frame = part.copy()
        for col in frame.columns:
            fn = transforms.get(str(col).strip().lower())
            if fn is not None:
                frame[col] = fn(frame[col].fillna("").astype(str).tolist())
        return formula_safe_frame(frame).to_csv(index=False, header=header).encode("utf-8")
    columns = []
    for name, column in zip(part.column_names, part.columns, strict=True):
        values = column.combine_chunks()
        fn = transforms.get(str(name).strip().lower())
        if fn is not None:
            values = _apply(fn, values)
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = escape_arrow(values)
        columns.append(values)
    return csv_bytes(pa.table(columns, names=part.column_names), header=header)


def rows_as_text(raw: pd.DataFrame, positions: Sequence[int] | np.ndarray) -> pd.DataFrame:
    """The rows of ``raw`` at ``positions`` as Arrow-backed text, converted in Arrow (no
    Python string per cell, so a chunk of millions of bad rows stays small and fast): the
    one text form of a quarantined row read from a typed file (Parquet), whatever made it
    unusable."""
    rows = raw.iloc[np.asarray(positions, dtype=np.int64)]  # those rows only, before any conversion
    out = {col: pd.arrays.ArrowStringArray(_as_text(_typed_array(rows[col]))) for col in rows.columns}
    # Arrays, not Series: a frame of Series aligns their indexes first (~1 ms a chunk).
    return pd.DataFrame(out, index=pd.RangeIndex(len(rows)), copy=False)


def _typed_array(values: pd.Series) -> pa.Array:
    """One column of rows as read as one Arrow array (dictionaries decoded, not yet text)."""
    arr = pa.array(values, from_pandas=True)
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return arr.dictionary_decode() if pa.types.is_dictionary(arr.type) else arr


def _as_text(arr: pa.Array) -> pa.Array:
    """Arrow values as text (nulls kept; text as it is)."""
    return arr if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type) else pc.cast(arr, pa.string())


@dataclass(frozen=True, eq=False)
class RowsAsRead:
    """Quarantined rows as read (typed, not yet text), with their reasons: the cheap form of
    a chunk's quarantine while pings stream. :meth:`QuarantineSpool.add` turns the rows of
    many chunks into text at once (a quarantine of each chunk's few bad rows cost about
    2 ms of fixed pandas and Arrow work, 1 CPU-s on a 50-million-ping week).

    Attributes
    ----------
    rows
        The rows, typed as read (a slice of the raw chunk).
    reason
        Reason of each row (one string, or one per row).
    source
        The file they came from.
    source_row
        Their 1-based data rows.
    """

    rows: pd.DataFrame
    reason: str | np.ndarray
    source: str
    source_row: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def to_quarantine(self) -> Quarantine:
        """The rows as a :class:`Quarantine` (text, as :func:`quarantine_rows` of
        :func:`rows_as_text`)."""
        if not len(self.rows):
            return concat_quarantines([])
        reason = self.reason if isinstance(self.reason, str) else pd.Series(self.reason, dtype="string")
        return quarantine_rows(rows_as_text(self.rows, np.arange(len(self.rows))), reason, source=self.source,
                               source_row=pd.Series(self.source_row))


def rows_as_read(raw: pd.DataFrame, positions: np.ndarray, reason: str | np.ndarray, *,
                 source: str | Path | None, first_row: int) -> RowsAsRead:
    """The rows of the raw chunk ``raw`` (whose first row is file row ``first_row``) at
    ``positions``, quarantined as read with ``reason``."""
    positions = np.asarray(positions, dtype=np.int64)
    return RowsAsRead(rows=raw.iloc[positions], reason=reason, source=str(source) if source is not None else "",
                      source_row=positions + first_row)


def _text_frame(pieces: list[RowsAsRead]) -> pd.DataFrame:
    """Rows as read, of pieces with the same columns, as one quarantine frame: what
    :meth:`RowsAsRead.to_quarantine` of each gives, joined, with each column made text in
    one Arrow cast."""
    out: dict[str, object] = {
        "source": np.repeat(np.array([p.source for p in pieces], dtype=object), [len(p) for p in pieces]),
        "source_row": np.concatenate([np.asarray(p.source_row, dtype=np.int64) for p in pieces]),
        "reason": np.concatenate([np.full(len(p), p.reason, dtype=object) if isinstance(p.reason, str)
                                  else np.asarray(p.reason, dtype=object) for p in pieces]),
    }
    dtypes = pieces[0].rows.dtypes
    if all(p.rows.dtypes.equals(dtypes) for p in pieces):
        # One frame of the rows, each column then made Arrow and text once: a third of the
        # work of taking every piece's columns one by one (the usual case: one file, or files
        # of one schema).
        rows = pd.concat([p.rows for p in pieces], ignore_index=True)
        for col in rows.columns:
            out[col] = pd.arrays.ArrowStringArray(_as_text(_typed_array(rows[col])))
        return pd.DataFrame(out, copy=False)
    for col in pieces[0].rows.columns:
        typed = [_typed_array(p.rows[col]) for p in pieces]
        if len({a.type for a in typed}) > 1:  # e.g. a column all null in some chunks
            typed = [pc.cast(a, pa.string()) for a in typed]
        out[col] = pd.arrays.ArrowStringArray(_as_text(pa.concat_arrays(typed)))
    return pd.DataFrame(out, copy=False)


def quarantine_rows(rows: pd.DataFrame, reason: pd.Series | str, *, source: str | Path | None,
                    source_row: pd.Series) -> Quarantine:
    """Build a Quarantine from the unusable ``rows`` and their reasons."""
    frame = rows.astype("string").copy()
    frame.insert(0, "reason", reason if isinstance(reason, str) else reason.astype("string").to_numpy())
    frame.insert(0, "source_row", source_row.to_numpy())
    frame.insert(0, "source", str(source) if source is not None else "")
    return Quarantine(frame.reset_index(drop=True))


def concat_quarantines(parts: list[Quarantine]) -> Quarantine:
    """Join in-memory quarantines from several chunks or files, keeping their order."""
    if any(q.spilled is not None for q in parts):
        raise ValueError("concat_quarantines joins in-memory quarantines; use a QuarantineSpool")
    frames = [q.frame for q in parts if len(q.frame)]
    if not frames:
        return Quarantine(pd.DataFrame(columns=["source", "source_row", "reason"]))
    return Quarantine(pd.concat(frames, ignore_index=True))


class QuarantineSpool:
    """Collects quarantined rows chunk by chunk with bounded memory.

    Rows are kept in memory until more than ``max_rows_in_memory`` have arrived; from
    then on every batch is appended to an Arrow IPC file (all columns as text, fixed
    ``columns``) in a private temporary folder, removed when the resulting
    :class:`Quarantine` is garbage-collected or the process exits; until :meth:`finish`
    it belongs to the spool, removed when the spool is garbage-collected (a run that
    failed after spilling) or the process exits.

    Parameters
    ----------
    columns
        Every column a quarantined row can have, in output order (rows lacking one get
        ``""``); required because a spill file has one schema.
    max_rows_in_memory
        Rows held before spilling to disk.
    batch_rows
        Quarantines added are gathered until they hold this many rows and then conformed
        and stored (or spilled) together: the weekly job adds one small quarantine per
        chunk of pings, and conforming each alone cost milliseconds per chunk.
    slice_rows
        A quarantine of more than twice this many rows added alone (a chunk of pings nearly
        all bad) is made text and stored in slices of this many rows, which bounds the text
        and its copies held at once: a 5-million-ping file of bad rows in chunks of 500 000
        peaked at 927-977 MB (maximum RSS) stored whole, 782-788 MB in slices of 100 000,
        and 727-748 MB in slices of 20 000, which took a third longer (each slice costs
        some fixed work).
    """

    def __init__(self, columns: tuple[str, ...], *, max_rows_in_memory: int = 200_000,
                 batch_rows: int = 20_000, slice_rows: int = 100_000) -> None:
        self.columns = tuple(columns)
        self.max_rows = int(max_rows_in_memory)
        self.batch_rows = int(batch_rows)
        self.slice_rows = int(slice_rows)
        self._pending: list[pd.DataFrame | RowsAsRead] = []
        self._groups: list[int] = []  # per pending frame: the add() call it came with
        self._pending_rows = 0
        self._frames: list[pd.DataFrame] = []
        self._in_memory = 0
        self._writer: pa.ipc.RecordBatchFileWriter | None = None
        self._sink: pa.NativeFile | None = None
        self._path: Path | None = None
        self._cleanup: weakref.finalize | None = None
        self._batch_rows: list[int] = []  # rows of each record batch written
        self._spilled = 0
        self._counts: Counter[str] = Counter()
        self._sources: dict[str, None] = {}
        self._schema = pa.schema([("source", pa.string()), ("source_row", pa.int64()),
                                  ("reason", pa.string()), *((c, pa.string()) for c in self.columns)])

    def _conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        out = pd.DataFrame({"source": frame["source"].astype("string"),
                            "source_row": frame["source_row"].to_numpy(dtype="int64"),
                            "reason": frame["reason"].astype("string")})
        for col in self.columns:
            out[col] = frame[col].astype("string").fillna("") if col in frame.columns else ""
            out[col] = out[col].astype("string")
        return out

    def add(self, quarantine: Quarantine | RowsAsRead, among: Quarantine | RowsAsRead | None = None) -> None:
        """Append an in-memory quarantine's rows (in file order).

        ``among``: more rows of the same part of the same file (e.g. a chunk's duplicates,
        found after its other rows were quarantined), each put among ``quarantine``'s rows
        by source row (after the rows of equal source row) when the rows are stored: so a
        chunk's two quarantines need not be joined and sorted while the pings stream.
        Rows as read (:class:`RowsAsRead`) are made text when stored, many chunks at once.
        """
        items = [q.frame if isinstance(q, Quarantine) else q for q in (quarantine, among) if q is not None]
        items = [item for item in items if len(item)]
        if not items:
            return
        group = len(self._pending)
        self._pending.extend(items)
        self._groups.extend([group] * len(items))
        self._pending_rows += sum(len(item) for item in items)
        if self._pending_rows >= self.batch_rows:
            self._flush()

    @staticmethod
    def _frames_of(pending: list[pd.DataFrame | RowsAsRead]) -> list[pd.DataFrame]:
        """The gathered items as quarantine frames, in order: each run of rows as read
        with the same columns made text together (:func:`_text_frame`)."""
        out: list[pd.DataFrame] = []
        run: list[RowsAsRead] = []
        for item in [*pending, None]:
            if isinstance(item, RowsAsRead) and (not run or list(item.rows.columns) == list(run[0].rows.columns)):
                run.append(item)
                continue
            if run:
                out.append(_text_frame(run))
            run = [item] if isinstance(item, RowsAsRead) else []
            if isinstance(item, pd.DataFrame):
                out.append(item)
        return out

    def _flush(self) -> None:
        """Conform the gathered rows and keep or spill them, in the order added."""
        if not self._pending:
            return
        pending, groups = self._pending, self._groups
        self._pending, self._groups, self._pending_rows = [], [], 0
        for items, item_groups in _in_batches(pending, groups, self.slice_rows):
            self._store(items, item_groups)

    def _store(self, pending: list[pd.DataFrame | RowsAsRead], groups: list[int]) -> None:
        """Conform gathered rows (whole add() groups, or slices of one alone) and keep or
        spill them."""
        frames = self._frames_of(pending)
        frame = self._conform(frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True))
        if len(set(groups)) < len(groups):  # rows added with ``among`` go among their group's rows by source row
            group = np.repeat(np.asarray(groups), [len(f) for f in pending])
            order = np.lexsort((frame["source_row"].to_numpy(dtype=np.int64), group))
            frame = frame.iloc[order].reset_index(drop=True)
        if self._writer is None and self._in_memory + len(frame) <= self.max_rows:
            self._frames.append(frame)
            self._in_memory += len(frame)
            return
        if self._writer is None:
            folder = Path(tempfile.mkdtemp(prefix="guardian-quarantine-"))
            os.chmod(folder, 0o700)
            self._path = folder / "quarantine.arrow"
            # From the first spill the folder is this spool's until finish() hands it to the
            # Quarantine: a run that fails after spilling (a broken row further on, an
            # interrupt) drops the spool, or exits holding it, and the folder of rows as
            # read (raw identifiers) goes then, not left in the temporary folder.
            self._cleanup = weakref.finalize(self, _remove, self._path)
            self._sink = pa.OSFile(str(self._path), "wb")
            self._writer = pa.ipc.new_file(self._sink, self._schema,
                                           options=pa.ipc.IpcWriteOptions(compression="lz4"))
            pending, self._frames, self._in_memory = self._frames, [], 0
            for old in pending:
                self._spill(old)
        self._spill(frame)

    def _spill(self, frame: pd.DataFrame) -> None:
        assert self._writer is not None
        self._writer.write_table(pa.Table.from_pandas(frame, schema=self._schema, preserve_index=False))
        self._batch_rows.append(len(frame))
        self._counts.update({str(k): int(v) for k, v in frame["reason"].value_counts().items()})
        self._sources.update(dict.fromkeys(str(v) for v in frame["source"].dropna().unique() if str(v)))
        self._spilled += len(frame)

    def finish(self) -> Quarantine:
        """The collected rows as a :class:`Quarantine` (spilled rows stay on disk)."""
        self._flush()
        memory = (pd.concat(self._frames, ignore_index=True) if self._frames
                  else self._conform(pd.DataFrame(columns=["source", "source_row", "reason"])))
        if self._writer is None:
            return Quarantine(memory)
        # One record batch per table written (checked, as the parts of a quarantine rely on it).
        one_each = self._writer.stats.num_record_batches == len(self._batch_rows)
        self._writer.close()
        assert self._path is not None and self._sink is not None
        self._sink.close()
        spilled = SpilledRows(path=self._path, n=self._spilled, counts=tuple(self._counts.items()),
                              sources=tuple(self._sources), batch_rows=tuple(self._batch_rows) if one_each else ())
        quarantine = Quarantine(memory, spilled)
        weakref.finalize(quarantine, _remove, self._path)
        if self._cleanup is not None:
            self._cleanup.detach()  # the quarantine's now: removed when it is garbage-collected
            self._cleanup = None
        return quarantine


def _in_batches(items: list[pd.DataFrame | RowsAsRead], groups: list[int], slice_rows: int
                ) -> Iterator[tuple[list[pd.DataFrame | RowsAsRead], list[int]]]:
    """Gathered items in order, as the spool stores them: together, except that an item
    alone in its add() group with more than ``2 * slice_rows`` rows (a chunk of rows that
    are nearly all bad) is stored in slices of ``slice_rows``, so that making rows text
    never holds more than a slice's text and its copies (the items of a group with rows
    ``among`` others stay together: they are sorted by source row together)."""
    batch: list[pd.DataFrame | RowsAsRead] = []
    batch_groups: list[int] = []
    for item, group in zip(items, groups, strict=True):
        alone = len(item) > 2 * slice_rows and groups.count(group) == 1
        if not alone:
            batch.append(item)
            batch_groups.append(group)
            continue
        if batch:
            yield batch, batch_groups
            batch, batch_groups = [], []
        for start in range(0, len(item), slice_rows):
            yield [_rows_slice(item, start, start + slice_rows)], [group]
    if batch:
        yield batch, batch_groups


def _rows_slice(item: pd.DataFrame | RowsAsRead, start: int, stop: int) -> pd.DataFrame | RowsAsRead:
    """Rows ``start:stop`` of a gathered quarantine frame or rows as read."""
    if isinstance(item, pd.DataFrame):
        return item.iloc[start:stop]
    reason = item.reason if isinstance(item.reason, str) else item.reason[start:stop]
    return RowsAsRead(rows=item.rows.iloc[start:stop], reason=reason, source=item.source,
                      source_row=item.source_row[start:stop])


def _remove(path: Path) -> None:
    """Delete a spill file and its private folder."""
    try:
        path.unlink(missing_ok=True)
        path.parent.rmdir()
    except OSError:
        pass
