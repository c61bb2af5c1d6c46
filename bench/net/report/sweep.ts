/** Per profile: the chunk-size sweep and the chunk size it decides. Pure. */
import { median } from "../../lib/stats";
import { decideChunk, decideDefaultChunk, mibps, okSamples, spread, type ChunkDecision } from "../analysis";
import type { NetworkResults, ProfileRun } from "../results";
import { fmt, fmtSpread, MB, table } from "./format";

export function chunkDecision(r: NetworkResults, run: ProfileRun): ChunkDecision {
    return decideChunk(run.sweep, r.meta.rssBudgetMb, r.meta.workloads.dSweep.images);
}

/** What the profiles' decisions mean for the program's default; empty without any decision. */
export function defaultSentence(r: NetworkResults): string {
    const decisions = r.profiles.map((run) => ({ profile: run.profile, chunkMb: chunkDecision(r, run).chunkMb }));
    const current = r.meta.program.chunkMb;
    const { chunkMb, agreed } = decideDefaultChunk(decisions.map((d) => d.chunkMb), current);
    if (chunkMb === undefined) {
        return "";
    }
    const by = decisions.map((d) => `${d.profile} ${d.chunkMb === undefined ? "none" : `${d.chunkMb} MiB`}`).join(", ");
    const verdict = chunkMb === current ? `the program's default stays ${current} MiB` : `the program's default should become ${chunkMb} MiB (it is ${current} MiB)`;
    return agreed
        ? `Every profile decided ${chunkMb} MiB: ${verdict}.`
        : `The profiles decided differently (${by}): ${verdict}, ${chunkMb === current ? "which one of them chose" : "the smallest they chose, the least memory per upload"}.`;
}

/** The decision as a sentence, and whether it differs from the program's default; empty without a decision. */
export function decisionSentence(r: NetworkResults, run: ProfileRun): string {
    const d = chunkDecision(r, run);
    if (d.chunkMb === undefined) {
        return "";
    }
    const same = d.chunkMb === r.meta.program.chunkMb;
    return (
        `Decision under ${run.profile}: **${d.chunkMb} MiB** — ${d.reason}. ` +
        (same ? `That is the program's default (${r.meta.program.chunkMb} MiB).` : `The program's default is ${r.meta.program.chunkMb} MiB; ${againstDefault(r, run, d.chunkMb)}`)
    );
}

/**
 * Whether the chosen size's push beat every push at the program's default in this run (the
 * sweep's and the main comparison's, the same workload on the same config), or only some.
 */
export function againstDefault(r: NetworkResults, run: ProfileRun, chunkMb: number): string {
    const chosen = median((run.sweep.find((p) => p.chunkMb === chunkMb)?.push ?? []).filter((s) => s.ok).map(mibps));
    const atDefault = [...(run.sweep.find((p) => p.chunkMb === r.meta.program.chunkMb)?.push ?? []), ...okSamples(run, "ours", "a-push")].filter((s) => s.ok).map(mibps);
    if (atDefault.length === 0 || !Number.isFinite(chosen)) {
        return "no push at the default to compare with.";
    }
    const top = Math.max(...atDefault);
    return chosen > top
        ? `its push (${fmt(chosen)} MiB/s) beat every one of the ${atDefault.length} pushes of (a) at the default in this run (up to ${fmt(top)} MiB/s).`
        : `its push (${fmt(chosen)} MiB/s) is inside the range of the ${atDefault.length} pushes of (a) at the default in this run (${fmt(Math.min(...atDefault))}–${fmt(top)} MiB/s), so this run does not show it faster.`;
}

export function sweepSection(r: NetworkResults, run: ProfileRun): string {
    const points = run.sweep.filter((p) => p.push.length > 0 || p.conc.length > 0);
    if (points.length === 0) {
        return "";
    }
    const rows = points.map((p) => {
        const rss = p.conc.filter((s) => s.peakRssMb !== undefined).map((s) => s.peakRssMb as number);
        const failed = [...p.push, ...p.conc, ...(p.bConc ?? [])].filter((s) => !s.ok).length;
        return [
            `${p.chunkMb} MiB`,
            fmtSpread(spread(p.push.filter((s) => s.ok).map(mibps))),
            p.bConc === undefined ? "not measured in this run" : fmtSpread(spread(p.bConc.filter((s) => s.ok).map(mibps))),
            fmtSpread(spread(p.conc.filter((s) => s.ok).map(mibps))),
            rss.length ? `${fmt(Math.max(...rss), 0)} MB` : "not measured",
            failed === 0 ? "0" : String(failed),
        ];
    });
    return [
        "### Chunk-size sweep",
        "",
        `Push of (a), push of (b) with 5 layers at once (docker's default) and ${r.meta.workloads.dSweep.images} concurrent pushes (the sweep's (d), layers of ${MB(r.meta.workloads.dSweep.layerBytes)}) with the program's registry + front at each S3 part size; peak RSS is the highest VmHWM over the rounds. Budget: ${r.meta.rssBudgetMb} MB (room for the rest of the default 1 GB droplet).`,
        "",
        table(["chunk", "(a) push MiB/s", "(b) 5 at once MiB/s", `(d) ${r.meta.workloads.dSweep.images} concurrent MiB/s`, "peak RSS at (d)", "failed"], rows),
        "",
        decisionSentence(r, run),
    ].join("\n");
}
