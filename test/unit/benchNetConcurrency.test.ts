import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import { decideChunk, judgeConcurrentPushes, judgeNetworkGoals, PATH_GOAL_NAME, pathRatio, sweepChunkSizes } from "../../bench/net/analysis";
import { pushImage, Timings, type Image } from "../../bench/net/client";
import { mbitToMibps, pushPathLimit } from "../../bench/net/pathLimit";
import { inPool, PUSH_CONCURRENCIES } from "../../bench/net/pool";
import type { LinkMeasurement } from "../../bench/net/probe";
import { PROFILES, type LinkName } from "../../bench/net/profiles";
import { renderConsole, renderNetworkMarkdown } from "../../bench/net/report";
import { concurrencyRows, concurrencySection, NOT_MEASURED } from "../../bench/net/report/concurrency";
import { sweepSection } from "../../bench/net/report/sweep";
import type { NetworkResults, OpSample, ProfileRun, Series, SweepPoint, Variant, Workload } from "../../bench/net/results";
import { NUMBER_RANGES } from "../../components/settingsRules";

/**
 * (b) pushed 1, 3 and 5 layers at once: the pool that bounds the layers in flight, the client
 * pushing through it, the path limit from the probe, the verdicts, the chunk decision with the
 * concurrent push in it, and a report that says "not measured in this run" for results recorded
 * before any of it.
 */

const MiB = 1024 * 1024;

const sample = (round: number, seconds: number, bytes = 256 * MiB): OpSample => ({ round, position: 0, seconds, bytes, ok: true, cpu: { registry: 1, front: 1, s3: 1 } });
const series = (variant: Variant, workload: Workload, seconds: number[]): Series => ({ variant, workload, samples: seconds.map((s, round) => sample(round, s)) });
const link = (name: LinkName, upMbit: number): LinkMeasurement => ({ link: name, connectMs: 1, rttMs: 20, rttMinMs: 19, rttMaxMs: 21, downMbit: upMbit, upMbit });

/** 500 Mbit/s on the push's path: 59.6 MiB/s; 256 MiB at 0.8x of it takes 5.37 s. */
const PROBE = [link("ci-droplet", 500), link("droplet-s3", 600), link("ci-s3", 100)];

function run(extra: Series[] = [], over: Partial<ProfileRun> = {}): ProfileRun {
    return {
        profile: "near", description: "test", links: PROFILES.near.links, probe: PROBE, probeOk: true, probeProblems: [],
        series: [
            series("baseline", "b-push", [8, 8, 8]), series("ours", "b-push", [9, 9, 9]), series("peer", "b-push", [9.5, 9.5, 9.5]),
            series("baseline", "b-push-3", [6, 6, 6]), series("ours", "b-push-3", [6, 6, 6]), series("peer", "b-push-3", [6.5, 6.5, 6.5]),
            series("baseline", "b-push-5", [5, 5, 5]), series("ours", "b-push-5", [5, 5, 5]), series("peer", "b-push-5", [5.2, 5.2, 5.2]),
            ...extra,
        ].filter((s, i, all) => !all.slice(i + 1).some((later) => later.variant === s.variant && later.workload === s.workload)),
        sweep: [], durationSeconds: 60, ...over,
    };
}

/** A run as recorded before the concurrent pushes: (b) one layer at a time only. */
/** A sweep point: one round of (a), optionally of (b) at 5, and the concurrent pushes' peak RSS. */
const point = (chunkMb: number, aSeconds: number, b5Seconds: number | undefined, peak = 150): SweepPoint => ({
    chunkMb,
    push: [sample(0, aSeconds)],
    conc: [{ ...sample(0, 5), peakRssMb: peak }],
    ...(b5Seconds === undefined ? {} : { bConc: [sample(0, b5Seconds)] }),
});

const oldRun = () => run([], { series: [series("baseline", "b-push", [8, 8, 8]), series("ours", "b-push", [9, 9, 9]), series("peer", "b-push", [9.5, 9.5, 9.5])] });

