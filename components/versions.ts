/**
 * Pinned versions. The rehearsal builds the `registry` binary from the same constant the
 * program deploys, so a bump here is exercised end to end before it reaches a droplet.
 */

/**
 * CNCF Distribution release the registry container runs. 3.1.2 (release notes:
 * releases/v3.1.2.toml in the module) fixes S3 tag listing and `_catalog` when one name is a
 * prefix of another (#4898, #4904), stops the upload purger on shutdown (#4956), checks the
 * backend instead of a stale descriptor cache when writing blobs (#4868), answers malformed
 * digests and out-of-order final chunks with 4xx instead of 500 (#4945), and takes security
 * updates of gRPC, OpenTelemetry and golang.org/x/crypto. The S3 driver's parameters are
 * unchanged apart from a new optional `redirectendpoint`; it still uses aws-sdk-go v1.55.5.
 */
export const REGISTRY_VERSION = "3.1.2";

/** The official image repository; the tag is the pinned version, never `latest`. */
export const REGISTRY_IMAGE_REPOSITORY = "docker.io/library/registry";

/**
 * Multi-arch index digest of the official image, per version, for pinning beyond the tag.
 * 3.1.2: docker-library/repo-info repos/registry/remote/3.1.md and 3.md at commit
 * c42e9ed57ff61167658ffa7a9782fdd5bf78eba5 (index of the build with `version='3.1.2'`), and
 * docker-library/official-images library/registry at commit
 * 003e0d73548f8d6a8ae97a6e4c7e2eb8d9fef297, where 3.1.2, 3.1, 3 and latest are one entry and
 * so one index. The tag is rebuilt when its Alpine base changes and then moves; the digest does not.
 */
export const REGISTRY_IMAGE_DIGESTS: Readonly<Record<string, string>> = {
    "3.1.2": "sha256:852b3e4d378c426dda6b318fe9d9bfe8e92a0eccb9926671ec3d3ea17a196696",
};

/** Go module that provides the same registry as a binary, for the local rehearsal. */
export const REGISTRY_GO_MODULE = "github.com/distribution/distribution/v3/cmd/registry";

/** Full image reference for a version, optionally pinned further by digest. */
export function registryImageReference(version: string, digest?: string): string {
    const tagged = `${REGISTRY_IMAGE_REPOSITORY}:${version}`;
    return digest ? `${tagged}@${digest}` : tagged;
}

/**
 * regclient release whose `regbot` applies the tag retention rules before garbage collection
 * (components/render/retention.ts). 0.11.7 (RELEASE.md in the module) only upgrades Go for a
 * CVE; 0.11.5 added `manifest.descriptor` to regbot's Lua sandbox, which the retention script
 * uses to check a tag still names the manifest it planned to delete; 0.11.5 also stopped sending
 * credentials on redirects and following https-to-http ones.
 */
export const REGCLIENT_VERSION = "0.11.7";

/** Go module of the same regbot as a binary, for the local rehearsal (tag `v` + version). */
export const REGBOT_GO_MODULE = "github.com/regclient/regclient/cmd/regbot";

/**
 * The official regbot image, by tag: the scratch-based build (`/regbot` as entrypoint, no shell),
 * as listed in docs/hub-regbot.md of the v0.11.7 module ("regclient/regbot:$ver: Specific
 * release based on scratch") and published on Docker Hub and ghcr.io by the project's release
 * workflow. Not pinned by digest yet: regclient is not a Docker official image (no
 * docker-library record) and its release notes list no digests; record one here only after
 * reading it from the registry (`docker buildx imagetools inspect docker.io/regclient/regbot:v0.11.7`).
 */
export const REGBOT_IMAGE = `docker.io/regclient/regbot:v${REGCLIENT_VERSION}`;

/**
 * Caddy release of the front that faces the internet: TLS, logins, roles and the slow-client
 * timeouts (components/render/front.ts). 2.11.5 added the body-idle timeout the front relies on
 * to end stalled uploads without a total limit that would cut a slow, steady one.
 */
export const CADDY_VERSION = "2.11.9";

/** Go module of the same Caddy as a binary, for the local rehearsal (tag `v` + version). */
export const CADDY_GO_MODULE = "github.com/caddyserver/caddy/v2/cmd/caddy";

/**
 * The official Caddy image the droplet runs as the front, by tag (the Linux-only `-alpine`
 * index; the plain tag also lists Windows images). Its layout, from caddyserver/caddy-docker
 * `2.11/alpine/Dockerfile`: the binary at /usr/bin/caddy, `CMD caddy run --config
 * /etc/caddy/Caddyfile --adapter caddyfile`, XDG_DATA_HOME=/data and XDG_CONFIG_HOME=/config with
 * no VOLUME (mounted here). Not pinned by digest yet: the docker-library records read for this
 * end at 2.11.4 (repo-info repos/caddy/remote/2.11.4-alpine.md at commit
 * 140d58041645e33e89eaf9642c32ff0d555b667d), older than the body-idle timeout the front needs;
 * record 2.11.9's here once read from the registry
 * (`docker buildx imagetools inspect docker.io/library/caddy:2.11.9-alpine`).
 */
export const CADDY_IMAGE = `docker.io/library/caddy:${CADDY_VERSION}-alpine`;
