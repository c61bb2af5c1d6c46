import { CONFIG_FILE_FOR_MODE, curlTlsArgs, REGISTRY_STOP_SECONDS, ServingCheck } from "./registryRun";
import { REGISTRY_CONFIG_PATH } from "./registryConfig";
import { renderAnnounce, renderAwaitFollowersBack, renderAwaitJoins, renderBoundedCollection, renderFlagFunction, renderRelease, WINDOW_FLAG } from "./maintenanceReplicas";
import { shellQuote } from "./shell";
import { MAINTENANCE_RECOVERY_SERVICE, MAINTENANCE_WINDOW_MARKER, renderModeArgument, renderReadWriteRestart, renderWindowTraps } from "./windowShell";

/**
 * The droplet's maintenance job and its systemd timer. Pure: values in, text out.
 *
 * One run: the tag-retention rules (when set) delete the tags that fall outside them; a dry run
 * of `registry garbage-collect --delete-untagged` names what a collection would take while the
 * registry still takes pushes; the registry is restarted read-only, so no push can race the
 * collection (distribution#3899: GC during pushes corrupted images) while pulls go on; the
 * dry run's candidates are sized through it; the collection removes what no tag references; the
 * registry is restarted read-write. Both
 * restarts also empty the in-memory blob-descriptor cache, which otherwise still answers for
 * deleted blobs ("layer already exists", then a failed pull; fixed upstream after 3.1.1 by
 * distribution#4868). A lock shared with the deploy's start script keeps the two apart. What it
 * deleted and how many bytes that freed goes to the journal (`journalctl -u UNIT`).
 *
 * Only the collection inside the window decides and deletes: it marks afresh from the tags as
 * they are once no push can land. The dry run before the window deletes nothing
 * (registry/storage/garbagecollect.go:148-197 skips every removal under DryRun); a push during
 * it only makes its list stale, and the list serves for sizes alone, which a digest fixes. What
 * the job reports deleted is what the collection itself printed (it prints the same lines as the
 * dry run, before each removal: garbagecollect.go:168-197, 208); a blob the dry run did not name
 * (untagged by a push between the two) is reported with its size unknown.
 *
 * The window is one mark-and-sweep, whose time is mostly tag lookups: for every manifest,
 * every tag's link is read (garbagecollect.go:72, registry/storage/tagstore.go:148-188), at most
 * DefaultConcurrencyLimit = GOMAXPROCS at a time (registry/storage/registry.go:15, 239-242;
 * the command builds its registry without options, registry/root.go:73, so no configuration
 * raises it). Those reads are storage round trips, not CPU, so the collection runs with
 * {@link GC_GOMAXPROCS} whatever the droplet's vCPUs.
 *
 * The window must not outlive the job. A failure restores read-write on exit; a stop (SIGTERM,
 * SIGINT, SIGHUP: an operator, a shutdown, the 04:30 update reboot) restores it in the signal's
 * trap, because dash runs no EXIT trap when a signal ends it. A crash or power loss runs no trap
 * at all, and the read-only container, like every registry container, comes back with the
 * engine (`--restart=always`); a marker file says the window was open, and a unit run at boot
 * ({@link MAINTENANCE_RECOVERY_SERVICE}, `maintenance recover`) restarts the registry read-write.
 */

/** Every manifest kind the registry stores: OCI and Docker images and indexes. */
const MANIFEST_MEDIA_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/**
 * GOMAXPROCS for the collection's container: how many tag links it reads at once. On the
 * default droplet (1 vCPU) Go would pick 1, and each read would wait out a full round trip to
 * the bucket in turn. bench/gc/window.ts (one CPU, S3 10 ms away; bench/results/gc-window.json):
 * 32 was within a tenth of the shortest window at 100 x 10, 1,000 x 20 and 400 x 100 manifests
 * x tags (8 reads 100 tags in 13 rounds, not 4; 64 saved 5% at 400 x 100 for 10 MiB more).
 * Beyond the tag reads the collection is serial, so no value shortens it further.
 */
export const GC_GOMAXPROCS = 32;

/**
 * The collection container's memory limit, with no swap besides. It runs beside the registry
 * (REGISTRY_MEMORY_LIMIT_BYTES, 384 MiB, registryRun.ts) and the front on a 1 GiB droplet, the
 * dry run while the registry takes pushes too; unbounded, a collection that grew would take
 * their memory instead of failing alone. Its mark set holds a digest per blob and manifest:
 * bench/gc/window.ts measured a peak RSS of 88 MiB at 1,000 x 20 and 81 MiB at 400 x 100
 * (GOMAXPROCS=32), so this leaves room for a bucket a few times that.
 */
