#!/usr/bin/env bash
# Builds the Python package `tributary` from this repository (maturin through pip's PEP 517
# build: `pip install ./python`) and installs it into the test venv of scripts/python_env.sh.
#
#   bash scripts/python_package.sh            # the venv's python on the last line
#
# TRIBUTARY_PYTHON_PROFILE picks the Cargo profile: `dev` (default here: the tests share the
# suite's debug build cache, and a cold build is half as long) or `release` (what a plain
# `pip install ./python` builds, for real work and the benchmark).
# Always rebuilds: the sources may have changed; Cargo makes that incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
py=$(bash scripts/python_env.sh | tail -n 1)
profile="${TRIBUTARY_PYTHON_PROFILE:-dev}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
MATURIN_PEP517_ARGS="--profile $profile" "$py" -m pip install --quiet --force-reinstall --no-deps ./python >&2 ||
  { echo "python_package.sh: error: building the tributary Python package failed" >&2; exit 1; }
# Its one runtime dependency.
"$py" -c "import pyarrow" 2>/dev/null || "$py" -m pip install --quiet 'pyarrow>=14' >&2
"$py" -c "import tributary.sql" || { echo "python_package.sh: error: tributary.sql does not import" >&2; exit 1; }
echo "$py"
