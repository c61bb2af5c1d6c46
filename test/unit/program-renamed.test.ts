import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { installMocks, RecordedResource, settle } from "../support/mocks";

// The same program in a project created from this one under another name (`pulumi new`).
const recorded: RecordedResource[] = installMocks("team-registry");
pulumi.runtime.setAllConfig({ "aws:region": "us-east-1", "team-registry:dropletSize": "s-1vcpu-512mb-10gb" });

describe("a project with another name", () => {
    it("reads its settings from its own namespace and names them so in errors", async () => {
        await assert.rejects(import("../../index.js"), (e: Error) => {
            assert.match(e.message, /^ {2}- team-registry:dropletSize must have a disk of at least 25 GB/m, "the value was read from team-registry: and named so");
            assert.doesNotMatch(e.message, /private-registry:/);
            return true;
        });
        await settle(recorded);
        assert.equal(recorded.length, 0);
    });
});
