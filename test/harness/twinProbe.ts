import * as fs from "node:fs";
import * as path from "node:path";
import { buildOciImage } from "./oci";
import type { ProcessTracker } from "./processes";
import { dockerRef, ociRef, type Skopeo } from "./skopeo";
import { systemBinary } from "./tools";

/**
 * What a port scanner sees: every TCP port of `ports` on `address` that completes a handshake,
 * tried 200 at a time with a short timeout (a port the firewall drops never answers). Run with a
 * tracker inside the scanning host's namespace.
 */
export async function scanTcp(tracker: ProcessTracker, address: string, ports: number[], timeoutSeconds = 1.5): Promise<number[]> {
    const script = `
import concurrent.futures, json, socket, sys
address, timeout, ports = sys.argv[1], float(sys.argv[2]), [int(p) for p in sys.argv[3].split(",")]
def knock(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((address, port))
        return port
    except OSError:
        return None
    finally:
        s.close()
with concurrent.futures.ThreadPoolExecutor(200) as pool:
    print(json.dumps(sorted(p for p in pool.map(knock, ports) if p is not None)))
`;
    const res = await tracker.runChecked(systemBinary("python3"), ["-c", script, address, String(timeoutSeconds), ports.join(",")], { timeoutMs: 120_000 });
    return JSON.parse(res.stdout) as number[];
}

/**
 * `GET /v2/` as a logged-in client in the tracker's namespace, trusting `caFile`: the HTTP
 * status, or 0 when nothing answered. The login goes to curl on stdin, never in its argv.
 */
export async function registryStatus(tracker: ProcessTracker, url: string, caFile: string, login: { username: string; password: string }, timeoutSeconds = 5): Promise<number> {
    const config = `user = "${login.username}:${login.password}"\n`;
    const res = await tracker.run(systemBinary("curl"), ["-sS", "-K", "-", "--cacert", caFile, "--max-time", String(timeoutSeconds), "-o", "/dev/null", "-w", "%{http_code}", url], {
        input: config,
        timeoutMs: (timeoutSeconds + 5) * 1000,
        secrets: [login.password],
    });
    return Number(res.stdout.trim()) || 0;
}

export interface LoopResult {
    pushes: number;
    failures: { atMs: number; error: string }[];
    /** Pushes refused as unauthorized with the login the loop had, then accepted with `nextLogin`. */
    retries: { atMs: number; error: string }[];
    /** Pushes whose connection to the front was reset or closed unanswered, then pushed once more with the same login. */
    resent: { atMs: number; error: string }[];
    /** The longest one push took (its retries apart), in ms: how long a connection of the loop can live. */
    longestMs?: number;
}

type Login = { username: string; password: string };

/** skopeo's words for a registry's 401: "unauthorized: ...", "authentication required", or the code. */
const UNAUTHORIZED = /\bunauthorized\b|authentication required|\b401\b/i;

/**
 * A keep-alive connection the front closed as a request crossed it, which a reload of its config
 * can do; no HTTP status, the request may not have reached the front at all. The client reads it
 * as a reset or, when the close came as a FIN before any answer, as EOF (Go's transport retries
 * neither for a PUT, which is not replayable: net/http transport.go isReplayable). docker push
 * retries such a layer by itself ("Retrying in N seconds"); skopeo without --retry-times does not.
 */
const CONNECTION_RESET = /connection reset by peer|: EOF\b/;

/** What a failed skopeo run said last, for a loop's record of it. */
function lastLine(res: { code: number | null; stderr: string }): string {
    return res.stderr.trim().split("\n").slice(-1)[0] ?? `exit ${res.code}`;
}

export interface PushLoopOptions {
    host: string;
    repository: string;
    login: Login;
    certDir: string;
    workDir: string;
    /**
     * The other login a CI job holds through a password rotation, once known (undefined before).
     * A push refused as unauthorized is pushed once more with it; when that is accepted, the loop
     * keeps it. Any other failure, or a push refused with both logins, counts as a failure.
     * A push whose connection was reset is pushed once more, as docker push would, and counted in
     * `resent`; if that fails too, it is a failure.
     */
    nextLogin?: () => Login | undefined;
}

/**
 * A CI job pushing without pause: each round builds a small new image (new layers, so every
 * push uploads blobs) and pushes it under a new tag, until `stop()`. Failures are counted,
 * never retried, except a reset connection (once) and an unauthorized push when the loop has a
 * `nextLogin`.
 */
export class PushLoop {
    private stopping = false;
    private done?: Promise<LoopResult>;

