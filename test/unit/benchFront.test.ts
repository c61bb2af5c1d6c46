import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
    conclusions,
    cpuPerGiB,
    distinctOrders,
    errorSentence,
    find,
    rangesOverlap,
    renderFrontMarkdown,
    renderFrontTable,
    statsOf,
    type FrontResults,
    type FrontSample,
    type FrontWorkload,
    type Variant,
} from "../../bench/lib/frontReport";
import { summarize } from "../../bench/lib/stats";

/**
 * The front benchmark's report is computed from its JSON alone; these pin the computations and
 * which conclusions a given set of samples leads to.
 */

const MiB = 1024 ** 2;
const BYTES = 256 * MiB;
const VARIANTS: Variant[] = ["baseline", "without-front", "with-front"]; // a quarter GiB: CPU per GiB is four times the CPU seconds

function sample(round: number, mbps: number, cpu: Partial<FrontSample["cpu"]> = {}, ok = true): FrontSample {
    return {
        round,
        position: 0, // set per variant by results()
        seconds: BYTES / MiB / mbps,
        bytes: BYTES,
        mbps,
        cpu: { registry: cpu.registry ?? null, front: cpu.front ?? null, s3: cpu.s3 ?? 0.1, client: cpu.client ?? 0.2 },
        otherCores: 0.1 * (round + 1),
        ok,
        ...(ok ? {} : { error: "PUT ?digest=: HTTP 500" }),
    };
}

function workload(variant: Variant, direction: "push" | "pull", redirect: boolean | null, samples: FrontSample[]): FrontWorkload {
    return { variant, direction, redirect, samples };
}

/** Three rounds; the front variant is slower on push and its CPU is given per case. */
function results(o: { frontPush?: number[]; frontCpu?: number; frontRegistryCpu?: number; barePushCpu?: number; failPull?: boolean } = {}): FrontResults {
    const frontPush = o.frontPush ?? [60, 62, 64];
    const r: FrontResults = {
        meta: {
            startedAt: "2026-01-02T03:04:05.000Z",
            durationSeconds: 300,
            host: { model: "Test CPU", cpus: 2, kernel: "6.1.0", memGb: 8, loadBefore: [1, 1, 1], loadAfter: [2, 2, 2] },
            versions: { registry: "v3.1.2", caddy: "v2.11.9", versitygw: "v1.8.0", node: "v20.0.0" },
            quick: false,
            rounds: 3,
            layerBytes: BYTES,
            layerDigest: "sha256:abc",
            partSizeMb: 5,
        },
        workloads: [
            workload("baseline", "push", null, [sample(0, 100), sample(1, 120), sample(2, 110)]),
            workload("baseline", "pull", null, [sample(0, 200), sample(1, 220), sample(2, 240)]),
            workload("without-front", "push", null, [70, 72, 74].map((m, r) => sample(r, m, { registry: o.barePushCpu ?? 1.5 }))),
            workload("without-front", "pull", false, [100, 110, 120].map((m, r) => sample(r, m, { registry: 0.3 }))),
            workload("with-front", "push", null, frontPush.map((m, r) => sample(r, m, { registry: o.frontRegistryCpu ?? 1.25, front: o.frontCpu ?? 0.5 }))),
            workload("with-front", "pull", false, [105, 115, 125].map((m, r) => sample(r, m, { registry: 0.2, front: 0.25 }, !(o.failPull === true && r === 1)))),
            workload("with-front", "pull", true, [210, 230, 250].map((m, r) => sample(r, m, { registry: 0.01, front: 0.02 }))),
        ],
    };
    // The variants rotate: each runs first, second and third once.
    for (const w of r.workloads) {
        w.samples.forEach((s) => (s.position = (VARIANTS.indexOf(w.variant) + s.round) % VARIANTS.length));
    }
    return r;
}

describe("front benchmark report: computations", () => {
    it("CPU per GiB scales CPU seconds by the bytes moved", () => {
        assert.equal(cpuPerGiB(0.5, BYTES), 2);
        assert.equal(cpuPerGiB(3, 1024 ** 3), 3);
    });

    it("medians, ranges and the ratio to the baseline's median in the same direction", () => {
        const r = results();
        const push = statsOf(r, find(r, "with-front", "push", null)!);
        assert.deepEqual([push.mbps.median, push.mbps.min, push.mbps.max], [62, 60, 64]);
        assert.equal(push.ratioToBaseline, 62 / 110);
        const pull = statsOf(r, find(r, "without-front", "pull", false)!);
        assert.equal(pull.ratioToBaseline, 110 / 220);
        assert.equal(push.frontCpu?.median, 2);
        assert.equal(push.registryCpu?.median, 5);
        const base = statsOf(r, find(r, "baseline", "push", null)!);
        assert.equal(base.registryCpu, undefined, "the baseline has no registry");
        assert.equal(base.ratioToBaseline, 1);
    });

    it("leaves failed samples out of the figures and counts them", () => {
        const r = results({ failPull: true });
        const s = statsOf(r, find(r, "with-front", "pull", false)!);
        assert.equal(s.errors, 1);
        assert.equal(s.mbps.n, 2);
        assert.equal(s.mbps.median, 115); // (105 + 125) / 2
    });

    it("counts the orders the variants ran in from each sample's round and position", () => {
        assert.equal(distinctOrders(results()), 3);
        const r = results();
        for (const w of r.workloads) {
            w.samples.forEach((s) => (s.position = VARIANTS.indexOf(w.variant)));
        }
        assert.equal(distinctOrders(r), 1);
    });

    it("ranges overlap when neither lies wholly above the other", () => {
        assert.equal(rangesOverlap(summarize([1, 3]), summarize([2, 4])), true);
        assert.equal(rangesOverlap(summarize([1, 2]), summarize([3, 4])), false);
    });
});

