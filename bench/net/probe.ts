import * as path from "node:path";
import type { ProcessTracker } from "../../test/harness/processes";
import { REPO_ROOT } from "../../test/harness/tools";
import { waitUntil } from "../../test/harness/wait";
import { LINKS, type LinkName, type LinkProfile, type NetworkProfile } from "./profiles";
import type { NetworkRig } from "./rig";

/**
 * A ping-like check of the rig: over each link, through its tbf and toxiproxy as real traffic
 * goes, a TCP connect, a few small request/response round trips and one bulk transfer each way.
 * A bench prints configured vs measured and refuses to run when they disagree.
 */

export interface LinkMeasurement {
    link: LinkName;
    /** The TCP connect; the proxy accepts at once, so this is NOT the link's RTT. */
    connectMs: number;
    /** Median request/response round trip, and its spread. */
    rttMs: number;
    rttMinMs: number;
    rttMaxMs: number;
    /** Payload throughput toward the client (a pull) and away from it (a push), Mbit/s. */
    downMbit: number;
    upMbit: number;
}

export interface Tolerance {
    /** Allowed relative difference (RTT and throughput). */
    relative: number;
    /** RTTs within this many ms agree whatever the ratio (timer and proxy noise on short links). */
    absoluteMs: number;
}

export const DEFAULT_TOLERANCE: Tolerance = { relative: 0.2, absoluteMs: 5 };

export interface Verdict {
    ok: boolean;
    problems: string[];
}

/** Whether a link behaves as configured: RTT within max(relative, absoluteMs), each direction's throughput within relative. */
export function judgeLink(configured: LinkProfile, measured: LinkMeasurement, tolerance: Tolerance = DEFAULT_TOLERANCE): Verdict {
    const problems: string[] = [];
    const rtt = configured.rttMs.value;
    const allowedMs = Math.max(tolerance.absoluteMs, tolerance.relative * rtt);
    if (!(Math.abs(measured.rttMs - rtt) <= allowedMs)) {
        problems.push(`${measured.link}: RTT ${measured.rttMs.toFixed(1)} ms, configured ${rtt} ms (allowed +/- ${allowedMs.toFixed(1)} ms)`);
    }
    const mbit = configured.mbit.value;
    for (const [direction, value] of [["down", measured.downMbit], ["up", measured.upMbit]] as const) {
        if (!(Math.abs(value - mbit) <= tolerance.relative * mbit)) {
            problems.push(`${measured.link}: ${direction} ${value.toFixed(0)} Mbit/s, configured ${mbit} Mbit/s (allowed +/- ${(tolerance.relative * 100).toFixed(0)}%)`);
        }
    }
    return { ok: problems.length === 0, problems };
}

/** Every link's verdict together. */
export function judgeProbe(profile: NetworkProfile, measurements: LinkMeasurement[], tolerance: Tolerance = DEFAULT_TOLERANCE): Verdict {
    const problems: string[] = [];
    for (const link of LINKS) {
        const measured = measurements.find((m) => m.link === link);
        if (measured === undefined) {
            problems.push(`${link}: not measured`);
        } else {
            problems.push(...judgeLink(profile.links[link], measured, tolerance).problems);
        }
    }
    return { ok: problems.length === 0, problems };
}

/** The configured-vs-measured table, one line per link. */
export function formatProbe(profile: NetworkProfile, measurements: LinkMeasurement[], tolerance: Tolerance = DEFAULT_TOLERANCE): string {
    const rows = [["link", "RTT conf", "RTT measured (min-max)", "connect", "Mbit/s conf", "down", "up", "agrees"]];
    for (const m of measurements) {
        const c = profile.links[m.link];
        rows.push([
            m.link,
            `${c.rttMs.value} ms`,
            `${m.rttMs.toFixed(1)} ms (${m.rttMinMs.toFixed(1)}-${m.rttMaxMs.toFixed(1)})`,
            `${m.connectMs.toFixed(1)} ms`,
            String(c.mbit.value),
            m.downMbit.toFixed(0),
            m.upMbit.toFixed(0),
            judgeLink(c, m, tolerance).ok ? "yes" : "NO",
        ]);
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
    return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i])).join("  ").trimEnd()).join("\n");
}

interface AgentResult {
    connectMs: number;
    rttMs: number[];
    downBytes: number;
    downMs: number;
    upBytes: number;
    upMs: number;
}

/** Turns the agent's raw timings into a measurement: a transfer's time less the one round trip of its request and answer. */
export function toMeasurement(link: LinkName, raw: AgentResult): LinkMeasurement {
    const sorted = [...raw.rttMs].sort((a, b) => a - b);
    const rtt = sorted[Math.floor(sorted.length / 2)];
    const mbit = (bytes: number, ms: number) => (bytes * 8) / Math.max(ms - rtt, 1) / 1000;
    return { link, connectMs: raw.connectMs, rttMs: rtt, rttMinMs: sorted[0], rttMaxMs: sorted[sorted.length - 1], downMbit: mbit(raw.downBytes, raw.downMs), upMbit: mbit(raw.upBytes, raw.upMs) };
}

const AGENT = path.join(__dirname, "probeAgent.ts");
/** Where the probe's servers listen in droplet and s3 (the rig's namespaces are fresh: nothing else is there). */
export const PROBE_PORT = 7070;

function agentArgs(args: string[]): string[] {
    return ["--import", "tsx", AGENT, ...args];
}

/** Measures every link of the rig: servers in each serving namespace, a client in each link's connecting one. */
export async function runProbe(rig: NetworkRig, tracker: ProcessTracker, options: { pings?: number; seconds?: number } = {}): Promise<LinkMeasurement[]> {
    const servers = [];
    for (const role of ["droplet", "s3"] as const) {
        const [head, ...rest] = rig.prefix(role);
        const logFile = rig.logFile(`probe-${role}.log`);
        const proc = tracker.start(`probe-${role}`, head, [...rest, process.execPath, ...agentArgs(["serve", rig.address(role), String(PROBE_PORT)])], { logFile, cwd: REPO_ROOT });
        servers.push(proc);
        await rig.expose(role, PROBE_PORT);
        await waitUntil(async () => (proc.log().includes("listening") ? { done: true, value: undefined } : { done: false, seen: proc.logTail(3) }), {
            description: `the probe server in ${role}`,
            timeoutMs: 20_000,
            abortIf: () => (proc.running ? undefined : `it exited:\n${proc.logTail()}`),
        });
    }
    try {
        const results: LinkMeasurement[] = [];
        for (const name of LINKS) {
            const link = rig.layout.links[name];
            // About `seconds` of transfer each way at the configured rate: long enough that tbf's burst does not count.
            const bytes = Math.max(1 << 20, Math.round(((rig.profile.links[name].mbit.value * 1e6) / 8) * (options.seconds ?? 1.5)));
            const out = await rig.run(link.from, process.execPath, agentArgs(["measure", rig.address(link.to), String(PROBE_PORT), String(options.pings ?? 10), String(bytes), String(bytes)]), { cwd: REPO_ROOT, timeoutMs: 120_000 });
            results.push(toMeasurement(name, JSON.parse(out.stdout.trim().split("\n").pop() ?? "") as AgentResult));
        }
        return results;
    } finally {
        await Promise.all(servers.map((s) => s.stop(2000)));
    }
}
