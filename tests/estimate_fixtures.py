"""Test helpers: tiny designs and synthetic panels with a known effect.

These stand in for ``guardian_rct.design.factory.design_from_config`` and ``guardian_rct.crimes.panel``
(being written on other branches); they follow docs/contracts.md (Design protocol, Panel
schema) so that the estimators are tested against the contract. The scripts
``simulation_study.py`` and ``bench_ri.py`` import them too.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["CrossoverDesign", "ParallelDesign", "make_panel"]


class CrossoverDesign:
    """Daily complete randomisation of ``k`` hotspots per block (Design protocol)."""

    kind = "crossover"

    def __init__(self, n_hotspots: int, n_days: int, *, treated_per_block: dict[str, int] | int,
                 blocks: list[str] | None = None, start: dt.date = dt.date(2023, 1, 2)) -> None:
        self.hotspot_ids = tuple(f"H{i + 1:03d}" for i in range(n_hotspots))
        self.blocks = tuple(blocks) if blocks is not None else ("A",) * n_hotspots
        self.days = tuple(start + dt.timedelta(days=i) for i in range(n_days))
        names = sorted(set(self.blocks))
        if isinstance(treated_per_block, int):
            treated_per_block = {b: treated_per_block for b in names}
        self._groups = [(np.flatnonzero(np.array(self.blocks) == b), treated_per_block[b]) for b in names]

    def probabilities(self) -> np.ndarray:
        p = np.zeros(len(self.hotspot_ids))
        for cols, k in self._groups:
            p[cols] = k / cols.size
        return np.broadcast_to(p, (len(self.days), p.size)).copy()

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        k_draws = 1 if size is None else size
        u = rng.random((k_draws, len(self.days), len(self.hotspot_ids)), dtype=np.float32)
        out = np.empty(u.shape, dtype=bool)
        for cols, k in self._groups:
            ub = u[..., cols]
            kth = np.partition(ub, k - 1, axis=-1)[..., k - 1:k]
            out[..., cols] = ub <= kth
        return out[0] if size is None else out


class ParallelDesign:
    """Complete randomisation of ``n_treated`` hotspots for the whole trial."""

    kind = "parallel"

    def __init__(self, n_hotspots: int, n_days: int, *, n_treated: int,
                 start: dt.date = dt.date(2023, 1, 2)) -> None:
        self.hotspot_ids = tuple(f"H{i + 1:03d}" for i in range(n_hotspots))
        self.blocks = ("A",) * n_hotspots
        self.days = tuple(start + dt.timedelta(days=i) for i in range(n_days))
        self.n_treated = n_treated

    def probabilities(self) -> np.ndarray:
        return np.full((len(self.days), len(self.hotspot_ids)), self.n_treated / len(self.hotspot_ids))

    def draw(self, rng: np.random.Generator, *, size: int | None = None) -> np.ndarray:
        k_draws = 1 if size is None else size
        u = rng.random((k_draws, len(self.hotspot_ids)))
        kth = np.partition(u, self.n_treated - 1, axis=-1)[:, self.n_treated - 1:self.n_treated]
        one = u <= kth
        out = np.broadcast_to(one[:, None, :], (k_draws, len(self.days), len(self.hotspot_ids)))
        return out[0].copy() if size is None else out.copy()


def make_panel(design, rng: np.random.Generator, *, irr: float = 0.8, mean_rate: float = 0.3,
               hotspot_sd: float = 0.6, day_sd: float = 0.2, overdispersion: float | None = None,
               outcome: str = "violence", delivered_rate: float = 1.0,
               contamination_rate: float = 0.0, assignment: np.ndarray | None = None) -> pd.DataFrame:
    """A panel frame of the contract schema with a known multiplicative effect.

    The rate is ``mean_rate · exp(hotspot + day effects) · irr^(patrol present)``; a patrol
    is present on treated days with probability ``delivered_rate`` and on control days with
    ``contamination_rate`` (so the ITT rate ratio is diluted when compliance is partial).
    Counts are Poisson (or NB2 with shape ``overdispersion``); harm is the sum over events
    of heavy-tailed (lognormal) CCHI days, so its rate ratio is ``irr`` too.
    """
    T = design.draw(rng) if assignment is None else assignment
    n_days, n_hot = T.shape
    a = rng.normal(0, hotspot_sd, n_hot)
    g = rng.normal(0, day_sd, n_days)
    base_rate = mean_rate * np.exp(a[None, :] + g[:, None])
    delivered = np.where(T, rng.random(T.shape) < delivered_rate, False)
    contaminated = np.where(~T, rng.random(T.shape) < contamination_rate, False)
    present = delivered | contaminated
    rate = base_rate * np.where(present, irr, 1.0)
    if overdispersion is not None:
        rate = rate * rng.gamma(overdispersion, 1 / overdispersion, rate.shape)
    counts = rng.poisson(rate)
    total = int(counts.sum())
    weights = rng.lognormal(1.0, 1.5, total)
    owner = np.repeat(np.arange(counts.size), counts.ravel())
    harm = np.bincount(owner, weights=weights, minlength=counts.size).reshape(counts.shape)
    dosage = np.where(present, rng.gamma(2.0, 8.0, T.shape), 0.0)
    baseline = rng.poisson(365 * mean_rate * np.exp(a))
    days = pd.to_datetime(pd.Series(design.days).repeat(n_hot).to_numpy())
    probs = design.probabilities()
    frame = pd.DataFrame({
        "hotspot_id": np.tile(design.hotspot_ids, n_days),
        "block": np.tile(design.blocks, n_days),
        "date": days,
        "day_index": np.repeat(np.arange(n_days), n_hot),
        "dow": days.day_of_week,
        "arm": np.where(T.ravel(), "treatment", "control"),
        "treated": T.ravel().astype(int),
        "p_treated": probs.ravel(),
        f"count_{outcome}": counts.ravel(),
        f"harm_{outcome}": harm.ravel(),
        f"baseline_count_{outcome}": np.tile(baseline, n_days),
        f"baseline_harm_{outcome}": np.tile(baseline * 8.0, n_days).astype(float),
        "delivered": delivered.ravel().astype(int),
        "dosage_minutes": dosage.ravel(),
        "contaminated": contaminated.ravel().astype(int),
    })
    return frame
