import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import * as readline from "node:readline";
import { DEFAULTS } from "../../components/settings";
import { ProcessTracker } from "../../test/harness/processes";
import { parseAccessLog } from "../../test/harness/s3";
import { REPO_ROOT } from "../../test/harness/tools";
import { cpuSeconds, peakRssMb } from "../lib/proc";
import { deletePrefix, rawGet, rawPut, s3Client } from "../lib/s3baseline";
import type { AgentReady, AgentRequest, Endpoint, Started } from "./agent";
import { pullBlob, pushImage, Timings, type Image, type RegistryTarget } from "./client";
import { B_PUSH_BY_CONCURRENCY, type OpSample, type OursStorage, type Series, type SweepPoint, type Variant, type Workload } from "./results";
import { PUSH_CONCURRENCIES, inPool } from "./pool";
import { NetworkRig, type RigLayout } from "./rig";
import { imageBytes, makeLayers, workloadSizes, type Layers } from "./workloads";

/**
 * The network bench's measuring half, run INSIDE the `ci` namespace so that every request it
 * makes is the runner's: to the front over ci->droplet, to S3 over ci->s3. The registries are
 * started by agent.ts inside `droplet` (see why there). CPU and peak RSS are read from /proc:
 * namespaces split the network, not the process table.
 *
 * Usage: driver.ts LAYOUT.json WORKDIR OUT.json ROUNDS SWEEP_ROUNDS CHUNKS(5,10,..) QUICK(0|1)
 */

export interface DriverOutput {
    series: Series[];
    sweep: SweepPoint[];
    failures: string[];
    /** The storage settings ours ran with in the main comparison (the first one started). */
    oursStorage?: OursStorage;
}

const ORDER: ("baseline" | "ours" | "peer")[] = ["baseline", "ours", "peer"];

