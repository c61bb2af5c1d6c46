import { stringify } from "yaml";
import { REGBOT_IMAGE } from "../versions";
import { RETENTION_LUA } from "./retentionScript";

/**
 * Renders tag retention for regclient's `regbot` (REGCLIENT_VERSION in versions.ts): its config
 * file, whose one Lua script lists every repository (`_catalog`) and its tags, decides which to
 * keep, and deletes the others by tag; plus the command line. Pure: values in, text out.
 *
 * A tag is kept when ANY rule keeps it: one of the `keepNewest` newest of its repository, created
 * less than `keepYoungerThanDays` days ago, or matching a `protectPatterns` entry. With no rule
 * set nothing is deleted (and nothing is asked of the registry). Deleting a tag only untags: the
 * manifest and its blobs stay until garbage collection removes what no tag references.
 *
 * Age comes from the image config's `created` (OCI image-spec; docker, buildkit and podman set it
 * at build time), one small blob per tag. For an index, the image of the running machine's
 * platform counts. A tag whose age a rule needs but whose image has no usable `created` (absent,
 * unparsable, before 2000 as reproducible builds write, or more than a day ahead) is kept and not
 * ranked, so missing data never causes a deletion.
 *
 * Signatures, attestations and other artefacts follow the image they are attached to. Distribution
 * v3.1.2 has no referrers API, so clients keep them under fallback tags that name the image's
 * digest: the OCI referrers tag schema's `sha256-<hex>` (an index listing the artefacts, kept
 * by clients on oras-go, such as oras, and on go-containerregistry: oras-go v2
 * registry/remote/repository.go updateReferrersIndex, go-containerregistry pkg/v1/remote/write.go
 * commitSubjectReferrers; distribution-spec spec.md "Referrers Tag Schema") and cosign's
 * `sha256-<hex>.sig`, `.att`, `.sbom` (sigstore/cosign pkg/oci/remote/remote.go). Such a tag
 * (`<alg>-<64 or 128 hex>`, optionally `.<word>`) is not an image: it is never ranked or aged,
 * takes no `keepNewest` place, and is kept exactly when the digest it names is held by a kept
 * tag: the manifest a kept tag points to, or an entry of a kept index (an artefact attached to
 * one platform's image). A kept fallback tag holds in turn what it points to and the artefacts
 * its index lists, so an artefact of an artefact (a signed SBOM) stays with it; one digest under
 * several tags is held while any of them is kept. Otherwise it is deleted with the image, and the
 * collection then takes the artefacts, which nothing else references. Two exceptions keep it: a
 * `protectPatterns` entry that matches the fallback tag itself, and an unreadable tag in the same
 * repository (it could be the image named). A `sha256-<hex>` tag on the manifest of that very
 * digest is an image under an odd name and is treated as one. Not covered: cosign's
 * `--attachment-tag-prefix` tags (they rank as images), and an artefact pushed with a `subject`
 * but no fallback tag (a client told the registry has a referrers API): garbage collection
 * (`--delete-untagged`) deletes it at the next run whatever retention keeps, since it marks only
 * what tags reach (registry/storage/garbagecollect.go MarkAndSweep; an OCI manifest's
 * References() are its config and layers, not its subject: manifest/ocischema/manifest.go).
 *
 * Patterns are Lua patterns, because regbot's scripts run in gopher-lua, whose only matcher they
 * are (an RE2 regex cannot be evaluated there). Lua patterns have no alternation, so the rule is
 * a list; each entry must match the whole tag. Only a safe subset is accepted (see
 * {@link luaPatternProblem}); the script compiles every pattern again before its first request.
 *
 * The password is never rendered: regbot reads it at run time from `files.password` through
 * its `{{file "…"}}` template, so the config can be logged and shown.
 */

export interface RetentionRules {
    /** Keep the N newest tags of each repository (ties at the Nth place are all kept). */
    keepNewest?: number;
    /** Keep tags whose image was created less than this many days ago. */
    keepYoungerThanDays?: number;
    /** Keep tags matching any of these Lua patterns (whole tag), whatever their age. */
    protectPatterns?: readonly string[];
}

