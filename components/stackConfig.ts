import type { PrivateRegistryArgs } from "./privateRegistryArgs";
import { CONFIG_NAMESPACE, Settings, SettingsError } from "./settings";
import { hintFor, LIST_ITEMS, NUMBER_RANGES, resolveSettings, SettingsInput, shown, USERS_ALLOWED } from "./settingsRules";

/**
 * Stack config in, settings out: each `private-registry:KEY` string parsed into its type, then
 * defaulted and checked by the same validator the component runs on its arguments. Pure.
 */

/** Anything that can look up a config value by key: `pulumi.Config` fits, and so does a Map. */
export interface ConfigSource {
    get(key: string): string | undefined;
}

/**
 * Reads stack config into typed values, then defaults and validates them with the same
 * validator the component uses. Throws one {@link SettingsError} listing every problem, so a
 * user fixes them all in one round.
 *
 * @param config the project's config (`new pulumi.Config()` in the program)
 * @param awsConfig the `aws:` namespace (for `aws:region`)
 * @param env process environment, for the region fallback the AWS provider also honours
 * @param namespace the config namespace the keys are named with in messages (the project name)
 */
export function loadSettings(config: ConfigSource, awsConfig: ConfigSource, env: Record<string, string | undefined> = {}, namespace: string = CONFIG_NAMESPACE): Settings {
    return loadStack(config, awsConfig, env, namespace).settings;
}

/**
 * The component's arguments from stack config, validated: what the program hands to
 * `new PrivateRegistry(...)`. Throws like {@link loadSettings}.
 */
export function loadStackArgs(config: ConfigSource, awsConfig: ConfigSource, env: Record<string, string | undefined> = {}, namespace: string = CONFIG_NAMESPACE): PrivateRegistryArgs {
    const { input, settings } = loadStack(config, awsConfig, env, namespace);
    // The users as validated, so the component gets typed objects, not the raw config.
    return { ...input, awsRegion: settings.storage === "s3" ? settings.awsRegion : undefined, users: input.users === undefined ? undefined : settings.users };
}

function loadStack(config: ConfigSource, awsConfig: ConfigSource, env: Record<string, string | undefined>, namespace: string): { input: SettingsInput; settings: Settings } {
    const parseProblems: string[] = [];
    const key = (k: string) => (k === "awsRegion" ? "aws:region" : `${namespace}:${k}`);
    const str = (k: string): string | undefined => {
        const value = config.get(k);
        return value === undefined || value === "" ? undefined : value;
    };
    const bool = (k: string): boolean | undefined => {
        const value = str(k);
        if (value === undefined || value === "true" || value === "false") {
            return value === undefined ? undefined : value === "true";
        }
        parseProblems.push(`${key(k)} must be true or false; got ${shown(value)}${hintFor(value)}`);
        return undefined;
    };
    const int = (k: keyof typeof NUMBER_RANGES): number | undefined => {
        const value = str(k);
        if (value === undefined || /^-?[0-9]+$/.test(value)) {
            return value === undefined ? undefined : Number(value);
        }
        const [min, max] = NUMBER_RANGES[k];
        parseProblems.push(`${key(k)} must be a whole number from ${min} to ${max}; got ${shown(value)}`);
        return undefined;
    };
    const list = (k: keyof typeof LIST_ITEMS): string[] | undefined => {
        const value = str(k);
        if (value === undefined) {
            return undefined;
        }
        try {
            const parsed: unknown = JSON.parse(value);
            if (Array.isArray(parsed) && parsed.every((item) => typeof item === "string")) {
                return parsed as string[];
            }
        } catch {
            // Reported below, like any other value that is not a list of strings.
        }
        parseProblems.push(`${key(k)} must be a JSON list of ${LIST_ITEMS[k]}; got ${shown(value)}`);
        return undefined;
    };

    // `pulumi config set --path 'users[0].name' ci` stores a structured value, read back as JSON.
    const objects = (k: "users"): unknown[] | undefined => {
        const value = str(k);
        if (value === undefined) {
            return undefined;
        }
        try {
            const parsed: unknown = JSON.parse(value);
            if (Array.isArray(parsed)) {
                return parsed as unknown[];
            }
        } catch {
            // Reported below.
        }
        parseProblems.push(`${key(k)} must be ${USERS_ALLOWED}; got ${shown(value)}`);
        return undefined;
    };

    const storage = str("storage") as SettingsInput["storage"];
    const input: SettingsInput = {
        storage,
        // The environment's region belongs to whatever else the shell does; with Spaces only a
        // stack's own aws:region is a setting to refuse.
        awsRegion: storage === "spaces" ? awsConfig.get("region") : (awsConfig.get("region") ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION),
        exposure: str("exposure") as SettingsInput["exposure"],
        tls: str("tls") as SettingsInput["tls"],
        domain: str("domain"),
        dnsZone: str("dnsZone"),
        letsencryptEmail: str("letsencryptEmail"),
        acmeServer: str("acmeServer"),
        acmeServerCa: str("acmeServerCa"),
        httpsAllowedCidrs: list("httpsAllowedCidrs"),
        sshAllowedCidrs: list("sshAllowedCidrs"),
        extraSshPublicKeys: list("extraSshPublicKeys"),
        bucketName: str("bucketName"),
        forceDestroy: bool("forceDestroy"),
        versioning: bool("versioning"),
        abortIncompleteUploadDays: int("abortIncompleteUploadDays"),
        s3ChunkSizeMb: int("s3ChunkSizeMb"),
        redirectPullsToS3: bool("redirectPullsToS3"),
        dropletRegion: str("dropletRegion"),
        dropletSize: str("dropletSize"),
        dropletImage: str("dropletImage"),
        registryUsername: str("registryUsername"),
        users: objects("users"),
        credentialRotation: int("credentialRotation"),
        registryVersion: str("registryVersion"),
        registryImageDigest: str("registryImageDigest"),
        healthCheckTimeoutSeconds: int("healthCheckTimeoutSeconds"),
        uploadStartsPerUser: int("uploadStartsPerUser"),
        replicas: int("replicas"),
        // Set to "" it turns collection off, which is why it is read without str().
        gcSchedule: config.get("gcSchedule"),
        keepNewestTags: int("keepNewestTags"),
        keepTagsYoungerThanDays: int("keepTagsYoungerThanDays"),
        protectedTags: list("protectedTags"),
        alertEmails: list("alertEmails"),
    };
    const problems = [...parseProblems];
    try {
        const settings = resolveSettings(input, key);
        if (problems.length === 0) {
            return { input, settings };
        }
    } catch (e) {
        if (!(e instanceof SettingsError)) {
            throw e;
        }
        problems.push(...e.problems);
    }
    throw new SettingsError(problems);
}

