import { randomBytes } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { LOOPBACK } from "./ports";

/**
 * A recording reverse proxy in front of the S3 stand-in, for what versitygw cannot show: the
 * `x-amz-acl` header of each request (versitygw ignores it on object writes, and its access log
 * does not record it). Requests are forwarded unchanged, Host header included, so SigV4
 * signatures made for the proxy's address still verify upstream; presigned URLs the registry
 * hands out point at the proxy too.
 *
 * With `bucketOwnerEnforced`, it answers like an AWS bucket with
 * ObjectOwnership=BucketOwnerEnforced (the default for new buckets): a PUT or POST whose
 * `x-amz-acl` is anything but `bucket-owner-full-control` is refused with 400
 * AccessControlListNotSupported and never reaches the stand-in (AWS S3 User Guide,
 * "Troubleshooting" under Object Ownership: "All S3 PUT requests must either specify the
 * bucket-owner-full-control canned ACL or not specify an ACL").
 *
 * With `refuse`, it answers whatever that function refuses with its S3 error, and forwards the
 * rest (spacesProxy.ts refuses what DigitalOcean Spaces does).
 */

/** The only canned ACL a BucketOwnerEnforced bucket accepts on a write. */
export const BUCKET_OWNER_FULL_CONTROL = "bucket-owner-full-control";

export interface ProxiedS3Request {
    /** S3 API name for writes (`PutObject`, `CreateMultipartUpload`, `UploadPartCopy`...), else the method. */
    operation: string;
    method: string;
    /** Path and query as sent, e.g. `/bucket/docker/registry/v2/...?uploads`. */
    url: string;
    /** The `x-amz-acl` header, if any. */
    acl: string | undefined;
    status: number;
    /** True when the proxy refused it (AccessControlListNotSupported, or `refuse`'s answer) instead of forwarding. */
    refused: boolean;
    /** The S3 error code and message it was refused with. */
    refusal?: S3Refusal;
}

/** What a refusal rule sees of a request. */
export interface S3RequestView {
    method: string;
    /** Path and query as sent. */
    url: string;
    /** Node's lower-cased request headers. */
    headers: Readonly<Record<string, string | string[] | undefined>>;
}

/** An S3 error answer. */
export interface S3Refusal {
    status: number;
    code: string;
    message: string;
    /** The rule that refused, when the refusing function names one. */
    rule?: string;
}

export interface S3ProxyOptions {
    /** The stand-in's port on 127.0.0.1. */
    upstreamPort: number;
    /** Default: any free port. */
    port?: number;
    bucketOwnerEnforced?: boolean;
    /** Refuses a request with an S3 error instead of forwarding it; undefined forwards it. */
    refuse?: (request: S3RequestView) => S3Refusal | undefined;
}

/** An AWS bucket with ObjectOwnership=BucketOwnerEnforced: any ACL on a write but bucket-owner-full-control. */
export function bucketOwnerEnforcedRefusal(request: S3RequestView): S3Refusal | undefined {
    const aclHeader = request.headers["x-amz-acl"];
    const acl = Array.isArray(aclHeader) ? aclHeader.join(",") : aclHeader;
    return (request.method === "PUT" || request.method === "POST") && acl !== undefined && acl !== BUCKET_OWNER_FULL_CONTROL
        ? { status: 400, code: "AccessControlListNotSupported", message: "The bucket does not allow ACLs" }
        : undefined;
}

/** The S3 API a write is, from method, query and copy-source header (path-style requests). */
export function s3WriteOperation(method: string, url: string, copySource: boolean): string {
    const parsed = new URL(url, "http://s3");
    const query = parsed.searchParams;
    const hasKey = parsed.pathname.replace(/^\/[^/]*\/?/, "") !== "";
    if (method === "POST") {
        return query.has("uploads") ? "CreateMultipartUpload" : query.has("uploadId") ? "CompleteMultipartUpload" : query.has("delete") ? "DeleteObjects" : "POST";
    }
    if (method !== "PUT") {
        return method;
    }
    if (query.has("uploadId")) {
        return copySource ? "UploadPartCopy" : "UploadPart";
    }
    if (query.has("acl")) {
        return hasKey ? "PutObjectAcl" : "PutBucketAcl";
    }
    if (!hasKey) {
        // A bucket's subresource (?encryption, ?policy...) is its configuration, not the bucket itself.
        const subresource = [...query.keys()][0];
        return subresource === undefined ? "CreateBucket" : `PutBucket${subresource.charAt(0).toUpperCase()}${subresource.slice(1)}`;
    }
    return copySource ? "CopyObject" : "PutObject";
}

