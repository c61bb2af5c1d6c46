import { createHash } from "node:crypto";
import { renderBucketFlagProgram } from "./bucketFlag";
import { MAINTENANCE_RECOVERY_SERVICE, MAINTENANCE_SERVICE, MAINTENANCE_TIMER, onCalendar, renderMaintenanceScript, renderMaintenanceUnits } from "./maintenance";
import { renderFollowerScript } from "./maintenanceReplicas";
import { renderRunFrontScript } from "./frontRun";
import { REGISTRY_CONFIG_PATH, REGISTRY_HTPASSWD_PATH } from "./registryConfig";
import { RegistryRunInput, renderRunRegistryScript, renderWaitServingScript, ServingCheck } from "./registryRun";
import { shellQuote } from "./shell";

/**
 * The shell scripts the droplet runs, rendered as plain POSIX sh. Pure: values in, script text
 * out. Every interpolated value goes through {@link shellQuote}.
 *
 * Secrets never appear in a script: the rendered text becomes the remote command, which
 * @pulumi/command prints when a command fails. Secrets travel on the command's stdin instead,
 * as a small line-based bundle (see {@link renderStdinBundle}).
 */

/**
 * Names of the files the start script accepts on stdin (paths under configDir), and where each
 * goes in the registry's container. The front's files sit in configDir/front, which its
 * container mounts whole.
 */
export const BUNDLE_FILES = {
    "config.yml": REGISTRY_CONFIG_PATH,
    /** The same config with storage read-only, for the garbage-collection window. */
    "config-readonly.yml": REGISTRY_CONFIG_PATH,
    htpasswd: REGISTRY_HTPASSWD_PATH,
    "front/Caddyfile": undefined,
    /** The private CA's key pair, which the front serves. */
    "front/tls.crt": undefined,
    "front/tls.key": undefined,
    /** The ACME server's CA (acmeServerCa), which the front trusts for that directory. */
    "front/acme-ca.crt": undefined,
    /** Not mounted: the health check uses it to verify the front's certificate. */
    "ca.crt": undefined,
    /** The tag-retention tool's config and the registry password it reads; not mounted either. */
    "retention.yml": undefined,
    "retention-password": undefined,
    /** With replicas: the bucket's endpoint and the registry's key, for bucket-flag; not mounted. */
    "bucket.json": undefined,
} as const;

export type BundleFileName = keyof typeof BUNDLE_FILES;

export interface StdinBundle {
    files: Partial<Record<BundleFileName, string>>;
    /** The registry login the health check proves works. */
    healthCheckUser: { username: string; password: string };
}

const BUNDLE_END = "end";

/**
 * How long the start script waits after reloading the front before it stops the registry: the
 * old config's requests take milliseconds to reach the registry, so this is a wide margin.
 */
export const FRONT_RELOAD_SETTLE_SECONDS = 2;

/**
 * The registry container's environment. Tracing off, as the official image sets it. A soft Go
 * memory limit, so that the garbage collector works harder before a burst of concurrent uploads
 * outgrows a small droplet: 8 concurrent pushes peaked at 183 MB with it and ~230 MB without
 * (docs/BENCHMARKS.md).
 */
export const REGISTRY_CONTAINER_ENV: Readonly<Record<string, string>> = { OTEL_TRACES_EXPORTER: "none", GOMEMLIMIT: "150MiB" };

/**
 * Renders the start command's stdin: one `file NAME BASE64` line per file, a `login BASE64`
 * line, and an `end` line so a truncated stream is detected instead of half-applied.
 */
export function renderStdinBundle(bundle: StdinBundle): string {
    if (bundle.files["config.yml"] === undefined || bundle.files.htpasswd === undefined || bundle.files["front/Caddyfile"] === undefined) {
        throw new Error("the stdin bundle needs config.yml, htpasswd and front/Caddyfile");
    }
    const lines: string[] = [];
    for (const name of Object.keys(BUNDLE_FILES) as BundleFileName[]) {
        const content = bundle.files[name];
        if (content !== undefined) {
            lines.push(`file ${name} ${Buffer.from(content, "utf8").toString("base64")}`);
        }
    }
    const { username, password } = bundle.healthCheckUser;
    // A curl config line, so the password never becomes a process argument on the host.
    const curlValue = `${username}:${password}`.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    lines.push(`login ${Buffer.from(`user = "${curlValue}"\n`, "utf8").toString("base64")}`);
    lines.push(BUNDLE_END);
    return lines.join("\n") + "\n";
}

/** The health wait's input; see {@link ServingCheck}. */
export type HealthCheck = ServingCheck;

