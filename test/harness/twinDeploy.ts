import * as fs from "node:fs";
import * as path from "node:path";
import type { PlannedCommand } from "./deployPlan";
import type { ProcessTracker, RunResult } from "./processes";
import { systemBinary } from "./tools";
import type { TwinNetwork } from "./twinNetwork";
import { sleep } from "./wait";

/**
 * Runs the program's remote commands against the twin as @pulumi/command runs them: one SSH
 * session per command from the deployer's namespace, the `create` text as the session's
 * command, the secret bundle on its stdin, the host key pinned to the one the program rendered
 * into cloud-init, and failed dials retried up to the connection's dialErrorLimit (default 10,
 * @pulumi/command `connection.dialErrorLimit`; ../shared/FIELD-NOTES.md). OpenSSH's client
 * stands in for the provider's Go SSH client.
 */

export interface CommandRun {
    name: string;
    result: RunResult;
    /** Date.now() when the session started and ended. */
    startedAt: number;
    endedAt: number;
}

const DEFAULT_DIAL_ERROR_LIMIT = 10;
const DIAL_RETRY_MS = 2000;

export class TwinDeployer {
    private readonly keyFile: string;
    private readonly knownHosts: string;
    /** Every command run so far, in order: what a `pulumi up` log would show. */
    readonly runs: CommandRun[] = [];

    constructor(
        private readonly tracker: ProcessTracker,
        private readonly net: TwinNetwork,
        /** The deployer's role in the network: where `pulumi up` runs. */
        private readonly from: string,
        dir: string,
    ) {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
        this.keyFile = path.join(dir, "deploy-key");
        this.knownHosts = path.join(dir, "known_hosts");
    }

    /** Runs each command's `create` in order; throws on the first that fails, as `pulumi up` stops. */
    async run(commands: PlannedCommand[], options: { log?: (line: string) => void } = {}): Promise<CommandRun[]> {
        const runs: CommandRun[] = [];
        for (const command of commands) {
            if (command.kind !== "remote" || command.create === undefined) {
                continue;
            }
            const started = Date.now();
            options.log?.(`[deploy] ${command.name}: running`);
            const result = await this.runRemote(command, command.create);
            options.log?.(`[deploy] ${command.name}: exit ${result.code} in ${((Date.now() - started) / 1000).toFixed(1)}s`);
            const run = { name: command.name, result, startedAt: started, endedAt: Date.now() };
            runs.push(run);
            this.runs.push(run);
            if (result.code !== 0) {
                throw new Error(`${command.name} failed (exit ${result.code}):\n${result.stdout}${result.stderr}`);
            }
        }
        return runs;
    }

    /** One SSH session running `script` with the command's connection (and its stdin). */
    async runRemote(command: PlannedCommand, script: string, options: { timeoutMs?: number } = {}): Promise<RunResult> {
        const connection = command.connection;
        if (connection === undefined) {
            throw new Error(`${command.name} has no connection`);
        }
        fs.writeFileSync(this.keyFile, connection.privateKey.endsWith("\n") ? connection.privateKey : `${connection.privateKey}\n`, { mode: 0o600 });
        // The provider pins the host key it was given (an authorized_keys line); so does this file.
        fs.writeFileSync(this.knownHosts, connection.hostKey === undefined ? "" : `${connection.host} ${connection.hostKey.trim()}\n`);
        const args = [
            "-i", this.keyFile,
            "-o", "IdentitiesOnly=yes",
            "-o", `UserKnownHostsFile=${this.knownHosts}`,
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", `StrictHostKeyChecking=${connection.hostKey === undefined ? "no" : "yes"}`,
            "-o", "BatchMode=yes",
            "-o", "ConnectTimeout=15",
            "-o", "LogLevel=ERROR",
            "-p", String(connection.port ?? 22),
            `${connection.user}@${connection.host}`,
            script,
        ];
        const inside = this.net.inside(this.from, systemBinary("ssh"), args);
        const limit = connection.dialErrorLimit ?? DEFAULT_DIAL_ERROR_LIMIT;
        for (let dial = 1; ; dial++) {
            const result = await this.tracker.run(inside.command, inside.args, { input: command.stdin ?? "", timeoutMs: options.timeoutMs ?? 20 * 60_000 });
            // 255 with nothing from the remote side: the dial itself failed (refused, timed out, reset).
            const dialFailed = result.code === 255 && /Connection (refused|timed out|reset|closed)|No route to host|kex_exchange_identification/.test(result.stderr);
            if (!dialFailed || dial >= limit) {
                return result;
            }
            await sleep(DIAL_RETRY_MS);
        }
    }
}
