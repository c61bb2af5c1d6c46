import * as pulumi from "@pulumi/pulumi";
import { ExposureMode, RegistryUser, Settings, SettingsError, StorageKind, TlsMode } from "./settings";
import { resolveSettings, SettingsInput } from "./settingsRules";

/**
 * The PrivateRegistry component's arguments. Defaults match Pulumi.yaml's. The settings that
 * decide which resources exist (`storage`, `exposure`, `tls`, `domain`, `dnsZone`, `forceDestroy`,
 * `alertEmails`, `users`, `credentialRotation`, `acmeServerCa`, `replicas`) are plain
 * values, because Pulumi must know them when the resources are declared; every other one may be
 * an Output.
 */
export interface PrivateRegistryArgs {
    /**
     * Where the layers are stored: `"s3"`, an AWS S3 bucket with its own IAM user, or `"spaces"`, a
     * DigitalOcean Spaces bucket in the droplet's region (or the nearest one with Spaces) with a
     * key limited to it, and nothing in AWS. Default `"s3"`.
     */
    storage?: StorageKind;
    /** AWS region of the bucket, e.g. `us-east-1` (China and GovCloud regions work too). Required with `storage: "s3"`; refused with `"spaces"`. */
    awsRegion?: pulumi.Input<string>;
    /** `"public"`: HTTPS on 443; `"tunnel"`: the droplet's loopback, reached with `ssh -L`. Default `"public"`. */
    exposure?: ExposureMode;
    /** Certificate source in public mode: `"auto"` (Let's Encrypt with a domain, else the private CA), `"letsencrypt"`, `"private-ca"`. Default `"auto"`. */
    tls?: TlsMode;
    /** The registry's DNS name, e.g. `registry.example.com`. Default: none (served on the IP). */
    domain?: string;
    /** A DigitalOcean DNS zone in which to create the A record for `domain`. Default: none (DNS is yours). */
    dnsZone?: string;
    /** ACME account e-mail; with it the front falls back to ZeroSSL when Let's Encrypt refuses. Default: none (Let's Encrypt only). */
    letsencryptEmail?: pulumi.Input<string>;
    /**
     * With tls=letsencrypt: the https URL of the one ACME directory to ask instead, with no
     * ZeroSSL fallback (ZeroSSL itself, a step-ca, a test CA). Default: none (Let's Encrypt).
     */
    acmeServer?: pulumi.Input<string>;
    /**
     * PEM certificates of `acmeServer`'s CA when the system's roots do not cover it: the front
     * trusts them for the directory, and the deploy's checks verify the issued certificate
     * against them. A plain value: it decides whether an uptime check can judge the certificate.
     * Default: none.
     */
    acmeServerCa?: string;
    /** CIDRs allowed to reach 443; must include 0.0.0.0/0 with Let's Encrypt. Default `["0.0.0.0/0"]`: no record of this program's names the droplet's IPv6 address. */
    httpsAllowedCidrs?: pulumi.Input<string[]>;
    /** CIDRs allowed to reach SSH; the machine running `pulumi up` must be inside. Default `["0.0.0.0/0", "::/0"]`. */
    sshAllowedCidrs?: pulumi.Input<string[]>;
    /** OpenSSH public keys that may also log in as root. Default `[]`. */
    extraSshPublicKeys?: pulumi.Input<string[]>;
    /** Exact S3 bucket name. Default: a generated unique name. */
    bucketName?: pulumi.Input<string>;
    /** Delete the bucket and every image in it on destroy. Default `false`. */
    forceDestroy?: boolean;
    /** Keep previous object versions for 30 days. Default `false`. */
    versioning?: pulumi.Input<boolean>;
    /** Days after which S3 aborts unfinished multipart uploads (1-365). Default `1`. */
    abortIncompleteUploadDays?: pulumi.Input<number>;
    /** S3 multipart part size in MiB (5-15): each upload in flight holds about two parts of the registry's memory. Default `5`. */
    s3ChunkSizeMb?: pulumi.Input<number>;
    /** Answer blob pulls with a redirect to a presigned S3 URL. Default `true`. */
    redirectPullsToS3?: pulumi.Input<boolean>;
    /** DigitalOcean region slug. Default `"nyc3"`. */
    dropletRegion?: pulumi.Input<string>;
    /** Droplet size slug, with a disk of 25 GB or more. Default `"s-1vcpu-1gb"`. */
    dropletSize?: pulumi.Input<string>;
    /** Image slug of the Docker 1-click. Default `"docker-22-04"`. */
    dropletImage?: pulumi.Input<string>;
    /**
     * Droplets serving the registry (1-10). Above 1 they stand behind a DigitalOcean load balancer
     * that passes TLS through, share one bucket, key pair, upload secret and set of logins, and
     * are updated one at a time; the first collects garbage while the others hold still. It needs
     * `tls: "private-ca"`. Default `1`.
     */
    replicas?: number;
    /** The push user's name when `users` is not given; its password is generated. Default `"ci"`. */
    registryUsername?: pulumi.Input<string>;
    /**
     * The logins, each with a generated password: `push` users may pull, push and delete, `pull`
     * users only pull; `repositories` limits a user to some repositories. The first push user is
     * the one the `registryPassword` and `dockerConfigJson` outputs name. Mutually exclusive with
     * `registryUsername`. Default `[]`: a push user `registryUsername` and a pull user `deploy`.
     */
    users?: RegistryUser[];
    /**
     * Raise by one to issue every user a new password and the registry a new storage key (S3 or Spaces) on the
     * next `pulumi up`; the old key is deleted only after the registry runs with the new one (0-1000000). Default `0`.
     */
    credentialRotation?: number;
    /** Exact CNCF Distribution 3.x release. Default: the pinned release. */
    registryVersion?: pulumi.Input<string>;
    /** sha256 digest pinning the image beyond its tag. Default: the pinned release's known digest. */
    registryImageDigest?: pulumi.Input<string>;
    /** Seconds the deploy waits for the registry to prove it serves (30-1800). Default `300`. */
    healthCheckTimeoutSeconds?: pulumi.Input<number>;
    /**
     * Upload starts each push user may make within 14 hours (10-1000000); more get 429
     * TOOMANYREQUESTS until the oldest age out. Bounds the abandoned uploads one user can leave
     * for `_catalog` to list. Default `1000`.
     */
    uploadStartsPerUser?: pulumi.Input<number>;
    /** When retention and garbage collection run: a systemd calendar time in UTC; "" turns it off. Default `"Sun *-*-* 03:00:00"`. */
    gcSchedule?: pulumi.Input<string>;
    /** Tag retention: keep the N newest tags of each repository; 0 turns the rule off. Default `0`. */
    keepNewestTags?: pulumi.Input<number>;
    /** Tag retention: keep tags whose image is younger than this many days; 0 turns the rule off. Default `0`. */
    keepTagsYoungerThanDays?: pulumi.Input<number>;
    /** Tag retention: Lua patterns of tags always kept. Default `[]`. */
    protectedTags?: pulumi.Input<string[]>;
    /** Team e-mail addresses for the droplet's and registry's alerts; empty creates none. Default `[]`. */
    alertEmails?: string[];
}

