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
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("guardian-rct")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0+src"

_API: dict[str, str] = {
    # foundation
    "GuardianError": "errors", "ConfigError": "errors", "DataError": "errors", "StoreError": "errors",
    "UsageError": "errors", "GuardianWarning": "errors",
    "TrialConfig": "config", "load_config": "config",
    "stream": "rng",
    "Provenance": "provenance", "make_provenance": "provenance",
    "init_trial": "store", "open_trial": "store",
    # hotspots
    "HotspotSet": "hotspots", "read_hotspots": "hotspots", "buffer_rings": "hotspots",
    "build_hotspots": "hotspot_build", "coverage": "coverage", "read_street_crimes": "policeuk",
    # schedule
    "Allocation": "allocation", "read_allocation_csv": "allocation", "write_allocation_csv": "allocation",
    "design_from_config": "design", "publish": "ledger", "publish_range": "ledger",
    "published_allocation": "ledger", "verify": "ledger_verify",
    # compliance
    "read_pings": "pings", "score_pings": "presence", "score_compliance": "compliance",
    "weekly_compliance_report": "weekly_job",
    # crimes, harm, panel
    "CrimeSet": "crimes", "read_crimes": "crimes", "HarmIndex": "harm", "load_harm_index": "harm",
    "Panel": "panel", "build_panel": "panel",
    # evaluation
    "Estimate": "estimate_types", "poisson_fe": "estimate", "itt_estimates": "estimate",
    "randomisation_test": "inference", "cace": "iv", "carryover": "carryover", "evaluate": "evaluation",
    # simulation and demo
    "simulate_crimes": "simulate", "simulate_pings": "simulate", "run_demo": "demo",
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
