#!/usr/bin/env bash
# Set up (if needed) and run the lint, the layering contract and the test suite. Usage: scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/ruff check src tests scripts
.venv/bin/lint-imports   # the layers of DESIGN.md section 2 ([tool.importlinter] in pyproject.toml)
.venv/bin/python -m pytest -m "not slow" "$@"
