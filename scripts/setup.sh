#!/usr/bin/env bash
# `npm run setup`: everything `npm test`, `npm run rehearse` and `npm run test:integration` need,
# on Debian or Ubuntu, in one command that works before node_modules exists:
#   1. npm ci, unless node_modules already matches package-lock.json;
#   2. scripts/install-rehearsal-tools.sh: the missing Debian packages (shellcheck, skopeo,
#      podman, sshd, ...) and the pinned binaries built with `go install` into .cache/bin/;
#   3. scripts/install-pulumi-cli.sh: the Pulumi CLI at the SDK's version, built with Go;
#   4. scripts/install-twin.sh: the droplet twin's root filesystem (Debian 12 made like the
#      Docker 1-click image), cached outside the clone.
# What it cannot do itself (no apt, no root and no sudo, no Go new enough, Node too old) is
# checked first: it then prints what to run instead and exits 1 before changing anything.
# Idempotent: a second run only checks (the scripts keep stamps of what they built).
set -euo pipefail

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
tools_script="$repo_root/scripts/install-rehearsal-tools.sh"
MIN_NODE_MAJOR=20

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# The package list and the Go minimum belong to install-rehearsal-tools.sh: read, never copied.
read -r -a apt_packages <<< "$(sed -n 's/^apt_packages=(\(.*\))$/\1/p' "$tools_script")"
min_go_minor=$(sed -n 's/^MIN_GO_MINOR=\([0-9][0-9]*\)$/\1/p' "$tools_script")
if [ "${#apt_packages[@]}" -eq 0 ] || [ -z "$min_go_minor" ]; then
  die "could not read apt_packages and MIN_GO_MINOR from ${tools_script#"$repo_root"/}"
fi

problems=()
problem() { problems+=("$(printf '%s\n' "$@")"); }
as_root_prefix() { [ "$(id -u)" -eq 0 ] || printf 'sudo '; }

# --- checks: nothing is changed before all of them pass ---------------------------------------
check_platform() {
  local id="" like=""
  if [ -r /etc/os-release ]; then
    # shellcheck source=/dev/null
    id=$(. /etc/os-release && printf '%s' "${ID:-}")
    # shellcheck source=/dev/null
    like=$(. /etc/os-release && printf '%s' "${ID_LIKE:-}")
  fi
  if [ "$(uname -s)" = Linux ] && command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
    case " $id $like " in *" debian "* | *" ubuntu "*) return 0 ;; esac
  fi
  if [ "$(uname -s)" = Darwin ]; then
    problem "This set-up installs with apt, on Debian or Ubuntu; this is macOS. For the unit tests run:" \
      "    brew install shellcheck go       # go: 1.25 or newer, for the Pulumi CLI" \
      "    npm ci --no-audit --no-fund" \
      "    bash scripts/install-pulumi-cli.sh   # optional: without it one unit test is skipped" \
      "    npm test" \
      "npm run rehearse and npm run test:integration need Debian or Ubuntu (a VM or container will do)."
  else
    problem "This set-up installs with apt, on Debian or Ubuntu; this is $(uname -s) ${id:-(unknown distribution)}." \
      "Install shellcheck and Go 1.25+ with your package manager, then: npm ci --no-audit --no-fund && npm test" \
      "npm run rehearse and npm run test:integration need Debian or Ubuntu."
  fi
  return 1
}

check_node() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null) || major=0
  [ "$major" -ge "$MIN_NODE_MAJOR" ] && return 0
  problem "Node.js $MIN_NODE_MAJOR or newer is needed (found: $(node --version 2>/dev/null || echo none)):" \
    "    see https://nodejs.org/en/download (or https://github.com/nodesource/distributions for apt)"
}

# Same lookup as the install scripts: PATH first, then the official tarball's place.
check_go() {
  local go_bin="" version="none" minor=0 arch
  if command -v go >/dev/null 2>&1; then go_bin=$(command -v go); elif [ -x /usr/local/go/bin/go ]; then go_bin=/usr/local/go/bin/go; fi
  if [ -n "$go_bin" ]; then
    version=$("$go_bin" env GOVERSION 2>/dev/null) || version="unknown"
    minor=$(printf '%s\n' "$version" | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')
  fi
  [ "${minor:-0}" -ge "$min_go_minor" ] && return 0
  arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
  case "$arch" in armhf) arch=armv6l ;; i386) arch=386 ;; ppc64el) arch=ppc64le ;; esac
  problem "Go 1.$min_go_minor or newer is needed to build the pinned registry, versitygw and the Pulumi CLI" \
    "(found: $version${go_bin:+ at $go_bin}); Debian's and Ubuntu's golang packages are older. Install the official build:" \
    "    curl -fsSLo /tmp/go.tgz https://go.dev/dl/go1.$min_go_minor.0.linux-$arch.tar.gz   # or the newest go1.$min_go_minor.x from https://go.dev/dl/" \
    "    $(as_root_prefix)rm -rf /usr/local/go && $(as_root_prefix)tar -C /usr/local -xzf /tmp/go.tgz" \
    "    export PATH=\"/usr/local/go/bin:\$PATH\"   # ahead of an older go; also in your shell's profile"
}

