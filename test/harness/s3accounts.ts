import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { CreateBucketCommand, PutBucketPolicyCommand, S3Client } from "@aws-sdk/client-s3";
import { request } from "./http";
import { freePort, LOOPBACK } from "./ports";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { parseAccessLog, type S3Operation } from "./s3";
import { cachedBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * The S3 stand-in (versitygw, posix backend) with accounts besides root, to rehearse an access key
 * rotation: two keys with the same rights on one bucket, then one of them deleted.
 *
 * versitygw v1.8.0 has no IAM access keys: each account is one key pair. Its internal IAM
 * (`--iam-dir`) holds the accounts, which its admin API creates and deletes (`versitygw admin
 * create-user | delete-user`, its Multi-Tenant.md). An account of role `user` reaches a bucket it
 * does not own through the bucket's policy, whose principals are access key IDs
 * (auth/access-control.go `VerifyAccess`: root and admin pass, else `VerifyBucketPolicy` decides
 * when the bucket has a policy; auth/bucket_policy_principals.go `Contains`). Root owns the
 * bucket and its policy grants every key the same `s3:*`, as one IAM user's policy covers both of
 * its keys on AWS. `--iam-cache-disable`: a deleted account is refused from the next request on,
 * not after the cache's 120 s.
 */

export interface S3Key {
    accessKey: string;
    secretKey: string;
}

export class S3WithAccounts {
    readonly region = "us-east-1";
    readonly root: S3Key = { accessKey: `AKROOT${randomBytes(6).toString("hex").toUpperCase()}`, secretKey: randomBytes(24).toString("base64url") };
    readonly accessLogFile: string;
    private proc: TrackedProcess | undefined;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly dir: string,
        readonly port: number,
        readonly adminPort: number,
    ) {
        this.accessLogFile = path.join(dir, "s3-access.log");
    }

    static async start(tracker: ProcessTracker, options: { dir: string }): Promise<S3WithAccounts> {
        fs.mkdirSync(path.join(options.dir, "data"), { recursive: true });
        fs.mkdirSync(path.join(options.dir, "iam"), { recursive: true });
        const server = new S3WithAccounts(tracker, options.dir, await freePort(), await freePort());
        // Credentials go in the environment, not argv, so `ps` does not show them.
        const proc = tracker.start(
            "versitygw",
            cachedBinary("versitygw"),
            [
                "--port", `${LOOPBACK}:${server.port}`,
                "--admin-port", `${LOOPBACK}:${server.adminPort}`,
                "--region", server.region,
                "--access-log", server.accessLogFile,
                "--iam-dir", path.join(options.dir, "iam"),
                "--iam-cache-disable",
                "--health", "/health",
                "--quiet",
                "posix", path.join(options.dir, "data"),
            ],
            { logFile: path.join(options.dir, "versitygw.log"), env: { ...process.env, ROOT_ACCESS_KEY_ID: server.root.accessKey, ROOT_SECRET_ACCESS_KEY: server.root.secretKey } },
        );
        server.proc = proc;
        await waitUntil(
            async () => {
                const res = await request(`${server.endpoint}/health`, { timeoutMs: 2000 }).catch((error: Error) => ({ status: 0, error }));
                return res.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
            },
            { description: `versitygw on ${server.endpoint}`, timeoutMs: 15_000, abortIf: () => (proc.running ? undefined : `versitygw exited:\n${proc.logTail()}`) },
        );
        return server;
    }

    get endpoint(): string {
        return `http://${LOOPBACK}:${this.port}`;
    }

    client(key: S3Key = this.root): S3Client {
        return new S3Client({ endpoint: this.endpoint, region: this.region, forcePathStyle: true, credentials: { accessKeyId: key.accessKey, secretAccessKey: key.secretKey } });
    }

    private async admin(args: string[], secrets: string[] = []): Promise<void> {
        await this.tracker.runChecked(cachedBinary("versitygw"), ["admin", "--endpoint-url", `http://${LOOPBACK}:${this.adminPort}`, ...args], {
            env: { ...process.env, ADMIN_ACCESS_KEY_ID: this.root.accessKey, ADMIN_SECRET_ACCESS_KEY: this.root.secretKey },
            secrets: [this.root.secretKey, ...secrets],
            timeoutMs: 30_000,
        });
    }

    /** A new account of role `user` (no rights until a bucket policy names it): what a new access key is. */
    async createKey(): Promise<S3Key> {
        const key = { accessKey: `AK${randomBytes(9).toString("hex").toUpperCase()}`, secretKey: randomBytes(24).toString("base64url") };
        await this.admin(["create-user", "--access", key.accessKey, "--secret", key.secretKey, "--role", "user"], [key.secretKey]);
        return key;
    }

    /** Deletes the account: requests signed with its key are refused from then on. */
    async deleteKey(key: S3Key): Promise<void> {
        await this.admin(["delete-user", "--access", key.accessKey]);
    }

    /** Creates the bucket as root. */
    async createBucket(bucket: string): Promise<void> {
        const client = this.client();
        try {
            await client.send(new CreateBucketCommand({ Bucket: bucket }));
        } finally {
            client.destroy();
        }
    }

    /** Sets the bucket's policy: every one of `keys` may do anything to the bucket and its objects. */
    async grant(bucket: string, keys: S3Key[]): Promise<void> {
        const policy = {
            Version: "2012-10-17",
            Statement: [
                {
                    Effect: "Allow",
                    Principal: { AWS: keys.map((k) => k.accessKey) },
                    Action: ["s3:*"],
                    Resource: [`arn:aws:s3:::${bucket}`, `arn:aws:s3:::${bucket}/*`],
                },
            ],
        };
        const client = this.client();
        try {
            await client.send(new PutBucketPolicyCommand({ Bucket: bucket, Policy: JSON.stringify(policy) }));
        } finally {
            client.destroy();
        }
    }

    /** The access log's requests; `requester` is the access key ID each was signed with. */
    operations(filter: { userAgent?: RegExp; since?: number } = {}): S3Operation[] {
        const text = fs.existsSync(this.accessLogFile) ? fs.readFileSync(this.accessLogFile, "utf8") : "";
        const all = parseAccessLog(text).slice(filter.since ?? 0);
        return filter.userAgent === undefined ? all : all.filter((op) => filter.userAgent?.test(op.userAgent));
    }

    get logFile(): string {
        return this.proc?.logFile ?? "";
    }
}
