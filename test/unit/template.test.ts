import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse } from "yaml";
import { compile, MockRun, npmInstall, packPackage, pulumiVersion, repoRoot, runUnderMocks } from "../support/packedPackage";
import { createProject, INSTALL_HINT, MISSING_LANGUAGE_HOST, previewConfigVerdict, Project, pulumiAvailable } from "../support/pulumiCli";
import { exportedOutputs } from "../support/programExports";

/**
 * templates/private-registry as a user gets it: `pulumi new` (the real CLI) makes project
 * `other` from it, the packed package is installed there, and the project is type-checked and run
 * under Pulumi's mocks with a stack config that the CLI itself wrote.
 */

const TEMPLATE = join(repoRoot, "templates", "private-registry");
const PROJECT = "other";
/** What the template holds and nothing else: the repository's own folders stay behind. */
const TEMPLATE_FILES = [".gitignore", "Pulumi.yaml", "index.ts", "package.json", "tsconfig.json"];

type Config = Record<string, unknown>;
const configOf = (file: string): Config => parse(readFileSync(file, "utf8")).config;
/** Every file under `dir`, relative, skipping node_modules. */
function filesUnder(dir: string, prefix = ""): string[] {
    return readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.name !== "node_modules")
        .flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]))
        .sort();
}

let sandbox: Project;
/** The project `pulumi new` made, and its files as the CLI left them (before npm install). */
let generated: string;
let generatedFiles: string[];
let newOutput: string;
/** The same CLI, run in the generated project. */
let cli: Project;

before(() => {
    assert.ok(pulumiAvailable(), `${INSTALL_HINT}; \`npm run setup\` runs it too`);
    sandbox = createProject();
    generated = join(dirname(sandbox.dir), PROJECT);
    const made = sandbox.pulumi(["new", TEMPLATE, "--generate-only", "--name", PROJECT, "--yes", "--dir", generated, "--non-interactive"]);
    newOutput = made.output;
    // After writing the project, `pulumi new` asks the Node.js language host for runtime options,
    // and none is reachable here; every file is already written by then (see pulumiCli.ts).
    assert.ok(made.status === 0 || MISSING_LANGUAGE_HOST.test(made.output), `pulumi new failed (exit ${made.status}):\n${made.output}`);
    generatedFiles = filesUnder(generated);
    cli = { ...sandbox, dir: generated, pulumi: (args, input) => sandbox.pulumi(["--cwd", generated, ...args], input) };
});

after(() => sandbox?.cleanup());

describe("pulumi new on templates/private-registry", () => {
    it(`makes project ${PROJECT} of the template's files alone, without the repository's folders`, () => {
        assert.match(newOutput, new RegExp(`Created project '${PROJECT}'`));
        assert.deepEqual(generatedFiles, TEMPLATE_FILES);
        for (const folder of ["bench", "test", "docs", "scripts", "components", "examples"]) {
            assert.ok(!generatedFiles.some((f) => f.startsWith(`${folder}/`)), `${folder}/ was copied`);
        }
    });

    it(`names the project ${PROJECT} everywhere and hard-codes no key namespace`, () => {
        const project = parse(readFileSync(join(generated, "Pulumi.yaml"), "utf8"));
        assert.equal(project.name, PROJECT);
        assert.equal(project.template, undefined, "pulumi new drops the template section");
        assert.equal(JSON.parse(readFileSync(join(generated, "package.json"), "utf8")).name, PROJECT);
        for (const file of generatedFiles) {
            const text = readFileSync(join(generated, file), "utf8");
            assert.doesNotMatch(text, /private-registry:/, `${file} names the private-registry: namespace`);
            assert.doesNotMatch(text, /\$\{(PROJECT|DESCRIPTION)\}/, `${file} kept a placeholder`);
        }
    });

    it("has the development project's config schema, key for key", () => {
        // One source of truth: the root Pulumi.yaml; the template's copy must not drift from it.
        const root = configOf(join(repoRoot, "Pulumi.yaml"));
        const template = configOf(join(TEMPLATE, "Pulumi.yaml"));
        for (const key of new Set([...Object.keys(root), ...Object.keys(template)])) {
            assert.deepEqual(template[key], root[key], `templates/private-registry/Pulumi.yaml config.${key} differs from Pulumi.yaml's: copy the root's config section`);
        }
        // pulumi new adds the stack tag naming the template it came from.
        const made = Object.entries(configOf(join(generated, "Pulumi.yaml"))).filter(([k]) => k !== "pulumi:tags");
        assert.deepEqual(Object.fromEntries(made), root, "the generated project's schema");
    });

    it("depends on this package at its version and on the @pulumi/pulumi it uses", () => {
        const own = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8"));
        const pkg = JSON.parse(readFileSync(join(TEMPLATE, "package.json"), "utf8"));
        assert.equal(pkg.dependencies[own.name], own.version);
        // A second copy of the SDK would keep its own runtime state, and the package's resources would be lost.
        assert.equal(pkg.dependencies["@pulumi/pulumi"], pulumiVersion);
        assert.equal(JSON.parse(readFileSync(join(TEMPLATE, "tsconfig.json"), "utf8")).compilerOptions.strict, true);
    });
});

