"""Validation of a hotspot × day panel before any model sees it (private).

Every estimator calls :func:`model_frame`, which checks the columns it needs, turns fixed
effect names into factor codes and raises :class:`~guardian_rct._core.errors.DataError` with a
one-line message (where, expected, found, fix) instead of returning NaN.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from guardian_rct._core.errors import DataError, where
from guardian_rct.estimation.fixed_effects import encode

__all__ = ["FE_ALIASES", "ModelFrame", "model_frame", "drop_all_zero_groups", "require_columns",
           "resolve"]

#: Short names for fixed effects; any other name is taken as a panel column.
FE_ALIASES = {"hotspot": "hotspot_id", "day": "day_index", "block": "block", "dow": "dow",
              "week": "week"}


def require_columns(frame: pd.DataFrame, columns: Sequence[str], *, purpose: str) -> None:
    """Raise a DataError naming the first missing column."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        outcome_cols = [c for c in frame.columns if c.startswith(("count_", "harm_"))]
        raise DataError(
            f"column '{missing[0]}' is not in the panel, so {purpose} cannot be estimated",
            where="panel", expected=f"column '{missing[0]}'",
            found="outcome columns " + (", ".join(outcome_cols) if outcome_cols else "none"),
            fix="build the panel with this outcome (panel.frame has count_<o> and harm_<o>) "
                "or pass one of the columns found")


def resolve(panel: object, outcome: str) -> tuple[pd.DataFrame, str]:
    """Accept a ``Panel`` or its frame, and an outcome column or a bare outcome name.

    ``resolve(panel, "violence")`` gives ``(panel.frame, "count_violence")`` when the frame
    has no column ``violence`` but has ``count_violence``.
    """
    frame = getattr(panel, "frame", panel)
    if isinstance(frame, pd.DataFrame) and outcome not in frame.columns \
            and f"count_{outcome}" in frame.columns:
        outcome = f"count_{outcome}"
    return frame, outcome


@dataclass(frozen=True)
class ModelFrame:
    """Arrays of a validated panel, ready for :func:`guardian_rct.estimation.fixed_effects.fit_glm_fe`."""

    y: np.ndarray
    treated: np.ndarray
    fe: list[tuple[np.ndarray, int]]
    clusters: np.ndarray
    weights: np.ndarray | None
    rows: np.ndarray  # positions in the input frame that were used
    notes: tuple[str, ...]


def fe_values(frame: pd.DataFrame, name: str) -> np.ndarray:
    """The values of fixed effect ``name`` (alias or column); ``week`` = day_index // 7."""
    if name == "week":
        require_columns(frame, ["day_index"], purpose="a week fixed effect")
        return frame["day_index"].to_numpy() // 7
    column = FE_ALIASES.get(name, name)
    require_columns(frame, [column], purpose=f"the '{name}' fixed effect")
    return frame[column].to_numpy()


def _check_outcome(frame: pd.DataFrame, outcome: str) -> np.ndarray:
    values = pd.to_numeric(frame[outcome], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(values) | (values < 0))
    if bad.size:
        i = int(bad[0])
        raise DataError("outcome value is missing, negative or not a number",
                        where=where("panel", i + 1, outcome), expected="a count or harm >= 0",
                        found=repr(frame[outcome].iloc[i]),
                        fix="rebuild the panel; every hotspot-day needs a value (0 when no crime)")
    if not np.any(values > 0):
        raise DataError(f"outcome '{outcome}' has no events in the panel", where="panel",
                        expected="at least one crime in the evaluation period",
                        found=f"0 events in {len(values)} hotspot-days",
                        fix="check the outcome's crime selection and the milestone dates")
    return values


def _check_treated(frame: pd.DataFrame, column: str) -> np.ndarray:
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isin(values, (0.0, 1.0)))
    if bad.size:
        i = int(bad[0])
        raise DataError("treatment indicator is not 0 or 1", where=where("panel", i + 1, column),
                        expected="0 or 1", found=repr(frame[column].iloc[i]),
                        fix="rebuild the panel from the published allocation")
    n_t = int(values.sum())
    if n_t == 0 or n_t == values.size:
        arm = "treated" if n_t == 0 else "control"
        raise DataError(f"the panel has no {arm} hotspot-days, so no effect can be estimated",
                        where=where("panel", None, column),
                        expected="both treated and control hotspot-days",
                        found=f"{n_t} treated of {values.size}",
                        fix="check the allocation covers the evaluation period")
    return values


