"""Crime-harm tables: Home Office offence codes, the shipped default, and loaders.

Three sources of weights, all turned into one :class:`~guardian_rct.harm.index.HarmIndex`:

* :func:`default_harm_index` — shipped with the package so that it works out of the box.
  A Home Office offence code (``NNN/SS``) is mapped to its classification (``8N``,
  ``ho_codes.csv``: Home Office Counting Rules), the classification to its offence
  subgroup (``ho_classifications.csv``: crime-sim-toolkit, MIT licence), and the
  subgroup to its CCHI 2026 median days (``cchi_subgroups.csv``). These are *subgroup*
  medians: within "violence with injury" the CCHI ranges from 10 to 4,380 days, so load
  the official spreadsheet for offence-level weights. The full Cambridge table is
  copyright and is not shipped.
* :func:`read_cchi` — the official Cambridge spreadsheet as users download it (the 2020
  layout: a ``CCHI 2020 values sheet`` with ``HOME_OFFICE_CLASSIFICATION`` and
  ``CCHI Score`` columns), or a CSV export with the same columns.
* :func:`read_harm_table` — any other index as a table (e.g. the ONS Crime Severity
  Score): columns ``offence_code`` and/or ``crime_type`` and ``weight``.

References
----------
Sherman, L. W., Neyroud, P. W. & Neyroud, E. (2016). The Cambridge Crime Harm Index:
measuring total harm from crime based on sentencing guidelines. *Policing* 10(3), 171–183.
Home Office (2024). *Home Office Counting Rules for Recorded Crime* (offence classification).
"""

from __future__ import annotations

import functools
import io
import re
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where
from guardian_rct._core.provenance import sha256_bytes, sha256_file
from guardian_rct._core.textcsv import read_text_csv

__all__ = [
    "normalise_offence_codes",
    "offence_table",
    "default_code_weights",
    "class_table",
    "classification_coverage",
    "NO_WEIGHT_REASONS",
    "codes_to_categories",
    "read_cchi",
    "read_harm_table",
    "Aggregate",
]

Aggregate = Literal["median", "min", "max"]

_CODE = re.compile(r"^\s*(\d{1,3})\s*[/.\-]\s*(\d{1,2})\s*$")


def normalise_offence_codes(values: pd.Series) -> pd.Series:
    """Home Office offence codes in the canonical ``NNN/SS`` form (``"8/1"`` → ``"008/01"``).

    Accepts ``N/S`` with ``/``, ``.`` or ``-`` as separator and five bare digits
    (``"00801"``, as some exports write them). Anything else gives ``<NA>``.
    """
    uniques = pd.Series(pd.unique(values.astype("string").fillna("")))
    if len(uniques) < len(values):  # crime files repeat few codes: parse each once
        table = dict(zip(uniques, _normalise(uniques), strict=True))
        return values.astype("string").fillna("").map(table).astype("string")
    return _normalise(values)


def _normalise(values: pd.Series) -> pd.Series:
    text = values.astype("string").str.strip()
    five = text.str.fullmatch(r"\d{5}").fillna(False)
    text = text.where(~five, text.str.slice(0, 3) + "/" + text.str.slice(3))
    parts = text.str.extract(_CODE)
    ok = parts[0].notna()
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    out[ok] = parts.loc[ok, 0].str.zfill(3) + "/" + parts.loc[ok, 1].str.zfill(2)
    return out


def _data_bytes(name: str) -> bytes:
    return (resources.files("guardian_rct") / "data" / name).read_bytes()


def _data_csv(name: str) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(_data_bytes(name)), dtype=str, keep_default_na=False)


def offence_table() -> pd.DataFrame:
    """Home Office offence code → classification, subgroup and data.police.uk category.

    One row per (offence code, classification); a few codes carry two classifications
    (e.g. ``008/01`` is ``8N`` s.20 wounding and ``8S`` the same on a constable).
    Columns: ``offence_code, classification, offence_group, subgroup, policeuk_category``.
    """
    return _offence_table().copy()


