import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { DEFAULT_TOLERANCE, judgeLink, judgeProbe, toMeasurement, type LinkMeasurement } from "../../bench/net/probe";
import { LINKS, linkEnds, PROFILES, profileByName, validateProfile, type LinkProfile, type NetworkProfile } from "../../bench/net/profiles";
import { latencyToxics, tbfArgs, tbfSettings, toxicArgs } from "../../bench/net/shaping";

/**
 * The network rig's pure parts: how a profile becomes tc and toxiproxy arguments, what a valid
 * profile is, and when the probe says a link does not behave as configured.
 */

const link = (rtt: number, mbit: number): LinkProfile => ({ what: "test link", rttMs: { value: rtt, source: "a test figure" }, mbit: { value: mbit, source: "a test figure" } });

const measured = (over: Partial<LinkMeasurement> = {}): LinkMeasurement => ({
    link: "ci-droplet", connectMs: 1, rttMs: 10, rttMinMs: 10, rttMaxMs: 11, downMbit: 500, upMbit: 500, ...over,
});

describe("tc arguments from a profile", () => {
    it("shapes a link's device with tbf at the profile's rate, in bit/s", () => {
        assert.deepEqual(tbfArgs("ns-ci", "to-droplet", 500), ["-n", "ns-ci", "qdisc", "replace", "dev", "to-droplet", "root", "tbf", "rate", "500000000bit", "burst", "250000", "latency", "20ms"]);
    });

    it("gives tbf a burst of 4 ms at the rate, never under one 64 KiB GSO packet", () => {
        assert.equal(tbfSettings(1000).burstBytes, 500_000);
        assert.equal(tbfSettings(10).burstBytes, 65_536);
    });

    it("shapes every link of both profiles to its own bandwidth", () => {
        for (const profile of Object.values(PROFILES)) {
            for (const name of LINKS) {
                const args = tbfArgs("ns", "dev", profile.links[name].mbit.value);
                assert.equal(args[args.indexOf("rate") + 1], `${profile.links[name].mbit.value * 1e6}bit`);
            }
        }
    });

    it("refuses a bandwidth that is not positive", () => {
        assert.throws(() => tbfSettings(0), /positive/);
        assert.throws(() => tbfSettings(Number.NaN), /positive/);
    });
});

describe("toxiproxy latency from a profile", () => {
    it("splits the RTT into halves that add up to it", () => {
        assert.deepEqual(latencyToxics(90), { upstreamMs: 45, downstreamMs: 45 });
        assert.deepEqual(latencyToxics(3), { upstreamMs: 1, downstreamMs: 2 });
    });

    it("adds one toxic per direction, without jitter", () => {
        const [up, down] = toxicArgs("http://127.0.0.1:8474", "ci-s3-9000", 10);
        assert.deepEqual(up, ["--host", "http://127.0.0.1:8474", "toxic", "add", "--type", "latency", "--toxicName", "rtt-up", "--attribute", "latency=5", "--attribute", "jitter=0", "--upstream", "ci-s3-9000"]);
        assert.equal(down[down.length - 2], "--downstream");
        assert.ok(down.includes("latency=5"));
    });
});

describe("profile validation", () => {
    it("accepts the shipped profiles, each with the three links", () => {
        assert.ok(Object.keys(PROFILES).includes("near") && Object.keys(PROFILES).includes("far"));
        for (const profile of Object.values(PROFILES)) {
            assert.deepEqual(validateProfile(profile), [], profile.name);
            assert.deepEqual(Object.keys(profile.links).sort(), [...LINKS].sort());
        }
    });

    it("names each link's connecting and serving side", () => {
        assert.deepEqual(linkEnds("ci-s3"), { from: "ci", to: "s3" });
    });

    const base: NetworkProfile = { name: "t", description: "test", storage: { kind: "s3", region: "us-east-1" }, links: { "ci-droplet": link(10, 500), "droplet-s3": link(10, 500), "ci-s3": link(3, 700) } };

    it("wants every link", () => {
        const two: Partial<NetworkProfile["links"]> = { ...base.links };
        delete two["ci-s3"];
        assert.match(validateProfile({ ...base, links: two as NetworkProfile["links"] }).join("\n"), /ci-s3 is missing/);
    });

    it("wants a rate and an RTT that are positive and plausibly in their units", () => {
        assert.match(validateProfile({ ...base, links: { ...base.links, "ci-s3": link(0, 700) } }).join("\n"), /ci-s3\.rttMs/);
        assert.match(validateProfile({ ...base, links: { ...base.links, "ci-s3": link(3, 700e6) } }).join("\n"), /ci-s3\.mbit/);
    });

    it("wants a source for every figure", () => {
        const unsourced: LinkProfile = { ...link(10, 500), mbit: { value: 500, source: "" } };
        assert.match(validateProfile({ ...base, links: { ...base.links, "droplet-s3": unsourced } }).join("\n"), /droplet-s3\.mbit needs a source/);
    });

    it("refuses an unknown profile by name, listing the known ones", () => {
        assert.throws(() => profileByName("mars"), /known: near, far/);
        assert.equal(profileByName("far").name, "far");
    });
});

describe("the probe's agreement judgement", () => {
    const configured = link(10, 500);

    it("agrees within 20% of the rate and max(20%, 5 ms) of the RTT", () => {
        assert.equal(judgeLink(configured, measured({ rttMs: 14.9, downMbit: 401, upMbit: 599 })).ok, true);
        assert.equal(judgeLink(link(90, 200), measured({ rttMs: 107, downMbit: 200, upMbit: 200 })).ok, true);
    });

    it("disagrees when the delay is off by more than 5 ms on a short link", () => {
        const verdict = judgeLink(configured, measured({ rttMs: 15.5 }));
        assert.equal(verdict.ok, false);
        assert.match(verdict.problems[0], /RTT 15\.5 ms, configured 10 ms/);
    });

    it("disagrees when a direction is too slow, or not shaped at all", () => {
        assert.match(judgeLink(configured, measured({ upMbit: 390 })).problems.join("\n"), /up 390 Mbit\/s/);
        assert.match(judgeLink(configured, measured({ downMbit: 4000 })).problems.join("\n"), /down 4000 Mbit\/s/);
    });

    it("counts a link that was never measured as a disagreement", () => {
        const verdict = judgeProbe(PROFILES.near, [measured()]);
        assert.equal(verdict.ok, false);
        assert.match(verdict.problems.join("\n"), /droplet-s3: not measured/);
    });

    it("takes the median round trip and removes it from transfer times", () => {
        const m = toMeasurement("ci-s3", { connectMs: 1, rttMs: [12, 10, 11], downBytes: 1e6, downMs: 26, upBytes: 1e6, upMs: 91 });
        assert.equal(m.rttMs, 11);
        assert.equal(m.downMbit, 533.3333333333334); // 8e6 bit in 15 ms
        assert.equal(m.upMbit, 100);
    });

    it("uses 20% and 5 ms by default", () => {
        assert.deepEqual(DEFAULT_TOLERANCE, { relative: 0.2, absoluteMs: 5 });
    });
});