export interface RetentionInput {
    /** `host[:port]` the tool connects to; also the registry part of the image references. */
    registryHost: string;
    username: string;
    /** Never given here: the password stays in `files.password`. */
    password?: never;
    /** Absolute paths as the tool sees them: where the config is written, and the password file. */
    files: { config: string; password: string };
    rules: RetentionRules;
    /** `caFile`: a PEM CA to trust (private CA). `plainHttpLoopback`: plain HTTP, for a registry on loopback only (tunnel mode). */
    tls: { caFile?: string; plainHttpLoopback?: boolean };
    /** Log the plan, delete nothing: the script skips its deletes and regbot gets --dry-run too. */
    dryRun: boolean;
}

export interface RenderedRetention {
    /** regbot's config file (YAML with the Lua script); holds no secret. */
    config: string;
    /** Arguments after the `regbot` binary: `once --config FILE [--dry-run]`. */
    args: string[];
    /** False when no rule is set: the run keeps every tag without a single registry request. */
    active: boolean;
}

/** Where {@link renderRetentionContainer} mounts the files inside the container. */
export const RETENTION_CONTAINER_FILES = {
    config: "/etc/regbot/retention.yml",
    password: "/run/secrets/registry-password",
    ca: "/etc/regbot/ca.crt",
} as const;

/** Bounds the run; regbot cancels the script (and its pending request) after this long. */
export const RETENTION_TIMEOUT = "1h";
const SCRIPT_NAME = "tag-retention";
const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const HOST = new RegExp(`^(${LABEL}(?:\\.${LABEL})*|\\[[0-9a-f:.]+\\])(?::([0-9]{1,5}))?$`);
/** Safe in YAML, in `{{file "…"}}` templates and in `docker run -v SRC:DST:ro`. */
const PATH = /^\/[A-Za-z0-9._/-]+$/;
const IMAGE = /^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$/;

/** Lua's `%` classes (letters, digits, lower, upper, alphanumerics, hex; capitals negate) and escapable tag characters. */
const CLASS_LETTERS = "adluwxADLUWX";
const ESCAPABLE = ".-_";
const WORD = /^[A-Za-z0-9_]$/;

/** Why `pattern` is not in the accepted subset of Lua patterns, or undefined when it is. */
export function luaPatternProblem(pattern: string): string | undefined {
    if (pattern.length === 0 || pattern.length > 128) {
        return "must be 1 to 128 characters";
    }
    // Regex habits first: their message says what to write instead.
    if (pattern.includes("\\")) {
        return 'has "\\": Lua patterns escape with %, e.g. %. for a dot, %d for a digit';
    }
    if (/[|()]/.test(pattern)) {
        return "has a group or |: Lua patterns have neither; give each alternative as its own pattern";
    }
    if (/[{}]/.test(pattern)) {
        return "has {n,m}: Lua patterns have no counts; repeat the item, or use + or *";
    }
    let i = pattern.startsWith("^") ? 1 : 0;
    const end = pattern.length > i && pattern.endsWith("$") ? pattern.length - 1 : pattern.length;
    if (i >= end) {
        return "matches no tag";
    }
    const escape = (at: number): string | undefined => {
        const next = pattern[at + 1];
        if (at + 1 >= end || next === undefined) {
            return "ends with a lone %";
        }
        return CLASS_LETTERS.includes(next) || ESCAPABLE.includes(next) ? undefined : `has %${next}; allowed: %a %d %l %u %w %x (capitals negate) and %. %- %_`;
    };
    let repeatable = false;
    while (i < end) {
        const c = pattern[i];
        if (c === "%") {
            const problem = escape(i);
            if (problem !== undefined) {
                return problem;
            }
            i += 2;
        } else if (c === "[") {
            i += pattern[i + 1] === "^" ? 2 : 1;
            const start = i;
            while (i < end && pattern[i] !== "]") {
                if (pattern[i] === "%") {
                    const problem = escape(i);
                    if (problem !== undefined) {
                        return problem;
                    }
                    i += 2;
                } else if (WORD.test(pattern[i]) || pattern[i] === ".") {
                    if (pattern[i + 1] === "-" && pattern[i + 2] !== "]" && i + 2 < end) {
                        if (!WORD.test(pattern[i + 2]) || pattern[i + 2] < pattern[i]) {
                            return `has the range ${pattern.slice(i, i + 3)}; a range joins two letters or digits in order`;
                        }
                        i += 3;
                    } else {
                        i += 1;
                    }
                } else {
                    return `has ${JSON.stringify(pattern[i])} in a [set]; write %- for a hyphen, or letters, digits, _ . and % classes`;
                }
            }
            if (i >= end) {
                return "has a [ without its ]";
            }
            if (i === start) {
                return "has an empty []";
            }
            i += 1;
        } else if (c === "-") {
            return 'has a bare "-", which Lua reads as a repeat; write %- for a hyphen';
        } else if ("*+?".includes(c)) {
            if (!repeatable) {
                return `has ${c} with nothing before it to repeat`;
            }
            repeatable = false;
            i += 1;
            continue;
        } else if (WORD.test(c) || c === ".") {
            i += 1;
        } else {
            return `has ${JSON.stringify(c)}; tags hold only letters, digits, _ . and -, and ^ and $ anchor only at the ends`;
        }
        repeatable = true;
    }
    return undefined;
}

