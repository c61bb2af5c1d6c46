import { randomBytes } from "node:crypto";
import * as path from "node:path";
import { deploymentParts, UPSTREAM_USERNAME } from "../../components/render/deployment";
import { type RegistryConfigInput } from "../../components/render/registryConfig";
import { DEFAULTS } from "../../components/settings";
import { frontLogin, LocalFront, type FrontLogin, type FrontUserSpec } from "./front";
import type { HttpResponse } from "./http";
import { ProcessTracker, type TrackedProcess } from "./processes";
import { LocalRegistry, programDeploymentInput, type RegistryLogin, type S3Target } from "./registry";
import { S3Server } from "./s3";
import { S3RecordingProxy } from "./s3proxy";
import { startSpacesStandIn } from "./spacesProxy";
import { Skopeo } from "./skopeo";
import { generateTestCertificates, type TestCertificates } from "./tls";
import { makeTempDir, type TempDir } from "./tools";
import { waitUntil } from "./wait";

/**
 * What the droplet runs, on 127.0.0.1: the real registry on the program's config (plain HTTP on
 * loopback) behind the real front (Caddy on the program's FrontInput), both with only loopback
 * swaps. Clients talk to the front exactly as they talk to the droplet; {@link startStack} adds
 * versitygw with a fresh bucket, a throwaway CA and a skopeo client.
 */

export interface FrontedRegistryOptions {
    /** Directory for the registry's and the front's files (created). */
    dir: string;
    /** The bucket and credentials (pass wrong ones to test failures). */
    s3: S3Target;
    certs: TestCertificates;
    /** Every login, in the program's order; default: one push user with the program's default name. The first push user is `login`. */
    users?: (FrontUserSpec | FrontLogin)[];
    httpSecret?: string;
    /** Default: the program's (presigned redirects on). */
    redirect?: boolean;
    /** Default "private-ca"; "none" is the SSH-tunnel deploy (the front serves plain HTTP on loopback). */
    tls?: "private-ca" | "none";
    /** A last change to the registry's config input (e.g. a benchmark's); tests of the program should not need it. */
    configure?: (input: RegistryConfigInput) => RegistryConfigInput;
    /** Fixed ports; free ones by default. */
    ports?: { front?: number; registry?: number; debug?: number };
    /**
     * The front's address (it listens there, clients and the program's hostname use it); default
     * 127.0.0.1. The bench's network rig gives the droplet namespace's own address.
     */
    frontHost?: string;
    /**
     * Default "ready": a login gets 200 through the front (the whole path works). "listening":
     * both ports are open, for a registry whose storage is broken on purpose.
     */
    waitFor?: "ready" | "listening";
    /**
     * "spaces": the registry's storage section is the program's for `storage=spaces`
     * (components/render/spaces.ts, `s3.region` as the Spaces region), with only its endpoint
     * swapped for `s3.endpoint`. Default "s3".
     */
    storage?: "s3" | "spaces";
}

type ClientRequestOptions = { auth?: boolean | RegistryLogin; method?: string; headers?: Record<string, string>; body?: string | Buffer; maxBodyBytes?: number };

/**
 * The registry as clients and operators see it. Client calls (`host`, `url`, `get`, `login`)
 * go through the front; process control (`stop`, `kill`, `restart`, `log`, `health`,
 * `debugUrl`, `configInput`, `configFile`) acts on the registry behind it, as on the droplet.
 */
export class FrontedRegistry {
    constructor(
        /** The registry process itself (plain HTTP on loopback). */
        readonly backend: LocalRegistry,
        readonly front: LocalFront,
        /** Logins by user name. */
        readonly users: Record<string, FrontLogin>,
        /** The first push user: the program's health-check and maintenance login. */
        readonly login: RegistryLogin,
    ) {}

    /** `127.0.0.1:FRONTPORT`, the registry host as clients name it. */
    get host(): string {
        return this.front.host;
    }

    /** The front's port, the one clients use. */
    get port(): number {
        return this.front.port;
    }

    /** `https://127.0.0.1:FRONTPORT` (`http://` for the tunnel deploy). */
    get url(): string {
        return this.front.url;
    }

    get certs(): TestCertificates {
        return this.front.certs;
    }

    get debugUrl(): string {
        return this.backend.debugUrl;
    }

    get configInput(): RegistryConfigInput {
        return this.backend.configInput;
    }

    get configFile(): string {
        return this.backend.configFile;
    }

    get logFile(): string {
        return this.backend.logFile;
    }

    get httpSecret(): string {
        return this.backend.httpSecret;
    }

