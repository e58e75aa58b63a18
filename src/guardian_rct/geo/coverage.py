"""How much of the force's area, violence and harm a hotspot set covers.

The report sentence of a hot-spots trial ("57 hotspots cover 1.4% of the force area,
19% of serious youth violence and 18.4% of its harm") is the concentration statistic
of Weisburd's "law of crime concentration" (Weisburd 2015, *Criminology* 53(2)) measured
on harm as well as counts, as in the Cambridge Crime Harm Index hot-spot studies
(Sherman, Neyroud & Neyroud 2016; Weinborn et al. 2017, "Hotspots vs. harmspots",
*Journal of Experimental Criminology* 13(2)).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely

from guardian_rct._core.errors import DataError
from guardian_rct._core.provenance import Provenance, make_provenance
from guardian_rct.geo.checks import Boundary
from guardian_rct.geo.harm_points import HarmWeightedCrimes
from guardian_rct.geo.hotspots import HotspotSet

__all__ = ["Coverage", "coverage", "points_in"]


@dataclass(frozen=True)
class Coverage:
    """Share of area, crimes and harm inside the hotspots.

    Counts and harm are of the selected ``crime_types`` located inside the boundary;
    harm is in CCHI days from the shipped category-level weights
    (:func:`guardian_rct.harm.index.policeuk_category_weights`).
    """

    n_hotspots: int
    hotspot_area_km2: float
    force_area_km2: float
    crimes_total: int
    crimes_in_hotspots: int
    harm_total: float
    harm_in_hotspots: float
    crime_types: tuple[str, ...]
    months: tuple[str, ...]
    crimes_outside_boundary: int
    provenance: Provenance = field(repr=False)

    @property
    def area_share(self) -> float:
        """Share of the force area inside the hotspots."""
        return self.hotspot_area_km2 / self.force_area_km2

    @property
    def crime_share(self) -> float:
        """Share of the selected crimes inside the hotspots (NaN when there are none)."""
        return self.crimes_in_hotspots / self.crimes_total if self.crimes_total else float("nan")

    @property
    def harm_share(self) -> float:
        """Share of the selected crimes' harm inside the hotspots (NaN when there is none)."""
        return self.harm_in_hotspots / self.harm_total if self.harm_total else float("nan")

    def sentence(self) -> str:
        """"N hotspots cover X% of the force area, Y% of violence and Z% of harm"."""
        return (f"{self.n_hotspots} hotspots cover {self.area_share:.2%} of the force area, "
                f"{self.crime_share:.1%} of violence and {self.harm_share:.1%} of harm")

    def summary(self) -> str:
        """The sentence with the numbers behind it."""
        span = f"{self.months[0]} to {self.months[-1]}" if self.months else "no months"
        return "\n".join([
            self.sentence(),
            f"  area: {self.hotspot_area_km2:.3f} of {self.force_area_km2:.1f} km²",
            f"  violence ({', '.join(self.crime_types)}; {span}): {self.crimes_in_hotspots} of "
            f"{self.crimes_total} crimes inside the boundary"
            + (f" ({self.crimes_outside_boundary} more outside it, not counted)"
               if self.crimes_outside_boundary else ""),
            f"  harm: {self.harm_in_hotspots:,.0f} of {self.harm_total:,.0f} CCHI days "
            "(category-level weights)",
        ])

    def to_dict(self) -> dict[str, Any]:
        """The numbers as JSON-ready data."""
        return {
            "sentence": self.sentence(),
            "n_hotspots": self.n_hotspots,
            "hotspot_area_km2": round(self.hotspot_area_km2, 6),
            "force_area_km2": round(self.force_area_km2, 6),
            "area_share": round(self.area_share, 6),
            "crimes_total": self.crimes_total,
            "crimes_in_hotspots": self.crimes_in_hotspots,
            "crime_share": round(self.crime_share, 6),
            "harm_total_cchi_days": round(self.harm_total, 3),
            "harm_in_hotspots_cchi_days": round(self.harm_in_hotspots, 3),
            "harm_share": round(self.harm_share, 6),
            "crime_types": list(self.crime_types),
            "months": list(self.months),
            "crimes_outside_boundary": self.crimes_outside_boundary,
            "provenance": self.provenance.to_dict(),
        }


def points_in(points: np.ndarray, polygons: np.ndarray) -> np.ndarray:
    """Boolean mask: which points lie in (or on the edge of) any of the polygons."""
    mask = np.zeros(len(points), dtype=bool)
    if len(points) and len(polygons):
        _, point_index = shapely.STRtree(points).query(polygons, predicate="intersects")
        mask[point_index] = True
    return mask


def coverage(hotspots: HotspotSet, boundary: Boundary, crimes: HarmWeightedCrimes, *,
             crime_types: Sequence[str] | None = None) -> Coverage:
    """Share of the force area, of violence and of its harm inside the hotspots.

    Parameters
    ----------
    hotspots
        The hotspot set (metric CRS).
    boundary
        The force boundary, in the same CRS; its area is the denominator of the area
        share and only crimes inside it are counted.
    crimes
        Located crimes that give harm-weighted points, e.g. data.police.uk street crimes
        (:func:`guardian_rct.crimes.policeuk.read_street_crimes`).
    crime_types
        The crime types counted as violence; default :data:`~guardian_rct.crimes.policeuk.VIOLENT_TYPES`
        of the crimes' era.

    Raises
    ------
    DataError
        Different CRSs, a crime type without a harm weight, or no selected crime at all.
    """
    if not crimes.crs.equals(hotspots.crs) or not boundary.crs.equals(hotspots.crs):
        raise DataError("hotspots, boundary and crimes are in different CRSs", where="coverage",
                        expected=str(hotspots.crs), found=f"{boundary.crs} / {crimes.crs}",
                        fix="read all three with the same crs")
    selected = crimes.harm_points(crime_types)
    chosen, harm, types = selected.frame, selected.harm, selected.crime_types
    points = chosen.geometry.to_numpy()
    inside = points_in(points, np.array([boundary.geometry]))
    in_hot = points_in(points, hotspots.frame.geometry.to_numpy()) & inside
    union = shapely.union_all(hotspots.frame.geometry.to_numpy())
    area = float(shapely.intersection(union, boundary.geometry).area) / 1e6
    return Coverage(
        n_hotspots=len(hotspots),
        hotspot_area_km2=area,
        force_area_km2=boundary.area_km2,
        crimes_total=int(inside.sum()),
        crimes_in_hotspots=int(in_hot.sum()),
        harm_total=float(harm[inside].sum()),
        harm_in_hotspots=float(harm[in_hot].sum()),
        crime_types=types,
        months=tuple(sorted(chosen["month"].unique())),
        crimes_outside_boundary=int((~inside).sum()),
        provenance=make_provenance(hashes={"hotspots": hotspots.sha256, "boundary": boundary.sha256,
                                           **selected.sources}),
    )
