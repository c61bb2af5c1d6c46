import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { CONFIG_NAMESPACE } from "../../components/settings";
import { loadSettings } from "../../components/stackConfig";
import {
    DUMMY_SECRET,
    DocCommand,
    INSTALL_HINT,
    Project,
    createProject,
    extractCommands,
    fillPlaceholders,
    initStack,
    previewConfigVerdict,
    pulumiAvailable,
    repoRoot,
} from "../support/pulumiCli";

// The CLI answers in about a second per command; a slow shared machine gets plenty of headroom.
const TIMEOUT = { timeout: 180_000 };
// Without the binary: skipped locally, a failure (INSTALL_HINT, from createProject) in CI.
const skip = !pulumiAvailable() && !process.env.CI ? INSTALL_HINT : false;

const schemaKeys = Object.keys((parse(readFileSync(join(repoRoot, "Pulumi.yaml"), "utf8")) as { config: Record<string, unknown> }).config);

/** A fresh project and stack for `body`, removed afterwards. */
function withStack<T>(body: (p: Project) => T, options: { devStackFile?: boolean } = {}): T {
    const project = createProject(options);
    try {
        initStack(project);
        return body(project);
    } finally {
        project.cleanup();
    }
}

/** Runs documented commands in order, as pasted into a shell; `--secret` without a value reads stdin. */
function runDocCommands(project: Project, source: string, commands: DocCommand[]): void {
    for (const { line, command } of commands) {
        const r = project.shell(fillPlaceholders(command), DUMMY_SECRET);
        assert.equal(r.status, 0, `${source}:${line}: \`${command}\` failed:\n${r.output}`);
    }
}

/** The stack's config, as `pulumi config --json` shows it. */
function configJson(project: Project): Record<string, { value?: string; objectValue?: unknown; secret: boolean }> {
    const r = project.pulumi(["config", "--json"]);
    assert.equal(r.status, 0, r.output);
    return JSON.parse(r.stdout);
}

/** Pulumi accepts keys that Pulumi.yaml does not declare, so a misspelt key is caught here. */
function assertOnlyDeclaredKeys(project: Project, source: string): void {
    const prefix = `${CONFIG_NAMESPACE}:`;
    for (const key of Object.keys(configJson(project)).filter((k) => k.startsWith(prefix))) {
        assert.ok(schemaKeys.includes(key.slice(prefix.length)), `${source} sets ${key}, which Pulumi.yaml does not declare`);
    }
}

function assertDocGivesValidConfig(markdownPath: string, options: { devStackFile?: boolean } = {}): void {
    const commands = extractCommands(markdownPath);
    assert.ok(commands.length > 0, `${markdownPath} has no \`pulumi config\` line in a code block`);
    withStack((project) => {
        runDocCommands(project, markdownPath, commands);
        const verdict = previewConfigVerdict(project);
        const ran = commands.map((c) => `  ${c.line}: ${c.command}`).join("\n");
        assert.ok(verdict.valid, `pulumi preview rejects the config these commands give:\n${verdict.valid ? "" : verdict.message}\n${ran}`);
        assertOnlyDeclaredKeys(project, markdownPath);
    }, options);
}

/** A markdown file in a temp dir, for exercising the README test's own logic. */
function withMarkdown<T>(text: string, body: (path: string) => T): T {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-doc-"));
    try {
        const path = join(dir, "doc.md");
        writeFileSync(path, text);
        return body(path);
    } finally {
        rmSync(dir, { recursive: true, force: true });
    }
}

const CORRECTED_DOC = [
    "Inline `pulumi config set sshAllowedCidrs '[\"x\"]'` in prose is not run.",
    "",
    "```sh",
    "pulumi login --local",
    "pulumi config set aws:region us-east-1",
    "pulumi config set digitalocean:token --secret     # paste the token when asked",
    "  pulumi config set --path 'sshAllowedCidrs[0]' YOUR.IP.ADDRESS/32   # indented, example value",
    "pulumi config set --path \\",
    "    'sshAllowedCidrs[1]' 2001:db8::/48",
    "pulumi config set --path 'httpsAllowedCidrs[0]' <your-ci-ip>/32",
    "pulumi config set s3ChunkSizeMb 10",
    "```",
    "",
].join("\n");

describe("README's `pulumi config` commands, judged by the real Pulumi CLI", { skip }, () => {
    it("give a fresh stack whose config passes Pulumi.yaml's schema", TIMEOUT, () => {
        assertDocGivesValidConfig(join(repoRoot, "README.md"));
    });

    it("keep the committed dev stack valid", TIMEOUT, () => {
        assertDocGivesValidConfig(join(repoRoot, "README.md"), { devStackFile: true });
    });
});

