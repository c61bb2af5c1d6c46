import { AwsPartition } from "./render/awsRegion";
import { MIN_REPLICAS } from "./render/balancer";
import { RegistryRole } from "./render/front";
import { DEFAULT_GC_SCHEDULE } from "./render/maintenance";
import { DEFAULT_UPLOAD_STARTS_PER_USER } from "./render/uploadStarts";
import { REGISTRY_VERSION } from "./versions";

/**
 * The registry's settings: their types, defaults and resolved form. Stack config is parsed into
 * them by stackConfig.ts and checked by the one validator in settingsRules.ts, before any resource
 * is declared, so a bad value can never leave half a deployment behind.
 *
 * The same keys, types, descriptions and defaults are declared in Pulumi.yaml; a unit test keeps
 * the two in step. The CLI enforces only that schema's types, so the code keeps its own checks.
 */

/** How clients reach the registry. */
export type ExposureMode = "public" | "tunnel";

/** Where the layers are stored: an AWS S3 bucket, or a DigitalOcean Spaces bucket. */
export type StorageKind = "s3" | "spaces";

/** A registry login and what it may do; its password is generated. */
export interface RegistryUser {
    /** 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit. */
    name: string;
    /** `push`: pull, push and delete; `pull`: pull only. */
    role: RegistryRole;
    /**
     * Repository patterns the user is limited to, for pulls and pushes alike; absent: all.
     * `*` matches within one path component, `**` across them (`team-a/**`).
     */
    repositories?: string[];
}

/** Where the registry's TLS certificate comes from in public mode. */
export type TlsMode = "auto" | "letsencrypt" | "private-ca";

/** The certificate source after `auto` is resolved; `none` is the tunnel's plain loopback HTTP. */
export type ResolvedTls = "letsencrypt" | "private-ca" | "none";

export interface Settings {
    /** Where the layers are stored. With `spaces` nothing is made in AWS. */
    storage: StorageKind;
    /** AWS region of the bucket (from `aws:region`, else AWS_REGION / AWS_DEFAULT_REGION); "" with Spaces. */
    awsRegion: string;
    /** The ARN partition of that region (`aws`, `aws-cn` or `aws-us-gov`); unused with Spaces. */
    awsPartition: AwsPartition;
    /** With Spaces: the bucket's region, the droplet's or the nearest one with Spaces. */
    spacesRegion?: string;
    /** Exact bucket name; undefined lets Pulumi generate a unique one. */
    bucketName?: string;
    /** Delete the bucket with its images on destroy. */
    forceDestroy: boolean;
    /** Keep previous object versions (noncurrent versions expire after 30 days). */
    versioning: boolean;
    /** Days after which unfinished multipart uploads are aborted by S3. */
    abortIncompleteUploadDays: number;
    /** S3 multipart part size the registry uses, in MiB. */
    s3ChunkSizeMb: number;
    /** Answer blob pulls with a redirect to a presigned S3 URL instead of streaming them. */
    redirectPullsToS3: boolean;

    dropletRegion: string;
    dropletSize: string;
    dropletImage: string;
    /**
     * Droplets serving the registry: 1 is a single droplet; more stand behind a DigitalOcean load
     * balancer that passes TLS through (render/balancer.ts).
     */
    replicas: number;
    /** Extra OpenSSH public keys for operators, besides the generated deploy key. */
    extraSshPublicKeys: string[];
    sshAllowedCidrs: string[];
    httpsAllowedCidrs: string[];

    exposure: ExposureMode;
    tls: ResolvedTls;
    domain?: string;
    /** DigitalOcean DNS zone in which to create the A record for `domain`. */
    dnsZone?: string;
    letsencryptEmail?: string;
    /**
     * The ACME directory the front asks for its certificate (tls=letsencrypt only), an https URL;
     * undefined: Let's Encrypt, with ZeroSSL as fallback when an e-mail is set. When set, the
     * front asks this directory alone.
     */
    acmeServer?: string;
    /**
     * PEM certificates of the CA behind {@link acmeServer}, for one the system's roots do not
     * cover (a private step-ca, a test CA): the front trusts them for the directory, and the
     * droplet's own checks verify the registry's certificate against them.
     */
    acmeServerCa?: string;

