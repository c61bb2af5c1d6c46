import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { expectedCounts, fixtureProblem, REPOSITORY, writeFixture } from "../../bench/gc/fixture";
import { favouredGomaxprocs, GOAL, peakRssKiB, verdict, windowMs, windowRequests, type FixtureRun, type PassResult, type ShapeRun } from "../../bench/gc/verdict";
import { mergeResults, parseFixture, type WindowResults } from "../../bench/gc/window";

const pass = (ms: number, inWindow: boolean, dryRun = false, peakRssKiB = 40_000): PassResult => ({ dryRun, inWindow, gomaxprocs: 1, ms, s3Requests: ms / 10, s3ByOperation: {}, peakRssKiB });
const today = (ms: number): ShapeRun => ({ shape: "today", gomaxprocs: 1, passes: [pass(ms, true, true), pass(ms, true)] });
const fresh = (gomaxprocs: number, ms: number): ShapeRun => ({ shape: "new", gomaxprocs, passes: [pass(ms * 2, false, true), pass(ms, true, false, 50_000 + gomaxprocs)] });
const fixture = (manifests: number, tags: number, runs: ShapeRun[]): FixtureRun => ({ manifests, tags, untagged: manifests / 10, runs });

describe("the collection bench's window and verdict", () => {
    it("counts in the window only the passes the job runs read-only", () => {
        assert.equal(windowMs(today(30_000)), 60_000, "today: the dry run and the collection");
        assert.equal(windowMs(fresh(32, 20_000)), 20_000, "new: the collection alone; the dry run came before");
        assert.equal(windowRequests(fresh(32, 20_000)), 2_000);
        assert.equal(peakRssKiB(fresh(32, 20_000)), 50_032);
    });

    it("favours the smallest GOMAXPROCS within a tenth of the shortest window", () => {
        assert.equal(favouredGomaxprocs([today(90_000), fresh(8, 40_000), fresh(32, 21_000), fresh(64, 20_000)]), 32);
        assert.equal(favouredGomaxprocs([fresh(8, 20_500), fresh(32, 20_000)]), 8);
        assert.equal(favouredGomaxprocs([today(1)]), undefined);
    });

    it("meets the goal only under its budget, for the goal's fixture, at the GOMAXPROCS asked", () => {
        const under = [fixture(100, 10, [fresh(32, 1_000)]), fixture(GOAL.manifests, GOAL.tags, [today(200_000), fresh(32, 59_999)])];
        assert.equal(verdict(under, 32).status, "met");
        assert.equal(verdict(under, 32).windowMs, 59_999);
        assert.equal(verdict([fixture(GOAL.manifests, GOAL.tags, [fresh(32, 60_000)])], 32).status, "missed", "the budget is a strict bound");
        assert.equal(verdict([fixture(GOAL.manifests, GOAL.tags, [today(1_000)])], 32).status, "not measured", "today's shape is not the one judged");
        assert.equal(verdict([fixture(100, 10, [fresh(32, 1_000)])], 32).status, "not measured");
        assert.equal(verdict(under, 8).status, "not measured");
        assert.match(verdict(under, 32).text, /^1000 x 20: 59\.9 s of collection in the window at GOMAXPROCS=32, under 60 s$/);
    });

    it("merges runs made side by side, and refuses runs that do not make one table", () => {
        const meta = { startedAt: "", durationSeconds: 10, host: { model: "", cpus: 2, kernel: "", memGb: 1, loadBefore: [], loadAfter: [] }, registry: "v3.1.2", profile: "near", rttMs: 10, cpu: "taskset -c 0", gomemlimit: "200MiB" };
        const a: WindowResults = { meta, fixtures: [fixture(100, 10, [])] };
        const b: WindowResults = { meta: { ...meta, durationSeconds: 30 }, fixtures: [fixture(1000, 20, [])] };
        const merged = mergeResults([a, b]);
        assert.deepEqual(merged.fixtures.map((f) => f.manifests), [100, 1000]);
        assert.equal(merged.meta.durationSeconds, 30);
        assert.equal(merged.meta.concurrentRuns, 2);
        assert.throws(() => mergeResults([a, { ...b, meta: { ...b.meta, rttMs: 50 } }]), /do not make one table/);
    });
});

describe("the collection bench's fixture", () => {
    it("reads MxT[xU], a tenth garbage by default, and refuses what the layout cannot hold", () => {
        assert.deepEqual(parseFixture("400x100"), { manifests: 400, tags: 100, untagged: 40 });
        assert.deepEqual(parseFixture("30x5x3"), { manifests: 30, tags: 5, untagged: 3 });
        assert.throws(() => parseFixture("400"), /MANIFESTSxTAGS/);
        assert.equal(fixtureProblem({ manifests: 400, tags: 100, untagged: 40 }), undefined);
        assert.match(fixtureProblem({ manifests: 100, tags: 60, untagged: 10 }) ?? "", /fewer than two per tag/);
        assert.match(fixtureProblem({ manifests: 10, tags: 0, untagged: 0 }) ?? "", /tags at least 1/);
    });

    it("lays out distribution's storage: a revision per manifest, a current link and index entry per tag, layer links per image", () => {
        const dir = mkdtempSync(join(tmpdir(), "gc-fixture-"));
        try {
            const shape = { manifests: 30, tags: 5, untagged: 3 };
            assert.deepEqual(writeFixture(dir, shape), expectedCounts(shape));
            assert.deepEqual(expectedCounts(shape), { manifests: 3, blobs: 9, marked: 5 + 3 * 22 });
            const repo = join(dir, "docker/registry/v2/repositories", REPOSITORY);
            assert.equal(readdirSync(join(repo, "_manifests/revisions/sha256")).length, 30);
            assert.equal(readdirSync(join(repo, "_manifests/tags")).length, 5);
            // 22 kept images and 3 garbage ones, each a config and a layer.
            assert.equal(readdirSync(join(repo, "_layers/sha256")).length, 2 * 25);
            const current = readFileSync(join(repo, "_manifests/tags/v0/current/link"), "utf8");
            assert.match(current, /^sha256:[0-9a-f]{64}$/);
            const index = JSON.parse(readFileSync(join(dir, "docker/registry/v2/blobs/sha256", current.slice(7, 9), current.slice(7), "data"), "utf8")) as { manifests: unknown[] };
            assert.ok(index.manifests.length >= 2, "the tag's index reaches its images");
        } finally {
            rmSync(dir, { recursive: true, force: true });
        }
    });
});
