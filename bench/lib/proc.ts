/**
 * Linux /proc readers for the benchmark: CPU time and memory of the processes under test.
 */
import { readFileSync, writeFileSync } from "node:fs";

const CLOCK_TICKS = 100; // USER_HZ; 100 on every Linux the rehearsal runs on

/** utime + stime of a process (seconds), or NaN when it is gone. */
export function cpuSeconds(pid: number): number {
    try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        // Fields after the command name, which is in parentheses and may contain spaces.
        const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        // rest[0] is field 3 (state); utime is field 14, stime field 15.
        return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS;
    } catch {
        return Number.NaN;
    }
}

/**
 * CPU seconds of this process's children that have exited and been reaped (cutime + cstime).
 * Node reaps every child it spawns, so the difference across a skopeo run is skopeo's CPU.
 */
export function reapedChildrenCpuSeconds(): number {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[13]) + Number(rest[14])) / CLOCK_TICKS;
}

/**
 * Busy CPU seconds of the whole machine, every process included (from /proc/stat: user, nice,
 * system, irq, softirq, steal). Shows whether the cores were saturated, by us or by others.
 */
export function machineBusySeconds(): number {
    const line = readFileSync("/proc/stat", "utf8").split("\n")[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal guest guest_nice
    return (f[0] + f[1] + f[2] + f[5] + f[6] + (f[7] ?? 0)) / CLOCK_TICKS;
}

/** This Node process's own CPU seconds (user + system). */
export function selfCpuSeconds(): number {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e6;
}

function statusField(pid: number, field: string): number {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status);
    if (!m) {
        throw new Error(`no ${field} in /proc/${pid}/status`);
    }
    return Number(m[1]) / 1024;
}

/** Peak resident set size (VmHWM) in MB. */
export function peakRssMb(pid: number): number {
    return statusField(pid, "VmHWM");
}

export function rssMb(pid: number): number {
    return statusField(pid, "VmRSS");
}

/**
 * Resets the peak RSS (VmHWM) to the current RSS (`echo 5 > /proc/PID/clear_refs`, Linux >= 4.0,
 * needs the same user or root). Returns false where the kernel refuses; the sampler still works.
 */
export function resetPeakRss(pid: number): boolean {
    try {
        writeFileSync(`/proc/${pid}/clear_refs`, "5");
        return true;
    } catch {
        return false;
    }
}

/** Samples VmRSS every `intervalMs` until stopped; a fallback and cross-check for VmHWM. */
export class RssSampler {
    private maxMb = 0;
    private readonly timer: NodeJS.Timeout;

    constructor(private readonly pid: number, intervalMs = 50) {
        this.sample();
        this.timer = setInterval(() => this.sample(), intervalMs);
    }

    private sample(): void {
        try {
            this.maxMb = Math.max(this.maxMb, rssMb(this.pid));
        } catch {
            // process gone
        }
    }

    stop(): number {
        clearInterval(this.timer);
        this.sample();
        return this.maxMb;
    }
}
