/**
 * Turns the front benchmark's results (bench/results/front.json) into the console table and
 * docs/BENCH-FRONT.md. Pure: results in, text out. Every number and every conclusion is computed
 * here from the samples, so re-rendering other results can never keep a stale claim.
 */
import { fmt, fmtSummary, median, summarize, type Summary } from "./stats";
import type { HostInfo } from "./hostInfo";

const MiB = 1024 ** 2;
/** USER_HZ of /proc/PID/stat (bench/lib/proc.ts): the CPU figures' resolution. */
const TICK_SECONDS = 0.01;
const GiB = 1024 ** 3;

export type Variant = "baseline" | "without-front" | "with-front";
export type Direction = "push" | "pull";

/** One timed operation. CPU figures are utime+stime deltas of each process around it. */
export interface FrontSample {
    round: number;
    /** Where this sample's variant ran in its round (0 = first). */
    position: number;
    seconds: number;
    bytes: number;
    /** MiB/s */
    mbps: number;
    /** null where the variant has no such process (the baseline has no registry and no front). */
    cpu: { registry: number | null; front: number | null; s3: number; client: number };
    /** Cores busy in processes other than the benchmark's own during the operation. */
    otherCores: number;
    /** The registry accepted the upload (push), or the bytes hashed to the pushed digest (pull). */
    ok: boolean;
    error?: string;
}

export interface FrontWorkload {
    variant: Variant;
    direction: Direction;
    /** Whether blob GETs were redirected to S3; null for pushes and the baseline. */
    redirect: boolean | null;
    samples: FrontSample[];
}

export interface FrontResults {
    meta: {
        startedAt: string;
        durationSeconds: number;
        host: HostInfo;
        versions: Record<string, string>;
        quick: boolean;
        rounds: number;
        layerBytes: number;
        layerDigest: string;
        /** Multipart part size of the baseline and the registry's S3 chunk size (DEFAULTS.s3ChunkSizeMb). */
        partSizeMb: number;
    };
    workloads: FrontWorkload[];
}

export const VARIANT_NAMES: Record<Variant, string> = { baseline: "baseline (S3 directly)", "without-front": "without front", "with-front": "with front" };

export function workloadName(w: Pick<FrontWorkload, "variant" | "direction" | "redirect">): string {
    const redirect = w.redirect === null ? "" : w.redirect ? ", redirect on" : ", redirect off";
    return `${VARIANT_NAMES[w.variant]}: ${w.direction}${redirect}`;
}

/** CPU seconds per GiB moved. */
export function cpuPerGiB(cpuSeconds: number, bytes: number): number {
    return (cpuSeconds / bytes) * GiB;
}

export interface WorkloadStats {
    workload: FrontWorkload;
    /** Over the samples that succeeded. */
    mbps: Summary;
    registryCpu?: Summary;
    frontCpu?: Summary;
    s3Cpu: Summary;
    errors: number;
    /** median MiB/s over the baseline's median MiB/s in the same direction. */
    ratioToBaseline: number;
}

function cpuSummary(samples: FrontSample[], pick: (s: FrontSample) => number | null): Summary | undefined {
    const values = samples.map((s) => pick(s)).filter((v): v is number => v !== null);
    return values.length === samples.length && values.length > 0 ? summarize(samples.map((s) => cpuPerGiB(pick(s) as number, s.bytes))) : undefined;
}

export function find(results: FrontResults, variant: Variant, direction: Direction, redirect: boolean | null): FrontWorkload | undefined {
    return results.workloads.find((w) => w.variant === variant && w.direction === direction && w.redirect === redirect);
}

export function statsOf(results: FrontResults, w: FrontWorkload): WorkloadStats {
    const ok = w.samples.filter((s) => s.ok);
    const mbps = summarize(ok.map((s) => s.mbps));
    const base = find(results, "baseline", w.direction, null);
    const baseMbps = median((base?.samples ?? []).filter((s) => s.ok).map((s) => s.mbps));
    return {
        workload: w,
        mbps,
        registryCpu: cpuSummary(ok, (s) => s.cpu.registry),
        frontCpu: cpuSummary(ok, (s) => s.cpu.front),
        s3Cpu: summarize(ok.map((s) => cpuPerGiB(s.cpu.s3, s.bytes))),
        errors: w.samples.length - ok.length,
        ratioToBaseline: mbps.median / baseMbps,
    };
}

