/**
 * What the registry pays without its in-memory blob descriptor cache
 * (`storage.cache.blobdescriptor: inmemory`), which replicas turn off because one replica's cache
 * would miss a deletion made through another (README, More than one droplet). Measured on the
 * release binary serving the program's own config.yml (renderRegistryConfig of the program's
 * input, swapped only for loopback: addresses, the S3 stand-in's endpoint), on one CPU
 * (`taskset -c 0`, as the default 1-vCPU droplet), against versitygw behind toxiproxy adding the
 * droplet-S3 round trip of a network profile (bench/net/profiles.ts, near by default).
 *
 * Each round is a fresh bucket and registry process, with the cache on or off (the two alternate,
 * so drift on this machine falls on both). A plain HTTP client plays docker, one request at a
 * time (so a step's time is the sum of its round trips; a client's parallelism hides some):
 * push an image of `--layers` random layers; push it to a second repository (HEAD each blob there,
 * then mount it from the first, as docker does for a source it knows); push it again to the
 * first (every blob HEADed and there); pull it twice, following the redirect to the bucket as the
 * program's default `redirectPullsToS3` has it; HEAD each blob three times. Per step: wall time
 * and the registry's S3 requests by operation (versitygw's access log, the registry's user agent
 * alone, so a client's redirected GETs are not counted).
 *
 *   flock /tmp/heavy.lock node --import tsx bench/cache/descriptors.ts [--repetitions 5] [--layers 5]
 *       [--layer-kib 256] [--profile near] [--out bench/results/descriptor-cache.json] [--render]
 *
 * `--render` prints the table from the committed JSON without measuring.
 */
import { createHash, randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { renderRegistryConfig } from "../../components/render/registryConfig";
import { DEFAULTS } from "../../components/settings";
import { request, type HttpResponse } from "../../test/harness/http";
import { freePort, LOOPBACK } from "../../test/harness/ports";
import { ProcessTracker } from "../../test/harness/processes";
import { generateLogin, programConfigInput, registryEnvironment, rehearsalConfigInput } from "../../test/harness/registry";
import { parseAccessLog, REGISTRY_S3_USER_AGENT, S3Server } from "../../test/harness/s3";
import { generateTestCertificates } from "../../test/harness/tls";
import { cachedBinary, makeTempDir, REPO_ROOT, systemBinary } from "../../test/harness/tools";
import { sleep, waitUntil } from "../../test/harness/wait";
import { goModuleVersion } from "../lib/buildInfo";
import { hostInfo, type HostInfo } from "../lib/hostInfo";
import { measureOrLoad } from "../lib/rawResults";
import { median } from "../lib/stats";
import { profileByName } from "../net/profiles";
import { startLoopbackDelay } from "../net/toxiproxy";

const PROXY = "cache-s3";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const STEPS = ["push", "push to another repository", "push again", "pull", "pull again", "HEAD each blob x3"] as const;
type Step = (typeof STEPS)[number];
const PUSHES: readonly Step[] = ["push", "push to another repository", "push again"];
const PULLS: readonly Step[] = ["pull", "pull again"];

interface StepResult { step: Step; ms: number; s3Requests: number; s3ByOperation: Record<string, number> }
interface Round { cache: "on" | "off"; repetition: number; steps: StepResult[] }

export interface DescriptorResults {
    meta: { startedAt: string; durationSeconds: number; host: HostInfo; registry: string; profile: string; rttMs: number; cpu: string; redirect: boolean; layers: number; layerBytes: number };
    rounds: Round[];
}

function argument(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const log = (message: string) => process.stderr.write(`${message}\n`);
const sha256 = (data: Buffer) => `sha256:${createHash("sha256").update(data).digest("hex")}`;

interface Blob { digest: string; data: Buffer }

/** An OCI image in memory: random layers (no two rounds share one), a config naming them, the manifest. */
function makeImage(layers: number, layerBytes: number): { blobs: Blob[]; manifest: Buffer } {
    const layerBlobs = Array.from({ length: layers }, () => randomBytes(layerBytes)).map((data) => ({ digest: sha256(data), data }));
    const config = Buffer.from(JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: layerBlobs.map((b) => b.digest) } }));
    const configBlob = { digest: sha256(config), data: config };
    const layerDescriptors = layerBlobs.map((b) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: b.digest, size: b.data.length }));
    const configDescriptor = { mediaType: "application/vnd.oci.image.config.v1+json", digest: configBlob.digest, size: config.length };
    const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MANIFEST, config: configDescriptor, layers: layerDescriptors }));
    return { blobs: [configBlob, ...layerBlobs], manifest };
}