/** The run-registry inputs (the bundle decides the mounts), plus what the start script adds. */
export interface StartScriptInput extends Omit<RegistryRunInput, "mounts" | "env"> {
    /** Host directory for state kept across restarts (the front's certificates and ACME account). */
    dataDir: string;
    health: HealthCheck;
    /** The front's container; its config and key pair come in the bundle, under front/. */
    front: {
        containerName: string;
        image: string;
        /** Host directory for its access log. */
        logDir: string;
        /** Where configDir/front is mounted in its container. */
        configMount: string;
        /** Whether it serves a key pair from the bundle (the private CA's). */
        keyPairFromBundle: boolean;
        /** Whether it trusts an ACME server's CA from the bundle (front/acme-ca.crt). */
        acmeCaFromBundle?: boolean;
    };
    /**
     * Behind a load balancer: the seconds the balancer takes to stop sending here once the
     * front's `/` answers 503 ({@link DRAIN_MARKER_FILE}), and to send here again.
     */
    drain?: { leaveSeconds: number; rejoinSeconds: number };
    /** The maintenance job; its timer is installed where systemd runs. Absent: no job at all. */
    maintenance?: {
        /** systemd's unit directory (`/etc/systemd/system`). */
        unitDir: string;
        /** OnCalendar schedule in UTC; undefined installs the job but no timer. */
        schedule?: string;
        /** `docker` arguments that run the tag-retention rules; undefined keeps every tag. */
        retentionDockerArgs?: string[];
        /** The image those arguments run, pulled by the deploy so a failed pull fails it. */
        retentionImage?: string;
        /** With replicas: the first collects, the others follow its window (maintenanceReplicas.ts). */
        replica?: { number: number; count: number };
    };
}

/** Where the host programs live: beside the files they read, readable by root alone. */
export function hostLibDir(configDir: string): string {
    return `${configDir}/bin`;
}

/** The lock the start script and the maintenance job share. */
export function hostLockFile(configDir: string): string {
    return `${configDir}/maintenance.lock`;
}

/** Writes a file from a quoted here-document (nothing in it is expanded), then renames it into place. */
function installFile(target: string, content: string, mode: string): string {
    const marker = `PRIVATE_REGISTRY_FILE_${createHash("sha256").update(content).digest("hex").slice(0, 16)}`;
    if (content.split("\n").includes(marker)) {
        throw new Error(`a file to install contains its own end marker ${marker}`);
    }
    return `cat > "${target}.new" <<'${marker}'
${content.endsWith("\n") ? content : `${content}\n`}${marker}
chmod ${mode} "${target}.new"
mv -f "${target}.new" "${target}"`;
}

function header(purpose: string): string {
    return `#!/bin/sh
# ${purpose}
set -eu
`;
}

/** Waits until the fresh droplet has finished first boot and Docker answers. */
export function renderWaitForHostScript(timeoutSeconds: number): string {
    return `${header("Waits for first boot to finish and for the Docker engine to answer.")}
echo "host reachable over SSH; waiting for cloud-init to finish"
if command -v cloud-init >/dev/null 2>&1; then
  # Exit code 2 means "done, with recoverable errors"; Docker is what matters here.
  cloud-init status --wait >/dev/null 2>&1 || echo "cloud-init reported errors; continuing to the Docker check"
fi
deadline=$(( $(date +%s) + ${Number(timeoutSeconds)} ))
until docker info >/dev/null 2>&1; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "Docker did not answer within ${Number(timeoutSeconds)}s; last error:" >&2
    docker info >&2 || true
    exit 1
  fi
  echo "waiting for the Docker engine..."
  sleep 3
done
echo "Docker is ready: $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo unknown version)"
`;
}

/**
 * Reads the stdin bundle into configDir, installs the host programs (run-registry, wait-serving,
 * maintenance) and the maintenance timer, then replaces the registry container and waits until
 * it serves. Idempotent: running it twice leaves one container.
 */
