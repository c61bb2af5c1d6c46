/**
 * The network bench's client, run in `ci`: pushes an image the way docker's registry client does
 * (per blob HEAD, POST, one streamed PATCH with the whole blob, PUT ?digest=; then the manifest),
 * pulls a blob (following the redirect) and hashes it, and times every request by kind, so a
 * report can say whether round trips or bytes took the time. Layers go one after another unless
 * asked for more at once: one at a time is the round trips' worst case, and real clients push
 * several layers in parallel (pool.ts says how many each does).
 */
import { createReadStream, rmSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import { performance } from "node:perf_hooks";
import { pipeline } from "node:stream/promises";
import { get, hashInto } from "../lib/httpget";
import { inPool } from "./pool";
import type { RequestTime } from "./results";

const MiB = 1024 * 1024;

export interface Blob {
    path: string;
    size: number;
    digest: string;
}

export interface Image {
    repo: string;
    config: { body: Buffer; digest: string };
    layers: Blob[];
}

export interface RegistryTarget {
    url: string;
    ca: string;
    login: { username: string; password: string };
}

/** Per-kind request timings of one operation. */
export class Timings {
    readonly byKind: Record<string, RequestTime> = {};

    add(kind: string, ms: number): void {
        const e = (this.byKind[kind] ??= { count: 0, seconds: 0 });
        e.count += 1;
        e.seconds += ms / 1000;
    }
}

interface Answer {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: string;
}

/** One request; `body` a Buffer or a file streamed with chunked encoding (as docker's PATCH). */
function send(url: string, o: { method: string; target: RegistryTarget; agent: https.Agent | http.Agent; body?: Buffer | string; headers?: Record<string, string> }): Promise<Answer> {
    const headers: Record<string, string> = {
        Authorization: `Basic ${Buffer.from(`${o.target.login.username}:${o.target.login.password}`).toString("base64")}`,
        ...o.headers,
    };
    if (o.body === undefined) {
        headers["Content-Length"] = "0";
    } else if (Buffer.isBuffer(o.body)) {
        headers["Content-Length"] = String(o.body.length);
    }
    const mod = url.startsWith("https:") ? https : http;
    return new Promise((resolve, reject) => {
        const req = mod.request(url, { method: o.method, ca: o.target.ca, headers, agent: o.agent }, (res) => {
            const chunks: Buffer[] = [];
            res.on("data", (c: Buffer) => chunks.push(c));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8").slice(0, 500) }));
            res.on("error", reject);
        });
        req.on("error", reject);
        if (typeof o.body === "string") {
            pipeline(createReadStream(o.body, { highWaterMark: MiB }), req).catch(reject);
        } else {
            req.end(o.body);
        }
    });
}

async function timed(t: Timings, kind: string, run: () => Promise<Answer>): Promise<Answer> {
    const started = performance.now();
    try {
        return await run();
    } finally {
        t.add(kind, performance.now() - started);
    }
}

/** One keep-alive connection pool per operation, as docker keeps its connections to a registry. */
export function agentFor(url: string): https.Agent | http.Agent {
    return url.startsWith("https:") ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
}

async function pushBlob(target: RegistryTarget, repo: string, blob: { digest: string; body: Buffer | string }, agent: https.Agent | http.Agent, t: Timings): Promise<void> {
    const head = await timed(t, "HEAD blob", () => send(`${target.url}/v2/${repo}/blobs/${blob.digest}`, { method: "HEAD", target, agent }));
    if (head.status === 200) {
        return;
    }
    const started = await timed(t, "POST upload", () => send(`${target.url}/v2/${repo}/blobs/uploads/`, { method: "POST", target, agent }));
    if (started.status !== 202 || started.headers.location === undefined) {
        throw new Error(`POST blobs/uploads: HTTP ${started.status} ${started.body}`);
    }
    const patch = await timed(t, "PATCH data", () =>
        send(new URL(started.headers.location!, target.url).toString(), { method: "PATCH", target, agent, body: blob.body, headers: { "Content-Type": "application/octet-stream" } }),
    );
    if (patch.status !== 202 || patch.headers.location === undefined) {
        throw new Error(`PATCH: HTTP ${patch.status} ${patch.body}`);
    }
    const put = new URL(patch.headers.location, target.url);
    put.searchParams.set("digest", blob.digest);
    const done = await timed(t, "PUT commit", () => send(put.toString(), { method: "PUT", target, agent }));
    if (done.status !== 201) {
        throw new Error(`PUT ?digest=: HTTP ${done.status} ${done.body}`);
    }
}

export function manifestOf(image: Image): Buffer {
    return Buffer.from(
        JSON.stringify({
            schemaVersion: 2,
            mediaType: "application/vnd.oci.image.manifest.v1+json",
            config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: image.config.digest, size: image.config.body.length },
            layers: image.layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: l.digest, size: l.size })),
        }),
    );
}

/**
 * Pushes the image's layers, `concurrency` at a time (docker's order: every layer, then the
 * config, then the manifest), each upload on its own keep-alive connection from one pool. Throws
 * on any unexpected answer.
 */
export async function pushImage(target: RegistryTarget, image: Image, t: Timings, concurrency = 1): Promise<void> {
    const agent = agentFor(target.url);
    try {
        await inPool(image.layers, concurrency, (layer) => pushBlob(target, image.repo, { digest: layer.digest, body: layer.path }, agent, t));
        await pushBlob(target, image.repo, { digest: image.config.digest, body: image.config.body }, agent, t);
        const manifest = manifestOf(image);
        const res = await timed(t, "PUT manifest", () =>
            send(`${target.url}/v2/${image.repo}/manifests/v1`, { method: "PUT", target, agent, body: manifest, headers: { "Content-Type": "application/vnd.oci.image.manifest.v1+json" } }),
        );
        if (res.status !== 201) {
            throw new Error(`PUT manifest: HTTP ${res.status} ${res.body}`);
        }
    } finally {
        agent.destroy();
    }
}

/**
 * GET of a blob through the registry, following its redirect, into `scratch`; throws unless the
 * bytes hash to `digest` and the redirect happened as `redirect` says. Times the registry's
 * answer and the transfer apart.
 */
export async function pullBlob(target: RegistryTarget, repo: string, digest: string, scratch: string, redirect: boolean, t: Timings): Promise<void> {
    const auth = `Basic ${Buffer.from(`${target.login.username}:${target.login.password}`).toString("base64")}`;
    const url = `${target.url}/v2/${repo}/blobs/${digest}`;
    try {
        let started = performance.now();
        let res = await get(url, { ca: target.ca, headers: { Authorization: auth }, agent: false });
        const redirected = res.statusCode === 307 || res.statusCode === 302;
        if (redirected) {
            res.resume();
            t.add("GET blob (registry's redirect)", performance.now() - started);
            started = performance.now();
            // The presigned URL carries its own credentials.
            res = await get(new URL(res.headers.location ?? "", url).toString(), { ca: target.ca, agent: false });
        }
        if (res.statusCode !== 200) {
            res.resume();
            throw new Error(`GET blob: HTTP ${res.statusCode}`);
        }
        const got = await hashInto(res, scratch);
        t.add(redirected ? "GET bytes from S3" : "GET bytes through the registry", performance.now() - started);
        if (got !== digest) {
            throw new Error(`GET blob: got ${got}, want ${digest}`);
        }
        if (redirected !== redirect) {
            throw new Error(`GET blob: redirected=${redirected}, expected ${redirect}`);
        }
    } finally {
        rmSync(scratch, { force: true });
    }
}
