/**
 * Memory on the default droplet: a twin held to s-1vcpu-1gb's 1 GiB and one vCPU (its memory and
 * cpu cgroups) is deployed as `pulumi up` deploys a droplet, filled with images, and then runs the
 * weekly job (retention, the read-only window, garbage collection) beside the registry, the front
 * and fail2ban, then a burst of concurrent pushes. Every 200 ms it samples the PSS of the twin's
 * processes and the twin's memory cgroup; per phase it prints both peaks, the cgroup's failcnt and
 * OOM kills, and the headroom left of the 1 GiB.
 *
 *   node --import tsx bench/twin/memory.ts [--images N]      (root; npm run setup first)
 *
 * The cgroup's usage counts page cache, which the kernel reclaims at the limit before it kills
 * anything; the rss/cache split says how much was process memory. The twin shares this machine's kernel, so the kernel's own memory, which a
 * droplet's 1 GiB also pays for, is not in these figures (only what the twin's processes made the
 * kernel allocate is): the headroom on a droplet is smaller by that much (Ubuntu's kernel: on the
 * order of 100 MB).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MAINTENANCE_SERVICE } from "../../components/render/maintenance";
import { buildOciImage } from "../../test/harness/oci";
import { dockerRef, ociRef } from "../../test/harness/skopeo";
import { TwinLab } from "../../test/harness/twinLab";
import { sleep } from "../../test/harness/wait";
import { MemoryCgroup } from "./cgroup";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const DROPLET = { memoryBytes: GIB, cpus: 1 };

interface Sample {
    atMs: number;
    /** Proportional set size of every process in the twin, bytes. */
    pss: number;
    /** The same, by command name. */
    byCommand: Record<string, number>;
    /** The cgroup's memory.usage_in_bytes, and memory.stat's total_rss and total_cache. */
    usage: number;
    rss: number;
    cache: number;
    /** Processes charged to the cgroup tree, and of them those in Docker's containers' cgroups. */
    charged: number;
    inContainers: number;
    /** The twin's processes that were not charged to its cgroup tree. */
    uncharged: string[];
    /** Processes charged to the cgroup from outside the twin's PID namespaces (systemd-nspawn). */
    besides: string[];
}

/** The twin's PID 1 and every descendant, Docker's containers included, by command name. */
function twinProcesses(leader: number): Map<number, string> {
    const parentOf = new Map<number, number>();
    const commOf = new Map<number, string>();
    for (const entry of fs.readdirSync("/proc")) {
        if (!/^\d+$/.test(entry)) {
            continue;
        }
        try {
            const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
            const close = stat.lastIndexOf(")");
            commOf.set(Number(entry), stat.slice(stat.indexOf("(") + 1, close));
            parentOf.set(Number(entry), Number(stat.slice(close + 2).split(" ")[1]));
        } catch {
            // exited meanwhile
        }
    }
    const inTwin = (pid: number): boolean => {
        for (let p: number | undefined = pid; p !== undefined && p > 1; p = parentOf.get(p)) {
            if (p === leader) {
                return true;
            }
        }
        return false;
    };
    return new Map([...commOf].filter(([pid]) => inTwin(pid)));
}

