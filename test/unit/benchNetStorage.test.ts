import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { spread } from "../../bench/net/analysis";
import { counterpartProblems, PROFILES, profileByName, validateProfile, type NetworkProfile } from "../../bench/net/profiles";
import { renderNetworkMarkdown } from "../../bench/net/report";
import { spacesLines } from "../../bench/net/report/intro";
import { fasterStorage, oursStorageSentence, oursStorageVerdicts, storageComparisonSection, storageLabel, storagePairs, storageRows } from "../../bench/net/report/storage";
import type { NetworkResults, OpSample, ProfileRun, Series, Variant, Workload } from "../../bench/net/results";

/**
 * The network bench's Spaces profile and the report's S3-and-Spaces comparison, on synthetic
 * results: which profiles pair, which storage is named faster, and that the section appears only
 * when the data has both.
 */

const MiB = 1024 * 1024;

const sample = (round: number, seconds: number): OpSample => ({ round, position: 0, seconds, bytes: 256 * MiB, ok: true, cpu: { registry: 1, front: 1, s3: 1 } });

const series = (variant: Variant, workload: Workload, seconds: number[]): Series => ({ variant, workload, samples: seconds.map((s, round) => sample(round, s)) });

/** A run whose ours, peer and baseline take the given seconds (three rounds alike) on (a) push and pull. */
function run(profile: string, over: Partial<ProfileRun>, seconds: { ours: number; peer: number; baseline: number; pull: number }): ProfileRun {
    const three = (s: number) => [s, s * 1.01, s * 0.99];
    return {
        profile,
        description: "test",
        links: PROFILES[profile]?.links ?? PROFILES.near.links,
        probe: [],
        probeOk: true,
        probeProblems: [],
        series: [
            series("baseline", "a-push", three(seconds.baseline)),
            series("ours", "a-push", three(seconds.ours)),
            series("peer", "a-push", three(seconds.peer)),
            series("baseline", "a-pull", three(seconds.pull)),
            series("ours", "a-pull", three(seconds.pull * 1.02)),
            series("ours-noredirect", "a-pull", three(seconds.pull * 1.4)),
        ],
        sweep: [],
        durationSeconds: 60,
        ...over,
    };
}

const near = run("near", { storage: { kind: "s3", region: "us-east-1" } }, { ours: 8, peer: 7.5, baseline: 4, pull: 3.2 });
const nearSpaces = run("near-spaces", { storage: { kind: "spaces", region: "nyc3" }, counterpart: "near" }, { ours: 5, peer: 4.8, baseline: 4.4, pull: 4.4 });

function results(profiles: ProfileRun[]): NetworkResults {
    return {
        meta: {
            startedAt: "2026-12-07T00:00:00.000Z",
            durationSeconds: 600,
            quick: false,
            host: { model: "test", cpus: 2, memGb: 24, kernel: "test", loadBefore: [0, 0, 0], loadAfter: [0, 0, 0] },
            versions: { registry: "v3", caddy: "v2", versitygw: "v1", node: "v20" },
            rounds: 3,
            sweepRounds: {},
            program: { chunkMb: 5, gomemlimit: null, redirect: true },
            peer: { chunkMb: 10, sources: [] },
            rssBudgetMb: 200,
            sweepChunksMb: [],
            workloads: { a: { bytes: 256 * MiB }, b: { image: "x", source: "y", layerBytes: [MiB] }, c: { layerBytes: [4096] }, d: { images: 8, layerBytes: MiB }, dSweep: { images: 8, layerBytes: MiB } },
            client: "test",
        },
        profiles,
    };
}

describe("the near-spaces profile", () => {
    it("is valid, keeps its layers in Spaces nyc3, and shares near's runner-to-droplet link", () => {
        const profile = profileByName("near-spaces");
        assert.deepEqual(profile.storage, { kind: "spaces", region: "nyc3" });
        assert.equal(profile.counterpart, "near");
        assert.deepEqual(profile.links["ci-droplet"], PROFILES.near.links["ci-droplet"]);
        assert.deepEqual(counterpartProblems(profile, PROFILES), []);
    });

    it("puts the droplet closer to its bucket than near does, with every figure sourced", () => {
        const profile = PROFILES["near-spaces"];
        assert.ok(profile.links["droplet-s3"].rttMs.value < PROFILES.near.links["droplet-s3"].rttMs.value);
        assert.match(profile.links["droplet-s3"].rttMs.source, /estimate/);
        assert.deepEqual(validateProfile(profile), []);
    });
});

describe("profile storage validation", () => {
    const base = PROFILES["near-spaces"];

    it("refuses a Spaces region DigitalOcean does not have, and an S3 region that is not AWS's form", () => {
        assert.match(validateProfile({ ...base, storage: { kind: "spaces", region: "nyc1" } }).join("\n"), /Spaces has no region "nyc1"/);
        assert.match(validateProfile({ ...base, storage: { kind: "s3", region: "nyc3" } }).join("\n"), /not an AWS region/);
        assert.match(validateProfile({ ...base, storage: { kind: "gcs" as "s3", region: "us-east-1" } }).join("\n"), /storage\.kind must be one of s3, spaces/);
    });

    it("refuses a counterpart that is unknown, itself, on the same storage, or behind another runner link", () => {
        const all: Record<string, NetworkProfile> = { ...PROFILES };
        assert.match(counterpartProblems({ ...base, counterpart: "mars" }, all).join("\n"), /not another known profile/);
        assert.match(counterpartProblems({ ...base, counterpart: "near-spaces" }, all).join("\n"), /not another known profile/);
        all.twin = { ...base, name: "twin", counterpart: undefined };
        assert.match(counterpartProblems({ ...base, counterpart: "twin" }, all).join("\n"), /same storage \(spaces\)/);
        assert.match(counterpartProblems({ ...base, counterpart: "far" }, all).join("\n"), /another ci-droplet link/);
    });
});

