#!/usr/bin/env bash
# The peers' Python environment for bench/peers: PySpark, DuckDB, Polars and pyarrow in a venv of
# their own (PyFlink pins its own pyarrow and numpy, so it gets scripts/flink_env.sh's venv).
# Not part of CI. Idempotent: installs only when an import fails. The last line of stdout is the
# venv's python; everything else goes to stderr.
#
#   py=$(bash bench/peers/env.sh | tail -n 1)
set -euo pipefail
venv="${TRIBUTARY_PEERSENV:-$HOME/.cache/tributary-peersenv}"
py="$venv/bin/python"
# The reference engine's version is pinned: every other answer is checked against its answer.
duckdb_version="2.0.1"
ready() {
  [ -x "$py" ] && "$py" -c "import pyspark, polars, pyarrow, duckdb; assert duckdb.__version__ == '$duckdb_version'" >/dev/null 2>&1
}
if ! ready; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv" >&2 ||
    { echo "env.sh: error: could not make a venv at $venv (Debian: apt-get install python3-venv, or run scripts/install.sh)" >&2; exit 1; }
  "$py" -m pip install --quiet --upgrade pip >&2
  "$py" -m pip install --quiet 'pyspark>=4,<5' "duckdb==$duckdb_version" 'polars>=1' pyarrow >&2 ||
    { echo "env.sh: error: pip install pyspark duckdb polars pyarrow failed in $venv" >&2; exit 1; }
  ready || { echo "env.sh: error: pyspark, polars, pyarrow or duckdb does not import in $venv" >&2; exit 1; }
fi
command -v java >/dev/null 2>&1 || { echo "env.sh: error: PySpark needs java 17+: run scripts/install.sh" >&2; exit 1; }
echo "$py"
