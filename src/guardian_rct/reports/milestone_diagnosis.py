"""The milestone report's design-and-data diagnosis block and what the abstract leads with.

Data only: :func:`diagnosis_section` turns a
:class:`~guardian_rct.design.diagnosis.DesignDiagnosis` and the per-outcome
:class:`~guardian_rct.estimation.diagnosis.InferenceDiagnosis` records into the report's
``diagnosis`` dict; :func:`lead_sentence` is the sentence the abstract's findings open
with when the Wald test is not trusted, naming the reasons and giving the randomisation
result first. The template prints these strings; it does no arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from guardian_rct.design.diagnosis import DesignDiagnosis
from guardian_rct.estimation.diagnosis import InferenceDiagnosis

__all__ = ["WILD_BOOTSTRAP_CAUTION", "diagnosis_section", "lead_sentence"]

#: What the wild bootstrap p-value (``estimates[].wild_p_value``) is and is not, measured.
WILD_BOOTSTRAP_CAUTION = (
    "The wild cluster score bootstrap p-value (wild_p_value in the JSON; Kline & Santos 2012) is a "
    "secondary check and is never led with: in the simulation study it rejected a true null 7-11% of the "
    "time at 5% in most cells with 12 or 20 hotspots, and 7.5% for heavy-tailed harm in a constrained "
    "57-hotspot design (docs/estimators_validation.md). Where the diagnosis distrusts the Wald test, "
    "do not read it either.")


def diagnosis_section(design: DesignDiagnosis | None,
                      inference: Sequence[InferenceDiagnosis] = (),
                      ri_refused: str | None = None) -> dict[str, Any]:
    """The ``diagnosis`` block of the report (empty lists/None when not computed)."""
    rows = [d.to_dict() for d in inference]
    return {
        "design": design.to_dict() if design is not None else None,
        "design_summary": design.summary().splitlines()[0] if design is not None else None,
        "inference": rows,
        "wald_reliable": all(r["wald_reliable"] for r in rows) if rows else None,
        "randomisation_refused": ri_refused,
        "wild_bootstrap": WILD_BOOTSTRAP_CAUTION if rows else None,
    }


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def lead_sentence(diag: InferenceDiagnosis | None, ri: Mapping[str, Any] | None, level: int) -> str | None:
    """Opening sentence of the findings when the diagnosis distrusts the Wald test."""
    if diag is None or diag.wald_reliable:
        return None
    why = "; ".join(diag.reasons)
    text = f"The model-based (Wald) test is not reliable for this trial ({why}), so the design-based result leads"
    if ri and ri.get("p_value") is not None:
        text += f": randomisation p = {_p(ri['p_value'])}"
        if ri.get("conf_low") is not None and ri.get("conf_high") is not None:
            text += f", {level}% randomisation interval for the rate ratio {ri['conf_low']:.2f} to {ri['conf_high']:.2f}"
        text += "."
    else:
        text += ", but randomisation inference was not run: treat the model-based numbers below with caution."
    return text
