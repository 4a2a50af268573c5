#!/usr/bin/env bash
# Run the fuzz targets for SECONDS each (default 60):
#   scripts/fuzz.sh [--shared] [SECONDS] [TARGET...]
#
# Targets: checkpoint_records checkpoint_listing (checkpoint codecs and the restart decision,
# fuzz/), json_records csv_records avro_value (the decoders with bad-record routing) and
# job_text set_value (job files and --set values), fuzz/engine/. Both folders are cargo fuzz
# projects and members of the workspace.
#
# Two builds:
# - default (by hand, for long runs): `cargo fuzz run`, every crate instrumented (Arrow,
#   DataFusion, serde_json... too), release, in its own target directory. The engine's
#   targets compile the whole engine that way: about half an hour on two cores, once.
# - --shared (CI): only the project's own crates are instrumented (scripts/fuzz-rustc.sh as
#   cargo's RUSTC_WORKSPACE_WRAPPER), in the suite's debug build and target directory, so the
#   dependencies the suite compiled are reused and the build takes minutes. Coverage then
#   guides the fuzzer through Tributary's code (the fitting rules, bad-record routing, the job
#   reader, the codecs), not through its dependencies' parsers.
#
# New inputs go to a temporary corpus, so the tree stays clean; a finding is printed with its
# input and the script fails. Keep a fixed finding's input in fuzz/regressions/<target>/: the
# suite replays it (tests named fuzz_corpus).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=false
if [ "${1:-}" = "--shared" ]; then
  shared=true
  shift
fi
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(checkpoint_records checkpoint_listing json_records csv_records avro_value job_text set_value)
fi
package_of() {
  case "$1" in
    checkpoint_*) echo tributary-fuzz-checkpoint ;;
    *) echo tributary-fuzz-engine ;;
  esac
}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if $shared; then
  target_dir="${CARGO_TARGET_DIR:-$HOME/.cache/tributary-target}"
  packages=()
  for t in "${targets[@]}"; do packages+=(-p "$(package_of "$t")"); done
  bins=()
  for t in "${targets[@]}"; do bins+=(--bin "$t"); done
  RUSTC_WORKSPACE_WRAPPER="$PWD/scripts/fuzz-rustc.sh" CARGO_TARGET_DIR="$target_dir" \
    cargo build --locked "${packages[@]}" "${bins[@]}"
else
  # cargo-fuzz from crates.io, once; its instrumented builds use the stable toolchain's
  # unstable flags (RUSTC_BOOTSTRAP), which is how it runs on this machine's one toolchain.
  if ! command -v cargo-fuzz >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz@0.13.2
  fi
  export RUSTC_BOOTSTRAP=1
  target_dir="${FUZZ_TARGET_DIR:-$HOME/.cache/tributary-fuzz-target}"
fi

for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  case "$t" in
    checkpoint_*) dir=fuzz ;;
    *) dir=fuzz/engine ;;
  esac
  options=(-max_total_time="$seconds" -rss_limit_mb=4096 -timeout=20
    -artifact_prefix="$work/$t/artifacts/" -print_final_stats=1)
  echo "fuzzing $t for ${seconds}s"
  if $shared; then
    run=("$target_dir/debug/$t" "$work/$t/corpus" "fuzz/corpus/$t" "${options[@]}")
  else
    run=(cargo fuzz run --fuzz-dir "$dir" --target-dir "$target_dir/$(package_of "$t")" -s none "$t"
      "$work/$t/corpus" "fuzz/corpus/$t" -- "${options[@]}")
  fi
  if ! "${run[@]}" >"$work/$t/log" 2>&1; then
    tail -n 60 "$work/$t/log" >&2
    for f in "$work/$t/artifacts"/*; do
      [ -e "$f" ] || continue
      echo "finding of $t: $(basename "$f"), input (base64): $(base64 -w0 "$f")" >&2
    done
    exit 1
  fi
  # A run that found no coverage to follow was not instrumented: that is a failure too.
  if grep -q "no interesting inputs were found\|-fsanitize-coverage" "$work/$t/log"; then
    tail -n 20 "$work/$t/log" >&2
    echo "$t ran without coverage instrumentation" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::new_units_added|cov: " "$work/$t/log" | tail -n 3 | sed "s/^/$t: /"
done
