import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { diesWithThisProcess } from "./proc";

/**
 * Child processes that cannot outlive the test that started them.
 *
 * Every child runs in its own process group (`detached`), and the tracker remembers its PID.
 * `stopAll()` (call it from `after` hooks) sends SIGTERM, then SIGKILL, to each PID and its
 * group; if the test process exits or is interrupted first, a process-wide `exit` handler kills
 * whatever is left with SIGKILL, by PID. Long-running children also get a parent-death signal
 * (see `diesWithThisProcess`), for a kill -9 that runs no handler. Nothing is killed by name.
 */

export interface ExitInfo {
    code: number | null;
    signal: NodeJS.Signals | null;
}

export interface StartOptions {
    /** Environment for the child; defaults to this process's environment. */
    env?: NodeJS.ProcessEnv;
    /** Variables removed from the environment (e.g. AWS_CA_BUNDLE for the registry). */
    unsetEnv?: string[];
    cwd?: string;
    /** Where stdout and stderr go (appended); the process's log. Required: keeps output off the test's console. */
    logFile: string;
}

export interface RunOptions {
    env?: NodeJS.ProcessEnv;
    unsetEnv?: string[];
    cwd?: string;
    /** Written to stdin, which is then closed. */
    input?: string | Buffer;
    /** SIGKILL the command (and its process group) after this long. Default 10 minutes. */
    timeoutMs?: number;
    /** Strings replaced by `***` in error messages built from this command (never in the returned output). */
    secrets?: string[];
}

export interface RunResult extends ExitInfo {
    stdout: string;
    stderr: string;
    durationMs: number;
    /** True when the timeout killed the command. */
    timedOut: boolean;
}

/** A finished command for an assertion message: how it ended, then its whole output. */
export function describeRun(result: RunResult): string {
    return `exit ${result.code ?? result.signal} after ${result.durationMs} ms\n--- stdout ---\n${result.stdout}\n--- stderr ---\n${result.stderr}`;
}

/** Replaces every secret in `text` with `***`. */
export function redact(text: string, secrets: readonly string[] | undefined): string {
    let out = text;
    for (const secret of secrets ?? []) {
        if (secret.length > 0) {
            out = out.split(secret).join("***");
        }
    }
    return out;
}

function childEnv(env: NodeJS.ProcessEnv | undefined, unset: string[] | undefined): NodeJS.ProcessEnv {
    const result: NodeJS.ProcessEnv = { ...(env ?? process.env) };
    for (const name of unset ?? []) {
        delete result[name];
    }
    return result;
}

/** Sends `signal` to a PID and to its process group; ignores "no such process". */
export function killPid(pid: number, signal: NodeJS.Signals): void {
    for (const target of [-pid, pid]) {
        try {
            process.kill(target, signal);
        } catch {
            // already gone
        }
    }
}

/** A long-running child (a server). */
export class TrackedProcess {
    readonly exited: Promise<ExitInfo>;
    private exitInfo: ExitInfo | undefined;

    constructor(
        readonly name: string,
        readonly pid: number,
        readonly logFile: string,
        readonly commandLine: string,
        child: ChildProcess,
    ) {
        this.exited = new Promise((resolve) => {
            child.once("exit", (code, signal) => {
                this.exitInfo = { code, signal };
                resolve(this.exitInfo);
            });
        });
    }

    /** True until the process has exited. */
    get running(): boolean {
        return this.exitInfo === undefined;
    }

    /** How it exited, once it has. */
    get exitStatus(): ExitInfo | undefined {
        return this.exitInfo;
    }

    /** Signals the process (and its group). Default SIGTERM; `kill("SIGKILL")` is kill -9. */
    kill(signal: NodeJS.Signals = "SIGTERM"): void {
        if (this.running) {
            killPid(this.pid, signal);
        }
    }

    /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
    async stop(graceMs = 5000): Promise<ExitInfo> {
        if (!this.running) {
            return this.exitInfo as ExitInfo;
        }
        this.kill("SIGTERM");
        const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
        try {
            return await this.exited;
        } finally {
            clearTimeout(timer);
        }
    }

    /** kill -9 and wait for the exit. */
    async killHard(): Promise<ExitInfo> {
        this.kill("SIGKILL");
        return this.exited;
    }

