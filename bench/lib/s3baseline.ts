/**
 * The baseline: the same bytes straight to the S3 server with @aws-sdk, no registry in between.
 * PUT is a multipart upload with the registry's part size and one part in flight per stream
 * (the registry's S3 driver uploads the parts of one blob one after another); GET is one
 * streaming GetObject per object, written to a file and hashed, the work any client (skopeo
 * included) does to store and verify a blob.
 */
import { createHash } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

import { CreateBucketCommand, DeleteObjectsCommand, GetObjectCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import type { S3Target } from "../../test/harness/registry";

export type { S3Target };

export function s3Client(t: S3Target): S3Client {
    return new S3Client({
        endpoint: t.endpoint,
        region: t.region,
        forcePathStyle: true,
        credentials: { accessKeyId: t.accessKey, secretAccessKey: t.secretKey },
        // Like the registry's aws-sdk-go v1: no extra CRC trailers, only what S3 requires.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        maxAttempts: 1,
    });
}

export async function ensureBucket(client: S3Client, bucket: string): Promise<void> {
    try {
        await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } catch (err) {
        const name = (err as { name?: string }).name ?? "";
        if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") {
            throw err;
        }
    }
}

/** Deletes every object under `prefix` (the baseline's own objects). */
export async function deletePrefix(client: S3Client, bucket: string, prefix: string): Promise<void> {
    let token: string | undefined;
    do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        const keys = (page.Contents ?? []).map((o) => ({ Key: o.Key! }));
        if (keys.length > 0) {
            await client.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: keys, Quiet: true } }));
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
}

export async function rawPut(client: S3Client, bucket: string, key: string, file: string, partSizeBytes: number): Promise<void> {
    const upload = new Upload({
        client,
        params: { Bucket: bucket, Key: key, Body: createReadStream(file, { highWaterMark: 1024 * 1024 }) },
        partSize: partSizeBytes,
        queueSize: 1,
        leavePartsOnError: false,
    });
    await upload.done();
}

/** Downloads `key` into `file`, returning the hex sha256 of what arrived. */
export async function rawGet(client: S3Client, bucket: string, key: string, file: string): Promise<string> {
    const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const hash = createHash("sha256");
    const hashing = new Transform({
        transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            callback(null, chunk);
        },
    });
    await pipeline(res.Body as Readable, hashing, createWriteStream(file));
    return hash.digest("hex");
}
