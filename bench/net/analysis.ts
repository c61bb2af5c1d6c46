/**
 * The figures the network report and the console print, computed from the raw results alone:
 * throughput, ratios to the baseline and to the peer, the chunk-size decision, CPU per GiB and
 * the goals. Pure.
 */
import { median } from "../lib/stats";
import type { OpSample, ProfileRun, SweepPoint, Variant, Workload } from "./results";

const MiB = 1024 * 1024;
const GiB = 1024 ** 3;

export function okSamples(run: ProfileRun, variant: Variant, workload: Workload): OpSample[] {
    return (run.series.find((s) => s.variant === variant && s.workload === workload)?.samples ?? []).filter((s) => s.ok);
}

export function allSamples(run: ProfileRun, variant: Variant, workload: Workload): OpSample[] {
    return run.series.find((s) => s.variant === variant && s.workload === workload)?.samples ?? [];
}

export const mibps = (s: OpSample) => s.bytes / MiB / s.seconds;

export interface Spread {
    n: number;
    median: number;
    min: number;
    max: number;
}

export function spread(values: number[]): Spread {
    return { n: values.length, median: median(values), min: values.length ? Math.min(...values) : Number.NaN, max: values.length ? Math.max(...values) : Number.NaN };
}

/** Throughput (MiB/s) of a variant on a workload, over its successful samples. */
export function throughput(run: ProfileRun, variant: Variant, workload: Workload): Spread {
    return spread(okSamples(run, variant, workload).map(mibps));
}

/**
 * How fast `variant` is relative to `reference` on a workload: per round, reference seconds over
 * variant seconds (so above 1 = faster), paired within the round because both ran back to back
 * on the same machine load. NaN median when no round has both.
 */
export function pairedRatio(run: ProfileRun, variant: Variant, reference: Variant, workload: Workload): Spread {
    const mine = okSamples(run, variant, workload);
    const ref = okSamples(run, reference, workload);
    const ratios: number[] = [];
    for (const s of mine) {
        const r = ref.find((x) => x.round === s.round);
        if (r !== undefined) {
            ratios.push(r.seconds / s.seconds);
        }
    }
    return spread(ratios);
}

/** CPU seconds per GiB moved, for one process, over the samples that recorded it. */
export function cpuPerGiB(samples: OpSample[], who: "registry" | "front"): number {
    const used = samples.filter((s) => s.ok && s.cpu[who] !== null);
    const cpu = used.reduce((sum, s) => sum + (s.cpu[who] ?? 0), 0);
    const bytes = used.reduce((sum, s) => sum + s.bytes, 0);
    return used.length === 0 || bytes === 0 ? Number.NaN : cpu / (bytes / GiB);
}

/**
 * GiB per minute that one vCPU at 100% could move when the registry and the front cost
 * `cpuPerGiB` CPU seconds per GiB together: 60 / cost. NaN without a positive cost.
 */
export function gibPerMinutePerCore(cpuSecondsPerGiB: number): number {
    return cpuSecondsPerGiB > 0 ? 60 / cpuSecondsPerGiB : Number.NaN;
}

export interface ChunkDecision {
    /** Undefined when the sweep holds no chunk size with both measurements. */
    chunkMb: number | undefined;
    eligible: { chunkMb: number; pushMibps: number; peakRssMb: number }[];
    overBudget: { chunkMb: number; pushMibps: number; peakRssMb: number }[];
    reason: string;
}

/**
 * The fastest chunk size (median push of (a)) among those whose highest peak RSS at the
 * concurrent pushes stays under `budgetMb` (the rule of bench/lib/report/chooseChunk.ts, on this
 * bench's samples). Without an eligible size, the one with the lowest peak, said so.
 */
/**
 * How much faster a larger part must push to be chosen over a smaller one under the budget: a
 * larger part costs memory for every concurrent upload, and a few percent is what one round of
 * a sweep on a shared machine cannot tell apart.
 */
export const CHUNK_SPEED_MARGIN = 0.1;

