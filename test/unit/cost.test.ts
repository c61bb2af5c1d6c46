import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import {
    KNOWN_DROPLET_SIZES,
    PRICES,
    Price,
    compareMonthlyCosts,
    dropletPrice,
    estimateDocrMonthlyCost,
    estimateEcrMonthlyCost,
    estimateMonthlyCost,
    REGISTRY_S3_REQUESTS,
} from "../../components/cost";
import { STORAGE_HEALTH_INTERVAL_SECONDS } from "../../components/render/registryConfig";

/** Floating-point sums of cents: equal to well under a millionth of a dollar. */
function near(actual: number, expected: number, what: string): void {
    assert.ok(Math.abs(actual - expected) < 1e-9, `${what}: expected ${expected}, got ${actual}`);
}

function line(estimate: { lines: { item: string; usd: number }[] }, item: string): number {
    const found = estimate.lines.find((l) => l.item === item);
    assert.ok(found, `no line "${item}" in ${estimate.lines.map((l) => l.item).join(", ")}`);
    return found.usd;
}

describe("price table", () => {
    it("is dated and every price names an https source", () => {
        assert.match(PRICES.pricesAsOf, /^\d{4}-\d{2}-\d{2}$/);
        const prices: Price[] = [
            ...Object.values(PRICES.digitalocean.droplets),
            PRICES.digitalocean.transferOverage,
            ...PRICES.digitalocean.containerRegistry.tiers,
            PRICES.digitalocean.containerRegistry.storageOverage,
            PRICES.digitalocean.containerRegistry.transferOverage,
            PRICES.aws.s3StandardStorage,
            PRICES.aws.s3PutCopyPostList,
            PRICES.aws.s3GetAndOther,
            PRICES.aws.internetEgress,
            PRICES.aws.ecrStorage,
            PRICES.aws.ecrEgress,
        ];
        for (const p of prices) {
            assert.match(p.source, /^https:\/\//);
            assert.ok(p.usd >= 0);
        }
    });

    it("holds the issue's list prices", () => {
        assert.deepEqual(
            KNOWN_DROPLET_SIZES.map((s) => [s, dropletPrice(s).usd]),
            [
                ["s-1vcpu-1gb", 6],
                ["s-1vcpu-2gb", 12],
                ["s-2vcpu-2gb", 18],
                ["s-2vcpu-4gb", 24],
            ],
        );
        assert.equal(PRICES.aws.s3StandardStorage.usd, 0.023);
        assert.equal(PRICES.aws.internetEgress.usd, 0.09);
        assert.equal(PRICES.aws.freeEgressGbPerMonth, 100);
        assert.equal(PRICES.aws.ecrStorage.usd, 0.1);
    });
});

describe("estimateMonthlyCost (droplet + S3)", () => {
    it("10 GB stored, 50 GB pulled, redirect on: droplet + storage + health-check LISTs", () => {
        const e = estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 10, pulledGbPerMonth: 50, redirect: true, healthCheckIntervalSeconds: 30 });
        near(line(e, "droplet"), 6, "droplet");
        near(line(e, "S3 storage"), 0.23, "10 x 0.023");
        near(line(e, "S3 egress"), 0, "50 GB is inside the free 100 GB");
        near(line(e, "droplet transfer"), 0, "redirect on");
        // 730 h x 3600 s / 30 s = 87,600 LISTs x $0.005/1000 = $0.438
        near(line(e, "S3 requests"), 0.438, "health checks");
        near(e.totalUsd, 6.668, "total");
        // At 10 s the same check costs three times as much: 262,800 LISTs = $1.314.
        const every10s = estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 10, pulledGbPerMonth: 50, redirect: true, healthCheckIntervalSeconds: 10 });
        near(line(every10s, "S3 requests"), 1.314, "health checks every 10 s");
    });

    it("defaults the health-check interval to the one the rendered config uses", () => {
        const explicit = estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 1, pulledGbPerMonth: 1, redirect: true, healthCheckIntervalSeconds: STORAGE_HEALTH_INTERVAL_SECONDS });
        const defaulted = estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 1, pulledGbPerMonth: 1, redirect: true });
        near(defaulted.totalUsd, explicit.totalUsd, "default interval");
    });

    it("counts pushes, multipart parts, pulls and billable egress", () => {
        const e = estimateMonthlyCost({
            dropletSize: "s-1vcpu-1gb",
            storedGb: 200,
            pulledGbPerMonth: 250,
            redirect: false,
            pushesPerMonth: 100,
            pushedGbPerMonth: 5,
            pullsPerMonth: 1000,
            chunkSizeMb: 10,
            healthCheckIntervalSeconds: 0,
        });
        near(line(e, "S3 storage"), 4.6, "200 x 0.023");
        near(line(e, "S3 egress"), 13.5, "(250 - 100) x 0.09");
        near(line(e, "droplet transfer"), 0, "250 GB is inside 1000 GB included");
        // PUT class: 100 x 41 + ceil(5120/10) + ceil(5120/32) = 4100 + 512 + 160 = 4772 -> $0.02386
        // GET class (redirect off: 10 per pull): 100 x 18 + 1000 x 10 = 11800 -> $0.00472
        near(line(e, "S3 requests"), 0.02858, "requests");
        near(e.totalUsd, 6 + 4.6 + 13.5 + 0.02858, "total");
    });

    it("bills droplet transfer over the allowance only without redirect", () => {
        const base = { dropletSize: "s-1vcpu-1gb", storedGb: 0, pulledGbPerMonth: 1200, healthCheckIntervalSeconds: 0, awsFreeEgressGb: 0 };
        const off = estimateMonthlyCost({ ...base, redirect: false });
        near(line(off, "S3 egress"), 108, "1200 x 0.09");
        near(line(off, "droplet transfer"), 2, "(1200 - 1000) x 0.01");
        near(off.totalUsd, 116, "6 + 108 + 2");
        const on = estimateMonthlyCost({ ...base, redirect: true });
        near(on.totalUsd, 114, "6 + 108");
    });

    it("a larger chunk size means fewer UploadPart requests", () => {
        const at = (chunkSizeMb: number) =>
            line(estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 0, pulledGbPerMonth: 0, redirect: true, pushedGbPerMonth: 10, chunkSizeMb, healthCheckIntervalSeconds: 0 }), "S3 requests");
        // 10 GB: 1024 parts at 10 MB, 160 at 64 MB; plus 320 copy parts either way.
        near(at(10), ((1024 + 320) / 1000) * 0.005, "10 MB");
        near(at(64), ((160 + 320) / 1000) * 0.005, "64 MB");
    });

    it("names the unknown droplet size and the known ones", () => {
        assert.throws(
            () => estimateMonthlyCost({ dropletSize: "s-8vcpu-16gb", storedGb: 1, pulledGbPerMonth: 1, redirect: true }),
            (err: Error) => err.message.includes('"s-8vcpu-16gb"') && KNOWN_DROPLET_SIZES.every((s) => err.message.includes(s)),
        );
        assert.throws(() => dropletPrice("toString"), /Unknown droplet size "toString"/);
    });

    it("rejects negative or non-finite usage and chunks below the S3 minimum", () => {
        assert.throws(() => estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: -1, pulledGbPerMonth: 0, redirect: true }), /storedGb/);
        assert.throws(() => estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 1, pulledGbPerMonth: Number.NaN, redirect: true }), /pulledGbPerMonth/);
        assert.throws(() => estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", storedGb: 1, pulledGbPerMonth: 1, redirect: true, chunkSizeMb: 4 }), /chunkSizeMb/);
    });
});

