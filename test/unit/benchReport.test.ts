import assert from "node:assert/strict";
import { describe, it } from "node:test";

import type { BenchConfig } from "../../bench/lib/config";
import { chooseChunk, evaluateGoals, renderMarkdown } from "../../bench/lib/report";
import { costlierBcrypt, fasterOverBudget, memoryLimitLowersPeak, peakRisesWithChunk, redirectSavesRegistryCpu } from "../../bench/lib/report/conclusions";
import { pullSection } from "../../bench/lib/report/pull";
import { recommendationsSection } from "../../bench/lib/report/recommendations";
import { sweepSection } from "../../bench/lib/report/sweep";
import type { ProgramSettings, Results, SweepEntry, TuningVariant } from "../../bench/lib/results";
import type { Sample } from "../../bench/lib/rig";

/**
 * The report's choices and verdicts are computed from the results JSON alone; these pin which
 * chunk size is chosen, when a goal is missed, and that each sentence of conclusion is printed
 * only when the synthetic samples support it.
 */

const MiB = 1024 ** 2;
const BYTES = 256 * MiB;
const PROGRAM: ProgramSettings = { chunkMb: 5, bcryptCost: 5, env: { GOMEMLIMIT: "150MiB" } };

function sample(mbps: number, o: { rss?: number; registryCpu?: number; clientCpu?: number; verified?: number; expected?: number; errors?: number } = {}): Sample {
    const seconds = BYTES / MiB / mbps;
    return {
        seconds,
        bytes: BYTES,
        mbps,
        cpu: { registry: o.registryCpu ?? 0.5, s3: 0.5, client: o.clientCpu ?? 0.2 * seconds },
        machineCores: 1,
        otherCores: 0.1,
        s3Seconds: { UploadPart: 1, CompleteMultipartUpload: 0.2 },
        peakRssMb: o.rss,
        errors: o.errors ?? 0,
        verified: o.verified,
        expected: o.expected,
    };
}

/** Three repeats of the same sample (medians and ranges then equal it). */
const three = (mbps: number, o: Parameters<typeof sample>[1] = {}): Sample[] => [sample(mbps, o), sample(mbps, o), sample(mbps, o)];

function entry(chunkMb: number, pushMbps: number, concRss: number): SweepEntry {
    return { chunkMb, put: three(100), push: three(pushMbps, { rss: 80 }), conc: three(60, { rss: concRss }) };
}

function variant(name: string, kind: TuningVariant["kind"], o: { rss: number; registryCpu?: number; mbps?: number; goMemLimit?: string }): TuningVariant {
    return { name, kind, change: `${name} differs`, goMemLimit: o.goMemLimit ?? "150MiB", push: three(o.mbps ?? 60, { rss: o.rss, registryCpu: o.registryCpu }) };
}

interface Shape {
    sweep?: SweepEntry[];
    pushMbps?: number;
    redirectOnCpu?: number;
    redirectOffCpu?: number;
    concRss?: number;
    variants?: TuningVariant[];
    pullVerified?: number;
}

/** Results of a run with the given shape; everything not named is a plain, passing run. */
function results(s: Shape = {}): Results {
    const sweep = s.sweep ?? [entry(5, s.pushMbps ?? 90, 150), entry(10, 80, 250)];
    const config = { repeats: 3, pullRepeats: 3, layerMb: 256, rssBudgetMb: 200, sweepConcurrency: 8, sweepConcurrencyRepeats: 3, baseMb: 16, ownMb: 64, chunksMb: sweep.map((e) => e.chunkMb), concurrency: [8] } as BenchConfig;
    const chosen = chooseChunk(sweep, config.rssBudgetMb, config.sweepConcurrency, PROGRAM);
    const r: Results = {
        meta: {
            startedAt: "2026-01-01T00:00:00.000Z",
            durationSeconds: 600,
            host: { cpus: 2, model: "test cpu", kernel: "6.0", memGb: 4, loadBefore: [1, 1, 1], loadAfter: [1, 1, 1] },
            versions: { registry: "v3", pinned: "3", versitygw: "v1", skopeo: "skopeo 1", node: "v20" },
            workDirFs: "tmpfs",
            config,
            program: PROGRAM,
        },
        sweep,
        chosen,
        pull: {
            chunkMb: chosen.chunkMb,
            get: three(200),
            redirectOn: three(190, { registryCpu: s.redirectOnCpu ?? 0.01, verified: s.pullVerified ?? 1 }),
            redirectOff: three(150, { registryCpu: s.redirectOffCpu ?? 0.5, verified: 1 }),
        },
        concurrency: { chunkMb: chosen.chunkMb, levels: [{ n: 8, put: three(100), push: three(90, { rss: s.concRss ?? 150, verified: 8, expected: 8 }) }] },
        filesystem: { put: three(100), get: three(200), push: three(95), pull: three(190) },
        tuning: { chunkMb: chosen.chunkMb, n: 8, variants: s.variants ?? [variant("program config", "program", { rss: 150 })] },
        profiles: [],
        goals: [],
    };
    r.goals = evaluateGoals(r);
    return r;
}

