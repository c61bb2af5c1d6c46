import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync, SpawnSyncReturns } from "node:child_process";

/** Runs shellcheck on a POSIX sh script; throws if shellcheck itself is missing. */
export function shellcheck(script: string): { status: number | null; output: string } {
    const dir = mkdtempSync(join(tmpdir(), "shellcheck-"));
    const file = join(dir, "script.sh");
    writeFileSync(file, script);
    const result = spawnSync("shellcheck", ["--shell=sh", "--severity=style", file], { encoding: "utf8" });
    if (result.error) {
        throw new Error(`shellcheck could not run (install it: apt-get install shellcheck): ${result.error.message}`);
    }
    return { status: result.status, output: result.stdout + result.stderr };
}

/**
 * A folder of stand-in programs that append their argv, one call per line, to a shared log, so
 * a test sees what a script really ran. Each stub's body is sh that may read "$@".
 */
export class StubPath {
    readonly dir = mkdtempSync(join(tmpdir(), "stubs-"));
    readonly log = join(this.dir, "calls.log");

    constructor(stubs: Record<string, string>) {
        writeFileSync(this.log, "");
        for (const [name, body] of Object.entries(stubs)) {
            const file = join(this.dir, name);
            writeFileSync(file, `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> '${this.log}'\n${body}\n`);
            chmodSync(file, 0o755);
        }
    }

    /** Runs an sh script with only the stubs and the basic system tools on PATH. */
    run(script: string, options: { stdin?: string; env?: Record<string, string> } = {}): SpawnSyncReturns<string> {
        return spawnSync("sh", ["-c", script], {
            encoding: "utf8",
            input: options.stdin ?? "",
            env: { PATH: `${this.dir}:/usr/bin:/bin`, HOME: this.dir, ...options.env },
            timeout: 60_000,
        });
    }

    calls(): string[] {
        return readFileSync(this.log, "utf8").split("\n").filter((line) => line !== "");
    }
}
