import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, RecordedResource, settle } from "../support/mocks";

const recorded: RecordedResource[] = installMocks();
pulumi.runtime.setAllConfig({
    "aws:region": "us-east-1",
    "private-registry:exposure": "tunnel",
    "private-registry:domain": "registry.example.com",
    "private-registry:bucketName": "Bad_Bucket",
});

describe("invalid configuration", () => {
    it("fails with every problem named and creates nothing", async () => {
        await assert.rejects(import("../../index.js"), (e: Error) => {
            assert.match(e.message, /nothing was created/);
            assert.match(e.message, /private-registry:bucketName must be .*; got "Bad_Bucket"/);
            assert.match(e.message, /private-registry:exposure="tunnel" and private-registry:domain are mutually exclusive/);
            return true;
        });
        await settle(recorded);
        assert.deepEqual(recorded.map((r) => `${r.type} ${r.name}`), []);
    });
});
