"""guardian_rct: randomised controlled trials of police patrols in crime hotspots.

Import as ``import guardian_rct as grct``. The public API is listed in ``__all__``;
modules hold one concept each (see DESIGN.md §2).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("guardian-rct")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0+src"

from guardian_rct.allocation import Allocation, read_allocation_csv, write_allocation_csv  # noqa: E402
from guardian_rct.config import TrialConfig, load_config  # noqa: E402
from guardian_rct.crimes import CrimeSet, read_crimes  # noqa: E402
from guardian_rct.errors import (  # noqa: E402
    ConfigError,
    DataError,
    GuardianError,
    GuardianWarning,
    StoreError,
)
from guardian_rct.harm import HarmIndex, load_harm_index  # noqa: E402
from guardian_rct.hotspots import HotspotSet, read_hotspots  # noqa: E402
from guardian_rct.panel import Panel, build_panel  # noqa: E402
from guardian_rct.provenance import Provenance, make_provenance  # noqa: E402
from guardian_rct.rng import stream  # noqa: E402
from guardian_rct.store import init_trial, open_trial  # noqa: E402

__all__ = [
    "__version__",
    "Allocation",
    "ConfigError",
    "CrimeSet",
    "DataError",
    "GuardianError",
    "GuardianWarning",
    "HarmIndex",
    "HotspotSet",
    "Panel",
    "Provenance",
    "StoreError",
    "TrialConfig",
    "build_panel",
    "init_trial",
    "load_config",
    "load_harm_index",
    "make_provenance",
    "open_trial",
    "read_allocation_csv",
    "read_crimes",
    "read_hotspots",
    "stream",
    "write_allocation_csv",
]
