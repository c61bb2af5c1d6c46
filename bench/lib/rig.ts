/**
 * The benchmark rig: the harness's versitygw, a throwaway CA, skopeo, and as many registry
 * processes as a measurement needs, plus the accounting around each operation (wall time, CPU
 * seconds of every process involved, the registry's peak RSS, S3 requests).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";

import type { S3Client } from "@aws-sdk/client-s3";

import {
    LocalRegistry,
    ProcessTracker,
    S3Server,
    Skopeo,
    dockerRef,
    generateLogin,
    generateTestCertificates,
    ociRef,
    readAndVerifyOciImage,
    request,
    type OciImage,
    type RegistryLogin,
    type S3Operation,
    type StartOptions,
    type TrackedProcess,
    type TestCertificates,
} from "../../test/harness";
import type { RegistryConfigInput } from "../../components/render/registryConfig";
import { REGISTRY_CONTAINER_ENV } from "../../components/render/scripts";
import { RssSampler, cpuSeconds, machineBusySeconds, peakRssMb, reapedChildrenCpuSeconds, resetPeakRss, selfCpuSeconds } from "./proc";
import { getBlobThroughRegistry } from "./httpget";
import { deletePrefix, ensureBucket, rawGet, rawPut, s3Client } from "./s3baseline";

export const MiB = 1024 * 1024;

/** CPU seconds spent during one operation, per process. */
export interface CpuSplit {
    registry: number;
    s3: number;
    /** skopeo (reaped child processes) or, for the baseline, the SDK in this Node process. */
    client: number;
}

export interface Sample {
    seconds: number;
    bytes: number;
    /** MiB/s */
    mbps: number;
    cpu: CpuSplit;
    /** Busy cores of the whole machine during the operation (all processes, ours and others'). */
    machineCores: number;
    /** Of those, cores used by processes outside the benchmark (other tenants of the machine). */
    otherCores: number;
    /** Seconds the S3 server spent serving requests during the operation, by S3 operation (from its access log). */
    s3Seconds: Record<string, number>;
    /** Seconds the registry spent answering requests, by kind (from its log's http.response.duration). */
    registrySeconds?: Record<string, number>;
    /** Requests the registry answered during the operation. */
    registryRequests?: number;
    registryCounts?: Record<string, number>;
    /** Registry VmHWM after the operation (the process was started fresh for it). */
    peakRssMb?: number;
    /** Highest VmRSS seen by sampling every 50 ms (cross-check of VmHWM). */
    sampledRssMb?: number;
    errors: number;
    /** Images whose every blob was pulled back and matched its digest. */
    verified?: number;
    expected?: number;
    /** Times the shared base layer was uploaded (concurrency runs). */
    baseUploads?: number;
    messages?: string[];
}

export type StorageKind = "s3" | "filesystem";

export interface RegistrySpec {
    name: string;
    storage: StorageKind;
    chunkMb: number;
    redirect: boolean;
    /**
     * Environment for the registry process on top of the harness's (which includes the
     * container's REGISTRY_CONTAINER_ENV), e.g. `{ GOMEMLIMIT: "off" }`; applied on every start.
     */
    env?: Record<string, string>;
    /** An htpasswd line for the rig's login other than the program's (e.g. another bcrypt cost). */
    htpasswd?: string;
}

interface CpuSnapshot {
    registry: number;
    s3: number;
    children: number;
    self: number;
    machine: number;
    /** Index into the S3 access log, taken before the CPU counters (parsing the log costs CPU). */
    s3Ops: number;
}

/**
 * The harness's tracker, except that a registry whose directory has an entry in `registryEnv`
 * starts with those variables on top of the environment the harness gives it. The harness sets
 * REGISTRY_CONTAINER_ENV after this process's environment, so that is the only place a variant
 * can override one of the container's variables.
 */
class BenchTracker extends ProcessTracker {
    readonly registryEnv = new Map<string, Record<string, string>>();

    override start(name: string, command: string, args: readonly string[], options: StartOptions): TrackedProcess {
        const extra = name === "registry" ? this.registryEnv.get(path.dirname(options.logFile)) : undefined;
        return super.start(name, command, args, extra ? { ...options, env: { ...(options.env ?? process.env), ...extra } } : options);
    }
}

/** One variable of a running process's environment (undefined when unset). */
export function processEnv(pid: number, name: string): string | undefined {
    const entries = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
    const entry = entries.find((e) => e.startsWith(`${name}=`));
    return entry === undefined ? undefined : entry.slice(name.length + 1);
}

