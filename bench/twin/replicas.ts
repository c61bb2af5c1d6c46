/**
 * Push and pull through 1, 2 and 3 replicas on the rehearsal: for each N, a TwinLab with
 * `replicas: N` (the program planned with replicas=N and the private CA, a droplet twin for each
 * replica host, deployed as `pulumi up` deploys them, and with N above 1 Debian's haproxy standing
 * in for DigitalOcean's load balancer: TCP on 443, round robin, PROXY v1), each twin held to a
 * small droplet scaled to this 2-CPU machine (1 GiB and half a CPU by default, its memory and cpu
 * cgroups). The same workload for every N, from the client namespace, to `registryHost` (the
 * balancer's address, or with N=1 the droplet's own):
 *
 *   push: C clients at once, each `skopeo copy` of an image of its own (L layers of M MiB of
 *         random bytes, built before the clock starts, so no layer is shared) as the push user;
 *   pull: C clients at once, each `skopeo copy` of one of those images back to an OCI layout, as
 *         the pull user, each then checked against the pushed manifest digest (after the clock).
 *
 * Per N and phase: MiB moved / wall seconds (first start to last end), the median and longest
 * single copy, failures, each replica's share of the phase's requests (the fronts' access logs,
 * lines for the bench's repositories only, as check 21 reads them), the redirects to storage
 * among them, each twin's CPU seconds (cpuacct.usage of its cgroup, the registry's and the
 * front's containers included) and the seconds its cpu cgroup was throttled (cpu.stat), and how
 * busy this machine's CPUs were (/proc/stat).
 *
 *   node --import tsx bench/twin/replicas.ts [--replicas 1,2,3] [--clients 6] [--cpus 0.5]
 *       [--memory-mib 1024] [--layers 3] [--layer-mib 8] [--stream-pulls]
 *       [--out bench/results/twin-replicas.json] [--render]      (root; npm run setup first)
 *
 * Run it under the shared lock: `flock /tmp/heavy.lock node --import tsx bench/twin/replicas.ts`.
 * `--render` prints the table from the committed JSON without measuring. `--stream-pulls` sets
 * redirectPullsToS3=false, so pulled layers pass through the replicas; by default (the stack's
 * default) a layer GET is answered with a redirect and the bytes come from the bucket.
 *
 * What it does not show: every twin, the clients (skopeo), the balancer and the S3 stand-in share
 * this machine's 2 CPUs, so N twins of half a CPU each can together ask for more than the machine
 * has left after the clients: the "machine busy" column says when the machine, not a twin's
 * quota, was the limit. There is one S3 stand-in, on loopback, far faster and nearer than S3 from
 * a droplet, and no network between client, balancer and droplets but veth pairs: a real
 * droplet's bandwidth and round trips are not here. haproxy is not DigitalOcean's balancer (its
 * own throughput, connection limits and balancing across its nodes are not modelled). One run per
 * N, a few seconds of traffic each: read the figures as a shape, not a rate to plan on.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { FRONT_ACCESS_LOG } from "../../components/render/deployment";
import { buildOciImage, readAndVerifyOciImage, type OciImage } from "../../test/harness/oci";
import type { RunResult } from "../../test/harness/processes";
import { dockerRef, ociRef } from "../../test/harness/skopeo";
import { REPO_ROOT } from "../../test/harness/tools";
import { TwinLab } from "../../test/harness/twinLab";
import { sleep } from "../../test/harness/wait";
import { hostInfo, type HostInfo } from "../lib/hostInfo";
import { measureOrLoad } from "../lib/rawResults";

const MIB = 1024 ** 2;
const REPOSITORY_PREFIX = "bench/replicas";
/** One copy's bound: far above what C copies of a few tens of MiB take here. */
const COPY_TIMEOUT_MS = 10 * 60_000;

interface Login {
    username: string;
    password: string;
    role: string;
}

/** One client's copy. */
export interface CopyRun {
    client: number;
    startMs: number;
    ms: number;
    ok: boolean;
    /** skopeo's last line when it failed, or what the check of the pulled image found. */
    error?: string;
}

