import { stringify } from "yaml";

/**
 * Renders the registry's config.yml (CNCF Distribution v3). Pure: plain values in, YAML out.
 *
 * The droplet and the local rehearsal both call this; the rehearsal swaps only what cannot be
 * the same on loopback (S3 endpoint and path-style addressing, a file certificate instead of
 * Let's Encrypt, listen addresses).
 */

/** Where v3 reads its configuration inside the official image (2.x used /etc/docker/registry). */
export const REGISTRY_CONFIG_PATH = "/etc/distribution/config.yml";
/** Where the htpasswd file is mounted inside the container. */
export const REGISTRY_HTPASSWD_PATH = "/etc/distribution/htpasswd";
/** Certificate and key paths inside the container when TLS comes from files. */
export const REGISTRY_TLS_CERT_PATH = "/etc/distribution/tls.crt";
export const REGISTRY_TLS_KEY_PATH = "/etc/distribution/tls.key";
/** Let's Encrypt account and certificate cache; lives on a volume so restarts do not re-issue. */
export const REGISTRY_LETSENCRYPT_CACHE_PATH = "/var/lib/registry-acme/autocert.cache";

/**
 * How often the registry checks its storage. Each check is one S3 LIST request: every 30 s is
 * about 86,000 a month (~$0.43); every 10 s would triple that for little gain.
 */
export const STORAGE_HEALTH_INTERVAL_SECONDS = 30;

export type S3StorageConfig = {
    kind: "s3";
    region: string;
    bucket: string;
    accessKey: string;
    secretKey: string;
    /**
     * The S3 endpoint. Set for AWS too (see awsRegion.ts): without it the driver refuses regions
     * newer than its bundled SDK.
     */
    regionEndpoint?: string;
    /** Path-style addressing, needed by most S3-compatible servers. */
    forcePathStyle?: boolean;
    /** Multipart part size in bytes (the driver's minimum is 5 MiB). */
    chunkSizeBytes: number;
    /** Prefix inside the bucket; unset stores at the bucket root. */
    rootDirectory?: string;
    /** Ask for SSE-S3 on every write. Default true; Spaces supports SSE-C only (render/spaces.ts). */
    encrypt?: boolean;
    /** The canned ACL sent with every write. Default {@link S3_OBJECT_ACL}. */
    objectAcl?: S3ObjectAcl;
};

/**
 * The only object ACL a bucket with ObjectOwnership=BucketOwnerEnforced accepts besides none:
 * any other `x-amz-acl` is refused with AccessControlListNotSupported (AWS S3 User Guide,
 * "Controlling ownership of objects and disabling ACLs"). The driver otherwise sends its
 * default, `private` (distribution `s3-aws/s3.go`, `objectacl` parameter).
 */
export const S3_OBJECT_ACL = "bucket-owner-full-control";

/** The object ACLs this project sends: S3's owner-enforced one, and Spaces' `private`. */
export type S3ObjectAcl = typeof S3_OBJECT_ACL | "private";

export type FilesystemStorageConfig = {
    kind: "filesystem";
    rootDirectory: string;
};

export type TlsConfig =
    | { kind: "letsencrypt"; hosts: string[]; email?: string; cacheFile: string; directoryUrl?: string }
    | { kind: "files"; certificate: string; key: string }
    /** Plain HTTP: only for a registry bound to loopback and reached through an SSH tunnel. */
    | { kind: "none" };

export interface RegistryConfigInput {
    storage: S3StorageConfig | FilesystemStorageConfig;
    /**
     * When true, blob GETs are answered with a redirect to a presigned storage URL, so pulls do
     * not flow through the registry; when false the registry streams blobs itself.
     */
    redirect: boolean;
    http: {
        /** Listen address inside the container, e.g. ":5000". */
        addr: string;
        /** Shared secret for upload state; identical across replicas on one bucket. */
        secret: string;
        tls: TlsConfig;
        /** Debug server (health, Prometheus). Must never be published beyond loopback. */
        debugAddr: string;
    };
    auth: {
        realm: string;
        htpasswdPath: string;
    };
    logLevel?: "error" | "warn" | "info" | "debug";
    /**
     * The garbage-collection window: storage read-only (the registry registers no write routes,
     * so a push gets HTTP 405 "Method not allowed"; pulls go on), and blobs streamed rather than
     * redirected, so a HEAD answers with the blob's size, which the maintenance job reports as
     * bytes freed.
     */
    readOnly?: boolean;
    /**
     * Whether the registry remembers blob descriptors in memory (default true). Replicas sharing
     * a bucket must not: a blob deleted through one replica would stay known to the others'
     * caches, so a push there could skip uploading a layer that is gone and link a manifest to
     * it (distribution's cachedBlobStatter answers from the cache before storage).
     */
    blobDescriptorCache?: boolean;
}