export class Rig {
    readonly tracker = new BenchTracker();
    readonly login: RegistryLogin & { htpasswd: string } = generateLogin("bench");
    readonly bucket = "registry";
    readonly baselineBucket = "baseline";
    s3!: S3Server;
    certs!: TestCertificates;
    skopeo!: Skopeo;
    client!: S3Client;
    private registries: LocalRegistry[] = [];
    /** What each registry's environment must hold, checked after every start. */
    private readonly expectedEnv = new Map<LocalRegistry, Record<string, string>>();

    constructor(readonly dir: string) {}

    static async create(dir: string): Promise<Rig> {
        const rig = new Rig(dir);
        fs.mkdirSync(dir, { recursive: true });
        rig.s3 = await S3Server.start(rig.tracker, { dir: path.join(dir, "s3") });
        await rig.s3.createBucket(rig.bucket);
        rig.certs = await generateTestCertificates(rig.tracker, path.join(dir, "tls"));
        rig.skopeo = new Skopeo(rig.tracker, path.join(dir, "skopeo"));
        rig.client = s3Client({ endpoint: rig.s3.endpoint, region: rig.s3.region, bucket: rig.baselineBucket, accessKey: rig.s3.accessKey, secretKey: rig.s3.secretKey });
        await ensureBucket(rig.client, rig.baselineBucket);
        return rig;
    }

    get s3Pid(): number {
        return this.s3.process!.pid;
    }

    /** Where the filesystem driver stores. */
    get fsRoot(): string {
        return path.join(this.dir, "fs-storage");
    }

    /** A registry with the program's rendered config, chunk size / redirect / storage as given. */
    async startRegistry(spec: RegistrySpec): Promise<LocalRegistry> {
        const configure = (program: RegistryConfigInput): RegistryConfigInput => {
            // The deployed registry serves plain HTTP on loopback behind the front (whose cost
            // bench:front measures); here it terminates TLS itself, so skopeo talks to it as a
            // client talks to the droplet, and the numbers stay comparable with earlier runs.
            const input: RegistryConfigInput = { ...program, http: { ...program.http, tls: { kind: "files", certificate: this.certs.certFile, key: this.certs.keyFile } } };
            if (spec.storage === "filesystem") {
                return { ...input, redirect: spec.redirect, storage: { kind: "filesystem", rootDirectory: this.fsRoot } };
            }
            if (input.storage.kind !== "s3") {
                throw new Error("expected the harness to render S3 storage");
            }
            return { ...input, redirect: spec.redirect, storage: { ...input.storage, chunkSizeBytes: spec.chunkMb * MiB } };
        };
        const dir = path.join(this.dir, "registries", spec.name);
        if (spec.env) {
            this.tracker.registryEnv.set(dir, spec.env);
        }
        const registry = await LocalRegistry.start(this.tracker, {
            dir,
            s3: { endpoint: this.s3.endpoint, region: this.s3.region, bucket: this.bucket, accessKey: this.s3.accessKey, secretKey: this.s3.secretKey },
            certs: this.certs,
            login: spec.htpasswd ? { ...this.login, htpasswd: spec.htpasswd } : this.login,
            redirect: spec.redirect,
            configure,
        });
        this.registries.push(registry);
        this.expectedEnv.set(registry, { ...REGISTRY_CONTAINER_ENV, ...spec.env });
        this.checkEnvironment(registry);
        return registry;
    }

    /** Throws unless the running registry has the environment its spec asked for. */
    checkEnvironment(registry: LocalRegistry): void {
        const pid = registry.process?.pid;
        if (pid === undefined || !registry.running) {
            throw new Error(`registry ${registry.dir} is not running`);
        }
        for (const [name, want] of Object.entries(this.expectedEnv.get(registry) ?? {})) {
            const got = processEnv(pid, name);
            if (got !== want) {
                throw new Error(`registry ${registry.dir} runs with ${name}=${got ?? "(unset)"}, expected ${want}`);
            }
        }
    }

    /** A variable of the running registry's environment, as the process sees it. */
    registryEnv(registry: LocalRegistry, name: string): string | undefined {
        return processEnv(registry.process!.pid, name);
    }

    /** Restarts the registry (with its spec's environment) and checks that environment. */
    async restart(registry: LocalRegistry): Promise<void> {
        await registry.stop();
        await registry.restart();
        this.checkEnvironment(registry);
    }

    async stopRegistry(registry: LocalRegistry): Promise<void> {
        await registry.stop();
        this.registries = this.registries.filter((r) => r !== registry);
    }