/** How many different orders the variants ran in, over the rounds (from each sample's position). */
export function distinctOrders(results: FrontResults): number {
    const orders = new Map<number, Map<number, Variant>>();
    for (const w of results.workloads) {
        for (const s of w.samples) {
            const order = orders.get(s.round) ?? new Map<number, Variant>();
            order.set(s.position, w.variant);
            orders.set(s.round, order);
        }
    }
    return new Set([...orders.values()].map((o) => [...o.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]).join(","))).size;
}

/** Whether two ranges of per-round figures overlap (then the run does not separate them). */
export function rangesOverlap(a: Summary, b: Summary): boolean {
    return a.min <= b.max && b.min <= a.max;
}

const x = (n: number) => `${fmt(n, 2)}×`;
const cpu = (s: Summary | undefined) => (s === undefined ? "–" : fmt(s.median, 2));
const cpuRange = (s: Summary | undefined) => (s === undefined ? "–" : fmtSummary(s, 2));

/** "slower" / "faster" with the percentage, from a ratio of medians. */
function speedWords(ratio: number): string {
    const pct = Math.abs(ratio - 1) * 100;
    if (pct < 0.5) {
        return "as fast as";
    }
    return ratio < 1 ? `${fmt(pct, 0)}% slower than` : `${fmt(pct, 0)}% faster than`;
}

/** The conclusions the data supports, one sentence each. */
export function conclusions(results: FrontResults): string[] {
    const out: string[] = [];
    for (const direction of ["push", "pull"] as const) {
        const redirect = direction === "pull" ? false : null;
        const base = find(results, "baseline", direction, null);
        const front = find(results, "with-front", direction, redirect);
        const bare = find(results, "without-front", direction, redirect);
        if (!base || !front || !bare) {
            continue;
        }
        const b = statsOf(results, base);
        const f = statsOf(results, front);
        const n = statsOf(results, bare);
        const what = direction === "push" ? "A push" : "A pull with redirects off";
        out.push(
            `${what} through the front ran at ${fmt(f.mbps.median)} MiB/s, ${x(f.ratioToBaseline)} the baseline's ${fmt(b.mbps.median)} MiB/s; ` +
                `without the front it ran at ${fmt(n.mbps.median)} MiB/s, ${x(n.ratioToBaseline)} the baseline.`,
        );
        const ratio = f.mbps.median / n.mbps.median;
        out.push(
            rangesOverlap(f.mbps, n.mbps)
                ? `On ${direction}, the median through the front is ${speedWords(ratio)} without it, but the per-round ranges overlap (${fmt(f.mbps.min)}–${fmt(f.mbps.max)} against ${fmt(n.mbps.min)}–${fmt(n.mbps.max)} MiB/s), so this run does not separate the two.`
                : `On ${direction}, every round through the front was ${ratio < 1 ? "slower" : "faster"} than every round without it (median ${speedWords(ratio)} without it).`,
        );
        if (f.frontCpu && f.registryCpu && n.registryCpu) {
            const withTotal = f.frontCpu.median + f.registryCpu.median;
            const added = withTotal - n.registryCpu.median;
            out.push(
                `On ${direction}, the front used ${fmt(f.frontCpu.median, 2)} CPU-s per GiB and the registry behind it ${fmt(f.registryCpu.median, 2)}, ` +
                    `against ${fmt(n.registryCpu.median, 2)} for the registry serving TLS and logins itself: the front ${added >= 0 ? "adds" : "saves"} ${fmt(Math.abs(added), 2)} CPU-s per GiB ` +
                    `(${fmt(withTotal, 2)} against ${fmt(n.registryCpu.median, 2)}).`,
            );
            const shed = n.registryCpu.median - f.registryCpu.median;
            out.push(
                `Behind the front, the registry's own CPU per GiB on ${direction} is ${fmt(Math.abs(shed), 2)} CPU-s ${shed >= 0 ? "lower" : "higher"} than when it serves TLS itself.`,
            );
        }
    }
    const on = find(results, "with-front", "pull", true);
    const off = find(results, "with-front", "pull", false);
    if (on && off) {
        const s = statsOf(results, on);
        const o = statsOf(results, off);
        out.push(`A pull through the front with redirects on ran at ${fmt(s.mbps.median)} MiB/s, ${x(s.ratioToBaseline)} the baseline and ${x(s.mbps.median / o.mbps.median)} the same pull with redirects off.`);
        if (s.frontCpu && o.frontCpu && s.registryCpu) {
            // A median under one tick is not a measurement of how little: say so instead of "0.000".
            const tick = cpuPerGiB(TICK_SECONDS, median(on.samples.map((x) => x.bytes)));
            const used = (v: number) => (v < tick ? `less than one ${TICK_SECONDS * 1000} ms tick per pull (under ${fmt(tick, 3)} CPU-s per GiB)` : `${fmt(v, 3)} CPU-s per GiB`);
            out.push(
                `With redirects on, the front used ${used(s.frontCpu.median)}, against ${fmt(o.frontCpu.median, 2)} with redirects off, and the registry ${used(s.registryCpu.median)}.`,
            );
        }
    }
    out.push(errorSentence(results));
    const other = summarize(results.workloads.flatMap((w) => w.samples.filter((s) => s.ok).map((s) => s.otherCores)));
    if (other.n > 0) {
        out.push(
            `Processes outside the benchmark kept a median of ${fmt(other.median, 2)} cores busy (up to ${fmt(other.max, 2)}) of the machine's ${results.meta.host.cpus} during the measured operations.`,
        );
    }
    return out;
}

