#!/usr/bin/env bash
# The RUSTC_WORKSPACE_WRAPPER of `scripts/fuzz.sh --shared`: cargo calls it, for the project's
# own crates only, as `fuzz-rustc.sh RUSTC ARGS...`. It adds libFuzzer's coverage
# instrumentation (the flags cargo fuzz passes) to each crate it compiles, and leaves build
# scripts and cargo's queries (-vV, --print) as they are. The dependencies (Arrow, DataFusion,
# serde_json, ...) are not instrumented: they are the suite's own build, shared.
set -euo pipefail
rustc="$1"
shift
case " $* " in
  *" --crate-name build_script_"*) exec "$rustc" "$@" ;;
  *" --crate-name "*) ;;
  *) exec "$rustc" "$@" ;;
esac
exec "$rustc" "$@" \
  -Cpasses=sancov-module \
  -Cllvm-args=-sanitizer-coverage-level=4 \
  -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
  -Cllvm-args=-sanitizer-coverage-pc-table \
  -Cllvm-args=-sanitizer-coverage-trace-compares
