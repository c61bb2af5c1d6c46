/**
 * Check 8: the registry's S3 writes carry an object ACL that a bucket with
 * ObjectOwnership=BucketOwnerEnforced (AWS's default for new buckets) accepts: `x-amz-acl:
 * bucket-owner-full-control`, or none. AWS refuses any other with 400
 * AccessControlListNotSupported, so the push would fail on the droplet. The S3 driver sends
 * `objectacl` on every PutObject, CopyObject and CreateMultipartUpload (default `private`).
 * versitygw ignores the header, so a recording proxy in front of it plays that part of AWS.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { CreateMultipartUploadCommand, PutObjectCommand, S3Client, type ObjectCannedACL } from "@aws-sdk/client-s3";
import { parse } from "yaml";
import { BUCKET_OWNER_FULL_CONTROL, buildOciImage, dockerRef, makeTempDir, ociRef, startStack } from "../harness";
import type { OciImage, ProxiedS3Request, S3RecordingProxy, Stack, TempDir } from "../harness";
import { assertManifestServed, assertSucceeded, MB } from "./support";

const REPOSITORY = "team/acl";
const TAG = "v1";

const show = (r: ProxiedS3Request) => `${r.operation} ${r.url.split("?")[0]} x-amz-acl: ${r.acl ?? "(none)"} -> HTTP ${r.status}${r.refused ? " (refused)" : ""}`;

describe("object ACLs: the registry's writes are accepted by a BucketOwnerEnforced bucket", () => {
    let stack: Stack;
    let proxy: S3RecordingProxy;
    let work: TempDir;
    let image: OciImage;

    before(async () => {
        stack = await startStack({ name: "rehearsal-object-acl", s3Proxy: { bucketOwnerEnforced: true } });
        proxy = stack.s3Proxy!;
        work = makeTempDir("rehearsal-object-acl-images");
        // 40 MB is above the driver's 32 MiB multipart-copy threshold, so the blob's move into
        // place takes CreateMultipartUpload + UploadPartCopy; the small one takes CopyObject.
        image = await buildOciImage(work.join("source"), { layerSizes: [40 * MB, 2 * MB], tag: TAG });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("8a) the stand-in refuses other ACLs like AWS, accepts bucket-owner-full-control or none, and keeps signatures valid", async () => {
        const { s3, s3Target } = stack;
        const client = new S3Client({
            endpoint: proxy.endpoint,
            region: s3.region,
            forcePathStyle: true,
            credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
        });
        const since = proxy.count;
        try {
            const put = (key: string, acl?: ObjectCannedACL) => client.send(new PutObjectCommand({ Bucket: s3Target.bucket, Key: key, Body: "x", ACL: acl }));
            await put("probe/no-acl");
            await put("probe/owner-full-control", BUCKET_OWNER_FULL_CONTROL);
            const refused = (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
                assert.equal(error.name, "AccessControlListNotSupported", `unexpected error: ${error.name} ${error.message}`);
                assert.equal(error.$metadata?.httpStatusCode, 400);
                return true;
            };
            await assert.rejects(put("probe/private", "private"), refused);
            await assert.rejects(client.send(new CreateMultipartUploadCommand({ Bucket: s3Target.bucket, Key: "probe/public", ACL: "public-read" })), refused);
        } finally {
            client.destroy();
        }
        assert.deepEqual(
            proxy.requests(since).map((r) => `${r.operation} ${r.acl ?? "-"} ${r.status}`),
            ["PutObject - 200", `PutObject ${BUCKET_OWNER_FULL_CONTROL} 200`, "PutObject private 400", "CreateMultipartUpload public-read 400"],
        );
    });

    test("8b) a push through the registry on the program's config sends only bucket-owner-full-control (or no ACL) and succeeds", async () => {
        const { registry, skopeo, certs } = stack;
        const since = proxy.count;
        const push = await skopeo.copy(ociRef(image.layoutDir, TAG), dockerRef(registry.host, REPOSITORY, TAG), { destCreds: registry.login, destCertDir: certs.certDir });
        const writes = proxy.requests(since).filter((r) => r.method === "PUT" || r.method === "POST");

        const config = parse(fs.readFileSync(registry.configFile, "utf8")) as { storage: { s3: { objectacl?: string } } };
        const rendered = config.storage.s3.objectacl ?? "none, so the driver's default: private";
        const bad = writes.filter((r) => r.refused || (r.acl !== undefined && r.acl !== BUCKET_OWNER_FULL_CONTROL));
        assert.deepEqual(
            [...new Set(bad.map(show))].slice(0, 10),
            [],
            `${bad.length} of the registry's ${writes.length} S3 writes carried an ACL a BucketOwnerEnforced bucket refuses (config.yml storage.s3.objectacl: ${rendered})`,
        );
        const operations = new Set(writes.map((r) => r.operation));
        for (const needed of ["PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject", "UploadPartCopy"]) {
            assert.ok(operations.has(needed), `expected the push to call ${needed}; it called ${[...operations].sort().join(", ")}`);
        }
        assertSucceeded(push, "skopeo push through the ACL-checking S3 stand-in", { registry, secrets: [registry.login.password] });
        await assertManifestServed(registry, REPOSITORY, TAG, image.manifest.digest);

        const summary = [...operations].sort().map((op) => `${op}: ${[...new Set(writes.filter((w) => w.operation === op).map((w) => w.acl ?? "none"))].join("/")}`);
        process.stdout.write(`# x-amz-acl per write operation: ${summary.join(", ")}\n`);
    });
});
