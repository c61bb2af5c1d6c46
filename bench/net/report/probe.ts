/** Per profile: the links as configured and as the probe measured them. Pure. */
import { LINKS } from "../profiles";
import type { ProfileRun } from "../results";
import { fmt, table } from "./format";

export function probeSection(run: ProfileRun): string {
    const rows = LINKS.map((link) => {
        const c = run.links[link];
        const m = run.probe.find((p) => p.link === link);
        return [
            link,
            c.what,
            `${c.rttMs.value} ms`,
            m ? `${fmt(m.rttMs)} ms (${fmt(m.rttMinMs)}–${fmt(m.rttMaxMs)})` : "not measured",
            `${c.mbit.value}`,
            m ? `${fmt(m.downMbit, 0)} / ${fmt(m.upMbit, 0)}` : "not measured",
        ];
    });
    return [
        `### Links: configured vs measured`,
        "",
        table(["link", "stands for", "RTT configured", "RTT measured, median (min–max)", "Mbit/s configured", "Mbit/s measured down / up"], rows),
        "",
        run.probeOk
            ? "Every link agrees with its configuration within the probe's tolerance (bench/net/probe.ts)."
            : `The rig did not behave as configured, so nothing was measured on it: ${run.probeProblems.join("; ")}.`,
    ].join("\n");
}
