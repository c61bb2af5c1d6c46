import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import * as readline from "node:readline";
import { parse, stringify } from "yaml";
import { DEFAULTS } from "../../components/settings";
import { ProcessTracker, type TrackedProcess } from "../../test/harness/processes";
import { generateLogin, registryEnvironment } from "../../test/harness/registry";
import { S3Server } from "../../test/harness/s3";
import { startFrontedRegistry, type FrontedRegistry } from "../../test/harness/stack";
import { generateTestCertificates, type TestCertificates } from "../../test/harness/tls";
import { cachedBinary } from "../../test/harness/tools";
import { waitUntil } from "../../test/harness/wait";
import { peerConfig } from "./peer";
import type { OursStorage } from "./results";
import { NetworkRig, type RigLayout } from "./rig";

/**
 * The network bench's droplet side, run INSIDE the droplet namespace for the reason
 * checkDroplet.ts gives: the harness checks its servers with sockets of its own. It starts S3 in
 * `s3` (through a tracker with that namespace's prefix) and, on request, a fresh registry on an
 * empty bucket: ours (registry + front exactly as the program renders them) or the peer
 * (upstream's documented defaults, peer.ts). The profile's storage decides the bucket's kind:
 * the S3 server signs in its region (a Spaces slug such as nyc3 under `spaces`, as Spaces does),
 * and ours runs the program's storage section for that kind. The peer and the baseline use the
 * same server and region: upstream's defaults name no storage but the S3 driver's. The driver in `ci` sends one JSON request per
 * stdin line and reads one JSON answer per stdout line; the agent exits when stdin closes.
 *
 * Usage: agent.ts LAYOUT.json WORKDIR
 */

export const PORTS = { s3: 9000, front: 8443, frontNoRedirect: 8444, peer: 5000 } as const;

export interface Endpoint {
    url: string;
    registryPid: number;
    /** Absent for the peer, which has no front. */
    frontPid?: number;
    /** The registry's own log (request durations) and its S3 part size, as configured. */
    logFile: string;
    chunkBytes: number;
    redirect: boolean;
    /** Ours only: the S3 driver's settings as its config file has them, so the results show which storage section ran. */
    storage?: OursStorage;
}

export interface Started {
    login: { username: string; password: string };
    endpoints: Endpoint[];
}

export interface AgentReady {
    s3: { endpoint: string; region: string; accessKey: string; secretKey: string; pid: number; accessLog: string };
    ca: string;
    buckets: { ours: string; peer: string; baseline: string };
}

export type AgentRequest = { cmd: "ours"; chunkMb: number } | { cmd: "peer" } | { cmd: "stop" };

const BUCKETS = { ours: "ours", peer: "peer", baseline: "baseline" };

class Agent {
    private ours: FrontedRegistry[] = [];
    private peer: TrackedProcess | undefined;

    constructor(
        private readonly tracker: ProcessTracker,
        private readonly rig: NetworkRig,
        private readonly dir: string,
        private readonly s3: S3Server,
        private readonly certs: TestCertificates,
    ) {}

    private empty(bucket: string): void {
        const root = path.join(this.s3.dataDir, bucket);
        for (const entry of fs.readdirSync(root)) {
            fs.rmSync(path.join(root, entry), { recursive: true, force: true });
        }
    }

    async stop(): Promise<void> {
        for (const r of this.ours) {
            await r.close();
        }
        this.ours = [];
        await this.peer?.stop(35_000);
        this.peer = undefined;
    }

    private s3Target(bucket: string) {
        return { endpoint: this.s3.endpoint, region: this.s3.region, bucket, accessKey: this.s3.accessKey, secretKey: this.s3.secretKey };
    }

    /** The program's shape, twice on one bucket: redirects as the program sets them, and off (bytes through the front). */
    async startOurs(chunkMb: number): Promise<Started> {
        await this.stop();
        this.empty(BUCKETS.ours);
        const droplet = this.rig.address("droplet");
        const configure = (input: Parameters<NonNullable<Parameters<typeof startFrontedRegistry>[1]["configure"]>>[0]) =>
            input.storage.kind === "s3" ? { ...input, storage: { ...input.storage, chunkSizeBytes: chunkMb * 1024 * 1024 } } : input;
        const dir = path.join(this.dir, `ours-${Date.now()}`);
        const on = await startFrontedRegistry(this.tracker, {
            dir: path.join(dir, "on"), s3: this.s3Target(BUCKETS.ours), certs: this.certs, frontHost: droplet, ports: { front: PORTS.front },
            redirect: DEFAULTS.redirectPullsToS3, configure, storage: this.rig.profile.storage.kind,
        });
        const off = await startFrontedRegistry(this.tracker, {
            dir: path.join(dir, "off"), s3: this.s3Target(BUCKETS.ours), certs: this.certs, frontHost: droplet, ports: { front: PORTS.frontNoRedirect },
            redirect: false, configure, users: Object.values(on.users), storage: this.rig.profile.storage.kind,
        });
        this.ours = [on, off];
        const endpoint = (r: FrontedRegistry, redirect: boolean): Endpoint => {
            const storage = r.configInput.storage;
            return {
                url: `https://${this.rig.hop("ci", "droplet", r.port)}`,
                registryPid: r.process!.pid,
                frontPid: r.front.process!.pid,
                logFile: r.logFile,
                chunkBytes: storage.kind === "s3" ? storage.chunkSizeBytes : 0,
                redirect,
                storage: oursStorage(r.configFile),
            };
        };
        return { login: on.login, endpoints: [endpoint(on, DEFAULTS.redirectPullsToS3), endpoint(off, false)] };
    }