export function renderStartScript(input: StartScriptInput): string {
    const q = shellQuote;
    const configFiles: BundleFileName[] = ["config.yml", "config-readonly.yml"];
    const requiredFiles: BundleFileName[] = [
        ...configFiles,
        "htpasswd",
        "front/Caddyfile",
        ...(input.front.keyPairFromBundle ? (["front/tls.crt", "front/tls.key"] as const) : []),
        ...(input.front.acmeCaFromBundle === true ? (["front/acme-ca.crt"] as const) : []),
        ...(input.health.useBundledCa ? (["ca.crt"] as const) : []),
        ...(input.maintenance?.retentionDockerArgs !== undefined ? (["retention.yml", "retention-password"] as const) : []),
        ...(input.maintenance?.replica !== undefined ? (["bucket.json"] as const) : []),
    ];
    const mounts: Record<string, string> = {};
    for (const file of requiredFiles.filter((f) => !configFiles.includes(f))) {
        const containerPath = BUNDLE_FILES[file];
        if (containerPath !== undefined) {
            mounts[file] = containerPath;
        }
    }
    const libDir = hostLibDir(input.configDir);
    const retentionImage = input.maintenance?.retentionImage;
    const programs = [
        installFile("$lib_dir/run-registry", renderRunRegistryScript({ ...input, mounts, env: REGISTRY_CONTAINER_ENV }), "700"),
        installFile(
            "$lib_dir/run-front",
            renderRunFrontScript({ ...input.front, configDir: `${input.configDir}/front`, dataDir: `${input.dataDir}/front` }),
            "700",
        ),
        installFile("$lib_dir/wait-serving", renderWaitServingScript(input.health, input), "700"),
    ];
    const maintenance = input.maintenance;
    if (maintenance !== undefined) {
        const replica = maintenance.replica;
        const script =
            replica !== undefined && replica.number > 1
                ? renderFollowerScript({
                      configDir: input.configDir,
                      libDir,
                      lockFile: hostLockFile(input.configDir),
                      replicaNumber: replica.number,
                  })
                : renderMaintenanceScript({
                      containerName: input.containerName,
                      image: input.image,
                      configDir: input.configDir,
                      libDir,
                      lockFile: hostLockFile(input.configDir),
                      check: input.health,
                      retentionDockerArgs: maintenance.retentionDockerArgs,
                      ...(replica !== undefined ? { replicas: { count: replica.count } } : {}),
                  });
        programs.push(installFile("$lib_dir/maintenance", script, "700"));
        if (replica !== undefined) {
            programs.push(installFile("$lib_dir/bucket-flag", renderBucketFlagProgram(), "700"));
        }
    }

    return `${header("Installs the registry's files from stdin and (re)starts its container, then proves it serves.")}
name=${q(input.containerName)}
image=${q(input.image)}
config_dir=${q(input.configDir)}
data_dir=${q(input.dataDir)}
lib_dir=${q(libDir)}

umask 077
mkdir -p "$config_dir" "$data_dir"
chmod 700 "$config_dir"
# The maintenance job holds this lock for its read-only window: a deploy waits for it to end.
exec 9>${q(hostLockFile(input.configDir))}
if ! flock -w 1800 9; then
  echo "a garbage collection has held the lock for 30 minutes; nothing was changed" >&2
  exit 1
fi
staging=$(mktemp -d "$config_dir/.incoming.XXXXXX")
cleanup() { rm -rf "$staging"; }
trap cleanup EXIT
mkdir "$staging/front"

# The bundle: "file NAME BASE64" lines, one "login BASE64" line, then "end".
complete=no
while IFS=' ' read -r kind field payload; do
  case "$kind" in
    file)
      case "$field" in
        ${Object.keys(BUNDLE_FILES).join("|")}) ;;
        *) echo "refusing unknown file in bundle: $field" >&2; exit 1 ;;
      esac
      printf '%s' "$payload" | base64 -d > "$staging/$field"
      ;;
    login) printf '%s' "$field" | base64 -d > "$staging/health.curlrc" ;;
    end) complete=yes; break ;;
    *) echo "unexpected line in bundle" >&2; exit 1 ;;
  esac
done
if [ "$complete" != yes ]; then
  echo "the file bundle on stdin was cut short; nothing was changed" >&2
  exit 1
fi
for required in ${requiredFiles.join(" ")}; do
  if [ ! -s "$staging/$required" ]; then
    echo "the bundle lacks $required; nothing was changed" >&2
    exit 1
  fi
done
if [ ! -s "$staging/health.curlrc" ]; then
  echo "the bundle lacks the health-check login; nothing was changed" >&2
  exit 1
fi
# Without a bcrypt htpasswd entry the registry would invent a user and print its password.
if ! grep -Eq '^[^:]+:[$]2[aby][$]' "$staging/htpasswd"; then
  echo "htpasswd has no bcrypt entry; refusing to start a registry without authentication" >&2
  exit 1
fi
mkdir -p "$config_dir/front"
for f in ${requiredFiles.join(" ")} health.curlrc; do
  mv -f "$staging/$f" "$config_dir/$f"
done

# The host programs the maintenance job shares: one docker run line, one health wait.
mkdir -p "$lib_dir"
${programs.join("\n")}

# A pinned tag that is already present needs no pull (and no registry round trip). The
# retention tool's image is pulled now too, so a pull that fails fails the deploy, not a night's job.
pull_once() {
  if ! docker image inspect "$1" >/dev/null 2>&1; then
    echo "pulling $1"
    docker pull "$1" >/dev/null
  fi
}
pull_once "$image"
pull_once ${q(input.front.image)}${retentionImage === undefined ? "" : `
pull_once ${q(retentionImage)}`}

${renderDrainStart(input.front.containerName, input.drain)}echo "updating the front and the registry container $name"
# The front takes its new config while the old registry still serves, and only then is the
# registry replaced. A reload ends the requests the front is holding while no registry listens
# (Caddy's retry wait ends with its old config), so the two must never overlap. The order does
# not matter to logins: the registry knows only the front's own (deployment.ts UPSTREAM_USERNAME).
# A config the front refuses fails here, before the registry is touched.
# The containers outlive this script: they must not keep the lock's descriptor (9>&-).
front_said=$("$lib_dir/run-front" 9>&-)
echo "$front_said"
# After a reload, the requests the old config still has must reach the registry before it stops:
# Caddy cancels the old config as soon as its servers begin to shut down (caddy.go
# unsyncedStop), and a cancelled request that finds no registry is answered 502 at once.
case "$front_said" in
  *reloaded) sleep ${FRONT_RELOAD_SETTLE_SECONDS} ;;
esac
"$lib_dir/run-registry" readwrite --if-changed 9>&-
"$lib_dir/wait-serving"
${renderDrainEnd(input.drain)}${
        maintenance === undefined ? "" : renderUnitsInstall(libDir, maintenance.unitDir, maintenance.schedule, input.drain === undefined ? undefined : { configDir: input.configDir, drain: input.drain })
    }`;
}

