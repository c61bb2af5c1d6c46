import { randomBytes } from "node:crypto";
import { PutBucketPolicyCommand, type S3Client } from "@aws-sdk/client-s3";
import { LOOPBACK } from "./ports";
import type { ProcessTracker } from "./processes";
import { S3Server, type S3Operation } from "./s3";
import { cachedBinary } from "./tools";

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
    private constructor(
        private readonly tracker: ProcessTracker,
        /** The server itself, run with `accounts`: its root key owns the buckets. */
        readonly server: S3Server,
    ) {}

    /** `region`: the one versitygw signs in (a Spaces region's slug, to stand in for Spaces); default the server's. */
    static async start(tracker: ProcessTracker, options: { dir: string; region?: string }): Promise<S3WithAccounts> {
        return new S3WithAccounts(tracker, await S3Server.start(tracker, { dir: options.dir, accounts: true, region: options.region }));
    }

    get root(): S3Key {
        return { accessKey: this.server.accessKey, secretKey: this.server.secretKey };
    }

    get region(): string {
        return this.server.region;
    }

    get endpoint(): string {
        return this.server.endpoint;
    }

    get accessLogFile(): string {
        return this.server.accessLogFile;
    }

    client(key: S3Key = this.root): S3Client {
        return this.server.client({ accessKeyId: key.accessKey, secretAccessKey: key.secretKey });
    }

    private async admin(args: string[], secrets: string[] = []): Promise<void> {
        await this.tracker.runChecked(cachedBinary("versitygw"), ["admin", "--endpoint-url", `http://${LOOPBACK}:${this.server.adminPort}`, "--region", this.region, ...args], {
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
    createBucket(bucket: string): Promise<void> {
        return this.server.createBucket(bucket);
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
        return this.server.operations(filter);
    }
}
