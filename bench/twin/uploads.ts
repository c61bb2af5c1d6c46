/**
 * Layer uploads in parallel on the default droplet: a twin held to s-1vcpu-1gb's 1 GiB and one
 * vCPU (its memory and cpu cgroups) is deployed with the default stack as `pulumi up` deploys a
 * droplet; then, per phase, N uploads at once from the client namespace as the push user, through
 * the front, each as the OCI distribution-spec's chunked push makes it: a POST, one PATCH per
 * chunk of the stack's S3 chunk size (with its Content-Range), and the PUT with the digest, each
 * request on its own connection (uploadClients.ts). Every upload has a blob of its own, several
 * chunks long, so it stays open over several requests. Per phase it prints the peak memory of the
 * twin, the registry's container and the front's (their cgroups sampled every 200 ms), the
 * containers' memory limits and how often each reached it, the OOM kills (the twin's cgroup tree
 * and the whole machine), the containers' restarts, what the clients got, that every committed
 * blob answers a HEAD with its digest and size (and a few a GET whose bytes hash to it), and how
 * soon the registry served again. Then the verdict on the goal: no process killed, the registry
 * and the front inside their limits, and an upload the front does not let in refused with 429 or
 * 503, never reset.
 *
 *   node --import tsx bench/twin/uploads.ts [--parallel 10,40,100] [--mib 24]   (root; npm run setup first)
 *
 * The front lets FRONT_UPLOAD_REQUESTS_DEFAULT upload requests (registryMemory.ts
 * uploadsInFlightMax at the default chunk size) into the registry at once, counted apart from the
 * manifests (front.ts uploadUpstream); the rest wait for a free slot, up to
 * bodyRequestWaitSeconds, then get 503, which `docker push` retries. The bound counts requests,
 * not uploads: between its PATCHes an upload holds no slot, so N uploads take turns.
 *
 * What it does not show: `docker push` sends a layer as one PATCH of the whole blob, not chunk by
 * chunk, and keeps its connections alive; the clients here retry nothing, so a 503 ends the
 * upload that got it; the S3 stand-in is on this machine, so a part reaches storage faster than
 * it reaches S3 from a droplet, and a slower store holds each request, and its memory, longer.
 * The twin shares this machine's kernel and its CPUs with other work, so the figures are the
 * processes' (as bench/twin/memory.ts says), and the timings are this machine's.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CONTAINER_NAME, FRONT_CONTAINER_NAME } from "../../components/render/deployment";
import { FRONT_UPLOAD_REQUESTS_DEFAULT } from "../../components/render/front";
import { uploadsInFlightMax } from "../../components/render/registryMemory";
import { DEFAULTS } from "../../components/settings";
import { TwinLab } from "../../test/harness/twinLab";
import { sleep } from "../../test/harness/wait";
import { MemoryCgroup } from "./cgroup";
import { containerMemoryCgroup, inspectContainer, machineOomKills, oomKillsByCgroup } from "./containers";
import type { UploadJob, UploadReport } from "./uploadClients";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const DROPLET = { memoryBytes: GIB, cpus: 1 };
const REPO_ROOT = path.resolve(__dirname, "..", "..");
const RECOVERY_MS = 5 * 60_000;
const SAMPLE_MS = 200;
/** Committed blobs each phase reads back whole; every one gets a HEAD. */
const VERIFY_GETS = 2;

interface Login {
    username: string;
    password: string;
    role: string;
}

function flag(name: string): string | undefined {
    const at = process.argv.indexOf(name);
    return at >= 0 ? process.argv[at + 1] : undefined;
}

/** A curl config line's value, quoted as curl's config parser reads it. */
const curlQuote = (value: string) => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

/**
 * A container's memory peak and how often it reached its limit, over a phase. Its cgroup's
 * counters restart at the phase's start; a container restarted meanwhile has a new cgroup, so
 * the peak kept is the larger of its lives, and the counts add up.
 */
class ContainerWatch {
    peak = 0;
    failcnt = 0;
    private cgroup: MemoryCgroup | undefined;
    private failcntOfThisLife = 0;

