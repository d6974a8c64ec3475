#!/usr/bin/env bash
# End-to-end browser test: installs what is missing (Debian's Chromium, playwright-core from
# package-lock.json), builds the quorum binary if there is none, then runs tests/browser/e2e.mjs.
# Works from any directory. Screenshots go to docs/screenshots/.
#
# Environment: QUORUM_BIN (binary to test; default target/debug/quorum, built if missing),
# QUORUM_CHROMIUM (default /usr/bin/chromium), QUORUM_BROWSER_TEST_TIMEOUT (seconds, default 300).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
chromium="${QUORUM_CHROMIUM:-/usr/bin/chromium}"

say() { printf 'browser-test: %s\n' "$*" >&2; }

# Node 20+ (playwright-core's minimum).
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  say "node and npm (Node.js 20 or newer) are needed"; exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  say "Node.js 20 or newer is needed, found $(node --version)"; exit 1
fi

# Chromium from Debian (browser downloads such as `npx playwright install` are not possible here).
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing chromium with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium >/dev/null
  else
    say "$chromium is missing: install Debian's chromium package (apt-get install -y chromium) or set QUORUM_CHROMIUM"
    exit 1
  fi
fi

# playwright-core, exactly as locked.
wanted="$(node -p 'require(process.argv[1]).packages["node_modules/playwright-core"].version' "$here/package-lock.json")"
have="$(node -p 'try { require(process.argv[1]).version } catch { "" }' "$here/node_modules/playwright-core/package.json")"
if [ "$wanted" != "$have" ]; then
  say "npm ci (playwright-core $wanted)"
  (cd "$here" && npm ci --no-audit --no-fund --loglevel=error)
fi

# The binary under test.
if [ -z "${QUORUM_BIN:-}" ]; then
  target="${CARGO_TARGET_DIR:-target}"
  case "$target" in /*) ;; *) target="$repo/$target" ;; esac
  QUORUM_BIN="$target/debug/quorum"
  if [ ! -x "$QUORUM_BIN" ]; then
    say "building $QUORUM_BIN (cargo build --bin quorum)"
    (cd "$repo" && cargo build --bin quorum)
  else
    newer="$(cd "$repo" && find src templates static migrations seed build.rs Cargo.toml Cargo.lock \
      -newer "$QUORUM_BIN" -type f 2>/dev/null | head -n 3)"
    if [ -n "$newer" ]; then
      say "warning: $QUORUM_BIN is older than e.g. $(echo "$newer" | tr '\n' ' ')- run cargo build --bin quorum to test the current source"
    fi
  fi
fi
export QUORUM_BIN
export QUORUM_CHROMIUM="$chromium"

cd "$repo"
exec timeout --kill-after=15 "${QUORUM_BROWSER_TEST_TIMEOUT:-300}" node --test "$here/e2e.mjs"
