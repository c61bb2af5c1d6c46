/**
 * `npm run bench`: push/pull throughput and memory of the registry on the rehearsal stack (the
 * real registry binary serving the program's rendered config with TLS and htpasswd auth, a real
 * S3 server, skopeo as the client), next to a raw @aws-sdk baseline measured in the same run.
 * Prints a table and writes docs/BENCHMARKS.md and docs/bench-*.svg.
 *
 * Needs: `npm ci` and `bash scripts/install-rehearsal-tools.sh`. Settings: bench/lib/config.ts
 * (BENCH_QUICK=1 for a smoke run). See docs/BENCHMARKS.md for the method.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

import { REGISTRY_VERSION } from "../components/versions";
import { cachedBinary, type LocalRegistry } from "../test/harness";
import { goModuleVersion } from "./lib/buildInfo";
import { loadConfig, type BenchConfig } from "./lib/config";
import { buildImagesSharingBase, buildSingleLayerImage, blobFile } from "./lib/images";
import { pprofTop, summarizeProfile, type ProfileSummary } from "./lib/pprof";
import { renderCharts, renderMarkdown, renderTable, evaluateGoals, chooseChunk, PROGRAM_SETTINGS, programOf } from "./lib/report";
import { renderHtpasswd } from "../components/render/htpasswd";
import type { ConcurrencyLevel, RequestCounts, Results, SweepEntry, TuningVariant } from "./lib/results";
import { hostInfo } from "./lib/hostInfo";
import { MiB, Rig, type Sample } from "./lib/rig";
import { median } from "./lib/stats";

const REPO_ROOT = path.resolve(__dirname, "..");

function log(message: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function brief(s: Sample): string {
    const rss = s.peakRssMb !== undefined ? `, peak RSS ${s.peakRssMb.toFixed(0)} MB` : "";
    const err = s.errors > 0 ? `, ${s.errors} ERRORS: ${(s.messages ?? []).join(" | ")}` : "";
    return `${s.mbps.toFixed(1)} MB/s (${s.seconds.toFixed(2)} s${rss}${err})`;
}

function versionOf(command: string, args: string[]): string {
    try {
        return execFileSync(command, args, { encoding: "utf8", env: { ...process.env, AWS_CA_BUNDLE: "" } }).split("\n")[0].trim();
    } catch {
        return "unknown";
    }
}

function filesystemOf(dir: string): string {
    try {
        return execFileSync("df", ["--output=fstype", dir], { encoding: "utf8" }).split("\n")[1]?.trim() ?? "unknown";
    } catch {
        return "unknown";
    }
}

/** Alternates which of the two runs first, so drift in the machine's load hits both alike. */
async function pair<A, B>(round: number, a: () => Promise<A>, b: () => Promise<B>): Promise<[A, B]> {
    if (round % 2 === 0) {
        const x = await a();
        return [x, await b()];
    }
    const y = await b();
    return [await a(), y];
}

function countOps(rig: Rig, since: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const op of rig.s3OperationsSince(since)) {
        counts[op.operation] = (counts[op.operation] ?? 0) + 1;
    }
    return counts;
}

