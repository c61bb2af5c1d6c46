/**
 * `npm run bench:front`: what the front (Caddy) costs a push and a pull of one large layer, on
 * loopback, in one run: the same bytes straight to S3 (the baseline), through the registry
 * serving TLS and logins itself (the shape before the front), and through the front to the
 * registry on plain HTTP (the program's shape). Prints a table and writes
 * bench/results/front.json and docs/BENCH-FRONT.md (rendered from that JSON alone).
 *
 * `npm run bench:front -- --render` re-renders the markdown from the JSON without measuring.
 * BENCH_QUICK=1 is a smoke run (32 MiB, 2 rounds) that writes under .bench/quick/ instead.
 * Needs `npm ci` and `bash scripts/install-rehearsal-tools.sh`.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { DEFAULTS } from "../components/settings";
import { cachedBinary, LocalRegistry, startFrontedRegistry, type FrontedRegistry, type S3Target } from "../test/harness";
import { goModuleVersion } from "./lib/buildInfo";
import { measureOrLoad } from "./lib/rawResults";
import { loadConfig } from "./lib/config";
import { downloadBlob, fromRigSample, timedOp, uploadBlob, writeRandomFile, type Target } from "./lib/frontOps";
import { renderFrontMarkdown, renderFrontTable, workloadName, type FrontResults, type FrontSample, type FrontWorkload, type Variant } from "./lib/frontReport";
import { hostInfo } from "./lib/hostInfo";
import { MiB, Rig } from "./lib/rig";

const REPO_ROOT = path.resolve(__dirname, "..");
const QUICK = process.env.BENCH_QUICK === "1";
const OUT = QUICK
    ? { json: path.join(REPO_ROOT, ".bench", "quick", "front.json"), markdown: path.join(REPO_ROOT, ".bench", "quick", "BENCH-FRONT.md") }
    : { json: path.join(REPO_ROOT, "bench", "results", "front.json"), markdown: path.join(REPO_ROOT, "docs", "BENCH-FRONT.md") };
const LAYER_BYTES = (QUICK ? 32 : 256) * MiB;
/** A multiple of six, so that over a full run every variant runs first, second and third equally often. */
const ROUNDS = QUICK ? 2 : 12;
const REPO = "bench/front";

/**
 * Every order of the three variants, consecutive ones reversed where possible: the machine is
 * shared, and drift in its load should hit every variant alike.
 */
const ORDERS: Variant[][] = [
    ["baseline", "without-front", "with-front"],
    ["with-front", "without-front", "baseline"],
    ["without-front", "with-front", "baseline"],
    ["baseline", "with-front", "without-front"],
    ["with-front", "baseline", "without-front"],
    ["without-front", "baseline", "with-front"],
];