    constructor(
        private readonly twin: MemoryCgroup,
        private readonly id: string,
    ) {
        this.cgroup = containerMemoryCgroup(twin, id);
        try {
            this.cgroup?.reset("memory.max_usage_in_bytes");
            this.cgroup?.reset("memory.failcnt");
        } catch {
            // gone meanwhile: the next sample finds the new one
        }
    }

    /** A container docker restarts keeps its ID, and gets a new cgroup of the same name. */
    sample(): void {
        if (this.cgroup === undefined || !this.cgroup.exists()) {
            this.failcnt += this.failcntOfThisLife;
            this.failcntOfThisLife = 0;
            this.cgroup = containerMemoryCgroup(this.twin, this.id);
        }
        try {
            if (this.cgroup !== undefined) {
                this.peak = Math.max(this.peak, this.cgroup.number("memory.max_usage_in_bytes"));
                this.failcntOfThisLife = this.cgroup.number("memory.failcnt");
            }
        } catch {
            // gone between the check and the read
        }
    }

    get failures(): number {
        return this.failcnt + this.failcntOfThisLife;
    }
}

interface PhaseResult {
    uploads: number;
    report: UploadReport;
    twinPeak: number;
    twinFailcnt: number;
    registryPeak: number;
    registryFailcnt: number;
    frontPeak: number;
    frontFailcnt: number;
    /** oom_kill over the twin's tree, summed from samples per cgroup. */
    oomKills: number;
    machineOomKills: number;
    registryRestarts: number;
    frontRestarts: number;
    oomKilledByDocker: boolean;
    /** From the phase's end to the registry answering through the front again; undefined: not within RECOVERY_MS. */
    recoveredMs: number | undefined;
}

/** An upload's end as the verdict sorts it: committed, refused as the goal allows (429, 503), or anything else. */
function kindOf(result: string): "committed" | "refused" | "failed" {
    if (result === "committed") {
        return "committed";
    }
    return /^HTTP (429|503) /.test(result) ? "refused" : "failed";
}

