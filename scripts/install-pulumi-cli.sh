#!/usr/bin/env bash
# Builds the Pulumi CLI into .cache/bin/pulumi (git-ignored) from the Go module
# github.com/pulumi/pulumi/pkg/v3 at exactly the version of @pulumi/pulumi in package.json, so
# test/unit/pulumiCli.test.ts can ask the real CLI whether the README's `pulumi config` commands
# give a stack that is valid against Pulumi.yaml's config schema. No download from get.pulumi.com:
# only the Go module proxy is needed.
#
# The module's go.mod replaces the SDK with `../sdk` (the monorepo checkout), which a module
# download does not have, so the module is copied out of the read-only module cache, that replace
# is dropped (the SDK then comes from the proxy at the version go.mod requires, the same release)
# and `go build ./cmd/pulumi` runs in the copy.
#
# Idempotent and fast when cached: rebuilt only when the stamp file (module, version, build flags)
# does not match what this script would build.
#
# Usage: scripts/install-pulumi-cli.sh
#        FORCE_REBUILD=1 scripts/install-pulumi-cli.sh
set -euo pipefail

PULUMI_MODULE="github.com/pulumi/pulumi/pkg/v3"
# go.mod of pkg/v3 3.248.0 says `go 1.25.11`.
MIN_GO_MINOR=25

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_bin="$repo_root/.cache/bin"

log() { printf '[pulumi-cli] %s\n' "$*"; }
die() { printf '[pulumi-cli] ERROR: %s\n' "$*" >&2; exit 1; }

# shellcheck source=scripts/lib/go.sh
. "$repo_root/scripts/lib/go.sh"

# The CLI must match the SDK the program runs with, so the version comes from package.json.
read_sdk_version() {
  local value=""
  if command -v node >/dev/null 2>&1; then
    value=$(cd "$repo_root" && node -p "require('./package.json').dependencies['@pulumi/pulumi'] ?? ''" 2>/dev/null) || value=""
  fi
  if [ -z "$value" ]; then
    # Fallback without node: the literal from the dependencies block.
    value=$(sed -n 's/^ *"@pulumi\/pulumi": *"\([^"]*\)".*/\1/p' "$repo_root/package.json" | head -n1)
  fi
  case "$value" in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "@pulumi/pulumi in package.json is '$value', not an exact release like 3.248.0" ;;
  esac
  printf '%s\n' "$value"
}

# Prints a line every 30 s while PID runs: the compile is silent for minutes.
progress() {
  local pid=$1 what=$2 started=$3
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && log "  still $what ($(( $(date +%s) - started ))s)"
  done
  return 0
}

# run_with_progress WHAT CMD...: runs CMD in the background with progress lines, returns its status.
run_with_progress() {
  local what=$1 started pid ticker status=0
  shift
  started=$(date +%s)
  "$@" &
  pid=$!
  progress "$pid" "$what" "$started" &
  ticker=$!
  wait "$pid" || status=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$status"
}

build() {
  local version=$1
  local target="$cache_bin/pulumi" stamp="$cache_bin/pulumi.stamp"
  local ldflags="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$version"
  local want="module=$PULUMI_MODULE version=$version CGO_ENABLED=0 flags=-trimpath,-ldflags=$ldflags replace=-../sdk"
  if [ "${FORCE_REBUILD:-0}" != 1 ] && [ -x "$target" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "pulumi: cached ($PULUMI_MODULE@$version) at ${target#"$repo_root"/}"
    return
  fi

  local tmp started step module_dir
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-cli-build.XXXXXX")
  # shellcheck disable=SC2064 # expand $tmp now: it is local to this function
  trap "rm -rf '$tmp'" EXIT
  started=$(date +%s)

  log "pulumi: fetching $PULUMI_MODULE@$version"
  module_dir=$(cd "$tmp" && GOFLAGS=-mod=mod "$GO" mod download -json "$PULUMI_MODULE@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",*$/\1/p')
  [ -d "$module_dir" ] || die "go mod download $PULUMI_MODULE@$version gave no module directory"
  cp -R "$module_dir" "$tmp/src"
  chmod -R u+w "$tmp/src"
  # Only the monorepo-relative replace goes; others (e.g. the clipboard fork) stay.
  sed -i '/^replace github\.com\/pulumi\/pulumi\/sdk\/v3 => \.\.\/sdk/d' "$tmp/src/go.mod"
  ! grep -q '=> \.\./' "$tmp/src/go.mod" || die "go.mod still has a relative replace: $(grep '=> \.\./' "$tmp/src/go.mod")"

  step=$(date +%s)
  log "pulumi: downloading its dependencies (hundreds of modules the first time)"
  (cd "$tmp/src" && GOFLAGS=-mod=mod run_with_progress "downloading" "$GO" mod download) ||
    die "go mod download failed for $PULUMI_MODULE@$version"
  log "pulumi: dependencies ready in $(( $(date +%s) - step ))s"

  step=$(date +%s)
  log "pulumi: compiling ./cmd/pulumi (CGO_ENABLED=0); several minutes with a cold Go build cache"
  (cd "$tmp/src" && CGO_ENABLED=0 GOFLAGS="-mod=mod -buildvcs=false" run_with_progress "compiling" \
    "$GO" build -trimpath -ldflags="$ldflags" -o "$tmp/pulumi" ./cmd/pulumi) ||
    die "go build ./cmd/pulumi failed for $PULUMI_MODULE@$version"
  log "pulumi: compiled in $(( $(date +%s) - step ))s"

  # Copy next to the target, then rename: a test running meanwhile never sees a half-written file.
  cp "$tmp/pulumi" "$target.new"
  mv -f "$target.new" "$target"
  printf '%s\n' "$want" > "$stamp"
  log "pulumi: built in $(( $(date +%s) - started ))s -> ${target#"$repo_root"/}"
}

# --- main ----------------------------------------------------------------------------------------
GO=$(find_go "the Pulumi CLI")
check_go_version "$GO"
mkdir -p "$cache_bin"
sdk_version=$(read_sdk_version)
log "pinned: @pulumi/pulumi $sdk_version (package.json) -> $PULUMI_MODULE@v$sdk_version"
build "v$sdk_version"
# PULUMI_HOME in a temp dir: asking for the version must not create ~/.pulumi.
home=$(mktemp -d "${TMPDIR:-/tmp}/pulumi-home.XXXXXX")
log "version: $(PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$cache_bin/pulumi" version)"
rm -rf "$home"
log "done; run: node --import tsx --test test/unit/pulumiCli.test.ts"
