import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { freePort, LOOPBACK } from "./ports";
import type { ProcessTracker, RunResult, TrackedProcess } from "./processes";
import { systemBinary } from "./tools";
import { waitUntil } from "./wait";

/**
 * A real OpenSSH server on 127.0.0.1:<free port>, private to one test: its own host key,
 * a generated client key as the only way in (root, key only, no PAM), and optionally a PATH for
 * remote commands set by sshd itself (`SetEnv PATH=...`), e.g. to put a `docker` shim first.
 *
 * `exec(command, stdin)` behaves like @pulumi/command's remote.Command: the command text is the
 * SSH exec request (run by the login shell as `shell -c TEXT`) and `stdin` is streamed to it.
 */

export interface SshServerOptions {
    /** Directory for keys, config and log (created). */
    dir: string;
    port?: number;
    /** PATH for remote commands (sshd `SetEnv`), e.g. `${shimDir}:/usr/sbin:/usr/bin:/sbin:/bin`. */
    remotePath?: string;
}

export interface SshExecOptions {
    stdin?: string;
    timeoutMs?: number;
    /** Redacted from error messages (never from the returned output). */
    secrets?: string[];
}

export class SshServer {
    readonly user = os.userInfo().username;
    readonly clientKey: string;
    readonly knownHosts: string;
    readonly configFile: string;
    readonly logFile: string;
    private proc: TrackedProcess | undefined;

    private constructor(
        private readonly tracker: ProcessTracker,
        readonly dir: string,
        readonly port: number,
    ) {
        this.clientKey = path.join(dir, "client_ed25519");
        this.knownHosts = path.join(dir, "known_hosts");
        this.configFile = path.join(dir, "sshd_config");
        this.logFile = path.join(dir, "sshd.log");
    }

    static async start(tracker: ProcessTracker, options: SshServerOptions): Promise<SshServer> {
        fs.mkdirSync(options.dir, { recursive: true, mode: 0o700 });
        const server = new SshServer(tracker, options.dir, options.port ?? (await freePort()));
        await server.setup(options);
        return server;
    }

    private async setup(options: SshServerOptions): Promise<void> {
        const keygen = systemBinary("ssh-keygen");
        const hostKey = path.join(this.dir, "ssh_host_ed25519_key");
        await this.tracker.runChecked(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "rehearsal-host", "-f", hostKey]);
        await this.tracker.runChecked(keygen, ["-q", "-t", "ed25519", "-N", "", "-C", "rehearsal-client", "-f", this.clientKey]);
        const authorizedKeys = path.join(this.dir, "authorized_keys");
        fs.copyFileSync(`${this.clientKey}.pub`, authorizedKeys);
        fs.chmodSync(authorizedKeys, 0o600);
        const hostPub = fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(" ").slice(0, 2).join(" ");
        fs.writeFileSync(this.knownHosts, `[${LOOPBACK}]:${this.port} ${hostPub}\n`);

        const lines = [
            `Port ${this.port}`,
            `ListenAddress ${LOOPBACK}`,
            `HostKey ${hostKey}`,
            `PidFile ${path.join(this.dir, "sshd.pid")}`,
            `AuthorizedKeysFile ${authorizedKeys}`,
            // Keys live in a temp dir under the world-writable /tmp, which StrictModes rejects.
            "StrictModes no",
            "UsePAM no",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            `AllowUsers ${this.user}`,
            "X11Forwarding no",
            "AllowTcpForwarding no",
            "PermitTTY no",
            "PrintMotd no",
            "LogLevel VERBOSE",
        ];
        if (options.remotePath !== undefined) {
            lines.push(`SetEnv PATH=${options.remotePath}`);
        }
        fs.writeFileSync(this.configFile, lines.join("\n") + "\n");
        // sshd's privilege-separation directory (normally made by systemd's RuntimeDirectory).
        fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
        const sshd = systemBinary("sshd");
        await this.tracker.runChecked(sshd, ["-t", "-f", this.configFile]);
        // sshd must be started by absolute path; -D: stay in the foreground, -e: log to stderr.
        this.proc = this.tracker.start("sshd", sshd, ["-D", "-e", "-f", this.configFile], { logFile: this.logFile });
        const proc = this.proc;
        await waitUntil(
            async () => {
                const r = await this.exec("true", { timeoutMs: 5000 });
                return r.code === 0 ? { done: true, value: undefined } : { done: false, seen: r.stderr.trim() };
            },
            {
                description: `sshd on ${LOOPBACK}:${this.port} to accept the client key`,
                timeoutMs: 15_000,
                abortIf: () => (proc.running ? undefined : `sshd exited:\n${proc.logTail()}`),
            },
        );
    }

    /** The `ssh` arguments up to and including the destination; append the command text. */
    sshArgs(): string[] {
        return [
            "-F", "/dev/null",
            "-i", this.clientKey,
            "-p", String(this.port),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", `UserKnownHostsFile=${this.knownHosts}`,
            "-o", "LogLevel=ERROR",
            "-T",
            `${this.user}@${LOOPBACK}`,
        ];
    }

    /**
     * Runs `command` on the server exactly as one SSH exec request (the text is passed as a
     * single argument, so ssh sends it verbatim), with `stdin` streamed to it.
     */
    exec(command: string, options: SshExecOptions = {}): Promise<RunResult> {
        return this.tracker.run(systemBinary("ssh"), [...this.sshArgs(), command], {
            input: options.stdin,
            timeoutMs: options.timeoutMs ?? 300_000,
            secrets: options.secrets,
        });
    }

    async stop(): Promise<void> {
        await this.proc?.stop();
    }

    log(): string {
        return this.proc?.log() ?? "";
    }
}