export const GC_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024;
/** Go's soft limit for the collection, below GC_MEMORY_LIMIT_BYTES so Go frees memory before the kernel kills. */
export const GC_GOMEMLIMIT = "200MiB";

/** The systemd units, named so an operator finds them. */
export const MAINTENANCE_SERVICE = "private-registry-maintenance.service";
export const MAINTENANCE_TIMER = "private-registry-maintenance.timer";
export { MAINTENANCE_RECOVERY_SERVICE, MAINTENANCE_WINDOW_MARKER } from "./windowShell";

/**
 * How long systemd lets the job restore the registry after SIGTERM before it kills it: the old
 * container's drain (REGISTRY_STOP_SECONDS) and the new container's start, with room to spare.
 */
export const MAINTENANCE_STOP_SECONDS = REGISTRY_STOP_SECONDS + 80;

/** Weekly, at night, in UTC: a quiet hour for most teams, and the sessions it would cut are few. */
export const DEFAULT_GC_SCHEDULE = "Sun *-*-* 03:00:00";

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const SCHEDULE = new RegExp(
    `^(?:daily|weekly|monthly|(?:${DAY}(?:(?:,|\\.\\.)${DAY})* )?(?:\\*|[0-9]{4})-(?:\\*|[0-9]{1,2})-(?:\\*|[0-9]{1,2}) (?:[01]?[0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?)$`,
);

/**
 * Undefined for a schedule this project accepts: a systemd calendar event (systemd.time(7)) of
 * the common shapes, `[DAYS] DATE HH:MM[:SS]` or daily/weekly/monthly, always read in UTC. Else
 * what is allowed.
 */
export function gcScheduleProblem(schedule: string): string | undefined {
    return SCHEDULE.test(schedule)
        ? undefined
        : 'a systemd calendar time in UTC such as "Sun *-*-* 03:00:00" (weekly), "*-*-* 02:30" (daily) or "Mon,Thu *-*-* 04:00", or "" to turn collection off';
}

/** The timer's OnCalendar value: the schedule, in UTC whatever the droplet's time zone. */
export function onCalendar(schedule: string): string {
    return `${schedule} UTC`;
}

export interface MaintenanceInput {
    /** The registry container's name (run-registry and wait-serving know it; kept for the record). */
    containerName: string;
    image: string;
    configDir: string;
    /** Where run-registry and wait-serving live. */
    libDir: string;
    lockFile: string;
    /** How the registry's API is reached (the start script's health check). */
    check: Pick<ServingCheck, "url" | "connectTo" | "useBundledCa">;
    /** `docker` arguments that run the retention rules (retention.ts); absent without rules. */
    retentionDockerArgs?: string[];
    /**
     * With replicas, this job is the first replica's, the one that collects: it holds every other
     * replica read-only through its window (maintenanceReplicas.ts). Absent on one droplet.
     */
    replicas?: { count: number };
}

/** The collection's container, named so a collection stopped at its bound can be removed. */
export const GC_CONTAINER_NAME = "private-registry-gc";

