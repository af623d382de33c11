#!/usr/bin/env bash
# Installs what the integration tests (tests/integration) need, and only what is missing:
#   - Debian packages: python3-websockets (for /usr/bin/python3, not a pyenv python), chromium,
#     redis-server, redis-tools (redis-cli) and nats-server for the broker tests (the tests start
#     their own servers on loopback ports the kernel picks; a packaged service on 6379 is unused),
#     haproxy, nginx and curl for test_regressions_13.py (run in the foreground by the test on
#     its own ports and files; the packaged services are not used);
#   - tests/integration/node/node_modules from package-lock.json (`npm ci`: pinned ws and
#     playwright-core; no browser download, the tests drive Debian's /usr/bin/chromium).
# Idempotent, non-interactive (CI=true, no stdin), meant to run as root on Debian 12.
# `apt-get update` runs only when a package has to be installed.
#
# Usage: tools/install-test-deps.sh [--node-only]
#   --node-only  only (re)install node_modules when missing or stale (used by the CTest fixture).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
node_dir="${repo_root}/tests/integration/node"
node_only=0
for arg in "$@"; do
  case "${arg}" in
    --node-only) node_only=1 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "install-test-deps: unknown argument: ${arg}" >&2; exit 2 ;;
  esac
done

log() { echo "install-test-deps: $*"; }

# Debian puts nats-server in /usr/sbin, which is not on every user's PATH.
have_binary() {
  PATH="${PATH}:/usr/sbin:/usr/bin" command -v "$1" >/dev/null 2>&1
}

install_debian_packages() {
  local missing=()
  # python3-websockets is checked by importing it with Debian's python, which is what the tests use.
  if ! /usr/bin/python3 -c 'import websockets' >/dev/null 2>&1; then missing+=(python3-websockets); fi
  if [[ ! -x /usr/bin/chromium ]]; then missing+=(chromium); fi
  if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
  if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi
  if ! have_binary redis-server; then missing+=(redis-server); fi
  if ! have_binary redis-cli; then missing+=(redis-tools); fi
  if ! have_binary nats-server; then missing+=(nats-server); fi
  if ! have_binary haproxy; then missing+=(haproxy); fi
  if ! have_binary nginx; then missing+=(nginx); fi
  if ! have_binary curl; then missing+=(curl); fi
  if ((${#missing[@]} == 0)); then
    log "Debian packages already present (python3-websockets, chromium, node, npm, redis-server, redis-tools, nats-server, haproxy, nginx, curl)"
    return
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q </dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
}

# node_modules is current when npm's hidden lockfile matches package-lock.json's package set.
node_modules_current() {
  [[ -f "${node_dir}/node_modules/.package-lock.json" ]] || return 1
  [[ -d "${node_dir}/node_modules/ws" && -d "${node_dir}/node_modules/playwright-core" ]] || return 1
  node -e '
    const fs = require("fs");
    const want = JSON.parse(fs.readFileSync(process.argv[1], "utf8")).packages;
    const have = JSON.parse(fs.readFileSync(process.argv[2], "utf8")).packages;
    for (const [k, v] of Object.entries(want)) {
      if (k === "") continue;
      if (!have[k] || have[k].version !== v.version) process.exit(1);
    }
  ' "${node_dir}/package-lock.json" "${node_dir}/node_modules/.package-lock.json"
}

install_node_modules() {
  if node_modules_current; then
    log "tests/integration/node/node_modules is current"
    return
  fi
  log "running npm ci in tests/integration/node (ws, playwright-core; no browser download)"
  (
    cd "${node_dir}"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error </dev/null
  )
}

if ((node_only == 0)); then
  install_debian_packages
fi
command -v npm >/dev/null 2>&1 || { echo "install-test-deps: npm not found" >&2; exit 1; }
install_node_modules
log "done"
