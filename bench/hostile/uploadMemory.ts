/**
 * What layer uploads in flight cost the registry's memory: the rehearsal's stack on loopback (the
 * program's registry config and environment, GOMEMLIMIT included, on the S3 stand-in); per
 * phase, N uploads at once straight to the registry (the front's login), each a POST, one PATCH
 * whose body streams at a steady pace so that all N are in flight together, and the PUT that
 * commits it. The registry's resident memory (VmRSS of /proc/PID/status) is sampled every 50 ms.
 * Prints per phase the idle and peak memory, the peak over the registry's first idle, and that
 * per upload (what registryMemory.ts uploadMemoryBytes must cover).
 *
 *   node --import tsx bench/hostile/uploadMemory.ts [--uploads 1,8,16,32] [--mib 24] [--seconds 8] [--via registry|front]   (npm run setup first)
 *
 * `--via front` sends them through the front as the push user instead, where the front lets at
 * most registryMemory.ts uploadsInFlightMax into the registry at once.
 *
 * Distribution v3.1.2's S3 writer keeps each upload's unsent part in a bytes.Buffer taken from a
 * pool (registry/storage/driver/s3-aws/s3.go newWriter, Write: `w.buf`), flushed as a part once
 * it holds `chunksize` bytes, so an upload in flight holds up to one part plus the buffer's
 * growth; this bench measures what that comes to with the program's chunk size.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { Readable } from "node:stream";
import { uploadsInFlightMax } from "../../components/render/registryMemory";
import { DEFAULTS } from "../../components/settings";
import { startStack } from "../../test/harness/stack";
import { sleep } from "../../test/harness/wait";

const MIB = 1024 ** 2;

function flag(name: string, fallback: string): string {
    const at = process.argv.indexOf(name);
    return at >= 0 ? process.argv[at + 1] : fallback;
}

const rssBytes = (pid: number) => Number(/^VmRSS:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;

interface Target {
    host: string;
    port: number;
    authorization: string;
    /** The front's CA, when the target is the front (HTTPS). */
    ca?: string;
}

function send(target: Target, method: string, path: string, body?: Readable, length?: number): Promise<{ status: number; location?: string; text: string }> {
    return new Promise((resolve, reject) => {
        const headers: http.OutgoingHttpHeaders = { Authorization: target.authorization };
        if (body !== undefined) {
            headers["Content-Type"] = "application/octet-stream";
            headers["Content-Length"] = length;
        }
        const client = target.ca === undefined ? http : https;
        const req = client.request({ host: target.host, port: target.port, method, path, headers, agent: false, ca: target.ca }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, text: Buffer.concat(chunks).toString("utf8") }));
        });
        req.on("error", reject);
        if (body === undefined) {
            req.end();
        } else {
            body.pipe(req);
        }
    });
}

/** `data` as a stream that sends it in 64 KiB pieces spread evenly over `seconds`. */
function paced(data: Buffer, seconds: number): Readable {
    const piece = 64 * 1024;
    const pieces = Math.ceil(data.length / piece);
    const gapMs = (seconds * 1000) / pieces;
    let sent = 0;
    return new Readable({
        read() {
            if (sent >= pieces) {
                this.push(null);
                return;
            }
            const at = sent++;
            setTimeout(() => this.push(data.subarray(at * piece, (at + 1) * piece)), gapMs);
        },
    });
}

/** One upload as a client makes it: start, one streamed PATCH, the committing PUT. */
async function upload(target: Target, repository: string, data: Buffer, digest: string, seconds: number): Promise<void> {
    const start = await send(target, "POST", `/v2/${repository}/blobs/uploads/`);
    if (start.status !== 202 || start.location === undefined) {
        throw new Error(`POST: HTTP ${start.status} ${start.text}`);
    }
    const base = `${target.ca === undefined ? "http" : "https"}://${target.host}:${target.port}`;
    const location = new URL(start.location, base);
    const patch = await send(target, "PATCH", `${location.pathname}${location.search}`, paced(data, seconds), data.length);
    if (patch.status !== 202 || patch.location === undefined) {
        throw new Error(`PATCH: HTTP ${patch.status} ${patch.text}`);
    }
    const committed = new URL(patch.location, base);
    committed.searchParams.set("digest", digest);
    const put = await send(target, "PUT", `${committed.pathname}${committed.search}`);
    if (put.status !== 201) {
        throw new Error(`PUT: HTTP ${put.status} ${put.text}`);
    }
}

