/**
 * Manifests near the registry's 4 MiB limit, fetched and stored in parallel, on the default
 * droplet: a twin held to s-1vcpu-1gb's 1 GiB and one vCPU (its memory and cpu cgroups) is
 * deployed as `pulumi up` deploys a droplet; the push user stores one OCI image manifest padded
 * with annotations to just under 4 MiB; then, per phase, N clients at once GET it (as the pull
 * user) or PUT it again (as the push user) from the client namespace, each on its own HTTP/1.1
 * connection. Per phase it prints the peak memory of the twin, the registry's container and the
 * front's, the OOM kills, the containers' restarts, and what the clients got.
 *
 *   node --import tsx bench/twin/manifests.ts [--parallel 50,100,200]   (root; npm run setup first)
 *
 * The front lets FRONT_MANIFEST_REQUESTS_MAX manifest requests into the registry at once
 * (front.ts); the rest wait for a free slot, up to `lb_try_duration`, then get 503.
 *
 * Distribution v3.1.2 holds a manifest whole, several times over, for each request: a PUT reads
 * the body into a bytes.Buffer (registry/handlers/manifests.go PutManifest, copyFullPayload in
 * helpers.go, maxManifestBodySize 4 MiB), decodes it and stores it; a GET reads the object whole
 * from storage (registry/storage/blobstore.go Get, driver GetContent) and decodes it before it
 * answers. That is the per-request memory this bench drives.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { CONTAINER_NAME, FRONT_CONTAINER_NAME } from "../../components/render/deployment";
import { FRONT_MANIFEST_REQUESTS_MAX } from "../../components/render/front";
import { buildOciImage, MEDIA_TYPES } from "../../test/harness/oci";
import { dockerRef, ociRef } from "../../test/harness/skopeo";
import { TwinLab } from "../../test/harness/twinLab";
import { sleep } from "../../test/harness/wait";
import { MemoryCgroup } from "./cgroup";
import { containerMemoryCgroup, inspectContainer, machineOomKills, oomKillsByCgroup } from "./containers";

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;
const DROPLET = { memoryBytes: GIB, cpus: 1 };
/** distribution v3.1.2 registry/handlers/manifests.go maxManifestBodySize; a body over it is refused. */
const MANIFEST_LIMIT = 4 * MIB;
const REPOSITORY = "bench/big";
const FRONT_CONTAINER = FRONT_CONTAINER_NAME;
const RECOVERY_MS = 5 * 60_000;

interface Login {
    username: string;
    password: string;
    role: string;
}

function flag(name: string): string | undefined {
    const at = process.argv.indexOf(name);
    return at >= 0 ? process.argv[at + 1] : undefined;
}

/** An OCI image manifest naming the image's config and layers, with annotations bringing it to `size` bytes. */
export function paddedManifest(base: { config: object; layers: object[] }, size: number): Buffer {
    const annotations: Record<string, string> = {};
    const manifest = { schemaVersion: 2, mediaType: MEDIA_TYPES.manifest, config: base.config, layers: base.layers, annotations };
    const value = "x".repeat(100);
    // Many small entries, as a client would pad it: each one is an object the registry decodes.
    // `"key":"value",` adds its own length to the JSON; the first entry's comma is the margin.
    let length = Buffer.byteLength(JSON.stringify(manifest));
    for (let i = 0; ; i++) {
        const key = `org.example.pad.${String(i).padStart(6, "0")}`;
        const entry = key.length + value.length + 6;
        if (length + entry > size - 64) {
            break;
        }
        annotations[key] = value;
        length += entry;
    }
    const body = Buffer.from(JSON.stringify(manifest));
    if (body.length > size) {
        throw new Error(`the padded manifest is ${body.length} bytes, over ${size}`);
    }
    return body;
}