describe("front benchmark report: conclusions", () => {
    it("states the baseline ratio of each workload's median", () => {
        const text = conclusions(results()).join("\n");
        assert.match(text, /A push through the front ran at 62\.0 MiB\/s, 0\.56× the baseline's 110\.0 MiB\/s; without the front it ran at 72\.0 MiB\/s, 0\.65× the baseline\./);
        assert.match(text, /A pull with redirects off through the front ran at 115\.0 MiB\/s, 0\.52× the baseline's 220\.0 MiB\/s/);
        assert.match(text, /with redirects on ran at 230\.0 MiB\/s, 1\.05× the baseline and 2\.00× the same pull with redirects off/);
    });

    it("says the front adds CPU when the front and the registry behind it use more than the bare registry", () => {
        // front 2 + registry 5 = 7 CPU-s/GiB against 6 without the front.
        const text = conclusions(results()).join("\n");
        assert.match(text, /On push, the front used 2\.00 CPU-s per GiB and the registry behind it 5\.00, against 6\.00 .*the front adds 1\.00 CPU-s per GiB \(7\.00 against 6\.00\)/);
        assert.match(text, /the registry's own CPU per GiB on push is 1\.00 CPU-s lower/);
    });

    it("says the front saves CPU when the pair uses less than the bare registry", () => {
        const text = conclusions(results({ barePushCpu: 2, frontRegistryCpu: 1, frontCpu: 0.5 })).join("\n");
        assert.match(text, /the front saves 2\.00 CPU-s per GiB \(6\.00 against 8\.00\)/);
        assert.doesNotMatch(text, /On push, .*the front adds/);
    });

    it("separates the variants only when their per-round ranges do not overlap", () => {
        assert.match(conclusions(results()).join("\n"), /On push, every round through the front was slower than every round without it \(median 14% slower than without it\)/);
        const close = conclusions(results({ frontPush: [68, 71, 76] })).join("\n");
        assert.match(close, /On push, the median through the front is 1% slower than without it, but the per-round ranges overlap \(68\.0–76\.0 against 70\.0–74\.0 MiB\/s\)/);
        assert.doesNotMatch(close, /On push, every round/);
    });

    it("reports the front's CPU with redirects on, and a median under one tick as such", () => {
        // registry 0.01 s per quarter GiB is exactly one tick (0.040 CPU-s per GiB).
        assert.match(conclusions(results()).join("\n"), /With redirects on, the front used 0\.080 CPU-s per GiB, against 1\.00 with redirects off, and the registry 0\.040 CPU-s per GiB\./);
        const r = results();
        find(r, "with-front", "pull", true)!.samples.forEach((s) => (s.cpu = { ...s.cpu, registry: 0, front: 0 }));
        assert.match(
            conclusions(r).join("\n"),
            /the front used less than one 10 ms tick per pull \(under 0\.040 CPU-s per GiB\), against 1\.00 with redirects off, and the registry less than one 10 ms tick per pull/,
        );
    });

    it("names errors when there are some, and says every download matched when there are none", () => {
        assert.equal(errorSentence(results()), "All 21 operations succeeded, and each of the 12 downloads hashed to the pushed digest.");
        assert.equal(
            errorSentence(results({ failPull: true })),
            "1 of 21 operations failed (1 of 12 downloads); the first, with front: pull, redirect off in round 2: PUT ?digest=: HTTP 500.",
        );
    });

    it("leaves out what the data cannot support", () => {
        const r = results();
        r.workloads = r.workloads.filter((w) => w.redirect !== true);
        const text = conclusions(r).join("\n");
        assert.doesNotMatch(text, /redirects on/);
        r.workloads = r.workloads.filter((w) => w.variant !== "without-front" || w.direction !== "push");
        assert.doesNotMatch(conclusions(r).join("\n"), /On push/);
    });
});

describe("front benchmark report: rendering", () => {
    it("puts the computed figures in the table, the findings and the per-round table", () => {
        const md = renderFrontMarkdown(results());
        assert.match(md, /\| with front: push \| 62\.0 \(60\.0–64\.0\) \| 0\.56× \| 5\.00 \(5\.00–5\.00\) \| 2\.00 \(2\.00–2\.00\) \| 0 \|/);
        assert.match(md, /\| baseline \(S3 directly\): push \| 110\.0 \(100\.0–120\.0\) \| 1\.00× \| – \| – \| 0 \|/);
        assert.match(md, /\| with front: push \| 60\.0 \| 62\.0 \| 64\.0 \|/);
        assert.match(md, /3 rounds after an unrecorded warm-up; the variants ran in 3 different orders/);
        assert.match(md, /one tick is 0\.040 CPU-s\/GiB at this layer size/);
        for (const sentence of conclusions(results())) {
            assert.ok(md.includes(`- ${sentence}`), sentence);
        }
        assert.match(renderFrontTable(results()), /with front: pull, redirect on\s+230\.0 \(210\.0–250\.0\)\s+1\.05×/);
    });

    const root = join(__dirname, "..", "..");
    const json = join(root, "bench", "results", "front.json");
    it("docs/BENCH-FRONT.md is what the renderer makes of bench/results/front.json", { skip: !existsSync(json) && "no bench/results/front.json yet" }, () => {
        const rendered = renderFrontMarkdown(JSON.parse(readFileSync(json, "utf8")) as FrontResults);
        assert.equal(readFileSync(join(root, "docs", "BENCH-FRONT.md"), "utf8"), rendered, "stale: run npm run bench:front -- --render");
    });
});
