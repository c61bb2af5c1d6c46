import * as net from "node:net";
import { AwsPartition, awsPartitionOf } from "./render/awsRegion";
import { REGISTRY_IMAGE_DIGESTS, REGISTRY_VERSION } from "./versions";

/**
 * Every setting the program reads, parsed, defaulted and validated in one pure step, before any
 * resource is declared. No Pulumi inside: the caller hands in a {@link ConfigSource}, so the
 * checks are tested without mocks and a bad value can never leave half a deployment behind.
 *
 * The same keys, types, descriptions and defaults are declared in Pulumi.yaml; a unit test keeps
 * the two in step. The CLI enforces only that schema's types, so the code keeps its own checks.
 */

/** How clients reach the registry. */
export type ExposureMode = "public" | "tunnel";

/** Where the registry's TLS certificate comes from in public mode. */
export type TlsMode = "auto" | "letsencrypt" | "private-ca";

/** The certificate source after `auto` is resolved; `none` is the tunnel's plain loopback HTTP. */
export type ResolvedTls = "letsencrypt" | "private-ca" | "none";

export interface Settings {
    /** AWS region of the bucket (from `aws:region`, else AWS_REGION / AWS_DEFAULT_REGION). */
    awsRegion: string;
    /** The ARN partition of that region (`aws`, `aws-cn` or `aws-us-gov`). */
    awsPartition: AwsPartition;
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

    registryUsername: string;
    registryVersion: string;
    /** Pins the image beyond its tag; defaults to the known digest of the pinned release. */
    registryImageDigest?: string;
    /** Seconds the start command waits for the registry to answer. */
    healthCheckTimeoutSeconds: number;
}

/**
 * The `name:` in this repository's Pulumi.yaml, and so the default config namespace. The program
 * passes its actual project name instead, so a project created from this one under another name
 * (`pulumi new`) reads and names its own keys.
 */
export const CONFIG_NAMESPACE = "private-registry";

/** Anything that can look up a config value by key: `pulumi.Config` fits, and so does a Map. */
export interface ConfigSource {
    get(key: string): string | undefined;
}

/** Defaults, in one place, for the code and for the Pulumi.yaml schema test. */
export const DEFAULTS = {
    forceDestroy: false,
    versioning: false,
    abortIncompleteUploadDays: 3,
    s3ChunkSizeMb: 5,
    redirectPullsToS3: true,
    dropletRegion: "nyc3",
    dropletSize: "s-1vcpu-1gb",
    dropletImage: "docker-22-04",
    extraSshPublicKeys: [] as string[],
    sshAllowedCidrs: ["0.0.0.0/0", "::/0"],
    httpsAllowedCidrs: ["0.0.0.0/0", "::/0"],
    exposure: "public" as ExposureMode,
    tls: "auto" as TlsMode,
    registryUsername: "ci",
    registryVersion: REGISTRY_VERSION,
    healthCheckTimeoutSeconds: 300,
} as const;

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
    constructor(public readonly problems: string[]) {
        super(`Invalid configuration (nothing was created):\n${problems.map((p) => `  - ${p}`).join("\n")}`);
        this.name = "SettingsError";
    }
}

/** Let's Encrypt's validation must reach 443 from anywhere; the A record it checks is IPv4. */
const OPEN_TO_ALL_IPV4 = "0.0.0.0/0";

const EXPOSURE_MODES: readonly ExposureMode[] = ["public", "tunnel"];
const TLS_MODES: readonly TlsMode[] = ["auto", "letsencrypt", "private-ca"];

// S3 rules: 3-63 chars, lowercase letters, digits, dots, hyphens; letter/digit at both ends;
// no "..", no IP-address shape, none of the reserved prefixes and suffixes.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DNS_LABEL = "(?!-)[a-z0-9-]{1,63}(?<!-)";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)(${DNS_LABEL}\\.)+[a-z]{2,63}$`);
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const REGION_SLUG = /^[a-z]{3}[0-9]$/;
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-[0-9]$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const SSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}(?: [A-Za-z0-9@._+-]{1,100})?$/;

