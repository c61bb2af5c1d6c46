import { REGISTRY_CONFIG_PATH } from "./registryConfig";
import { shellQuote } from "./shell";

/**
 * The two small programs installed on the droplet that every step which (re)starts the registry
 * shares: the deploy's start script, and the maintenance job that restarts it read-only for
 * garbage collection and then read-write again. One `docker run` line, one health wait, so the
 * two can never start the registry differently. Pure: values in, script text out.
 */

/** How the registry container is run; the config file is the only thing a mode changes. */
export interface RegistryRunInput {
    containerName: string;
    image: string;
    /** Host directory with config.yml, config-readonly.yml and htpasswd. */
    configDir: string;
    /** Host file name in configDir → read-only mount path in the container, besides the config. */
    mounts: Record<string, string>;
    /** The container's environment. */
    env: Readonly<Record<string, string>>;
}

/** Which config the registry runs with: read-write normally, read-only while garbage is collected. */
export type RegistryMode = "readwrite" | "readonly";
export const CONFIG_FILE_FOR_MODE: Readonly<Record<RegistryMode, string>> = { readwrite: "config.yml", readonly: "config-readonly.yml" };

/**
 * How long `docker stop` lets the old container drain: past the registry's own `draintimeout`
 * (registryConfig.ts), during which it finishes the requests it has and accepts no new ones.
 * The front retries those new ones until the next container listens.
 */
export const REGISTRY_STOP_SECONDS = 40;

const MIB = 1024 ** 2;
const GO_MEMORY_UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: MIB, GiB: 1024 * MIB, TiB: 1024 * 1024 * MIB };

/**
 * The registry container's memory limit, with no swap besides (`--memory-swap` equal). Sized for
 * the default droplet, s-1vcpu-1gb: of its 1 GiB the kernel keeps about 100 MB, the host's own
 * processes (dockerd, containerd, fail2ban, systemd, sshd) took about 180 MiB idle and 250 MiB
 * during the weekly job (bench/twin/memory.ts), and the front has FRONT_MEMORY_LIMIT_BYTES
 * (frontRun.ts): both containers at their limits still leave the host its share, so the kernel
 * never has to pick a victim among the droplet's processes. At the limit the kernel kills the
 * registry in its own cgroup and Docker restarts it: still a kill, and every request it held
 * fails (502). So the limit is a backstop, and the front caps the requests in flight to the
 * registry well below it: a request for a manifest near distribution's 4 MiB limit held about
 * 17 MB of it (bench/twin/manifests.ts: 16 at once peaked at 322 MiB; without a cap 100 at once
 * reached the limit and were killed).
 */
export const REGISTRY_MEMORY_LIMIT_BYTES = 384 * MIB;

/** Bytes in a Go memory limit (runtime/debug: a number with an optional B, KiB, MiB, GiB or TiB suffix); undefined for none or "off". */
export function goMemoryLimitBytes(value: string | undefined): number | undefined {
    if (value === undefined || value === "off") {
        return undefined;
    }
    const match = /^([0-9]+)(B|KiB|MiB|GiB|TiB)?$/.exec(value);
    if (match === null) {
        throw new Error(`GOMEMLIMIT must be a whole number of bytes with an optional B, KiB, MiB, GiB or TiB suffix, or off; got ${JSON.stringify(value)}`);
    }
    return Number(match[1]) * GO_MEMORY_UNITS[match[2] ?? "B"];
}

/** In the config directory: the mode and inputs the running registry container was made from. */
export const REGISTRY_STATE_FILE = ".registry-running";

/**
 * `run-registry readwrite|readonly [--if-changed]`: replaces the container, with the config for
 * that mode; with `--if-changed`, only when it runs from other inputs than these.
 */
