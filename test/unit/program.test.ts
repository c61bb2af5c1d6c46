import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, RecordedResource, settle, valueOf } from "../support/mocks";
import { REGISTRY_IMAGE_DIGESTS } from "../../components/versions";

const recorded: RecordedResource[] = installMocks();
pulumi.runtime.setAllConfig({ "aws:region": "us-east-1", "private-registry:registryUsername": "deploy-bot" });

type Program = Record<string, pulumi.Output<unknown> | undefined>;
let program: Program;

before(async () => {
    program = (await import("../../index.js")) as unknown as Program;
    await settle(recorded);
});

describe("the program's stack outputs", () => {
    it("exports what CI needs", async () => {
        assert.equal(await valueOf(program.registryHost), "203.0.113.10");
        assert.equal(await valueOf(program.registryUrl), "https://203.0.113.10");
        assert.equal(await valueOf(program.registryUsername), "deploy-bot");
        assert.equal(await valueOf(program.bucketRegion), "us-east-1");
        assert.equal(await valueOf(program.dropletIp), "203.0.113.10");
        assert.match(String(await valueOf(program.bucketName)), /^registry-storage-bucket-/);
        assert.equal(await valueOf(program.registryImage), `docker.io/library/registry:3.1.2@${REGISTRY_IMAGE_DIGESTS["3.1.2"]}`, "the pinned release, pinned by digest too");
        assert.match(String(await valueOf(program.caCertificate)), /BEGIN CERTIFICATE/);
        assert.match(String(await valueOf(program.sshHostPublicKey)), /^ssh-ed25519 /);
        assert.equal(program.sshTunnelCommand, undefined, "no tunnel command in public mode");
        assert.equal(
            await valueOf(program.maintenanceCommand),
            "ssh -i registry_key -o IdentitiesOnly=yes root@203.0.113.10 'systemctl start private-registry-maintenance.service; journalctl -u private-registry-maintenance.service -n 50 --no-pager'",
        );
        assert.equal(await valueOf(program.metricsTunnelCommand), "ssh -i registry_key -o IdentitiesOnly=yes -N -L 5001:127.0.0.1:5001 root@203.0.113.10");
    });

    it("keeps every credential secret", async () => {
        for (const name of ["registryPassword", "dockerConfigJson", "sshPrivateKey"]) {
            assert.equal(await pulumi.isSecret(program[name]!), true, `${name} must be secret`);
        }
        for (const name of ["registryHost", "registryUrl", "registryUsername", "bucketName", "dropletIp", "caCertificate"]) {
            assert.equal(await pulumi.isSecret(program[name]!), false, `${name} should be readable without --show-secrets`);
        }
    });

    it("gives a docker config.json whose auth logs in as the registry user", async () => {
        const config = JSON.parse(String(await valueOf(program.dockerConfigJson)));
        const entry = config.auths["203.0.113.10"];
        const password = String(await valueOf(program.registryPassword));
        assert.equal(Buffer.from(entry.auth, "base64").toString(), `deploy-bot:${password}`);
        assert.equal(entry.username, "deploy-bot");
        assert.equal(password.length, 32);
    });

    it("declares one of each core resource", () => {
        const count = (type: string) => recorded.filter((r) => r.type === type).length;
        assert.equal(count("aws:s3/bucket:Bucket"), 1);
        assert.equal(count("aws:iam/user:User"), 1);
        assert.equal(count("aws:iam/accessKey:AccessKey"), 1);
        assert.equal(count("digitalocean:index/droplet:Droplet"), 1);
        assert.equal(count("digitalocean:index/firewall:Firewall"), 1);
        assert.equal(count("command:remote:Command"), 6, "first-boot wait, operator keys, security updates, host firewall, failed-login guard, registry and front");
        assert.equal(count("command:local:Command"), 1);
    });
});

describe("the cost output", () => {
    it("prices the default droplet at the documented usage", async () => {
        const { estimateMonthlyCost } = await import("../../components/cost.js");
        const { COST_OUTPUT_USAGE } = await import("../../components/cost.js");
        const expected = estimateMonthlyCost({ dropletSize: "s-1vcpu-1gb", ...COST_OUTPUT_USAGE, redirect: true, chunkSizeMb: 5 }).totalUsd;
        const value = (await valueOf(program.estimatedMonthlyCostUsd)) as number;
        assert.equal(typeof value, "number");
        assert.ok(value >= 6, "at least the droplet's own price");
        assert.equal(value, Math.round(expected * 100) / 100);
    });

    it("is left out, not guessed, for a droplet size the price table does not know", async () => {
        const { estimatedMonthlyCostUsd } = await import("../../components/cost.js");
        assert.equal(estimatedMonthlyCostUsd({ dropletSize: "c-48-intel", redirectPullsToS3: true, s3ChunkSizeMb: 10 }), undefined);
    });
});
