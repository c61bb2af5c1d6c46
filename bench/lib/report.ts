/**
 * Turns a benchmark run's results into the console table, docs/BENCHMARKS.md and the SVG charts.
 * Pure: results in, text out (the numbers are never typed by hand).
 */
import { REGISTRY_S3_REQUESTS } from "../../components/cost";
import { HTPASSWD_BCRYPT_COST } from "../../components/render/htpasswd";
import { STORAGE_HEALTH_INTERVAL_SECONDS } from "../../components/render/registryConfig";
import { REGISTRY_CONTAINER_ENV } from "../../components/render/scripts";
import { DEFAULTS } from "../../components/settings";
import type { Goal, ProgramSettings, Results, SweepEntry, TuningVariant } from "./results";
import type { CpuSplit, Sample } from "./rig";
import { fmt, fmtSummary, median, ratio, summarize, type Ratio } from "./stats";
import { renderBarChart } from "./svg";

const GiB = 1024 ** 3;

/** What the program deploys today: the settings a new run measures as "the program's". */
export const PROGRAM_SETTINGS: ProgramSettings = { chunkMb: DEFAULTS.s3ChunkSizeMb, bcryptCost: HTPASSWD_BCRYPT_COST, env: { ...REGISTRY_CONTAINER_ENV } };

/** The program settings a run measured (recorded in its results). */
export function programOf(results: Results): ProgramSettings {
    if (!results.meta.program) {
        throw new Error("these results predate the recorded program settings (meta.program): rerun the benchmark instead of re-rendering them");
    }
    return results.meta.program;
}

/** "GOMEMLIMIT=150MiB", or "no GOMEMLIMIT". */
function limitText(p: ProgramSettings): string {
    return p.env.GOMEMLIMIT ? `GOMEMLIMIT=${p.env.GOMEMLIMIT}` : "no GOMEMLIMIT";
}

function variantOf(results: Results, kind: NonNullable<TuningVariant["kind"]>): TuningVariant[] {
    return results.tuning?.variants.filter((v) => v.kind === kind) ?? [];
}

/** How to name the GOMEMLIMIT variant in a sentence: "without the limit (`GOMEMLIMIT=off`)". */
function memVariantText(mem: TuningVariant): string {
    return mem.goMemLimit === "off" ? "without the limit (`GOMEMLIMIT=off`)" : `with \`${mem.name}\` instead`;
}

/** Whether the chunk size the run chose is the program's default, in words. */
export function chunkDefaultNote(results: Results): string {
    const p = programOf(results);
    return results.chosen.chunkMb === p.chunkMb
        ? `the program's default (\`DEFAULTS.s3ChunkSizeMb\` = ${p.chunkMb})`
        : `**not** the program's default (\`DEFAULTS.s3ChunkSizeMb\` = ${p.chunkMb}); the sections below measure ${results.chosen.chunkMb} MB`;
}

const mbps = (samples: Sample[]) => samples.map((s) => s.mbps);
const rss = (samples: Sample[]) => samples.map((s) => s.peakRssMb ?? Number.NaN);
const sumMb = (samples: Sample[]) => fmtSummary(summarize(mbps(samples)));
const fmtRatio = (r: Ratio) => `${fmt(r.pairedMedian, 2)}x (${fmt(r.pairedMin, 2)}–${fmt(r.pairedMax, 2)})`;

function cpuPerGiB(samples: Sample[]): CpuSplit & { total: number; cores: number; clientCores: number; machine: number; other: number } {
    const per = (pick: (c: CpuSplit) => number) => median(samples.map((s) => (pick(s.cpu) / s.bytes) * GiB));
    const registry = per((c) => c.registry);
    const s3 = per((c) => c.s3);
    const client = per((c) => c.client);
    const cores = median(samples.map((s) => (s.cpu.registry + s.cpu.s3 + s.cpu.client) / s.seconds));
    const machine = median(samples.map((s) => s.machineCores ?? Number.NaN));
    const other = median(samples.map((s) => s.otherCores ?? Number.NaN));
    const clientCores = median(samples.map((s) => s.cpu.client / s.seconds));
    return { registry, s3, client, total: registry + s3 + client, cores, clientCores, machine, other };
}

function row(cells: (string | number)[]): string {
    return `| ${cells.join(" | ")} |`;
}

function sep(n: number, align = "---:"): string {
    return row(Array.from({ length: n }, (_, i) => (i === 0 ? "---" : align)));
}

export function chunkEntry(results: Results, chunkMb: number): SweepEntry {
    const entry = results.sweep.find((e) => e.chunkMb === chunkMb);
    if (!entry) {
        throw new Error(`no sweep entry for ${chunkMb} MB`);
    }
    return entry;
}

/** Best median single-push throughput among the chunk sizes whose peak RSS at N concurrent pushes is under the budget. */
export function chooseChunk(sweep: SweepEntry[], budgetMb: number, concurrency: number, program: ProgramSettings): { chunkMb: number; reason: string } {
    const settings = `the program's settings (${limitText(program)}, bcrypt cost ${program.bcryptCost})`;
    const rows = sweep.map((e) => ({
        chunkMb: e.chunkMb,
        push: median(mbps(e.push)),
        pushMin: Math.min(...mbps(e.push)),
        pushMax: Math.max(...mbps(e.push)),
        rssMax: Math.max(...rss(e.conc)),
    }));
    const eligible = rows.filter((r) => r.rssMax < budgetMb);
    const excluded = rows.filter((r) => !(r.rssMax < budgetMb)).map((r) => `${r.chunkMb} MB (${fmt(r.rssMax, 0)} MB)`);
    if (eligible.length === 0) {
        const lowest = [...rows].sort((a, b) => a.rssMax - b.rssMax)[0];
        const fastest = [...rows].sort((a, b) => b.push - a.push)[0];
        return {
            chunkMb: lowest.chunkMb,
            reason:
                `no chunk size kept the registry under ${budgetMb} MB at ${concurrency} concurrent pushes with ${settings}; ${lowest.chunkMb} MB had the lowest peak (${fmt(lowest.rssMax, 0)} MB)` +
                (fastest === lowest
                    ? ` and also the highest median single-push throughput (${fmt(lowest.push)} MB/s; ${rows.filter((r) => r !== lowest).map((r) => `${r.chunkMb} MB ${fmt(r.push)}`).join(", ")})`
                    : `; ${fastest.chunkMb} MB pushed fastest (${fmt(fastest.push)} MB/s against ${fmt(lowest.push)}` +
                      (fastest.pushMin <= lowest.pushMax
                          ? `, a difference inside this run's spread: ${fastest.chunkMb} MB ${fmt(fastest.pushMin)}–${fmt(fastest.pushMax)}, ${lowest.chunkMb} MB ${fmt(lowest.pushMin)}–${fmt(lowest.pushMax)})`
                          : ")")),
        };
    }
    const best = [...eligible].sort((a, b) => b.push - a.push)[0];
    const others = eligible.filter((r) => r !== best).map((r) => `${r.chunkMb} MB ${fmt(r.push)} MB/s`);
    return {
        chunkMb: best.chunkMb,
        reason:
            `highest median single-push throughput (${fmt(best.push)} MB/s) of the chunk sizes that keep peak RSS under ${budgetMb} MB at ${concurrency} concurrent pushes with ${settings} ` +
            `(${best.chunkMb} MB peaked at ${fmt(best.rssMax, 0)} MB` +
            (others.length ? `; other eligible: ${others.join(", ")}` : "") +
            (excluded.length ? `; over budget: ${excluded.join(", ")}` : "") +
            ")",
    };
}