    get process(): TrackedProcess | undefined {
        return this.backend.process;
    }

    get running(): boolean {
        return this.backend.running;
    }

    /** A request through the front, trusting the test CA; with `login` unless `auth: false` (or another login). */
    get(pathAndQuery: string, options: ClientRequestOptions = {}): Promise<HttpResponse> {
        const auth = options.auth ?? true;
        return this.front.get(pathAndQuery, { ...options, auth: auth === true ? this.login : auth === false ? undefined : auth });
    }

    /** The registry's /debug/health (on its debug port, as over SSH on the droplet). */
    health(): Promise<{ status: number; body: string }> {
        return this.backend.health();
    }

    /** Waits until a login gets 200 on /v2/ through the front: the front, the proxy and the registry all work. */
    async waitUntilReady(timeoutMs = 20_000): Promise<void> {
        await waitUntil(
            async () => {
                const res = await this.get("/v2/", { auth: true });
                return res.status === 200 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status} ${res.text().slice(0, 200)}` };
            },
            {
                description: `${this.url}/v2/ to answer 200 with a login`,
                timeoutMs,
                abortIf: () => (this.backend.running ? undefined : `the registry is not running; its log ends:\n${this.backend.logTail()}`),
            },
        );
    }

    /** Graceful stop of the registry (the front stays, as when the droplet restarts the registry alone). */
    stop(): Promise<void> {
        return this.backend.stop();
    }

    /** Stops the front, then the registry: for a pair a test started beside its stack's. */
    async close(): Promise<void> {
        await this.front.stop();
        await this.backend.stop();
    }

    /** kill -9 of the registry, as a crash. */
    kill(): Promise<void> {
        return this.backend.kill();
    }

    /** Starts the registry again with the same files and ports; by default waits until it serves through the front. */
    async restart(waitFor: "ready" | "listening" | "none" = "ready"): Promise<void> {
        await this.backend.restart(waitFor === "none" ? "none" : "listening");
        if (waitFor === "ready") {
            await this.waitUntilReady();
        }
    }

    /** The registry's log so far. */
    log(): string {
        return this.backend.log();
    }

    logTail(lines = 30): string {
        return this.backend.logTail(lines);
    }
}

/**
 * The registry on the program's config and the front on the program's FrontInput, from one
 * `deploymentParts` (one DeploymentInput with every user), with only loopback swaps.
 */
export async function startFrontedRegistry(tracker: ProcessTracker, options: FrontedRegistryOptions): Promise<FrontedRegistry> {
    const specs = options.users ?? [{ name: DEFAULTS.registryUsername, role: "push" }];
    const logins = specs.map((spec) => ("htpasswd" in spec ? spec : frontLogin(spec)));
    const primary = logins.find((l) => l.role === "push");
    if (primary === undefined) {
        throw new Error("the stack needs at least one push user");
    }
    const input = programDeploymentInput({
        s3: options.s3,
        login: primary,
        moreUsers: logins.filter((l) => l !== primary),
        httpSecret: options.httpSecret ?? randomBytes(36).toString("base64url"),
        certs: options.certs,
        redirect: options.redirect,
        tls: options.tls,
        hostname: options.frontHost,
        storage: options.storage,
    });
    const parts = deploymentParts(input);
    const program = parts.config;
    // The loopback swaps below replace both ends; the program must wire them to each other.
    if (parts.front.upstream !== program.http.addr) {
        throw new Error(`the program's front proxies to ${parts.front.upstream}, but its registry listens on ${program.http.addr}`);
    }
    const registry = await LocalRegistry.start(tracker, {
        dir: path.join(options.dir, "registry"),
        s3: options.s3,
        certs: options.certs,
        program,
        // The program's htpasswd, which holds the front's login alone: the front sends it in place of the client's.
        login: { username: UPSTREAM_USERNAME, password: input.upstreamLogin.password, htpasswd: parts.files.htpasswd ?? "" },
        configure: options.configure,
        port: options.ports?.registry,
        debugPort: options.ports?.debug,
        waitFor: "listening",
    });
    const front = await LocalFront.start(tracker, { dir: path.join(options.dir, "front"), program: parts.front, upstreamPort: registry.port, certs: options.certs, port: options.ports?.front, host: options.frontHost });
    const fronted = new FrontedRegistry(registry, front, Object.fromEntries(logins.map((l) => [l.name, l])), { username: primary.username, password: primary.password });
    if ((options.waitFor ?? "ready") === "ready") {
        await fronted.waitUntilReady();
    }
    return fronted;
}

export interface StackOptions {
    /** Prefix of the temp directory. */
    name?: string;
    /** Use this tracker (and leave disposing it to the caller); default: a new one. */
    tracker?: ProcessTracker;
    bucket?: string;
    /** Every login (default: one push user); see {@link FrontedRegistryOptions.users}. */
    users?: FrontUserSpec[];
    /** Redirect blob pulls to presigned S3 URLs; default: the program's default (true). */
    redirect?: boolean;
    /** Passed to the registry: a last change to its config input. */
    configure?: (input: RegistryConfigInput) => RegistryConfigInput;
    /** Fixed ports (e.g. for rehearse.ts); free ones by default. `front` is the one clients use. */
    ports?: { front?: number; registry?: number; debug?: number; s3?: number };
    /**
     * Put a {@link S3RecordingProxy} between the registry and versitygw (to see each request's
     * `x-amz-acl`), optionally refusing ACLs like a BucketOwnerEnforced bucket.
     */
    s3Proxy?: { bucketOwnerEnforced?: boolean };
    /**
     * Rehearse `storage=spaces`: versitygw signs in the Spaces region (default "nyc3"), the
     * registry runs the program's Spaces storage section, and a recording proxy in front of
     * versitygw refuses what Spaces refuses (spacesProxy.ts). Replaces `s3Proxy`.
     */
    spaces?: { region?: string };
}

export interface Stack {
    tracker: ProcessTracker;
    tmp: TempDir;
    s3: S3Server;
    /** Present when `s3Proxy` was asked for: the registry's S3 endpoint is then the proxy's. */
    s3Proxy: S3RecordingProxy | undefined;
    /** The bucket the registry stores in, with the credentials it signs with. */
    s3Target: S3Target;
    certs: TestCertificates;
    /** Clients through the front, process control on the registry. */
    registry: FrontedRegistry;
    /** The front (Caddy) itself: its access log, its raw port. */
    front: LocalFront;
    /** Logins by user name. */
    users: Record<string, FrontLogin>;
    skopeo: Skopeo;
    /** Stops everything and removes the temp directory; never throws. */
    stop(): Promise<void>;
}

/** The whole rehearsal stack in one call; `stop()` kills every process and removes the temp directory. */
export async function startStack(options: StackOptions = {}): Promise<Stack> {
    const ownTracker = options.tracker === undefined;
    const tracker = options.tracker ?? new ProcessTracker();
    const tmp = makeTempDir(options.name ?? "registry-rehearsal");
    const stop = async () => {
        try {
            await (ownTracker ? tracker.dispose() : tracker.stopAll());
        } catch (error) {
            process.stderr.write(`[harness] ${error instanceof Error ? error.message : String(error)}\n`);
        } finally {
            tmp.remove();
        }
    };
    try {
        const s3 = await S3Server.start(tracker, { dir: tmp.join("s3"), port: options.ports?.s3, region: options.spaces === undefined ? undefined : (options.spaces.region ?? "nyc3") });
        const bucket = options.bucket ?? `rehearsal-${randomBytes(4).toString("hex")}`;
        await s3.createBucket(bucket);
        let s3Proxy: S3RecordingProxy | undefined;
        if (options.spaces !== undefined) {
            const proxy = await startSpacesStandIn({ upstreamPort: s3.port, bucket });
            tracker.addCleanup("Spaces stand-in proxy", () => proxy.close());
            s3Proxy = proxy;
        } else if (options.s3Proxy !== undefined) {
            const proxy = await S3RecordingProxy.start({ upstreamPort: s3.port, bucketOwnerEnforced: options.s3Proxy.bucketOwnerEnforced });
            tracker.addCleanup("S3 recording proxy", () => proxy.close());
            s3Proxy = proxy;
        }
        const endpoint = s3Proxy?.endpoint ?? s3.endpoint;
        const s3Target: S3Target = { endpoint, region: s3.region, bucket, accessKey: s3.accessKey, secretKey: s3.secretKey };
        const certs = await generateTestCertificates(tracker, tmp.join("tls"));
        const registry = await startFrontedRegistry(tracker, {
            dir: tmp.path,
            s3: s3Target,
            certs,
            users: options.users,
            redirect: options.redirect,
            configure: options.configure,
            ports: options.ports,
            storage: options.spaces === undefined ? "s3" : "spaces",
        });
        const skopeo = new Skopeo(tracker, tmp.join("skopeo"));
        return { tracker, tmp, s3, s3Proxy, s3Target, certs, registry, front: registry.front, users: registry.users, skopeo, stop };
    } catch (error) {
        await stop();
        throw error;
    }
}
