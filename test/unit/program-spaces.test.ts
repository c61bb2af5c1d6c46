import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, RecordedResource, settle, valueOf } from "../support/mocks";

// The whole program on Spaces, with no aws: config at all: any aws:* resource would be recorded,
// and any provider function (an aws:* invoke among them) throws with its token (support/mocks.ts).
const recorded: RecordedResource[] = installMocks("private-registry", (resource, defaults) =>
    resource.type === "digitalocean:index/spacesKey:SpacesKey" ? { ...defaults, state: { accessKey: `DO00${resource.name.length}`, secretKey: `MOCKSPACESSECRET${resource.name}` } } : defaults,
);
// The DigitalOcean token is the one credential given: no Spaces key, in config or environment.
delete process.env.SPACES_ACCESS_KEY_ID;
delete process.env.SPACES_SECRET_ACCESS_KEY;
pulumi.runtime.setAllConfig(
    { "private-registry:storage": "spaces", "private-registry:dropletRegion": "ams3", "private-registry:bucketName": "team-registry", "digitalocean:token": "dop_v1_MOCKTOKENprogram" },
    ["digitalocean:token"],
);

type Program = Record<string, pulumi.Output<unknown> | undefined>;
let program: Program;

before(async () => {
    program = (await import("../../index.js")) as unknown as Program;
    await settle(recorded);
});

describe("the program with storage=spaces", () => {
    it("declares no AWS resource, and one Spaces bucket, its admin key and provider, and the registry's key", () => {
        assert.deepEqual(recorded.filter((r) => r.type.startsWith("aws:")).map((r) => r.type), []);
        assert.equal(recorded.filter((r) => r.type === "digitalocean:index/spacesBucket:SpacesBucket").length, 1);
        const grants = recorded.filter((r) => r.type === "digitalocean:index/spacesKey:SpacesKey").map((r) => `${r.name} ${JSON.stringify(r.inputs.grants)}`);
        assert.deepEqual(grants.sort(), ['registry-storage-bucket-admin-key [{"bucket":"","permission":"fullaccess"}]', 'registry-storage-key [{"bucket":"team-registry","permission":"readwrite"}]']);
        const providers = recorded.filter((r) => r.type === "pulumi:providers:digitalocean");
        assert.deepEqual(providers.map((p) => p.name), ["registry-storage-spaces-provider"]);
        assert.equal(providers[0].inputs.token, "dop_v1_MOCKTOKENprogram", "the stack's digitalocean:token, passed on");
        assert.equal(providers[0].inputs.spacesSecretKey, "MOCKSPACESSECRETregistry-storage-bucket-admin-key");
    });

    it("says where the layers are, and keeps the key's secret out of every plain output", async () => {
        assert.equal(await valueOf(program.bucketName), "team-registry");
        assert.equal(await valueOf(program.bucketRegion), "ams3");
        for (const [name, output] of Object.entries(program)) {
            if (output === undefined || !pulumi.Output.isInstance(output) || (await pulumi.isSecret(output))) {
                continue;
            }
            const shown = JSON.stringify(await valueOf(output));
            assert.ok(!shown.includes("MOCKSPACESSECRET") && !shown.includes("MOCKTOKEN"), `plain output ${name}`);
        }
    });
});