/** What the tuning runs say about the memory limit and the next larger chunk size. */
export function memoryLimitNote(results: Results): string {
    const t = results.tuning;
    const base = variantOf(results, "program")[0];
    const mem = variantOf(results, "memlimit")[0];
    const larger = variantOf(results, "chunk")[0];
    if (!t || !base || t.chunkMb !== results.chosen.chunkMb) {
        return "";
    }
    const budget = results.meta.config.rssBudgetMb;
    const limit = limitText(programOf(results));
    const basePeak = Math.max(...rss(base.push));
    let note = "";
    if (mem) {
        const peak = Math.max(...rss(mem.push));
        note += ` Every registry of the sweep runs with ${limit}, as deployed; ${memVariantText(mem)} the same ${t.n} concurrent pushes at ${t.chunkMb} MB peaked at ${fmt(peak, 0)} MB `
            + `(${peak < budget ? "under" : "over"} the ${budget} MB budget) against ${fmt(basePeak, 0)} MB with it, `
            + `and pushed at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed configuration's throughput.`;
    }
    if (larger) {
        const peak = Math.max(...rss(larger.push));
        note += peak >= budget
            ? ` The next larger size does not fit even with the limit: ${larger.name} peaked at ${fmt(peak, 0)} MB.`
            : ` The next larger size fits too with the limit: ${larger.name} peaked at ${fmt(peak, 0)} MB at ${fmtRatio(ratio(mbps(larger.push), mbps(base.push)))} the deployed throughput.`;
    }
    return note;
}