export function decideChunk(sweep: SweepPoint[], budgetMb: number, concurrency: number): ChunkDecision {
    const rows = sweep
        .map((p) => ({
            chunkMb: p.chunkMb,
            pushMibps: median(p.push.filter((s) => s.ok).map(mibps)),
            peakRssMb: Math.max(...p.conc.filter((s) => s.ok && s.peakRssMb !== undefined).map((s) => s.peakRssMb as number)),
        }))
        .filter((r) => Number.isFinite(r.pushMibps) && Number.isFinite(r.peakRssMb));
    const eligible = rows.filter((r) => r.peakRssMb < budgetMb).sort((a, b) => b.pushMibps - a.pushMibps);
    const overBudget = rows.filter((r) => !(r.peakRssMb < budgetMb));
    const f = (r: { chunkMb: number; pushMibps: number; peakRssMb: number }) => `${r.chunkMb} MiB: ${r.pushMibps.toFixed(1)} MiB/s, peak ${r.peakRssMb.toFixed(0)} MB`;
    if (rows.length === 0) {
        return { chunkMb: undefined, eligible, overBudget, reason: "the sweep measured no chunk size completely" };
    }
    if (eligible.length === 0) {
        const lowest = [...rows].sort((a, b) => a.peakRssMb - b.peakRssMb)[0];
        return {
            chunkMb: lowest.chunkMb,
            eligible,
            overBudget,
            reason: `no chunk size kept the registry under ${budgetMb} MB at ${concurrency} concurrent pushes; ${lowest.chunkMb} MiB peaked lowest (${f(lowest)})`,
        };
    }
    const fastest = eligible[0];
    const close = eligible.filter((r) => r.pushMibps >= fastest.pushMibps * (1 - CHUNK_SPEED_MARGIN)).sort((a, b) => a.chunkMb - b.chunkMb);
    const best = close[0];
    const why =
        best === fastest
            ? `fastest push of the sizes under ${budgetMb} MB at ${concurrency} concurrent pushes (${f(best)})`
            : `the smallest of the sizes under ${budgetMb} MB at ${concurrency} concurrent pushes whose push is within ${CHUNK_SPEED_MARGIN * 100}% of the fastest (${f(best)}; fastest ${f(fastest)})`;
    const others = eligible.filter((r) => r !== best);
    return {
        chunkMb: best.chunkMb,
        eligible,
        overBudget,
        reason:
            why +
            (others.length > 0 ? `; other eligible: ${others.map(f).join("; ")}` : "") +
            (overBudget.length > 0 ? `; over budget: ${overBudget.map(f).join("; ")}` : ""),
    };
}

/**
 * The program's default from every profile's decision: the size they all chose, or, where they
 * disagree, the current default if one of them chose it, else the smallest chosen (the least
 * memory). Undefined without any decision.
 */
export function decideDefaultChunk(perProfile: (number | undefined)[], currentMb: number): { chunkMb: number | undefined; agreed: boolean } {
    const chosen = perProfile.filter((c): c is number => c !== undefined);
    if (chosen.length === 0) {
        return { chunkMb: undefined, agreed: false };
    }
    if (chosen.every((c) => c === chosen[0])) {
        return { chunkMb: chosen[0], agreed: true };
    }
    return { chunkMb: chosen.includes(currentMb) ? currentMb : Math.min(...chosen), agreed: false };
}

const fx = (r: Spread) => `${r.median.toFixed(2)}x (${r.min.toFixed(2)}-${r.max.toFixed(2)}, n=${r.n})`;

export interface NetworkGoal {
    name: string;
    target: string;
    measured: string;
    /** Undefined when the data to judge it is missing. */
    met: boolean | undefined;
    /** For a ratio goal missed on the median although some round reached the target: the rounds disagree. */
    roundsDisagree?: boolean;
}

function ratioGoal(name: string, target: string, r: Spread, min: number): NetworkGoal {
    if (r.n === 0) {
        return { name, target, measured: "not measured", met: undefined };
    }
    const met = r.median >= min;
    return { name, target, measured: fx(r), met, ...(!met && r.max >= min ? { roundsDisagree: true } : {}) };
}

