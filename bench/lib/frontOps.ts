/**
 * The front benchmark's operations and their accounting: a blob upload (POST, then one PUT
 * streaming the file) and a blob GET through a registry URL, each timed with the CPU of the
 * registry, the front and the S3 server around it.
 */
import { randomBytes } from "node:crypto";
import { createReadStream, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { performance } from "node:perf_hooks";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

import type { RegistryLogin } from "../../test/harness";
import type { FrontSample } from "./frontReport";
import { getBlobThroughRegistry, hashInto } from "./httpget";
import { cpuSeconds, machineBusySeconds, selfCpuSeconds } from "./proc";
import type { Sample } from "./rig";

const MiB = 1024 * 1024;

/** Where a client reaches a registry, and the processes that serve it. */
export interface Target {
    /** `https://127.0.0.1:PORT`: the front's, or the registry's own when it serves TLS. */
    url: string;
    ca: string;
    login: RegistryLogin;
    registryPid: () => number;
    /** Absent when clients talk to the registry directly. */
    frontPid?: () => number;
}

interface Response {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One request on a fresh connection; `file` is streamed as the body. */
function send(url: string, o: { method: string; ca: string; login: RegistryLogin; file?: { path: string; size: number } }): Promise<Response> {
    const headers: Record<string, string> = {
        Authorization: `Basic ${Buffer.from(`${o.login.username}:${o.login.password}`).toString("base64")}`,
        "Content-Length": String(o.file?.size ?? 0),
    };
    if (o.file) {
        headers["Content-Type"] = "application/octet-stream";
    }
    const mod = url.startsWith("https:") ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(url, { method: o.method, ca: o.ca, headers, agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8").slice(0, 500) }));
            res.on("error", reject);
        });
        req.on("error", reject);
        if (o.file) {
            // The same 1 MiB reads as the baseline's upload.
            pipeline(createReadStream(o.file.path, { highWaterMark: MiB }), req).catch(reject);
        } else {
            req.end();
        }
    });
}

/** A monolithic blob upload: POST for an upload URL, then PUT ?digest= with the whole layer. Returns an error or undefined. */
export async function uploadBlob(t: Target, repo: string, file: { path: string; size: number; digest: string }): Promise<string | undefined> {
    const started = await send(`${t.url}/v2/${repo}/blobs/uploads/`, { method: "POST", ca: t.ca, login: t.login });
    const location = started.headers.location;
    if (started.status !== 202 || location === undefined) {
        return `POST blobs/uploads: HTTP ${started.status} ${started.body}`;
    }
    const put = new URL(location, t.url);
    put.searchParams.set("digest", file.digest);
    const done = await send(put.toString(), { method: "PUT", ca: t.ca, login: t.login, file });
    return done.status === 201 ? undefined : `PUT ?digest=: HTTP ${done.status} ${done.body}`;
}

/** GET of the blob into `scratch` (following a redirect); an error unless it hashes to `digest` and was (not) redirected as expected. */
export async function downloadBlob(t: Target, repo: string, digest: string, scratch: string, redirect: boolean): Promise<string | undefined> {
    try {
        const got = await getBlobThroughRegistry(`${t.url}/v2/${repo}/blobs/${digest}`, scratch, { ca: t.ca, username: t.login.username, password: t.login.password });
        if (got.digest !== digest) {
            return `GET blob: got ${got.digest}, want ${digest}`;
        }
        return got.redirected === redirect ? undefined : `GET blob: redirected=${got.redirected}, the registry was configured with redirect=${redirect}`;
    } finally {
        rmSync(scratch, { force: true });
    }
}

/** Writes `bytes` random bytes to `file`; returns its `sha256:` digest. */
export function writeRandomFile(file: string, bytes: number): Promise<string> {
    let left = bytes;
    const source = async function* () {
        while (left > 0) {
            const chunk = randomBytes(Math.min(left, 4 * MiB));
            left -= chunk.length;
            yield chunk;
        }
    };
    return hashInto(Readable.from(source()), file);
}

interface Snapshot {
    registry: number | null;
    front: number | null;
    s3: number;
    self: number;
    machine: number;
}

function snapshot(pids: { registry?: number; front?: number; s3: number }): Snapshot {
    return {
        registry: pids.registry === undefined ? null : cpuSeconds(pids.registry),
        front: pids.front === undefined ? null : cpuSeconds(pids.front),
        s3: cpuSeconds(pids.s3),
        self: selfCpuSeconds(),
        machine: machineBusySeconds(),
    };
}

/** To the 10 ms tick the kernel counts in, so the JSON holds no float noise. */
const ticks = (seconds: number) => Math.round(seconds * 100) / 100;
const delta = (a: number | null, b: number | null) => (a === null || b === null ? null : ticks(b - a));

/** Times `run` against a target and accounts for the CPU of every process serving it. */
export async function timedOp(t: Target | undefined, s3Pid: number, bytes: number, where: { round: number; position: number }, run: () => Promise<string | undefined>): Promise<FrontSample> {
    const pids = { registry: t?.registryPid(), front: t?.frontPid?.(), s3: s3Pid };
    const before = snapshot(pids);
    const started = performance.now();
    let error: string | undefined;
    try {
        error = await run();
    } catch (e) {
        error = e instanceof Error ? e.message : String(e);
    }
    const seconds = (performance.now() - started) / 1000;
    const after = snapshot(pids);
    const cpu = { registry: delta(before.registry, after.registry), front: delta(before.front, after.front), s3: ticks(after.s3 - before.s3), client: after.self - before.self };
    return { ...where, seconds, bytes, mbps: bytes / MiB / seconds, cpu, otherCores: otherCores(before.machine, after.machine, cpu, seconds), ok: error === undefined, ...(error === undefined ? {} : { error }) };
}

/** The rig's baseline sample in this benchmark's shape (it has no registry and no front). */
export function fromRigSample(s: Sample, where: { round: number; position: number }): FrontSample {
    const cpu = { registry: null, front: null, s3: ticks(s.cpu.s3), client: s.cpu.client };
    const ok = s.errors === 0;
    return { ...where, seconds: s.seconds, bytes: s.bytes, mbps: s.mbps, cpu, otherCores: s.otherCores, ok, ...(ok ? {} : { error: "the downloaded bytes did not hash to the layer's digest" }) };
}

function otherCores(machineBefore: number, machineAfter: number, cpu: FrontSample["cpu"], seconds: number): number {
    const ours = (cpu.registry ?? 0) + (cpu.front ?? 0) + cpu.s3 + cpu.client;
    return Math.round((Math.max(0, machineAfter - machineBefore - ours) / seconds) * 1000) / 1000;
}