export interface PhaseResult {
    clients: number;
    /** Layer and config bytes the phase's images hold, MiB (each moved once per copy). */
    mib: number;
    wallMs: number;
    runs: CopyRun[];
    /** Access log lines for the bench's repositories, per replica, in replica order. */
    requestsByReplica: number[];
    /** The same lines by HTTP status, over every replica. */
    statuses: Record<string, number>;
    /** Of them, answers redirecting to storage (307). */
    redirects: number;
    /** cpuacct.usage over the phase, per twin, seconds. */
    cpuSecondsByTwin: number[];
    /** cpu.stat throttled_time over the phase, per twin, seconds. */
    throttledSecondsByTwin: number[];
    /** This machine's CPUs busy over the phase (/proc/stat), 0-1. */
    machineBusy: number;
}

/** One round: C pushes of new images at once, then C pulls of them at once. */
export interface Round {
    push: PhaseResult;
    pull: PhaseResult;
}

export interface ReplicaRun {
    replicas: number;
    registryIsBalancer: boolean;
    bootAndDeploySeconds: number;
    rounds: Round[];
}

export interface ReplicasResults {
    meta: {
        startedAt: string;
        durationSeconds: number;
        host: HostInfo;
        clients: number;
        rounds: number;
        layers: number;
        layerMib: number;
        twinCpus: number;
        twinMemoryMib: number;
        redirectPullsToS3: boolean;
    };
    runs: ReplicaRun[];
}

function argument(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const log = (message: string) => process.stderr.write(`${message}\n`);

/** The twin's cgroup (v1) in another hierarchy: systemd-nspawn's cgroup has the same name in each. */
function cgroupOf(memoryCgroup: string, controller: "cpu" | "cpuacct"): string {
    return path.join("/sys/fs/cgroup", controller, path.basename(memoryCgroup));
}

interface CpuReading {
    usageNs: number;
    throttledNs: number;
}

function readTwinCpu(memoryCgroup: string): CpuReading {
    const usageNs = Number(fs.readFileSync(path.join(cgroupOf(memoryCgroup, "cpuacct"), "cpuacct.usage"), "utf8").trim());
    const stat = fs.readFileSync(path.join(cgroupOf(memoryCgroup, "cpu"), "cpu.stat"), "utf8");
    const throttledNs = Number(/^throttled_time (\d+)$/m.exec(stat)?.[1] ?? 0);
    return { usageNs, throttledNs };
}

/** /proc/stat's first line: busy and total jiffies over every CPU of this machine. */
function readMachineCpu(): { busy: number; total: number } {
    const fields = fs.readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest is counted in user already)
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = fields[3] + fields[4];
    return { busy: total - idle, total };
}

/** One line of a front's access log (Caddy's JSON, with the fields front.ts keeps). */
interface AccessLine {
    request: { method: string; uri: string };
    status: number;
}

/** Each twin's access log, as lines (check 21's accessLogs()). */
function accessLogLines(lab: TwinLab): string[][] {
    return lab.twins.map((twin) => {
        const file = twin.file(FRONT_ACCESS_LOG);
        const text = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "";
        return text.split("\n").filter((line) => line.trim() !== "");
    });
}