async function main(): Promise<void> {
    const phases = flag("--uploads", "1,8,16,32").split(",").map(Number);
    const size = Number(flag("--mib", "24")) * MIB;
    const seconds = Number(flag("--seconds", "8"));
    const via = flag("--via", "registry");
    if (via !== "registry" && via !== "front") {
        throw new Error(`--via must be registry or front; got ${JSON.stringify(via)}`);
    }
    const log = (line: string) => process.stderr.write(`[upload-memory] ${line}\n`);
    const stack = await startStack({ name: "bench-upload-memory" });
    try {
        const pid = stack.registry.process?.pid;
        if (pid === undefined) {
            throw new Error("the registry is not running");
        }
        // Straight to the registry behind the front, with the front's own login to it; or
        // through the front as the push user, where the front's bound on uploads applies.
        const basic = (l: { username: string; password: string }) => `Basic ${Buffer.from(`${l.username}:${l.password}`).toString("base64")}`;
        const backend = stack.registry.backend;
        const [host, port] = (via === "front" ? stack.front.host : backend.host).split(":");
        const target: Target = via === "front" ? { host, port: Number(port), authorization: basic(Object.values(stack.users)[0]), ca: stack.certs.caCertPem } : { host, port: Number(port), authorization: basic(backend.login) };
        const data = randomBytes(size);
        const digest = `sha256:${createHash("sha256").update(data).digest("hex")}`;
        const rows: string[] = [];
        // The S3 writer's buffers go back to a pool after each upload and the Go runtime keeps
        // what it grew to, so each phase starts above the last: counted from the first idle.
        await sleep(2000);
        const firstIdle = rssBytes(pid);
        for (const n of phases) {
            await sleep(2000);
            const idle = rssBytes(pid);
            let peak = idle;
            let sampling = true;
            const sampler = (async () => {
                while (sampling) {
                    peak = Math.max(peak, rssBytes(pid));
                    await sleep(50);
                }
            })();
            log(`${n} uploads of ${size / MIB} MiB at once, each over ${seconds} s`);
            const started = Date.now();
            const results = await Promise.allSettled(Array.from({ length: n }, (_, i) => upload(target, `bench/up-${n}-${i}`, data, digest, seconds)));
            sampling = false;
            await sampler;
            const failed = results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason));
            rows.push(
                `${String(n).padStart(7)}  ${(idle / MIB).toFixed(0).padStart(8)}  ${(peak / MIB).toFixed(0).padStart(8)}  ${((peak - firstIdle) / MIB).toFixed(0).padStart(15)}  ${((peak - firstIdle) / MIB / n).toFixed(1).padStart(10)}  ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}  ${failed.length === 0 ? "all committed" : `${failed.length} failed: ${[...new Set(failed)].join("; ")}`}`,
            );
        }
        process.stdout.write(`uploads sent to the ${via === "front" ? `front (at most ${uploadsInFlightMax(DEFAULTS.s3ChunkSizeMb * MIB)} let into the registry at once)` : "registry directly"}; S3 chunk size ${DEFAULTS.s3ChunkSizeMb} MiB; uploads of ${size / MIB} MiB, each PATCH over ${seconds} s; memory is the registry's VmRSS in MiB\n`);
        process.stdout.write("uploads  idle RSS  peak RSS  over first idle  per upload  secs    result\n");
        for (const row of rows) {
            process.stdout.write(`${row}\n`);
        }
    } finally {
        await stack.stop();
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
