import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { shellQuote } from "../../components/render/shell";
import { loadStackArgs } from "../../components/stackConfig";
import type { PrivateRegistry as PrivateRegistryType } from "../../components/privateRegistry";
import { installMocks, optionsRecorder, RecordedOptions, settle } from "../support/mocks";

/**
 * Small guards whose absence no other test notices: the shell quoting every script relies on,
 * and the resource orderings that exist only to win races in AWS.
 */

// Mocks must be in place before any component module loads (see the dynamic import below).
const recorded = installMocks();

describe("shellQuote", () => {
    const marker = join(mkdtempSync(join(tmpdir(), "quote-")), "ran");
    const hostile = [
        "",
        "plain",
        "it's",
        "''",
        `"double" and 'single'`,
        `$(touch ${marker})`,
        `\`touch ${marker}\``,
        "$HOME ${PATH} $1 $@ $$",
        "line one\nline two\n",
        "\n",
        "; touch " + marker + " #",
        "a\\nb \\' \\\\",
        "* ? [a-z] ~ -n -e",
        "tab\there & | < > ( ) { } !",
        "ünïcødé ✓ 中文",
    ];

    for (const value of hostile) {
        it(`passes ${JSON.stringify(value)} through sh as one unchanged word`, () => {
            const result = spawnSync("sh", ["-c", `printf %s ${shellQuote(value)}`], { encoding: "utf8" });
            assert.equal(result.status, 0, result.stderr);
            assert.equal(result.stdout, value);
            assert.ok(!existsSync(marker), "the value ran a command");
        });
    }

    it("keeps one word even where sh would split or glob", () => {
        const result = spawnSync("sh", ["-c", `set -- ${shellQuote("a b\tc\n*")}; printf %s "$#"`], { encoding: "utf8" });
        assert.equal(result.stdout, "1");
    });

    it("throws on a NUL byte, which no shell word can carry", () => {
        assert.throws(() => shellQuote("a\0b"), /NUL/);
        assert.throws(() => shellQuote("\0"), /NUL/);
    });
});

describe("resource orderings that avoid AWS races", () => {
    let registry: PrivateRegistryType;
    const options: RecordedOptions[] = [];

    before(async () => {
        const { PrivateRegistry } = await import("../../components/privateRegistry.js");
        const settings = loadStackArgs(new Map(), new Map([["region", "eu-central-1"]]));
        registry = new PrivateRegistry("guards", settings, { transformations: [optionsRecorder(options)] }, async () => {
            throw new Error("no DNS in tests");
        });
        await settle(recorded);
    });

    /** The one recorded resource of a type, with its options. */
    function only(type: string): RecordedOptions {
        const found = options.filter((o) => o.type === type);
        assert.equal(found.length, 1, `expected one ${type}, found ${found.map((o) => o.name).join(", ")}`);
        return found[0];
    }

    function dependsOn(o: RecordedOptions): pulumi.Resource[] {
        const deps = o.opts.dependsOn;
        if (deps === undefined) return [];
        assert.ok(!pulumi.Output.isInstance(deps), `${o.name}: dependsOn should be plain resources`);
        return Array.isArray(deps) ? (deps as pulumi.Resource[]) : [deps as pulumi.Resource];
    }

    it("creates the access key only after its policy, so the registry never gets a powerless key", () => {
        const key = only("aws:iam/accessKey:AccessKey");
        const policy = only("aws:iam/userPolicy:UserPolicy");
        assert.equal(key.resource, registry.storageUser!.accessKey);
        assert.equal(policy.resource, registry.storageUser!.policy);
        assert.ok(dependsOn(key).includes(registry.storageUser!.policy), "the access key depends on the user policy");
    });

    it("applies the TLS-only bucket policy only after the public-access block", () => {
        const policy = only("aws:s3/bucketPolicy:BucketPolicy");
        const block = only("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
        assert.ok(dependsOn(policy).includes(block.resource), "the bucket policy depends on the public-access block");
    });

    it("changes the lifecycle rules only after versioning, which S3 would otherwise race", () => {
        const lifecycle = only("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration");
        const versioning = only("aws:s3/bucketVersioning:BucketVersioning");
        assert.ok(dependsOn(lifecycle).includes(versioning.resource), "the lifecycle configuration depends on the versioning resource");
    });
});
