"""The :class:`Estimate` record every estimator returns and the milestone report reads.

The fields are fixed by ``docs/contracts.md`` ("Estimates"): ``estimate`` and
``conf_low``/``conf_high`` are on the model's scale (log rate ratio for Poisson and
negative binomial models, a difference for difference-in-means), ``irr = exp(estimate)``
where a rate ratio is meaningful. What only some estimators have is a typed field too:
the first stage of a 2SLS estimate (:class:`FirstStage`, filled by
:func:`guardian_rct.estimation.iv.cace`) and the NB2 shape θ (filled by
:func:`guardian_rct.estimation.itt.negbin_fe`); ``details`` is prose for people and is
never parsed. The record lives in its own module so that the estimators (``itt.py``,
``iv.py``, ``carryover.py``) and the report (``reports/milestone.py``) can both import it
without importing each other.

A quantity that could not be estimated (for example an outcome with no events) is carried
as ``nan``; :meth:`Estimate.to_dict` turns every non-finite number into ``None`` so that the
report's JSON never holds ``NaN``, and :attr:`Estimate.estimable` says whether it can be
shown at all.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

__all__ = ["Estimate", "FirstStage", "ESTIMATE_FIELDS", "WEAK_INSTRUMENT_F"]

ESTIMATE_FIELDS = (
    "outcome", "estimand", "model", "estimate", "std_error", "conf_low", "conf_high",
    "p_value", "ri_p_value", "irr", "n_obs", "n_clusters",
)


#: First-stage F below which an instrument is flagged as weak (Staiger & Stock 1997).
WEAK_INSTRUMENT_F = 10.0


def _finite_or_none(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class FirstStage:
    """First stage of a two-stage least-squares estimate: patrol receipt on assignment.

    Attributes
    ----------
    coefficient
        Effect of assignment on the endogenous variable (for ``delivered``: the share of
        patrol-assigned hotspot-days with a patrol minus the share of control days with
        one, within the fixed effects).
    std_error
        Its standard error, clustered as the second stage (CR1 by hotspot).
    f_statistic
        Cluster-robust Wald F of the single instrument, ``(coefficient / std_error)²``
        (``inf`` when the standard error is 0).
    n_obs
        Hotspot-days in the first-stage regression.

    Notes
    -----
    An F below :data:`WEAK_INSTRUMENT_F` (10) flags a weak instrument, for which 2SLS is
    biased towards OLS and its intervals are unreliable (Staiger & Stock 1997; Stock &
    Yogo 2005).
    """

    coefficient: float
    std_error: float
    f_statistic: float
    n_obs: int

    @property
    def weak(self) -> bool:
        """True when the first-stage F is below :data:`WEAK_INSTRUMENT_F`."""
        return bool(self.f_statistic < WEAK_INSTRUMENT_F)


@dataclass(frozen=True)
class Estimate:
    """One effect estimate (contract: ``docs/contracts.md``, "Estimates").

    Attributes
    ----------
    outcome
        Outcome name, e.g. ``"violence"`` (or the estimator's label for a harm outcome).
    estimand
        What is estimated, e.g. ``"ITT"`` or ``"CACE"``.
    model
        The estimator, e.g. ``"poisson_fe"``, ``"negbin_fe"``, ``"diff_in_means"``.
    estimate, std_error, conf_low, conf_high
        Point estimate, standard error and confidence limits on the model's scale.
    p_value
        Model-based two-sided p-value.
    ri_p_value
        Randomisation-inference p-value, when computed.
    irr
        Incidence rate ratio ``exp(estimate)`` for log-linear models, else ``None``.
    n_obs, n_clusters
        Number of hotspot-days and of hotspots (clusters) used.
    term, details, notes
        The coefficient's name, the specification in words (prose for people, never
        parsed), and caveats (optional).
    first_stage
        The first stage of an instrumental-variables estimate (``None`` otherwise).
    nb_theta
        The NB2 shape θ of a negative binomial model, variance ``μ + μ²/θ`` (``None``
        otherwise).
    se_type
        How ``std_error`` was computed: ``"CR2"`` (Bell–McCaffrey, Satterthwaite df;
        :mod:`guardian_rct.estimation.cr2`) or ``"CR1"`` (``G/(G−1)·(N−1)/(N−K)``).
    df
        Degrees of freedom of the t reference used for ``conf_low``/``conf_high`` and
        ``p_value`` (Satterthwaite for CR2, ``G − 1`` for CR1).
    wild_p_value
        Wild cluster score bootstrap p-value (Kline & Santos 2012), when computed.
    ri_conf_low, ri_conf_high
        Randomisation-inference (test-inversion) confidence limits for the *rate ratio*,
        when computed (``None`` when not computed or open on that side).
    """

    outcome: str
    estimand: str
    model: str
    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float
    ri_p_value: float | None
    irr: float | None
    n_obs: int
    n_clusters: int
    term: str = "treated"
    details: str = ""
    notes: tuple[str, ...] = ()
    first_stage: FirstStage | None = None
    nb_theta: float | None = None
    se_type: str = "CR1"
    df: float | None = None
    wild_p_value: float | None = None
    ri_conf_low: float | None = None
    ri_conf_high: float | None = None

    @property
    def outcome_name(self) -> str:
        """The outcome without a panel-column prefix: ``count_violence`` → ``violence``."""
        return self.outcome.split("_", 1)[1] if self.measure != "other" else self.outcome

    @property
    def measure(self) -> str:
        """``"count"`` or ``"harm"`` when ``outcome`` is a panel column name, else ``"other"``."""
        head = self.outcome.split("_", 1)[0]
        return head if head in ("count", "harm") and "_" in self.outcome else "other"

    @property
    def estimable(self) -> bool:
        """True when the point estimate and its standard error are finite numbers."""
        return _finite_or_none(self.estimate) is not None and _finite_or_none(self.std_error) is not None

    @property
    def pct_change(self) -> float | None:
        """Percentage change in the rate, ``100 * (irr - 1)``; ``None`` without a rate ratio."""
        irr = _finite_or_none(self.irr)
        return None if irr is None else 100.0 * (irr - 1.0)

    @property
    def irr_conf_low(self) -> float | None:
        """Lower confidence limit of the rate ratio, ``exp(conf_low)``; ``None`` without one."""
        return self._exp_limit(self.conf_low)

    @property
    def irr_conf_high(self) -> float | None:
        """Upper confidence limit of the rate ratio, ``exp(conf_high)``; ``None`` without one."""
        return self._exp_limit(self.conf_high)

    def _exp_limit(self, limit: float) -> float | None:
        if _finite_or_none(self.irr) is None or _finite_or_none(limit) is None:
            return None
        try:
            return math.exp(limit)
        except OverflowError:
            return None

    @property
    def z_value(self) -> float | None:
        """Wald statistic ``estimate / std_error`` (``None`` when not estimable or SE is 0)."""
        if not self.estimable or self.std_error == 0:
            return None
        return float(self.estimate) / float(self.std_error)

    def to_dict(self) -> dict[str, Any]:
        """The JSON fields of the milestone report; non-finite numbers become ``None``.

        The first stage is flattened into ``first_stage_coef``, ``first_stage_se``,
        ``first_stage_f``, ``first_stage_n`` and ``weak_instrument`` (all ``None``
        without one).
        """
        fs = self.first_stage
        return {
            "outcome": str(self.outcome),
            "estimand": str(self.estimand),
            "model": str(self.model),
            "estimate": _finite_or_none(self.estimate),
            "std_error": _finite_or_none(self.std_error),
            "conf_low": _finite_or_none(self.conf_low),
            "conf_high": _finite_or_none(self.conf_high),
            "p_value": _finite_or_none(self.p_value),
            "ri_p_value": _finite_or_none(self.ri_p_value),
            "irr": _finite_or_none(self.irr),
            "n_obs": int(self.n_obs),
            "n_clusters": int(self.n_clusters),
            "term": self.term,
            "details": self.details,
            "notes": list(self.notes),
            "irr_conf_low": self.irr_conf_low,
            "irr_conf_high": self.irr_conf_high,
            "pct_change": self.pct_change,
            "outcome_name": self.outcome_name,
            "measure": self.measure,
            "first_stage_coef": _finite_or_none(fs.coefficient) if fs else None,
            "first_stage_se": _finite_or_none(fs.std_error) if fs else None,
            "first_stage_f": _finite_or_none(fs.f_statistic) if fs else None,
            "first_stage_n": int(fs.n_obs) if fs else None,
            "weak_instrument": fs.weak if fs else None,
            "nb_theta": _finite_or_none(self.nb_theta),
            "se_type": self.se_type,
            "df": _finite_or_none(self.df),
            "wild_p_value": _finite_or_none(self.wild_p_value),
            "ri_conf_low": _finite_or_none(self.ri_conf_low),
            "ri_conf_high": _finite_or_none(self.ri_conf_high),
        }

    def with_ri(self, ri_p_value: float) -> Estimate:
        """A copy carrying a randomisation-inference p-value."""
        return dataclasses.replace(self, ri_p_value=float(ri_p_value))

    def to_frame(self) -> pd.DataFrame:
        """A one-row DataFrame of :meth:`to_dict`."""
        row = self.to_dict()
        row["notes"] = "; ".join(self.notes)
        return pd.DataFrame([row])

    def summary(self) -> str:
        """One line for people: effect, interval and p-value."""
        if not self.estimable:
            return f"{self.outcome} {self.estimand} ({self.model}): not estimable"
        if self.irr is not None:
            text = (f"{self.outcome} {self.estimand} ({self.model}): rate ratio {self.irr:.3f} "
                    f"[{self.irr_conf_low:.3f}, {self.irr_conf_high:.3f}], "
                    f"{self.pct_change:+.1f}%")
        else:
            text = (f"{self.outcome} {self.estimand} ({self.model}): {self.estimate:.4g} "
                    f"[{self.conf_low:.4g}, {self.conf_high:.4g}]")
        text += f", p = {self.p_value:.3g}"
        if self.ri_p_value is not None:
            text += f", RI p = {self.ri_p_value:.3g}"
        if self.first_stage is not None:
            text += (f", first stage {self.first_stage.coefficient:.3f} "
                     f"(F = {self.first_stage.f_statistic:.1f}{', weak' if self.first_stage.weak else ''})")
        if self.nb_theta is not None:
            text += f", theta = {self.nb_theta:.3g}"
        return text + f" (N = {self.n_obs}, {self.n_clusters} hotspots)"
