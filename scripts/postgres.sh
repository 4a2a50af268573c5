#!/usr/bin/env bash
# Throwaway PostgreSQL clusters for tests and CI (Debian 12, normally run as root). Idempotent.
#
#   scripts/postgres.sh install          install Debian's postgresql if no initdb is there
#   scripts/postgres.sh start DIR PORT   initdb DIR if needed, then start it on 127.0.0.1:PORT
#   scripts/postgres.sh stop DIR         stop the cluster in DIR (fine if it is not running)
#
# The cluster trusts every connection from 127.0.0.1 and the unix socket (user `postgres`, no
# password): connect with `psql -h 127.0.0.1 -p PORT -U postgres`. Its socket lives in DIR, its
# log in DIR/postgres.log. The system's own cluster (port 5432) is never started or used.
set -euo pipefail

die() {
  echo "postgres.sh: error: $*" >&2
  exit 1
}

usage() {
  echo "usage: $0 install | start DIR PORT | stop DIR" >&2
  exit 2
}

# The bin dir of the newest installed server (e.g. /usr/lib/postgresql/15/bin), or nothing.
pg_bin() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
    echo "$d"
  fi
}

need_bin() {
  BIN=$(pg_bin)
  [ -n "$BIN" ] || die "no PostgreSQL server found under /usr/lib/postgresql/*/bin: run '$0 install' first"
}

# Runs a command as the cluster's owner: `postgres` when we are root (initdb and postgres
# refuse to run as root), else the current user. From / so an unreadable cwd gives no warnings.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- env LC_ALL=C LANG=C "$@")
  else
    (cd / && env LC_ALL=C LANG=C "$@")
  fi
}

# Absolute path of DIR (DIR need not exist yet).
abspath() {
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$PWD/$1" ;;
  esac
}

cmd_install() {
  if [ -n "$(pg_bin)" ]; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  # Refresh the package lists only when apt does not know the package yet.
  if ! apt-cache policy postgresql 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    $sudo apt-get update -qq || die "apt-get update failed"
  fi
  # Keep the package's scripts from starting the system cluster while installing (a
  # policy-rc.d answering 101 forbids service starts), unless the machine already has one.
  local policy=/usr/sbin/policy-rc.d ours=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
    ours=1
  fi
  local rc=0 log
  log=$(mktemp)
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    postgresql >"$log" 2>&1 || rc=$?
  if [ -n "$ours" ]; then $sudo rm -f "$policy"; fi
  if [ "$rc" != 0 ]; then
    cat "$log" >&2
    rm -f "$log"
    die "apt-get install postgresql failed (exit $rc)"
  fi
  rm -f "$log"
  [ -n "$(pg_bin)" ] || die "postgresql was installed but no initdb is under /usr/lib/postgresql/*/bin"
}

# Lets the owner reach DIR: every ancestor it cannot search gets o+x (search only, no listing).
make_reachable() {
  local dir=$1 p
  p=$(dirname "$dir")
  while :; do
    if ! as_owner test -x "$p" 2>/dev/null; then
      chmod o+x "$p" || die "cannot make $p searchable for the postgres user"
    fi
    [ "$p" = / ] && break
    p=$(dirname "$p")
  done
}

cmd_start() {
  [ $# = 2 ] || usage
  local dir port
  dir=$(abspath "$1")
  port=$2
  case "$port" in
    '' | *[!0-9]*) die "PORT must be a number, got '$port'" ;;
  esac
  [ "$port" -ge 1 ] && [ "$port" -le 65535 ] || die "PORT out of range: $port"
  need_bin

  # Already running on this DIR: nothing to do (but say so if it is on another port).
  if [ -f "$dir/PG_VERSION" ] && as_owner "$BIN/pg_ctl" status -D "$dir" >/dev/null 2>&1; then
    local running
    running=$(sed -n 4p "$dir/postmaster.pid" 2>/dev/null || true)
    if [ -n "$running" ] && [ "$running" != "$port" ]; then
      die "the cluster in $dir is already running on port $running, not $port: stop it first"
    fi
    return 0
  fi

  mkdir -p "$dir" || die "cannot create $dir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' OS user: run '$0 install' first"
    make_reachable "$dir"
    chown postgres: "$dir" || die "cannot chown $dir to postgres"
  fi
  chmod 700 "$dir"

  if [ ! -f "$dir/PG_VERSION" ]; then
    if [ -n "$(ls -A "$dir")" ]; then
      die "$dir is not empty and holds no cluster (no PG_VERSION): use an empty or new directory"
    fi
    local out
    if ! out=$(as_owner "$BIN/initdb" -D "$dir" -U postgres -E UTF8 --locale=C \
      --auth-local=trust --auth-host=trust --no-sync 2>&1); then
      echo "$out" >&2
      die "initdb failed in $dir"
    fi
    # Our settings live in their own file, rewritten at each start; postgresql.conf includes it.
    echo "include_if_exists = 'tributary.conf'" >>"$dir/postgresql.conf"
  fi

  # Written as the owner so the file belongs to it. Throwaway cluster: no durability needed.
  as_owner tee "$dir/tributary.conf" >/dev/null <<EOF
# Written by scripts/postgres.sh start: overwritten at each start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = logical
max_replication_slots = 10
max_wal_senders = 10
EOF

  if ! as_owner "$BIN/pg_ctl" start -D "$dir" -l "$dir/postgres.log" -w -t 60 -s >/dev/null 2>&1; then
    echo "--- last lines of $dir/postgres.log ---" >&2
    tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
    die "could not start PostgreSQL in $dir on 127.0.0.1:$port"
  fi
}

cmd_stop() {
  [ $# = 1 ] || usage
  local dir
  dir=$(abspath "$1")
  [ -f "$dir/PG_VERSION" ] || return 0
  need_bin
  as_owner "$BIN/pg_ctl" status -D "$dir" >/dev/null 2>&1 || return 0
  as_owner "$BIN/pg_ctl" stop -D "$dir" -m fast -w -t 60 -s >/dev/null ||
    die "could not stop PostgreSQL in $dir"
}

[ $# -ge 1 ] || usage
sub=$1
shift
case "$sub" in
  install) [ $# = 0 ] || usage; cmd_install ;;
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  *) usage ;;
esac