/** skopeo's last line, with any presigned query string and password cut out. */
function lastLine(result: RunResult, secrets: string[]): string {
    let line = result.stderr.trim().split("\n").pop() ?? "";
    if (line === "") {
        line = result.timedOut ? "timed out" : `exit ${result.code ?? result.signal}`;
    }
    line = line.replace(/\?[^\s"\\]*/g, "?...");
    for (const secret of secrets) {
        line = line.split(secret).join("***");
    }
    return line.slice(0, 300);
}

/** Nearest-rank quantile of `values`, or NaN for none. */
export function quantile(values: number[], q: number): number {
    if (values.length === 0) {
        return Number.NaN;
    }
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

async function timedPhase(lab: TwinLab, clients: number, mib: number, copy: (client: number) => Promise<CopyRun>): Promise<PhaseResult> {
    const linesBefore = accessLogLines(lab).map((lines) => lines.length);
    const cpuBefore = lab.twins.map((twin) => readTwinCpu(twin.memoryCgroup));
    const machineBefore = readMachineCpu();
    const started = Date.now();
    const runs = await Promise.all(Array.from({ length: clients }, (_, client) => copy(client)));
    const wallMs = Date.now() - started;
    const machineAfter = readMachineCpu();
    const cpuAfter = lab.twins.map((twin) => readTwinCpu(twin.memoryCgroup));
    // Caddy writes a line as the request ends; give the last ones a moment to reach the file.
    await sleep(1000);
    const fresh = accessLogLines(lab).map((lines, i) =>
        lines
            .slice(linesBefore[i])
            .map((line) => JSON.parse(line) as AccessLine)
            .filter((l) => l.request.uri.startsWith(`/v2/${REPOSITORY_PREFIX}-`)),
    );
    const statuses: Record<string, number> = {};
    for (const l of fresh.flat()) {
        statuses[String(l.status)] = (statuses[String(l.status)] ?? 0) + 1;
    }
    return {
        clients,
        mib,
        wallMs,
        runs: runs.map((r) => ({ ...r, startMs: r.startMs - started })),
        requestsByReplica: fresh.map((lines) => lines.length),
        statuses,
        redirects: statuses["307"] ?? 0,
        cpuSecondsByTwin: cpuAfter.map((after, i) => (after.usageNs - cpuBefore[i].usageNs) / 1e9),
        throttledSecondsByTwin: cpuAfter.map((after, i) => (after.throttledNs - cpuBefore[i].throttledNs) / 1e9),
        machineBusy: (machineAfter.busy - machineBefore.busy) / Math.max(1, machineAfter.total - machineBefore.total),
    };
}

async function measureReplicas(replicas: number, o: { clients: number; rounds: number; layers: number; layerMib: number; cpus: number; memoryMib: number; streamPulls: boolean }): Promise<ReplicaRun> {
    const started = Date.now();
    const lab = await TwinLab.start({
        name: `twin-replicas-${replicas}`,
        replicas,
        limits: { memoryBytes: o.memoryMib * MIB, cpus: o.cpus },
        config: {
            "private-registry:tls": "private-ca",
            ...(o.streamPulls ? { "private-registry:redirectPullsToS3": "false" } : {}),
        },
        log,
    });
    try {
        await lab.deploy();
        const bootAndDeploySeconds = (Date.now() - started) / 1000;
        const registry = String(lab.plan.outputs.registryHost);
        const registryIsBalancer = replicas > 1 && registry === lab.net.hosts.balancer.address;
        if (replicas === 1 ? registry !== lab.twin.address : !registryIsBalancer) {
            throw new Error(`registryHost ${registry} is not the ${replicas === 1 ? "droplet's" : "balancer's"} address`);
        }
        const users = Object.values(lab.plan.outputs.registryUsers as Record<string, Login>);
        const pusher = users.find((u) => u.role === "push");
        if (pusher === undefined) {
            throw new Error("the stack has a push user");
        }
        const puller = users.find((u) => u.role === "pull") ?? pusher;
        const secrets = users.map((u) => u.password);
        log(`[replicas] N=${replicas}: deployed in ${bootAndDeploySeconds.toFixed(0)} s; registry at ${registry}${registryIsBalancer ? " (the balancer)" : " (the droplet)"}`);

        const { skopeo, certDir } = lab.skopeoIn("client");
        const repository = (client: number) => `${REPOSITORY_PREFIX}-${client}`;
        const rounds: Round[] = [];
        for (let round = 0; round < o.rounds; round++) {
            const tagOf = (client: number) => `r${round}-c${client}`;
            const images: OciImage[] = [];
            for (let client = 0; client < o.clients; client++) {
                images.push(await buildOciImage(lab.tmp.join(`image-${round}-${client}`), { layerSizes: Array.from({ length: o.layers }, () => o.layerMib * MIB), tag: tagOf(client) }));
            }
            const mib = images.reduce((sum, image) => sum + image.config.size + image.layers.reduce((s, l) => s + l.size, 0), 0) / MIB;
            // The deploy's requests and the last round's settle, and the balancer's health checks pass, before the clock starts.
            await sleep(3000);

            log(`[replicas] N=${replicas} round ${round + 1}: ${o.clients} pushes of ${(mib / o.clients).toFixed(1)} MiB at once`);
            const push = await timedPhase(lab, o.clients, mib, async (client) => {
                const startMs = Date.now();
                const res = await skopeo.copy(ociRef(images[client].layoutDir, tagOf(client)), dockerRef(registry, repository(client), tagOf(client)), {
                    destCreds: pusher,
                    destCertDir: certDir,
                    timeoutMs: COPY_TIMEOUT_MS,
                });
                return { client, startMs, ms: Date.now() - startMs, ok: res.code === 0, ...(res.code === 0 ? {} : { error: lastLine(res, secrets) }) };
            });
            await sleep(3000);

            log(`[replicas] N=${replicas} round ${round + 1}: ${o.clients} pulls at once`);
            const pulled = (client: number) => lab.tmp.join(`pulled-${round}-${client}`);
            const pull = await timedPhase(lab, o.clients, mib, async (client) => {
                const startMs = Date.now();
                if (!push.runs[client].ok) {
                    return { client, startMs, ms: 0, ok: false, error: "not pushed" };
                }
                const res = await skopeo.copy(dockerRef(registry, repository(client), tagOf(client)), ociRef(pulled(client), tagOf(client)), {
                    srcCreds: puller,
                    srcCertDir: certDir,
                    timeoutMs: COPY_TIMEOUT_MS,
                });
                return { client, startMs, ms: Date.now() - startMs, ok: res.code === 0, ...(res.code === 0 ? {} : { error: lastLine(res, secrets) }) };
            });
            // After the clock: each pulled image is the pushed one, byte for byte.
            for (const run of pull.runs) {
                if (!run.ok) {
                    continue;
                }
                try {
                    const got = readAndVerifyOciImage(pulled(run.client), tagOf(run.client));
                    if (got.manifest.digest !== images[run.client].manifest.digest) {
                        throw new Error(`pulled manifest ${got.manifest.digest}, pushed ${images[run.client].manifest.digest}`);
                    }
                } catch (e) {
                    run.ok = false;
                    run.error = e instanceof Error ? e.message : String(e);
                }
            }
            for (let client = 0; client < o.clients; client++) {
                fs.rmSync(pulled(client), { recursive: true, force: true });
                fs.rmSync(images[client].layoutDir, { recursive: true, force: true });
            }
            rounds.push({ push, pull });
            log(`[replicas] N=${replicas} round ${round + 1}: ${renderRow(replicas, round, push, "push").join(" ")} | ${renderRow(replicas, round, pull, "pull").join(" ")}`);
        }
        return { replicas, registryIsBalancer, bootAndDeploySeconds, rounds };
    } finally {
        await lab.dispose();
    }
}

async function measure(): Promise<ReplicasResults> {
    const started = Date.now();
    const loadBefore = os.loadavg();
    const counts = argument("replicas", "1,2,3").split(",").map(Number);
    const o = {
        clients: Number(argument("clients", "6")),
        rounds: Number(argument("rounds", "3")),
        layers: Number(argument("layers", "3")),
        layerMib: Number(argument("layer-mib", "8")),
        cpus: Number(argument("cpus", "0.5")),
        memoryMib: Number(argument("memory-mib", "1024")),
        streamPulls: process.argv.includes("--stream-pulls"),
    };
    if (counts.some((n) => !Number.isInteger(n) || n < 1 || n > 10) || !Number.isInteger(o.clients) || o.clients < 1 || !Number.isInteger(o.rounds) || o.rounds < 1 || !(o.layerMib > 0) || !(o.cpus > 0) || !(o.memoryMib > 0)) {
        throw new Error("--replicas takes counts like 1,2,3 (1-10), --clients and --rounds positive integers, --layer-mib, --cpus and --memory-mib positive numbers");
    }
    const runs: ReplicaRun[] = [];
    for (const n of counts) {
        runs.push(await measureReplicas(n, o));
    }
    return {
        meta: {
            startedAt: new Date(started).toISOString(),
            durationSeconds: Math.round((Date.now() - started) / 1000),
            host: hostInfo(loadBefore),
            clients: o.clients,
            rounds: o.rounds,
            layers: o.layers,
            layerMib: o.layerMib,
            twinCpus: o.cpus,
            twinMemoryMib: o.memoryMib,
            redirectPullsToS3: !o.streamPulls,
        },
        runs,
    };
}

const fmt = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-");

/** One phase of one N, as the table's cells. */
function renderRow(replicas: number, round: number, p: PhaseResult, which: "push" | "pull"): string[] {
    const ok = p.runs.filter((r) => r.ok);
    const times = ok.map((r) => r.ms / 1000);
    const moved = (p.mib * ok.length) / p.clients;
    const requests = p.requestsByReplica.reduce((a, b) => a + b, 0);
    const share = p.requestsByReplica.map((r) => (requests === 0 ? "-" : `${Math.round((100 * r) / requests)}`)).join("/");
    return [
        String(replicas),
        String(round + 1),
        which,
        fmt(moved / (p.wallMs / 1000)),
        fmt(p.wallMs / 1000),
        fmt(quantile(times, 0.5)),
        fmt(quantile(times, 1)),
        String(p.runs.length - ok.length),
        `${requests}${which === "pull" ? ` (${p.redirects} 307)` : ""}`,
        share,
        p.cpuSecondsByTwin.map((s) => fmt(s)).join("/"),
        p.throttledSecondsByTwin.map((s) => fmt(s)).join("/"),
        `${Math.round(p.machineBusy * 100)}%`,
    ];
}

export function renderTable(results: ReplicasResults): string {
    const rows = [["N", "round", "phase", "MiB/s", "wall s", "p50 s", "max s", "failed", "requests", "share % by replica", "CPU s by twin", "throttled s", "machine busy"]];
    for (const run of results.runs) {
        for (const which of ["push", "pull"] as const) {
            for (const [round, r] of run.rounds.entries()) {
                rows.push(renderRow(run.replicas, round, r[which], which));
            }
        }
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    return rows.map((row) => row.map((cell, i) => (i === 2 || i === 9 || i === 10 || i === 11 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  ")).join("\n");
}

async function main(): Promise<void> {
    const outFile = path.resolve(argument("out", path.join(REPO_ROOT, "bench", "results", "twin-replicas.json")));
    const results = await measureOrLoad(outFile, measure, log);
    const m = results.meta;
    const out = (line: string) => process.stdout.write(`${line}\n`);
    out(
        `${m.clients} clients, each its own image of ${m.layers} x ${m.layerMib} MiB (random bytes), pushed at once with skopeo, then pulled at once; ` +
            `each twin held to ${m.twinMemoryMib} MiB and ${m.twinCpus} CPU, on ${m.host.cpus} CPUs (${m.host.model}); pulls ${m.redirectPullsToS3 ? "redirected to the bucket (the default)" : "streamed through the replicas"}`,
    );
    out(renderTable(results));
    out("MiB/s: the phase's MiB of images copied whole / wall seconds (first start to last end); p50, max: one copy's seconds; failed: copies that failed (pulls: or differ);");
    out("requests: access log lines for the bench's repositories, over every replica (307: redirects to the bucket), and each replica's share of them;");
    out("CPU s: each twin's cpuacct.usage over the phase (registry and front included); throttled s: its cpu cgroup's throttled_time; machine busy: this machine's CPUs, /proc/stat.");
    for (const run of results.runs) {
        for (const which of ["push", "pull"] as const) {
            for (const [round, phase] of run.rounds.entries()) {
                for (const r of phase[which].runs.filter((x) => !x.ok)) {
                    out(`N=${run.replicas} round ${round + 1}: ${which} of client ${r.client} failed: ${r.error ?? "?"}`);
                }
            }
        }
        out(`N=${run.replicas}: boot and deploy took ${fmt(run.bootAndDeploySeconds, 0)} s; the registry's address was ${run.registryIsBalancer ? "the balancer's" : "the droplet's"}`);
    }
    out(`measured ${m.startedAt}, ${fmt(m.durationSeconds / 60)} min; load ${m.host.loadBefore.join(" ")} before, ${m.host.loadAfter.join(" ")} after`);
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exit(1);
    });
}