function sample(leader: number, cgroup: MemoryCgroup, atMs: number): Sample {
    const twin = twinProcesses(leader);
    const charged = cgroup.procs();
    const stat = cgroup.stat();
    let pss = 0;
    const byCommand: Record<string, number> = {};
    const uncharged: string[] = [];
    for (const [pid, comm] of twin) {
        try {
            const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
            const bytes = Number(/^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1] ?? 0) * 1024;
            pss += bytes;
            byCommand[comm] = (byCommand[comm] ?? 0) + bytes;
            // Only a process still there (it had a PSS) counts as uncharged.
            if (!charged.has(pid)) {
                uncharged.push(`${comm}[${pid}]`);
            }
        } catch {
            // exited meanwhile, or a kernel thread
        }
    }
    // By PID namespace depth, not by parent: a process the twin (or a container in it) started
    // after the /proc walk is the twin's too; systemd-nspawn alone is in this machine's namespace.
    const depth = (pid: number) => (/^NSpid:\s+(.*)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? "").split(/\s+/).length;
    const twinDepth = depth(leader);
    const besides: string[] = [];
    for (const pid of charged) {
        try {
            if (depth(pid) < twinDepth) {
                besides.push(fs.readFileSync(`/proc/${pid}/comm`, "utf8").trim());
            }
        } catch {
            // exited meanwhile
        }
    }
    const containers = new MemoryCgroup(path.join(cgroup.dir, "docker"));
    const inContainers = containers.exists() ? containers.procs().size : 0;
    return { atMs, pss, byCommand, usage: cgroup.number("memory.usage_in_bytes"), rss: stat.total_rss, cache: stat.total_cache, charged: charged.size, inContainers, uncharged, besides };
}

