"""Check parsed TOML against typed, frozen dataclasses: the config's schema machinery.

Each config section is a frozen dataclass whose annotations are the schema: the value of
every key is checked against its annotation (``int``, ``float``, ``str``, ``bool``,
``datetime.date``, ``Path``, ``PatrolWindow``, ``Literal``, optional and tuple types),
unknown keys are refused with a suggestion, and missing required keys are named. The
messages are :class:`~guardian_rct._core.errors.ConfigError` naming the key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal

from guardian_rct._core.errors import ConfigError
from guardian_rct.config.windows import PatrolWindow, parse_window

__all__ = ["build_section", "unknown_key", "plain"]


def plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (dt.date, dt.time, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    return value


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return " or ".join(_type_name(a) for a in args)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        return f"a list of {_type_name(inner)}"
    return {
        int: "an integer",
        float: "a number",
        str: "a string",
        bool: "true or false",
        dt.date: "a date such as 2023-05-01",
        Path: "a file path (string)",
        PatrolWindow: "a window 'HH:MM-HH:MM'",
    }.get(tp, getattr(tp, "__name__", str(tp)))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted."""
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        args = typing.get_args(tp)
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError:
                continue
        raise _type_error(value, tp, key)
    if origin is Literal:
        if value in typing.get_args(tp):
            return value
        raise _type_error(value, tp, key)
    if origin is tuple:
        inner = typing.get_args(tp)[0]
        if not isinstance(value, list):
            raise _type_error(value, tp, key)
        return tuple(_coerce(v, inner, f"{key}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):  # TOML allows nan and inf; no setting means them
                raise ConfigError("must be a finite number", expected="a number such as 24",
                                  found=str(value), where=key, fix="write a finite value")
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif tp is Path:
        if isinstance(value, str) and value.strip():
            return Path(value)
    elif tp is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                pass
    elif tp is PatrolWindow:
        if isinstance(value, str):
            return parse_window(value, key)
    raise _type_error(value, tp, key)


def _type_error(value: Any, tp: Any, key: str) -> ConfigError:
    shown = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return ConfigError(
        "wrong type or value",
        expected=_type_name(tp),
        found=f"{shown} ({type(value).__name__})",
        where=key,
        fix=f"set {key} to {_type_name(tp)}",
    )


def unknown_key(key: str, known: list[str], where: str) -> ConfigError:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return ConfigError(
        f"unknown key '{key}'",
        expected="one of " + ", ".join(sorted(known)),
        found=repr(key),
        where=where,
        fix=f"{hint}remove or rename it",
    )


def build_section(name: str, cls: type, raw: Any) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"[{name}] must be a table",
            found=type(raw).__name__,
            where=name,
            fix=f"write it as a [{name}] section",
        )
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key in raw:
        if key not in fields:
            raise unknown_key(key, list(fields), f"{name}.{key}")
    kwargs = {}
    for fname, fld in fields.items():
        if fname in raw:
            kwargs[fname] = _coerce(raw[fname], hints[fname], f"{name}.{fname}")
        elif fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
            raise ConfigError(
                f"missing required key '{fname}'",
                expected=_type_name(hints[fname]),
                found="nothing",
                where=f"{name}.{fname}",
                fix=f"add {fname} = ... to the [{name}] section",
            )
    return cls(**kwargs)


