import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideChunk, decideDefaultChunk, gibPerMinutePerCore, judgeNetworkGoals, pairedRatio, winner } from "../../bench/net/analysis";
import { peerConfig } from "../../bench/net/peer";
import type { LinkMeasurement } from "../../bench/net/probe";
import { PROFILES, type LinkName } from "../../bench/net/profiles";
import { adviceSentences } from "../../bench/net/report/cpu";
import { goalsSection, missedGoalNotes } from "../../bench/net/report/goals";
import { peerVerdicts, whyLines } from "../../bench/net/report/peer";
import { decisionSentence } from "../../bench/net/report/sweep";
import type { NetworkResults, OpSample, ProfileRun, Series, SweepPoint, Variant, Workload } from "../../bench/net/results";

/**
 * The network bench's decisions and its report's conditional sentences, on synthetic results:
 * each sentence appears when the data supports it and not otherwise.
 */

const MiB = 1024 * 1024;

const sample = (round: number, seconds: number, over: Partial<OpSample> = {}): OpSample => ({
    round, position: 0, seconds, bytes: 256 * MiB, ok: true, cpu: { registry: 2, front: 1, s3: 1 }, ...over,
});

/** Seconds per round for a variant on a workload. */
const series = (variant: Variant, workload: Workload, seconds: number[], over: Partial<OpSample> = {}): Series => ({
    variant, workload, samples: seconds.map((s, round) => sample(round, s, over)),
});

const link = (name: LinkName, upMbit: number): LinkMeasurement => ({ link: name, connectMs: 1, rttMs: 20, rttMinMs: 19, rttMaxMs: 21, downMbit: upMbit, upMbit });
const PROBE = [link("ci-droplet", 500), link("droplet-s3", 500), link("ci-s3", 700)];

const dSample = (round: number, over: Partial<OpSample> = {}) => sample(round, 3, { peakRssMb: 120, verified: 8, expected: 8, errors: 0, ...over });

function run(over: Partial<ProfileRun> = {}, extra: Series[] = []): ProfileRun {
    const base: Series[] = [
        series("baseline", "a-push", [4, 4, 4]),
        series("ours", "a-push", [4.4, 4.4, 4.4]),
        series("peer", "a-push", [5, 5, 5]),
        series("baseline", "a-pull", [3, 3, 3]),
        series("ours", "a-pull", [3.2, 3.2, 3.2]),
        series("peer", "a-pull", [3.3, 3.3, 3.3]),
        series("baseline", "b-push", [7, 7, 7]),
        series("ours", "b-push", [8, 8, 8], { requests: { "PATCH data": { count: 11, seconds: 6 }, "PUT commit": { count: 11, seconds: 1.5 } }, s3Ops: { UploadPart: 90, CopyObject: 11 } }),
        series("peer", "b-push", [9, 9, 9]),
        series("baseline", "b-push-3", [5, 5, 5]),
        series("ours", "b-push-3", [5.5, 5.5, 5.5]),
        series("peer", "b-push-3", [6, 6, 6]),
        series("baseline", "b-push-5", [4.5, 4.5, 4.5]),
        // 256 MiB in 5 s: 51.2 MiB/s, 0.86x the probe's 500 Mbit/s (59.6 MiB/s) below.
        series("ours", "b-push-5", [5, 5, 5]),
        series("peer", "b-push-5", [5.5, 5.5, 5.5]),
        series("baseline", "c-push", [1, 1, 1]),
        series("ours", "c-push", [4, 4, 4]),
        series("peer", "c-push", [4.5, 4.5, 4.5]),
        { variant: "ours", workload: "d-push", samples: [0, 1, 2].map((r) => dSample(r)) },
        { variant: "peer", workload: "d-push", samples: [0, 1, 2].map((r) => dSample(r, { seconds: 3.5 })) },
        ...extra,
    ];
    const replaced = base.filter((s) => !extra.some((e) => e.variant === s.variant && e.workload === s.workload));
    return {
        profile: "near", description: "test", links: PROFILES.near.links, probe: PROBE, probeOk: true, probeProblems: [],
        series: [...replaced, ...extra.filter((e) => !replaced.includes(e))], sweep: [], durationSeconds: 60, ...over,
    };
}

const point = (chunkMb: number, pushSeconds: number[], peaks: number[]): SweepPoint => ({
    chunkMb,
    push: pushSeconds.map((s, r) => sample(r, s)),
    conc: peaks.map((p, r) => sample(r, 5, { peakRssMb: p })),
});

