/**
 * The collection bench's arithmetic: which passes make up the read-only window in each job shape,
 * which GOMAXPROCS the measurements favour, and whether the goal is met. Pure: numbers in, numbers
 * and words out.
 */

/** One `registry garbage-collect --delete-untagged` run. */
export interface PassResult {
    dryRun: boolean;
    /** Whether the job runs this pass inside the read-only window. */
    inWindow: boolean;
    gomaxprocs: number;
    ms: number;
    /** The registry's S3 requests in this pass, in all and by operation. */
    s3Requests: number;
    s3ByOperation: Record<string, number>;
    peakRssKiB: number;
}

/**
 * A job shape: "today" (a dry run then the collection, both read-only, GOMAXPROCS=1 on one
 * vCPU) or "new" (the dry run before the window, the collection alone inside, GOMAXPROCS raised).
 */
export interface ShapeRun {
    shape: "today" | "new";
    gomaxprocs: number;
    passes: PassResult[];
}

export interface FixtureRun {
    manifests: number;
    tags: number;
    untagged: number;
    runs: ShapeRun[];
}

export interface Goal {
    manifests: number;
    tags: number;
    /** The longest read-only window allowed, ms. */
    budgetMs: number;
}

/** The goal set by issue 17: 1,000 manifests x 20 tags in under 60 s of window, S3 at the near profile's distance. */
export const GOAL: Goal = { manifests: 1000, tags: 20, budgetMs: 60_000 };

/** The window's share of a run: the passes the job runs while read-only (the restarts are not in it). */
export function windowMs(run: ShapeRun): number {
    return run.passes.filter((p) => p.inWindow).reduce((sum, p) => sum + p.ms, 0);
}

/** S3 requests inside the window. */
export function windowRequests(run: ShapeRun): number {
    return run.passes.filter((p) => p.inWindow).reduce((sum, p) => sum + p.s3Requests, 0);
}

/** The highest peak RSS of any of the run's passes, KiB. */
export function peakRssKiB(run: ShapeRun): number {
    return Math.max(0, ...run.passes.map((p) => p.peakRssKiB));
}

/**
 * The GOMAXPROCS a sweep favours: the smallest whose window is within `tolerance` (a fraction)
 * of the shortest seen. A bigger value buys nothing once the window stops shrinking, and costs
 * connections to the bucket and memory.
 */
export function favouredGomaxprocs(runs: readonly ShapeRun[], tolerance = 0.1): number | undefined {
    const candidates = runs.filter((r) => r.shape === "new");
    if (candidates.length === 0) {
        return undefined;
    }
    const best = Math.min(...candidates.map(windowMs));
    return Math.min(...candidates.filter((r) => windowMs(r) <= best * (1 + tolerance)).map((r) => r.gomaxprocs));
}

export interface Verdict {
    status: "met" | "missed" | "not measured";
    /** The window of the goal's fixture in the new shape at `gomaxprocs`, ms. */
    windowMs?: number;
    gomaxprocs?: number;
    text: string;
}

/** Whether the new shape at `gomaxprocs` collected the goal's fixture within its budget. */
export function verdict(fixtures: readonly FixtureRun[], gomaxprocs: number, goal: Goal = GOAL): Verdict {
    const fixture = fixtures.find((f) => f.manifests === goal.manifests && f.tags === goal.tags);
    const run = fixture?.runs.find((r) => r.shape === "new" && r.gomaxprocs === gomaxprocs);
    const label = `${goal.manifests} x ${goal.tags}`;
    if (run === undefined) {
        return { status: "not measured", text: `${label} was not measured in the new shape at GOMAXPROCS=${gomaxprocs}` };
    }
    const ms = windowMs(run);
    // Rounded down, so a window under the budget never prints as the budget itself.
    const seconds = (Math.floor(ms / 100) / 10).toFixed(1);
    const budget = (goal.budgetMs / 1000).toFixed(0);
    return ms < goal.budgetMs
        ? { status: "met", windowMs: ms, gomaxprocs, text: `${label}: ${seconds} s of collection in the window at GOMAXPROCS=${gomaxprocs}, under ${budget} s` }
        : { status: "missed", windowMs: ms, gomaxprocs, text: `${label}: ${seconds} s of collection in the window at GOMAXPROCS=${gomaxprocs}, not under ${budget} s` };
}
