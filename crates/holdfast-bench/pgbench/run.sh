#!/usr/bin/env bash
# pgbench's figures for the rotation transaction shapes, bare and DPoP-bound
# (with the proof's replay record), to compare with
# `holdfast-bench refresh --store postgres --dpop` in the same session.
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
for shape in rotation rotation-dpop; do
    psql "$url" -q -f "$here/setup.sql"
    echo "== $shape"
    pgbench -n -c "$clients" -j 2 -T "$seconds" -f "$here/$shape.sql" "$url" | grep -E '^(tps|latency average)'
done