    /**
     * Empties the registry's storage (bucket directory or filesystem root) and restarts the
     * registry, so the next push uploads every blob and the process (its in-memory blob cache
     * and its peak RSS) starts fresh. Only call while no request is in flight.
     */
    async resetStorage(registry: LocalRegistry, kind: StorageKind): Promise<void> {
        await registry.stop();
        const root = kind === "s3" ? path.join(this.s3.dataDir, this.bucket) : this.fsRoot;
        fs.mkdirSync(root, { recursive: true });
        for (const entry of fs.readdirSync(root)) {
            fs.rmSync(path.join(root, entry), { recursive: true, force: true });
        }
        await this.restart(registry);
    }

    /** Call right before the timed operation starts (it parses the S3 access log first). */
    private snapshot(registry?: LocalRegistry, s3Ops = this.s3.operationCount()): CpuSnapshot {
        return {
            registry: registry?.process ? cpuSeconds(registry.process.pid) : 0,
            s3: cpuSeconds(this.s3Pid),
            children: reapedChildrenCpuSeconds(),
            self: selfCpuSeconds(),
            machine: machineBusySeconds(),
            s3Ops,
        };
    }

    /** CPU split, machine load and S3 service time between two snapshots. */
    private account(a: CpuSnapshot, b: CpuSnapshot, client: "children" | "self", seconds: number): Pick<Sample, "cpu" | "machineCores" | "otherCores" | "s3Seconds"> {
        const cpu = { registry: b.registry - a.registry, s3: b.s3 - a.s3, client: b[client] - a[client] };
        const ours = cpu.registry + cpu.s3 + (b.children - a.children) + (b.self - a.self);
        const machine = b.machine - a.machine;
        const s3Seconds: Record<string, number> = {};
        for (const op of this.s3.operations({ since: a.s3Ops })) {
            if (!isHealthCheck(op)) {
                s3Seconds[op.operation] = (s3Seconds[op.operation] ?? 0) + serviceMs(op) / 1000;
            }
        }
        return { cpu, machineCores: machine / seconds, otherCores: Math.max(0, machine - ours) / seconds, s3Seconds };
    }

    /**
     * Times `run` against a registry and accounts for it: CPU of every process involved (the
     * client is skopeo, i.e. reaped children, or this process), the registry's peak RSS and
     * request log, the S3 server's request times.
     */
    private async registryOp(registry: LocalRegistry, bytes: number, client: "children" | "self", run: () => Promise<{ errors: string[] }>): Promise<Sample> {
        const pid = registry.process!.pid;
        const logStart = registry.log().length;
        resetPeakRss(pid);
        const sampler = new RssSampler(pid);
        const before = this.snapshot(registry);
        const started = performance.now();
        const { errors } = await run();
        const seconds = (performance.now() - started) / 1000;
        const after = this.snapshot(registry, 0);
        const sampledRssMb = sampler.stop();
        const requests = parseRegistryLog(registry.log().slice(logStart));
        const registrySeconds: Record<string, number> = {};
        const registryCounts: Record<string, number> = {};
        for (const r of requests) {
            registrySeconds[r.kind] = (registrySeconds[r.kind] ?? 0) + r.seconds;
            registryCounts[r.kind] = (registryCounts[r.kind] ?? 0) + 1;
        }
        return {
            seconds,
            bytes,
            mbps: bytes / MiB / seconds,
            ...this.account(before, after, client, seconds),
            registrySeconds,
            registryCounts,
            registryRequests: requests.length,
            peakRssMb: peakRssMb(pid),
            sampledRssMb,
            errors: errors.length,
            messages: errors,
        };
    }

    /** Runs skopeo copies concurrently and accounts for them as one operation. */
    private skopeoOp(registry: LocalRegistry, bytes: number, copies: { src: string; dest: string; pull: boolean }[]): Promise<Sample> {
        return this.registryOp(registry, bytes, "children", async () => {
            const results = await Promise.all(
                copies.map((c) =>
                    this.skopeo.copy(c.src, c.dest, c.pull ? { srcCreds: this.login, srcCertDir: this.certs.certDir } : { destCreds: this.login, destCertDir: this.certs.certDir }),
                ),
            );
            return { errors: results.filter((r) => r.code !== 0).map((r) => r.stderr.trim().split("\n").slice(-2).join(" ")) };
        });
    }

