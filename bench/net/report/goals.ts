/**
 * The goals (judged on the near profile) and, for each one missed, where the time went: the
 * client's per-request timings, the S3 server's requests and the registry's CPU. Pure.
 */
import { judgeNetworkGoals, meanRequests, meanS3Ops, okSamples, PATH_GOAL_NAME, type NetworkGoal } from "../analysis";
import type { OpSample, ProfileRun, Variant, Workload } from "../results";
import { fmt, table, VARIANT_NAMES, WORKLOAD_NAMES } from "./format";

/** The requests that move a layer's bytes; every other request is a round trip around them. */
const DATA_KINDS = ["PATCH data", "GET bytes from S3", "GET bytes through the registry"];

/** One line on where a variant's time went on a workload (means per operation); empty without samples. */
export function breakdown(run: ProfileRun, variant: Variant, workload: Workload): string {
    const samples: OpSample[] = okSamples(run, variant, workload);
    if (samples.length === 0) {
        return "";
    }
    const wall = samples.reduce((n, s) => n + s.seconds, 0) / samples.length;
    const requests = Object.entries(meanRequests(samples))
        .sort((a, b) => b[1].seconds - a[1].seconds)
        .map(([kind, t]) => `${kind} ${fmt(t.seconds, 2)} s over ${fmt(t.count, 0)}`);
    const byKind = Object.entries(meanRequests(samples));
    const clientTotal = byKind.reduce((n, [, t]) => n + t.seconds, 0);
    const dataTime = byKind.filter(([kind]) => DATA_KINDS.includes(kind)).reduce((n, [, t]) => n + t.seconds, 0);
    const s3 = Object.entries(meanS3Ops(samples))
        .sort((a, b) => b[1] - a[1])
        .map(([op, n]) => `${op} ${fmt(n, 0)}`);
    const cpu = samples.filter((s) => s.cpu.registry !== null);
    const registryCpu = cpu.length ? cpu.reduce((n, s) => n + (s.cpu.registry ?? 0), 0) / cpu.length : Number.NaN;
    const blobs = meanRequests(samples)["PUT commit"]?.count ?? 0;
    const s3Total = Object.values(meanS3Ops(samples)).reduce((a, b) => a + b, 0);
    return (
        `${VARIANT_NAMES[variant]}, ${WORKLOAD_NAMES[workload]}: ${fmt(wall, 2)} s per operation (mean of ${samples.length})` +
        (requests.length ? `; client time by request${workload === "b-push-3" || workload === "b-push-5" ? " (summed over requests in flight together, so it can exceed the wall time)" : ""}: ${requests.join(", ")}` : "") +
        (clientTotal > 0 ? ` (requests that carry no layer bytes: ${fmt(((clientTotal - dataTime) / clientTotal) * 100, 0)}% of it)` : "") +
        (s3.length ? `; S3 requests: ${s3.join(", ")}` : "") +
        (blobs > 0 && s3Total > 0 ? ` (${fmt(s3Total / blobs, 1)} S3 requests per blob)` : "") +
        (Number.isFinite(registryCpu) ? `; registry CPU ${fmt(registryCpu, 2)} s` : "") +
        "."
    );
}

/** For each missed goal, the measured breakdowns that show where the time went. */
export function missedGoalNotes(run: ProfileRun, goals: NetworkGoal[]): string[] {
    const notes: string[] = [];
    const pair = (workload: Workload, a: Variant, b: Variant) => [breakdown(run, a, workload), breakdown(run, b, workload)].filter((l) => l !== "");
    for (const g of goals) {
        if (g.met !== false) {
            continue;
        }
        if (g.name === PATH_GOAL_NAME) {
            // The baseline crosses one link, not the path: set ours beside it all the same, as its nearest reference.
            notes.push(...pair("b-push-5", "ours", "baseline"));
        } else if (g.name.startsWith("push of (b)")) {
            notes.push(...pair("b-push", "ours", "baseline"));
        } else if (g.name.startsWith("pull of (a)")) {
            notes.push(...pair("a-pull", "ours", "baseline"));
        } else if (g.name.startsWith("(d)")) {
            notes.push(...okSamples(run, "ours", "d-push").length ? [breakdown(run, "ours", "d-push")] : []);
            const failed = run.series.find((s) => s.variant === "ours" && s.workload === "d-push")?.samples.filter((s) => !s.ok) ?? [];
            notes.push(...failed.map((s) => `round ${s.round + 1}: ${s.error ?? "failed"}`));
        } else if (g.name.startsWith("ours vs peer, ")) {
            const w = g.name.slice("ours vs peer, ".length) as Workload;
            notes.push(...pair(w, "ours", "peer"));
        }
    }
    return [...new Set(notes)];
}

export function goalsSection(run: ProfileRun | undefined): string {
    if (run === undefined || run.series.length === 0) {
        return ["## Goals", "", "The goals are judged on the near profile, which was not measured in this run."].join("\n");
    }
    const goals = judgeNetworkGoals(run);
    const rows = goals.map((g) => [g.name, g.target, g.measured, g.met === undefined ? "not judged" : g.met ? "met" : g.roundsDisagree ? "**missed** on the median; at least one round reached it" : "**missed** in every round"]);
    const missed = goals.filter((g) => g.met === false);
    const notes = missedGoalNotes(run, goals);
    return [
        `## Goals (${run.profile} profile, ratios within one run)`,
        "",
        table(["goal", "target", "measured: median (min–max)", "verdict"], rows),
        "",
        missed.length === 0
            ? `Every goal that could be judged was met (${goals.filter((g) => g.met === true).length} of ${goals.length}).`
            : `${missed.length} of ${goals.length} goals missed: ${missed.map((g) => g.name).join("; ")}.`,
        ...(notes.length ? ["", "Where the time went (means per operation, from the client's request timings, the S3 server's access log and /proc):", "", ...notes.map((n) => `- ${n}`)] : []),
    ].join("\n");
}
