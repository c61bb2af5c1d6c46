import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { renderTlsOnlyBucketPolicy } from "./render/iamPolicy";
import { DEFAULTS } from "./settings";

export interface RegistryBucketArgs {
    /** Exact bucket name. Omit to let Pulumi generate a unique one from the resource name. */
    bucketName?: pulumi.Input<string>;
    /**
     * Delete the bucket together with every image in it on `pulumi destroy`. Off by default: a
     * destroy then stops at a non-empty bucket instead of losing the images, and the bucket's
     * protections are kept with it. A plain boolean, because it also decides a resource option
     * (`retainOnDelete`), which must be known when the resources are declared.
     */
    forceDestroy?: boolean;
    /** ARN partition of the bucket's region (`aws`, `aws-cn`, `aws-us-gov`). Default `aws`. */
    partition?: pulumi.Input<string>;
    /** Keep previous object versions; noncurrent versions expire after 30 days. Default false. */
    versioning?: pulumi.Input<boolean>;
    /** Days after which S3 aborts unfinished multipart uploads, which are otherwise billed. Default 1. */
    abortIncompleteUploadDays?: pulumi.Input<number>;
}

/** Noncurrent versions are kept this long when versioning is on, so deletes do free space. */
const NONCURRENT_VERSION_DAYS = 30;

/**
 * The S3 bucket that holds the registry's layers and manifests, with every setting that a
 * private bucket should have: no public access, owner-enforced objects, encryption at rest,
 * TLS-only access and a lifecycle rule that clears abandoned multipart uploads.
 */
export class RegistryBucket extends pulumi.ComponentResource {
    public readonly bucket: aws.s3.Bucket;
    public readonly bucketName: pulumi.Output<string>;
    public readonly bucketArn: pulumi.Output<string>;
    /** Resolves once every protective setting is applied: depend on it before writing objects. */
    public readonly ready: pulumi.Output<string>;

    constructor(name: string, args: RegistryBucketArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:storage:RegistryBucket", name, {}, opts);
        const versioning = pulumi.output(args.versioning ?? false);
        const forceDestroy = args.forceDestroy ?? false;
        // Pulumi deletes dependents before the bucket. Were the protections deleted while the
        // bucket then refuses to go (it still holds images), the images would be left in a bucket
        // without its public-access block, TLS-only policy, encryption default and lifecycle rule.
        // Kept, they leave the stack with the bucket; a destroy after emptying it removes them.
        const protection: pulumi.CustomResourceOptions = { parent: this, retainOnDelete: !forceDestroy };

        this.bucket = new aws.s3.Bucket(
            `${name}-bucket`,
            {
                bucket: args.bucketName,
                forceDestroy,
                tags: { "managed-by": "pulumi", purpose: "docker-registry" },
            },
            { parent: this },
        );
        const bucketId = this.bucket.id;

        const publicAccessBlock = new aws.s3.BucketPublicAccessBlock(
            `${name}-public-access-block`,
            {
                bucket: bucketId,
                blockPublicAcls: true,
                blockPublicPolicy: true,
                ignorePublicAcls: true,
                restrictPublicBuckets: true,
            },
            protection,
        );

        const ownership = new aws.s3.BucketOwnershipControls(
            `${name}-ownership`,
            { bucket: bucketId, rule: { objectOwnership: "BucketOwnerEnforced" } },
            protection,
        );

        const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
            `${name}-encryption`,
            {
                bucket: bucketId,
                rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
            },
            protection,
        );

        const versioningConfig = new aws.s3.BucketVersioning(
            `${name}-versioning`,
            {
                bucket: bucketId,
                // "Suspended" rather than no resource: turning versioning off later must reach AWS.
                versioningConfiguration: { status: versioning.apply((on) => (on ? "Enabled" : "Suspended")) },
            },
            protection,
        );

        const lifecycle = new aws.s3.BucketLifecycleConfiguration(
            `${name}-lifecycle`,
            {
                bucket: bucketId,
                rules: versioning.apply((on) => [
                    {
                        id: "abort-incomplete-multipart-uploads",
                        status: "Enabled",
                        filter: { prefix: "" },
                        abortIncompleteMultipartUpload: { daysAfterInitiation: args.abortIncompleteUploadDays ?? DEFAULTS.abortIncompleteUploadDays },
                        ...(on ? { noncurrentVersionExpiration: { noncurrentDays: NONCURRENT_VERSION_DAYS } } : {}),
                    },
                ]),
            },
            // S3 rejects lifecycle changes that race a versioning change on the same bucket.
            { ...protection, dependsOn: [versioningConfig] },
        );

        const policy = new aws.s3.BucketPolicy(
            `${name}-tls-only-policy`,
            {
                bucket: bucketId,
                policy: pulumi.all([this.bucket.bucket, args.partition ?? "aws"]).apply(([bucketName, partition]) => JSON.stringify(renderTlsOnlyBucketPolicy(bucketName, partition))),
            },
            // The public-access block must exist first or S3 may evaluate the policy without it.
            { ...protection, dependsOn: [publicAccessBlock] },
        );

        this.bucketName = this.bucket.bucket;
        this.bucketArn = this.bucket.arn;
        this.ready = pulumi
            .all([publicAccessBlock.id, ownership.id, encryption.id, versioningConfig.id, lifecycle.id, policy.id])
            .apply(() => "ready");

        this.registerOutputs({ bucketName: this.bucketName, bucketArn: this.bucketArn });
    }
}