/** A curl config line's value, quoted as curl's config parser reads it. */
const curlQuote = (value: string) => `"${value.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;

interface Outcome {
    /** "200", "503", or "reset: curl 56 ..." for a transfer that got no status. */
    counts: Map<string, number>;
    durationMs: number;
}

/**
 * N transfers at once from the client namespace, one curl process in parallel mode, each
 * transfer on a connection of its own. The login is in curl's config on stdin, never in argv.
 */
async function parallel(lab: TwinLab, login: Login, caFile: string, n: number, request: { method: "GET" } | { method: "PUT"; file: string }): Promise<Outcome> {
    const base = `https://${lab.twin.address}/v2/${REPOSITORY}/manifests/`;
    const config = [
        `user = ${curlQuote(`${login.username}:${login.password}`)}`,
        ...(request.method === "GET"
            ? [`header = "Accept: ${MEDIA_TYPES.manifest}"`]
            : [`request = "PUT"`, `header = "Content-Type: ${MEDIA_TYPES.manifest}"`]),
        ...Array.from({ length: n }, (_, i) => [
            `url = ${curlQuote(`${base}${request.method === "GET" ? "big" : `put-${i}`}`)}`,
            `output = "/dev/null"`,
            ...(request.method === "PUT" ? [`upload-file = ${curlQuote(request.file)}`] : []),
        ]).flat(),
        "",
    ].join("\n");
    const started = Date.now();
    const res = await lab.trackerIn("client").run(
        "curl",
        ["-sS", "-K", "-", "-Z", "--parallel-immediate", "--parallel-max", String(Math.min(n, 300)), "--http1.1", "--cacert", caFile, "--max-time", "180", "-w", "%{http_code} %{exitcode} %{errormsg}\\n"],
        { input: config, timeoutMs: 300_000, secrets: [login.password] },
    );
    const counts = new Map<string, number>();
    for (const line of res.stdout.trim().split("\n").filter(Boolean)) {
        const [code, exit, ...message] = line.split(" ");
        // A transfer curl gave up on is a failure whatever status it saw (a PUT's "100 Continue").
        const key = exit === "0" ? code : `failed${code === "000" ? "" : ` after HTTP ${code}`}: curl ${exit} ${message.join(" ").replace(/after \d+ milliseconds/g, "after N ms")}`;
        counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return { counts, durationMs: Date.now() - started };
}

interface PhaseResult {
    name: string;
    outcome: Outcome;
    twinPeak: number;
    registryPeak: number;
    frontPeak: number;
    failcnt: number;
    /** oom_kill over the twin's tree, summed from samples per cgroup (a container's goes when it restarts). */
    oomKills: number;
    machineOomKills: number;
    registryRestarts: number;
    frontRestarts: number;
    registryOomKilled: boolean;
    /** From the phase's end to a manifest read answered 200 again; undefined: not within RECOVERY_MS. */
    recoveredMs: number | undefined;
}

