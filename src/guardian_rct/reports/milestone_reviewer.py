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

from guardian_rct.config.trial_config import TrialConfig
from guardian_rct.estimation.iv_ratio import CACE_ASSUMPTIONS
from guardian_rct.harm.coverage import harm_coverage

__all__ = ["harm_coverage_section", "cace_assumptions_section"]


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
                      "itt_irr": itt["irr"] if itt else None, "first_stage_coef": r["first_stage_coef"],
                      "first_stage_f": r["first_stage_f"], "weak_instrument": r["weak_instrument"],
                      "primary": r["outcome"] == primary})
    return {"assumptions": [{"name": n, "text": t} for n, t in CACE_ASSUMPTIONS], "rate_ratios": pairs,
            "method": "multiplicative IV by GMM (Mullahy 1997; Windmeijer & Santos Silva 1997), "
                      "Anderson-Rubin interval (Anderson & Rubin 1949)"}
