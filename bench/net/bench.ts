/**
 * `npm run bench:net`: the registry over the network rig, per profile (near, near-spaces, far):
 * the rig's probe (configured vs measured; no measurement on a rig that fails it), then the
 * baseline (the same client straight to the bucket), this project's registry + front and the peer
 * (upstream's defaults, peer.ts) on four workloads ((b) with 1, 3 and 5 layers at once), and a
 * chunk-size sweep over the sizes the program allows. near-spaces is near
 * with the bucket in Spaces nyc3: ours runs the program's `storage=spaces` section and the S3
 * server signs in nyc3, so the report sets S3 and Spaces side by side from one run. Writes bench/results/network.json and
 * docs/BENCHMARKS-NETWORK.md with its charts (docs/bench-net-*.svg), rendered from that JSON alone
 * by report/.
 *
 * `--render` re-renders the markdown from the committed JSON without measuring. BENCH_QUICK=1 is
 * a smoke run (small layers, one round) that writes under .bench/quick/ instead. Needs root (the
 * rig's namespaces) and the rehearsal tools (scripts/install-rehearsal-tools.sh).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { DEFAULTS } from "../../components/settings";
import { REGISTRY_CONTAINER_ENV } from "../../components/render/scripts";
import { ProcessTracker } from "../../test/harness/processes";
import { cachedBinary, makeTempDir, REPO_ROOT } from "../../test/harness/tools";
import { goModuleVersion } from "../lib/buildInfo";
import { hostInfo } from "../lib/hostInfo";
import { measureOrLoad } from "../lib/rawResults";
import { NUMBER_RANGES } from "../../components/settingsRules";
import { GOALS, sweepChunkSizes } from "./analysis";
import type { DriverOutput } from "./driver";
import { PEER_CHUNK_MB, PEER_SOURCES } from "./peer";
import { PUSH_CONCURRENCIES } from "./pool";
import { formatProbe, judgeProbe, runProbe } from "./probe";
import { profileByName } from "./profiles";
import { renderCharts, renderConsole, renderNetworkMarkdown } from "./report";
import type { NetworkResults, ProfileRun } from "./results";
import { NetworkRig } from "./rig";
import { IMAGE_B, workloadSizes } from "./workloads";

const QUICK = process.env.BENCH_QUICK === "1";
const OUT = QUICK
    ? { json: path.join(REPO_ROOT, ".bench", "quick", "network.json"), markdown: path.join(REPO_ROOT, ".bench", "quick", "BENCHMARKS-NETWORK.md") }
    : { json: path.join(REPO_ROOT, "bench", "results", "network.json"), markdown: path.join(REPO_ROOT, "docs", "BENCHMARKS-NETWORK.md") };
const ROUNDS = QUICK ? 1 : 3;
const PROBE_ATTEMPTS = 3;
/**
 * One sweep round per profile: with the main comparison's three rounds (now with (b) at 3 and 5
 * layers at once), a second one would take the full run near an hour (a sweep round is about two
 * minutes under near and near-spaces, three under far).
 */
const SWEEP_ROUNDS: Record<string, number> = { near: 1, "near-spaces": 1, far: 1 };
/** Only sizes the program's `s3ChunkSizeMb` accepts: a faster size it refuses decides nothing. */
const SWEEP_CHUNKS_MB = sweepChunkSizes(NUMBER_RANGES.s3ChunkSizeMb, QUICK);
/** near and near-spaces back to back, so the storage comparison sees the machine's load alike. */
const PROFILES = ["near", "near-spaces", "far"];