/** The pattern anchored at both ends, so it must match the whole tag (regbot's string.find does not anchor). */
export function anchoredPattern(pattern: string): string {
    const core = pattern.replace(/^\^/, "").replace(/\$$/, "");
    return `^${core}$`;
}

function isLoopback(host: string): boolean {
    return host === "localhost" || host === "[::1]" || /^127\.[0-9]+\.[0-9]+\.[0-9]+$/.test(host);
}

function problemsOf(input: RetentionInput): string[] {
    const problems: string[] = [];
    const host = HOST.exec(input.registryHost);
    const port = host?.[2] === undefined ? undefined : Number(host[2]);
    if (host === null || (port !== undefined && (port < 1 || port > 65535))) {
        problems.push(`registryHost must be host[:port] in lower case (a DNS name, an IPv4 address or [IPv6]); got ${JSON.stringify(input.registryHost)}`);
    } else if (port === undefined && !host[1].includes(".") && !host[1].startsWith("[") && host[1] !== "localhost") {
        // A bare single name would be read as a Docker Hub namespace in image references.
        problems.push(`registryHost ${JSON.stringify(input.registryHost)} needs a dot or a port, or it names a Docker Hub namespace`);
    }
    if ((input as { password?: unknown }).password !== undefined) {
        problems.push("password must not be given: regbot reads it from files.password at run time, so it is never rendered");
    }
    if (!USERNAME.test(input.username)) {
        problems.push(`username must match ${USERNAME}; got ${JSON.stringify(input.username)}`);
    }
    const paths: [string, string | undefined][] = [["files.config", input.files.config], ["files.password", input.files.password], ["tls.caFile", input.tls.caFile]];
    for (const [name, value] of paths) {
        if (value !== undefined && (!PATH.test(value) || value.split("/").includes(".."))) {
            problems.push(`${name} must be an absolute path of letters, digits, . _ - and /; got ${JSON.stringify(value)}`);
        }
    }
    if (input.tls.plainHttpLoopback === true) {
        if (input.tls.caFile !== undefined) {
            problems.push("tls.plainHttpLoopback and tls.caFile exclude each other");
        }
        if (host !== null && !isLoopback(host[1])) {
            problems.push(`tls.plainHttpLoopback is for a registry on loopback only; ${JSON.stringify(input.registryHost)} is not`);
        }
    }
    if (typeof input.dryRun !== "boolean") {
        problems.push(`dryRun must be true or false; got ${JSON.stringify(input.dryRun)}`);
    }
    return [...problems, ...ruleProblems(input.rules)];
}

function ruleProblems(rules: RetentionRules): string[] {
    const problems: string[] = [];
    const known = ["keepNewest", "keepYoungerThanDays", "protectPatterns"];
    for (const key of Object.keys(rules)) {
        if (!known.includes(key)) {
            problems.push(`${key} is not a retention rule (rules: ${known.join(", ")})`);
        }
    }
    const positive = (name: string, value: unknown, max: number) => {
        if (value !== undefined && !(Number.isInteger(value) && (value as number) >= 1 && (value as number) <= max)) {
            problems.push(`${name} must be a whole number from 1 to ${max}; got ${JSON.stringify(value) ?? String(value)}`);
        }
    };
    positive("keepNewest", rules.keepNewest, 100_000);
    positive("keepYoungerThanDays", rules.keepYoungerThanDays, 36_500);
    const patterns: unknown = rules.protectPatterns;
    if (patterns !== undefined && (!Array.isArray(patterns) || patterns.length > 50)) {
        problems.push("protectPatterns must be a list of at most 50 Lua patterns");
    } else {
        for (const [index, pattern] of (patterns ?? []).entries()) {
            const problem = typeof pattern === "string" ? luaPatternProblem(pattern) : "must be a string";
            if (problem !== undefined) {
                problems.push(`protectPatterns[${index}] ${JSON.stringify(pattern)} ${problem}`);
            }
        }
    }
    return problems;
}