    /** The whole log so far. */
    log(): string {
        try {
            return fs.readFileSync(this.logFile, "utf8");
        } catch {
            return "";
        }
    }

    /** The last `lines` lines of the log, for failure messages. */
    logTail(lines = 30): string {
        return this.log().split("\n").slice(-lines - 1).join("\n");
    }
}

interface Cleanup {
    description: string;
    run: () => Promise<void> | void;
    /** Best effort when the process is exiting and nothing async can run. */
    runSync?: () => void;
}

const liveTrackers = new Set<ProcessTracker>();
let exitHandlerInstalled = false;
let signalHandlersInstalled = false;

function installExitHandler(): void {
    if (exitHandlerInstalled) {
        return;
    }
    exitHandlerInstalled = true;
    process.on("exit", () => {
        for (const tracker of liveTrackers) {
            tracker.killAllNow();
        }
    });
}

function installSignalHandlers(): void {
    if (signalHandlersInstalled) {
        return;
    }
    signalHandlersInstalled = true;
    for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
        process.once(signal, () => {
            for (const tracker of liveTrackers) {
                if (tracker.exitOnSignal) {
                    tracker.killAllNow();
                }
            }
            if ([...liveTrackers].every((t) => t.exitOnSignal)) {
                process.exit(128 + (signal === "SIGINT" ? 2 : signal === "SIGTERM" ? 15 : 1));
            }
        });
    }
}

export interface ProcessTrackerOptions {
    /**
     * Kill every child with SIGKILL and exit when this process gets SIGINT/SIGTERM/SIGHUP.
     * Default true. Programs that stop gracefully on Ctrl-C themselves (rehearse.ts) pass false
     * and call `stopAll()` from their own handler.
     */
    exitOnSignal?: boolean;
    /**
     * Put before every command this tracker starts or runs, e.g. `["ip", "netns", "exec", NS]`
     * to run them inside a network namespace. Default: none.
     */
    commandPrefix?: readonly string[];
}

/** Starts children, remembers their PIDs, and kills them all on `stopAll()` or process exit. */
export class ProcessTracker {
    readonly exitOnSignal: boolean;
    private readonly commandPrefix: readonly string[];
    private readonly processes = new Set<TrackedProcess>();
    private readonly shortLived = new Map<number, string>();
    private readonly cleanups: Cleanup[] = [];

    constructor(options: ProcessTrackerOptions = {}) {
        this.exitOnSignal = options.exitOnSignal ?? true;
        this.commandPrefix = options.commandPrefix ?? [];
        liveTrackers.add(this);
        installExitHandler();
        if (this.exitOnSignal) {
            installSignalHandlers();
        }
    }

    /** `command args` behind the tracker's prefix, if it has one. */
    private prefixed(command: string, args: readonly string[]): { command: string; args: string[] } {
        const [head, ...rest] = [...this.commandPrefix, command, ...args];
        return { command: head, args: rest };
    }

    /** Starts a long-running process with its output in `options.logFile`. */
    start(name: string, command: string, args: readonly string[], options: StartOptions): TrackedProcess {
        ({ command, args } = this.prefixed(command, args));
        const fd = fs.openSync(options.logFile, "a");
        let child: ChildProcess;
        // Servers must not outlive this process even when it is killed with -9.
        const wrapped = diesWithThisProcess(command, args);
        try {
            child = spawn(wrapped.command, wrapped.args, {
                cwd: options.cwd,
                env: childEnv(options.env, options.unsetEnv),
                stdio: ["ignore", fd, fd],
                detached: true,
            });
        } finally {
            fs.closeSync(fd);
        }
        if (child.pid === undefined) {
            throw new Error(`could not start ${name} (${command}): no PID; see ${options.logFile}`);
        }
        // Errors such as ENOENT arrive as an event; record them in the log and as an exit.
        child.once("error", (error) => fs.appendFileSync(options.logFile, `\n[harness] spawn error: ${error.message}\n`));
        const tracked = new TrackedProcess(name, child.pid, options.logFile, [command, ...args].join(" "), child);
        this.processes.add(tracked);
        void tracked.exited.then(() => this.processes.delete(tracked));
        return tracked;
    }