/** `maintenance`: retention, then a read-only window with garbage collection, then read-write. */
export function renderMaintenanceScript(input: MaintenanceInput): string {
    const q = shellQuote;
    const curlTls = curlTlsArgs(input.check);
    // --cpus 1: on a droplet of more vCPUs the collection leaves the others to the registry and
    // the front; GOMAXPROCS, set, outweighs the cgroup's CPU quota Go would otherwise follow.
    // With replicas the collection is named, so one stopped at the window's bound can be removed.
    const gc = (dryRun: boolean, named = false) =>
        `docker run ${named ? '--name "$gc_container" ' : ""}--rm --cap-drop ALL --security-opt no-new-privileges --memory ${GC_MEMORY_LIMIT_BYTES} --memory-swap ${GC_MEMORY_LIMIT_BYTES} --cpus 1 -e GOMAXPROCS=${GC_GOMAXPROCS} -e GOMEMLIMIT=${GC_GOMEMLIMIT} -e OTEL_TRACES_EXPORTER=none -v "$config_dir/${CONFIG_FILE_FOR_MODE.readonly}:${REGISTRY_CONFIG_PATH}:ro" "$image" garbage-collect --delete-untagged${dryRun ? " --dry-run" : ""} ${REGISTRY_CONFIG_PATH}`;
    const replicas = input.replicas;
    if (replicas !== undefined && (!Number.isInteger(replicas.count) || replicas.count < 2)) {
        throw new Error(`the collecting replica's job needs 2 or more replicas; got ${replicas.count}`);
    }
    const collection =
        replicas === undefined
            ? `${gc(false)} > "$work/collected" 2> "$work/collected.err" || { cat "$work/collected" "$work/collected.err" >&2; log "garbage-collect failed"; exit 1; }`
            : renderBoundedCollection(gc(false, true));
    const retention =
        input.retentionDockerArgs === undefined
            ? `log "retention: no tag rules set; every tag is kept"`
            : `log "retention: applying the tag rules"
docker ${input.retentionDockerArgs.map(q).join(" ")}`;
    return `#!/bin/sh
# Tag retention and garbage collection for the private registry (see ${MAINTENANCE_SERVICE}).
# Usage: maintenance [collect|recover]. "recover" (at boot, ${MAINTENANCE_RECOVERY_SERVICE}) puts the
# registry back read-write if a collection's read-only window was cut short.
set -eu
image=${q(input.image)}
config_dir=${q(input.configDir)}
lib_dir=${q(input.libDir)}
lock_file=${q(input.lockFile)}
api=${q(input.check.url)}
# Present from just before the read-only restart until the registry is read-write again.
window_marker="$config_dir/${MAINTENANCE_WINDOW_MARKER}"
# Without these the registry answers a manifest HEAD as if it did not exist.
manifest_types=${q(MANIFEST_MEDIA_TYPES.join(", "))}
log() { echo "maintenance: $*"; }
${replicas === undefined ? "" : `${renderFlagFunction()}
gc_container=${GC_CONTAINER_NAME}
announced=no
`}${renderModeArgument()}

# The deploy's start script takes the same lock: never a restart in the middle of a collection.
# Whatever outlives a step (an engine's helper processes) gets the lock's descriptor closed (9>&-).
exec 9>"$lock_file"
if ! flock -w 1800 9; then
  if [ "$mode" = recover ]; then
    log "a deploy or another collection has held $lock_file for 30 minutes; the registry was left as it is"
  else
    log "a deploy or another collection has held $lock_file for 30 minutes; not collecting"
  fi
  exit 1
fi

if [ "$mode" = recover ]; then
  # A collection that got the lock first has already put the registry back.
  if [ -e "$window_marker" ]; then
    log "the read-only window begun at $(cat "$window_marker" 2>/dev/null || true) was cut short (a stop, a crash or a reboot): restarting the registry read-write"
    "$lib_dir/run-registry" readwrite 9>&-
    rm -f "$window_marker"
    "$lib_dir/wait-serving" >/dev/null 9>&-
    log "the registry is read-write again"
  fi${replicas === undefined ? "" : `
  # A window announced by a run that died without its traps: the other replicas leave it now.
  flag delete ${WINDOW_FLAG} || log "could not delete the window flag; the other replicas stay read-only until their bound"`}
  exit 0
fi

started=$(date +%s)
work=""
read_only=no
# Puts the registry back read-write if this run left it read-only; "wait" also waits until it
# serves. The marker stays when that fails, so the next boot tries again.
restore() {
${replicas === undefined ? "" : `${renderRelease("  ")}
`}  if [ "$read_only" = yes ]; then
    log "restoring the registry read-write"
${renderReadWriteRestart()}
  fi
  if [ -n "$work" ]; then
    rm -rf "$work"
  fi
}
${renderWindowTraps("before the collection finished")}
work=$(mktemp -d)

${retention}

# The plan, made while pushes still land: a dry run deletes nothing, so it needs no window. It
# names the candidates the window sizes; the collection in the window decides for itself.
log "planning the collection (a dry run; pushes are still taken)"
${gc(true)} > "$work/plan"

log "restarting the registry read-only: pulls go on, pushes are refused until the end"
read_only=yes
window_started=$(date +%s)
date -u +%Y-%m-%dT%H:%M:%SZ > "$window_marker"
${replicas === undefined ? "" : `${renderAnnounce()}
`}"$lib_dir/run-registry" readonly 9>&-
"$lib_dir/wait-serving" >/dev/null 9>&-
${replicas === undefined ? "" : `${renderAwaitJoins(replicas.count)}
`}
# Each candidate's size, asked of the registry before the collection takes it: through a
# repository that still links it (a layer or config), or that holds it as a manifest. The
# read-only config streams instead of redirecting, so the answer carries Content-Length.
# "$work/sizes" gets "DIGEST SIZE REPO" for each one sized.
: > "$work/sizes"
sed -n 's/^blob eligible for deletion: //p' "$work/plan" > "$work/candidates"
while read -r digest; do
  repo=$(sed -n "s|^\\(.*\\): layer link eligible for deletion: $digest\\$|\\1|p" "$work/plan" | head -n 1)
  path="blobs"
  if [ -z "$repo" ]; then
    repo=$(sed -n "s|^manifest eligible for deletion: {\\([^ ]*\\) $digest .*|\\1|p" "$work/plan" | head -n 1)
    path="manifests"
  fi
  if [ -n "$repo" ]; then
    size=$(curl -s -I --max-time 20 ${curlTls} -K "$config_dir/health.curlrc" -H "Accept: $manifest_types" "\${api}$repo/$path/$digest" | tr -d '\\r' | sed -n 's/^[Cc]ontent-[Ll]ength: *\\([0-9][0-9]*\\)$/\\1/p' | head -n 1)
    if [ -n "$size" ]; then
      echo "$digest $size $repo" >> "$work/sizes"
    fi
  fi
done < "$work/candidates"

${collection}

${replicas === undefined ? "" : `${renderRelease()}
`}log "restarting the registry read-write"
"$lib_dir/run-registry" readwrite 9>&-
read_only=no
rm -f "$window_marker"
"$lib_dir/wait-serving" >/dev/null 9>&-
log "read-write again: pushes were refused for $(( $(date +%s) - window_started ))s"
${replicas === undefined ? "" : `${renderAwaitFollowersBack(replicas.count)}
`}
# What the collection printed it took (the same lines as a dry run), with the sizes found above.
blobs=0
bytes=0
unsized=0
sed -n 's/^blob eligible for deletion: //p' "$work/collected" > "$work/blobs"
while read -r digest; do
  blobs=$((blobs + 1))
  sized=$(sed -n "s|^$digest \\([0-9][0-9]* .*\\)\\$|\\1|p" "$work/sizes" | head -n 1)
  if [ -n "$sized" ]; then
    size=\${sized%% *}
    bytes=$((bytes + size))
    log "deleting blob $digest ($size bytes, last in \${sized#* })"
  elif grep -q "^$digest\\$" "$work/candidates"; then
    unsized=$((unsized + 1))
    log "deleting blob $digest (size not known: no repository links it)"
  else
    unsized=$((unsized + 1))
    log "deleting blob $digest (size not known: the dry run before the window did not name it)"
  fi
done < "$work/blobs"
manifests=$(grep -c '^manifest eligible for deletion: ' "$work/collected" || true)
sed -n 's/^manifest eligible for deletion: /maintenance: deleting manifest /p' "$work/collected"
log "done in $(( $(date +%s) - started ))s: deleted $manifests manifests and $blobs blobs, freeing $bytes bytes (plus $unsized blobs of unknown size)"
`;
}