async function measure(cfg: BenchConfig): Promise<Results> {
    const startedAt = new Date();
    const program = PROGRAM_SETTINGS;
    log(`program settings: ${JSON.stringify(program)}`);
    const loadBefore = os.loadavg();
    fs.rmSync(cfg.workDir, { recursive: true, force: true });
    if (!cfg.keepWorkDir) {
        // Also on Ctrl-C: the harness kills the children and exits, and this still runs.
        process.on("exit", () => fs.rmSync(cfg.workDir, { recursive: true, force: true }));
    }
    log(`work dir ${cfg.workDir} (${filesystemOf(path.dirname(cfg.workDir))}); results -> ${cfg.outDir}`);
    const rig = await Rig.create(cfg.workDir);
    const registryBinary = cachedBinary("registry");
    const versions = {
        registry: versionOf(registryBinary, ["--version"]).split(" ").pop() ?? "unknown",
        pinned: REGISTRY_VERSION,
        versitygw: goModuleVersion(cachedBinary("versitygw"), "github.com/versity/versitygw"),
        skopeo: versionOf("skopeo", ["--version"]),
        node: process.version,
    };
    log(`versions: ${JSON.stringify(versions)}`);
    fs.mkdirSync(path.join(cfg.workDir, "scratch"), { recursive: true });
    const scratch = (name: string) => path.join(cfg.workDir, "scratch", name);
    const repeats = cfg.repeats;

    try {
        // ---- images ---------------------------------------------------------------------------
        log(`building images: one ${cfg.layerMb} MB layer; ${Math.max(...cfg.concurrency, cfg.sweepConcurrency)} images of ${cfg.baseMb} MB shared base + ${cfg.ownMb} MB own layer`);
        const single = await buildSingleLayerImage(path.join(cfg.workDir, "images", "single"), "latest", cfg.layerMb * MiB);
        const layerFile = blobFile(single.layoutDir, single.layers[0].digest);
        const maxImages = Math.max(...cfg.concurrency, cfg.sweepConcurrency);
        const shared = await buildImagesSharingBase(path.join(cfg.workDir, "images", "shared"), maxImages, cfg.baseMb * MiB, cfg.ownMb * MiB);
        const concImages = (n: number) => shared.images.slice(0, n);
        const concRepo = (i: number) => `bench/conc${i}`;
        const concBaselineFiles = (n: number, prefix: string) =>
            concImages(n).flatMap((img, i) => img.layers.map((l, j) => ({ file: blobFile(img.layoutDir, l.digest), key: `${prefix}/${i}/${j}` })));
        const countBaseUploads = (registry: LocalRegistry, since: number): number =>
            registry
                .log()
                .slice(since)
                .split("\n")
                .filter((l) => l.includes(`digest=${encodeURIComponent(shared.base.digest)}`) || l.includes(`digest=${shared.base.digest}`))
                .filter((l) => /"PUT [^"]*blobs\/uploads\/[^"]*" 201/.test(l)).length;

        // ---- warm-up (not recorded): page cache, SDK module loading, skopeo ----------------------
        {
            const warm = await rig.startRegistry({ name: "warmup", storage: "s3", chunkMb: cfg.chunksMb[0], redirect: true });
            await rig.rawPut([{ file: layerFile, key: "warmup" }], cfg.chunksMb[0] * MiB);
            await rig.rawGet("warmup", scratch("warmup.bin"), single.layers[0].digest);
            await rig.push(warm, [single], () => "bench/warmup");
            await rig.clearBaseline();
            await rig.resetStorage(warm, "s3");
            await rig.stopRegistry(warm);
        }

        // ---- (d) chunk-size sweep, which also gives (b) ------------------------------------------
        const sweep: SweepEntry[] = [];
        for (const chunkMb of cfg.chunksMb) {
            const entry: SweepEntry = { chunkMb, put: [], push: [], conc: [] };
            const registry = await rig.startRegistry({ name: `s3-chunk${chunkMb}`, storage: "s3", chunkMb, redirect: true });
            for (let r = 0; r < repeats; r++) {
                const [put, push] = await pair(
                    r,
                    async () => {
                        const s = await rig.rawPut([{ file: layerFile, key: `sweep/${chunkMb}/${r}` }], chunkMb * MiB);
                        await rig.clearBaseline();
                        return s;
                    },
                    async () => {
                        await rig.resetStorage(registry, "s3");
                        return rig.push(registry, [single], () => "bench/single");
                    },
                );
                entry.put.push(put);
                entry.push.push(push);
                log(`chunk ${chunkMb} MB #${r + 1}: raw PUT ${brief(put)}; push ${brief(push)}`);
            }
            for (let r = 0; r < cfg.sweepConcurrencyRepeats; r++) {
                await rig.resetStorage(registry, "s3");
                const conc = await rig.push(registry, concImages(cfg.sweepConcurrency), concRepo);
                entry.conc.push(conc);
                log(`chunk ${chunkMb} MB, ${cfg.sweepConcurrency} concurrent #${r + 1}: ${brief(conc)}`);
            }
            await rig.stopRegistry(registry);
            sweep.push(entry);
        }
        const chosen = chooseChunk(sweep, cfg.rssBudgetMb, cfg.sweepConcurrency, program);
        log(`chosen chunk size: ${chosen.chunkMb} MB (${chosen.reason})`);

        // ---- S3 requests per operation (at the chosen chunk size) -------------------------------
        let requests: RequestCounts | undefined;
        const onRegistry = await rig.startRegistry({ name: "pull-redirect", storage: "s3", chunkMb: chosen.chunkMb, redirect: true });
        const offRegistry = await rig.startRegistry({ name: "pull-stream", storage: "s3", chunkMb: chosen.chunkMb, redirect: false });
        {
            await rig.resetStorage(onRegistry, "s3");
            await rig.restart(offRegistry);
            let since = rig.s3.operationCount();
            await rig.push(onRegistry, [single], () => "bench/pull");
            const push = countOps(rig, since);
            since = rig.s3.operationCount();
            await rig.pull(onRegistry, single, "bench/pull", scratch("pull-count"));
            const pullRedirect = countOps(rig, since);
            since = rig.s3.operationCount();
            await rig.pull(offRegistry, single, "bench/pull", scratch("pull-count"));
            const pullNoRedirect = countOps(rig, since);
            requests = { chunkMb: chosen.chunkMb, layerBytes: single.layers[0].size, push, pullRedirect, pullNoRedirect };
            log(`S3 requests: push ${JSON.stringify(push)}; pull (redirect) ${JSON.stringify(pullRedirect)}; pull (stream) ${JSON.stringify(pullNoRedirect)}`);
        }

        // ---- (c) pulls: raw GET vs redirect on vs redirect off ----------------------------------
        const pull = { chunkMb: chosen.chunkMb, get: [] as Sample[], redirectOn: [] as Sample[], redirectOff: [] as Sample[], clientOn: [] as Sample[], clientOff: [] as Sample[] };
        await rig.rawPut([{ file: layerFile, key: "pull/layer" }], chosen.chunkMb * MiB);
        for (let r = 0; r < cfg.pullRepeats; r++) {
            const order = r % 5;
            const steps = [
                async () => pull.get.push(await rig.rawGet("pull/layer", scratch("raw-get.bin"), single.layers[0].digest)),
                async () => pull.redirectOn.push(await rig.pull(onRegistry, single, "bench/pull", scratch("pull-on"))),
                async () => pull.redirectOff.push(await rig.pull(offRegistry, single, "bench/pull", scratch("pull-off"))),
                async () => pull.clientOn.push(await rig.blobGet(onRegistry, "bench/pull", single.layers[0], scratch("blob-on.bin"))),
                async () => pull.clientOff.push(await rig.blobGet(offRegistry, "bench/pull", single.layers[0], scratch("blob-off.bin"))),
            ];
            for (let k = 0; k < steps.length; k++) {
                await steps[(k + order) % steps.length]();
            }
            log(`pull #${r + 1}: raw GET ${brief(pull.get[r])}; skopeo redirect on ${brief(pull.redirectOn[r])}, off ${brief(pull.redirectOff[r])}; `
                + `Node blob GET redirect on ${brief(pull.clientOn[r])}, off ${brief(pull.clientOff[r])}`);
        }
        await rig.clearBaseline();
        await rig.stopRegistry(onRegistry);
        await rig.stopRegistry(offRegistry);

        // ---- (e) concurrency at the chosen chunk size -------------------------------------------
        const levels: ConcurrencyLevel[] = [];
        const concRegistry = await rig.startRegistry({ name: "concurrency", storage: "s3", chunkMb: chosen.chunkMb, redirect: true });
        for (const n of cfg.concurrency) {
            const level: ConcurrencyLevel = { n, put: [], push: [] };
            for (let r = 0; r < repeats; r++) {
                const [put, push] = await pair(
                    r,
                    async () => {
                        const s = await rig.rawPut(concBaselineFiles(n, `conc/${n}/${r}`), chosen.chunkMb * MiB);
                        await rig.clearBaseline();
                        return s;
                    },
                    async () => {
                        await rig.resetStorage(concRegistry, "s3");
                        const logStart = concRegistry.log().length;
                        const s = await rig.push(concRegistry, concImages(n), concRepo);
                        s.baseUploads = countBaseUploads(concRegistry, logStart);
                        const check = await rig.verifyAll(concRegistry, concImages(n), concRepo, scratch("verify"));
                        s.verified = check.verified;
                        s.expected = n;
                        s.messages = [...(s.messages ?? []), ...check.failures];
                        return s;
                    },
                );
                level.put.push(put);
                level.push.push(push);
                log(`${n} concurrent #${r + 1}: raw PUT (${n * 2} uploads) ${brief(put)}; push ${brief(push)}, verified ${push.verified}/${n}, base uploaded ${push.baseUploads}x`);
            }
            levels.push(level);
        }
        await rig.stopRegistry(concRegistry);

        // ---- tuning: the same concurrent push with one setting changed at a time -----------------
        // The baseline is the program's configuration; each variant changes one setting, so the
        // rows show what each of the program's choices buys (or costs).
        const n = cfg.sweepConcurrency;
        const salt = "benchmarkbenchmarkbenc";
        const nextChunk = [...cfg.chunksMb].sort((a, b) => a - b).find((c) => c > chosen.chunkMb);
        const limit = program.env.GOMEMLIMIT ?? "unset";
        const deployedChunk = chosen.chunkMb === program.chunkMb;
        const variantSpecs: { name: string; kind: NonNullable<TuningVariant["kind"]>; change: string; chunkMb?: number; env?: Record<string, string>; htpasswd?: string }[] = [
            {
                name: "program config",
                kind: "program",
                change: deployedChunk
                    ? `as deployed (GOMEMLIMIT=${limit}, bcrypt cost ${program.bcryptCost}, ${chosen.chunkMb} MB chunks)`
                    : `as deployed (GOMEMLIMIT=${limit}, bcrypt cost ${program.bcryptCost}) but with ${chosen.chunkMb} MB chunks (the program's default is ${program.chunkMb} MB)`,
            },
            ...(cfg.tuningGoMemLimit === program.env.GOMEMLIMIT
                ? []
                : [
                      {
                          name: `GOMEMLIMIT=${cfg.tuningGoMemLimit}`,
                          kind: "memlimit" as const,
                          change: cfg.tuningGoMemLimit === "off"
                              ? `no soft memory limit (GOMEMLIMIT=off instead of ${limit}): Go's GC paces by GOGC alone`
                              : `GOMEMLIMIT=${cfg.tuningGoMemLimit} instead of ${limit}`,
                          env: { GOMEMLIMIT: cfg.tuningGoMemLimit },
                      },
                  ]),
            ...(nextChunk === undefined
                ? []
                : [
                      {
                          name: `${nextChunk} MB chunks`,
                          kind: "chunk" as const,
                          change: `the next larger chunk size (${nextChunk} MB instead of ${chosen.chunkMb} MB), GOMEMLIMIT=${limit} as deployed`,
                          chunkMb: nextChunk,
                      },
                  ]),
            ...cfg.tuningBcryptCosts
                .filter((cost) => cost !== program.bcryptCost)
                .map((cost) => ({
                    name: `bcrypt cost ${cost}`,
                    kind: "bcrypt" as const,
                    change: `htpasswd hashed with bcrypt cost ${cost} instead of ${program.bcryptCost} (same random password)`,
                    htpasswd: renderHtpasswd({ username: rig.login.username, password: rig.login.password, salt, cost }),
                })),
        ];
        const variants: TuningVariant[] = [];
        const variantRegistries: LocalRegistry[] = [];
        for (const [i, v] of variantSpecs.entries()) {
            const registry = await rig.startRegistry({ name: `tuning-${i}`, storage: "s3", chunkMb: v.chunkMb ?? chosen.chunkMb, redirect: true, env: v.env, htpasswd: v.htpasswd });
            variantRegistries.push(registry);
            variants.push({ name: v.name, kind: v.kind, change: v.change, goMemLimit: rig.registryEnv(registry, "GOMEMLIMIT"), push: [] });
            log(`tuning "${v.name}": registry runs with GOMEMLIMIT=${variants[i].goMemLimit ?? "(unset)"}`);
        }
        for (let r = 0; r < repeats; r++) {
            for (let k = 0; k < variants.length; k++) {
                const i = (k + r) % variants.length;
                await rig.resetStorage(variantRegistries[i], "s3");
                const s = await rig.push(variantRegistries[i], concImages(n), concRepo);
                variants[i].push.push(s);
                log(`tuning "${variants[i].name}" #${r + 1}: ${n} concurrent ${brief(s)}`);
            }
        }
        for (const registry of variantRegistries) {
            await rig.stopRegistry(registry);
        }
        const tuning = { chunkMb: chosen.chunkMb, n, variants };

        // ---- (f) filesystem driver reference ---------------------------------------------------
        const filesystem = { put: [] as Sample[], get: [] as Sample[], push: [] as Sample[], pull: [] as Sample[] };
        const fsRegistry = await rig.startRegistry({ name: "filesystem", storage: "filesystem", chunkMb: chosen.chunkMb, redirect: true });
        for (let r = 0; r < repeats; r++) {
            const [put, push] = await pair(
                r,
                () => rig.rawPut([{ file: layerFile, key: `fs/${r}` }], chosen.chunkMb * MiB),
                async () => {
                    await rig.resetStorage(fsRegistry, "filesystem");
                    return rig.push(fsRegistry, [single], () => "bench/fs");
                },
            );
            const [get, pulled] = await pair(
                r,
                () => rig.rawGet(`fs/${r}`, scratch("raw-get.bin"), single.layers[0].digest),
                () => rig.pull(fsRegistry, single, "bench/fs", scratch("pull-fs")),
            );
            await rig.clearBaseline();
            filesystem.put.push(put);
            filesystem.push.push(push);
            filesystem.get.push(get);
            filesystem.pull.push(pulled);
            log(`filesystem #${r + 1}: push ${brief(push)} (raw PUT ${brief(put)}); pull ${brief(pulled)} (raw GET ${brief(get)})`);
        }
        await rig.stopRegistry(fsRegistry);

        // ---- profiles: where the registry's CPU goes --------------------------------------------
        const profiles: ProfileSummary[] = [];
        if (cfg.profile) {
            const profRegistry = await rig.startRegistry({ name: "profile", storage: "s3", chunkMb: chosen.chunkMb, redirect: false });
            const chosenEntry = sweep.find((e) => e.chunkMb === chosen.chunkMb);
            const pushSeconds = Math.max(2, Math.ceil(median((chosenEntry?.push ?? []).map((s) => s.seconds))));
            const concSeconds = Math.max(2, Math.ceil(median((chosenEntry?.conc ?? []).map((s) => s.seconds))));
            const runs: [string, number, () => Promise<unknown>][] = [
                [`single push, ${chosen.chunkMb} MB chunks`, pushSeconds, () => rig.push(profRegistry, [single], () => "bench/profile")],
                // Pulls the image the first run pushed, so it must come second.
                [`pull, redirect off`, Math.max(2, Math.ceil(median(pull.redirectOff.map((s) => s.seconds)))), () => rig.pull(profRegistry, single, "bench/profile", scratch("pull-prof"))],
                [`${cfg.sweepConcurrency} concurrent pushes, ${chosen.chunkMb} MB chunks`, concSeconds, () => rig.push(profRegistry, concImages(cfg.sweepConcurrency), concRepo)],
            ];
            for (const [name, seconds, run] of runs) {
                if (!name.startsWith("pull")) {
                    await rig.resetStorage(profRegistry, "s3");
                }
                const profile = await rig.profileRegistry(profRegistry, seconds, run);
                if (profile === undefined) {
                    log(`profile "${name}": the debug server returned no profile`);
                    continue;
                }
                const file = path.join(cfg.workDir, `profile-${profiles.length}.pb.gz`);
                fs.writeFileSync(file, profile);
                const top = await pprofTop(rig.tracker, registryBinary, file);
                if (top === undefined) {
                    log("go tool pprof is not available: skipping the profile summary");
                    break;
                }
                const summary = summarizeProfile(name, top);
                profiles.push(summary);
                const keep = path.join(cfg.profileDir, `profile-${profiles.length}.pb.gz`);
                fs.mkdirSync(path.dirname(keep), { recursive: true });
                fs.copyFileSync(file, keep);
                log(`profile "${name}" (${summary.totalSamples}, saved ${path.relative(REPO_ROOT, keep)}): ${JSON.stringify(summary.categories)}`);
            }
            await rig.stopRegistry(profRegistry);
        }

        const results: Results = {
            meta: {
                startedAt: startedAt.toISOString(),
                durationSeconds: (Date.now() - startedAt.getTime()) / 1000,
                host: hostInfo(loadBefore),
                versions,
                workDirFs: filesystemOf(cfg.workDir),
                config: cfg,
                program,
            },
            sweep,
            chosen,
            pull,
            concurrency: { chunkMb: chosen.chunkMb, levels },
            filesystem,
            tuning,
            requests,
            profiles,
            goals: [],
        };
        results.goals = evaluateGoals(results);
        return results;
    } finally {
        await rig.dispose();
        if (!cfg.keepWorkDir) {
            fs.rmSync(cfg.workDir, { recursive: true, force: true });
        } else {
            log(`kept ${cfg.workDir}`);
        }
    }
}

