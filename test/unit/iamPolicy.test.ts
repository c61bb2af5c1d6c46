import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { BUCKET_ACTIONS, OBJECT_ACTIONS, renderStoragePolicy, renderTlsOnlyBucketPolicy } from "../../components/render/iamPolicy";
import { decide } from "../support/iam";
import { BUCKET_FLAG_PREFIX } from "../../components/render/bucketFlag";

const BUCKET = "mybucket";
const policy = renderStoragePolicy(BUCKET);

describe("storage user policy, evaluated by a real IAM evaluator", () => {
    it("lists exactly the S3 driver's actions, with no wildcard", () => {
        const actions = policy.Statement.flatMap((s) => s.Action).sort();
        assert.deepEqual(actions, [
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetBucketLocation",
            "s3:GetObject",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
        ]);
        assert.ok(policy.Statement.every((s) => s.Effect === "Allow" && !s.Action.some((a) => a.includes("*"))));
        assert.deepEqual(policy.Statement.flatMap((s) => s.Resource).sort(), ["arn:aws:s3:::mybucket", "arn:aws:s3:::mybucket/*"]);
    });

    for (const action of BUCKET_ACTIONS) {
        it(`allows ${action} on the bucket`, async () => {
            assert.equal(await decide(policy, action, "arn:aws:s3:::mybucket"), "Allowed");
        });
        it(`denies ${action} on a look-alike bucket`, async () => {
            assert.equal(await decide(policy, action, "arn:aws:s3:::mybucket-evil"), "ImplicitlyDenied");
            assert.equal(await decide(policy, action, "arn:aws:s3:::otherbucket"), "ImplicitlyDenied");
        });
    }

    // The replicas' maintenance jobs (bucketFlag.ts) write, read and delete small objects with the registry's key.
    for (const action of ["s3:PutObject", "s3:GetObject", "s3:DeleteObject"]) {
        it(`allows ${action} on the replicas' maintenance flags`, async () => {
            assert.equal(await decide(policy, action, `arn:aws:s3:::mybucket/${BUCKET_FLAG_PREFIX}window`), "Allowed");
        });
    }

    for (const action of OBJECT_ACTIONS) {
        it(`allows ${action} on objects in the bucket`, async () => {
            assert.equal(await decide(policy, action, "arn:aws:s3:::mybucket/docker/registry/v2/blobs/sha256/ab/data"), "Allowed");
        });
        it(`denies ${action} on objects of another or look-alike bucket`, async () => {
            assert.equal(await decide(policy, action, "arn:aws:s3:::mybucket-evil/key"), "ImplicitlyDenied");
            assert.equal(await decide(policy, action, "arn:aws:s3:::otherbucket/key"), "ImplicitlyDenied");
        });
    }

    for (const [action, resource] of [
        ["s3:DeleteBucket", "arn:aws:s3:::mybucket"],
        ["s3:PutBucketPolicy", "arn:aws:s3:::mybucket"],
        ["s3:DeleteBucketPolicy", "arn:aws:s3:::mybucket"],
        ["s3:PutBucketAcl", "arn:aws:s3:::mybucket"],
        ["s3:PutBucketPublicAccessBlock", "arn:aws:s3:::mybucket"],
        ["s3:PutLifecycleConfiguration", "arn:aws:s3:::mybucket"],
        ["s3:PutObjectAcl", "arn:aws:s3:::mybucket/key"],
        ["s3:ListAllMyBuckets", "*"],
        ["s3:CreateBucket", "arn:aws:s3:::newbucket"],
        ["iam:CreateAccessKey", "arn:aws:iam::123456789012:user/someone"],
        ["iam:AttachUserPolicy", "arn:aws:iam::123456789012:user/docker-registry/registry-storage-user"],
        ["iam:PutUserPolicy", "arn:aws:iam::123456789012:user/docker-registry/registry-storage-user"],
    ] as const) {
        it(`denies ${action} on ${resource}`, async () => {
            assert.equal(await decide(policy, action, resource), "ImplicitlyDenied");
        });
    }

    it("refuses a bucket name that would widen the grant", () => {
        assert.throws(() => renderStoragePolicy("*"), /not a valid S3 bucket name/);
        assert.throws(() => renderStoragePolicy("mybucket/*"), /not a valid S3 bucket name/);
    });
});

describe("TLS-only bucket policy", () => {
    const bucketPolicy = renderTlsOnlyBucketPolicy(BUCKET);

    it("denies the registry's own requests made without TLS", async () => {
        for (const [action, resource] of [
            ["s3:GetObject", "arn:aws:s3:::mybucket/key"],
            ["s3:PutObject", "arn:aws:s3:::mybucket/key"],
            ["s3:ListBucket", "arn:aws:s3:::mybucket"],
        ] as const) {
            assert.equal(await decide(policy, action, resource, { resourcePolicy: bucketPolicy, secureTransport: false }), "ExplicitlyDenied", action);
        }
    });

    it("still allows them over TLS", async () => {
        assert.equal(await decide(policy, "s3:GetObject", "arn:aws:s3:::mybucket/key", { resourcePolicy: bucketPolicy, secureTransport: true }), "Allowed");
    });
});
