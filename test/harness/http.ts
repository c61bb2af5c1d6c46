import { createHash } from "node:crypto";
import * as http from "node:http";
import * as https from "node:https";
import * as net from "node:net";

/**
 * A tiny HTTP(S) client for probing the registry: a custom CA (or none, to prove an untrusting
 * client fails), basic auth, and streaming sha256 of large bodies. Node's global fetch cannot
 * take a per-request CA without extra dependencies, hence node:https.
 */

export interface RequestOptions {
    method?: string;
    /** PEM CA certificate(s) to trust; omit to use Node's default trust store. */
    ca?: string;
    basicAuth?: { username: string; password: string };
    headers?: Record<string, string>;
    /** Keep at most this many body bytes in `body` (the sha256 always covers everything). Default 1 MiB. */
    maxBodyBytes?: number;
    timeoutMs?: number;
    body?: string | Buffer;
    /**
     * Connect here instead of to the URL's host, keeping the URL's Host header (like curl
     * --connect-to). Lets a test fetch a presigned URL made for a container's view of the S3
     * server (10.0.2.2:PORT) through 127.0.0.1:PORT with its signature intact.
     */
    connectTo?: { host: string; port: number };
}

export interface HttpResponse {
    status: number;
    headers: http.IncomingHttpHeaders;
    /** The body, truncated to `maxBodyBytes`. */
    body: Buffer;
    /** Total body size in bytes. */
    size: number;
    /** `sha256:<hex>` of the whole body. */
    digest: string;
    text(): string;
    json<T = unknown>(): T;
}

export function request(url: string, options: RequestOptions = {}): Promise<HttpResponse> {
    const target = new URL(url);
    const isHttps = target.protocol === "https:";
    const headers: Record<string, string> = { ...(options.headers ?? {}) };
    if (options.basicAuth !== undefined) {
        headers.Authorization = `Basic ${Buffer.from(`${options.basicAuth.username}:${options.basicAuth.password}`).toString("base64")}`;
    }
    const maxBody = options.maxBodyBytes ?? 1024 * 1024;
    return new Promise((resolve, reject) => {
        if (options.connectTo !== undefined) {
            headers.Host = target.host;
        }
        const common = {
            method: options.method ?? "GET",
            headers,
            timeout: options.timeoutMs ?? 30_000,
            ...(options.connectTo !== undefined ? { host: options.connectTo.host, hostname: options.connectTo.host, port: options.connectTo.port } : {}),
            // TLS: verify the certificate for the URL's name, wherever the connection goes.
            ...(options.connectTo !== undefined && net.isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
        };
        const onResponse = (res: http.IncomingMessage) => {
            const hash = createHash("sha256");
            const kept: Buffer[] = [];
            let keptBytes = 0;
            let size = 0;
            res.on("data", (chunk: Buffer) => {
                hash.update(chunk);
                size += chunk.length;
                if (keptBytes < maxBody) {
                    const slice = chunk.subarray(0, maxBody - keptBytes);
                    kept.push(slice);
                    keptBytes += slice.length;
                }
            });
            res.on("error", reject);
            res.on("end", () => {
                const body = Buffer.concat(kept);
                resolve({
                    status: res.statusCode ?? 0,
                    headers: res.headers,
                    body,
                    size,
                    digest: `sha256:${hash.digest("hex")}`,
                    text: () => body.toString("utf8"),
                    json: <T>() => JSON.parse(body.toString("utf8")) as T,
                });
            });
        };
        const req = isHttps
            ? https.request(target, { ...common, ca: options.ca, agent: false }, onResponse)
            : http.request(target, { ...common, agent: false }, onResponse);
        req.on("timeout", () => req.destroy(new Error(`request to ${url} timed out`)));
        req.on("error", reject);
        req.end(options.body);
    });
}
