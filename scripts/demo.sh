#!/usr/bin/env bash
# The main job on embedded defaults (no external service): the ETL example's sample events,
# streamed (available-now) into a local Delta table, then the table's rows counted.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
out="${1:-target/demo}"
cargo run --locked -q -p tributary-cli -- run examples/etl/job.sql --trigger available-now \
  --checkpoint "$out/checkpoints" \
  --set input=examples/etl/data/events --set regions=examples/etl/data/regions.csv \
  --set output="$out/silver" --set bad="$out/bad"
echo "Delta table written to $out/silver; bad records in $out/bad"
