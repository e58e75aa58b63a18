"""The SIMULATED DATA banner: how a report knows it was made from simulated data.

Two signals, either of which puts the banner on a report (tasking sheet, weekly
compliance report, milestone report, status page):

1. the trial is simulated: ``[trial] simulated = true`` (the demo writes it into its
   ``trial.toml``), or, for the tasking sheet and the status page, its schedules were
   published with ``publish_range(..., simulated=True)`` (the horizon lifted, which only a
   simulated trial may do; the hashed record says so, :attr:`PublishedSchedule.simulated`),
   so the demo's sheets and status page carry the banner even though they read no
   simulated file;
2. an input file lies in a folder written by :func:`guardian_rct.simulation.writers.write_simulation`,
   recognised by the ``truth.json`` beside it (a JSON object with ``"simulated": true``, or
   an older truth file with ``"schema"`` and no ``"simulated"`` key; another program's
   ``truth.json`` does not count). So simulated crimes or pings fed into a real
   trial's weekly or milestone run are flagged too, whoever runs it.

A real trial with real files gets neither signal and no banner. The notice is part of the
report's data (``"simulated"``: ``null`` or ``{"text", "sources"}``), and ``base.html``
shows it at the top of the page when present.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["simulated_sources", "simulated_notice", "TRUTH_FILE"]

TRUTH_FILE = "truth.json"


def _is_truth_file(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    if not isinstance(data, dict):
        return False
    return data["simulated"] is True if "simulated" in data else "schema" in data


def simulated_sources(paths: Iterable[str | Path | None]) -> list[str]:
    """The input files among ``paths`` that were written by the simulator (a guardian_rct
    ``truth.json`` lies beside them), as strings, in the order given, without repeats."""
    found: list[str] = []
    for p in paths:
        if p is None or str(p) == "":
            continue
        path = Path(p)
        folder = path if path.is_dir() else path.parent
        truth = folder / TRUTH_FILE
        if path.name != TRUTH_FILE and truth.is_file() and _is_truth_file(truth) and str(path) not in found:
            found.append(str(path))
    return found


def simulated_notice(declared: bool, inputs: Iterable[str | Path | None] = ()) -> dict[str, Any] | None:
    """The banner's data, or ``None`` for a real trial with real inputs.

    Parameters
    ----------
    declared
        ``[trial] simulated`` of the trial config.
    inputs
        The files the report was made from (pings, crimes, allocation...).
    """
    sources = simulated_sources(inputs)
    if not declared and not sources:
        return None
    if declared:
        text = ("SIMULATED DATA: this trial is a simulation (the demo), not a real trial; "
                "no number on this page describes real patrols or crimes.")
    else:
        text = ("SIMULATED DATA: made from simulated " + ", ".join(Path(s).name for s in sources)
                + "; no number on this page describes real patrols or crimes.")
    return {"text": text, "declared": bool(declared), "sources": sources}
