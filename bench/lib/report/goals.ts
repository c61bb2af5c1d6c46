/** "## Goals": the goals table (judged by evaluateGoals) and how many were missed. */
import type { Results } from "../results";
import { row } from "./markdown";

export function goalsSection(results: Results): string[] {
    const L: string[] = [];
    L.push("## Goals");
    L.push("");
    L.push(row(["goal", "target", "measured", ""]));
    L.push(row(["---", "---", "---", "---"]));
    for (const g of results.goals) {
        L.push(row([g.name, g.goal, g.measured, g.met ? "met" : "**MISSED**"]));
    }
    L.push("");
    const missed = results.goals.filter((g) => !g.met);
    L.push(missed.length === 0 ? "All goals met." : `${missed.length} goal(s) missed; the measurements that locate the bottleneck are in [Where the time goes](#where-the-time-goes).`);
    L.push("");
    return L;
}
