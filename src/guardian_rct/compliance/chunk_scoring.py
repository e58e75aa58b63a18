"""What scoring keeps of a checked chunk: its usable rows' keys and instants, and its
in-hotspot pings as codes, without a frame of the usable rows.

:func:`score_rows` runs in the ping-checking worker threads right after the checks
(:func:`~guardian_rct.compliance.ping_validation.check_rows`): it takes the usable rows'
instants, coordinates and duplicate keys in one compiled pass
(:func:`~guardian_rct.compliance.check_kernels.usable_columns`), assigns them to hotspots
and keeps, for the in-hotspot pings only, their identifiers' dictionary indices: 40 bytes
are copied per usable ping, where the frame of the usable rows took 76 (ten columns and
the key) and its pandas columns a few milliseconds a chunk. The local engine
(:func:`~guardian_rct.compliance.presence.score_pings`) gives the same visits, counts and
quarantine as the frame path (:func:`~guardian_rct.compliance.ping_validation.validate_chunk`,
which the Dask engine uses: the parity tests compare the two).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pyarrow as pa

from guardian_rct._core.quarantine import RowsAsRead
from guardian_rct.compliance.ping_assignment import assign_known
from guardian_rct.compliance.ping_dedupe import PreparedKeys
from guardian_rct.compliance.ping_types import CheckedRows, PingExtent, PingOptions
from guardian_rct.compliance.ping_validation import usable_rows
from guardian_rct.geo.lonlat_index import assign_lonlat
from guardian_rct.geo.point_index import HotspotIndex

__all__ = ["IdCodes", "ScoredChunk", "score_rows"]


class IdCodes(NamedTuple):
    """An identifier of some pings as its chunk's dictionary: the (trimmed) entries and
    each ping's index into them (what :meth:`Codes.encode_indices` takes)."""

    words: np.ndarray
    indices: np.ndarray

    @classmethod
    def of(cls, text: pa.DictionaryArray, rows: np.ndarray) -> IdCodes:
        """The entries of ``text`` and the indices of its ``rows``."""
        indices = text.indices.to_numpy(zero_copy_only=False)
        return cls(words=text.dictionary.to_numpy(zero_copy_only=False), indices=indices[rows])

    def take(self, keep: np.ndarray) -> IdCodes:
        """The pings where ``keep`` (a mask or positions)."""
        return IdCodes(self.words, self.indices[keep])


@dataclass(frozen=True, eq=False)
class ScoredChunk:
    """A checked chunk as scoring keeps it.

    Attributes
    ----------
    quarantine, n_read
        The checks' quarantined rows (as read) and the rows read.
    extent
        Of the usable rows (:class:`~guardian_rct.compliance.ping_types.PingExtent`).
    first_row, positions
        The chunk's first file row and each usable row's position in the chunk (its file
        row is ``first_row + position``).
    time_ns
        UTC instant of each usable row.
    keys
        The usable rows' duplicate keys, prepared (:meth:`Deduplicator.prepare`).
    row, hotspot
        (usable row, hotspot) pairs of the pings in hotspots, sorted by row then hotspot.
    device, officer, team
        The identifiers of those pairs' pings.
    """

    quarantine: RowsAsRead
    n_read: int
    extent: PingExtent
    first_row: int
    positions: np.ndarray
    time_ns: np.ndarray
    keys: PreparedKeys
    row: np.ndarray
    hotspot: np.ndarray
    device: IdCodes
    officer: IdCodes
    team: IdCodes

    @property
    def n_usable(self) -> int:
        """Rows that passed the checks (duplicates included)."""
        return len(self.positions)


def score_rows(checked: CheckedRows, options: PingOptions, index: HotspotIndex,
               prepare: Callable[[np.ndarray], PreparedKeys]) -> ScoredChunk:
    """Keep what scoring needs of checked rows (see :class:`ScoredChunk`).

    Parameters
    ----------
    checked
        From :func:`~guardian_rct.compliance.ping_validation.check_rows`.
    options
        The options the rows were checked with (``locate``: assign in degrees).
    index
        The trial's exact point-in-hotspot index (trial CRS).
    prepare
        The duplicate set's per-chunk preparation (reads no state of the set).
    """
    c = checked
    u = usable_rows(c, options)
    if c.geographic and options.locate is not None:
        row, hotspot = assign_lonlat(options.locate, u.b, u.a)
    elif c.geographic:
        row, hotspot = assign_known(index, c.x[u.positions], c.y[u.positions])
    else:
        row, hotspot = assign_known(index, u.a, u.b)
    at = u.positions[row]
    return ScoredChunk(quarantine=c.quarantine, n_read=c.n_read, extent=u.extent, first_row=c.first_row,
                       positions=u.positions, time_ns=u.ns, keys=prepare(u.key), row=row, hotspot=hotspot,
                       device=IdCodes.of(u.device, at), officer=IdCodes.of(u.officer, at),
                       team=IdCodes.of(u.team, at))
