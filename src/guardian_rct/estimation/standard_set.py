"""The standard set of estimates a milestone report shows, for every declared outcome.

For each outcome: the intention-to-treat models (:func:`guardian_rct.estimation.itt.itt_estimates`),
with compliance the CACE of a delivered patrol and of a minute of patrol on counts and harm
(:func:`guardian_rct.estimation.iv.cace`) and the rate-ratio CACE of patrol presence on counts
and harm (:func:`guardian_rct.estimation.iv_ratio.cace_ratio`), and for crossover designs the carry-over
contrasts (:func:`guardian_rct.estimation.carryover.carryover`). Estimates are labelled by
outcome: ``count_o`` -> ``o``, ``harm_o`` -> ``o_harm``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import pandas as pd

from guardian_rct.crimes.panel import Panel
from guardian_rct.estimation.carryover import carryover
from guardian_rct.estimation.itt import itt_estimates
from guardian_rct.estimation.iv import cace
from guardian_rct.estimation.iv_ratio import cace_ratio
from guardian_rct.estimation.results import Estimate

__all__ = ["standard_estimates", "not_estimable"]


def _label(estimates: Sequence[Estimate], outcome: str) -> list[Estimate]:
    """Name estimates by outcome: ``count_o`` → ``o``; ``harm_o`` → ``o_harm``."""
    out = []
    for e in estimates:
        name = outcome if e.outcome == f"count_{outcome}" else (
            f"{outcome}_harm" if e.outcome == f"harm_{outcome}" else e.outcome)
        out.append(dataclasses.replace(e, outcome=name))
    return out


def standard_estimates(panel: Panel, outcomes: Sequence[str], alpha: float, with_compliance: bool,
                       no_events: set[str], kind: Literal["crossover", "parallel"],
                       notes: list[str], *, se_type: Literal["CR2", "CR1"] = "CR2") -> list[Estimate]:
    """ITT, CACE (with compliance) and carry-over estimates of every outcome, labelled.

    A parallel design keeps each hotspot's assignment fixed, so its CACE uses block and day
    effects (hotspot effects would absorb the instrument) and it has no carry-over contrast.
    """
    frame = panel.frame
    if kind == "parallel":
        blocks = frame["block"].nunique(dropna=True) if "block" in frame.columns else 0
        iv_fe: tuple[str, ...] = ("block", "day") if blocks > 1 else ("day",)
        notes.append("Parallel design: carry-over from one day to the next is not estimated, since a "
                     "hotspot's assignment does not change between days.")
    else:
        iv_fe = ("hotspot", "day")
    out: list[Estimate] = []
    for o in outcomes:
        if o in no_events:
            out.append(not_estimable(o, frame))
            if f"harm_{o}" in frame.columns:  # harm is in the Holm family too (issue 12): keep its place
                out.append(dataclasses.replace(not_estimable(o, frame), outcome=f"{o}_harm"))
            continue
        out.extend(_label(itt_estimates(panel, o, alpha=alpha, kind=kind, se_type=se_type), o))
        if with_compliance:  # volume and harm (DESIGN.md: CACE on crime volume and the CCHI)
            columns = [f"count_{o}"] + ([f"harm_{o}"] if f"harm_{o}" in frame.columns else [])
            for col in columns:
                for endogenous in ("delivered", "dosage_minutes"):
                    out.extend(_label([cace(frame, col, endogenous=endogenous, fe=iv_fe, alpha=alpha)], o))
            # the CACE as a rate ratio beside the ITT (multiplicative IV, Anderson-Rubin interval),
            # for the count and the harm (GMM needs only a non-negative outcome; issue 12)
            out.extend(_label([cace_ratio(frame, col, fe=iv_fe, alpha=alpha) for col in columns], o))
        if kind != "parallel":
            out.extend(_label(carryover(frame, f"count_{o}", alpha=alpha), o))
    return out


def not_estimable(outcome: str, frame: pd.DataFrame) -> Estimate:
    """The placeholder ITT estimate of an outcome with no events (every number NaN)."""
    nan = float("nan")
    return Estimate(outcome, "ITT", "poisson_fe", nan, nan, nan, nan, nan, None, None, len(frame),
                    int(frame["hotspot_id"].nunique()), notes=("no events: not estimable",))
