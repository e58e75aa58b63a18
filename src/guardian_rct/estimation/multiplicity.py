"""Multiplicity: Holm adjustment across declared outcomes and group-sequential boundaries.

Two problems make naive p-values too optimistic in a milestone evaluation:

* several declared outcomes are tested at once — :func:`holm_adjust` controls the
  family-wise error rate (Holm 1979);
* the trial is looked at repeatedly (e.g. at 6 and 12 months) — :func:`obf_boundaries`
  gives the nominal critical values that keep the overall type I error at ``alpha`` when
  the looks spend it with the Lan–DeMets O'Brien–Fleming-type spending function (Lan &
  DeMets 1983; Jennison & Turnbull 2000, *Group Sequential Methods with Applications to
  Clinical Trials*, ch. 7 and the numerical integration of ch. 19).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import optimize, special, stats

from guardian_rct._core.errors import ConfigError

__all__ = [
    "holm_adjust",
    "obf_spending",
    "obf_boundaries",
    "SequentialBoundaries",
    "information_fractions",
    "event_information_fractions",
    "expected_remaining_events",
]


def holm_adjust(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (Holm 1979, *Scand. J. Statist.* 6:65–70).

    With the p-values sorted ascending ``p_(1) <= ... <= p_(m)``, the adjusted value of the
    ``i``-th is ``max_{j <= i} min(1, (m - j + 1) p_(j))``; returned in the input order.
    Rejecting where the adjusted p-value is at most ``alpha`` controls the family-wise error
    rate at ``alpha`` under any dependence between the tests.

    Raises
    ------
    ValueError
        If a p-value is missing or outside [0, 1] (callers decide how to treat outcomes
        that could not be tested before calling).
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise ValueError("holm_adjust takes a flat sequence of p-values")
    if p.size == 0:
        return p.copy()
    if not np.all(np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError(f"p-values must lie in [0, 1]; found {p.tolist()}")
    m = p.size
    order = np.argsort(p, kind="stable")
    stepped = (m - np.arange(m)) * p[order]
    adjusted_sorted = np.minimum(1.0, np.maximum.accumulate(stepped))
    out = np.empty(m)
    out[order] = adjusted_sorted
    return out


def obf_spending(t: float | np.ndarray, alpha: float = 0.05, *,
                 sides: Literal[1, 2] = 2) -> np.ndarray:
    """Cumulative type I error spent by information fraction ``t`` (Lan & DeMets 1983).

    The O'Brien–Fleming-type spending function for a one-sided level ``a`` is
    ``a(t) = 2 - 2 Phi(z_{a/2} / sqrt(t))`` with ``z_q`` the upper ``q`` quantile; it spends
    almost nothing early and ``a`` at ``t = 1``. A two-sided test of level ``alpha`` is
    treated as symmetric, each side spending ``a = alpha / 2`` (the convention of
    Jennison & Turnbull 2000, gsDesign and rpact), so the two-sided spend is ``2 a(t)``.

    Parameters
    ----------
    t
        Information fraction(s) in (0, 1].
    alpha
        Overall level: two-sided when ``sides=2`` (default), one-sided when ``sides=1``.
    """
    t = np.asarray(t, dtype=float)
    per_side = alpha / 2 if sides == 2 else alpha
    z = stats.norm.isf(per_side / 2)
    with np.errstate(divide="ignore"):
        spent = 2.0 * stats.norm.sf(z / np.sqrt(t))
    spent = np.where(t > 0, spent, 0.0)
    return sides * spent


@dataclass(frozen=True)
class SequentialBoundaries:
    """Nominal critical values of a group-sequential test.

    Attributes
    ----------
    information_fractions
        ``t_1 < ... < t_k`` of the looks made so far (1 at the planned end).
    z_boundaries
        Reject at look ``j`` when ``|Z_j| >= z_boundaries[j]`` (two-sided) or
        ``Z_j >= z_boundaries[j]`` (one-sided). ``inf`` when the spending function spends
        nothing by that look (a very early look); ``None`` in :meth:`to_dict`.
    nominal_p
        The same boundaries as nominal p-value thresholds (two-sided when ``sides=2``).
    cumulative_alpha
        Type I error spent up to each look.
    alpha, sides
        Overall level and sidedness.
    """

    information_fractions: tuple[float, ...]
    z_boundaries: tuple[float, ...]
    nominal_p: tuple[float, ...]
    cumulative_alpha: tuple[float, ...]
    alpha: float
    sides: int
    spending: str = "Lan-DeMets O'Brien-Fleming"

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return {
            "spending": self.spending,
            "alpha": self.alpha,
            "sides": self.sides,
            "looks": [
                {"look": i + 1, "information_fraction": t,
                 "z_boundary": z if np.isfinite(z) else None, "nominal_p": p, "cumulative_alpha": a}
                for i, (t, z, p, a) in enumerate(zip(self.information_fractions, self.z_boundaries,
                                                     self.nominal_p, self.cumulative_alpha,
                                                     strict=True))
            ],
        }


def _simpson(lo: float, hi: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and composite Simpson weights on [lo, hi] with ``n`` (odd) nodes."""
    nodes = np.linspace(lo, hi, n)
    h = (hi - lo) / (n - 1)
    weights = np.full(n, 2.0)
    weights[1::2] = 4.0
    weights[0] = weights[-1] = 1.0
    return nodes, weights * h / 3.0