describe("pairedRatio and winner", () => {
    it("pairs rounds: reference seconds over variant seconds", () => {
        const r = pairedRatio(run(), "ours", "baseline", "b-push");
        assert.equal(r.n, 3);
        assert.equal(r.median, 7 / 8);
    });

    it("names a winner only when every one of at least two rounds agrees", () => {
        assert.equal(winner(run(), "ours", "peer", "a-push"), "ours");
        const mixed = run({}, [series("peer", "a-push", [4, 5, 4.2])]);
        assert.equal(winner(mixed, "ours", "peer", "a-push"), undefined);
        const single = run({}, [series("ours", "c-push", [4]), series("peer", "c-push", [5])]);
        assert.equal(winner(single, "ours", "peer", "c-push"), undefined);
    });
});

describe("judgeNetworkGoals", () => {
    it("meets every goal on data that supports them", () => {
        const goals = judgeNetworkGoals(run());
        assert.equal(goals.length, 11);
        assert.deepEqual(goals.map((g) => g.met), goals.map(() => true));
    });

    it("misses the push-of-(b) goal below 0.8x the baseline, and says where the time went", () => {
        const slow = run({}, [series("ours", "b-push", [10, 10, 10], { requests: { "PATCH data": { count: 11, seconds: 7 }, "PUT commit": { count: 11, seconds: 2.5 } }, s3Ops: { UploadPart: 90 } })]);
        const goals = judgeNetworkGoals(slow);
        assert.equal(goals[0].met, false);
        const notes = missedGoalNotes(slow, goals);
        assert.ok(notes.some((n) => n.includes("PATCH data 7.00 s") && n.includes("UploadPart 90")), notes.join("\n"));
        assert.match(goalsSection(slow), /Where the time went/);
        assert.doesNotMatch(goalsSection(run()), /Where the time went/);
    });

    it("misses (d) on an error, an unverified digest or a peak RSS at the budget", () => {
        for (const bad of [{ errors: 1, ok: false }, { verified: 7 }, { peakRssMb: 200 }]) {
            const r = run({}, [{ variant: "ours", workload: "d-push", samples: [dSample(0), dSample(1, bad)] }]);
            assert.equal(judgeNetworkGoals(r)[2].met, false, JSON.stringify(bad));
        }
    });

    it("misses ours >= peer where the peer is faster, and leaves unmeasured goals unjudged", () => {
        const r = run({}, [series("peer", "c-push", [3, 3, 3])]);
        const c = judgeNetworkGoals(r).find((g) => g.name === "ours vs peer, c-push");
        assert.equal(c?.met, false);
        assert.equal(c?.roundsDisagree, undefined);
        const mixed = run({}, [series("peer", "c-push", [3, 3, 4.5])]);
        const m = judgeNetworkGoals(mixed).find((g) => g.name === "ours vs peer, c-push");
        assert.equal(m?.met, false);
        assert.equal(m?.roundsDisagree, true);
        assert.match(goalsSection(mixed), /missed\*\* on the median; at least one round reached it/);
        const empty = judgeNetworkGoals({ ...run(), series: [] });
        assert.ok(empty.every((g) => g.met === undefined));
    });
});

describe("decideChunk", () => {
    it("takes the fastest chunk whose peak RSS stays under the budget", () => {
        const d = decideChunk([point(5, [5, 5], [90, 95]), point(10, [4, 4], [120, 130]), point(32, [3.5, 3.5], [210, 190]), point(64, [3, 3], [400, 420])], 200, 8);
        assert.equal(d.chunkMb, 10);
        assert.deepEqual(d.overBudget.map((r) => r.chunkMb), [32, 64]);
    });

    it("falls back to the lowest peak when none fits, and says so", () => {
        const d = decideChunk([point(5, [5], [250]), point(64, [3], [600])], 200, 8);
        assert.equal(d.chunkMb, 5);
        assert.match(d.reason, /no chunk size kept the registry under 200 MB/);
    });

    it("decides nothing from an empty sweep", () => {
        assert.equal(decideChunk([], 200, 8).chunkMb, undefined);
    });

    it("keeps the smaller part when a larger one is faster by less than the margin", () => {
        // 10 MiB pushes in 4.8 s against 5 MiB's 5 s: 4% faster, inside the 10% margin.
        const d = decideChunk([point(5, [5, 5], [150, 152]), point(10, [4.8, 4.8], [185, 190])], 200, 8);
        assert.equal(d.chunkMb, 5);
        assert.match(d.reason, /the smallest of the sizes under 200 MB .* within 10% of the fastest/);
    });
});

