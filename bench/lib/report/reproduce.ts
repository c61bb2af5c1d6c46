/** "## Reproduce": the commands and settings that produce this report. */
import type { Results } from "../results";

export function reproduceSection(results: Results): string[] {
    const cfg = results.meta.config;
    const L: string[] = [];
    L.push("## Reproduce");
    L.push("");
    L.push("```sh");
    L.push("npm ci");
    L.push("bash scripts/install-rehearsal-tools.sh   # registry + versitygw into .cache/bin, skopeo");
    L.push("npm run bench                              # ~10-15 min on 2 cores; rewrites bench/results/loopback.json, this file and docs/bench-*.svg");
    L.push("npm run bench -- --render                  # no measuring: this file and docs/bench-*.svg from bench/results/loopback.json");
    L.push("BENCH_QUICK=1 npm run bench                # ~2 min smoke run, writes .bench/quick/ instead");
    L.push("```");
    L.push("");
    L.push("Settings (environment): `BENCH_REPEATS` (3), `BENCH_LAYER_MB` (256), `BENCH_CHUNKS_MB` (5,10,32,64), `BENCH_CONCURRENCY` (1,4,8), "
        + "`BENCH_SWEEP_CONCURRENCY` (the highest level), `BENCH_SWEEP_CONC_REPEATS` (3), `BENCH_BASE_MB` (16), `BENCH_OWN_MB` (64), `BENCH_RSS_BUDGET_MB` (200), "
        + "`BENCH_GOMEMLIMIT` (off: the tuning variant's GOMEMLIMIT), `BENCH_TUNING_BCRYPT_COSTS` (8: one tuning variant per cost), "
        + "`BENCH_PROFILE` (1; needs `go` for `go tool pprof`), `BENCH_DIR` (scratch, default under /dev/shm), `BENCH_KEEP=1`, `BENCH_OUT` (output directory), "
        + "`BENCH_RESULTS_JSON` (raw results, default bench/results/loopback.json; `--render` reads them from there) and `BENCH_FROM_JSON` (re-render from another results file).");
    L.push("");
    L.push(`This run: ${JSON.stringify({ repeats: cfg.repeats, layerMb: cfg.layerMb, chunksMb: cfg.chunksMb, concurrency: cfg.concurrency, sweepConcurrency: cfg.sweepConcurrency, sweepConcurrencyRepeats: cfg.sweepConcurrencyRepeats, baseMb: cfg.baseMb, ownMb: cfg.ownMb, rssBudgetMb: cfg.rssBudgetMb })}.`);
    L.push("");
    return L;
}
