import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compile, MockRun, npmInstall, packPackage, pulumiVersion, runUnderMocks } from "../support/packedPackage";
import { teardownAgainstVanishedHost } from "../support/teardown";

/**
 * The package as another Pulumi project gets it: packed with `npm pack`, installed from the
 * tarball into a scratch project, type-checked there, and run under Pulumi's mocks with only its
 * required argument.
 */

const scratch = mkdtempSync(join(tmpdir(), "registry-consumer-"));

const CONSUMER = `import { PrivateRegistry } from "pulumi-private-registry";

const registry = new PrivateRegistry("registry", { awsRegion: "us-east-1" });
export const host = registry.registryHost;
`;

let run: MockRun;

before(() => {
    const tarball = basename(packPackage(scratch));
    writeFileSync(
        join(scratch, "package.json"),
        JSON.stringify({ name: "consumer", private: true, dependencies: { "pulumi-private-registry": `file:./${tarball}`, "@pulumi/pulumi": pulumiVersion } }),
    );
    npmInstall(scratch);
    writeFileSync(join(scratch, "index.ts"), CONSUMER);
    writeFileSync(
        join(scratch, "tsconfig.json"),
        JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "nodenext", moduleResolution: "nodenext", outDir: "out", skipLibCheck: true }, files: ["index.ts"] }),
    );
});

after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the packed package in another project", () => {
    it("type-checks and compiles a four-line consumer against the package's own types", () => {
        const compiled = compile(scratch);
        assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
    });

    it("declares the whole registry under mocks with only the required argument", () => {
        run = runUnderMocks(scratch, { project: "consumer", entry: "out/index.js" });
        assert.ok(run.result, run.output);
        assert.deepEqual(run.result.exports, ["host"]);
        const types = new Set(run.result.recorded.map((r) => r.type));
        for (const type of ["aws:s3/bucket:Bucket", "aws:iam/accessKey:AccessKey", "digitalocean:index/droplet:Droplet", "digitalocean:index/firewall:Firewall", "command:remote:Command", "command:local:Command"]) {
            assert.ok(types.has(type), `no ${type}`);
        }
    });

    it("tears down from the consumer's directory with the script inside its node_modules", async () => {
        const teardown = run.result?.recorded.find((r) => r.type === "command:local:Command");
        const command = String(teardown?.inputs.delete);
        const script = /^node '(.*)'$/.exec(command)?.[1] ?? "";
        assert.ok(script.startsWith(join(scratch, "node_modules", "pulumi-private-registry")) && existsSync(script), command);
        const gone = await teardownAgainstVanishedHost(command, scratch);
        assert.equal(gone.status, 0, gone.stderr);
    });
});
