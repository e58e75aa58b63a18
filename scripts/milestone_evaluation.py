#!/usr/bin/env python
"""Cron/cluster-friendly wrapper for the milestone evaluation.

Usage (same options as ``guardian-rct evaluate``)::

    scripts/milestone_evaluation.py --config trial.toml --crimes crimes.csv \
        [--pings pings.parquet | --compliance compliance.csv] [--allocation allocation.csv] \
        --out reports/2023-04-03

``--log FILE`` appends one line per outcome (and the ledger head after a failure);
``--debug`` adds tracebacks. Exit codes: 0 success, 1 bad data or runtime failure, 2 bad
usage or config.
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from guardian_rct.cli import main as cli_main
except ModuleNotFoundError:  # running from a source checkout without installing
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from guardian_rct.cli import main as cli_main
from guardian_rct.jobs.cron import cron_logger, run_logged  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    log_path = None
    if "--log" in argv:
        i = argv.index("--log")
        if i + 1 >= len(argv):
            print("error: --log needs a file name", file=sys.stderr)
            return 2
        log_path = Path(argv[i + 1])
        del argv[i:i + 2]
    config = Path(argv[argv.index("--config") + 1]) if "--config" in argv[:-1] else None
    log = cron_logger("milestone_evaluation", log_path)

    def body() -> int:
        code = cli_main(["evaluate", *argv])
        if code == 0:
            log.info("milestone evaluation written (%s)", " ".join(argv))
        return code

    return run_logged(log, body, debug="--debug" in argv, config_path=config)


if __name__ == "__main__":
    sys.exit(main())