describe("pairing the storages", () => {
    it("pairs a Spaces run with its S3 counterpart, whatever their order", () => {
        const pairs = storagePairs(results([nearSpaces, near]));
        assert.equal(pairs.length, 1);
        assert.equal(pairs[0].s3.profile, "near");
        assert.equal(pairs[0].spaces.profile, "near-spaces");
    });

    it("takes results without a storage for AWS S3 ones", () => {
        const old = { ...near, storage: undefined };
        assert.equal(storageLabel(old), "AWS S3");
        assert.equal(storagePairs(results([old, nearSpaces])).length, 1);
    });

    it("pairs nothing without a counterpart, when it did not run, or when it is in Spaces too", () => {
        assert.deepEqual(storagePairs(results([near, { ...nearSpaces, counterpart: undefined }])), []);
        assert.deepEqual(storagePairs(results([nearSpaces])), []);
        assert.deepEqual(storagePairs(results([{ ...near, storage: { kind: "spaces", region: "nyc3" } }, nearSpaces])), []);
    });
});

describe("which storage was faster", () => {
    it("names one only when its slowest round beat the other's fastest", () => {
        assert.equal(fasterStorage(spread([30, 31, 32]), spread([40, 41, 42])), "spaces");
        assert.equal(fasterStorage(spread([40, 41, 42]), spread([30, 31, 32])), "s3");
        assert.equal(fasterStorage(spread([30, 35, 40]), spread([33, 38, 41])), undefined);
        assert.equal(fasterStorage(spread([]), spread([33])), undefined);
    });

    it("names none from a single round", () => {
        assert.equal(fasterStorage(spread([30]), spread([40])), undefined);
        const one = (r: ProfileRun) => ({ ...r, series: r.series.map((s) => ({ ...s, samples: s.samples.slice(0, 1) })) });
        assert.match(oursStorageVerdicts({ s3: one(near), spaces: one(nearSpaces) })[0], /no faster storage named, too few rounds to name one/);
    });

    it("says so for ours on each workload measured under both", () => {
        const verdicts = oursStorageVerdicts({ s3: near, spaces: nearSpaces });
        assert.equal(verdicts.length, 2);
        assert.match(verdicts[0], /^\(a\) push, one large layer: Spaces was faster in every round of both profiles/);
        assert.match(verdicts[1], /^\(a\) pull: S3 was faster in every round/);
    });
});

describe("the side-by-side section", () => {
    it("is absent without a pair", () => {
        assert.equal(storageComparisonSection(results([near])), "");
        assert.doesNotMatch(renderNetworkMarkdown(results([near])), /S3 and Spaces side by side/);
        assert.deepEqual(spacesLines(results([near])), []);
    });

    it("gives each variant's speed under both storages with the ratios to the baseline and to the peer", () => {
        const rows = storageRows({ s3: near, spaces: nearSpaces });
        const oursPush = rows.find((r) => r[0] === "(a) push, one large layer" && r[1] === "ours (registry + front)");
        assert.ok(oursPush);
        // near: baseline 4 s, ours 8 s, peer 7.5 s; near-spaces: 4.4, 5 and 4.8.
        assert.match(oursPush[3], /^0\.50x/);
        assert.match(oursPush[4], /^0\.94x/);
        assert.match(oursPush[6], /^0\.88x/);
        assert.match(oursPush[7], /^0\.96x/);
        assert.match(oursPush[8], /^1\.60x, Spaces faster in every round/);
        const baseline = rows.find((r) => r[0] === "(a) push, one large layer" && r[1] === "baseline (straight to S3)");
        assert.deepEqual([baseline?.[3], baseline?.[4], baseline?.[6]], ["1", "—", "1"]);
        assert.ok(rows.some((r) => r[1] === "ours, redirect off"));
    });

    it("sits in the report, with the Spaces note in the introduction", () => {
        const md = renderNetworkMarkdown(results([near, nearSpaces]));
        assert.match(md, /## S3 and Spaces side by side/);
        assert.match(md, /### near \(AWS S3 us-east-1\) and near-spaces \(Spaces nyc3\)/);
        assert.match(md, /Under near-spaces \(Spaces nyc3\) the bucket is in DigitalOcean Spaces/);
    });

    it("shows the storage settings ours ran with, when the results have them", () => {
        assert.equal(oursStorageSentence(near), "");
        const withSettings = { ...nearSpaces, oursStorage: { region: "nyc3", encrypt: false, objectacl: "private", forcepathstyle: true, chunksize: 5 * MiB } };
        assert.equal(oursStorageSentence(withSettings), "ours under near-spaces (Spaces nyc3): region `nyc3`, encrypt false, objectacl `private`, forcepathstyle true, chunksize 5 MiB");
        assert.match(storageComparisonSection(results([near, withSettings])), /Storage settings from each registry's config file/);
    });
});
