"""Words for the reports: counts with the right plural, outcomes, measures and models in words.

Every report (tasking sheet, weekly compliance, milestone, status) says how many things
it counts through :func:`count_of` (``"1 crime"``, ``"765 crimes"``, ``"1 patrol"``,
``"2 patrols"``), and names an outcome, a measure or a model through
:func:`outcome_label`, :func:`measure_label` and :func:`model_label`, so no page reads
``"765 all crime crimes"`` or ``"ITT · poisson_fe"``. The Jinja environment exposes
:func:`count_of` as the ``count_of`` filter (:mod:`guardian_rct.reports.render`). It lives in ``_core`` so that
notes written below the reports layer (estimation, jobs) use the same words.
"""

from __future__ import annotations

import math
from numbers import Real

__all__ = ["count_of", "crime_count", "outcome_label", "arm_label", "column_label", "measure_label", "model_label",
           "estimate_label", "PLURALS", "MODEL_WORDS"]

# Nouns the reports count whose plural is not noun + "s".
PLURALS = {"hotspot-day": "hotspot-days", "patrol-day": "patrol-days", "person": "people",
           "day of week": "days of week", "week": "weeks", "analysis": "analyses",
           "officer-minute": "officer-minutes", "crime harm": "crime harm"}

MODEL_WORDS = {
    "poisson_fe": "Poisson fixed effects",
    "poisson_fe_week": "Poisson fixed effects (week and weekday)",
    "negbin_fe": "negative binomial fixed effects",
    "diff_in_means": "difference in means",
    "poisson_parallel": "Poisson with blocks and baseline",
    "iv_2sls_fe": "two-stage least squares, fixed effects",
    "iv_poisson_gmm_fe": "multiplicative IV, fixed effects",
    "poisson_fe_carryover": "Poisson fixed effects, today and yesterday",
    "poisson_fe_days_since": "Poisson fixed effects, today and days since",
}

_MEASURE_WORDS = {"count": "crimes", "harm": "crime harm (CCHI days)", "other": "outcome"}
_ALL_CRIME = {"all_crime", "all_crimes", "all", "total"}


def _plural(noun: str) -> str:
    if noun in PLURALS:
        return PLURALS[noun]
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def count_of(n: Real | None, singular: str, plural: str | None = None, *, digits: int = 0) -> str:
    """``n`` and the noun in the number it needs: ``count_of(1, "crime") == "1 crime"``,
    ``count_of(765, "crime") == "765 crimes"``, ``count_of(1234, "patrol") == "1,234 patrols"``.

    Only exactly one takes the singular (``"0 patrols"``, ``"1.5 hours"``); ``plural``
    overrides the rule (noun + ``s``/``es``/``ies``, or :data:`PLURALS`). ``None`` or NaN
    gives ``"– <plural>"`` (unknown). ``digits`` decimals, thousands separated.
    """
    many = plural or _plural(singular)
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return f"– {many}"
    one = float(n) == 1.0
    return f"{float(n):,.{digits}f} {singular if one else many}"


def outcome_label(name: str, description: str | None = None) -> str:
    """An outcome name in words, capitalised: ``"serious_youth_violence"`` ->
    ``"Serious youth violence"``, ``"all_crime"`` -> ``"All crime"``; a harm outcome
    ``"<o>_harm"`` reads ``"<O> (harm)"``. ``description`` wins when given."""
    if description:
        return description[:1].upper() + description[1:]
    harm = name.endswith("_harm")
    words = name.removesuffix("_harm").replace("_", " ").strip()
    return words[:1].upper() + words[1:] + (" (harm)" if harm else "")


def column_label(column: str) -> str:
    """A panel column in words: ``"count_violence"`` -> ``"Violence (crimes)"``,
    ``"harm_violence"`` -> ``"Violence (harm)"``; any other name as :func:`outcome_label`."""
    for prefix, what in (("count_", "crimes"), ("harm_", "harm")):
        if column.startswith(prefix):
            return f"{outcome_label(column[len(prefix):])} ({what})"
    return outcome_label(column)


def arm_label(arm: str) -> str:
    """``"treatment"`` -> ``"patrol"``, ``"control"`` -> ``"no patrol"`` (others unchanged)."""
    return {"treatment": "patrol", "control": "no patrol"}.get(arm, arm)


def crime_count(n: Real | None, outcome: str, *, digits: int = 0) -> str:
    """How many crimes of an outcome: ``"765 crimes"`` for ``all_crime``, ``"1 crime of
    serious youth violence"`` for another outcome (never ``"765 all crime crimes"``)."""
    counted = count_of(n, "crime", digits=digits)
    if outcome in _ALL_CRIME:
        return counted
    return f"{counted} of {outcome_label(outcome).lower()}"


def measure_label(measure: str) -> str:
    """``"count"`` -> ``"crimes"``, ``"harm"`` -> ``"crime harm (CCHI days)"``."""
    return _MEASURE_WORDS.get(measure, measure.replace("_", " "))


def model_label(model: str) -> str:
    """A model identifier in words (``"negbin_fe"`` -> ``"negative binomial fixed effects"``);
    an unknown identifier is shown with spaces for underscores."""
    return MODEL_WORDS.get(model, model.replace("_", " "))


def estimate_label(outcome: str, measure: str, model: str, *, primary: bool = False) -> str:
    """One estimate in words: ``"Serious youth violence — crimes — Poisson fixed effects"``,
    with ``" (primary)"`` for a primary estimate."""
    text = f"{outcome_label(outcome)} — {measure_label(measure)} — {model_label(model)}"
    return text + " (primary)" if primary else text
