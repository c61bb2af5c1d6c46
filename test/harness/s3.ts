import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { CreateBucketCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { freePort, isListening, LOOPBACK } from "./ports";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { request } from "./http";
import { cachedBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * A real S3-compatible server for the rehearsal: versitygw (posix backend) on 127.0.0.1. It
 * checks SigV4 signatures and implements multipart uploads (ListMultipartUploads, ListParts),
 * which the registry's S3 driver uses on every push. Its S3 access log records every operation
 * it served, which the IAM check maps to IAM actions.
 */

// The AWS SDK warns on Node < 22 on every process; the rehearsal pins Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export interface S3ServerOptions {
    /** Directory for the server's data, log and access log (created). */
    dir: string;
    port?: number;
    /** The address it listens on and clients use; default 127.0.0.1 (a network namespace's own address, for the bench's rig). */
    host?: string;
    region?: string;
    /** Root credentials; random when omitted. */
    accessKey?: string;
    secretKey?: string;
    /**
     * Run versitygw's internal IAM (under `dir`/iam) and its admin API on a free loopback port,
     * for accounts besides root (see s3accounts.ts). Its cache is off, so a deleted account is
     * refused from the next request on.
     */
    accounts?: boolean;
}

/** One request from versitygw's access log (AWS server-access-log layout). */
export interface S3Operation {
    /** S3 API name, e.g. `PutObject`, `UploadPart`, `ListObjectsV2`. */
    operation: string;
    bucket: string;
    /** Object key, or `-` for bucket-level requests. */
    key: string;
    status: number;
    /** S3 error code such as `SignatureDoesNotMatch`, or `-`. */
    errorCode: string;
    requester: string;
    userAgent: string;
    raw: string;
}

/** Parses versitygw's access log (one line per request; the first line is a banner). */
export function parseAccessLog(text: string): S3Operation[] {
    const operations: S3Operation[] = [];
    const pattern = /^(\S+) (\S+) \[[^\]]*\] (\S+) (\S+) (\S+) s3_(\w+) (\S+) (\S+) (\d{3}) (.*)$/;
    for (const line of text.split("\n")) {
        const match = pattern.exec(line);
        if (match === null) {
            continue;
        }
        const [, , bucket, , requester, , operation, key, , status, rest] = match;
        // rest: errorCode bytesSent objectSize totalTime turnAround referrer USER AGENT... then 9 trailing fields.
        const tokens = rest.split(" ");
        operations.push({
            operation,
            bucket,
            key,
            status: Number(status),
            errorCode: tokens[0] ?? "-",
            requester,
            userAgent: tokens.slice(6, -9).join(" "),
            raw: line,
        });
    }
    return operations;
}

/** Whether something accepts TCP on `host:port` (isListening, for an address other than loopback). */
function acceptsOn(host: string, port: number): Promise<boolean> {
    return new Promise((resolve) => {
        const socket = net.connect({ host, port });
        const done = (result: boolean) => {
            socket.destroy();
            resolve(result);
        };
        socket.setTimeout(1000, () => done(false));
        socket.once("connect", () => done(true));
        socket.once("error", () => done(false));
    });
}

