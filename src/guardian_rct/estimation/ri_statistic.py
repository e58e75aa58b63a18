"""The randomisation test's statistic, laid out on the design's (day, hotspot) grid.

The null-model residuals ``r`` of each hypothesised rate ratio are fixed whatever the
allocation, so the statistic of a redrawn allocation ``T`` needs no refit: per hotspot
(the cluster) ``c_h(T) = Σ_days (T − p)·r`` and

* ``"score"``: ``S(T) = Σ_h c_h(T)``, the centred Poisson score (Rao 1948; Rosenbaum
  2002, §2.4);
* ``"studentised"`` (default): ``S(T) / sqrt(Σ_h c_h(T)²)``, the score divided by its
  cluster-robust standard error, both recomputed for every redrawn ``T``.

Both give an exact test of the sharp null. The studentised statistic is also
asymptotically valid for the *weak* null (an average rate ratio τ when the effect varies
or the outcome is Poisson noise around a multiplied rate), which the plain score is not
when treated and control hotspot-days differ in variance and the assignment probability
is far from 1/2 (Chung & Romano 2013, *Ann. Statist.* 41:484–507; Wu & Ding 2021, *JASA*
116:1898–1913). The simulation study measured the plain score's test-inversion interval
covering 0.904 ± 0.019 with one hotspot in ten patrolled a day (docs/estimators_validation.md).

Two-sided p-value rules (:data:`P_VALUE_RULES`):

* ``"equal-tailed"`` (default): twice the smaller one-sided p-value,
  ``min(1, 2·min(P*(t* ≤ t), P*(t* ≥ t)))``, each one-sided p counted as
  ``(1 + #)/(1 + k)`` over ``k`` redraws (Phipson & Smyth 2010). Under the sharp null
  each side is an exact test at α/2, so the test-inversion interval is equal-tailed
  (Lehmann & Romano 2005, §3.5 and §5.8; Rosenbaum 2002, §2.4.2). With a skewed
  randomisation distribution, which the studentised statistic of heavy-tailed harm has
  when few or unequal hotspots share it, this rule follows the skew where the symmetric
  one assumes it away: the simulation study measured the symmetric rule's interval for
  the harm CACE covering 0.928 ± 0.003 with 12 hotspots in unequal blocks, with 427 of its
  460 misses on one side, and the equal-tailed rule's 0.942 ± 0.003 on the same 6,400 trials
  (docs/estimators_validation.md, follow-up 7). Under the weak null neither rule is exact.
* ``"symmetric"``: ``(1 + #{|t*| ≥ |t|})/(1 + k)``, which assumes the randomisation
  distribution is symmetric about zero (the rule before follow-up 7).

Both are exact under the sharp null (the equal-tailed one is a union of two exact
one-sided tests at α/2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["P_VALUE_RULES", "P_VALUE_RULE_WORDS", "RI_STATISTIC_WORDS", "STATISTICS", "GridStatistic",
           "one_sided_p", "two_sided_p"]

STATISTICS = ("studentised", "score")
P_VALUE_RULES = ("equal-tailed", "symmetric")

#: Each p-value rule in words, for the analysis plan.
P_VALUE_RULE_WORDS = {
    "equal-tailed": ("equal-tailed: twice the smaller one-sided randomisation p-value, each side an exact "
                     "test at α/2 under the sharp null (Lehmann & Romano 2005)"),
    "symmetric": "symmetric: the share of redraws with |t*| ≥ |t| (assumes a symmetric randomisation distribution)",
}

#: Each statistic in words, for the analysis plan.
RI_STATISTIC_WORDS = {
    "studentised": ("the centred Poisson score studentised by its cluster-robust standard error, recomputed "
                    "per redraw (Chung & Romano 2013; Wu & Ding 2021)"),
    "score": "the centred Poisson score (Rao 1948; Rosenbaum 2002, §2.4)",
}


@dataclass(frozen=True)
class GridStatistic:
    """Residuals of ``m`` hypotheses on the design's grid; called on allocations.

    Attributes
    ----------
    resid
        ``(hotspots, days, m)`` residuals ``u_τ − μ̂``; zero where the panel has no row.
    offset
        ``(hotspots, m)``: ``Σ_days p·r`` per hotspot (the centring, fixed).
    studentised
        Divide the score by its cluster-robust standard error (module notes).
    """

    resid: np.ndarray
    offset: np.ndarray
    studentised: bool
    variance_floor: np.ndarray | None = None

    @classmethod
    def build(cls, resid: np.ndarray, probs: np.ndarray, flat: np.ndarray, *, n_days: int,
              n_hotspots: int, statistic: str = "studentised") -> GridStatistic:
        """From residuals ``(n, m)`` and probabilities ``(n,)`` of panel rows at ``flat``.

        ``flat`` are the rows' positions ``day × n_hotspots + hotspot`` in the design's draws.
        """
        if statistic not in STATISTICS:
            raise ValueError(f"statistic must be one of {STATISTICS}, not {statistic!r}")
        m = resid.shape[1]
        grid = np.zeros((n_days * n_hotspots, m))
        grid[flat] = resid
        p = np.zeros(n_days * n_hotspots)
        p[flat] = probs
        by_hotspot = np.ascontiguousarray(grid.reshape(n_days, n_hotspots, m).transpose(1, 0, 2))
        offset = np.einsum("hd,hdm->hm", p.reshape(n_days, n_hotspots).T, by_hotspot)
        # Σ_h (Σ_d |r|)² bounds the variance of any allocation (|T − p| ≤ 1); a variance
        # below 1e-20 of it is round-off of an exact zero (e.g. every hotspot patrolled on
        # all or none of its days, when each hotspot's residuals sum to zero): t = 0 there,
        # not round-off divided by round-off.
        bound = (np.abs(by_hotspot).sum(axis=1) ** 2).sum(axis=0)
        return cls(resid=by_hotspot, offset=offset, studentised=statistic == "studentised",
                   variance_floor=1e-20 * bound)

    def __call__(self, allocations: np.ndarray) -> np.ndarray:
        """Statistic ``(k, m)`` of allocations ``(k, days, hotspots)`` (bool or 0/1)."""
        k = allocations.shape[0]
        t = np.asarray(allocations, dtype=np.float64).reshape(k, self.resid.shape[1], self.resid.shape[0])
        per_hotspot = np.matmul(t.transpose(2, 0, 1), self.resid) - self.offset[:, None, :]
        score = per_hotspot.sum(axis=0)
        if not self.studentised:
            return score
        variance = np.einsum("hkm,hkm->km", per_hotspot, per_hotspot)
        floor = 0.0 if self.variance_floor is None else self.variance_floor
        return np.divide(score, np.sqrt(variance), out=np.zeros_like(score), where=variance > floor)


def one_sided_p(count: np.ndarray | int, draws: int) -> np.ndarray:
    """``(1 + count) / (1 + draws)``: the p-value of ``count`` redraws at least as far out on
    one side (the observed allocation counts as one of the draws; Phipson & Smyth 2010)."""
    return (1 + np.asarray(count)) / (1 + draws)


def two_sided_p(below: np.ndarray, above: np.ndarray, beyond: np.ndarray, draws: int,
                rule: str = "equal-tailed") -> np.ndarray:
    """Two-sided randomisation p-values from redraw counts (module notes).

    Parameters
    ----------
    below, above, beyond
        Per hypothesis, the redraws with ``t* ≤ t``, ``t* ≥ t`` and ``|t*| ≥ |t|``.
    draws
        Number of redraws ``k``.
    rule
        One of :data:`P_VALUE_RULES`.
    """
    if rule not in P_VALUE_RULES:
        raise ValueError(f"rule must be one of {P_VALUE_RULES}, not {rule!r}")
    if rule == "symmetric":
        return one_sided_p(beyond, draws)
    return np.minimum(1.0, 2 * one_sided_p(np.minimum(below, above), draws))