describe("decideDefaultChunk", () => {
    it("takes what every profile chose", () => {
        assert.deepEqual(decideDefaultChunk([10, 10], 5), { chunkMb: 10, agreed: true });
    });

    it("keeps the current default when the profiles disagree and one chose it, else the smallest chosen", () => {
        assert.deepEqual(decideDefaultChunk([10, 5], 5), { chunkMb: 5, agreed: false });
        assert.deepEqual(decideDefaultChunk([32, 10], 5), { chunkMb: 10, agreed: false });
        assert.deepEqual(decideDefaultChunk([undefined], 5), { chunkMb: undefined, agreed: false });
    });
});

describe("conditional sentences", () => {
    const results = (): NetworkResults =>
        ({ meta: { program: { chunkMb: 5 }, rssBudgetMb: 200, workloads: { dSweep: { images: 8, layerBytes: 64 * MiB } } }, profiles: [] }) as unknown as NetworkResults;

    it("says the decision equals the program's default only when it does", () => {
        const same = [point(5, [4], [100]), point(10, [5], [150])];
        const other = [point(5, [5], [100]), point(10, [4], [150])];
        assert.match(decisionSentence(results(), run({ sweep: same })), /That is the program's default/);
        assert.doesNotMatch(decisionSentence(results(), run({ sweep: other })), /That is the program's default/);
        assert.equal(decisionSentence(results(), run()), "");
    });

    it("says a chosen size beat the default only when it beat every push at the default", () => {
        const sweep = [point(5, [5], [100]), point(10, [4], [150])];
        // 256 MiB in 4 s = 64 MiB/s; the main run's pushes at the default take 4.4 s (58 MiB/s).
        assert.match(decisionSentence(results(), run({ sweep })), /beat every one of the 4 pushes/);
        const close = run({ sweep }, [series("ours", "a-push", [3.9, 4.4, 4.4])]);
        assert.match(decisionSentence(results(), close), /does not show it faster/);
    });

    it("names the peer's defeat per workload only when every round agrees", () => {
        assert.ok(peerVerdicts(run()).some((s) => s.startsWith("(a) push, one large layer: ours was faster")));
        const mixed = run({}, [series("peer", "a-push", [4, 5, 4.2])]);
        assert.ok(peerVerdicts(mixed).some((s) => s.startsWith("(a) push, one large layer: no winner")));
        assert.ok(whyLines(run()).length > 0);
        // The peer faster in one round, slower in another, on every workload: no winner, no "why".
        const ours: [Workload, number][] = [["a-push", 4.4], ["a-pull", 3.2], ["b-push", 8], ["b-push-3", 5.5], ["b-push-5", 5], ["c-push", 4], ["d-push", 3]];
        const noWinner = run({}, ours.map(([w, x]) => series("peer", w, [x * 0.9, x * 1.1, x])));
        assert.deepEqual(whyLines(noWinner), []);
    });

    it("gives droplet advice only from measured CPU, and says whether one vCPU limits a push", () => {
        // 3 CPU s per 0.25 GiB = 12 s/GiB: one core pushes 5 GiB/min; 256 MiB in 4.4 s is ~3.4 GiB/min.
        assert.equal(gibPerMinutePerCore(12), 5);
        const advice = adviceSentences(run());
        assert.ok(advice.some((s) => s.includes("not what limits a push")), advice.join("\n"));
        const hungry = run({}, [series("ours", "a-push", [4.4, 4.4, 4.4], { cpu: { registry: 8, front: 4, s3: 1 } })]);
        assert.ok(adviceSentences(hungry).some((s) => s.includes("would need more than one vCPU")));
        assert.deepEqual(adviceSentences(run({}, [series("ours", "a-push", [4.4], { cpu: { registry: null, front: null, s3: 1 } })])), []);
    });
});

describe("peer config", () => {
    it("leaves the S3 driver's part size to its default and puts TLS and htpasswd on the registry", () => {
        const c = peerConfig({ addr: "10.0.0.2:5000", s3: { endpoint: "http://10.0.0.3:9000", region: "us-east-1", bucket: "b", accessKey: "a", secretKey: "s" }, certFile: "c", keyFile: "k", htpasswdPath: "h" });
        const s3 = (c.storage as { s3: Record<string, unknown> }).s3;
        assert.equal(s3.chunksize, undefined);
        assert.equal(s3.secure, false);
        assert.deepEqual((c.http as { tls: unknown }).tls, { certificate: "c", key: "k" });
        assert.deepEqual(c.auth, { htpasswd: { realm: "Registry Realm", path: "h" } });
        assert.equal((c.storage as { redirect?: unknown }).redirect, undefined);
    });
});