/** docker's side of the protocol, against the registry at `base` with `login`. */
function client(base: string, login: { username: string; password: string }) {
    async function call(method: string, url: string, expect: number[], options: { body?: Buffer; headers?: Record<string, string> } = {}): Promise<HttpResponse> {
        const res = await request(new URL(url, base).toString(), { method, basicAuth: login, body: options.body, headers: options.headers, maxBodyBytes: 1 });
        if (!expect.includes(res.status)) {
            throw new Error(`${method} ${url}: HTTP ${res.status}, expected ${expect.join(" or ")}`);
        }
        return res;
    }
    const location = (res: HttpResponse) => String(res.headers.location);
    /** A blob HEAD; with redirects on, the registry answers 307 and the client asks the bucket, as Go's client does. */
    async function head(repo: string, digest: string, expect = [200, 307, 404]): Promise<boolean> {
        const res = await call("HEAD", `/v2/${repo}/blobs/${digest}`, expect);
        if (res.status === 307 && (await request(location(res), { method: "HEAD", maxBodyBytes: 1 })).status !== 200) {
            throw new Error(`HEAD ${digest}: the bucket refused the redirect`);
        }
        return res.status !== 404;
    }
    return {
        async push(repo: string, image: ReturnType<typeof makeImage>, mountFrom?: string): Promise<void> {
            for (const blob of image.blobs) {
                const mount = mountFrom === undefined ? "" : `?mount=${blob.digest}&from=${mountFrom}`;
                // 201: mounted, nothing to send.
                const started = (await head(repo, blob.digest)) ? undefined : await call("POST", `/v2/${repo}/blobs/uploads/${mount}`, [201, 202]);
                if (started?.status === 202) {
                    const patched = await call("PATCH", location(started), [202], { body: blob.data, headers: { "Content-Type": "application/octet-stream" } });
                    const done = new URL(location(patched), base);
                    done.searchParams.set("digest", blob.digest);
                    await call("PUT", done.toString(), [201], { headers: { "Content-Length": "0" } });
                }
            }
            await call("PUT", `/v2/${repo}/manifests/v1`, [201], { body: image.manifest, headers: { "Content-Type": MANIFEST } });
        },
        async pull(repo: string, image: ReturnType<typeof makeImage>): Promise<void> {
            await call("GET", `/v2/${repo}/manifests/v1`, [200], { headers: { Accept: MANIFEST } });
            for (const blob of image.blobs) {
                const res = await call("GET", `/v2/${repo}/blobs/${blob.digest}`, [200, 307]);
                // The presigned URL goes to the bucket (through the same proxy), without the registry's login.
                const fetched = res.status === 307 ? await request(location(res), { maxBodyBytes: 1 }) : res;
                if (fetched.digest !== blob.digest) {
                    throw new Error(`pulled ${fetched.digest} for ${blob.digest} (HTTP ${fetched.status})`);
                }
            }
        },
        async heads(repo: string, image: ReturnType<typeof makeImage>, times: number): Promise<void> {
            for (const blob of Array.from({ length: times }, () => image.blobs).flat()) {
                await head(repo, blob.digest, [200, 307]);
            }
        },
    };
}

