import assert from "node:assert/strict";
import { execFileSync, spawnSync, SpawnSyncReturns } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/**
 * The package as another Pulumi project gets it: `npm pack` of this repository, installed from
 * the tarball into a project of its own, compiled there with this repository's TypeScript and run
 * under Pulumi's mocks from that project's own copy of @pulumi/pulumi.
 */

export const repoRoot = join(__dirname, "..", "..");
const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
/** npm install and npm pack (which builds dist/ first) on a slow shared machine. */
const NPM_TIMEOUT_MS = 600_000;

/** The exact @pulumi/pulumi the package depends on: a project must use the same copy. */
export const pulumiVersion = (require(join(repoRoot, "package.json")) as { dependencies: Record<string, string> }).dependencies["@pulumi/pulumi"];

export function run(command: string, args: string[], cwd: string): string {
    return execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: NPM_TIMEOUT_MS });
}

/** Packs this repository into `destination` and returns the tarball's absolute path. */
export function packPackage(destination: string): string {
    run("npm", ["pack", "--silent", "--pack-destination", destination], repoRoot);
    const tarball = readdirSync(destination).find((f) => f.endsWith(".tgz"));
    assert.ok(tarball, "npm pack made no tarball");
    return join(destination, tarball);
}

/** `npm install` in `dir`, with any extra specs (a tarball path); the dependencies are the ones `npm ci` cached for this repository. */
export function npmInstall(dir: string, specs: string[] = []): void {
    run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error", ...specs], dir);
}

/** Type-checks and compiles the project in `dir` with its own tsconfig.json. */
export function compile(dir: string): SpawnSyncReturns<string> {
    return spawnSync(process.execPath, [tsc, "-p", "tsconfig.json"], { cwd: dir, encoding: "utf8" });
}

export interface Recorded {
    type: string;
    name: string;
    inputs: Record<string, unknown>;
}

export interface MockRun {
    status: number | null;
    /** stdout and stderr: without an engine, Pulumi's log writes to the console. */
    output: string;
    /** The program's exports and every resource it declared; undefined when the program threw. */
    result?: { exports: string[]; recorded: Recorded[] };
}

// Records every resource the program declares, with Pulumi's own mocks from the project's copy;
// a few provider-computed values stand in so the program's applies run.
const RUNNER = `const pulumi = require("@pulumi/pulumi");
const [project, entry, resultFile] = process.argv.slice(2);
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
        recorded.push({ type: args.type, name: args.name, inputs: args.inputs });
        return { id: args.name + "-id", state: { ...args.inputs, ...computed[args.type] } };
    },
    call: (args) => { throw new Error("unexpected call " + args.token); },
}, project, "test", false);
const program = require(require("node:path").resolve(entry));
setTimeout(() => {
    require("node:fs").writeFileSync(resultFile, JSON.stringify({ exports: Object.keys(program), recorded }));
}, 2000);
`;

/**
 * Runs the compiled program `entry` (relative to `dir`) under mocks as project `project`, with
 * `config` as the language host would pass the stack's config (namespaced keys, string values).
 */
export function runUnderMocks(dir: string, options: { project: string; entry: string; config?: Record<string, string> }): MockRun {
    writeFileSync(join(dir, "run-under-mocks.cjs"), RUNNER);
    const resultFile = join(dir, "run-under-mocks.json");
    rmSync(resultFile, { force: true });
    const r = spawnSync(process.execPath, ["run-under-mocks.cjs", options.project, options.entry, resultFile], {
        cwd: dir,
        encoding: "utf8",
        env: { ...process.env, PULUMI_CONFIG: JSON.stringify(options.config ?? {}) },
        timeout: 120_000,
    });
    const result = r.status === 0 && existsSync(resultFile) ? JSON.parse(readFileSync(resultFile, "utf8")) : undefined;
    return { status: r.status, output: `${r.stdout}\n${r.stderr}`, result };
}
