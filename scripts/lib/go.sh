# shellcheck shell=bash
# Sourced by the install scripts: a Go toolchain new enough for what they build, or a clear stop.
# The caller defines MIN_GO_MINOR, log and die.

# find_go WHAT: prints the go binary to use; dies naming WHAT needs it when there is none.
find_go() {
  if command -v go >/dev/null 2>&1; then
    command -v go
  elif [ -x /usr/local/go/bin/go ]; then
    echo /usr/local/go/bin/go
  else
    die "Go >= 1.$MIN_GO_MINOR is needed to build $1 (https://go.dev/dl/)"
  fi
}

# check_go_version GO: dies unless GO is at least go1.MIN_GO_MINOR.
check_go_version() {
  local go_bin=$1 version minor
  version=$("$go_bin" env GOVERSION)
  minor=$(printf '%s\n' "$version" | sed -n 's/^go1\.\([0-9][0-9]*\).*/\1/p')
  if [ -z "$minor" ] || [ "$minor" -lt "$MIN_GO_MINOR" ]; then
    die "$go_bin is $version; need go1.$MIN_GO_MINOR or newer"
  fi
  log "go: $version ($go_bin)"
}