async function measure(): Promise<DescriptorResults> {
    const started = Date.now();
    const loadBefore = os.loadavg();
    const repetitions = Number(argument("repetitions", "5"));
    const layers = Number(argument("layers", "5"));
    const layerBytes = Number(argument("layer-kib", "256")) * 1024;
    const profile = profileByName(argument("profile", "near"));
    const rttMs = profile.links["droplet-s3"].rttMs.value;
    const registry = cachedBinary("registry");
    const tracker = new ProcessTracker();
    const tmp = makeTempDir("bench-cache");
    const results: DescriptorResults = {
        meta: {
            startedAt: new Date(started).toISOString(),
            durationSeconds: 0,
            host: hostInfo(loadBefore),
            registry: goModuleVersion(registry, "github.com/distribution/distribution/v3"),
            profile: profile.name,
            rttMs,
            cpu: "taskset -c 0",
            redirect: DEFAULTS.redirectPullsToS3,
            layers,
            layerBytes,
        },
        rounds: [],
    };
    try {
        const s3 = await S3Server.start(tracker, { dir: tmp.join("s3") });
        const proxyPort = await startLoopbackDelay(tracker, { name: PROXY, upstreamPort: s3.port, rttMs, logFile: tmp.join("toxiproxy.log") });
        const certs = await generateTestCertificates(tracker, tmp.join("certs"));
        let seen = 0;
        /** The registry's S3 requests since the last call (after a pause, so the access log has them). */
        async function registryRequests(): Promise<Record<string, number>> {
            await sleep(300);
            const operations = parseAccessLog(fs.readFileSync(s3.accessLogFile, "utf8")).filter((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent));
            const byOperation: Record<string, number> = {};
            operations.slice(seen).forEach((op) => (byOperation[op.operation] = (byOperation[op.operation] ?? 0) + 1));
            seen = operations.length;
            return byOperation;
        }

        for (let repetition = 1; repetition <= repetitions; repetition++) {
            for (const cache of repetition % 2 === 1 ? (["on", "off"] as const) : (["off", "on"] as const)) {
                const bucket = `bench-cache-${repetition}-${cache}`;
                await s3.createBucket(bucket);
                const dir = tmp.join(bucket);
                fs.mkdirSync(dir, { mode: 0o700 });
                const login = generateLogin();
                const [port, debugPort] = [await freePort(), await freePort()];
                const program = programConfigInput({ s3: { endpoint: s3.endpoint, region: s3.region, bucket, accessKey: s3.accessKey, secretKey: s3.secretKey }, httpSecret: randomBytes(36).toString("base64url"), certs });
                // Replicas render blobDescriptorCache: false (privateRegistry.ts); one droplet leaves it unset, i.e. on.
                const input = { ...rehearsalConfigInput(program, { s3Endpoint: `http://127.0.0.1:${proxyPort}`, addr: `${LOOPBACK}:${port}`, debugAddr: `${LOOPBACK}:${debugPort}`, htpasswdPath: path.join(dir, "htpasswd") }), blobDescriptorCache: cache === "on" };
                fs.writeFileSync(path.join(dir, "config.yml"), renderRegistryConfig(input), { mode: 0o600 });
                fs.writeFileSync(path.join(dir, "htpasswd"), login.htpasswd, { mode: 0o600 });
                const proc = tracker.start("registry", systemBinary("taskset"), ["-c", "0", registry, "serve", path.join(dir, "config.yml")], { logFile: path.join(dir, "registry.log"), env: registryEnvironment() });
                const base = `http://${LOOPBACK}:${port}`;
                const ready = async () => ((await request(`${base}/v2/`)).status === 401 ? { done: true as const, value: undefined } : { done: false as const, seen: "not 401" });
                await waitUntil(ready, { description: `${base}/v2/ to answer 401`, timeoutMs: 20_000, abortIf: () => (proc.running ? undefined : proc.logTail()) });
                // Start-up's own requests (the first storage health check) are not a step's.
                await sleep(1000);
                await registryRequests();
                const image = makeImage(layers, layerBytes);
                const c = client(base, login);
                const actions: Record<Step, () => Promise<void>> = {
                    push: () => c.push("bench/a", image),
                    "push to another repository": () => c.push("bench/b", image, "bench/a"),
                    "push again": () => c.push("bench/a", image),
                    pull: () => c.pull("bench/a", image),
                    "pull again": () => c.pull("bench/a", image),
                    "HEAD each blob x3": () => c.heads("bench/a", image, 3),
                };
                const round: Round = { cache, repetition, steps: [] };
                for (const step of STEPS) {
                    const t0 = performance.now();
                    await actions[step]();
                    const ms = Math.round((performance.now() - t0) * 10) / 10;
                    const s3ByOperation = await registryRequests();
                    round.steps.push({ step, ms, s3Requests: Object.values(s3ByOperation).reduce((a, b) => a + b, 0), s3ByOperation });
                }
                await proc.stop(35_000);
                results.rounds.push(round);
                log(`#${repetition} cache ${cache}: ${round.steps.map((s) => `${s.step} ${s.ms.toFixed(0)} ms/${s.s3Requests} req`).join("; ")}`);
            }
        }
        results.meta.durationSeconds = Math.round((Date.now() - started) / 1000);
        results.meta.host = hostInfo(loadBefore);
        return results;
    } finally {
        await tracker.dispose();
        tmp.remove();
    }
}

