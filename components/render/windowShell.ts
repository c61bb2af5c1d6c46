/**
 * Shell the maintenance jobs share, on one droplet and on each replica (maintenance.ts,
 * maintenanceReplicas.ts): putting the registry back read-write, and the traps that do it on
 * every way out of a read-only window. Pure text; the scripts define `log`, `restore`,
 * `read_only`, `window_marker` and `lib_dir`.
 */

/**
 * The read-write restart inside `restore`, indented for it: "$1" = wait also waits until the
 * registry serves. The window's marker stays when the restart fails, so the next boot's recovery
 * tries again.
 */
export function renderReadWriteRestart(recoveryService: string): string {
    return `    if "$lib_dir/run-registry" readwrite 9>&-; then
      read_only=no
      rm -f "$window_marker"
      log "the registry runs read-write again"
      if [ "$1" = wait ] && ! "$lib_dir/wait-serving" >/dev/null 9>&-; then
        log "the registry was restarted read-write but does not answer yet"
      fi
    else
      log "the registry could not be restarted read-write; ${recoveryService} tries again at the next boot"
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
