/**
 * The maintenance job's read-only window, measured on the collection command alone:
 * `registry garbage-collect --delete-untagged` (the release binary the rehearsal uses) on one CPU
 * (`taskset -c 0`, as the default 1-vCPU droplet), against versitygw behind toxiproxy adding the
 * droplet-S3 round trip of a network profile (bench/net/profiles.ts, near by default).
 *
 * For each fixture (fixture.ts: M manifests x T tags, a tenth of them garbage) it runs the job's
 * two shapes on a fresh copy each: "today", a dry run then the collection, both inside the
 * window at GOMAXPROCS=1 (what Go picks on one vCPU); and "new", the dry run before the window
 * and the collection alone inside, at each GOMAXPROCS swept. Each pass: its wall time, the
 * registry's S3 requests (versitygw's access log) and peak RSS (`/usr/bin/time`'s maxrss).
 * The window here is the passes inside it; the job's two restarts and its sizing HEADs add to it
 * (check 12 prints the whole window as the job logs it).
 *
 *   node --import tsx bench/gc/window.ts [--fixtures 100x10,1000x20,400x100] [--gomaxprocs 8,32,64]
 *       [--profile near] [--dry-run-before] [--out bench/results/gc-window.json] [--render]
 *   node --import tsx bench/gc/window.ts --merge a.json,b.json --out bench/results/gc-window.json
 *
 * `--render` prints the table and the verdict from the committed JSON without measuring;
 * `--merge` joins runs made side by side (one a fixture) into one results file, then renders it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { GC_GOMAXPROCS, GC_GOMEMLIMIT } from "../../components/render/maintenance";
import { ProcessTracker } from "../../test/harness/processes";
import { parseAccessLog, REGISTRY_S3_USER_AGENT, S3Server } from "../../test/harness/s3";
import { cachedBinary, makeTempDir, REPO_ROOT } from "../../test/harness/tools";
import { goModuleVersion } from "../lib/buildInfo";
import { hostInfo, type HostInfo } from "../lib/hostInfo";
import { measureOrLoad } from "../lib/rawResults";
import { profileByName } from "../net/profiles";
import { startLoopbackDelay } from "../net/toxiproxy";
import { writeFixture, type FixtureCounts, type FixtureShape } from "./fixture";
import { favouredGomaxprocs, peakRssKiB, verdict, windowMs, windowRequests, type FixtureRun, type PassResult, type ShapeRun } from "./verdict";

const BUCKET = "bench-gc";
const PROXY = "gc-s3";

export interface WindowResults {
    meta: {
        startedAt: string;
        durationSeconds: number;
        host: HostInfo;
        registry: string;
        profile: string;
        rttMs: number;
        cpu: string;
        gomemlimit: string;
        /** Benches run side by side on this machine and merged (--merge): each slowed the others a little. */
        concurrentRuns?: number;
    };
    fixtures: FixtureRun[];
}