@functools.cache
def _offence_table() -> pd.DataFrame:
    codes = _data_csv("ho_codes.csv").drop(columns="source")
    classes = _data_csv("ho_classifications.csv").drop(columns=["source", "description"])
    return codes.merge(classes, on="classification", how="left").fillna("")


def class_table() -> pd.DataFrame:
    """Home Office offence class (``"049"``) → subgroup and category, where unambiguous.

    The listed codes do not cover every subcode a force may record (e.g. ``049/01``). A
    class whose listed codes all share one subgroup gives that subgroup to unlisted
    subcodes; classes that mix subgroups (e.g. ``008``: wounding, harassment, weapon
    possession) give none. Columns: ``offence_class, subgroup, policeuk_category``.
    """
    return _class_table().copy()


@functools.cache
def _class_table() -> pd.DataFrame:
    table = offence_table()
    table = table[table["subgroup"] != ""].assign(offence_class=table["offence_code"].str.slice(0, 3))
    listed = _single_subgroup(table, "listed codes of the class")
    # Classes with no listed code (e.g. 010, possession of weapons: classifications 10A-10D)
    # take the subgroup of the Counting Rules classifications numbered like the class.
    classes = _data_csv("ho_classifications.csv")
    classes = classes.assign(offence_class=classes["classification"].map(_numeric_class)).dropna(
        subset=["offence_class"])
    classes = classes[~classes["offence_class"].isin(set(table["offence_class"]))]
    derived = _single_subgroup(classes, "Counting Rules classifications numbered like the class")
    return pd.concat([listed, derived], ignore_index=True)


def _numeric_class(classification: str) -> str | None:
    """``"10A"`` → ``"010"``, ``"4/10"`` → ``"004"``, ``"AF"`` → ``None``."""
    match = re.match(r"^(\d{1,3})", str(classification))
    return match.group(1).zfill(3) if match else None


def _single_subgroup(frame: pd.DataFrame, source: str) -> pd.DataFrame:
    per = frame.groupby("offence_class").agg(subgroup=("subgroup", "unique"),
                                             policeuk_category=("policeuk_category", "unique"))
    single = per["subgroup"].map(len) == 1
    out = per[single].reset_index()
    out["subgroup"] = out["subgroup"].map(lambda v: v[0])
    out["policeuk_category"] = out["policeuk_category"].map(lambda v: v[0])
    out["class_source"] = source
    return out


def codes_to_categories(codes: pd.Series) -> pd.Series:
    """data.police.uk category of each ``NNN/SS`` code (listed code, else its class)."""
    exact = offence_table().drop_duplicates("offence_code").set_index("offence_code")["policeuk_category"]
    by_class = class_table().set_index("offence_class")["policeuk_category"]
    out = codes.map(exact).replace("", pd.NA)
    return out.fillna(codes.str.slice(0, 3).map(by_class))


def _aggregate(frame: pd.DataFrame, value: str, how: Aggregate) -> pd.DataFrame:
    grouped = frame.groupby("offence_code", sort=True)[value]
    out = pd.DataFrame({
        "weight": getattr(grouped, how)(),
        "n_offences": grouped.size(),
        "min": grouped.min(),
        "max": grouped.max(),
    }).reset_index()
    out["ambiguous"] = out["min"] != out["max"]
    return out


