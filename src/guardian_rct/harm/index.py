"""Crime harm weights: the Cambridge Crime Harm Index (CCHI) and alternatives.

The CCHI weights each crime by the number of days of imprisonment its starting-point
sentence would carry for a first offender (Sherman, Neyroud & Neyroud 2016, "The
Cambridge Crime Harm Index: measuring total harm from crime based on sentencing
guidelines", *Policing* 10(3)). Offence-level weights by Home Office code are the right
key where the data carry it; data.police.uk categories only support category-level
weights, shipped here as the count-weighted means of the CCHI 2026 subgroup medians
(``data/cchi_policeuk_categories.csv``, each row citing its basis). Anti-social
behaviour is not a crime and has no harm weight; it is never given one silently.

:class:`HarmIndex` holds weights by Home Office code and by crime type, with the version
and SHA-256 of the tables they came from; :func:`load_harm_index` reads the one named by
``[harm] index`` (see :mod:`guardian_rct.harm.tables` for the loaders).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import pandas as pd

from guardian_rct._core.provenance import sha256_bytes
from guardian_rct.harm.tables import (
    Aggregate,
    default_code_weights,
    normalise_offence_codes,
    read_cchi,
    read_harm_table,
)

__all__ = ["CategoryWeights", "policeuk_category_weights", "NO_HARM_CATEGORIES", "HarmIndex",
           "default_harm_index", "load_harm_index"]

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


@dataclass(frozen=True)
class HarmIndex:
    """A crime-harm index: weights by Home Office offence code and by crime type.

    Attributes
    ----------
    name
        ``"cchi-default"`` (shipped), ``"cchi"`` (the official spreadsheet) or
        ``"table"`` (a user-supplied index such as the ONS Crime Severity Score).
    version
        Version label, e.g. ``"CCHI 2020"``; recorded with every harm result.
    sha256
        SHA-256 of the file(s) the weights came from; recorded with every harm result.
    code_weights
        ``offence_code`` (``NNN/SS``), ``weight``, ``n_offences``, ``min``, ``max``,
        ``ambiguous``, ``basis``; a row keyed by a bare class (``"049"``) weighs the
        class's subcodes that have no row of their own (the default index only).
    type_weights
        ``crime_type``, ``weight``: used for records that carry only a data.police.uk
        crime type. The CCHI indexes use the shipped category-level weights
        (:func:`policeuk_category_weights`, both eras).
    unit
        ``"CCHI days"`` or the user table's unit.
    skipped_rows
        Rows of the source file skipped because their code or score did not parse.
    """

    name: str
    version: str
    sha256: str
    code_weights: pd.DataFrame
    type_weights: pd.DataFrame
    unit: str = "CCHI days"
    skipped_rows: int = 0

    def weight_of(self, offence_code: str) -> float:
        """The weight of one Home Office code (``NaN`` when the index has none)."""
        code = normalise_offence_codes(pd.Series([offence_code]))
        return float(self.weigh(code, pd.Series([pd.NA], dtype="string")).iloc[0])

    def weigh(self, offence_codes: pd.Series, crime_types: pd.Series) -> pd.Series:
        """Harm of each crime: by offence code where it has one, else by crime type.

        ``NaN`` where the index has no weight (e.g. anti-social behaviour, fraud recorded
        by Action Fraud, a code missing from the index). This never turns a missing
        weight into zero; callers count and report the unweighted crimes.
        """
        by_code = dict(zip(self.code_weights["offence_code"], self.code_weights["weight"].astype(float),
                           strict=True))
        by_type = {str(k).strip().lower(): float(v) for k, v in
                   zip(self.type_weights["crime_type"], self.type_weights["weight"], strict=True)
                   if str(k).strip().lower() not in _NO_HARM_LOWER}
        codes = offence_codes.astype("string")
        harm = codes.map(by_code).astype(float)
        # a code missing from the index takes a class-level row ("049") if the index has one
        harm = harm.fillna(codes.str.slice(0, 3).map(by_code).astype(float))
        no_code = codes.isna().to_numpy()
        types = crime_types.astype("string").str.strip().str.lower()
        harm[no_code] = types[no_code].map(by_type).astype(float)
        return harm

    def to_dict(self) -> dict[str, object]:
        """Version, checksum and the codes whose weight combines differing scores."""
        ambiguous = self.code_weights.loc[self.code_weights["ambiguous"], "offence_code"]
        return {"name": self.name, "version": self.version, "sha256": self.sha256, "unit": self.unit,
                "n_codes": len(self.code_weights), "n_crime_types": len(self.type_weights),
                "ambiguous_codes": list(ambiguous), "skipped_rows": self.skipped_rows}


_NO_HARM_LOWER = frozenset(c.lower() for c in NO_HARM_CATEGORIES)


def _shipped_type_weights() -> pd.DataFrame:
    parts = [policeuk_category_weights(era).table for era in ("current", "2011")]
    table = pd.concat(parts, ignore_index=True).drop_duplicates("crime_type")
    return pd.DataFrame({"crime_type": table["crime_type"], "weight": table["cchi_days"].astype(float)})


def default_harm_index(*, how: Aggregate = "median") -> HarmIndex:
    """The shipped default: CCHI 2026 subgroup medians by Home Office code and by category.

    See :func:`guardian_rct.harm.tables.default_code_weights` for how a code gets its
    subgroup's median; crimes with only a data.police.uk crime type get the shipped
    category weight.
    """
    weights, digest = default_code_weights(how)
    category = (resources.files("guardian_rct") / "data" / "cchi_policeuk_categories.csv").read_bytes()
    return HarmIndex(name="cchi-default", version="CCHI 2026 subgroup medians (shipped)",
                     sha256=sha256_bytes(digest.encode() + category), code_weights=weights,
                     type_weights=_shipped_type_weights())


def load_harm_index(index: str | Path = "cchi-default", *, base_dir: Path | None = None,
                    version: str | None = None, how: Aggregate = "median") -> HarmIndex:
    """The harm index named by ``[harm] index``.

    Parameters
    ----------
    index
        ``"cchi-default"`` for the shipped table; otherwise a path (relative to
        ``base_dir``, the config file's folder) to the official CCHI spreadsheet
        (``.xlsx``), a CSV export of its values (columns ``HOME_OFFICE_CLASSIFICATION``,
        ``CCHI_Score``), or a user table (``offence_code``/``crime_type``, ``weight``).
    version
        Version label for a loaded index (default: read from the file).
    how
        How to combine differing scores under one Home Office code (see
        :func:`guardian_rct.harm.tables.read_cchi`).
    """
    if str(index) == "cchi-default":
        return default_harm_index(how=how)
    path = Path(index).expanduser()
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if path.suffix.lower() == ".csv" and path.is_file():
        with open(path, encoding="utf-8", errors="replace") as handle:
            header = handle.readline().lower()
        if "weight" in header and "cchi" not in header:
            codes, types, digest = read_harm_table(path)
            return HarmIndex(name="table", version=version or path.stem, sha256=digest,
                             code_weights=codes, type_weights=types, unit=f"{path.stem} weight")
    weights, label, digest, skipped = read_cchi(path, version=version, how=how)
    return HarmIndex(name="cchi", version=label, sha256=digest, code_weights=weights,
                     type_weights=_shipped_type_weights(), skipped_rows=skipped)