export function errorSentence(results: FrontResults): string {
    const all = results.workloads.flatMap((w) => w.samples);
    const failed = results.workloads.flatMap((w) => w.samples.filter((s) => !s.ok).map((s) => ({ w, s })));
    const pulls = results.workloads.filter((w) => w.direction === "pull").flatMap((w) => w.samples);
    if (failed.length === 0) {
        return `All ${all.length} operations succeeded, and each of the ${pulls.length} downloads hashed to the pushed digest.`;
    }
    const first = failed[0];
    return (
        `${failed.length} of ${all.length} operations failed (${pulls.filter((s) => !s.ok).length} of ${pulls.length} downloads); ` +
        `the first, ${workloadName(first.w)} in round ${first.s.round + 1}: ${first.s.error ?? "no message"}.`
    );
}

interface Row {
    name: string;
    mbps: string;
    ratio: string;
    registry: string;
    front: string;
    errors: string;
}

function rows(results: FrontResults, ranges: boolean): Row[] {
    return results.workloads.map((w) => {
        const s = statsOf(results, w);
        return {
            name: workloadName(w),
            mbps: fmtSummary(s.mbps),
            ratio: x(s.ratioToBaseline),
            registry: ranges ? cpuRange(s.registryCpu) : cpu(s.registryCpu),
            front: ranges ? cpuRange(s.frontCpu) : cpu(s.frontCpu),
            errors: String(s.errors),
        };
    });
}

const HEADERS: Row = { name: "workload", mbps: "MiB/s median (min–max)", ratio: "× baseline", registry: "registry CPU-s/GiB", front: "front CPU-s/GiB", errors: "errors" };

/** The console table. */
export function renderFrontTable(results: FrontResults): string {
    const all = [HEADERS, ...rows(results, false)];
    const keys = Object.keys(HEADERS) as (keyof Row)[];
    const widths = keys.map((k) => Math.max(...all.map((r) => r[k].length)));
    const line = (r: Row) => keys.map((k, i) => r[k].padEnd(widths[i])).join("  ").trimEnd();
    const m = results.meta;
    return [
        `${m.rounds} rounds, ${fmt(m.layerBytes / MiB, 0)} MiB layer, ${m.partSizeMb} MiB parts`,
        line(HEADERS),
        widths.map((w) => "-".repeat(w)).join("  "),
        ...all.slice(1).map(line),
        "",
        ...conclusions(results),
        "",
    ].join("\n");
}

