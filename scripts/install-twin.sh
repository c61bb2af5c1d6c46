#!/usr/bin/env bash
# Builds the droplet twin's root filesystem into ~/.cache/private-registry/twin (TWIN_CACHE_DIR;
# outside the clone, so a fresh clone on the same machine reuses it): a Debian 12 system
# made the way DigitalOcean's Docker 1-click image is made, which the rehearsal boots with
# systemd-nspawn (test/harness/twin.ts). Also fills its repo/ with the .deb files the
# deploy installs with apt (fail2ban and what it needs), indexed as a flat repository that the
# rehearsal serves to the twin, so the deploy's apt steps run for real with no internet.
#
# The image's own build (digitalocean/droplet-1-clicks `docker-22-04/template.json`) runs, on
# Ubuntu 22.04: an apt full-upgrade, `common/scripts/010-docker.sh` (Docker CE from Docker's
# own repository, enabled), then `014-ufw-docker.sh`:
#     sed DEFAULT_FORWARD_POLICY="ACCEPT" /etc/default/ufw
#     ufw limit ssh; ufw allow 2375/tcp; ufw allow 2376/tcp; ufw --force enable
# Here Docker is Debian's docker.io (no Docker repository can be reached), unattended-upgrades
# is present as on Ubuntu, and fail2ban is absent: the deploy installs it.
#
# Idempotent: a stamp records what was built (this script's hash and Debian's sources); a
# second run only checks it. FORCE_REBUILD=1 builds again.
set -euo pipefail

twin_dir="${TWIN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/private-registry/twin}"
rootfs="$twin_dir/rootfs"
repo_dir="$twin_dir/repo"
stamp="$twin_dir/rootfs.stamp"

# What a droplet has that the rehearsal exercises; psmisc (fuser) and procps as on Ubuntu's server image.
twin_packages=(systemd systemd-sysv dbus openssh-server cloud-init ufw iptables docker.io curl ca-certificates
  rsyslog unattended-upgrades apt-utils util-linux procps psmisc iproute2 less)
# What the deploy installs with apt, served from repo_dir.
deploy_packages=(fail2ban)

log() { printf '[twin] %s\n' "$*"; }
die() { printf '[twin] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "building the twin's root filesystem needs root (mmdebstrap, chroot)"
for tool in mmdebstrap systemd-nspawn apt-ftparchive; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run scripts/install-rehearsal-tools.sh first"
done

sources=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v '^#' || true)
want="script=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) sources=$(printf '%s' "$sources" | sha256sum | cut -d' ' -f1)"
if [ "${FORCE_REBUILD:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$rootfs/usr/sbin/dockerd" ] && [ -f "$repo_dir/Packages" ]; then
  log "root filesystem cached at $rootfs ($(du -sh "$rootfs" 2>/dev/null | cut -f1))"
  exit 0
fi

mkdir -p "$twin_dir"
building="$twin_dir/.rootfs.building"
rm -rf "$building" "$twin_dir/.repo.building"
mkdir -p "$twin_dir/.repo.building"
started=$(date +%s)
log "building the root filesystem with mmdebstrap (about a minute; Debian bookworm from this machine's sources)"

# The hooks run on this machine with the new root as $1, so they are single-quoted here.
# shellcheck disable=SC2016
# - 014-ufw-docker.sh's steps. `ufw limit/allow` only edit ufw's rule files while it is
#   inactive; `--force enable` would also load them into this machine's kernel, so enabling is
#   done as ufw itself persists it (ENABLED=yes in /etc/ufw/ufw.conf), and the twin's ufw.service
#   loads the rules at boot, as on the image's every boot.
# - Docker enabled at boot, as 010-docker.sh does.
# - The deploy's packages downloaded (not installed) into the flat repository.
# - The twin's own cloud-init settings (never the program's user data): NoCloud only, no network
#   configuration (the rehearsal sets the link up), and a locale that exists.
# - apt reads only the rehearsal's repository: the twin reaches no Debian mirror.
mmdebstrap --variant=apt --components=main --include="$(IFS=,; echo "${twin_packages[*]}")" \
  --customize-hook='sed -e "s|DEFAULT_FORWARD_POLICY=.*|DEFAULT_FORWARD_POLICY=\"ACCEPT\"|g" -i "$1/etc/default/ufw"' \
  --customize-hook='chroot "$1" ufw limit ssh && chroot "$1" ufw allow 2375/tcp && chroot "$1" ufw allow 2376/tcp' \
  --customize-hook='sed -e "s|^ENABLED=.*|ENABLED=yes|" -i "$1/etc/ufw/ufw.conf"' \
  --customize-hook='chroot "$1" systemctl enable docker.service ssh.service ufw.service cloud-init.service >/dev/null' \
  --customize-hook="chroot \"\$1\" apt-get clean && chroot \"\$1\" apt-get install -y -q --download-only ${deploy_packages[*]} >/dev/null && mv \"\$1\"/var/cache/apt/archives/*.deb '$twin_dir/.repo.building/'" \
  --customize-hook='mkdir -p "$1/etc/cloud/cloud.cfg.d" && printf "%s\n" "datasource_list: [ NoCloud ]" "network: {config: disabled}" "locale: C.UTF-8" > "$1/etc/cloud/cloud.cfg.d/90-twin.cfg"' \
  --customize-hook='rm -f "$1/etc/apt/sources.list" "$1"/etc/apt/sources.list.d/* "$1/etc/machine-id" && touch "$1/etc/machine-id" && chroot "$1" apt-get clean' \
  bookworm "$building" /etc/apt/sources.list.d/debian.sources \
  || die "mmdebstrap failed; see the lines above"

(cd "$twin_dir/.repo.building" && apt-ftparchive packages . > Packages && apt-ftparchive release . > Release) \
  || die "indexing the deploy's packages failed"
rm -rf "$rootfs" "$repo_dir"
mv "$building" "$rootfs"
mv "$twin_dir/.repo.building" "$repo_dir"
printf '%s\n' "$want" > "$stamp"
log "root filesystem built in $(( $(date +%s) - started ))s: $(du -sh "$rootfs" | cut -f1), deploy packages: $(find "$repo_dir" -name "*.deb" | wc -l) .deb files"
