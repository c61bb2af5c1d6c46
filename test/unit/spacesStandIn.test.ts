import * as assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { S3RequestView } from "../harness/s3proxy";
import { pathStyleBucket, signedService, spacesRefusal, SPACES_RULES } from "../harness/spacesProxy";

const BUCKET = "registry-bucket";
const SIGNED = "AWS4-HMAC-SHA256 Credential=AKEXAMPLE/20261207/nyc3/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";

function req(method: string, url: string, headers: Record<string, string> = {}): S3RequestView {
    return { method, url, headers: { authorization: SIGNED, "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...headers } };
}

const key = `/${BUCKET}/docker/registry/v2/blobs/sha256/ab/abcd/data`;

/** For each rule: requests Spaces accepts (no rule refuses them) and requests it refuses (this rule does). */
const CASES: Record<string, { accepts: S3RequestView[]; refuses: S3RequestView[] }> = {
    "sse-s3-or-kms": {
        accepts: [
            req("PUT", key),
            // SSE-C is what Spaces supports.
            req("PUT", key, { "x-amz-server-side-encryption-customer-algorithm": "AES256", "x-amz-server-side-encryption-customer-key": "a2V5", "x-amz-server-side-encryption-customer-key-md5": "bWQ1" }),
        ],
        refuses: [
            req("PUT", key, { "x-amz-server-side-encryption": "AES256" }),
            req("POST", `${key}?uploads`, { "x-amz-server-side-encryption": "aws:kms" }),
            req("PUT", key, { "x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:us-east-1:1:key/x" }),
            req("PUT", key, { "x-amz-server-side-encryption-bucket-key-enabled": "true" }),
        ],
    },
    "unsupported-bucket-api": {
        accepts: [req("GET", `/${BUCKET}?list-type=2&prefix=docker`), req("GET", `/${BUCKET}?uploads`), req("PUT", `/${BUCKET}?lifecycle`), req("PUT", `/${BUCKET}?versioning`), req("PUT", `/${BUCKET}?policy`), req("PUT", `${key}?tagging`)],
        refuses: [
            req("PUT", `/${BUCKET}?encryption`),
            req("GET", `/${BUCKET}?encryption`),
            req("DELETE", `/${BUCKET}?encryption`),
            req("PUT", `/${BUCKET}?publicAccessBlock`),
            req("PUT", `/${BUCKET}?ownershipControls`),
            req("PUT", `/${BUCKET}?tagging`),
            req("PUT", `/${BUCKET}?replication`),
        ],
    },
    "canned-acl": {
        accepts: [req("PUT", key, { "x-amz-acl": "private" }), req("POST", `${key}?uploads`, { "x-amz-acl": "private" }), req("PUT", key, { "x-amz-acl": "public-read" }), req("PUT", key)],
        refuses: [
            req("PUT", key, { "x-amz-acl": "bucket-owner-full-control" }),
            req("POST", `${key}?uploads`, { "x-amz-acl": "bucket-owner-full-control" }),
            req("PUT", key, { "x-amz-acl": "authenticated-read" }),
            req("PUT", `${key}?acl`, { "x-amz-acl": "public-read-write" }),
        ],
    },
    "iam-sts": {
        accepts: [req("GET", key), req("GET", `${key}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKEXAMPLE%2F20261207%2Fnyc3%2Fs3%2Faws4_request&X-Amz-Signature=00`, { authorization: "" })],
        refuses: [
            req("POST", "/", { authorization: SIGNED.replace("/s3/", "/iam/") }),
            req("POST", "/", { authorization: SIGNED.replace("/s3/", "/sts/") }),
            req("GET", "/?Action=CreateAccessKey&UserName=registry"),
        ],
    },
    "sdk-checksums": {
        accepts: [req("PUT", key, { "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==" }), req("PUT", key, { "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" }), req("GET", key, { "x-amz-checksum-mode": "ENABLED" })],
        refuses: [
            req("PUT", key, { "x-amz-checksum-crc32": "AAAAAA==" }),
            req("PUT", key, { "x-amz-sdk-checksum-algorithm": "CRC32" }),
            req("POST", `/${BUCKET}?delete`, { "x-amz-checksum-crc32": "AAAAAA==" }),
            req("PUT", `${key}?partNumber=1&uploadId=u`, { "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "x-amz-trailer": "x-amz-checksum-crc32" }),
            req("PUT", key, { "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER" }),
            req("POST", `${key}?uploads`, { "x-amz-checksum-algorithm": "CRC64NVME" }),
        ],
    },
    "other-bucket": {
        accepts: [req("GET", `/${BUCKET}`), req("GET", key), req("GET", "/")],
        refuses: [req("GET", "/another-bucket/docker/registry/v2/repositories"), req("PUT", "/another-bucket/x"), req("PUT", `/${BUCKET}-2/x`)],
    },
};

describe("the Spaces stand-in's refusals", () => {
    test("every rule has cases, and every case names a rule", () => {
        assert.deepEqual(Object.keys(CASES).sort(), SPACES_RULES.map((r) => r.name).sort());
    });

    test("every rule cites a DigitalOcean page", () => {
        for (const rule of SPACES_RULES) {
            assert.match(rule.source, /https:\/\/docs\.digitalocean\.com\//, rule.name);
        }
    });

    for (const rule of SPACES_RULES) {
        test(`${rule.name}: accepts what Spaces accepts, refuses what it refuses with ${rule.status} ${rule.code}`, () => {
            const cases = CASES[rule.name];
            for (const request of cases.accepts) {
                assert.equal(rule.check(request, BUCKET), undefined, `${rule.name} refused ${request.method} ${request.url} ${JSON.stringify(request.headers)}`);
                assert.equal(spacesRefusal(request, BUCKET), undefined, `Spaces accepts ${request.method} ${request.url} ${JSON.stringify(request.headers)}`);
            }
            for (const request of cases.refuses) {
                const refusal = spacesRefusal(request, BUCKET);
                assert.equal(refusal?.rule, rule.name, `${request.method} ${request.url} ${JSON.stringify(request.headers)}: ${JSON.stringify(refusal)}`);
                assert.equal(refusal?.status, rule.status);
                assert.equal(refusal?.code, rule.code);
            }
        });
    }

    test("what the registry's S3 driver sends for storage=spaces passes: path-style, signed for s3, x-amz-acl private, no SSE", () => {
        const driver = (method: string, url: string, headers: Record<string, string> = {}) => req(method, url, { "user-agent": "aws-sdk-go/1.55.5", ...headers });
        for (const request of [
            driver("POST", `${key}?uploads`, { "x-amz-acl": "private", "content-type": "application/octet-stream" }),
            driver("PUT", `${key}?partNumber=1&uploadId=abc`),
            driver("POST", `${key}?uploadId=abc`),
            driver("PUT", key, { "x-amz-acl": "private", "x-amz-copy-source": `${BUCKET}/docker/registry/v2/repositories/x` }),
            driver("POST", `/${BUCKET}?delete=`, { "content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==" }),
            driver("GET", `/${BUCKET}?list-type=2&prefix=docker%2Fregistry%2Fv2%2F&max-keys=1`),
            driver("HEAD", key),
        ]) {
            assert.equal(spacesRefusal(request, BUCKET), undefined, `${request.method} ${request.url}`);
        }
    });

    test("helpers read the path-style bucket and the signed service", () => {
        assert.equal(pathStyleBucket("/b/k/e/y?x=1"), "b");
        assert.equal(pathStyleBucket("/?Action=x"), undefined);
        assert.equal(signedService(req("GET", "/")), "s3");
        assert.equal(signedService({ method: "GET", url: "/b/k?X-Amz-Credential=A%2F2026%2Fnyc3%2Fsts%2Faws4_request", headers: {} }), "sts");
        assert.equal(signedService({ method: "GET", url: "/b/k", headers: {} }), undefined);
    });
});
