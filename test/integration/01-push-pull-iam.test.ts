/**
 * Check 1: a ~50 MB multi-layer image pushed with skopeo comes back digest-for-digest, and the
 * catalog and tag list show it.
 * Check 7: every S3 operation the registry made during check 1 is allowed by the program's IAM
 * policy (simulated with @cloud-copilot/iam-simulate), also under the TLS-only bucket policy.
 */
import * as assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { renderStoragePolicy, renderTlsOnlyBucketPolicy, BUCKET_ACTIONS, OBJECT_ACTIONS } from "../../components/render/iamPolicy";
import { buildOciImage, dockerRef, makeTempDir, ociRef, readAndVerifyOciImage, REGISTRY_S3_USER_AGENT, request, startStack } from "../harness";
import type { OciImage, S3Operation, Stack, TempDir } from "../harness";
import { iamRequirementsFor, simulateIdentityPolicy } from "../harness/iam";
import { assertManifestServed, assertSameImage, assertSucceeded, MB } from "./support";

const REPOSITORY = "team/app";
const TAG = "v1";

describe("push and pull through the real registry on S3", () => {
    let stack: Stack;
    let work: TempDir;
    let image: OciImage;
    /**
     * The S3 requests signed with the registry's credentials during check 1, for check 7: the
     * registry's own (aws-sdk-go) and the clients' fetches of the presigned URLs it handed out.
     */
    let check1Operations: S3Operation[] = [];

    before(async () => {
        stack = await startStack({ name: "rehearsal-push-pull" });
        work = makeTempDir("rehearsal-push-pull-images");
        // ~50 MB in three gzip layers of random (incompressible) data.
        image = await buildOciImage(work.join("source"), { layerSizes: [30 * MB, 15 * MB, 5 * MB], tag: TAG, compression: "gzip" });
    });

    after(async () => {
        work?.remove();
        await stack?.stop();
    });

    test("1) push a ~50 MB multi-layer image and pull it back: every digest matches; _catalog and tags/list show it", async () => {
        const { registry, skopeo, certs, s3 } = stack;
        assert.ok(image.totalLayerBytes > 49 * MB, `test image is ${image.totalLayerBytes} bytes, expected ~50 MB`);
        assert.equal(image.layers.length, 3);
        const opsBefore = s3.operationCount();

        const push = await skopeo.copy(ociRef(image.layoutDir, TAG), dockerRef(registry.host, REPOSITORY, TAG), {
            destCreds: registry.login,
            destCertDir: certs.certDir,
        });
        assertSucceeded(push, "skopeo push", { registry, secrets: [registry.login.password] });
        check1Operations = s3.operations({ since: opsBefore });

        await assertManifestServed(registry, REPOSITORY, TAG, image.manifest.digest);

        const pullDir = work.join("pulled");
        const pull = await skopeo.copy(dockerRef(registry.host, REPOSITORY, TAG), ociRef(pullDir, TAG), {
            srcCreds: registry.login,
            srcCertDir: certs.certDir,
        });
        assertSucceeded(pull, "skopeo pull", { registry, secrets: [registry.login.password] });
        check1Operations = s3.operations({ since: opsBefore });
        // With redirects on, skopeo fetched the layers from S3 itself, with URLs the registry signed.
        const presignedByClient = check1Operations.filter((op) => op.operation === "GetObject" && !REGISTRY_S3_USER_AGENT.test(op.userAgent));
        assert.ok(presignedByClient.length >= image.layers.length, `expected skopeo to fetch the ${image.layers.length} layers by presigned URL; S3 saw ${presignedByClient.length} such GETs`);

        // Every pulled blob hashes to its digest, and the digests are the pushed ones.
        const pulled = readAndVerifyOciImage(pullDir, TAG);
        assertSameImage(pulled, image, "pulled image");

        const catalog = await registry.get("/v2/_catalog");
        assert.equal(catalog.status, 200, `_catalog: HTTP ${catalog.status}`);
        assert.deepEqual(catalog.json<{ repositories: string[] }>().repositories, [REPOSITORY], "_catalog lists exactly the pushed repository");
        const tags = await registry.get(`/v2/${REPOSITORY}/tags/list`);
        assert.equal(tags.status, 200, `tags/list: HTTP ${tags.status}`);
        assert.deepEqual(tags.json<{ name: string; tags: string[] }>(), { name: REPOSITORY, tags: [TAG] }, "tags/list shows the pushed tag");

        // The bytes really went to S3: the registry's multipart uploads landed in the bucket.
        const uploaded = check1Operations.filter((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent) && (op.operation === "UploadPart" || op.operation === "PutObject"));
        assert.ok(uploaded.length > 0, "the S3 server saw no uploads from the registry");
    });

    test("1b) pulls are redirected to presigned S3 URLs (the program's default); the URL serves the blob, a tampered one is refused", async () => {
        const { registry, s3 } = stack;
        assert.equal(registry.configInput.redirect, true, "the program's default should redirect pulls to S3");
        const layer = image.layers[0];
        const blob = await registry.get(`/v2/${REPOSITORY}/blobs/${layer.digest}`, { maxBodyBytes: 0 });
        assert.equal(blob.status, 307, `GET blob: HTTP ${blob.status}, want a 307 redirect to S3`);
        const location = String(blob.headers.location);
        assert.ok(location.startsWith(`${s3.endpoint}/${stack.s3Target.bucket}/`), `redirect target ${location} is not the bucket`);
        assert.match(location, /X-Amz-Signature=[0-9a-f]{64}/, "the redirect is not a presigned URL");
        const fromS3 = await request(location, { maxBodyBytes: 0 });
        assert.equal(fromS3.status, 200, `presigned GET: HTTP ${fromS3.status}`);
        assert.equal(fromS3.digest, layer.digest, "the presigned URL served other bytes");
        const tampered = location.replace(/(X-Amz-Signature=)([0-9a-f])/, (_m, prefix: string, c: string) => `${prefix}${c === "0" ? "1" : "0"}`);
        const refused = await request(tampered, { maxBodyBytes: 1024 });
        assert.equal(refused.status, 403, `presigned GET with a tampered signature: HTTP ${refused.status}, want 403`);
        assert.match(refused.text(), /SignatureDoesNotMatch/, "unexpected error for a tampered signature");
    });

    test("7) IAM: every S3 operation signed with the registry's key in check 1 (its own and presigned pulls) is allowed by renderStoragePolicy(bucket)", async () => {
        assert.ok(check1Operations.length > 0, "check 1 recorded no S3 operations (did it run and pass?)");
        const requesters = new Set(check1Operations.map((op) => op.requester));
        assert.deepEqual([...requesters], [stack.s3Target.accessKey], "check 1's S3 requests should all be signed with the registry's storage key");
        const bucket = stack.s3Target.bucket;
        const failed = check1Operations.filter((op) => op.status >= 500 || op.status === 403);
        assert.deepEqual(failed.map((op) => op.raw), [], "the S3 server refused or failed some of the registry's requests during check 1");

        const operationNames = [...new Set(check1Operations.map((op) => op.operation))].sort();
        for (const needed of ["CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "GetObject"]) {
            assert.ok(operationNames.includes(needed), `expected the registry to call ${needed}; it called ${operationNames.join(", ")}`);
        }

        const checks = iamRequirementsFor(check1Operations, bucket);
        const policy = renderStoragePolicy(bucket);
        const denied = (await simulateIdentityPolicy(policy, checks)).filter((d) => d.result !== "Allowed");
        assert.deepEqual(
            denied.map((d) => `${d.operation} needs ${d.action} on ${d.resource}${d.note ? ` (${d.note})` : ""}: ${d.result}`),
            [],
            "renderStoragePolicy does not allow everything the registry did",
        );

        // Over TLS the program's TLS-only bucket policy must not get in the way; over plain HTTP it must deny.
        const tlsOnly = renderTlsOnlyBucketPolicy(bucket);
        const overTls = await simulateIdentityPolicy(policy, checks, { resourcePolicy: tlsOnly, context: { "aws:SecureTransport": "true" } });
        assert.deepEqual(overTls.filter((d) => d.result !== "Allowed").map((d) => `${d.action} ${d.resource}: ${d.result}`), [], "TLS-only bucket policy blocks the registry over TLS");
        const overHttp = await simulateIdentityPolicy(policy, checks, { resourcePolicy: tlsOnly, context: { "aws:SecureTransport": "false" } });
        assert.deepEqual(overHttp.filter((d) => d.result !== "ExplicitlyDenied").map((d) => `${d.action}: ${d.result}`), [], "TLS-only bucket policy lets plain HTTP through");

        // The policy must stay scoped to this one bucket.
        const otherBucket = await simulateIdentityPolicy(policy, iamRequirementsFor(check1Operations, "some-other-bucket"));
        assert.deepEqual(otherBucket.filter((d) => d.result === "Allowed").map((d) => `${d.action} ${d.resource}`), [], "the policy grants access to another bucket");

        const used = new Set(checks.map((c) => c.action));
        const unused = [...BUCKET_ACTIONS, ...OBJECT_ACTIONS].filter((a) => !used.has(a));
        process.stdout.write(
            `# S3 operations seen: ${operationNames.join(", ")}\n# IAM actions exercised: ${[...used].sort().join(", ")}; granted but not seen in check 1: ${unused.join(", ") || "none"}\n`,
        );
    });
});