missing_packages() {
  local pkg
  for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || printf '%s ' "$pkg"
  done
}

check_root_for() {
  local missing=$1
  [ -n "$missing" ] || return 0
  [ "$(id -u)" -eq 0 ] && return 0
  if command -v sudo >/dev/null 2>&1 && { [ -t 0 ] || sudo -n true 2>/dev/null; }; then
    log "apt packages to install with sudo: $missing"
    return 0
  fi
  problem "These Debian packages are missing, and installing them needs root (this is $(id -un), without usable sudo):" \
    "    ${missing% }" \
    "Run as root, then run npm run setup again:" \
    "    apt-get update && apt-get install -y ${missing% }"
}

check_writable() {
  [ -w "$repo_root" ] && return 0
  problem "$(id -un) cannot write to $repo_root (node_modules/, .cache/): run it as the user who owns the clone."
}

# --- steps -------------------------------------------------------------------------------------
ticker=""
trap '[ -z "$ticker" ] || kill "$ticker" 2>/dev/null || true' EXIT

# run_step WHAT CMD...: runs CMD with a line every 30 s (a Go build is silent for minutes) and
# its duration. CMD stays in the foreground, so Ctrl-C reaches it; the ticker stops with us.
run_step() {
  local what=$1 started status=0
  shift
  started=$(date +%s)
  ( while sleep 30 >/dev/null 2>&1 && kill -0 $$ 2>/dev/null; do
      log "  still $what ($(( $(date +%s) - started ))s)"
    done ) &
  ticker=$!
  "$@" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  ticker=""
  [ "$status" -eq 0 ] || die "$what failed (exit $status); see the lines above"
  log "  $what: done in $(( $(date +%s) - started ))s"
}

# Current when every locked package is installed at its locked version, and nothing else is.
node_modules_current() {
  [ -f "$repo_root/node_modules/.package-lock.json" ] || return 1
  (cd "$repo_root" && node -e '
    const want = require("./package-lock.json").packages, have = require("./node_modules/.package-lock.json").packages;
    const same = (a, b) => a !== undefined && b !== undefined && a.version === b.version && a.resolved === b.resolved;
    const stale = Object.keys(want).some((k) => k !== "" && !want[k].optional && !same(want[k], have[k]))
      || Object.keys(have).some((k) => !same(want[k], have[k]));
    process.exit(stale ? 1 : 0);' 2>/dev/null)
}

# --- main --------------------------------------------------------------------------------------
cd "$repo_root"
started=$(date +%s)
log "checking what this machine has"
if check_platform; then
  check_node
  check_go
  check_root_for "$(missing_packages)"
  check_writable
fi
if [ "${#problems[@]}" -gt 0 ]; then
  printf '\n[setup] Nothing was changed. To finish the set-up:\n' >&2
  for p in "${problems[@]}"; do printf '\n%s\n' "$p" >&2; done
  exit 1
fi

log "1/4 npm packages"
if node_modules_current; then
  log "  node_modules matches package-lock.json"
else
  run_step "npm ci" npm ci --no-audit --no-fund
fi

log "2/4 system packages and rehearsal tools (the first Go builds take a few minutes)"
run_step "installing the rehearsal tools" bash scripts/install-rehearsal-tools.sh

log "3/4 the Pulumi CLI (about 7 minutes the first time)"
bash scripts/install-pulumi-cli.sh || die "building the Pulumi CLI failed; see the lines above"

log "4/4 the droplet twin's root filesystem (about 5 minutes the first time)"
if [ "$(id -u)" -eq 0 ]; then
  run_step "building the droplet twin" bash scripts/install-twin.sh
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  run_step "building the droplet twin" sudo env TWIN_CACHE_DIR="${TWIN_CACHE_DIR:-$HOME/.cache/private-registry/twin}" bash scripts/install-twin.sh
else
  log "  skipped: building the twin needs root (the twin's integration tests need it; npm test does not)"
fi

log "ready in $(( $(date +%s) - started ))s. Next: npm test; npm run rehearse (the registry on 127.0.0.1); npm run test:integration"
