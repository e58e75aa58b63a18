"""The status page: :class:`guardian_rct.jobs.status.TrialStatus` data as one HTML page.

Takes the status's ``to_dict()`` (schema-versioned plain data; this module does no store
I/O and no arithmetic) and renders ``templates/status.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guardian_rct.reports.render import write_html

__all__ = ["write_status_html"]


def write_status_html(status: dict[str, Any], path: str | Path) -> Path:
    """Write the status page for ``status`` (a ``TrialStatus.to_dict()``) to ``path``."""
    return write_html(path, "status.html", status=status, simulated=status.get("simulated"))