/**
 * The registry's purge of abandoned uploads. Each upload start (`POST .../blobs/uploads/`) leaves
 * two objects under the repository's `_uploads/` until the upload finishes or this purge deletes
 * them, and every `_catalog` lists them all: the storage driver walks every object under
 * `repositories/` (distribution v3.1.2 registry/storage/catalog.go, s3-aws/s3.go doWalk). 10,000
 * abandoned starts took `_catalog` from 64 ms to 4.1 s in the rehearsal (bench/hostile/uploads.ts).
 * - `age`: an upload started this long ago is deleted, finished or not (purgeuploads.go compares
 *   `startedat` alone), so a layer must upload within 12 hours: 5.4 GB at 1 Mbit/s. The bucket's
 *   rule aborts an S3 multipart upload a day after it began, so no upload outlives a day anyway.
 * - `interval`: the purge runs this often, the first time within an hour of the registry's start
 *   (handlers/app.go startUploadPurger: a random 0-59 minute wait). Each run walks the storage
 *   once, as `_catalog` does: 24 walks a day.
 * So what a client abandons is gone within about 14 hours, where it was 8 days before; how many
 * uploads one user can leave within that reach, the front bounds (uploadStarts.ts).
 */
export const UPLOAD_PURGE = { age: "12h", interval: "1h" } as const;

export function renderRegistryConfig(input: RegistryConfigInput): string {
    const storage: Record<string, unknown> = {};
    if (input.storage.kind === "s3") {
        const s3 = input.storage;
        const driver: Record<string, unknown> = {
            region: s3.region,
            bucket: s3.bucket,
            accesskey: s3.accessKey,
            secretkey: s3.secretKey,
            encrypt: s3.encrypt ?? true,
            secure: true,
            chunksize: s3.chunkSizeBytes,
            objectacl: s3.objectAcl ?? S3_OBJECT_ACL,
        };
        if (s3.regionEndpoint !== undefined) {
            driver.regionendpoint = s3.regionEndpoint;
        }
        if (s3.forcePathStyle !== undefined) {
            driver.forcepathstyle = s3.forcePathStyle;
        }
        if (s3.rootDirectory !== undefined) {
            driver.rootdirectory = s3.rootDirectory;
        }
        storage.s3 = driver;
    } else {
        storage.filesystem = { rootdirectory: input.storage.rootDirectory };
    }
    storage.delete = { enabled: true };
    if (input.blobDescriptorCache ?? true) {
        storage.cache = { blobdescriptor: "inmemory" };
    }
    storage.redirect = { disable: input.readOnly === true || !input.redirect };
    storage.maintenance = {
        uploadpurging: { enabled: true, age: UPLOAD_PURGE.age, interval: UPLOAD_PURGE.interval, dryrun: false },
        ...(input.readOnly === true ? { readonly: { enabled: true } } : {}),
    };

    const http: Record<string, unknown> = {
        addr: input.http.addr,
        secret: input.http.secret,
        draintimeout: "30s",
        headers: { "X-Content-Type-Options": ["nosniff"] },
        debug: { addr: input.http.debugAddr, prometheus: { enabled: true, path: "/metrics" } },
    };
    const tls = input.http.tls;
    if (tls.kind === "letsencrypt") {
        const letsencrypt: Record<string, unknown> = { cachefile: tls.cacheFile, hosts: tls.hosts };
        if (tls.email !== undefined) {
            letsencrypt.email = tls.email;
        }
        if (tls.directoryUrl !== undefined) {
            letsencrypt.directoryurl = tls.directoryUrl;
        }
        http.tls = { minimumtls: "tls1.2", letsencrypt };
    } else if (tls.kind === "files") {
        http.tls = { minimumtls: "tls1.2", certificate: tls.certificate, key: tls.key };
    }
    if (tls.kind !== "none") {
        (http.headers as Record<string, string[]>)["Strict-Transport-Security"] = ["max-age=31536000"];
    }

    const config = {
        version: 0.1,
        log: {
            level: input.logLevel ?? "info",
            formatter: "text",
            accesslog: { disabled: false },
            fields: { service: "registry" },
        },
        storage,
        http,
        auth: { htpasswd: { realm: input.auth.realm, path: input.auth.htpasswdPath } },
        // A failing bucket turns /v2/ into 503 instead of a registry that accepts and loses pushes.
        health: { storagedriver: { enabled: true, interval: `${STORAGE_HEALTH_INTERVAL_SECONDS}s`, threshold: 3 } },
    };
    return stringify(config, { lineWidth: 0 });
}