function log(message: string): void {
    process.stderr.write(`[bench:net ci ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** Speaks agent.ts's line protocol. */
class AgentClient {
    private readonly answers: ((line: string) => void)[] = [];
    private readonly lines: string[] = [];

    private constructor(private readonly child: ChildProcess) {
        const rl = readline.createInterface({ input: child.stdout! });
        rl.on("line", (line) => {
            const waiter = this.answers.shift();
            if (waiter) {
                waiter(line);
            } else {
                this.lines.push(line);
            }
        });
        child.on("exit", (code) => {
            for (const waiter of this.answers.splice(0)) {
                waiter(JSON.stringify({ ok: false, error: `the agent exited (${code}); see its log` }));
            }
        });
    }

    static start(rig: NetworkRig, dir: string): AgentClient {
        const [head, ...rest] = rig.prefix("droplet");
        const logFd = fs.openSync(path.join(dir, "agent.log"), "a");
        const child = spawn(head, [...rest, process.execPath, "--import", "tsx", path.join(__dirname, "agent.ts"), path.join(dir, "rig.json"), path.join(dir, "droplet")], {
            cwd: REPO_ROOT,
            stdio: ["pipe", "pipe", logFd],
        });
        fs.closeSync(logFd);
        // Closing stdin is how the agent is told to stop its servers and exit.
        process.on("exit", () => child.kill("SIGTERM"));
        return new AgentClient(child);
    }

    private next(): Promise<unknown> {
        return new Promise((resolve, reject) => {
            const take = (line: string) => {
                const answer = JSON.parse(line) as { ok: boolean; value?: unknown; error?: string };
                if (answer.ok) {
                    resolve(answer.value);
                } else {
                    reject(new Error(`agent: ${answer.error ?? "failed"}`));
                }
            };
            const queued = this.lines.shift();
            if (queued !== undefined) {
                take(queued);
            } else {
                this.answers.push(take);
            }
        });
    }

    ready(): Promise<AgentReady> {
        return this.next() as Promise<AgentReady>;
    }

    ask(request: AgentRequest): Promise<Started> {
        this.child.stdin!.write(`${JSON.stringify(request)}\n`);
        return this.next() as Promise<Started>;
    }

    async close(): Promise<void> {
        this.child.stdin!.end();
        await new Promise((resolve) => (this.child.exitCode !== null ? resolve(undefined) : this.child.once("exit", resolve)));
    }
}

const ticks = (seconds: number) => Math.round(seconds * 100) / 100;

class Measurer {
    readonly series: Series[] = [];

    constructor(
        private readonly ready: AgentReady,
        private readonly scratch: string,
    ) {}

    private s3Count(): number {
        try {
            return parseAccessLog(fs.readFileSync(this.ready.s3.accessLog, "utf8")).length;
        } catch {
            return 0;
        }
    }

    private s3OpsSince(since: number): Record<string, number> {
        const counts: Record<string, number> = {};
        for (const op of parseAccessLog(fs.readFileSync(this.ready.s3.accessLog, "utf8")).slice(since)) {
            counts[op.operation] = (counts[op.operation] ?? 0) + 1;
        }
        return counts;
    }

    /** Times `run`, with the CPU of the serving processes and the S3 requests it caused. */
    async op(ep: Endpoint | undefined, bytes: number, where: { round: number; position: number }, run: (t: Timings) => Promise<Partial<OpSample> | void>): Promise<OpSample> {
        const since = this.s3Count();
        const cpu = () => ({ registry: ep ? cpuSeconds(ep.registryPid) : null, front: ep?.frontPid ? cpuSeconds(ep.frontPid) : null, s3: cpuSeconds(this.ready.s3.pid) });
        const before = cpu();
        const t = new Timings();
        const started = performance.now();
        let extra: Partial<OpSample> | void = undefined;
        let error: string | undefined;
        try {
            extra = await run(t);
        } catch (e) {
            error = e instanceof Error ? e.message : String(e);
        }
        const seconds = (performance.now() - started) / 1000;
        const after = cpu();
        const d = (a: number | null, b: number | null) => (a === null || b === null ? null : ticks(b - a));
        // The S3 server writes its access log as requests finish; give the last line a moment.
        await new Promise((r) => setTimeout(r, 200));
        return {
            ...where,
            seconds,
            bytes,
            ok: error === undefined,
            ...(error === undefined ? {} : { error }),
            cpu: { registry: d(before.registry, after.registry), front: d(before.front, after.front), s3: ticks(after.s3 - before.s3) },
            requests: t.byKind,
            s3Ops: this.s3OpsSince(since),
            ...(extra ?? {}),
        };
    }

    record(variant: Variant, workload: Workload, sample: OpSample): void {
        let s = this.series.find((x) => x.variant === variant && x.workload === workload);
        if (s === undefined) {
            s = { variant, workload, samples: [] };
            this.series.push(s);
        }
        s.samples.push(sample);
        log(`round ${sample.round + 1} ${variant} ${workload}: ${sample.ok ? `${(sample.bytes / 2 ** 20 / sample.seconds).toFixed(1)} MiB/s (${sample.seconds.toFixed(2)} s)` : `ERROR ${sample.error}`}`);
    }

    target(started: Started, ep: Endpoint): RegistryTarget {
        return { url: ep.url, ca: this.ready.ca, login: started.login };
    }

    /** Eight (or however many) concurrent pushes on a registry started for them: errors, peak RSS, and every blob pulled back and hashed. */
    async concurrent(started: Started, images: Image[], where: { round: number; position: number }, verify: boolean): Promise<OpSample> {
        const ep = started.endpoints[0];
        const target = this.target(started, ep);
        const bytes = images.reduce((n, i) => n + imageBytes(i), 0);
        const sample = await this.op(ep, bytes, where, async (t) => {
            const results = await Promise.allSettled(images.map((image) => pushImage(target, image, t)));
            const failures = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
            if (failures.length > 0) {
                throw new Error(`${failures.length} of ${images.length} pushes failed: ${String(failures[0].reason)}`);
            }
        });
        sample.peakRssMb = Math.round(peakRssMb(ep.registryPid) * 10) / 10;
        sample.errors = sample.ok ? 0 : 1;
        if (!verify) {
            return sample;
        }
        sample.expected = images.reduce((n, i) => n + i.layers.length, 0);
        let verified = 0;
        for (const image of images) {
            for (const layer of image.layers) {
                try {
                    await pullBlob(target, image.repo, layer.digest, path.join(this.scratch, "verify.bin"), ep.redirect, new Timings());
                    verified += 1;
                } catch (e) {
                    sample.errors += 1;
                    sample.error = sample.error ?? (e instanceof Error ? e.message : String(e));
                }
            }
        }
        sample.verified = verified;
        sample.ok = sample.ok && sample.errors === 0;
        return sample;
    }
}

async function main(): Promise<void> {
    const [layoutFile, dir, outFile, roundsArg, sweepArg, chunksArg, quickArg] = process.argv.slice(2);
    const layout = JSON.parse(fs.readFileSync(layoutFile, "utf8")) as RigLayout;
    const tracker = new ProcessTracker();
    const rig = NetworkRig.attach(tracker, layout);
    fs.copyFileSync(layoutFile, path.join(dir, "rig.json"));
    const rounds = Number(roundsArg);
    const sweepRounds = Number(sweepArg);
    const chunks = chunksArg.split(",").map(Number);
    const sizes = workloadSizes(quickArg === "1");
    const agent = AgentClient.start(rig, dir);
    const failures: string[] = [];
    const sweep: SweepPoint[] = chunks.map((chunkMb) => ({ chunkMb, push: [], conc: [], bConc: [] }));
    let m: Measurer | undefined;
    let oursStorage: OursStorage | undefined;
    try {
        const ready = await agent.ready();
        log(`S3 at ${ready.s3.endpoint}; writing layers`);
        const layers: Layers = await makeLayers(path.join(dir, "layers"), sizes);
        const scratch = path.join(dir, "scratch");
        fs.mkdirSync(scratch, { recursive: true });
        const measurer = new Measurer(ready, scratch);
        m = measurer;
        const s3 = s3Client({ endpoint: ready.s3.endpoint, region: ready.s3.region, bucket: ready.buckets.baseline, accessKey: ready.s3.accessKey, secretKey: ready.s3.secretKey });
        const partBytes = DEFAULTS.s3ChunkSizeMb * 1024 * 1024;
        const bucket = ready.buckets.baseline;
        const aLayer = layers.a.layers[0];
        /** (b) at each concurrency: its own bytes above 1, so no push finds its blobs already there. */
        const bImages = PUSH_CONCURRENCIES.map((concurrency) => ({ concurrency, image: concurrency === 1 ? layers.b : layers.bAt[concurrency], workload: B_PUSH_BY_CONCURRENCY[concurrency] }));

        const baseline = async (where: { round: number; position: number }) => {
            const put = (prefix: string, image: Image) => Promise.all([...image.layers.map((l, i) => ({ l, i }))].map(async ({ l, i }) => rawPut(s3, bucket, `${prefix}/${i}`, l.path, partBytes)));
            // The registry's clients push `concurrency` layers at once; the baseline uploads as many objects at once.
            const layersAtOnce = (prefix: string, image: Image, concurrency: number) => inPool(image.layers, concurrency, (l, i) => rawPut(s3, bucket, `${prefix}/${i}`, l.path, partBytes));
            const sequential = (prefix: string, image: Image) => layersAtOnce(prefix, image, 1);
            measurer.record("baseline", "a-push", await measurer.op(undefined, aLayer.size, where, () => sequential(`r${where.round}/a`, layers.a)));
            measurer.record("baseline", "a-pull", await measurer.op(undefined, aLayer.size, where, async () => {
                const got = await rawGet(s3, bucket, `r${where.round}/a/0`, path.join(scratch, "a.bin"));
                fs.rmSync(path.join(scratch, "a.bin"), { force: true });
                if (`sha256:${got}` !== aLayer.digest) {
                    throw new Error(`direct GET: got sha256:${got}, want ${aLayer.digest}`);
                }
            }));
            for (const b of bImages) {
                measurer.record("baseline", b.workload, await measurer.op(undefined, imageBytes(b.image), where, () => layersAtOnce(`r${where.round}/${b.workload}`, b.image, b.concurrency)));
            }
            measurer.record("baseline", "c-push", await measurer.op(undefined, imageBytes(layers.c), where, () => sequential(`r${where.round}/c`, layers.c)));
            measurer.record("baseline", "d-push", await measurer.op(undefined, layers.d.reduce((n, i) => n + imageBytes(i), 0), where, async () => {
                await Promise.all(layers.d.map((image, i) => put(`r${where.round}/d${i}`, image)));
            }));
            await deletePrefix(s3, bucket, "");
        };

        const registryRun = async (variant: "ours" | "peer", where: { round: number; position: number }) => {
            const start = () => agent.ask(variant === "ours" ? { cmd: "ours", chunkMb: DEFAULTS.s3ChunkSizeMb } : { cmd: "peer" });
            const started = await start();
            const [on, off] = started.endpoints;
            oursStorage ??= variant === "ours" ? on.storage : undefined;
            const target = measurer.target(started, on);
            const push = async (workload: Workload, image: Image, concurrency = 1) =>
                measurer.record(variant, workload, await measurer.op(on, imageBytes(image), where, (t) => pushImage(target, image, t, concurrency)));
            await push("a-push", layers.a);
            const pulls: [Variant, Endpoint][] = off === undefined ? [[variant, on]] : [[variant, on], ["ours-noredirect", off]];
            for (const [v, ep] of where.round % 2 === 0 ? pulls : [...pulls].reverse()) {
                measurer.record(v, "a-pull", await measurer.op(ep, aLayer.size, where, (t) => pullBlob(measurer.target(started, ep), layers.a.repo, aLayer.digest, path.join(scratch, "pull.bin"), ep.redirect, t)));
            }
            for (const b of bImages) {
                await push(b.workload, b.image, b.concurrency);
            }
            await push("c-push", layers.c);
            // A fresh process, so its VmHWM is this workload's.
            measurer.record(variant, "d-push", await measurer.concurrent(await start(), layers.d, where, true));
        };

        for (let round = 0; round < rounds; round++) {
            const order = [...ORDER.slice(round % ORDER.length), ...ORDER.slice(0, round % ORDER.length)];
            for (const [position, variant] of order.entries()) {
                const where = { round, position };
                try {
                    await (variant === "baseline" ? baseline(where) : registryRun(variant, where));
                } catch (e) {
                    failures.push(`round ${round + 1}, ${variant}: ${e instanceof Error ? e.message : String(e)}`);
                    log(`FAILED ${failures[failures.length - 1]}`);
                }
            }
        }

        for (let round = 0; round < sweepRounds; round++) {
            const order = round % 2 === 0 ? sweep : [...sweep].reverse();
            for (const [position, point] of order.entries()) {
                const where = { round, position };
                try {
                    const started = await agent.ask({ cmd: "ours", chunkMb: point.chunkMb });
                    const on = started.endpoints[0];
                    if (on.chunkBytes !== point.chunkMb * 1024 * 1024) {
                        throw new Error(`asked for ${point.chunkMb} MiB chunks, the registry runs ${on.chunkBytes} bytes`);
                    }
                    const push = await measurer.op(on, imageBytes(layers.a), where, (t) => pushImage(measurer.target(started, on), layers.a, t));
                    point.push.push(push);
                    // Docker's 5 at once on the same registry (its bucket has none of these blobs): what a larger part does to a real push.
                    const b5 = await measurer.op(on, imageBytes(layers.bAt[5]), where, (t) => pushImage(measurer.target(started, on), layers.bAt[5], t, 5));
                    (point.bConc ??= []).push(b5);
                    // Not pulled back (time): the main run's (d) verifies every digest; here only errors count.
                    const conc = await measurer.concurrent(await agent.ask({ cmd: "ours", chunkMb: point.chunkMb }), layers.dSweep, where, false);
                    point.conc.push(conc);
                    log(`sweep round ${round + 1} ${point.chunkMb} MiB: push ${push.ok ? `${(push.bytes / 2 ** 20 / push.seconds).toFixed(1)} MiB/s` : `ERROR ${push.error}`}; (b) 5 at once ${b5.ok ? `${(b5.bytes / 2 ** 20 / b5.seconds).toFixed(1)} MiB/s` : `ERROR ${b5.error}`}; ${layers.dSweep.length} concurrent: peak RSS ${conc.peakRssMb} MB${conc.ok ? "" : ` ERROR ${conc.error}`}`);
                } catch (e) {
                    failures.push(`sweep round ${round + 1}, ${point.chunkMb} MiB: ${e instanceof Error ? e.message : String(e)}`);
                    log(`FAILED ${failures[failures.length - 1]}`);
                }
            }
        }
    } catch (e) {
        failures.push(e instanceof Error ? (e.stack ?? e.message) : String(e));
    } finally {
        await agent.ask({ cmd: "stop" }).catch(() => undefined);
        await agent.close();
        await tracker.dispose();
    }
    const out: DriverOutput = { series: m?.series ?? [], sweep, failures, ...(oursStorage === undefined ? {} : { oursStorage }) };
    fs.writeFileSync(outFile, JSON.stringify(out));
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