def default_code_weights(how: Aggregate = "median") -> tuple[pd.DataFrame, str]:
    """Offence-code weights of the shipped default index, and the SHA-256 of its tables.

    A code's weight is the CCHI 2026 median of its offence subgroup; where a code spans
    two subgroups (only robbery, ``034/01``: business and personal property, both 365
    days) ``how`` combines them. Codes whose subgroup has no CCHI median (fraud recorded
    by Action Fraud/NFIB, non-notifiable offences, anti-social behaviour) have no weight.
    """
    names = ("ho_codes.csv", "ho_classifications.csv", "cchi_subgroups.csv")
    digest = sha256_bytes(b"".join(_data_bytes(n) for n in names))
    table = offence_table()
    medians = _data_csv("cchi_subgroups.csv")
    medians["cchi_days"] = medians["cchi_days"].astype(float)
    table = table.merge(medians[["subgroup", "cchi_days"]], on="subgroup", how="inner")
    weights = _aggregate(table, "cchi_days", how)
    basis = table.groupby("offence_code")["subgroup"].agg(lambda s: "; ".join(sorted(set(s))))
    weights["basis"] = "CCHI 2026 median of subgroup " + weights["offence_code"].map(basis)
    classes = class_table().merge(medians[["subgroup", "cchi_days"]], on="subgroup", how="inner")
    class_rows = pd.DataFrame({"offence_code": classes["offence_class"], "weight": classes["cchi_days"],
                               "n_offences": 0, "min": classes["cchi_days"], "max": classes["cchi_days"],
                               "ambiguous": False,
                               "basis": "CCHI 2026 median of subgroup " + classes["subgroup"]
                               + " (class-level, from the " + classes["class_source"] + ")"})
    return pd.concat([weights, class_rows], ignore_index=True), digest


#: Subgroups of the Counting Rules classification list that get no default weight, and why.
NO_WEIGHT_REASONS: dict[str, str] = {
    sub: ("fraud recorded centrally (Action Fraud / NFIB, CIFAS, UK Finance), not by the force at a place "
          "and time; the CCHI 2026 update gives this subgroup no median")
    for sub in ("Fraud: action fraud", "Fraud: CIFAS", "Fraud: UK Finance", "Fraud: Financial Fraud Action UK")
}


def classification_coverage() -> pd.DataFrame:
    """Default weight of every classification in the Counting Rules list, or why it has none.

    One row per classification of ``ho_classifications.csv``: ``classification,
    description, subgroup, weight`` (the CCHI 2026 median of its subgroup, which every
    code of the classification gets), ``listed_codes`` (how many ``NNN/SS`` codes of the
    shipped code table carry it), ``offence_class`` (its numeric class, e.g. ``010`` for
    ``10D``), ``class_weight`` (the weight an unlisted subcode of that class gets, ``NaN``
    where the class mixes subgroups and only listed codes are weighed), ``basis`` and
    ``reason`` (why there is no weight, from :data:`NO_WEIGHT_REASONS`; empty otherwise).
    """
    classes = _data_csv("ho_classifications.csv")
    medians = _data_csv("cchi_subgroups.csv").set_index("subgroup")["cchi_days"].astype(float)
    weights, _ = default_code_weights()
    by_code = weights.set_index("offence_code")["weight"]
    listed = _data_csv("ho_codes.csv").groupby("classification").size()
    out = classes[["classification", "description", "subgroup"]].copy()
    out["weight"] = out["subgroup"].map(medians).astype(float)
    out["listed_codes"] = out["classification"].map(listed).fillna(0).astype(int)
    out["offence_class"] = out["classification"].map(_numeric_class)
    out["class_weight"] = out["offence_class"].map(by_code).astype(float)
    has = out["weight"].notna()
    out["basis"] = np.where(has, "CCHI 2026 median of subgroup " + out["subgroup"], "")
    out["reason"] = np.where(has, "", out["subgroup"].map(NO_WEIGHT_REASONS).fillna(""))
    return out


def _norm_header(name: object) -> str:
    text = re.sub(r"[^0-9A-Za-z]+", "_", str(name or "")).strip("_").upper()
    return text


_CCHI_CODE, _CCHI_SCORE = "HOME_OFFICE_CLASSIFICATION", "CCHI_SCORE"


