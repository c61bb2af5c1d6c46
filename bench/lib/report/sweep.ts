/** "## Chunk size sweep and the default": throughput and peak RSS by chunk size, and the size chosen. */
import type { Results } from "../results";
import { fmtSummary, summarize } from "../stats";
import { chunkDefaultNote, memoryLimitNote } from "./chunkNotes";
import { peakRisesWithChunk } from "./conclusions";
import { row, sep } from "./markdown";
import { rss, sumMb } from "./measures";

export function sweepSection(results: Results, chartFiles: string[]): string[] {
    const cfg = results.meta.config;
    const L: string[] = [];
    L.push("## Chunk size sweep and the default");
    L.push("");
    L.push(row(["chunk size", "push MB/s (1 push)", `${cfg.sweepConcurrency} concurrent: aggregate MB/s`, `${cfg.sweepConcurrency} concurrent: peak RSS`, `under ${cfg.rssBudgetMb} MB?`]));
    L.push(sep(5));
    for (const e of results.sweep) {
        const peak = Math.max(...rss(e.conc));
        L.push(row([`${e.chunkMb} MB`, sumMb(e.push), sumMb(e.conc), `${fmtSummary(summarize(rss(e.conc)), 0)} MB`, peak < cfg.rssBudgetMb ? "yes" : "no"]));
    }
    L.push("");
    L.push(`The concurrent runs here are ${cfg.sweepConcurrencyRepeats} per chunk size (median (min–max) of those); the budget check uses the highest peak.`);
    L.push("");
    L.push(`**Chosen: ${results.chosen.chunkMb} MB**, ${chunkDefaultNote(results)} — ${results.chosen.reason}.${memoryLimitNote(results)}`);
    L.push("");
    if (peakRisesWithChunk(results)) {
        L.push(`Peak RSS rose with every larger chunk size at ${cfg.sweepConcurrency} concurrent pushes (${cfg.sweepConcurrency * 2} uploads at once: each image's base and own layer), `
            + "as it should if the S3 driver buffers a whole part per upload before it sends it; see **Memory** under [Where the time goes](#where-the-time-goes).");
        L.push("");
    }
    for (const file of chartFiles.filter((f) => f.startsWith("bench-chunk"))) {
        L.push(`![${file}](${file})`);
        L.push("");
    }
    return L;
}
