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
    it("fails with every problem named once, as a RunError (no stack trace), and creates nothing", async () => {
        await assert.rejects(import("../../index.js"), (e: Error) => {
            // Pulumi's runner prints a RunError's message alone: this is the whole text a user sees.
            assert.ok(pulumi.RunError.isInstance(e), "a RunError, not an unhandled exception with a stack");
            assert.equal(
                e.message,
                [
                    "Invalid configuration (nothing was created):",
                    '  - private-registry:bucketName must be 3-63 lowercase letters, digits, dots or hyphens, starting and ending with a letter or digit; got "Bad_Bucket" (slugs and names are lowercase: "bad_bucket")',
                    '  - private-registry:exposure="tunnel" and private-registry:domain are mutually exclusive: a tunnelled registry has no public name',
                ].join("\n"),
            );
            return true;
        });
        await settle(recorded);
        assert.deepEqual(recorded.map((r) => `${r.type} ${r.name}`), []);
    });
});