const text = (lines: string[]) => lines.join("\n");

describe("chooseChunk", () => {
    it("chooses the fastest chunk size whose peak RSS fits the budget", () => {
        const choice = chooseChunk([entry(5, 60, 150), entry(10, 70, 190), entry(32, 90, 400)], 200, 8, PROGRAM);
        assert.equal(choice.chunkMb, 10);
        assert.match(choice.reason, /over budget: 32 MB \(400 MB\)/);
    });

    it("excludes a chunk size whose peak equals the budget", () => {
        assert.equal(chooseChunk([entry(5, 60, 150), entry(10, 70, 200)], 200, 8, PROGRAM).chunkMb, 5);
    });

    it("judges a size by its highest peak, not its median", () => {
        const spiky: SweepEntry = { ...entry(10, 70, 150), conc: [sample(60, { rss: 150 }), sample(60, { rss: 150 }), sample(60, { rss: 230 })] };
        assert.equal(chooseChunk([entry(5, 60, 150), spiky], 200, 8, PROGRAM).chunkMb, 5);
    });

    it("falls back to the lowest peak, and says so, when nothing fits", () => {
        const choice = chooseChunk([entry(5, 60, 250), entry(10, 70, 300)], 200, 8, PROGRAM);
        assert.equal(choice.chunkMb, 5);
        assert.match(choice.reason, /^no chunk size kept the registry under 200 MB/);
    });
});

describe("evaluateGoals", () => {
    const goal = (r: Results, name: string) => {
        const g = r.goals.find((x) => x.name.startsWith(name));
        assert.ok(g, `no goal ${name}`);
        return g;
    };

    it("marks push vs raw PUT MISSED under 0.80x and met at or above it", () => {
        assert.equal(goal(results({ pushMbps: 79 }), "push vs raw PUT").met, false);
        assert.equal(goal(results({ pushMbps: 80 }), "push vs raw PUT").met, true);
    });

    it("marks the peak RSS goal MISSED at the budget and met under it", () => {
        assert.equal(goal(results({ concRss: 200 }), "8 concurrent: registry peak RSS").met, false);
        assert.equal(goal(results({ concRss: 199 }), "8 concurrent: registry peak RSS").met, true);
    });

    it("marks concurrent pushes MISSED when a digest did not verify", () => {
        const r = results();
        r.concurrency.levels[0].push[1].verified = 7;
        assert.equal(evaluateGoals(r).find((g) => g.name.includes("verified"))?.met, false);
    });
});

