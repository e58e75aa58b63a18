"""Which crimes an outcome counts, and which crimes the harm rules exclude.

An outcome (``[outcomes.NAME]``, :class:`~guardian_rct.config.trial_config.OutcomeSpec`) selects crimes
by Home Office offence code and/or data.police.uk crime type, optionally with a victim
younger than an age. The rules:

* no ``offence_codes`` and no ``crime_types``: every crime;
* a crime that carries a Home Office code is matched on its code when the outcome lists
  codes (``"008/01"`` exactly, ``"008"`` every subcode of class 8), otherwise on the
  crime type derived from the code;
* a crime with only a crime type is matched on ``crime_types``; it cannot match an
  outcome defined by codes alone (serious youth violence needs the offence);
* ``victim_age_below``: the victim's age must be known and below it.

The harm rules of the index's authors (Sherman, Neyroud & Neyroud 2016) are applied by
:func:`exclusions`: offences detected proactively (``detection = "proactive"``, e.g. drug
or weapon possession found by stop and search) measure police activity rather than harm,
and historic reports (``reported_at`` more than ``exclude_historic_days`` after
``occurred_at``) did not happen in the trial period as far as patrols could affect them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from guardian_rct._core.errors import ConfigError
from guardian_rct.config.trial_config import HarmSpec, OutcomeSpec

__all__ = ["outcome_mask", "exclusions"]

_FULL = re.compile(r"^(\d{1,3})/(\d{1,2})$")
_CLASS = re.compile(r"^(\d{1,3})$")


def _code_patterns(spec: OutcomeSpec) -> tuple[set[str], tuple[str, ...]]:
    exact, prefixes = set(), []
    for i, code in enumerate(spec.offence_codes):
        text = str(code).strip()
        if m := _FULL.match(text):
            exact.add(f"{int(m.group(1)):03d}/{int(m.group(2)):02d}")
        elif m := _CLASS.match(text):
            prefixes.append(f"{int(m.group(1)):03d}/")
        else:
            raise ConfigError("offence code does not parse", where=f"outcomes.{spec.name}.offence_codes[{i}]",
                              expected="a Home Office code such as '008/01' or a class such as '008'",
                              found=repr(code), fix="write the code as NNN/SS")
    return exact, tuple(prefixes)


def outcome_mask(crimes: pd.DataFrame, spec: OutcomeSpec) -> np.ndarray:
    """Boolean mask of the crimes (a ``CrimeSet.frame``) that ``spec`` counts."""
    n = len(crimes)
    codes = crimes["offence_code"].astype("string")
    types = crimes["crime_type"].astype("string").str.lower()
    has_code = codes.notna().to_numpy()
    if not spec.offence_codes and not spec.crime_types:
        mask = np.ones(n, dtype=bool)
    else:
        type_set = {t.strip().lower() for t in spec.crime_types}
        by_type = types.isin(type_set).fillna(False).to_numpy(dtype=bool)
        if spec.offence_codes:
            exact, prefixes = _code_patterns(spec)
            filled = codes.fillna("")
            by_code = filled.isin(exact).to_numpy(dtype=bool)
            if prefixes:
                by_code = by_code | filled.str.startswith(prefixes).to_numpy(dtype=bool)
            mask = np.where(has_code, by_code, by_type)
        else:
            mask = by_type
    if spec.victim_age_below is not None:
        age = crimes["victim_age"].to_numpy(dtype=float)
        mask = mask & (age < spec.victim_age_below)  # NaN (unknown) compares False
    return np.asarray(mask, dtype=bool)


def exclusions(crimes: pd.DataFrame, harm: HarmSpec) -> pd.Series:
    """Reason each crime is excluded by the ``[harm]`` rules (``<NA>`` where kept).

    ``"proactive detection"`` when ``exclude_proactive`` and ``detection`` is
    ``proactive``; ``"historic report"`` when ``reported_at - occurred_at`` exceeds
    ``exclude_historic_days``. Crimes without ``detection`` or ``reported_at`` are kept.
    """
    reason = pd.Series(pd.NA, index=crimes.index, dtype="string")
    if harm.exclude_proactive:
        proactive = crimes["detection"].astype("string").eq("proactive").fillna(False)
        reason[proactive] = "proactive detection"
    if harm.exclude_historic_days is not None and "reported_at" in crimes.columns:
        delay = crimes["reported_at"] - crimes["occurred_at"]
        historic = (delay > pd.Timedelta(days=harm.exclude_historic_days)).fillna(False)
        reason[historic & reason.isna()] = "historic report"
    return reason
