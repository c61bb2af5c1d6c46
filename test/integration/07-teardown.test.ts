/**
 * 7) Teardown on `pulumi destroy` (components/teardown.cjs), over real SSH on 127.0.0.1: it runs
 * the program's stop script on a host that answers with the pinned key, succeeds when nothing
 * answers any more (the droplet is gone), and refuses a host with another key.
 */
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { CONTAINER_NAME, FRONT_CONTAINER_NAME } from "../../components/render/deployment";
import { renderStopScript } from "../../components/render/scripts";
import { freePort, makeTempDir, ProcessTracker, type TempDir } from "../harness";
import { SshServer } from "../harness/sshd";

// Plain CommonJS that `node` runs at destroy time; loaded here the same way.
const { teardown } = require("../../components/teardown.cjs") as typeof import("../../components/teardown.cjs");

const ROOT = path.resolve(__dirname, "..", "..");

describe("7) teardown on destroy", () => {
    const tracker = new ProcessTracker();
    let tmp: TempDir;
    let ssh: SshServer;
    let configDir: string;
    let dockerLog: string;
    let pinnedHostKey: string;
    let privateKey: string;
    let script: string;

    before(async () => {
        tmp = makeTempDir("rehearsal-teardown");
        // A `docker` that records its arguments: the real container removal is check 6c; here
        // what matters is that the stop script runs, and only on the right host.
        const binDir = tmp.join("bin");
        fs.mkdirSync(binDir, { recursive: true });
        dockerLog = tmp.join("docker.log");
        fs.writeFileSync(path.join(binDir, "docker"), `#!/bin/sh\necho "$*" >> '${dockerLog}'\n`, { mode: 0o755 });
        ssh = await SshServer.start(tracker, { dir: tmp.join("ssh"), remotePath: `${binDir}:/usr/bin:/bin` });
        pinnedHostKey = fs.readFileSync(path.join(ssh.dir, "ssh_host_ed25519_key.pub"), "utf8");
        privateKey = fs.readFileSync(ssh.clientKey, "utf8");
        configDir = tmp.join("etc", "private-registry");
        // The program's container names; the config dir in this test's temp dir.
        script = renderStopScript({ containerName: CONTAINER_NAME, frontContainerName: FRONT_CONTAINER_NAME, configDir, unitDir: tmp.join("units") });
    });

    after(async () => {
        try {
            await tracker.dispose();
        } finally {
            tmp?.remove();
        }
    });

    function freshHostFiles(): void {
        fs.mkdirSync(configDir, { recursive: true });
        fs.writeFileSync(path.join(configDir, "config.yml"), "secretkey: x\n");
        fs.rmSync(dockerLog, { force: true });
    }

    test("7a) runs the stop script on the pinned host: both containers removed, secret files gone", async () => {
        freshHostFiles();
        const lines: string[] = [];
        const outcome = await teardown({ host: "127.0.0.1", port: ssh.port, username: ssh.user, privateKey, hostKey: pinnedHostKey, script, log: (l) => lines.push(l) });
        assert.equal(outcome, "removed");
        // `-v` also drops the container's anonymous volumes; either form removes the container.
        const calls = fs.readFileSync(dockerLog, "utf8");
        for (const name of [CONTAINER_NAME, FRONT_CONTAINER_NAME]) {
            assert.match(calls, new RegExp(`^rm -f (-v )?${name}$`, "m"), `docker rm -f ${name} ran on the host:\n${calls}`);
        }
        assert.equal(fs.existsSync(configDir), false, "the secret files were removed");
    });

    test("7b) a host that no longer answers ends the destroy successfully, quickly", async () => {
        const closedPort = await freePort();
        const started = Date.now();
        const lines: string[] = [];
        const outcome = await teardown({ host: "127.0.0.1", port: closedPort, username: ssh.user, privateKey, hostKey: pinnedHostKey, script, attempts: 2, log: (l) => lines.push(l) });
        assert.equal(outcome, "unreachable");
        assert.ok(Date.now() - started < 10_000, "an unreachable host must not stall the destroy");
        assert.match(lines.at(-1) ?? "", /nothing answers .* the host is gone/);
    });

    test("7c) a host answering with another key is refused, and nothing runs on it", async () => {
        freshHostFiles();
        const otherKey = fs.readFileSync(`${ssh.clientKey}.pub`, "utf8");
        await assert.rejects(
            teardown({ host: "127.0.0.1", port: ssh.port, username: ssh.user, privateKey, hostKey: otherKey, script, attempts: 1, log: () => undefined }),
            /different SSH host key than the one pinned/,
        );
        assert.equal(fs.existsSync(dockerLog), false, "the stop script must not run on an unverified host");
        assert.equal(fs.existsSync(configDir), true);
    });

    test("7d) the command `pulumi destroy` runs: exit 0 when the host is gone, 1 on a key mismatch, no secret printed", async () => {
        const env = (port: number, hostKey: string) => ({
            ...process.env,
            REGISTRY_SSH_HOST: "127.0.0.1",
            REGISTRY_SSH_PORT: String(port),
            REGISTRY_SSH_USER: ssh.user,
            REGISTRY_SSH_PRIVATE_KEY: privateKey,
            REGISTRY_SSH_HOST_KEY: hostKey,
            REGISTRY_STOP_SCRIPT: script,
            REGISTRY_SSH_ATTEMPTS: "1",
        });
        const gone = spawnSync(process.execPath, ["components/teardown.cjs"], { cwd: ROOT, env: env(await freePort(), pinnedHostKey), encoding: "utf8", timeout: 60_000 });
        assert.equal(gone.status, 0, gone.stderr);
        const mismatch = spawnSync(process.execPath, ["components/teardown.cjs"], { cwd: ROOT, env: env(ssh.port, fs.readFileSync(`${ssh.clientKey}.pub`, "utf8")), encoding: "utf8", timeout: 60_000 });
        assert.equal(mismatch.status, 1);
        assert.match(mismatch.stderr, /different SSH host key/);
        const keyBody = privateKey.split("\n")[1];
        for (const output of [gone.stdout, gone.stderr, mismatch.stdout, mismatch.stderr]) {
            assert.ok(!output.includes(keyBody), "the deploy key must never be printed");
        }
    });
});