export function evaluateGoals(results: Results): Goal[] {
    const goals: Goal[] = [];
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const push = ratio(mbps(chosen.push), mbps(chosen.put));
    goals.push({ name: "push vs raw PUT", goal: ">= 0.80x", measured: fmtRatio(push), met: push.pairedMedian >= 0.8 });
    const on = ratio(mbps(results.pull.redirectOn), mbps(results.pull.get));
    goals.push({ name: "pull, redirect on, vs raw GET", goal: ">= 0.90x", measured: fmtRatio(on), met: on.pairedMedian >= 0.9 });
    const off = ratio(mbps(results.pull.redirectOff), mbps(results.pull.get));
    goals.push({ name: "pull, redirect off, vs raw GET", goal: ">= 0.70x", measured: fmtRatio(off), met: off.pairedMedian >= 0.7 });
    const top = [...results.concurrency.levels].sort((a, b) => b.n - a.n)[0];
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

function minMax(values: number[]): { median: number; min: number; max: number } {
    return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

/** The short console table. */
export function renderTable(results: Results): string {
    const lines: string[] = [];
    const pad = (s: string, n: number) => s.padEnd(n);
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    lines.push("");
    lines.push(`Registry benchmark (${results.meta.startedAt}, ${results.meta.durationSeconds.toFixed(0)} s; MB = MiB; median (min–max) of ${results.meta.config.repeats})`);
    lines.push(pad("measurement", 52) + pad("MB/s", 24) + "ratio to baseline (paired)");
    const add = (name: string, samples: Sample[], base?: Sample[]) =>
        lines.push(pad(name, 52) + pad(sumMb(samples), 24) + (base ? fmtRatio(ratio(mbps(samples), mbps(base))) : "baseline"));
    for (const e of results.sweep) {
        add(`raw S3 PUT, ${e.chunkMb} MB parts`, e.put);
        add(`push, ${e.chunkMb} MB chunks${e.chunkMb === results.chosen.chunkMb ? " (chosen)" : ""}`, e.push, e.put);
        add(`${results.meta.config.sweepConcurrency} concurrent, ${e.chunkMb} MB chunks (RSS ${fmt(Math.max(...rss(e.conc)), 0)} MB)`, e.conc);
    }
    add("raw S3 GET", results.pull.get);
    add("pull, redirect on", results.pull.redirectOn, results.pull.get);
    add("pull, redirect off", results.pull.redirectOff, results.pull.get);
    if (results.pull.clientOn?.length) {
        add("blob GET via registry (Node client), redirect on", results.pull.clientOn, results.pull.get);
        add("blob GET via registry (Node client), redirect off", results.pull.clientOff ?? [], results.pull.get);
    }
    for (const l of results.concurrency.levels) {
        add(`raw S3 PUT, ${l.n} images at once`, l.put);
        add(`${l.n} concurrent pushes (RSS ${fmt(Math.max(...rss(l.push)), 0)} MB)`, l.push, l.put);
    }
    add("filesystem driver push", results.filesystem.push, results.filesystem.put);
    add("filesystem driver pull", results.filesystem.pull, results.filesystem.get);
    lines.push("");
    lines.push(`chosen chunk size: ${results.chosen.chunkMb} MB, ${chunkDefaultNote(results)} — ${results.chosen.reason}.${memoryLimitNote(results)}`.replace(/`|\*\*/g, ""));
    lines.push(`single push at chosen size: ${sumMb(chosen.push)} MB/s`);
    lines.push("");
    lines.push("goals:");
    for (const g of results.goals) {
        lines.push(`  ${g.met ? "MET   " : "MISSED"} ${pad(g.name, 62)} goal ${pad(g.goal, 22)} measured ${g.measured}`);
    }
    lines.push("");
    return lines.join("\n");
}

function cpuTable(rows: [string, Sample[]][]): string[] {
    const out = [
        row(["operation", "registry", "S3 server", "client", "total CPU-s/GiB", "client CPU / wall", "cores busy: these processes", "cores busy: whole machine", "of which other tenants"]),
        sep(9),
    ];
    for (const [name, samples] of rows) {
        if (samples.length === 0) {
            continue;
        }
        const c = cpuPerGiB(samples);
        out.push(row([name, fmt(c.registry, 2), fmt(c.s3, 2), fmt(c.client, 2), fmt(c.total, 2), fmt(c.clientCores, 2), fmt(c.cores, 2), fmt(c.machine, 2), fmt(c.other, 2)]));
    }
    return out;
}

const COMMIT_OPS = ["UploadPartCopy", "CopyObject", "CompleteMultipartUpload"];

/** Where a push's wall time goes from the S3 server's point of view (sum of its request times). */
export function s3TimeSplit(samples: Sample[]): { wall: number; upload: number; commit: number; other: number; share: number } {
    const per = (pick: (s: Sample) => number) => median(samples.map(pick));
    const sumOf = (s: Sample, ops: string[] | "rest") =>
        Object.entries(s.s3Seconds ?? {})
            .filter(([op]) => (ops === "rest" ? op !== "UploadPart" && !COMMIT_OPS.includes(op) : ops.includes(op)))
            .reduce((sum, [, v]) => sum + v, 0);
    return {
        wall: per((s) => s.seconds),
        upload: per((s) => sumOf(s, ["UploadPart"])),
        commit: per((s) => sumOf(s, COMMIT_OPS)),
        other: per((s) => sumOf(s, "rest")),
        share: per((s) => Object.values(s.s3Seconds ?? {}).reduce((a, b) => a + b, 0) / s.seconds),
    };
}

function s3TimeTable(rows: [string, Sample[]][]): string[] {
    const out = [
        row(["operation", "wall s", "UploadPart s", "commit s (UploadPartCopy, CopyObject, Complete)", "other S3 s", "S3 request time / wall"]),
        sep(6),
    ];
    for (const [name, samples] of rows) {
        if (samples.length === 0) {
            continue;
        }
        const t = s3TimeSplit(samples);
        out.push(row([name, fmt(t.wall, 2), fmt(t.upload, 2), fmt(t.commit, 2), fmt(t.other, 2), fmt(t.share, 2)]));
    }
    return out;
}

function opCountsText(counts: Record<string, number>): string {
    const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
    return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(", ") : "none";
}

const PUT_CLASS = new Set([
    "PutObject",
    "CopyObject",
    "UploadPart",
    "UploadPartCopy",
    "CreateMultipartUpload",
    "CompleteMultipartUpload",
    "ListObjectsV2",
    "ListObjects",
    "ListMultipartUploads",
    "ListParts",
    "ListBuckets",
    "ListAllMyBuckets",
]);
const FREE = new Set(["DeleteObject", "DeleteObjects", "AbortMultipartUpload"]);

/** PUT/COPY/POST/LIST-class, GET-class and free requests, as S3 bills them. */
export function classify(counts: Record<string, number>): { put: number; get: number; free: number } {
    let put = 0;
    let get = 0;
    let free = 0;
    for (const [op, n] of Object.entries(counts)) {
        if (PUT_CLASS.has(op)) {
            put += n;
        } else if (FREE.has(op)) {
            free += n;
        } else {
            get += n;
        }
    }
    return { put, get, free };
}

const pick = (o: Record<string, number> | undefined, key: string) => (o ?? {})[key] ?? 0;

/** Where the registry's request time goes (from its own log), medians over runs. */
export function registryTimeSplit(samples: Sample[]): { wall: number; requests: number; patch: number; commit: number; manifest: number; blobGet: number; other: number; otherMeanMs: number } {
    const per = (f: (s: Sample) => number) => median(samples.map(f));
    const others = (s: Sample) => pick(s.registrySeconds, "other (HEAD, POST, GET /v2/)");
    const otherCount = (s: Sample) => Math.max(1, pick(s.registryCounts, "other (HEAD, POST, GET /v2/)"));
    return {
        wall: per((s) => s.seconds),
        requests: per((s) => s.registryRequests ?? 0),
        patch: per((s) => pick(s.registrySeconds, "upload data (PATCH)")),
        commit: per((s) => pick(s.registrySeconds, "commit (PUT ?digest=)")),
        manifest: per((s) => pick(s.registrySeconds, "manifest")),
        blobGet: per((s) => pick(s.registrySeconds, "blob GET")),
        other: per(others),
        // Requests that move no data: their mean duration is mostly the per-request auth check.
        otherMeanMs: per((s) => (others(s) / otherCount(s)) * 1000),
    };
}

function registryTimeTable(rows: [string, Sample[]][]): string[] {
    const out = [
        row(["operation", "wall s", "requests", "upload data (PATCH) s", "commit (PUT ?digest=) s", "manifest s", "blob GET s", "other requests s"]),
        sep(8),
    ];
    for (const [name, samples] of rows) {
        if (samples.length === 0) {
            continue;
        }
        const t = registryTimeSplit(samples);
        if (t.requests === 0) {
            out.push(row([name, fmt(t.wall, 2), "0 (no request lines in the registry log: is its log level above info?)", "", "", "", "", ""]));
            continue;
        }
        out.push(row([name, fmt(t.wall, 2), fmt(t.requests, 0), fmt(t.patch, 2), fmt(t.commit, 2), fmt(t.manifest, 2), fmt(t.blobGet, 2), fmt(t.other, 2)]));
    }
    return out;
}

export function renderMarkdown(results: Results, chartFiles: string[]): string {
    const m = results.meta;
    const cfg = m.config;
    const L: string[] = [];
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const top = [...results.concurrency.levels].sort((a, b) => b.n - a.n)[0];

    L.push("# Benchmarks: registry on S3, rehearsal stack");
    L.push("");
    L.push("<!-- Generated by `npm run bench` (bench/run.ts). Do not edit by hand: rerun it. -->");
    L.push("");
    L.push(`Run ${m.startedAt.slice(0, 16).replace("T", " ")} UTC, ${Math.round(m.durationSeconds / 60)} min, on ${m.host.cpus} × ${m.host.model}, ${m.host.memGb} GB RAM, Linux ${m.host.kernel}; `
        + `load average ${m.host.loadBefore.join(" / ")} before and ${m.host.loadAfter.join(" / ")} after (the machine is shared: absolute numbers move between runs, ratios much less).`);
    L.push("");
    L.push(`Versions: registry \`${m.versions.registry}\` (pinned ${m.versions.pinned}), versitygw ${m.versions.versitygw}, ${m.versions.skopeo}, Node ${m.versions.node}.`);
    L.push("");
    L.push(`**Units:** MB = MiB (2^20 bytes), MB/s = MiB/s. Every figure is the **median of ${cfg.repeats} runs (min–max)** (pulls: ${cfg.pullRepeats ?? cfg.repeats} runs) unless it says otherwise. `
        + "Every ratio compares with a baseline measured **in the same run**, the two interleaved run by run (alternating which goes first); "
        + "the ratio shown is the median of the per-run ratios (min–max), which cancels most of the machine's drift.");
    L.push("");

    // Goals.
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

    L.push(...recommendations(results));

    // Setup.
    L.push("## What is measured");
    L.push("");
    L.push(`- **Stack** (test/harness): the \`registry\` binary built from the pinned version, serving config.yml rendered by \`renderRegistryConfig\` `
        + "(TLS from a throwaway CA, htpasswd bcrypt auth, S3 driver with `encrypt`, `forcepathstyle` and the loopback `regionendpoint` swapped in) "
        + `in front of versitygw ${m.versions.versitygw} (posix backend), all on 127.0.0.1; data on ${m.workDirFs} so the disk adds no noise. `
        + `Every registry runs with the container's environment (\`REGISTRY_CONTAINER_ENV\`: ${Object.entries(programOf(results).env).map(([k, v]) => `\`${k}=${v}\``).join(", ")}) and bcrypt cost ${programOf(results).bcryptCost} for htpasswd, `
        + "as deployed, except the variants under [One setting at a time](#one-setting-at-a-time) that change one of them; each registry's environment is read back from `/proc/<pid>/environ`.");
    L.push("- **Client**: skopeo (`copy --preserve-digests`, OCI layout <-> `docker://`), as a CI job would push. Timing is the wall time of the skopeo process(es): TLS handshake, auth, blob upload, commit, manifest.");
    L.push("- **Baseline**: the same bytes straight to versitygw with `@aws-sdk/lib-storage` (multipart, part size = the registry's chunk size, one part in flight per object as the S3 driver does) "
        + "and `GetObject` streamed to a file and hashed (what any client does to store and verify a blob). Plain HTTP, no registry.");
    L.push(`- **Images**: one image with a ${cfg.layerMb} MB random (incompressible) layer; for concurrency, distinct images of a shared ${cfg.baseMb} MB base layer plus their own ${cfg.ownMb} MB layer, pushed at once to different repositories.`);
    L.push("- Before every push the bucket is emptied and the registry restarted, so every blob is uploaded, nothing is cached, and **peak RSS** is the `VmHWM` of that fresh process (cross-checked by sampling `VmRSS` every 50 ms).");
    L.push("- **CPU**: utime+stime from `/proc/<pid>/stat` of the registry and versitygw, and of skopeo (reaped children) or the SDK (this process), per GiB moved.");
    L.push("");

    // (b) push.
    L.push(`## Push: one ${cfg.layerMb} MB layer`);
    L.push("");
    L.push(row(["chunk size", "raw S3 PUT MB/s", "registry push MB/s", "push / raw PUT", "registry peak RSS, 1 push"]));
    L.push(sep(5));
    for (const e of results.sweep) {
        const mark = e.chunkMb === results.chosen.chunkMb ? " **(chosen)**" : "";
        L.push(row([`${e.chunkMb} MB${mark}`, sumMb(e.put), sumMb(e.push), fmtRatio(ratio(mbps(e.push), mbps(e.put))), `${fmtSummary(summarize(rss(e.push)), 0)} MB`]));
    }
    L.push("");

    // (c) pull.
    L.push(`## Pull: the same ${cfg.layerMb} MB layer (${results.pull.chunkMb} MB chunks when pushed)`);
    L.push("");
    L.push(row(["path", "client", "MB/s", "ratio to raw GET", "registry peak RSS"]));
    L.push(row(["---", "---", "---:", "---:", "---:"]));
    L.push(row(["raw S3 GET (baseline)", "Node (@aws-sdk), to a file, hashed", sumMb(results.pull.get), "1", "–"]));
    const pullRow = (label: string, client: string, samples: Sample[] | undefined) => {
        if (samples && samples.length > 0) {
            L.push(row([label, client, sumMb(samples), fmtRatio(ratio(mbps(samples), mbps(results.pull.get))), `${fmtSummary(summarize(rss(samples)), 0)} MB`]));
        }
    };
    pullRow("redirect on: 307 to a presigned S3 URL, the client fetches from S3", "skopeo (whole image)", results.pull.redirectOn);
    pullRow("redirect off: the registry streams the blob over TLS", "skopeo (whole image)", results.pull.redirectOff);
    pullRow("redirect on, the layer blob only", "Node, same as the baseline", results.pull.clientOn);
    pullRow("redirect off, the layer blob only", "Node, same as the baseline", results.pull.clientOff);
    L.push("");
    L.push("The skopeo rows are what a user sees (process start, TLS, auth, manifest, config and layer). The Node rows fetch only the layer blob through the registry "
        + "with the baseline's own client (https with basic auth, following the 307), so their ratio is what the registry itself adds to a pull.");
    L.push("");
    L.push("Every pull was verified: each blob pulled back hashes to its digest and the manifest matches the one pushed "
        + `(${[...results.pull.redirectOn, ...results.pull.redirectOff].filter((s) => s.verified === 1).length}/${results.pull.redirectOn.length + results.pull.redirectOff.length} skopeo pulls, `
        + `${[...(results.pull.clientOn ?? []), ...(results.pull.clientOff ?? [])].filter((s) => s.verified === 1).length}/${(results.pull.clientOn ?? []).length + (results.pull.clientOff ?? []).length} blob GETs).`);
    L.push("");

    // (d) sweep.
    L.push("## Chunk size sweep and the default");
    L.push("");
    L.push(row(["chunk size", "push MB/s (1 push)", `${cfg.sweepConcurrency} concurrent: aggregate MB/s`, `${cfg.sweepConcurrency} concurrent: peak RSS`, `under ${cfg.rssBudgetMb} MB?`]));
    L.push(sep(5));
    for (const e of results.sweep) {
        const peak = Math.max(...rss(e.conc));
        L.push(row([`${e.chunkMb} MB`, sumMb(e.push), sumMb(e.conc), `${fmtSummary(summarize(rss(e.conc)), 0)} MB`, peak < cfg.rssBudgetMb ? "yes" : "no"]));
    }
    L.push("");
    L.push(`The concurrent runs here are ${cfg.sweepConcurrencyRepeats} per chunk size (median (min–max) of those); the budget check uses the highest peak.`);
    L.push("");
    L.push(`**Chosen: ${results.chosen.chunkMb} MB**, ${chunkDefaultNote(results)} — ${results.chosen.reason}.${memoryLimitNote(results)}`);
    L.push("");
    L.push(`Memory grows with chunk size × concurrent uploads (${cfg.sweepConcurrency} images are ${cfg.sweepConcurrency * 2} uploads at once: base and own layer): the S3 driver buffers a whole part per upload before it sends it; `
        + "see **Memory** under [Where the time goes](#where-the-time-goes).");
    L.push("");
    for (const file of chartFiles.filter((f) => f.startsWith("bench-chunk"))) {
        L.push(`![${file}](${file})`);
        L.push("");
    }

    // (e) concurrency.
    L.push(`## Concurrent pushes (${results.concurrency.chunkMb} MB chunks)`);
    L.push("");
    L.push(row(["concurrent images", "raw S3 PUT MB/s (same objects, all at once)", "registry aggregate MB/s", "ratio", "errors", "verified on pull", "base layer uploaded", "registry peak RSS"]));
    L.push(sep(8));
    for (const l of results.concurrency.levels) {
        const errors = l.push.reduce((s, x) => s + x.errors, 0);
        const verified = l.push.reduce((s, x) => s + (x.verified ?? 0), 0);
        const expected = l.push.reduce((s, x) => s + (x.expected ?? 0), 0);
        const base = l.push.map((x) => x.baseUploads ?? 0);
        L.push(row([
            String(l.n),
            sumMb(l.put),
            sumMb(l.push),
            fmtRatio(ratio(mbps(l.push), mbps(l.put))),
            String(errors),
            `${verified}/${expected}`,
            `${fmt(median(base), 0)}× (${Math.min(...base)}–${Math.max(...base)})`,
            `${fmtSummary(summarize(rss(l.push)), 0)} MB`,
        ]));
    }
    L.push("");
    L.push("Aggregate MB/s counts every image's layers once per image (what the clients sent or would have sent). When a push finds the shared base layer already committed by another, "
        + "skopeo skips it; \"base layer uploaded\" counts the uploads the registry actually completed, from its access log. Errors are skopeo exits other than 0 (it runs with `--retry-times 0`); "
        + "verification pulls every image back after the run and checks every blob against its digest.");
    const failures = results.concurrency.levels.flatMap((l) => l.push.flatMap((s) => s.messages ?? []));
    if (failures.length > 0) {
        L.push("");
        L.push("Failures:");
        for (const f of failures.slice(0, 20)) {
            L.push(`- \`${f.replace(/`/g, "'")}\``);
        }
    }
    L.push("");
    if (chartFiles.includes("bench-concurrency.svg")) {
        L.push("![bench-concurrency.svg](bench-concurrency.svg)");
        L.push("");
    }

    // Tuning.
    if (results.tuning) {
        const t = results.tuning;
        const base = t.variants[0];
        L.push(`## One setting at a time`);
        L.push("");
        L.push(`${t.n} concurrent pushes, ${t.chunkMb} MB chunks. The first row is the program's configuration, ${base.change}; each other row changes one setting of it, `
            + "all run interleaved. Each is a setting of the program, not of the registry's code: an environment variable of the container (`REGISTRY_CONTAINER_ENV`), "
            + "the cost the program hashes htpasswd with (`HTPASSWD_BCRYPT_COST`), the chunk size (`s3ChunkSizeMb`). The GOMEMLIMIT column is read back from each registry process's environment.");
        L.push("");
        L.push(row(["variant", "what differs", "GOMEMLIMIT", "aggregate MB/s", "ratio to program config", "peak RSS", `under ${cfg.rssBudgetMb} MB?`, "registry CPU-s/GiB", "registry request time: other requests s"]));
        L.push(row(["---", "---", "---", "---:", "---:", "---:", "---:", "---:", "---:"]));
        for (const v of t.variants) {
            const peak = Math.max(...rss(v.push));
            L.push(row([
                v.name,
                v.change,
                v.goMemLimit ?? "(unset)",
                sumMb(v.push),
                v === base ? "1" : fmtRatio(ratio(mbps(v.push), mbps(base.push))),
                `${fmtSummary(summarize(rss(v.push)), 0)} MB`,
                peak < cfg.rssBudgetMb ? "yes" : "no",
                fmt(cpuPerGiB(v.push).registry, 2),
                fmt(registryTimeSplit(v.push).other, 2),
            ]));
        }
        L.push("");
    }

    // (f) filesystem.
    L.push("## Filesystem driver, for reference");
    L.push("");
    L.push(row(["operation", "MB/s", "ratio to the raw S3 baseline of the same run", "registry peak RSS"]));
    L.push(sep(4));
    L.push(row(["push, filesystem driver", sumMb(results.filesystem.push), `${fmtRatio(ratio(mbps(results.filesystem.push), mbps(results.filesystem.put)))} of raw PUT`, `${fmtSummary(summarize(rss(results.filesystem.push)), 0)} MB`]));
    L.push(row(["pull, filesystem driver", sumMb(results.filesystem.pull), `${fmtRatio(ratio(mbps(results.filesystem.pull), mbps(results.filesystem.get)))} of raw GET`, `${fmtSummary(summarize(rss(results.filesystem.pull)), 0)} MB`]));
    L.push(row(["push, S3 driver (chosen chunk, from above)", sumMb(chosen.push), `${fmtRatio(ratio(mbps(chosen.push), mbps(chosen.put)))} of raw PUT`, `${fmtSummary(summarize(rss(chosen.push)), 0)} MB`]));
    L.push("");
    L.push(`The filesystem driver writes to ${m.workDirFs} here, so it shows the registry's own cost without any S3 round trips: the gap between the two push rows is what the S3 driver adds.`);
    L.push("");
    if (chartFiles.includes("bench-pull.svg")) {
        L.push("![bench-pull.svg](bench-pull.svg)");
        L.push("");
    }

    // Where the time goes.
    L.push("## Where the time goes");
    L.push("");
    L.push("CPU seconds per GiB moved, by process (median over runs); the client's CPU seconds per second of wall time (near 1: a client that does its work on one thread is the bottleneck); "
        + `and how many cores were busy during the operation (this machine has ${m.host.cpus}; near that, the operation is CPU-bound and throughput is set by CPU per byte).`);
    L.push("");
    const cpuRows: [string, Sample[]][] = [
        [`raw S3 PUT (${results.chosen.chunkMb} MB parts)`, chosen.put],
        [`push (${results.chosen.chunkMb} MB chunks)`, chosen.push],
        ["push, filesystem driver", results.filesystem.push],
        ["raw S3 GET", results.pull.get],
        ["pull, redirect on", results.pull.redirectOn],
        ["pull, redirect off", results.pull.redirectOff],
    ];
    if (top) {
        cpuRows.push([`raw S3 PUT, ${top.n} images at once`, top.put], [`${top.n} concurrent pushes`, top.push]);
    }
    L.push(...cpuTable(cpuRows));
    L.push("");
    L.push("Time the S3 server spent serving requests during a push (sum of its per-request times from the access log; concurrent requests add up, so the last column can exceed 1). "
        + "Both the registry and the baseline keep one part in flight per upload and fill the next part only when it is done: the S3 driver reads it from skopeo (TLS, digest), "
        + "the SDK from a local file. The commit column is what the registry does on top: CompleteMultipartUpload, then a server-side copy of the whole blob.");
    L.push("");
    const timeRows: [string, Sample[]][] = results.sweep.flatMap((e): [string, Sample[]][] => [
        [`raw S3 PUT, ${e.chunkMb} MB parts`, e.put],
        [`push, ${e.chunkMb} MB chunks`, e.push],
    ]);
    if (top) {
        timeRows.push([`raw S3 PUT, ${top.n} images at once`, top.put], [`${top.n} concurrent pushes`, top.push]);
    }
    L.push(...s3TimeTable(timeRows));
    L.push("");
    L.push("The same operations from the registry's side: the sum of its request durations (`http.response.duration` in its log) by kind. "
        + "A PATCH carries the blob's bytes (the registry reads them from skopeo and uploads each full part to S3 before reading on); the final PUT commits the upload "
        + "(last part, CompleteMultipartUpload, then the server-side copy from `_uploads/` to `blobs/`). Requests that move no data (HEAD, POST, `/v2/`) cost mostly their bcrypt check.");
    L.push("");
    const regRows: [string, Sample[]][] = results.sweep.map((e): [string, Sample[]] => [`push, ${e.chunkMb} MB chunks`, e.push]);
    if (top) {
        regRows.push([`${top.n} concurrent pushes`, top.push]);
    }
    regRows.push(["pull, redirect on", results.pull.redirectOn], ["pull, redirect off", results.pull.redirectOff]);
    L.push(...registryTimeTable(regRows));
    L.push("");
    L.push(...bottleneckNotes(results));
    L.push("");
    if (results.profiles.length > 0) {
        L.push("### Registry CPU profiles (Go pprof from the debug port)");
        L.push("");
        L.push("Share of the registry's CPU samples by what the code was doing (flat time, so nothing is counted twice):");
        L.push("");
        const cats = Object.keys(results.profiles[0].categories);
        L.push(row(["profile", "samples", ...cats]));
        L.push(sep(2 + cats.length));
        for (const p of results.profiles) {
            L.push(row([p.name, p.totalSamples, ...cats.map((c) => `${fmt(p.categories[c] ?? 0, 1)}%`)]));
        }
        L.push("");
        for (const p of results.profiles) {
            L.push(`<details><summary>Top functions: ${p.name}</summary>`);
            L.push("");
            L.push(row(["flat %", "cum %", "function"]));
            L.push(row(["---:", "---:", "---"]));
            for (const r of p.top) {
                L.push(row([fmt(r.flatPct, 1), fmt(r.cumPct, 1), `\`${r.fn}\``]));
            }
            L.push("");
            L.push("</details>");
            L.push("");
        }
    }

    // Requests.
    if (results.requests) {
        const q = results.requests;
        const push = classify(q.push);
        const on = classify(q.pullRedirect);
        const off = classify(q.pullNoRedirect);
        const layerMb = q.layerBytes / 1024 / 1024;
        const modelPut = REGISTRY_S3_REQUESTS.perPushPutClass + Math.ceil(layerMb / q.chunkMb) + (layerMb > REGISTRY_S3_REQUESTS.multipartCopyPartMb ? Math.ceil(layerMb / REGISTRY_S3_REQUESTS.multipartCopyPartMb) : 0);
        L.push("## S3 requests per operation");
        L.push("");
        L.push(`From versitygw's access log, health checks excluded; one-layer image, ${fmt(layerMb, 0)} MB layer, ${q.chunkMb} MB chunks. These feed the request line of the cost model (components/cost.ts, docs/COSTS.md).`);
        L.push("");
        L.push(row(["operation", "PUT/LIST-class", "GET-class", "free (DELETE)", "by type"]));
        L.push(row(["---", "---:", "---:", "---:", "---"]));
        L.push(row(["push", push.put, push.get, push.free, opCountsText(q.push)]));
        L.push(row(["pull, redirect on (client fetches from S3)", on.put, on.get, on.free, opCountsText(q.pullRedirect)]));
        L.push(row(["pull, redirect off", off.put, off.get, off.free, opCountsText(q.pullNoRedirect)]));
        L.push("");
        L.push(`Cost model for this push: ${modelPut} PUT/LIST-class (${REGISTRY_S3_REQUESTS.perPushPutClass} fixed + one UploadPart per chunk + one UploadPartCopy per ${REGISTRY_S3_REQUESTS.multipartCopyPartMb} MB) `
            + `and ${REGISTRY_S3_REQUESTS.perPushGetClass} GET-class, against ${push.put} and ${push.get} measured; per pull ${REGISTRY_S3_REQUESTS.perPullGetClassRedirect} GET-class with redirect on and `
            + `${REGISTRY_S3_REQUESTS.perPullGetClassStreamed} with it off, against ${on.get} and ${off.get} measured. `
            + `The registry's storage health check adds one ListObjectsV2 per interval (${STORAGE_HEALTH_INTERVAL_SECONDS} s in the rendered config) whether or not anyone pushes.`);
        L.push("");
    }

    // Reproduce.
    L.push("## Reproduce");
    L.push("");
    L.push("```sh");
    L.push("npm ci");
    L.push("bash scripts/install-rehearsal-tools.sh   # registry + versitygw into .cache/bin, skopeo");
    L.push("npm run bench                              # ~10-15 min on 2 cores; rewrites this file and docs/bench-*.svg");
    L.push("BENCH_QUICK=1 npm run bench                # ~2 min smoke run, writes .bench/quick/ instead");
    L.push("```");
    L.push("");
    L.push("Settings (environment): `BENCH_REPEATS` (3), `BENCH_LAYER_MB` (256), `BENCH_CHUNKS_MB` (5,10,32,64), `BENCH_CONCURRENCY` (1,4,8), "
        + "`BENCH_SWEEP_CONCURRENCY` (the highest level), `BENCH_SWEEP_CONC_REPEATS` (3), `BENCH_BASE_MB` (16), `BENCH_OWN_MB` (64), `BENCH_RSS_BUDGET_MB` (200), "
        + "`BENCH_GOMEMLIMIT` (off: the tuning variant's GOMEMLIMIT), `BENCH_TUNING_BCRYPT_COSTS` (8: one tuning variant per cost), "
        + "`BENCH_PROFILE` (1; needs `go` for `go tool pprof`), `BENCH_DIR` (scratch, default under /dev/shm), `BENCH_KEEP=1`, `BENCH_OUT` (output directory), "
        + "`BENCH_RESULTS_JSON` (raw results, default .bench/results.json) and `BENCH_FROM_JSON=.bench/results.json` to re-render this file without measuring.");
    L.push("");
    L.push(`This run: ${JSON.stringify({ repeats: cfg.repeats, layerMb: cfg.layerMb, chunksMb: cfg.chunksMb, concurrency: cfg.concurrency, sweepConcurrency: cfg.sweepConcurrency, sweepConcurrencyRepeats: cfg.sweepConcurrencyRepeats, baseMb: cfg.baseMb, ownMb: cfg.ownMb, rssBudgetMb: cfg.rssBudgetMb })}.`);
    L.push("");
    return L.join("\n");
}

