"""Milestone report sections a referee asks for: harm coverage and the CACE's assumptions.

* :func:`harm_coverage_section` — how many hotspot crimes had no harm weight, by code, and
  whether harm may be called *estimated* (:mod:`guardian_rct.harm.coverage`,
  ``[harm] max_unweighted_share`` / ``accept_unweighted``).
* :func:`cace_assumptions_section` — the identifying assumptions of the CACE (exclusion
  restriction, monotonicity, no interference; Angrist, Imbens & Rubin 1996) printed beside
  the rate-ratio CACE (:func:`guardian_rct.estimation.iv_ratio.cace_ratio`) and the ITT.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.estimation.absolute_effects import absolute_effect
from guardian_rct.estimation.iv_ratio import CACE_ASSUMPTIONS
from guardian_rct.estimation.results import Estimate
from guardian_rct.harm.coverage import harm_coverage

__all__ = ["harm_coverage_section", "cace_assumptions_section", "absolute_effects_section", "absolute_sentence"]


def harm_coverage_section(config: TrialConfig, panel: Any) -> dict[str, Any]:
    """The ``harm_coverage`` record; ``{"status": "unknown", ...}`` for a bare panel frame."""
    counts = getattr(panel, "counts", None) or {}
    harm = getattr(panel, "harm", None) or {}
    if "in_hotspots_trial" not in counts:
        return {"status": "unknown", "estimated": True, "statement": "The panel carries no crime counts, so the "
                "share of hotspot crimes without a harm weight is not known.", "by_code": [],
                "n_crimes": None, "n_unweighted": None, "share_unweighted": None,
                "max_unweighted_share": config.harm.max_unweighted_share,
                "accepted": config.harm.accept_unweighted, "index_version": harm.get("version")}
    return harm_coverage(int(counts["in_hotspots_trial"]), counts.get("unweighted", {}),
                         index_version=str(harm.get("version", config.harm.index)),
                         max_share=config.harm.max_unweighted_share,
                         accepted=config.harm.accept_unweighted).to_dict()


def cace_assumptions_section(rows: Sequence[dict[str, Any]], primary: str) -> dict[str, Any]:
    """The assumptions box and the rate-ratio CACE of each outcome beside its ITT."""
    pairs = []
    for r in rows:
        if r.get("model") != "iv_poisson_gmm_fe" or r.get("status") != "ok":
            continue
        itt = next((x for x in rows if x["outcome"] == r["outcome"] and x["section"] == "itt"
                    and x["model"] == "poisson_fe" and x["status"] == "ok"), None)
        pairs.append({"outcome": r["outcome"], "cace_irr": r["irr"], "cace_irr_conf_low": r["irr_conf_low"],
                      "cace_irr_conf_high": r["irr_conf_high"], "interval": "Anderson-Rubin",
                      "cace_ri_p_value": r.get("ri_p_value"), "cace_ri_conf_low": r.get("ri_conf_low"),
                      "cace_ri_conf_high": r.get("ri_conf_high"), "measure": r.get("measure"),
                      "itt_irr": itt["irr"] if itt else None, "first_stage_coef": r["first_stage_coef"],
                      "first_stage_f": r["first_stage_f"], "weak_instrument": r["weak_instrument"],
                      "primary": r["outcome"] == primary})
    return {"assumptions": [{"name": n, "text": t} for n, t in CACE_ASSUMPTIONS], "rate_ratios": pairs,
            "method": "Multiplicative IV by GMM (Mullahy 1997; Windmeijer & Santos Silva 1997), "
                      "Anderson-Rubin interval (Anderson & Rubin 1949)"}


def absolute_effects_section(estimates: Sequence[Estimate], frame: pd.DataFrame, primary: str,
                             harm_estimated: bool, confidence_level: float) -> dict[str, Any]:
    """``crimes_prevented`` and ``harm_prevented`` of the primary outcome (``None`` when not estimable).

    From the primary ITT model (first ``ITT`` record of the outcome) by
    :func:`guardian_rct.estimation.absolute_effects.absolute_effect`; harm is left out
    (with the reason) when the harm coverage check says harm is not estimated.
    """
    def first(outcome: str) -> Estimate | None:
        return next((e for e in estimates if e.outcome == outcome and e.estimand == "ITT" and e.estimable), None)

    out: dict[str, Any] = {"crimes_prevented": None, "harm_prevented": None, "note": ""}
    count = first(primary)
    if count is not None and f"count_{primary}" in frame.columns:
        eff = absolute_effect(count, frame, f"count_{primary}", confidence_level=confidence_level)
        out["crimes_prevented"] = eff.to_dict() if eff else None
    harm = first(f"{primary}_harm")
    if harm is not None and f"harm_{primary}" in frame.columns:
        if harm_estimated:
            eff = absolute_effect(harm, frame, f"harm_{primary}", confidence_level=confidence_level)
            out["harm_prevented"] = eff.to_dict() if eff else None
        else:
            out["note"] = "harm prevented is not given: too many hotspot crimes have no harm weight"
    return out


def absolute_sentence(section: dict[str, Any]) -> str:
    """The abstract's sentence on crimes and harm prevented ("" when neither is available)."""
    c, h = section.get("crimes_prevented"), section.get("harm_prevented")
    if not c:
        return ""
    level = round(100 * c["confidence_level"])
    text = (f" Over the {c['patrol_days']:,} patrol-assigned hotspot-days, assigning patrols prevented an estimated "
            f"{c['prevented']:,.0f} crimes ({level}% CI {c['conf_low']:,.0f} to {c['conf_high']:,.0f}; "
            f"{c['per_1000_patrol_days']:,.1f} per 1,000 patrol-days; negative = more crimes)")
    if h:
        text += (f" and {h['prevented']:,.0f} CCHI days of harm ({level}% CI {h['conf_low']:,.0f} to "
                 f"{h['conf_high']:,.0f})")
    return text + "."
