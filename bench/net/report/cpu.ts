/** Per profile: CPU per GiB of the registry and the front, and what it means for a droplet's size. Pure. */
import { cpuPerGiB, gibPerMinutePerCore, okSamples, throughput } from "../analysis";
import type { ProfileRun, Variant, Workload } from "../results";
import { fmt, table } from "./format";

interface CpuRow {
    label: string;
    variant: Variant;
    workload: Workload;
}

const ROWS: CpuRow[] = [
    { label: "push of (a)", variant: "ours", workload: "a-push" },
    { label: "push of (b)", variant: "ours", workload: "b-push" },
    { label: "pull of (a), redirect on", variant: "ours", workload: "a-pull" },
    { label: "pull of (a), redirect off", variant: "ours-noredirect", workload: "a-pull" },
];

export function cpuFigures(run: ProfileRun, variant: Variant, workload: Workload) {
    const samples = okSamples(run, variant, workload);
    const registry = cpuPerGiB(samples, "registry");
    const front = cpuPerGiB(samples, "front");
    return { registry, front, both: registry + front };
}

/**
 * The droplet-size advice: GiB per minute one vCPU at 100% could push (registry + front CPU),
 * against the link's measured push rate; empty without push figures.
 */
export function adviceSentences(run: ProfileRun): string[] {
    const push = cpuFigures(run, "ours", "a-push");
    const rate = throughput(run, "ours", "a-push");
    if (!(push.both > 0) || rate.n === 0) {
        return [];
    }
    const cpuLimit = gibPerMinutePerCore(push.both);
    const linkRate = (rate.median * 60) / 1024;
    const out = [
        `Pushing costs the registry and the front ${fmt(push.both, 2)} CPU seconds per GiB together, so one vCPU at 100% would push at most ${fmt(cpuLimit, 1)} GiB/min; over the ${run.profile} link a push of (a) ran at ${fmt(linkRate, 2)} GiB/min, ${fmt((linkRate / cpuLimit) * 100, 0)}% of that core.`,
    ];
    out.push(
        linkRate < cpuLimit
            ? `At this link rate a 1-vCPU droplet's CPU is not what limits a push.`
            : `At this link rate one push would need more than one vCPU; the link is faster than a 1-vCPU droplet can push.`,
    );
    const pullOff = cpuFigures(run, "ours-noredirect", "a-pull");
    const pullOn = cpuFigures(run, "ours", "a-pull");
    if (pullOff.both > 0 && pullOn.both >= 0 && Number.isFinite(pullOn.both)) {
        out.push(`A pull costs the droplet ${fmt(pullOn.both, 2)} CPU s/GiB with redirect on and ${fmt(pullOff.both, 2)} with it off (bytes through the front): one vCPU could serve ${fmt(gibPerMinutePerCore(pullOff.both), 1)} GiB/min of pulls through the front.`);
    }
    return out;
}

export function cpuSection(run: ProfileRun): string {
    const rows = ROWS.map((r) => {
        const f = cpuFigures(run, r.variant, r.workload);
        return [r.label, fmt(f.registry, 2), fmt(f.front, 2), fmt(f.both, 2)];
    }).filter((r) => r[3] !== "n/a");
    if (rows.length === 0) {
        return "";
    }
    return [
        "### CPU per GiB (the program's registry and front)",
        "",
        "CPU seconds (utime + stime from /proc) per GiB moved, summed over the rounds, on this run's host CPU (see the top); a droplet's vCPU may be slower or faster.",
        "",
        table(["operation", "registry", "front", "together"], rows),
        "",
        ...adviceSentences(run),
    ].join("\n");
}
