/**
 * Check 19: `storage=spaces` on a stand-in configured as Spaces would be. versitygw signs in the
 * Spaces region (nyc3), and a recording proxy in front of it refuses what DigitalOcean documents
 * Spaces refuses (test/harness/spacesProxy.ts: SSE-S3/KMS, bucket encryption, ACLs other than
 * private and public-read, public-access-block, ownership controls, IAM/STS, SDK checksums,
 * other buckets). The registry runs the program's own Spaces storage section
 * (components/render/spaces.ts) with only its endpoint swapped for the proxy's. A push, a
 * digest-verified pull (redirected to presigned URLs on the stand-in), and a garbage collection
 * pass, and the stand-in refuses none of the registry's requests. Key rotation is check 20.
 */
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { after, before, describe, test } from "node:test";
import { CreateMultipartUploadCommand, PutBucketEncryptionCommand, PutObjectCommand, S3Client, type ObjectCannedACL } from "@aws-sdk/client-s3";
import { parse } from "yaml";
import { renderDeployment } from "../../components/render/deployment";
import { buildOciImage, cachedBinary, dockerRef, generateLogin, makeTempDir, ociRef, programDeploymentInput, readAndVerifyOciImage, REGISTRY_S3_USER_AGENT, registryEnvironment, request, startStack } from "../harness";
import type { OciImage, ProxiedS3Request, S3RecordingProxy, Stack, TempDir } from "../harness";
import { assertManifestServed, assertSameImage, assertSucceeded, MB } from "./support";

const REPOSITORY = "team/spaces";
const TAG = "v1";
const SPACES_REGION = "nyc3";

const show = (r: ProxiedS3Request) => `${r.method} ${r.url.split("?")[0]} -> HTTP ${r.status}${r.refusal ? ` (${r.refusal.rule ?? ""} ${r.refusal.code}: ${r.refusal.message})` : ""}`;

type StorageSection = Record<string, unknown>;
const storageOf = (yaml: string) => (parse(yaml) as { storage: { s3: StorageSection } }).storage.s3;

