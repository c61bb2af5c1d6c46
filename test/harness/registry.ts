import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { BCRYPT_SALT_ALPHABET, BCRYPT_SALT_LENGTH, renderHtpasswd } from "../../components/render/htpasswd";
import { deploymentParts, renderDeployment, type Deployment, type DeploymentInput, type DeploymentUser } from "../../components/render/deployment";
import { renderRegistryConfig, type RegistryConfigInput } from "../../components/render/registryConfig";
import { REGISTRY_CONTAINER_ENV } from "../../components/render/scripts";
import { DEFAULTS } from "../../components/settings";
import { registryImageReference, REGISTRY_VERSION } from "../../components/versions";
import { request, type HttpResponse } from "./http";
import { freePort, isListening, LOOPBACK } from "./ports";
import type { ProcessTracker, TrackedProcess } from "./processes";
import type { TestCertificates } from "./tls";
import { cachedBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * The real `registry` binary (built from the pinned version) serving the program's own
 * config.yml and htpasswd on 127.0.0.1: plain HTTP, as on the droplet's loopback, where the
 * front (front.ts) is its one client.
 *
 * {@link programConfigInput} is the `RegistryConfigInput` the program's `deploymentParts`
 * builds for a private-CA deploy with the program's defaults (components/settings.ts), the same
 * step `renderDeployment` renders config.yml from. {@link rehearsalConfigInput} then swaps only
 * what cannot be the same on loopback: the S3 endpoint and path-style addressing, the listen
 * addresses, and (for a registry running on the host rather than in its container) the
 * htpasswd path.
 */

export type { RegistryConfigInput };

/** Where the registry stores: an S3 endpoint plus the bucket and credentials it signs with. */
export interface S3Target {
    endpoint: string;
    region: string;
    bucket: string;
    accessKey: string;
    secretKey: string;
}

export interface RegistryLogin {
    username: string;
    password: string;
}

/** A login like the program's (32 alphanumeric characters), its bcrypt salt, and its htpasswd line (the program's renderer). */
export interface GeneratedLogin extends RegistryLogin {
    salt: string;
    htpasswd: string;
}

/** One character of `alphabet` per byte. */
function charactersOf(bytes: Uint8Array, alphabet: string): string {
    return Array.from(bytes, (b) => alphabet[b % alphabet.length]).join("");
}

export function generateLogin(username: string = DEFAULTS.registryUsername): GeneratedLogin {
    const password = randomBytes(48).toString("base64").replace(/[^A-Za-z0-9]/g, "").slice(0, 32);
    const salt = charactersOf(randomBytes(BCRYPT_SALT_LENGTH), BCRYPT_SALT_ALPHABET);
    return { username, password, salt, htpasswd: renderHtpasswd({ username, password, salt }) };
}

export interface ProgramDeploymentParams {
    /** Bucket, region and credentials (the endpoint is ignored: the program targets AWS). */
    s3: S3Target;
    login: GeneratedLogin;
    httpSecret: string;
    /** The front's login to the registry; default: {@link upstreamLoginFor} the httpSecret. */
    upstreamLogin?: DeploymentInput["upstreamLogin"];
    /** The private-CA material the program would generate with @pulumi/tls. */
    certs: TestCertificates;
    /** The name clients use (the health check's URL host). Default 127.0.0.1. */
    hostname?: string;
    /** Default: the program's default (`redirectPullsToS3`). */
    redirect?: boolean;
    /** Logins besides `login`, which is the first push user. */
    moreUsers?: DeploymentUser[];
    healthTimeoutSeconds?: number;
    /** Default "private-ca" (with `certs`); "none" is the SSH-tunnel deploy (plain HTTP on loopback). */
    tls?: "private-ca" | "none";
    /** Default "s3"; with "spaces", `s3.region` is the Spaces region. */
    storage?: DeploymentInput["storage"];
}

/** Everything the program renders for the droplet (`renderDeployment`), for a private-CA deploy with the program's defaults. */
export function programDeployment(p: ProgramDeploymentParams): Deployment {
    return renderDeployment(programDeploymentInput(p));
}

/** The program's `renderDeployment` input for a private-CA deploy with its defaults. */
export function programDeploymentInput(p: ProgramDeploymentParams): DeploymentInput {
    return {
        // By tag only, where the program also pins the official index digest: the rehearsal's
        // image is built here from the same release's binary, so that digest cannot match it.
        image: registryImageReference(REGISTRY_VERSION),
        storage: p.storage ?? "s3",
        bucket: p.s3.bucket,
        region: p.s3.region,
        accessKeyId: p.s3.accessKey,
        secretAccessKey: p.s3.secretKey,
        chunkSizeMb: DEFAULTS.s3ChunkSizeMb,
        redirect: p.redirect ?? DEFAULTS.redirectPullsToS3,
        users: [{ name: p.login.username, role: "push", password: p.login.password, salt: p.login.salt }, ...(p.moreUsers ?? [])],
        httpSecret: p.httpSecret,
        upstreamLogin: p.upstreamLogin ?? upstreamLoginFor(p.httpSecret),
        tls:
            p.tls === "none"
                ? { kind: "none" }
                : {
                      kind: "private-ca",
                      hostname: p.hostname ?? LOOPBACK,
                      certificate: fs.readFileSync(p.certs.certFile, "utf8"),
                      privateKey: fs.readFileSync(p.certs.keyFile, "utf8"),
                      caCertificate: p.certs.caCertPem,
                  },
        healthTimeoutSeconds: p.healthTimeoutSeconds ?? DEFAULTS.healthCheckTimeoutSeconds,
    };
}

/**
 * A front-to-registry login derived from the stack's httpSecret: like the program's, it stays the
 * same across ups (and rotations) for as long as the stack does.
 */
export function upstreamLoginFor(httpSecret: string): DeploymentInput["upstreamLogin"] {
    const derive = (purpose: string, alphabet: string, length: number) =>
        charactersOf(createHash("sha256").update(`${purpose}\0${httpSecret}`).digest().subarray(0, length), alphabet);
    return {
        password: derive("upstream-password", "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", 32),
        salt: derive("upstream-salt", BCRYPT_SALT_ALPHABET, BCRYPT_SALT_LENGTH),
    };
}

/** The `RegistryConfigInput` behind the program's config.yml (private CA, program defaults). */
export function programConfigInput(p: Omit<ProgramDeploymentParams, "login" | "healthTimeoutSeconds">): RegistryConfigInput {
    return deploymentParts(programDeploymentInput({ ...p, login: generateLogin() })).config;
}

export interface RehearsalSwaps {
    /** The S3 server's URL, in place of the program's AWS `regionendpoint`. Path-style is switched on with it. */
    s3Endpoint: string;
    /** Listen address (`http.addr`), e.g. `127.0.0.1:PORT`; omit to keep the program's. */
    addr?: string;
    /** Debug server address (`http.debug.addr`); omit to keep the program's. */
    debugAddr?: string;
    /** htpasswd path, for a registry running outside its container. */
    htpasswdPath?: string;
}

/** A regional AWS S3 endpoint, as the program renders it (`https://s3.REGION.amazonaws.com[.cn]`). */
const AWS_S3_ENDPOINT = /^https:\/\/s3\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/;

/** A Spaces region's endpoint, as components/render/spaces.ts renders it (`https://REGION.digitaloceanspaces.com`). */
const SPACES_ENDPOINT = /^https:\/\/[a-z0-9]+\.digitaloceanspaces\.com$/;

/** The program's config input with only the rehearsal's swaps applied. */
export function rehearsalConfigInput(program: RegistryConfigInput, swaps: RehearsalSwaps): RegistryConfigInput {
    // Only an AWS or Spaces endpoint (or none, the driver's own AWS default) may be swapped for the stand-in's.
    const endpoint = program.storage.kind === "s3" ? program.storage.regionEndpoint : undefined;
    if (program.storage.kind !== "s3" || !(endpoint === undefined || AWS_S3_ENDPOINT.test(endpoint) || SPACES_ENDPOINT.test(endpoint))) {
        throw new Error(`expected the program's S3 storage on AWS or Spaces; got ${JSON.stringify(program.storage.kind === "s3" ? program.storage.regionEndpoint : program.storage.kind)}`);
    }
    return {
        ...program,
        storage: { ...program.storage, regionEndpoint: swaps.s3Endpoint, forcePathStyle: true },
        http: {
            ...program.http,
            addr: swaps.addr ?? program.http.addr,
            debugAddr: swaps.debugAddr ?? program.http.debugAddr,
        },
        auth: { ...program.auth, htpasswdPath: swaps.htpasswdPath ?? program.auth.htpasswdPath },
    };
}

export interface LocalRegistryOptions {
    /** Directory for config.yml, htpasswd and the log (created). */
    dir: string;
    /** The bucket and credentials (pass wrong ones to test failures). */
    s3: S3Target;
    /** The private CA's material, for the program's input (the registry itself serves plain HTTP). */
    certs: TestCertificates;
    /** The program's config input, before the swaps; default: {@link programConfigInput} of these options. */
    program?: RegistryConfigInput;
    /** Default: a fresh {@link generateLogin}. The htpasswd is written as given (one line or several). */
    login?: RegistryLogin & { htpasswd: string };
    httpSecret?: string;
    port?: number;
    debugPort?: number;
    /** Redirect blob pulls to presigned S3 URLs; default: the program's default (true). */
    redirect?: boolean;
    /**
     * A last change to the config input after the rehearsal swaps (e.g. a benchmark's chunk
     * size). Tests of the program's behaviour should not need it.
     */
    configure?: (input: RegistryConfigInput) => RegistryConfigInput;
    /**
     * Do not write the htpasswd file (to observe what the registry does without one: it invents
     * a user and prints its password, which the program's start script must prevent).
     */
    omitHtpasswd?: boolean;
    /** Default "ready" (/v2/ answers 401). "listening": only the port is open. "none": do not wait. */
    waitFor?: "ready" | "listening" | "none";
}

/** Environment for the registry: no AWS_* (AWS_CA_BUNDLE makes the S3 driver panic), plus the container's own (REGISTRY_CONTAINER_ENV). */
export function registryEnvironment(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
        if (!name.startsWith("AWS_")) {
            env[name] = value;
        }
    }
    // The same environment the start script gives the container.
    Object.assign(env, REGISTRY_CONTAINER_ENV);
    return env;
}