export function renderRunRegistryScript(input: RegistryRunInput): string {
    const q = shellQuote;
    // The soft limit makes the GC work harder as the heap nears it; at or past the hard limit the
    // kernel would kill the registry before the GC ever tried.
    const soft = goMemoryLimitBytes(input.env.GOMEMLIMIT);
    if (soft !== undefined && soft >= REGISTRY_MEMORY_LIMIT_BYTES) {
        throw new Error(`the registry's GOMEMLIMIT (${input.env.GOMEMLIMIT}) must be below its container's memory limit (${REGISTRY_MEMORY_LIMIT_BYTES} bytes)`);
    }
    const mounts = Object.entries(input.mounts).map(([file, containerPath]) => `-v "$config_dir/${file}:${containerPath}:ro"`);
    const mountedFiles = Object.keys(input.mounts).map((file) => `"$config_dir/${file}"`);
    return `#!/bin/sh
# Replaces the registry container. Usage: run-registry readwrite|readonly [--if-changed]
# --if-changed leaves a running container alone when it runs in that mode from the same script,
# image and files: a deploy that changes only the front's users restarts nothing.
set -eu
name=${q(input.containerName)}
image=${q(input.image)}
config_dir=${q(input.configDir)}
case "\${1:-}" in
  readwrite) config=${q(CONFIG_FILE_FOR_MODE.readwrite)} ;;
  readonly) config=${q(CONFIG_FILE_FOR_MODE.readonly)} ;;
  *) echo "usage: run-registry readwrite|readonly [--if-changed]" >&2; exit 2 ;;
esac
if [ ! -s "$config_dir/$config" ]; then
  echo "$config_dir/$config is missing; nothing was changed" >&2
  exit 1
fi
# What the container is made from: this script (image, limits, environment), its config and files.
inputs="$1 $(cat "$0" "$config_dir/$config"${mountedFiles.map((f) => ` ${f}`).join("")} | sha256sum | cut -d ' ' -f 1)"
state="$config_dir/${REGISTRY_STATE_FILE}"
if [ "\${2:-}" = --if-changed ] && [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || true)" = true ] && [ "$(cat "$state" 2>/dev/null || true)" = "$inputs" ]; then
  echo "registry container $name unchanged ($1)"
  exit 0
fi
# SIGTERM first: the registry stops listening and finishes what it has (its draintimeout), and
# the front holds new requests until the next container listens, so none fails.
docker stop -t ${REGISTRY_STOP_SECONDS} "$name" >/dev/null 2>&1 || true
# -v: the image declares VOLUME /var/lib/registry, so each container would leave one behind.
docker rm -f -v "$name" >/dev/null 2>&1 || true
# Host network: the config binds the droplet's loopback only, where the front reaches it.
docker run -d --name "$name" --restart=always --network host \\
  --log-driver json-file --log-opt max-size=10m --log-opt max-file=5 \\
  --cap-drop ALL --security-opt no-new-privileges \\
  --memory ${REGISTRY_MEMORY_LIMIT_BYTES} --memory-swap ${REGISTRY_MEMORY_LIMIT_BYTES} \\
  ${Object.entries(input.env).map(([name, value]) => `-e ${q(`${name}=${value}`)}`).join(" ")} \\
  -v "$config_dir/$config:${REGISTRY_CONFIG_PATH}:ro" \\
  ${mounts.join(" \\\n  ")} \\
  "$image" >/dev/null
printf '%s\n' "$inputs" > "$state"
echo "registry container $name started ($1)"
`;
}

/** How the health wait reaches the registry and what it requires. */
export type ServingCheck = {
    /** The URL of the registry's `/v2/` endpoint as clients name it. */
    url: string;
    /** Sends the check to this local address instead of resolving the URL's host (curl --connect-to). */
    connectTo?: string;
    /** Verify the certificate against configDir's ca.crt instead of the system store. */
    useBundledCa: boolean;
    timeoutSeconds: number;
    /**
     * Set while the registry's DNS name does not yet point at the droplet. Any TLS handshake for
     * the name would then make the registry ask Let's Encrypt for a certificate that cannot be
     * validated, and failed validations count against Let's Encrypt's limits. The wait checks
     * only that the container stays up and its debug server answers, and says which DNS record
     * to create; the next `pulumi up` after that runs the full check.
     */
    awaitingDns?: { hostname: string; address: string; debugUrl: string };
    /**
     * The front's container, when the front obtains the certificate over ACME. Caddy keeps
     * retrying a refused order for a month, so the wait reads the front's log instead: once the
     * CA has answered an attempt with an ACME problem (RFC 8555 section 6.7), the deploy fails at
     * once with the CA's own words rather than timing out on a handshake that never succeeds.
     */
    acmeFront?: string;
};

/**
 * Shell functions for the health wait with an ACME front: `acme_refusal` prints the error of the
 * front's latest failed attempt at a certificate since the wait began, when the CA answered it
 * with an ACME problem document (`urn:ietf:params:acme:error:…`), and nothing otherwise, so a
 * network hiccup still gets Caddy's retries. The messages are certmagic v0.25.6's (async.go
 * doWithRetry: "will retry", "final attempt; giving up", logger `tls.obtain`), one JSON object
 * per line as Caddy logs without a terminal.
 */