export class S3RecordingProxy {
    private readonly recorded: ProxiedS3Request[] = [];

    private constructor(
        private readonly server: http.Server,
        readonly port: number,
    ) {}

    static async start(options: S3ProxyOptions): Promise<S3RecordingProxy> {
        const server = http.createServer();
        await new Promise<void>((resolve, reject) => {
            server.once("error", reject);
            server.listen({ host: LOOPBACK, port: options.port ?? 0 }, resolve);
        });
        const proxy = new S3RecordingProxy(server, (server.address() as AddressInfo).port);
        const handle = (req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean) =>
            proxy.handle(req, res, expectsContinue, options);
        server.on("request", (req, res) => handle(req, res, false));
        // Refuse before the body is sent, as S3 does for `Expect: 100-continue` (aws-sdk-go sets it on large PUTs).
        server.on("checkContinue", (req, res) => handle(req, res, true));
        return proxy;
    }

    /** `http://127.0.0.1:PORT`, to use as the registry's `regionendpoint`. */
    get endpoint(): string {
        return `http://${LOOPBACK}:${this.port}`;
    }

    /** Every request so far (or since an earlier `count`). */
    requests(since = 0): ProxiedS3Request[] {
        return this.recorded.slice(since);
    }

    get count(): number {
        return this.recorded.length;
    }

    async close(): Promise<void> {
        this.server.closeAllConnections();
        await new Promise<void>((resolve) => this.server.close(() => resolve()));
    }

    private handle(req: http.IncomingMessage, res: http.ServerResponse, expectsContinue: boolean, options: S3ProxyOptions): void {
        const method = req.method ?? "GET";
        const url = req.url ?? "/";
        const aclHeader = req.headers["x-amz-acl"];
        const acl = Array.isArray(aclHeader) ? aclHeader.join(",") : aclHeader;
        const entry: ProxiedS3Request = { operation: s3WriteOperation(method, url, req.headers["x-amz-copy-source"] !== undefined), method, url, acl, status: 0, refused: false };
        this.recorded.push(entry);

        const view: S3RequestView = { method, url, headers: req.headers };
        const refusal = (options.bucketOwnerEnforced === true ? bucketOwnerEnforcedRefusal(view) : undefined) ?? options.refuse?.(view);
        if (refusal !== undefined) {
            entry.refused = true;
            entry.status = refusal.status;
            entry.refusal = refusal;
            const xml = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
            const body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xml(refusal.code)}</Code><Message>${xml(refusal.message)}</Message><RequestId>${randomBytes(8).toString("hex").toUpperCase()}</RequestId></Error>`;
            // The unread body (if the client sent it anyway) makes the connection unusable: close it.
            res.writeHead(refusal.status, { "Content-Type": "application/xml", "Content-Length": Buffer.byteLength(body), Connection: "close" });
            res.end(body);
            req.resume();
            return;
        }
        if (expectsContinue) {
            res.writeContinue();
        }
        const upstream = http.request(
            { host: LOOPBACK, port: options.upstreamPort, method, path: url, headers: req.headers, agent: false },
            (upstreamRes) => {
                entry.status = upstreamRes.statusCode ?? 0;
                res.writeHead(entry.status, upstreamRes.rawHeaders);
                upstreamRes.pipe(res);
            },
        );
        upstream.on("error", (error) => {
            if (res.headersSent) {
                res.destroy(error);
                return;
            }
            entry.status = 502;
            res.writeHead(502, { "Content-Type": "text/plain" });
            res.end(`S3 proxy: ${error.message}`);
        });
        req.pipe(upstream);
    }
}