def _read_cchi_xlsx(path: Path) -> tuple[pd.DataFrame, str]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not xlsx
        raise DataError(f"cannot open the spreadsheet ({type(exc).__name__})", where=where(path),
                        expected="an .xlsx workbook", fix="download the CCHI spreadsheet again, "
                        "or export its values sheet as CSV") from None
    try:
        cover = []
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            for i, row in zip(range(30), rows, strict=False):
                headers = [_norm_header(v) for v in row]
                if _CCHI_CODE in headers and _CCHI_SCORE in headers:
                    data = [r for r in rows if any(v is not None for v in r)]
                    width = len(headers)
                    frame = pd.DataFrame([list(r[:width]) + [None] * (width - len(r)) for r in data],
                                         columns=[f"{h}__{j}" for j, h in enumerate(headers)])
                    frame.attrs["header_row"] = i + 1
                    frame.attrs["sheet"] = sheet.title
                    return _dedupe_headers(frame), " ".join(cover)
                cover.extend(str(v) for v in row if isinstance(v, str))
    finally:
        book.close()
    raise DataError("no CCHI values sheet in the workbook", where=where(path),
                    expected=f"a sheet with columns '{_CCHI_CODE}' and 'CCHI Score'",
                    found="sheets " + ", ".join(book.sheetnames),
                    fix="give the Cambridge CCHI spreadsheet as downloaded, or a CSV of its values")


def _dedupe_headers(frame: pd.DataFrame) -> pd.DataFrame:
    keep, seen = [], set()
    for col in frame.columns:
        name = col.rsplit("__", 1)[0]
        if name and name not in seen:
            seen.add(name)
            keep.append(col)
    frame = frame[keep]
    frame.columns = [c.rsplit("__", 1)[0] for c in keep]
    return frame


