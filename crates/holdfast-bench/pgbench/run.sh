#!/usr/bin/env bash
# pgbench's figure for the rotation transaction shape, to compare with
# `holdfast-bench refresh --store postgres` in the same session.
# Usage: crates/holdfast-bench/pgbench/run.sh [postgres-server-url] [clients] [seconds]
set -euo pipefail
server="${1:-postgres://postgres@127.0.0.1:5432/postgres}"
clients="${2:-32}"
seconds="${3:-15}"
here="$(dirname "$0")"
db="holdfast_pgbench_$$"
psql "$server" -qc "CREATE DATABASE $db"
trap 'psql "$server" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"' EXIT
url="${server%/*}/$db"
psql "$url" -q -f "$here/setup.sql"
pgbench -n -c "$clients" -j 2 -T "$seconds" -f "$here/rotation.sql" "$url"