    /**
     * One blob GET through the registry with the baseline's client (this process), following
     * the redirect when there is one; the blob is written to `file`, hashed and checked.
     */
    async blobGet(registry: LocalRegistry, repo: string, layer: { digest: string; size: number }, file: string): Promise<Sample> {
        let ok = false;
        const sample = await this.registryOp(registry, layer.size, "self", async () => {
            const got = await getBlobThroughRegistry(`${registry.url}/v2/${repo}/blobs/${layer.digest}`, file, {
                ca: this.certs.caCertPem,
                username: this.login.username,
                password: this.login.password,
            });
            ok = got.digest === layer.digest;
            return { errors: ok ? [] : [`blob GET ${repo}: got ${got.digest}, want ${layer.digest}`] };
        });
        fs.rmSync(file, { force: true });
        sample.verified = ok ? 1 : 0;
        sample.expected = 1;
        return sample;
    }

    /** Pushes images (concurrently when more than one) to `repo<i>`. */
    async push(registry: LocalRegistry, images: OciImage[], repo: (i: number) => string): Promise<Sample> {
        const bytes = images.reduce((sum, img) => sum + img.totalLayerBytes, 0);
        return this.skopeoOp(
            registry,
            bytes,
            images.map((img, i) => ({ src: ociRef(img.layoutDir, img.tag), dest: dockerRef(registry.host, repo(i), img.tag), pull: false })),
        );
    }

    /** Pulls `image` from `repo` into a fresh layout under `intoDir`, then verifies every blob. */
    async pull(registry: LocalRegistry, image: OciImage, repo: string, intoDir: string): Promise<Sample> {
        fs.rmSync(intoDir, { recursive: true, force: true });
        const sample = await this.skopeoOp(registry, image.totalLayerBytes, [{ src: dockerRef(registry.host, repo, image.tag), dest: ociRef(intoDir, image.tag), pull: true }]);
        sample.expected = 1;
        sample.verified = sample.errors === 0 && verifyPulled(intoDir, image) === undefined ? 1 : 0;
        return sample;
    }

    /**
     * Pulls every image back (one at a time, not timed) and checks each blob against its
     * digest and the manifest against the one pushed. Returns how many images passed and why
     * the others failed.
     */
    async verifyAll(registry: LocalRegistry, images: OciImage[], repo: (i: number) => string, scratch: string): Promise<{ verified: number; failures: string[] }> {
        const failures: string[] = [];
        let verified = 0;
        fs.mkdirSync(scratch, { recursive: true });
        for (const [i, image] of images.entries()) {
            const dir = path.join(scratch, `verify-${i}`);
            fs.rmSync(dir, { recursive: true, force: true });
            const res = await this.skopeo.copy(dockerRef(registry.host, repo(i), image.tag), ociRef(dir, image.tag), { srcCreds: this.login, srcCertDir: this.certs.certDir });
            const problem = res.code !== 0 ? `pull ${repo(i)}: ${res.stderr.trim().split("\n").pop()}` : verifyPulled(dir, image);
            if (problem === undefined) {
                verified++;
            } else {
                failures.push(problem);
            }
            fs.rmSync(dir, { recursive: true, force: true });
        }
        return { verified, failures };
    }

    /** Baseline PUT: each entry is one object upload; all run at once. */
    async rawPut(files: { file: string; key: string }[], partSizeBytes: number): Promise<Sample> {
        const bytes = files.reduce((sum, f) => sum + fs.statSync(f.file).size, 0);
        const before = this.snapshot();
        const started = performance.now();
        await Promise.all(files.map((f) => rawPut(this.client, this.baselineBucket, f.key, f.file, partSizeBytes)));
        const seconds = (performance.now() - started) / 1000;
        const after = this.snapshot(undefined, 0);
        return { seconds, bytes, mbps: bytes / MiB / seconds, ...this.account(before, after, "self", seconds), errors: 0 };
    }

    /** Baseline GET of `key` into `file`, hashed; `digest` is what it must hash to. */
    async rawGet(key: string, file: string, digest: string): Promise<Sample> {
        const before = this.snapshot();
        const started = performance.now();
        const hex = await rawGet(this.client, this.baselineBucket, key, file);
        const seconds = (performance.now() - started) / 1000;
        const after = this.snapshot(undefined, 0);
        const bytes = fs.statSync(file).size;
        fs.rmSync(file, { force: true });
        const ok = `sha256:${hex}` === digest;
        return { seconds, bytes, mbps: bytes / MiB / seconds, ...this.account(before, after, "self", seconds), errors: ok ? 0 : 1, verified: ok ? 1 : 0, expected: 1 };
    }

