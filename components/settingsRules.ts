import { X509Certificate } from "node:crypto";
import * as net from "node:net";
import { awsPartitionOf } from "./render/awsRegion";
import { DEFAULT_PULL_USERNAME, DEFAULTS, DOCKER_IMAGE_MIN_DISK_GB, diskGbInSizeSlug, ExposureMode, RegistryUser, Settings, SettingsError, StorageKind, TlsMode } from "./settings";
import { NEAREST_SPACES_REGION, SPACES_REGIONS, spacesBucketNameProblem, spacesRegionFor } from "./render/spaces";
import { REGISTRY_ROLES, ZEROSSL_DIRECTORY } from "./render/front";
import { repositoryPatternProblem } from "./render/repositoryPatterns";
import { gcScheduleProblem } from "./render/maintenance";
import { luaPatternProblem } from "./render/retention";
import { largestChunkSizeMb } from "./render/registryMemory";
import { REGISTRY_IMAGE_DIGESTS } from "./versions";
import { MAX_REPLICAS, MIN_REPLICAS } from "./render/balancer";

/**
 * The one validator of every setting, on typed values: stack config is parsed into these values
 * first (settings.ts), and the PrivateRegistry component runs the same checks on its arguments.
 * Pure: every problem names its setting, what is allowed and what was given.
 */

/** Every setting in its typed, unresolved form: what the component's arguments hold once known. */
export interface SettingsInput {
    storage?: StorageKind;
    awsRegion?: string;
    exposure?: ExposureMode;
    tls?: TlsMode;
    domain?: string;
    dnsZone?: string;
    letsencryptEmail?: string;
    acmeServer?: string;
    acmeServerCa?: string;
    httpsAllowedCidrs?: string[];
    sshAllowedCidrs?: string[];
    extraSshPublicKeys?: string[];
    bucketName?: string;
    forceDestroy?: boolean;
    versioning?: boolean;
    abortIncompleteUploadDays?: number;
    s3ChunkSizeMb?: number;
    redirectPullsToS3?: boolean;
    dropletRegion?: string;
    dropletSize?: string;
    dropletImage?: string;
    replicas?: number;
    registryUsername?: string;
    /** Objects as stack config or a caller gives them; checked item by item. */
    users?: unknown[];
    credentialRotation?: number;
    registryVersion?: string;
    registryImageDigest?: string;
    healthCheckTimeoutSeconds?: number;
    uploadStartsPerUser?: number;
    /** "" turns collection off; undefined takes the default. */
    gcSchedule?: string;
    keepNewestTags?: number;
    keepTagsYoungerThanDays?: number;
    protectedTags?: string[];
    alertEmails?: string[];
}

/**
 * The whole-number settings and their ranges, shared with the config parser's messages.
 * `s3ChunkSizeMb`: from S3's least part size to the largest that still lets one `docker push`'s
 * five layers into the registry at once (registryMemory.ts): each upload in flight holds about two
 * parts of the registry's memory, and a larger part would leave room for fewer uploads, or none.
 */
export const NUMBER_RANGES = {
    abortIncompleteUploadDays: [1, 365],
    s3ChunkSizeMb: [5, largestChunkSizeMb()],
    healthCheckTimeoutSeconds: [30, 1800],
    uploadStartsPerUser: [10, 1000000],
    replicas: [MIN_REPLICAS, MAX_REPLICAS],
    keepNewestTags: [0, 10000],
    keepTagsYoungerThanDays: [0, 3650],
    credentialRotation: [0, 1000000],
} as const;

/** What each list setting may hold, in words. */
export const LIST_ITEMS = {
    extraSshPublicKeys: 'OpenSSH public keys ("ssh-ed25519 AAAA... comment")',
    sshAllowedCidrs: "IPv4 or IPv6 CIDRs such as 203.0.113.0/24",
    httpsAllowedCidrs: "IPv4 or IPv6 CIDRs such as 203.0.113.0/24",
    protectedTags: 'Lua patterns matching whole tags, such as "latest" or "v%d+%.%d+%.%d+"',
    alertEmails: "e-mail addresses of the DigitalOcean team, such as ops@example.com",
} as const;

/** Let's Encrypt's validation must reach 443 from anywhere; the A record it checks is IPv4. */
export const OPEN_TO_ALL_IPV4 = "0.0.0.0/0";

