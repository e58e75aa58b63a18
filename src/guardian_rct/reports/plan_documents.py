"""The plan's three documents (JSON, HTML, Markdown) and the check of a copy against the store.

``analysis_plan.json`` is the plan's canonical JSON, byte for byte (so ``sha256sum`` of the
file is the plan's SHA-256); ``analysis_plan.html`` (print-ready) and ``analysis_plan.md``
are rendered from the same data and embed that SHA-256 and the plan version (0 = as
registered, *k* = after amendment *k*). :func:`check_copy` tells whether a file is a true
copy of one of the trial's plan versions: a JSON copy by its hash (and, when it differs, by
naming every changed key with both values), an HTML or Markdown copy by its embedded hash
and by re-rendering that version and naming the first line that differs and its section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from guardian_rct._core.canonical import canonical_json, sha256_text
from guardian_rct.reports.render import render_html

__all__ = ["PlanVersion", "CopyCheck", "render_plan", "write_plan_documents", "check_copy", "PLAN_FILES"]

PLAN_FILES = {"json": "analysis_plan.json", "html": "analysis_plan.html", "md": "analysis_plan.md"}
_EMBEDDED = re.compile(r"guardian-rct-plan-sha256[\"']?\s*(?:content=\"|:\s*)([0-9a-f]{64})")


@dataclass(frozen=True)
class PlanVersion:
    """One version of the plan with what its documents show about its seal.

    ``status`` is ``"sealed"`` (from the store) or ``"draft"`` (built from a config that
    is not registered, or registered before sealed plans; ``note`` says which).
    """

    content: Mapping[str, Any]
    version: int
    status: str
    registered_sha256: str | None = None
    registered_at: str | None = None
    amendments: tuple[Mapping[str, Any], ...] = ()
    note: str = ""

    @property
    def canonical(self) -> str:
        return canonical_json(dict(self.content))

    @property
    def sha256(self) -> str:
        return sha256_text(self.canonical)

    def seal(self) -> dict[str, Any]:
        """What the templates show in the seal box and the amendments section."""
        return {"status": self.status, "sha256": self.sha256, "version": self.version,
                "registered_sha256": self.registered_sha256, "registered_at": self.registered_at,
                "amendments": [dict(a) for a in self.amendments], "note": self.note}


def render_plan(version: PlanVersion, kind: str) -> str:
    """The text of one document: ``"json"``, ``"html"`` or ``"md"``."""
    if kind == "json":
        return version.canonical
    template = {"html": "plan.html", "md": "plan.md"}[kind]
    return render_html(template, plan=dict(version.content), seal=version.seal())


def write_plan_documents(version: PlanVersion, out_dir: str | Path) -> dict[str, Path]:
    """Write the three documents into ``out_dir`` (temporary name, then rename)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind, name in PLAN_FILES.items():
        path = out / name
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(render_plan(version, kind))
        tmp.replace(path)
        paths[kind] = path
    return paths


@dataclass(frozen=True)
class CopyCheck:
    """Outcome of :func:`check_copy`: ``ok``, the version matched, and a readable message."""

    ok: bool
    message: str
    version: int | None = None
    sha256: str | None = None
    differences: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message, "version": self.version, "sha256": self.sha256,
                "differences": list(self.differences)}


