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
}

/**
 * A CI job pushing without pause: each round builds a small new image (new layers, so every
 * push uploads blobs) and pushes it under a new tag, until `stop()`. Failures are counted,
 * never retried.
 */
export class PushLoop {
    private stopping = false;
    private done?: Promise<LoopResult>;

    constructor(
        private readonly skopeo: Skopeo,
        private readonly options: { host: string; repository: string; login: { username: string; password: string }; certDir: string; workDir: string },
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
        const result: LoopResult = { pushes: 0, failures: [] };
        for (let round = 0; !this.stopping; round++) {
            const layout = path.join(this.options.workDir, `loop-${round}`);
            await buildOciImage(layout, { layerSizes: [256 * 1024, 64 * 1024], tag: "loop" });
            const pushed = await this.skopeo.copy(ociRef(layout, "loop"), dockerRef(this.options.host, this.options.repository, `round-${round}`), {
                destCreds: this.options.login,
                destCertDir: this.options.certDir,
                timeoutMs: 120_000,
            });
            fs.rmSync(layout, { recursive: true, force: true });
            result.pushes += 1;
            if (pushed.code !== 0) {
                result.failures.push({ atMs: Date.now() - started, error: pushed.stderr.trim().split("\n").slice(-1)[0] ?? `exit ${pushed.code}` });
            }
        }
        return result;
    }
}