    async clearBaseline(prefix = ""): Promise<void> {
        await deletePrefix(this.client, this.baselineBucket, prefix);
    }

    /** S3 requests logged since `since` (an earlier `s3.operationCount()`), minus the health checks. */
    s3OperationsSince(since: number): S3Operation[] {
        return this.s3.operations({ since }).filter((op) => !isHealthCheck(op));
    }

    /**
     * A CPU profile of the registry (Go pprof on its debug port) taken while `during` runs.
     * Returns the profile bytes, or undefined when the debug server did not deliver one.
     */
    async profileRegistry(registry: LocalRegistry, seconds: number, during: () => Promise<unknown>): Promise<Buffer | undefined> {
        const profile = request(`${registry.debugUrl}/debug/pprof/profile?seconds=${seconds}`, { timeoutMs: (seconds + 30) * 1000, maxBodyBytes: 64 * MiB });
        await new Promise((r) => setTimeout(r, 200));
        await during();
        const res = await profile;
        return res.status === 200 ? res.body : undefined;
    }

    async dispose(): Promise<void> {
        this.client?.destroy();
        await this.tracker.dispose();
    }
}

/** The storage health check: ListObjectsV2 of the bucket root with max-keys=1, every interval. */
export function isHealthCheck(op: S3Operation): boolean {
    return op.operation === "ListObjectsV2" && /max-keys=1&prefix= /.test(op.raw);
}

/** What a registry request was for, from its method and path. */
export type RequestKind = "upload data (PATCH)" | "commit (PUT ?digest=)" | "manifest" | "blob GET" | "other (HEAD, POST, GET /v2/)";

/** A Go duration ("602.1ms", "1.5s", "850µs", "1m2.5s") in seconds. */
export function goDurationSeconds(text: string): number {
    const units: Record<string, number> = { ns: 1e-9, us: 1e-6, "µs": 1e-6, "μs": 1e-6, ms: 1e-3, s: 1, m: 60, h: 3600 };
    let total = 0;
    for (const m of text.matchAll(/([\d.]+)(ns|us|µs|μs|ms|s|m|h)/g)) {
        total += Number(m[1]) * units[m[2]];
    }
    return total;
}

/** The registry's "response completed" log lines: kind and duration of every request. */
export function parseRegistryLog(text: string): { kind: RequestKind; seconds: number; status: number }[] {
    const out: { kind: RequestKind; seconds: number; status: number }[] = [];
    for (const line of text.split("\n")) {
        if (!line.includes('msg="response completed')) {
            continue;
        }
        const method = / http\.request\.method=(\S+)/.exec(line)?.[1] ?? "";
        const uri = / http\.request\.uri="?([^" ]+)/.exec(line)?.[1] ?? "";
        const duration = / http\.response\.duration=(\S+)/.exec(line)?.[1] ?? "0s";
        const status = Number(/ http\.response\.status=(\d+)/.exec(line)?.[1] ?? 0);
        let kind: RequestKind = "other (HEAD, POST, GET /v2/)";
        if (method === "PATCH") {
            kind = "upload data (PATCH)";
        } else if (method === "PUT" && uri.includes("/blobs/uploads/")) {
            kind = "commit (PUT ?digest=)";
        } else if (uri.includes("/manifests/")) {
            kind = "manifest";
        } else if (method === "GET" && uri.includes("/blobs/")) {
            kind = "blob GET";
        }
        out.push({ kind, seconds: goDurationSeconds(duration), status });
    }
    return out;
}

/** The S3 server's total time for a request in ms (access-log field after the object size). */
export function serviceMs(op: S3Operation): number {
    const m = / s3_\w+ \S+ \S+ \d{3} \S+ \S+ \S+ (\d+) /.exec(op.raw);
    return m ? Number(m[1]) : 0;
}

/** undefined when the layout holds exactly the pushed image; otherwise what differs. */
export function verifyPulled(dir: string, image: OciImage): string | undefined {
    try {
        const got = readAndVerifyOciImage(dir, image.tag);
        if (got.manifest.digest !== image.manifest.digest) {
            return `${image.tag}: manifest ${got.manifest.digest} != pushed ${image.manifest.digest}`;
        }
        const want = image.allDigests().join(",");
        if (got.allDigests().join(",") !== want) {
            return `${image.tag}: blobs ${got.allDigests().join(",")} != pushed ${want}`;
        }
        return undefined;
    } catch (error) {
        return error instanceof Error ? error.message : String(error);
    }
}
