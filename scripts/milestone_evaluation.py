#!/usr/bin/env python
"""Cron/cluster-friendly wrapper for the milestone evaluation.

Usage (same options as ``guardian-rct evaluate``)::

    scripts/milestone_evaluation.py --config trial.toml --crimes crimes.csv \
        [--pings pings.parquet | --compliance compliance.csv] [--allocation allocation.csv] \
        --out reports/2023-04-03

Exit codes: 0 success, 1 bad data or runtime failure, 2 bad usage or config.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from guardian_rct.cli import main
except ModuleNotFoundError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from guardian_rct.cli import main


if __name__ == "__main__":
    sys.exit(main(["evaluate", *sys.argv[1:]]))
