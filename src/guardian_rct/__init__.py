"""guardian_rct: randomised controlled trials of police patrols in crime hotspots.

Import as ``import guardian_rct as grct``. The public API is listed in ``__all__``;
modules hold one concept each (see DESIGN.md §2). Names are loaded on first use
(PEP 562), so ``import guardian_rct`` and the command line start quickly.

The three jobs and their main functions:

- daily schedule: :func:`design_from_config`, :func:`publish`, :func:`publish_range`,
  :func:`published_allocation`, :func:`verify`;
- weekly compliance: :func:`read_pings`, :func:`score_pings`, :func:`score_compliance`,
  :func:`weekly_compliance_report`;
- milestone evaluation: :func:`read_crimes`, :func:`build_panel`, :func:`itt_estimates`,
  :func:`randomisation_test`, :func:`cace`, :func:`evaluate`.
"""

from __future__ import annotations

import importlib

from guardian_rct._core.version import __version__

_API: dict[str, str] = {
    # foundation
    "GuardianError": "_core.errors", "ConfigError": "_core.errors", "DataError": "_core.errors", "StoreError": "_core.errors",
    "UsageError": "_core.errors", "GuardianWarning": "_core.errors",
    "TrialConfig": "config.trial_config", "load_config": "config.trial_config",
    "stream": "_core.rng",
    "Provenance": "_core.provenance", "make_provenance": "_core.provenance",
    "init_trial": "ledger.store", "open_trial": "ledger.store",
    # hotspots
    "HotspotSet": "geo.hotspots", "read_hotspots": "geo.hotspots", "buffer_rings": "geo.rings",
    "build_hotspots": "geo.build", "coverage": "geo.coverage", "read_street_crimes": "crimes.policeuk",
    # schedule
    "Allocation": "design.allocation", "read_allocation_csv": "design.allocation", "write_allocation_csv": "design.allocation",
    "design_from_config": "design.factory", "publish": "ledger.publish", "publish_range": "ledger.publish",
    "published_allocation": "ledger.publish", "verify": "ledger.verify",
    # compliance
    "read_pings": "compliance.pings", "score_pings": "compliance.presence", "score_compliance": "compliance.scoring",
    "weekly_compliance_report": "jobs.weekly",
    # crimes, harm, panel
    "CrimeSet": "crimes.records", "read_crimes": "crimes.records", "HarmIndex": "harm.index", "load_harm_index": "harm.index",
    "Panel": "crimes.panel", "build_panel": "crimes.panel",
    # evaluation
    "Estimate": "estimation.results", "poisson_fe": "estimation.itt", "itt_estimates": "estimation.itt",
    "randomisation_test": "estimation.randomisation", "cace": "estimation.iv", "carryover": "estimation.carryover", "evaluate": "jobs.milestone",
    # simulation and demo
    "simulate_crimes": "simulation.writers", "simulate_pings": "simulation.writers", "run_demo": "jobs.demo",
}

__all__ = ["__version__", *sorted(_API)]


def __getattr__(name: str):
    module = _API.get(name)
    if module is None:
        raise AttributeError(f"module 'guardian_rct' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"guardian_rct.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