def obf_boundaries(information_fractions: Sequence[float], alpha: float = 0.05, *,
                   sides: Literal[1, 2] = 2, grid: int = 2001) -> SequentialBoundaries:
    """Nominal boundaries for looks at ``t_1 < ... < t_k`` under O'Brien–Fleming spending.

    The boundary ``c_j`` solves ``P(no crossing before j, cross at j) = a(t_j) - a(t_{j-1})``
    under the null, where the standardised statistics ``Z_j`` have the canonical joint
    distribution ``corr(Z_i, Z_j) = sqrt(t_i / t_j)`` (Jennison & Turnbull 2000, §3.1).
    The sub-densities of ``Z_j`` on the continuation region are propagated by the
    recursive numerical integration of Armitage, McPherson & Rowe (1969) as set out in
    Jennison & Turnbull (2000, ch. 19), with composite Simpson's rule on ``grid`` nodes;
    each ``c_j`` is found with Brent's method. Deterministic (no Monte Carlo).

    Published values (one-sided 0.025 / two-sided 0.05): two looks at ``t = 0.5, 1`` give
    2.963 and 1.969; five equal looks give 4.877, 3.357, 2.680, 2.290, 2.031.

    Raises
    ------
    ConfigError
        If the fractions are not strictly increasing within (0, 1] or ``alpha`` is not in
        (0, 1).
    """
    t = np.asarray(information_fractions, dtype=float)
    if t.ndim != 1 or t.size == 0 or np.any(~np.isfinite(t)) or np.any(t <= 0) or np.any(t > 1) \
            or np.any(np.diff(t) <= 0):
        raise ConfigError(
            "information fractions of the looks are not usable",
            expected="strictly increasing fractions in (0, 1], e.g. 0.5, 1",
            found=", ".join(f"{x:g}" for x in np.ravel(t)) or "none",
            where="evaluation.milestones",
            fix="list each milestone once, in date order, within the trial period",
        )
    if not 0 < alpha < 1:
        raise ConfigError("alpha must be between 0 and 1", found=str(alpha), where="evaluation.alpha",
                          fix="use e.g. 0.05")
    if grid % 2 == 0:
        grid += 1
    cumulative = obf_spending(t, alpha, sides=sides)
    increments = np.diff(np.concatenate([[0.0], cumulative]))
    bounds: list[float] = []
    nodes = weights = density = None  # sub-density of Z_{j-1} on its continuation region
    for j in range(t.size):
        target = float(increments[j])
        if j == 0:
            def exit_prob(c: float) -> float:
                return float(sides * stats.norm.sf(c))
        else:
            scale = np.sqrt(t[j] - t[j - 1])
            shift = nodes * np.sqrt(t[j - 1])
            root_t = np.sqrt(t[j])
            mass = weights * density

            def exit_prob(c: float, shift=shift, scale=scale, root_t=root_t, mass=mass) -> float:
                upper = special.ndtr((shift - c * root_t) / scale)
                if sides == 2:
                    upper = upper + special.ndtr((-c * root_t - shift) / scale)
                return float(mass @ upper)
        if target <= 0:
            c = float("inf")
        else:
            c = float(optimize.brentq(lambda x, f=exit_prob, a=target: f(x) - a, 1e-6, 40.0, xtol=1e-12))
        bounds.append(c)
        # Propagate the sub-density to the continuation region of this look.
        lo = -c if sides == 2 else -12.0 + min(0.0, c)
        hi = c
        hi = min(hi, 40.0)
        lo = max(lo, -40.0)
        new_nodes, new_weights = _simpson(lo, hi, grid)
        if j == 0:
            new_density = np.exp(-0.5 * new_nodes**2) / np.sqrt(2 * np.pi)
        else:
            scale = np.sqrt(t[j] - t[j - 1])
            arg = (new_nodes[:, None] * np.sqrt(t[j]) - nodes[None, :] * np.sqrt(t[j - 1])) / scale
            kernel = np.exp(-0.5 * arg * arg) * (np.sqrt(t[j]) / (scale * np.sqrt(2 * np.pi)))
            new_density = kernel @ (weights * density)
        nodes, weights, density = new_nodes, new_weights, new_density
    z = np.asarray(bounds)
    nominal = sides * stats.norm.sf(z)
    return SequentialBoundaries(
        information_fractions=tuple(float(x) for x in t),
        z_boundaries=tuple(float(x) for x in z),
        nominal_p=tuple(float(x) for x in nominal),
        cumulative_alpha=tuple(float(x) for x in cumulative),
        alpha=float(alpha),
        sides=int(sides),
    )