function wholeSeconds(value: number, what: string): number {
    if (!Number.isInteger(value) || value < 0) {
        throw new Error(`drain.${what} must be a whole number of seconds >= 0; got ${value}`);
    }
    return value;
}

/**
 * Behind a load balancer, the replica leaves it before anything restarts: the marker makes the
 * running front answer its health check 503, and the script waits out the balancer's detection
 * time, so no new connection arrives while the front reloads or the registry restarts. A front
 * that is not running yet (a new droplet) serves nobody, and nothing waits. The marker goes on
 * any exit, so a deploy that fails before restarting anything leaves the replica in the pool.
 */
function renderDrainStart(frontContainer: string, drain: StartScriptInput["drain"]): string {
    if (drain === undefined) {
        return "";
    }
    const q = shellQuote;
    return `drain_marker="$config_dir/front/${DRAIN_MARKER_FILE}"
if [ "$(docker inspect -f '{{.State.Running}}' ${q(frontContainer)} 2>/dev/null || true)" = true ]; then
  touch "$drain_marker"
  trap 'cleanup; rm -f "$drain_marker"' EXIT
  echo "leaving the load balancer: its health check gets 503; waiting ${wholeSeconds(drain.leaveSeconds, "leaveSeconds")}s for it to stop sending here"
  sleep ${drain.leaveSeconds}
fi
`;
}

/**
 * Once this replica serves again, it asks the balancer back and waits until the balancer's
 * checks have passed, so the next replica (whose deploy waits for this one) never leaves while
 * this one is still out.
 */
function renderDrainEnd(drain: StartScriptInput["drain"]): string {
    if (drain === undefined) {
        return "";
    }
    return `if [ -e "$drain_marker" ]; then
  rm -f "$drain_marker"
  echo "rejoining the load balancer: waiting ${wholeSeconds(drain.rejoinSeconds, "rejoinSeconds")}s for its health checks to pass"
  sleep ${drain.rejoinSeconds}
fi
`;
}

/** While this file exists in configDir/front (the front's config mount), the front's `/` answers 503. */
export const DRAIN_MARKER_FILE = "draining";

/** Leaves the balancer before a shutdown stops the containers; see {@link renderShutdownDrainUnit}. */
export const SHUTDOWN_DRAIN_SERVICE = "private-registry-drain.service";

/**
 * A reboot (the nightly updates' own, or an operator's) would stop the front under the
 * balancer's open connections, and the balancer would go on sending new ones for its detection
 * time. Ordered after docker.service, this unit is stopped before the engine at shutdown: it sets
 * the drain marker and waits the balancer's leave time while the front still answers. At boot it
 * removes the marker that shutdown left, which the front would otherwise answer 503 for forever.
 */
