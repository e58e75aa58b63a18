"""Render report data into self-contained HTML with Jinja2 templates.

Templates live in ``reports/templates``; they extend ``base.html`` (print-friendly,
no external assets, so a report opens offline and prints cleanly). Templates only format
numbers that the report's data object already holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jinja2

from guardian_rct._core.safe_write import write_text
from guardian_rct._core.wording import (
    arm_label,
    column_label,
    count_of,
    measure_label,
    model_label,
    outcome_label,
)

__all__ = ["render_html", "write_html", "write_json", "environment"]

_ENV: jinja2.Environment | None = None


def _fmt_pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def _fmt_num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _fmt_pvalue(value: float | None, digits: int = 4) -> str:
    """A p-value with ``digits`` decimals; below half the last digit, ``<0.0001`` (not ``0.0000``)."""
    if value is None:
        return "–"
    floor = 10.0 ** -digits
    return f"<{floor:.{digits}f}" if value < floor / 2 else f"{value:.{digits}f}"


def environment() -> jinja2.Environment:
    """The shared Jinja environment (autoescaping on, strict undefined)."""
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.PackageLoader("guardian_rct.reports", "templates"),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        _ENV.filters["pct"] = _fmt_pct
        _ENV.filters["num"] = _fmt_num
        _ENV.filters["pvalue"] = _fmt_pvalue
        # Words (reports.wording): {{ n | count_of("patrol") }} -> "1 patrol" / "2 patrols".
        _ENV.filters["count_of"] = count_of
        _ENV.filters["outcome_label"] = outcome_label
        _ENV.filters["measure_label"] = measure_label
        _ENV.filters["model_label"] = model_label
        _ENV.filters["arm_label"] = arm_label
        _ENV.filters["column_label"] = column_label
    return _ENV


def render_html(template: str, **context: Any) -> str:
    """Render ``template`` (a file name in ``reports/templates``) with ``context``."""
    return environment().get_template(template).render(**context)


def write_html(path: str | Path, template: str, *, inputs: Iterable[str | Path | None] = (),
               **context: Any) -> Path:
    """Render and write an HTML report atomically (never over ``inputs`` or a protected
    trial file, :mod:`guardian_rct._core.safe_write`); returns the path."""
    return write_text(path, render_html(template, **context), inputs=inputs, what="HTML report")


def write_json(path: str | Path, data: Any, *, inputs: Iterable[str | Path | None] = ()) -> Path:
    """Write report data as pretty JSON (dates and paths as strings), atomically."""
    text = json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"
    return write_text(path, text, inputs=inputs, what="JSON report")
