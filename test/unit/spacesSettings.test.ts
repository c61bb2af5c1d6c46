import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { COST_OUTPUT_USAGE, estimatedMonthlyCostUsd, estimateMonthlyCost, PRICES } from "../../components/cost";
import { deploymentNotices } from "../../components/notices";
import { resolveArgs } from "../../components/privateRegistryArgs";
import { Settings, SettingsError } from "../../components/settings";
import { loadSettings, loadStackArgs } from "../../components/stackConfig";
import { NEAREST_SPACES_REGION, SPACES_REGIONS, spacesBucketNameProblem, spacesEndpoint, spacesRegionFor, spacesStorageConfig } from "../../components/render/spaces";
import { renderRegistryConfig, RegistryConfigInput } from "../../components/render/registryConfig";

/** What the stack's `aws:` namespace holds: nothing, for a Spaces stack. */
const NO_AWS = new Map<string, string>();

function load(values: Record<string, string>, aws: Map<string, string> = NO_AWS, env: Record<string, string> = {}): Settings {
    return loadSettings(new Map(Object.entries({ storage: "spaces", ...values })), aws, env);
}

function problemsOf(run: () => unknown): string[] {
    try {
        run();
    } catch (e) {
        assert.ok(e instanceof SettingsError, `expected a SettingsError, got ${String(e)}`);
        return e.problems;
    }
    assert.fail("expected the settings to be refused");
}

