#!/usr/bin/env bash
# Installs everything the local rehearsal (npm run test:integration / npm run rehearse) runs:
#   - Debian packages: skopeo, podman, runc, slirp4netns, openssh-server (+ client), curl,
#     openssl, shellcheck, uidmap; for the droplet twin mmdebstrap, systemd-container, apt-utils,
#     libcap2-bin (setcap), python3 and dnsmasq-base (only the ones that are missing);
#   - into .cache/bin/ (git-ignored), built with `go install`:
#       registry   CNCF Distribution at the exact version the program deploys
#                  (REGISTRY_VERSION in components/versions.ts), static (CGO_ENABLED=0) so the
#                  same binary also runs inside a FROM-scratch container image;
#       versitygw  a real S3-compatible server (SigV4 checks, multipart uploads), pinned below;
#       regbot     regclient's scripted registry client at the version the droplet runs for tag
#                  retention (REGCLIENT_VERSION in components/versions.ts), static like the image's;
#       caddy      the front the droplet runs (CADDY_VERSION in components/versions.ts), static;
#       toxiproxy-server, toxiproxy-cli
#                  Shopify's TCP proxy, pinned below: bench/net adds round-trip delay with it,
#                  because this kernel has tbf and htb but no netem.
#       pebble, pebble-challtestsrv
#                  Let's Encrypt's test CA and its DNS, pinned below: the droplet twin gets its
#                  certificate over ACME from them.
#       oras       the OCI artifact client, pinned below: it attaches artifacts to images with the
#                  referrers tag schema, whose fallback tags retention must not count as images;
#       regctl     regclient's command-line client at the same version as regbot: it pushes a
#                  cosign-style `sha256-<hex>.sig` tag.
#   fail2ban and iptables come from Debian, as the droplet's come from Ubuntu.
# Idempotent and fast when cached: a binary is rebuilt only when its stamp file (module, version,
# build flags) does not match what this script would build.
#
# Usage: scripts/install-rehearsal-tools.sh            (as root, or with sudo available)
#        FORCE_REBUILD=1 scripts/install-rehearsal-tools.sh
set -euo pipefail

VERSITYGW_MODULE="github.com/versity/versitygw/cmd/versitygw"
VERSITYGW_VERSION="v1.8.0"
TOXIPROXY_SERVER_MODULE="github.com/Shopify/toxiproxy/v2/cmd/server"
TOXIPROXY_CLI_MODULE="github.com/Shopify/toxiproxy/v2/cmd/cli"
TOXIPROXY_VERSION="v2.5.0"
PEBBLE_MODULE="github.com/letsencrypt/pebble/v2/cmd/pebble"
CHALLTESTSRV_MODULE="github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv"
PEBBLE_VERSION="v2.10.3"
ORAS_MODULE="oras.land/oras/cmd/oras"
ORAS_VERSION="v1.3.6"
REGCTL_MODULE="github.com/regclient/regclient/cmd/regctl"
# The oldest Go every module builds with: distribution v3.1.2's and regclient v0.11.7's go.mod say `go 1.26.0`.
MIN_GO_MINOR=26

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_bin="$repo_root/.cache/bin"
apt_packages=(skopeo podman runc slirp4netns openssh-server openssh-client curl openssl shellcheck uidmap systemd util-linux fail2ban iptables iproute2 mmdebstrap systemd-container apt-utils libcap2-bin python3 dnsmasq-base haproxy)

log() { printf '[rehearsal-tools] %s\n' "$*"; }
die() { printf '[rehearsal-tools] ERROR: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root (or sudo) to run: $*"
  fi
}

# --- 1. Debian packages ------------------------------------------------------------------------
install_packages() {
  local missing=() pkg
  for pkg in "${apt_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
      missing+=("$pkg")
    fi
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    log "apt: all packages present (${apt_packages[*]})"
    return
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
  log "apt: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

# --- 2. Go toolchain -----------------------------------------------------------------------------
# shellcheck source=scripts/lib/go.sh
. "$repo_root/scripts/lib/go.sh"

# --- 3. The pinned registry version, from the program's own constant --------------------------
read_versions_constant() {
  local name=$1 value=""
  if [ -x "$repo_root/node_modules/.bin/tsx" ] && command -v node >/dev/null 2>&1; then
    if ! value=$(cd "$repo_root" && node --import tsx -e \
      "import('./components/versions.ts').then((m) => { const v = m['$name'] ?? m.default?.['$name']; process.stdout.write(String(v ?? '')); })" 2>/dev/null); then
      value=""
    fi
  fi
  if [ -z "$value" ]; then
    # Fallback before `npm ci`: read the literal from the source.
    value=$(sed -n "s/^export const $name = \"\\([^\"]*\\)\";.*/\\1/p" "$repo_root/components/versions.ts")
  fi
  [ -n "$value" ] || die "could not read $name from components/versions.ts"
  printf '%s\n' "$value"
}

# read_pin LABEL VERSION_CONSTANT MODULE_CONSTANT EXAMPLE: sets pin_version and pin_module from
# components/versions.ts, refusing a version that is not an exact release like EXAMPLE.
read_pin() {
  pin_version=$(read_versions_constant "$2")
  pin_module=$(read_versions_constant "$3")
  case "$pin_version" in
    [0-9]*.[0-9]*.[0-9]*) ;;
    *) die "$2 '$pin_version' is not an exact release like $4" ;;
  esac
  log "pinned $1: $pin_module@v$pin_version (components/versions.ts)"
}

