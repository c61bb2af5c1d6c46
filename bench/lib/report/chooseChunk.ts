/**
 * The chunk size the run recommends: the fastest single push among the sizes whose peak RSS at
 * the sweep's concurrency stays under the memory budget.
 */
import type { ProgramSettings, SweepEntry } from "../results";
import { fmt, median } from "../stats";
import { mbps, rss } from "./measures";
import { limitText } from "./program";

export interface ChunkChoice {
    chunkMb: number;
    reason: string;
}

/** Best median single-push throughput among the chunk sizes whose peak RSS at N concurrent pushes is under the budget. */
export function chooseChunk(sweep: SweepEntry[], budgetMb: number, concurrency: number, program: ProgramSettings): ChunkChoice {
    const settings = `the program's settings (${limitText(program)}, bcrypt cost ${program.bcryptCost})`;
    const rows = sweep.map((e) => ({
        chunkMb: e.chunkMb,
        push: median(mbps(e.push)),
        pushMin: Math.min(...mbps(e.push)),
        pushMax: Math.max(...mbps(e.push)),
        rssMax: Math.max(...rss(e.conc)),
    }));
    const eligible = rows.filter((r) => r.rssMax < budgetMb);
    const excluded = rows.filter((r) => !(r.rssMax < budgetMb)).map((r) => `${r.chunkMb} MB (${fmt(r.rssMax, 0)} MB)`);
    if (eligible.length === 0) {
        const lowest = [...rows].sort((a, b) => a.rssMax - b.rssMax)[0];
        const fastest = [...rows].sort((a, b) => b.push - a.push)[0];
        return {
            chunkMb: lowest.chunkMb,
            reason:
                `no chunk size kept the registry under ${budgetMb} MB at ${concurrency} concurrent pushes with ${settings}; ${lowest.chunkMb} MB had the lowest peak (${fmt(lowest.rssMax, 0)} MB)` +
                (fastest === lowest
                    ? ` and also the highest median single-push throughput (${fmt(lowest.push)} MB/s; ${rows.filter((r) => r !== lowest).map((r) => `${r.chunkMb} MB ${fmt(r.push)}`).join(", ")})`
                    : `; ${fastest.chunkMb} MB pushed fastest (${fmt(fastest.push)} MB/s against ${fmt(lowest.push)}` +
                      (fastest.pushMin <= lowest.pushMax
                          ? `, a difference inside this run's spread: ${fastest.chunkMb} MB ${fmt(fastest.pushMin)}–${fmt(fastest.pushMax)}, ${lowest.chunkMb} MB ${fmt(lowest.pushMin)}–${fmt(lowest.pushMax)})`
                          : ")")),
        };
    }
    const best = [...eligible].sort((a, b) => b.push - a.push)[0];
    const others = eligible.filter((r) => r !== best).map((r) => `${r.chunkMb} MB ${fmt(r.push)} MB/s`);
    return {
        chunkMb: best.chunkMb,
        reason:
            `highest median single-push throughput (${fmt(best.push)} MB/s) of the chunk sizes that keep peak RSS under ${budgetMb} MB at ${concurrency} concurrent pushes with ${settings} ` +
            `(${best.chunkMb} MB peaked at ${fmt(best.rssMax, 0)} MB` +
            (others.length ? `; other eligible: ${others.join(", ")}` : "") +
            (excluded.length ? `; over budget: ${excluded.join(", ")}` : "") +
            ")",
    };
}