/** docs/BENCH-FRONT.md */
export function renderFrontMarkdown(results: FrontResults): string {
    const m = results.meta;
    const v = m.versions;
    const layerMiB = fmt(m.layerBytes / MiB, 0);
    const table = [
        `| ${Object.values(HEADERS).join(" | ")} |`,
        `|${Object.keys(HEADERS).map((k) => (k === "name" ? "---" : "---:")).join("|")}|`,
        ...rows(results, true).map((r) => `| ${r.name} | ${r.mbps} | ${r.ratio} | ${r.registry} | ${r.front} | ${r.errors} |`),
    ];
    const perRound = [
        `| workload | ${Array.from({ length: m.rounds }, (_, i) => `round ${i + 1}`).join(" | ")} |`,
        `|---|${Array.from({ length: m.rounds }, () => "---:").join("|")}|`,
        ...results.workloads.map((w) => `| ${workloadName(w)} | ${Array.from({ length: m.rounds }, (_, i) => roundCell(w, i)).join(" | ")} |`),
    ];
    return [
        "# The front's cost: push and pull with and without Caddy",
        "",
        m.quick
            ? "Generated by `BENCH_QUICK=1 npm run bench:front`, a smoke run, from `.bench/quick/front.json`."
            : "Generated by `npm run bench:front` from `bench/results/front.json`; `npm run bench:front -- --render` re-renders this file from that JSON.",
        "",
        "## Run",
        "",
        `- ${m.startedAt.slice(0, 10)}, ${fmt(m.durationSeconds / 60, 1)} minutes; ${m.host.model}, ${m.host.cpus} cores, ${m.host.memGb} GB, Linux ${m.host.kernel}; ` +
            `load average ${m.host.loadBefore.join(" / ")} before, ${m.host.loadAfter.join(" / ")} after.`,
        `- registry ${v.registry}, Caddy ${v.caddy}, versitygw ${v.versitygw}, Node ${v.node}.`,
        `- One random layer of ${layerMiB} MiB (\`${m.layerDigest}\`), ${m.rounds} rounds after an unrecorded warm-up; the variants ran in ${distinctOrders(results)} different orders over the rounds.`,
        `- Baseline: the layer uploaded to versitygw as a multipart upload with ${m.partSizeMb} MiB parts (the registry's S3 chunk size), one in flight, and downloaded back.`,
        "- Without front: the registry serving TLS and its htpasswd itself, on the program's config with only `http.tls` set to a key pair.",
        "- With front: the program's shape, the registry on plain HTTP on loopback behind Caddy on the program's rendered front config.",
        "- Push: `POST /v2/<name>/blobs/uploads/`, then one `PUT ?digest=` streaming the layer from the same Node client as the baseline's; " +
            "the registry's storage is emptied and the registry restarted before each push. Pull: one blob `GET`, written to a file and hashed (the 307 followed with redirects on).",
        `- CPU-s/GiB: utime+stime of the process (from /proc/PID/stat) around each operation, per GiB moved; median (min–max) over rounds. ` +
            `CPU time is read in ${TICK_SECONDS * 1000} ms ticks; one tick is ${fmt(cpuPerGiB(TICK_SECONDS, m.layerBytes), 3)} CPU-s/GiB at this layer size.`,
        "",
        "## Results",
        "",
        ...table,
        "",
        "## Findings",
        "",
        ...conclusions(results).map((s) => `- ${s}`),
        "",
        "## MiB/s per round",
        "",
        ...perRound,
        "",
    ].join("\n");
}

function roundCell(w: FrontWorkload, round: number): string {
    const s = w.samples.find((x) => x.round === round);
    if (s === undefined) {
        return "–";
    }
    return s.ok ? fmt(s.mbps) : "error";
}