function renderAcmeRefusalCheck(frontContainer: string): string {
    return `front=${shellQuote(frontContainer)}
acme_refusal() {
  docker logs --since "$started" "$front" 2>&1 \\
    | grep '"logger":"tls.obtain"' \\
    | grep -E '"msg":"(will retry|final attempt; giving up)"' \\
    | grep 'urn:ietf:params:acme:error:' \\
    | tail -n 1 \\
    | sed -n 's/.*"error":"\\(\\([^"\\\\]\\|\\\\.\\)*\\)".*/\\1/p'
}
fail_acme() {
  echo "$1" >&2
  echo "--- last front log lines ---" >&2
  docker logs --tail 20 "$front" >&2 2>&1 || true
  exit 1
}
`;
}

/** curl's arguments for reaching the registry as the check does (no secret: the login is a file). */
export function curlTlsArgs(check: Pick<ServingCheck, "connectTo" | "useBundledCa">): string {
    return [check.connectTo !== undefined ? `--connect-to ${shellQuote(`::${check.connectTo}`)}` : "", check.useBundledCa ? `--cacert "$config_dir/ca.crt"` : ""]
        .filter((s) => s !== "")
        .join(" ");
}

/**
 * `wait-serving`: returns once the registry answers 401 without credentials, 200 with the login
 * in configDir's health.curlrc, and 200 from `_catalog` (which reads the storage); fails with the
 * registry's last log lines otherwise. While DNS is pending, the debug server's answer suffices.
 */
export function renderWaitServingScript(check: ServingCheck, input: Pick<RegistryRunInput, "containerName" | "configDir">): string {
    const q = shellQuote;
    const curlTls = curlTlsArgs(check);
    const head = `#!/bin/sh
# Waits until the registry serves. Exit 1, with its last log lines, if it does not in time.
set -eu
name=${q(input.containerName)}
config_dir=${q(input.configDir)}
health_url=${q(check.url)}
health_timeout=${Number(check.timeoutSeconds)}
curlrc="$config_dir/health.curlrc"

fail() {
  echo "$1" >&2
  echo "--- last registry log lines ---" >&2
  docker logs --tail 40 "$name" >&2 2>&1 || true
  exit 1
}
running() { [ "$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)" = true ]; }
started=$(date +%s)
deadline=$(( started + health_timeout ))
`;
    if (check.awaitingDns !== undefined) {
        const pending = check.awaitingDns;
        return `${head}debug_url=${q(pending.debugUrl)}
until [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$debug_url" || true)" = 200 ]; do
  running || fail "the registry container is not running"
  [ "$(date +%s)" -lt "$deadline" ] || fail "the registry's debug server did not answer in \${health_timeout}s"
  sleep 2
done
echo "registry container is running; its login and storage at $health_url are checked once DNS is in place"
echo ${q(`waiting for DNS: create an A record ${pending.hostname} -> ${pending.address}, then run pulumi up again: that up has the front ask for its certificate`)}
`;
    }
    const acme = check.acmeFront === undefined ? "" : renderAcmeRefusalCheck(check.acmeFront);
    return `${head}${acme}echo "waiting up to \${health_timeout}s for $health_url to answer"
anonymous=000
authenticated=000
storage=000
while :; do
  anonymous=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} "$health_url" || true)
  if [ "$anonymous" = 401 ]; then
    authenticated=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} -K "$curlrc" "$health_url" || true)
    if [ "$authenticated" = 200 ]; then
      # /v2/ answers before the storage is ever touched; listing the catalog proves S3 works.
      storage=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 ${curlTls} -K "$curlrc" "\${health_url}_catalog?n=1" || true)
      if [ "$storage" = 200 ]; then
        break
      fi
    fi
  fi
  running || fail "the registry container is not running"
${check.acmeFront === undefined ? "" : `  if [ "$anonymous" = 000 ]; then
    refusal=$(acme_refusal)
    [ -z "$refusal" ] || fail_acme "the ACME server refused the certificate: $refusal"
  fi
`}  if [ "$(date +%s)" -ge "$deadline" ]; then
    fail "the registry did not become healthy in \${health_timeout}s (without credentials: HTTP $anonymous, want 401; with credentials: HTTP $authenticated, want 200; storage listing: HTTP $storage, want 200)"
  fi
  echo "still waiting: without credentials HTTP $anonymous, with credentials HTTP $authenticated, storage listing HTTP $storage"
  sleep 3
done
echo "registry is serving: HTTP 401 without credentials, 200 with them, and its storage answers"
`;
}
