import { X509Certificate } from "node:crypto";

/**
 * The stack outputs the live check needs, read from what `pulumi stack output --json
 * --show-secrets` prints. Problems are reported as one {@link OutputsError} naming every missing
 * or malformed key at once, so a CI log says what to fix in one run.
 */

/** Outputs the check cannot run without (index.ts exports each of them). */
export const REQUIRED_OUTPUTS = ["registryHost", "registryUrl", "registryUsername", "registryPassword"] as const;
/** Outputs used when present: the private CA, and `serving` to spot a deploy still waiting for DNS. */
export const OPTIONAL_OUTPUTS = ["caCertificate", "serving"] as const;

/** A login from the `registryUsers` output. */
export interface UserLogin {
    username: string;
    password: string;
}

/** What `pulumi stack output --json` prints for a secret when `--show-secrets` is missing. */
const HIDDEN_SECRET = "[secret]";

export class OutputsError extends Error {}

export interface LiveCheckTarget {
    /** The name in image references, e.g. `203.0.113.7` or `localhost:5000`. */
    registryHost: string;
    /** Where the API is reached: `https://HOST`, or `http://localhost:5000` through the SSH tunnel. */
    registryUrl: URL;
    username: string;
    password: string;
    /** PEM of the private CA; absent for Let's Encrypt and the tunnel. */
    caCertificate?: string;
    /** True for plain HTTP through the SSH tunnel: there is no TLS to check. */
    tunnel: boolean;
    /**
     * The pull-only users not limited to some repositories, from `registryUsers`: each must be
     * able to pull the check's image and be refused a push. Empty when the output is absent.
     */
    pullUsers: UserLogin[];
}

export function parseStackOutputs(text: string): LiveCheckTarget {
    let parsed: unknown;
    try {
        parsed = JSON.parse(text);
    } catch {
        // Not the parser's message: V8 quotes the text around the error, which may be the password.
        const what = text.trim() === "" ? "nothing" : `${text.length} characters that are not JSON`;
        throw new OutputsError(`expected the JSON of \`pulumi stack output --json --show-secrets\`; got ${what}`);
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        // The type only: a single output (`pulumi stack output registryPassword --json`) is a bare secret.
        const type = Array.isArray(parsed) ? "an array" : parsed === null ? "null" : `a ${typeof parsed}`;
        throw new OutputsError(`expected a JSON object of all the stack outputs; got ${type} (ask for all outputs, not one)`);
    }
    const outputs = parsed as Record<string, unknown>;
    const problems: string[] = [];
    const missing = REQUIRED_OUTPUTS.filter((key) => outputs[key] === undefined || outputs[key] === null || outputs[key] === "");
    if (missing.length > 0) {
        const present = Object.keys(outputs).sort();
        problems.push(`missing ${missing.join(", ")} (the outputs hold ${present.length > 0 ? present.join(", ") : "nothing"}; is this the right stack, after a finished \`pulumi up\`?)`);
    }
    for (const key of [...REQUIRED_OUTPUTS, ...OPTIONAL_OUTPUTS]) {
        const value = outputs[key];
        if (value !== undefined && value !== null && typeof value !== "string") {
            problems.push(`${key} must be a string; got ${Array.isArray(value) ? "an array" : typeof value}`);
        }
    }
    if (outputs.registryPassword === HIDDEN_SECRET) {
        problems.push("registryPassword is hidden as \"[secret]\": run `pulumi stack output --json --show-secrets`");
    }
    if (problems.length > 0) {
        throw new OutputsError(problems.join("; "));
    }
    const str = (key: string) => outputs[key] as string;
    const optional = (key: string) => (typeof outputs[key] === "string" && outputs[key] !== "" ? (outputs[key] as string) : undefined);

    // A first `up` with a hand-made DNS record ends before the name resolves: nothing to check yet.
    const serving = optional("serving");
    if (serving?.startsWith("waiting for DNS") === true) {
        throw new OutputsError(`the deploy is not finished: ${serving}`);
    }
    const registryUrl = parseUrl(str("registryUrl"));
    if (registryUrl.host !== str("registryHost")) {
        throw new OutputsError(`registryUrl ${registryUrl.href} does not point at registryHost ${str("registryHost")}, the name images are pushed to`);
    }
    const caCertificate = optional("caCertificate");
    if (caCertificate !== undefined) {
        try {
            new X509Certificate(caCertificate);
        } catch (error) {
            throw new OutputsError(`caCertificate is not a PEM certificate (${(error as Error).message})`);
        }
    }
    return {
        registryHost: str("registryHost"),
        registryUrl,
        username: str("registryUsername"),
        password: str("registryPassword"),
        caCertificate,
        tunnel: registryUrl.protocol === "http:",
        pullUsers: pullUsersOf(outputs.registryUsers),
    };
}

/** The unrestricted pull users of a `registryUsers` output; anything malformed is an error. */
function pullUsersOf(value: unknown): UserLogin[] {
    if (value === undefined || value === null) {
        return [];
    }
    if (value === HIDDEN_SECRET) {
        throw new OutputsError('registryUsers is hidden as "[secret]": run `pulumi stack output --json --show-secrets`');
    }
    if (typeof value !== "object" || Array.isArray(value)) {
        throw new OutputsError(`registryUsers must be an object of users by name; got ${Array.isArray(value) ? "an array" : typeof value}`);
    }
    const users: UserLogin[] = [];
    for (const [name, entry] of Object.entries(value as Record<string, unknown>)) {
        const user = entry as Record<string, unknown> | null;
        if (typeof user !== "object" || user === null || typeof user.username !== "string" || typeof user.password !== "string" || typeof user.role !== "string") {
            throw new OutputsError(`registryUsers.${name} must hold a username, password and role`);
        }
        if (user.role === "pull" && user.repositories === undefined) {
            users.push({ username: user.username, password: user.password });
        }
    }
    return users;
}

function parseUrl(text: string): URL {
    let url: URL;
    try {
        url = new URL(text);
    } catch {
        throw new OutputsError(`registryUrl is not a URL: ${JSON.stringify(text)}`);
    }
    // Credentials in the URL would be a secret in every message below: refuse them without quoting.
    if (url.username !== "" || url.password !== "") {
        throw new OutputsError("registryUrl must not carry credentials (user:password@); the login comes from registryUsername and registryPassword");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
        throw new OutputsError(`registryUrl must be https:// (or http://localhost:5000 through the tunnel); got ${url.protocol}`);
    }
    // Plain HTTP is only the tunnel's loopback end; anything else would send the password in clear.
    if (url.protocol === "http:" && !["localhost", "127.0.0.1", "[::1]"].includes(url.hostname)) {
        throw new OutputsError(`registryUrl ${url.href} is plain HTTP to another machine; only the SSH tunnel's localhost end may be`);
    }
    if (url.pathname !== "/" || url.search !== "" || url.hash !== "") {
        throw new OutputsError(`registryUrl must be a bare origin like https://HOST; got ${url.href}`);
    }
    return url;
}

/** Strings that must never be printed: every password, and the Basic credential built from each. */
export function secretsOf(target: Pick<LiveCheckTarget, "username" | "password"> & { pullUsers?: UserLogin[] }): string[] {
    return [target, ...(target.pullUsers ?? [])].flatMap((login) => [login.password, Buffer.from(`${login.username}:${login.password}`).toString("base64")]);
}