/** Shows a given value unambiguously, escaping control and non-ASCII characters. */
function shown(value: string): string {
    return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export function validateBucketName(name: string): string | undefined {
    if (!BUCKET_NAME.test(name)) {
        return "3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit";
    }
    if (name.includes("..") || name.includes(".-") || name.includes("-.")) {
        return "no two adjacent periods and no period next to a hyphen";
    }
    if (net.isIPv4(name)) {
        return "a name that is not shaped like an IP address";
    }
    if (/^(xn--|sthree-|amzn-s3-demo-)/.test(name) || /(-s3alias|--ol-s3|--x-s3|--table-s3|\.mrap)$/.test(name)) {
        return "a name without the reserved prefixes (xn--, sthree-, amzn-s3-demo-) and suffixes (-s3alias, --ol-s3, --x-s3, --table-s3, .mrap)";
    }
    return undefined;
}

/** A nudge for the common slips; empty when none applies. */
function hintFor(value: string): string {
    if (net.isIPv4(value)) {
        return ` (a single address is written ${value}/32)`;
    }
    if (net.isIPv6(value)) {
        return ` (a single address is written ${value}/128)`;
    }
    if (/^[a-z]{2}(?:-[a-z]+)+-[0-9][a-z]$/.test(value)) {
        return ` (that is an availability zone; its region is ${value.slice(0, -1)})`;
    }
    if (/^(yes|no|on|off|1|0|True|False|TRUE|FALSE)$/.test(value)) {
        return " (write true or false)";
    }
    if (value !== value.toLowerCase() && value.toLowerCase() !== value.toUpperCase()) {
        return ` (slugs and names are lowercase: ${shown(value.toLowerCase())})`;
    }
    return "";
}

/** True for an IPv4 or IPv6 CIDR whose prefix length fits the address family. */
export function isCidr(value: string): boolean {
    const match = /^([^/]+)\/([0-9]{1,3})$/.exec(value);
    if (match === null) {
        return false;
    }
    const [, address, prefixText] = match;
    const prefix = Number(prefixText);
    if (net.isIPv4(address)) {
        return prefix <= 32;
    }
    if (net.isIPv6(address) && !address.includes("%")) {
        return prefix <= 128;
    }
    return false;
}

/**
 * Reads, defaults and validates every setting. Throws one {@link SettingsError} listing every
 * problem, so a user fixes them all in one round.
 *
 * @param config the project's config (`new pulumi.Config()` in the program)
 * @param awsConfig the `aws:` namespace (for `aws:region`)
 * @param env process environment, for the region fallback the AWS provider also honours
 * @param namespace the config namespace the keys are named with in messages (the project name)
 */
export function loadSettings(config: ConfigSource, awsConfig: ConfigSource, env: Record<string, string | undefined> = {}, namespace: string = CONFIG_NAMESPACE): Settings {
    const problems: string[] = [];
    const key = (k: string) => `${namespace}:${k}`;

    function str(k: string): string | undefined {
        const value = config.get(k);
        return value === undefined || value === "" ? undefined : value;
    }

    function bool(k: string, fallback: boolean): boolean {
        const value = str(k);
        if (value === undefined) {
            return fallback;
        }
        if (value === "true" || value === "false") {
            return value === "true";
        }
        problems.push(`${key(k)} must be true or false; got ${shown(value)}${hintFor(value)}`);
        return fallback;
    }

    function int(k: string, fallback: number, min: number, max: number): number {
        const value = str(k);
        if (value === undefined) {
            return fallback;
        }
        if (!/^-?[0-9]+$/.test(value) || Number(value) < min || Number(value) > max) {
            problems.push(`${key(k)} must be a whole number from ${min} to ${max}; got ${shown(value)}`);
            return fallback;
        }
        return Number(value);
    }

    function matching(k: string, fallback: string, pattern: RegExp, allowed: string): string {
        const value = str(k) ?? fallback;
        if (!pattern.test(value)) {
            problems.push(`${key(k)} must be ${allowed}; got ${shown(value)}${hintFor(value)}`);
        }
        return value;
    }

    function optionalMatching(k: string, check: (v: string) => string | undefined): string | undefined {
        const value = str(k);
        if (value === undefined) {
            return undefined;
        }
        const allowed = check(value);
        if (allowed !== undefined) {
            problems.push(`${key(k)} must be ${allowed}; got ${shown(value)}${hintFor(value)}`);
        }
        return value;
    }

    function list(k: string, fallback: readonly string[], check: (v: string) => boolean, allowed: string, allowEmpty: boolean): string[] {
        const value = str(k);
        if (value === undefined) {
            return [...fallback];
        }
        let parsed: unknown;
        try {
            parsed = JSON.parse(value);
        } catch {
            problems.push(`${key(k)} must be a JSON list of ${allowed}; got ${shown(value)}`);
            return [...fallback];
        }
        if (!Array.isArray(parsed) || parsed.some((item) => typeof item !== "string")) {
            problems.push(`${key(k)} must be a JSON list of ${allowed}; got ${shown(value)}`);
            return [...fallback];
        }
        const items = parsed as string[];
        if (!allowEmpty && items.length === 0) {
            problems.push(`${key(k)} must list at least one of ${allowed}; got an empty list`);
        }
        for (const item of items) {
            if (!check(item)) {
                problems.push(`${key(k)} must contain only ${allowed}; got ${shown(item)}${hintFor(item)}`);
            }
        }
        return items;
    }

    function oneOf<T extends string>(k: string, fallback: T, allowed: readonly T[]): T {
        const value = str(k) ?? fallback;
        if (!(allowed as readonly string[]).includes(value)) {
            problems.push(`${key(k)} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${shown(value)}`);
            return fallback;
        }
        return value as T;
    }

    const regionFromConfig = awsConfig.get("region");
    const awsRegion = regionFromConfig ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
    if (awsRegion === undefined || awsRegion === "") {
        problems.push("aws:region must be set to the bucket's AWS region, e.g. `pulumi config set aws:region us-east-1`; got nothing (nor AWS_REGION)");
    } else if (!AWS_REGION.test(awsRegion)) {
        problems.push(`aws:region must be an AWS region name such as us-east-1; got ${shown(awsRegion)}${hintFor(awsRegion)}`);
    } else if (awsPartitionOf(awsRegion) === undefined) {
        problems.push(`aws:region must be in the aws, aws-cn or aws-us-gov partition; got ${shown(awsRegion)}, an isolated region that a DigitalOcean droplet cannot reach`);
    }

    const exposure = oneOf("exposure", DEFAULTS.exposure, EXPOSURE_MODES);
    const tlsMode = oneOf("tls", DEFAULTS.tls, TLS_MODES);
    const domain = optionalMatching("domain", (v) => (HOSTNAME.test(v) ? undefined : "a lowercase DNS name such as registry.example.com"));
    const dnsZone = optionalMatching("dnsZone", (v) => (HOSTNAME.test(v) ? undefined : "a lowercase DNS zone such as example.com"));
    const letsencryptEmail = optionalMatching("letsencryptEmail", (v) => (EMAIL.test(v) ? undefined : "an e-mail address such as ops@example.com"));

    const settings: Settings = {
        awsRegion: awsRegion ?? "",
        awsPartition: awsPartitionOf(awsRegion ?? "") ?? "aws",
        bucketName: optionalMatching("bucketName", validateBucketName),
        forceDestroy: bool("forceDestroy", DEFAULTS.forceDestroy),
        versioning: bool("versioning", DEFAULTS.versioning),
        abortIncompleteUploadDays: int("abortIncompleteUploadDays", DEFAULTS.abortIncompleteUploadDays, 1, 365),
        s3ChunkSizeMb: int("s3ChunkSizeMb", DEFAULTS.s3ChunkSizeMb, 5, 5120),
        redirectPullsToS3: bool("redirectPullsToS3", DEFAULTS.redirectPullsToS3),
        dropletRegion: matching("dropletRegion", DEFAULTS.dropletRegion, REGION_SLUG, "a DigitalOcean region slug such as nyc3 or fra1"),
        dropletSize: matching("dropletSize", DEFAULTS.dropletSize, SLUG, "a DigitalOcean size slug such as s-1vcpu-1gb"),
        dropletImage: matching("dropletImage", DEFAULTS.dropletImage, SLUG, "a DigitalOcean image slug such as docker-22-04"),
        extraSshPublicKeys: list("extraSshPublicKeys", DEFAULTS.extraSshPublicKeys, (v) => SSH_PUBLIC_KEY.test(v), "OpenSSH public keys (\"ssh-ed25519 AAAA... comment\")", true),
        sshAllowedCidrs: list("sshAllowedCidrs", DEFAULTS.sshAllowedCidrs, isCidr, "IPv4 or IPv6 CIDRs such as 203.0.113.0/24", false),
        httpsAllowedCidrs: list("httpsAllowedCidrs", DEFAULTS.httpsAllowedCidrs, isCidr, "IPv4 or IPv6 CIDRs such as 203.0.113.0/24", false),
        exposure,
        tls: "none",
        domain,
        dnsZone,
        letsencryptEmail,
        registryUsername: matching("registryUsername", DEFAULTS.registryUsername, USERNAME, "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (no ':')"),
        registryVersion: matching("registryVersion", DEFAULTS.registryVersion, SEMVER, "an exact version such as 3.1.1 (no 'latest', no 'v')"),
        registryImageDigest: optionalMatching("registryImageDigest", (v) => (DIGEST.test(v) ? undefined : "an image digest such as sha256:<64 hex digits>")),
        healthCheckTimeoutSeconds: int("healthCheckTimeoutSeconds", DEFAULTS.healthCheckTimeoutSeconds, 30, 1800),
    };

    const diskGb = diskGbInSizeSlug(settings.dropletSize);
    if (diskGb !== undefined && diskGb < DOCKER_IMAGE_MIN_DISK_GB) {
        problems.push(
            `${key("dropletSize")} must have a disk of at least ${DOCKER_IMAGE_MIN_DISK_GB} GB, the Docker 1-click image's minimum, such as s-1vcpu-1gb; got ${shown(settings.dropletSize)}, whose disk is ${diskGb} GB`,
        );
    }
    // The pinned release's digest is known; another version's is the user's to give.
    settings.registryImageDigest ??= REGISTRY_IMAGE_DIGESTS[settings.registryVersion];
    if (SEMVER.test(settings.registryVersion) && !settings.registryVersion.startsWith("3.")) {
        problems.push(`${key("registryVersion")} must be a 3.x release (2.x reads its config elsewhere and its Let's Encrypt support is broken); got ${shown(settings.registryVersion)}`);
    }

    const manageDns = str("dnsZone") !== undefined;
    if (exposure === "tunnel") {
        if (tlsMode !== "auto") {
            problems.push(`${key("exposure")}="tunnel" and ${key("tls")}="${tlsMode}" are mutually exclusive: a tunnelled registry listens on loopback only, without TLS`);
        }
        if (domain !== undefined) {
            problems.push(`${key("exposure")}="tunnel" and ${key("domain")} are mutually exclusive: a tunnelled registry has no public name`);
        }
        if (manageDns) {
            problems.push(`${key("exposure")}="tunnel" and ${key("dnsZone")} are mutually exclusive: a tunnelled registry has no public name`);
        }
        if (letsencryptEmail !== undefined) {
            problems.push(`${key("exposure")}="tunnel" and ${key("letsencryptEmail")} are mutually exclusive: a tunnelled registry uses no certificate`);
        }
        // Pulumi.yaml's default arrives as if set, so only a list other than the default conflicts.
        if (JSON.stringify(settings.httpsAllowedCidrs) !== JSON.stringify(DEFAULTS.httpsAllowedCidrs)) {
            problems.push(`${key("exposure")}="tunnel" and ${key("httpsAllowedCidrs")} are mutually exclusive: a tunnelled registry opens no HTTPS port`);
        }
        settings.tls = "none";
    } else {
        settings.tls = tlsMode === "auto" ? (domain !== undefined ? "letsencrypt" : "private-ca") : tlsMode;
        if (settings.tls === "private-ca" && letsencryptEmail !== undefined) {
            problems.push(`${key("tls")}="private-ca" and ${key("letsencryptEmail")} are mutually exclusive: the e-mail is only for a Let's Encrypt account`);
        }
        if (settings.tls === "letsencrypt" && !settings.httpsAllowedCidrs.includes(OPEN_TO_ALL_IPV4)) {
            problems.push(
                `${key("httpsAllowedCidrs")} must include "${OPEN_TO_ALL_IPV4}" when the certificate comes from Let's Encrypt (tls="letsencrypt", or "auto" with a domain): ` +
                    `Let's Encrypt validates over port 443 from unpublished, changing addresses, so a narrowed list makes issuance fail. ` +
                    `Use ${key("tls")}="private-ca" to serve only your CIDRs, or leave 443 open (every request still needs a login); got ${shown(JSON.stringify(settings.httpsAllowedCidrs))}`,
            );
        }
    }
    if (manageDns && domain === undefined) {
        problems.push(`${key("dnsZone")} requires ${key("domain")}: the A record is created for that name`);
    }
    if (manageDns && domain !== undefined && dnsZone !== undefined && domain !== dnsZone && !domain.endsWith(`.${dnsZone}`)) {
        problems.push(`${key("domain")} must be ${shown(dnsZone)} or a name under it when ${key("dnsZone")} is set; got ${shown(domain)}`);
    }

    if (problems.length > 0) {
        throw new SettingsError(problems);
    }
    return settings;
}

/** The A record's name inside its zone: "@" for the apex, else the labels before the zone. */
export function dnsRecordName(domain: string, zone: string): string {
    return domain === zone ? "@" : domain.slice(0, domain.length - zone.length - 1);
}