async function main(): Promise<void> {
    const counts = (flag("--parallel") ?? "10,40,100").split(",").map(Number);
    const sizeBytes = Number(flag("--mib") ?? "24") * MIB;
    const chunkBytes = DEFAULTS.s3ChunkSizeMb * MIB;
    if (counts.some((n) => !Number.isInteger(n) || n < 1) || !(sizeBytes > chunkBytes)) {
        throw new Error(`--parallel takes counts like 10,40,100 and --mib more than the chunk size (${DEFAULTS.s3ChunkSizeMb})`);
    }
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const benchStarted = Date.now();
    const lab = await TwinLab.start({ name: "twin-uploads", limits: DROPLET, log });
    try {
        await lab.deploy();
        const users = Object.values(lab.plan.outputs.registryUsers as Record<string, Login>);
        const push = users.find((u) => u.role === "push");
        if (push === undefined) {
            throw new Error("the default stack has a push user");
        }
        const ca = String(lab.plan.outputs.caCertificate);
        const caFile = lab.tmp.join("registry-ca.crt");
        fs.writeFileSync(caFile, ca);
        const s3Ca = fs.readFileSync(lab.s3.certs.caCertFile, "utf8");
        const twin = new MemoryCgroup(lab.twin.memoryCgroup);
        const twinLimit = twin.number("memory.limit_in_bytes");
        log(`[uploads] deployed in ${((Date.now() - benchStarted) / 1000).toFixed(0)} s`);

        /** How long until the registry answers through the front again; undefined if not within `RECOVERY_MS`. */
        const waitServing = async (): Promise<number | undefined> => {
            const started = Date.now();
            while (Date.now() - started < RECOVERY_MS) {
                const ok = await lab.trackerIn("client").run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-K", "-", "--cacert", caFile, "--max-time", "20", `https://${lab.twin.address}/v2/`], {
                    input: `user = ${curlQuote(`${push.username}:${push.password}`)}\n`,
                    secrets: [push.password],
                });
                if (ok.stdout === "200") {
                    return Date.now() - started;
                }
                await sleep(1000);
            }
            return undefined;
        };

        const runClients = async (n: number): Promise<UploadReport> => {
            const job: UploadJob = {
                host: lab.twin.address,
                ca,
                s3Ca,
                username: push.username,
                password: push.password,
                repositoryPrefix: `bench/uploads-${n}`,
                uploads: n,
                sizeBytes,
                chunkBytes,
                seed: `${Date.now()}-${n}`,
                requestTimeoutMs: 120_000,
                verifyGets: VERIFY_GETS,
            };
            const inside = lab.net.inside("client", process.execPath, ["--import", "tsx", path.join(__dirname, "uploadClients.ts")]);
            const res = await lab.tracker.run(inside.command, inside.args, { input: JSON.stringify(job), cwd: REPO_ROOT, timeoutMs: 15 * 60_000, secrets: [push.password] });
            if (res.code !== 0) {
                throw new Error(`the upload clients exited ${res.code ?? res.signal}${res.timedOut ? " (timed out)" : ""}: ${res.stderr.slice(-2000)}`);
            }
            return JSON.parse(res.stdout) as UploadReport;
        };

        const results: PhaseResult[] = [];
        const phase = async (n: number): Promise<boolean> => {
            await sleep(3000);
            const [registryBefore, frontBefore] = [await inspectContainer(lab, CONTAINER_NAME), await inspectContainer(lab, FRONT_CONTAINER_NAME)];
            twin.reset("memory.max_usage_in_bytes");
            const twinFailcnt = twin.number("memory.failcnt");
            const machineBefore = machineOomKills();
            const killsBefore = new Map<string, number>();
            const killsSeen = new Map<string, number>();
            oomKillsByCgroup(twin, killsBefore);
            const registry = new ContainerWatch(twin, registryBefore.id);
            const front = new ContainerWatch(twin, frontBefore.id);
            let sampling = true;
            const sampler = (async () => {
                while (sampling) {
                    registry.sample();
                    front.sample();
                    oomKillsByCgroup(twin, killsSeen);
                    await sleep(SAMPLE_MS);
                }
            })();
            log(`[uploads] ${n} uploads of ${sizeBytes / MIB} MiB at once`);
            let report: UploadReport;
            try {
                report = await runClients(n);
            } finally {
                sampling = false;
                await sampler;
            }
            registry.sample();
            front.sample();
            oomKillsByCgroup(twin, killsSeen);
            const recoveredMs = await waitServing();
            const [registryAfter, frontAfter] = [await inspectContainer(lab, CONTAINER_NAME), await inspectContainer(lab, FRONT_CONTAINER_NAME)];
            let oomKills = 0;
            for (const [dir, kills] of killsSeen) {
                oomKills += kills - (killsBefore.get(dir) ?? 0);
            }
            const r: PhaseResult = {
                uploads: n,
                report,
                twinPeak: twin.number("memory.max_usage_in_bytes"),
                twinFailcnt: twin.number("memory.failcnt") - twinFailcnt,
                registryPeak: registry.peak,
                registryFailcnt: registry.failures,
                frontPeak: front.peak,
                frontFailcnt: front.failures,
                oomKills,
                machineOomKills: machineOomKills() - machineBefore,
                registryRestarts: registryAfter.restarts - registryBefore.restarts,
                frontRestarts: frontAfter.restarts - frontBefore.restarts,
                oomKilledByDocker: (registryAfter.oomKilled && !registryBefore.oomKilled) || (frontAfter.oomKilled && !frontBefore.oomKilled),
                recoveredMs,
            };
            results.push(r);
            const ends = new Map<string, number>();
            for (const o of report.outcomes) {
                ends.set(o.result, (ends.get(o.result) ?? 0) + 1);
            }
            log(`[uploads] ${n} at once: twin ${(r.twinPeak / MIB).toFixed(0)} MiB, registry ${(r.registryPeak / MIB).toFixed(0)} MiB, front ${(r.frontPeak / MIB).toFixed(0)} MiB, OOM ${r.oomKills}, `
                + `restarts ${r.registryRestarts}/${r.frontRestarts}, ${(report.durationMs / 1000).toFixed(0)} s; ${[...ends].map(([k, v]) => `${v}x ${k}`).join(", ")}`);
            return recoveredMs !== undefined;
        };

        const registry = await inspectContainer(lab, CONTAINER_NAME);
        const front = await inspectContainer(lab, FRONT_CONTAINER_NAME);
        for (const n of counts) {
            // A registry that does not serve again would only pile the next phase onto this one.
            if (!(await phase(n))) {
                break;
            }
        }

        const mb = (bytes: number) => (bytes / MIB).toFixed(0);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        const limitOf = (bytes: number) => (bytes === 0 ? "none" : `${mb(bytes)} MiB`);
        out(`The twin held to ${mb(twinLimit)} MiB and 1 vCPU, the default stack; container memory limits: registry ${limitOf(registry.memoryLimit)}, front ${limitOf(front.memoryLimit)};`);
        out(`S3 chunk size ${DEFAULTS.s3ChunkSizeMb} MiB; front: at most ${FRONT_UPLOAD_REQUESTS_DEFAULT} upload requests at the registry (uploadsInFlightMax: ${uploadsInFlightMax(chunkBytes)});`);
        out(`each upload a ${mb(sizeBytes)} MiB blob of its own: POST, ${Math.ceil(sizeBytes / chunkBytes)} PATCHes, PUT. Peaks in MiB:`);
        out(`${"uploads".padStart(7)}${"twin".padStart(6)}${"registry".padStart(10)}${"front".padStart(7)}${"failcnt t/r/f".padStart(15)}${"OOM".padStart(5)}${"host OOM".padStart(10)}${"restarts".padStart(10)}${"secs".padStart(6)}${"back".padStart(6)}`
            + `${"committed".padStart(11)}${"429/503".padStart(9)}${"other".padStart(7)}${"read back".padStart(11)}`);
        for (const r of results) {
            const kinds = r.report.outcomes.map((o) => kindOf(o.result));
            const committed = kinds.filter((k) => k === "committed").length;
            out(`${String(r.uploads).padStart(7)}${mb(r.twinPeak).padStart(6)}${mb(r.registryPeak).padStart(10)}${mb(r.frontPeak).padStart(7)}${`${r.twinFailcnt}/${r.registryFailcnt}/${r.frontFailcnt}`.padStart(15)}`
                + `${String(r.oomKills).padStart(5)}${String(r.machineOomKills).padStart(10)}${`${r.registryRestarts}/${r.frontRestarts}${r.oomKilledByDocker ? " oom" : ""}`.padStart(10)}`
                + `${(r.report.durationMs / 1000).toFixed(0).padStart(6)}${(r.recoveredMs === undefined ? "never" : (r.recoveredMs / 1000).toFixed(0)).padStart(6)}`
                + `${String(committed).padStart(11)}${String(kinds.filter((k) => k === "refused").length).padStart(9)}${String(kinds.filter((k) => k === "failed").length).padStart(7)}`
                + `${`${r.report.headsRight}/${committed}, ${r.report.getsRight}/${Math.min(VERIFY_GETS, committed)}`.padStart(11)}`);
        }
        out("twin, registry, front: memory.max_usage_in_bytes of the twin's cgroup and of each container's (sampled every 200 ms, so a");
        out("container restarted within the phase shows the larger of its two lives); failcnt: times the twin/registry/front reached its limit;");
        out("OOM: oom_kill over the twin's cgroup tree; host OOM: /proc/vmstat oom_kill (the whole machine, other twins included);");
        out("restarts: the registry's/front's docker RestartCount during the phase, `oom` if docker saw either OOM-killed;");
        out(`secs: from the first POST to the last answer; back: seconds after the phase until GET /v2/ answered 200 ("never": not in ${RECOVERY_MS / 60_000} min);`);
        out(`committed, 429/503, other: how the uploads ended; read back: committed blobs whose HEAD found them at their size (and their digest, where the`);
        out(`registry named one rather than redirect to storage), and of ${VERIFY_GETS} GETs those whose bytes hashed to it.`);
        for (const r of results) {
            const ends = new Map<string, number>();
            for (const o of r.report.outcomes) {
                ends.set(o.result, (ends.get(o.result) ?? 0) + 1);
            }
            const answers = Object.entries(r.report.answers).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}x ${k}`).join(", ");
            const durations = r.report.outcomes.filter((o) => o.result === "committed").map((o) => o.durationMs).sort((a, b) => a - b);
            const at = (q: number) => (durations.length === 0 ? "-" : (durations[Math.min(durations.length - 1, Math.floor(q * durations.length))] / 1000).toFixed(1));
            out(`${r.uploads} at once: ${[...ends].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}x ${k}`).join(", ")}; requests answered: ${answers}; a committed upload took ${at(0.5)} s (median), ${at(1)} s (longest); `
                + `${r.report.redirects} of the read-backs redirected to storage`);
            for (const wrong of [...r.report.headsWrong, ...r.report.getsWrong].slice(0, 5)) {
                out(`  read back wrong: ${wrong}`);
            }
        }

        // The goal: no request pattern makes the kernel kill a process; the registry and the front
        // stay inside their limits; what exceeds a limit gets 429 or 503, never a reset.
        const failures: string[] = [];
        for (const r of results) {
            const at = `${r.uploads} at once`;
            if (r.oomKills > 0 || r.oomKilledByDocker) {
                failures.push(`${at}: ${r.oomKills} OOM kill(s) in the twin`);
            }
            if (r.registryRestarts > 0 || r.frontRestarts > 0) {
                failures.push(`${at}: restarts registry ${r.registryRestarts}, front ${r.frontRestarts}`);
            }
            if (r.registryPeak >= registry.memoryLimit || r.registryFailcnt > 0) {
                failures.push(`${at}: the registry reached its limit (peak ${mb(r.registryPeak)} MiB, failcnt ${r.registryFailcnt})`);
            }
            if (r.frontPeak >= front.memoryLimit || r.frontFailcnt > 0) {
                failures.push(`${at}: the front reached its limit (peak ${mb(r.frontPeak)} MiB, failcnt ${r.frontFailcnt})`);
            }
            const other = r.report.outcomes.filter((o) => kindOf(o.result) === "failed");
            if (other.length > 0) {
                failures.push(`${at}: ${other.length} upload(s) ended neither committed nor 429/503 (${[...new Set(other.map((o) => o.result))].join("; ")})`);
            }
            if (r.report.headsWrong.length > 0 || r.report.getsWrong.length > 0) {
                failures.push(`${at}: ${r.report.headsWrong.length + r.report.getsWrong.length} committed blob(s) read back wrong`);
            }
            if (r.recoveredMs === undefined) {
                failures.push(`${at}: the registry did not answer again within ${RECOVERY_MS / 60_000} min`);
            }
        }
        if (results.length < counts.length) {
            failures.push(`only ${results.length} of ${counts.length} phases ran`);
        }
        const elsewhere = results.filter((r) => r.machineOomKills > 0 && r.oomKills === 0);
        out(failures.length === 0 ? `verdict: met. No process killed in the twin, the registry and the front below their limits, every upload committed or refused with 429/503, every committed blob read back right.` : `verdict: NOT met:`);
        for (const f of failures) {
            out(`  ${f}`);
        }
        if (elsewhere.length > 0) {
            out(`  (the machine's kernel killed ${elsewhere.map((r) => r.machineOomKills).join("+")} process(es) outside the twin during ${elsewhere.map((r) => r.uploads).join(", ")} at once: other work on this machine)`);
        }
        out(`The bench took ${((Date.now() - benchStarted) / 60_000).toFixed(1)} min, the twin's boot and deploy included.`);
    } finally {
        await lab.dispose();
    }
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
        process.exit(1);
    });
}
