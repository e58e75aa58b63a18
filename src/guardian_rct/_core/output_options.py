"""Per-command options of the files written for other tools (no heavy imports: the CLI loads it).

Today one option: whether CSVs start with a UTF-8 byte-order mark (``--csv-bom`` /
``[outputs] csv_bom``; see :mod:`guardian_rct._core.csv_output`). It lives in a context
variable, opened per command by the CLI with :func:`csv_bom_scope` (like
:func:`guardian_rct._core.safe_write.protected_scope`), so one command's choice never
leaks into the next command run in the same process.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

__all__ = ["csv_bom_scope", "csv_bom_enabled", "set_csv_bom"]

_BOM: contextvars.ContextVar[bool] = contextvars.ContextVar("guardian_rct_csv_bom", default=False)


def csv_bom_enabled() -> bool:
    """Whether CSVs written now (without an explicit ``bom=``) start with a UTF-8 BOM."""
    return _BOM.get()


def set_csv_bom(enabled: bool) -> None:
    """Turn the BOM on or off until the enclosing :func:`csv_bom_scope` ends (one CLI command)."""
    _BOM.set(bool(enabled))


@contextlib.contextmanager
def csv_bom_scope(enabled: bool) -> Iterator[None]:
    """Within this block CSVs carry a UTF-8 BOM when ``enabled`` (or after :func:`set_csv_bom`)."""
    token = _BOM.set(bool(enabled))
    try:
        yield
    finally:
        _BOM.reset(token)
