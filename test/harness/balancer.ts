import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { BALANCER_FORWARDING_RULE, BALANCER_HEALTH_CHECK } from "../../components/render/balancer";
import type { ProcessTracker, TrackedProcess } from "./processes";
import { systemBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * The rehearsal's stand-in for DigitalOcean's load balancer in front of replicas: Debian's
 * haproxy in TCP mode, run inside a network namespace of the test's own, doing what the program
 * asks of the real one (components/render/balancer.ts): TLS passed through on 443, round robin
 * over the replicas, a PROXY protocol v1 header on every connection to a replica, health checks
 * included (DigitalOcean sends v1 on both: docs.digitalocean.com/glossary/proxy/), and an HTTPS
 * `GET /` health check with the interval, timeout and thresholds of BALANCER_HEALTH_CHECK.
 *
 * haproxy's words for those: `inter` is the interval, `timeout check` the answer's timeout,
 * `fall` and `rise` the unhealthy and healthy thresholds. `send-proxy` is v1; haproxy sends it on
 * checks too while a server has no `port` or `addr` of its own (configuration.txt,
 * "check-send-proxy"), and `check-send-proxy` says so outright.
 */

export interface BalancerServer {
    /** haproxy's name for it: the replica's host name, e.g. `registry-host-2`. */
    name: string;
    address: string;
}

export interface BalancerOptions {
    /** Directory for the config, the admin socket and the log (created). */
    dir: string;
    /** The namespace haproxy runs in, and its address there, on which it listens. */
    ns: string;
    address: string;
    servers: BalancerServer[];
    /**
     * The name the health check sends as SNI and Host: the registry's (the balancer's address
     * with the private CA). The front answers `/` for any host.
     */
    checkName: string;
    /** Default BALANCER_HEALTH_CHECK: the program's own. */
    healthCheck?: typeof BALANCER_HEALTH_CHECK;
}

/** A server as haproxy's `show stat` gives it. */
export interface BalancerServerState {
    /**
     * `UP`, `DOWN`, or a transition such as `UP 1/2` (failing) or `DOWN 1/3` (recovering).
     * haproxy starts every server UP, before its first check.
     */
    status: string;
    /** Connections sent to it so far (`stot`): health checks are not counted. */
    sessions: number;
    /** The last health check's result, e.g. `L7OK`, `L4CON` (refused), `L7STS` (a bad status). */
    check: string;
    /** The last health check's HTTP status (`check_code`), 0 when it got none. */
    checkCode: number;
}

/** One change haproxy showed in a server's state, at Date.now() when the watch saw it. */
export interface BalancerChange {
    atMs: number;
    name: string;
    state: BalancerServerState;
}

/** What {@link Balancer.watch} saw. */
export interface BalancerWatchResult {
    /** Each server's first state, then every change of its status, check or check code, in order. */
    changes: BalancerChange[];
    /** Samples taken, and the times at which no server at all was in the pool (every one `DOWN...`). */
    samples: number;
    noneUpAt: number[];
}

/** The TCP timeouts DigitalOcean's balancer documents as its defaults (60 s idle). */
const TIMEOUT_CONNECT_SECONDS = 5;
const TIMEOUT_IDLE_SECONDS = 60;

/** haproxy's configuration for these options. Pure. */
export function renderHaproxyConfig(options: Omit<BalancerOptions, "dir" | "ns">, adminSocket: string): string {
    const check = options.healthCheck ?? BALANCER_HEALTH_CHECK;
    if (BALANCER_FORWARDING_RULE.entryProtocol !== "tcp" || BALANCER_FORWARDING_RULE.targetProtocol !== "tcp") {
        throw new Error("the stand-in balancer passes TCP through; the program's rule is no longer TCP");
    }
    if (check.protocol !== "https") {
        throw new Error(`the stand-in balancer checks over HTTPS; the program's check is ${check.protocol}`);
    }
    if (!/^[A-Za-z0-9.:-]+$/.test(options.checkName)) {
        throw new Error(`the health check's name must be a host name or address; got ${JSON.stringify(options.checkName)}`);
    }
    const servers = options.servers.map((s) => `\tserver ${s.name} ${s.address}:${BALANCER_FORWARDING_RULE.targetPort}`);
    return [
        "global",
        "\tlog stdout format raw local0",
        `\tstats socket ${adminSocket} mode 600 level admin`,
        "\tmaxconn 2000",
        "",
        "defaults",
        "\tmode tcp",
        "\tlog global",
        "\toption tcplog",
        // A replica's state changes and each failed check, with its reason, go to the log.
        "\toption log-health-checks",
        `\ttimeout connect ${TIMEOUT_CONNECT_SECONDS}s`,
        `\ttimeout client ${TIMEOUT_IDLE_SECONDS}s`,
        `\ttimeout server ${TIMEOUT_IDLE_SECONDS}s`,
        `\ttimeout check ${check.responseTimeoutSeconds}s`,
        "",
        "frontend registry",
        `\tbind ${options.address}:${BALANCER_FORWARDING_RULE.entryPort}`,
        "\tdefault_backend replicas",
        "",
        "backend replicas",
        "\tbalance roundrobin",
        "\toption httpchk",
        `\thttp-check send meth GET uri ${check.path} ver HTTP/1.1 hdr Host ${options.checkName}`,
        "\thttp-check expect status 200-399",
        `\tdefault-server send-proxy check check-send-proxy check-ssl verify none check-sni ${options.checkName} port ${check.port} ` +
            `inter ${check.checkIntervalSeconds}s fall ${check.unhealthyThreshold} rise ${check.healthyThreshold}`,
        ...servers,
        "",
    ].join("\n");
}

export class Balancer {
    private constructor(
        private readonly process: TrackedProcess,
        readonly options: BalancerOptions,
        private readonly adminSocket: string,
    ) {}

    /**
     * Validates the config with `haproxy -c`, starts haproxy in the foreground inside `ns`, and
     * resolves once every server has passed its health checks (is `UP`).
     */
    static async start(tracker: ProcessTracker, options: BalancerOptions): Promise<Balancer> {
        fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
        const adminSocket = path.join(options.dir, "admin.sock");
        const configFile = path.join(options.dir, "haproxy.cfg");
        fs.writeFileSync(configFile, renderHaproxyConfig(options, adminSocket));
        const haproxy = systemBinary("haproxy");
        await tracker.runChecked(systemBinary("ip"), ["netns", "exec", options.ns, haproxy, "-c", "-q", "-f", configFile], { timeoutMs: 20_000 });
        const proc = tracker.start(`haproxy ${options.ns}`, systemBinary("ip"), ["netns", "exec", options.ns, haproxy, "-db", "-f", configFile], { logFile: path.join(options.dir, "haproxy.log") });
        const balancer = new Balancer(proc, options, adminSocket);
        const check = options.healthCheck ?? BALANCER_HEALTH_CHECK;
        // haproxy counts a server UP before its first check: a passed check is what tells.
        await waitUntil(
            async () => {
                const states = await balancer.servers();
                const passed = options.servers.every((s) => states[s.name]?.status === "UP" && states[s.name]?.check === "L7OK");
                return passed ? { done: true, value: undefined } : { done: false, seen: JSON.stringify(states) };
            },
            {
                description: "haproxy's health checks to pass on every replica",
                timeoutMs: check.checkIntervalSeconds * (check.healthyThreshold + 2) * 1000,
                abortIf: () => (proc.running ? undefined : `haproxy exited:\n${proc.logTail()}`),
            },
        );
        return balancer;
    }

    get address(): string {
        return this.options.address;
    }

    get logFile(): string {
        return this.process.logFile;
    }

    /** haproxy's log: connections (tcplog) and health check changes. */
    log(): string {
        return this.process.log();
    }

    /** One command on haproxy's admin socket; its answer. */
    private command(line: string): Promise<string> {
        return new Promise((resolve, reject) => {
            const socket = net.createConnection(this.adminSocket);
            let answer = "";
            socket.setTimeout(5000, () => socket.destroy(new Error(`haproxy's admin socket did not answer ${JSON.stringify(line)}`)));
            socket.on("connect", () => socket.write(`${line}\n`));
            socket.on("data", (chunk: Buffer) => (answer += chunk.toString()));
            socket.on("error", reject);
            socket.on("end", () => resolve(answer));
        });
    }

    /** Each server's state, by name, from `show stat`. */
    async servers(): Promise<Record<string, BalancerServerState>> {
        if (!this.process.running) {
            throw new Error(`haproxy exited:\n${this.process.logTail()}`);
        }
        const lines = (await this.command("show stat")).split("\n").filter((l) => l.trim() !== "");
        const header = lines[0].replace(/^# /, "").split(",");
        const column = (name: string) => {
            const at = header.indexOf(name);
            if (at < 0) throw new Error(`haproxy's show stat has no ${name} column`);
            return at;
        };
        const [px, sv, status, stot, check, code] = ["pxname", "svname", "status", "stot", "check_status", "check_code"].map(column);
        const states: Record<string, BalancerServerState> = {};
        for (const line of lines.slice(1)) {
            const fields = line.split(",");
            if (fields[px] === "replicas" && fields[sv] !== "BACKEND") {
                states[fields[sv]] = { status: fields[status], sessions: Number(fields[stot]), check: fields[check], checkCode: Number(fields[code]) || 0 };
            }
        }
        return states;
    }

    /** Waits until every server named has exactly `status` (`UP` or `DOWN`); returns when it saw that. */
    async waitForStatus(names: string[], status: "UP" | "DOWN", timeoutMs: number, intervalMs = 100): Promise<number> {
        return waitUntil(
            async () => {
                const states = await this.servers();
                const all = names.every((n) => states[n]?.status === status);
                return all ? { done: true, value: Date.now() } : { done: false, seen: JSON.stringify(states) };
            },
            { description: `haproxy to see ${names.join(", ")} ${status}`, timeoutMs, intervalMs, abortIf: () => (this.process.running ? undefined : `haproxy exited:\n${this.process.logTail()}`) },
        );
    }

    /**
     * Samples `show stat` every `intervalMs` until `stop()`, keeping each server's changes. A
     * server whose status begins with DOWN (`DOWN`, or `DOWN 1/3` while it recovers) takes no new
     * connection; one beginning with UP (`UP 1/2` while it fails) still does.
     */
    watch(intervalMs = 100): { stop: () => Promise<BalancerWatchResult> } {
        let stopping = false;
        const result: BalancerWatchResult = { changes: [], samples: 0, noneUpAt: [] };
        const last = new Map<string, BalancerServerState>();
        const done = (async () => {
            while (!stopping) {
                const states = await this.servers();
                const at = Date.now();
                result.samples += 1;
                for (const [name, state] of Object.entries(states)) {
                    const before = last.get(name);
                    if (before === undefined || before.status !== state.status || before.check !== state.check || before.checkCode !== state.checkCode) {
                        result.changes.push({ atMs: at, name, state });
                        last.set(name, state);
                    }
                }
                if (Object.values(states).length > 0 && Object.values(states).every((s) => s.status.startsWith("DOWN"))) {
                    result.noneUpAt.push(at);
                }
                await new Promise((resolve) => setTimeout(resolve, intervalMs));
            }
            return result;
        })();
        return {
            stop: async () => {
                stopping = true;
                return done;
            },
        };
    }

    async stop(): Promise<void> {
        await this.process.stop();
    }
}