describe("inPool", () => {
    it("keeps at most `limit` in flight, starts every item once and in order", async () => {
        for (const limit of [1, 3, 5]) {
            let inFlight = 0;
            let most = 0;
            const started: number[] = [];
            await inPool([...Array(11).keys()], limit, async (item) => {
                started.push(item);
                most = Math.max(most, ++inFlight);
                await new Promise((r) => setTimeout(r, 5 + (item % 3) * 5));
                inFlight -= 1;
            });
            assert.equal(most, limit);
            assert.deepEqual(started, [...Array(11).keys()]);
        }
    });

    it("rejects with the first failure and starts nothing after it", async () => {
        const started: number[] = [];
        await assert.rejects(
            inPool([0, 1, 2, 3, 4, 5], 2, async (item) => {
                started.push(item);
                await new Promise((r) => setTimeout(r, 5));
                if (item === 1) {
                    throw new Error("layer 1 failed");
                }
            }),
            /layer 1 failed/,
        );
        assert.ok(started.length < 6, String(started));
    });

    it("refuses a limit below one", async () => {
        await assert.rejects(inPool([1], 0, async () => undefined), /at least 1/);
    });

    it("measures docker's default of 5", () => {
        assert.deepEqual([...PUSH_CONCURRENCIES], [1, 3, 5]);
    });
});

describe("pushImage with layers at once", () => {
    /** A registry that answers docker's push sequence, holds each PATCH a while and counts PATCHes in flight. */
    async function fakeRegistry(): Promise<{ url: string; most: () => number; patches: () => number; close: () => Promise<void> }> {
        let inFlight = 0;
        let most = 0;
        let patches = 0;
        let next = 0;
        const server = http.createServer((req, res) => {
            const chunks: Buffer[] = [];
            req.on("data", (c: Buffer) => chunks.push(c));
            req.on("end", () => {
                if (req.method === "HEAD") {
                    res.writeHead(404).end();
                } else if (req.method === "POST") {
                    res.writeHead(202, { Location: `/v2/x/blobs/uploads/${next++}` }).end();
                } else if (req.method === "PATCH") {
                    patches += 1;
                    most = Math.max(most, ++inFlight);
                    setTimeout(() => {
                        inFlight -= 1;
                        res.writeHead(202, { Location: req.url }).end();
                    }, 30);
                } else {
                    res.writeHead(201).end();
                }
            });
        });
        await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
        const { port } = server.address() as AddressInfo;
        return { url: `http://127.0.0.1:${port}`, most: () => most, patches: () => patches, close: () => new Promise((r) => server.close(() => r())) };
    }

    it("pushes `concurrency` layers at once, then the config", async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bench-net-pool-"));
        try {
            const layers = [...Array(7).keys()].map((i) => {
                const file = path.join(dir, `${i}.bin`);
                fs.writeFileSync(file, Buffer.alloc(1024, i));
                return { path: file, size: 1024, digest: `sha256:${createHash("sha256").update(Buffer.alloc(1024, i)).digest("hex")}` };
            });
            const body = Buffer.from("{}");
            const image: Image = { repo: "x", config: { body, digest: `sha256:${createHash("sha256").update(body).digest("hex")}` }, layers };
            for (const concurrency of [1, 3, 5]) {
                const registry = await fakeRegistry();
                try {
                    await pushImage({ url: registry.url, ca: "", login: { username: "u", password: "p" } }, image, new Timings(), concurrency);
                    assert.equal(registry.most(), concurrency);
                    assert.equal(registry.patches(), 8);
                } finally {
                    await registry.close();
                }
            }
        } finally {
            fs.rmSync(dir, { recursive: true, force: true });
        }
    });
});

describe("the path limit", () => {
    it("is the slower of runner–droplet and droplet–S3 in the push's direction, whatever runner–S3 does", () => {
        assert.deepEqual(pushPathLimit(PROBE), { mibps: mbitToMibps(500), link: "ci-droplet" });
        assert.deepEqual(pushPathLimit([link("ci-droplet", 900), link("droplet-s3", 200)]), { mibps: mbitToMibps(200), link: "droplet-s3" });
        // Down is a pull's direction: it does not limit a push.
        assert.equal(pushPathLimit([{ ...link("ci-droplet", 500), downMbit: 10 }, link("droplet-s3", 600)])?.mibps, mbitToMibps(500));
    });

    it("is absent without both links measured", () => {
        assert.equal(pushPathLimit([link("ci-droplet", 500)]), undefined);
        assert.equal(pushPathLimit([link("ci-droplet", 500), link("droplet-s3", 0)]), undefined);
        assert.equal(pushPathLimit([]), undefined);
    });

    it("converts Mbit/s to MiB/s", () => {
        assert.equal(mbitToMibps(8 * 1.048576), 1);
    });
});