describe("estimateDocrMonthlyCost", () => {
    it("picks Basic with storage and transfer overage when it is cheapest", () => {
        const e = estimateDocrMonthlyCost({ storedGb: 10, pulledGbPerMonth: 50 });
        assert.equal(e.tier, "basic");
        // 5 + (10 - 5) x 0.02 + (50 - 5) x 0.01 = 5 + 0.10 + 0.45
        near(e.totalUsd, 5.55, "basic");
        assert.deepEqual(
            e.eligible.map((x) => x.option),
            ["DOCR basic", "DOCR professional"],
        );
        near(e.eligible[1].totalUsd, 20, "professional: 10 GB and 50 GB fit the included 100 GB");
    });

    it("needs Professional beyond 5 repositories", () => {
        const e = estimateDocrMonthlyCost({ storedGb: 200, pulledGbPerMonth: 50, repositories: 10 });
        assert.equal(e.tier, "professional");
        near(e.totalUsd, 22, "20 + (200 - 100) x 0.02");
    });

    it("Starter is free while it fits and cannot grow", () => {
        near(estimateDocrMonthlyCost({ storedGb: 0.4, pulledGbPerMonth: 0.3 }).totalUsd, 0, "starter");
        assert.equal(estimateDocrMonthlyCost({ storedGb: 0.6, pulledGbPerMonth: 0 }).tier, "basic");
    });
});