def drop_all_zero_groups(y: np.ndarray, fe: list[tuple[np.ndarray, int]]) -> np.ndarray:
    """Mask of rows kept after removing fixed-effect levels whose outcome is all zero.

    Such rows carry no information on the rate ratio in a Poisson or negative binomial
    model with those fixed effects (their effect goes to −∞); ppmlhdfe and fixest drop
    them too (Correia, Guimarães & Zylkin 2020). Repeated until nothing changes.
    """
    keep = np.ones(y.size, dtype=bool)
    while True:
        changed = False
        for codes, lv in fe:
            totals = np.bincount(codes[keep], weights=y[keep], minlength=lv)
            present = np.bincount(codes[keep], minlength=lv) > 0
            dead = present & (totals <= 0)
            if dead.any():
                keep &= ~dead[codes]
                changed = True
        if not changed:
            return keep


def model_frame(frame: pd.DataFrame, outcome: str, *, treatment: str = "treated",
                fe: Sequence[str] = ("hotspot", "day"), cluster: str = "hotspot_id",
                weights: np.ndarray | str | None = None, drop_zero_groups: bool = True) -> ModelFrame:
    """Validate ``frame`` for a model of ``outcome`` on ``treatment`` with fixed effects ``fe``."""
    if not isinstance(frame, pd.DataFrame):
        raise DataError("the panel is not a table", where="panel",
                        expected="a pandas DataFrame (Panel.frame)", found=type(frame).__name__,
                        fix="pass panel.frame")
    require_columns(frame, [outcome], purpose=f"outcome '{outcome}'")
    require_columns(frame, [treatment, cluster], purpose=f"outcome '{outcome}'")
    if len(frame) == 0:
        raise DataError("the panel is empty", where="panel", expected="hotspot-day rows",
                        found="0 rows", fix="check the evaluation period")
    y = _check_outcome(frame, outcome)
    treated = _check_treated(frame, treatment)
    fe_codes = [encode(fe_values(frame, name)) for name in fe]
    w = None
    if weights is not None:
        w = np.asarray(frame[weights] if isinstance(weights, str) else weights, dtype=float)
        if w.shape != y.shape or not np.all(np.isfinite(w) & (w > 0)):
            raise DataError("weights must be positive and finite, one per hotspot-day",
                            where="panel", found=f"{np.sum(~(np.isfinite(w) & (w > 0)))} bad values",
                            expected="inverse-probability weights from p_treated",
                            fix="check that p_treated lies strictly between 0 and 1")
    notes: list[str] = []
    keep = drop_all_zero_groups(y, fe_codes) if (drop_zero_groups and fe_codes) else np.ones(y.size, bool)
    if not keep.all():
        notes.append(f"{int((~keep).sum())} hotspot-days in fixed-effect groups with no events "
                     "were left out (they carry no information on the rate ratio)")
    rows = np.flatnonzero(keep)
    y_k, t_k = y[keep], treated[keep]
    for arm, mask in (("treated", t_k == 1), ("control", t_k == 0)):
        if not mask.any():
            raise DataError(f"no {arm} hotspot-days remain in groups with events",
                            where="panel", expected=f"{arm} days in hotspots/days with crime",
                            found="none", fix="use a longer evaluation period")
        if y_k[mask].sum() <= 0:
            raise DataError(f"outcome '{outcome}' has no events on {arm} hotspot-days, so the "
                            "rate ratio is not finite", where="panel",
                            expected=f"at least one event on {arm} days", found="0 events",
                            fix="use a longer evaluation period or a broader outcome")
    n_clusters = len(pd.unique(frame[cluster].to_numpy()[keep]))
    if n_clusters < 2:
        raise DataError("clustered standard errors need at least two hotspots with events",
                        where=where("panel", None, cluster), expected=">= 2 clusters",
                        found=f"{n_clusters}", fix="use more hotspots or a longer period")
    fe_kept = [encode(c[keep]) for c, _ in fe_codes]
    return ModelFrame(y=y_k, treated=t_k, fe=fe_kept, clusters=frame[cluster].to_numpy()[keep],
                      weights=None if w is None else w[keep], rows=rows, notes=tuple(notes))
