"""The installed package version, read once from the distribution metadata."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("guardian-rct")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0.1.0+src"