    /** The name of the default push user; with `users` given, the first push user's name. */
    registryUsername: string;
    /** Every login, push users first as given; the first push user is the one CI outputs name. */
    users: RegistryUser[];
    /** Raised by one to issue new passwords and a new storage key (S3 or Spaces) on the next `pulumi up`. */
    credentialRotation: number;
    registryVersion: string;
    /** Pins the image beyond its tag; defaults to the known digest of the pinned release. */
    registryImageDigest?: string;
    /** Seconds the start command waits for the registry to answer. */
    healthCheckTimeoutSeconds: number;
    /** Upload starts each push user may make within 14 hours; more get 429 until the oldest age out. */
    uploadStartsPerUser: number;

    /** When garbage is collected (systemd calendar time, UTC); undefined turns the timer off. */
    gcSchedule?: string;
    /** Tag retention run before each collection: 0 turns a number rule off. */
    keepNewestTags: number;
    keepTagsYoungerThanDays: number;
    /** Lua patterns (whole tag) of tags kept whatever their age. */
    protectedTags: string[];
    /** Who gets the droplet's and the registry's alerts; empty creates none. */
    alertEmails: string[];
}

/**
 * The `name:` in this repository's Pulumi.yaml, and so the default config namespace. The program
 * passes its actual project name instead, so a project created from this one under another name
 * (`pulumi new`) reads and names its own keys.
 */
export const CONFIG_NAMESPACE = "private-registry";

/** Defaults, in one place, for the code and for the Pulumi.yaml schema test. */
export const DEFAULTS = {
    storage: "s3" as StorageKind,
    forceDestroy: false,
    versioning: false,
    // The least S3 takes (DaysAfterInitiation is whole days). An abandoned upload's parts are
    // billed until aborted, and the registry's own purge has deleted the upload's records by then
    // (registryConfig.ts UPLOAD_PURGE, 12 hours): no upload may take longer anyway.
    abortIncompleteUploadDays: 1,
    s3ChunkSizeMb: 5,
    redirectPullsToS3: true,
    dropletRegion: "nyc3",
    dropletSize: "s-1vcpu-1gb",
    dropletImage: "docker-22-04",
    replicas: MIN_REPLICAS,
    extraSshPublicKeys: [] as string[],
    sshAllowedCidrs: ["0.0.0.0/0", "::/0"],
    // IPv4 only: no record this program creates points at the droplet's IPv6 address, and the
    // private CA's certificate names the IPv4 one. Admitted IPv6 clients are banned per /64.
    httpsAllowedCidrs: ["0.0.0.0/0"],
    exposure: "public" as ExposureMode,
    tls: "auto" as TlsMode,
    registryUsername: "ci",
    /** Empty: a push user `registryUsername` and a pull user {@link DEFAULT_PULL_USERNAME}. */
    users: [] as RegistryUser[],
    credentialRotation: 0,
    registryVersion: REGISTRY_VERSION,
    healthCheckTimeoutSeconds: 300,
    uploadStartsPerUser: DEFAULT_UPLOAD_STARTS_PER_USER,
    gcSchedule: DEFAULT_GC_SCHEDULE,
    keepNewestTags: 0,
    keepTagsYoungerThanDays: 0,
    protectedTags: [] as string[],
    alertEmails: [] as string[],
} as const;

/** Without `users`, the push user `registryUsername` is joined by a pull-only user of this name. */
export const DEFAULT_PULL_USERNAME = "deploy";

/**
 * The Docker 1-click's minimum disk: the image is built on s-1vcpu-1gb, a 25 GB disk
 * (digitalocean/droplet-1-clicks `docker-22-04/template.json`), and DigitalOcean refuses to
 * create a droplet from an image on a smaller disk.
 */
export const DOCKER_IMAGE_MIN_DISK_GB = 25;

/** The disk size a DigitalOcean size slug spells out (`s-1vcpu-512mb-10gb` → 10), if it does. */
export function diskGbInSizeSlug(slug: string): number | undefined {
    const match = /^s-[0-9]+vcpu-[0-9]+(?:mb|gb)-([0-9]+)gb(?:-|$)/.exec(slug);
    return match === null ? undefined : Number(match[1]);
}

/** Raised with every problem found, each naming its key, what is allowed and what was given. */
export class SettingsError extends Error {
    constructor(
        public readonly problems: string[],
        header = "Invalid configuration (nothing was created):",
    ) {
        super(`${header}\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "SettingsError";
    }
}

/** The A record's name inside its zone: "@" for the apex, else the labels before the zone. */
export function dnsRecordName(domain: string, zone: string): string {
    return domain === zone ? "@" : domain.slice(0, domain.length - zone.length - 1);
}
