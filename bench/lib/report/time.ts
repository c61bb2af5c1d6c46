/** "## Where the time goes": CPU per GiB, S3 and registry request time, the conclusions and the profiles. */
import type { Results } from "../results";
import type { Sample } from "../rig";
import { fmt } from "../stats";
import { bottleneckNotes } from "./bottlenecks";
import { row, sep } from "./markdown";
import { chunkEntry, cpuPerGiB, registryTimeSplit, s3TimeSplit, topLevel } from "./measures";

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

export function timeSection(results: Results): string[] {
    const m = results.meta;
    const chosen = chunkEntry(results, results.chosen.chunkMb);
    const top = topLevel(results);
    const L: string[] = [];
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
        + "(last part, CompleteMultipartUpload, then the server-side copy from `_uploads/` to `blobs/`). Each request, including those that move no data (HEAD, POST, `/v2/`), pays a bcrypt check of the htpasswd login.");
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
    return L;
}
