import { shellQuote } from "./shell";
import { MAINTENANCE_WINDOW_MARKER, renderModeArgument, renderReadWriteRestart, renderWindowTraps } from "./windowShell";

/**
 * The weekly collection with replicas. Pure: values in, shell text out.
 *
 * A collection is only safe while no push can land anywhere on the bucket (distribution#3899),
 * so every replica must be read-only through it, and the replicas share nothing but the bucket.
 * The first replica collects; each of the others follows. All run the same timer:
 * 1. The collector takes its lock, applies retention and plans (as on one droplet), then puts
 *    the `window` flag (bucket-flag.ts) and restarts its registry read-only.
 * 2. Each follower has been polling for that flag since its timer fired. On seeing it, it takes
 *    its own lock (so a deploy there has ended and the next one waits), restarts read-only and
 *    puts `replica-N` holding the window's id.
 * 3. The collector collects only once every follower's flag holds this window's id. A follower
 *    that does not join in {@link JOIN_SECONDS} (a droplet down, a deploy that holds on) ends the
 *    window with nothing collected: the next week tries again.
 * 4. The collector deletes `window` and restarts read-write; each follower sees it gone, restarts
 *    read-write and deletes its own flag.
 *
 * One collection at a time: only the first replica ever collects, and its own lock keeps its
 * runs apart. No collection during a deploy: a deploy holds the lock of the replica it changes,
 * and that replica cannot join while it does. The window cannot outlive the followers' patience:
 * the collection is stopped at {@link COLLECTOR_WINDOW_SECONDS}, and a follower waits that long
 * plus {@link FOLLOWER_GRACE_SECONDS} from its own join, which is later than the window's start.
 * A collector that dies without its traps (a power cut) leaves `window` behind; its boot-time
 * recovery deletes it, and a follower ignores a window older than the bound.
 */

/** The collector's announcement; its body is the window's id, `EPOCH-PID`. */
export const WINDOW_FLAG = "window";

/** The flag a follower puts once it is read-only: `replica-2` for the second replica. */
export function joinedFlag(replicaNumber: number): string {
    if (!Number.isInteger(replicaNumber) || replicaNumber < 2) {
        throw new Error(`only followers (replica 2 and up) join a window; got replica ${replicaNumber}`);
    }
    return `replica-${replicaNumber}`;
}

/** How often a job looks at the flags: a follower rejoins the pool at most this long after the window ends. */
export const FLAG_POLL_SECONDS = 5;

/**
 * How long a follower waits for the window after its timer fires: the collector's wait for its
 * own lock (a deploy, up to 30 minutes in the start script's terms) and its retention and
 * planning, which grow with the bucket.
 */
export const ANNOUNCE_WAIT_SECONDS = 3600;

/** How long a follower waits for its own lock once the window is announced: a deploy there ending. */
export const FOLLOWER_LOCK_SECONDS = 240;

/**
 * How long the collector waits for every follower to be read-only: a follower's poll, its lock
 * wait and its restart, with room. Past it, the window ends with nothing collected.
 */
export const JOIN_SECONDS = FOLLOWER_LOCK_SECONDS + 60;

/**
 * The longest window, from the collector's read-only restart; its collection is stopped there.
 * The rehearsal's largest fixture (1,000 manifests x 20 tags, S3 10 ms away) took minutes
 * (docs/BENCHMARKS.md), so an hour means something is wrong.
 */
export const COLLECTOR_WINDOW_SECONDS = 3600;

/** What a follower adds to the collector's bound before it gives up on the window. */
export const FOLLOWER_GRACE_SECONDS = 300;

/** The shell function every replica's job calls the bucket through; its descriptor 9 is the lock's. */
export function renderFlagFunction(): string {
    return `flag() { "$lib_dir/bucket-flag" "$config_dir/bucket.json" "$@" 9>&-; }`;
}

/** The collector, just before its read-only restart: the window's id, announced. */
export function renderAnnounce(): string {
    return `window_id="$(date +%s)-$$"
printf '%s' "$window_id" | flag put ${WINDOW_FLAG}
announced=yes
log "announced window $window_id to the other replicas"`;
}

/** The collector, read-only: waits for every follower's flag to hold this window's id, or gives up. */
export function renderAwaitJoins(replicaCount: number): string {
    const followers = Array.from({ length: replicaCount - 1 }, (_, i) => joinedFlag(i + 2));
    return `joins_deadline=$(( $(date +%s) + ${JOIN_SECONDS} ))
for follower in ${followers.join(" ")}; do
  until [ "$(flag get "$follower" 2>/dev/null || true)" = "$window_id" ]; do
    if [ "$(date +%s)" -ge "$joins_deadline" ]; then
      log "$follower did not turn read-only within ${JOIN_SECONDS}s (a droplet down, a deploy holding it, or its job not running): not collecting this time"
      exit 1
    fi
    sleep ${FLAG_POLL_SECONDS}
  done
  log "$follower is read-only"
done
log "every replica is read-only: pushes are refused everywhere"`;
}

/**
 * The collection, stopped at the window's bound so that no follower goes read-write beneath it.
 * A stopped container is removed by name (`collection` runs it as "$gc_container"): the docker
 * client's exit alone would leave it running.
 */