/** A Lua string literal: everything but plain printable ASCII as a 3-digit decimal escape. */
function luaString(value: string): string {
    const bytes = Array.from(Buffer.from(value, "utf8"), (b) =>
        b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c ? String.fromCharCode(b) : `\\${String(b).padStart(3, "0")}`,
    );
    return `"${bytes.join("")}"`;
}

export function renderRetention(input: RetentionInput): RenderedRetention {
    const problems = problemsOf(input);
    if (problems.length > 0) {
        throw new Error(`invalid tag retention input:\n  - ${problems.join("\n  - ")}`);
    }
    const { keepNewest, keepYoungerThanDays } = input.rules;
    const protect = (input.rules.protectPatterns ?? []).map(anchoredPattern);
    const header = [
        "-- Tag retention, rendered by components/render/retention.ts.",
        `local host = ${luaString(input.registryHost)}`,
        `local keepNewest = ${keepNewest ?? "nil"}`,
        `local keepYoungerThanDays = ${keepYoungerThanDays ?? "nil"}`,
        `local protect = {${protect.length > 0 ? ` ${protect.map(luaString).join(", ")} ` : ""}}`,
        `local dryRun = ${input.dryRun}`,
    ];
    const cred: Record<string, unknown> = {
        registry: input.registryHost,
        user: input.username,
        pass: `{{file "${input.files.password}"}}`,
        tls: input.tls.plainHttpLoopback === true ? "disabled" : "enabled",
    };
    if (input.tls.caFile !== undefined) {
        cred.regcert = `{{file "${input.tls.caFile}"}}`;
    }
    const config = {
        version: 1,
        creds: [cred],
        // Only the login above: no ~/.docker/config.json or certs.d of whoever runs it.
        defaults: { skipDockerConfig: true, parallel: 1, timeout: RETENTION_TIMEOUT },
        scripts: [{ name: SCRIPT_NAME, script: `${header.join("\n")}\n${RETENTION_LUA}` }],
    };
    const args = ["once", "--config", input.files.config, ...(input.dryRun ? ["--dry-run"] : [])];
    const active = keepNewest !== undefined || keepYoungerThanDays !== undefined || protect.length > 0;
    return { config: stringify(config, { lineWidth: 0 }), args, active };
}

/**
 * The same, to run from the official image on the droplet: the config refers to the files where
 * they are mounted (read-only), and `dockerArgs` follow `docker`. `files` and `tls.caFile` in
 * `input` are the host's paths. Host networking, so `registryHost` means what it means on the host.
 */
export function renderRetentionContainer(input: RetentionInput, image: string = REGBOT_IMAGE): RenderedRetention & { dockerArgs: string[] } {
    if (!IMAGE.test(image)) {
        throw new Error(`invalid tag retention input:\n  - image must be a lower-case reference like ${REGBOT_IMAGE}; got ${JSON.stringify(image)}`);
    }
    renderRetention(input); // validates the host's paths too
    const C = RETENTION_CONTAINER_FILES;
    const inner = renderRetention({
        ...input,
        files: { config: C.config, password: C.password },
        tls: { ...input.tls, caFile: input.tls.caFile === undefined ? undefined : C.ca },
    });
    const mounts = [`${input.files.config}:${C.config}:ro`, `${input.files.password}:${C.password}:ro`];
    if (input.tls.caFile !== undefined) {
        mounts.push(`${input.tls.caFile}:${C.ca}:ro`);
    }
    const dockerArgs = [
        "run", "--rm", "--network", "host", "--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        // The image's user (uid 1000) cannot read the root-owned 0600 secret files; root without capabilities can.
        "--user", "0:0",
        ...mounts.flatMap((m) => ["-v", m]),
        image,
        ...inner.args,
    ];
    return { ...inner, dockerArgs };
}