describe("the verdicts on concurrent pushes", () => {
    it("meets the path goal at 0.8x and ours >= the peer at 1, 3 and 5", () => {
        const goals = judgeConcurrentPushes(run());
        assert.deepEqual(goals.map((g) => g.name), [PATH_GOAL_NAME, "ours vs peer, b-push", "ours vs peer, b-push-3", "ours vs peer, b-push-5"]);
        assert.deepEqual(goals.map((g) => g.met), [true, true, true, true]);
        // 256 MiB in 5 s over 59.6 MiB/s.
        assert.ok(Math.abs(pathRatio(run(), "ours", "b-push-5").median - 51.2 / mbitToMibps(500)) < 1e-9);
    });

    it("misses the path goal below 0.8x, and says when a round reached it", () => {
        const slow = judgeConcurrentPushes(run([series("ours", "b-push-5", [5.5, 5.5, 5.5])]))[0];
        assert.equal(slow.met, false);
        assert.equal(slow.roundsDisagree, undefined);
        const mixed = judgeConcurrentPushes(run([series("ours", "b-push-5", [5.5, 5.5, 5])]))[0];
        assert.equal(mixed.met, false);
        assert.equal(mixed.roundsDisagree, true);
    });

    it("misses ours vs the peer at 5 where the peer is faster", () => {
        const goals = judgeConcurrentPushes(run([series("peer", "b-push-5", [4.8, 4.8, 4.8])]));
        assert.equal(goals.find((g) => g.name === "ours vs peer, b-push-5")?.met, false);
    });

    it("leaves unjudged, as not measured in this run, what the results lack", () => {
        for (const goals of [judgeConcurrentPushes(oldRun()), judgeNetworkGoals(oldRun())]) {
            const unmeasured = goals.filter((g) => g.name === PATH_GOAL_NAME || g.name.endsWith("b-push-3") || g.name.endsWith("b-push-5"));
            assert.equal(unmeasured.length, 3);
            assert.ok(unmeasured.every((g) => g.met === undefined && g.measured === "not measured in this run"));
        }
        // Pushes measured, but no probe to give the path limit.
        assert.equal(judgeConcurrentPushes(run([], { probe: [] }))[0].met, undefined);
    });

    it("judge the near goals with the path goal among them", () => {
        assert.ok(judgeNetworkGoals(run()).some((g) => g.name === PATH_GOAL_NAME && g.met === true));
    });
});

describe("the chunk sweep", () => {
    it("sweeps only sizes the program's s3ChunkSizeMb allows", () => {
        assert.deepEqual(sweepChunkSizes([5, 15], false), [5, 10, 15]);
        assert.deepEqual(sweepChunkSizes([5, 15], true), [5, 15]);
        assert.deepEqual(sweepChunkSizes([5, 5], false), [5]);
        assert.throws(() => sweepChunkSizes([15, 5], false), /min <= max/);
        const [min, max] = NUMBER_RANGES.s3ChunkSizeMb;
        for (const quick of [true, false]) {
            assert.ok(sweepChunkSizes(NUMBER_RANGES.s3ChunkSizeMb, quick).every((c) => c >= min && c <= max));
        }
    });

    it("passes over a size fast at (a) but slow at (b) 5 at once", () => {
        // 5 MiB leads (a) but (b) at 5 runs at 75% of the fastest; 10 MiB is within 10% on both (93% and 97%).
        const d = decideChunk([point(5, 4, 8), point(10, 4.3, 6.2), point(15, 5, 6)], 200, 8);
        assert.equal(d.chunkMb, 10);
        assert.match(d.reason, /pushes of \(a\) and of \(b\) 5 at once are within 10% of the fastest/);
        assert.match(d.reason, /\(10 MiB: [^;]+; fastest 5 MiB: [^;]+; fastest \(b\) 5 at once 42\.7 MiB\/s\)/);
        // The fastest at (a) but not at (b): named once, with (b)'s fastest beside it.
        const e = decideChunk([point(5, 4, 6.2), point(10, 5, 6)], 200, 8);
        assert.equal(e.chunkMb, 5);
        assert.match(e.reason, /within 10% of the fastest \(5 MiB: [^;]+; fastest \(b\) 5 at once 42\.7 MiB\/s\)/);
    });

    it("takes the size closest on its worse push when none is within the margin on both", () => {
        const d = decideChunk([point(5, 4, 8), point(15, 6, 5)], 200, 8);
        // 5 MiB: (b) at 62.5% of the fastest; 15 MiB: (a) at 67%.
        assert.equal(d.chunkMb, 15);
        assert.match(d.reason, /no size .* within 10% of the fastest on both pushes/);
    });

    it("decides on (a) alone for sweeps recorded without (b) at 5", () => {
        const d = decideChunk([point(5, 5, undefined), point(10, 4, undefined)], 200, 8);
        assert.equal(d.chunkMb, 10);
        assert.doesNotMatch(d.reason, /\(b\)/);
    });
});