export function renderBoundedCollection(collection: string): string {
    return `gc_left=$(( window_started + ${COLLECTOR_WINDOW_SECONDS} - $(date +%s) ))
if [ "$gc_left" -le 0 ]; then
  log "the window's ${COLLECTOR_WINDOW_SECONDS}s were spent before the collection began: not collecting"
  exit 1
fi
gc_status=0
timeout "$gc_left" ${collection} > "$work/collected" 2> "$work/collected.err" || gc_status=$?
if [ "$gc_status" -eq 124 ]; then
  docker rm -f "$gc_container" >/dev/null 2>&1 || true
  log "the collection was stopped at the window's bound of ${COLLECTOR_WINDOW_SECONDS}s; what it deleted so far is gone, the rest waits for next week"
  exit 1
fi
if [ "$gc_status" -ne 0 ]; then
  cat "$work/collected" "$work/collected.err" >&2
  log "garbage-collect failed"
  exit 1
fi`;
}

/** The collector, ending the window: the flag goes first, so the followers restart while it does. */
export function renderRelease(indent = ""): string {
    return `if [ "$announced" = yes ]; then
  if flag delete ${WINDOW_FLAG}; then
    announced=no
  else
    log "could not delete the window flag; the other replicas stay read-only until their bound"
  fi
fi`.replace(/^/gm, indent);
}

/** After its own restart, the collector waits a little for the followers, to report the whole window. */
export function renderAwaitFollowersBack(replicaCount: number): string {
    const followers = Array.from({ length: replicaCount - 1 }, (_, i) => joinedFlag(i + 2));
    return `back_deadline=$(( $(date +%s) + 120 ))
for follower in ${followers.join(" ")}; do
  while flag get "$follower" >/dev/null 2>&1 && [ "$(date +%s)" -lt "$back_deadline" ]; do
    sleep ${FLAG_POLL_SECONDS}
  done
done
log "every replica takes pushes again $(( $(date +%s) - window_started ))s after the window began"`;
}

export interface FollowerInput {
    configDir: string;
    libDir: string;
    lockFile: string;
    /** 2 for the second replica, and so on. */
    replicaNumber: number;
}

/** `maintenance` on a follower: waits for the first replica's window, and is read-only through it. */
export function renderFollowerScript(input: FollowerInput): string {
    const q = shellQuote;
    const me = joinedFlag(input.replicaNumber);
    return `#!/bin/sh
# The private registry's weekly window on replica ${input.replicaNumber}: the first replica collects, this one is
# read-only while it does. Usage: maintenance [collect|recover].
set -eu
config_dir=${q(input.configDir)}
lib_dir=${q(input.libDir)}
lock_file=${q(input.lockFile)}
window_marker=${q(`${input.configDir}/${MAINTENANCE_WINDOW_MARKER}`)}
me=${q(me)}
log() { echo "maintenance: $*"; }
${renderFlagFunction()}
${renderModeArgument()}

window_id=""
if [ "$mode" = collect ]; then
  log "waiting up to ${ANNOUNCE_WAIT_SECONDS}s for the first replica to announce its collection's window"
  announce_deadline=$(( $(date +%s) + ${ANNOUNCE_WAIT_SECONDS} ))
  while :; do
    seen=$(flag get ${WINDOW_FLAG} 2>/dev/null || true)
    announced_at=\${seen%%-*}
    case "$announced_at" in
      ""|*[!0-9]*) ;;
      *)
        # A window older than the bound is a collector's that died without its traps.
        if [ $(( $(date +%s) - announced_at )) -lt ${COLLECTOR_WINDOW_SECONDS} ]; then
          window_id=$seen
          break
        fi
        ;;
    esac
    if [ "$(date +%s)" -ge "$announce_deadline" ]; then
      log "no window was announced; nothing to do"
      exit 0
    fi
    sleep ${FLAG_POLL_SECONDS}
  done
fi

exec 9>"$lock_file"
lock_wait=${FOLLOWER_LOCK_SECONDS}
if [ "$mode" = recover ]; then
  lock_wait=1800
fi
if ! flock -w "$lock_wait" 9; then
  log "a deploy held $lock_file for \${lock_wait}s; the first replica will not collect this time"
  exit 1
fi

read_only=no
restore() {
  if [ "$read_only" = yes ] || [ -e "$window_marker" ]; then
${renderReadWriteRestart()}
  fi
  flag delete "$me" || log "could not delete the flag $me; the first replica's report will wait for it"
}
if [ "$mode" = recover ]; then
  log "the read-only window begun at $(cat "$window_marker" 2>/dev/null || true) was cut short (a stop, a crash or a reboot): restarting the registry read-write"
  restore wait
  exit 0
fi
${renderWindowTraps("during the window")}

log "restarting the registry read-only for window $window_id: pulls go on, pushes are refused until it ends"
read_only=yes
date -u +%Y-%m-%dT%H:%M:%SZ > "$window_marker"
"$lib_dir/run-registry" readonly 9>&-
"$lib_dir/wait-serving" >/dev/null 9>&-
printf '%s' "$window_id" | flag put "$me"
joined=$(date +%s)
# Open while the flag still holds this window's id; a failed request (not an absent flag) keeps it open.
window_open() {
  seen=$(flag get ${WINDOW_FLAG} 2>/dev/null) || { [ $? -ne 3 ]; return; }
  [ "$seen" = "$window_id" ]
}
while window_open; do
  if [ $(( $(date +%s) - joined )) -ge ${COLLECTOR_WINDOW_SECONDS + FOLLOWER_GRACE_SECONDS} ]; then
    log "the window outlived its bound of ${COLLECTOR_WINDOW_SECONDS + FOLLOWER_GRACE_SECONDS}s; ending it here"
    break
  fi
  sleep ${FLAG_POLL_SECONDS}
done
log "the window ended after $(( $(date +%s) - joined ))s here"
`;
}
