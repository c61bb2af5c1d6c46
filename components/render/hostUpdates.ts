import { AptWaitOptions, renderAptWaitFunctions } from "./aptWait";
import { shellQuote } from "./shell";

/**
 * Security updates that install themselves, with any reboot they need held for a quiet hour.
 * Installed over SSH after first boot (not by cloud-init, whose every change replaces the
 * droplet). Pure: values in, script text out.
 *
 * Ubuntu's unattended-upgrades applies the security pocket daily
 * (`APT::Periodic::Unattended-Upgrade "1"`); with `Unattended-Upgrade::Automatic-Reboot "true"`
 * it reboots when a package asks for it (/var/run/reboot-required), at
 * `Automatic-Reboot-Time` (the droplet's local time; DigitalOcean's images run in UTC). The
 * registry container comes back by itself (`--restart=always`), and where an uptime check
 * watches it, an outage that outlasts the reboot raises the "down" alert. Sources: Ubuntu Server
 * docs, "Automatic updates"; the unattended-upgrades package's 50unattended-upgrades comments.
 */

/** After the weekly collection's default hour, before a European or American working day. */
export const REBOOT_TIME_UTC = "04:30";

/**
 * Minutes between replicas' reboot times. All replicas take the same updates on the same day, so
 * one reboot time would take every replica away at once; a quarter of an hour apart, each is back
 * in the balancer (about a minute: a boot, then the healthy threshold's checks) long before the
 * next goes.
 */
export const REPLICA_REBOOT_SPACING_MINUTES = 15;

/** The reboot time of replica `replicaNumber` (1 for the first): the first keeps {@link REBOOT_TIME_UTC}. */
export function replicaRebootTime(replicaNumber: number): string {
    if (!Number.isInteger(replicaNumber) || replicaNumber < 1) {
        throw new Error(`replica numbers start at 1; got ${replicaNumber}`);
    }
    const [hours, minutes] = REBOOT_TIME_UTC.split(":").map(Number);
    const at = (hours * 60 + minutes + (replicaNumber - 1) * REPLICA_REBOOT_SPACING_MINUTES) % (24 * 60);
    return `${String(Math.floor(at / 60)).padStart(2, "0")}:${String(at % 60).padStart(2, "0")}`;
}

export const APT_CONF_DIR = "/etc/apt/apt.conf.d";
/** Sorted after the package's own 20auto-upgrades and 50unattended-upgrades, so these win. */
export const UPDATES_CONF_FILE = "52private-registry-updates";

/**
 * Docker's own apt repository, as unattended-upgrades matches it. The Docker 1-click installs
 * Docker CE, containerd and runc from `deb https://download.docker.com/linux/ubuntu
 * $(lsb_release -c -s) stable` (digitalocean/droplet-1-clicks common/scripts/010-docker.sh),
 * and Ubuntu's default `Unattended-Upgrade::Allowed-Origins` name only Ubuntu's own archives
 * (mvo5/unattended-upgrades data/50unattended-upgrades.Ubuntu), so the engine that faces every
 * container would never be patched.
 *
 * That repository's Release file (dists/jammy/Release) carries `Origin: Docker`,
 * `Label: Docker CE` and `Suite: jammy`, and, as those who read it report, no `Codename` field;
 * so the pattern matches origin, label and archive (the Suite), never codename, plus the
 * `stable` component the image enables (a `test` channel someone adds is not taken
 * unattended). Syntax: `Origins-Pattern` entries are comma-separated `key=value` globs, keys
 * `origin`, `label`, `archive`, `component`, `codename`, `site` (unattended-upgrade
 * `match_whitelist_string`), and `${distro_codename}` is substituted (`substitute`, from
 * `lsb_release -c -s`). Origins-Pattern and Allowed-Origins are read together
 * (`get_allowed_origins`), and a list in a later apt.conf file adds to the same list in an
 * earlier one (apt.conf(5): lists and scopes cannot be overridden, only cleared with
 * `#clear`), so Ubuntu's own origins stay.
 */
export const DOCKER_ORIGIN_PATTERN = "origin=Docker,label=Docker CE,archive=${distro_codename},component=stable";

export function renderUpdatesConfig(rebootTime: string = REBOOT_TIME_UTC): string {
    if (!/^([01][0-9]|2[0-3]):[0-5][0-9]$/.test(rebootTime)) {
        throw new Error(`reboot time must be HH:MM; got ${JSON.stringify(rebootTime)}`);
    }
    return `// Written by the private registry's deploy; changed by the next pulumi up.
APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
Unattended-Upgrade::Automatic-Reboot "true";
Unattended-Upgrade::Automatic-Reboot-WithUsers "true";
Unattended-Upgrade::Automatic-Reboot-Time "${rebootTime}";
// Docker Engine, containerd and runc come from Docker's repository, which Ubuntu's
// Allowed-Origins do not cover. Added to the origins the package ships, not replacing them.
Unattended-Upgrade::Origins-Pattern {
        "${DOCKER_ORIGIN_PATTERN}";
};
`;
}

/**
 * Installs unattended-upgrades if the image lacks it, and writes the config above. `aptWait`
 * bounds the wait for first boot's apt runs (tests point its root at a directory of their own).
 */
export function renderHostUpdatesScript(confDir: string = APT_CONF_DIR, rebootTime: string = REBOOT_TIME_UTC, aptWait: AptWaitOptions = {}): string {
    const config = renderUpdatesConfig(rebootTime);
    // A quoted here-document: the config's ${distro_codename} is for unattended-upgrades, not sh.
    const marker = "PRIVATE_REGISTRY_UPDATES_CONF";
    if (config.split("\n").includes(marker)) {
        throw new Error(`the updates config contains its own end marker ${marker}`);
    }
    return `#!/bin/sh
# Turns on unattended security updates, rebooting when one needs it at ${rebootTime} (droplet time, UTC).
set -eu
conf_dir=${shellQuote(confDir)}
${renderAptWaitFunctions(aptWait)}
if ! command -v unattended-upgrade >/dev/null 2>&1; then
  echo "installing unattended-upgrades"
  # First boot's own apt runs may still hold apt's locks: wait for them (bounded) rather than fail.
  apt_get install -y -q unattended-upgrades >/dev/null
fi
mkdir -p "$conf_dir"
cat > "$conf_dir/${UPDATES_CONF_FILE}.new" <<'${marker}'
${config}${marker}
chmod 644 "$conf_dir/${UPDATES_CONF_FILE}.new"
mv -f "$conf_dir/${UPDATES_CONF_FILE}.new" "$conf_dir/${UPDATES_CONF_FILE}"
echo "unattended security updates on; a reboot they need happens at ${rebootTime} UTC"
`;
}