function log(message: string): void {
    process.stderr.write(`[bench:net ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

async function measureProfile(name: string, tmp: string): Promise<ProfileRun> {
    const profile = profileByName(name);
    const started = Date.now();
    const tracker = new ProcessTracker();
    try {
        log(`profile ${profile.name}: ${profile.description}`);
        const rig = await NetworkRig.create(tracker, profile, path.join(tmp, name, "rig"));
        // A shared machine can stall one probe: the rig is refused only if it disagrees every time.
        let probe = await runProbe(rig, tracker);
        let verdict = judgeProbe(profile, probe);
        for (let attempt = 2; !verdict.ok && attempt <= PROBE_ATTEMPTS; attempt++) {
            log(`the probe disagrees (${verdict.problems.join("; ")}); probing again (${attempt} of ${PROBE_ATTEMPTS})`);
            probe = await runProbe(rig, tracker);
            verdict = judgeProbe(profile, probe);
        }
        process.stderr.write(`${formatProbe(profile, probe)}\n`);
        const run: ProfileRun = {
            profile: profile.name,
            description: profile.description,
            links: profile.links,
            storage: profile.storage,
            ...(profile.counterpart === undefined ? {} : { counterpart: profile.counterpart }),
            probe,
            probeOk: verdict.ok,
            probeProblems: verdict.problems,
            series: [],
            sweep: [],
            durationSeconds: 0,
        };
        if (!verdict.ok) {
            log(`the ${name} rig does not behave as configured; not measuring on it:\n${verdict.problems.join("\n")}`);
            run.durationSeconds = Math.round((Date.now() - started) / 1000);
            return run;
        }
        const dir = path.join(tmp, name);
        const layoutFile = path.join(dir, "layout.json");
        fs.writeFileSync(layoutFile, JSON.stringify(rig.layout));
        const outFile = path.join(dir, "driver.json");
        const [head, ...rest] = rig.prefix("ci");
        const driver = tracker.start(
            "driver",
            head,
            [...rest, process.execPath, "--import", "tsx", path.join(__dirname, "driver.ts"), layoutFile, dir, outFile, String(ROUNDS), String(SWEEP_ROUNDS[name]), SWEEP_CHUNKS_MB.join(","), QUICK ? "1" : "0"],
            { logFile: path.join(dir, "driver.log"), cwd: REPO_ROOT },
        );
        // The driver logs every operation; echo its log as it grows.
        let shown = 0;
        const echo = setInterval(() => {
            const text = driver.log();
            process.stderr.write(text.slice(shown));
            shown = text.length;
        }, 1000);
        const exit = await driver.exited;
        clearInterval(echo);
        process.stderr.write(driver.log().slice(shown));
        if (!fs.existsSync(outFile)) {
            throw new Error(`the driver in ci failed (${JSON.stringify(exit)}):\n${driver.logTail(40)}`);
        }
        const out = JSON.parse(fs.readFileSync(outFile, "utf8")) as DriverOutput;
        run.series = out.series;
        run.sweep = out.sweep;
        if (out.oursStorage !== undefined) {
            run.oursStorage = out.oursStorage;
        }
        if (out.failures.length > 0) {
            run.failure = out.failures.join("\n");
        }
        run.durationSeconds = Math.round((Date.now() - started) / 1000);
        return run;
    } finally {
        await tracker.dispose();
    }
}

async function measure(): Promise<NetworkResults> {
    const startedAt = new Date();
    const loadBefore = os.loadavg();
    const tmp = makeTempDir("bench-net");
    try {
        const sizes = workloadSizes(QUICK);
        const profiles: ProfileRun[] = [];
        for (const name of PROFILES) {
            profiles.push(await measureProfile(name, tmp.path));
        }
        return {
            meta: {
                startedAt: startedAt.toISOString(),
                durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
                quick: QUICK,
                host: hostInfo(loadBefore),
                versions: {
                    registry: goModuleVersion(cachedBinary("registry"), "github.com/distribution/distribution/v3"),
                    caddy: goModuleVersion(cachedBinary("caddy"), "github.com/caddyserver/caddy/v2"),
                    versitygw: goModuleVersion(cachedBinary("versitygw"), "github.com/versity/versitygw"),
                    node: process.version,
                },
                rounds: ROUNDS,
                sweepRounds: SWEEP_ROUNDS,
                program: { chunkMb: DEFAULTS.s3ChunkSizeMb, gomemlimit: REGISTRY_CONTAINER_ENV.GOMEMLIMIT ?? null, redirect: DEFAULTS.redirectPullsToS3 },
                peer: { chunkMb: PEER_CHUNK_MB, sources: PEER_SOURCES },
                rssBudgetMb: GOALS.rssBudgetMb,
                sweepChunksMb: SWEEP_CHUNKS_MB,
                pushConcurrencies: [...PUSH_CONCURRENCIES],
                workloads: {
                    a: { bytes: sizes.a },
                    b: { image: IMAGE_B.image, source: IMAGE_B.source, layerBytes: sizes.b },
                    c: { layerBytes: sizes.c },
                    d: sizes.d,
                    dSweep: sizes.dSweep,
                },
                client:
                    "Node https in ci, keep-alive connections; per blob HEAD, POST, one streamed PATCH with the whole blob, PUT ?digest= (docker's sequence), " +
                    `an image's layers ${PUSH_CONCURRENCIES.join(", ")} at a time ((b); the others one after another), then the config and the manifest; a pull GETs the blob, follows the redirect and hashes what arrives`,
            },
            profiles,
        };
    } finally {
        tmp.remove();
    }
}

async function main(): Promise<void> {
    const results = await measureOrLoad<NetworkResults>(OUT.json, measure, log);
    fs.mkdirSync(path.dirname(OUT.markdown), { recursive: true });
    fs.writeFileSync(OUT.markdown, renderNetworkMarkdown(results));
    // Beside the markdown, which links them by bare file name.
    for (const [file, svg] of Object.entries(renderCharts(results))) {
        fs.writeFileSync(path.join(path.dirname(OUT.markdown), file), svg);
    }
    process.stdout.write(renderConsole(results));
    log(`wrote ${path.relative(REPO_ROOT, OUT.markdown)}`);
}

main().catch((error: unknown) => {
    process.stderr.write(`[bench:net] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});
