/**
 * Check 9: whatever stops `npm run rehearse` stops everything it started. Process managers and
 * CI step timeouts signal the npm process alone, and npm passes only some signals to its `sh -c`
 * child, which does not pass them on; kill -9 of the rehearse process leaves it no time to
 * clean up. After each, every process under npm must be gone and no port may still answer.
 */
import * as assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { isListening } from "../harness/ports";
import { commandLine, descendants, isRunning, readProc, type ProcInfo } from "../harness/proc";
import { REPO_ROOT } from "../harness/tools";
import { waitUntil } from "../harness/wait";

const STARTUP_MS = 120_000;
/** How long a stop may take: a process manager's usual grace before kill -9. */
const STOP_MS = 20_000;

interface Started {
    npm: ProcInfo;
    output: () => string;
    ports: number[];
    tmpDir: string | undefined;
}

/** Starts `npm run rehearse` in a process group of its own and waits for its banner. */
async function startRehearse(): Promise<Started> {
    const child = spawn("npm", ["run", "rehearse"], { cwd: REPO_ROOT, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    child.stderr.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
    const npm = readProc(child.pid ?? -1);
    assert.ok(npm !== undefined, "npm did not start");
    // The banner's last line; everything it names is listening by then.
    try {
        await waitUntil(async () => (/stops everything/.test(text) ? { done: true, value: undefined } : { done: false, seen: text.slice(-400) }), {
            description: "npm run rehearse to print its banner",
            timeoutMs: STARTUP_MS,
            abortIf: () => (child.exitCode !== null || child.signalCode !== null ? `npm exited:\n${text.slice(-2000)}` : undefined),
        });
    } catch (error) {
        for (const p of [npm, ...descendants(npm.pid)].filter(isRunning)) {
            process.kill(p.pid, "SIGKILL");
        }
        throw error;
    }
    const ports = [/registry\s+https?:\/\/127\.0\.0\.1:(\d+)/, /health\s+https?:\/\/127\.0\.0\.1:(\d+)/, /S3\s+https?:\/\/127\.0\.0\.1:(\d+)/].map((re) => {
        const match = re.exec(text);
        assert.ok(match !== null, `no ${re} in the banner:\n${text}`);
        return Number(match[1]);
    });
    const ca = /^\s+CA\s+(\S+)$/m.exec(text)?.[1];
    return { npm, output: () => text, ports, tmpDir: ca === undefined ? undefined : path.dirname(path.dirname(ca)) };
}

function describeAll(procs: ProcInfo[]): string {
    return procs.map((p) => `  ${p.pid} ${p.name}: ${commandLine(p.pid)}`).join("\n");
}

// SIGINT to the whole group is a terminal's Ctrl-C. npm hands SIGINT and SIGTERM to the script's
// `sh -c` only, and dash waits for its child without passing them on, so the script `exec`s node:
// then SIGINT to npm alone reaches rehearse too.
const cases: { signal: NodeJS.Signals; to: "npm alone" | "the npm process group (Ctrl-C)" | "rehearse (node) alone" }[] = [
    { signal: "SIGTERM", to: "npm alone" },
    { signal: "SIGHUP", to: "npm alone" },
    { signal: "SIGINT", to: "the npm process group (Ctrl-C)" },
    { signal: "SIGINT", to: "npm alone" },
    { signal: "SIGKILL", to: "rehearse (node) alone" },
];

describe("npm run rehearse stops everything it started", () => {
    for (const { signal, to } of cases) {
        test(`${signal} to ${to}: registry, S3 server, node and npm are gone, ports closed`, { timeout: STARTUP_MS + STOP_MS + 30_000 }, async () => {
            const started = await startRehearse();
            const tree = [started.npm, ...descendants(started.npm.pid)];
            try {
                for (const name of ["node", "registry", "versitygw"]) {
                    assert.ok(tree.some((p) => p.name === name), `no ${name} under npm:\n${describeAll(tree)}`);
                }
                for (const port of started.ports) {
                    assert.ok(await isListening(port), `port ${port} does not answer before the signal`);
                }
                const node = tree.find((p) => p.name === "node" && /rehearse\.ts/.test(commandLine(p.pid)));
                assert.ok(node !== undefined, `no rehearse process:\n${describeAll(tree)}`);
                process.kill(to === "npm alone" ? started.npm.pid : to === "rehearse (node) alone" ? node.pid : -started.npm.pid, signal);

                await waitUntil(
                    async () => {
                        const alive = tree.filter(isRunning);
                        const open: number[] = [];
                        for (const port of started.ports) {
                            if (await isListening(port, 500)) {
                                open.push(port);
                            }
                        }
                        return alive.length === 0 && open.length === 0
                            ? { done: true, value: undefined }
                            : { done: false, seen: `still running:\n${describeAll(alive)}\nports still answering: ${open.join(", ") || "none"}` };
                    },
                    { description: `everything under npm to stop after ${signal} to ${to}`, timeoutMs: STOP_MS, intervalMs: 250 },
                );
                if (signal !== "SIGKILL" && started.tmpDir !== undefined) {
                    assert.equal(fs.existsSync(started.tmpDir), false, `${started.tmpDir} (throwaway keys, S3 data) was left behind`);
                }
            } finally {
                for (const p of tree.filter(isRunning)) {
                    process.kill(p.pid, "SIGKILL");
                }
                await waitUntil(async () => (tree.some(isRunning) ? { done: false, seen: describeAll(tree.filter(isRunning)) } : { done: true, value: undefined }), {
                    description: "the leftovers to die of kill -9",
                    timeoutMs: 5000,
                });
                // After kill -9 nothing could remove the temp directory (throwaway keys, S3 data).
                if (started.tmpDir !== undefined && /registry-rehearse-/.test(started.tmpDir)) {
                    fs.rmSync(started.tmpDir, { recursive: true, force: true });
                }
            }
        });
    }
});
