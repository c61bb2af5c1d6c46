/**
 * Check 0: the S3 stand-in is real enough to trust the other checks. versitygw must reject bad
 * signatures (wrong secret, unknown key, unsigned request; tampered presigned URLs: check 1b) and implement
 * the multipart calls the registry's S3 driver makes on every push (ListMultipartUploads,
 * ListParts), not merely accept anything.
 */
import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
    AbortMultipartUploadCommand,
    CompleteMultipartUploadCommand,
    CreateMultipartUploadCommand,
    GetObjectCommand,
    ListMultipartUploadsCommand,
    ListObjectsV2Command,
    ListPartsCommand,
    PutObjectCommand,
    UploadPartCommand,
    type S3Client,
} from "@aws-sdk/client-s3";
import { randomBytes, createHash } from "node:crypto";
import { makeTempDir, ProcessTracker, request, S3Server } from "../harness";
import type { TempDir } from "../harness";

const BUCKET = "stand-in-check";

describe("the S3 stand-in (versitygw) checks signatures and implements multipart uploads", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let s3: S3Server;
    let client: S3Client;

    before(async () => {
        tmp = makeTempDir("rehearsal-s3-stand-in");
        s3 = await S3Server.start(tracker, { dir: tmp.path });
        await s3.createBucket(BUCKET);
        client = s3.client();
        await client.send(new PutObjectCommand({ Bucket: BUCKET, Key: "probe", Body: "hello" }));
    });

    after(async () => {
        client?.destroy();
        await tracker.dispose();
        tmp?.remove();
    });

    test("0a) a request signed with the wrong secret is rejected with SignatureDoesNotMatch", async () => {
        const wrong = s3.client({ accessKeyId: s3.accessKey, secretAccessKey: `${s3.secretKey}x` });
        try {
            await assert.rejects(wrong.send(new ListObjectsV2Command({ Bucket: BUCKET })), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
                assert.equal(error.name, "SignatureDoesNotMatch", `unexpected error: ${error.name} ${error.message}`);
                assert.equal(error.$metadata?.httpStatusCode, 403);
                return true;
            });
            await assert.rejects(wrong.send(new PutObjectCommand({ Bucket: BUCKET, Key: "forged", Body: "x" })), /signature/i, "a forged PUT was accepted");
        } finally {
            wrong.destroy();
        }
        const listing = await client.send(new ListObjectsV2Command({ Bucket: BUCKET }));
        assert.deepEqual((listing.Contents ?? []).map((o) => o.Key), ["probe"], "a request with a bad signature changed the bucket");
    });

    test("0b) an unknown access key and an unsigned request are rejected", async () => {
        const unknown = s3.client({ accessKeyId: "AKIAUNKNOWNKEY000000", secretAccessKey: s3.secretKey });
        try {
            await assert.rejects(unknown.send(new ListObjectsV2Command({ Bucket: BUCKET })), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
                assert.ok((error.$metadata?.httpStatusCode ?? 0) >= 400, `unknown key got HTTP ${error.$metadata?.httpStatusCode}`);
                return true;
            });
        } finally {
            unknown.destroy();
        }
        const anonymous = await request(`${s3.endpoint}/${BUCKET}/probe`);
        assert.equal(anonymous.status, 403, `unsigned GET: HTTP ${anonymous.status}, want 403`);
        assert.doesNotMatch(anonymous.text(), /hello/, "an unsigned GET returned the object");
    });

    test("0c) multipart: ListMultipartUploads and ListParts see an upload in progress; complete and abort work", async () => {
        const key = "multi/object";
        const created = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
        const uploadId = created.UploadId as string;
        const parts = [randomBytes(5 * 1024 * 1024), randomBytes(1024 * 1024)];
        const etags: string[] = [];
        for (const [index, body] of parts.entries()) {
            const res = await client.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId, PartNumber: index + 1, Body: body }));
            etags.push(res.ETag as string);
        }
        const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "multi/" }));
        assert.deepEqual((uploads.Uploads ?? []).map((u) => [u.Key, u.UploadId]), [[key, uploadId]], "ListMultipartUploads does not show the upload");
        const listed = await client.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: uploadId }));
        assert.deepEqual((listed.Parts ?? []).map((p) => [p.PartNumber, p.Size]), [[1, parts[0].length], [2, parts[1].length]], "ListParts");
        await client.send(
            new CompleteMultipartUploadCommand({
                Bucket: BUCKET,
                Key: key,
                UploadId: uploadId,
                MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            }),
        );
        const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
        const bytes = Buffer.from(await (object.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray());
        const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
        assert.equal(sha(bytes), sha(Buffer.concat(parts)), "the completed object is not the concatenated parts");

        const abandoned = await client.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "multi/abandoned" }));
        await client.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: "multi/abandoned", UploadId: abandoned.UploadId }));
        const after = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: "multi/" }));
        assert.deepEqual(after.Uploads ?? [], [], "uploads left after complete + abort");
    });
});
