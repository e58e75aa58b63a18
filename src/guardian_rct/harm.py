"""Crime harm weights: the Cambridge Crime Harm Index (CCHI) and alternatives.

The CCHI weights each crime by the number of days of imprisonment its starting-point
sentence would carry for a first offender (Sherman, Neyroud & Neyroud 2016, "The
Cambridge Crime Harm Index: measuring total harm from crime based on sentencing
guidelines", *Policing* 10(3)). Offence-level weights by Home Office code are the right
key where the data carry it; data.police.uk categories only support category-level
weights, shipped here as the count-weighted means of the CCHI 2026 subgroup medians
(``data/cchi_policeuk_categories.csv``, each row citing its basis). Anti-social
behaviour is not a crime and has no harm weight; it is never given one silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Literal

import pandas as pd

__all__ = ["CategoryWeights", "policeuk_category_weights", "NO_HARM_CATEGORIES"]

NO_HARM_CATEGORIES = frozenset({"Anti-social behaviour"})


@dataclass(frozen=True)
class CategoryWeights:
    """CCHI days per data.police.uk crime type.

    Attributes
    ----------
    era
        ``"current"`` (categories since 2013) or ``"2011"`` (the early format's
        categories: Violent crime, Robbery, Burglary, Vehicle crime, Other crime).
    table
        DataFrame with ``crime_type``, ``cchi_days``, ``basis``, ``source``.
    """

    era: Literal["current", "2011"]
    table: pd.DataFrame

    def as_dict(self) -> dict[str, float]:
        """Crime type → CCHI days."""
        return dict(zip(self.table["crime_type"], self.table["cchi_days"].astype(float), strict=True))

    def weigh(self, crime_types: pd.Series) -> pd.Series:
        """Harm (CCHI days) of each crime; ``NaN`` for types without a weight (e.g. ASB).

        Callers decide what an unweighted type means and must report it; this function
        never turns a missing weight into zero.
        """
        return crime_types.map(self.as_dict()).astype(float)


def policeuk_category_weights(era: Literal["current", "2011"] = "current") -> CategoryWeights:
    """The shipped category-level CCHI weights for data.police.uk crime types.

    Parameters
    ----------
    era
        ``"current"`` for data.police.uk's categories since 2013, ``"2011"`` for the
        early street-level format.
    """
    if era not in ("current", "2011"):
        raise ValueError(f"era must be 'current' or '2011', not {era!r}")
    path = resources.files("guardian_rct") / "data" / "cchi_policeuk_categories.csv"
    with path.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle)
    table = table[table["era"] == era].drop(columns="era").reset_index(drop=True)
    return CategoryWeights(era=era, table=table)