def information_fractions(start: dt.date, end: dt.date, looks: Sequence[dt.date]) -> list[float]:
    """Information fraction of each look as the share of the trial's days elapsed.

    In a crossover trial every experimental day adds the same number of hotspot-days, so
    calendar time is the natural information scale (Lan & DeMets 1983 allow any
    monotone scale fixed in advance). A look on ``end`` has fraction 1.
    """
    total = (end - start).days + 1
    out = []
    for day in looks:
        out.append(min(1.0, max(0.0, ((day - start).days + 1) / total)))
    return out


def event_information_fractions(observed_events: Sequence[float],
                                expected_remaining: Sequence[float]) -> list[float]:
    """Information fraction of each look on the expected-events scale.

    For a rate ratio of counts the Fisher information of ``log IRR`` grows with the number
    of events (``Var ≈ 1/E_1 + 1/E_0``), not with calendar time (Jennison & Turnbull 2000,
    §7.2.2, event-driven information; Lan & DeMets 1983 allow any information scale fixed in
    advance). At look ``j`` the fraction is ``O_j / (O_j + R_j)``: events observed so far over
    those plus the events still expected at the baseline rate for the days left
    (``R_j``, :func:`expected_remaining_events`). It is 1 at the end of the trial
    (``R = 0``) and below 1 before it however many events came early; fractions are made
    strictly increasing (a look with less information than the one before is given the
    previous fraction plus 1e-6) so that the spending function stays defined.

    Raises
    ------
    ConfigError
        On negative counts, or when a look before the end has no events at all.
    """
    out: list[float] = []
    for o, r in zip(observed_events, expected_remaining, strict=True):
        o, r = float(o), float(r)
        if o < 0 or r < 0 or not (np.isfinite(o) and np.isfinite(r)):
            raise ConfigError("event counts must be non-negative numbers", found=f"{o}, {r}",
                              where="information fraction", fix="use the calendar information scale")
        if o + r == 0:
            raise ConfigError("no events observed or expected at a look", where="information fraction",
                              fix="use [evaluation] information = \"calendar\"")
        f = o / (o + r)
        if out and f <= out[-1]:
            f = min(1.0, out[-1] + 1e-6)
        out.append(f)
    return out


def expected_remaining_events(baseline_total: float, baseline_days: int, days_left: int) -> float:
    """Events expected in ``days_left`` days at the baseline rate ``baseline_total / baseline_days``."""
    if baseline_days <= 0:
        return float("nan")
    return float(baseline_total) / baseline_days * max(0, days_left)
