import { createHash, randomBytes } from "node:crypto";
import * as https from "node:https";
import { request, type HttpResponse } from "./http";
import type { RegistryLogin } from "./registry";

/**
 * A steady client load on the registry, in raw registry API requests so that each one is counted:
 * workers that each push a small image under a new tag (an upload in two steps, POST then PATCH
 * then PUT, a one-step config upload, the manifest) and pull it back (the manifest by tag, the
 * layer through its presigned S3 redirect), checking every digest. Until `stop()`. And on demand
 * one slow upload, whose body trickles in for a set time: a request that is surely in flight
 * when the registry is restarted.
 */

export interface LoadRequest {
    worker: number;
    /** What the request was for, e.g. `PATCH layer`. */
    step: string;
    status: number;
    /** False for a network error, an unexpected status or content with the wrong digest. */
    ok: boolean;
    error?: string;
    startMs: number;
    endMs: number;
}

export interface PushedImage {
    repository: string;
    tag: string;
    manifestDigest: string;
    layerDigest: string;
    configDigest: string;
}

export interface RegistryLoadOptions {
    /** `https://HOST:PORT`, the front. */
    baseUrl: string;
    ca: string;
    login: RegistryLogin;
    repository: string;
    workers: number;
    layerBytes: number;
    /** Per request; past the front's wait for a restarting registry. Default 90 s. */
    timeoutMs?: number;
    /**
     * Keep one upload open while the workers run (default true; see `start`). False only to
     * show what it prevents: test/integration/upload-race.ts.
     */
    holdUpload?: boolean;
}