async function main(): Promise<void> {
    const cfg = loadConfig(REPO_ROOT, process.argv.slice(2));
    let results: Results;
    const resultsJson = cfg.fromJson ?? cfg.resultsJson;
    if (cfg.fromJson) {
        results = JSON.parse(fs.readFileSync(cfg.fromJson, "utf8")) as Results;
        results.chosen = chooseChunk(results.sweep, results.meta.config.rssBudgetMb, results.meta.config.sweepConcurrency, programOf(results));
        results.goals = evaluateGoals(results);
        log(`rendering ${cfg.fromJson}`);
    } else {
        results = await measure(cfg);
        fs.mkdirSync(path.dirname(cfg.resultsJson), { recursive: true });
        fs.writeFileSync(cfg.resultsJson, JSON.stringify(results, null, 1));
        log(`raw results: ${path.relative(REPO_ROOT, cfg.resultsJson)}`);
    }
    fs.mkdirSync(cfg.outDir, { recursive: true });
    const charts = renderCharts(results);
    for (const [name, svg] of Object.entries(charts)) {
        fs.writeFileSync(path.join(cfg.outDir, name), svg);
    }
    const source = { path: path.relative(REPO_ROOT, resultsJson), link: path.relative(cfg.outDir, resultsJson) };
    const markdown = renderMarkdown(results, Object.keys(charts), source);
    fs.writeFileSync(path.join(cfg.outDir, "BENCHMARKS.md"), markdown);
    process.stdout.write(renderTable(results));
    log(`wrote ${path.relative(REPO_ROOT, path.join(cfg.outDir, "BENCHMARKS.md"))} and ${Object.keys(charts).join(", ")}`);
    const missed = results.goals.filter((g) => !g.met);
    if (missed.length > 0) {
        log(`goals missed: ${missed.map((g) => g.name).join("; ")} (reported, see BENCHMARKS.md)`);
    }
}

main().catch((error: unknown) => {
    process.stderr.write(`[bench] FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
});

