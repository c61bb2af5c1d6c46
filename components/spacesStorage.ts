import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "./settings";

export interface SpacesStorageArgs {
    /** The Spaces region of the bucket, e.g. `nyc3` (render/spaces.ts `spacesRegionFor`). */
    region: pulumi.Input<string>;
    /** Exact bucket name. Omit to let Pulumi generate a unique one from the resource name. */
    bucketName?: pulumi.Input<string>;
    /**
     * Delete the bucket together with every image in it on `pulumi destroy`. Off by default: a
     * destroy then stops at a non-empty bucket instead of losing the images. A plain boolean, as
     * for the S3 bucket (registryBucket.ts), so that the two behave alike.
     */
    forceDestroy?: boolean;
    /** Keep previous object versions; noncurrent versions expire after 30 days. Default false. */
    versioning?: pulumi.Input<boolean>;
    /** Days after which Spaces aborts unfinished multipart uploads. Default 1. */
    abortIncompleteUploadDays?: pulumi.Input<number>;
    /** Raised by one, the next `pulumi up` issues a new key and deletes the old one. Default `0`. */
    keyGeneration?: number;
}

/** Noncurrent versions are kept this long when versioning is on, as on S3 (registryBucket.ts). */
const NONCURRENT_VERSION_DAYS = 30;

/**
 * The Spaces key's resource name for a generation. As with the IAM access key (storageUser.ts
 * `accessKeyResourceName`), each generation is a new resource, created while the program runs
 * and deleted by the engine only after the registry has restarted with its successor.
 */
export function spacesKeyResourceName(name: string, generation: number): string {
    return generation === 0 ? `${name}-key` : `${name}-key-${generation}`;
}

/**
 * The registry's layers in DigitalOcean Spaces: a private bucket with the lifecycle rule that
 * clears abandoned multipart uploads, and a key whose one grant is read and write on that bucket.
 * Nothing here touches AWS.
 *
 * Inputs follow @pulumi/digitalocean 4.80.1 (`spacesBucket.d.ts`, `spacesKey.d.ts`,
 * `types/input.d.ts` SpacesBucketLifecycleRule and SpacesKeyGrant).
 */
export class SpacesStorage extends pulumi.ComponentResource {
    public readonly bucket: digitalocean.SpacesBucket;
    public readonly key: digitalocean.SpacesKey;
    public readonly bucketName: pulumi.Output<string>;
    public readonly region: pulumi.Output<string>;
    public readonly accessKeyId: pulumi.Output<string>;
    /** Always a Pulumi secret, also where the provider does not mark it (e.g. under mocks). */
    public readonly secretAccessKey: pulumi.Output<string>;

    constructor(name: string, args: SpacesStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:storage:SpacesStorage", name, {}, opts);
        const versioning = pulumi.output(args.versioning ?? false);
        const forceDestroy = args.forceDestroy ?? false;

        // The lifecycle rule, versioning and ACL are the bucket's own inputs on Spaces, not
        // separate resources as on S3, so they go with the bucket: with forceDestroy off, a
        // destroy that stops at a bucket holding images leaves them all in place.
        this.bucket = new digitalocean.SpacesBucket(
            `${name}-bucket`,
            {
                name: args.bucketName,
                region: args.region,
                // The bucket's own listing stays private; objects carry `private` too (render/spaces.ts).
                acl: "private",
                forceDestroy,
                // `enabled: false` suspends versioning on a bucket that had it, which is how S3 and
                // Spaces turn it off ("it can never return to an unversioned state").
                versioning: { enabled: versioning },
                lifecycleRules: versioning.apply((on) => [
                    {
                        id: "abort-incomplete-multipart-uploads",
                        enabled: true,
                        abortIncompleteMultipartUploadDays: args.abortIncompleteUploadDays ?? DEFAULTS.abortIncompleteUploadDays,
                        ...(on ? { noncurrentVersionExpiration: { days: NONCURRENT_VERSION_DAYS } } : {}),
                    },
                ]),
            },
            { parent: this },
        );
        this.bucketName = this.bucket.name;
        this.region = pulumi.output(args.region);

        const generation = args.keyGeneration ?? 0;
        this.key = new digitalocean.SpacesKey(
            spacesKeyResourceName(name, generation),
            {
                name: this.bucket.name.apply((bucket) => (generation === 0 ? `${bucket}-registry` : `${bucket}-registry-${generation}`)),
                // The finest grant Spaces offers: read, write and delete on this bucket alone.
                grants: [{ bucket: this.bucket.name, permission: "readwrite" }],
            },
            { parent: this },
        );
        this.accessKeyId = this.key.accessKey;
        this.secretAccessKey = pulumi.secret(this.key.secretKey);

        this.registerOutputs({ bucketName: this.bucketName, accessKeyId: this.accessKeyId });
    }
}
