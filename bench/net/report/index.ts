/** The network report, from the raw results alone: markdown for docs/ and a console summary. Pure. */
import { judgeNetworkGoals, pairedRatio, pathRatio, throughput } from "../analysis";
import { WORKLOADS, type NetworkResults, type ProfileRun } from "../results";
import { chartFile, profileChart } from "./charts";
import { concurrencySection, pathLimitSentence } from "./concurrency";
import { cpuSection } from "./cpu";
import { fmtRatio, fmtSpread, WORKLOAD_NAMES } from "./format";
import { goalsSection } from "./goals";
import { introSection } from "./intro";
import { peerSection } from "./peer";
import { probeSection } from "./probe";
import { storageComparisonSection, storageConsole } from "./storage";
import { decisionSentence, defaultSentence, sweepSection } from "./sweep";
import { throughputSection } from "./throughput";

function failureNote(run: ProfileRun): string {
    return run.failure === undefined ? "" : `Not everything planned was measured under this profile; the run recorded:\n\n\`\`\`\n${run.failure}\n\`\`\``;
}

function profileSection(r: NetworkResults, run: ProfileRun): string {
    const parts = [
        `## Profile ${run.profile}`,
        `${run.description}. Measured in ${(run.durationSeconds / 60).toFixed(1)} minutes.`,
        probeSection(run),
        throughputSection(run),
        profileChart(run) === undefined ? "" : `![Speed relative to the baseline, ${run.profile} profile](${chartFile(run)})`,
        concurrencySection(run),
        peerSection(run),
        sweepSection(r, run),
        cpuSection(run),
        failureNote(run),
    ];
    return parts.filter((p) => p !== "").join("\n\n");
}

export function renderNetworkMarkdown(r: NetworkResults): string {
    const near = r.profiles.find((p) => p.profile === "near");
    const decisions = r.profiles.map((p) => decisionSentence(r, p)).filter((s) => s !== "");
    const parts = [
        introSection(r),
        goalsSection(near),
        ...(decisions.length ? [["## Chunk size", "", ...decisions.map((d) => `- ${d}`), "", defaultSentence(r)].join("\n")] : []),
        storageComparisonSection(r),
        ...r.profiles.map((p) => profileSection(r, p)),
    ].filter((p) => p !== "");
    return `${parts.join("\n\n")}\n`;
}

export { renderCharts } from "./charts";

export function renderConsole(r: NetworkResults): string {
    const lines: string[] = [];
    for (const run of r.profiles) {
        lines.push(`\n${run.profile}: ${run.probeOk ? "probe ok" : `probe FAILED: ${run.probeProblems.join("; ")}`}`);
        for (const w of WORKLOADS) {
            const ours = throughput(run, "ours", w);
            if (ours.n === 0) {
                continue;
            }
            lines.push(
                `  ${WORKLOAD_NAMES[w].padEnd(36)} ours ${fmtSpread(ours)} MiB/s; vs baseline ${fmtRatio(pairedRatio(run, "ours", "baseline", w))}; vs peer ${fmtRatio(pairedRatio(run, "ours", "peer", w))}` +
                    (w.startsWith("b-push") ? `; vs path limit ${fmtRatio(pathRatio(run, "ours", w))}` : ""),
            );
        }
        if (run.series.length > 0) {
            lines.push(`  ${pathLimitSentence(run)}`);
        }
        const decision = decisionSentence(r, run);
        if (decision !== "") {
            lines.push(`  ${decision.replace(/\*\*/g, "")}`);
        }
        if (run.failure !== undefined) {
            lines.push(`  failures:\n    ${run.failure.split("\n").join("\n    ")}`);
        }
    }
    lines.push(...storageConsole(r));
    const near = r.profiles.find((p) => p.profile === "near");
    if (near !== undefined && near.series.length > 0) {
        lines.push("\ngoals (near):");
        for (const g of judgeNetworkGoals(near)) {
            lines.push(`  ${g.met === undefined ? "not judged" : g.met ? "met   " : "MISSED"}  ${g.name}: ${g.measured} (target ${g.target})${g.roundsDisagree ? "; at least one round reached it" : ""}`);
        }
    }
    return `${lines.join("\n")}\n`;
}
