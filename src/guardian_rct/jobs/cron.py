"""What the cron scripts share: one log line per outcome, including unexpected errors.

A cron job has no one watching its terminal, so every outcome goes to its log as one
line: success, a :class:`~guardian_rct._core.errors.GuardianError` (its one-line
message and exit code), or an unexpected error (its type and message; the traceback only
with ``--debug``). After any failure the current ledger head is still logged, so the
head-hash log has no gap even when something failed after publishing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from guardian_rct._core.errors import GuardianError

__all__ = ["cron_logger", "run_logged", "ledger_head"]


def cron_logger(name: str, log_path: Path | None) -> logging.Logger:
    """A logger writing ``time LEVEL name: message`` lines to ``log_path`` (or stderr)."""
    handlers: list[logging.Handler] = ([logging.FileHandler(log_path, encoding="utf-8")] if log_path
                                       else [logging.StreamHandler()])
    logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                        format=f"%(asctime)s %(levelname)s {name}: %(message)s")
    return logging.getLogger(name)


def ledger_head(config_path: Path) -> str | None:
    """The current ledger head of the trial named by ``config_path`` (``None`` if unreadable)."""
    try:
        from guardian_rct.config.trial_config import load_config
        from guardian_rct.ledger.publish import published

        records = published(load_config(config_path))
        return records[-1].hash if records else None
    except Exception:  # noqa: BLE001 - best effort after a failure; never raise from here
        return None


def run_logged(log: logging.Logger, body: Callable[[], int], *, debug: bool = False,
               config_path: Path | None = None) -> int:
    """Run ``body`` and log its outcome in one line; return its exit code.

    After a failure the ledger head of ``config_path`` (if given) is logged too.
    """
    try:
        code = body()
    except GuardianError as exc:
        log.error("%s", str(exc).replace("\n", " "))
        code = exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a cron job must log, not crash silently
        if debug:
            log.exception("unexpected error")
        log.error("unexpected error: %s: %s (rerun with --debug for a traceback)",
                  type(exc).__name__, str(exc).replace("\n", " "))
        code = 1
    if code != 0:
        log.error("finished with exit code %d", code)
        if config_path is not None:
            log.info("ledger head %s (after the failure)", ledger_head(config_path) or "unavailable")
    return code
