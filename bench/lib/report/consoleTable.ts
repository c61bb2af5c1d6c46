/** The short table `npm run bench` prints to the console. */
import type { Results } from "../results";
import type { Sample } from "../rig";
import { fmt, ratio } from "../stats";
import { chunkDefaultNote, memoryLimitNote } from "./chunkNotes";
import { chunkEntry, fmtRatio, mbps, rss, sumMb } from "./measures";

export function renderTable(results: Results): string {
    const lines: string[] = [];
    const pad = (s: string, n: number) => s.padEnd(n);
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    lines.push("");
    lines.push(`Registry benchmark (${results.meta.startedAt}, ${results.meta.durationSeconds.toFixed(0)} s; MB = MiB; median (min–max) of ${results.meta.config.repeats})`);
    lines.push(pad("measurement", 52) + pad("MB/s", 24) + "ratio to baseline (paired)");
    const add = (name: string, samples: Sample[], base?: Sample[]) =>
        lines.push(pad(name, 52) + pad(sumMb(samples), 24) + (base ? fmtRatio(ratio(mbps(samples), mbps(base))) : "baseline"));
    for (const e of results.sweep) {
        add(`raw S3 PUT, ${e.chunkMb} MB parts`, e.put);
        add(`push, ${e.chunkMb} MB chunks${e.chunkMb === results.chosen.chunkMb ? " (chosen)" : ""}`, e.push, e.put);
        add(`${results.meta.config.sweepConcurrency} concurrent, ${e.chunkMb} MB chunks (RSS ${fmt(Math.max(...rss(e.conc)), 0)} MB)`, e.conc);
    }
    add("raw S3 GET", results.pull.get);
    add("pull, redirect on", results.pull.redirectOn, results.pull.get);
    add("pull, redirect off", results.pull.redirectOff, results.pull.get);
    if (results.pull.clientOn?.length) {
        add("blob GET via registry (Node client), redirect on", results.pull.clientOn, results.pull.get);
        add("blob GET via registry (Node client), redirect off", results.pull.clientOff ?? [], results.pull.get);
    }
    for (const l of results.concurrency.levels) {
        add(`raw S3 PUT, ${l.n} images at once`, l.put);
        add(`${l.n} concurrent pushes (RSS ${fmt(Math.max(...rss(l.push)), 0)} MB)`, l.push, l.put);
    }
    add("filesystem driver push", results.filesystem.push, results.filesystem.put);
    add("filesystem driver pull", results.filesystem.pull, results.filesystem.get);
    lines.push("");
    lines.push(`chosen chunk size: ${results.chosen.chunkMb} MB, ${chunkDefaultNote(results)} — ${results.chosen.reason}.${memoryLimitNote(results)}`.replace(/`|\*\*/g, ""));
    lines.push(`single push at chosen size: ${sumMb(chosen.push)} MB/s`);
    lines.push("");
    lines.push("goals:");
    for (const g of results.goals) {
        lines.push(`  ${g.met ? "MET   " : "MISSED"} ${pad(g.name, 62)} goal ${pad(g.goal, 22)} measured ${g.measured}`);
    }
    lines.push("");
    return lines.join("\n");
}
