#!/usr/bin/env bash
# Property-based tests of the admin API from its OpenAPI document
# (schemathesis, from PyPI), against a live `holdfast serve` on SQLite and
# on PostgreSQL: no 5xx, every response matching its documented status,
# schema and content type, and every operation refusing a call without a
# valid token (`ignored_auth`).
#
# Each store gets a fresh server: `holdfast admin bootstrap
# --automation-client fuzz` makes the administration tenant and a
# client-credentials client; its token (scope holdfast:admin) authenticates
# the run. Argon2 runs with low parameters (the fuzzer creates users).
#
# Environment: HOLDFAST_BIN (default target/debug/holdfast),
# HOLDFAST_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
# FUZZ_MAX_EXAMPLES (default 30 per operation), SCHEMATHESIS (a schemathesis
# executable; default: installed into a venv under target/).
set -euo pipefail
cd "$(dirname "$0")/.."

bin="${HOLDFAST_BIN:-$PWD/target/debug/holdfast}"
pg_url="${HOLDFAST_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
examples="${FUZZ_MAX_EXAMPLES:-30}"
[ -x "$bin" ] || { echo "no holdfast binary at $bin (cargo build -p holdfast-server)" >&2; exit 1; }

if [ -n "${SCHEMATHESIS:-}" ]; then
    st="$SCHEMATHESIS"
else
    venv="$PWD/target/schemathesis-venv"
    if [ ! -x "$venv/bin/schemathesis" ]; then
        echo "==> installing schemathesis into $venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check 'schemathesis>=4.3,<5'
    fi
    st="$venv/bin/schemathesis"
fi
"$st" --version

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

json_field() {
    python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[k]
print(v)' "$1"
}

server_pid=""
work=""
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
    [ -n "$work" ] && rm -rf "$work"
    return 0
}
trap cleanup EXIT

# fuzz STORE [DATABASE_URL]
fuzz() {
    local store="$1" url="${2:-}"
    echo "==> admin API fuzzing on $store"
    work="$(mktemp -d)"
    local port
    port="$(free_port)"
    local base="http://127.0.0.1:$port"
    local args=(--data-dir "$work" --listen "127.0.0.1:$port"
        --argon2-memory-kib 1024 --argon2-iterations 1)
    [ -n "$url" ] && args+=(--database-url "$url")

    local secret
    secret="$("$bin" "${args[@]}" --json admin bootstrap --automation-client fuzz \
        | json_field automation_client.client_secret)"
    "$bin" "${args[@]}" tenant create acme >/dev/null

    "$bin" "${args[@]}" serve >"$work/serve.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 100); do
        curl -fsS "$base/readyz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$work/serve.log"; return 1; }
        sleep 0.1
    done

    token() {
        curl -fsS -u "fuzz:$secret" -d grant_type=client_credentials -d scope=holdfast:admin \
            "$base/t/admin/token" | json_field access_token
    }
    # Through the API itself: a token that outlives the run.
    curl -fsS -X PATCH -H "Authorization: Bearer $(token)" -H 'Content-Type: application/json' \
        -d '{"access_token_ttl": 3600}' "$base/admin/v1/tenants/admin/clients/fuzz" >/dev/null
    local access
    access="$(token)"

    local status=0
    "$st" run "$base/admin/v1/openapi.json" \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance,content_type_conformance,ignored_auth \
        --header "Authorization: Bearer $access" \
        --max-examples "$examples" \
        --seed 16 \
        --workers 1 \
        --request-timeout 30 \
        --warnings off \
        --suppress-health-check all || status=$?

    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    if [ "$status" -ne 0 ]; then
        echo "--- server log ($store, last 40 lines)" >&2
        tail -n 40 "$work/serve.log" >&2
    fi
    rm -rf "$work"
    work=""
    return "$status"
}

fuzz sqlite

db="holdfast_fuzz_$$"
psql "$pg_url" -qAtc "CREATE DATABASE $db" >/dev/null
pg_db_url="${pg_url%/*}/$db"
pg_status=0
fuzz postgres "$pg_db_url" || pg_status=$?
psql "$pg_url" -qAtc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true
exit "$pg_status"
