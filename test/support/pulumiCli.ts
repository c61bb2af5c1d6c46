import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The real Pulumi CLI, built by scripts/install-pulumi-cli.sh at the SDK's version, run against
 * throwaway projects: a copy of Pulumi.yaml, a file backend and a PULUMI_HOME in a temp dir, so
 * nothing touches ~/.pulumi or the network.
 *
 * No Node.js language host is reachable (none next to the binary, and ambient plugins on $PATH
 * are ignored), so `pulumi preview` validates the stack's config against Pulumi.yaml's schema
 * and then stops at loading the language host. That second stop is what "config valid" means.
 */

export const repoRoot = join(__dirname, "..", "..");
export const pulumiBinary = join(repoRoot, ".cache", "bin", "pulumi");
export const INSTALL_HINT = "the Pulumi CLI is not built: run `bash scripts/install-pulumi-cli.sh` (it builds .cache/bin/pulumi)";

/** Any value works: it only encrypts the throwaway stack's secrets. */
const PASSPHRASE = "pulumi-cli-test-passphrase";
/** Per command; the CLI answers in about a second, a shared machine may be much slower. */
const COMMAND_TIMEOUT_MS = 90_000;

/** What `pulumi preview` prints, in this CLI version, once config has passed and the language host is missing. */
export const MISSING_LANGUAGE_HOST = /error: failed to load language plugin nodejs: no language plugin 'pulumi-language-nodejs' found in the workspace/;
const CONFIG_ERROR = "validating stack config";

export function pulumiAvailable(): boolean {
    return existsSync(pulumiBinary);
}

export interface Result {
    status: number | null;
    stdout: string;
    stderr: string;
    /** stdout and stderr together, for matching and for failure messages. */
    output: string;
}

export interface Project {
    /** The project directory (Pulumi.yaml, Pulumi.<stack>.yaml). */
    dir: string;
    env: NodeJS.ProcessEnv;
    /** Runs the binary directly, with `args` unparsed. */
    pulumi(args: string[], input?: string): Result;
    /** Runs a command line as a user would paste it (quotes, comments), with `pulumi` on $PATH. */
    shell(line: string, input?: string): Result;
    cleanup(): void;
}

function result(r: ReturnType<typeof spawnSync>): Result {
    if (r.error) {
        throw r.error;
    }
    const stdout = String(r.stdout);
    const stderr = String(r.stderr);
    return { status: r.status, stdout, stderr, output: `${stdout}\n${stderr}` };
}

/**
 * A throwaway project with a copy of the repo's Pulumi.yaml (and, with `devStackFile`, the
 * committed Pulumi.dev.yaml). Throws with {@link INSTALL_HINT} when the binary is missing.
 */
