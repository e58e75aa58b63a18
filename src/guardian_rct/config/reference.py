"""The config reference, generated from the schema: the ``new`` template and docs/config.md.

Every key's help text lives in its dataclass field's ``metadata["help"]`` in
:mod:`guardian_rct.config.trial_config`; this module walks the sections' dataclasses and
writes (1) a commented ``trial.toml`` with every key, its default and one line on what it
means (``guardian-rct new``), and (2) the Markdown reference page ``docs/config.md``
(``scripts/build_config_docs.py``). Both come from the one source, so neither can drift:
a test regenerates the page and compares.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from guardian_rct.config.schema import _type_name
from guardian_rct.config.trial_config import _SECTIONS, DEFAULT_OUTCOMES, OutcomeSpec
from guardian_rct.config.windows import PatrolWindow

__all__ = ["KeyDoc", "section_keys", "trial_toml_template", "config_markdown"]

_SECTION_TEXT = {
    "trial": "identity, calendar, seed and store of the trial",
    "hotspots": "where the hotspot polygons are and how to read them",
    "design": "how hotspots are randomised to patrol",
    "schedule": "publishing rules for the daily schedules",
    "compliance": "how location pings become delivered patrols",
    "harm": "which crime-harm index weighs crimes",
    "evaluation": "outcomes, inference and milestones of the evaluation",
    "maps": "context layers and tiles for the maps on tasking sheets and reports",
    "outputs": "how files for other tools (Excel, Power BI, QGIS) are written",
}


@dataclasses.dataclass(frozen=True)
class KeyDoc:
    """One config key: section, name, type in words, default (TOML text or None), help."""

    section: str
    name: str
    type_name: str
    default: str | None
    required: bool
    help: str


def _toml(value: Any) -> str | None:
    """A default as TOML text; ``None`` for "unset" (no default value)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (str, Path)):
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, PatrolWindow):
        return f'"{value}"'
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_toml(v) or '""' for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def section_keys(section: str, cls: type) -> list[KeyDoc]:
    """Every key of one section's dataclass, in declaration order."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if f.name == "name" and cls is OutcomeSpec:
            continue  # the table's name is the key of [outcomes.NAME]
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        default = None
        if f.default is not dataclasses.MISSING:
            default = _toml(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = _toml(f.default_factory())
        out.append(KeyDoc(section, f.name, _type_name(hints[f.name]), default, required,
                          f.metadata.get("help", "")))
    return out


def all_keys() -> list[KeyDoc]:
    """Every key of every section, ``[outcomes.NAME]`` last."""
    keys = [k for name, cls in _SECTIONS.items() for k in section_keys(name, cls)]
    return keys + section_keys("outcomes.NAME", OutcomeSpec)


def trial_toml_template(values: Mapping[str, Mapping[str, str]]) -> str:
    """A commented ``trial.toml``: the keys in ``values`` (TOML text) are set, every other
    key is written commented out with its default, each with one line on what it means."""
    lines = ["# trial.toml: the trial's configuration (guardian-rct). Every key is listed with its",
             "# default; uncommented keys are set. Reference: docs/config.md. Relative paths are",
             "# relative to this file's folder.", ""]
    for name, cls in _SECTIONS.items():
        lines.append(f"[{name}]  # {_SECTION_TEXT[name]}")
        given = values.get(name, {})
        for key in section_keys(name, cls):
            lines.append(f"# {key.help} ({key.type_name}{', required' if key.required else ''})")
            if key.name in given:
                lines.append(f"{key.name} = {given[key.name]}")
            else:
                lines.append(f"# {key.name} = {key.default if key.default is not None else '(unset)'}")
        lines.append("")
    lines.append("# [outcomes.NAME] tables define outcomes; without any, the defaults are "
                 + ", ".join(o.name for o in DEFAULT_OUTCOMES) + ". Example:")
    lines.append("# [outcomes.robbery]")
    for key in section_keys("outcomes.NAME", OutcomeSpec):
        lines.append(f"# {key.name} = {key.default}    # {key.help}")
    return "\n".join(lines) + "\n"


def config_markdown() -> str:
    """The reference page ``docs/config.md``."""
    lines = ["# trial.toml reference", "",
             "Generated from the config schema (`src/guardian_rct/config/trial_config.py`, the help",
             "text in each field's metadata) by `python scripts/build_config_docs.py`; a test fails",
             "when this page is out of date. `guardian-rct new DIR` writes a commented `trial.toml`",
             "from the same source.", ""]
    sections = [*[(n, _SECTION_TEXT[n], c) for n, c in _SECTIONS.items()],
                ("outcomes.NAME", "one table per outcome; without any, the defaults are "
                 + ", ".join(f"`{o.name}`" for o in DEFAULT_OUTCOMES), OutcomeSpec)]
    for name, text, cls in sections:
        lines += [f"## `[{name}]`", "", text[0].upper() + text[1:] + ".", "",
                  "| key | type | default | meaning |", "|---|---|---|---|"]
        for key in section_keys(name, cls):
            default = "**required**" if key.required else (f"`{key.default}`" if key.default is not None else "unset")
            lines.append(f"| `{key.name}` | {key.type_name} | {default} | {key.help.replace('|', '/')} |")
        lines.append("")
    return "\n".join(lines)