    constructor(
        private readonly skopeo: Skopeo,
        private readonly options: PushLoopOptions,
    ) {}

    start(): void {
        this.done = this.loop();
    }

    async stop(): Promise<LoopResult> {
        this.stopping = true;
        if (this.done === undefined) {
            throw new Error("the push loop was never started");
        }
        return this.done;
    }

    private async loop(): Promise<LoopResult> {
        const started = Date.now();
        const result: LoopResult = { pushes: 0, failures: [], retries: [], resent: [], longestMs: 0 };
        let login = this.options.login;
        for (let round = 0; !this.stopping; round++) {
            const layout = path.join(this.options.workDir, `loop-${round}`);
            await buildOciImage(layout, { layerSizes: [256 * 1024, 64 * 1024], tag: "loop" });
            const push = (creds: Login) =>
                this.skopeo.copy(ociRef(layout, "loop"), dockerRef(this.options.host, this.options.repository, `round-${round}`), {
                    destCreds: creds,
                    destCertDir: this.options.certDir,
                    timeoutMs: 120_000,
                });
            const pushStarted = Date.now();
            let pushed = await push(login);
            result.longestMs = Math.max(result.longestMs ?? 0, Date.now() - pushStarted);
            if (pushed.code !== 0 && CONNECTION_RESET.test(pushed.stderr)) {
                result.resent.push({ atMs: Date.now() - started, error: lastLine(pushed) });
                pushed = await push(login);
            }
            let retried = false;
            const next = this.options.nextLogin?.();
            if (pushed.code !== 0 && next !== undefined && next.password !== login.password && UNAUTHORIZED.test(pushed.stderr)) {
                result.retries.push({ atMs: Date.now() - started, error: lastLine(pushed) });
                retried = true;
                pushed = await push(next);
                if (pushed.code === 0) {
                    login = next;
                }
            }
            fs.rmSync(layout, { recursive: true, force: true });
            result.pushes += 1;
            if (pushed.code !== 0) {
                result.failures.push({ atMs: Date.now() - started, error: `${retried ? "refused with both logins, then: " : ""}${lastLine(pushed)}` });
            }
        }
        return result;
    }
}

export interface PullLoopResult {
    pulls: number;
    failures: { atMs: number; error: string }[];
    /** Pulls whose connection to the front was reset or closed unanswered, then pulled once more. */
    resent: { atMs: number; error: string }[];
    /** The longest one pull took, in ms. */
    longestMs: number;
}

/**
 * A CI job pulling without pause: `skopeo copy` of one image from the registry into a fresh OCI
 * layout, each pull a new process with new connections, until `stop()`. Failures are counted,
 * never retried, except a reset connection (once, counted in `resent`), as PushLoop does.
 */
export class PullLoop {
    private stopping = false;
    private done?: Promise<PullLoopResult>;

    constructor(
        private readonly skopeo: Skopeo,
        private readonly options: { host: string; repository: string; tag: string; login: Login; certDir: string; workDir: string },
    ) {}

    start(): void {
        this.done = this.loop();
    }

    async stop(): Promise<PullLoopResult> {
        this.stopping = true;
        if (this.done === undefined) {
            throw new Error("the pull loop was never started");
        }
        return this.done;
    }

    private async loop(): Promise<PullLoopResult> {
        const started = Date.now();
        const result: PullLoopResult = { pulls: 0, failures: [], resent: [], longestMs: 0 };
        const { host, repository, tag, login, certDir, workDir } = this.options;
        for (let round = 0; !this.stopping; round++) {
            const layout = path.join(workDir, `pull-${round}`);
            const pull = () => this.skopeo.copy(dockerRef(host, repository, tag), ociRef(layout, tag), { srcCreds: login, srcCertDir: certDir, timeoutMs: 120_000 });
            const pullStarted = Date.now();
            let pulled = await pull();
            result.longestMs = Math.max(result.longestMs, Date.now() - pullStarted);
            if (pulled.code !== 0 && CONNECTION_RESET.test(pulled.stderr)) {
                result.resent.push({ atMs: Date.now() - started, error: lastLine(pulled) });
                fs.rmSync(layout, { recursive: true, force: true });
                pulled = await pull();
            }
            fs.rmSync(layout, { recursive: true, force: true });
            result.pulls += 1;
            if (pulled.code !== 0) {
                result.failures.push({ atMs: Date.now() - started, error: lastLine(pulled) });
            }
        }
        return result;
    }
}
