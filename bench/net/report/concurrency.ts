/**
 * Per profile: (b) pushed 1, 3 and 5 layers at once, each push as a ratio to the baseline, to
 * the peer and to the path limit, with the verdicts. Results recorded before these pushes were
 * measured say so instead of showing nothing. Pure.
 */
import { allSamples, judgeConcurrentPushes, pairedRatio, pathRatio, throughput } from "../analysis";
import { pushPathLimit } from "../pathLimit";
import { PUSH_CONCURRENCIES } from "../pool";
import { LINKS } from "../profiles";
import { B_PUSH_BY_CONCURRENCY, type ProfileRun, type Variant } from "../results";
import { fmt, fmtRatio, fmtSpread, table, VARIANT_NAMES } from "./format";

const VARIANTS: Variant[] = ["baseline", "ours", "peer"];

export const NOT_MEASURED = "Not measured in this run: its results predate the pushes of (b) with 3 and 5 layers at once.";

/** Whether the run holds any push of (b) with more than one layer at once. */
export const measuredConcurrent = (run: ProfileRun) => allSamples(run, "ours", "b-push-3").length + allSamples(run, "ours", "b-push-5").length > 0;

/** The path limit as a sentence, from the probe. */
export function pathLimitSentence(run: ProfileRun): string {
    const limit = pushPathLimit(run.probe);
    if (limit === undefined) {
        return "The probe did not measure both links of the push's path, so no path limit is given.";
    }
    const up = (link: (typeof LINKS)[number]) => run.probe.find((m) => m.link === link)?.upMbit ?? Number.NaN;
    return `Path limit: ${fmt(limit.mibps)} MiB/s, the slower of runner–droplet (${fmt(up("ci-droplet"), 0)} Mbit/s) and droplet–S3 (${fmt(up("droplet-s3"), 0)} Mbit/s) as the probe measured them in the push's direction; ${limit.link} sets it.`;
}

/** One row per concurrency and variant measured; empty without any. */
export function concurrencyRows(run: ProfileRun): string[][] {
    const rows: string[][] = [];
    for (const n of PUSH_CONCURRENCIES) {
        const w = B_PUSH_BY_CONCURRENCY[n];
        for (const v of VARIANTS) {
            const all = allSamples(run, v, w);
            if (all.length === 0) {
                continue;
            }
            const failed = all.filter((s) => !s.ok).length;
            rows.push([
                String(n),
                VARIANT_NAMES[v],
                fmtSpread(throughput(run, v, w)),
                v === "baseline" ? "1" : fmtRatio(pairedRatio(run, v, "baseline", w)),
                v === "ours" ? fmtRatio(pairedRatio(run, "ours", "peer", w)) : "—",
                fmtRatio(pathRatio(run, v, w)),
                failed === 0 ? `${all.length}` : `${all.length - failed} (${failed} failed)`,
            ]);
        }
    }
    return rows;
}

/** The verdicts as list items. */
export function concurrencyVerdicts(run: ProfileRun): string[] {
    return judgeConcurrentPushes(run).map(
        (g) => `${g.name} (${g.target}): ${g.measured}, ${g.met === undefined ? "not judged" : g.met ? "met" : g.roundsDisagree ? "**missed** on the median; at least one round reached it" : "**missed**"}.`,
    );
}

export function concurrencySection(run: ProfileRun): string {
    if (run.series.length === 0) {
        return "";
    }
    const heading = "### Pushes of (b), 1, 3 and 5 layers at once";
    if (!measuredConcurrent(run)) {
        return [heading, "", NOT_MEASURED].join("\n");
    }
    return [
        heading,
        "",
        "Real clients push an image's layers in parallel: docker 5 at once by default (bench/net/pool.ts cites the sources). Each of the three pushes has its own bytes (the same sizes), so none finds its blobs already stored; the baseline uploads as many objects to S3 at once. Ratios per round, median (min–max): vs baseline and vs peer are their seconds over these; vs path limit is this push's MiB/s over the path limit (the baseline's own path is runner–S3, so its figure there is for comparison only).",
        "",
        pathLimitSentence(run),
        "",
        table(["layers at once", "variant", "MiB/s", "vs baseline", "ours vs peer", "vs path limit", "samples"], concurrencyRows(run)),
        "",
        ...concurrencyVerdicts(run).map((v) => `- ${v}`),
    ].join("\n");
}
