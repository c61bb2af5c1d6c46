import * as http from "node:http";
import * as https from "node:https";

/**
 * A minimal client for the registry's HTTP API (distribution spec), with nothing but node:http
 * and node:https: CI runners may lack docker and skopeo, and Node 20's fetch cannot take a
 * per-request CA without an extra dependency.
 *
 * The private CA is trusted only for the registry's own origin. Redirects elsewhere (presigned S3
 * URLs for blob pulls) go through separate agents with Node's default trust store and without
 * the registry's Authorization header: the URL's signature is the credential there, and S3 would
 * refuse a request carrying two.
 */

export interface RegistryResponse {
    status: number;
    headers: http.IncomingHttpHeaders;
    body: Buffer;
    /** Where the final answer came from (after redirects). */
    url: URL;
    /** How many redirects were followed to get here. */
    redirects: number;
}

export interface ClientOptions {
    baseUrl: URL;
    username: string;
    password: string;
    /** PEM CA to trust for the registry instead of the default store (the private CA). */
    ca?: string;
    /** Per request, connection to last byte. */
    timeoutMs?: number;
}

export interface CallOptions {
    method?: string;
    /** Send the login (default true). */
    auth?: boolean;
    headers?: Record<string, string>;
    body?: Buffer;
    /** Follow 30x answers to GETs, e.g. blob pulls redirected to S3 (default false). */
    followRedirects?: boolean;
}

/** More than any answer the check expects: a bigger one is a misbehaving server, not a manifest. */
const MAX_BODY_BYTES = 8 * 1024 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "registry-live-check/1";

export class RegistryClient {
    /** Every HTTP request sent, to the registry and to where it redirected. */
    requestCount = 0;
    readonly baseUrl: URL;
    private readonly timeoutMs: number;
    private readonly authorization: string;
    // Keep-alive: the whole check then costs one TLS handshake with the registry.
    private readonly registryAgent: http.Agent;
    private readonly otherHttps = new https.Agent({ keepAlive: true });
    private readonly otherHttp = new http.Agent({ keepAlive: true });

    constructor(options: ClientOptions) {
        this.baseUrl = options.baseUrl;
        this.timeoutMs = options.timeoutMs ?? 30_000;
        this.authorization = `Basic ${Buffer.from(`${options.username}:${options.password}`).toString("base64")}`;
        this.registryAgent =
            options.baseUrl.protocol === "https:" ? new https.Agent({ keepAlive: true, ca: options.ca }) : new http.Agent({ keepAlive: true });
    }

    /** Sends a request to a path on the registry (or an absolute URL it handed out, e.g. an upload location). */
    async call(pathOrUrl: string, options: CallOptions = {}): Promise<RegistryResponse> {
        let url = new URL(pathOrUrl, this.baseUrl);
        let response = await this.send(url, options);
        let redirects = 0;
        while (options.followRedirects === true && REDIRECT_STATUSES.has(response.status) && typeof response.headers.location === "string") {
            if (++redirects > MAX_REDIRECTS) {
                throw new Error(`more than ${MAX_REDIRECTS} redirects from ${this.baseUrl.origin}${new URL(pathOrUrl, this.baseUrl).pathname}`);
            }
            url = new URL(response.headers.location, url);
            const sameOrigin = url.origin === this.baseUrl.origin;
            response = await this.send(url, { method: "GET", auth: sameOrigin && options.auth !== false, headers: sameOrigin ? options.headers : {} });
        }
        return { ...response, redirects };
    }

    /** Closes kept-alive connections so the process can exit. */
    close(): void {
        for (const agent of [this.registryAgent, this.otherHttps, this.otherHttp]) {
            agent.destroy();
        }
    }

    private send(url: URL, options: CallOptions): Promise<RegistryResponse> {
        const sameOrigin = url.origin === this.baseUrl.origin;
        const agent = sameOrigin ? this.registryAgent : url.protocol === "https:" ? this.otherHttps : this.otherHttp;
        const headers: Record<string, string> = { "User-Agent": USER_AGENT, ...(options.headers ?? {}) };
        if (sameOrigin && options.auth !== false) {
            headers.Authorization = this.authorization;
        }
        if (options.body !== undefined) {
            headers["Content-Length"] = String(options.body.length);
        }
        const method = options.method ?? "GET";
        // Only the path in errors: a presigned URL's query is a credential.
        const label = `${method} ${sameOrigin ? url.pathname : `${url.origin}${url.pathname}`}`;
        this.requestCount++;
        return new Promise((resolve, reject) => {
            const req = (url.protocol === "https:" ? https : http).request(url, { method, headers, agent }, (res) => {
                const chunks: Buffer[] = [];
                let size = 0;
                res.on("data", (chunk: Buffer) => {
                    size += chunk.length;
                    if (size > MAX_BODY_BYTES) {
                        req.destroy(new Error(`${label}: answer larger than ${MAX_BODY_BYTES} bytes`));
                        return;
                    }
                    chunks.push(chunk);
                });
                res.on("error", (error) => {
                    clearTimeout(timer);
                    reject(new Error(`${label}: ${error.message}`));
                });
                res.on("end", () => {
                    clearTimeout(timer);
                    resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), url, redirects: 0 });
                });
            });
            const timer = setTimeout(() => req.destroy(new Error(`${label}: no complete answer within ${this.timeoutMs} ms`)), this.timeoutMs);
            req.on("error", (error: NodeJS.ErrnoException) => {
                clearTimeout(timer);
                reject(new Error(error.message.startsWith(label) ? error.message : `${label}: ${error.message}`));
            });
            req.end(options.body);
        });
    }
}

/**
 * One line about an unexpected answer: the status plus the registry's own error (`errors[].code`,
 * `message`, `detail`, which carries the S3 error for storage failures), or the start of the body.
 */
export function describeResponse(res: Pick<RegistryResponse, "status" | "body">): string {
    const text = res.body.toString("utf8");
    let reason = text.replace(/\s+/g, " ").trim().slice(0, 240);
    try {
        const errors = (JSON.parse(text) as { errors?: { code?: string; message?: string; detail?: unknown }[] }).errors;
        if (Array.isArray(errors) && errors.length > 0) {
            reason = errors
                .map((e) => [e.code, e.message, e.detail === undefined || e.detail === null ? undefined : typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail)].filter(Boolean).join(": "))
                .join("; ");
        }
    } catch {
        // Not the registry's JSON error (a proxy's HTML page, say): the body's start is the best clue.
    }
    return `HTTP ${res.status}${reason === "" ? "" : ` ${reason}`}`;
}
