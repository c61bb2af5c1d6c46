import { shellQuote } from "./shell";

/**
 * Opens the front's public ports in the droplet's own firewall. Pure: values in, script text out.
 *
 * The Docker 1-click image enables ufw with Ubuntu's default incoming policy of deny and allows
 * only SSH and Docker's API ports (digitalocean/droplet-1-clicks `common/scripts/014-ufw-docker.sh`:
 * `ufw limit ssh`, `ufw allow 2375/tcp`, `ufw allow 2376/tcp`, `ufw --force enable`). A port
 * that Docker publishes with `-p` passes ufw through Docker's DNAT and the FORWARD chain, whose
 * policy the same script sets to ACCEPT; the front runs on the host's network and binds 443
 * itself, so its packets meet ufw's INPUT chain and are dropped unless allowed here. The cloud
 * firewall in front of the droplet still decides who may reach the port (httpsAllowedCidrs).
 * Without ufw (another image) there is nothing to open.
 */
export function renderHostFirewallScript(ports: readonly number[]): string {
    for (const port of ports) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
            throw new Error(`a public port must be an integer from 1 to 65535; got ${JSON.stringify(port)}`);
        }
    }
    const rules = ports.map((port) => `${port}/tcp`);
    return `#!/bin/sh
# Allows the front's public ports through the droplet's ufw; the cloud firewall filters who reaches them.
set -eu
if ! command -v ufw >/dev/null 2>&1; then
  echo "ufw is not installed: no host firewall to open"
  exit 0
fi
${rules.map((rule) => `ufw allow ${shellQuote(rule)} >/dev/null`).join("\n")}
echo "host firewall (ufw, $(ufw status | sed -n 's/^Status: //p')) allows ${rules.join(", ")}"
`;
}