const sha256 = (data: Buffer | string) => `sha256:${createHash("sha256").update(data).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

class Failed extends Error {}

export class RegistryLoad {
    readonly requests: LoadRequest[] = [];
    readonly pushed: PushedImage[] = [];
    private running = true;
    private loops: Promise<void>[] = [];
    private heldUpload: string | undefined;

    private constructor(private readonly options: RegistryLoadOptions) {}

    /**
     * Pushes one image alone first, then opens one upload that stays open until `stop()`, then
     * starts the workers. The S3 stand-in (versitygw's posix backend) keeps keys as files in
     * directories, which S3 itself does not have: writers racing to create a repository's first
     * directories get "ExistingObjectIsDirectory", and so does an upload that starts while the
     * last one to finish deletes the then-empty `_uploads` directory (versitygw v1.8.0
     * `removeParents` against `backend.MkdirAll`). The held upload keeps `_uploads` non-empty.
     */
    static async start(options: RegistryLoadOptions): Promise<RegistryLoad> {
        const load = new RegistryLoad(options);
        const layer = randomBytes(options.layerBytes);
        await load.upload(0, "layer", layer, true);
        await load.finishImage(0, "warm-up", layer);
        if (options.holdUpload ?? true) {
            const held = await load.send(0, "POST held upload", `${options.baseUrl}/v2/${options.repository}/blobs/uploads/`, 202, { method: "POST", headers: { "Content-Length": "0" } });
            load.heldUpload = new URL(String(held.headers.location), options.baseUrl).toString();
        }
        load.loops = Array.from({ length: options.workers }, (_, worker) => load.loop(worker));
        return load;
    }

    /** Lets each worker finish the image it is on, then cancels the held upload, then resolves. */
    async stop(): Promise<void> {
        this.running = false;
        await Promise.all(this.loops);
        if (this.heldUpload !== undefined) {
            await this.send(0, "DELETE held upload", this.heldUpload, 204, { method: "DELETE" }).catch((error: unknown) => {
                if (!(error instanceof Failed)) {
                    throw error;
                }
            });
            this.heldUpload = undefined;
        }
    }

    failures(): LoadRequest[] {
        return this.requests.filter((r) => !r.ok);
    }

    /** The requests in flight at any moment of [fromMs, toMs]. */
    overlapping(fromMs: number, toMs: number): LoadRequest[] {
        return this.requests.filter((r) => r.startMs <= toMs && r.endMs >= fromMs);
    }

    private async send(worker: number, step: string, url: string, expected: number, init: { method?: string; body?: Buffer | string; headers?: Record<string, string>; auth?: boolean; digest?: string } = {}): Promise<HttpResponse> {
        const startMs = Date.now();
        let response: HttpResponse | undefined;
        let error: string | undefined;
        try {
            response = await request(url, {
                method: init.method ?? "GET",
                body: init.body,
                headers: init.headers,
                ca: url.startsWith(this.options.baseUrl) ? this.options.ca : undefined,
                basicAuth: init.auth === false ? undefined : this.options.login,
                timeoutMs: this.options.timeoutMs ?? 90_000,
                maxBodyBytes: 4096,
            });
            if (response.status !== expected) {
                error = `HTTP ${response.status}, want ${expected}: ${response.text().slice(0, 300)}`;
            } else if (init.digest !== undefined && response.digest !== init.digest) {
                error = `content hashes to ${response.digest}, want ${init.digest}`;
            }
        } catch (e) {
            error = e instanceof Error ? e.message : String(e);
        }
        this.requests.push({ worker, step, status: response?.status ?? 0, ok: error === undefined, error, startMs, endMs: Date.now() });
        if (error !== undefined || response === undefined) {
            throw new Failed(`${step}: ${error}`);
        }
        return response;
    }

    /** Uploads a blob: POST, then (for `chunked`) PATCH the bytes, then PUT with the digest. */
    private async upload(worker: number, what: string, blob: Buffer, chunked: boolean): Promise<string> {
        const { baseUrl, repository } = this.options;
        const digest = sha256(blob);
        const started = await this.send(worker, `POST ${what}`, `${baseUrl}/v2/${repository}/blobs/uploads/`, 202, { method: "POST", headers: { "Content-Length": "0" } });
        let location = new URL(String(started.headers.location), baseUrl);
        if (chunked) {
            const patched = await this.send(worker, `PATCH ${what}`, location.toString(), 202, { method: "PATCH", body: blob, headers: { "Content-Type": "application/octet-stream" } });
            location = new URL(String(patched.headers.location), baseUrl);
        }
        location.searchParams.set("digest", digest);
        await this.send(worker, `PUT ${what}`, location.toString(), 201, {
            method: "PUT",
            body: chunked ? Buffer.alloc(0) : blob,
            headers: { "Content-Type": "application/octet-stream" },
        });
        return digest;
    }

    /**
     * Pushes one image whose layer's PATCH body is sent in 64 KiB pieces spread over `durationMs`
     * (worker number -1 in `requests`); resolves when the image is pushed and pulled back, or
     * failed.
     */
    async slowPush(durationMs: number, pieces = 20): Promise<void> {
        const { baseUrl, repository, ca, login } = this.options;
        const worker = -1;
        const layer = randomBytes(pieces * 64 * 1024);
        try {
            const started = await this.send(worker, "POST slow layer", `${baseUrl}/v2/${repository}/blobs/uploads/`, 202, { method: "POST", headers: { "Content-Length": "0" } });
            const location = new URL(String(started.headers.location), baseUrl);
            const startMs = Date.now();
            const result = await new Promise<{ status: number; location?: string; error?: string }>((resolve) => {
                const req = https.request(location, {
                    method: "PATCH",
                    ca,
                    agent: false,
                    headers: { "Content-Type": "application/octet-stream", "Content-Length": String(layer.length), Authorization: `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}` },
                }, (res) => {
                    res.resume();
                    res.on("end", () => resolve({ status: res.statusCode ?? 0, location: res.headers.location }));
                });
                req.on("error", (error) => resolve({ status: 0, error: error.message }));
                let sent = 0;
                const next = () => {
                    req.write(layer.subarray(sent * 64 * 1024, (sent + 1) * 64 * 1024));
                    sent++;
                    if (sent < pieces) {
                        setTimeout(next, durationMs / pieces);
                    } else {
                        req.end();
                    }
                };
                next();
            });
            const error = result.status === 202 ? undefined : (result.error ?? `HTTP ${result.status}, want 202`);
            this.requests.push({ worker, step: "PATCH slow layer", status: result.status, ok: error === undefined, error, startMs, endMs: Date.now() });
            if (error !== undefined) {
                return;
            }
            const done = new URL(String(result.location), baseUrl);
            done.searchParams.set("digest", sha256(layer));
            await this.send(worker, "PUT slow layer", done.toString(), 201, { method: "PUT", body: Buffer.alloc(0), headers: { "Content-Type": "application/octet-stream" } });
            await this.finishImage(worker, `slow-${Date.now()}`, layer);
        } catch (error) {
            if (!(error instanceof Failed)) {
                throw error;
            }
        }
    }

    /** Uploads the config, puts the manifest under `tag` and pulls both back. */
    private async finishImage(worker: number, tag: string, layer: Buffer): Promise<void> {
        const { baseUrl, repository } = this.options;
        const layerDigest = sha256(layer);
        const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: [layerDigest] }, tag }));
        const configDigest = await this.upload(worker, "config", config, false);
        const manifest = JSON.stringify({
            schemaVersion: 2,
            mediaType: OCI_MANIFEST,
            config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: configDigest, size: config.length },
            layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar", digest: layerDigest, size: layer.length }],
        });
        const manifestDigest = sha256(manifest);
        await this.send(worker, "PUT manifest", `${baseUrl}/v2/${repository}/manifests/${tag}`, 201, { method: "PUT", body: manifest, headers: { "Content-Type": OCI_MANIFEST } });
        this.pushed.push({ repository, tag, manifestDigest, layerDigest, configDigest });
        await this.send(worker, "GET manifest", `${baseUrl}/v2/${repository}/manifests/${tag}`, 200, { headers: { Accept: OCI_MANIFEST }, digest: manifestDigest });
        const redirect = await this.send(worker, "GET layer", `${baseUrl}/v2/${repository}/blobs/${layerDigest}`, 307);
        await this.send(worker, "GET layer from S3", String(redirect.headers.location), 200, { auth: false, digest: layerDigest });
    }

    private async loop(worker: number): Promise<void> {
        for (let i = 0; this.running; i++) {
            const tag = `w${worker}-${i}`;
            try {
                const layer = randomBytes(this.options.layerBytes);
                await this.upload(worker, "layer", layer, true);
                await this.finishImage(worker, tag, layer);
            } catch (error) {
                if (!(error instanceof Failed)) {
                    throw error;
                }
                // Counted in `requests`; the next image starts afresh.
            }
        }
    }
}
