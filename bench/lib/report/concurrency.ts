/** "## Concurrent pushes": aggregate throughput, errors, verification and memory by concurrency. */
import type { Results } from "../results";
import { fmt, fmtSummary, median, ratio, summarize } from "../stats";
import { row, sep } from "./markdown";
import { fmtRatio, mbps, rss, sumMb } from "./measures";

export function concurrencySection(results: Results, chartFiles: string[]): string[] {
    const L: string[] = [];
    L.push(`## Concurrent pushes (${results.concurrency.chunkMb} MB chunks)`);
    L.push("");
    L.push(row(["concurrent images", "raw S3 PUT MB/s (same objects, all at once)", "registry aggregate MB/s", "ratio", "errors", "verified on pull", "base layer uploaded", "registry peak RSS"]));
    L.push(sep(8));
    for (const l of results.concurrency.levels) {
        const errors = l.push.reduce((s, x) => s + x.errors, 0);
        const verified = l.push.reduce((s, x) => s + (x.verified ?? 0), 0);
        const expected = l.push.reduce((s, x) => s + (x.expected ?? 0), 0);
        const base = l.push.map((x) => x.baseUploads ?? 0);
        L.push(row([
            String(l.n),
            sumMb(l.put),
            sumMb(l.push),
            fmtRatio(ratio(mbps(l.push), mbps(l.put))),
            String(errors),
            `${verified}/${expected}`,
            `${fmt(median(base), 0)}× (${Math.min(...base)}–${Math.max(...base)})`,
            `${fmtSummary(summarize(rss(l.push)), 0)} MB`,
        ]));
    }
    L.push("");
    L.push("Aggregate MB/s counts every image's layers once per image (what the clients sent or would have sent). When a push finds the shared base layer already committed by another, "
        + "skopeo skips it; \"base layer uploaded\" counts the uploads the registry actually completed, from its access log. Errors are skopeo exits other than 0 (it runs with `--retry-times 0`); "
        + "verification pulls every image back after the run and checks every blob against its digest.");
    const failures = results.concurrency.levels.flatMap((l) => l.push.flatMap((s) => s.messages ?? []));
    if (failures.length > 0) {
        L.push("");
        L.push("Failures:");
        for (const f of failures.slice(0, 20)) {
            L.push(`- \`${f.replace(/`/g, "'")}\``);
        }
    }
    L.push("");
    if (chartFiles.includes("bench-concurrency.svg")) {
        L.push("![bench-concurrency.svg](bench-concurrency.svg)");
        L.push("");
    }
    return L;
}
