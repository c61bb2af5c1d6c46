/**
 * Memory on the default droplet: a twin with s-1vcpu-1gb's one vCPU (its cpu cgroup) is deployed as `pulumi up` deploys a droplet, filled with images, and then runs the
 * weekly job (retention, the read-only window, garbage collection) beside the registry, the front
 * and fail2ban, then a burst of concurrent pushes. Prints the peak memory of the twin's
 * processes (PSS), sampled every 200 ms, and what is left of the 1 GiB.
 *
 *   node --import tsx bench/twin/memory.ts [--images N]      (root; npm run setup first)
 *
 * The twin shares this machine's kernel, so the kernel's own memory, which a droplet's 1 GiB
 * also pays for, is not in these figures: the headroom on a droplet is smaller by that much
 * (Ubuntu's kernel with its slab and page tables: on the order of 100 MB).
 */
import * as fs from "node:fs";
import { MAINTENANCE_SERVICE } from "../../components/render/maintenance";
import { buildOciImage } from "../../test/harness/oci";
import { dockerRef, ociRef } from "../../test/harness/skopeo";
import { TwinLab } from "../../test/harness/twinLab";
import { sleep } from "../../test/harness/wait";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

interface Sample {
    atMs: number;
    /** Proportional set size of every process in the twin, bytes. */
    pss: number;
    /** The same, by command name. */
    byCommand: Record<string, number>;
}

/**
 * The twin's processes' memory: PSS (shared pages split among their users) of its PID 1 and
 * every descendant, Docker's containers included (their shims are the twin's init's children).
 */
function sampleTwin(leader: number): Omit<Sample, "atMs"> {
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
    let pss = 0;
    const byCommand: Record<string, number> = {};
    for (const pid of parentOf.keys()) {
        if (!inTwin(pid)) {
            continue;
        }
        try {
            const rollup = fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
            const kb = Number(/^Pss:\s+(\d+) kB$/m.exec(rollup)?.[1] ?? 0);
            pss += kb * 1024;
            const comm = commOf.get(pid) ?? "?";
            byCommand[comm] = (byCommand[comm] ?? 0) + kb * 1024;
        } catch {
            // exited meanwhile, or a kernel thread
        }
    }
    return { pss, byCommand };
}

async function main(): Promise<void> {
    const imagesFlag = process.argv.indexOf("--images");
    const imageCount = imagesFlag >= 0 ? Number(process.argv[imagesFlag + 1]) : 30;
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const lab = await TwinLab.start({ name: "twin-memory", limits: { cpus: 1 }, log });
    try {
        await lab.deploy();
        const leader = lab.twin.pid;
        if (leader === undefined) {
            throw new Error("the twin is not running");
        }
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
        log(`[memory] pushing ${imageCount} images`);
        for (let i = 0; i < imageCount; i++) {
            await pushImage(`fill-${i}`, [4 * MIB, 2 * MIB, 512 * 1024]);
        }

        const samples: Sample[] = [];
        const started = Date.now();
        let sampling = true;
        const sampler = (async () => {
            while (sampling) {
                samples.push({ atMs: Date.now() - started, ...sampleTwin(leader) });
                await sleep(200);
            }
        })();
        const phase = (name: string) => ({ name, from: Date.now() - started });
        const phases: { name: string; from: number; to?: number }[] = [];

        const idle = phase("idle, deployed");
        await sleep(5000);
        phases.push({ ...idle, to: Date.now() - started });

        const collection = phase("weekly job (retention, read-only window, collection)");
        await lab.twin.execChecked(`systemctl start ${MAINTENANCE_SERVICE}`, { timeoutMs: 30 * 60_000 });
        phases.push({ ...collection, to: Date.now() - started });

        const burst = phase("8 concurrent pushes of 3 x 16 MiB");
        await Promise.all(Array.from({ length: 8 }, (_, i) => pushImage(`burst-${i}`, [16 * MIB, 16 * MIB, 16 * MIB])));
        phases.push({ ...burst, to: Date.now() - started });
        sampling = false;
        await sampler;

        const mb = (bytes: number) => `${(bytes / MIB).toFixed(0)} MiB`;
        process.stdout.write(`The twin's processes (PSS), 1 vCPU, ${imageCount} images stored; headroom is of the droplet's 1 GiB\n`);
        process.stdout.write(`${"phase".padEnd(52)}${"peak".padStart(8)}   headroom   largest at the peak\n`);
        for (const p of phases) {
            const inPhase = samples.filter((s) => s.atMs >= p.from && s.atMs <= (p.to ?? Infinity));
            const peak = inPhase.reduce((a, b) => (b.pss > a.pss ? b : a));
            const largest = Object.entries(peak.byCommand).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([c, b]) => `${c} ${mb(b)}`).join(", ");
            process.stdout.write(`${p.name.padEnd(52)}${mb(peak.pss).padStart(8)}   ${mb(GIB - peak.pss).padStart(8)}   ${largest}\n`);
        }
        process.stdout.write(`${samples.length} samples every 200 ms\n`);
    } finally {
        await lab.dispose();
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
});