describe("storage=spaces: the registry on a stand-in that refuses what Spaces refuses", () => {
    let stack: Stack;
    let proxy: S3RecordingProxy;
    let work: TempDir;
    let first: OciImage;
    let second: OciImage;
    /** Proxy records before the registry's own traffic began (after the probes of 19a). */
    let registrySince = 0;

    before(async () => {
        stack = await startStack({ name: "rehearsal-spaces", spaces: { region: SPACES_REGION } });
        proxy = stack.s3Proxy!;
        work = makeTempDir("rehearsal-spaces-images");
        // 40 MB is above the driver's 32 MiB multipart-copy threshold, so the blob's move into
        // place takes CreateMultipartUpload + UploadPartCopy; the small one takes CopyObject.
        first = await buildOciImage(work.join("first"), { layerSizes: [40 * MB, 2 * MB], tag: TAG });
        second = await buildOciImage(work.join("second"), { layerSizes: [3 * MB], tag: TAG });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("19a) the registry's storage section is the program's for Spaces but for the endpoint, and the stand-in refuses what Spaces does", async () => {
        const { registry, s3, s3Target, certs } = stack;
        const running = storageOf(fs.readFileSync(registry.configFile, "utf8"));
        const input = programDeploymentInput({ s3: s3Target, login: generateLogin(), httpSecret: registry.httpSecret, certs, storage: "spaces" });
        const program = storageOf(renderDeployment(input).configYaml);
        assert.equal(program.regionendpoint, `https://${SPACES_REGION}.digitaloceanspaces.com`);
        assert.deepEqual({ ...running, regionendpoint: program.regionendpoint }, program, "the rehearsal changed more than the Spaces endpoint");
        assert.equal(running.regionendpoint, proxy.endpoint);
        assert.equal(running.region, SPACES_REGION);

        const client = (checksums: "WHEN_SUPPORTED" | "WHEN_REQUIRED", region = s3.region) =>
            new S3Client({
                endpoint: proxy.endpoint,
                region,
                forcePathStyle: true,
                credentials: { accessKeyId: s3.accessKey, secretAccessKey: s3.secretKey },
                requestChecksumCalculation: checksums,
                maxAttempts: 1,
            });
        // As an SDK from before 15 January 2025 behaves: checksums only where an API requires one.
        const plain = client("WHEN_REQUIRED");
        // Today's SDK default, which DigitalOcean warns fails on Spaces.
        const current = client("WHEN_SUPPORTED");
        // Spaces expects its region slug in the signature's scope; versitygw, started in it, checks that.
        const elsewhere = client("WHEN_REQUIRED", "us-east-1");
        const since = proxy.count;
        const refusedWith = (code: string, status: number) => (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
            assert.equal(error.name, code, `unexpected error: ${error.name} ${error.message}`);
            assert.equal(error.$metadata?.httpStatusCode, status);
            return true;
        };
        try {
            const put = (key: string, extra: { ACL?: ObjectCannedACL; ServerSideEncryption?: "AES256" } = {}) => plain.send(new PutObjectCommand({ Bucket: s3Target.bucket, Key: key, Body: "x", ...extra }));
            await put("probe/private", { ACL: "private" });
            await put("probe/no-acl");
            await assert.rejects(put("probe/owner-full-control", { ACL: "bucket-owner-full-control" }), refusedWith("InvalidArgument", 400));
            await assert.rejects(put("probe/sse-s3", { ServerSideEncryption: "AES256" }), refusedWith("NotImplemented", 501));
            await assert.rejects(
                plain.send(new PutBucketEncryptionCommand({ Bucket: s3Target.bucket, ServerSideEncryptionConfiguration: { Rules: [{ ApplyServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] } })),
                refusedWith("NotImplemented", 501),
            );
            await assert.rejects(plain.send(new CreateMultipartUploadCommand({ Bucket: `${s3Target.bucket}-other`, Key: "probe" })), refusedWith("AccessDenied", 403));
            await assert.rejects(current.send(new PutObjectCommand({ Bucket: s3Target.bucket, Key: "probe/crc32", Body: "x" })), refusedWith("NotImplemented", 501));
            await assert.rejects(elsewhere.send(new PutObjectCommand({ Bucket: s3Target.bucket, Key: "probe/us-east-1", Body: "x" })), (error: Error & { $metadata?: { httpStatusCode?: number } }) => {
                assert.equal(error.$metadata?.httpStatusCode, 400, `a request signed for us-east-1: ${error.name} ${error.message}`);
                return true;
            });
        } finally {
            plain.destroy();
            current.destroy();
            elsewhere.destroy();
        }
        assert.deepEqual(
            proxy.requests(since).map((r) => `${r.operation} ${r.status} ${r.refusal?.rule ?? "-"}`),
            [
                "PutObject 200 -",
                "PutObject 200 -",
                "PutObject 400 canned-acl",
                "PutObject 501 sse-s3-or-kms",
                "PutBucketEncryption 501 unsupported-bucket-api",
                "CreateMultipartUpload 403 other-bucket",
                "PutObject 501 sdk-checksums",
                // versitygw answers a signature scoped to another region with 400.
                "PutObject 400 -",
            ],
        );
        registrySince = proxy.count;
    });

    test("19b) push through the front, pull back digest for digest; pulls are redirected to presigned URLs on the stand-in", async () => {
        const { registry, skopeo, certs } = stack;
        const since = proxy.count;
        const push = await skopeo.copy(ociRef(first.layoutDir, TAG), dockerRef(registry.host, REPOSITORY, TAG), { destCreds: registry.login, destCertDir: certs.certDir });
        const refused = proxy.requests(since).filter((r) => r.refused);
        assert.deepEqual([...new Set(refused.map(show))].slice(0, 10), [], `the Spaces stand-in refused ${refused.length} of the registry's requests during the push`);
        assertSucceeded(push, "skopeo push to the registry on the Spaces stand-in", { registry, secrets: [registry.login.password] });
        await assertManifestServed(registry, REPOSITORY, TAG, first.manifest.digest);
        const writes = new Set(proxy.requests(since).map((r) => r.operation));
        for (const needed of ["PutObject", "CreateMultipartUpload", "UploadPart", "CopyObject", "UploadPartCopy"]) {
            assert.ok(writes.has(needed), `expected the push to call ${needed}; it called ${[...writes].sort().join(", ")}`);
        }
        const acls = new Set(proxy.requests(since).filter((r) => r.acl !== undefined).map((r) => r.acl));
        assert.deepEqual([...acls], ["private"], "the registry's writes should carry x-amz-acl: private");

        const layer = first.layers[0];
        const blob = await registry.get(`/v2/${REPOSITORY}/blobs/${layer.digest}`, { maxBodyBytes: 0 });
        assert.equal(blob.status, 307, `GET blob: HTTP ${blob.status}, want a redirect to the bucket`);
        const location = String(blob.headers.location);
        assert.ok(location.startsWith(`${proxy.endpoint}/${stack.s3Target.bucket}/`), `redirect target ${location} is not the bucket, path-style, on the stand-in`);
        assert.match(location, new RegExp(`X-Amz-Credential=[^&]*%2F${SPACES_REGION}%2Fs3%2Faws4_request`), "the presigned URL is not signed for the Spaces region");

        const pullSince = proxy.count;
        const pullDir = work.join("pulled");
        const pull = await skopeo.copy(dockerRef(registry.host, REPOSITORY, TAG), ociRef(pullDir, TAG), { srcCreds: registry.login, srcCertDir: certs.certDir });
        assertSucceeded(pull, "skopeo pull from the registry on the Spaces stand-in", { registry, secrets: [registry.login.password] });
        assertSameImage(readAndVerifyOciImage(pullDir, TAG), first, "pulled image");
        const presigned = proxy.requests(pullSince).filter((r) => r.method === "GET" && /X-Amz-Signature=/.test(r.url) && r.status === 200);
        assert.ok(presigned.length >= first.layers.length, `expected skopeo to fetch the ${first.layers.length} layers by presigned URL through the stand-in; it made ${presigned.length} such GETs`);
        const fromStandIn = await request(location, { maxBodyBytes: 0 });
        assert.equal(fromStandIn.status, 200);
        assert.equal(fromStandIn.digest, layer.digest);
    });

    test("19c) garbage collection (`registry garbage-collect --delete-untagged`, the maintenance job's command, run directly with the registry stopped) deletes through the stand-in", async () => {
        const { registry, skopeo, certs, s3, s3Target } = stack;
        // The tag moves to another image: the first one's manifest is untagged and collectable.
        const push = await skopeo.copy(ociRef(second.layoutDir, TAG), dockerRef(registry.host, REPOSITORY, TAG), { destCreds: registry.login, destCertDir: certs.certDir });
        assertSucceeded(push, "push of the second image", { registry, secrets: [registry.login.password] });
        const before = await s3.listObjects(s3Target.bucket);
        const firstLayer = `docker/registry/v2/blobs/sha256/${first.layers[0].digest.slice(7, 9)}/${first.layers[0].digest.slice(7)}/data`;
        assert.ok(before.has(firstLayer), `expected ${firstLayer} in the bucket before collection`);

        // Stopped, so nothing writes during the collection, as the job's read-only window ensures.
        await registry.stop();
        const since = proxy.count;
        const gc = await stack.tracker.run(cachedBinary("registry"), ["garbage-collect", "--delete-untagged", registry.configFile], { env: registryEnvironment(), timeoutMs: 120_000 });
        assertSucceeded(gc, "registry garbage-collect --delete-untagged");
        const during = proxy.requests(since);
        await registry.restart();

        // 404s are the collector's own lookups of links that need not exist.
        const refused = during.filter((r) => r.refused || r.status === 403 || r.status >= 500);
        assert.deepEqual([...new Set(refused.map(show))].slice(0, 10), [], "the Spaces stand-in refused or failed requests of the collection");
        assert.ok(during.some((r) => r.method === "DELETE" || r.operation === "DeleteObjects"), `the collection deleted nothing through the stand-in: ${[...new Set(during.map((r) => r.operation))].join(", ")}`);
        const after = await s3.listObjects(s3Target.bucket);
        assert.ok(!after.has(firstLayer), "the untagged image's layer is still in the bucket");
        const gone = await registry.get(`/v2/${REPOSITORY}/blobs/${first.layers[0].digest}`, { method: "HEAD", maxBodyBytes: 0 });
        assert.equal(gone.status, 404, `HEAD of a collected layer: HTTP ${gone.status}`);

        const pullDir = work.join("pulled-after-gc");
        const pull = await skopeo.copy(dockerRef(registry.host, REPOSITORY, TAG), ociRef(pullDir, TAG), { srcCreds: registry.login, srcCertDir: certs.certDir });
        assertSucceeded(pull, "pull of the kept image after collection", { registry, secrets: [registry.login.password] });
        assertSameImage(readAndVerifyOciImage(pullDir, TAG), second, "image pulled after collection");
    });

    test("19e) the stand-in refused none of the registry's requests (its own and the presigned pulls), and versitygw in the Spaces region accepted every signature", () => {
        const seen = proxy.requests(registrySince);
        assert.ok(seen.length > 0, "the registry made no requests (did 19b and 19c run?)");
        assert.deepEqual([...new Set(seen.filter((r) => r.refused).map(show))], [], "the Spaces stand-in refused some of the registry's requests");
        // versitygw runs in the Spaces region: a signature scoped to another region or service would be a 403.
        assert.deepEqual([...new Set(seen.filter((r) => r.status === 403).map(show))], [], "versitygw refused some of the registry's signatures");
        const fromDriver = stack.s3.operations().filter((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent));
        assert.ok(fromDriver.length > 0, "versitygw saw nothing from the registry's driver");
        process.stdout.write(`# requests through the Spaces stand-in: ${seen.length}; operations: ${[...new Set(seen.map((r) => r.operation))].sort().join(", ")}\n`);
    });
});
