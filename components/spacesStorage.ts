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
    /**
     * Raised by one, the next `pulumi up` issues a new registry key and deletes the old one.
     * Default `0`. The bucket's admin key is not rotated with it (see {@link SpacesStorage}).
     */
    keyGeneration?: number;
    /**
     * The DigitalOcean API token of the provider that manages the bucket. Default: the stack's
     * `digitalocean:token`, the setting the default provider reads; without it that provider's
     * plugin falls back to `DIGITALOCEAN_TOKEN` (terraform-provider-digitalocean
     * `digitalocean/provider.go`, `token`'s `MultiEnvDefaultFunc`). Kept a secret.
     */
    token?: pulumi.Input<string>;
    /**
     * The Spaces endpoint template of the provider that manages the bucket. Default: the stack's
     * `digitalocean:spacesEndpoint`, else `SPACES_ENDPOINT_URL`, else the provider's own
     * `https://{{.Region}}.digitaloceanspaces.com` (`provider.go`, `spaces_endpoint`).
     */
    spacesEndpoint?: pulumi.Input<string>;
}

/**
 * The one grant that lets a key create a bucket and set its ACL, versioning and lifecycle rules:
 * `fullaccess`, which the API spells with an empty bucket name (API reference, `POST
 * /v2/spaces/keys`, example "Full Access Key": `{ "bucket": "", "permission": "fullaccess" }`;
 * the provider's `SpacesKeyGrant.bucket`: "In case of a `fullaccess` permission, this value should
 * be an empty string"). A `read` or `readwrite` grant names one existing bucket and covers its
 * objects; bucket creation and configuration come with full access alone (How to Manage Access to
 * Spaces, https://docs.digitalocean.com/products/spaces/how-to/manage-access/).
 */
export const BUCKET_ADMIN_GRANT = { bucket: "", permission: "fullaccess" } as const;

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
 * Nothing here touches AWS, and nothing needs a Spaces key of the user's own: the API token is
 * enough.
 *
 * Why a second key: the provider manages a bucket through the Spaces S3 API alone, signed with
 * its `spacesAccessId`/`spacesSecretKey` (terraform-provider-digitalocean
 * `digitalocean/spaces/resource_spaces_bucket.go`: create, read, update and delete each start
 * with `CombinedConfig.SpacesClient`, which fails with "Spaces credentials not configured"
 * without them, `digitalocean/config/config.go`), while a Spaces key is made through the
 * DigitalOcean API with the token (`digitalocean/spaces/resource_spaces_key.go`
 * `resourceDigitalOceanSpacesKeyCreate`: `GodoClient().SpacesKeys.Create`, godo
 * `spaces_keys.go`: `POST /v2/spaces/keys`, bearer scope `spaces_key:create_credentials` in the
 * API reference's `spacesKey_create`; the how-to page "How to Manage Access to Spaces" still says
 * keys cannot be made through the API, which the API reference, godo and doctl contradict). So the
 * token makes an admin key with {@link BUCKET_ADMIN_GRANT}, and a provider of this component's
 * own signs the bucket's calls with it. The registry's key stays a separate, narrower one.
 *
 * The admin key lives as long as the bucket: every refresh and update of the bucket is signed
 * with it, and so is its deletion, which with forceDestroy first deletes every object. It is never
 * rotated, and it never reaches the droplet.
 *
 * Inputs follow @pulumi/digitalocean 4.80.1 (`provider.d.ts`, `spacesBucket.d.ts`,
 * `spacesKey.d.ts`, `types/input.d.ts` SpacesBucketLifecycleRule and SpacesKeyGrant).
 */
export class SpacesStorage extends pulumi.ComponentResource {
    public readonly bucket: digitalocean.SpacesBucket;
    /** The registry's key: read and write on the bucket alone. */
    public readonly key: digitalocean.SpacesKey;
    /** The key that creates, configures and deletes the bucket, made with the API token. */
    public readonly bucketAdminKey: digitalocean.SpacesKey;
    /** The provider the bucket is managed with, signing with {@link bucketAdminKey}. */
    public readonly bucketProvider: digitalocean.Provider;
    public readonly bucketName: pulumi.Output<string>;
    public readonly region: pulumi.Output<string>;
    public readonly accessKeyId: pulumi.Output<string>;
    /** Always a Pulumi secret, also where the provider does not mark it (e.g. under mocks). */
    public readonly secretAccessKey: pulumi.Output<string>;

    constructor(name: string, args: SpacesStorageArgs, opts?: pulumi.ComponentResourceOptions) {
        super("private-registry:storage:SpacesStorage", name, {}, opts);
        const versioning = pulumi.output(args.versioning ?? false);
        const forceDestroy = args.forceDestroy ?? false;
        const providerConfig = new pulumi.Config("digitalocean");

        // Its resource name never changes with keyGeneration: a new admin key would reconfigure
        // the bucket's provider, and the bucket must stay where it is while the registry's key
        // turns over.
        this.bucketAdminKey = new digitalocean.SpacesKey(`${name}-bucket-admin-key`, { grants: [{ ...BUCKET_ADMIN_GRANT }] }, { parent: this });

        // An explicit provider reads no `digitalocean:` stack config, so what the bucket's calls
        // need is handed to it. Its secrets are wrapped here because the SDK marks only `token`
        // secret (provider.js), and under mocks the key's secretKey comes back plain. Left unset,
        // the token falls to the plugin's own environment default instead.
        const token = args.token ?? providerConfig.getSecret("token");
        this.bucketProvider = new digitalocean.Provider(
            `${name}-spaces-provider`,
            {
                token: token === undefined ? undefined : pulumi.secret(token),
                spacesEndpoint: args.spacesEndpoint ?? providerConfig.get("spacesEndpoint"),
                spacesAccessId: pulumi.secret(this.bucketAdminKey.accessKey),
                spacesSecretKey: pulumi.secret(this.bucketAdminKey.secretKey),
            },
            { parent: this },
        );

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
            // The provider already depends on the admin key through its inputs; naming the key
            // here too keeps `pulumi destroy` deleting the bucket (and, with forceDestroy, its
            // objects) before the key that signs those calls, whatever the engine makes of a
            // provider's dependencies.
            { parent: this, provider: this.bucketProvider, dependsOn: [this.bucketAdminKey] },
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
