/** Per profile: ours against the peer on each workload, and which wins where the data says so. Pure. */
import { pairedRatio, winner } from "../analysis";
import { WORKLOADS, type ProfileRun } from "../results";
import { fmtRatio, table, WORKLOAD_NAMES } from "./format";
import { breakdown } from "./goals";

/** One sentence per workload: who won, when every round agrees; otherwise that the rounds disagree. */
export function peerVerdicts(run: ProfileRun): string[] {
    const out: string[] = [];
    for (const w of WORKLOADS) {
        const r = pairedRatio(run, "ours", "peer", w);
        if (r.n === 0) {
            continue;
        }
        const win = winner(run, "ours", "peer", w);
        const spread = `${r.min.toFixed(2)}–${r.max.toFixed(2)}x over ${r.n} round(s)`;
        if (win === "ours") {
            out.push(`${WORKLOAD_NAMES[w]}: ours was faster than the peer in every round (${spread}).`);
        } else if (win === "peer") {
            out.push(`${WORKLOAD_NAMES[w]}: the peer was faster than ours in every round (ours at ${r.min.toFixed(2)}–${r.max.toFixed(2)}x the peer's speed over ${r.n} rounds).`);
        } else if (r.n < 2) {
            out.push(`${WORKLOAD_NAMES[w]}: no winner named from a single round (${spread}).`);
        } else {
            out.push(`${WORKLOAD_NAMES[w]}: no winner; the rounds disagree (${spread}).`);
        }
    }
    return out;
}

export function peerSection(run: ProfileRun): string {
    const rows = WORKLOADS.map((w) => [WORKLOAD_NAMES[w], fmtRatio(pairedRatio(run, "ours", "peer", w))]).filter((r) => r[1] !== "—");
    if (rows.length === 0) {
        return "";
    }
    return [
        "### Ours vs the peer",
        "",
        "Peer seconds over ours, per round (above 1 = ours faster).",
        "",
        table(["workload", "ours vs peer"], rows),
        "",
        ...peerVerdicts(run).map((s) => `- ${s}`),
        ...whyLines(run),
    ].join("\n");
}

/** Where a workload has a winner, both sides' measured breakdowns: the data that says why. */
export function whyLines(run: ProfileRun): string[] {
    const lines = WORKLOADS.filter((w) => winner(run, "ours", "peer", w) !== undefined).flatMap((w) => [breakdown(run, "ours", w), breakdown(run, "peer", w)].filter((l) => l !== ""));
    return lines.length === 0 ? [] : ["", "Where a side won, what each spent its time on (means per operation):", "", ...lines.map((l) => `- ${l}`)];
}
