/** "## Filesystem driver, for reference": the registry without S3, next to the S3 driver. */
import type { Results } from "../results";
import { fmtSummary, ratio, summarize } from "../stats";
import { row, sep } from "./markdown";
import { chunkEntry, fmtRatio, mbps, rss, sumMb } from "./measures";

export function filesystemSection(results: Results, chartFiles: string[]): string[] {
    const m = results.meta;
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const L: string[] = [];
    L.push("## Filesystem driver, for reference");
    L.push("");
    L.push(row(["operation", "MB/s", "ratio to the raw S3 baseline of the same run", "registry peak RSS"]));
    L.push(sep(4));
    L.push(row(["push, filesystem driver", sumMb(results.filesystem.push), `${fmtRatio(ratio(mbps(results.filesystem.push), mbps(results.filesystem.put)))} of raw PUT`, `${fmtSummary(summarize(rss(results.filesystem.push)), 0)} MB`]));
    L.push(row(["pull, filesystem driver", sumMb(results.filesystem.pull), `${fmtRatio(ratio(mbps(results.filesystem.pull), mbps(results.filesystem.get)))} of raw GET`, `${fmtSummary(summarize(rss(results.filesystem.pull)), 0)} MB`]));
    L.push(row(["push, S3 driver (chosen chunk, from above)", sumMb(chosen.push), `${fmtRatio(ratio(mbps(chosen.push), mbps(chosen.put)))} of raw PUT`, `${fmtSummary(summarize(rss(chosen.push)), 0)} MB`]));
    L.push("");
    L.push(`The filesystem driver writes to ${m.workDirFs} here, so it shows the registry's own cost without any S3 round trips: the gap between the two push rows is what the S3 driver adds.`);
    L.push("");
    if (chartFiles.includes("bench-pull.svg")) {
        L.push("![bench-pull.svg](bench-pull.svg)");
        L.push("");
    }
    return L;
}