export function renderShutdownDrainUnit(configDir: string, drain: { leaveSeconds: number }): string {
    const marker = `${configDir}/front/${DRAIN_MARKER_FILE}`;
    const leave = wholeSeconds(drain.leaveSeconds, "leaveSeconds");
    return `[Unit]
Description=Private registry: leave the load balancer before the droplet shuts down
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/rm -f ${marker}
ExecStop=/bin/sh -c 'touch ${marker} && sleep ${leave}'
TimeoutStopSec=${leave + 30}

[Install]
WantedBy=multi-user.target
`;
}

/**
 * Installs the maintenance units and turns the timer on or off, and behind a balancer the
 * shutdown drain, where systemd runs; a container or test host may not.
 */
function renderUnitsInstall(libDir: string, unitDir: string, schedule: string | undefined, shutdownDrain?: { configDir: string; drain: { leaveSeconds: number } }): string {
    const units = renderMaintenanceUnits(libDir, schedule);
    const timer =
        units.timer === undefined
            ? `rm -f "$unit_dir/${MAINTENANCE_TIMER}"
systemctl daemon-reload
systemctl disable --now ${MAINTENANCE_TIMER} >/dev/null 2>&1 || true
echo "garbage collection is off (gcSchedule is empty); start one with: systemctl start ${MAINTENANCE_SERVICE}"`
            : `${installFile(`$unit_dir/${MAINTENANCE_TIMER}`, units.timer, "644")}
systemctl daemon-reload
systemctl enable --now ${MAINTENANCE_TIMER} >/dev/null
echo ${shellQuote(`garbage collection scheduled: ${onCalendar(schedule ?? "")}`)}`;
    // Not indented: a here-document's end marker must start its line.
    // The recovery unit runs at boot: a window cut short by a reboot or a power cut leaves its
    // marker, and the registry goes read-write again. Enabled, not started: with a stale marker
    // it would wait for the lock this script holds.
    return `if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
unit_dir=${shellQuote(unitDir)}
${installFile(`$unit_dir/${MAINTENANCE_SERVICE}`, units.service, "644")}
${installFile(`$unit_dir/${MAINTENANCE_RECOVERY_SERVICE}`, units.recovery, "644")}${
        shutdownDrain === undefined ? "" : `\n${installFile(`$unit_dir/${SHUTDOWN_DRAIN_SERVICE}`, renderShutdownDrainUnit(shutdownDrain.configDir, shutdownDrain.drain), "644")}`
    }
${timer}
systemctl enable ${MAINTENANCE_RECOVERY_SERVICE} >/dev/null${
        shutdownDrain === undefined
            ? ""
            : `
systemctl enable --now ${SHUTDOWN_DRAIN_SERVICE} >/dev/null
echo "a shutdown leaves the load balancer first (${SHUTDOWN_DRAIN_SERVICE})"`
    }
else
  echo "systemd is not running here: the maintenance timer is not installed"
fi
`;
}

/**
 * Removes the containers, their secrets and the maintenance units. Tolerant: succeeds when there
 * is nothing to remove. The units go too: their job lives in configDir, so a timer left behind
 * would fail every week on a host that no longer runs the registry.
 */
export function renderStopScript(input: { containerName: string; frontContainerName: string; configDir: string; unitDir: string; extraUnits?: string[] }): string {
    // The timer first, so that it starts no job while a running one is stopped.
    const units = [MAINTENANCE_TIMER, MAINTENANCE_SERVICE, MAINTENANCE_RECOVERY_SERVICE, ...(input.extraUnits ?? [])];
    return `${header("Removes the registry and front containers, their secret files and the maintenance units; succeeds if they are already gone.")}
name=${shellQuote(input.containerName)}
front=${shellQuote(input.frontContainerName)}
config_dir=${shellQuote(input.configDir)}
unit_dir=${shellQuote(input.unitDir)}
units_removed=0
for unit in ${units.map(shellQuote).join(" ")}; do
  if [ -e "$unit_dir/$unit" ]; then
    if command -v systemctl >/dev/null 2>&1; then
      systemctl disable --now "$unit" >/dev/null 2>&1 || true
    fi
    rm -f "$unit_dir/$unit"
    units_removed=1
  fi
done
if [ "$units_removed" = 1 ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  echo "maintenance units removed"
fi
if command -v docker >/dev/null 2>&1; then
  docker rm -f -v "$front" >/dev/null 2>&1 || true
  docker rm -f -v "$name" >/dev/null 2>&1 || true
fi
rm -rf "$config_dir"
echo "containers $front and $name and their files removed"
`;
}