# --- 4. go install with a stamp ------------------------------------------------------------------
# build NAME MODULE VERSION CGO [BUILT]: installs MODULE@VERSION as $cache_bin/NAME unless the stamp
# matches. BUILT is the file `go install` writes (the last element of the module path), when it is
# not NAME already (toxiproxy's commands are `server` and `cli`).
build() {
  local name=$1 module=$2 version=$3 cgo=$4 built=${5:-$1}
  local target="$cache_bin/$name" stamp="$cache_bin/$name.stamp"
  local want="module=$module version=$version CGO_ENABLED=$cgo flags=-trimpath,-s,-w"
  if [ "${FORCE_REBUILD:-0}" != 1 ] && [ -x "$target" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    log "$name: cached ($module@$version) at ${target#"$repo_root"/}"
    return
  fi
  log "$name: building $module@$version (CGO_ENABLED=$cgo); the first build takes a few minutes"
  local tmp started
  tmp=$(mktemp -d "$cache_bin/.build-$name.XXXXXX")
  started=$(date +%s)
  if ! CGO_ENABLED=$cgo GOBIN="$tmp" GOFLAGS="${GOFLAGS:-} -buildvcs=false" \
      "$GO" install -trimpath -ldflags='-s -w' "$module@$version"; then
    rm -rf "$tmp"
    die "go install $module@$version failed"
  fi
  mv -f "$tmp/$built" "$target"
  rm -rf "$tmp"
  printf '%s\n' "$want" > "$stamp"
  log "$name: built in $(( $(date +%s) - started ))s -> ${target#"$repo_root"/}"
}

# --- main ----------------------------------------------------------------------------------------
install_packages
GO=$(find_go "the registry and versitygw")
check_go_version "$GO"
mkdir -p "$cache_bin"

read_pin registry REGISTRY_VERSION REGISTRY_GO_MODULE 3.1.2
registry_module=$pin_module registry_version=$pin_version
read_pin regbot REGCLIENT_VERSION REGBOT_GO_MODULE 0.11.7
regbot_module=$pin_module regclient_version=$pin_version
read_pin caddy CADDY_VERSION CADDY_GO_MODULE 2.11.9
caddy_module=$pin_module caddy_version=$pin_version

# Static, so the same file runs on the host and as the only file of a FROM-scratch image.
build registry "$registry_module" "v$registry_version" 0
build versitygw "$VERSITYGW_MODULE" "$VERSITYGW_VERSION" 0
build regbot "$regbot_module" "v$regclient_version" 0
build caddy "$caddy_module" "v$caddy_version" 0
build toxiproxy-server "$TOXIPROXY_SERVER_MODULE" "$TOXIPROXY_VERSION" 0 server
build toxiproxy-cli "$TOXIPROXY_CLI_MODULE" "$TOXIPROXY_VERSION" 0 cli
build pebble "$PEBBLE_MODULE" "$PEBBLE_VERSION" 0
build pebble-challtestsrv "$CHALLTESTSRV_MODULE" "$PEBBLE_VERSION" 0
build oras "$ORAS_MODULE" "$ORAS_VERSION" 0
build regctl "$REGCTL_MODULE" "v$regclient_version" 0

log "versions:"
log "  registry   $("$cache_bin/registry" --version 2>&1 | awk '{ print $NF; exit }')"
log "  versitygw  $("$GO" version -m "$cache_bin/versitygw" | awk '$1 == "mod" { print $3; exit }')"
log "  regbot     $("$cache_bin/regbot" version --format '{{.VCSTag}}' 2>&1 | head -n1)"
log "  caddy      $("$cache_bin/caddy" version 2>&1 | awk '{ print $1; exit }')"
log "  toxiproxy  $("$GO" version -m "$cache_bin/toxiproxy-server" | awk '$1 == "mod" { print $3; exit }')"
log "  pebble     $("$GO" version -m "$cache_bin/pebble" | awk '$1 == "mod" { print $3; exit }')"
log "  oras       $("$GO" version -m "$cache_bin/oras" | awk '$1 == "mod" { print $3; exit }')"
log "  regctl     $("$cache_bin/regctl" version --format '{{.VCSTag}}' 2>&1 | head -n1)"
log "  fail2ban   $(fail2ban-client --version 2>&1 | head -n1)"
log "  skopeo     $(skopeo --version 2>&1 | head -n1)"
log "  podman     $(podman --version 2>&1 | head -n1)"
log "  runc       $(runc --version 2>&1 | head -n1)"
log "  openssh    $(ssh -V 2>&1 | head -n1)"
log "done; run: npm run test:integration"