function log(message: string): void {
    process.stderr.write(`[bench:front ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function brief(s: FrontSample): string {
    return s.ok ? `${s.mbps.toFixed(1)} MiB/s (${s.seconds.toFixed(2)} s)` : `ERROR ${s.error ?? ""}`;
}

/** Empties a bucket's directory on the S3 server's disk (no registry may be running on it). */
function emptyBucket(rig: Rig, bucket: string): void {
    const root = path.join(rig.s3.dataDir, bucket);
    for (const entry of fs.readdirSync(root)) {
        fs.rmSync(path.join(root, entry), { recursive: true, force: true });
    }
}

function checkChunkSize(what: string, registry: LocalRegistry | FrontedRegistry, partBytes: number): void {
    const storage = registry.configInput.storage;
    if (storage.kind !== "s3" || storage.chunkSizeBytes !== partBytes) {
        throw new Error(`${what}: expected S3 storage with ${partBytes}-byte chunks (the baseline's part size); got ${JSON.stringify(storage.kind === "s3" ? storage.chunkSizeBytes : storage.kind)}`);
    }
}

async function measure(): Promise<FrontResults> {
    const startedAt = new Date();
    const loadBefore = os.loadavg();
    const { workDir, keepWorkDir } = loadConfig(REPO_ROOT);
    fs.rmSync(workDir, { recursive: true, force: true });
    if (!keepWorkDir) {
        // Also on Ctrl-C: the harness kills the children and exits, and this still runs.
        process.on("exit", () => fs.rmSync(workDir, { recursive: true, force: true }));
    }
    const rig = await Rig.create(workDir);
    try {
        const versions = {
            registry: goModuleVersion(cachedBinary("registry"), "github.com/distribution/distribution/v3"),
            caddy: goModuleVersion(cachedBinary("caddy"), "github.com/caddyserver/caddy/v2"),
            versitygw: goModuleVersion(cachedBinary("versitygw"), "github.com/versity/versitygw"),
            node: process.version,
        };
        log(`versions ${JSON.stringify(versions)}; work dir ${workDir}`);
        const partSizeMb = DEFAULTS.s3ChunkSizeMb;
        const partBytes = partSizeMb * MiB;
        const layerPath = path.join(workDir, "layer.bin");
        const digest = await writeRandomFile(layerPath, LAYER_BYTES);
        const layer = { path: layerPath, size: LAYER_BYTES, digest };
        const scratch = path.join(workDir, "download.bin");
        const s3Of = (bucket: string): S3Target => ({ endpoint: rig.s3.endpoint, region: rig.s3.region, bucket, accessKey: rig.s3.accessKey, secretKey: rig.s3.secretKey });
        for (const bucket of ["bare", "fronted"]) {
            await rig.s3.createBucket(bucket);
        }

        // The previous shape: the program's config with only http.tls changed to a key pair.
        const bare = await LocalRegistry.start(rig.tracker, {
            dir: path.join(workDir, "bare"),
            s3: s3Of("bare"),
            certs: rig.certs,
            login: rig.login,
            redirect: false,
            configure: (input) => ({ ...input, http: { ...input.http, tls: { kind: "files", certificate: rig.certs.certFile, key: rig.certs.keyFile } } }),
        });
        // The program's shape, twice on one bucket: redirects off (bytes through the front) and on.
        const off = await startFrontedRegistry(rig.tracker, { dir: path.join(workDir, "front-off"), s3: s3Of("fronted"), certs: rig.certs, redirect: false });
        const on = await startFrontedRegistry(rig.tracker, { dir: path.join(workDir, "front-on"), s3: s3Of("fronted"), certs: rig.certs, redirect: true, users: Object.values(off.users) });
        checkChunkSize("without front", bare, partBytes);
        checkChunkSize("with front", off, partBytes);
        checkChunkSize("with front, redirect on", on, partBytes);
        if (!bare.url.startsWith("https:") || !off.url.startsWith("https:") || off.backend.url.startsWith("https:")) {
            throw new Error(`expected TLS at the registry without the front (${bare.url}) and at the front only with it (${off.url} -> ${off.backend.url})`);
        }
        const ca = rig.certs.caCertPem;
        const bareT: Target = { url: bare.url, ca, login: rig.login, registryPid: () => bare.process!.pid };
        const frontT = (f: FrontedRegistry): Target => ({ url: f.url, ca, login: f.login, registryPid: () => f.process!.pid, frontPid: () => f.front.process!.pid });
        const offT = frontT(off);
        const onT = frontT(on);

        const workloads: FrontWorkload[] = [
            { variant: "baseline", direction: "push", redirect: null, samples: [] },
            { variant: "baseline", direction: "pull", redirect: null, samples: [] },
            { variant: "without-front", direction: "push", redirect: null, samples: [] },
            { variant: "without-front", direction: "pull", redirect: false, samples: [] },
            { variant: "with-front", direction: "push", redirect: null, samples: [] },
            { variant: "with-front", direction: "pull", redirect: false, samples: [] },
            { variant: "with-front", direction: "pull", redirect: true, samples: [] },
        ];
        const workload = (variant: Variant, direction: "push" | "pull", redirect: boolean | null) =>
            workloads.find((w) => w.variant === variant && w.direction === direction && w.redirect === redirect)!;
        const s3Pid = rig.s3Pid;
        const failed = (bytes: number, where: { round: number; position: number }, e: unknown): FrontSample => ({
            ...where,
            // Not measured: the report reads only the samples that succeeded.
            seconds: 0,
            bytes,
            mbps: 0,
            cpu: { registry: null, front: null, s3: 0, client: 0 },
            otherCores: 0,
            ok: false,
            error: e instanceof Error ? e.message : String(e),
        });

        /** One variant's push and pull(s); `round` -1 is the warm-up, not recorded. */
        const runVariant = async (variant: Variant, round: number, position: number): Promise<void> => {
            const where = { round, position };
            const got: [FrontWorkload, FrontSample][] = [];
            if (variant === "baseline") {
                const key = `front/${round}`;
                const put = await rig.rawPut([{ file: layer.path, key }], partBytes).then((s) => fromRigSample(s, where), (e: unknown) => failed(layer.size, where, e));
                const get = await rig.rawGet(key, scratch, digest).then((s) => fromRigSample(s, where), (e: unknown) => failed(layer.size, where, e));
                fs.rmSync(scratch, { force: true });
                await rig.clearBaseline();
                got.push([workload(variant, "push", null), put], [workload(variant, "pull", null), get]);
            } else if (variant === "without-front") {
                await bare.stop();
                emptyBucket(rig, "bare");
                await bare.restart();
                got.push([workload(variant, "push", null), await timedOp(bareT, s3Pid, layer.size, where, () => uploadBlob(bareT, REPO, layer))]);
                got.push([workload(variant, "pull", false), await timedOp(bareT, s3Pid, layer.size, where, () => downloadBlob(bareT, REPO, digest, scratch, false))]);
            } else {
                await off.stop();
                await on.stop();
                emptyBucket(rig, "fronted");
                await off.restart();
                await on.restart();
                got.push([workload(variant, "push", null), await timedOp(offT, s3Pid, layer.size, where, () => uploadBlob(offT, REPO, layer))]);
                // Which pull goes first alternates too.
                for (const redirect of round % 2 === 0 ? [false, true] : [true, false]) {
                    const t = redirect ? onT : offT;
                    got.push([workload(variant, "pull", redirect), await timedOp(t, s3Pid, layer.size, where, () => downloadBlob(t, REPO, digest, scratch, redirect))]);
                }
            }
            for (const [w, s] of got) {
                log(`${round < 0 ? "warm-up" : `round ${round + 1}`}, ${workloadName(w)}: ${brief(s)}`);
                if (round >= 0) {
                    w.samples.push(s);
                }
            }
        };

        log(`layer ${LAYER_BYTES / MiB} MiB ${digest}; ${ROUNDS} rounds after a warm-up; ${partSizeMb} MiB parts`);
        for (const [position, variant] of ORDERS[0].entries()) {
            await runVariant(variant, -1, position);
        }
        for (let round = 0; round < ROUNDS; round++) {
            for (const [position, variant] of ORDERS[round % ORDERS.length].entries()) {
                await runVariant(variant, round, position);
            }
        }
        return {
            meta: {
                startedAt: startedAt.toISOString(),
                durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
                host: hostInfo(loadBefore),
                versions,
                quick: QUICK,
                rounds: ROUNDS,
                layerBytes: LAYER_BYTES,
                layerDigest: digest,
                partSizeMb,
            },
            workloads,
        };
    } finally {
        await rig.dispose();
        if (keepWorkDir) {
            log(`kept ${workDir}`);
        }
    }
}

async function main(): Promise<void> {
    const results = await measureOrLoad<FrontResults>(OUT.json, measure, log);
    fs.mkdirSync(path.dirname(OUT.markdown), { recursive: true });
    fs.writeFileSync(OUT.markdown, renderFrontMarkdown(results));
    process.stdout.write(renderFrontTable(results));
    log(`wrote ${path.relative(REPO_ROOT, OUT.markdown)}`);
}

main().catch((error: unknown) => {
    process.stderr.write(`[bench:front] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