export class LocalRegistry {
    readonly configFile: string;
    readonly htpasswdFile: string;
    readonly logFile: string;
    readonly login: RegistryLogin;
    readonly httpSecret: string;
    /** The config input the registry runs: the program's, with the rehearsal swaps (and `configure`). */
    readonly configInput: RegistryConfigInput;

    private proc: TrackedProcess | undefined;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly dir: string,
        readonly port: number,
        readonly debugPort: number,
        readonly certs: TestCertificates,
        options: LocalRegistryOptions,
    ) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.configFile = path.join(dir, "config.yml");
        this.htpasswdFile = path.join(dir, "htpasswd");
        this.logFile = path.join(dir, "registry.log");
        const login = options.login ?? generateLogin();
        this.login = { username: login.username, password: login.password };
        this.httpSecret = options.program?.http.secret ?? options.httpSecret ?? randomBytes(36).toString("base64url");
        const program = options.program ?? programConfigInput({ s3: options.s3, httpSecret: this.httpSecret, certs, redirect: options.redirect });
        const swapped = rehearsalConfigInput(program, {
            s3Endpoint: options.s3.endpoint,
            addr: `${LOOPBACK}:${port}`,
            debugAddr: `${LOOPBACK}:${debugPort}`,
            htpasswdPath: this.htpasswdFile,
        });
        this.configInput = options.configure ? options.configure(swapped) : swapped;
        fs.writeFileSync(this.configFile, renderRegistryConfig(this.configInput), { mode: 0o600 });
        if (options.omitHtpasswd !== true) {
            fs.writeFileSync(this.htpasswdFile, login.htpasswd, { mode: 0o600 });
        }
    }

    /** Renders the files, starts `registry serve config.yml` and (by default) waits for /v2/ to answer 401. */
    static async start(tracker: ProcessTracker, options: LocalRegistryOptions): Promise<LocalRegistry> {
        const registry = new LocalRegistry(
            tracker,
            options.dir,
            options.port ?? (await freePort()),
            options.debugPort ?? (await freePort()),
            options.certs,
            options,
        );
        await registry.startProcess(options.waitFor ?? "ready");
        return registry;
    }

    /** `127.0.0.1:PORT`, the registry's own loopback address (the front's upstream). */
    get host(): string {
        return `${LOOPBACK}:${this.port}`;
    }

    /** `http://127.0.0.1:PORT`: the program's registry serves plain HTTP (`https` only if `configure` gave it TLS). */
    get url(): string {
        return `${this.configInput.http.tls.kind === "none" ? "http" : "https"}://${this.host}`;
    }

    /** `http://127.0.0.1:DEBUGPORT` (health, metrics). */
    get debugUrl(): string {
        return `http://${LOOPBACK}:${this.debugPort}`;
    }

    get process(): TrackedProcess | undefined {
        return this.proc;
    }

    get running(): boolean {
        return this.proc?.running ?? false;
    }

    private async startProcess(waitFor: "ready" | "listening" | "none"): Promise<void> {
        if (this.proc?.running) {
            throw new Error("the registry is already running");
        }
        this.proc = this.tracker.start("registry", cachedBinary("registry"), ["serve", this.configFile], {
            logFile: this.logFile,
            env: registryEnvironment(),
        });
        if (waitFor === "listening") {
            await this.waitUntilListening();
        } else if (waitFor === "ready") {
            await this.waitUntilReady();
        }
    }

    private abortIfDead = (): string | undefined => {
        const proc = this.proc;
        return proc === undefined || proc.running ? undefined : `the registry exited (${JSON.stringify(proc.exitStatus)}); its log ends:\n${proc.logTail()}`;
    };

    /** Waits until the port accepts connections. */
    async waitUntilListening(timeoutMs = 15_000): Promise<void> {
        await waitUntil(async () => ((await isListening(this.port)) ? { done: true, value: undefined } : { done: false, seen: "connection refused" }), {
            description: `the registry to listen on ${this.host}`,
            timeoutMs,
            abortIf: this.abortIfDead,
        });
    }

    /** Waits until /v2/ answers 401 without credentials (the load-balancer view of healthy). */
    async waitUntilReady(timeoutMs = 20_000): Promise<void> {
        await waitUntil(
            async () => {
                const res = await this.get("/v2/", { auth: false });
                return res.status === 401 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
            },
            { description: `${this.url}/v2/ to answer 401`, timeoutMs, abortIf: this.abortIfDead },
        );
    }

    /** GET (or another method) on the registry itself, past the front; with the login unless `auth: false`. */
    get(pathAndQuery: string, options: { auth?: boolean | RegistryLogin; method?: string; headers?: Record<string, string>; maxBodyBytes?: number } = {}): Promise<HttpResponse> {
        const auth = options.auth ?? true;
        return request(`${this.url}${pathAndQuery}`, {
            ca: this.certs.caCertPem,
            method: options.method,
            headers: options.headers,
            maxBodyBytes: options.maxBodyBytes,
            basicAuth: auth === true ? this.login : auth === false ? undefined : auth,
        });
    }

    /** The debug server's /debug/health: `{}` with 200 when healthy, 503 with the failing checks otherwise. */
    async health(): Promise<{ status: number; body: string }> {
        const res = await request(`${this.debugUrl}/debug/health`);
        return { status: res.status, body: res.text() };
    }

    /** Graceful stop (SIGTERM; the config's drain timeout applies). */
    async stop(): Promise<void> {
        await this.proc?.stop(35_000);
    }

    /** kill -9, as a crash. */
    async kill(): Promise<void> {
        await this.proc?.killHard();
    }

    /** Starts a new process with the same files and ports (after stop/kill). */
    async restart(waitFor: "ready" | "listening" | "none" = "ready"): Promise<void> {
        if (this.proc?.running) {
            await this.stop();
        }
        await this.startProcess(waitFor);
    }

    /** The registry's log so far. */
    log(): string {
        return this.proc?.log() ?? "";
    }

    logTail(lines = 30): string {
        return this.proc?.logTail(lines) ?? "";
    }
}
