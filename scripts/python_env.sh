#!/usr/bin/env bash
# A Python venv with deltalake, pyarrow and duckdb, psycopg and SQLAlchemy (clients of the
# PostgreSQL endpoint), ADBC's Flight SQL driver (the client of the Flight SQL endpoint), for the Delta interop tests
# (scripts/delta_interop.py) and the differential corpus (scripts/corpus_data.py,
# scripts/corpus_expected.py), and pandas and pytest for the Python package's tests
# and pyspark for its parity tests (scripts/python_package.sh installs the package itself).
# Idempotent: creates the venv and installs the packages only when
# `import deltalake, pyarrow, duckdb` fails in it. The last line of stdout is the venv's python;
# everything else goes to stderr.
#
#   py=$(scripts/python_env.sh | tail -n 1)
#   "$py" scripts/delta_interop.py read /path/to/table
#
# The venv lives at ${TRIBUTARY_PYENV:-$HOME/.cache/tributary-pyenv}; the python that makes it
# is ${PYTHON:-python3}.
set -euo pipefail

venv="${TRIBUTARY_PYENV:-$HOME/.cache/tributary-pyenv}"
base_python="${PYTHON:-python3}"
py="$venv/bin/python"
# The differential corpus's expected rows were computed with this DuckDB; CI checks them with it.
duckdb_version="2.0.1"

die() {
  echo "python_env.sh: error: $*" >&2
  exit 1
}

ready() {
  [ -x "$py" ] && "$py" -c "import deltalake, pyarrow, duckdb, pandas, pytest, pyspark, psycopg, sqlalchemy, adbc_driver_flightsql.dbapi; assert duckdb.__version__ == '$duckdb_version'" >/dev/null 2>&1
}

if ! ready; then
  command -v "$base_python" >/dev/null 2>&1 || die "$base_python not found (set PYTHON to a python3)"
  if [ ! -x "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
    rm -rf "$venv"
    mkdir -p "$(dirname "$venv")"
    if ! "$base_python" -m venv "$venv" >&2 2>/dev/null; then
      # Debian's own python3 needs python3-venv (ensurepip) to make venvs.
      rm -rf "$venv"
      if [ "$(readlink -f "$(command -v "$base_python")")" = "$(readlink -f /usr/bin/python3)" ] &&
        [ "$(id -u)" = 0 ] && ! dpkg -s python3-venv >/dev/null 2>&1; then
        if ! apt-cache policy python3-venv 2>/dev/null | grep -q 'Candidate: [0-9]'; then
          apt-get update -qq >&2
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
      fi
      "$base_python" -m venv "$venv" >&2 || die "could not create a venv at $venv with $base_python"
    fi
  fi
  # deltalake 1.x reads into pyarrow only when pyarrow is there; pandas is not needed.
  # pandas and pytest: the Python package's tests (python/tests); pyspark: its parity tests
  # (Spark runs on the machine's Java 17).
  # psycopg and SQLAlchemy: the clients of the PostgreSQL endpoint (tributary serve); ADBC's
  # Flight SQL driver: the client of the Flight SQL endpoint.
  "$py" -m pip install --quiet 'deltalake>=1.0,<2' pyarrow "duckdb==$duckdb_version" pandas pytest 'pyspark>=4,<5' \
    'psycopg[binary]>=3.2,<4' 'sqlalchemy>=2,<3' 'adbc-driver-flightsql>=1.13,<2' 'adbc-driver-manager>=1.13,<2' >&2 ||
    die "pip install deltalake pyarrow duckdb pandas pytest pyspark psycopg sqlalchemy adbc-driver-flightsql failed in $venv"
  ready || die "deltalake, pyarrow, duckdb, pandas, pytest, pyspark, psycopg, sqlalchemy or adbc_driver_flightsql still does not import in $venv"
fi

echo "$py"
