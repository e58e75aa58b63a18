"""Patrol windows and clock times as users write them in ``trial.toml``.

A window is local wall-clock time ``"HH:MM-HH:MM"``; one whose end is earlier than its
start crosses midnight (``"22:00-02:00"``). Parse errors are
:class:`~guardian_rct._core.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from guardian_rct._core.errors import ConfigError

__all__ = ["PatrolWindow", "parse_window", "parse_clock"]

_CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class PatrolWindow:
    """A daily window of local clock time in which patrols may be scheduled.

    ``end`` may be earlier than ``start`` for a window that crosses midnight
    (e.g. ``22:00-02:00``).
    """

    start: dt.time
    end: dt.time

    @property
    def minutes(self) -> int:
        """Length of the window in (wall-clock) minutes."""
        start = self.start.hour * 60 + self.start.minute
        end = self.end.hour * 60 + self.end.minute
        return (end - start) % (24 * 60)

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


def parse_clock(text: str, key: str) -> dt.time:
    match = _CLOCK.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise ConfigError(
            "not a clock time",
            expected="24-hour local time HH:MM such as '06:00'",
            found=repr(text),
            where=key,
            fix=f"write {key} as \"HH:MM\"",
        )
    return dt.time(int(match.group(1)), int(match.group(2)))


def parse_window(text: str, key: str = "design.windows") -> PatrolWindow:
    """Parse ``"HH:MM-HH:MM"`` into a :class:`PatrolWindow`."""
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2:
        raise ConfigError(
            "patrol window does not parse",
            expected="'HH:MM-HH:MM' such as '15:00-23:00'",
            found=repr(text),
            where=key,
            fix="write each window as start-end in 24-hour local time",
        )
    window = PatrolWindow(parse_clock(parts[0], key), parse_clock(parts[1], key))
    if window.minutes == 0:
        raise ConfigError(
            "patrol window is empty",
            expected="a window with end different from start",
            found=repr(text),
            where=key,
            fix="widen the window",
        )
    return window


