#!/usr/bin/env bash
# The whole test suite: every Rust test (each storage-facing one on SQLite and
# on PostgreSQL), then the browser SDK and demo SPA in headless Chromium
# against a real `holdfast serve` and the example API. Between the two, the
# admin API is fuzzed from its OpenAPI document (scripts/admin-api-fuzz.sh).
#
# PostgreSQL: HOLDFAST_TEST_POSTGRES_URL (default
# postgres://postgres@127.0.0.1:5432/postgres); unreachable means loudly
# skipped, or a failure under CI=true. Chromium: Debian's package, installed
# by the browser script if missing.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> cargo test --workspace"
cargo test --workspace

# The debug binaries the Rust tests just built serve the fuzzer and the
# browser tests.
cargo build -p holdfast-server -p holdfast-example-resource-server

echo "==> admin API fuzzing (schemathesis, SQLite and PostgreSQL)"
HOLDFAST_BIN="$PWD/target/debug/holdfast" bash scripts/admin-api-fuzz.sh

echo "==> browser tests"
SKIP_CARGO_BUILD=1 \
HOLDFAST_BIN="$PWD/target/debug/holdfast" \
RS_BIN="$PWD/target/debug/holdfast-example-resource-server" \
    bash clients/js/test/run-browser-tests.sh
