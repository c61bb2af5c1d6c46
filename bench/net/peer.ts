/**
 * The peer: the same registry binary with what a user following upstream's documentation gets,
 * so the network bench can say whether this project's configuration (front, chunk size,
 * GOMEMLIMIT, redirects) beats a plain install. Pure: the config as a YAML object and where
 * each setting comes from.
 *
 * Sources (distribution/distribution, docs as stored at commit 075b5824cef2; the v3.1.2 tag was
 * not checked line by line):
 * - docs/content/storage-drivers/s3.md: `chunksize` "The default is 10 MB", `multipartcopychunksize`
 *   and `multipartcopythresholdsize` 32 MB, `multipartcopymaxconcurrency` 100, `secure` true,
 *   `v4auth` true, `encrypt` false, `storageclass` STANDARD, `objectacl` private; `regionendpoint`
 *   "from version 3+ required to use it with option forcepathstyle = true". Left unset here, so
 *   the driver applies those defaults itself. Redirects to presigned URLs are on unless
 *   `storage.redirect.disable` is set (the same page's note: "registry redirects to a pre-signed
 *   URL for the requested object").
 * - docs/content/about/configuration.md and the image's default config.yml: `version: 0.1`,
 *   `log.fields.service: registry`, `storage.cache.blobdescriptor: inmemory`, `http.headers`
 *   X-Content-Type-Options nosniff, `health.storagedriver` every 10s, threshold 3; no
 *   `http.secret` (the registry generates one and warns; one instance needs nothing else).
 * - docs/content/about/deploying.md ("Restricting access", "Get a certificate"): htpasswd auth
 *   with realm "Registry Realm" and TLS on the registry itself (`http.tls.certificate`/`key`).
 *
 * Swapped, as for our own registry: the listen address, the S3 endpoint/bucket/keys (a local S3
 * needs `regionendpoint` + `forcepathstyle`, and `secure: false` for its plain-HTTP endpoint, the
 * same swap the rehearsal makes for ours), and the file paths. Environment: no GOMEMLIMIT (the
 * image sets none); OTEL_TRACES_EXPORTER=none as for ours, so neither process spends time failing
 * to reach a trace collector the rig does not have.
 */

export const PEER_SOURCES = [
    "distribution/distribution docs/content/storage-drivers/s3.md (chunksize default 10 MB, multipart copy 32 MB / 100, secure and v4auth true)",
    "distribution/distribution docs/content/about/configuration.md and the image's default config.yml (inmemory blob descriptor cache, nosniff header, storagedriver health check)",
    "distribution/distribution docs/content/about/deploying.md (htpasswd auth, TLS certificate and key on the registry)",
] as const;

export interface PeerParams {
    addr: string;
    s3: { endpoint: string; region: string; bucket: string; accessKey: string; secretKey: string };
    certFile: string;
    keyFile: string;
    htpasswdPath: string;
}

/** The peer's config.yml as an object (serialise with `yaml`). */
export function peerConfig(p: PeerParams): Record<string, unknown> {
    return {
        version: 0.1,
        log: { fields: { service: "registry" } },
        storage: {
            cache: { blobdescriptor: "inmemory" },
            s3: {
                region: p.s3.region,
                bucket: p.s3.bucket,
                accesskey: p.s3.accessKey,
                secretkey: p.s3.secretKey,
                regionendpoint: p.s3.endpoint,
                forcepathstyle: true,
                secure: !p.s3.endpoint.startsWith("http:"),
            },
        },
        http: {
            addr: p.addr,
            headers: { "X-Content-Type-Options": ["nosniff"] },
            tls: { certificate: p.certFile, key: p.keyFile },
        },
        auth: { htpasswd: { realm: "Registry Realm", path: p.htpasswdPath } },
        health: { storagedriver: { enabled: true, interval: "10s", threshold: 3 } },
    };
}

/** The driver's documented part size when `chunksize` is unset (s3.md: "The default is 10 MB"). */
export const PEER_CHUNK_MB = 10;