const STRUCTURAL = ["storage", "exposure", "tls", "domain", "dnsZone", "forceDestroy", "alertEmails", "users", "credentialRotation", "acmeServerCa", "replicas"] as const;

/** Settings as the component uses them: plain where known now, Outputs where they are not. */
export interface ResolvedArgs {
    /** Validated now, with defaults in place of values not yet known (never used for those). */
    known: Settings;
    /** A setting's value: the plain one, or an Output validated by the same rules once known. */
    value<K extends keyof Settings>(key: K): pulumi.Input<Settings[K]>;
    /** Every setting, validated once all are known. */
    all: pulumi.Output<Settings>;
}

function isPending(value: unknown): boolean {
    return pulumi.Output.isInstance(value) || value instanceof Promise;
}

/**
 * Runs the one validator on the arguments: at once on every value already known, so a bad one
 * stops the deploy before any resource is declared; and again on the whole set when Outputs
 * resolve, failing the resources that would use a bad value.
 */
export function resolveArgs(name: string, args: PrivateRegistryArgs): ResolvedArgs {
    const known: Record<string, unknown> = {};
    const pending: Record<string, pulumi.Input<unknown>> = {};
    for (const [key, value] of Object.entries(args)) {
        if (!isPending(value)) {
            known[key] = value;
        } else if ((STRUCTURAL as readonly string[]).includes(key)) {
            throw new pulumi.RunError(`PrivateRegistry "${name}": ${key} must be a plain value, not an Output: it decides which resources are declared`);
        } else {
            pending[key] = value;
        }
    }
    const validate = (input: SettingsInput, header: string): Settings => {
        try {
            return resolveSettings(input, (key) => key, header);
        } catch (e) {
            // A RunError prints its message once, without a stack trace.
            throw e instanceof SettingsError ? new pulumi.RunError(e.message) : e;
        }
    };
    // A region not yet known stands in as a valid one for the checks that can run now.
    // A schedule not yet known stands in as none, which every combination allows; the whole set's
    // check judges the real one.
    const placeholders: SettingsInput = {
        ...("awsRegion" in pending && known.storage !== "spaces" ? { awsRegion: "us-east-1" } : {}),
        ...("gcSchedule" in pending ? { gcSchedule: "" } : {}),
    };
    const settings = validate({ ...(known as SettingsInput), ...placeholders }, `PrivateRegistry "${name}": invalid arguments (nothing was created):`);
    if (Object.keys(pending).length === 0) {
        return { known: settings, value: (key) => settings[key], all: pulumi.output(settings) };
    }
    const whole = pulumi.all(pending).apply((values) => validate({ ...(known as SettingsInput), ...(values as SettingsInput) }, `PrivateRegistry "${name}": invalid arguments:`));
    // Derived settings follow the inputs they come from.
    const derivedFrom: Partial<Record<keyof Settings, string>> = { awsPartition: "awsRegion", spacesRegion: "dropletRegion", registryImageDigest: "registryVersion" };
    return {
        known: settings,
        all: whole,
        value: (key) => (key in pending || (derivedFrom[key] ?? "") in pending ? whole.apply((s) => s[key]) : settings[key]),
    };
}
