"""Canonical JSON: the one text form that is hashed (ledger records, registration, plans)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "sha256_text"]


def canonical_json(data: Any) -> str:
    """``data`` as JSON with sorted keys, no spaces and UTF-8 text (RFC 8785 in spirit)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_text(text: str) -> str:
    """Hex SHA-256 of ``text`` encoded as UTF-8."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
