#!/usr/bin/env bash
# Refresh constraints.txt, the exact versions of every package (dependencies of
# dependencies and the test tools included) that scripts/setup.sh installs.
#
# Builds a throwaway venv, installs guardian_rct with its test extras WITHOUT the current
# constraints (so pip resolves today's releases), runs ruff and the whole test suite in
# it, and only when both pass writes that venv's `pip freeze --exclude-editable` to
# constraints.txt. On a failure constraints.txt is left as it was: fix the code (or cap
# the offending package in pyproject.toml) and run this again. Review and commit the
# new constraints.txt with the versions that changed.
#
# Usage: scripts/refresh_constraints.sh [pytest args]   (PYTHON=python3.11 picks the interpreter)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
unset PIP_CONSTRAINT  # resolve afresh even if the caller exported the current pins
export PIP_DISABLE_PIP_VERSION_CHECK=1

work=$(mktemp -d "${TMPDIR:-/tmp}/guardian-rct-constraints.XXXXXX")
trap 'rm -rf "$work"' EXIT
venv="$work/venv"

echo "== fresh venv in $venv, installing without constraints"
"$PY" -m venv "$venv"
"$venv/bin/python" -m pip install --upgrade pip
"$venv/bin/python" -m pip install -e '.[test]'

echo "== ruff and the whole test suite with the versions pip resolved"
if ! "$venv/bin/ruff" check src tests scripts; then
  echo "refresh_constraints: ruff failed with today's versions; constraints.txt left unchanged" >&2
  exit 1
fi
if ! "$venv/bin/python" -m pytest -q -p no:cacheprovider "$@" | tee "$work/pytest.log"; then
  echo "refresh_constraints: the tests failed with today's versions; constraints.txt left unchanged" >&2
  exit 1
fi
result=$(tail -n 1 "$work/pytest.log" | sed -E 's/ in [0-9.]+s.*$//; s/^=+ //')

python_version=$("$venv/bin/python" -c 'import platform; print(platform.python_version())')
platform_tag=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_platform())')
{
  echo "# Exact versions of every package guardian_rct and its test tools install (pip freeze"
  echo "# --exclude-editable of a fresh venv with '.[test]'; pip, setuptools and wheel are not pinned)."
  echo "# Resolved by pip on $(date -u +%Y-%m-%d) for Python $python_version on $platform_tag; ruff and the"
  echo "# whole test suite passed with them ($result)."
  echo "# scripts/setup.sh (and so scripts/test.sh and .ci/run) installs with -c constraints.txt."
  echo "# Refresh: scripts/refresh_constraints.sh (fresh venv, install without constraints, ruff"
  echo "# and the tests; rewrites this file only when they pass). Do not edit by hand."
  "$venv/bin/python" -m pip freeze --exclude-editable
} >"$work/constraints.txt"
mv "$work/constraints.txt" constraints.txt
echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) packages; $result)"
