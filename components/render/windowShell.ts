/**
 * Shell the maintenance jobs share, on one droplet and on each replica (maintenance.ts,
 * maintenanceReplicas.ts): putting the registry back read-write, and the traps that do it on
 * every way out of a read-only window. Pure text; the scripts define `log`, `restore`,
 * `read_only`, `window_marker` and `lib_dir`.
 */

/**
 * Runs `maintenance recover` at every boot. The read-only registry runs with `--restart=always`
 * like the read-write one (run-registry), so a reboot or a crash in the window would bring it
 * back read-only, refusing pushes until the next week's job; this unit puts it back read-write.
 */
export const MAINTENANCE_RECOVERY_SERVICE = "private-registry-maintenance-recovery.service";

/**
 * The file in configDir that says a read-only window is open: written just before the
 * read-only restart, removed once the registry runs read-write again. It outlives a reboot.
 */
export const MAINTENANCE_WINDOW_MARKER = "maintenance-window";

/** `maintenance [collect|recover]`: "recover" with no window cut short has nothing to do. */
export function renderModeArgument(): string {
    return `mode=\${1:-collect}
case "$mode" in
  collect|recover) ;;
  *) echo "usage: maintenance [collect|recover]" >&2; exit 2 ;;
esac
if [ "$mode" = recover ] && [ ! -e "$window_marker" ]; then
  log "no read-only window was cut short; nothing to do"
  exit 0
fi`;
}

/**
 * The read-write restart inside `restore`, indented for it: "$1" = wait also waits until the
 * registry serves. The window's marker stays when the restart fails, so the next boot's recovery
 * tries again.
 */
export function renderReadWriteRestart(): string {
    return `    if "$lib_dir/run-registry" readwrite 9>&-; then
      read_only=no
      rm -f "$window_marker"
      log "the registry runs read-write again"
      if [ "$1" = wait ] && ! "$lib_dir/wait-serving" >/dev/null 9>&-; then
        log "the registry was restarted read-write but does not answer yet"
      fi
    else
      log "the registry could not be restarted read-write; ${MAINTENANCE_RECOVERY_SERVICE} tries again at the next boot"
    fi`;
}

/**
 * `restore` on every exit. dash runs no EXIT trap when a signal kills it, and systemd stops the
 * job with SIGTERM (an operator's stop, a shutdown, the 04:30 update reboot): each signal
 * restores, then fails. The registry's own health wait is skipped there, so a shutdown is not
 * held for it.
 */
export function renderWindowTraps(stoppedBefore: string): string {
    return `finish() {
  status=$?
  trap '' INT TERM HUP
  trap - EXIT
  restore wait
  exit "$status"
}
# dash runs no EXIT trap when a signal kills it, and systemd stops the job with SIGTERM (an
# operator's stop, a shutdown, the 04:30 update reboot): each signal restores, then fails. The
# registry's own health wait is skipped there, so a shutdown is not held for it.
interrupted() {
  trap '' INT TERM HUP
  trap - EXIT
  log "stopped by SIG$1 ${stoppedBefore}"
  restore nowait
  exit "$2"
}
trap finish EXIT
trap 'interrupted TERM 143' TERM
trap 'interrupted INT 130' INT
trap 'interrupted HUP 129' HUP`;
}
