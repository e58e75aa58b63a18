#!/usr/bin/env bash
# Create .venv in the repository and install guardian_rct with its test tools.
# Safe to re-run. Usage: scripts/setup.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "guardian_rct installed in $(pwd)/.venv (activate with: source .venv/bin/activate)"
