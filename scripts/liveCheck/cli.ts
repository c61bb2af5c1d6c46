import { spawn } from "node:child_process";
import { parseArgs } from "node:util";
import { DEFAULT_MIN_DAYS, DEFAULT_TIMEOUT_MS } from "./checks";
import { OutputsError } from "./outputs";

/** Command-line handling for scripts/live-check.ts: flags, and where the stack outputs come from. */

/** A flag problem: reported with the usage, not as a step. */
export class UsageError extends Error {}

export const USAGE = `Usage:
  pulumi stack output --json --show-secrets | node --import tsx scripts/live-check.ts [flags]
  node --import tsx scripts/live-check.ts --stack NAME [flags]

Proves the deployed registry works: TLS, login, storage, then a tiny image pushed, pulled back
digest-verified and deleted. One line per step; exit 0 when all pass, 1 when one fails, 2 when
the stack outputs or flags are unusable. Secrets are never printed.

Flags:
  --stack NAME           run \`pulumi stack output --json --show-secrets --stack NAME\` instead of reading stdin
  --min-days N           fail when the TLS certificate expires in fewer than N days (default ${DEFAULT_MIN_DAYS})
  --timeout-seconds N    per request and TLS handshake (default ${DEFAULT_TIMEOUT_MS / 1000})
  --repository NAME      scratch repository (default live-check/<random>)
  --help`;

export interface CliOptions {
    help: boolean;
    stack?: string;
    minDays: number;
    timeoutMs: number;
    repository?: string;
}

export function parseCli(argv: string[]): CliOptions {
    let values;
    try {
        values = parseArgs({
            args: argv,
            strict: true,
            allowPositionals: false,
            options: {
                help: { type: "boolean" },
                stack: { type: "string" },
                "min-days": { type: "string" },
                "timeout-seconds": { type: "string" },
                repository: { type: "string" },
            },
        }).values;
    } catch (error) {
        throw new UsageError((error as Error).message);
    }
    const number = (flag: string, text: string | undefined, fallback: number, min: number): number => {
        if (text === undefined) {
            return fallback;
        }
        const value = Number(text);
        if (text.trim() === "" || !Number.isFinite(value) || value < min) {
            throw new UsageError(`--${flag} must be a number of at least ${min}; got ${JSON.stringify(text)}`);
        }
        return value;
    };
    const repository = values.repository;
    // The distribution spec's repository name grammar: lowercase path components.
    if (repository !== undefined && !/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository)) {
        throw new UsageError(`--repository must be a repository name like live-check/probe; got ${JSON.stringify(repository)}`);
    }
    return {
        help: values.help === true,
        stack: values.stack,
        minDays: number("min-days", values["min-days"], DEFAULT_MIN_DAYS, 0),
        timeoutMs: number("timeout-seconds", values["timeout-seconds"], DEFAULT_TIMEOUT_MS / 1000, 1) * 1000,
        repository,
    };
}

/** Reads all of stdin; refuses a terminal, where the user forgot the pipe and would wait forever. */
export async function readStdin(stdin: NodeJS.ReadStream = process.stdin): Promise<string> {
    if (stdin.isTTY === true) {
        throw new OutputsError("no stack outputs: pipe `pulumi stack output --json --show-secrets` into this, or pass --stack NAME");
    }
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) {
        chunks.push(Buffer.from(chunk as Buffer));
    }
    return Buffer.concat(chunks).toString("utf8");
}

/** Runs the Pulumi CLI for the outputs; its error output is quoted when it fails (it holds no secret values). */
export function pulumiStackOutputs(stack: string, timeoutMs = 120_000): Promise<string> {
    return new Promise((resolve, reject) => {
        const child = spawn("pulumi", ["stack", "output", "--json", "--show-secrets", "--stack", stack], { stdio: ["ignore", "pipe", "pipe"] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
        child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.once("error", (error) => {
            clearTimeout(timer);
            reject(new OutputsError(`could not run pulumi: ${error.message}`));
        });
        child.once("close", (code, signal) => {
            clearTimeout(timer);
            if (code === 0) {
                resolve(Buffer.concat(out).toString("utf8"));
                return;
            }
            const why = signal !== null ? `was killed (${signal}${signal === "SIGKILL" ? `, after ${timeoutMs} ms` : ""})` : `exited with ${code}`;
            const stderr = Buffer.concat(err).toString("utf8").replace(/\s+/g, " ").trim().slice(-300);
            reject(new OutputsError(`\`pulumi stack output --stack ${stack}\` ${why}${stderr === "" ? "" : `: ${stderr}`}`));
        });
    });
}