async function main(): Promise<void> {
    const imagesFlag = process.argv.indexOf("--images");
    const imageCount = imagesFlag >= 0 ? Number(process.argv[imagesFlag + 1]) : 30;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const lab = await TwinLab.start({ name: "twin-memory", limits: DROPLET, log });
    try {
        const leader = lab.twin.pid;
        if (leader === undefined) {
            throw new Error("the twin is not running");
        }
        const cgroup = new MemoryCgroup(lab.twin.memoryCgroup);
        const limit = cgroup.number("memory.limit_in_bytes");
        const started = Date.now();
        const samples: Sample[] = [];
        let sampling = true;
        let goneAtMs: number | undefined;
        const sampler = (async () => {
            while (sampling && goneAtMs === undefined) {
                if (cgroup.exists()) {
                    samples.push(sample(leader, cgroup, Date.now() - started));
                } else {
                    goneAtMs = Date.now() - started;
                }
                await sleep(200);
            }
        })().catch((e: unknown) => e);

        interface Phase { name: string; from: number; to: number; kernelPeak: number; failcnt: number; oomKills: number }
        const phases: Phase[] = [];
        // Boot and the image import ran before sampling: only the kernel's own peak covers them.
        phases.push({ name: "boot, image import (not sampled)", from: -1, to: -1, kernelPeak: cgroup.number("memory.max_usage_in_bytes"), failcnt: cgroup.number("memory.failcnt"), oomKills: cgroup.oomKills() });
        const phase = async (name: string, run: () => Promise<unknown>) => {
            cgroup.reset("memory.max_usage_in_bytes");
            const [from, failcnt, oomKills] = [Date.now() - started, cgroup.number("memory.failcnt"), cgroup.oomKills()];
            await run();
            phases.push({ name, from, to: Date.now() - started, kernelPeak: cgroup.number("memory.max_usage_in_bytes"), failcnt: cgroup.number("memory.failcnt") - failcnt, oomKills: cgroup.oomKills() - oomKills });
        };

        const push = lab.plan.outputs.registryUsers as Record<string, { username: string; password: string; role: string }>;
        const ci = Object.values(push).find((u) => u.role === "push");
        if (ci === undefined) {
            throw new Error("no push user in the outputs");
        }
        const { skopeo, certDir } = lab.skopeoIn("client");
        const pushImage = async (tag: string, sizes: number[]) => {
            const layout = lab.tmp.join(`img-${tag}`);
            await buildOciImage(layout, { layerSizes: sizes, tag: "x" });
            const res = await skopeo.copy(ociRef(layout, "x"), dockerRef(lab.twin.address, `bench/app-${Number(tag.split("-")[1]) % 5}`, tag), { destCreds: ci, destCertDir: certDir, timeoutMs: 300_000 });
            fs.rmSync(layout, { recursive: true, force: true });
            if (res.code !== 0) {
                throw new Error(`push ${tag} failed: ${res.stderr}`);
            }
        };
        await phase(`deploy, ${imageCount} pushes of 3 layers`, async () => {
            await lab.deploy();
            log(`[memory] pushing ${imageCount} images`);
            for (let i = 0; i < imageCount; i++) {
                await pushImage(`fill-${i}`, [4 * MIB, 2 * MIB, 512 * 1024]);
            }
        });
        await phase("idle, deployed", () => sleep(5000));
        await phase("weekly job (retention, read-only window, collection)", () => lab.twin.execChecked(`systemctl start ${MAINTENANCE_SERVICE}`, { timeoutMs: 30 * 60_000 }));
        await phase("8 concurrent pushes of 3 x 16 MiB", () => Promise.all(Array.from({ length: 8 }, (_, i) => pushImage(`burst-${i}`, [16 * MIB, 16 * MIB, 16 * MIB]))));
        sampling = false;
        const failed = await sampler;
        if (failed !== undefined) {
            throw failed;
        }
        if (goneAtMs !== undefined) {
            throw new Error(`the twin's memory cgroup ${cgroup.dir} was gone ${goneAtMs} ms into the run`);
        }

        const mb = (bytes: number) => `${(bytes / MIB).toFixed(0)}`;
        const out = (line: string) => process.stdout.write(`${line}\n`);
        out(`The twin held to ${mb(limit)} MiB (memory.limit_in_bytes) and 1 vCPU, ${imageCount} images stored. MiB:`);
        out(`${"phase".padEnd(54)}${"PSS".padStart(6)}${"cgroup".padStart(8)}${"rss".padStart(6)}${"cache".padStart(7)}${"headroom".padStart(10)}${"failcnt".padStart(9)}${"OOM".padStart(5)}`);
        for (const p of phases) {
            const inPhase = samples.filter((s) => s.atMs >= p.from && s.atMs <= p.to);
            const pssPeak = inPhase.length === 0 ? undefined : inPhase.reduce((a, b) => (b.pss > a.pss ? b : a));
            const usagePeak = inPhase.length === 0 ? undefined : inPhase.reduce((a, b) => (b.usage > a.usage ? b : a));
            out(`${p.name.padEnd(54)}${(pssPeak === undefined ? "-" : mb(pssPeak.pss)).padStart(6)}${mb(p.kernelPeak).padStart(8)}`
                + `${(usagePeak === undefined ? "-" : mb(usagePeak.rss)).padStart(6)}${(usagePeak === undefined ? "-" : mb(usagePeak.cache)).padStart(7)}`
                + `${mb(limit - p.kernelPeak).padStart(10)}${String(p.failcnt).padStart(9)}${String(p.oomKills).padStart(5)}`);
            if (pssPeak !== undefined) {
                out(`    largest at the PSS peak: ${Object.entries(pssPeak.byCommand).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c, b]) => `${c} ${mb(b)}`).join(", ")}`);
            }
        }
        out("PSS: the twin's processes' peak; cgroup: memory.max_usage_in_bytes over the phase (page cache and the kernel");
        out("memory the twin caused, slab and page tables, included); rss, cache: memory.stat's total_rss and total_cache at");
        out("the sampled usage peak; headroom: limit - cgroup peak;");
        out("failcnt: times usage reached the limit (each reclaims cache); OOM: oom_kill in memory.oom_control, summed over the tree.");
        const uncharged = samples.filter((s) => s.uncharged.length > 0);
        out(`${samples.length} samples every 200 ms, the cgroup there in all; up to ${Math.max(...samples.map((s) => s.charged))} processes charged to it, ${Math.max(...samples.map((s) => s.inContainers))} in Docker's containers' cgroups;`);
        out(`the twin's processes not charged to it: ${uncharged.length === 0 ? "none" : `in ${uncharged.length} samples, e.g. ${uncharged[0].uncharged.join(" ")}`};`
            + ` charged from outside the twin: ${[...new Set(samples.flatMap((s) => s.besides))].join(", ") || "nothing"}`);
    } finally {
        await lab.dispose();
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