describe("sentences of conclusion follow the data", () => {
    it("recommends redirected pulls only when they cost the registry less CPU", () => {
        assert.equal(redirectSavesRegistryCpu(results()), true);
        assert.match(text(recommendationsSection(results())), /Keep pulls redirected to S3/);
        const worse = results({ redirectOnCpu: 0.6, redirectOffCpu: 0.5 });
        assert.equal(redirectSavesRegistryCpu(worse), false);
        assert.doesNotMatch(text(recommendationsSection(worse)), /redirected/);
    });

    it("says the budget set the chunk size only when a faster size was over it", () => {
        const budgetDecided = results({ sweep: [entry(5, 60, 150), entry(10, 80, 250)] });
        assert.equal(fasterOverBudget(budgetDecided)?.chunkMb, 10);
        assert.match(text(recommendationsSection(budgetDecided)), /The memory budget, not throughput, set the chunk size/);
        const fastestFits = results({ sweep: [entry(5, 90, 150), entry(10, 80, 250)] });
        assert.equal(fasterOverBudget(fastestFits), undefined);
        assert.doesNotMatch(text(recommendationsSection(fastestFits)), /memory budget, not throughput/);
    });

    it("recommends GOMEMLIMIT only when the limit lowered the peak", () => {
        const helps = results({ variants: [variant("program config", "program", { rss: 180 }), variant("GOMEMLIMIT=off", "memlimit", { rss: 220, goMemLimit: "off" })] });
        assert.deepEqual(memoryLimitLowersPeak(helps), { withPeak: 180, withoutPeak: 220 });
        assert.match(text(recommendationsSection(helps)), /GOMEMLIMIT=150MiB` in the registry container's environment\*\*.*the limit is what keeps the registry inside the budget/);
        const noEffect = results({ variants: [variant("program config", "program", { rss: 180 }), variant("GOMEMLIMIT=off", "memlimit", { rss: 175, goMemLimit: "off" })] });
        assert.equal(memoryLimitLowersPeak(noEffect), undefined);
        assert.doesNotMatch(text(recommendationsSection(noEffect)), /in the registry container's environment/);
    });

    it("recommends the program's bcrypt cost only when a higher cost used more registry CPU", () => {
        const base = variant("program config", "program", { rss: 150, registryCpu: 0.5 });
        const costs = results({ variants: [base, variant("bcrypt cost 8", "bcrypt", { rss: 150, registryCpu: 0.8 })] });
        assert.equal(costlierBcrypt(costs).length, 1);
        assert.match(text(recommendationsSection(costs)), /htpasswd bcrypt cost 5/);
        const free = results({ variants: [base, variant("bcrypt cost 8", "bcrypt", { rss: 150, registryCpu: 0.5 })] });
        assert.deepEqual(costlierBcrypt(free), []);
        assert.doesNotMatch(text(recommendationsSection(free)), /htpasswd bcrypt cost/);
    });

    it("numbers the recommendations it prints without gaps", () => {
        const r = results({
            sweep: [entry(5, 60, 150), entry(10, 80, 250)],
            redirectOnCpu: 0.6,
            variants: [variant("program config", "program", { rss: 150, registryCpu: 0.5 }), variant("bcrypt cost 8", "bcrypt", { rss: 150, registryCpu: 0.8 })],
        });
        const items = recommendationsSection(r).filter((l) => /^\d+\. /.test(l));
        assert.deepEqual(items.map((l) => l.slice(0, 4)), ["1. *", "2. *", "3. *"]);
        assert.match(items[1], /bcrypt cost 5/);
        assert.match(items[2], /memory budget, not throughput/);
    });

    it("ties memory growth to chunk size only when the peak rose with every larger size", () => {
        const rising = results({ sweep: [entry(5, 90, 150), entry(10, 80, 250), entry(32, 70, 400)] });
        assert.equal(peakRisesWithChunk(rising), true);
        assert.match(text(sweepSection(rising, [])), /Peak RSS rose with every larger chunk size/);
        const flat = results({ sweep: [entry(5, 90, 150), entry(10, 80, 140)] });
        assert.equal(peakRisesWithChunk(flat), false);
        assert.doesNotMatch(text(sweepSection(flat, [])), /Peak RSS rose/);
    });

    it("says every pull was verified only when every pull was", () => {
        assert.match(text(pullSection(results())), /Every pull was verified.*\(6\/6 skopeo pulls/);
        const failed = results({ pullVerified: 0 });
        assert.doesNotMatch(text(pullSection(failed)), /Every pull was verified/);
        assert.match(text(pullSection(failed)), /Not every pull was verified.*\(3\/6 skopeo pulls/);
    });

    it("keeps loopback caveats in the method section, labelled as method", () => {
        const md = renderMarkdown(results(), [], { path: "bench/results/loopback.json", link: "../bench/results/loopback.json" });
        assert.doesNotMatch(md, /Loopback hides round trips/);
        const method = md.slice(md.indexOf("## What is measured"), md.indexOf("## Push"));
        assert.match(method, /\*\*Limits of the method\*\* \(method, not a result\)/);
    });

    it("names the committed results and the re-render command at the top", () => {
        const md = renderMarkdown(results(), [], { path: "bench/results/loopback.json", link: "../bench/results/loopback.json" });
        const top = md.slice(0, md.indexOf("## Goals"));
        assert.match(top, /\[bench\/results\/loopback\.json\]\(\.\.\/bench\/results\/loopback\.json\)/);
        assert.match(top, /`npm run bench -- --render`/);
    });
});