export interface MaintenanceUnits {
    service: string;
    /** Absent when collection is turned off (`gcSchedule` empty). */
    timer?: string;
    /**
     * {@link MAINTENANCE_RECOVERY_SERVICE}: enabled (not started) wherever the job is installed,
     * schedule or not, since a collection started by hand can be cut short too.
     */
    recovery: string;
}

/**
 * The oneshot service the timer (or an operator) starts, the timer for the schedule, and the
 * boot-time unit that ends a read-only window a reboot cut short.
 */
export function renderMaintenanceUnits(libDir: string, schedule: string | undefined): MaintenanceUnits {
    // After=docker.service also orders the stop: at shutdown systemd stops the job (SIGTERM, on
    // which it restores read-write) before it stops the engine.
    const service = `[Unit]
Description=Private registry: tag retention and garbage collection
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${libDir}/maintenance
TimeoutStopSec=${MAINTENANCE_STOP_SECONDS}
`;
    // After docker.service: the engine has brought the containers back (--restart=always) by then.
    const recovery = `[Unit]
Description=Private registry: read-write again after a collection window cut short
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${libDir}/maintenance recover

[Install]
WantedBy=multi-user.target
`;
    if (schedule === undefined) {
        return { service, recovery };
    }
    if (gcScheduleProblem(schedule) !== undefined) {
        throw new Error(`gcSchedule ${JSON.stringify(schedule)} is not a calendar time this project accepts`);
    }
    const timer = `[Unit]
Description=Private registry: scheduled tag retention and garbage collection

[Timer]
OnCalendar=${onCalendar(schedule)}
# A droplet that was off at the scheduled time collects when it comes back.
Persistent=true

[Install]
WantedBy=timers.target
`;
    return { service, timer, recovery };
}