function argument(name: string, fallback: string): string {
    const i = process.argv.indexOf(`--${name}`);
    return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

/** `400x100` or `400x100x40` (manifests x tags [x garbage]); garbage defaults to a tenth of the manifests. */
export function parseFixture(text: string): FixtureShape {
    const parts = text.split("x").map(Number);
    if (parts.length < 2 || parts.length > 3 || parts.some((n) => !Number.isInteger(n))) {
        throw new Error(`a fixture is MANIFESTSxTAGS[xUNTAGGED]; got ${JSON.stringify(text)}`);
    }
    return { manifests: parts[0], tags: parts[1], untagged: parts[2] ?? Math.ceil(parts[0] / 10) };
}

const log = (message: string) => process.stderr.write(`${message}\n`);

async function measure(): Promise<WindowResults> {
    const started = Date.now();
    const loadBefore = os.loadavg();
    const shapes = argument("fixtures", "100x10,1000x20,400x100").split(",").map(parseFixture);
    const sweep = argument("gomaxprocs", "8,32,64").split(",").map(Number);
    const profile = profileByName(argument("profile", "near"));
    const rttMs = profile.links["droplet-s3"].rttMs.value;
    const registry = cachedBinary("registry");
    const tracker = new ProcessTracker();
    const tmp = makeTempDir("bench-gc");
    const outFile = argument("out", path.join(REPO_ROOT, "bench", "results", "gc-window.json"));
    const results: WindowResults = {
        meta: {
            startedAt: new Date(started).toISOString(),
            durationSeconds: 0,
            host: hostInfo(loadBefore),
            registry: goModuleVersion(registry, "github.com/distribution/distribution/v3"),
            profile: profile.name,
            rttMs,
            cpu: "taskset -c 0",
            gomemlimit: GC_GOMEMLIMIT,
        },
        fixtures: [],
    };
    try {
        const s3 = await S3Server.start(tracker, { dir: tmp.join("s3") });
        await s3.createBucket(BUCKET);
        const proxyPort = await startLoopbackDelay(tracker, { name: PROXY, upstreamPort: s3.port, rttMs, logFile: tmp.join("toxiproxy.log") });
        const config = tmp.join("config.yml");
        fs.writeFileSync(
            config,
            [
                "version: 0.1",
                "log: { level: warn }",
                "storage:",
                "  delete: { enabled: true }",
                "  maintenance: { uploadpurging: { enabled: false } }",
                `  s3: { region: ${s3.region}, bucket: ${BUCKET}, accesskey: ${s3.accessKey}, secretkey: ${s3.secretKey}, regionendpoint: "http://127.0.0.1:${proxyPort}", forcepathstyle: true, secure: false, encrypt: false }`,
                "",
            ].join("\n"),
            { mode: 0o600 },
        );
        const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, OTEL_TRACES_EXPORTER: "none", GOMEMLIMIT: GC_GOMEMLIMIT };
        const bucketDir = path.join(s3.dataDir, BUCKET);
        let seen = 0;

        async function pass(expected: FixtureCounts, dryRun: boolean, inWindow: boolean, gomaxprocs: number): Promise<PassResult> {
            const timeFile = tmp.join("time.txt");
            const args = ["-f", "%M", "-o", timeFile, "taskset", "-c", "0", registry, "garbage-collect", "--delete-untagged", ...(dryRun ? ["--dry-run"] : []), config];
            const run = await tracker.run("/usr/bin/time", args, { env: { ...env, GOMAXPROCS: String(gomaxprocs) }, timeoutMs: 3_600_000, secrets: [s3.secretKey] });
            if (run.code !== 0) {
                throw new Error(`garbage-collect failed (${run.code}): ${run.stderr.slice(-2000)}`);
            }
            const summary = /^(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible for deletion$/m.exec(run.stdout);
            const counts = summary === null ? undefined : { marked: Number(summary[1]), blobs: Number(summary[2]), manifests: Number(summary[3]) };
            if (counts === undefined || counts.marked !== expected.marked || counts.blobs !== expected.blobs || counts.manifests !== expected.manifests) {
                throw new Error(`the collection saw ${JSON.stringify(counts)}, the fixture holds ${JSON.stringify(expected)}: it measured something else`);
            }
            await new Promise((resolve) => setTimeout(resolve, 300));
            const operations = parseAccessLog(fs.readFileSync(s3.accessLogFile, "utf8")).filter((op) => REGISTRY_S3_USER_AGENT.test(op.userAgent));
            const mine = operations.slice(seen);
            seen = operations.length;
            const s3ByOperation: Record<string, number> = {};
            mine.forEach((op) => (s3ByOperation[op.operation] = (s3ByOperation[op.operation] ?? 0) + 1));
            const peak = Number(fs.readFileSync(timeFile, "utf8").trim().split("\n").pop());
            return { dryRun, inWindow, gomaxprocs, ms: Math.round(run.durationMs), s3Requests: mine.length, s3ByOperation, peakRssKiB: peak };
        }

        for (const shape of shapes) {
            const fixture: FixtureRun = { ...shape, runs: [] };
            results.fixtures.push(fixture);
            const plan: { shape: ShapeRun["shape"]; gomaxprocs: number }[] = [{ shape: "today", gomaxprocs: 1 }, ...sweep.map((g) => ({ shape: "new" as const, gomaxprocs: g }))];
            for (const { shape: kind, gomaxprocs } of plan) {
                const expected = writeFixture(bucketDir, shape);
                const run: ShapeRun = { shape: kind, gomaxprocs, passes: [] };
                // The new shape's dry run runs before the window; it is measured only when asked
                // (--dry-run-before), since it does the collection's marking over again.
                if (kind === "today" || process.argv.includes("--dry-run-before")) {
                    run.passes.push(await pass(expected, true, kind === "today", gomaxprocs));
                }
                run.passes.push(await pass(expected, false, true, gomaxprocs));
                fixture.runs.push(run);
                log(`${shape.manifests}x${shape.tags} ${kind} GOMAXPROCS=${gomaxprocs}: ${run.passes.map((p) => `${p.dryRun ? "dry run" : "collection"} ${(p.ms / 1000).toFixed(1)} s, ${p.s3Requests} requests, ${(p.peakRssKiB / 1024).toFixed(0)} MiB`).join("; ")}`);
                // Each step on disk, so a long run cut short keeps what it measured.
                results.meta.durationSeconds = Math.round((Date.now() - started) / 1000);
                results.meta.host = hostInfo(loadBefore);
                fs.mkdirSync(path.dirname(outFile), { recursive: true });
                fs.writeFileSync(`${outFile}.partial`, `${JSON.stringify(results, null, 1)}\n`);
            }
        }
        fs.rmSync(`${outFile}.partial`, { force: true });
        return results;
    } finally {
        await tracker.dispose();
        tmp.remove();
    }
}

/** The table: per fixture and shape, the window, its S3 requests, the peak RSS, and the ratio to today's window. */
export function renderTable(results: WindowResults): string {
    const rows = [["fixture", "shape", "GOMAXPROCS", "window s", "vs today", "window S3 req", "dry run before s", "peak RSS MiB"]];
    for (const f of results.fixtures) {
        const today = f.runs.find((r) => r.shape === "today");
        for (const r of f.runs) {
            const before = r.passes.filter((p) => !p.inWindow);
            rows.push([
                `${f.manifests}x${f.tags} (${f.untagged} garbage)`,
                r.shape,
                String(r.gomaxprocs),
                (windowMs(r) / 1000).toFixed(1),
                today === undefined ? "-" : `${((windowMs(r) / windowMs(today)) * 100).toFixed(0)}%`,
                String(windowRequests(r)),
                before.length === 0 ? "-" : (before.reduce((s, p) => s + p.ms, 0) / 1000).toFixed(1),
                (peakRssKiB(r) / 1024).toFixed(0),
            ]);
        }
    }
    const widths = rows[0].map((_, i) => Math.max(...rows.map((row) => row[i].length)));
    return rows.map((row) => row.map((cell, i) => cell.padStart(widths[i])).join("  ")).join("\n");
}

/** Runs made side by side (one process a fixture), as one set of results: the fixtures of each, in order. */
export function mergeResults(parts: readonly WindowResults[]): WindowResults {
    const [first, ...rest] = parts;
    if (first === undefined) {
        throw new Error("nothing to merge");
    }
    if (rest.some((p) => p.meta.rttMs !== first.meta.rttMs || p.meta.registry !== first.meta.registry || p.meta.cpu !== first.meta.cpu)) {
        throw new Error("the runs differ in round trip, registry or CPU: they do not make one table");
    }
    return {
        meta: { ...first.meta, durationSeconds: Math.max(...parts.map((p) => p.meta.durationSeconds)), concurrentRuns: parts.length },
        fixtures: parts.flatMap((p) => p.fixtures),
    };
}

async function main(): Promise<void> {
    const outFile = argument("out", path.join(REPO_ROOT, "bench", "results", "gc-window.json"));
    const merge = argument("merge", "");
    if (merge !== "") {
        const merged = mergeResults(merge.split(",").map((file) => JSON.parse(fs.readFileSync(file, "utf8")) as WindowResults));
        fs.writeFileSync(outFile, `${JSON.stringify(merged, null, 1)}\n`);
        process.argv.push("--render");
    }
    const results = await measureOrLoad(outFile, measure, log);
    process.stdout.write(`collection on ${results.meta.cpu}, S3 ${results.meta.rttMs} ms away (${results.meta.profile}); the window is the passes inside it, restarts and sizing not included\n`);
    process.stdout.write(`${renderTable(results)}\n`);
    for (const f of results.fixtures) {
        process.stdout.write(`${f.manifests}x${f.tags}: the sweep favours GOMAXPROCS=${favouredGomaxprocs(f.runs) ?? "none measured"} (the smallest within a tenth of the shortest window)\n`);
    }
    // Judged at the value the job runs, not at each fixture's favourite.
    const judged = verdict(results.fixtures, GC_GOMAXPROCS);
    process.stdout.write(`verdict (the job's GOMAXPROCS=${GC_GOMAXPROCS}): ${judged.status}: ${judged.text}\n`);
}

if (require.main === module) {
    main().catch((error: unknown) => {
        process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
        process.exit(1);
    });
}
