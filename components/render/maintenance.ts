import { CONFIG_FILE_FOR_MODE, curlTlsArgs, ServingCheck } from "./registryRun";
import { REGISTRY_CONFIG_PATH } from "./registryConfig";
import { shellQuote } from "./shell";

/**
 * The droplet's maintenance job and its systemd timer. Pure: values in, text out.
 *
 * One run: the tag-retention rules (when set) delete the tags that fall outside them; the
 * registry is restarted read-only, so no push can race the collection (distribution#3899: GC
 * during pushes corrupted images) while pulls go on; `registry garbage-collect
 * --delete-untagged` removes what no tag references; the registry is restarted read-write. Both
 * restarts also empty the in-memory blob-descriptor cache, which otherwise still answers for
 * deleted blobs ("layer already exists", then a failed pull; fixed upstream after 3.1.1 by
 * distribution#4868). A lock shared with the deploy's start script keeps the two apart. What it
 * deleted and how many bytes that freed goes to the journal (`journalctl -u UNIT`).
 */

/** Every manifest kind the registry stores: OCI and Docker images and indexes. */
const MANIFEST_MEDIA_TYPES = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

/** The systemd units, named so an operator finds them. */
export const MAINTENANCE_SERVICE = "private-registry-maintenance.service";
export const MAINTENANCE_TIMER = "private-registry-maintenance.timer";

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
}

/** `maintenance`: retention, then a read-only window with garbage collection, then read-write. */
export function renderMaintenanceScript(input: MaintenanceInput): string {
    const q = shellQuote;
    const curlTls = curlTlsArgs(input.check);
    const gc = (dryRun: boolean) =>
        `docker run --rm --cap-drop ALL --security-opt no-new-privileges -e OTEL_TRACES_EXPORTER=none -v "$config_dir/${CONFIG_FILE_FOR_MODE.readonly}:${REGISTRY_CONFIG_PATH}:ro" "$image" garbage-collect --delete-untagged${dryRun ? " --dry-run" : ""} ${REGISTRY_CONFIG_PATH}`;
    const retention =
        input.retentionDockerArgs === undefined
            ? `log "retention: no tag rules set; every tag is kept"`
            : `log "retention: applying the tag rules"
docker ${input.retentionDockerArgs.map(q).join(" ")}`;
    return `#!/bin/sh
# Tag retention and garbage collection for the private registry (see ${MAINTENANCE_SERVICE}).
set -eu
image=${q(input.image)}
config_dir=${q(input.configDir)}
lib_dir=${q(input.libDir)}
lock_file=${q(input.lockFile)}
api=${q(input.check.url)}
# Without these the registry answers a manifest HEAD as if it did not exist.
manifest_types=${q(MANIFEST_MEDIA_TYPES.join(", "))}
log() { echo "maintenance: $*"; }

# The deploy's start script takes the same lock: never a restart in the middle of a collection.
# Whatever outlives a step (an engine's helper processes) gets the lock's descriptor closed (9>&-).
exec 9>"$lock_file"
if ! flock -w 1800 9; then
  log "a deploy or another collection has held $lock_file for 30 minutes; not collecting"
  exit 1
fi
started=$(date +%s)
work=$(mktemp -d)
read_only=no
finish() {
  status=$?
  if [ "$read_only" = yes ]; then
    log "restoring the registry read-write after a failure"
    if ! { "$lib_dir/run-registry" readwrite 9>&- && "$lib_dir/wait-serving" >/dev/null; }; then
      log "the registry could not be restarted read-write"
    fi
  fi
  rm -rf "$work"
  exit "$status"
}
trap finish EXIT

${retention}

log "restarting the registry read-only: pulls go on, pushes are refused until the end"
read_only=yes
"$lib_dir/run-registry" readonly 9>&-
"$lib_dir/wait-serving" >/dev/null

${gc(true)} > "$work/plan"
blobs=0
bytes=0
unsized=0
sed -n 's/^blob eligible for deletion: //p' "$work/plan" > "$work/blobs"
while read -r digest; do
  blobs=$((blobs + 1))
  # A blob's size, asked of the registry through a repository that still links it (a layer or
  # config), or that holds it as a manifest; the read-only config streams instead of
  # redirecting, so the answer carries Content-Length.
  repo=$(sed -n "s|^\\(.*\\): layer link eligible for deletion: $digest\\$|\\1|p" "$work/plan" | head -n 1)
  path="blobs"
  if [ -z "$repo" ]; then
    repo=$(sed -n "s|^manifest eligible for deletion: {\\([^ ]*\\) $digest .*|\\1|p" "$work/plan" | head -n 1)
    path="manifests"
  fi
  size=""
  if [ -n "$repo" ]; then
    size=$(curl -s -I --max-time 20 ${curlTls} -K "$config_dir/health.curlrc" -H "Accept: $manifest_types" "\${api}$repo/$path/$digest" | tr -d '\\r' | sed -n 's/^[Cc]ontent-[Ll]ength: *\\([0-9][0-9]*\\)$/\\1/p' | head -n 1)
  fi
  if [ -n "$size" ]; then
    bytes=$((bytes + size))
    log "deleting blob $digest ($size bytes, last in $repo)"
  else
    unsized=$((unsized + 1))
    log "deleting blob $digest (size not known: no repository links it)"
  fi
done < "$work/blobs"
manifests=$(grep -c '^manifest eligible for deletion: ' "$work/plan" || true)
sed -n 's/^manifest eligible for deletion: /maintenance: deleting manifest /p' "$work/plan"

${gc(false)} > "$work/collected" 2>&1 || { cat "$work/collected" >&2; log "garbage-collect failed"; exit 1; }

log "restarting the registry read-write"
"$lib_dir/run-registry" readwrite 9>&-
"$lib_dir/wait-serving" >/dev/null
read_only=no
log "done in $(( $(date +%s) - started ))s: deleted $manifests manifests and $blobs blobs, freeing $bytes bytes (plus $unsized blobs of unknown size)"
`;
}

export interface MaintenanceUnits {
    service: string;
    /** Absent when collection is turned off (`gcSchedule` empty). */
    timer?: string;
}

/** The oneshot service the timer (or an operator) starts, and the timer for the schedule. */
export function renderMaintenanceUnits(libDir: string, schedule: string | undefined): MaintenanceUnits {
    const service = `[Unit]
Description=Private registry: tag retention and garbage collection
Requires=docker.service
After=docker.service

[Service]
Type=oneshot
ExecStart=${libDir}/maintenance
`;
    if (schedule === undefined) {
        return { service };
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
    return { service, timer };
}