def _flat(value: Any, name: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        for k in sorted(value):
            out.update(_flat(value[k], f"{name}.{k}" if name else str(k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.update(_flat(v, f"{name}[{i}]"))
        if not value:
            out[name] = []
    else:
        out[name] = value
    return out


def _json_differences(stored: Mapping[str, Any], found: Any) -> list[str]:
    a, b = _flat(dict(stored)), _flat(found)
    missing = object()
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, missing), b.get(key, missing)
        if x != y or type(x) is not type(y):
            shown = ["(absent)" if v is missing else json.dumps(v, ensure_ascii=False) for v in (x, y)]
            out.append(f"{key}: sealed {shown[0]}, file {shown[1]}")
    return out


def _kind_of(path: Path, text: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".html", ".htm"):
        return "html"
    if suffix in (".md", ".markdown"):
        return "md"
    return "html" if text.lstrip().lower().startswith("<!doctype html") else "json" if text.lstrip()[:1] == "{" else "md"


def _section_before(lines: Sequence[str], index: int, kind: str) -> str | None:
    pattern = re.compile(r"<h2>(.*?)</h2>" if kind == "html" else r"^##\s+(.*)$")
    for line in reversed(lines[: index + 1]):
        if m := pattern.search(line):
            return re.sub(r"<[^>]+>", "", m.group(1)).strip()
    return None


def _clip(line: str, col: int) -> str:
    start = max(0, col - 40)
    return ("…" if start else "") + line[start:col + 40] + ("…" if len(line) > col + 40 else "")


def _text_difference(expected: str, found: str, kind: str) -> str | None:
    a, b = expected.splitlines(), found.replace("\r\n", "\n").splitlines()
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            if x is None or y is None:
                return f"line {i + 1}: the file {'ends early' if y is None else 'has extra lines'}"
            col = next((j for j in range(min(len(x), len(y))) if x[j] != y[j]), min(len(x), len(y)))
            section = _section_before(a, i, kind)
            where = f" (section '{section}')" if section else ""
            return (f"line {i + 1}, column {col + 1}{where}: sealed {_clip(x, col)!r}, "
                    f"file {_clip(y, col)!r}")
    return None


def check_copy(path: str | Path, versions: Sequence[PlanVersion]) -> CopyCheck:
    """Is ``path`` a true copy of one of ``versions`` (the store's plan history)?

    A JSON copy must equal a version's canonical JSON (a trailing newline is allowed); an
    HTML or Markdown copy must embed a version's SHA-256 and equal its rendering. The
    message names the file, the version and, when it fails, every differing JSON key or
    the first differing line with its section.
    """
    path = Path(path)
    if not path.is_file():
        return CopyCheck(False, f"{path}: no such file")
    text = path.read_text(encoding="utf-8", errors="replace")
    kind = _kind_of(path, text)
    by_sha = {v.sha256: v for v in versions}
    names = ", ".join(f"version {v.version} {v.sha256[:12]}…" for v in versions)
    if kind == "json":
        digest = sha256_text(text[:-1] if text.endswith("\n") else text)
        if digest in by_sha:
            v = by_sha[digest]
            return CopyCheck(True, f"{path}: a true copy of plan version {v.version} (SHA-256 {digest})", v.version, digest)
        try:
            found = json.loads(text)
        except json.JSONDecodeError as exc:
            return CopyCheck(False, f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                                    f"it cannot be a copy of the plan ({names})", sha256=digest)
        nearest = min(versions, key=lambda v: len(_json_differences(v.content, found)))
        diffs = _json_differences(nearest.content, found)
        if not diffs:
            return CopyCheck(False, f"{path}: same content as plan version {nearest.version} but not its canonical "
                                    "bytes (re-formatted); the canonical file hashes to the sealed SHA-256",
                             nearest.version, digest)
        return CopyCheck(False, f"{path}: differs from the sealed plan version {nearest.version} "
                                f"(SHA-256 {nearest.sha256}) at {len(diffs)} key(s): " + "; ".join(diffs[:10])
                         + (" …" if len(diffs) > 10 else ""), nearest.version, digest, tuple(diffs))
    m = _EMBEDDED.search(text)
    if m is None:
        return CopyCheck(False, f"{path}: no plan SHA-256 embedded (expected 'guardian-rct-plan-sha256'); "
                                "it is not a guardian_rct plan document")
    embedded = m.group(1)
    if embedded not in by_sha:
        return CopyCheck(False, f"{path}: names plan SHA-256 {embedded}, which is not a plan of this trial "
                                f"(the store holds {names})", sha256=embedded)
    v = by_sha[embedded]
    diff = _text_difference(render_plan(v, kind), text, kind)
    if diff is None:
        return CopyCheck(True, f"{path}: a true copy of plan version {v.version} (SHA-256 {embedded})", v.version, embedded)
    return CopyCheck(False, f"{path}: content differs from the sealed plan version {v.version} "
                            f"(SHA-256 {embedded}) at {diff}", v.version, embedded, (diff,))