describe("estimateEcrMonthlyCost", () => {
    it("storage plus egress after the free 100 GB", () => {
        near(estimateEcrMonthlyCost({ storedGb: 50, pulledGbPerMonth: 50 }).totalUsd, 5, "50 x 0.10");
        near(estimateEcrMonthlyCost({ storedGb: 200, pulledGbPerMonth: 150 }).totalUsd, 24.5, "20 + 50 x 0.09");
        near(estimateEcrMonthlyCost({ storedGb: 0, pulledGbPerMonth: 10, awsFreeEgressGb: 0 }).totalUsd, 0.9, "no free tier left");
    });
});

describe("compareMonthlyCosts", () => {
    it("returns the three options for one profile", () => {
        const c = compareMonthlyCosts({ dropletSize: "s-1vcpu-1gb", storedGb: 50, pulledGbPerMonth: 50, redirect: true, healthCheckIntervalSeconds: 30 });
        // project: 6 + 50 x 0.023 + 0.438 = 7.588; DOCR basic: 5 + 0.90 + 0.45; ECR: 5
        near(c.project.totalUsd, 7.588, "project");
        near(c.docr.totalUsd, 6.35, "docr");
        near(c.ecr.totalUsd, 5, "ecr");
    });
});

describe("alerts in the cost model", () => {
    it("an uptime check adds its dollar a month; droplet alerts add nothing", () => {
        const base = { dropletSize: "s-1vcpu-1gb", storedGb: 10, pulledGbPerMonth: 50, redirect: true };
        const without = estimateMonthlyCost(base);
        const withCheck = estimateMonthlyCost({ ...base, uptimeChecks: 1 });
        near(withCheck.totalUsd - without.totalUsd, 1, "one uptime check");
        assert.equal(line(withCheck, "uptime check"), 1);
        assert.equal(without.lines.find((l) => l.item === "uptime check"), undefined);
    });
});

describe("replicas", () => {
    const usage = { dropletSize: "s-1vcpu-1gb", storedGb: 10, pulledGbPerMonth: 3000, redirect: false } as const;
    const item = (e: { lines: { item: string; usd: number; detail: string }[] }, name: string) => e.lines.find((l) => l.item === name);

    it("bills each droplet and one balancer node, and pools the droplets' included transfer", () => {
        const one = estimateMonthlyCost(usage);
        const three = estimateMonthlyCost({ ...usage, replicas: 3 });
        assert.equal(item(one, "load balancer"), undefined);
        assert.equal(item(three, "droplets")?.usd, 3 * PRICES.digitalocean.droplets["s-1vcpu-1gb"].usd);
        assert.equal(item(three, "load balancer")?.usd, PRICES.digitalocean.loadBalancerNode.usd);
        // 3,000 GB streamed out: 2,000 over one droplet's 1,000, none over three droplets' 3,000.
        assert.equal(item(one, "droplet transfer")?.usd, 2000 * PRICES.digitalocean.transferOverage.usd);
        assert.equal(item(three, "droplet transfer")?.usd, 0);
        assert.ok(item(three, "S3 requests")!.usd > item(one, "S3 requests")!.usd, "each replica's storage health check lists the bucket");
    });

    it("bills the GET-class requests replicas make without a descriptor cache, per blob pushed and pulled", () => {
        const busy = { ...usage, pushesPerMonth: 1000, pullsPerMonth: 10000 };
        const getClass = (e: ReturnType<typeof estimateMonthlyCost>) => Number(/\+ (\d+) GET-class/.exec(item(e, "S3 requests")!.detail)?.[1]);
        const extra = getClass(estimateMonthlyCost({ ...busy, replicas: 2 })) - getClass(estimateMonthlyCost(busy));
        const req = REGISTRY_S3_REQUESTS;
        assert.equal(extra, Math.round(1000 * 2 * req.perPushedBlobGetClassWithoutCache + 10000 * 2 * req.perPulledBlobGetClassWithoutCache));
    });

    it("bills the same droplets and balancer with Spaces", () => {
        const three = estimateMonthlyCost({ ...usage, storage: "spaces", replicas: 3 });
        assert.equal(item(three, "load balancer")?.usd, PRICES.digitalocean.loadBalancerNode.usd);
        assert.equal(item(three, "droplets")?.usd, 3 * PRICES.digitalocean.droplets["s-1vcpu-1gb"].usd);
    });

    it("refuses a count that is not a whole number of at least 1", () => {
        assert.throws(() => estimateMonthlyCost({ ...usage, replicas: 0 }), /replicas must be a whole number >= 1; got 0/);
        assert.throws(() => estimateMonthlyCost({ ...usage, replicas: 1.5 }), /got 1.5/);
    });
});
