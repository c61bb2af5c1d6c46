/**
 * The figures the network report and the console print, computed from the raw results alone:
 * throughput, ratios to the baseline and to the peer, the chunk-size decision, CPU per GiB and
 * the goals. Pure.
 */
import { median } from "../lib/stats";
import { pushPathLimit } from "./pathLimit";
import { WORKLOADS, type OpSample, type ProfileRun, type SweepPoint, type Variant, type Workload } from "./results";

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

export interface ChunkRow {
    chunkMb: number;
    /** Median push of (a). */
    pushMibps: number;
    /** Median push of (b) with 5 layers at once; NaN where the sweep did not measure it. */
    bConcMibps: number;
    peakRssMb: number;
}

export interface ChunkDecision {
    /** Undefined when the sweep holds no chunk size with both measurements. */
    chunkMb: number | undefined;
    eligible: ChunkRow[];
    overBudget: ChunkRow[];
    reason: string;
}

/**
 * The chunk sizes a sweep tries: only what the program's `s3ChunkSizeMb` accepts (`range`, its
 * [min, max]), its ends and, in a full run, the middle.
 */
export function sweepChunkSizes(range: readonly number[], quick: boolean): number[] {
    const [min, max] = range;
    if (!(Number.isInteger(min) && Number.isInteger(max) && min <= max)) {
        throw new Error(`the chunk size's range must be two whole numbers, min <= max; got ${JSON.stringify(range)}`);
    }
    const sizes = quick ? [min, max] : [min, Math.round((min + max) / 2), max];
    return [...new Set(sizes)];
}

/**
 * How much faster a larger part must push to be chosen over a smaller one under the budget: a
 * larger part costs memory for every concurrent upload, and a few percent is what one round of
 * a sweep on a shared machine cannot tell apart.
 */
export const CHUNK_SPEED_MARGIN = 0.1;

/**
 * The chunk size from the sweep: among the sizes whose highest peak RSS at the concurrent pushes
 * stays under `budgetMb`, the smallest whose push of (a) and, where the sweep measured it, whose
 * push of (b) 5 layers at once (what docker does) are both within CHUNK_SPEED_MARGIN of the
 * fastest; if no size is, the one whose worse push is closest to its fastest. Without an
 * eligible size, the one with the lowest peak, said so.
 */
export function decideChunk(sweep: SweepPoint[], budgetMb: number, concurrency: number): ChunkDecision {
    const med = (samples: OpSample[] | undefined) => median((samples ?? []).filter((s) => s.ok).map(mibps));
    const rows: ChunkRow[] = sweep
        .map((p) => ({
            chunkMb: p.chunkMb,
            pushMibps: med(p.push),
            bConcMibps: med(p.bConc),
            peakRssMb: Math.max(...p.conc.filter((s) => s.ok && s.peakRssMb !== undefined).map((s) => s.peakRssMb as number)),
        }))
        .filter((r) => Number.isFinite(r.pushMibps) && Number.isFinite(r.peakRssMb));
    const eligible = rows.filter((r) => r.peakRssMb < budgetMb).sort((a, b) => b.pushMibps - a.pushMibps);
    const overBudget = rows.filter((r) => !(r.peakRssMb < budgetMb));
    const f = (r: ChunkRow) =>
        `${r.chunkMb} MiB: ${r.pushMibps.toFixed(1)} MiB/s${Number.isFinite(r.bConcMibps) ? `, (b) 5 at once ${r.bConcMibps.toFixed(1)} MiB/s` : ""}, peak ${r.peakRssMb.toFixed(0)} MB`;
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
    const withB = eligible.some((r) => Number.isFinite(r.bConcMibps));
    const fastestB = Math.max(...eligible.map((r) => r.bConcMibps).filter(Number.isFinite));
    // A size the sweep did not push (b) at cannot show that it keeps up there.
    const score = (r: ChunkRow) => Math.min(r.pushMibps / fastest.pushMibps, withB ? (Number.isFinite(r.bConcMibps) ? r.bConcMibps / fastestB : 0) : 1);
    const close = eligible.filter((r) => score(r) >= 1 - CHUNK_SPEED_MARGIN).sort((a, b) => a.chunkMb - b.chunkMb);
    const best = close[0] ?? [...eligible].sort((a, b) => score(b) - score(a))[0];
    const under = `under ${budgetMb} MB at ${concurrency} concurrent pushes`;
    const pushes = withB ? "pushes of (a) and of (b) 5 at once are" : "push is";
    const why =
        close.length === 0
            ? `no size ${under} was within ${CHUNK_SPEED_MARGIN * 100}% of the fastest on both pushes; the closest (${f(best)}; worse push at ${(score(best) * 100).toFixed(0)}% of the fastest)`
            : best === fastest && (!withB || best.bConcMibps === fastestB)
              ? `fastest ${withB ? "pushes of (a) and of (b) 5 at once" : "push"} of the sizes ${under} (${f(best)})`
              : `the smallest of the sizes ${under} whose ${pushes} within ${CHUNK_SPEED_MARGIN * 100}% of the fastest (${f(best)}` +
                (best === fastest ? "" : `; fastest ${f(fastest)}`) +
                (withB && best.bConcMibps !== fastestB ? `; fastest (b) 5 at once ${fastestB.toFixed(1)} MiB/s` : "") +
                ")";
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
        return { name, target, measured: "not measured in this run", met: undefined };
    }
    const met = r.median >= min;
    return { name, target, measured: fx(r), met, ...(!met && r.max >= min ? { roundsDisagree: true } : {}) };
}

export interface GoalThresholds {
    pushOfB: number;
    /** Push of (b) with 5 layers at once (docker's default), as a fraction of the path limit (pathLimit.ts). */
    pushAt5OfPath: number;
    pullWithRedirect: number;
    rssBudgetMb: number;
}

export const GOALS: GoalThresholds = { pushOfB: 0.8, pushAt5OfPath: 0.8, pullWithRedirect: 0.9, rssBudgetMb: 200 };

/**
 * A variant's speed on a push as a fraction of the path limit (pathLimit.ts), per successful
 * sample; no samples when the probe does not give the limit.
 */
export function pathRatio(run: ProfileRun, variant: Variant, workload: Workload): Spread {
    const limit = pushPathLimit(run.probe);
    return spread(limit === undefined ? [] : okSamples(run, variant, workload).map((s) => mibps(s) / limit.mibps));
}

export const PATH_GOAL_NAME = "push of (b), 5 layers at once, vs the path limit";

/**
 * The verdicts on (b) pushed 1, 3 and 5 layers at once: at 5 against the path limit, and ours
 * against the peer at each; "not measured in this run" for what the results lack.
 */
export function judgeConcurrentPushes(run: ProfileRun, t: GoalThresholds = GOALS): NetworkGoal[] {
    return [
        ratioGoal(PATH_GOAL_NAME, `>= ${t.pushAt5OfPath}x the slower of runner–droplet and droplet–S3, as probed`, pathRatio(run, "ours", "b-push-5"), t.pushAt5OfPath),
        ...(["b-push", "b-push-3", "b-push-5"] as const).map((w) => ratioGoal(`ours vs peer, ${w}`, ">= 1.00x the peer", pairedRatio(run, "ours", "peer", w), 1)),
    ];
}

/** The issue's goals, judged on one profile's run (the near profile's, by the goal's definition). */
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
    goals.push(judgeConcurrentPushes(run, t)[0]);
    for (const w of WORKLOADS) {
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