describe("storage=spaces settings", () => {
    it("needs no AWS region, and resolves the bucket's region from the droplet's", () => {
        const s = load({});
        assert.equal(s.storage, "spaces");
        assert.equal(s.awsRegion, "", "no AWS region is read or kept");
        assert.equal(s.dropletRegion, "nyc3");
        assert.equal(s.spacesRegion, "nyc3");
        assert.equal(load({ dropletRegion: "fra1" }).spacesRegion, "fra1");
    });

    it("ignores AWS_REGION in the environment: it belongs to the shell, not to this stack", () => {
        const s = load({}, NO_AWS, { AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-west-2" });
        assert.equal(s.awsRegion, "");
    });

    it("refuses aws:region set in the stack, naming it, what is allowed and what was given, before anything is made", () => {
        const problems = problemsOf(() => load({}, new Map([["region", "us-east-1"]])));
        assert.deepEqual(problems, [
            'aws:region applies only with private-registry:storage="s3": with "spaces" nothing is made in AWS and no AWS credentials are used (remove it: pulumi config rm aws:region); got "us-east-1"',
        ]);
    });

    it("refuses an unknown storage with the allowed values", () => {
        const problems = problemsOf(() => loadSettings(new Map([["storage", "gcs"]]), new Map([["region", "us-east-1"]])));
        assert.deepEqual(problems, ['private-registry:storage must be one of "s3", "spaces"; got "gcs"']);
    });

    it("puts the bucket in the nearest region with Spaces when the droplet's has none", () => {
        assert.equal(load({ dropletRegion: "nyc1" }).spacesRegion, "nyc3");
        assert.equal(load({ dropletRegion: "ric1" }).spacesRegion, "nyc3");
        for (const region of SPACES_REGIONS) {
            assert.equal(spacesRegionFor(region), region);
        }
        for (const [region, nearest] of Object.entries(NEAREST_SPACES_REGION)) {
            assert.ok((SPACES_REGIONS as readonly string[]).includes(nearest), `${region} maps to ${nearest}, which has Spaces`);
        }
        assert.equal(spacesRegionFor("toString"), undefined);
    });

    it("refuses a droplet region whose Spaces region it cannot tell", () => {
        const problems = problemsOf(() => load({ dropletRegion: "xyz9" }));
        assert.equal(problems.length, 1);
        assert.match(problems[0], /^private-registry:dropletRegion must be a region whose Spaces region is known when private-registry:storage="spaces" \(ams2, ams3, atl1, .*\); got "xyz9"$/);
    });

    it("checks bucket names by Spaces' rules: no dots", () => {
        assert.equal(load({ bucketName: "team-registry" }).bucketName, "team-registry");
        const problems = problemsOf(() => load({ bucketName: "team.registry" }));
        assert.deepEqual(problems, ['private-registry:bucketName must be 3-63 lowercase letters, digits or hyphens, starting with a letter or digit (Spaces allows no dots); got "team.registry"']);
        assert.equal(spacesBucketNameProblem("ab"), spacesBucketNameProblem("-ab"));
        assert.notEqual(spacesBucketNameProblem("ab"), undefined);
        // The same name stays valid on S3.
        assert.equal(loadSettings(new Map([["bucketName", "team.registry"]]), new Map([["region", "us-east-1"]])).bucketName, "team.registry");
    });

    it("gives the component no AWS region", () => {
        const args = loadStackArgs(new Map([["storage", "spaces"]]), NO_AWS, { AWS_REGION: "eu-west-1" });
        assert.equal(args.storage, "spaces");
        assert.equal(args.awsRegion, undefined);
        assert.equal(loadStackArgs(new Map(), new Map([["region", "us-east-1"]])).awsRegion, "us-east-1", "S3 stacks keep theirs");
    });

    it("the component refuses an awsRegion argument with Spaces, and storage as an Output", async () => {
        assert.throws(() => resolveArgs("r", { storage: "spaces", awsRegion: "us-east-1" }), /awsRegion applies only with storage="s3"/);
        const pulumi = await import("@pulumi/pulumi");
        assert.throws(() => resolveArgs("r", { storage: pulumi.output("spaces") as unknown as "spaces" }), /storage must be a plain value/);
    });
});

describe("deploy notices for Spaces", () => {
    it("say where the bucket is, and warn when it is not beside the droplet", () => {
        const beside = deploymentNotices(load({})).find((n) => n.text.includes("Spaces"));
        assert.deepEqual(beside, { level: "info", text: "The layers are stored in DigitalOcean Spaces, in nyc3 beside the droplet (https://nyc3.digitaloceanspaces.com); nothing is made in AWS." });
        const away = deploymentNotices(load({ dropletRegion: "nyc1" })).find((n) => n.text.includes("Spaces"));
        assert.equal(away?.level, "warn");
        assert.match(away?.text ?? "", /nyc1 has no Spaces, so the bucket is made in nyc3, the nearest region that has them \(https:\/\/docs\.digitalocean\.com\/products\/spaces\/details\/availability\/\)/);
        assert.equal(deploymentNotices(loadSettings(new Map(), new Map([["region", "us-east-1"]]))).find((n) => n.text.includes("Spaces")), undefined, "S3 stacks hear nothing of it");
    });
});

describe("the registry's storage section on Spaces", () => {
    const base: Omit<RegistryConfigInput, "storage"> = {
        redirect: true,
        http: { addr: "127.0.0.1:5002", secret: "s", tls: { kind: "none" }, debugAddr: "127.0.0.1:5001" },
        auth: { realm: "r", htpasswdPath: "/h" },
    };

    it("points the S3 driver at the region's endpoint, path-style, without SSE-S3, with a private ACL", () => {
        const storage = spacesStorageConfig({ region: "fra1", bucket: "team-registry", accessKey: "DO00EXAMPLE", secretKey: "secret/Key+", chunkSizeBytes: 5 * 1024 * 1024 });
        const s3 = parse(renderRegistryConfig({ ...base, storage })).storage.s3;
        assert.deepEqual(s3, {
            region: "fra1",
            bucket: "team-registry",
            accesskey: "DO00EXAMPLE",
            secretkey: "secret/Key+",
            encrypt: false,
            secure: true,
            chunksize: 5 * 1024 * 1024,
            objectacl: "private",
            regionendpoint: "https://fra1.digitaloceanspaces.com",
            forcepathstyle: true,
        });
        assert.equal(spacesEndpoint("sgp1"), "https://sgp1.digitaloceanspaces.com");
    });
});

describe("Spaces in the cost model", () => {
    it("is the droplet plus the flat subscription while storage and pulls stay inside it", () => {
        const e = estimateMonthlyCost({ storage: "spaces", dropletSize: "s-1vcpu-1gb", storedGb: 10, pulledGbPerMonth: 50, redirect: true });
        assert.equal(e.totalUsd, 6 + 5);
        assert.deepEqual(
            e.lines.filter((l) => l.usd !== 0).map((l) => l.item),
            ["droplet", "Spaces subscription"],
            "no request line: Spaces bills none",
        );
    });

    it("bills storage beyond 250 GB and transfer beyond 1024 GB at DigitalOcean's overage rates", () => {
        const e = estimateMonthlyCost({ storage: "spaces", dropletSize: "s-1vcpu-1gb", storedGb: 300, pulledGbPerMonth: 1224, redirect: true });
        const line = (item: string) => e.lines.find((l) => l.item === item)?.usd;
        assert.ok(Math.abs((line("Spaces extra storage") ?? 0) - 50 * 0.02) < 1e-9);
        assert.ok(Math.abs((line("Spaces extra transfer") ?? 0) - 200 * 0.01) < 1e-9);
        assert.equal(PRICES.digitalocean.spaces.subscription.usd, 5);
        assert.match(PRICES.digitalocean.spaces.subscription.source, /^https:\/\/www\.digitalocean\.com\/pricing\/spaces-object-storage$/);
    });

    it("is cheaper than S3 when pulls are heavy, and dearer for a small, lightly pulled registry", () => {
        const at = (storage: "s3" | "spaces", storedGb: number, pulledGbPerMonth: number) => estimateMonthlyCost({ storage, dropletSize: "s-1vcpu-1gb", storedGb, pulledGbPerMonth, redirect: true }).totalUsd;
        assert.ok(at("spaces", 50, 500) < at("s3", 50, 500));
        assert.ok(at("spaces", 10, 50) > at("s3", 10, 50));
    });

    it("is what the cost output gives a Spaces stack", () => {
        assert.equal(estimatedMonthlyCostUsd({ storage: "spaces", dropletSize: "s-1vcpu-1gb", redirectPullsToS3: true, s3ChunkSizeMb: 5 }), 11);
        assert.equal(
            estimatedMonthlyCostUsd({ dropletSize: "s-1vcpu-1gb", redirectPullsToS3: true, s3ChunkSizeMb: 5 }),
            Math.round(estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", ...COST_OUTPUT_USAGE, redirect: true, chunkSizeMb: 5 }).totalUsd * 100) / 100,
            "S3 stacks' figure is unchanged",
        );
    });
});
