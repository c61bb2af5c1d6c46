import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import { systemBinary } from "./tools";

/**
 * Linux /proc readers: which processes descend from which, whether one still runs, and a watch
 * on the process that started this one. A PID is always paired with its start time, so a PID
 * reused by an unrelated process is never taken for the original.
 */

export interface ProcInfo {
    pid: number;
    ppid: number;
    /** The kernel's short name (`comm`), e.g. `registry`. */
    name: string;
    /** R, S, D, ... or Z: exited, not yet reaped (no longer running anything). */
    state: string;
    /** Clock ticks after boot; with the PID, names one process. */
    startTime: number;
}

/** The process's /proc/PID/stat, or undefined when there is no such process (or no /proc). */
export function readProc(pid: number): ProcInfo | undefined {
    let text: string;
    try {
        text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
        return undefined;
    }
    // comm may hold spaces and ')', so the fixed fields are counted from the last ')'.
    const close = text.lastIndexOf(")");
    const fields = text.slice(close + 2).split(" ");
    return { pid, name: text.slice(text.indexOf("(") + 1, close), state: fields[0], ppid: Number(fields[1]), startTime: Number(fields[19]) };
}

/** argv of a process joined by spaces ("" when it is gone). */
export function commandLine(pid: number): string {
    try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).join(" ");
    } catch {
        return "";
    }
}

/** Every process below `pid` (children, their children, ...), found through parent links. */
export function descendants(pid: number): ProcInfo[] {
    const all = fs.readdirSync("/proc").filter((entry) => /^\d+$/.test(entry)).map((entry) => readProc(Number(entry)));
    const found: ProcInfo[] = [];
    const parents = new Set([pid]);
    for (let grew = true; grew; ) {
        grew = false;
        for (const p of all) {
            if (p !== undefined && parents.has(p.ppid) && !parents.has(p.pid)) {
                parents.add(p.pid);
                found.push(p);
                grew = true;
            }
        }
    }
    return found;
}

/** True while the very process `p` describes is alive (a zombie is not). */
export function isRunning(p: ProcInfo): boolean {
    const now = readProc(p.pid);
    return now !== undefined && now.startTime === p.startTime && now.state !== "Z";
}

/**
 * Calls `onGone` once when the process that started this one exits. A `sh -c` parent (how npm
 * runs a script) is watched together with its own parent: npm hands SIGTERM and SIGINT to that
 * shell only, which dies without passing them on, and npm dies of SIGHUP or SIGKILL while the
 * shell waits on. Either way this process would keep running, orphaned. No-op without /proc.
 * Returns a function that ends the watch.
 */
export function watchStarter(onGone: (who: string) => void, intervalMs = 250): () => void {
    const self = readProc(process.pid);
    const parent = self === undefined ? undefined : readProc(self.ppid);
    if (parent === undefined) {
        return () => undefined;
    }
    const watched = [parent];
    const grandparent = commandLine(parent.pid).split(" ")[1] === "-c" ? readProc(parent.ppid) : undefined;
    if (grandparent !== undefined && grandparent.pid > 1) {
        watched.push(grandparent);
    }
    const timer = setInterval(() => {
        const gone = watched.find((p) => !isRunning(p));
        if (gone !== undefined) {
            clearInterval(timer);
            onGone(`${gone.name} (pid ${gone.pid})`);
        }
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
}

let setpriv: string | null | undefined;

/**
 * `command args`, wrapped so that the kernel kills the program with SIGKILL when this process
 * dies, even of kill -9, which leaves no time to stop children (util-linux `setpriv` sets
 * PR_SET_PDEATHSIG and execs the program: same PID, same argv). The signal follows the thread
 * that spawned the child, which in Node is always the main one. Unwrapped without setpriv.
 */
export function diesWithThisProcess(command: string, args: readonly string[]): { command: string; args: string[] } {
    if (setpriv === undefined) {
        try {
            const found = systemBinary("setpriv");
            execFileSync(found, ["--pdeathsig", "KILL", "--", "true"], { stdio: "ignore", timeout: 5000 });
            setpriv = found;
        } catch {
            setpriv = null; // missing, or too old for --pdeathsig (util-linux < 2.33)
        }
    }
    return setpriv === null ? { command, args: [...args] } : { command: setpriv, args: ["--pdeathsig", "KILL", "--", command, ...args] };
}