export interface GoalThresholds {
    pushOfB: number;
    pullWithRedirect: number;
    rssBudgetMb: number;
}

export const GOALS: GoalThresholds = { pushOfB: 0.8, pullWithRedirect: 0.9, rssBudgetMb: 200 };

/** The goals, judged on one profile's run (the near profile's, by the goal's definition). */
export function judgeNetworkGoals(run: ProfileRun, t: GoalThresholds = GOALS): NetworkGoal[] {
    const goals: NetworkGoal[] = [];
    goals.push(ratioGoal("push of (b) vs S3 multipart upload", `>= ${t.pushOfB}x the baseline`, pairedRatio(run, "ours", "baseline", "b-push"), t.pushOfB));
    goals.push(ratioGoal("pull of (a) with redirect vs direct S3 GET", `>= ${t.pullWithRedirect}x the baseline`, pairedRatio(run, "ours", "baseline", "a-pull"), t.pullWithRedirect));
    const d = allSamples(run, "ours", "d-push");
    if (d.length === 0) {
        goals.push({ name: "(d) concurrent pushes", target: `0 errors, every digest verified, peak RSS < ${t.rssBudgetMb} MB`, measured: "not measured", met: undefined });
    } else {
        const errors = d.reduce((n, s) => n + (s.errors ?? (s.ok ? 0 : 1)), 0);
        const verified = d.reduce((n, s) => n + (s.verified ?? 0), 0);
        const expected = d.reduce((n, s) => n + (s.expected ?? 0), 0);
        const peaks = d.map((s) => s.peakRssMb).filter((v): v is number => v !== undefined);
        const peak = peaks.length ? Math.max(...peaks) : Number.NaN;
        goals.push({
            name: "(d) concurrent pushes",
            target: `0 errors, every digest verified, peak RSS < ${t.rssBudgetMb} MB`,
            measured: `${errors} errors, ${verified}/${expected} blobs verified, peak RSS ${peak.toFixed(0)} MB`,
            met: errors === 0 && expected > 0 && verified === expected && peak < t.rssBudgetMb,
        });
    }
    for (const w of ["a-push", "a-pull", "b-push", "c-push", "d-push"] as const) {
        goals.push(ratioGoal(`ours vs peer, ${w}`, ">= 1.00x the peer", pairedRatio(run, "ours", "peer", w), 1));
    }
    return goals;
}

/**
 * Which of two variants was faster on a workload: the one faster in every round, with at least
 * `minRounds` rounds; undefined otherwise (one round cannot tell a difference from noise).
 */
export function winner(run: ProfileRun, a: Variant, b: Variant, workload: Workload, minRounds = 2): Variant | undefined {
    const r = pairedRatio(run, a, b, workload);
    if (r.n < minRounds) {
        return undefined;
    }
    if (r.min > 1) {
        return a;
    }
    if (r.max < 1) {
        return b;
    }
    return undefined;
}

/** Summed per-request client time of the samples, by request kind, divided by the sample count (mean per operation). */
export function meanRequests(samples: OpSample[]): Record<string, { count: number; seconds: number }> {
    const out: Record<string, { count: number; seconds: number }> = {};
    const used = samples.filter((s) => s.ok && s.requests !== undefined);
    for (const s of used) {
        for (const [kind, t] of Object.entries(s.requests ?? {})) {
            const e = (out[kind] ??= { count: 0, seconds: 0 });
            e.count += t.count / used.length;
            e.seconds += t.seconds / used.length;
        }
    }
    return out;
}

export function meanS3Ops(samples: OpSample[]): Record<string, number> {
    const out: Record<string, number> = {};
    const used = samples.filter((s) => s.ok && s.s3Ops !== undefined);
    for (const s of used) {
        for (const [op, n] of Object.entries(s.s3Ops ?? {})) {
            out[op] = (out[op] ?? 0) + n / used.length;
        }
    }
    return out;
}
