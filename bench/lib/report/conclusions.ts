/**
 * The tests behind the report's sentences of conclusion: each returns what the data shows, or
 * undefined / false when it does not show it, and the sections print a sentence only then.
 */
import type { Results, TuningVariant } from "../results";
import { median } from "../stats";
import { cpuPerGiB, mbps, rss } from "./measures";
import { variantOf } from "./program";

/** A chunk size that pushed faster than the chosen one but was over the memory budget: the budget, not speed, decided. */
export function fasterOverBudget(results: Results): { chunkMb: number; push: number; chosenPush: number; peak: number } | undefined {
    const budget = results.meta.config.rssBudgetMb;
    const chosen = results.sweep.find((e) => e.chunkMb === results.chosen.chunkMb);
    if (!chosen) {
        return undefined;
    }
    const chosenPush = median(mbps(chosen.push));
    const faster = results.sweep
        .map((e) => ({ chunkMb: e.chunkMb, push: median(mbps(e.push)), chosenPush, peak: Math.max(...rss(e.conc)) }))
        .filter((r) => r.chunkMb !== chosen.chunkMb && !(r.peak < budget) && r.push > chosenPush)
        .sort((a, b) => b.push - a.push);
    return faster[0];
}

/** Peak RSS of the tuning runs with the program's GOMEMLIMIT and without it, when the limit lowered the peak. */
export function memoryLimitLowersPeak(results: Results): { withPeak: number; withoutPeak: number } | undefined {
    const base = variantOf(results, "program")[0];
    const mem = variantOf(results, "memlimit")[0];
    if (!base || !mem) {
        return undefined;
    }
    const withPeak = Math.max(...rss(base.push));
    const withoutPeak = Math.max(...rss(mem.push));
    return withPeak < withoutPeak ? { withPeak, withoutPeak } : undefined;
}

/** The bcrypt variants that cost the registry more CPU per GiB than the program's cost (so the program's lower cost pays). */
export function costlierBcrypt(results: Results): TuningVariant[] {
    const base = variantOf(results, "program")[0];
    if (!base) {
        return [];
    }
    const baseCpu = cpuPerGiB(base.push).registry;
    return variantOf(results, "bcrypt").filter((bc) => cpuPerGiB(bc.push).registry > baseCpu);
}

/** Whether the registry spent less CPU per GiB on a redirected pull than on a streamed one. */
export function redirectSavesRegistryCpu(results: Results): boolean {
    return cpuPerGiB(results.pull.redirectOn).registry < cpuPerGiB(results.pull.redirectOff).registry;
}

/** Whether peak RSS at the sweep's concurrency rose with every larger chunk size. */
export function peakRisesWithChunk(results: Results): boolean {
    const peaks = [...results.sweep].sort((a, b) => a.chunkMb - b.chunkMb).map((e) => Math.max(...rss(e.conc)));
    return peaks.length > 1 && peaks.every((p, i) => i === 0 || p > peaks[i - 1]);
}

/** Whether a client's CPU time was about one core's worth of the wall time (a single-threaded client that is the bottleneck). */
export function clientBound(clientCores: number): boolean {
    return clientCores >= 0.9;
}

/** Whether the machine's cores were (nearly) all busy. */
export function saturated(machineCores: number, cpus: number): boolean {
    return machineCores >= cpus * 0.9;
}