/** What the owner can change, drawn from this run's numbers. */
function recommendations(results: Results): string[] {
    const cfg = results.meta.config;
    const out = ["## Recommendations from this run", ""];
    const p = programOf(results);
    out.push(`1. **S3 chunk size ${results.chosen.chunkMb} MB** (\`chunksize: ${results.chosen.chunkMb * 1024 * 1024}\`), ${chunkDefaultNote(results)}: ${results.chosen.reason}.${memoryLimitNote(results)}`);
    const t = results.tuning;
    const base = variantOf(results, "program")[0];
    const mem = variantOf(results, "memlimit")[0];
    const bcs = variantOf(results, "bcrypt");
    if (t && base && mem && p.env.GOMEMLIMIT) {
        const withPeak = Math.max(...rss(base.push));
        const withoutPeak = Math.max(...rss(mem.push));
        const verdict = withPeak < cfg.rssBudgetMb && withoutPeak >= cfg.rssBudgetMb
            ? "the limit is what keeps the registry inside the budget"
            : withPeak < cfg.rssBudgetMb
              ? "inside the budget either way in this run"
              : withPeak < withoutPeak
                ? "lower, but still outside the budget"
                : "the limit did not lower the peak in this run";
        out.push(`2. **\`GOMEMLIMIT=${p.env.GOMEMLIMIT}\` in the registry container's environment** (as deployed, \`REGISTRY_CONTAINER_ENV\`): peak RSS at ${t.n} concurrent pushes `
            + `${fmt(withoutPeak, 0)} MB ${memVariantText(mem)} → ${fmt(withPeak, 0)} MB with it (${verdict}); ${mem.goMemLimit === "off" ? "without it" : `with \`${mem.name}\``} the registry pushed at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed throughput. `
            + "A soft limit: if more uploads run at once than fit under it, the GC works harder instead of failing.");
    }
    if (t && base && bcs.length > 0) {
        const parts = bcs.map((bc) => `\`${bc.name}\` pushed at ${fmtRatio(ratio(mbps(bc.push), mbps(base.push)))} the throughput of cost ${p.bcryptCost} and used ${fmt(cpuPerGiB(bc.push).registry, 2)} registry CPU-s/GiB against ${fmt(cpuPerGiB(base.push).registry, 2)}`);
        out.push(`3. **htpasswd bcrypt cost ${p.bcryptCost}** (as deployed, \`HTPASSWD_BCRYPT_COST\`): the registry verifies bcrypt on every request; at ${t.n} concurrent pushes ${parts.join("; ")}. `
            + "The password is 32 random characters (~190 bits), so the cost factor protects nothing that needs it.");
    }
    const on = cpuPerGiB(results.pull.redirectOn);
    const off = cpuPerGiB(results.pull.redirectOff);
    out.push(`4. **Keep pulls redirected to S3**: the registry spends ${fmt(on.registry, 2)} CPU-s/GiB on a redirected pull and ${fmt(off.registry, 2)} when it streams, `
        + `and with redirect on the bytes never touch the droplet's CPU or transfer allowance.`);
    out.push("5. Loopback hides round trips: between a droplet and S3 every part costs a request round trip, which smaller chunks pay more often. The memory budget decides here, "
        + "but time a real push once deployed (`time skopeo copy …`) before changing it.");
    out.push("");
    return out;
}