describe("the report", () => {
    it("shows each push's ratio to the baseline, the peer and the path limit", () => {
        const rows = concurrencyRows(run());
        assert.deepEqual(rows.map((r) => `${r[0]} ${r[1].split(" ")[0]}`), ["1 baseline", "1 ours", "1 peer", "3 baseline", "3 ours", "3 peer", "5 baseline", "5 ours", "5 peer"]);
        const ours5 = rows[7];
        assert.equal(ours5[3], "1.00x (1.00–1.00)");
        assert.equal(ours5[4], "1.04x (1.04–1.04)");
        assert.equal(ours5[5], "0.86x (0.86–0.86)");
        const section = concurrencySection(run());
        assert.match(section, /Path limit: 59\.6 MiB\/s/);
        assert.match(section, /5 layers at once, vs the path limit .*: 0\.86x.*, met\./);
    });

    it("says not measured in this run for results that predate the concurrent pushes", () => {
        assert.match(concurrencySection(oldRun()), new RegExp(NOT_MEASURED.replace(/[()]/g, "\\$&")));
        assert.equal(concurrencySection(run([], { series: [] })), "");
    });

    it("renders results without the new fields, as the committed network.json was recorded", () => {
        const file = path.join(__dirname, "..", "..", "bench", "results", "network.json");
        const committed = JSON.parse(fs.readFileSync(file, "utf8")) as NetworkResults;
        const markdown = renderNetworkMarkdown(committed);
        assert.ok(renderConsole(committed).length > 0);
        if (committed.meta.pushConcurrencies === undefined) {
            assert.ok(markdown.includes(NOT_MEASURED));
            assert.match(markdown, /pushed one layer at a time/);
            assert.match(markdown, /\| ours vs peer, b-push-5 \| >= 1\.00x the peer \| not measured in this run \| not judged \|/);
        }
        // The sweep without (b) at 5, as recorded before it.
        const old = { ...committed, meta: { ...committed.meta, pushConcurrencies: undefined }, profiles: [{ ...oldRun(), sweep: [point(5, 4, undefined)] }] } as NetworkResults;
        assert.match(sweepSection(old, old.profiles[0]), /\| 5 MiB \| [^|]+ \| not measured in this run \|/);
    });

    it("renders a run with the concurrent pushes in every place", () => {
        const r = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "bench", "results", "network.json"), "utf8")) as NetworkResults;
        const now = { ...r, meta: { ...r.meta, pushConcurrencies: [1, 3, 5] }, profiles: [{ ...run(), sweep: [point(5, 4, 5)] }] } as NetworkResults;
        const markdown = renderNetworkMarkdown(now);
        assert.ok(!markdown.includes(NOT_MEASURED));
        assert.match(markdown, /pushed 1, 3, 5 layers at once/);
        assert.match(markdown, /\| 5 \| ours \(registry \+ front\) \|/);
        assert.match(renderConsole(now), /\(b\) push 5 layers at once \(docker\).*vs path limit 0\.86x/);
    });
});
