#!/usr/bin/env bash
# The admin console (crates/holdfast-server/src/console) embeds the browser
# SDK as built by tsc, so an operator needs no build step. This copies
# clients/js/dist/*.js there (without their source-map comments); with
# --check it only reports whether the embedded copy is the current build,
# and fails if not (the browser tests run it after building the SDK).
#
#   (cd clients/js && npm ci && npm run build) && bash scripts/sync-console-sdk.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dist="$root/clients/js/dist"
embedded="$root/crates/holdfast-server/src/console/sdk"
[ -f "$dist/index.js" ] || { echo "no SDK build in $dist: run npm run build in clients/js" >&2; exit 1; }

fresh="$(mktemp -d)"
trap 'rm -rf "$fresh"' EXIT
for f in "$dist"/*.js; do
    grep -v '^//# sourceMappingURL=' "$f" > "$fresh/$(basename "$f")"
done

if [ "${1:-}" = "--check" ]; then
    if ! diff -r "$fresh" "$embedded" >/dev/null; then
        diff -r "$fresh" "$embedded" || true
        echo "the console's embedded SDK is not the current build: run bash scripts/sync-console-sdk.sh" >&2
        exit 1
    fi
    echo "the console's embedded SDK matches clients/js/dist"
    exit 0
fi
rm -f "$embedded"/*.js
cp "$fresh"/*.js "$embedded"/
echo "copied $(ls "$fresh" | wc -l) files to $embedded"