async function main(): Promise<void> {
    const counts = (flag("--parallel") ?? "50,100,200").split(",").map(Number);
    const log = (line: string) => process.stderr.write(`${line}\n`);
    const lab = await TwinLab.start({ name: "twin-manifests", limits: DROPLET, log });
    try {
        await lab.deploy();
        const users = Object.values(lab.plan.outputs.registryUsers as Record<string, Login>);
        const push = users.find((u) => u.role === "push");
        const pull = users.find((u) => u.role === "pull");
        if (push === undefined || pull === undefined) {
            throw new Error("the default stack has a push and a pull user");
        }
        const { skopeo, certDir } = lab.skopeoIn("client");
        const caFile = path.join(certDir, "ca.crt");

        // The layers a manifest names must exist: push a small image, then pad its manifest.
        const image = await buildOciImage(lab.tmp.join("small"), { layerSizes: [4096], tag: "x" });
        const copied = await skopeo.copy(ociRef(image.layoutDir, "x"), dockerRef(lab.twin.address, REPOSITORY, "small"), { destCreds: push, destCertDir: certDir, timeoutMs: 120_000 });
        if (copied.code !== 0) {
            throw new Error(`pushing the small image failed: ${copied.stderr}`);
        }
        const descriptor = (d: { mediaType: string; digest: string; size: number }) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size });
        const body = paddedManifest({ config: descriptor(image.config), layers: image.layers.map(descriptor) }, MANIFEST_LIMIT);
        const manifestFile = lab.tmp.join("big-manifest.json");
        fs.writeFileSync(manifestFile, body);
        const stored = await parallel(lab, push, caFile, 1, { method: "PUT", file: manifestFile });
        const putStatus = [...stored.counts.keys()].join(",");
        // The bench's PUTs go to put-N; the GETs read "big".
        const tagged = await lab.trackerIn("client").run("curl", ["-sS", "-K", "-", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caFile, "-X", "PUT", "-H", `Content-Type: ${MEDIA_TYPES.manifest}`, "--data-binary", `@${manifestFile}`, `https://${lab.twin.address}/v2/${REPOSITORY}/manifests/big`], {
            input: `user = ${curlQuote(`${push.username}:${push.password}`)}\n`,
            secrets: [push.password],
        });
        if (putStatus !== "201" || tagged.stdout !== "201") {
            throw new Error(`storing the ${body.length}-byte manifest got ${putStatus} and ${tagged.stdout}`);
        }
        log(`[manifests] stored a ${body.length}-byte manifest (limit ${MANIFEST_LIMIT})`);

        const twin = new MemoryCgroup(lab.twin.memoryCgroup);
        const limit = twin.number("memory.limit_in_bytes");
        const results: PhaseResult[] = [];

        /** How long until a login and a manifest read succeed again; undefined if not within `RECOVERY_MS`. */
        const waitServing = async (): Promise<number | undefined> => {
            const started = Date.now();
            while (Date.now() - started < RECOVERY_MS) {
                const ok = await lab.trackerIn("client").run("curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "-K", "-", "-H", `Accept: ${MEDIA_TYPES.manifest}`, "--cacert", caFile, "--max-time", "20", `https://${lab.twin.address}/v2/${REPOSITORY}/manifests/big`], {
                    input: `user = ${curlQuote(`${pull.username}:${pull.password}`)}\n`,
                    secrets: [pull.password],
                });
                if (ok.stdout === "200") {
                    return Date.now() - started;
                }
                await sleep(1000);
            }
            return undefined;
        };

        const phase = async (name: string, run: () => Promise<Outcome>) => {
            await sleep(3000);
            const [registryBefore, frontBefore] = [await inspectContainer(lab, CONTAINER_NAME), await inspectContainer(lab, FRONT_CONTAINER)];
            twin.reset("memory.max_usage_in_bytes");
            const failcnt = twin.number("memory.failcnt");
            const machineBefore = machineOomKills();
            const killsBefore = new Map<string, number>();
            const killsSeen = new Map<string, number>();
            oomKillsByCgroup(twin, killsBefore);
            let registryPeak = 0;
            let frontPeak = 0;
            let sampling = true;
            const peakOf = (id: string) => {
                const cg = containerMemoryCgroup(twin, id);
                try {
                    if (cg !== undefined) {
                        cg.reset("memory.max_usage_in_bytes");
                    }
                } catch {
                    // gone meanwhile
                }
                return () => {
                    try {
                        return containerMemoryCgroup(twin, id)?.number("memory.max_usage_in_bytes") ?? 0;
                    } catch {
                        return 0;
                    }
                };
            };
            const registryNow = peakOf(registryBefore.id);
            const frontNow = peakOf(frontBefore.id);
            const sampler = (async () => {
                while (sampling) {
                    registryPeak = Math.max(registryPeak, registryNow());
                    frontPeak = Math.max(frontPeak, frontNow());
                    oomKillsByCgroup(twin, killsSeen);
                    await sleep(100);
                }
            })();
            log(`[manifests] ${name}`);
            const outcome = await run();
            sampling = false;
            await sampler;
            registryPeak = Math.max(registryPeak, registryNow());
            frontPeak = Math.max(frontPeak, frontNow());
            oomKillsByCgroup(twin, killsSeen);
            const recoveredMs = await waitServing();
            const [registryAfter, frontAfter] = [await inspectContainer(lab, CONTAINER_NAME), await inspectContainer(lab, FRONT_CONTAINER)];
            let oomKills = 0;
            for (const [dir, kills] of killsSeen) {
                oomKills += kills - (killsBefore.get(dir) ?? 0);
            }
            results.push({
                name,
                outcome,
                twinPeak: twin.number("memory.max_usage_in_bytes"),
                registryPeak,
                frontPeak,
                failcnt: twin.number("memory.failcnt") - failcnt,
                oomKills,
                machineOomKills: machineOomKills() - machineBefore,
                registryRestarts: registryAfter.restarts - registryBefore.restarts,
                frontRestarts: frontAfter.restarts - frontBefore.restarts,
                registryOomKilled: registryAfter.oomKilled,
                recoveredMs,
            });
            const r = results[results.length - 1];
            log(`[manifests] ${name}: twin ${r.twinPeak / MIB | 0} MiB, registry ${r.registryPeak / MIB | 0} MiB, OOM ${r.oomKills}, restarts ${r.registryRestarts}/${r.frontRestarts}, `
                + `${recoveredMs === undefined ? "not serving again" : `serving again ${(recoveredMs / 1000).toFixed(0)} s after`}; ${[...outcome.counts].map(([k, v]) => `${v}x ${k}`).join(", ")}`);
            return recoveredMs !== undefined;
        };

        const registry = await inspectContainer(lab, CONTAINER_NAME);
        const front = await inspectContainer(lab, FRONT_CONTAINER);
        for (const n of counts) {
            // A registry that does not serve again would only pile the next phase onto this one.
            if (!(await phase(`${n} GETs at once (pull user)`, () => parallel(lab, pull, caFile, n, { method: "GET" })))) {
                break;
            }
            if (!(await phase(`${n} PUTs at once (push user)`, () => parallel(lab, push, caFile, n, { method: "PUT", file: manifestFile })))) {
                break;
            }
        }

        const mb = (bytes: number) => (bytes / MIB).toFixed(0);
        const out = (line: string) => process.stdout.write(`${line}\n`);
        const limitOf = (bytes: number) => (bytes === 0 ? "none" : `${mb(bytes)} MiB`);
        out(`The twin held to ${mb(limit)} MiB and 1 vCPU; a ${body.length}-byte manifest; container memory limits: registry ${limitOf(registry.memoryLimit)}, front ${limitOf(front.memoryLimit)};`);
        out(`front: as rendered by front.ts, at most ${FRONT_MANIFEST_REQUESTS_MAX} manifest requests at the registry. Peaks in MiB:`);
        out(`${"phase".padEnd(30)}${"twin".padStart(6)}${"registry".padStart(10)}${"front".padStart(7)}${"failcnt".padStart(9)}${"OOM".padStart(5)}${"host OOM".padStart(10)}${"restarts".padStart(10)}${"secs".padStart(6)}${"back".padStart(6)}  answers`);
        for (const r of results) {
            const answers = [...r.outcome.counts].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v}x ${k}`).join(", ");
            out(`${r.name.padEnd(30)}${mb(r.twinPeak).padStart(6)}${mb(r.registryPeak).padStart(10)}${mb(r.frontPeak).padStart(7)}${String(r.failcnt).padStart(9)}${String(r.oomKills).padStart(5)}`
                + `${String(r.machineOomKills).padStart(10)}${`${r.registryRestarts}/${r.frontRestarts}${r.registryOomKilled ? " oom" : ""}`.padStart(10)}${(r.outcome.durationMs / 1000).toFixed(0).padStart(6)}`
                + `${(r.recoveredMs === undefined ? "never" : (r.recoveredMs / 1000).toFixed(0)).padStart(6)}  ${answers}`);
        }
        out("twin, registry, front: memory.max_usage_in_bytes of the twin's cgroup and of each container's (sampled every 100 ms, so a");
        out("container restarted within the phase shows the larger of its two lives); failcnt: times the twin reached its limit;");
        out("OOM: oom_kill over the twin's cgroup tree; host OOM: /proc/vmstat oom_kill (the whole machine, other twins included);");
        out("restarts: the registry's/front's docker RestartCount during the phase, `oom` if docker saw the registry OOM-killed;");
        out(`secs: the phase's duration; back: seconds after it until a manifest read answered 200 again ("never": not in ${RECOVERY_MS / 60_000} min).`);
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
