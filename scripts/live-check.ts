/**
 * The live check CI runs right after `pulumi up`: proves the deployed registry serves TLS, checks
 * the login, reads its S3 storage, and takes a tiny image through push, pull and delete.
 *
 *   pulumi stack output --json --show-secrets | node --import tsx scripts/live-check.ts
 *   node --import tsx scripts/live-check.ts --stack dev --min-days 21
 *
 * One line per step on stdout (`ok   STEP: ...` or `FAIL STEP: ...`). Exit 0 when every step
 * passed, 1 when one failed, 2 when the stack outputs or flags are unusable. The password, and
 * anything carrying it, is never printed. The steps live in scripts/liveCheck/, which the
 * rehearsal's integration test also runs against the real registry binary.
 */
import { runLiveCheck } from "./liveCheck/checks";
import { parseCli, pulumiStackOutputs, readStdin, USAGE, UsageError } from "./liveCheck/cli";
import { OutputsError, parseStackOutputs, secretsOf } from "./liveCheck/outputs";
import { formatStepLine, redact } from "./liveCheck/report";

const print = (line: string) => process.stdout.write(`${line}\n`);
/** Known once the outputs parse; every later message is redacted with them. */
let secrets: string[] = [];

async function main(): Promise<number> {
    let cli;
    try {
        cli = parseCli(process.argv.slice(2));
    } catch (error) {
        if (error instanceof UsageError) {
            process.stderr.write(`live-check: ${error.message}\n\n${USAGE}\n`);
            return 2;
        }
        throw error;
    }
    if (cli.help) {
        print(USAGE);
        return 0;
    }
    let target;
    try {
        const json = cli.stack !== undefined ? await pulumiStackOutputs(cli.stack) : await readStdin();
        target = parseStackOutputs(json);
        secrets = secretsOf(target);
    } catch (error) {
        if (error instanceof OutputsError) {
            // No secret to redact yet: the outputs did not parse, and the errors name keys, not values.
            print(formatStepLine({ step: "outputs", ok: false, detail: error.message }));
            return 2;
        }
        throw error;
    }
    const run = await runLiveCheck(target, { minDays: cli.minDays, timeoutMs: cli.timeoutMs, repository: cli.repository }, print);
    return run.ok ? 0 : 1;
}

main().then(
    (code) => {
        process.exitCode = code;
    },
    (error: unknown) => {
        // Unexpected: report the kind and message only (a stack trace could quote request options).
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        process.stderr.write(`live-check: unexpected ${redact(message, secrets)}\n`);
        process.exitCode = 2;
    },
);
