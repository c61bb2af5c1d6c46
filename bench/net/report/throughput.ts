/** Per profile: every variant on every workload, as throughput and as a ratio to the baseline. Pure. */
import { allSamples, pairedRatio, throughput } from "../analysis";
import { WORKLOADS, type ProfileRun, type Variant } from "../results";
import { fmtRatio, fmtSpread, table, VARIANT_NAMES, WORKLOAD_NAMES } from "./format";

const VARIANTS: Variant[] = ["baseline", "ours", "ours-noredirect", "peer"];

export function throughputSection(run: ProfileRun): string {
    const rows: string[][] = [];
    for (const w of WORKLOADS) {
        for (const v of VARIANTS) {
            const all = allSamples(run, v, w);
            if (all.length === 0) {
                continue;
            }
            const failed = all.filter((s) => !s.ok).length;
            rows.push([
                WORKLOAD_NAMES[w],
                VARIANT_NAMES[v],
                fmtSpread(throughput(run, v, w), 1),
                v === "baseline" ? "1" : fmtRatio(pairedRatio(run, v, "baseline", w)),
                failed === 0 ? `${all.length}` : `${all.length - failed} (${failed} failed)`,
            ]);
        }
    }
    if (rows.length === 0) {
        return "";
    }
    return [
        "### Throughput and ratio to the baseline",
        "",
        "MiB/s of the whole operation (first request to last answer), median (min–max) over rounds; the ratio is baseline seconds over variant seconds, per round (above 1 = faster than going straight to S3).",
        "",
        table(["workload", "variant", "MiB/s", "vs baseline", "samples"], rows),
    ].join("\n");
}