def read_cchi(path: str | Path, *, version: str | None = None,
              how: Aggregate = "median") -> tuple[pd.DataFrame, str, str, int]:
    """Read the official Cambridge Crime Harm Index (spreadsheet or CSV of its values).

    Parameters
    ----------
    path
        ``.xlsx`` as downloaded (the sheet and header row are found by their columns) or
        ``.csv`` with the same columns (``HOME_OFFICE_CLASSIFICATION``, ``CCHI_Score``).
    version
        Version label; by default read from the cover page ("... 2020 Update" →
        ``"CCHI 2020"``) or the file name.
    how
        How to combine the scores of a Home Office code that covers offences with
        different CCHI scores (e.g. ``008/01`` spans minor wounding, 19 days, to GBH on a
        constable, 912.5 days): ``"median"`` (default), ``"min"`` or ``"max"``. Those codes
        are flagged ``ambiguous`` in the result.

    Returns
    -------
    weights, version, sha256, skipped
        Per-code weights (``offence_code, weight, n_offences, min, max, ambiguous,
        basis``), the version label, the file's SHA-256 and the number of rows skipped
        because their code or score did not parse.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError("harm index file not found", where=where(path),
                        fix="check [harm] index in trial.toml (relative paths resolve against it)")
    suffix = path.suffix.lower()
    cover = ""
    if suffix in (".xlsx", ".xlsm"):
        raw, cover = _read_cchi_xlsx(path)
    elif suffix == ".csv":
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise DataError(f"cannot read the harm index as CSV ({exc})", where=where(path),
                            fix="export the values sheet as comma-separated text") from None
        raw.columns = [_norm_header(c) for c in raw.columns]
    else:
        raise DataError("not a harm index file", where=where(path), expected=".xlsx or .csv",
                        found=suffix or "no extension", fix="give the CCHI spreadsheet or a CSV")
    for col in (_CCHI_CODE, _CCHI_SCORE):
        if col not in raw.columns:
            raise DataError(f"no '{col}' column: this is not the CCHI values table", where=where(path),
                            expected=f"columns {_CCHI_CODE} and CCHI Score",
                            found=", ".join(map(str, raw.columns[:8])) + ("..." if raw.shape[1] > 8 else ""),
                            fix="give the Cambridge CCHI spreadsheet, or use a harm table with "
                            "offence_code and weight columns")
    codes = normalise_offence_codes(raw[_CCHI_CODE])
    scores = pd.to_numeric(raw[_CCHI_SCORE].astype("string").str.replace(",", ""), errors="coerce")
    ok = codes.notna().to_numpy() & scores.notna().to_numpy() & (scores.to_numpy(dtype=float) >= 0)
    table = pd.DataFrame({"offence_code": codes[ok].astype(str), "score": scores[ok].astype(float)})
    if table.empty:
        raise DataError("no usable rows in the harm index", where=where(path),
                        expected="Home Office codes such as 008/01 with numeric scores",
                        fix="check that this is the CCHI values sheet")
    weights = _aggregate(table, "score", how)
    weights["basis"] = np.where(weights["ambiguous"], f"{how} of the CCHI scores listed under this code",
                                "CCHI score")
    label = version or _version_label(cover, path)
    return weights, label, sha256_file(path), int((~ok).sum())


def _version_label(cover: str, path: Path) -> str:
    match = re.search(r"Crime Harm Index\s+(\d{4})", cover) or re.search(r"(20\d\d)", path.stem)
    return f"CCHI {match.group(1)}" if match else f"CCHI ({path.name})"


def read_harm_table(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """Read a user-supplied harm index (e.g. the ONS Crime Severity Score) as a table.

    The CSV has a ``weight`` column and ``offence_code`` (Home Office ``NNN/SS``) and/or
    ``crime_type`` (data.police.uk category); a row gives one or the other.

    Returns
    -------
    code_weights, type_weights, sha256
    """
    path = Path(path)
    raw = read_text_csv(path, what="harm table", option="[harm] index in trial.toml")
    raw.columns = [str(c).strip().lower() for c in raw.columns]
    if "weight" not in raw.columns or not {"offence_code", "crime_type"} & set(raw.columns):
        raise DataError("harm table lacks its columns", where=where(path),
                        expected="'weight' and 'offence_code' and/or 'crime_type'",
                        found=", ".join(raw.columns), fix="rename the columns")
    weight = pd.to_numeric(raw["weight"].str.strip(), errors="coerce")
    bad = np.flatnonzero(weight.isna().to_numpy() | (weight.to_numpy(dtype=float) < 0))
    if len(bad):
        i = int(bad[0])
        raise DataError("weight is not a non-negative number", where=where(path, i + 1, "weight"),
                        found=repr(raw["weight"].iloc[i]), fix="give every row a number")
    code = raw.get("offence_code", pd.Series("", index=raw.index)).str.strip()
    ctype = raw.get("crime_type", pd.Series("", index=raw.index)).str.strip()
    norm = normalise_offence_codes(code)
    bad = np.flatnonzero(((code != "") & norm.isna()).to_numpy() | ((code == "") & (ctype == "")).to_numpy())
    if len(bad):
        i = int(bad[0])
        raise DataError("row has no usable offence code or crime type", where=where(path, i + 1, "offence_code"),
                        expected="a Home Office code such as 008/01, or a crime_type",
                        found=repr(code.iloc[i]), fix="correct or remove the row")
    has_code = (code != "").to_numpy()
    codes = pd.DataFrame({"offence_code": norm[has_code].astype(str), "score": weight[has_code]})
    dup = codes["offence_code"].duplicated()
    if dup.any():
        i = int(np.flatnonzero(has_code)[np.flatnonzero(dup.to_numpy())[0]])
        raise DataError("offence code listed twice", where=where(path, i + 1, "offence_code"),
                        found=repr(code.iloc[i]), fix="give each code one weight")
    code_weights = _aggregate(codes, "score", "median")
    code_weights["basis"] = f"user table {path.name}"
    types = pd.DataFrame({"crime_type": ctype[~has_code], "weight": weight[~has_code].astype(float)})
    return code_weights, types.reset_index(drop=True), sha256_file(path)
