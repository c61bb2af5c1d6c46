/**
 * Pinned versions. The rehearsal builds the `registry` binary from the same constant the
 * program deploys, so a bump here is exercised end to end before it reaches a droplet.
 */

/** CNCF Distribution release the registry container runs (3.1.1 fixes the S3 upload-purge panic). */
export const REGISTRY_VERSION = "3.1.1";

/** The official image repository; the tag is the pinned version, never `latest`. */
export const REGISTRY_IMAGE_REPOSITORY = "docker.io/library/registry";

/** Go module that provides the same registry as a binary, for the local rehearsal. */
export const REGISTRY_GO_MODULE = "github.com/distribution/distribution/v3/cmd/registry";

/** Full image reference for a version, optionally pinned further by digest. */
export function registryImageReference(version: string, digest?: string): string {
    const tagged = `${REGISTRY_IMAGE_REPOSITORY}:${version}`;
    return digest ? `${tagged}@${digest}` : tagged;
}