const EXPOSURE_MODES: readonly ExposureMode[] = ["public", "tunnel"];
const TLS_MODES: readonly TlsMode[] = ["auto", "letsencrypt", "private-ca"];
const STORAGE_KINDS: readonly StorageKind[] = ["s3", "spaces"];

// S3 rules: 3-63 chars, lowercase letters, digits, dots, hyphens; letter/digit at both ends;
// no "..", no IP-address shape, none of the reserved prefixes and suffixes.
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const DNS_LABEL = "(?!-)[a-z0-9-]{1,63}(?<!-)";
const HOSTNAME = new RegExp(`^(?=.{1,253}$)(${DNS_LABEL}\\.)+[a-z]{2,63}$`);
const EMAIL = /^[A-Za-z0-9._%+-]{1,64}@(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

/** The e-mail rule every setting that takes an address uses. */
export function isEmail(value: string): boolean {
    return EMAIL.test(value);
}
const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const REGION_SLUG = /^[a-z]{3}[0-9]$/;
const AWS_REGION = /^[a-z]{2}(?:-[a-z]+)+-[0-9]$/;
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SEMVER = /^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const SSH_PUBLIC_KEY = /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]{16,}={0,3}(?: [A-Za-z0-9@._+-]{1,100})?$/;

/** Shows a given value unambiguously, escaping control and non-ASCII characters. */
export function shown(value: string): string {
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
export function hintFor(value: string): string {
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

/**
 * ZeroSSL's ACME directories. For these alone Caddy obtains the External Account Binding itself,
 * from the account e-mail, and fails without one (caddyserver/caddy v2.11.9
 * modules/caddytls/acmeissuer.go makeIssuerTemplate, generateZeroSSLEABCredentials).
 */
const ZEROSSL_ACME_PREFIX = "https://acme.zerossl.com/";

/** What `acmeServer` must be, in words. */
export const ACME_SERVER_ALLOWED = `the https URL of an ACME directory, such as ${ZEROSSL_DIRECTORY} or https://ca.internal:9000/acme/acme/directory`;

/**
 * Why a value cannot be the front's ACME directory, or undefined when it can. The URL becomes an
 * unquoted Caddyfile token, and Caddy expands `{...}` placeholders in it when it starts
 * (modules/caddytls/acmeissuer.go Provision), so only plain URL characters pass.
 */
export function acmeServerProblem(value: string): string | undefined {
    let url: URL;
    try {
        url = new URL(value);
    } catch {
        return "which is not a URL";
    }
    if (url.protocol !== "https:") {
        return `which is ${url.protocol.slice(0, -1)}, not https`;
    }
    if (url.username !== "" || url.password !== "") {
        return "which carries a user name or password";
    }
    if (!/^https:\/\/[A-Za-z0-9._~%/:?&=+[\]-]+$/.test(value)) {
        return "which has characters other than letters, digits and . _ ~ % / : ? & = + [ ] -";
    }
    return undefined;
}

/**
 * Why a value is not one or more PEM certificates, or undefined when it is: only CERTIFICATE
 * blocks, each an X.509 certificate as node:crypto reads it, and nothing else but whitespace.
 * A private key pasted by mistake is named by its block type, never shown.
 */
export function pemCertificatesProblem(value: string): string | undefined {
    const blocks = [...value.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g)];
    if (blocks.length === 0) {
        return `text with no PEM block, starting ${shown(value.trim().slice(0, 30))}`;
    }
    const outside = blocks.reduce((text, [block]) => text.replace(block, ""), value).trim();
    if (outside !== "") {
        return `text outside its PEM blocks, starting ${shown(outside.slice(0, 30))}`;
    }
    for (const [block, label] of blocks) {
        if (label !== "CERTIFICATE") {
            return `a PEM block of type ${shown(label)}${label.includes("PRIVATE KEY") ? ", a private key, which must never be given here" : ""}`;
        }
        try {
            new X509Certificate(block);
        } catch (e) {
            return `a CERTIFICATE block that is not an X.509 certificate (${e instanceof Error ? e.message : String(e)})`;
        }
    }
    return undefined;
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


/** What the `users` setting holds, in words. */
export const USERS_ALLOWED =
    'a JSON list of objects such as {"name": "ci", "role": "push"} or {"name": "deploy", "role": "pull", "repositories": ["team-a/**"]}';

/**
 * The logins: the given list checked item by item, or without one the default pair, a push user
 * named `registryUsername` and a pull-only user.
 */
/** A value from a list of objects as given: strings shown as text, anything else as JSON. */
function given(value: unknown): string {
    return typeof value === "string" ? shown(value) : shown(JSON.stringify(value) ?? "undefined");
}

function resolveUsers(list: unknown[] | undefined, registryUsername: string, key: (k: string) => string, problems: string[]): RegistryUser[] {
    // Pulumi.yaml's default, [], arrives as if set: empty means the default pair too.
    if (list === undefined || (Array.isArray(list) && list.length === 0)) {
        const pullName = registryUsername === DEFAULT_PULL_USERNAME ? `${DEFAULT_PULL_USERNAME}-pull` : DEFAULT_PULL_USERNAME;
        return [
            { name: registryUsername, role: "push" },
            { name: pullName, role: "pull" },
        ];
    }
    if (!Array.isArray(list)) {
        problems.push(`${key("users")} must be ${USERS_ALLOWED}; got ${given(list)}`);
        return [];
    }
    const users: RegistryUser[] = [];
    list.forEach((item, index) => {
        const where = `${key("users")}[${index}]`;
        if (typeof item !== "object" || item === null || Array.isArray(item)) {
            problems.push(`${where} must be an object such as {"name": "ci", "role": "push"}; got ${given(item)}`);
            return;
        }
        const { name, role, repositories, ...rest } = item as Record<string, unknown>;
        for (const unknownField of Object.keys(rest)) {
            problems.push(`${where} must have only name, role and repositories; got ${shown(unknownField)}`);
        }
        if (typeof name !== "string" || !USERNAME.test(name)) {
            problems.push(`${where}.name must be 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit; got ${given(name)}`);
        }
        if (!(REGISTRY_ROLES as readonly unknown[]).includes(role)) {
            problems.push(`${where}.role must be one of ${REGISTRY_ROLES.map((r) => `"${r}"`).join(", ")}; got ${given(role)}`);
        }
        if (repositories !== undefined) {
            if (!Array.isArray(repositories) || repositories.length === 0 || repositories.some((r) => typeof r !== "string")) {
                problems.push(`${where}.repositories must be a non-empty list of repository patterns such as "team-a/**"; got ${given(repositories)}`);
            } else {
                for (const pattern of repositories as string[]) {
                    const problem = repositoryPatternProblem(pattern);
                    if (problem !== undefined) {
                        problems.push(`${where}.repositories must contain only repository patterns such as "team-a/**"; got ${shown(pattern)}, which ${problem}`);
                    }
                }
            }
        }
        users.push({ name: String(name), role: role as RegistryUser["role"], ...(Array.isArray(repositories) ? { repositories: repositories as string[] } : {}) });
    });
    const names = users.map((u) => u.name);
    const repeated = names.filter((n, i) => names.indexOf(n) !== i);
    if (repeated.length > 0) {
        problems.push(`${key("users")} must name each user once; got ${shown(repeated[0])} more than once`);
    }
    if (users.length > 0 && !users.some((u) => u.role === "push")) {
        problems.push(`${key("users")} must include at least one user with role "push": the maintenance job and the deploy's health check log in as the first one; got none`);
    }
    return users;
}

const sameList = (a: readonly string[], b: readonly string[]) => JSON.stringify(a) === JSON.stringify(b);

/**
 * Applies defaults, checks every setting and their combinations, and resolves what follows from
 * them (the certificate source, the ARN partition, the Spaces region, the image digest). Throws one
 * {@link SettingsError} listing every problem.
 *
 * @param keyName how a setting is named in messages (`private-registry:dropletSize` for stack
 *   config, the argument's name for the component)
 */
export function resolveSettings(input: SettingsInput, keyName: (key: string) => string, header?: string): Settings {
    const problems: string[] = [];
    const key = keyName;
    const bad = (k: string, allowed: string, value: string) => problems.push(`${key(k)} must be ${allowed}; got ${shown(value)}${hintFor(value)}`);

    function text(k: keyof SettingsInput, fallback: string, ok: (v: string) => boolean, allowed: string): string;
    function text(k: keyof SettingsInput, fallback: undefined, ok: (v: string) => boolean, allowed: string): string | undefined;
    function text(k: keyof SettingsInput, fallback: string | undefined, ok: (v: string) => boolean, allowed: string): string | undefined {
        const value = input[k] ?? fallback;
        if (value === undefined || value === "") {
            return fallback;
        }
        if (typeof value !== "string") {
            problems.push(`${key(k)} must be ${allowed}; got ${shown(JSON.stringify(value))}`);
            return fallback;
        }
        if (!ok(value)) {
            bad(k, allowed, value);
        }
        return value;
    }
    function flag(k: "forceDestroy" | "versioning" | "redirectPullsToS3"): boolean {
        const value = input[k] ?? DEFAULTS[k];
        if (typeof value !== "boolean") {
            problems.push(`${key(k)} must be true or false; got ${shown(String(value))}${hintFor(String(value))}`);
            return DEFAULTS[k];
        }
        return value;
    }
    function whole(k: keyof typeof NUMBER_RANGES): number {
        const [min, max] = NUMBER_RANGES[k];
        const value = input[k] ?? DEFAULTS[k];
        if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
            problems.push(`${key(k)} must be a whole number from ${min} to ${max}; got ${shown(String(value))}`);
            return DEFAULTS[k];
        }
        return value;
    }
    function list(k: keyof typeof LIST_ITEMS, ok: (v: string) => boolean, allowEmpty: boolean): string[] {
        const value: unknown = input[k] ?? DEFAULTS[k];
        const allowed = LIST_ITEMS[k];
        if (!Array.isArray(value) || value.some((item) => typeof item !== "string")) {
            problems.push(`${key(k)} must be a JSON list of ${allowed}; got ${shown(JSON.stringify(value))}`);
            return [...DEFAULTS[k]];
        }
        if (!allowEmpty && value.length === 0) {
            problems.push(`${key(k)} must list at least one of ${allowed}; got an empty list`);
        }
        for (const item of value as string[]) {
            if (!ok(item)) {
                problems.push(`${key(k)} must contain only ${allowed}; got ${shown(item)}${hintFor(item)}`);
            }
        }
        return [...(value as string[])];
    }
    function oneOf<T extends string>(k: "exposure" | "tls" | "storage", allowed: readonly T[]): T {
        const value = (input[k] ?? DEFAULTS[k]) as string;
        if (!(allowed as readonly string[]).includes(value)) {
            problems.push(`${key(k)} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}; got ${shown(String(value))}`);
            return DEFAULTS[k] as T;
        }
        return value as T;
    }

    const storage = oneOf("storage", STORAGE_KINDS);
    const onSpaces = storage === "spaces";
    const awsRegion = input.awsRegion;
    if (onSpaces) {
        // A Spaces stack declares no AWS resource, so an AWS region can only be a leftover.
        if (awsRegion !== undefined && awsRegion !== "") {
            problems.push(`${key("awsRegion")} applies only with ${key("storage")}="s3": with "spaces" nothing is made in AWS and no AWS credentials are used (remove it: pulumi config rm aws:region); got ${shown(awsRegion)}`);
        }
    } else if (awsRegion === undefined || awsRegion === "") {
        problems.push(`${key("awsRegion")} must be set to the bucket's AWS region, e.g. \`pulumi config set aws:region us-east-1\`; got nothing (nor AWS_REGION)`);
    } else if (!AWS_REGION.test(awsRegion)) {
        problems.push(`${key("awsRegion")} must be an AWS region name such as us-east-1; got ${shown(awsRegion)}${hintFor(awsRegion)}`);
    } else if (awsPartitionOf(awsRegion) === undefined) {
        problems.push(`${key("awsRegion")} must be in the aws, aws-cn or aws-us-gov partition; got ${shown(awsRegion)}, an isolated region that a DigitalOcean droplet cannot reach`);
    }

    const exposure = oneOf("exposure", EXPOSURE_MODES);
    const tlsMode = oneOf("tls", TLS_MODES);
    const domain = text("domain", undefined, (v) => HOSTNAME.test(v), "a lowercase DNS name such as registry.example.com");
    const dnsZone = text("dnsZone", undefined, (v) => HOSTNAME.test(v), "a lowercase DNS zone such as example.com");
    const letsencryptEmail = text("letsencryptEmail", undefined, (v) => EMAIL.test(v), "an e-mail address such as ops@example.com");
    // Read by hand: text() would add the lowercase hint to a URL such as ZeroSSL's .../DV90.
    const optionalString = (k: "acmeServer" | "acmeServerCa"): string | undefined => {
        const value: unknown = input[k];
        if (value === undefined || value === "") {
            return undefined;
        }
        if (typeof value !== "string") {
            problems.push(`${key(k)} must be a string; got ${shown(JSON.stringify(value) ?? String(value))}`);
            return undefined;
        }
        return value;
    };
    const acmeServer = optionalString("acmeServer");
    const acmeServerProblemFound = acmeServer === undefined ? undefined : acmeServerProblem(acmeServer);
    if (acmeServer !== undefined && acmeServerProblemFound !== undefined) {
        problems.push(`${key("acmeServer")} must be ${ACME_SERVER_ALLOWED}; got ${shown(acmeServer)}, ${acmeServerProblemFound}`);
    }
    const acmeServerCa = optionalString("acmeServerCa");
    const acmeServerCaProblem = acmeServerCa === undefined ? undefined : pemCertificatesProblem(acmeServerCa);
    if (acmeServerCaProblem !== undefined) {
        problems.push(`${key("acmeServerCa")} must be one or more PEM certificates (-----BEGIN CERTIFICATE----- ... -----END CERTIFICATE-----), such as a step-ca's root; got ${acmeServerCaProblem}`);
    }
    const bucketName = input.bucketName === undefined || input.bucketName === "" ? undefined : input.bucketName;
    if (bucketName !== undefined) {
        const allowed = onSpaces ? spacesBucketNameProblem(bucketName) : validateBucketName(bucketName);
        if (allowed !== undefined) {
            bad("bucketName", allowed, bucketName);
        }
    }

    const settings: Settings = {
        storage,
        awsRegion: onSpaces ? "" : (awsRegion ?? ""),
        awsPartition: onSpaces ? "aws" : (awsPartitionOf(awsRegion ?? "") ?? "aws"),
        bucketName,
        forceDestroy: flag("forceDestroy"),
        versioning: flag("versioning"),
        abortIncompleteUploadDays: whole("abortIncompleteUploadDays"),
        s3ChunkSizeMb: whole("s3ChunkSizeMb"),
        redirectPullsToS3: flag("redirectPullsToS3"),
        dropletRegion: text("dropletRegion", DEFAULTS.dropletRegion, (v) => REGION_SLUG.test(v), "a DigitalOcean region slug such as nyc3 or fra1"),
        dropletSize: text("dropletSize", DEFAULTS.dropletSize, (v) => SLUG.test(v), "a DigitalOcean size slug such as s-1vcpu-1gb"),
        dropletImage: text("dropletImage", DEFAULTS.dropletImage, (v) => SLUG.test(v), "a DigitalOcean image slug such as docker-22-04"),
        replicas: whole("replicas"),
        extraSshPublicKeys: list("extraSshPublicKeys", (v) => SSH_PUBLIC_KEY.test(v), true),
        sshAllowedCidrs: list("sshAllowedCidrs", isCidr, false),
        httpsAllowedCidrs: list("httpsAllowedCidrs", isCidr, false),
        exposure,
        tls: "none",
        domain,
        dnsZone,
        letsencryptEmail,
        acmeServer,
        acmeServerCa,
        registryUsername: text("registryUsername", DEFAULTS.registryUsername, (v) => USERNAME.test(v), "1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (no ':')"),
        users: [],
        credentialRotation: whole("credentialRotation"),
        registryVersion: text("registryVersion", DEFAULTS.registryVersion, (v) => SEMVER.test(v), "an exact version such as 3.1.1 (no 'latest', no 'v')"),
        registryImageDigest: text("registryImageDigest", undefined, (v) => DIGEST.test(v), "an image digest such as sha256:<64 hex digits>"),
        healthCheckTimeoutSeconds: whole("healthCheckTimeoutSeconds"),
        uploadStartsPerUser: whole("uploadStartsPerUser"),
        gcSchedule: input.gcSchedule === "" ? undefined : text("gcSchedule", DEFAULTS.gcSchedule, (v) => gcScheduleProblem(v) === undefined, gcScheduleProblem("") ?? ""),
        keepNewestTags: whole("keepNewestTags"),
        keepTagsYoungerThanDays: whole("keepTagsYoungerThanDays"),
        // Each pattern's problem is reported below, with what to write instead.
        protectedTags: list("protectedTags", () => true, true),
        alertEmails: list("alertEmails", (v) => EMAIL.test(v), true),
    };
    settings.users = resolveUsers(input.users, settings.registryUsername, key, problems);
    for (const pattern of settings.protectedTags.filter((p) => luaPatternProblem(p) !== undefined)) {
        problems.push(`${key("protectedTags")} must contain only ${LIST_ITEMS.protectedTags}; got ${shown(pattern)}, which ${luaPatternProblem(pattern)}`);
    }
    const repeated = settings.alertEmails.filter((email, i) => settings.alertEmails.indexOf(email) !== i);
    if (repeated.length > 0) {
        problems.push(`${key("alertEmails")} must list each address once; got ${shown(repeated[0])} more than once`);
    }

    if (input.users !== undefined && input.users.length > 0 && settings.registryUsername !== DEFAULTS.registryUsername) {
        problems.push(`${key("users")} and ${key("registryUsername")} are mutually exclusive: name the push user in ${key("users")}`);
    }
    const firstPush = settings.users.find((u) => u.role === "push");
    if (firstPush !== undefined) {
        settings.registryUsername = firstPush.name;
    }

    if (onSpaces) {
        settings.spacesRegion = spacesRegionFor(settings.dropletRegion);
        if (settings.spacesRegion === undefined && REGION_SLUG.test(settings.dropletRegion)) {
            const known = [...SPACES_REGIONS, ...Object.keys(NEAREST_SPACES_REGION)].sort();
            problems.push(`${key("dropletRegion")} must be a region whose Spaces region is known when ${key("storage")}="spaces" (${known.join(", ")}); got ${shown(settings.dropletRegion)}`);
        }
    }

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

    const manageDns = dnsZone !== undefined;
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
        if (!sameList(settings.httpsAllowedCidrs, DEFAULTS.httpsAllowedCidrs)) {
            problems.push(`${key("exposure")}="tunnel" and ${key("httpsAllowedCidrs")} are mutually exclusive: a tunnelled registry opens no HTTPS port`);
        }
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
    // The ACME server is the front's certificate source only with an ACME certificate.
    if (settings.tls !== "letsencrypt") {
        const got =
            exposure === "tunnel"
                ? `${key("exposure")}="tunnel", which uses no certificate`
                : tlsMode === "auto"
                  ? `${key("tls")}="auto" without ${key("domain")}, which is the private CA`
                  : `${key("tls")}="${tlsMode}"`;
        for (const k of (["acmeServer", "acmeServerCa"] as const).filter((k) => settings[k] !== undefined)) {
            problems.push(`${key(k)} applies only with ${key("tls")}="letsencrypt" (or "auto" with a ${key("domain")}); got ${got}`);
        }
    } else if (acmeServer !== undefined && acmeServer.startsWith(ZEROSSL_ACME_PREFIX) && letsencryptEmail === undefined) {
        problems.push(`${key("letsencryptEmail")} must be set when ${key("acmeServer")} is ZeroSSL's directory: the front obtains ZeroSSL's External Account Binding with that address; got none`);
    }
    if (acmeServerCa !== undefined && acmeServer === undefined) {
        problems.push(`${key("acmeServerCa")} requires ${key("acmeServer")}: it is the CA of that ACME directory, and Let's Encrypt's needs none; got ${key("acmeServerCa")} alone`);
    }
    if (manageDns && domain === undefined) {
        problems.push(`${key("dnsZone")} requires ${key("domain")}: the A record is created for that name`);
    }
    if (manageDns && domain !== undefined && domain !== dnsZone && !domain.endsWith(`.${dnsZone}`)) {
        problems.push(`${key("domain")} must be ${shown(dnsZone)} or a name under it when ${key("dnsZone")} is set; got ${shown(domain)}`);
    }

    problems.push(...replicaProblems(settings, key));

    if (problems.length > 0) {
        throw new SettingsError(problems, header);
    }
    return settings;
}

/**
 * What more than one replica cannot be combined with, yet. Each message says why, so that the
 * refusal reads as a limit of the design and not of the input.
 */
function replicaProblems(settings: Settings, key: (k: string) => string): string[] {
    if (settings.replicas <= MIN_REPLICAS) {
        return [];
    }
    const problems: string[] = [];
    const given = `got ${key("replicas")}=${settings.replicas}`;
    if (settings.exposure === "tunnel") {
        problems.push(`${key("replicas")} above 1 and ${key("exposure")}="tunnel" are mutually exclusive: a tunnelled registry is reached through one droplet's SSH, which no balancer can share; ${given}`);
    } else if (settings.tls === "letsencrypt") {
        problems.push(
            `${key("replicas")} above 1 requires ${key("tls")}="private-ca": behind the balancer, Let's Encrypt's validation reaches whichever replica the balancer picks, not the one that asked, ` +
                `so no replica could obtain the certificate; ${given} with ${key("tls")}="letsencrypt" (or "auto" with a ${key("domain")})`,
        );
    }
    return problems;
}