/** Median of one figure over a mode's rounds, for one step. */
function stepMedian(results: DescriptorResults, cache: "on" | "off", step: Step, figure: (s: StepResult) => number): number {
    return median(results.rounds.filter((r) => r.cache === cache).flatMap((r) => r.steps.filter((s) => s.step === step).map(figure)));
}

/** The table: per step and mode, median time and median S3 requests by operation; then off minus on. */
export function renderTable(results: DescriptorResults): string {
    const operations = [...new Set(results.rounds.flatMap((r) => r.steps.flatMap((s) => Object.keys(s.s3ByOperation))))].sort();
    const rows = [["step", "cache", "ms", "S3 req", ...operations]];
    for (const step of STEPS) {
        for (const cache of ["on", "off"] as const) {
            const ops = operations.map((op) => String(stepMedian(results, cache, step, (s) => s.s3ByOperation[op] ?? 0)));
            rows.push([step, cache, stepMedian(results, cache, step, (s) => s.ms).toFixed(0), String(stepMedian(results, cache, step, (s) => s.s3Requests)), ...ops]);
        }
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    const table = rows.map((row) => row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join("  "));
    const extra = (step: Step, figure: (s: StepResult) => number) => stepMedian(results, "off", step, figure) - stepMedian(results, "on", step, figure);
    const line = (what: string, steps: readonly Step[]) => {
        const requests = steps.reduce((sum, step) => sum + extra(step, (s) => s.s3Requests), 0) / steps.length;
        const ms = steps.reduce((sum, step) => sum + extra(step, (s) => s.ms), 0) / steps.length;
        const sign = (n: number) => (n >= 0 ? "+" : "");
        return `without the cache, ${what}: ${sign(requests)}${requests.toFixed(1)} S3 requests (${sign(requests)}${(requests * results.meta.rttMs).toFixed(0)} ms at ${results.meta.rttMs} ms each if one after another), measured ${sign(ms)}${ms.toFixed(0)} ms`;
    };
    const summary = [...STEPS.map((step) => line(step, [step])), line("a push (mean of the three)", PUSHES), line("a pull (mean of the two)", PULLS)];
    return [...table, ...summary].join("\n");
}

async function main(): Promise<void> {
    const outFile = argument("out", path.join(REPO_ROOT, "bench", "results", "descriptor-cache.json"));
    const results = await measureOrLoad(outFile, measure, log);
    const m = results.meta;
    const reps = new Set(results.rounds.map((r) => r.repetition)).size;
    process.stdout.write(`registry ${m.registry} on ${m.cpu}, S3 ${m.rttMs} ms away (${m.profile}), redirect ${m.redirect ? "on" : "off"}; ${m.layers} layers of ${m.layerBytes / 1024} KiB plus a config; medians of ${reps} rounds per mode\n`);
    process.stdout.write(`${renderTable(results)}\n`);
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exit(1);
    });
}
