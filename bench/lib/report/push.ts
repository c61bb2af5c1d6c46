/** "## Push": one layer through the registry against the raw S3 PUT, by chunk size. */
import type { Results } from "../results";
import { fmtSummary, ratio, summarize } from "../stats";
import { row, sep } from "./markdown";
import { fmtRatio, mbps, rss, sumMb } from "./measures";

export function pushSection(results: Results): string[] {
    const cfg = results.meta.config;
    const L: string[] = [];
    L.push(`## Push: one ${cfg.layerMb} MB layer`);
    L.push("");
    L.push(row(["chunk size", "raw S3 PUT MB/s", "registry push MB/s", "push / raw PUT", "registry peak RSS, 1 push"]));
    L.push(sep(5));
    for (const e of results.sweep) {
        const mark = e.chunkMb === results.chosen.chunkMb ? " **(chosen)**" : "";
        L.push(row([`${e.chunkMb} MB${mark}`, sumMb(e.put), sumMb(e.push), fmtRatio(ratio(mbps(e.push), mbps(e.put))), `${fmtSummary(summarize(rss(e.push)), 0)} MB`]));
    }
    L.push("");
    return L;
}
