#!/usr/bin/env bash
# Installs what Tributary's build and tests need. Idempotent: safe to run again.
set -euo pipefail
need_apt=()
command -v cc >/dev/null 2>&1 || need_apt+=(build-essential)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)
# librdkafka is built from source by rdkafka-sys: it needs make, pkg-config and zlib's headers.
command -v make >/dev/null 2>&1 || need_apt+=(make)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
dpkg -s zlib1g-dev >/dev/null 2>&1 || need_apt+=(zlib1g-dev)
# The monitoring UI's browser test drives Debian's Chromium through chromedriver.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
# PySpark (the Python package's parity tests) runs on Java 17+.
command -v java >/dev/null 2>&1 || need_apt+=(default-jre-headless)
# The storage-fault tests make a full or read-only tmpfs in a private namespace (unshare, mount).
command -v unshare >/dev/null 2>&1 || need_apt+=(util-linux)
command -v mount >/dev/null 2>&1 || need_apt+=(mount)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "error: cargo is missing: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
if ! cargo clippy --version >/dev/null 2>&1; then
  if command -v rustup >/dev/null 2>&1; then
    rustup component add clippy
  else
    echo "error: cargo clippy is missing and rustup is not there to add it" >&2
    exit 1
  fi
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  cargo install --locked cargo-nextest
fi
# The Delta lakehouse tests: a PostgreSQL server (Debian's package; each test starts its own
# cluster on 127.0.0.1), and the `deltalake` Python package as an independent Delta reader.
bash "$(dirname "$0")/postgres.sh" install
bash "$(dirname "$0")/python_env.sh" >/dev/null
# The Python package `tributary` (pip install ./python), built and installed into that venv.
bash "$(dirname "$0")/python_package.sh" >/dev/null
# The object-storage tests: an S3-compatible server (moto, PyPI) and Azurite (npm).
bash "$(dirname "$0")/storage_servers.sh" install >/dev/null
echo "install: ok ($(cargo --version))"