describe(`project ${PROJECT}, made from the template, with the packed package`, () => {
    /** The stack config as the language host would pass it: namespaced keys, string values. */
    let stackConfig: Record<string, string>;
    let run: MockRun;

    before(() => {
        npmInstall(generated, [packPackage(dirname(generated))]);
        const init = cli.pulumi(["stack", "init", "dev", "--non-interactive"]);
        assert.equal(init.status, 0, init.output);
        // Set as a user would, without a namespace: the CLI puts them in the project's.
        for (const args of [
            ["aws:region", "eu-west-1"],
            ["dropletRegion", "fra1"],
            ["--path", "sshAllowedCidrs[0]", "203.0.113.7/32"],
            // The old namespace, as a stack file copied from the development project would have it.
            ["private-registry:dropletSize", "s-2vcpu-4gb"],
        ]) {
            const set = cli.pulumi(["config", "set", ...args]);
            assert.equal(set.status, 0, set.output);
        }
        const shown = cli.pulumi(["config", "--json"]);
        assert.equal(shown.status, 0, shown.output);
        stackConfig = Object.fromEntries(Object.entries(JSON.parse(shown.stdout) as Record<string, { value: string }>).map(([k, v]) => [k, v.value]));
    });

    it(`the CLI keeps the settings under ${PROJECT}: and checks them against the template's schema`, () => {
        const stackFile = readFileSync(join(generated, "Pulumi.dev.yaml"), "utf8");
        assert.match(stackFile, new RegExp(`^  ${PROJECT}:dropletRegion: fra1$`, "m"));
        assert.match(stackFile, new RegExp(`^  ${PROJECT}:sshAllowedCidrs:$`, "m"));
        // The CLI hands the program every schema key, at its default where unset, in the project's namespace.
        const schemaKeys = Object.keys(configOf(join(TEMPLATE, "Pulumi.yaml")));
        for (const key of schemaKeys) {
            assert.ok(`${PROJECT}:${key}` in stackConfig, `${PROJECT}:${key}`);
        }
        assert.equal(stackConfig[`${PROJECT}:dropletRegion`], "fra1");
        assert.deepEqual(Object.keys(stackConfig).filter((k) => k.startsWith("private-registry:")), ["private-registry:dropletSize"], "only the key set there by hand");

        assert.equal(previewConfigVerdict(cli).valid, true);
        const wrongType = cli.pulumi(["config", "set", "abortIncompleteUploadDays", "three"]);
        assert.equal(wrongType.status, 0, wrongType.output);
        assert.match(readFileSync(join(generated, "Pulumi.dev.yaml"), "utf8"), new RegExp(`^  ${PROJECT}:abortIncompleteUploadDays: three$`, "m"));
        const verdict = previewConfigVerdict(cli);
        assert.equal(verdict.valid, false);
        assert.match(verdict.valid ? "" : verdict.message, /key 'abortIncompleteUploadDays' must be of type 'integer'/);
        assert.equal(cli.pulumi(["config", "rm", "abortIncompleteUploadDays"]).status, 0);
    });

    it("type-checks and compiles against the package's own types", () => {
        const compiled = compile(generated);
        assert.equal(compiled.status, 0, compiled.stdout + compiled.stderr);
    });

    it(`declares the registry under mocks, with the ${PROJECT}: settings in effect`, () => {
        run = runUnderMocks(generated, { project: PROJECT, entry: "bin/index.js", config: stackConfig });
        assert.ok(run.result, run.output);
        const types = new Set(run.result.recorded.map((r) => r.type));
        for (const type of ["aws:s3/bucket:Bucket", "aws:iam/accessKey:AccessKey", "digitalocean:index/firewall:Firewall", "command:remote:Command"]) {
            assert.ok(types.has(type), `no ${type}`);
        }
        const droplets = run.result.recorded.filter((r) => r.type === "digitalocean:index/droplet:Droplet");
        assert.equal(droplets.length, 1);
        assert.equal(droplets[0].inputs.region, "fra1", `${PROJECT}:dropletRegion`);
        const firewall = run.result.recorded.find((r) => r.type === "digitalocean:index/firewall:Firewall");
        const ssh = (firewall?.inputs.inboundRules as { portRange: string; sourceAddresses: string[] }[]).find((rule) => rule.portRange === "22");
        assert.deepEqual(ssh?.sourceAddresses, ["203.0.113.7/32"], `${PROJECT}:sshAllowedCidrs`);
    });

    it("ignores the old private-registry: namespace, and says so", () => {
        const droplet = run.result?.recorded.find((r) => r.type === "digitalocean:index/droplet:Droplet");
        assert.equal(droplet?.inputs.size, "s-1vcpu-1gb", "the default size, not private-registry:dropletSize");
        assert.match(run.output, new RegExp(`private-registry:dropletSize is ignored: this project is named ${PROJECT}, so the setting is ${PROJECT}:dropletSize`));
    });

    it("exports the same stack outputs as the development program", () => {
        const rootOutputs = exportedOutputs(readFileSync(join(repoRoot, "index.ts"), "utf8"));
        assert.ok(rootOutputs.length > 10);
        assert.deepEqual([...(run.result?.exports ?? [])].sort(), rootOutputs.sort());
    });

    it(`refuses a bad setting before declaring anything, naming it ${PROJECT}:`, () => {
        const refused = runUnderMocks(generated, { project: PROJECT, entry: "bin/index.js", config: { ...stackConfig, [`${PROJECT}:dropletSize`]: "s-1vcpu-512mb-10gb" } });
        assert.notEqual(refused.status, 0);
        assert.match(refused.output, new RegExp(`${PROJECT}:dropletSize must have a disk of at least 25 GB`));
        assert.doesNotMatch(refused.output, /private-registry:dropletSize must/);
    });
});
