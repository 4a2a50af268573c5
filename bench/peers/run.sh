#!/usr/bin/env bash
# Tributary beside DuckDB, Polars, PySpark and PyFlink on the same 10 million events: one command
# from a clean clone (after scripts/install.sh, which installs Rust, Java and Python's venv).
#
#   bash bench/peers/run.sh                       # 10,000,000 events, every job and engine
#   bash bench/peers/run.sh --events 1000000 --jobs visitors --engines duckdb,tributary
#
# Installs the peers from PyPI into private venvs (bench/peers/env.sh; PyFlink through
# scripts/flink_env.sh), builds the release `tributary` binary, and runs bench/peers/peers.py
# (its --help lists the jobs, the engines and what is measured). The events are kept in
# ${TRIBUTARY_PEERS_WORK:-~/.cache/tributary-peers} for the next run. Not part of CI: it takes
# 15-25 minutes at 10M events on 2 cores, most of it PySpark and PyFlink.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v cargo >/dev/null 2>&1 || { echo "run.sh: error: cargo not found: run scripts/install.sh first" >&2; exit 1; }
py=$(bash bench/peers/env.sh | tail -n 1)
flink_py=$(bash scripts/flink_env.sh | tail -n 1)
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
echo "run.sh: building the release tributary binary (cargo build --release -p tributary-cli)" >&2
cargo build --release -q -p tributary-cli
exec "$py" bench/peers/peers.py --tributary "$CARGO_TARGET_DIR/release/tributary" \
  --flink-python "$flink_py" --work "${TRIBUTARY_PEERS_WORK:-$HOME/.cache/tributary-peers}" "$@"