/** Conclusions drawn from the numbers of this run (phrased from the data, not typed). */
function bottleneckNotes(results: Results): string[] {
    const out: string[] = [];
    const cpus = results.meta.host.cpus;
    const cfg = results.meta.config;
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const put = cpuPerGiB(chosen.put);
    const push = cpuPerGiB(chosen.push);
    const fsPush = cpuPerGiB(results.filesystem.push);
    const pushRatio = ratio(mbps(chosen.push), mbps(chosen.put)).pairedMedian;
    const reg = registryTimeSplit(chosen.push);
    const s3 = s3TimeSplit(chosen.push);
    const saturated = (c: { machine: number }) => c.machine >= cpus * 0.9;

    // Single push.
    const rawWall = median(chosen.put.map((x) => x.seconds));
    const rest = reg.wall - reg.patch - reg.commit - reg.manifest - reg.other;
    const extra = reg.wall - rawWall;
    out.push(`- **Single push (${results.chosen.chunkMb} MB chunks), ${fmt(pushRatio, 2)}x of raw PUT.** The push took ${fmt(reg.wall, 2)} s against ${fmt(rawWall, 2)} s for the raw PUT. `
        + `The registry's log splits the ${fmt(extra, 2)} s extra: the commit ${fmt(reg.commit, 2)} s (CompleteMultipartUpload, then the server-side copy of the blob from \`_uploads/\` to \`blobs/\`, `
        + `${fmt(s3.commit, 2)} s of parallel S3 request time; the raw PUT has no such step); the layer's PATCH, which receives the bytes and uploads the parts, ${fmt(reg.patch, 2)} s, `
        + `${fmt(reg.patch - rawWall, 2)} s longer than the whole raw PUT (TLS, the blob digest, Content-MD5 and SigV4 hashing, all on the same two cores); requests that move no data ${fmt(reg.other + reg.manifest, 2)} s `
        + `(${fmt(reg.requests, 0)} requests, each paying a bcrypt check); and ${fmt(Math.max(0, rest), 2)} s outside any registry request (skopeo starting, reading the layout, TLS handshakes). `
        + `Without the commit the push would have been ${fmt(rawWall / (reg.wall - reg.commit), 2)}x of raw PUT. `
        + `CPU: ${fmt(push.total, 2)} CPU-s/GiB for the whole path against ${fmt(put.total, 2)} (registry ${fmt(push.registry, 2)}; versitygw ${fmt(push.s3, 2)} vs ${fmt(put.s3, 2)}; skopeo ${fmt(push.client, 2)} vs the SDK ${fmt(put.client, 2)}); `
        + `the machine had ${fmt(push.machine, 2)} of ${cpus} cores busy (${fmt(push.other, 2)} of them other tenants)`
        + (saturated(push) ? ", so CPU per byte limits it as well." : ", so a single push waits more than it computes."));
    out.push(`- The S3 server's CPU per GiB doubles for a registry push (${fmt(push.s3, 2)} vs ${fmt(put.s3, 2)}) because of that commit copy: every byte is written twice (the posix backend copies again on each Complete). `
        + "On AWS the copy runs inside S3: the droplet pays its latency, not its CPU.");
    out.push(`- The registry itself needs ${fmt(push.registry, 2)} CPU-s/GiB with the S3 driver and ${fmt(fsPush.registry, 2)} with the filesystem driver (which pushes at ${sumMb(results.filesystem.push)} MB/s, ${fmtRatio(ratio(mbps(results.filesystem.push), mbps(results.filesystem.put)))} of raw PUT). `
        + "The difference is the S3 client in aws-sdk-go v1: it computes Content-MD5 and a SigV4 sha256 over every part on top of the registry's own sha256 of the blob (see the profiles).");

    // Concurrency.
    const top = [...results.concurrency.levels].sort((a, b) => b.n - a.n)[0];
    if (top) {
        const tp = cpuPerGiB(top.push);
        const tb = cpuPerGiB(top.put);
        const aggRatio = ratio(mbps(top.push), mbps(top.put)).pairedMedian;
        out.push(`- **${top.n} concurrent pushes, ${fmt(aggRatio, 2)}x of raw PUT.** ${fmt(tp.total, 2)} CPU-s/GiB against ${fmt(tb.total, 2)} for the same objects uploaded raw; the machine had `
            + `${fmt(tp.machine, 2)} of ${cpus} cores busy. `
            + (saturated(tp)
                ? `That is saturation, so throughput is set by CPU per byte: the CPU ratio predicts ${fmt(tb.total / tp.total, 2)}x, measured ${fmt(aggRatio, 2)}x.`
                : "The cores were not saturated, so latency (turn-taking and commits) is the limit, as for a single push."));
    }

    // Memory.
    const rssRows = results.sweep.map((e) => ({ chunk: e.chunkMb, one: median(rss(e.push)), many: Math.max(...rss(e.conc)) }));
    const uploads = cfg.sweepConcurrency * 2;
    out.push(`- **Memory.** Peak RSS with ${limitText(programOf(results))} at ${cfg.sweepConcurrency} concurrent pushes (${uploads} blob uploads at once: each image's base and own layer) by chunk size: `
        + rssRows.map((r) => `${r.chunk} MB → ${fmt(r.many, 0)} MB`).join(", ")
        + `: ${rssRows.map((r) => `${fmt(r.many / uploads, 0)} MB`).join(" / ")} per upload. Each upload holds a \`bytes.Buffer\` for its current part that grows by doubling `
        + `past the chunk size (5 MB → 8 MB capacity, 10 MB → 16 MB; with chunks as large as the layers, ${cfg.baseMb} and ${cfg.ownMb} MB here, the layer size bounds it), `
        + `and Go's GC (GOGC=100) lets the heap grow to twice the live data before it collects, unless GOMEMLIMIT makes it collect sooner (these runs: ${limitText(programOf(results))}, as deployed).`);
    if (results.tuning) {
        const p = programOf(results);
        const base = variantOf(results, "program")[0];
        const mem = variantOf(results, "memlimit")[0];
        const bcs = variantOf(results, "bcrypt");
        const tn = results.tuning.n;
        if (base && mem) {
            out.push(`- With ${limitText(p)} (as deployed) the ${tn} concurrent pushes of the tuning runs peaked at ${fmt(Math.max(...rss(base.push)), 0)} MB; `
                + `${memVariantText(mem)} at ${fmt(Math.max(...rss(mem.push)), 0)} MB, pushing at ${fmtRatio(ratio(mbps(mem.push), mbps(base.push)))} the deployed throughput: `
                + "the limit removes the GC headroom, not the buffers, so it helps only where the live buffers fit under it.");
        }
        if (base && bcs.length > 0) {
            out.push(`- **Auth.** The registry checks the htpasswd bcrypt hash on every request (no cache). At cost ${p.bcryptCost} (as deployed) a request that moves no data took ~${fmt(reg.otherMeanMs, 0)} ms in a single push `
                + `(~${fmt(registryTimeSplit(base.push).otherMeanMs, 0)} ms with ${tn} pushes competing for the CPU); `
                + bcs.map((bc) => `with \`${bc.name}\` such a request took ~${fmt(registryTimeSplit(bc.push).otherMeanMs, 0)} ms with ${tn} pushes competing, and the pushes ran at ${fmtRatio(ratio(mbps(bc.push), mbps(base.push)))} the deployed throughput `
                    + `using ${fmt(cpuPerGiB(bc.push).registry, 2)} instead of ${fmt(cpuPerGiB(base.push).registry, 2)} registry CPU-s/GiB`).join("; ")
                + ". The password is 32 random characters, so a higher cost factor adds no protection worth that CPU.");
        }
    }

    // Pull.
    const off = cpuPerGiB(results.pull.redirectOff);
    const on = cpuPerGiB(results.pull.redirectOn);
    const get = cpuPerGiB(results.pull.get);
    const onReg = registryTimeSplit(results.pull.redirectOn);
    const offReg = registryTimeSplit(results.pull.redirectOff);
    const getWall = median(results.pull.get.map((x) => x.seconds));
    const onRegTime = onReg.manifest + onReg.blobGet + onReg.other;
    out.push(`- **Pull.** The raw GET took ${fmt(getWall, 2)} s (${fmt(get.total, 2)} CPU-s/GiB); the skopeo pull with redirect on ${fmt(onReg.wall, 2)} s, of which the registry's requests `
        + `(manifest, the authenticated 307s) took ${fmt(onRegTime, 2)} s and ${fmt(on.registry, 2)} CPU-s/GiB. The rest is skopeo: it needs ${fmt(on.client, 2)} CPU-s/GiB where the SDK needs ${fmt(get.client, 2)}, `
        + `and its CPU time is ${fmt(on.clientCores, 2)}× the wall time, one core's worth: the client is the bottleneck, on a machine with ${fmt(on.machine, 2)} of ${cpus} cores busy. `
        + `With a client as fast as the baseline's, the registry's share would make a redirected pull ${fmt(getWall / (getWall + onRegTime), 2)}x of raw GET. `
        + `Redirect off: ${fmt(offReg.wall, 2)} s; the registry (${fmt(off.registry, 2)} CPU-s/GiB) reads the blob from S3 and re-encrypts every byte for TLS while skopeo again uses ${fmt(off.clientCores, 2)} cores' worth of CPU. `
        + `Other tenants used ${fmt(get.other, 2)} / ${fmt(on.other, 2)} / ${fmt(off.other, 2)} cores during raw GET / redirect on / off.`);
    if (results.pull.clientOn?.length && results.pull.clientOff?.length) {
        const cOn = ratio(mbps(results.pull.clientOn), mbps(results.pull.get));
        const cOff = ratio(mbps(results.pull.clientOff), mbps(results.pull.get));
        const cOffCpu = cpuPerGiB(results.pull.clientOff);
        out.push(`- With the baseline's own client the registry path reaches ${fmtRatio(cOn)} of raw GET with redirect on and ${fmtRatio(cOff)} with it off `
            + `(skopeo: ${fmtRatio(ratio(mbps(results.pull.redirectOn), mbps(results.pull.get)))} and ${fmtRatio(ratio(mbps(results.pull.redirectOff), mbps(results.pull.get)))}). `
            + `With redirect on the registry's part is its authenticated 307 (the registry log above); without redirect it spends ${fmt(cOffCpu.registry, 2)} CPU-s/GiB of its own (S3 read + TLS), `
            + `and the Node client, which now has to decrypt TLS on its one thread, is the slower end (${fmt(cOffCpu.clientCores, 2)} cores' worth of CPU): that row measures the client as much as the registry.`);
    }

    // Profiles.
    for (const p of results.profiles) {
        const cats = Object.entries(p.categories).sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]) => `${k} ${fmt(v, 0)}%`);
        out.push(`- Registry CPU profile "${p.name}" (${p.totalSamples} of samples): ${cats.join(", ")}.`);
    }
    out.push("- What transfers to a droplet: the rehearsal runs client, registry and S3 server on the same cores; on a droplet S3 is AWS's and the client is elsewhere. "
        + `The registry's own ${fmt(push.registry, 2)} CPU-s/GiB means one vCPU can push about ${fmt(1024 / Math.max(0.001, push.registry), 0)} MB/s through it before the CPU, rather than the network, is the limit; `
        + "the turn-taking between receiving and uploading remains, and on a real network each UploadPart round trip is longer than on loopback, which favours larger chunks there.");
    return out;
}
