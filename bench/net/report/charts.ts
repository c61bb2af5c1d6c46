/** One chart per profile: each variant's speed relative to the baseline, per workload. Pure. */
import { renderBarChart } from "../../lib/svg";
import { pairedRatio } from "../analysis";
import { WORKLOADS, type NetworkResults, type ProfileRun, type Variant } from "../results";
import { VARIANT_NAMES, WORKLOAD_NAMES } from "./format";

const COLOURS: Partial<Record<Variant, string>> = { ours: "#2b6cb0", "ours-noredirect": "#90cdf4", peer: "#dd6b20" };

export const chartFile = (run: ProfileRun) => `bench-net-${run.profile}.svg`;

export function profileChart(run: ProfileRun): string | undefined {
    const groups = WORKLOADS.map((w) => ({
        label: WORKLOAD_NAMES[w].replace(/,.*$/, ""),
        bars: (Object.keys(COLOURS) as Variant[])
            .map((v) => ({ v, r: pairedRatio(run, v, "baseline", w) }))
            .filter(({ r }) => r.n > 0)
            .map(({ v, r }) => ({ series: VARIANT_NAMES[v], median: r.median, min: r.min, max: r.max, label: r.median.toFixed(2) })),
    })).filter((g) => g.bars.length > 0);
    if (groups.length === 0) {
        return undefined;
    }
    return renderBarChart({
        title: `Speed relative to going straight to S3 (${run.profile} profile)`,
        subtitle: "baseline seconds / variant seconds, paired per round; median with min–max",
        yLabel: "x baseline",
        groups,
        series: Object.fromEntries((Object.entries(COLOURS) as [Variant, string][]).map(([v, c]) => [VARIANT_NAMES[v], c])),
        reference: { value: 1, label: "baseline" },
    });
}

/** Every chart the results support, by file name. */
export function renderCharts(r: NetworkResults): Record<string, string> {
    const out: Record<string, string> = {};
    for (const run of r.profiles) {
        const svg = profileChart(run);
        if (svg !== undefined) {
            out[chartFile(run)] = svg;
        }
    }
    return out;
}
