"""The seam between crime sources and hotspot geometry: located crimes with harm weights.

:mod:`guardian_rct.geo` sits below :mod:`guardian_rct.crimes` and :mod:`guardian_rct.harm`
in the package layers, so the hotspot builder and the coverage statistic do not read crime
files or harm tables themselves. They take any source that satisfies
:class:`HarmWeightedCrimes` (data.police.uk street crimes do:
:meth:`guardian_rct.crimes.policeuk.StreetCrimes.harm_points`) and work on the
:class:`HarmPoints` it returns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import geopandas as gpd
import numpy as np

__all__ = ["HarmPoints", "HarmWeightedCrimes"]


@dataclass(frozen=True)
class HarmPoints:
    """Crimes of the chosen types as points, each with its harm weight.

    Attributes
    ----------
    frame
        GeoDataFrame with point ``geometry`` (metric CRS) and at least ``crime_type``,
        ``month`` (``YYYY-MM``) and ``location`` (e.g. ``"On or near Alfred Road"``).
    harm
        Harm weight of each row of ``frame`` (CCHI days), same length.
    crime_types
        The crime types selected.
    era
        Layout (and so crime-type vocabulary) of the source, e.g. ``"2011"`` or ``"current"``.
    sources
        File name -> SHA-256 of every file the crimes came from (for provenance).
    """

    frame: gpd.GeoDataFrame
    harm: np.ndarray
    crime_types: tuple[str, ...]
    era: str
    sources: Mapping[str, str]

    def __len__(self) -> int:
        return len(self.frame)

    def subset(self, mask: np.ndarray) -> HarmPoints:
        """The rows where ``mask`` is true."""
        return HarmPoints(self.frame[mask], self.harm[mask], self.crime_types, self.era, self.sources)


class HarmWeightedCrimes(Protocol):
    """A crime source that can give its crimes of some types as :class:`HarmPoints`."""

    @property
    def crs(self) -> object:  # a pyproj CRS
        """The CRS of the points."""
        ...

    def harm_points(self, crime_types: Sequence[str] | None = None) -> HarmPoints:
        """The crimes of ``crime_types`` (default: the source's violent types) with harm."""
        ...
