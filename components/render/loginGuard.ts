import { AptWaitOptions, renderAptWaitFunctions } from "./aptWait";
import { FAIL2BAN_ACTION_PATH, FAIL2BAN_DEFAULTS, FAIL2BAN_FILTER_PATH, FAIL2BAN_JAIL_NAME, FAIL2BAN_JAIL_PATH, renderFail2banFiles } from "./fail2ban";
import { shellQuote } from "./shell";

/**
 * The failed-login guard as the droplet gets it: a script, run over SSH after first boot, that
 * installs fail2ban and the front's jail (fail2ban.ts). Pure: values in, script text out.
 */

export interface LoginGuardInput {
    /** The front's refusal log on the host (front.ts `refusedLogFile`). */
    refusedLogPath: string;
    /** The front's public TCP ports. */
    ports: number[];
    /** Clients arrive through a load balancer's PROXY headers (fail2ban.ts); default false. */
    behindBalancer?: boolean;
    /** Stands in for `/` before fail2ban's own paths and apt's locks (tests); default none. */
    root?: string;
    /** How long to wait for first boot's apt runs (tests shorten it); see aptWait.ts. */
    aptWait?: Omit<AptWaitOptions, "root">;
}

export function renderLoginGuardScript(input: LoginGuardInput): string {
    const q = shellQuote;
    const files = renderFail2banFiles({ refusedLogPath: input.refusedLogPath, ports: input.ports, ...FAIL2BAN_DEFAULTS, behindBalancer: input.behindBalancer });
    const root = input.root ?? "";
    const filterPath = `${root}${FAIL2BAN_FILTER_PATH}`;
    const jailPath = `${root}${FAIL2BAN_JAIL_PATH}`;
    const actionPath = `${root}${FAIL2BAN_ACTION_PATH}`;
    const dirOf = (path: string) => path.slice(0, path.lastIndexOf("/"));
    const write = (path: string, content: string) => `printf '%s' ${q(content)} > ${q(`${path}.new`)}
chmod 644 ${q(`${path}.new`)}
mv -f ${q(`${path}.new`)} ${q(path)}`;
    return `#!/bin/sh
# Installs fail2ban with a jail that refuses, for a while, an address that keeps failing to log in at the front.
set -eu
log=${q(input.refusedLogPath)}
${renderAptWaitFunctions({ ...input.aptWait, root })}
if ! command -v fail2ban-client >/dev/null 2>&1; then
  echo "installing fail2ban"
  # First boot's own apt runs may still hold apt's locks: wait for them (bounded) rather than fail.
  apt_get update -q >/dev/null
  apt_get install -y -q fail2ban >/dev/null
fi
# fail2ban 0.11 refuses to start a jail whose log file does not exist yet; the front appends to it.
mkdir -p "$(dirname "$log")"
touch "$log"
mkdir -p ${q(dirOf(filterPath))} ${q(dirOf(actionPath))} ${q(dirOf(jailPath))}
${write(filterPath, files.filter)}
${write(actionPath, files.action)}
${write(jailPath, files.jail)}
systemctl enable fail2ban >/dev/null 2>&1 || true
if fail2ban-client ping >/dev/null 2>&1; then
  fail2ban-client reload >/dev/null
else
  systemctl restart fail2ban
fi
# Proves the jail loaded, with the filter and log it names; fails the deploy otherwise.
tries=0
until fail2ban-client status ${q(FAIL2BAN_JAIL_NAME)} >/dev/null 2>&1; do
  tries=$((tries + 1))
  if [ "$tries" -ge 30 ]; then
    echo "fail2ban did not load the ${FAIL2BAN_JAIL_NAME} jail:" >&2
    fail2ban-client status >&2 || true
    exit 1
  fi
  sleep 1
done
echo ${q(`failed-login guard on: ${FAIL2BAN_DEFAULTS.maxRetry} failed logins within ${FAIL2BAN_DEFAULTS.findTimeSeconds / 60} minutes refuse an address for ${FAIL2BAN_DEFAULTS.banTimeSeconds / 60} minutes`)}
`;
}
