/**
 * The figures every section derives from repeated samples: throughput, peak RSS, CPU per GiB and
 * where a run's wall time went (from the S3 server's and the registry's logs). Pure.
 */
import type { Results, SweepEntry } from "../results";
import type { CpuSplit, Sample } from "../rig";
import { fmt, fmtSummary, median, summarize, type Ratio } from "../stats";

const GiB = 1024 ** 3;

export const mbps = (samples: Sample[]) => samples.map((s) => s.mbps);
export const rss = (samples: Sample[]) => samples.map((s) => s.peakRssMb ?? Number.NaN);
export const sumMb = (samples: Sample[]) => fmtSummary(summarize(mbps(samples)));
export const fmtRatio = (r: Ratio) => `${fmt(r.pairedMedian, 2)}x (${fmt(r.pairedMin, 2)}–${fmt(r.pairedMax, 2)})`;

export function minMax(values: number[]): { median: number; min: number; max: number } {
    return { median: median(values), min: Math.min(...values), max: Math.max(...values) };
}

export function chunkEntry(results: Results, chunkMb: number): SweepEntry {
    const entry = results.sweep.find((e) => e.chunkMb === chunkMb);
    if (!entry) {
        throw new Error(`no sweep entry for ${chunkMb} MB`);
    }
    return entry;
}

/** The highest concurrency level measured (the one the goals and the time tables use). */
export function topLevel(results: Results): Results["concurrency"]["levels"][number] | undefined {
    return [...results.concurrency.levels].sort((a, b) => b.n - a.n)[0];
}

export function cpuPerGiB(samples: Sample[]): CpuSplit & { total: number; cores: number; clientCores: number; machine: number; other: number } {
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
