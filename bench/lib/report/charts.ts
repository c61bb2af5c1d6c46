/** The SVG charts of docs/BENCHMARKS.md, by file name. */
import type { Results } from "../results";
import { fmt, median } from "../stats";
import { renderBarChart } from "../svg";
import { mbps, minMax, rss } from "./measures";
import { limitText, programOf } from "./program";

export function renderCharts(results: Results): Record<string, string> {
    const charts: Record<string, string> = {};
    const cfg = results.meta.config;
    charts["bench-chunk-size.svg"] = renderBarChart({
        title: `Push throughput by S3 chunk size (${cfg.layerMb} MB layer)`,
        subtitle: `median of ${cfg.repeats}, whiskers min–max; registry ${results.meta.versions.pinned} + versitygw on ${results.meta.host.cpus} cores, loopback`,
        yLabel: "MB/s (MiB/s)",
        series: { "raw S3 multipart PUT": "#7f8c8d", "registry push (skopeo)": "#2e86de" },
        groups: results.sweep.map((e) => ({
            label: `${e.chunkMb} MB${e.chunkMb === results.chosen.chunkMb ? " (chosen)" : ""}`,
            bars: [
                { series: "raw S3 multipart PUT", ...minMax(mbps(e.put)) },
                { series: "registry push (skopeo)", ...minMax(mbps(e.push)) },
            ],
        })),
    });
    charts["bench-chunk-rss.svg"] = renderBarChart({
        title: `Registry peak RSS by chunk size`,
        subtitle: `VmHWM of a freshly started registry (${limitText(programOf(results))}, as deployed); ${cfg.sweepConcurrency} concurrent pushes: ${cfg.sweepConcurrencyRepeats} run(s), 1 push: ${cfg.repeats}`,
        yLabel: "MB (MiB)",
        series: { "1 push": "#a3cb38", [`${cfg.sweepConcurrency} concurrent pushes`]: "#e67e22" },
        reference: { value: cfg.rssBudgetMb, label: `budget ${cfg.rssBudgetMb} MB` },
        groups: results.sweep.map((e) => ({
            label: `${e.chunkMb} MB`,
            bars: [
                { series: "1 push", ...minMax(rss(e.push)), label: fmt(median(rss(e.push)), 0) },
                { series: `${cfg.sweepConcurrency} concurrent pushes`, ...minMax(rss(e.conc)), label: fmt(median(rss(e.conc)), 0) },
            ],
        })),
    });
    charts["bench-concurrency.svg"] = renderBarChart({
        title: `Aggregate push throughput by concurrency (${results.concurrency.chunkMb} MB chunks)`,
        subtitle: `distinct images sharing a ${cfg.baseMb} MB base layer + ${cfg.ownMb} MB own layer; median of ${cfg.repeats}, whiskers min–max`,
        yLabel: "MB/s (MiB/s), all clients together",
        series: { "raw S3 multipart PUT (same objects)": "#7f8c8d", "registry push (skopeo)": "#2e86de" },
        groups: results.concurrency.levels.map((l) => ({
            label: `${l.n} concurrent (peak RSS ${fmt(median(rss(l.push)), 0)} MB)`,
            bars: [
                { series: "raw S3 multipart PUT (same objects)", ...minMax(mbps(l.put)) },
                { series: "registry push (skopeo)", ...minMax(mbps(l.push)) },
            ],
        })),
    });
    charts["bench-pull.svg"] = renderBarChart({
        title: `Pull throughput (${cfg.layerMb} MB layer)`,
        subtitle: `median of ${cfg.pullRepeats ?? cfg.repeats} (filesystem driver: ${cfg.repeats}), whiskers min–max`,
        yLabel: "MB/s (MiB/s)",
        series: { "raw S3 GET": "#7f8c8d", "redirect on (presigned S3 URL)": "#2e86de", "redirect off (streamed by registry)": "#8e44ad", "filesystem driver": "#16a085" },
        groups: [
            {
                label: "skopeo pull (raw GET: Node SDK)",
                bars: [
                    { series: "raw S3 GET", ...minMax(mbps(results.pull.get)) },
                    { series: "redirect on (presigned S3 URL)", ...minMax(mbps(results.pull.redirectOn)) },
                    { series: "redirect off (streamed by registry)", ...minMax(mbps(results.pull.redirectOff)) },
                    { series: "filesystem driver", ...minMax(mbps(results.filesystem.pull)) },
                ],
            },
            ...(results.pull.clientOn && results.pull.clientOn.length > 0
                ? [
                      {
                          label: "layer blob GET, Node client",
                          bars: [
                              { series: "raw S3 GET", ...minMax(mbps(results.pull.get)) },
                              { series: "redirect on (presigned S3 URL)", ...minMax(mbps(results.pull.clientOn)) },
                              { series: "redirect off (streamed by registry)", ...minMax(mbps(results.pull.clientOff ?? [])) },
                          ],
                      },
                  ]
                : []),
        ],
        width: 760,
    });
    return charts;
}
