/**
 * Sentences about the chosen chunk size that the recommendations, the sweep section and the
 * console table share: whether it is the program's default, and what the tuning runs say about
 * the memory limit and the next larger size.
 */
import type { Results } from "../results";
import { fmt, ratio } from "../stats";
import { fmtRatio, mbps, rss } from "./measures";
import { limitText, memVariantText, programOf, variantOf } from "./program";

/** Whether the chunk size the run chose is the program's default, in words. */
export function chunkDefaultNote(results: Results): string {
    const p = programOf(results);
    return results.chosen.chunkMb === p.chunkMb
        ? `the program's default (\`DEFAULTS.s3ChunkSizeMb\` = ${p.chunkMb})`
        : `**not** the program's default (\`DEFAULTS.s3ChunkSizeMb\` = ${p.chunkMb}); the sections below measure ${results.chosen.chunkMb} MB`;
}

/** What the tuning runs say about the memory limit and the next larger chunk size. */
export function memoryLimitNote(results: Results): string {
    const t = results.tuning;
    const base = variantOf(results, "program")[0];
    const mem = variantOf(results, "memlimit")[0];
    const larger = variantOf(results, "chunk")[0];
    if (!t || !base || t.chunkMb !== results.chosen.chunkMb) {
        return "";
    }
    const budget = results.meta.config.rssBudgetMb;
    const limit = limitText(programOf(results));
    const basePeak = Math.max(...rss(base.push));
    let note = "";
    if (mem) {
        const peak = Math.max(...rss(mem.push));
        note += ` Every registry of the sweep runs with ${limit}, as deployed; ${memVariantText(mem)} the same ${t.n} concurrent pushes at ${t.chunkMb} MB peaked at ${fmt(peak, 0)} MB `
            + `(${peak < budget ? "under" : "over"} the ${budget} MB budget) against ${fmt(basePeak, 0)} MB with it, `
            + `and pushed at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed configuration's throughput.`;
    }
    if (larger) {
        const peak = Math.max(...rss(larger.push));
        note += peak >= budget
            ? ` The next larger size does not fit even with the limit: ${larger.name} peaked at ${fmt(peak, 0)} MB.`
            : ` The next larger size fits too with the limit: ${larger.name} peaked at ${fmt(peak, 0)} MB at ${fmtRatio(ratio(mbps(larger.push), mbps(base.push)))} the deployed throughput.`;
    }
    return note;
}
