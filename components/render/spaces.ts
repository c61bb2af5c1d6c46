import { S3StorageConfig } from "./registryConfig";

/**
 * DigitalOcean Spaces as the registry's storage: which region holds the bucket, how bucket names
 * are checked, and the S3 driver's settings for it. Pure.
 *
 * Sources:
 * - Regions with Spaces Standard Storage: NYC3, AMS3, SFO2, SFO3, SGP1, LON1, FRA1, TOR1, BLR1,
 *   SYD1, ATL1; not NYC1, NYC2 or RIC1 (https://docs.digitalocean.com/products/spaces/details/availability/,
 *   generated 23 Mar 2026).
 * - Endpoint `https://${REGION}.digitaloceanspaces.com`, and SigV4's credential scope naming the
 *   region slug (`${ACCESS_KEY}/${YYYYMMDD}/${REGION_SLUG}/s3/aws4_request`):
 *   https://docs.digitalocean.com/reference/api/spaces/ ("Authentication").
 * - Bucket names: 3-63 lowercase letters, numbers and dashes, beginning with a letter or number,
 *   unique across all regions (https://docs.digitalocean.com/products/spaces/how-to/create-and-delete/).
 */

/** DigitalOcean's list of the regions with Spaces. */
export const SPACES_AVAILABILITY_URL = "https://docs.digitalocean.com/products/spaces/details/availability/";

/** Droplet regions whose datacenter offers Spaces Standard Storage. */
export const SPACES_REGIONS = ["nyc3", "ams3", "sfo2", "sfo3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1"] as const;

/**
 * The nearest region with Spaces for a droplet region without them: NYC1 and NYC2 are New York
 * datacenters like NYC3; RIC1 (Richmond, Virginia) is about 450 km from New York and 750 km from
 * Atlanta; SFO1 and AMS2 are older datacenters in the same cities as SFO3 and AMS3.
 */
export const NEAREST_SPACES_REGION: Readonly<Record<string, (typeof SPACES_REGIONS)[number]>> = {
    nyc1: "nyc3",
    nyc2: "nyc3",
    ric1: "nyc3",
    sfo1: "sfo3",
    ams2: "ams3",
};

/** The region the bucket goes to for a droplet region: its own, or the nearest with Spaces; undefined when neither is known. */
export function spacesRegionFor(dropletRegion: string): string | undefined {
    if ((SPACES_REGIONS as readonly string[]).includes(dropletRegion)) {
        return dropletRegion;
    }
    return Object.prototype.hasOwnProperty.call(NEAREST_SPACES_REGION, dropletRegion) ? NEAREST_SPACES_REGION[dropletRegion] : undefined;
}

/** The region's S3-compatible endpoint. */
export function spacesEndpoint(region: string): string {
    return `https://${region}.digitaloceanspaces.com`;
}

/**
 * Why a name cannot be a Spaces bucket's, or undefined when it can. Dots, which S3 allows, are
 * refused: Spaces' rules leave them out, and its wildcard certificate would not cover a
 * virtual-hosted name that has one (https://docs.digitalocean.com/products/spaces/details/limits/).
 */
export function spacesBucketNameProblem(name: string): string | undefined {
    return /^[a-z0-9][a-z0-9-]{2,62}$/.test(name) ? undefined : "3-63 lowercase letters, digits or hyphens, starting with a letter or digit (Spaces allows no dots)";
}

/**
 * The object ACL the driver sends with every write. Spaces keeps per-object ACLs and knows the
 * canned `private` and `public-read` (Spaces API reference, "Object ACLs"; the provider's
 * SpacesBucket `acl`: "`private` or `public-read`"), not S3's `bucket-owner-full-control`.
 */
export const SPACES_OBJECT_ACL = "private";

/**
 * The S3 driver's storage settings for a Spaces bucket.
 *
 * - `regionendpoint`: the region's Spaces endpoint; with it set, the driver skips its check of
 *   `region` against AWS's list (distribution v3.1.2 `registry/storage/driver/s3-aws/s3.go`,
 *   "Don't check the region value if a custom endpoint is provided"), and `region` is the slug
 *   Spaces expects in the signature.
 * - `forcepathstyle`: requests name the bucket in the path (`nyc3.digitaloceanspaces.com/BUCKET`),
 *   which Spaces serves for API and browser clients alike, so the presigned URLs of redirected
 *   pulls work whatever the bucket's name (Spaces Limits: "Buckets support browser and API access
 *   with path-style requests and API access with vhost-style requests").
 * - `encrypt: false`: the driver's `encrypt` asks for SSE-S3 (`x-amz-server-side-encryption:
 *   AES256`, s3.go `getEncryptionMode`), and Spaces supports SSE-C alone, with no bucket-level
 *   encryption (https://docs.digitalocean.com/products/spaces/reference/s3-compatibility/).
 * - `objectacl`: {@link SPACES_OBJECT_ACL}.
 * - `secure` stays true: the driver speaks HTTPS only, and presigns https URLs.
 */
export function spacesStorageConfig(input: { region: string; bucket: string; accessKey: string; secretKey: string; chunkSizeBytes: number }): S3StorageConfig {
    return {
        kind: "s3",
        region: input.region,
        regionEndpoint: spacesEndpoint(input.region),
        forcePathStyle: true,
        bucket: input.bucket,
        accessKey: input.accessKey,
        secretKey: input.secretKey,
        chunkSizeBytes: input.chunkSizeBytes,
        encrypt: false,
        objectAcl: SPACES_OBJECT_ACL,
    };
}