    /**
     * Runs a command to completion, capturing its output. The command is tracked while it runs
     * (killed on `stopAll()`/exit) and killed with its process group when `timeoutMs` passes.
     */
    run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
        ({ command, args } = this.prefixed(command, args));
        const started = Date.now();
        return new Promise((resolve, reject) => {
            const child = spawn(command, [...args], {
                cwd: options.cwd,
                env: childEnv(options.env, options.unsetEnv),
                stdio: ["pipe", "pipe", "pipe"],
                detached: true,
            });
            const stdout: Buffer[] = [];
            const stderr: Buffer[] = [];
            let timedOut = false;
            child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
            child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
            child.stdin.on("error", () => undefined); // the command may exit without reading stdin
            if (child.pid !== undefined) {
                this.shortLived.set(child.pid, command);
            }
            const timer = setTimeout(() => {
                timedOut = true;
                if (child.pid !== undefined) {
                    killPid(child.pid, "SIGKILL");
                }
            }, options.timeoutMs ?? 600_000);
            child.once("error", (error) => {
                clearTimeout(timer);
                reject(new Error(`could not run ${command}: ${redact(error.message, options.secrets)}`));
            });
            child.once("close", (code, signal) => {
                clearTimeout(timer);
                if (child.pid !== undefined) {
                    this.shortLived.delete(child.pid);
                }
                resolve({
                    code,
                    signal,
                    stdout: Buffer.concat(stdout).toString("utf8"),
                    stderr: Buffer.concat(stderr).toString("utf8"),
                    durationMs: Date.now() - started,
                    timedOut,
                });
            });
            child.stdin.end(options.input ?? "");
        });
    }

    /** Like {@link run}, but throws (with secrets redacted) unless the command exits 0. */
    async runChecked(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
        const result = await this.run(command, args, options);
        if (result.code !== 0) {
            const shown = redact([command, ...args].join(" "), options.secrets);
            const why = result.timedOut ? `timed out after ${options.timeoutMs} ms` : `exited with ${result.code ?? result.signal}`;
            throw new Error(`${shown}\n${why}\n${redact((result.stderr || result.stdout).trim().slice(-4000), options.secrets)}`);
        }
        return result;
    }

    /** Registers a non-process resource (a container) to release in `stopAll()`, newest first. */
    addCleanup(description: string, run: () => Promise<void> | void, runSync?: () => void): void {
        this.cleanups.push({ description, run, runSync });
    }

    /** Processes still running. */
    running(): TrackedProcess[] {
        return [...this.processes].filter((p) => p.running);
    }

    /** Stops every process (SIGTERM, then SIGKILL) and runs the cleanups. Safe to call twice. */
    async stopAll(graceMs = 3000): Promise<void> {
        const errors: string[] = [];
        while (this.cleanups.length > 0) {
            const cleanup = this.cleanups.pop() as Cleanup;
            try {
                await cleanup.run();
            } catch (error) {
                errors.push(`${cleanup.description}: ${error instanceof Error ? error.message : String(error)}`);
            }
        }
        for (const pid of this.shortLived.keys()) {
            killPid(pid, "SIGKILL");
        }
        await Promise.all(this.running().map((p) => p.stop(graceMs)));
        if (errors.length > 0) {
            throw new Error(`cleanup failed:\n${errors.join("\n")}`);
        }
    }

    /** Synchronous SIGKILL of everything (process `exit` handler). */
    killAllNow(): void {
        for (const p of this.processes) {
            p.kill("SIGKILL");
        }
        for (const pid of this.shortLived.keys()) {
            killPid(pid, "SIGKILL");
        }
        while (this.cleanups.length > 0) {
            const cleanup = this.cleanups.pop() as Cleanup;
            try {
                cleanup.runSync?.();
            } catch {
                // best effort while exiting
            }
        }
    }

    /** Stops everything and forgets this tracker. */
    async dispose(): Promise<void> {
        try {
            await this.stopAll();
        } finally {
            liveTrackers.delete(this);
        }
    }
}

/** Runs a command synchronously, ignoring failures; for `runSync` cleanups at exit. */
export function runSyncQuietly(command: string, args: string[]): void {
    try {
        execFileSync(command, args, { stdio: "ignore", timeout: 20_000 });
    } catch {
        // best effort
    }
}
