import { shellQuote } from "./shell";

/**
 * Waiting for apt on a busy first boot, in POSIX sh. Pure: values in, shell text out.
 *
 * A fresh droplet runs apt-daily (`apt-get update`) and apt-daily-upgrade (unattended-upgrade)
 * while the deploy's own apt steps start. `-o DPkg::Lock::Timeout` does not cover that: apt 2.4
 * (Ubuntu 22.04) reads the timeout only in `debSystem::Lock`, for the dpkg frontend lock, while
 * `apt-get update` takes /var/lib/apt/lists/lock without waiting and fails at once
 * (apt-pkg/update.cc, apt-pkg/acquire.cc). So the scripts wait here, for every lock apt and
 * dpkg take, before each apt-get.
 *
 * apt and dpkg lock with fcntl(F_SETLK, F_WRLCK) on the whole file (Debian/apt
 * apt-pkg/contrib/fileutl.cc `GetLock`; dpkg lib/dpkg/file.c). Linux keeps fcntl (POSIX) locks
 * apart from flock(2) locks, so `flock -n` on these files succeeds while apt holds them, and
 * `fuser` only names processes that have the file open. The kernel's own table, /proc/locks,
 * lists every lock with its holder's pid and the file's device and inode
 * (`MAJ:MIN:INODE`, the major and minor in hex), which `stat` gives for the path; that matched
 * here on ext4 and through overlayfs alike.
 */

/** The locks apt-get update and install take, in the order apt takes them. */
export const APT_LOCK_FILES = ["/var/lib/apt/lists/lock", "/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"] as const;

/** How long a deploy waits for first boot's apt runs: apt-daily-upgrade can take minutes. */
export const APT_WAIT_SECONDS = 600;

export interface AptWaitOptions {
    /** Stands in for `/` before the lock paths (tests); default none. */
    root?: string;
    /** The bound, in seconds. Default {@link APT_WAIT_SECONDS}. */
    timeoutSeconds?: number;
    /** Seconds between progress lines while waiting. Default 30. */
    progressSeconds?: number;
    /** Seconds between looks at the locks. Default 2. */
    pollSeconds?: number;
}

function wholeSeconds(name: string, value: number, min: number): number {
    if (!Number.isInteger(value) || value < min) {
        throw new Error(`${name} must be a whole number of seconds, at least ${min}; got ${value}`);
    }
    return value;
}

/**
 * Shell functions for a script that runs apt-get:
 * - `apt_lock_holder FILE` prints the pid holding a lock on FILE, nothing when none does;
 * - `apt_wait_for_locks` returns once none of {@link APT_LOCK_FILES} is held, printing a progress
 *   line (stderr) every progressSeconds; past the bound it fails naming the file and its holder
 *   (pid and command). It never fails while it still has time;
 * - `apt_get ARGS...` waits, then runs `apt-get` non-interactively; if apt-get fails because
 *   another run took a lock in between, it waits again within the same bound.
 * Its variables all start with `apt_wait_`, so it leaves the caller's alone.
 */
export function renderAptWaitFunctions(options: AptWaitOptions = {}): string {
    const q = shellQuote;
    const root = options.root ?? "";
    const timeout = wholeSeconds("timeoutSeconds", options.timeoutSeconds ?? APT_WAIT_SECONDS, 1);
    const progress = wholeSeconds("progressSeconds", options.progressSeconds ?? 30, 1);
    const poll = wholeSeconds("pollSeconds", options.pollSeconds ?? 2, 1);
    const locks = APT_LOCK_FILES.map((path) => q(`${root}${path}`)).join(" ");
    return `# Waits for apt and dpkg's locks (fcntl locks, which flock(1) cannot see), at most ${timeout}s.
apt_wait_seconds=${timeout}
apt_lock_holder() {
  apt_wait_dev=$(stat -L -c %d "$1" 2>/dev/null) || return 0
  apt_wait_ino=$(stat -L -c %i "$1" 2>/dev/null) || return 0
  # /proc/locks names a file MAJ:MIN:INODE, the major and minor in hex (fs/locks.c).
  apt_wait_id=$(printf '%02x:%02x:%s' $(( (apt_wait_dev >> 8) & 4095 )) $(( (apt_wait_dev & 255) | ((apt_wait_dev >> 12) & 1048320) )) "$apt_wait_ino")
  while read -r _ apt_wait_kind _ _ apt_wait_pid apt_wait_where _; do
    # "->" marks a process waiting for the lock, not one holding it.
    if [ "$apt_wait_kind" != "->" ] && [ "$apt_wait_where" = "$apt_wait_id" ]; then
      echo "$apt_wait_pid"
      return 0
    fi
  done < /proc/locks
}
# printf, not echo: dash's echo would act on a backslash in the holder's command line.
apt_describe_holder() {
  if [ "$1" -gt 0 ] 2>/dev/null && [ -r "/proc/$1/cmdline" ]; then
    printf 'process %s (%s: %s)' "$1" "$(cat "/proc/$1/comm" 2>/dev/null || echo unknown)" "$(tr '\\000\\n' '  ' < "/proc/$1/cmdline" | sed 's/ *$//' | cut -c 1-200)"
  else
    printf 'process %s (not visible from here)' "$1"
  fi
}
apt_wait_busy() {
  for apt_wait_lock in ${locks}; do
    apt_wait_holder=$(apt_lock_holder "$apt_wait_lock")
    if [ -n "$apt_wait_holder" ]; then
      return 0
    fi
  done
  return 1
}
apt_wait_for_locks() {
  # The bound counts from $1 when given (apt_get's first try), else from now.
  apt_wait_start=\${1:-$(date +%s)}
  apt_wait_next=$(date +%s)
  while apt_wait_busy; do
    apt_wait_now=$(date +%s)
    if [ $(( apt_wait_now - apt_wait_start )) -gt "$apt_wait_seconds" ]; then
      printf 'apt is still busy after %ss: %s is held by %s; giving up\\n' "$apt_wait_seconds" "$apt_wait_lock" "$(apt_describe_holder "$apt_wait_holder")" >&2
      return 1
    fi
    if [ "$apt_wait_now" -ge "$apt_wait_next" ]; then
      printf 'waiting for apt: %s is held by %s (%ss of %ss)\\n' "$apt_wait_lock" "$(apt_describe_holder "$apt_wait_holder")" $(( apt_wait_now - apt_wait_start )) "$apt_wait_seconds" >&2
      apt_wait_next=$(( apt_wait_now + ${progress} ))
    fi
    sleep ${poll}
  done
}
apt_get() {
  apt_wait_first=$(date +%s)
  apt_wait_tries=0
  while :; do
    apt_wait_for_locks "$apt_wait_first" || return 1
    apt_wait_status=0
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=${timeout} "$@" || apt_wait_status=$?
    if [ "$apt_wait_status" -eq 0 ]; then
      return 0
    fi
    # Another apt run may have taken a lock between the wait and apt-get: wait for it once more.
    apt_wait_tries=$(( apt_wait_tries + 1 ))
    if [ "$apt_wait_tries" -ge 3 ] || ! apt_wait_busy; then
      return "$apt_wait_status"
    fi
    printf 'apt-get failed while %s was taken by %s; waiting to try again\\n' "$apt_wait_lock" "$(apt_describe_holder "$apt_wait_holder")" >&2
  done
}
`;
}