describe("the README check itself", () => {
    // Pure text handling: runs without the CLI.
    it("extracts fenced, indented and continued lines, and fills example values", TIMEOUT, () => {
        withMarkdown(CORRECTED_DOC, (path) => {
            assert.deepEqual(
                extractCommands(path).map((c) => [c.line, fillPlaceholders(c.command)]),
                [
                    [5, "pulumi config set aws:region us-east-1"],
                    [6, "pulumi config set digitalocean:token --secret     # paste the token when asked"],
                    [7, "pulumi config set --path 'sshAllowedCidrs[0]' 203.0.113.7/32   # indented, example value"],
                    [8, "pulumi config set --path 'sshAllowedCidrs[1]' 2001:db8::/48"],
                    [10, "pulumi config set --path 'httpsAllowedCidrs[0]' 203.0.113.7/32"],
                    [11, "pulumi config set s3ChunkSizeMb 10"],
                ],
            );
        });
    });

    it("accepts the documented --path list form (and stores the secret from stdin)", { ...TIMEOUT, skip }, () => {
        withMarkdown(CORRECTED_DOC, (path) => {
            assertDocGivesValidConfig(path);
            withStack((project) => {
                runDocCommands(project, path, extractCommands(path));
                const config = configJson(project);
                assert.deepEqual(config[`${CONFIG_NAMESPACE}:sshAllowedCidrs`].objectValue, ["203.0.113.7/32", "2001:db8::/48"]);
                assert.equal(config["digitalocean:token"].secret, true);
                assert.equal(project.pulumi(["config", "get", "digitalocean:token"]).stdout.trim(), DUMMY_SECRET.trim());
            });
        });
    });

    it("fails on the old JSON-string form (negative control)", { ...TIMEOUT, skip }, () => {
        const doc = "```sh\npulumi config set sshAllowedCidrs '[\"203.0.113.7/32\"]'\n```\n";
        withMarkdown(doc, (path) => {
            withStack((project) => {
                runDocCommands(project, path, extractCommands(path));
                const verdict = previewConfigVerdict(project);
                assert.equal(verdict.valid, false, verdict.output);
                assert.equal(
                    verdict.valid ? "" : verdict.message,
                    "validating stack config: Stack 'dev' with configuration key 'sshAllowedCidrs' must be of type 'array<string>'",
                );
            });
            assert.throws(() => assertDocGivesValidConfig(path), /must be of type 'array<string>'/);
        });
    });

    it("fails on a key Pulumi.yaml does not declare, which the CLI itself lets through", { ...TIMEOUT, skip }, () => {
        withMarkdown("```sh\npulumi config set sshAllowedCidr 203.0.113.7/32\n```\n", (path) => {
            assert.throws(() => assertDocGivesValidConfig(path), /sets private-registry:sshAllowedCidr, which Pulumi\.yaml does not declare/);
        });
    });
});

describe("list config through the CLI", { skip }, () => {
    it("config set-all --json stores a list when objectValue is present", TIMEOUT, () => {
        const cidrs = ["10.0.0.0/8", "192.0.2.0/24"];
        withStack((project) => {
            // `value` (a JSON string) is what is stored; a non-null objectValue marks it as structured.
            const r = project.pulumi(["config", "set-all", "--json", JSON.stringify({ httpsAllowedCidrs: { value: JSON.stringify(cidrs), objectValue: cidrs } })]);
            assert.equal(r.status, 0, r.output);
            assert.deepEqual(configJson(project)[`${CONFIG_NAMESPACE}:httpsAllowedCidrs`].objectValue, cidrs);
            assert.deepEqual(previewConfigVerdict(project).valid, true);
        });
        withStack((project) => {
            // Without objectValue it is the same string as a plain `config set`, and refused.
            const r = project.pulumi(["config", "set-all", "--json", JSON.stringify({ httpsAllowedCidrs: { value: JSON.stringify(cidrs) } })]);
            assert.equal(r.status, 0, r.output);
            const verdict = previewConfigVerdict(project);
            assert.match(verdict.valid ? "" : verdict.message, /key 'httpsAllowedCidrs' must be of type 'array<string>'/);
        });
    });

    it("hands the program a JSON array string, which the settings loader parses", TIMEOUT, () => {
        withStack((project) => {
            for (const [i, cidr] of ["203.0.113.7/32", "2001:db8::/48"].entries()) {
                const r = project.pulumi(["config", "set", "--path", `sshAllowedCidrs[${i}]`, cidr]);
                assert.equal(r.status, 0, r.output);
            }
            const got = project.pulumi(["config", "get", "sshAllowedCidrs", "--json"]);
            assert.equal(got.status, 0, got.output);
            const expected = { value: '["203.0.113.7/32","2001:db8::/48"]', objectValue: ["203.0.113.7/32", "2001:db8::/48"], secret: false };
            assert.deepEqual(JSON.parse(got.stdout), expected);
            // `value` is the string `new pulumi.Config().get("sshAllowedCidrs")` returns in the program.
            assert.deepEqual(configJson(project)[`${CONFIG_NAMESPACE}:sshAllowedCidrs`], expected);
            const settings = loadSettings(new Map([["sshAllowedCidrs", expected.value]]), new Map([["region", "us-east-1"]]));
            assert.deepEqual(settings.sshAllowedCidrs, expected.objectValue);
        });
    });

    it("hands the program the users as a JSON list of objects, which the settings loader parses", TIMEOUT, () => {
        withStack((project) => {
            for (const [path, value] of [
                ["users[0].name", "ci"],
                ["users[0].role", "push"],
                ["users[1].name", "team-a-ci"],
                ["users[1].role", "push"],
                ["users[1].repositories[0]", "team-a/**"],
            ]) {
                const r = project.pulumi(["config", "set", "--path", path, value]);
                assert.equal(r.status, 0, r.output);
            }
            const stored = configJson(project)[`${CONFIG_NAMESPACE}:users`] as { value: string };
            const settings = loadSettings(new Map([["users", stored.value]]), new Map([["region", "us-east-1"]]));
            assert.deepEqual(settings.users, [
                { name: "ci", role: "push" },
                { name: "team-a-ci", role: "push", repositories: ["team-a/**"] },
            ]);
        });
    });
});
