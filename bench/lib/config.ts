/**
 * Benchmark settings from the environment and the command line. `BENCH_QUICK=1` is a smoke run
 * (about two minutes) that writes to .bench/quick/ instead of docs/; `--render` measures nothing
 * and re-renders the report from the committed raw results.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export interface BenchConfig {
    quick: boolean;
    /** Measured repeats per figure (the median of these is reported). */
    repeats: number;
    /** Layer size of the single-image push and pull. */
    layerMb: number;
    /** Chunk sizes of the sweep (the S3 driver's `chunksize`). */
    chunksMb: number[];
    /** Concurrent pushes measured at the chosen chunk size. */
    concurrency: number[];
    /** Concurrency at which the sweep measures peak RSS (the memory budget's condition). */
    sweepConcurrency: number;
    /** Repeats of that concurrent push per chunk size. */
    sweepConcurrencyRepeats: number;
    /** The shared base layer and each image's own layer in the concurrency runs. */
    baseMb: number;
    ownMb: number;
    rssBudgetMb: number;
    /** Repeats of the pull measurements (cheap and noisy, so more of them). */
    pullRepeats: number;
    /**
     * GOMEMLIMIT of the tuning variant that replaces the program's (REGISTRY_CONTAINER_ENV, which
     * every other registry of the run gets); "off" (the default) shows what the limit buys.
     */
    tuningGoMemLimit: string;
    /** bcrypt costs tried in the tuning runs, one variant each (the program uses HTPASSWD_BCRYPT_COST). */
    tuningBcryptCosts: number[];
    /** Take a Go CPU profile of the registry (needs `go` for `go tool pprof`). */
    profile: boolean;
    /** Scratch directory (tmpfs by default, so the disk does not add noise). */
    workDir: string;
    keepWorkDir: boolean;
    /** Where BENCHMARKS.md and the SVGs go. */
    outDir: string;
    /**
     * Raw results as JSON. A full run writes them into the repository (RESULTS_JSON), so the
     * report and charts in docs/ can always be regenerated from the data they show.
     */
    resultsJson: string;
    /** Where a run keeps the Go CPU profiles it summarises (binary, so outside the repository). */
    profileDir: string;
    /** Render the report from this JSON instead of measuring. */
    fromJson?: string;
}

/** The committed raw results docs/BENCHMARKS.md and docs/bench-*.svg are rendered from. */
export const RESULTS_JSON = "bench/results/loopback.json";

/** `--render`: re-render from the results JSON (RESULTS_JSON unless BENCH_RESULTS_JSON or BENCH_FROM_JSON says otherwise). */
function parseArgs(argv: string[]): { render: boolean } {
    const unknown = argv.filter((a) => a !== "--render");
    if (unknown.length > 0) {
        throw new Error(`unknown argument(s) ${unknown.join(" ")}: the only one is --render (settings are environment variables, see bench/lib/config.ts)`);
    }
    return { render: argv.includes("--render") };
}

function num(name: string, fallback: number): number {
    const raw = process.env[name];
    if (raw === undefined || raw === "") {
        return fallback;
    }
    const value = Number(raw);
    if (!Number.isFinite(value) || value <= 0) {
        throw new Error(`${name} must be a positive number; got ${JSON.stringify(raw)}`);
    }
    return value;
}

function list(name: string, fallback: number[]): number[] {
    const raw = process.env[name];
    if (raw === undefined || raw === "") {
        return fallback;
    }
    const values = raw.split(",").map((s) => Number(s.trim()));
    if (values.length === 0 || values.some((v) => !Number.isFinite(v) || v <= 0)) {
        throw new Error(`${name} must be a comma-separated list of positive numbers; got ${JSON.stringify(raw)}`);
    }
    return values;
}

function defaultWorkDir(repoRoot: string): string {
    try {
        fs.accessSync("/dev/shm", fs.constants.W_OK);
        return path.join("/dev/shm", `registry-bench-${process.pid}`);
    } catch {
        return path.join(repoRoot, ".bench", `work-${process.pid}`);
    }
}

export function loadConfig(repoRoot: string, argv: string[] = []): BenchConfig {
    const { render } = parseArgs(argv);
    const quick = process.env.BENCH_QUICK === "1";
    const chunksMb = list("BENCH_CHUNKS_MB", quick ? [5, 10] : [5, 10, 32, 64]);
    if (chunksMb.some((c) => c < 5)) {
        throw new Error("BENCH_CHUNKS_MB: the S3 driver's minimum chunk size is 5 MB");
    }
    const concurrency = list("BENCH_CONCURRENCY", quick ? [1, 2] : [1, 4, 8]).map(Math.round);
    // The cost the program used before it lowered HTPASSWD_BCRYPT_COST, so the run shows what that bought.
    const tuningBcryptCosts = list("BENCH_TUNING_BCRYPT_COSTS", [8]);
    if (tuningBcryptCosts.some((c) => !Number.isInteger(c) || c < 4 || c > 31)) {
        throw new Error("BENCH_TUNING_BCRYPT_COSTS: bcrypt costs are integers from 4 to 31");
    }
    const resultsJson = process.env.BENCH_RESULTS_JSON
        ? path.resolve(process.env.BENCH_RESULTS_JSON)
        : quick
          ? path.join(repoRoot, ".bench", "results-quick.json")
          : path.join(repoRoot, RESULTS_JSON);
    const fromJson = process.env.BENCH_FROM_JSON ? path.resolve(process.env.BENCH_FROM_JSON) : render ? resultsJson : undefined;
    const outDir = process.env.BENCH_OUT ? path.resolve(process.env.BENCH_OUT) : quick ? path.join(repoRoot, ".bench", "quick") : path.join(repoRoot, "docs");
    return {
        quick,
        repeats: Math.round(num("BENCH_REPEATS", quick ? 1 : 3)),
        layerMb: num("BENCH_LAYER_MB", quick ? 24 : 256),
        chunksMb,
        concurrency,
        sweepConcurrency: Math.round(num("BENCH_SWEEP_CONCURRENCY", Math.max(...concurrency))),
        sweepConcurrencyRepeats: Math.round(num("BENCH_SWEEP_CONC_REPEATS", quick ? 1 : 3)),
        baseMb: num("BENCH_BASE_MB", quick ? 4 : 16),
        ownMb: num("BENCH_OWN_MB", quick ? 12 : 64),
        rssBudgetMb: num("BENCH_RSS_BUDGET_MB", 200),
        pullRepeats: Math.round(num("BENCH_PULL_REPEATS", quick ? 1 : 5)),
        tuningGoMemLimit: process.env.BENCH_GOMEMLIMIT === undefined || process.env.BENCH_GOMEMLIMIT === "" ? "off" : process.env.BENCH_GOMEMLIMIT,
        tuningBcryptCosts,
        profile: (process.env.BENCH_PROFILE ?? (quick ? "0" : "1")) === "1",
        workDir: process.env.BENCH_DIR ? path.resolve(process.env.BENCH_DIR) : defaultWorkDir(repoRoot),
        keepWorkDir: process.env.BENCH_KEEP === "1",
        outDir,
        resultsJson,
        profileDir: path.join(repoRoot, ".bench", quick ? "profiles-quick" : "profiles"),
        fromJson,
    };
}
