import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { teardownAgainstVanishedHost } from "../support/teardown";

/**
 * The package as another Pulumi project gets it: packed with `npm pack`, installed from the
 * tarball into a scratch project, type-checked there, and run under Pulumi's mocks with only its
 * required argument.
 */

const root = join(__dirname, "..", "..");
const scratch = mkdtempSync(join(tmpdir(), "registry-consumer-"));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
const pulumiVersion = (require(join(root, "package.json")) as { dependencies: Record<string, string> }).dependencies["@pulumi/pulumi"];

const CONSUMER = `import { PrivateRegistry } from "pulumi-private-registry";

const registry = new PrivateRegistry("registry", { awsRegion: "us-east-1" });
export const host = registry.registryHost;
`;

// Records every resource the consumer declares, with Pulumi's own mocks from the consumer's copy;
// a few provider-computed values stand in so the program's applies run.
const RUNNER = `const pulumi = require("@pulumi/pulumi");
const recorded = [];
const computed = {
    "digitalocean:index/reservedIp:ReservedIp": { ipAddress: "203.0.113.10" },
    "tls:index/privateKey:PrivateKey": { privateKeyOpenssh: "mock", privateKeyPem: "mock", publicKeyOpenssh: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAImock" },
    "random:index/randomPassword:RandomPassword": { result: "MockPassw0rdMockPassw0rdMockPassw" },
    "random:index/randomString:RandomString": { result: "abcdefghijklmnopqrstuv" },
    "aws:s3/bucket:Bucket": { bucket: "registry-bucket-4f2a9c1" },
    "aws:iam/user:User": { name: "registry-user" },
    "aws:iam/accessKey:AccessKey": { secret: "mock" },
};
pulumi.runtime.setMocks({
    newResource: (args) => {
        recorded.push({ type: args.type, inputs: args.inputs });
        return { id: args.name + "-id", state: { ...args.inputs, ...computed[args.type] } };
    },
    call: (args) => { throw new Error("unexpected call " + args.token); },
}, "consumer", "test", false);
const program = require("./out/index.js");
setTimeout(() => {
    process.stdout.write(JSON.stringify({ exports: Object.keys(program), recorded }));
}, 2000);
`;

function run(command: string, args: string[], cwd: string): string {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 600_000 });
}

let result: { exports: string[]; recorded: { type: string; inputs: Record<string, unknown> }[] };

before(() => {
    run("npm", ["pack", "--silent", "--pack-destination", scratch], root);
    const tarball = readdirSync(scratch).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack made no tarball");
    writeFileSync(
        join(scratch, "package.json"),
        JSON.stringify({ name: "consumer", private: true, dependencies: { "pulumi-private-registry": `file:./${tarball}`, "@pulumi/pulumi": pulumiVersion } }),
    );
    // The dependencies are the ones `npm ci` just cached for this repository.
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], scratch);
    writeFileSync(join(scratch, "index.ts"), CONSUMER);
    writeFileSync(
        join(scratch, "tsconfig.json"),
        JSON.stringify({ compilerOptions: { strict: true, target: "ES2022", module: "nodenext", moduleResolution: "nodenext", outDir: "out", skipLibCheck: true }, files: ["index.ts"] }),
    );
    writeFileSync(join(scratch, "run.cjs"), RUNNER);
});

after(() => rmSync(scratch, { recursive: true, force: true }));

describe("the packed package in another project", () => {
    it("type-checks and compiles a four-line consumer against the package's own types", () => {
        const compiled = spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: scratch, encoding: "utf8" });
        assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
    });

    it("declares the whole registry under mocks with only the required argument", () => {
        result = JSON.parse(run(process.execPath, ["run.cjs"], scratch));
        assert.deepEqual(result.exports, ["host"]);
        const types = new Set(result.recorded.map((r) => r.type));
        for (const type of ["aws:s3/bucket:Bucket", "aws:iam/accessKey:AccessKey", "digitalocean:index/droplet:Droplet", "digitalocean:index/firewall:Firewall", "command:remote:Command", "command:local:Command"]) {
            assert.ok(types.has(type), `no ${type}`);
        }
    });

    it("tears down from the consumer's directory with the script inside its node_modules", async () => {
        const teardown = result.recorded.find((r) => r.type === "command:local:Command");
        const command = String(teardown?.inputs.delete);
        const script = /^node '(.*)'$/.exec(command)?.[1] ?? "";
        assert.ok(script.startsWith(join(scratch, "node_modules", "pulumi-private-registry")) && existsSync(script), command);
        const gone = await teardownAgainstVanishedHost(command, scratch);
        assert.equal(gone.status, 0, gone.stderr);
    });
});
