/** The goals a run is judged against, each met or missed on this run's numbers. */
import type { Goal, Results } from "../results";
import { fmt, median, ratio } from "../stats";
import { chunkEntry, fmtRatio, mbps, rss, topLevel } from "./measures";
import { limitText, memVariantText, programOf, variantOf } from "./program";

export function evaluateGoals(results: Results): Goal[] {
    const goals: Goal[] = [];
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const push = ratio(mbps(chosen.push), mbps(chosen.put));
    goals.push({ name: "push vs raw PUT", goal: ">= 0.80x", measured: fmtRatio(push), met: push.pairedMedian >= 0.8 });
    const on = ratio(mbps(results.pull.redirectOn), mbps(results.pull.get));
    goals.push({ name: "pull, redirect on, vs raw GET", goal: ">= 0.90x", measured: fmtRatio(on), met: on.pairedMedian >= 0.9 });
    const off = ratio(mbps(results.pull.redirectOff), mbps(results.pull.get));
    goals.push({ name: "pull, redirect off, vs raw GET", goal: ">= 0.70x", measured: fmtRatio(off), met: off.pairedMedian >= 0.7 });
    const top = topLevel(results);
    if (top) {
        const errors = top.push.reduce((sum, s) => sum + s.errors, 0);
        const verified = top.push.reduce((sum, s) => sum + (s.verified ?? 0), 0);
        const expected = top.push.reduce((sum, s) => sum + (s.expected ?? 0), 0);
        goals.push({
            name: `${top.n} concurrent: errors, digests verified on pull`,
            goal: `0 errors, ${expected}/${expected} verified`,
            measured: `${errors} errors, ${verified}/${expected} verified`,
            met: errors === 0 && verified === expected && expected > 0,
        });
        const agg = ratio(mbps(top.push), mbps(top.put));
        goals.push({ name: `${top.n} concurrent: aggregate vs raw PUT at the same concurrency`, goal: ">= 0.80x", measured: fmtRatio(agg), met: agg.pairedMedian >= 0.8 });
        const peak = Math.max(...rss(top.push));
        const mem = variantOf(results, "memlimit")[0];
        goals.push({
            name: `${top.n} concurrent: registry peak RSS (${results.concurrency.chunkMb} MB chunks, ${limitText(programOf(results))})`,
            goal: `< ${results.meta.config.rssBudgetMb} MB`,
            measured: `${fmt(peak, 0)} MB (max of ${top.push.length}; median ${fmt(median(rss(top.push)), 0)})`
                + (mem ? `; ${memVariantText(mem).replace(/`/g, "")}: ${fmt(Math.max(...rss(mem.push)), 0)} MB (max of ${mem.push.length})` : ""),
            met: peak < results.meta.config.rssBudgetMb,
        });
    }
    return goals;
}