export class S3Server {
    readonly region: string;
    readonly accessKey: string;
    readonly secretKey: string;
    /** Where versitygw keeps buckets (one directory each). */
    readonly dataDir: string;
    readonly accessLogFile: string;
    readonly logFile: string;
    readonly host: string;
    private proc: TrackedProcess | undefined;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly dir: string,
        readonly port: number,
        /** The admin API's port, with `accounts`. */
        readonly adminPort: number | undefined,
        options: S3ServerOptions,
    ) {
        this.host = options.host ?? LOOPBACK;
        this.region = options.region ?? "us-east-1";
        this.accessKey = options.accessKey ?? `AK${randomBytes(9).toString("hex").toUpperCase()}`;
        this.secretKey = options.secretKey ?? randomBytes(24).toString("base64url");
        this.dataDir = path.join(dir, "data");
        this.accessLogFile = path.join(dir, "s3-access.log");
        this.logFile = path.join(dir, "versitygw.log");
        fs.mkdirSync(this.dataDir, { recursive: true });
        if (adminPort !== undefined) {
            fs.mkdirSync(this.iamDir, { recursive: true });
        }
    }

    private get iamDir(): string {
        return path.join(this.dir, "iam");
    }

    /** Starts versitygw and waits until it answers. */
    static async start(tracker: ProcessTracker, options: S3ServerOptions): Promise<S3Server> {
        const adminPort = options.accounts === true ? await freePort() : undefined;
        const server = new S3Server(tracker, options.dir, options.port ?? (await freePort()), adminPort, options);
        await server.startProcess();
        return server;
    }

    /** `http://127.0.0.1:PORT` (or the `host` it was given), as the registry's `regionendpoint`. */
    get endpoint(): string {
        return `http://${this.host}:${this.port}`;
    }

    get process(): TrackedProcess | undefined {
        return this.proc;
    }

    get running(): boolean {
        return this.proc?.running ?? false;
    }

    private async startProcess(): Promise<void> {
        if (this.proc?.running) {
            throw new Error("versitygw is already running");
        }
        // Credentials go in the environment, not argv, so `ps` does not show them.
        this.proc = this.tracker.start(
            "versitygw",
            cachedBinary("versitygw"),
            [
                "--port", `${this.host}:${this.port}`,
                ...(this.adminPort === undefined ? [] : ["--admin-port", `${LOOPBACK}:${this.adminPort}`, "--iam-dir", this.iamDir, "--iam-cache-disable"]),
                "--region", this.region,
                "--access-log", this.accessLogFile,
                "--health", "/health",
                "--quiet",
                "posix", this.dataDir,
            ],
            {
                logFile: this.logFile,
                env: { ...process.env, ROOT_ACCESS_KEY_ID: this.accessKey, ROOT_SECRET_ACCESS_KEY: this.secretKey },
            },
        );
        const proc = this.proc;
        await waitUntil(
            async () => {
                const res = await request(`${this.endpoint}/health`, { timeoutMs: 2000 });
                return res.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
            },
            {
                description: `versitygw on ${this.endpoint}`,
                timeoutMs: 15_000,
                abortIf: () => (proc.running ? undefined : `versitygw exited (${JSON.stringify(proc.exitStatus)}):\n${proc.logTail()}`),
            },
        );
    }

    /** Stops the server gracefully. */
    async stop(): Promise<void> {
        await this.proc?.stop();
    }

    /** kill -9, as a crash. */
    async kill(): Promise<void> {
        await this.proc?.killHard();
    }

    /** Starts it again on the same port and data directory (after `stop()` or `kill()`). */
    async restart(): Promise<void> {
        if (this.proc?.running) {
            await this.stop();
        }
        await waitUntil(async () => ((await (this.host === LOOPBACK ? isListening(this.port) : acceptsOn(this.host, this.port))) ? { done: false, seen: "port still open" } : { done: true, value: undefined }), {
            description: `port ${this.port} to close`,
            timeoutMs: 10_000,
        });
        await this.startProcess();
    }

    /** An S3 client with the root credentials (or others, to prove bad signatures fail). */
    client(credentials?: { accessKeyId: string; secretAccessKey: string }): S3Client {
        return new S3Client({
            endpoint: this.endpoint,
            region: this.region,
            forcePathStyle: true,
            credentials: credentials ?? { accessKeyId: this.accessKey, secretAccessKey: this.secretKey },
        });
    }

    /** Creates a bucket with @aws-sdk/client-s3. */
    async createBucket(name: string): Promise<void> {
        const client = this.client();
        try {
            await client.send(new CreateBucketCommand({ Bucket: name }));
        } finally {
            client.destroy();
        }
    }

    /** Every object in `bucket` (key -> size in bytes), listed through the S3 API page by page. */
    async listObjects(bucket: string): Promise<Map<string, number>> {
        const client = this.client();
        const objects = new Map<string, number>();
        try {
            let token: string | undefined;
            do {
                const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
                for (const object of page.Contents ?? []) {
                    objects.set(object.Key ?? "", object.Size ?? 0);
                }
                token = page.IsTruncated === true ? page.NextContinuationToken : undefined;
            } while (token !== undefined);
        } finally {
            client.destroy();
        }
        return objects;
    }

    /** Every request in the access log so far (optionally only those whose user agent matches). */
    operations(filter?: { userAgent?: RegExp; since?: number }): S3Operation[] {
        let text = "";
        try {
            text = fs.readFileSync(this.accessLogFile, "utf8");
        } catch {
            return [];
        }
        const all = parseAccessLog(text).slice(filter?.since ?? 0);
        return filter?.userAgent ? all.filter((op) => filter.userAgent?.test(op.userAgent)) : all;
    }

    /** How many requests the access log holds: pass it as `since` to see only later ones. */
    operationCount(): number {
        return this.operations().length;
    }
}

/** User agent of the registry's S3 driver (aws-sdk-go v1), to tell its requests from the harness's. */
export const REGISTRY_S3_USER_AGENT = /aws-sdk-go\//;
