import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import * as tls from "node:tls";
import { renderFrontConfig, type FrontInput, type FrontLogRolls, type RegistryRole } from "../../components/render/front";
import { renderFrontPasswordHash } from "../../components/render/frontPassword";
import { request, type HttpResponse } from "./http";
import { freePort, LOOPBACK } from "./ports";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { generateLogin, type GeneratedLogin, type RegistryLogin } from "./registry";
import type { TestCertificates } from "./tls";
import { cachedBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * The front as the droplet runs it: the pinned Caddy (.cache/bin/caddy) serving the Caddyfile
 * that `renderFrontConfig` renders from the program's own FrontInput (`deploymentParts(...).front`),
 * with only loopback swaps ({@link rehearsalFrontInput}): the listen address, the upstream
 * (the registry's loopback port), the two logs' and the admin socket's paths, and the key pair's
 * paths. The logs' roll sizes are the program's unless a test passes its own (`logRolls`).
 */

export interface FrontUserSpec {
    name: string;
    role: RegistryRole;
    repositories?: string[];
}

/** A user with a fresh program-like password, its salt and its htpasswd line. */
export interface FrontLogin extends GeneratedLogin, FrontUserSpec {}

export function frontLogin(spec: FrontUserSpec): FrontLogin {
    return { ...generateLogin(spec.name), ...spec };
}

/** The login's password as the front stores it (the program's renderFrontPasswordHash). */
export function passwordHashOf(login: GeneratedLogin): string {
    return renderFrontPasswordHash({ password: login.password, salt: login.salt });
}

export function caddyBinary(): string {
    return cachedBinary("caddy");
}

/** Caddy's data, config and autosave under `dir`, never the user's home. */
export function caddyEnvironment(dir: string): NodeJS.ProcessEnv {
    return { ...process.env, HOME: dir, XDG_DATA_HOME: path.join(dir, "data"), XDG_CONFIG_HOME: path.join(dir, "config") };
}

export interface FrontSwaps {
    /** `127.0.0.1:PORT` in place of the program's `:443` (or the tunnel's `127.0.0.1:5000`). */
    listen: string;
    /** The registry's `127.0.0.1:PORT` in place of the program's fixed port. */
    upstream: string;
    accessLogFile: string;
    refusedLogFile: string;
    adminSocket: string;
    /** The key pair's paths on this machine, in place of the container's (private CA only). */
    keyPair: { certificate: string; key: string };
}

/** The program's front input with only the rehearsal's swaps applied. */
export function rehearsalFrontInput(program: FrontInput, swaps: FrontSwaps): FrontInput {
    return {
        ...program,
        listen: swaps.listen,
        upstream: swaps.upstream,
        accessLogFile: swaps.accessLogFile,
        refusedLogFile: swaps.refusedLogFile,
        adminSocket: swaps.adminSocket,
        tls: program.tls.kind === "files" ? { ...program.tls, ...swaps.keyPair } : program.tls,
    };
}

export interface LocalFrontOptions {
    /** Directory for the Caddyfile, logs and admin socket (created). */
    dir: string;
    /** The program's front input (`deploymentParts(...).front`), before the swaps. */
    program: FrontInput;
    /** The registry's port on 127.0.0.1. */
    upstreamPort: number;
    /** The key pair served in place of the program's (for a private-CA deploy). */
    certs: TestCertificates;
    port?: number;
    /** The address it listens on and clients use; default 127.0.0.1 (a network namespace's own address, for the bench's rig). */
    host?: string;
    /**
     * Smaller rolls than the program's FRONT_LOG_ROLLS, so that a test can roll a log with a
     * few thousand requests; the renderer's own input, nothing else of the program changes.
     */
    logRolls?: FrontLogRolls;
}

export class LocalFront {
    readonly configFile: string;
    readonly accessLogFile: string;
    /** Requests that no login was accepted for (front.ts `refusedLogFile`). */
    readonly refusedLogFile: string;
    /** Caddy's own stdout and stderr. */
    readonly logFile: string;
    /** What Caddy runs: the program's input with the loopback swaps. */
    readonly input: FrontInput;
    private proc: TrackedProcess | undefined;

    /** The address it listens on (127.0.0.1 unless `host` was given). */
    readonly listenHost: string;

    private constructor(
        readonly dir: string,
        readonly port: number,
        readonly certs: TestCertificates,
        options: LocalFrontOptions,
    ) {
        this.listenHost = options.host ?? LOOPBACK;
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.configFile = path.join(dir, "Caddyfile");
        this.accessLogFile = path.join(dir, "access.log");
        this.refusedLogFile = path.join(dir, "refused.log");
        this.logFile = path.join(dir, "caddy.log");
        const program = options.logRolls === undefined ? options.program : { ...options.program, logRolls: options.logRolls };
        this.input = rehearsalFrontInput(program, {
            listen: `${this.listenHost}:${port}`,
            upstream: `${LOOPBACK}:${options.upstreamPort}`,
            accessLogFile: this.accessLogFile,
            refusedLogFile: this.refusedLogFile,
            adminSocket: path.join(dir, "admin.sock"),
            keyPair: { certificate: certs.certFile, key: certs.keyFile },
        });
        fs.writeFileSync(this.configFile, renderFrontConfig(this.input), { mode: 0o600 });
    }

    /** Renders the Caddyfile, starts `caddy run` and waits until /v2/ answers 401 without a login (Caddy's own answer). */
    static async start(tracker: ProcessTracker, options: LocalFrontOptions): Promise<LocalFront> {
        const front = new LocalFront(options.dir, options.port ?? (await freePort()), options.certs, options);
        front.proc = tracker.start("caddy", caddyBinary(), ["run", "--config", front.configFile, "--adapter", "caddyfile"], {
            logFile: front.logFile,
            env: caddyEnvironment(options.dir),
        });
        await waitUntil(
            async () => {
                const res = await front.get("/v2/");
                return res.status === 401 ? { done: true, value: undefined } : { done: false, seen: `HTTP ${res.status}` };
            },
            { description: `${front.url}/v2/ to answer 401`, timeoutMs: 15_000, abortIf: () => (front.proc?.running === false ? `caddy exited; its log ends:\n${front.proc.logTail()}` : undefined) },
        );
        return front;
    }

    /** `127.0.0.1:PORT` (or `host:PORT`), the registry host as clients name it. */
    get host(): string {
        return `${this.listenHost}:${this.port}`;
    }

    get url(): string {
        return `${this.input.tls.kind === "none" ? "http" : "https"}://${this.host}`;
    }

    get process(): TrackedProcess | undefined {
        return this.proc;
    }

    /** A request through the front, trusting the test CA; no login unless `auth` is given. */
    get(pathAndQuery: string, options: { auth?: RegistryLogin; method?: string; headers?: Record<string, string>; body?: string | Buffer; maxBodyBytes?: number } = {}): Promise<HttpResponse> {
        return request(`${this.url}${pathAndQuery}`, { ca: this.certs.caCertPem, basicAuth: options.auth, method: options.method, headers: options.headers, body: options.body, maxBodyBytes: options.maxBodyBytes });
    }

    /** Starts an upload in `repository` as `auth` (202 required) and returns its location, `_state` included. */
    async openUpload(repository: string, auth: RegistryLogin): Promise<URL> {
        const start = await this.get(`/v2/${repository}/blobs/uploads/`, { auth, method: "POST" });
        if (start.status !== 202) {
            throw new Error(`POST of an upload in ${repository}: HTTP ${start.status} ${start.text()}`);
        }
        return new URL(String(start.headers.location), this.url);
    }

    /** The access log's raw text (JSON lines). */
    accessLogText(): string {
        return fs.existsSync(this.accessLogFile) ? fs.readFileSync(this.accessLogFile, "utf8") : "";
    }

    /** The access log's entries. */
    accessLog(): FrontAccessEntry[] {
        return logEntries(this.accessLogText());
    }

    /** The refusal log's raw text (JSON lines). */
    refusedLogText(): string {
        return fs.existsSync(this.refusedLogFile) ? fs.readFileSync(this.refusedLogFile, "utf8") : "";
    }

    /** The refusal log's entries. */
    refusedLog(): FrontAccessEntry[] {
        return logEntries(this.refusedLogText());
    }

    /** Caddy's own output (stderr). */
    log(): string {
        return this.proc?.log() ?? "";
    }

    async stop(): Promise<void> {
        await this.proc?.stop(10_000);
    }
}

function logEntries(text: string): FrontAccessEntry[] {
    return text
        .split("\n")
        .filter((line) => line.trim() !== "")
        .map((line) => JSON.parse(line) as FrontAccessEntry);
}

/** The fields of a Caddy access log line the tests read. */
export interface FrontAccessEntry {
    msg: string;
    status: number;
    user_id?: string;
    request: { method: string; uri: string; headers?: Record<string, string[]> };
    resp_headers?: Record<string, string[]>;
}

/** A raw client connection to the front, for slow and hostile clients. */
export interface RawConnection {
    socket: net.Socket;
    /** When the front closed the connection (ms since the epoch); resolves on close. */
    closed: Promise<number>;
    /** Everything the front sent so far. */
    received(): string;
}

/** Opens a TCP (and, for a TLS front, TLS) connection to the front, trusting the test CA. */
export async function openRawConnection(front: LocalFront): Promise<RawConnection> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        const s =
            front.input.tls.kind === "none"
                ? net.connect({ host: front.listenHost, port: front.port }, () => resolve(s))
                : tls.connect({ host: front.listenHost, port: front.port, ca: front.certs.caCertPem }, () => resolve(s));
        s.once("error", onError);
    });
    const chunks: Buffer[] = [];
    socket.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A reset is a close too; the error itself is not the test's concern.
    socket.on("error", () => undefined);
    const closed = new Promise<number>((resolve) => socket.once("close", () => resolve(Date.now())));
    return { socket, closed, received: () => Buffer.concat(chunks).toString("latin1") };
}

/** The `Authorization` header value of a login. */
export function basicAuthorization(login: RegistryLogin): string {
    return `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`;
}
