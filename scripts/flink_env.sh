#!/usr/bin/env bash
# A Python venv with PyFlink (apache-flink 2.3 from PyPI), for the Nexmark peer benchmark
# (python/bench/nexmark_flink.py). Not part of CI. Idempotent; the last line of stdout is the
# venv's python. PyFlink needs Java 11+ (scripts/install.sh installs default-jre-headless).
#
#   py=$(bash scripts/flink_env.sh | tail -n 1)
set -euo pipefail
venv="${TRIBUTARY_FLINKENV:-$HOME/.cache/tributary-flinkenv}"
py="$venv/bin/python"
if ! { [ -x "$py" ] && "$py" -c "import pyflink" >/dev/null 2>&1; }; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$py" -m pip install --quiet --upgrade pip >&2
  "$py" -m pip install --quiet 'apache-flink==2.3.0' >&2 ||
    { echo "flink_env.sh: error: installing apache-flink 2.3.0 failed" >&2; exit 1; }
fi
command -v java >/dev/null 2>&1 || { echo "flink_env.sh: error: PyFlink needs java: run scripts/install.sh" >&2; exit 1; }
echo "$py"
