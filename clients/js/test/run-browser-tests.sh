#!/usr/bin/env bash
# The browser tests of the JS SDK and the demo SPA, from a clean checkout on
# a Debian machine with the Rust toolchain and Node.js >= 20:
#
#   1. installs Debian's Chromium if /usr/bin/chromium is missing
#      (never a browser download of Playwright's own: none can be fetched);
#   2. `npm ci` in clients/js (TypeScript and playwright-core, from the lock file);
#   3. builds holdfast and the example API in release mode;
#   4. builds the SDK with tsc and checks that the admin console embeds
#      that build (scripts/sync-console-sdk.sh --check);
#   5. runs test/unit.test.mjs (Node), test/browser.test.mjs and
#      test/accounts.test.mjs (Chromium; the latter with a loopback SMTP server)
#      with node's test runner (TAP output, ending in `# pass N` /
#      `# fail N`) and exits with its status; test/mfa.test.mjs,
#      test/passkeys.test.mjs and test/console.test.mjs (the admin console)
#      likewise.
#
# Logs of the servers and the browser console, and a screenshot of the
# signed-in demo, are left in clients/js/test/artifacts/.
#
# Environment: CHROMIUM_PATH (default /usr/bin/chromium), SKIP_CARGO_BUILD=1
# to use already built binaries, HOLDFAST_TEST_KEEP=1 to keep the data dir.
set -euo pipefail

js_dir="$(cd "$(dirname "$0")/.." && pwd)"
repo_root="$(cd "$js_dir/../.." && pwd)"
chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

echo "==> browser tests: prerequisites"
if ! command -v node >/dev/null 2>&1; then
    echo "node is not installed (Node.js >= 20 is needed)" >&2
    exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "Node.js $(node --version) is too old: >= 20 is needed" >&2
    exit 1
fi
if [ ! -x "$chromium" ]; then
    echo "==> $chromium missing; installing Debian's chromium"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver
fi
"$chromium" --version 2>/dev/null || true

echo "==> npm ci (clients/js)"
cd "$js_dir"
# No browser download, ever: the tests use Debian's Chromium.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund

if [ "${SKIP_CARGO_BUILD:-0}" != "1" ]; then
    echo "==> cargo build --release (holdfast, example API)"
    (cd "$repo_root" && cargo build --release -p holdfast-server -p holdfast-example-resource-server)
fi

echo "==> building the SDK (tsc)"
npm run --silent clean
npm run --silent build
# The admin console embeds this build (no build step for operators).
bash "$repo_root/scripts/sync-console-sdk.sh" --check

echo "==> browser tests (headless Chromium)"
rm -rf "$js_dir/test/artifacts"
mkdir -p "$js_dir/test/artifacts"
export CHROMIUM_PATH="$chromium"
status=0
# One file at a time: each starts its own servers and browser, and the
# timing-sensitive cross-tab tests must not share two cores with another.
node --test --test-concurrency=1 --test-reporter=tap --test-reporter-destination=stdout test/unit.test.mjs test/browser.test.mjs test/accounts.test.mjs test/mfa.test.mjs test/passkeys.test.mjs test/console.test.mjs || status=$?
echo "==> artifacts: $js_dir/test/artifacts (signed-in.png, logs/)"
exit "$status"
