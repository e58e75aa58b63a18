"""Monthly description of hotspots from data.police.uk street crimes.

data.police.uk points are anonymised "on or near" map points dated by month only, so they
describe hotspots (volume and harm per month, before and during a trial) but cannot give
hotspot-day outcomes; those come from force records (:mod:`guardian_rct.crimes.records`). The
street files are read by ``guardian_rct.crimes.policeuk.read_street_crimes``; this module takes
its frame (``crime_id, month, crime_type, location, lsoa_code, geometry``) and weighs each
crime type by the shipped category-level CCHI weights of its era
(:func:`guardian_rct.harm.index.policeuk_category_weights`). Anti-social behaviour is counted
but has no harm weight; it is reported in ``unweighted``, never given a weight silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from guardian_rct._core.errors import DataError
from guardian_rct._core.provenance import sha256_bytes
from guardian_rct.geo.hotspots import HotspotSet
from guardian_rct.harm.index import CategoryWeights, policeuk_category_weights

__all__ = ["monthly_hotspot_crimes", "MonthlyHotspotCrimes", "infer_era"]


@dataclass(frozen=True)
class MonthlyHotspotCrimes:
    """Crimes and harm per hotspot, month and crime type, with the weights used.

    Attributes
    ----------
    frame
        ``hotspot_id, month, crime_type, count, harm, unweighted``.
    harm
        ``name, version, era, sha256`` of the category weights.
    """

    frame: pd.DataFrame
    harm: dict[str, Any]

    def to_frame(self) -> pd.DataFrame:
        """The table."""
        return self.frame

    def to_dict(self) -> dict[str, Any]:
        """Totals and the harm weights' version and checksum."""
        return {"crimes": int(self.frame["count"].sum()), "harm": float(self.frame["harm"].sum()),
                "unweighted": int(self.frame["unweighted"].sum()), "harm_index": self.harm}


def infer_era(crime_types: pd.Series) -> Literal["current", "2011"]:
    """The data.police.uk era of a set of crime types, from the types only one era has.

    ``"Violent crime"`` exists only in the 2011 layout, ``"Violence and sexual offences"``
    (and the other post-2013 categories) only in the current one.

    Raises
    ------
    DataError
        Types of both eras are mixed, or only types both eras share (whose weights differ)
        are present, so the era cannot be told: pass ``era=`` then.
    """
    types = set(pd.Series(crime_types).dropna().astype(str))
    current, old = (policeuk_category_weights(e).as_dict() for e in ("current", "2011"))
    only_current, only_old = sorted(types & (set(current) - set(old))), sorted(types & (set(old) - set(current)))
    if only_current and only_old:
        raise DataError("crime types of both data.police.uk eras are mixed", where="street crimes, crime_type",
                        expected="the 2011 categories or the current ones", found=f"{only_old[0]!r} and {only_current[0]!r}",
                        fix="read each era's files separately (read_street_crimes refuses mixed layouts)")
    if only_old:
        return "2011"
    if only_current:
        return "current"
    differ = sorted(t for t in types if t in current and t in old and current[t] != old[t])
    if differ:
        raise DataError("cannot tell the data.police.uk era of these crimes", where="street crimes, crime_type",
                        expected="a type only one era has (e.g. 'Violent crime' or 'Violence and sexual offences')",
                        found=f"only shared types, and {differ[0]!r} is weighted differently in each era",
                        fix="pass era='2011' or era='current' (StreetCrimes.era says which)")
    return "current"  # only types both eras weigh alike: the era changes nothing


