import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, RecordedResource, settle, valueOf } from "../support/mocks";

// The whole program on Spaces, with no aws: config at all: any aws:* resource would be recorded,
// and any provider function (an aws:* invoke among them) throws with its token (support/mocks.ts).
const recorded: RecordedResource[] = installMocks("private-registry", (resource, defaults) =>
    resource.type === "digitalocean:index/spacesKey:SpacesKey" ? { ...defaults, state: { accessKey: "DO00PROGRAMKEY", secretKey: "MOCKSPACESSECRETprogram" } } : defaults,
);
pulumi.runtime.setAllConfig({ "private-registry:storage": "spaces", "private-registry:dropletRegion": "ams3", "private-registry:bucketName": "team-registry" });

type Program = Record<string, pulumi.Output<unknown> | undefined>;
let program: Program;

before(async () => {
    program = (await import("../../index.js")) as unknown as Program;
    await settle(recorded);
});

describe("the program with storage=spaces", () => {
    it("declares no AWS resource, and one Spaces bucket and key", () => {
        assert.deepEqual(recorded.filter((r) => r.type.startsWith("aws:")).map((r) => r.type), []);
        assert.equal(recorded.filter((r) => r.type === "digitalocean:index/spacesBucket:SpacesBucket").length, 1);
        assert.equal(recorded.filter((r) => r.type === "digitalocean:index/spacesKey:SpacesKey").length, 1);
    });

    it("says where the layers are, and keeps the key's secret out of every plain output", async () => {
        assert.equal(await valueOf(program.bucketName), "team-registry");
        assert.equal(await valueOf(program.bucketRegion), "ams3");
        for (const [name, output] of Object.entries(program)) {
            if (output === undefined || !pulumi.Output.isInstance(output) || (await pulumi.isSecret(output))) {
                continue;
            }
            assert.ok(!JSON.stringify(await valueOf(output)).includes("MOCKSPACESSECRET"), `plain output ${name}`);
        }
    });
});