export function createProject(options: { devStackFile?: boolean } = {}): Project {
    if (!pulumiAvailable()) {
        throw new Error(INSTALL_HINT);
    }
    const tmp = mkdtempSync(join(tmpdir(), "pulumi-cli-"));
    const dir = join(tmp, "project");
    const bin = join(tmp, "bin");
    for (const d of [dir, bin, join(tmp, "state"), join(tmp, "home")]) {
        mkdirSync(d);
    }
    copyFileSync(join(repoRoot, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    // Pulumi.yaml's `main` names the program file, which the CLI requires to exist.
    copyFileSync(join(repoRoot, "index.ts"), join(dir, "index.ts"));
    if (options.devStackFile) {
        copyFileSync(join(repoRoot, "Pulumi.dev.yaml"), join(dir, "Pulumi.dev.yaml"));
    }
    // Pasted lines say `pulumi`; this one resolves to the pinned build.
    symlinkSync(pulumiBinary, join(bin, "pulumi"));

    // The caller's PULUMI_* (access token, passphrase file, backend) must not leak in.
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PULUMI_")));
    const env: NodeJS.ProcessEnv = {
        ...inherited,
        PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        PULUMI_BACKEND_URL: `file://${join(tmp, "state")}`,
        PULUMI_HOME: join(tmp, "home"),
        PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK: "true",
        // A pulumi-language-nodejs on the developer's $PATH would run the real program.
        PULUMI_IGNORE_AMBIENT_PLUGINS: "true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
        NO_COLOR: "1",
    };
    const run = (cmd: string, args: string[], input?: string): Result =>
        result(spawnSync(cmd, args, { cwd: dir, env, input: input ?? "", encoding: "utf8", timeout: COMMAND_TIMEOUT_MS }));

    return {
        dir,
        env,
        pulumi: (args, input) => run(pulumiBinary, args, input),
        shell: (line, input) => run("bash", ["-c", line], input),
        cleanup: () => rmSync(tmp, { recursive: true, force: true }),
    };
}

/** `pulumi stack init NAME`; throws with the CLI's output when it fails. */
export function initStack(project: Project, name = "dev"): void {
    const r = project.pulumi(["stack", "init", name, "--non-interactive"]);
    if (r.status !== 0) {
        throw new Error(`pulumi stack init ${name} failed (exit ${r.status}):\n${r.output}`);
    }
}

export type ConfigVerdict = { valid: true; output: string } | { valid: false; message: string; output: string };

/**
 * Runs `pulumi preview` and says whether the stack's config passed the CLI's schema check.
 * The CLI reports one problem at a time. Anything other than the two known stops throws, so a
 * crash for another reason is never read as "valid".
 */
export function previewConfigVerdict(project: Project): ConfigVerdict {
    const r = project.pulumi(["preview", "--non-interactive", "--color=never"]);
    const output = r.output;
    const configError = output.split("\n").find((l) => l.includes(CONFIG_ERROR));
    if (configError !== undefined) {
        return { valid: false, message: configError.replace(/^error:\s*/, "").trim(), output };
    }
    if (r.status !== 0 && r.stdout.includes("Previewing update") && MISSING_LANGUAGE_HOST.test(output)) {
        return { valid: true, output };
    }
    throw new Error(`pulumi preview stopped neither at the config check nor at the missing language host (exit ${r.status}):\n${output}`);
}

/** A command from a markdown code block, with the line it starts on. */
export interface DocCommand {
    line: number;
    command: string;
}

/**
 * Every command in a fenced code block of the markdown file that starts with `prefix` (leading
 * whitespace allowed), with backslash-continued lines joined.
 */
export function extractCommands(markdownPath: string, prefix = "pulumi config"): DocCommand[] {
    const lines = readFileSync(markdownPath, "utf8").split("\n");
    const found: DocCommand[] = [];
    let fence: string | undefined;
    for (let i = 0; i < lines.length; i++) {
        const opener = /^\s*(`{3,}|~{3,})/.exec(lines[i]);
        if (opener) {
            // A fence closes only with the same character, at least as long.
            if (fence === undefined) {
                fence = opener[1];
            } else if (opener[1][0] === fence[0] && opener[1].length >= fence.length) {
                fence = undefined;
            }
            continue;
        }
        if (fence === undefined) {
            continue;
        }
        const start = i;
        let command = lines[i].trim();
        while (command.endsWith("\\") && i + 1 < lines.length) {
            command = `${command.slice(0, -1).trimEnd()} ${lines[++i].trim()}`;
        }
        if (command.startsWith(`${prefix} `) || command === prefix) {
            found.push({ line: start + 1, command });
        }
    }
    return found;
}

/** Example addresses from RFC 5737 and placeholders like `<your-ip>` become valid dummy values. */
export function fillPlaceholders(command: string): string {
    return command
        .replace(/YOUR\.IP\.ADDRESS/gi, "203.0.113.7")
        .replace(/<[^<>]*\bip\b[^<>]*>/gi, "203.0.113.7")
        .replace(/<[^<>]+>/g, "example");
}

/** Fed on stdin, so `--secret` without a value reads it instead of prompting. */
export const DUMMY_SECRET = "dummy-secret-value\n";