def monthly_hotspot_crimes(street: gpd.GeoDataFrame | Any, hotspots: HotspotSet, *,
                           era: Literal["current", "2011"] | None = None,
                           weights: CategoryWeights | None = None) -> MonthlyHotspotCrimes:
    """Crimes and CCHI harm per hotspot, month and crime type.

    A point on a hotspot boundary counts as inside (as in the panel).

    Parameters
    ----------
    street
        A :class:`~guardian_rct.crimes.policeuk.StreetCrimes` (its ``era`` is used) or a
        ``StreetCrimes.frame``-like GeoDataFrame with ``month`` (``"YYYY-MM"`` or a
        date), ``crime_type`` and point geometry; reprojected to the hotspots' CRS.
    hotspots
        The hotspots.
    era, weights
        Category weights to use (default: the shipped table for ``era``). Without
        ``era`` it is the ``StreetCrimes``' era or is inferred from the crime types
        (:func:`infer_era`); a type the era does not know but the other era weighs (2011
        "Violent crime" under the current era) is an error, never silently zero harm.

    Returns
    -------
    MonthlyHotspotCrimes
        ``frame``: ``hotspot_id, month, crime_type, count, harm, unweighted``
        (``unweighted`` counts crimes of types without a weight, whose harm is not in
        ``harm``; hotspot-months with no crimes are not listed); ``harm``: the weights'
        version and SHA-256.
    """
    if era is None and isinstance(getattr(street, "era", None), str) and hasattr(street, "frame"):
        era = street.era
    if hasattr(street, "frame") and not isinstance(street, pd.DataFrame):
        street = street.frame
    for col in ("month", "crime_type", "geometry"):
        if col not in street.columns:
            raise DataError(f"street crimes lack column '{col}'",
                            expected="crime_id, month, crime_type, location, lsoa_code, geometry",
                            found=", ".join(map(str, street.columns)),
                            fix="read the files with guardian_rct.crimes.policeuk.read_street_crimes")
    if street.crs is None:
        raise DataError("street crimes have no CRS", fix="set the CRS of the geometry")
    if weights is None:
        era = era or infer_era(street["crime_type"])
        weights = policeuk_category_weights(era)
        other = policeuk_category_weights("2011" if era == "current" else "current").as_dict()
        known = weights.as_dict()
        wrong = sorted({str(t) for t in street["crime_type"].dropna()} - set(known) & set(other))
        if wrong:
            raise DataError(f"crime type {wrong[0]!r} has no weight in the {era} era but has one in the other",
                            where="street crimes, crime_type", expected=f"{era} data.police.uk categories",
                            found=", ".join(map(repr, wrong[:3])),
                            fix=f"pass era={'2011' if era == 'current' else 'current'!r}, or leave era out to infer it")
        shipped = (resources.files("guardian_rct") / "data" / "cchi_policeuk_categories.csv").read_bytes()
        info = {"name": "cchi-default categories", "era": era, "sha256": sha256_bytes(shipped),
                "version": "CCHI 2026 subgroup medians, count-weighted by category (shipped)"}
    else:
        table = weights.table.to_csv(index=False).encode()
        info = {"name": "user categories", "era": weights.era, "sha256": sha256_bytes(table),
                "version": "user-supplied CategoryWeights"}
    frame = street.to_crs(hotspots.crs) if not street.crs.equals(hotspots.crs) else street
    tree = shapely.STRtree(hotspots.frame.geometry.to_numpy())
    pt, hot = tree.query(frame.geometry.to_numpy(), predicate="intersects")
    month = pd.Series(frame["month"].to_numpy()).astype(str).str.slice(0, 7).to_numpy()
    harm = weights.weigh(pd.Series(frame["crime_type"].to_numpy())).to_numpy(dtype=float)
    pairs = pd.DataFrame({
        "hotspot_id": hotspots.ids[hot],
        "month": month[pt],
        "crime_type": frame["crime_type"].to_numpy()[pt],
        "harm": np.nan_to_num(harm[pt]),
        "unweighted": np.isnan(harm[pt]).astype(np.int64),
    })
    out = pairs.groupby(["hotspot_id", "month", "crime_type"], sort=True).agg(
        count=("harm", "size"), harm=("harm", "sum"), unweighted=("unweighted", "sum")).reset_index()
    return MonthlyHotspotCrimes(frame=out, harm=info)
