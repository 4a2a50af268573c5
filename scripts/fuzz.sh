#!/usr/bin/env bash
# Run the cargo fuzz targets of fuzz/ for SECONDS each (default 60; CI runs a short bound,
# run it longer by hand): scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Targets: checkpoint_records checkpoint_listing (checkpoint codecs and the restart decision,
# in fuzz/: they build in a minute, and CI runs them), json_records csv_records avro_value (the
# decoders with bad-record routing) and job_text set_value (job files and --set values), in
# fuzz/engine/: their instrumented build compiles the whole engine (about half an hour on two
# cores), so CI replays their corpora in the suite instead, and they are fuzzed by hand.
# New inputs go to a temporary corpus, so the
# tree stays clean; a finding is printed with its input and the script fails. Keep a fixed
# finding's input in fuzz/regressions/<target>/: the suite replays it (tests named
# fuzz_corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(checkpoint_records checkpoint_listing json_records csv_records avro_value job_text set_value)
fi
# cargo-fuzz from crates.io, once; its instrumented builds use the stable toolchain's unstable
# flags (RUSTC_BOOTSTRAP), which is how it runs on this machine's one toolchain.
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --locked cargo-fuzz@0.13.2
fi
export RUSTC_BOOTSTRAP=1
target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/tributary-fuzz-target}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  case "$t" in
    checkpoint_*) dir=fuzz ;;
    *) dir=fuzz/engine ;;
  esac
  echo "fuzzing $t for ${seconds}s"
  if ! cargo fuzz run --fuzz-dir "$dir" --target-dir "$target_dir/$(basename "$dir")" -s none "$t" \
      "$work/$t/corpus" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20 \
      -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1 >"$work/$t/log" 2>&1; then
    tail -n 60 "$work/$t/log" >&2
    for f in "$work/$t/artifacts"/*; do
      [ -e "$f" ] || continue
      echo "finding of $t: $(basename "$f"), input (base64): $(base64 -w0 "$f")" >&2
    done
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added" "$work/$t/log" | sed "s/^/$t: /"
done