    /** The registry binary on peer.ts's config, TLS and htpasswd on itself, listening on the droplet's address. */
    async startPeer(): Promise<Started> {
        await this.stop();
        this.empty(BUCKETS.peer);
        const dir = path.join(this.dir, `peer-${Date.now()}`);
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        const login = generateLogin();
        const htpasswdPath = path.join(dir, "htpasswd");
        fs.writeFileSync(htpasswdPath, login.htpasswd, { mode: 0o600 });
        const configFile = path.join(dir, "config.yml");
        const addr = `${this.rig.address("droplet")}:${PORTS.peer}`;
        fs.writeFileSync(configFile, stringify(peerConfig({ addr, s3: this.s3Target(BUCKETS.peer), certFile: this.certs.certFile, keyFile: this.certs.keyFile, htpasswdPath })), { mode: 0o600 });
        const env = registryEnvironment();
        delete env.GOMEMLIMIT;
        const logFile = path.join(dir, "registry.log");
        const proc = this.tracker.start("registry", cachedBinary("registry"), ["serve", configFile], { logFile, env });
        this.peer = proc;
        const url = `https://${addr}`;
        await waitUntil(async () => ((await statusOf(`${url}/v2/`, this.certs.caCertPem)) === 401 ? { done: true, value: undefined } : { done: false, seen: "not 401 yet" }), {
            description: `the peer registry at ${url}`,
            timeoutMs: 20_000,
            abortIf: () => (proc.running ? undefined : `it exited:\n${proc.logTail()}`),
        });
        return { login: { username: login.username, password: login.password }, endpoints: [{ url, registryPid: proc.pid, logFile, chunkBytes: 0, redirect: true }] };
    }
}

/** The storage settings of a registry config file (the one the process was started with). */
function oursStorage(configFile: string): OursStorage {
    const s3 = (parse(fs.readFileSync(configFile, "utf8")) as { storage: { s3: Record<string, unknown> } }).storage.s3;
    return {
        region: String(s3.region),
        encrypt: s3.encrypt === true,
        objectacl: String(s3.objectacl),
        forcepathstyle: s3.forcepathstyle === true,
        chunksize: Number(s3.chunksize),
    };
}

function statusOf(url: string, ca: string): Promise<number> {
    return new Promise((resolve) => {
        const req = https.get(url, { ca, agent: false }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
        });
        req.on("error", () => resolve(0));
    });
}

async function main(layoutFile: string, dir: string): Promise<void> {
    const layout = JSON.parse(fs.readFileSync(layoutFile, "utf8")) as RigLayout;
    const tracker = new ProcessTracker();
    const rig = NetworkRig.attach(tracker, layout);
    const inS3 = new ProcessTracker({ commandPrefix: rig.prefix("s3") });
    const reply = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
    try {
        await rig.expose("s3", PORTS.s3);
        // The bucket's own region: the registry, the peer and the baseline sign in it, and Spaces wants its slug there.
        const s3 = await S3Server.start(inS3, { dir: path.join(dir, "s3"), port: PORTS.s3, host: rig.address("s3"), region: rig.profile.storage.region });
        for (const bucket of Object.values(BUCKETS)) {
            await s3.createBucket(bucket);
        }
        const droplet = rig.address("droplet");
        const certs = await generateTestCertificates(tracker, path.join(dir, "tls"), { hosts: [droplet, "127.0.0.1", "localhost"] });
        for (const port of [PORTS.front, PORTS.frontNoRedirect, PORTS.peer]) {
            await rig.expose("droplet", port);
        }
        const agent = new Agent(tracker, rig, dir, s3, certs);
        const ready: AgentReady = {
            s3: { endpoint: `http://${rig.hop("ci", "s3", PORTS.s3)}`, region: s3.region, accessKey: s3.accessKey, secretKey: s3.secretKey, pid: s3.process!.pid, accessLog: s3.accessLogFile },
            ca: certs.caCertPem,
            buckets: BUCKETS,
        };
        reply({ ok: true, value: ready });
        const lines = readline.createInterface({ input: process.stdin });
        for await (const line of lines) {
            const request = JSON.parse(line) as AgentRequest;
            try {
                const value = request.cmd === "ours" ? await agent.startOurs(request.chunkMb) : request.cmd === "peer" ? await agent.startPeer() : await agent.stop();
                reply({ ok: true, value: value ?? null });
            } catch (error) {
                reply({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
            }
        }
        await agent.stop();
    } finally {
        for (const t of [inS3, tracker]) {
            await t.dispose();
        }
    }
}

if (require.main === module) {
    const [layoutFile, dir] = process.argv.slice(2);
    main(layoutFile, dir).catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.stdout.write(`${JSON.stringify({ ok: false, error: String(error) })}\n`);
        process.exit(1);
    });
}
